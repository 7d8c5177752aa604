"""Getting a file into DuckDB: the relation ``_src(row_no, <source columns>)`` and, once the
import knows how to parse each column, the relation ``_rows`` of parsed rows.

``row_no`` is the row as a spreadsheet shows it: the header is row 1 and the first data row is
row 2 (for Parquet, which has no header, the first row is row 1). CSV and Excel columns arrive as
text and are parsed by :mod:`segmint.imports.parsing`; Parquet columns keep their types.

A CSV file is read once, through the parsing projection, into the temporary table ``_stage``
(DuckDB's CSV reader does not number rows; a table's ``rowid`` is the file order). Before that,
``_src`` is a view straight over the file, without ``row_no``, for its columns and a sample.
"""

from __future__ import annotations

import codecs
import datetime as dt
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa

from segmint.errors import ImportFailed
from segmint.imports.options import ImportOptions
from segmint.imports.parsing import literal

CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
EXCEL_SUFFIXES = {".xlsx", ".xlsm"}
PARQUET_SUFFIXES = {".parquet", ".pq"}
_SNIFF_BYTES = 1 << 20
_EXCEL_BATCH = 20_000


#: ``select(source, numbered)``: a SELECT over the relation ``source`` that parses its rows; when
#: ``numbered``, ``source`` has a ``row_no`` column and the SELECT must put it first.
RowsSelect = Callable[[str, bool], str]


@dataclass
class Staged:
    """A source file as the relation ``_src``, with the rows the reader itself could not use
    (for a CSV file: known once :meth:`create_rows` has read it)."""

    format: str
    columns: dict[str, str]  # source column name -> DuckDB type
    malformed: list[tuple[int, str, str]] = field(default_factory=list)  # row, text, message
    encoding: str | None = None
    delimiter: str | None = None
    # CSV: reads the file through a RowsSelect into _stage and numbers it as _rows.
    read: Callable[[duckdb.DuckDBPyConnection, RowsSelect], None] | None = None

    def create_rows(self, con: duckdb.DuckDBPyConnection, select: RowsSelect) -> None:
        """Create ``_rows``: ``row_no`` and the columns of ``select`` for every row of the file.

        Parquet and Excel: a view over ``_src`` (each pass over it reads the source again).
        CSV: the file is read here, once, into a table; ``malformed`` is known afterwards.
        """
        if self.read is None:
            con.execute("CREATE OR REPLACE TEMP VIEW _rows AS " + select("_src", True))
        else:
            self.read(con, select)


def detect_format(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix in CSV_SUFFIXES:
        return "csv"
    if suffix in EXCEL_SUFFIXES:
        return "excel"
    if suffix in PARQUET_SUFFIXES:
        return "parquet"
    if suffix == ".xls":
        raise ImportFailed(f"{path.name}: old .xls workbooks are not supported; save it as .xlsx")
    raise ImportFailed(
        f"{path.name}: unknown file type {suffix or '(none)'}; use .csv, .txt, .tsv, .xlsx or "
        ".parquet"
    )


@contextmanager
def staged_source(
    con: duckdb.DuckDBPyConnection, path: Path, options: ImportOptions
) -> Iterator[Staged]:
    """Make ``_src`` available on ``con`` for the duration of the block."""
    if not path.exists():
        raise ImportFailed(f"{path}: no such file")
    if path.is_dir():
        raise ImportFailed(f"{path}: is a directory, not a file")
    fmt = detect_format(path)
    if fmt == "parquet":
        yield _stage_parquet(con, path)
    elif fmt == "excel":
        yield _stage_excel(con, path, options)
    else:
        with ExitStack() as stack:
            csv_path, encoding = stack.enter_context(_utf8_csv(path, options.encoding))
            staged, args = _open_csv(con, csv_path, path, options, encoding)

            def read(con: duckdb.DuckDBPyConnection, select: RowsSelect) -> None:
                _read_csv(con, staged, args, path, select)
                if options.encoding is None and any(
                    message.startswith("INVALID ENCODING") for _, _, message in staged.malformed
                ):
                    # The first megabyte was UTF-8 but a later line is not: the file is cp1252
                    # after all. Read it again as such rather than reject its accented rows.
                    cp_path, staged.encoding = stack.enter_context(_utf8_csv(path, "cp1252"))
                    args[0] = literal(str(cp_path))
                    _read_csv(con, staged, args, path, select)

            staged.read = read
            yield staged


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> dict[str, str]:
    rows = con.execute(f"DESCRIBE {relation}").fetchall()
    return {r[0]: r[1] for r in rows}


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> Staged:
    try:
        con.execute(
            "CREATE OR REPLACE TEMP VIEW _src AS SELECT file_row_number + 1 AS row_no, * "
            f"EXCLUDE (file_row_number) FROM read_parquet({literal(str(path))}, "
            "file_row_number = true)"
        )
        columns = _columns(con, "_src")
    except duckdb.Error as exc:
        raise ImportFailed(
            f"{path.name}: not a readable Parquet file ({_first_line(exc)})"
        ) from exc
    columns.pop("row_no")
    return Staged(format="parquet", columns=columns)


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@contextmanager
def _utf8_csv(path: Path, encoding: str | None) -> Iterator[tuple[Path, str]]:
    """Yield a path DuckDB can read as UTF-8: the file itself, or a transcoded temporary copy.

    Detection: a file whose first megabyte decodes as UTF-8 is UTF-8 (a BOM is allowed); any
    other file is read as cp1252, the usual encoding of Windows ERP exports. DuckDB's own
    latin-1 decoder rejects cp1252's 0x80-0x9F characters (the euro sign among them), so the
    copy is made here, streamed in chunks.
    """
    if encoding is None:
        with path.open("rb") as fh:
            head = fh.read(_SNIFF_BYTES)
        try:
            codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
            encoding = "utf-8"
        except UnicodeDecodeError:
            encoding = "cp1252"
    try:
        codec = codecs.lookup(encoding).name
    except LookupError as exc:
        raise ImportFailed(f"unknown encoding {encoding!r}") from exc
    if codec in ("utf-8", "utf-8-sig"):
        yield path, "utf-8"
        return
    fd, tmp = tempfile.mkstemp(suffix=".csv", prefix="segmint-import-")
    try:
        with (
            os.fdopen(fd, "w", encoding="utf-8", newline="") as out,
            path.open("r", encoding=codec, errors="strict", newline="") as src,
        ):
            try:
                while chunk := src.read(1 << 20):
                    out.write(chunk)
            except UnicodeDecodeError as exc:
                raise ImportFailed(f"{path.name}: not valid {codec} text ({exc.reason})") from exc
        yield Path(tmp), codec
    finally:
        os.unlink(tmp)


def _open_csv(
    con: duckdb.DuckDBPyConnection,
    csv_path: Path,
    shown: Path,
    options: ImportOptions,
    encoding: str,
) -> tuple[Staged, list[str]]:
    """``_src`` as a view over the file (no ``row_no``: for the columns and a sample) and the
    arguments of ``read_csv`` that every read of the file uses."""
    if csv_path.stat().st_size == 0 or not _has_content(csv_path):
        raise ImportFailed(f"{shown.name}: the file is empty (no header row)")
    args = [
        literal(str(csv_path)),
        "header = true",
        "all_varchar = true",
        "ignore_errors = true",
        # The sniffer reads a sample; a huge sample costs time on big files, a small one can
        # guess the delimiter wrong on files whose first rows are odd.
        "sample_size = 20480",
    ]
    delimiter = options.delimiter or _header_delimiter(csv_path)
    args.append(f"delim = {literal(delimiter)}")
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW _src AS SELECT * FROM read_csv({', '.join(args)})"
        )
        columns = _columns(con, "_src")
    except duckdb.Error as exc:
        raise ImportFailed(f"{shown.name}: cannot read as CSV ({_first_line(exc)})") from exc
    staged = Staged(format="csv", columns=columns, encoding=encoding, delimiter=delimiter)
    return staged, args


def _read_csv(
    con: duckdb.DuckDBPyConnection,
    staged: Staged,
    args: list[str],
    shown: Path,
    select: RowsSelect,
) -> None:
    """Read the file once through ``select`` into ``_stage``; number its rows as ``_rows``."""
    reader = (
        "read_csv("
        + ", ".join(
            [
                *args,
                "store_rejects = true",
                "rejects_table = '_csv_rejects'",
                "rejects_scan = '_csv_scans'",
            ]
        )
        + ")"
    )
    # DuckDB appends to an existing rejects table: start from empty ones on every read.
    con.execute("DROP TABLE IF EXISTS _csv_rejects")
    con.execute("DROP TABLE IF EXISTS _csv_scans")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE _stage AS {select(reader, False)}")
    except duckdb.Error as exc:
        raise ImportFailed(f"{shown.name}: cannot read as CSV ({_first_line(exc)})") from exc
    # DuckDB may report one line several times (once per field it tried); keep one per line.
    staged.malformed = [
        (int(line), csv_line or "", message)
        for line, csv_line, message in con.execute(
            "SELECT line, arg_min(csv_line, column_idx), arg_min(error_type || ': ' || "
            "error_message, column_idx) FROM _csv_rejects GROUP BY line ORDER BY line"
        ).fetchall()
    ]
    # Each skipped line shifts the data rows after it; count them back in (ASOF join on the
    # number of kept rows before each skipped line) so that row_no is the row in the file.
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _skips AS SELECT kept_before, max(skipped) AS skipped "
        "FROM (SELECT line - row_number() OVER (ORDER BY line) AS kept_before, "
        "row_number() OVER (ORDER BY line) AS skipped "
        "FROM (SELECT DISTINCT line FROM _csv_rejects)) GROUP BY kept_before"
    )
    if staged.malformed:
        con.execute(
            "CREATE OR REPLACE TEMP VIEW _rows AS SELECT s.rowid + 2 + coalesce(k.skipped, 0) "
            "AS row_no, s.* FROM _stage s ASOF LEFT JOIN _skips k ON s.rowid + 1 >= k.kept_before"
        )
    else:
        con.execute(
            "CREATE OR REPLACE TEMP VIEW _rows AS SELECT rowid + 2 AS row_no, * FROM _stage"
        )


def _header_delimiter(path: Path) -> str:
    """The delimiter is the candidate that occurs most often in the header line.

    The header is the one line every export gets right; DuckDB's sniffer looks at data rows too
    and can be misled by a few malformed ones at the top of a small file.
    """
    with path.open("r", encoding="utf-8", errors="replace", newline="") as fh:
        header = fh.readline()
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _has_content(path: Path) -> bool:
    with path.open("rb") as fh:
        head = fh.read(4096)
    return bool(head.lstrip(b"\xef\xbb\xbf").strip())


def _excel_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        # Excel keeps 15 significant digits; more would show binary noise (0.30000000000000004).
        return format(value, ".15g")
    return str(value)


def _stage_excel(con: duckdb.DuckDBPyConnection, path: Path, options: ImportOptions) -> Staged:
    import openpyxl  # imported here: only Excel imports pay for it

    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for a bad file
        raise ImportFailed(f"{path.name}: not a readable .xlsx workbook ({exc})") from exc
    try:
        if options.sheet:
            if options.sheet not in workbook.sheetnames:
                raise ImportFailed(
                    f"{path.name}: no sheet {options.sheet!r}; sheets: "
                    + ", ".join(workbook.sheetnames)
                )
            sheet = workbook[options.sheet]
        else:
            sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header: list[str] | None = None
        header_row = 0
        for index, row in enumerate(rows, start=1):
            if any(v is not None and str(v).strip() for v in row):
                header = [str(v).strip() if v is not None else "" for v in row]
                header_row = index
                break
        if header is None:
            raise ImportFailed(f"{path.name}: the sheet {sheet.title!r} is empty (no header row)")
        while header and not header[-1]:
            header.pop()
        names = [h or f"column{i + 1}" for i, h in enumerate(header)]
        schema = pa.schema([("row_no", pa.int64())] + [(n, pa.string()) for n in names])
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _stage ("
            + ", ".join(["row_no BIGINT"] + [f'"{n.replace(chr(34), "")}" VARCHAR' for n in names])
            + ")"
        )
        width = len(names)
        batch: list[list] = [[] for _ in range(width + 1)]

        def flush() -> None:
            if not batch[0]:
                return
            table = pa.Table.from_arrays([pa.array(c) for c in batch], schema=schema)
            con.register("_excel_batch", table)
            con.execute("INSERT INTO _stage SELECT * FROM _excel_batch")
            con.unregister("_excel_batch")
            for column in batch:
                column.clear()

        for index, row in enumerate(rows, start=header_row + 1):
            values = [_excel_text(v) for v in row[:width]]
            if not any(v is not None and v.strip() for v in values):
                continue  # blank rows between data are layout, not data
            values += [None] * (width - len(values))
            batch[0].append(index)
            for i, v in enumerate(values, start=1):
                batch[i].append(v)
            if len(batch[0]) >= _EXCEL_BATCH:
                flush()
        flush()
    finally:
        workbook.close()
    con.execute("CREATE OR REPLACE TEMP VIEW _src AS SELECT * FROM _stage")
    columns = _columns(con, "_src")
    columns.pop("row_no")
    return Staged(format="excel", columns=columns)

"""Importing a file into the sales store: one transaction, every reject reported.

The steps (the store's tables are only touched inside one DuckDB transaction, so a crash, a
Ctrl-C or a ``--strict`` refusal leaves the store exactly as it was):

1. the file becomes the relation ``_src`` (:mod:`segmint.imports.sources`);
2. each canonical column is parsed in SQL (:mod:`segmint.imports.parsing`): ``_parsed`` holds
   the typed values and ``_bad``, true for a row with a problem (a view over the source for
   Parquet and Excel; for CSV over the one parsed copy the file is read into);
3. a key already on an earlier good row of the file is a ``duplicate_key`` reject (``_dups``);
4. the good rows are written: when the table holds no rows of the organization yet (sales lines
   and products), straight from ``_parsed`` into the store; otherwise (and for customers, whose
   VAT keys are added in Python) through ``_incoming``: rows identical to what the store holds
   are counted as *already present* and left alone; rows whose key is stored with other values
   replace them; new rows are added;
5. when fewer rows were good than the file has (rejects are few), a second pass names every
   problem of the other rows in ``_rejects``; ``--strict`` then rolls back.

Performance notes (``docs/performance.md``): every pass over ``_parsed`` runs with DuckDB's
filter pushdown off (see :func:`_no_filter_pushdown`); the duplicate check is one aggregate of
64-bit values per document (:func:`_find_duplicates`).
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa

from segmint.errors import ImportFailed, StrictImportRejected
from segmint.imports.options import KIND_TABLES, REJECT_CODES, ImportOptions, Kind
from segmint.imports.parsing import NO_ERROR, ColumnSql, column_sql, literal, quote
from segmint.imports.sources import Staged, staged_source
from segmint.imports.vat import vat_key
from segmint.store import SalesStore
from segmint.store.schema import TABLES, Table

Progress = Callable[[str, float], None]
_ORG_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_SHOWN_REJECTS = 50


@dataclass(frozen=True)
class Reject:
    row: int
    column: str
    value: str | None
    code: str
    message: str
    severity: str = "error"


@dataclass
class ImportReport:
    """What an import did. ``rejects`` holds the first rejects; the file has all of them."""

    org: str
    kind: str
    source: Path
    format: str
    rows_read: int = 0
    accepted: int = 0
    rejected: int = 0
    already_present: int = 0
    warnings: int = 0
    codes: Counter = field(default_factory=Counter)
    rejects: list[Reject] = field(default_factory=list)
    rejects_file: Path | None = None
    encoding: str | None = None
    delimiter: str | None = None
    decimal_comma: bool = False
    compare_with_store: bool = False


def normalize_header(name: str) -> str:
    """``" Net Amount "`` -> ``"net_amount"``: how a source column is matched to a canonical one."""
    return re.sub(r"[\s\-./]+", "_", name.replace("\ufeff", "").strip().lower()).strip("_")


def resolve_columns(table: Table, source_columns: list[str], mapping: dict[str, str]) -> dict:
    """Canonical column -> source column (``None`` when the file does not have it)."""
    canonical = set(table.column_names)
    by_normal = {normalize_header(c): c for c in source_columns}
    resolved: dict[str, str | None] = {}
    for src, dst in mapping.items():
        if dst not in canonical:
            raise ImportFailed(
                f"--map {src}={dst}: {dst!r} is not a column of {table.name}; columns: "
                + ", ".join(table.column_names)
            )
        actual = src if src in source_columns else by_normal.get(normalize_header(src))
        if actual is None:
            raise ImportFailed(
                f"--map {src}={dst}: the file has no column {src!r}; its columns: "
                + ", ".join(source_columns)
            )
        resolved[dst] = actual
    taken = set(resolved.values())
    for col in table.columns:
        if col.name not in resolved:
            match = by_normal.get(col.name)
            resolved[col.name] = match if match not in taken else None
    missing = [c.name for c in table.columns if c.required and resolved[c.name] is None]
    if missing:
        raise ImportFailed(
            "missing required column(s) "
            + ", ".join(missing)
            + "; the file has: "
            + ", ".join(source_columns)
            + ". Name them in the file or map them with --map SOURCE=CANONICAL"
        )
    return resolved


def import_file(
    *,
    store: SalesStore,
    org: str,
    kind: Kind,
    path: Path,
    options: ImportOptions | None = None,
    strict: bool = False,
    rejects_path: Path | None = None,
    on_progress: Progress | None = None,
) -> ImportReport:
    """Import ``path`` into ``store`` for ``org``; see the module docstring for the steps."""
    if kind not in KIND_TABLES:
        raise ImportFailed(f"unknown kind {kind!r}; use one of: {', '.join(KIND_TABLES)}")
    if not _ORG_RE.fullmatch(org or ""):
        raise ImportFailed(
            f"organization {org!r} is not a valid name: use letters, digits, '-', '_' or '.', "
            "starting with a letter or digit, at most 64 characters"
        )
    options = options or ImportOptions()
    table = TABLES[KIND_TABLES[kind]]
    path = Path(path)
    progress = on_progress or (lambda stage, fraction: None)
    with store.connect() as con, staged_source(con, path, options) as staged:
        # Reading and checking work in DuckDB's temporary (in-memory, spilling) catalog; the
        # store's tables are only touched inside the one transaction below.
        progress("reading", 0.3)
        report, sqls, source_rows = _prepare(
            con, staged, table=table, org=org, kind=kind, path=path, options=options
        )
        duplicates = _find_duplicates(con, table, sqls)
        # Rejects are few: usually the write finds out whether there are any (below). --strict,
        # which writes nothing when any row is rejected, names them before writing instead (one
        # more pass over a Parquet or Excel file; a scan of a CSV file's parsed copy).
        named = _collect_rejects(con) if strict else 0
        if strict and (named or duplicates or staged.malformed):
            _summarize_rejects(con, report)
            _refuse_strict(con, report, path, rejects_path)
        progress("checking", 0.5)
        # The good rows: a table when they must be compared with stored rows or updated (VAT
        # keys), otherwise they go straight from the source into the store (one write, not two).
        report.compare_with_store = bool(
            con.execute(
                f"SELECT count(*) FROM (SELECT 1 FROM {table.name} WHERE org = ? LIMIT 1)", [org]
            ).fetchone()[0]
        )
        staged_rows = report.compare_with_store or kind == "customers"
        good = "NOT _bad" + (" AND row_no NOT IN (SELECT row_no FROM _dups)" if duplicates else "")
        con.execute("BEGIN TRANSACTION")
        try:
            if staged_rows:
                with _no_filter_pushdown(con):
                    con.execute(
                        "CREATE OR REPLACE TEMP TABLE _incoming AS "
                        f"SELECT * EXCLUDE (_bad, _why) FROM _parsed WHERE {good}"
                    )
                kept = con.execute("SELECT count(*) FROM _incoming").fetchone()[0]
                if kind == "customers":
                    _add_vat_keys(con)
            else:
                progress("writing", 0.85)
                kept = report.accepted = _insert_good_rows(con, table, org, good)
            # A row that is neither kept nor a duplicate has a problem: only then are the rows
            # read a second time (for Parquet and Excel, the source), to name their problems.
            flagged = source_rows - kept - duplicates
            if flagged and not strict:
                named = _collect_rejects(con)
            if named != flagged:
                # Never drop a row silently: every row left out must be reported with a reason.
                raise ImportFailed(
                    f"internal error: {flagged} row(s) left out but {named} reported; "
                    "nothing imported"
                )
            progress("checking", 0.7)
            _summarize_rejects(con, report)
            if strict and report.rejected:
                _refuse_strict(con, report, path, rejects_path)
            if rejects_path is not None and (report.rejected or report.warnings):
                report.rejects_file = _write_rejects(con, rejects_path)
            if staged_rows:
                _apply(con, table, org, report, progress)
            _record_import(con, org, report)
            con.execute("COMMIT")
        except BaseException:
            # BaseException: a Ctrl-C half way must roll back too, not leave a half import.
            con.execute("ROLLBACK")
            raise
    progress("done", 1.0)
    return report


@contextmanager
def _no_filter_pushdown(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """Keep filters on ``_parsed`` where they are written, above the parsing projection.

    Pushed down, a filter on ``_bad`` is rewritten into the expressions behind it, inlined: every
    ``trim`` and cast of the row is then computed several times over (measured: the INSERT of
    the good rows took 1.8x as long). The filters here are on computed columns; there is nothing
    a scan could use.
    """
    con.execute("SET disabled_optimizers = 'filter_pushdown'")
    try:
        yield
    except BaseException:
        # A failed statement aborts the transaction, which then refuses the RESET too; the
        # import rolls back and closes the connection, so the setting does not outlive it.
        with suppress(duckdb.Error):
            con.execute("RESET disabled_optimizers")
        raise
    con.execute("RESET disabled_optimizers")


def _detect_decimal_comma(con: duckdb.DuckDBPyConnection, source: str | None, typ: str) -> bool:
    if source is None or typ.upper() != "VARCHAR":
        return False
    col = quote(source)
    comma, point = con.execute(
        f"""SELECT count(*) FILTER (regexp_full_match(v, '[+-]?[0-9.]*,[0-9]+-?')),
                   count(*) FILTER (regexp_full_match(v, '[+-]?[0-9,]*[.][0-9]+-?'))
            FROM (SELECT trim({col}) AS v FROM _src WHERE {col} IS NOT NULL LIMIT 20000)"""
    ).fetchone()
    return comma > point


def _prepare(
    con: duckdb.DuckDBPyConnection,
    staged: Staged,
    *,
    table: Table,
    org: str,
    kind: str,
    path: Path,
    options: ImportOptions,
) -> tuple[ImportReport, list[ColumnSql], int]:
    """The report, how each column is read, and the view ``_parsed`` of the typed rows."""
    mapping = resolve_columns(table, list(staged.columns), options.mapping)
    amount_source = mapping.get("net_amount") or mapping.get("quantity")
    if options.decimal == "auto":
        decimal_comma = _detect_decimal_comma(
            con, amount_source, staged.columns.get(amount_source or "", "VARCHAR")
        )
    else:
        decimal_comma = options.decimal == "comma"
    sqls = [
        column_sql(
            col,
            mapping[col.name],
            staged.columns.get(mapping[col.name] or ""),
            decimal_comma=decimal_comma,
            date_format=options.date_format,
        )
        for col in table.columns
    ]
    report = ImportReport(
        org=org, kind=kind, source=path, format=staged.format, decimal_comma=decimal_comma
    )
    staged.create_rows(con, lambda source, numbered: _rows_select(sqls, source, numbered))
    report.encoding, report.delimiter = staged.encoding, staged.delimiter
    source_rows = con.execute("SELECT count(*) FROM _rows").fetchone()[0]
    report.rows_read = source_rows + len(staged.malformed)
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _rejects (row_no BIGINT, column_name VARCHAR, "
        "value VARCHAR, code VARCHAR, message VARCHAR, severity VARCHAR)"
    )
    if staged.malformed:
        con.executemany(
            "INSERT INTO _rejects VALUES (?, '(row)', ?, 'malformed_row', ?, 'error')",
            [(row, text[:200], message) for row, text, message in staged.malformed],
        )
    names = [s.name for s in sqls]
    if kind == "sales" and not mapping["line_no"]:
        # No line numbers in the file: a line is its position among its document's rows.
        names[names.index("line_no")] = (
            "CAST(row_number() OVER (PARTITION BY document_id ORDER BY row_no) AS INTEGER) "
            "AS line_no"
        )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _parsed AS SELECT row_no, {', '.join(names)}, _bad, _why "
        "FROM _rows"
    )
    return report, sqls, source_rows


def _rows_select(sqls: list[ColumnSql], source: str, numbered: bool) -> str:
    """The parsing of every row of ``source``: the typed values, ``_bad`` (true for a row with
    a problem) and ``_why`` (for those rows only: each problem's column, source value and code).

    Three levels, so that each expression runs once per row: the trimmed and parsed values
    (``inner``), then the values and ``_bad`` from those, then ``_why`` from ``_bad``. DuckDB
    computes only the columns a query uses, so a pass that needs only the keys parses only them.
    """
    row_no = "row_no, " if numbered else ""
    checked = [s for s in sqls if s.error != NO_ERROR]
    aliases = [alias for s in sqls for alias, _ in s.inner]
    inner = ", ".join(f"{expr} AS {alias}" for s in sqls for alias, expr in s.inner)
    sources = "".join(f"{quote(s.source)} AS s_{s.name}, " for s in checked if s.source)
    values = ", ".join(f"{s.value} AS {s.name}" for s in sqls)
    structs = ", ".join(
        f"{{'column_name': '{s.name}', 'value': left(CAST(s_{s.name} AS VARCHAR), 200), "
        f"'code': {s.error}}}"
        for s in checked
    )
    why = f"CASE WHEN _bad THEN [{structs}] END" if checked else "CAST(NULL AS INTEGER[])"
    passed = "".join(f"s_{s.name}, " for s in checked if s.source) + ", ".join(aliases)
    return f"""SELECT {row_no}{", ".join(s.name for s in sqls)}, _bad, {why} AS _why
        FROM (SELECT {row_no}{values}, {_bad_sql(sqls)} AS _bad, {passed}
              FROM (SELECT {row_no}{sources}{inner} FROM {source}))"""


def _bad_sql(sqls: list[ColumnSql]) -> str:
    return " OR ".join(s.bad for s in sqls if s.bad != "false") or "false"


def _find_duplicates(con: duckdb.DuckDBPyConnection, table: Table, sqls: list[ColumnSql]) -> int:
    """Rows whose key is on an earlier good row of the file go to ``_dups``; returns how many.

    A key with a NULL part is never a duplicate. First a cheap pass puts every key in a group
    that holds all its copies, and finds the groups that may hold a key twice; only the rows of
    those groups (none, in a file without duplicates) are then compared exactly, good rows only.

    * Sales lines: a group is a document's lines 0-63, 64-127, ... (by hash of the document and
      the block); a bitmap of the line numbers in it (``bit_or``) has as many bits set as the
      group has rows exactly when no line number is there twice. A document is usually one
      group: this aggregates documents rather than lines, on one 64-bit value.
    * Other tables: a group is a 64-bit hash of the key; it may hold a key twice when it holds
      two rows.

    Two keys whose hashes collide share a group: that only makes the exact check look at them.
    """
    con.execute("CREATE OR REPLACE TEMP TABLE _dups (row_no BIGINT, first_row BIGINT, key VARCHAR)")
    if table.name == "sales_lines" and sqls[1].source is None:
        return 0  # line numbers given by position within the document: unique by construction
    keys = ", ".join(table.key)
    known = " AND ".join(f"{k} IS NOT NULL" for k in table.key)
    if table.key == ("document_id", "line_no"):
        group = "hash(document_id, line_no // 64)"
        suspect = (
            "bit_count(bit_or(CAST(1 AS UBIGINT) << CAST(line_no % 64 AS INTEGER))) < count(*)"
        )
    else:
        group, suspect = f"hash({keys})", "count(*) > 1"
    with _no_filter_pushdown(con):
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _dup_groups AS
                SELECT g FROM (SELECT {group} AS g, {keys} FROM _parsed WHERE {known})
                GROUP BY g HAVING {suspect}"""
        )
        if not con.execute("SELECT count(*) FROM _dup_groups").fetchone()[0]:
            return 0
        con.execute(
            f"""INSERT INTO _dups
                SELECT row_no, first_row, concat_ws(' / ', {keys})
                FROM (SELECT row_no, {keys}, min(row_no) OVER (PARTITION BY {keys}) AS first_row
                      FROM _parsed
                      WHERE NOT _bad AND {known} AND {group} IN (SELECT g FROM _dup_groups))
                WHERE row_no <> first_row"""
        )
    con.execute(
        f"""INSERT INTO _rejects
            SELECT row_no, '{"+".join(table.key)}', key, 'duplicate_key',
                   'the same key is on row ' || first_row || ' of this file; that row is kept',
                   'error'
            FROM _dups"""
    )
    return con.execute("SELECT count(*) FROM _dups").fetchone()[0]


def _insert_good_rows(con: duckdb.DuckDBPyConnection, table: Table, org: str, good: str) -> int:
    """Write the good rows straight from ``_parsed`` into the store (for Parquet and Excel
    parsed from the source as they are written; for CSV from its parsed copy)."""
    cols = ", ".join(table.column_names)
    with _no_filter_pushdown(con):
        return con.execute(
            # The org as a literal, not a parameter: a prepared INSERT of millions of rows runs
            # ~20 % slower in DuckDB, and the org name is validated to [A-Za-z0-9_.-] above.
            f"INSERT INTO {table.name} (org, {cols}) SELECT {literal(org)}, {cols} "
            f"FROM _parsed WHERE {good}"
        ).fetchone()[0]


def _collect_rejects(con: duckdb.DuckDBPyConnection) -> int:
    """Every problem of every row with one (``_bad``), from ``_why``: for Parquet and Excel a
    pass over the source, in which only those rows evaluate the codes. Returns how many rows."""
    messages = (
        "CASE e.code "
        + " ".join(f"WHEN '{code}' THEN {literal(text)}" for code, text in REJECT_CODES.items())
        + " END"
    )
    with _no_filter_pushdown(con):
        con.execute(
            f"""INSERT INTO _rejects
                SELECT row_no, e.column_name, e.value, e.code, {messages}, 'error'
                FROM (SELECT row_no, unnest(_why) AS e FROM _rows WHERE _bad)
                WHERE e.code IS NOT NULL"""
        )
    return con.execute(
        "SELECT count(DISTINCT row_no) FROM _rejects "
        "WHERE severity = 'error' AND code NOT IN ('malformed_row', 'duplicate_key')"
    ).fetchone()[0]


def _refuse_strict(
    con: duckdb.DuckDBPyConnection, report: ImportReport, path: Path, rejects_path: Path | None
) -> None:
    if rejects_path is not None:
        report.rejects_file = _write_rejects(con, rejects_path)
    raise StrictImportRejected(
        f"{path.name}: {report.rejected} row(s) rejected; --strict imports nothing "
        "when any row is rejected"
        + (f" (see {report.rejects_file})" if report.rejects_file else ""),
        rejected_rows=report.rejected,
    )


def _summarize_rejects(con: duckdb.DuckDBPyConnection, report: ImportReport) -> None:
    for code, n_rows in con.execute(
        "SELECT code, count(DISTINCT row_no) FROM _rejects GROUP BY code"
    ).fetchall():
        report.codes[code] = n_rows
    report.rejected = con.execute(
        "SELECT count(DISTINCT row_no) FROM _rejects WHERE severity = 'error'"
    ).fetchone()[0]
    report.warnings = con.execute(
        "SELECT count(*) FROM _rejects WHERE severity = 'warning'"
    ).fetchone()[0]
    report.rejects = [
        Reject(*row)
        for row in con.execute(
            f"SELECT row_no, column_name, value, code, message, severity FROM _rejects "
            f"ORDER BY row_no, column_name LIMIT {_SHOWN_REJECTS}"
        ).fetchall()
    ]


def _key_match(table: Table, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{k} = {right}.{k}" for k in table.key)


def _add_vat_keys(con: duckdb.DuckDBPyConnection) -> None:
    numbers = [
        r[0]
        for r in con.execute(
            "SELECT DISTINCT vat_number FROM _incoming WHERE vat_number IS NOT NULL"
        ).fetchall()
    ]
    keys = [vat_key(n) for n in numbers]
    con.register(
        "_vat_map",
        pa.table(
            {"vat_number": pa.array(numbers, pa.string()), "key": pa.array(keys, pa.string())}
        ),
    )
    try:
        con.execute(
            "UPDATE _incoming SET vat_key = m.key FROM _vat_map m "
            "WHERE _incoming.vat_number = m.vat_number"
        )
        con.execute(
            f"""INSERT INTO _rejects
                SELECT row_no, 'vat_number', vat_number, 'invalid_vat',
                       '{REJECT_CODES["invalid_vat"]}', 'warning'
                FROM _incoming WHERE vat_number IS NOT NULL AND vat_key IS NULL"""
        )
    finally:
        con.unregister("_vat_map")


def _apply(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    org: str,
    report: ImportReport,
    progress: Progress,
) -> None:
    """Write ``_incoming``: rows already stored as they are count as already present, rows whose
    key is stored with other values replace those, the rest are added."""
    cols = ", ".join(table.column_names)
    target = table.name
    if report.compare_with_store:
        same = " AND ".join(f"t.{c} IS NOT DISTINCT FROM i.{c}" for c in table.column_names)
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE _same AS SELECT i.row_no FROM _incoming i
                JOIN {target} t ON t.org = $org AND {same}""",
            {"org": org},
        )
        report.already_present = con.execute("SELECT count(*) FROM _same").fetchone()[0]
        if report.already_present:
            con.execute("DELETE FROM _incoming WHERE row_no IN (SELECT row_no FROM _same)")
        progress("writing", 0.8)
        con.execute(
            f"DELETE FROM {target} t USING _incoming i WHERE t.org = $org AND "
            + _key_match(table, "t", "i"),
            {"org": org},
        )
    progress("writing", 0.85)
    report.accepted = con.execute(
        # The org as a literal, not a parameter (see _insert_good_rows).
        f"INSERT INTO {target} (org, {cols}) SELECT {literal(org)}, {cols} FROM _incoming"
    ).fetchone()[0]


def _record_import(con: duckdb.DuckDBPyConnection, org: str, report: ImportReport) -> None:
    con.execute(
        "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            uuid.uuid4().hex,
            org,
            report.kind,
            str(report.source),
            datetime.now(UTC).replace(tzinfo=None),
            report.rows_read,
            report.accepted,
            report.rejected,
            report.already_present,
        ],
    )


def _write_rejects(con: duckdb.DuckDBPyConnection, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    con.execute(
        "COPY (SELECT row_no AS row, column_name AS column, value, code, message, severity "
        "FROM _rejects ORDER BY row_no, column_name) TO "
        + literal(str(path))
        + " (HEADER, DELIMITER ',')"
    )
    return path


__all__ = ["ImportReport", "Reject", "import_file", "normalize_header", "resolve_columns"]

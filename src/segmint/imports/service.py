"""Importing a file into the sales store: one transaction, every reject reported.

The steps, all inside one DuckDB transaction on the store (so a crash, a Ctrl-C or a ``--strict``
refusal leaves the store exactly as it was):

1. the file becomes the relation ``_src`` (:mod:`segmint.imports.sources`);
2. each canonical column is parsed in SQL and gets a reject code where it cannot be used
   (:mod:`segmint.imports.parsing`); rejects go to ``_rejects``;
3. the good rows go to ``_incoming``; a key already seen on an earlier row of the file is a
   ``duplicate_key`` reject;
4. rows identical to what the store holds are counted as *already present* and left alone; rows
   whose key is stored with other values replace them; new rows are added.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Callable
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
        # Reading and checking work in DuckDB's temporary (in-memory, spilling) catalog; only
        # _apply touches the store's tables, inside one transaction.
        progress("reading", 0.3)
        report = _import_staged(
            con,
            staged,
            table=table,
            org=org,
            kind=kind,
            path=path,
            options=options,
            progress=progress,
        )
        report.encoding, report.delimiter = staged.encoding, staged.delimiter
        if rejects_path is not None and (report.rejected or report.warnings):
            report.rejects_file = _write_rejects(con, rejects_path)
        if strict and report.rejected:
            raise StrictImportRejected(
                f"{path.name}: {report.rejected} row(s) rejected; --strict imports nothing "
                "when any row is rejected"
                + (f" (see {report.rejects_file})" if report.rejects_file else ""),
                rejected_rows=report.rejected,
            )
        con.execute("BEGIN TRANSACTION")
        try:
            _apply(con, table, org, report, progress)
            con.execute("COMMIT")
        except BaseException:
            # BaseException: a Ctrl-C half way must roll back too, not leave a half import.
            con.execute("ROLLBACK")
            raise
    progress("done", 1.0)
    return report


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


def _import_staged(
    con: duckdb.DuckDBPyConnection,
    staged: Staged,
    *,
    table: Table,
    org: str,
    kind: str,
    path: Path,
    options: ImportOptions,
    progress: Progress,
) -> ImportReport:
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
    report.rows_read = con.execute("SELECT count(*) FROM _src").fetchone()[0] + len(
        staged.malformed
    )
    _check_rows(con, sqls, auto_line_no=(kind == "sales" and not mapping["line_no"]))
    progress("checking", 0.5)
    _collect_rejects(con, sqls, staged)
    _reject_duplicates(con, table)
    # The good rows: a table when they must be compared with stored rows or updated (VAT keys),
    # otherwise a view the final INSERT reads straight from the source (one write, not two).
    stored = con.execute(
        f"SELECT count(*) FROM (SELECT 1 FROM {table.name} WHERE org = ? LIMIT 1)", [org]
    ).fetchone()[0]
    relation = "TABLE" if stored or kind == "customers" else "VIEW"
    con.execute(
        f"""CREATE OR REPLACE TEMP {relation} _incoming AS
            SELECT * EXCLUDE (_bad) FROM _parsed
            WHERE row_no NOT IN (SELECT row_no FROM _rejects WHERE severity = 'error')"""
    )
    report.compare_with_store = bool(stored)
    if kind == "customers":
        _add_vat_keys(con)
    progress("checking", 0.7)
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
    return report


def _check_rows(
    con: duckdb.DuckDBPyConnection, sqls: list[ColumnSql], *, auto_line_no: bool
) -> None:
    """One pass over the source: typed values of every row plus a flag for rows with a problem."""
    inner = ", ".join(f"{expr} AS {alias}" for s in sqls for alias, expr in s.inner)
    values = []
    for s in sqls:
        if s.name == "line_no" and auto_line_no:
            # No line numbers in the file: a line is its position among its document's rows.
            values.append(
                f"CAST(row_number() OVER (PARTITION BY {sqls[0].value} ORDER BY row_no) "
                "AS INTEGER) AS line_no"
            )
        else:
            values.append(f"{s.value} AS {s.name}")
    checked = [s.error for s in sqls if s.error != NO_ERROR]
    bad = " OR ".join(f"({e}) IS NOT NULL" for e in checked) or "false"
    con.execute(
        f"""CREATE OR REPLACE TEMP VIEW _parsed AS
            SELECT row_no, {", ".join(values)}, {bad} AS _bad
            FROM (SELECT row_no, {inner} FROM _src)"""
    )


def _collect_rejects(con: duckdb.DuckDBPyConnection, sqls: list[ColumnSql], staged: Staged) -> None:
    """Every problem of every flagged row (re-read from the source: rejects are few)."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _rejects (row_no BIGINT, column_name VARCHAR, "
        "value VARCHAR, code VARCHAR, message VARCHAR, severity VARCHAR)"
    )
    con.execute("CREATE OR REPLACE TEMP TABLE _bad_rows AS SELECT row_no FROM _parsed WHERE _bad")
    if con.execute("SELECT count(*) FROM _bad_rows").fetchone()[0]:
        checked = [s for s in sqls if s.error != NO_ERROR]
        inner = ", ".join(f"{expr} AS {alias}" for s in checked for alias, expr in s.inner)
        raws = ", ".join(f"left({s.raw}, 200) AS r_{s.name}" for s in checked)
        structs = ", ".join(
            f"{{'column_name': '{s.name}', 'value': r_{s.name}, 'code': {s.error}}}"
            for s in checked
        )
        messages = (
            "CASE e.code "
            + " ".join(f"WHEN '{code}' THEN {literal(text)}" for code, text in REJECT_CODES.items())
            + " END"
        )
        con.execute(
            f"""INSERT INTO _rejects
                SELECT row_no, e.column_name, e.value, e.code, {messages}, 'error'
                FROM (SELECT row_no, unnest([{structs}]) AS e
                      FROM (SELECT row_no, {inner}, {raws} FROM _src
                            WHERE row_no IN (SELECT row_no FROM _bad_rows)))
                WHERE e.code IS NOT NULL"""
        )
    if staged.malformed:
        con.executemany(
            "INSERT INTO _rejects VALUES (?, '(row)', ?, 'malformed_row', ?, 'error')",
            [(row, text[:200], message) for row, text, message in staged.malformed],
        )


def _key_match(table: Table, left: str, right: str) -> str:
    return " AND ".join(f"{left}.{k} = {right}.{k}" for k in table.key)


def _reject_duplicates(con: duckdb.DuckDBPyConnection, table: Table) -> None:
    """A key already on an earlier good row of the file: reject the later rows."""
    keys = ", ".join(table.key)
    # Only the key columns are parsed here: DuckDB prunes the view's other expressions.
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _dup_keys AS
            SELECT {keys}, min(row_no) AS first_row FROM _parsed
            WHERE row_no NOT IN (SELECT row_no FROM _bad_rows)
            GROUP BY {keys} HAVING count(*) > 1"""
    )
    if not con.execute("SELECT count(*) FROM _dup_keys").fetchone()[0]:
        return
    con.execute(
        f"""INSERT INTO _rejects
            SELECT p.row_no, '{"+".join(table.key)}', concat_ws(' / ', {keys}), 'duplicate_key',
                   'the same key is on row ' || d.first_row || ' of this file; that row is kept',
                   'error'
            FROM _parsed p JOIN _dup_keys d USING ({keys})
            WHERE p.row_no <> d.first_row AND p.row_no NOT IN (SELECT row_no FROM _bad_rows)"""
    )


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
        # The org as a literal, not a parameter: a prepared INSERT of millions of rows runs
        # ~20 % slower in DuckDB, and the org name is validated to [A-Za-z0-9_.-] above.
        f"INSERT INTO {target} (org, {cols}) SELECT {literal(org)}, {cols} FROM _incoming"
    ).fetchone()[0]
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

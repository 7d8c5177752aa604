"""The only module that opens the sales store's DuckDB file.

Connections are short-lived: each operation opens the file, works and closes it, so a web server
and a CLI import can take turns on one file. DuckDB allows one writing process at a time; a
second process that finds the file locked retries for a while and then raises :class:`StoreBusy`.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import duckdb

from segmint.errors import SegmintError
from segmint.store.schema import IMPORTS_DDL, META_DDL, SCHEMA_VERSION, TABLES

#: The start of a DuckDB file that holds its headers (one file header, two database headers).
_HEADER_BYTES = 3 * 4096


class StoreBusy(SegmintError):
    """Another process holds the sales store (usually an import); try again shortly."""


@dataclass(frozen=True)
class OrgSummary:
    org: str
    sales_lines: int
    customers: int
    products: int
    first_invoice: date | None
    last_invoice: date | None
    net_sales: float


class SalesStore:
    """The DuckDB sales store at ``path``."""

    def __init__(
        self,
        path: Path,
        *,
        memory_limit: str | None = None,
        threads: int | None = None,
        busy_timeout: float = 10.0,
    ) -> None:
        self.path = Path(path)
        self.memory_limit = memory_limit
        self.threads = threads
        self.busy_timeout = busy_timeout

    @classmethod
    def from_settings(cls, settings) -> SalesStore:
        return cls(
            settings.sales_store_path,
            memory_limit=settings.duckdb_memory_limit,
            threads=settings.duckdb_threads,
        )

    def _open(self, *, read_only: bool) -> duckdb.DuckDBPyConnection:
        config: dict[str, str | int] = {}
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        if self.threads:
            config["threads"] = self.threads
        deadline = time.monotonic() + self.busy_timeout
        delay = 0.05
        while True:
            try:
                con = duckdb.connect(str(self.path), read_only=read_only, config=config)
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    if "lock" in str(exc).lower():
                        raise StoreBusy(
                            f"the sales store {self.path} is in use by another process "
                            "(an import?); try again when it has finished"
                        ) from exc
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 1.0)
                continue
            # Spill to a directory beside the store rather than the working directory.
            con.execute(f"SET temp_directory = '{self.path.parent / '.duckdb_tmp'}'")
            return con

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        """Open the store (creating it and its tables when writing) and close it afterwards."""
        if read_only and not self.path.exists():
            con = duckdb.connect(":memory:")
            try:
                self._create_schema(con)
                yield con
            finally:
                con.close()
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = self._open(read_only=read_only)
        try:
            if not read_only:
                self._create_schema(con)
            yield con
        finally:
            con.close()

    @contextmanager
    def attached(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """An in-memory connection with the store attached read-only as ``store``.

        For analysis: the engine creates temporary views, which a read-only database refuses;
        here they live in the in-memory catalog while the tables are read as ``store.<table>``.
        """
        config: dict[str, str | int] = {}
        if self.memory_limit:
            config["memory_limit"] = self.memory_limit
        if self.threads:
            config["threads"] = self.threads
        con = duckdb.connect(":memory:", config=config)
        try:
            if self.path.exists():
                path = str(self.path).replace("'", "''")
                try:
                    con.execute(f"ATTACH '{path}' AS store (READ_ONLY)")
                except duckdb.IOException as exc:
                    if "lock" not in str(exc).lower():
                        raise  # e.g. not a DuckDB file: saying "busy, try again" would mislead
                    raise StoreBusy(
                        f"the sales store {self.path} is in use by another process "
                        "(an import?); try again when it has finished"
                    ) from exc
            else:
                con.execute("ATTACH ':memory:' AS store")
                con.execute("USE store")
                self._create_schema(con)
                con.execute("USE memory")
            yield con
        finally:
            con.close()

    def version(self) -> str | None:
        """A token that changes whenever the store's data may have changed, read without
        opening the store (no lock is taken, so it never stands in an import's way); None when
        there is no store file.

        DuckDB writes a committed change to the write-ahead log (``<file>.wal``) and folds it
        into the file at a checkpoint, which rewrites one of the headers at the file's start.
        So the token covers the file's identity, size and modification time, its first three
        4 KiB blocks (the headers: they change on every checkpoint, even when the file's size
        and coarse timestamp do not) and the log's size and modification time. Caches of data
        read from the store use it in their keys; read it again while holding the store open
        (nothing can write meanwhile) to label what was read.
        """
        try:
            found = os.stat(self.path)
            with open(self.path, "rb") as handle:
                head = handle.read(_HEADER_BYTES)
        except FileNotFoundError:
            return None
        try:
            wal = os.stat(self.path.with_name(self.path.name + ".wal"))
            wal_stamp: tuple[int, int] | None = (wal.st_size, wal.st_mtime_ns)
        except FileNotFoundError:
            wal_stamp = None
        digest = hashlib.blake2b(head, digest_size=12).hexdigest()
        return (
            f"{found.st_dev}:{found.st_ino}:{found.st_size}:{found.st_mtime_ns}:{digest}:"
            f"{wal_stamp}"
        )

    @staticmethod
    def _create_schema(con: duckdb.DuckDBPyConnection) -> None:
        for table in TABLES.values():
            con.execute(table.ddl())
        con.execute(IMPORTS_DDL)
        con.execute(META_DDL)
        if not con.execute("SELECT 1 FROM store_meta WHERE key = 'schema_version'").fetchone():
            con.execute("INSERT INTO store_meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])

    def is_empty(self) -> bool:
        if not self.path.exists():
            return True
        with self.connect(read_only=True) as con:
            row = con.execute("SELECT count(*) FROM (SELECT 1 FROM sales_lines LIMIT 1)").fetchone()
        return not row or row[0] == 0

    def organizations(self) -> list[OrgSummary]:
        """Every organization with data in the store and the size of that data."""
        with self.connect(read_only=True) as con:
            rows = con.execute(
                """
                WITH orgs AS (
                    SELECT org FROM sales_lines UNION SELECT org FROM customers
                    UNION SELECT org FROM products
                ),
                s AS (SELECT org, count(*) AS n, min(invoice_date) AS first_d,
                             max(invoice_date) AS last_d, sum(net_amount) AS net
                      FROM sales_lines GROUP BY org),
                c AS (SELECT org, count(*) AS n FROM customers GROUP BY org),
                p AS (SELECT org, count(*) AS n FROM products GROUP BY org)
                SELECT o.org, coalesce(s.n, 0), coalesce(c.n, 0), coalesce(p.n, 0),
                       s.first_d, s.last_d, coalesce(s.net, 0)
                FROM orgs o LEFT JOIN s USING (org) LEFT JOIN c USING (org)
                LEFT JOIN p USING (org)
                ORDER BY o.org
                """
            ).fetchall()
        return [OrgSummary(r[0], r[1], r[2], r[3], r[4], r[5], float(r[6])) for r in rows]

    def table_rows(self, table: str, org: str) -> list[tuple]:
        """All rows of ``table`` for ``org`` in key order (used by tests and exports)."""
        spec = TABLES[table]
        cols = ", ".join(spec.column_names)
        order = ", ".join(spec.key)
        with self.connect(read_only=True) as con:
            return con.execute(
                f"SELECT {cols} FROM {spec.name} WHERE org = ? ORDER BY {order}", [org]
            ).fetchall()

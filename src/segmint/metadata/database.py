"""Opening the metadata database: one :class:`Database` per process, built from the settings.

SQLite gets WAL (readers never wait for the writer), a 30 s busy timeout, foreign keys, and
``BEGIN IMMEDIATE`` for every writing transaction: a deferred transaction that reads first and
then writes can fail with "database is locked" without waiting, an immediate one queues for the
write lock instead. Read-only work uses :meth:`Database.read_session`, a deferred transaction
that never blocks on the writer.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Executable, Row, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from segmint.errors import ConfigError

_READ = "segmint_read_only"


def core_rows(session: Session, statement: Executable, params: dict[str, Any]) -> list[Row]:
    """The rows of a Core ``select`` of columns (no ORM entities), run on the session's
    connection without the ORM's statement handling, which cost as much as the query itself on
    the customer list's path. Pending ORM changes are flushed first, as ``session.execute``
    would (nearly free when there are none)."""
    session.flush()
    return list(session.connection().execute(statement, params).all())


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves, below
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")  # safe with WAL: a crash loses no commit
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        read_only = connection.get_execution_options().get(_READ, False)
        connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


class Database:
    """The metadata database of one deployment: an engine and its session factories."""

    def __init__(self, url: str, *, echo: bool = False, pool_size: int | None = None) -> None:
        """``pool_size``: connections kept open (the server: one per request thread; default
        SQLAlchemy's 5, plus up to 10 more opened and closed as needed)."""
        self.url = url
        pool = {} if pool_size is None else {"pool_size": pool_size, "max_overflow": pool_size}
        if url.startswith("sqlite"):
            path = url.split(":///", 1)[-1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            else:
                pool = {}  # an in-memory database has a pool of its own kind
            self.engine = create_engine(url, echo=echo, connect_args={"timeout": 30}, **pool)
            _sqlite_setup(self.engine)
        elif url.startswith("postgresql"):
            self.engine = create_engine(url, echo=echo, pool_pre_ping=True, **pool)
        else:
            raise ConfigError(
                f"metadata_url {url!r}: Segmint supports sqlite:/// and postgresql+psycopg:// URLs"
            )
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._read_sessions = sessionmaker(
            self.engine.execution_options(**{_READ: True}), expire_on_commit=False
        )

    @classmethod
    def from_settings(cls, settings: Any, *, pool_size: int | None = None) -> Database:
        return cls(settings.metadata_database_url, pool_size=pool_size)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A writing transaction: committed when the block ends, rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A read-only transaction (on SQLite it never waits for a writer)."""
        with self._read_sessions() as session:
            yield session  # closing the session rolls its transaction back

    def dispose(self) -> None:
        self.engine.dispose()

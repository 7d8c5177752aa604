"""The metadata database: organizations, users, segment types, runs, assignments, overrides,
history, notifications and the audit log, in SQLAlchemy 2 with Alembic migrations.

SQLite is the default (one file in the data directory), PostgreSQL the production database; the
same code and the same migrations run on both. Each domain keeps its tables in its own
``models.py``; :mod:`segmint.metadata.models` imports them all so Alembic sees one metadata.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from segmint.metadata.database import Database

__all__ = ["Database"]


def __getattr__(name: str) -> Any:
    # Lazy: `segmint --help` imports `segmint.metadata.cli`, and SQLAlchemy costs ~0.3 s.
    if name == "Database":
        from segmint.metadata.database import Database

        return Database
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Run persistence: segment_history without foreign keys or organization index; assignments
WITHOUT ROWID on SQLite.

A run's first result writes a history row for every customer in a segment (hundreds of
thousands at once); on PostgreSQL the three foreign-key checks per row cost more than the rows
themselves. ``segment_history`` now has no foreign keys, like ``assignments``: deleting a type
deletes its history in ``segments.service.delete_type``; users and organizations are never
deleted. Its index on ``organization_id`` alone goes too (every reader asks for one type, which
``ix_segment_history_type_customer`` serves).

On SQLite ``assignments`` becomes a WITHOUT ROWID table: the rows live in the primary-key B-tree
(one B-tree per row written instead of two, and comparing two runs reads ``segment_id`` from
it). Rebuilding the table copies every snapshot row once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_FOREIGN_KEYS = (
    # (name, column, referred table, ondelete)
    ("fk_segment_history_organization_id_organizations", "organization_id", "organizations", None),
    ("fk_segment_history_type_id_segment_types", "type_id", "segment_types", "CASCADE"),
    ("fk_segment_history_user_id_users", "user_id", "users", "SET NULL"),
)


def _sqlite() -> bool:
    return op.get_bind().dialect.name == "sqlite"


def upgrade() -> None:
    with op.batch_alter_table("segment_history", schema=None) as batch_op:
        batch_op.drop_index("ix_segment_history_organization_id")
        for name, _column, _referred, _ondelete in _FOREIGN_KEYS:
            batch_op.drop_constraint(name, type_="foreignkey")
    if _sqlite():
        with op.batch_alter_table(
            "assignments", recreate="always", table_kwargs={"sqlite_with_rowid": False}
        ):
            pass


def downgrade() -> None:
    if _sqlite():
        with op.batch_alter_table(
            "assignments", recreate="always", table_kwargs={"sqlite_with_rowid": True}
        ):
            pass
    with op.batch_alter_table("segment_history", schema=None) as batch_op:
        for name, column, referred, ondelete in _FOREIGN_KEYS:
            batch_op.create_foreign_key(name, referred, [column], ["id"], ondelete=ondelete)
        batch_op.create_index(
            "ix_segment_history_organization_id", ["organization_id"], unique=False
        )

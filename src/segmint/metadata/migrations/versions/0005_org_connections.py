"""Connections between organizations (sharing VAT-based segment types).

One row per invitation: who invited whom, and who accepted, declined or ended it, and when. A
partial unique index on the pair of organizations holds at most one pending-or-active
connection per pair, whichever side invited.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 07:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import segmint.metadata.base

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

UtcDateTime = segmint.metadata.base.UtcDateTime
OPEN = "status IN ('pending', 'active')"


def upgrade() -> None:
    op.create_table(
        "org_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inviter_id", sa.Integer(), nullable=False),
        sa.Column("invitee_id", sa.Integer(), nullable=False),
        sa.Column("pair_key", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("invited_by", sa.Integer(), nullable=True),
        sa.Column("invited_at", UtcDateTime(timezone=True), nullable=False),
        sa.Column("responded_by", sa.Integer(), nullable=True),
        sa.Column("responded_at", UtcDateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.Integer(), nullable=True),
        sa.Column("ended_by_org_id", sa.Integer(), nullable=True),
        sa.Column("ended_at", UtcDateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'declined', 'ended')",
            name=op.f("ck_org_connections_status"),
        ),
        sa.CheckConstraint(
            "inviter_id <> invitee_id", name=op.f("ck_org_connections_two_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["inviter_id"],
            ["organizations.id"],
            name=op.f("fk_org_connections_inviter_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["invitee_id"],
            ["organizations.id"],
            name=op.f("fk_org_connections_invitee_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["ended_by_org_id"],
            ["organizations.id"],
            name=op.f("fk_org_connections_ended_by_org_id_organizations"),
        ),
        sa.ForeignKeyConstraint(
            ["invited_by"], ["users.id"], name=op.f("fk_org_connections_invited_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["responded_by"], ["users.id"], name=op.f("fk_org_connections_responded_by_users")
        ),
        sa.ForeignKeyConstraint(
            ["ended_by"], ["users.id"], name=op.f("fk_org_connections_ended_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_org_connections")),
    )
    with op.batch_alter_table("org_connections", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_org_connections_inviter_id"), ["inviter_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_org_connections_invitee_id"), ["invitee_id"], unique=False
        )
        batch_op.create_index(
            "uq_org_connections_one_open_per_pair",
            ["pair_key"],
            unique=True,
            sqlite_where=sa.text(OPEN),
            postgresql_where=sa.text(OPEN),
        )


def downgrade() -> None:
    op.drop_table("org_connections")

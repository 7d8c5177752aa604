"""Connections between organizations and the shared VAT-based segment types, on SQLite and on
PostgreSQL, through the services (the API and the pages are tested in tests/api and tests/web).

MAKER (a manufacturer) and SHOP (a wholesaler) have two companies in common: VAT1 and VAT2
(SHOP types VAT1 the way people do, ``de 136 695 976``; the key is the same). MAKER's shared
VAT-based ABC type puts VAT1 in A by its sales and VAT2 in C, and a manager of MAKER moved VAT2
to B by hand, with a reason SHOP must never see. OTHER is not connected to anyone.
"""

from __future__ import annotations

import copy
import shutil
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from segmint.accounts import service as accounts
from segmint.accounts.actor import Actor
from segmint.audit.models import AuditEntry
from segmint.errors import Conflict, NotFound, PermissionDenied, ValidationError
from segmint.metadata.database import Database
from segmint.metadata.migrate import head_revision, upgrade
from segmint.runs.models import Notification
from segmint.segments import service as segments
from segmint.sharing import service as sharing
from segmint.sharing.models import Connection, pair_key
from segmint.store import SalesStore
from tests.conftest import (
    copy_sqlite,
    create_postgres_database,
    drop_postgres_database,
    freeze_postgres_template,
    postgres_url,
)
from tests.runs.support import Line, Org

VAT1, VAT2, VAT3, VAT4 = "DE136695976", "DE812345673", "DE298765435", "DE311223342"


class People:
    """An admin, a manager and a rep per organization, as actors."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.actors: dict[str, Actor] = {}
        with db.session() as session:
            for slug, name in (("maker", "Maker AG"), ("shop", "Shop GmbH"), ("other", "Other")):
                organization = accounts.ensure_organization(session=session, slug=slug, name=name)
                system = accounts.system_actor(session=session, org=slug)
                for role in ("admin", "manager", "rep"):
                    user = accounts.create_user(
                        session=session,
                        actor=system,
                        email=f"{role}@{slug}.test",
                        role=role,
                        password=None,
                    )
                    self.actors[f"{slug}_{role}"] = accounts.actor_for(user, organization)

    def __getitem__(self, who: str) -> Actor:
        return self.actors[who]


def build_world(metadata_db: Database, tmp_path: Path) -> dict:
    """MAKER, SHOP and OTHER as the module docstring tells, in ``metadata_db`` and a store
    under ``tmp_path``."""
    people = People(metadata_db)
    store = SalesStore(tmp_path / "store" / "sales.duckdb")
    maker = Org(metadata_db, store, tmp_path / "files", "maker")
    shop = Org(metadata_db, store, tmp_path / "files", "shop")
    maker.import_customers([("M1", VAT1), ("M2", VAT2), ("M3", VAT3)])
    shop.import_customers([("S1", "de 136 695 976"), ("S2", VAT2), ("S4", VAT4), ("S5", None)])
    day = date(2025, 6, 1)
    maker.import_sales(
        [
            Line("D1", "M1", day, Decimal("9000")),
            Line("D2", "M3", day, Decimal("700")),
            Line("D3", "M2", day, Decimal("300")),
        ]
    )
    shop.import_sales([Line("S-1", "S1", day, Decimal("50"))])
    type_id = maker.create_type("Key accounts", "pareto", identity="vat", shared=True)
    assert maker.run(type_id).status == "succeeded"
    with metadata_db.session() as session:
        from segmint.assignments.service import set_override

        set_override(
            session=session,
            actor=people["maker_manager"],
            type_id=type_id,
            customer_key=VAT2,
            segment="B",
            reason="secret: framework contract",
        )
    # A type MAKER does not share, and one of SHOP's that it shares back.
    private = maker.create_type("Private", "pareto", identity="vat")
    assert maker.run(private).status == "succeeded"
    back = shop.create_type("Shop tiers", "pareto", identity="vat", shared=True)
    assert shop.run(back).status == "succeeded"
    return {
        "db": metadata_db,
        "people": people,
        "type": type_id,
        "private": private,
        "back": back,
        "maker": maker,
        "shop": shop,
    }


# The world above takes 2-4 s to build (users, imports, three runs) and 28 tests use it. It is
# built once per session for each database, by ``build_world``, and each test gets a copy of it:
# the sales store copied, the metadata database copied (a file on SQLite, ``CREATE DATABASE …
# TEMPLATE`` on PostgreSQL), and the same actors and ids bound to the copy.


@dataclass(frozen=True)
class Template:
    store: Path  # the sales store, closed
    sqlite: Path | None  # the metadata database on SQLite
    postgres: str | None  # or its template database on PostgreSQL
    actors: dict[str, Actor]
    files: dict[str, int]  # how many import files each Org wrote (so new names do not clash)
    ids: dict[str, int]


def _template(db: Database, workdir: Path, **where: object) -> Template:
    built = build_world(db, workdir)
    db.dispose()
    ids = {name: built[name] for name in ("type", "private", "back")}
    files = {slug: built[slug].files for slug in ("maker", "shop")}
    return Template(
        workdir / "store", actors=dict(built["people"].actors), files=files, ids=ids, **where
    )


@pytest.fixture(scope="session")
def sqlite_template(_migrated_sqlite: Path, tmp_path_factory: pytest.TempPathFactory) -> Template:
    workdir = tmp_path_factory.mktemp("sharing-sqlite")
    path = workdir / "metadata.sqlite3"
    copy_sqlite(_migrated_sqlite, path)
    return _template(Database(f"sqlite:///{path}"), workdir, sqlite=path, postgres=None)


@pytest.fixture(scope="session")
def postgres_template(_migrated_postgres: str, tmp_path_factory: pytest.TempPathFactory):
    name = create_postgres_database(_migrated_postgres)
    try:
        workdir = tmp_path_factory.mktemp("sharing-postgres")
        db = Database(postgres_url(name))
        template = _template(db, workdir, sqlite=None, postgres=name)
        freeze_postgres_template(name)
        yield template
    finally:
        drop_postgres_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def world(request, tmp_path: Path):
    """:func:`build_world` on SQLite and on PostgreSQL: a copy of its own for each test."""
    template: Template = request.getfixturevalue(f"{request.param}_template")
    shutil.copytree(template.store, tmp_path / "store")
    if template.sqlite is not None:
        copy_sqlite(template.sqlite, tmp_path / "metadata.sqlite3")
        url, name = f"sqlite:///{tmp_path / 'metadata.sqlite3'}", None
    else:
        name = create_postgres_database(template.postgres)
        url = postgres_url(name)
    db = Database(url)
    try:
        assert upgrade(db)[1] == head_revision(db)
        people = People.__new__(People)  # the users are in the copy already
        people.db, people.actors = db, copy.deepcopy(template.actors)
        store = SalesStore(tmp_path / "store" / "sales.duckdb")
        orgs = {}
        for slug in ("maker", "shop"):
            orgs[slug] = Org(db, store, tmp_path / "files", slug)
            orgs[slug].files = template.files[slug]
        yield {"db": db, "people": people, **template.ids, **orgs}
    finally:
        db.dispose()
        if name is not None:
            drop_postgres_database(name)


def _call(db: Database, function, **kwargs):
    with db.session() as session:
        return function(session=session, **kwargs)


def _read(db: Database, function, **kwargs):
    with db.read_session() as session:
        return function(session=session, **kwargs)


def _connect(db: Database, people: People) -> int:
    invited = _call(db, sharing.invite, actor=people["maker_admin"], slug="shop")
    _call(db, sharing.accept, actor=people["shop_admin"], connection_id=invited.id)
    return invited.id


def _seen(db: Database, actor: Actor, keys=None) -> dict:
    """What ``actor`` sees on its own customers (SHOP's VAT keys, or MAKER's)."""
    if keys is None:
        keys = (VAT1, VAT2, VAT3) if actor.org_slug == "maker" else (VAT1, VAT2, VAT4, None)
    found = _read(db, sharing.shared_segments, actor=actor, vat_keys=list(keys))
    return {
        key: [(s.owner_slug, s.type_name, s.segment) for s in rows] for key, rows in found.items()
    }


def test_invite_accept_share_and_end(world) -> None:
    db, people = world["db"], world["people"]
    invited = _call(db, sharing.invite, actor=people["maker_admin"], slug=" Shop ")
    assert (invited.status, invited.direction, invited.partner_slug) == (
        "pending",
        "outgoing",
        "shop",
    )
    assert invited.invited_by == people["maker_admin"].user_id
    # pending: nothing is shared yet, either way
    assert _seen(db, people["shop_rep"]) == {}
    assert _read(db, sharing.shared_types, actor=people["shop_admin"]) == []
    incoming = _read(db, sharing.list_connections, actor=people["shop_manager"])
    assert [(c.id, c.direction, c.partner_name, c.invited_by, c.can_respond) for c in incoming] == [
        (invited.id, "incoming", "Maker AG", None, True)
    ]

    accepted = _call(db, sharing.accept, actor=people["shop_admin"], connection_id=invited.id)
    assert (accepted.status, accepted.responded_by) == ("active", people["shop_admin"].user_id)
    assert accepted.responded_at is not None

    # SHOP sees MAKER's effective segments (the manual B for VAT2), matched by VAT key; not the
    # unshared type, not its own type, nothing for a VAT MAKER does not know or no VAT at all.
    assert _seen(db, people["shop_rep"]) == {
        VAT1: [("maker", "Key accounts", "A")],
        VAT2: [("maker", "Key accounts", "B")],
    }
    # ... and MAKER sees SHOP's shared type: a connection is mutual.
    assert _seen(db, people["maker_rep"]) == {VAT1: [("shop", "Shop tiers", "A")]}
    types = _read(db, sharing.shared_types, actor=people["shop_rep"])
    assert [(t.name, t.method, t.owner_name, [s.name for s in t.segments]) for t in types] == [
        ("Key accounts", "pareto", "Maker AG", ["A", "B", "C"])
    ]
    assert types[0].segments[0].description.startswith("Your highest-value customers")
    # OTHER sees nothing of either
    assert _seen(db, people["other_admin"]) == {}
    assert _read(db, sharing.shared_types, actor=people["other_admin"]) == []

    ended = _call(db, sharing.end, actor=people["shop_admin"], connection_id=invited.id)
    assert (ended.status, ended.ended_by_side, ended.ended_by) == (
        "ended",
        "us",
        people["shop_admin"].user_id,
    )
    seen_by_maker = _read(
        db, sharing.get_connection, actor=people["maker_rep"], connection_id=invited.id
    )
    assert (seen_by_maker.ended_by_side, seen_by_maker.ended_by) == ("partner", None)
    assert _seen(db, people["shop_rep"]) == {} and _seen(db, people["maker_rep"]) == {}

    with db.read_session() as session:
        notes = session.execute(
            select(Notification.user_id, Notification.kind).order_by(Notification.id)
        ).all()
        log = session.execute(
            select(AuditEntry.organization_id, AuditEntry.user_id, AuditEntry.action)
            .where(AuditEntry.entity == "connection")
            .order_by(AuditEntry.id)
        ).all()
    connection_notes = [n for n in notes if n.kind.startswith("connection_")]
    assert connection_notes == [
        (people["shop_admin"].user_id, "connection_invited"),
        (people["maker_admin"].user_id, "connection_accepted"),
        (people["maker_admin"].user_id, "connection_ended"),
    ]
    assert log == [
        (people["maker_admin"].organization_id, people["maker_admin"].user_id, "connection.invite"),
        (people["shop_admin"].organization_id, people["shop_admin"].user_id, "connection.accept"),
        (people["shop_admin"].organization_id, people["shop_admin"].user_id, "connection.end"),
    ]


def test_the_owner_never_shares_figures_reasons_or_people(world) -> None:
    db, people = world["db"], world["people"]
    _connect(db, people)
    found = _read(db, sharing.shared_segments, actor=people["shop_rep"], vat_keys=[VAT2])
    (only,) = found[VAT2]
    assert set(only.__dataclass_fields__) == {
        "type_id",
        "type_name",
        "owner_slug",
        "owner_name",
        "segment",
        "description",
        "recommended_action",
    }
    assert "secret" not in repr(found) and "300" not in repr(found)


def test_a_type_no_longer_shared_disappears_at_once(world) -> None:
    db, people = world["db"], world["people"]
    _connect(db, people)
    _call(
        db,
        segments.update_type,
        actor=people["maker_manager"],
        type_id=world["type"],
        shared=False,
    )
    assert _seen(db, people["shop_rep"]) == {}
    assert _read(db, sharing.shared_types, actor=people["shop_rep"]) == []
    _call(
        db, segments.update_type, actor=people["maker_manager"], type_id=world["type"], shared=True
    )
    assert _seen(db, people["shop_rep"], [VAT1]) == {VAT1: [("maker", "Key accounts", "A")]}


def test_a_declined_invitation_shares_nothing_and_can_be_sent_again(world) -> None:
    db, people = world["db"], world["people"]
    first = _call(db, sharing.invite, actor=people["maker_admin"], slug="shop")
    declined = _call(db, sharing.decline, actor=people["shop_admin"], connection_id=first.id)
    assert declined.status == "declined"
    assert _seen(db, people["shop_rep"]) == {}
    # SHOP invites MAKER in turn; MAKER accepts: the old row stays as it was.
    second = _call(db, sharing.invite, actor=people["shop_admin"], slug="maker")
    _call(db, sharing.accept, actor=people["maker_admin"], connection_id=second.id)
    listed = _read(db, sharing.list_connections, actor=people["maker_admin"])
    assert [(c.id, c.status, c.direction) for c in listed] == [
        (second.id, "active", "incoming"),
        (first.id, "declined", "outgoing"),
    ]
    assert _read(
        db, sharing.list_connections, actor=people["maker_admin"], statuses=["active"]
    ) == [listed[0]]
    assert _seen(db, people["shop_rep"], [VAT1]) == {VAT1: [("maker", "Key accounts", "A")]}


def test_a_pending_invitation_is_withdrawn_by_ending_it(world) -> None:
    db, people = world["db"], world["people"]
    invited = _call(db, sharing.invite, actor=people["maker_admin"], slug="shop")
    withdrawn = _call(db, sharing.end, actor=people["maker_admin"], connection_id=invited.id)
    assert withdrawn.status == "ended"
    with pytest.raises(Conflict, match="is ended, not a pending invitation"):
        _call(db, sharing.accept, actor=people["shop_admin"], connection_id=invited.id)


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("maker", "your own organization"),
        ("MAKER", "your own organization"),
        ("nobody", "no organization 'nobody'"),
        ("", "slug is needed"),
        ("x" * 65, "at most 64 characters"),
        ("sh\x00op", "no NUL"),
    ],
)
def test_invitations_that_cannot_be_sent(world, slug: str, message: str) -> None:
    db, people = world["db"], world["people"]
    with pytest.raises(ValidationError, match=message) as caught:
        _call(db, sharing.invite, actor=people["maker_admin"], slug=slug)
    assert caught.value.field == "slug"


def test_one_open_connection_per_pair(world) -> None:
    db, people = world["db"], world["people"]
    invited = _call(db, sharing.invite, actor=people["maker_admin"], slug="shop")
    with pytest.raises(Conflict, match="already invited") as caught:
        _call(db, sharing.invite, actor=people["maker_admin"], slug="shop")
    assert caught.value.field == "slug"
    with pytest.raises(Conflict, match="has already invited you; accept"):
        _call(db, sharing.invite, actor=people["shop_admin"], slug="maker")
    _call(db, sharing.accept, actor=people["shop_admin"], connection_id=invited.id)
    with pytest.raises(Conflict, match="already connected"):
        _call(db, sharing.invite, actor=people["shop_admin"], slug="maker")
    # The database holds the rule too (two requests at once both pass the check above).
    with pytest.raises(IntegrityError), db.session() as session:
        maker, shop = people["maker_admin"].organization_id, people["shop_admin"].organization_id
        session.add(Connection(inviter_id=shop, invitee_id=maker, pair_key=pair_key(shop, maker)))


def test_answers_that_cannot_be_given(world) -> None:
    db, people = world["db"], world["people"]
    invited = _call(db, sharing.invite, actor=people["maker_admin"], slug="shop")
    with pytest.raises(Conflict, match="you sent this invitation"):
        _call(db, sharing.accept, actor=people["maker_admin"], connection_id=invited.id)
    with pytest.raises(Conflict, match="you sent this invitation"):
        _call(db, sharing.decline, actor=people["maker_admin"], connection_id=invited.id)
    _call(db, sharing.accept, actor=people["shop_admin"], connection_id=invited.id)
    with pytest.raises(Conflict, match="is active, not a pending invitation"):
        _call(db, sharing.accept, actor=people["shop_admin"], connection_id=invited.id)
    with pytest.raises(Conflict, match="is active, not a pending invitation"):
        _call(db, sharing.decline, actor=people["shop_admin"], connection_id=invited.id)
    _call(db, sharing.end, actor=people["maker_admin"], connection_id=invited.id)
    with pytest.raises(Conflict, match="already ended"):
        _call(db, sharing.end, actor=people["shop_admin"], connection_id=invited.id)


def test_only_admins_change_connections(world) -> None:
    db, people = world["db"], world["people"]
    for who in ("maker_manager", "maker_rep"):
        with pytest.raises(PermissionDenied, match="admin role"):
            _call(db, sharing.invite, actor=people[who], slug="shop")
    invited = _call(db, sharing.invite, actor=people["maker_admin"], slug="shop")
    for function in (sharing.accept, sharing.decline, sharing.end):
        for who in ("shop_manager", "shop_rep"):
            with pytest.raises(PermissionDenied, match="admin role"):
                _call(db, function, actor=people[who], connection_id=invited.id)
    # everyone of both organizations reads it
    for who in ("maker_rep", "shop_rep", "shop_manager"):
        assert _read(db, sharing.get_connection, actor=people[who], connection_id=invited.id)


def test_a_third_organization_cannot_see_or_touch_a_connection(world) -> None:
    db, people = world["db"], world["people"]
    invited = _call(db, sharing.invite, actor=people["maker_admin"], slug="shop")
    assert _read(db, sharing.list_connections, actor=people["other_admin"]) == []
    with pytest.raises(NotFound):
        _read(db, sharing.get_connection, actor=people["other_admin"], connection_id=invited.id)
    for function in (sharing.accept, sharing.decline, sharing.end):
        with pytest.raises(NotFound):
            _call(db, function, actor=people["other_admin"], connection_id=invited.id)
    assert (
        _read(
            db, sharing.get_connection, actor=people["shop_admin"], connection_id=invited.id
        ).status
        == "pending"
    )


def test_find_connection_for_the_cli(world) -> None:
    db, people = world["db"], world["people"]
    invited = _call(db, sharing.invite, actor=people["maker_admin"], slug="shop")
    assert _read(
        db, sharing.find_connection, actor=people["shop_admin"], slug_or_id="maker"
    ).id == (invited.id)
    assert (
        _read(
            db, sharing.find_connection, actor=people["shop_admin"], slug_or_id=str(invited.id)
        ).id
        == invited.id
    )
    with pytest.raises(NotFound, match="no pending or active connection with 'other'"):
        _read(db, sharing.find_connection, actor=people["shop_admin"], slug_or_id="other")


def test_only_vat_based_types_can_be_shared(world) -> None:
    db, people = world["db"], world["people"]
    manager = people["maker_manager"]
    with pytest.raises(ValidationError, match="only VAT-based types can be shared") as caught:
        _call(db, segments.create_type, actor=manager, name="By ID", method="pareto", shared=True)
    assert caught.value.field == "shared"
    by_id = _call(db, segments.create_type, actor=manager, name="By ID", method="rfm")
    with pytest.raises(ValidationError, match="only VAT-based") as caught:
        _call(db, segments.update_type, actor=manager, type_id=by_id.id, shared=True)
    assert caught.value.field == "shared"
    # a shared type cannot become ID-based either (its partners match by VAT number)
    with pytest.raises(ValidationError, match="only VAT-based") as caught:
        _call(db, segments.update_type, actor=manager, type_id=world["type"], identity="id")
    assert caught.value.field == "shared"

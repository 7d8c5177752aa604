"""The demo shows sharing: the manufacturer's VAT-based "Key accounts" type is shared, it is
connected to alpha-wholesale (whose customers then carry its segment where the VAT numbers
match) and has invited beta-distribution; preparing the demo again changes none of it."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import select

from segmint.accounts import service as accounts
from segmint.demo.accounts import SHARED_TYPE, prepare_demo
from segmint.demo.generator import MANUFACTURER
from segmint.demo.service import load_demo_data
from segmint.metadata.database import Database
from segmint.metadata.migrate import upgrade
from segmint.runs.models import Notification
from segmint.segments import service as segments
from segmint.settings import Settings
from segmint.sharing import service as sharing
from segmint.store import SalesStore


def _alpha_view(db: Database, store: SalesStore) -> dict[str, str]:
    with store.connect(read_only=True) as con:
        keys = [
            row[0]
            for row in con.execute(
                "SELECT vat_key FROM customers WHERE org = 'alpha-wholesale' "
                "AND vat_key IS NOT NULL"
            ).fetchall()
        ]
    with db.read_session() as session:
        alpha = accounts.system_actor(session=session, org="alpha-wholesale")
        found = sharing.shared_segments(session=session, actor=alpha, vat_keys=keys)
    return {
        key: [(s.owner_slug, s.type_name, s.segment) for s in rows] for key, rows in found.items()
    }


def test_the_demo_shares_a_vat_based_type(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", worker_in_process=False, _env_file=None)
    load_demo_data(settings=settings, lines=20_000, as_of=date(2026, 10, 31))
    db = Database.from_settings(settings)
    try:
        upgrade(db)
        prepare_demo(settings=settings, db=db)
        store = SalesStore.from_settings(settings)
        with db.read_session() as session:
            maker = accounts.system_actor(session=session, org=MANUFACTURER)
            shared = [t for t in segments.list_types(session=session, actor=maker) if t.shared]
            assert [(t.name, t.identity, t.current_run_id is not None) for t in shared] == [
                (SHARED_TYPE, "vat", True)
            ]
            seen = {
                slug: [
                    (c.status, c.direction, c.partner_slug)
                    for c in sharing.list_connections(
                        session=session, actor=accounts.system_actor(session=session, org=slug)
                    )
                ]
                for slug in ("alpha-wholesale", "beta-distribution")
            }
            kinds = set(session.scalars(select(Notification.kind)))
        assert seen == {
            "alpha-wholesale": [("active", "incoming", MANUFACTURER)],
            "beta-distribution": [("pending", "incoming", MANUFACTURER)],
        }
        assert {"connection_invited", "connection_accepted"} <= kinds
        view = _alpha_view(db, store)
        assert len(view) >= 10  # the manufacturer's big accounts buy from alpha too
        assert {rows[0][:2] for rows in view.values()} == {(MANUFACTURER, SHARED_TYPE)}

        # again: nothing changes (no second type, invitation or connection)
        prepare_demo(settings=settings, db=db)
        assert _alpha_view(db, store) == view
        with db.read_session() as session:
            beta = accounts.system_actor(session=session, org="beta-distribution")
            assert len(sharing.list_connections(session=session, actor=beta)) == 1
    finally:
        db.dispose()

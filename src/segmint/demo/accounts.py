"""Everything the demo needs besides the sales data: organizations with readable names, a user
of each role, an ABC and an RFM segment type, two runs of each (three months apart, so the
timeline and the migration between runs have something to show) and a few manual overrides.

Sharing: the manufacturer also gets a VAT-based ABC type, "Key accounts", shared with the
organizations it is connected to; it is connected to ``alpha-wholesale`` (invited and accepted)
and has invited ``beta-distribution`` (pending, for its admin to answer). The manufacturer's big
accounts buy from the wholesalers under the same VAT numbers, so alpha's customer list shows the
manufacturer's segment on them.

Idempotent: an organization that already has segment types is left as it is, existing users
keep their passwords, and a pair of organizations that was ever connected (or invited) is left
as it is, even when the connection was ended since.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select

from segmint.accounts import service as accounts
from segmint.accounts.models import User
from segmint.assignments import service as assignments
from segmint.demo.generator import MANUFACTURER
from segmint.metadata.database import Database
from segmint.runs.background import make_worker
from segmint.runs.service import start_run
from segmint.segments import service as segments
from segmint.settings import Settings
from segmint.sharing import service as sharing
from segmint.sharing.models import Connection, pair_key
from segmint.store import SalesStore

DEMO_PASSWORD = "segmint-demo"
ORG_NAMES = {
    "northwind-mfg": "Northwind Manufacturing",
    "alpha-wholesale": "Alpha Wholesale GmbH",
    "beta-distribution": "Beta Distribution BV",
}
ROLES = ("admin", "manager", "rep")

Progress = Callable[[str, float], None]


@dataclass(frozen=True)
class DemoLogin:
    org: str
    email: str
    role: str


def _top_rep(store: SalesStore, org: str) -> str | None:
    """The sales rep with the most customers, for the demo rep account."""
    with store.connect(read_only=True) as con:
        row = con.execute(
            "SELECT sales_rep FROM customers WHERE org = ? AND sales_rep IS NOT NULL "
            "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1",
            [org],
        ).fetchone()
    return row[0] if row else None


def _ensure_users(db: Database, store: SalesStore, org: str) -> list[DemoLogin]:
    logins = []
    with db.session() as session:
        organization = accounts.ensure_organization(
            session=session, slug=org, name=ORG_NAMES.get(org)
        )
        if org == "alpha-wholesale":
            # One organization shows the rep restrictions: reps see their own customers only.
            organization.reps_see_own_customers_only = True
            organization.reps_can_override = True
        system = accounts.system_actor(session=session, org=org)
        for role in ROLES:
            email = f"{role}@{org}.example.com"
            exists = session.scalars(select(User.id).where(User.email == email)).first()
            if exists is None:
                accounts.create_user(
                    session=session,
                    actor=system,
                    email=email,
                    role=role,
                    password=DEMO_PASSWORD,
                    name=f"Demo {role.title()}",
                    sales_rep=_top_rep(store, org) if role == "rep" else None,
                )
            logins.append(DemoLogin(org=org, email=email, role=role))
    return logins


def _ensure_types(db: Database, org: str) -> list[int]:
    """The demo types of ``org`` (created when the organization has none); their ids."""
    with db.session() as session:
        system = accounts.system_actor(session=session, org=org)
        existing = segments.list_types(session=session, actor=system)
        if existing:
            return []
        abc = segments.create_type(
            session=session, actor=system, name="ABC by sales", method="pareto", is_default=True
        )
        rfm = segments.create_type(
            session=session, actor=system, name="Buying behaviour", method="rfm"
        )
        made = [abc.id, rfm.id]
        if org == MANUFACTURER:
            shared = segments.create_type(
                session=session,
                actor=system,
                name=SHARED_TYPE,
                method="pareto",
                identity="vat",
                shared=True,
            )
            made.append(shared.id)
        return made


#: The manufacturer's VAT-based type its connected wholesalers see.
SHARED_TYPE = "Key accounts"
#: (inviter, invitee, accepted): the demo's connections.
CONNECTIONS = (
    (MANUFACTURER, "alpha-wholesale", True),
    (MANUFACTURER, "beta-distribution", False),
)


def _ensure_connections(db: Database, orgs: set[str]) -> None:
    """The demo's connections between the organizations in the store, unless the pair was ever
    connected or invited (whatever became of it: an ended demo connection stays ended)."""
    with db.session() as session:
        for inviter, invitee, accepted in CONNECTIONS:
            if not {inviter, invitee} <= orgs:
                continue
            one = accounts.system_actor(session=session, org=inviter)
            other = accounts.system_actor(session=session, org=invitee)
            key = pair_key(one.organization_id, other.organization_id)
            if session.scalars(select(Connection.id).where(Connection.pair_key == key)).first():
                continue
            invited = sharing.invite(session=session, actor=one, slug=invitee)
            if accepted:
                sharing.accept(session=session, actor=other, connection_id=invited.id)


def _run(
    db: Database, settings: Settings, store: SalesStore, org: str, type_id: int, as_of: date
) -> None:
    with db.session() as session:
        system = accounts.system_actor(session=session, org=org)
        start_run(session=session, actor=system, type_id=type_id, trigger="manual", as_of=as_of)
    make_worker(settings, db, store=store).run_once()


def _overrides(db: Database, org: str, type_id: int) -> None:
    """Two manual overrides with reasons on the ABC type, as a manager would set them."""
    with db.session() as session:
        system = accounts.system_actor(session=session, org=org)
        rows = assignments.effective_segments(
            session=session, actor=system, type_id=type_id, limit=200
        )
        picks = [r for r in rows if r.automatic == "B"][:1] + [
            r for r in rows if r.automatic == "C"
        ][:1]
        reasons = ["Strategic account: new framework contract", "Key account of the region"]
        for row, reason in zip(picks, reasons, strict=False):
            assignments.set_override(
                session=session,
                actor=system,
                type_id=type_id,
                customer_key=row.customer_key,
                segment="A",
                reason=reason,
            )


def prepare_demo(
    *, settings: Settings, db: Database, progress: Progress | None = None
) -> list[DemoLogin]:
    """Accounts, segment types and runs for every organization in the sales store."""
    store = SalesStore.from_settings(settings)
    report = progress or (lambda _label, _fraction: None)
    orgs = store.organizations()
    logins: list[DemoLogin] = []
    for index, summary in enumerate(orgs):
        base = index / max(len(orgs), 1)
        step = 1 / max(len(orgs), 1)
        report(f"accounts of {summary.org}", base)
        logins += _ensure_users(db, store, summary.org)
        type_ids = _ensure_types(db, summary.org)
        last = summary.last_invoice or date.today()
        for n, type_id in enumerate(type_ids):
            report(
                f"running the segment types of {summary.org}",
                base + step * (n + 0.5) / (len(type_ids) + 1),
            )
            _run(db, settings, store, summary.org, type_id, last - timedelta(days=91))
            _run(db, settings, store, summary.org, type_id, last)
        if type_ids:
            _overrides(db, summary.org, type_ids[0])
    _ensure_connections(db, {summary.org for summary in orgs})
    report("demo ready", 1.0)
    return logins

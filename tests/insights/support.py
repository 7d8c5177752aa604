"""Helpers of the insights tests: sales lines with dimension columns imported through the
ordinary import, users with the rep rule, and the small organizations the tests check by hand.

The RFM golden data (as of 2025-12-31, rolling 12 months = calendar 2025; stored cut points
R 30/60/90/180 days, F 1/2/3/4 purchases, M 100/200/500/1000):

| customer | purchases in 2025 (days before as-of)            | R   | F | M     | scores R,F,M | FM | cell | segment            |
|----------|--------------------------------------------------|-----|---|-------|--------------|----|------|--------------------|
| C1       | 600 (10 d, North/Ann), 500 (60 d, North/Ann), 300 (213 d, South/Bob) | 10  | 3 | 1,400 | 5,3,5 | 4 | 54 | Champions |
| C2       | 150 (30 d, North/Ann)                            | 30  | 1 | 150   | 5,1,2        | 2  | 52   | Potential Loyalist |
| C3       | 2,000 (305 d, South/Bob), credit note -100       | 305 | 1 | 1,900 | 1,1,5        | 3  | 13   | At Risk            |
| C4       | 50 (120 d, South/Bob), 60 (91 d, South/Bob)      | 91  | 2 | 110   | 2,2,2        | 2  | 22   | Need Attention     |
| C5       | only in 2024                                     |     | 0 | 0     |              |    |      | (none)             |
| C6       | no lines (customer table only)                   |     | 0 | 0     |              |    |      | (none)             |
| C7       | 5 x 5,000 (0-4 d, North/Cy, brand Z)             | 0   | 5 | 25,000| 5,5,5        | 5  | 55   | Champions          |

Scores: F, M = 1 + cut points strictly below the value; R = 5 - cut points strictly below the
days; FM = ceil((F + M) / 2). C1's R: no cut below 10 -> 5; F 3: cuts 1, 2 below -> 3; M 1,400:
all four below -> 5; FM = ceil(8/2) = 4.
"""  # noqa: E501

from __future__ import annotations

import csv
import itertools
from dataclasses import dataclass, fields
from datetime import date, timedelta
from decimal import Decimal

from segmint.accounts.actor import Actor
from segmint.accounts.models import Organization
from segmint.accounts.service import actor_for, create_user
from segmint.imports.service import import_file
from segmint.insights import migration_matrix, pareto_overview, rfm_insights
from tests.runs.support import BASE_LINES, Org, pareto_specs

AS_OF = date(2025, 12, 31)  # rolling 12 months: calendar 2025
_users = itertools.count(1)


@dataclass(frozen=True)
class Sale:
    """A sales line with the dimensions the filters use."""

    document_id: str
    customer_id: str
    invoice_date: date
    net_amount: Decimal | int
    territory: str = "North"
    sales_rep: str = "Ann"
    brand: str = "X"
    branch: str = "B1"
    product_id: str = "P1"
    line_no: int = 1


def import_sales(org: Org, sales: list[Sale]) -> None:
    org.files += 1
    path = org.workdir / f"{org.slug}-{org.files}.csv"
    names = [f.name for f in fields(Sale)]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for sale in sales:
            writer.writerow(str(getattr(sale, n)) for n in names)
    report = import_file(store=org.store, org=org.slug, kind="sales", path=path)
    assert report.rejected == 0, report.rejects


def add_user(
    org: Org, role: str, *, sales_rep: str | None = None, own_customers_only: bool = False
) -> Actor:
    """A user of ``org`` and the actor it acts as; sets the organization's rep rule."""
    with org.db.session() as session:
        user = create_user(
            session=session,
            actor=org.actor,
            email=f"{role}-{next(_users)}@{org.slug}.example",
            role=role,
            password=None,
            sales_rep=sales_rep,
        )
        organization = session.get(Organization, org.actor.organization_id)
        organization.reps_see_own_customers_only = own_customers_only
        return actor_for(user, organization)


CUTS = {"r_cuts": ["30", "60", "90", "180"], "f_cuts": ["1", "2", "3", "4"]}
CUTS["m_cuts"] = ["100", "200", "500", "1000"]


def _day(days_before: int) -> date:
    return AS_OF - timedelta(days=days_before)


GOLDEN = [
    Sale("D1", "C1", _day(10), 600),
    Sale("D2", "C1", _day(60), 500),
    Sale("D3", "C1", _day(213), 300, territory="South", sales_rep="Bob", brand="Y"),
    Sale("D4", "C2", _day(30), 150),
    Sale("D5", "C3", _day(305), 2000, territory="South", sales_rep="Bob", brand="Y"),
    Sale("D6", "C3", _day(200), -100, territory="South", sales_rep="Bob", brand="Y"),
    Sale("D7", "C4", _day(120), 50, territory="South", sales_rep="Bob", brand="Y"),
    Sale("D8", "C4", _day(91), 60, territory="South", sales_rep="Bob", brand="Y"),
    Sale("D9", "C5", date(2024, 6, 1), 999),
    *(Sale(f"D1{i}", "C7", _day(i), 5000, sales_rep="Cy", brand="Z") for i in range(5)),
]


def golden(org: Org, **type_fields) -> int:
    import_sales(org, GOLDEN)
    org.import_customers([(f"C{i}", None) for i in range(1, 7)])  # C7 only in the lines
    return org.create_type("Visit Priority", "rfm", **{**CUTS, **type_fields})


def insights(org: Org, type_id: int, *, actor=None, **kwargs):
    with org.db.read_session() as session:
        return rfm_insights(
            session=session,
            store=org.store,
            actor=actor or org.actor,
            type_id=type_id,
            as_of=kwargs.pop("as_of", AS_OF),
            **kwargs,
        )


def counts(result) -> dict[str, int]:
    return {s.name: s.customers for s in result.segments if s.customers}


def overview(org: Org, type_id: int, *, actor=None, **kwargs):
    with org.db.read_session() as session:
        return pareto_overview(session=session, actor=actor or org.actor, type_id=type_id, **kwargs)


def matrix(org: Org, type_id: int, from_run: int, to_run: int, *, actor=None):
    with org.db.read_session() as session:
        return migration_matrix(
            session=session,
            actor=actor or org.actor,
            type_id=type_id,
            from_run=from_run,
            to_run=to_run,
        )


def abc(org: Org, **kwargs) -> tuple[int, int]:
    org.import_sales(BASE_LINES)
    type_id = org.create_type("Sales Performance", "pareto", pareto_specs(80, 15, 5, **kwargs))
    return type_id, org.run(type_id).id

"""The customer list answered from the in-memory customer table: the same rows, order and totals
as the SQL it replaces, fresh after every import or write, per organization, within the rep
rule; segments fresh after every run, override and edit of a type."""

from __future__ import annotations

import csv
from typing import Any

import pytest

from segmint.accounts.actor import Actor
from segmint.customers import service as customers
from segmint.customers.service import CustomerQuery
from segmint.customers.table import TABLES
from segmint.errors import NotFound, ValidationError
from segmint.imports.service import import_file
from segmint.segments import service as segments
from tests.insights.support import add_user
from tests.runs.support import BASE_LINES, Org, make_org, pareto_specs

sqlite_only = pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)

COLUMNS = ["customer_id", "name", "vat_number", "branch", "territory", "sales_rep", "first_seen"]
# Text that byte order and case-folding tell apart, empty values, a tie on name (broken by ID).
ROWS = [
    ("C1", "beta", "DE111", "B1", "North", "Ann", "2024-01-05"),
    ("C2", "Beta", None, "B2", "South", "Bob", None),
    ("C3", None, "DE333", None, "North", "Ann", "2023-03-01"),
    ("C4", "Ärger", None, "B1", None, None, "2024-01-05"),
    ("C5", "alpha_50%", "FR55", "B2", "North", "Bob", None),
    ("C6", "alpha", None, "B1", "South", "Ann", "2022-12-31"),
    ("C10", "beta", None, "B1", "North", "Cy", None),
]


def import_customers(org: Org, rows: list[tuple]) -> None:
    org.files += 1
    path = org.workdir / f"customers-{org.files}.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        writer.writerows(
            ["" if v is None else v for v in (*row, *[None] * (len(COLUMNS) - len(row)))]
            for row in rows
        )
    report = import_file(store=org.store, org=org.slug, kind="customers", path=path)
    assert report.rejected == 0, report.rejects


def page(org: Org, actor: Actor | None = None, **query: Any) -> customers.CustomerPage:
    with org.db.read_session() as session:
        return customers.list_customers(
            session=session, store=org.store, actor=actor or org.actor, query=CustomerQuery(**query)
        )


def ids(org: Org, actor: Actor | None = None, **query: Any) -> list[str]:
    return [c.customer_id for c in page(org, actor, **query).items]


def sql_ids(org: Org, where: str = "TRUE", params: tuple = (), **query: Any) -> list[str]:
    """What the SQL the table replaces answers (DuckDB's ORDER BY, no collation)."""
    q = CustomerQuery(**query)
    direction = "DESC" if q.order == "desc" else "ASC"
    with org.store.connect(read_only=True) as con:
        rows = con.execute(
            f"SELECT customer_id FROM customers c WHERE org = ? AND {where} "
            f"ORDER BY c.{q.sort} {direction} NULLS LAST, c.customer_id {direction} "
            "LIMIT ? OFFSET ?",
            [org.slug, *params, q.limit, q.offset],
        ).fetchall()
    return [r[0] for r in rows]


@sqlite_only
@pytest.mark.parametrize("sort", customers.SORTS)
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_every_sort_orders_as_duckdb_does(org: Org, sort: str, order: str):
    import_customers(org, ROWS)
    for offset, limit in ((0, 50), (2, 3), (6, 5), (9, 5)):
        query = {"sort": sort, "order": order, "offset": offset, "limit": limit}
        assert ids(org, **query) == sql_ids(org, **query), query
    assert page(org, sort=sort, order=order).total == len(ROWS)


@sqlite_only
def test_filters_and_search_select_as_the_sql_did(org: Org):
    import_customers(org, ROWS)
    assert ids(org, territory=("North",)) == sql_ids(org, "territory IN ('North')")
    assert ids(org, branch=("B1", "B2"), sales_rep=("Ann",)) == ["C1", "C6"]
    assert page(org, territory=("North",), sort="name").total == 4
    # search: ID, name or VAT number, case-insensitive; % and _ are plain characters
    assert ids(org, search="BETA") == ["C1", "C10", "C2"]
    assert ids(org, search="_50%") == ["C5"]
    assert ids(org, search="de3") == ["C3"]
    assert ids(org, search="ärger") == sql_ids(org, "name ILIKE '%ärger%'")
    assert ids(org, search="alpha", territory=("South",)) == ["C6"]
    assert page(org, search="zzz").total == 0


@sqlite_only
def test_the_list_follows_an_import_at_once(org: Org):
    import_customers(org, ROWS)
    assert ids(org, sort="name", limit=1) == ["C2"]  # "Beta": upper case sorts first
    assert TABLES.loads == 1
    import_customers(org, [("C6", "zulu", None, "B1", "South", "Ann"), ("C7", "Aaa")])
    assert ids(org, sort="name", limit=1) == ["C7"]
    assert page(org).total == len(ROWS) + 1
    assert [c.name for c in page(org, search="zulu").items] == ["zulu"]


@sqlite_only
def test_a_write_around_the_import_is_seen_too(org: Org):
    import_customers(org, ROWS)
    assert page(org).total == len(ROWS)
    with org.store.connect() as con:
        con.execute("DELETE FROM customers WHERE org = ? AND customer_id = 'C1'", [org.slug])
    assert "C1" not in ids(org)
    assert page(org).total == len(ROWS) - 1


@sqlite_only
def test_a_repeated_request_reads_nothing_from_the_store(org: Org, monkeypatch):
    import_customers(org, ROWS)
    first = page(org, sort="name")

    def refuse():
        raise AssertionError("the store was opened")

    monkeypatch.setattr(org.store, "attached", refuse)
    again = page(org, sort="name")
    assert again.items == first.items and again.total == first.total
    with org.db.read_session() as session:
        found = customers.get_customer(
            session=session, store=org.store, actor=org.actor, customer_id="C3"
        )
    assert found.vat_number == "DE333"
    assert TABLES.loads == 1


@sqlite_only
def test_organizations_on_one_store_see_only_their_own(org: Org, tmp_path):
    other = make_org(org.db, tmp_path, slug="other")
    import_customers(org, ROWS)
    import_customers(other, [("C1", "someone else"), ("X9", "theirs")])
    assert [c.name for c in page(other).items] == ["someone else", "theirs"]
    assert page(org).total == len(ROWS)
    assert page(org, search="theirs").total == 0
    with other.db.read_session() as session, pytest.raises(NotFound):
        customers.get_customer(
            session=session, store=org.store, actor=other.actor, customer_id="C3"
        )


@sqlite_only
def test_a_limited_rep_sees_only_its_own_customers(org: Org):
    import_customers(org, ROWS)
    ann = add_user(org, "rep", sales_rep="Ann", own_customers_only=True)
    assert ids(org, ann) == ["C1", "C3", "C6"]
    assert ids(org, ann, search="beta") == ["C1"]
    assert ids(org, ann, sales_rep=("Bob",)) == []
    nobody = add_user(org, "rep", sales_rep=None, own_customers_only=True)
    assert page(org, nobody).total == 0
    with org.db.read_session() as session, pytest.raises(NotFound):
        customers.get_customer(session=session, store=org.store, actor=ann, customer_id="C2")
    free = add_user(org, "rep", sales_rep="Ann", own_customers_only=False)
    assert page(org, free).total == len(ROWS)


def test_filter_values_are_those_of_the_customers_the_actor_may_see(org: Org):
    import_customers(org, ROWS)

    def values(actor: Actor) -> dict[str, list[str]]:
        with org.db.read_session() as session:
            return customers.dimension_values(session=session, store=org.store, actor=actor)

    assert values(org.actor) == {
        "branch": ["B1", "B2"],
        "territory": ["North", "South"],
        "sales_rep": ["Ann", "Bob", "Cy"],
    }
    ann = add_user(org, "rep", sales_rep="Ann", own_customers_only=True)
    assert values(ann) == {"branch": ["B1"], "territory": ["North", "South"], "sales_rep": ["Ann"]}
    nobody = add_user(org, "rep", sales_rep=None, own_customers_only=True)
    assert values(nobody) == {"branch": [], "territory": [], "sales_rep": []}


def test_segments_follow_runs_overrides_and_type_edits(org: Org):
    org.import_sales(BASE_LINES)
    import_customers(org, [(c,) for c in sorted({line.customer_id for line in BASE_LINES})])
    type_id = org.create_type("Value", "pareto", pareto_specs(80, 15, 5))
    listed = {c.customer_id: c for c in page(org, limit=500).items}
    assert {c.segments[type_id] for c in listed.values()} == {None}  # no run yet
    org.run(type_id)
    effective = org.effective_names(type_id)

    def shown() -> dict[str, str | None]:
        found = {}
        for c in page(org, limit=500).items:
            value = c.segments[type_id]
            found[c.customer_id] = value.effective if value else None
        return found

    assert {k: v for k, v in shown().items() if v} == effective
    key = sorted(effective)[0]
    other = next(name for name in org.segment_ids(type_id) if name != effective[key])
    org.set_override(type_id, key, other, reason="account review")
    listed = page(org, limit=500).items
    customer = next(c for c in listed if c.customer_id == key)
    assert customer.segments[type_id].effective == other
    assert customer.segments[type_id].manual == other
    assert customer.segments[type_id].reason == "account review"
    assert customer.segments[type_id] == org.effective(type_id)[key]
    with org.db.session() as session:
        segments.update_type(session=session, actor=org.actor, type_id=type_id, name="Worth")
    assert {t.name for t in page(org).types} == {"Worth"}
    # a segment filter sees the override too
    filtered = ids(org, segment_type=type_id, segments=(other,), limit=500)
    assert key in filtered


def test_segment_filters_on_several_types_keep_the_customers_matching_all(org: Org):
    org.import_sales(BASE_LINES)
    import_customers(org, [(c,) for c in sorted({line.customer_id for line in BASE_LINES})])
    value = org.create_type("Value", "pareto", pareto_specs(80, 15, 5))
    volume = org.create_type("Volume", "pareto", pareto_specs(50, 30, 20))
    org.run(value)
    org.run(volume)
    by_value, by_volume = org.effective_names(value), org.effective_names(volume)
    expected = sorted(k for k in by_value if by_value[k] in ("A", "B") and by_volume.get(k) == "C")
    assert expected and len(expected) < len(by_value)  # the filters really select something
    found = page(org, segment_filters=((value, ("A", "b")), (volume, ("C",))), limit=500)
    assert sorted(c.customer_id for c in found.items) == expected
    assert found.total == len(expected)
    # The one-type fields and the list combine the same way, and "(none)" works in either.
    both = ids(org, segment_type=value, segments=("A", "B"),
               segment_filters=((volume, ("C",)),), limit=500)  # fmt: skip
    assert sorted(both) == expected
    none = ids(org, segment_filters=((volume, ("(none)",)),), limit=500)
    assert set(none).isdisjoint(by_volume)
    with pytest.raises(ValidationError) as refused:
        page(org, segment_filters=((volume, ("Z",)),))
    assert refused.value.field == "segment"

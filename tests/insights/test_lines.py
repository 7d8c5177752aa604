"""The in-memory line index of the insights (``segmint.insights.lines``): filtered insights read
from it give exactly the answer of reading the store, for any filters; it belongs to one version
of the store; it is built in the background and only when the organization is small enough."""

from __future__ import annotations

import random
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from segmint.insights import clear_cache
from segmint.insights.lines import LINE_INDEXES, Changed, build
from tests.insights.support import CUTS, Sale, add_user, import_sales, insights
from tests.runs.support import Org

sqlite_only = pytest.mark.parametrize("metadata_url", ["sqlite"], indirect=True)

TERRITORIES = ["North", "South", "East", "Nowhere"]  # nobody sells in Nowhere
BRANDS = ["X", "Y", "Z"]
REPS = ["Ann", "Bob"]
PRODUCTS = ["P1", "P2", "P3"]


@pytest.fixture
def indexes():
    """The process's indexes, switched on for the test (the suite runs with them off)."""
    saved = LINE_INDEXES.max_lines
    LINE_INDEXES.clear()
    LINE_INDEXES.max_lines = 1_000_000
    yield LINE_INDEXES
    LINE_INDEXES.wait()
    LINE_INDEXES.clear()
    LINE_INDEXES.max_lines = saved


def _data(org: Org) -> int:
    """60 customers, 500 lines of up to 3 per document over 2024-2025 (credit notes and lines
    without a territory among them) and a VAT number shared by two."""
    pick = random.Random(7)
    lines = []
    for n in range(500):
        customer = f"K{pick.randrange(60):02d}"
        document = f"DOC{n // 3}-{customer}"
        lines.append(
            Sale(
                document,
                customer,
                date(2024, 1, 1) + timedelta(days=pick.randrange(731)),
                Decimal(pick.choice(["-50.5", "20", "80.25", "150", "400", "900.0001", "2500"])),
                territory="" if n % 41 == 0 else pick.choice(TERRITORIES[:3]),
                sales_rep=pick.choice(REPS),
                brand=pick.choice(BRANDS),
                product_id=pick.choice(PRODUCTS),
                line_no=n % 3 + 1,
            )
        )
    import_sales(org, lines)
    org.import_customers([(f"K{i:02d}", "DE136695976" if i in (3, 4) else None) for i in range(60)])
    return org.create_type("Behaviour", "rfm", **CUTS)


def _both_ways(org: Org, indexes, type_id: int, **kwargs):
    """The insights read from the store, then from a freshly built index."""
    indexes.clear()
    indexes.max_lines = 0
    clear_cache()
    from_store = insights(org, type_id, **kwargs)
    indexes.max_lines = 1_000_000
    indexes.put(build(org.store, org.slug, org.store.version()))
    clear_cache()
    from_index = insights(org, type_id, **kwargs)
    return from_store, from_index


filters = st.dictionaries(
    st.sampled_from(["territory", "brand", "sales_rep", "product_id", "customer_id"]),
    st.lists(
        st.sampled_from([*TERRITORIES, *BRANDS, *REPS, *PRODUCTS, "K03", "K10", "K59", ""]),
        min_size=1,
        max_size=3,
        unique=True,
    ),
    min_size=1,
    max_size=3,
)


@sqlite_only
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(chosen=filters, months=st.sampled_from([None, 3, 24]))
def test_filtered_insights_from_the_index_equal_those_from_the_store(
    org: Org, indexes, chosen, months
):
    type_id = getattr(org, "_lines_type", None) or _data(org)
    org._lines_type = type_id  # the data is imported once for all examples
    from_store, from_index = _both_ways(org, indexes, type_id, filters=chosen, months=months)
    assert from_index == from_store


@sqlite_only
def test_the_index_answers_vat_types_reps_document_filters_and_what_if(org: Org, indexes):
    rfm = _data(org)
    vat = org.create_type("Groups", "rfm", identity="vat", **CUTS)
    bob = add_user(org, "rep", sales_rep="Bob", own_customers_only=True)
    document = {"document_id": ["DOC3-K10", "DOC7-K39", "nothing"]}
    cases = [
        (vat, {"filters": {"brand": ["X"]}}),
        (rfm, {"filters": {"territory": ["North"]}, "actor": bob}),
        (rfm, {"actor": bob}),  # the rep's own lines are a filter too
        (rfm, {"filters": document}),
        (rfm, {"filters": {"brand": ["Y", "Z"]}, "cuts": {"r": [5, 60, 90, 400]}}),
    ]
    for type_id, kwargs in cases:
        from_store, from_index = _both_ways(org, indexes, type_id, **kwargs)
        assert from_index == from_store, kwargs
    # and the cases are not empty ones
    vat_result = _both_ways(org, indexes, vat, filters={"brand": ["X"]})[1]
    assert vat_result.cards.customers > 0
    what_if = _both_ways(org, indexes, rfm, filters={"brand": ["Y"]}, cuts={"r": [5, 6, 7, 8]})[1]
    assert what_if.moved > 0


@sqlite_only
def test_the_index_holds_every_line_with_its_values(org: Org):
    _data(org)
    index = build(org.store, org.slug, org.store.version(), chunk=64)  # many chunks
    with org.store.connect(read_only=True) as con:
        stored = con.execute(
            "SELECT document_id, invoice_date, customer_id, net_amount, territory FROM "
            f"sales_lines WHERE org = '{org.slug}'"
        ).fetchall()
    picked = index.select(date(2000, 1, 1), date(2100, 1, 1), (("territory", ("North",)),))
    everything = index.select(date(2000, 1, 1), date(2100, 1, 1), ())
    assert index.lines == len(stored) == everything.num_rows == 500
    rows = sorted(
        (r["document_id"], r["invoice_date"], r["customer_id"], r["net_amount"])
        for r in everything.to_pylist()
    )
    assert rows == sorted(s[:4] for s in stored)
    assert sorted(r["net_amount"] for r in picked.to_pylist()) == sorted(
        s[3] for s in stored if s[4] == "North"
    )


@sqlite_only
def test_an_index_is_for_one_version_of_the_store(org: Org):
    _data(org)
    with pytest.raises(Changed):
        build(org.store, org.slug, "not-this-version")


@sqlite_only
def test_indexes_build_in_the_background_for_small_organizations_only(org: Org, indexes):
    type_id = _data(org)
    version = org.store.version()
    assert indexes.get(org.store, org.slug, version) is None  # starts building
    indexes.wait()
    index = indexes.get(org.store, org.slug, version)
    assert index is not None and index.lines == 500
    # filtered insights now come from it, and an import makes a new version
    assert insights(org, type_id, filters={"brand": ["X"]}).cards.customers > 0
    import_sales(org, [Sale("NEW1", "K01", date(2025, 12, 30), 10)])
    assert indexes.get(org.store, org.slug, org.store.version()) is None
    indexes.wait()
    assert indexes.get(org.store, org.slug, org.store.version()).lines == 501
    # too many lines: no index, the insights read the store
    indexes.clear()
    indexes.max_lines = 100
    assert indexes.get(org.store, org.slug, org.store.version()) is None
    indexes.wait()
    assert indexes.get(org.store, org.slug, org.store.version()) is None
    assert insights(org, type_id, filters={"brand": ["X"]}).cards.customers > 0

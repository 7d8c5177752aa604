"""The Customers pages through the TestClient: what the list shows (default type's segment,
hover details, every type on expand), filters, search, sort and pages, who sees what, the
customer page's explanation and timeline, and bad query values answered with a 4xx page."""

from __future__ import annotations

import csv
import html
import io
import re

import pytest

from segmint.accounts.models import Organization
from segmint.web.pages.customers import ListParams, parse_params, url_for_list
from tests.api.conftest import World
from tests.web.support import client_login

ROW = re.compile(r'<tr class="customer-row" data-customer="([^"]+)">(.*?)</tr>', re.S)
EFFECTIVE = re.compile(r'data-f="effective">([^<]*)<')


def rows(page: str) -> list[tuple[str, str | None]]:
    """(customer ID, effective segment of the shown type) of each row of the list."""
    found = []
    for customer, body in ROW.findall(page):
        segment = EFFECTIVE.search(body)
        found.append(
            (html.unescape(customer), html.unescape(segment.group(1)) if segment else None)
        )
    return found


def cells(page: str, column: str) -> list[str]:
    return [html.unescape(v) for v in re.findall(rf'<td class="col-{column}">([^<]*)</td>', page)]


def api_keys(world: World, who: str, **params: object) -> list[str]:
    """Customer IDs the REST API lists for the same filters (every page)."""
    response = world.get(who, "/api/v1/customers", params={"limit": 500, **params})
    assert response.status_code == 200, response.text
    return [c["customer_id"] for c in response.json()["items"]]


def get(world: World, url: str, status: int = 200) -> str:
    response = world.client.get(url, follow_redirects=False)
    assert response.status_code == status, (url, response.status_code, response.text[:2000])
    return response.text


# --- the list -------------------------------------------------------------------------------


def test_list_shows_the_default_types_segment_hover_details_and_every_type(
    web_world: World,
) -> None:
    client_login(web_world, "acme_manager")
    page = get(web_world, "/customers")
    listed = rows(page)
    assert [c for c, _ in listed] == [f"C{i:02d}" for i in range(50)]  # ID order, 50 a page
    assert "Showing 1–50 of 60 customers" in page
    assert "segment of <strong>ACME Sales</strong>" in page  # the default type
    # Each row's segment is the default type's effective one: the override of C01 wins.
    expected = {
        c["customer_id"]: c["segment"]["effective"]
        for c in web_world.get("acme_manager", "/api/v1/customers?limit=50").json()["items"]
    }
    assert dict(listed) == expected
    assert dict(listed)["C01"] == "A"
    # Hover: type name, automatic, manual (with reason) and eligible sales, tied to the button.
    c01 = dict(ROW.findall(page))["C01"]
    assert 'aria-describedby="tip-2"' in c01
    tip = re.search(
        r'<span class="tip" role="tooltip" id="tip-2".*?</span></span>\s*</span>', c01, re.S
    )
    assert tip is not None
    text = re.sub(r"<[^>]+>", "", tip.group(0))
    assert "ACME Sales" in text
    assert "Automatic: C" in text
    assert "Manual: A (strategic account)" in text
    assert "Eligible sales: 40.00" in text
    # Expand: a hidden details row with every segment type, each with its own segment.
    details = re.search(r'<tr class="details" id="details-2" hidden.*?</table>', page, re.S)
    assert details is not None
    assert "ACME Sales" in details.group(0) and "ACME Behaviour" in details.group(0)
    assert 'data-type-id="{}"'.format(web_world.ids["rfm"]) in details.group(0)
    assert 'aria-controls="details-2"' in c01 or 'aria-controls="details-2"' in page
    # The dialog's data: every type with its segments.
    assert '<script type="application/json" id="segment-types">' in page
    assert "Champions" in page and "Can\\u0027t Lose Them" in page
    # Export links carry the view.
    assert "/api/v1/customers/export?sort=customer_id&amp;order=asc&amp;format=csv" in page


def test_the_list_shows_another_type_when_asked(web_world: World) -> None:
    client_login(web_world, "acme_manager")
    rfm = web_world.ids["rfm"]
    page = get(web_world, f"/customers?type={rfm}&segment=Champions")
    listed = rows(page)
    assert listed and {s for _, s in listed} == {"Champions"}
    assert [c for c, _ in listed] == api_keys(
        web_world, "acme_manager", segment_type=rfm, segment="Champions"
    )
    assert "segment of <strong>ACME Behaviour</strong>" in page


def test_filters_search_sort_and_pages_change_the_rows(web_world: World) -> None:
    client_login(web_world, "acme_manager")
    pareto, rfm = web_world.ids["pareto"], web_world.ids["rfm"]

    only_a = rows(get(web_world, "/customers?segment=A"))
    assert {s for _, s in only_a} == {"A"}
    assert [c for c, _ in only_a] == api_keys(
        web_world, "acme_manager", segment_type=pareto, segment="A"
    )
    # Segment filters on two types: the customers in both.
    both_page = get(web_world, f"/customers?segment=A&seg_{rfm}=Champions&seg_{rfm}=Loyal")
    both = [c for c, _ in rows(both_page)]
    wanted = set(
        api_keys(web_world, "acme_manager", segment_type=rfm, segment=["Champions", "Loyal"])
    )
    assert both == [c for c, _ in only_a if c in wanted]
    assert 0 < len(both) < len(only_a)
    # The export exports that view: segment filters of both types.
    link = re.search(r'href="([^"]+)" download data-testid="export-csv"', both_page)
    assert link is not None
    url = html.unescape(link.group(1))
    assert f"segment_filter={pareto}%3AA" in url and f"segment_filter={rfm}%3ALoyal" in url
    exported = web_world.client.get(url)
    assert exported.status_code == 200, exported.text
    reader = csv.DictReader(io.StringIO(exported.content.decode("utf-8-sig")))
    assert [r["customer_id"] for r in reader] == both
    # The API's list reads the same filters.
    assert (
        api_keys(
            web_world,
            "acme_manager",
            segment_filter=[f"{pareto}:A", f"{rfm}:Champions", f"{rfm}:Loyal"],
        )
        == both
    )
    # Dimensions, several at once.
    page = get(web_world, "/customers?branch=B1")
    assert set(cells(page, "branch")) == {"B1"} and "of 30 customers" in page
    page = get(web_world, "/customers?territory=South&sales_rep=R2")
    assert set(cells(page, "territory")) == {"South"} and set(cells(page, "sales_rep")) == {"R2"}
    assert len(rows(page)) == 15
    # Search: ID, name or VAT number.
    found = [c for c, _ in rows(get(web_world, "/customers?q=customer+5"))]
    assert found == ["C05", *(f"C5{i}" for i in range(10))]
    assert [c for c, _ in rows(get(web_world, "/customers?q=BE0400000033"))] == ["C33"]
    # Sort by name, descending; the header says so.
    page = get(web_world, "/customers?sort=-name&page_size=100")
    names = cells(page, "name")
    assert names == sorted(names, reverse=True) and names[0] == "Customer 9"
    assert 'aria-sort="descending"' in page
    # Pages keep the filters.
    page = get(web_world, "/customers?page=2")
    assert [c for c, _ in rows(page)] == [f"C{i}" for i in range(50, 60)]
    assert "Showing 51–60 of 60" in page
    page = get(web_world, "/customers?branch=B2&page_size=25")
    assert len(rows(page)) == 25
    assert 'href="/customers?branch=B2&amp;page=2&amp;page_size=25"' in page
    page = get(web_world, "/customers?branch=B2&page_size=25&page=2")
    assert [c for c, _ in rows(page)] == [f"C{i}" for i in range(51, 60, 2)]


def test_a_rep_sees_only_own_customers(web_world: World) -> None:
    client_login(web_world, "acme_rep1")
    page = get(web_world, "/customers?page_size=100")
    assert set(cells(page, "sales_rep")) == {"R1"} and len(rows(page)) == 30
    assert "seg-button" in page  # ACME lets reps override
    assert 'value="R2"' not in page  # the filter offers only what the rep may see
    get(web_world, "/customers/C00")
    get(web_world, "/customers/C01", status=404)  # R2's customer
    with web_world.db.session() as session:
        for org in session.query(Organization).filter_by(slug="acme"):
            org.reps_can_override = False
    page = get(web_world, "/customers")
    assert "seg-button" not in page and "seg-static" in page


def test_beta_never_sees_acme_customers(web_world: World) -> None:
    client_login(web_world, "beta_manager")
    page = get(web_world, "/customers")
    assert [c for c, _ in rows(page)] == ["K1", "K2"]
    assert "ACME" not in page and "C00" not in page
    get(web_world, "/customers/C00", status=404)
    get(web_world, f"/customers?type={web_world.ids['pareto']}", status=404)


def test_the_list_without_data_or_types(empty_world: World) -> None:
    client_login(empty_world, "acme_manager")
    page = get(empty_world, "/customers")
    assert "No customers yet" in page and rows(page) == []
    get(empty_world, "/customers?segment=A", status=422)  # no type to filter by
    get(empty_world, "/customers/C00", status=404)


def test_anonymous_visitors_go_to_the_login_page(web_world: World) -> None:
    web_world.client.cookies.clear()
    response = web_world.client.get("/customers?segment=A", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/customers%3Fsegment%3DA"


# --- the customer page ------------------------------------------------------------------------


def test_customer_page_shows_the_timeline_and_the_explanation(web_world: World) -> None:
    client_login(web_world, "acme_manager")
    page = html.unescape(get(web_world, "/customers/C01"))
    text = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page))
    # The manual segment wins, and the page says why and what the run would give.
    assert "Why is this customer A?" in text
    assert "Set by hand to A: “strategic account”. Without it the customer would be C." in text
    assert "Rank 59 of 60 customers in the pool" in text
    assert "Tiers by cumulative share of sales: A below 80 %, B below 95 %, C below 100 %" in text
    # RFM: values, cut points, scores, the cell.
    assert "Why is this customer Lost?" in text
    assert "315 days since the last purchase (as of 2025-12-31)" in text
    assert "FM = ceil((F + M) / 2) = ceil((1 + 1) / 2) = 1" in text
    assert 'The cell R 1, FM 1 ("11") belongs to Lost.' in text
    # The timeline: both runs and the manual change, newest first, with who and why.
    timeline = re.search(r'<table class="timeline".*?</table>', page, re.S).group(0)
    entries = re.findall(r"<tr class=\"kind-(\w+)\">(.*?)</tr>", timeline, re.S)
    assert [kind for kind, _ in entries] == ["manual", "run", "run"]
    manual = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", entries[0][1]))
    assert "ACME Sales" in manual and "C → A" in manual
    assert "Acme Manager" in manual and "strategic account" in manual


def test_customer_page_explains_a_pareto_tier(web_world: World) -> None:
    client_login(web_world, "acme_manager")
    text = html.unescape(get(web_world, "/customers/C05"))
    assert "Why is this customer C?" in text
    assert "The 46 customers ahead of it account for 96.09 % of the pool's sales." in text
    assert "The first tier whose limit is above 96.09 % is C." in text
    assert "2 of the cut points 30 / 75 / 135 / 210 are below it, so R = 5 − 2 = 3." in text


def test_customer_page_reflects_an_override_made_through_the_api(web_world: World) -> None:
    client_login(web_world, "acme_manager")
    response = web_world.post(
        "acme_manager",
        f"/api/v1/segment-types/{web_world.ids['rfm']}/overrides",
        json={"customer_key": "C07", "segment": "Champions", "reason": "new contract"},
    )
    assert response.status_code == 200, response.text
    text = html.unescape(get(web_world, "/customers/C07"))
    assert "Why is this customer Champions?" in text and "new contract" in text
    assert dict(rows(get(web_world, f"/customers?type={web_world.ids['rfm']}")))["C07"] == (
        "Champions"
    )


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("page=-1", 422),
        ("page=0", 422),
        ("page=abc", 422),
        ("page=99999999999999999999", 422),
        ("page=9", 404),  # past the last page
        ("page_size=100000", 422),
        ("type=999999", 404),
        ("type=abc", 422),
        ("type=-3", 422),
        ("q=a%00b", 422),
        ("q=" + "x" * 300, 422),
        ("branch=B%001", 422),
        ("segment=Nope", 422),
        ("seg_abc=A", 422),
        ("seg_999999=A", 404),
        ("sort=password", 422),
        ("sort=-", 422),
        ("%00=1", 422),
    ],
)
def test_bad_query_values_give_a_4xx_page(web_world: World, query: str, status: int) -> None:
    client_login(web_world, "acme_manager")
    response = web_world.client.get(f"/customers?{query}", follow_redirects=False)
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in response.text


@pytest.mark.parametrize("path", ["/customers/C%00", "/customers/" + "x" * 300, "/customers/C01/x"])
def test_bad_customer_keys_give_a_404_page(web_world: World, path: str) -> None:
    client_login(web_world, "acme_manager")
    get(web_world, path, status=404)


# --- the query string -------------------------------------------------------------------------


def test_links_keep_every_parameter() -> None:
    params = parse_params(
        [
            ("type", "3"),
            ("segment", "A"),
            ("seg_7", "Lost"),
            ("branch", "B1"),
            ("branch", "B2"),
            ("q", " acme "),
            ("sort", "-name"),
            ("page", "2"),
            ("page_size", "25"),
            ("unknown", "x"),
        ]
    )
    assert params == ListParams(
        type_id=3,
        q="acme",
        segments={3: ("A",), 7: ("Lost",)},
        branch=("B1", "B2"),
        sort="name",
        order="desc",
        page=2,
        page_size=25,
    )
    url = url_for_list(params, page=None)
    assert url == (
        "/customers?type=3&q=acme&segment=A&seg_7=Lost&branch=B1&branch=B2&sort=-name&page_size=25"
    )
    again = parse_params([tuple(p.split("=")) for p in url.split("?")[1].split("&")])
    assert again == ListParams(**{**params.__dict__, "page": 1})

"""Settings > Customer segments, rendered by the server: the list, a type's view and edit
modes for both methods, the run history, who may see them, and hostile ids."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from segmint.metadata.base import utcnow
from segmint.runs.models import Run
from segmint.segments import service as segments
from tests.api.conftest import World
from tests.web.support import client_login


class Tables(HTMLParser):
    """The text of every cell of the tables marked ``data-testid``, row by row, plus every
    element's attributes (to look for inline script, style and handlers)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.attributes: list[tuple[str, dict[str, str | None]]] = []
        self._table: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.attributes.append((tag, found))
        if tag == "table" and found.get("data-testid"):
            self._table = found["data-testid"]
            self.tables[self._table] = []
        elif self._table and tag == "tr":
            self._row = []
        elif self._row is not None and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join(" ".join(self._cell).split()))
            self._cell = None
        elif tag == "tr" and self._row is not None and self._table:
            self.tables[self._table].append(self._row)
            self._row = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(html: str) -> Tables:
    parser = Tables()
    parser.feed(html)
    return parser


def page(world: World, url: str, status: int = 200) -> str:
    response = world.client.get(url)
    assert response.status_code == status, (url, response.status_code, response.text[:2000])
    assert "text/html" in response.headers["content-type"]
    return response.text


def assert_csp_clean(html: str) -> None:
    """Nothing the CSP would block: no inline script, style attribute or on* handler."""
    for tag, attrs in parse(html).attributes:
        assert "style" not in attrs, (tag, attrs)
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        if tag == "script":
            assert attrs.get("src") or attrs.get("type") == "application/json", attrs


@pytest.fixture
def manager(web_world: World) -> World:
    client_login(web_world, "acme_manager")
    return web_world


def test_list_shows_name_type_default_shared(manager: World) -> None:
    html = page(manager, "/settings/segments")
    rows = parse(html).tables["types"]
    assert rows[0][:5] == ["Name", "Method", "Type", "Default", "Shared"]
    by_name = {row[0]: row for row in rows[1:]}
    # The first type of an organization becomes its default; the list puts it first.
    assert rows[1][0] == "ACME Sales"
    assert by_name["ACME Sales"][1:5] == ["ABC (Pareto)", "ID", "Yes", "No"]
    assert by_name["ACME Behaviour"][1:5] == ["RFM", "ID", "No", "No"]
    assert by_name["ACME Sales"][5] == "A, B, C"
    assert "succeeded" in by_name["ACME Sales"][6]
    assert "Beta ABC" not in html  # another organization's type
    assert 'href="/settings/segments/new"' in html
    assert f'href="/settings/segments/{manager.ids["pareto"]}"' in html
    assert 'aria-current="page">Settings' in html  # the menu marks where we are
    assert_csp_clean(html)


def test_list_shows_vat_and_shared(manager: World) -> None:
    with manager.db.session() as session:
        segments.create_type(
            session=session,
            actor=manager.actors["acme_manager"],
            name="Shared VAT",
            method="pareto",
            identity="vat",
            shared=True,
        )
    rows = parse(page(manager, "/settings/segments")).tables["types"]
    shared = next(row for row in rows if row[0] == "Shared VAT")
    assert shared[2:5] == ["VAT", "No", "Yes"]


def test_pareto_view_mode(manager: World) -> None:
    type_id = manager.ids["pareto"]
    html = page(manager, f"/settings/segments/{type_id}")
    tables = parse(html).tables
    tiers = tables["segments"][1:4]
    assert [row[0].split()[0] for row in tiers] == ["A", "B", "C"]
    assert [row[1:6] for row in tiers] == [
        ["80 %", "14", "1", "No", "No"],
        ["15 %", "30", "2", "No", "No"],
        ["5 %", "90", "3", "No", "No"],
    ]
    assert tables["segments"][-1][:2] == ["Total", "100 %"]
    # Actions of view mode, the manual segment count (C01's override) and the current result.
    assert "Auto Assign Segments" in html
    assert "Clear Manual Segments" in html
    assert re.search(r'data-testid="override-count">1<', html)
    assert f'href="/settings/segments/{type_id}/edit"' in html
    current = {row[0]: row[1] for row in tables["current-result"][1:]}
    assert sum(int(n) for n in current.values()) == 60
    assert "Cut points" not in html
    assert_csp_clean(html)


def test_rfm_view_mode_shows_the_map_and_read_only_cut_points(manager: World) -> None:
    type_id = manager.ids["rfm"]
    html = page(manager, f"/settings/segments/{type_id}")
    tables = parse(html).tables
    assert tables["segments"][0][1] == "Cells (R, FM)"
    assert "% Sales" not in html
    champions = next(row for row in tables["segments"] if row[0].startswith("Champions"))
    assert champions[1] == "55, 54, 45"
    # The first run suggested the cut points: four per metric, shown, not editable here.
    cuts = tables["cut-points"]
    assert [len(row) for row in cuts[1:]] == [5, 5, 5]
    with manager.db.read_session() as session:
        rfm = segments.get_type(
            session=session, actor=manager.actors["acme_manager"], type_id=type_id
        )
        assert [Decimal(c) for c in cuts[1][1:]] == [Decimal(c) for c in rfm.r_cuts]
    assert f'href="/insights/{type_id}"' in html
    assert "<input" not in html.split('data-testid="cut-points"')[1].split("</table>")[0]
    assert_csp_clean(html)


def test_pareto_edit_mode(manager: World) -> None:
    type_id = manager.ids["pareto"]
    html = page(manager, f"/settings/segments/{type_id}/edit")
    rows = re.findall(r'<tr class="segment-row" data-id="(\d*)">', html)
    assert len(rows) == 4  # A, B, C and the blank row of the <template>
    assert rows[-1] == ""
    thresholds = re.findall(r'data-field="threshold"[^>]* value="([^"]*)"', html)
    assert thresholds == ["80", "15", "5", "0"]  # the template row starts at 0
    assert re.search(r'data-testid="total">100 %<', html)
    assert 'data-error-for="segments.threshold"' in html
    # The type's own fields, with its values, and constraints for a Pareto type.
    assert 'id="f-name" name="name"' in html and 'value="ACME Sales"' in html
    assert "data-pareto-only>" in html  # shown (not hidden) for Pareto
    assert 'name="method"' not in html  # the method of an existing type cannot change
    assert "<label" in html and 'for="f-timespan_months"' in html
    assert_csp_clean(html)


def test_rfm_edit_mode_edits_cells_not_thresholds(manager: World) -> None:
    type_id = manager.ids["rfm"]
    html = page(manager, f"/settings/segments/{type_id}/edit")
    assert 'data-field="cells"' in html
    assert 'data-field="threshold"' not in html
    assert 'value="55, 54, 45"' in html
    assert "data-pareto-only hidden disabled" in html
    assert f'href="/insights/{type_id}"' in html
    assert_csp_clean(html)


def test_new_type_form(manager: World) -> None:
    html = page(manager, "/settings/segments/new")
    for name in (
        "name",
        "method",
        "identity",
        "is_default",
        "shared",
        "notify",
        "branches",
        "brands",
        "min_sales",
        "timespan_months",
        "interval",
    ):
        assert f'name="{name}"' in html, name
    assert 'value="pareto" checked' in html
    assert_csp_clean(html)


def test_run_history_shows_status_duration_counts_and_errors(manager: World) -> None:
    type_id = manager.ids["pareto"]
    finished = utcnow()
    with manager.db.session() as session:
        failed = Run(
            organization_id=manager.actors["acme_manager"].organization_id,
            type_id=type_id,
            status="failed",
            trigger="schedule",
            created_at=finished - timedelta(seconds=80),
            started_at=finished - timedelta(seconds=75),
            finished_at=finished,
            progress=0.5,
            stage="failed",
            error="the sales store is missing; the previous result is unchanged",
        )
        session.add(failed)
        session.flush()
        failed_id = failed.id
    html = page(manager, f"/settings/segments/{type_id}")
    history = parse(html).tables["history"]
    header, newest, first = history[0], history[1], history[2]
    assert header == [
        "Run",
        "Status",
        "Started",
        "Duration",
        "As of",
        "Customers",
        "Customers per segment",
        "Changed",
        "Error",
    ]
    assert newest[0].startswith(str(failed_id))
    assert newest[1] == "failed"
    assert newest[3] == "1 min 15 s"
    assert newest[5] == "—"
    assert newest[8] == "the sales store is missing; the previous result is unchanged"
    assert first[0].startswith(f"{manager.ids['pareto_run']} current")
    assert first[1] == "succeeded"
    assert first[3].endswith(" s")
    assert first[4] == "2025-12-31"
    assert first[5] == "60"
    counts = dict(re.findall(r"(\w+) (\d+)", first[6]))
    assert set(counts) == {"A", "B", "C"}
    assert sum(map(int, counts.values())) == 60
    # The results fragment the page swaps in after a run is the same, without the layout.
    fragment = page(manager, f"/settings/segments/{type_id}/results")
    assert fragment.lstrip().startswith('<div id="results"')
    assert "<html" not in fragment
    assert parse(fragment).tables["history"] == history


def test_an_active_run_is_handed_to_the_page_script(manager: World) -> None:
    type_id = manager.ids["pareto"]
    with manager.db.session() as session:
        run = Run(
            organization_id=manager.actors["acme_manager"].organization_id,
            type_id=type_id,
            status="running",
            stage="computing",
            progress=0.3,
            started_at=utcnow(),
            lease_expires_at=utcnow() + timedelta(minutes=5),
        )
        session.add(run)
        session.flush()
        run_id = run.id
    html = page(manager, f"/settings/segments/{type_id}")
    assert f'data-active-run="{run_id}"' in html
    row = next(r for r in parse(html).tables["history"] if r[0].startswith(str(run_id)))
    assert row[1] == "running" and row[3] == "—"


def test_names_are_escaped(manager: World) -> None:
    with manager.db.session() as session:
        created = segments.create_type(
            session=session,
            actor=manager.actors["acme_manager"],
            name='<img src=x onerror="alert(1)">',
            method="pareto",
        )
        type_id = created.id
    for url in ("/settings/segments", f"/settings/segments/{type_id}"):
        html = page(manager, url)
        assert "<img src=x" not in html
        assert "&lt;img src=x onerror=" in html


def test_reps_get_a_403_page(web_world: World) -> None:
    client_login(web_world, "acme_rep1")
    type_id = web_world.ids["pareto"]
    for url in (
        "/settings/segments",
        "/settings/segments/new",
        f"/settings/segments/{type_id}",
        f"/settings/segments/{type_id}/edit",
        f"/settings/segments/{type_id}/results",
    ):
        html = page(web_world, url, status=403)
        assert "manager or admin role" in html
    # …and the menu does not offer Settings.
    assert 'href="/settings/segments"' not in page(web_world, "/")


def test_admins_may(web_world: World) -> None:
    client_login(web_world, "acme_admin")
    page(web_world, "/settings/segments")
    page(web_world, f"/settings/segments/{web_world.ids['rfm']}/edit")


def test_another_organizations_type_is_a_404(web_world: World) -> None:
    client_login(web_world, "beta_manager")
    for type_key in ("pareto", "rfm"):
        type_id = web_world.ids[type_key]
        for suffix in ("", "/edit", "/results"):
            html = page(web_world, f"/settings/segments/{type_id}{suffix}", status=404)
            assert "ACME" not in html
    # Their own list shows their own type only.
    html = page(web_world, "/settings/segments")
    assert "Beta ABC" in html and "ACME Sales" not in html


def test_bad_ids_give_a_4xx_page(manager: World) -> None:
    for bad in ("0", "-1", str(2**63), str(2**31), "abc", "1.5", "%00", "1%20OR%201=1"):
        for suffix in ("", "/edit", "/results"):
            response = manager.client.get(f"/settings/segments/{bad}{suffix}")
            assert 400 <= response.status_code < 500, (bad, suffix, response.status_code)
            assert "text/html" in response.headers["content-type"]


def test_unknown_id_is_a_404(manager: World) -> None:
    page(manager, "/settings/segments/2147483647", status=404)


def test_pages_need_a_login(web_world: World) -> None:
    web_world.client.cookies.clear()
    response = web_world.client.get(
        f"/settings/segments/{web_world.ids['pareto']}/edit", follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == (
        f"/login?next=/settings/segments/{web_world.ids['pareto']}/edit"
    )


def test_pages_render_without_data_or_types(empty_world: World) -> None:
    client_login(empty_world, "acme_manager")
    html = page(empty_world, "/settings/segments")
    assert 'data-testid="no-types"' in html
    assert 'href="/settings/segments/new"' in html
    page(empty_world, "/settings/segments/new")
    page(empty_world, "/settings/segments/1", status=404)
    # A type that never ran, in an organization without sales data.
    with empty_world.db.session() as session:
        from segmint.accounts import service as accounts

        actor = accounts.system_actor(session=session, org="acme")
        created = segments.create_type(session=session, actor=actor, name="Fresh", method="rfm")
        type_id = created.id
    html = page(empty_world, f"/settings/segments/{type_id}")
    assert "Not run yet" in html and "No runs yet" in html
    assert "No cut points yet" in html
    assert 'data-active-run=""' in html
    page(empty_world, f"/settings/segments/{type_id}/edit")

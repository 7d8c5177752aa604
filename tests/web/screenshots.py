"""``make screenshots``: the main pages at 1366x768, on the demo data, into docs/screenshots/.

Builds a small deterministic demo (its own data directory under a temporary directory, so your
data is not touched), serves the app under uvicorn, logs in as the demo manager of
``alpha-wholesale`` in Debian's chromium and saves one PNG per page. Run it again after changing
a page; the README links the files.

    python -m tests.web.screenshots [--out docs/screenshots] [--lines 120000]
"""

from __future__ import annotations

import argparse
import re
import tempfile
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

from segmint.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
AS_OF = date(2026, 10, 31)
ORG = "alpha-wholesale"


def _build(settings: Settings, lines: int) -> None:
    from segmint.demo.accounts import prepare_demo
    from segmint.demo.service import load_demo_data
    from segmint.metadata.database import Database
    from segmint.metadata.migrate import upgrade

    load_demo_data(settings=settings, lines=lines, as_of=AS_OF)
    db = Database.from_settings(settings)
    try:
        upgrade(db)
        prepare_demo(settings=settings, db=db)
    finally:
        db.dispose()


def _type_ids(settings: Settings) -> dict[str, int]:
    from sqlalchemy import select

    from segmint.accounts.models import Organization
    from segmint.metadata.database import Database
    from segmint.segments.models import SegmentType

    db = Database.from_settings(settings)
    try:
        with db.read_session() as session:
            rows = session.execute(
                select(SegmentType.method, SegmentType.id)
                .join(Organization, Organization.id == SegmentType.organization_id)
                .where(Organization.slug == ORG)
            ).all()
    finally:
        db.dispose()
    return {method: type_id for method, type_id in rows}


def shoot(out: Path, lines: int) -> list[Path]:
    from playwright.sync_api import sync_playwright

    from segmint.demo.accounts import DEMO_PASSWORD
    from segmint.web.app import create_app
    from tests.conftest import chromium_path
    from tests.web.support import CHROMIUM_ARGS, VIEWPORT, LiveServer

    chromium = chromium_path()
    if chromium is None:
        raise SystemExit("chromium not found: apt-get install chromium (or set SEGMINT_CHROMIUM)")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    with tempfile.TemporaryDirectory(prefix="segmint-screens-") as tmp:
        settings = Settings(data_dir=Path(tmp) / "data", worker_in_process=False, _env_file=None)
        print(f"building the demo ({lines:,} sales lines) …", flush=True)
        _build(settings, lines)
        ids = _type_ids(settings)
        app = create_app(settings)
        from starlette.testclient import TestClient

        with TestClient(app), LiveServer(app) as base, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(base + "/login")
            page.get_by_label("E-mail address").fill(f"manager@{ORG}.example.com")
            page.get_by_label("Password").fill(DEMO_PASSWORD)
            page.get_by_role("button", name="Log in").click()
            page.wait_for_url(base + "/")

            def first_customer(page: Any) -> None:
                link = page.locator("a[href^='/customers/']").first
                href = link.get_attribute("href")
                page.goto(base + str(href))

            def click_segment(page: Any) -> None:
                block = page.locator("[data-segment]").first
                if block.count():
                    block.click()
                    page.wait_for_timeout(400)

            shots: list[tuple[str, str, Callable[[Any], None] | None]] = [
                ("overview", "/", None),
                ("customers", f"/customers?type={ids['pareto']}", None),
                ("customer", f"/customers?type={ids['pareto']}", first_customer),
                ("settings-segments", "/settings/segments", None),
                ("settings-type", f"/settings/segments/{ids['pareto']}", None),
                ("settings-type-edit", f"/settings/segments/{ids['pareto']}/edit", None),
                ("insights", f"/insights/{ids['rfm']}", click_segment),
                ("pareto", f"/pareto/{ids['pareto']}", None),
            ]
            for name, path, action in shots:
                page.goto(base + path)
                page.wait_for_load_state("networkidle")
                if action is not None:
                    action(page)
                    page.wait_for_load_state("networkidle")
                page.wait_for_timeout(300)  # Plotly's transitions
                target = out / f"{name}.png"
                page.screenshot(path=str(target))
                written.append(target)
                print(f"  {target.relative_to(ROOT) if target.is_relative_to(ROOT) else target}")
            browser.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--lines", type=int, default=120_000)
    args = parser.parse_args()
    written = shoot(args.out, args.lines)
    names = ", ".join(re.sub(r"\.png$", "", p.name) for p in written)
    print(f"{len(written)} screenshots: {names}")


if __name__ == "__main__":
    main()

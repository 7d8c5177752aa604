"""What ``segmint types list`` and ``types show`` print: run states, the fields and segments
tables, the current result in a line."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.table import Table

from segmint.cli_support import cell

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from segmint.accounts.actor import Actor
    from segmint.runs.models import Run
    from segmint.segments.models import SegmentType


def segment_counts(summary: dict[str, Any]) -> str:
    """A run summary's customers per segment: ``A 85, B 86, (none) 475``."""
    return ", ".join(
        f"{name or '(none)'} {figures['customers']:,}"
        for name, figures in (summary.get("segments") or {}).items()
    )


def when(value: Any, *, utc_suffix: bool = True) -> str:
    """A stored (UTC) time to the minute, or nothing."""
    if value is None:
        return ""
    return value.strftime("%Y-%m-%d %H:%M") + (" UTC" if utc_suffix else "")


def run_state(run: Run | None, *, utc_suffix: bool = True) -> str:
    if run is None:
        return "never run"
    if run.status == "queued":
        return "queued"
    if run.status == "running":
        return f"running ({run.stage}, {run.progress:.0%})"
    return f"{run.status} {when(run.finished_at, utc_suffix=utc_suffix)}"


def segment_names(t: SegmentType) -> str:
    """The names when they are short (A, B, C), else how many there are."""
    names = ", ".join(s.name for s in t.segments)
    return names if len(names) <= 24 else f"{len(t.segments)} segments"


def latest_run(session: Session, actor: Actor, type_id: int) -> Run | None:
    from segmint.runs.service import list_runs

    runs = list_runs(session=session, actor=actor, type_id=type_id, limit=1)
    return runs[0] if runs else None


def fields_table(t: SegmentType, overrides: int) -> Table:
    """The type's fields as a two-column table (only those that apply to its method)."""
    table = Table(show_header=False, box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column()
    rows: list[tuple[str, Any]] = [
        ("id", t.id),
        ("name", t.name),
        ("method", t.method),
        ("identity", "VAT number" if t.identity == "vat" else "customer ID"),
        ("default", t.is_default),
        ("shared", t.shared),
        ("notify", t.notify),
        ("period", f"{t.timespan_months} months, {t.interval.replace('_', ' ')}"),
    ]
    if t.method == "pareto":
        rows += [
            ("branches", ", ".join(t.branches or []) or "all"),
            ("brands", ", ".join(t.brands or []) or "all"),
            ("minimum net sales", f"{t.min_sales.normalize():f}"),
        ]
    else:
        for metric in ("r", "f", "m"):
            cuts = getattr(t, f"{metric}_cuts")
            rows.append((f"{metric.upper()} cut points", ", ".join(cuts) if cuts else "suggested"))
    schedule = f"{t.schedule} (next {when(t.next_run_at)})" if t.schedule else "none"
    rows += [
        ("schedule", schedule),
        ("run after import", t.run_after_import),
        ("manual overrides", overrides),
    ]
    for key, value in rows:
        table.add_row(key, cell(value))
    return table


def segments_table(t: SegmentType) -> Table:
    table = Table(title="Segments")
    share = "% of sales" if t.method == "pareto" else "cells (R, FM)"
    for name in ("id", "name", share, "visit every", "priority", "default", "excluded"):
        table.add_column(name)
    for s in t.segments:
        table.add_row(
            str(s.id),
            cell(s.name),
            f"{s.threshold.normalize():f}" if t.method == "pareto" else " ".join(s.cells),
            f"{s.visit_every_days} days" if s.visit_every_days else "",
            cell(s.priority),
            cell(s.is_default) if s.is_default else "",
            cell(s.excluded) if s.excluded else "",
        )
    return table


def run_lines(session: Session, actor: Actor, t: SegmentType) -> list[str]:
    from segmint.runs.service import get_run

    lines = []
    if t.current_run_id is not None:
        run = get_run(session=session, actor=actor, run_id=t.current_run_id)
        summary = run.summary or {}
        counts = segment_counts(summary)
        lines.append(
            f"Current result: run {run.id} as of {summary.get('as_of', '?')}, finished "
            f"{when(run.finished_at)}: {summary.get('customers', 0):,} customers"
            + (f" ({counts})" if counts else "")
        )
    else:
        lines.append("No result yet: run it with `segmint run TYPE`.")
    latest = latest_run(session, actor, t.id)
    if latest is not None and latest.id != t.current_run_id:
        line = f"Latest run {latest.id}: {run_state(latest)}"
        if latest.status == "failed" and latest.error:
            line += f": {latest.error}"
        lines.append(line)
    return lines

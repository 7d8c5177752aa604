"""The CLI's progress bar: one look for every long command (import, demo data, runs)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

#: What long operations call: a stage label and the fraction done (0..1).
ProgressCallback = Callable[[str, float], None]


@contextmanager
def progress_bar(
    console: Console, title: str, *, transient: bool = False
) -> Iterator[ProgressCallback]:
    """A Rich progress bar for the block; yields the callback that moves it."""
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=transient,
    ) as bar:
        task = bar.add_task(title, total=1.0)

        def update(stage: str, fraction: float) -> None:
            bar.update(task, description=stage, completed=max(0.0, min(1.0, fraction)))

        yield update

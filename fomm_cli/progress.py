"""One progress helper for every long loop (frames, steps, videos).

Silent when stderr is not a terminal or when the caller asks for quiet (``--json``),
so piped output stays clean.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


def progress_enabled(quiet: bool = False) -> bool:
    return not quiet and sys.stderr.isatty()


class Progress:
    """A thin wrapper over rich.progress with a no-op fallback."""

    def __init__(self, description: str, total: int | None, quiet: bool = False) -> None:
        self._bar = None
        self._task = None
        if progress_enabled(quiet):
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            from rich.progress import Progress as RichProgress

            self._bar = RichProgress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                console=Console(stderr=True),
                transient=False,
            )
            self._task = self._bar.add_task(description, total=total, rate="", info="")

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def advance(self, n: int = 1, info: str | None = None) -> None:
        if self._bar is None:
            return
        self._bar.advance(self._task, n)
        task = self._bar.tasks[0]
        rate = f"{task.speed:.1f}/s" if task.speed else ""
        fields = {"rate": rate}
        if info is not None:
            fields["info"] = info
        self._bar.update(self._task, **fields)


def track(items: Iterable[T], description: str, total: int | None = None, quiet: bool = False) -> Iterator[T]:
    """Iterate with a progress bar (or silently)."""
    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    with Progress(description, total, quiet) as bar:
        for item in items:
            yield item
            bar.advance()


@contextmanager
def status(message: str, quiet: bool = False) -> Iterator[None]:
    """A spinner for a step of unknown length (model download, face detection)."""
    if progress_enabled(quiet):
        from rich.console import Console

        with Console(stderr=True).status(message):
            yield
    else:
        yield

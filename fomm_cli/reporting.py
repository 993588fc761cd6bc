"""How long-running work tells its caller what is happening: notes, warnings, progress.

Jobs and core code take a ``Reporter`` instead of a ``quiet`` flag and report as the work happens
("best frame: 12" before the frames are animated, not after). The caller picks the implementation:

- ``Reporter()``: silent; warnings are kept in ``.warnings`` (library use, tests).
- ``ConsoleReporter()``: notes and warnings as lines on stderr, progress bars when stderr is a terminal.
- ``ConsoleReporter(notes=False)``: for ``--json``: only warnings reach stderr, no bars.

Nothing here imports rich until a bar is shown, so the command line starts fast.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterable, Iterator, Sized
from typing import TextIO, TypeVar

T = TypeVar("T")


class ProgressBar:
    """A no-op bar; ``advance`` moves a real one."""

    def advance(self, n: int = 1, info: str | None = None) -> None:
        pass

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        pass


class Reporter:
    """Silent reporter: the base class, and what library calls get by default."""

    def __init__(self) -> None:
        self.warnings: list[str] = []

    def note(self, message: str) -> None:
        """Something the user may want to know (which backend, which frame, what was resized)."""

    def warn(self, message: str) -> None:
        """Something that went wrong without stopping the work; kept for the summary."""
        self.warnings.append(message)

    def progress(self, description: str, total: int | None = None) -> ProgressBar:
        """A bar for a loop of ``total`` steps (None: unknown); use as a context manager."""
        return ProgressBar()

    @contextlib.contextmanager
    def status(self, message: str) -> Iterator[None]:
        """A spinner for one step of unknown length (a download, a model load)."""
        yield

    def track(self, items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
        """Iterate ``items`` with a progress bar."""
        if total is None and isinstance(items, Sized):
            total = len(items)
        with self.progress(description, total) as bar:
            for item in items:
                yield item
                bar.advance()


class ConsoleReporter(Reporter):
    """Lines on ``stream`` (stderr: stdout stays free for results and pipes); bars only on a terminal."""

    def __init__(self, *, notes: bool = True, bars: bool | None = None, stream: TextIO | None = None) -> None:
        super().__init__()
        self.stream = stream or sys.stderr
        self.show_notes = notes
        self.show_bars = (notes and _is_terminal(self.stream)) if bars is None else bars

    def note(self, message: str) -> None:
        if self.show_notes:
            self._line(message)

    def warn(self, message: str) -> None:
        super().warn(message)
        self._line(f"warning: {message}")

    def progress(self, description: str, total: int | None = None) -> ProgressBar:
        return _RichBar(description, total, self.stream) if self.show_bars else ProgressBar()

    @contextlib.contextmanager
    def status(self, message: str) -> Iterator[None]:
        if not self.show_bars:
            yield
            return
        from rich.console import Console

        with Console(file=self.stream).status(message):
            yield

    def _line(self, message: str) -> None:
        print(message, file=self.stream, flush=True)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class _RichBar(ProgressBar):
    def __init__(self, description: str, total: int | None, stream: TextIO) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("{task.fields[info]}"), console=Console(file=stream), transient=False,
        )
        self._task = self._bar.add_task(description, total=total, rate="", info="")

    def __enter__(self) -> _RichBar:
        self._bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def advance(self, n: int = 1, info: str | None = None) -> None:
        self._bar.advance(self._task, n)
        speed = self._bar.tasks[0].speed
        rate = f"{speed:.1f}/s" if speed else ""
        if info is None:
            self._bar.update(self._task, rate=rate)
        else:
            self._bar.update(self._task, rate=rate, info=info)

"""Signals that stop a run (SIGINT, SIGTERM, SIGHUP) as an ``Interrupted`` exception, with short critical
sections in which the exception waits.

The command line installs ``on_signal`` as the handler. Code that creates something it must clean up
(a temporary file, then the attribute that remembers it) wraps the two steps in ``deferred()``: a signal
that arrives in between is raised when the section ends, once the cleanup code can see what to remove.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from types import FrameType

from fomm_cli.errors import Interrupted

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

_depth = 0
_pending: int | None = None


def on_signal(number: int, frame: FrameType | None) -> None:
    """Raise ``Interrupted`` (later, if inside ``deferred``). Only the first signal counts: later ones must not
    break the cleanup the first one started."""
    global _pending
    for kind in STOP_SIGNALS:
        signal.signal(kind, signal.SIG_IGN)
    if _depth:
        _pending = number
        return
    raise Interrupted(number)


def install() -> None:
    for kind in STOP_SIGNALS:
        signal.signal(kind, on_signal)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """A section that a stop signal does not interrupt; the signal is raised when it ends."""
    global _depth, _pending
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            number, _pending = _pending, None
            raise Interrupted(number)

"""The one exception type for problems a user can fix (bad input, missing model, ...).

The CLI prints its message as a single line on stderr and exits with ``exit_code``;
everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class FommError(Exception):
    """A user-facing error: the message is shown as is, without a traceback."""

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(FommError):
    """Bad flags or arguments (exit code 2, like click's usage errors)."""

    exit_code = 2

"""Typer commands built from a job's ``Options`` dataclass: each setting is declared once.

A command module gives, for each field it exposes, a ``Flag``: its spelling on the command line and its
help. Types and defaults come from the dataclass; ``command`` builds the function signature Typer reads,
turns the parsed values into the job's frozen ``Options`` (whose checks raise settings errors naming the
field), and records which flag spells which field, so errors are rendered with the flag the user typed.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import typer

from fomm_cli.errors import InvalidSetting, SettingsError

UNSET: Any = object()  # a Flag's default when the dataclass field's default applies


@dataclass(frozen=True)
class Flag:
    """How one option field appears on the command line.

    names: option spellings ("-o", "--output"), a bool pair ("--crop/--no-crop"), or empty for a
    positional argument. parse: converts the text the user typed into the field's value (raising
    ``ValueError`` with the accepted form as message); the field's type is then ``str`` on the command line.
    default: the command line's default when it differs from the dataclass (``...``: required).
    """

    names: tuple[str, ...]
    help: str
    parse: Callable[[str], Any] | None = None
    default: Any = UNSET
    metavar: str | None = None
    hidden: bool = False

    @property
    def argument(self) -> bool:
        return not self.names

    def spelling(self, field: str) -> str:
        """The flag as a user types it, for messages: the long name ("--output"); for a bool pair, the
        half that differs from the default is what they typed, so both halves are shown."""
        if self.argument:
            return field.upper()
        longest = max(self.names, key=len)
        return longest.replace("/", " / ") if "/" in longest else longest


class PipeClosed(Exception):
    """The reader of stdout went away (``fomm ... -o - | head``). Raised instead of ``BrokenPipeError``, which
    click would turn into a silent exit 1; the entry point exits 141 like other tools in a pipeline."""


def pipe_safe(function: Callable[..., None]) -> Callable[..., None]:
    """``function`` with a closed stdout raised as ``PipeClosed``."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        try:
            function(*args, **kwargs)
        except BrokenPipeError:
            raise PipeClosed from None

    return wrapper


# The flags of the command that is running: error messages name these instead of field names.
active_flags: dict[str, str] = {}


def command(options_type: type, flags: Mapping[str, Flag], body: Callable[..., None],
            extra: Mapping[str, tuple[type, Any]] | None = None) -> Callable[..., None]:
    """A function for ``app.command()`` with one parameter per flagged field of ``options_type`` (plus
    ``extra``: name -> (type, typer.Option) for parameters that are not options of the job, such as
    ``--json``). When called, it builds the options and calls ``body(options, **extra_values)``."""
    hints = typing.get_type_hints(options_type)
    fields = {f.name: f for f in dataclasses.fields(options_type)}
    unknown = set(flags) - set(fields)
    if unknown:
        raise TypeError(f"flags for fields that {options_type.__name__} does not have: {sorted(unknown)}")
    parameters = []
    for name, flag in flags.items():
        field = fields[name]
        annotation = _for_typer(str if flag.parse is None or not _is_optional(hints[name]) else str | None) \
            if flag.parse is not None else _for_typer(hints[name])
        default = flag.default
        if default is UNSET:
            default = field.default if field.default is not dataclasses.MISSING else ...
        if flag.parse is not None and default not in (None, ...):
            default = str(default)
        info = (typer.Argument(default, help=flag.help, metavar=flag.metavar, show_default=default is not None)
                if flag.argument else
                typer.Option(default, *flag.names, help=flag.help, metavar=flag.metavar, hidden=flag.hidden))
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info,
                                            annotation=annotation))
    for name, (annotation, info) in (extra or {}).items():
        parameters.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=info,
                                            annotation=_for_typer(annotation)))

    def run(**values: Any) -> None:
        active_flags.clear()
        active_flags.update({name: flag.spelling(name) for name, flag in flags.items()})
        settings = {}
        for name, flag in flags.items():
            value = values.pop(name)
            if flag.parse is not None and value is not None:
                try:
                    value = flag.parse(value)
                except SettingsError:
                    raise
                except ValueError as err:
                    raise InvalidSetting(name, value, str(err)) from None
            settings[name] = value
        pipe_safe(body)(options_type(**settings), **values)

    cast(Any, run).__signature__ = inspect.Signature(parameters)  # what typer reads
    run.__annotations__ = {p.name: p.annotation for p in parameters}
    run.__doc__ = body.__doc__
    run.__name__ = body.__name__
    return run


def _is_optional(annotation: Any) -> bool:
    return type(None) in typing.get_args(annotation)


def _for_typer(annotation: Any) -> Any:
    """``X | None`` as ``Optional[X]``: typer releases before 0.15 only understand the latter."""
    if _is_optional(annotation):
        (inner,) = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return typing.Optional[inner]  # noqa: UP045 - spelled for old typer
    return annotation

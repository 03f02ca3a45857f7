"""`--help` in words a person reads: each value named by what it is (TEXT, N, NUMBER, FILE, DIR, "DIR, repeatable",
or the unit an option declares with `metavar=`: DOLLARS, T/S, SECONDS, TOKENS) and its bounds said in the help text
("...; at least 0."), instead of typer's Python type tags (`<str>`, `<list[Path]>`, `<float range> [x>=0]`, `<bool>`).

Every command and group of the app gets the plain help by `plain_help(app)`, called once after all commands are
registered (harness/cli/__init__.py); nothing changes how values are parsed or checked.
"""

from __future__ import annotations

import typing
from pathlib import Path

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup
from typer.models import DefaultPlaceholder


def _number(value: float) -> str:
    return f"{value:,}" if float(value).is_integer() else f"{value:g}"


def _bounds(param) -> str | None:
    """The range an option checks, in words: 'at least 1', 'at most 9', '1 to 1000'."""
    low, high = getattr(param, "min", None), getattr(param, "max", None)
    if low is not None and high is not None:
        return f"{_number(low)} to {_number(high)}"
    if low is not None:
        return f"at least {_number(low)}"
    if high is not None:
        return f"at most {_number(high)}"
    return None


def _value_name(param) -> str:
    """What a value of this parameter is, by its type (and, for paths, whether its name says a folder)."""
    descriptor = param.type_descriptor
    if descriptor.is_choice:
        return "|".join(str(choice.value if hasattr(choice, "value") else choice) for choice in descriptor.choices or ())
    annotation = descriptor.annotation
    inner = typing.get_args(annotation)[0] if descriptor.is_list and typing.get_args(annotation) else annotation
    names = [name.lstrip("-") for name in (*param.opts, param.name or "")]
    if inner is Path or descriptor.is_path:
        folder = any(name.endswith("dir") or name in ("out", "results_dir") for name in names)
        return "DIR" if folder else ("PATH" if descriptor.is_list else "FILE")
    return {int: "N", float: "NUMBER"}.get(inner, "TEXT")


def _plain(param) -> None:
    """Give one parameter a plain metavar and its bounds as words (help-time only: the command exits after --help)."""
    flag = getattr(param, "is_flag", False) or getattr(param, "count", False)
    repeated = param.type_descriptor.is_list or getattr(param, "multiple", False)
    if param.metavar is None:
        param.metavar = "" if flag else _value_name(param) + (", repeatable" if repeated else "")
    bounds = _bounds(param)
    if bounds and param.help and bounds not in param.help:
        param.help = f"{param.help.rstrip().removesuffix('.')}; {bounds}."
    setattr(param, "_get_number_range_help_str", lambda: None)  # the bounds are in the help text now
    if isinstance(param, TyperArgument):  # its name column shows the metavar already: no type column beside it
        param.metavar = param.metavar.removesuffix(", repeatable")  # the usage line adds "..." itself
        setattr(param, "display_type_rich", lambda ctx: "")


class PlainHelpCommand(TyperCommand):
    def format_help(self, ctx, formatter) -> None:
        for param in self.get_params(ctx):
            _plain(param)
        super().format_help(ctx, formatter)


class PlainHelpGroup(TyperGroup):
    def format_help(self, ctx, formatter) -> None:
        for param in self.get_params(ctx):
            _plain(param)
        super().format_help(ctx, formatter)


def _plain_class(given, default: type, plain: type):
    """The plain-help class where typer's own default (or nothing, or typer's placeholder for nothing) was given; a
    class of a command's own is kept."""
    return plain if given is None or given is default or isinstance(given, DefaultPlaceholder) else given


def plain_help(app: typer.Typer) -> None:
    """Every command and group under `app` (sub-groups included) shows the plain help."""
    app.info.cls = _plain_class(app.info.cls, TyperGroup, PlainHelpGroup)
    for command in app.registered_commands:
        command.cls = _plain_class(command.cls, TyperCommand, PlainHelpCommand)
    for group in app.registered_groups:
        group.cls = _plain_class(group.cls, TyperGroup, PlainHelpGroup)
        if group.typer_instance is not None:
            plain_help(group.typer_instance)

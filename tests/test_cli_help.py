"""`--help` a newcomer reads: every command's values named in words (TEXT, N, FILE, "DIR, repeatable", DOLLARS, T/S),
bounds said in words ("at least 0"), never typer's Python type tags (`<str>`, `<list[Path]>`, `<float range> [x>=0]`)."""

from __future__ import annotations

import re

import click
import typer.main
from typer.testing import CliRunner

from harness.cli import app

TYPE_TAG = re.compile(r"<(?:str|int|bool|float|path|list\[[^\]]*\]|[a-z]+ range)>|\[\d*<?=?x[<>]=?\d*\]|\bx>=|<=x\b")


def _commands() -> list[list[str]]:
    """Every command path of the app, groups included ([] is `meek` itself)."""
    found: list[list[str]] = []

    def walk(command: click.Command, path: list[str]) -> None:
        found.append(path)
        if hasattr(command, "list_commands"):  # a group
            context = click.Context(command)
            for name in command.list_commands(context):
                walk(command.get_command(context, name), [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def _help(path: list[str]) -> str:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, (path, result.output)
    return result.output


def test_no_command_shows_a_python_type_tag():
    commands = _commands()
    assert len(commands) > 30  # the walk found the tree, sub-groups included
    tagged = {" ".join(path) or "meek": TYPE_TAG.findall(_help(path)) for path in commands}
    assert not {name: tags for name, tags in tagged.items() if tags}


def test_values_are_named_by_what_they_are():
    advise = _help(["advise"])
    assert re.search(r"--budget\s+DOLLARS", advise) and re.search(r"--min-tg\s+T/S", advise)
    assert re.search(r"--results-dir\s+DIR, repeatable", advise)
    assert "(launch prices); at least 0." in advise and re.search(r"--ctx\s+TOKENS", advise) and "; 1 to 10,000,000." in advise
    assert re.search(r"--transfers\s+List", advise)  # a flag takes no value, so none is named
    validate = _help(["validate"])
    assert "{PATH}..." in validate  # an argument: its usage, not list[Path]
    assert re.search(r"-r, --repetitions|--repetitions\s+-r\s+N\s", _help(["bench"]))

"""docs/cli.md documents every command of the ``avops`` parser with every argument and option."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from devhost.cli import _register_commands, app

ROOT = Path(__file__).resolve().parents[2]
CLI_DOC = ROOT / "docs" / "cli.md"
HEADING = re.compile(r"^## avops ([a-z][a-z-]*)\s*$", flags=re.MULTILINE)


def _commands() -> dict[str, TyperCommand]:
    _register_commands()
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    commands = {n: c for n, c in group.commands.items() if isinstance(c, TyperCommand)}
    assert commands.keys() == group.commands.keys(), "every avops command is a typer command"
    return commands


def _sections() -> dict[str, str]:
    text = CLI_DOC.read_text()
    found = list(HEADING.finditer(text))
    return {
        match.group(1): text[match.end() : found[i + 1].start() if i + 1 < len(found) else None]
        for i, match in enumerate(found)
    }


def _missing_in_section(command: TyperCommand, section: str) -> list[str]:
    missing = []
    for param in command.params:
        if isinstance(param, TyperOption):
            names = [*param.opts, *param.secondary_opts]
            missing += [f"option {name}" for name in names if f"`{name}`" not in section]
        elif isinstance(param, TyperArgument):
            shown = {(param.name or "").upper(), param.metavar or ""} - {""}
            if not any(re.search(rf"\b{re.escape(name)}\b", section) for name in shown):
                missing.append(f"argument {' or '.join(sorted(shown))}")
    return missing


def test_every_command_has_a_section_and_no_section_is_stale() -> None:
    commands, sections = set(_commands()), set(_sections())
    assert commands - sections == set(), f"commands without '## avops NAME' in {CLI_DOC.name}"
    assert sections - commands == set(), f"{CLI_DOC.name} documents commands the CLI lacks"


def test_every_argument_and_option_is_in_its_command_section() -> None:
    sections = _sections()
    problems = [
        f"avops {name}: {what} not documented in {CLI_DOC.name}"
        for name, command in _commands().items()
        if name in sections
        for what in _missing_in_section(command, sections[name])
    ]
    assert not problems, "\n".join(problems)

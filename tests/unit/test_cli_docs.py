"""docs/cli.md documents every command of the ``avops`` parser with every argument and option.

A command group (``avops deadletters``) counts as its sub-commands, each with a section of its
own (``## avops deadletters list``).
"""

from __future__ import annotations

import re
from pathlib import Path

import typer.main
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from avops.cli import _register_commands, app

ROOT = Path(__file__).resolve().parents[2]
CLI_DOC = ROOT / "docs" / "cli.md"
HEADING = re.compile(r"^## avops ([a-z][a-z-]*(?: [a-z][a-z-]*)?)\s*$", flags=re.MULTILINE)


def _flatten(group: TyperGroup, prefix: str = "") -> dict[str, TyperCommand]:
    commands: dict[str, TyperCommand] = {}
    for name, command in group.commands.items():
        if isinstance(command, TyperGroup):
            commands.update(_flatten(command, f"{prefix}{name} "))
        else:
            assert isinstance(command, TyperCommand), f"avops {prefix}{name} is a typer command"
            commands[f"{prefix}{name}"] = command
    return commands


def _commands() -> dict[str, TyperCommand]:
    """Every command by its name, sub-commands of a group as ``group sub``."""
    _register_commands()
    group = typer.main.get_command(app)
    assert isinstance(group, TyperGroup)
    return _flatten(group)


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


# `avops COMMAND ...` as written in a shell block of README.md or docs/ (after a prompt-less
# `.venv/bin/avops` or a bare `avops`).
COMMAND_LINE = re.compile(
    r"^\s*(?:\.venv/bin/)?avops\s+([a-z][a-z-]*(?: [a-z][a-z-]*)?)(.*)$", flags=re.MULTILINE
)
SHELL_BLOCK = re.compile(r"```(?:bash|sh|console)\n(.*?)```", flags=re.DOTALL)


def _written_command_lines() -> list[tuple[str, str, str]]:
    lines = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for block in SHELL_BLOCK.findall(doc.read_text()):
            for match in COMMAND_LINE.finditer(block):
                rest = match.group(2).split("#", 1)[0]
                lines.append((doc.name, match.group(1), rest))
    return lines


def test_command_lines_in_readme_and_docs_name_real_commands_and_options() -> None:
    """Every `avops ...` line in a docs shell block names a real command and real options."""
    commands = _commands()
    written = _written_command_lines()
    assert any(doc == "README.md" for doc, _, _ in written), "README shows avops command lines"
    problems = []
    for doc, words, tail in written:
        # A group's line names its sub-command too; a plain command's second word is input.
        name = words if words in commands else words.split(" ")[0]
        rest = tail if name == words else words[len(name) :] + tail
        command = commands.get(name)
        if command is None:
            problems.append(f"{doc}: avops {name}: no such command")
            continue
        known = {opt for p in command.params if isinstance(p, TyperOption) for opt in p.opts}
        known |= {o for p in command.params if isinstance(p, TyperOption) for o in p.secondary_opts}
        known.add("--help")
        problems.extend(
            f"{doc}: avops {name}: unknown option {option}"
            for option in re.findall(r"(?<!\S)(--[a-z][a-z-]*)", rest)
            if option not in known
        )
    assert problems == []

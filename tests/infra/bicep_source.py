"""Read just enough Bicep to check infra/ against the code without the Bicep CLI.

This is no Bicep compiler: it understands comments, strings (with ``${...}`` interpolation and
``'''`` multi-line strings), bracket nesting, declarations (param, var, resource, module,
output) and literal values (objects, arrays, strings, numbers, booleans). Anything else is kept
as an :class:`Expr` holding its source text. `az bicep build` remains the real check.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = [
    "BicepFile",
    "BicepSyntaxError",
    "Declaration",
    "Expr",
    "check_balanced",
    "code_only",
    "parse_value",
    "without_string_text",
]

_OPEN = {"{": "}", "[": "]", "(": ")"}
_CLOSE = {v: k for k, v in _OPEN.items()}
_SCALARS: dict[str, bool | None] = {"true": True, "false": False, "null": None}
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DECL = re.compile(
    r"(?P<kind>param|var|resource|module|output|func|type)[ \t]+"
    r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?P<rest>[^\n]*)"
)


class BicepSyntaxError(ValueError):
    """The text is not what this reader understands (unbalanced brackets, open string, ...)."""


@dataclass(frozen=True)
class Expr:
    """A Bicep expression this reader does not evaluate, kept as its source text."""

    text: str


@dataclass(frozen=True)
class Declaration:
    """One top-level declaration: ``param``, ``var``, ``resource``, ``module`` or ``output``."""

    kind: str
    name: str
    header: str
    """The rest of the declaration line after the name (type, path, ``=`` ...)."""
    decorators: tuple[str, ...]
    start: int
    """Offset of the declaration keyword in the comment-free text."""


def _string_end(text: str, start: int) -> int:
    """Index just past the string literal that starts at ``start`` (a quote)."""
    if text.startswith("'''", start):
        end = text.find("'''", start + 3)
        if end < 0:
            raise BicepSyntaxError(f"unterminated multi-line string at offset {start}")
        return end + 3
    i = start + 1
    while i < len(text):
        ch = text[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "'":
            return i + 1
        if ch == "\n":
            raise BicepSyntaxError(f"string at offset {start} runs past the end of the line")
        if text.startswith("${", i):
            i = _bracket_end(text, i + 1)
            continue
        i += 1
    raise BicepSyntaxError(f"unterminated string at offset {start}")


def _bracket_walk(text: str, start: int) -> Iterator[tuple[int, list[tuple[str, int]]]]:
    """Walk ``text`` from ``start``, strings skipped: after each bracket, yield its offset and
    the brackets still open (with their offsets; the same list each time). A closing bracket
    that does not match the innermost open one raises, naming its line."""
    stack: list[tuple[str, int]] = []
    i = start
    while i < len(text):
        ch = text[i]
        if ch == "'":
            i = _string_end(text, i)
            continue
        if ch in _OPEN:
            stack.append((ch, i))
            yield i, stack
        elif ch in _CLOSE:
            if not stack or stack[-1][0] != _CLOSE[ch]:
                raise BicepSyntaxError(f"unexpected {ch!r} on line {_line_of(text, i)}")
            stack.pop()
            yield i, stack
        i += 1


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _bracket_end(text: str, start: int) -> int:
    """Index just past the bracket group that opens at ``start``."""
    for at, still_open in _bracket_walk(text, start):
        if not still_open:
            return at + 1
    raise BicepSyntaxError(f"{text[start]!r} on line {_line_of(text, start)} is never closed")


def code_only(text: str) -> str:
    """The text with comments blanked out (same length and line numbers), strings kept."""
    out = list(text)
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            i = _string_end(text, i)
        elif text.startswith("//", i):
            end = text.find("\n", i)
            end = len(text) if end < 0 else end
            out[i:end] = " " * (end - i)
            i = end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                raise BicepSyntaxError(f"unterminated block comment at offset {i}")
            out[i : end + 2] = [c if c == "\n" else " " for c in text[i : end + 2]]
            i = end + 2
        else:
            i += 1
    return "".join(out)


def without_string_text(text: str) -> str:
    """``text`` with the literal parts of strings blanked; ``${...}`` interpolations are kept."""
    out = list(text)
    i = 0
    while i < len(text):
        if text[i] != "'":
            i += 1
            continue
        end = _string_end(text, i)
        j = i
        while j < end:
            if text.startswith("${", j) and not text.startswith("'''", i):
                j = _bracket_end(text, j + 1)
                continue
            if text[j] != "\n":
                out[j] = " "
            j += 1
        i = end
    return "".join(out)


def check_balanced(text: str) -> None:
    """Raise BicepSyntaxError unless every bracket outside strings is closed in order."""
    # Only the walk's end matters here: what is still open after the last bracket.
    last = deque(_bracket_walk(text, 0), maxlen=1)
    if last and last[0][1]:
        ch, at = last[0][1][-1]
        raise BicepSyntaxError(f"{ch!r} on line {_line_of(text, at)} is never closed")


def _unescape(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t", "r": "\r"}.get(m[1], m[1]), body)


class _Reader:
    """Recursive-descent reader of one Bicep value (literal or kept expression)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def _skip(self, *, newlines: bool) -> None:
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in " \t\r" or (newlines and ch in "\n,"):
                self.pos += 1
            else:
                return

    def value(self) -> Any:
        self._skip(newlines=False)
        start = self.pos
        end = self._expression_end()
        raw = self.text[start:end].strip()
        self.pos = end
        return self._literal(raw)

    def _expression_end(self) -> int:
        """End of the expression at pos: a newline or , } ] at depth 0, unless continued."""
        i = self.pos
        while i < len(self.text):
            ch = self.text[i]
            if ch == "'":
                i = _string_end(self.text, i)
                continue
            if ch in _OPEN:
                i = _bracket_end(self.text, i)
                continue
            if ch in ",}]":
                return i
            if ch == "\n":
                rest = self.text[i:].lstrip()
                # A ternary or boolean expression may continue on the next line.
                if rest[:1] in {"?", ":"} or rest[:2] in {"&&", "||", "??"}:
                    i += 1
                    continue
                return i
            i += 1
        return i

    def _literal(self, raw: str) -> Any:
        if not raw:
            raise BicepSyntaxError("empty value")
        if raw[0] in "{[" and _bracket_end(raw, 0) == len(raw):
            inner = _Reader(raw[1:-1])
            return inner.object_body() if raw[0] == "{" else inner.array_body()
        if raw.startswith("'''") and raw.endswith("'''") and len(raw) >= 6:
            return raw[3:-3]
        if raw[0] == "'" and _string_end(raw, 0) == len(raw):
            return _unescape(raw[1:-1])
        if re.fullmatch(r"-?\d+", raw):
            return int(raw)
        return _SCALARS[raw] if raw in _SCALARS else Expr(raw)

    def object_body(self) -> dict[str, Any]:
        result: dict[str, Any] = {}
        while True:
            self._skip(newlines=True)
            if self.pos >= len(self.text):
                return result
            if self.text[self.pos] == "'":
                end = _string_end(self.text, self.pos)
                key = _unescape(self.text[self.pos + 1 : end - 1])
                self.pos = end
            else:
                match = _IDENT.match(self.text, self.pos)
                if match is None:
                    raise BicepSyntaxError(
                        f"expected a property name at {self.text[self.pos :][:40]!r}"
                    )
                key = match[0]
                self.pos = match.end()
            self._skip(newlines=False)
            if not self.text.startswith(":", self.pos):
                raise BicepSyntaxError(f"expected ':' after property {key!r}")
            self.pos += 1
            if key in result:
                raise BicepSyntaxError(f"property {key!r} appears twice")
            result[key] = self.value()

    def array_body(self) -> list[Any]:
        items: list[Any] = []
        while True:
            self._skip(newlines=True)
            if self.pos >= len(self.text):
                return items
            items.append(self.value())


def parse_value(text: str) -> Any:
    """A Bicep value: objects, arrays and scalars become Python values, the rest Expr."""
    return _Reader(text.strip()).value()


@dataclass
class BicepFile:
    """One .bicep file, with comments removed, and its top-level declarations."""

    path: Path
    source: str
    code: str = field(init=False)
    declarations: list[Declaration] = field(init=False)

    def __post_init__(self) -> None:
        self.code = code_only(self.source)
        self.declarations = []
        decorators: list[str] = []
        pos = 0
        # Walk the top level: decorators (which may span lines, like @allowed([...])) attach
        # to the declaration that follows them.
        while pos < len(self.code):
            line_end = self.code.find("\n", pos)
            line_end = len(self.code) if line_end < 0 else line_end
            line = self.code[pos:line_end]
            if line.startswith("@"):
                paren = self.code.find("(", pos)
                end = _bracket_end(self.code, paren) if 0 <= paren < line_end else line_end
                decorators.append(self.code[pos:end].strip())
                pos = end
                continue
            match = _DECL.match(self.code, pos)
            if match:
                self.declarations.append(
                    Declaration(
                        kind=match["kind"],
                        name=match["name"],
                        header=match["rest"].strip(),
                        decorators=tuple(decorators),
                        start=pos,
                    )
                )
                decorators = []
            elif line.strip():
                decorators = []
            pos = line_end + 1

    @classmethod
    def read(cls, path: Path) -> BicepFile:
        """Read and index ``path``."""
        return cls(path, path.read_text(encoding="utf-8"))

    def named(self, kind: str) -> dict[str, Declaration]:
        """The declarations of one kind by name."""
        return {d.name: d for d in self.declarations if d.kind == kind}

    def body(self, decl: Declaration) -> str:
        """The text after ``=`` of a declaration, up to the end of its value."""
        eq = self.code.index("=", decl.start)
        reader = _Reader(self.code)
        reader.pos = eq + 1
        reader._skip(newlines=False)
        start = reader.pos
        return self.code[start : reader._expression_end()]

    def var(self, name: str) -> Any:
        """The value of ``var name``, parsed as far as it is a literal."""
        decls = self.named("var")
        if name not in decls:
            raise KeyError(f"{self.path}: no var {name!r}")
        return parse_value(self.body(decls[name]))

    def block_property(self, decl: Declaration, prop: str) -> Any:
        """A property (for example ``params``) of a resource or module body."""
        body = self.body(decl).strip()
        if body.startswith("["):
            # [for x in y: { ... }] or [for x in y: if (cond) { ... }]
            body = body[body.index("{") : body.rindex("}") + 1]
        elif body.startswith("if"):
            body = body[body.index("{") :]
        value = parse_value(body)
        if not isinstance(value, dict):
            raise BicepSyntaxError(f"{self.path}: {decl.name} has no object body")
        return value.get(prop)

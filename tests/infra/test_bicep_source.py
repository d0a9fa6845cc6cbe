"""The Bicep reader the infra tests rely on: it must see what it claims to see."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.infra.bicep_source import (
    BicepFile,
    BicepSyntaxError,
    Expr,
    check_balanced,
    code_only,
    parse_value,
    without_string_text,
)

SAMPLE = """\
// a comment with { an unbalanced brace
@description('Name (it\\'s quoted).')
@allowed([
  'a'
  'b'
])
param name string = 'a'

var settings = {
  KEY: 'value'
  'quoted-key': 'x-${name}-y'
  NUMBER: 3
  FLAG: false
  EXPR: string(name)
  LIST: [
    'one'
    { inner: 'two', other: [1, 2] }
  ]
  TERNARY: empty(name)
    ? 'empty'
    : name
}

resource thing 'Microsoft.Foo/bars@2024-01-01' = if (true) {
  name: name
  properties: {
    text: '''
multi ${not} interpolated
'''
  }
}
"""


def test_declarations_and_multiline_decorators() -> None:
    f = BicepFile(Path("sample.bicep"), SAMPLE)
    assert [(d.kind, d.name) for d in f.declarations] == [
        ("param", "name"),
        ("var", "settings"),
        ("resource", "thing"),
    ]
    decorators = f.named("param")["name"].decorators
    assert decorators[0] == "@description('Name (it\\'s quoted).')"
    assert decorators[1].startswith("@allowed([") and decorators[1].endswith("])")


def test_literals_and_kept_expressions() -> None:
    settings = BicepFile(Path("sample.bicep"), SAMPLE).var("settings")
    assert settings["KEY"] == "value"
    assert settings["quoted-key"] == "x-${name}-y"
    assert settings["NUMBER"] == 3
    assert settings["FLAG"] is False
    assert settings["EXPR"] == Expr("string(name)")
    assert settings["LIST"] == ["one", {"inner": "two", "other": [1, 2]}]
    assert isinstance(settings["TERNARY"], Expr)
    assert settings["TERNARY"].text.split() == ["empty(name)", "?", "'empty'", ":", "name"]


def test_block_property_of_a_conditional_resource() -> None:
    f = BicepFile(Path("sample.bicep"), SAMPLE)
    props = f.block_property(f.named("resource")["thing"], "properties")
    assert props["text"] == "\nmulti ${not} interpolated\n"


def test_comments_are_blanked_but_strings_kept() -> None:
    code = code_only("var a = 'http://x' // note\n")
    assert "'http://x'" in code
    assert "note" not in code
    assert len(code) == len("var a = 'http://x' // note\n")


def test_string_text_is_blanked_but_interpolations_kept() -> None:
    text = without_string_text("x: 'name ${other} name'")
    assert "other" in text
    assert "name" not in text.replace("x:", "")


@pytest.mark.parametrize(
    "broken",
    ["var a = {\n  b: [1, 2\n}\n", "var a = (1))\n", "var a = 'open\n", "param x {"],
)
def test_unbalanced_text_is_refused(broken: str) -> None:
    with pytest.raises(BicepSyntaxError):
        check_balanced(code_only(broken))


def test_duplicate_keys_are_refused() -> None:
    with pytest.raises(BicepSyntaxError, match="twice"):
        parse_value("{\n  a: 1\n  a: 2\n}")

"""The repository stands alone: no file points outside it, every relative Markdown link in
README.md and docs/ resolves to a file in the repository, and README links every document."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[2]
# Design notes that lived next to the repository while it was started; their content is in
# docs/ now (architecture.md, devhost.md). Spelled in pieces so this file does not match itself.
SHARED = "shared"
OUTSIDE = re.compile(
    rf"\.\./{SHARED}\b|/work/{SHARED}\b|\b(?:"
    + "|".join(["ARCHITECTURE", "LOCAL-HOST", "STYLE"])
    + r")\.md"
)
ALLOWED = {"docs/architecture.md"}
# [text](target) and [text]: target; images too. Targets with a scheme or only an anchor are
# not files in the repository.
INLINE_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK = re.compile(r"^\s*\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", flags=re.MULTILINE)
FENCE = re.compile(r"^(```|~~~).*?^\1", flags=re.MULTILINE | re.DOTALL)


def _tracked_files() -> list[Path]:
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode()
    return [ROOT / name for name in out.split("\0") if name]


def _text(path: Path) -> str | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None  # listed by git but deleted in the working tree
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def _markdown_files() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _links(markdown: str) -> list[str]:
    prose = FENCE.sub("", markdown)  # a link-like text in a code block is not a link
    return INLINE_LINK.findall(prose) + REFERENCE_LINK.findall(prose)


def test_no_tracked_file_points_outside_the_repository() -> None:
    problems = []
    for path in _tracked_files():
        relative = path.relative_to(ROOT).as_posix()
        text = _text(path)
        if relative in ALLOWED or text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            if OUTSIDE.search(line):
                problems.append(f"{relative}:{number}: {line.strip()}")
    assert not problems, "references to files outside the repository:\n" + "\n".join(problems)


def test_every_relative_markdown_link_resolves_to_a_repository_file() -> None:
    problems = []
    for doc in _markdown_files():
        for target in _links(doc.read_text()):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target, flags=re.IGNORECASE) or target[0] == "#":
                continue
            file_part = unquote(target.split("#", 1)[0].split("?", 1)[0])
            resolved = (doc.parent / file_part).resolve()
            where = f"{doc.relative_to(ROOT)}: {target}"
            if not resolved.is_relative_to(ROOT):
                problems.append(f"{where} leaves the repository")
            elif not resolved.exists():
                problems.append(f"{where} does not exist")
    assert not problems, "broken links:\n" + "\n".join(problems)


def test_link_finder_sees_inline_reference_and_image_links_but_not_code() -> None:
    """Guards the two tests above against a link pattern that silently finds nothing."""
    sample = (
        "See [a](docs/a.md#x), ![img](pic.png) and [b][ref].\n\n[ref]: other.md\n\n"
        "```\n[not](in-code.md)\n```\n"
    )
    assert sorted(_links(sample)) == ["docs/a.md#x", "other.md", "pic.png"]
    assert OUTSIDE.search("see ../" + "shared/notes") and OUTSIDE.search("LOCAL-HOST" + ".md")
    assert not OUTSIDE.search("docs/architecture.md")


def test_readme_links_every_document_in_docs() -> None:
    """README's "Where to read more" is the index of docs/: a new document gets a row there."""
    readme = ROOT / "README.md"
    linked = {
        (readme.parent / target.split("#", 1)[0]).resolve() for target in _links(readme.read_text())
    }
    unlinked = [
        doc.relative_to(ROOT).as_posix()
        for doc in sorted((ROOT / "docs").glob("*.md"))
        if doc.resolve() not in linked
    ]
    assert not unlinked, f"README.md does not link {unlinked}"

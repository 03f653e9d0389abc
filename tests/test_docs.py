"""The README and docs/: every relative link (and #anchor) resolves, and the README stays a front door."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .conftest import ROOT

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.M)
README_MAX_LINES = 250  # issue 27: a newcomer reads the README in ten minutes; the rest lives in docs/


def prose(markdown: str) -> str:
    """The text a reader sees as prose: fenced blocks and code spans blanked out, so `[a](b)` in code is no link."""
    return CODE_SPAN.sub("", FENCE.sub("", markdown))


def relative_links(markdown: str) -> list[str]:
    """Targets of the links and images that point into the repository (not web addresses, not mail)."""
    return [target for target in LINK.findall(prose(markdown))
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I)]


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every heading's anchor; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    for heading in HEADING.findall(FENCE.sub("", markdown)):
        slug = anchor(heading)
        found.add(f"{slug}-{seen[slug]}" if slug in seen else slug)
        seen[slug] = seen.get(slug, 0) + 1
    return found


def broken_links(page: Path) -> list[str]:
    """The relative links of `page` whose file, or #anchor in a Markdown file, does not exist."""
    text = page.read_text()
    broken = []
    for target in relative_links(text):
        path, _, fragment = target.partition("#")
        resolved = (page.parent / path).resolve() if path else page
        if not resolved.exists():
            broken.append(target)
        elif fragment and resolved.suffix == ".md" and fragment not in anchors(resolved.read_text()):
            broken.append(target)
    return broken


def pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_links_are_found_outside_code_only():
    text = "[a](docs/a.md) ![pic](a.png) [web](https://x.org/y) [top](#top)\n`[no](code.md)`\n```\n[no](block.md)\n```\n"
    assert relative_links(text) == ["docs/a.md", "a.png", "#top"]


def test_anchors_follow_github():
    text = "# kombat\n## Which input, which head: cross-validated\n### `make demo` in minutes\n## Play\n## Play\n"
    assert anchors(text) == {"kombat", "which-input-which-head-cross-validated", "make-demo-in-minutes", "play", "play-1"}


def test_a_missing_file_or_anchor_is_reported(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "here.md").write_text("# Here\n## A section\n")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/here.md#a-section) [gone](docs/gone.md) [no](docs/here.md#nowhere) [self](#here-too)\n"
                    "## Here too\n")
    assert broken_links(page) == ["docs/gone.md", "docs/here.md#nowhere"]


@pytest.mark.parametrize("page", pages(), ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    assert broken_links(page) == []


def test_readme_is_a_front_door():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= README_MAX_LINES
    assert not re.search(r"^\|.*\|\s*$", prose(readme), re.M), "result tables live in docs/, not in the README"

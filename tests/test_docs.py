"""The docs check: the project's documentation agrees with the repository it ships in.

* every relative link in README.md and docs/ (and the examples' and scenarios' docs)
  resolves to a file of the repository, and every ``#anchor`` to a heading there;
* every shipped scenario (``scenarios/**/*.yaml``) is documented in docs/scenarios.md;
* no project file points outside the repository: no ``../shared`` notes, no machine
  paths (moby is cited by its repository path instead, e.g. "moby/moby volume/service,
  v28.5.2");
* docs/api.md is what tools/api_reference.py generates from the current docstrings.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)


def tracked_files() -> list[Path]:
    """The repository's files as git knows them (tracked, and new ones not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [ROOT / name for name in listed.split("\0") if name and (ROOT / name).is_file()]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[`*_]|<[^>]+>", "", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text())
    found: set[str] = set()
    for line in text.splitlines():
        if line.startswith("#"):
            base = slug(line.lstrip("#"))
            anchor, n = base, 1
            while anchor in found:
                anchor, n = f"{base}-{n}", n + 1
            found.add(anchor)
    return found


def links(page: Path) -> list[str]:
    return LINK.findall(FENCE.sub("", page.read_text()))


@pytest.mark.parametrize("page", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    problems = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        file = (page.parent / unquote(path_part)).resolve() if path_part else page
        if ROOT not in (file, *file.parents):
            problems.append(f"{target}: points outside the repository")
        elif not file.exists():
            problems.append(f"{target}: {file.relative_to(ROOT)} does not exist")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            problems.append(f"{target}: no heading #{anchor} in {file.relative_to(ROOT)}")
    assert not problems, f"{page.relative_to(ROOT)}:\n  " + "\n  ".join(problems)


def test_every_shipped_scenario_is_documented() -> None:
    documented = (ROOT / "docs/scenarios.md").read_text()
    shipped = sorted((ROOT / "scenarios").rglob("*.yaml"))
    assert shipped
    missing = [
        str(s.relative_to(ROOT / "scenarios"))
        for s in shipped
        if f"`{s.relative_to(ROOT / 'scenarios')}`" not in documented
    ]
    assert not missing, f"docs/scenarios.md does not document: {missing}"


#: What a path outside the repository looks like in a project file.
OUTSIDE = re.compile(r"\.\./shared\b|(?<![\w.])/(?:work|home|Users)/[\w.-]|(?<![\w.])/root/\w")


def test_no_project_file_points_outside_the_repository() -> None:
    problems = []
    for file in tracked_files():
        try:
            text = file.read_text()
        except UnicodeDecodeError:
            continue
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line) and file != Path(__file__):
                problems.append(f"{file.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not problems, "paths outside the repository:\n" + "\n".join(problems)


def test_the_api_reference_is_current() -> None:
    spec = importlib.util.spec_from_file_location("api_reference", ROOT / "tools/api_reference.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    expected = module.render()
    assert (ROOT / "docs/api.md").read_text() == expected, (
        "docs/api.md is stale: run `python tools/api_reference.py`"
    )

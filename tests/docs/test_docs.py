"""README.md, docs/ and benchmarks/README.md stay true to the project: its make targets, files and commands."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stacks import names

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "benchmarks" / "README.md"]
MAX_README_LINES = 200  # issue 15: a README a newcomer reads in five minutes
FENCE = re.compile(r"^```.*?^```", flags=re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
CODE_SPAN = re.compile(r"`([^`\n]+)`")


def _text(page: Path) -> str:
    return page.read_text(encoding="utf-8")


def _section(text: str, heading: str) -> str:
    return text.split(f"\n## {heading}\n", 1)[1].split("\n## ", 1)[0]


def _help_targets() -> set[str]:
    # What `make help` lists: its grep takes the `target: ... ## description` lines.
    return set(re.findall(r"^([a-z-]+):.*## ", _text(ROOT / "Makefile"), flags=re.MULTILINE))


def _makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z-]*):", _text(ROOT / "Makefile"), flags=re.MULTILINE))


def _prose(text: str) -> str:
    return CODE_SPAN.sub("", FENCE.sub("", text))


def _code(text: str) -> list[str]:
    """The fenced blocks and inline code spans of a page: where it shows commands."""
    blocks = FENCE.findall(text)
    return blocks + CODE_SPAN.findall(FENCE.sub("", text))


def _anchors(text: str) -> set[str]:
    # GitHub's heading ids: lower case, punctuation other than - and _ dropped, spaces as hyphens.
    headings = re.findall(r"^#+ (.+)$", FENCE.sub("", text), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-") for heading in headings}


def test_the_readme_is_short():
    lines = len(_text(README).splitlines())

    assert lines <= MAX_README_LINES, f"README.md has {lines} lines, at most {MAX_README_LINES}"


def test_the_readme_table_lists_exactly_the_targets_make_help_lists():
    table = re.findall(r"^\| `make ([a-z-]+)", _section(_text(README), "Make targets"), flags=re.MULTILINE)

    assert len(table) == len(set(table)), f"a target is listed twice: {table}"
    assert set(table) == _help_targets(), (
        f"only in the README's table: {sorted(set(table) - _help_targets())}; "
        f"only in `make help`: {sorted(_help_targets() - set(table))}"
    )


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_relative_link_resolves(page):
    broken = []
    for target in LINK.findall(_prose(_text(page))):
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto:
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked.relative_to(ROOT)}")
        elif anchor and linked.suffix == ".md" and anchor not in _anchors(_text(linked)):
            broken.append(f"{target}: no heading #{anchor} in {linked.relative_to(ROOT)}")

    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_readme_links_every_docs_page():
    linked = {(ROOT / target.partition("#")[0]).resolve() for target in LINK.findall(_prose(_text(README)))}

    assert not [page.name for page in (ROOT / "docs").glob("*.md") if page.resolve() not in linked]


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_commands_run_as_written_from_the_project_root(page):
    code = "\n".join(_code(_text(page)))
    # Outside the venv a bare `python -m ...` finds none of the project's packages.
    bare = re.findall(r"(?<![\w/.])python3? -m [\w.]+", code)
    unknown_targets = sorted(set(re.findall(r"\bmake ([a-z][a-z-]*)", code)) - _makefile_targets())
    missing_modules = sorted(
        module
        for module in set(re.findall(r"\.venv/bin/python -m ([\w.]+)", code))
        if not (ROOT / f"{module.replace('.', '/')}.py").exists()
        and not (ROOT / module.replace(".", "/") / "__main__.py").exists()
    )

    assert not bare, f"{page.name}: use .venv/bin/python: {bare}"
    assert not unknown_targets, f"{page.name}: no such make target: {unknown_targets}"
    assert not missing_modules, f"{page.name}: no such module: {missing_modules}"


def test_the_architecture_shows_every_stack():
    picture = FENCE.findall(_section(_text(README), "Architecture"))[0]

    assert [
        unit for unit in (names.STORAGE, names.MODEL, names.WORKFLOW, names.MONITORING) if unit not in picture
    ] == []


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_every_project_file_the_docs_name_exists(page):
    sources = "|".join(
        ("app.py", "stacks", "lambda_src", "data_prep", "local_run", "ops", "tests", "benchmarks", "docs")
    )
    named = set(re.findall(rf"`((?:{sources})(?:/[\w.-]+)*)`", _text(page)))

    missing = sorted(path for path in named if not (ROOT / path).exists())

    assert not missing, f"{page.name} names files that do not exist: {missing}"

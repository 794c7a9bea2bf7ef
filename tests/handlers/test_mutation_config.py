"""make mutate's cosmic-ray configurations name the handlers and their tests as they are (mutation/README.md)."""

from __future__ import annotations

import re
import shlex
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HANDLERS = sorted(path.parent.name for path in (ROOT / "lambda_src").glob("*/app.py"))
# The pytest options that keep one mutant's run to seconds: one process, stop at the first failure, no cache.
FAST_OPTIONS = ["-n", "0", "-x", "-q", "-p", "no:cacheprovider"]


def config(handler: str) -> dict:
    return tomllib.loads((ROOT / "mutation" / f"{handler}.toml").read_text())["cosmic-ray"]


def test_every_handler_has_a_configuration_and_make_mutate_runs_them_all():
    configured = sorted(path.stem for path in (ROOT / "mutation").glob("*.toml"))
    [default] = re.findall(r"^HANDLERS \?= (.+)$", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)

    assert configured == HANDLERS
    assert sorted(default.split()) == HANDLERS


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_configuration_mutates_its_handler_and_runs_only_its_tests_in_one_process(handler):
    settings = config(handler)
    command = shlex.split(settings["test-command"])
    test_files = [argument for argument in command if argument.endswith(".py")]
    own_tests = {
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "tests").rglob("test_*.py")
        if path.stem.startswith(f"test_{handler}")
    }

    assert settings["module-path"] == f"lambda_src/{handler}"
    assert settings["distributor"]["name"] == "local"
    assert command[:3] == [".venv/bin/python", "-m", "pytest"]
    assert command[3 : 3 + len(FAST_OPTIONS)] == FAST_OPTIONS
    assert [path for path in test_files if not (ROOT / path).is_file()] == []
    # A new tests file for the handler (an _edges file, say) is one its mutants must face.
    assert own_tests <= set(test_files), (
        f"missing from the test command: {sorted(own_tests - set(test_files))}"
    )


def test_cosmic_ray_is_pinned_on_top_of_the_dev_requirements():
    lines = (ROOT / "requirements-mutate.txt").read_text().splitlines()

    pins = [line for line in lines if line.startswith("cosmic-ray")]

    assert "-r requirements-dev.txt" in lines
    assert len(pins) == 1 and re.fullmatch(r"cosmic-ray==\d+\.\d+\.\d+", pins[0]), pins


def test_make_help_lists_mutate():
    listed = subprocess.run(
        ["make", "--no-print-directory", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout

    assert re.search(r"^  make mutate +\S", listed, flags=re.MULTILINE), listed

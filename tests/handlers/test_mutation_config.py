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
# One session per handler; the serializer's image_format.py has its own (its tests need no moto).
SESSIONS = sorted([*HANDLERS, "serialize_image_format"])
# The pytest options that keep one mutant's run to seconds: one process, stop at the first failure, no cache.
FAST_OPTIONS = ["-n", "0", "-x", "-q", "-p", "no:cacheprovider"]


def config(session: str) -> dict:
    return tomllib.loads((ROOT / "mutation" / f"{session}.toml").read_text())["cosmic-ray"]


def test_every_handler_has_a_session_and_make_mutate_runs_them_all():
    configured = sorted(path.stem for path in (ROOT / "mutation").glob("*.toml"))
    [default] = re.findall(r"^HANDLERS \?= (.+)$", (ROOT / "Makefile").read_text(), flags=re.MULTILINE)

    assert configured == SESSIONS
    assert sorted(default.split()) == SESSIONS


def test_the_sessions_mutate_every_module_of_lambda_src_once():
    mutated = sorted(
        path.relative_to(ROOT).as_posix()
        for session in SESSIONS
        for module in [ROOT / config(session)["module-path"]]
        for path in ([module] if module.is_file() else module.rglob("*.py"))
    )

    assert mutated == sorted(
        path.relative_to(ROOT).as_posix() for path in (ROOT / "lambda_src").rglob("*.py")
    )


@pytest.mark.parametrize("session", SESSIONS)
def test_a_session_runs_only_its_modules_tests_in_one_process(session):
    settings = config(session)
    module = Path(settings["module-path"])
    handler = module.parts[1]
    command = shlex.split(settings["test-command"])
    test_files = [argument for argument in command if argument.endswith(".py")]
    # A module's own tests: the handler's test files for app.py, test_<module>.py for a sibling module.
    modules = [ROOT / module] if module.suffix else sorted((ROOT / module).glob("*.py"))
    prefixes = [f"test_{handler}" if path.stem == "app" else f"test_{path.stem}" for path in modules]
    own_tests = {
        path.relative_to(ROOT).as_posix()
        for prefix in prefixes
        for suffix in ("", "_edges", "_handler")
        for path in (ROOT / "tests").rglob(f"{prefix}{suffix}.py")
    }

    assert module.parts[0] == "lambda_src" and (ROOT / module).exists()
    assert settings["distributor"]["name"] == "local"
    assert command[:3] == [".venv/bin/python", "-m", "pytest"]
    assert command[3 : 3 + len(FAST_OPTIONS)] == FAST_OPTIONS
    assert [path for path in test_files if not (ROOT / path).is_file()] == []
    # A new tests file for the module (an _edges file, say) is one its mutants must face.
    assert own_tests and own_tests <= set(test_files), (
        f"not in the command: {sorted(own_tests - set(test_files))}"
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

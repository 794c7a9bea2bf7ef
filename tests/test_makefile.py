"""The Makefile run for real in a clone whose path has a space, with a stand-in CDK CLI that records its arguments."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from data_prep.synthetic import write_synthetic_tarball

REPO_ROOT = Path(__file__).resolve().parents[1]
# Records its arguments and SCONES_VISION_DEPLOY, and writes a template as `cdk synth` would.
STAND_IN_CDK = """#!/bin/sh
printf '%s\\n' "$@" > cdk-args
echo "${SCONES_VISION_DEPLOY:-}" > cdk-deploy-env
mkdir -p cdk.out && touch cdk.out/Stand-in.template.json
"""


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the targets below read, copied (mtimes kept, so the set-up stamps stay newer); .venv linked."""
    root = tmp_path_factory.mktemp("make") / "a clone with spaces"
    root.mkdir()
    for name in ("Makefile", "requirements.txt", "requirements-dev.txt", "package.json", "package-lock.json"):
        shutil.copy2(REPO_ROOT / name, root / name)
    shutil.copytree(REPO_ROOT / "data_prep", root / "data_prep", ignore=shutil.ignore_patterns("__pycache__"))
    (root / ".venv").symlink_to(REPO_ROOT / ".venv")
    cdk = root / "node_modules" / ".bin" / "cdk"
    cdk.parent.mkdir(parents=True)
    cdk.write_text(STAND_IN_CDK)
    cdk.chmod(0o755)
    (root / "node_modules" / ".installed").touch()
    write_synthetic_tarball(root / "tar ball.tar.gz", train_per_class=1, test_per_class=1)
    return root


def make(clone: Path, *arguments: str, skip_setup: bool = True) -> subprocess.CompletedProcess[str]:
    # -o setup: never install into the linked .venv, whatever the stamps say.
    environment = {key: value for key, value in os.environ.items() if not key.startswith("MAKE")}
    return subprocess.run(
        ["make", "--no-print-directory", *(["-o", "setup"] if skip_setup else []), *arguments],
        cwd=clone,
        capture_output=True,
        text=True,
        env=environment,
    )


def test_synth_runs_the_cdk_of_a_path_with_a_space_and_passes_context_words_intact(clone: Path) -> None:
    completed = make(clone, "synth", "CONTEXT=-c confidence_threshold=0.9 -c 'project_name=a b'")
    assert completed.returncode == 0, completed.stderr
    assert (clone / "cdk-args").read_text().splitlines() == [
        "synth", "--no-notices", "--quiet", "-c", "confidence_threshold=0.9", "-c", "project_name=a b",
    ]  # fmt: skip


def test_diff_and_deploy_build_data_from_source_then_run_cdk_as_a_deploy(clone: Path) -> None:
    data = ["SOURCE=" + str(clone / "tar ball.tar.gz"), "NO_VERIFY=1", "CLASSES=bicycle tractor"]
    completed = make(clone, "diff", *data)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("data_prep: wrote data (train bicycle 1, tractor 1;")
    assert (clone / "cdk-args").read_text().split() == ["diff", "--no-notices"]
    assert (clone / "cdk-deploy-env").read_text() == "1\n"
    # A data/ built from the same tarball and classes is reused; deploy runs data, preflight, then cdk.
    dry_run = make(clone, "-n", "deploy", *data)
    assert dry_run.stdout.startswith('".venv/bin/python" -m data_prep --out data --source "')
    assert f'"{clone}/node_modules/.bin/cdk" deploy --all' in dry_run.stdout
    assert make(clone, "data", *data).stdout.startswith("data_prep: data is already up to date")


def test_every_command_quotes_the_paths_it_is_given(clone: Path) -> None:
    # -n: setup's installs are printed, not run (its sub-make is told -n too).
    printed = make(
        clone, "-n", "-B", "setup", "synth", "PYTHON=/opt/a python/bin/python3", skip_setup=False
    ).stdout
    assert str(clone) in printed and "/opt/a python" in printed
    unquoted = re.findall(rf'(?<!")(?:{re.escape(str(clone))}|/opt/a python)', printed)
    assert unquoted == [], printed


def test_a_non_official_tarball_without_no_verify_names_the_make_switch(clone: Path) -> None:
    completed = make(clone, "data", "SOURCE=" + str(clone / "tar ball.tar.gz"), "CLASSES=bicycle bus")
    assert completed.returncode == 2
    assert "error: md5 of tar ball.tar.gz is " in completed.stderr and "NO_VERIFY=1" in completed.stderr


@pytest.mark.parametrize(
    ("context", "refusal"),
    [
        ("-c confidence_threshold", "CONTEXT: -c must be followed by key=value, not 'confidence_threshold'"),
        ("-c a=1 --context", "CONTEXT: --context must be followed by key=value, not ''"),
        (
            "--context=confidence_threshold",
            "CONTEXT: --context=confidence_threshold is not --context=key=value",
        ),
    ],
)
def test_a_context_setting_without_a_value_is_refused_before_any_command(
    clone: Path, context, refusal
) -> None:
    (clone / "cdk-args").unlink(missing_ok=True)
    completed = make(clone, "synth", f"CONTEXT={context}")
    assert completed.returncode == 2
    assert completed.stderr.count("\n") == 1 and refusal in completed.stderr
    assert not (clone / "cdk-args").exists()


def test_help_lists_every_phony_target(clone: Path) -> None:
    listed = dict(line.split(None, 2)[1:] for line in make(clone, "help").stdout.splitlines())
    phony = re.search(r"^\.PHONY: (.*)$", (clone / "Makefile").read_text(), re.MULTILINE)[1].split()
    assert sorted(listed) == sorted(phony)
    assert "credentials" in listed["diff"]

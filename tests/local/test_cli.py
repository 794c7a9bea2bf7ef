"""`python -m local_run demo`, as `make demo` runs it: a fresh process, the app synthesized in-process."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from local_run.cli import EXIT_SETUP_ERROR, main

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_offline_and_reports_the_summary():
    # A threshold no prediction reaches: every execution fails, as designed, so the exit status is still 0.
    completed = subprocess.run(
        [sys.executable, "-m", "local_run", "demo", "--train-per-class", "20", "--test-per-class", "2",
         "--no-progress", "-c", "confidence_threshold=0.99999"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "failed as designed    4 (ThresholdConfidenceNotMet)" in completed.stdout
    assert "unexpected            0" in completed.stdout
    assert "stand-in accuracy" in completed.stdout
    assert "data capture records  4 under s3://" in completed.stdout


def test_a_malformed_context_setting_is_a_setup_error(capsys):
    assert main(["demo", "-c", "confidence_threshold"]) == EXIT_SETUP_ERROR
    assert "KEY=VALUE" in capsys.readouterr().err

"""`python -m local_run demo` in a fresh process: on a synthesized cloud assembly as `make demo` runs it, and
with the app synthesized in-process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from PIL import Image

from local_run.cli import EXIT_SETUP_ERROR, main

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _demo(*arguments: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python -m local_run demo` in a fresh process, in `cwd` so that its default plot path lands there."""
    return subprocess.run(
        [sys.executable, "-m", "local_run", "demo", "--no-progress", *arguments],
        cwd=cwd,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_default_demo_shows_both_outcomes_and_draws_the_monitoring_figure(synthesized_app, tmp_path):
    # The demo's own defaults (dataset size, ambiguity, threshold, plot path) on cdk.json's settings: what
    # `make demo` shows.
    completed = _demo("--cdk-out", synthesized_app.assembly.directory, cwd=tmp_path)

    assert completed.returncode == 0, completed.stdout + completed.stderr
    rows = [line for line in completed.stdout.splitlines() if line.startswith("dataset/validation/")]
    succeeded = [row for row in rows if row.endswith("SUCCEEDED")]
    below_threshold = [row for row in rows if "FAILED ThresholdConfidenceNotMet" in row]
    # Every row is one outcome or the other, and a visible minority fails as designed.
    assert len(rows) == 40 and len(succeeded) + len(below_threshold) == len(rows)
    assert 0 < len(below_threshold) < len(succeeded)
    summary = completed.stdout[completed.stdout.index("\nSummary\n") :]
    assert f"failed as designed    {len(below_threshold)} (ThresholdConfidenceNotMet)" in summary
    assert "unexpected            0" in summary
    assert re.search(r"stand-in accuracy     (8[5-9]|9\d|100)\.\d% on 40 test images", summary), summary
    assert "data capture records  40 under s3://" in summary
    # The threshold is the synthesized filter's (cdk.json's default); the rejected executions are those below it.
    assert f"below threshold       {len(below_threshold)} of 40 captured" in summary
    assert "below the filter's THRESHOLD 0.93" in summary
    assert re.search(r"mean confidence       0\.\d{3}\n", summary), summary
    assert "monitoring plot       plots/demo-monitoring.png" in summary
    with Image.open(tmp_path / "plots" / "demo-monitoring.png") as image:
        image.load()
        assert image.format == "PNG" and image.size == (1400, 900)


def test_a_context_setting_reaches_the_synthesized_filter_and_no_plot_draws_nothing(tmp_path):
    # A threshold no prediction reaches: every execution fails, as designed, so the exit status is still 0.
    completed = _demo(
        "--train-per-class", "5", "--test-per-class", "1", "--no-plot", "-c", "confidence_threshold=0.99999",
        cwd=tmp_path,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "failed as designed    2 (ThresholdConfidenceNotMet)" in completed.stdout
    assert (
        "below threshold       2 of 2 captured (100.0%) below the filter's THRESHOLD 0.99999"
        in completed.stdout
    )
    assert "monitoring plot" not in completed.stdout
    assert list(tmp_path.iterdir()) == []


def test_with_data_capture_off_in_the_synthesized_app_the_demo_captures_nothing(
    capture_off_template, tmp_path
):
    completed = _demo(
        "--cdk-out", str(capture_off_template.assembly_dir), "--limit", "2", "--no-plot", cwd=tmp_path
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "data capture          off (the synthesized endpoint config declares none)" in completed.stdout
    assert "data capture records" not in completed.stdout and "captured" not in completed.stdout


def test_a_malformed_context_setting_is_a_setup_error(capsys):
    assert main(["demo", "-c", "confidence_threshold"]) == EXIT_SETUP_ERROR
    assert "KEY=VALUE" in capsys.readouterr().err

"""`python -m local_run`: bad input is a one-line usage error, Ctrl-C one line and status 130 (CI runs `make demo`)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from local_run.cli import emf_summary, main
from tests.processes import default_sigint

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--limit", "-5"], "argument --limit: '-5' is not a whole number of at least 1"),
        (["--limit", "0"], "argument --limit: '0' is not a whole number of at least 1"),
        (["--test-per-class", "x"], "argument --test-per-class: 'x' is not a whole number of at least 1"),
        (["--ambiguity", "2"], "argument --ambiguity: '2' is not a share between 0 and 1"),
        (["-c", "confidence_threshold"], "-c 'confidence_threshold' is not KEY=VALUE"),
        (
            ["-c", "confidence_threshold=5"],
            "'confidence_threshold'='5' is invalid: expected a number in (0.0, 1.0]",
        ),
        (
            ["--cdk-out", "cdk.out", "-c", "confidence_threshold=0.5"],
            "-c applies when the app is synthesized here",
        ),
    ],
    ids=[
        "negative-limit",
        "zero-limit",
        "count",
        "share",
        "no-equals",
        "out-of-range",
        "context-with-cdk-out",
    ],
)
def test_bad_input_is_a_one_line_usage_error(capsys, argv, message):
    with pytest.raises(SystemExit) as exited:
        main(["demo", *argv])

    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m local_run demo ")
    (error_line,) = [line for line in err.splitlines() if "error:" in line]
    assert error_line.startswith("python -m local_run demo: error: ") and message in error_line
    assert err.endswith(error_line + "\n")


def test_the_help_documents_the_dataset_size_options(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])

    help_text = " ".join(capsys.readouterr().out.split())
    assert "--train-per-class N training images per class (default: 100)" in help_text
    assert "--test-per-class N test images per class (default: 20)" in help_text
    assert "then run the workflow on its test images." in help_text


def test_the_emf_summary_counts_each_workflows_evaluations():
    def document(workflow: str, top: float, below: int) -> str:
        aws = {"Timestamp": 0, "CloudWatchMetrics": [{"Namespace": "Proj", "Dimensions": [], "Metrics": []}]}
        return json.dumps({"_aws": aws, "TopConfidence": top, "BelowThreshold": below, "Workflow": workflow})

    lines = [document("single", 0.5, 1), '{"level": "INFO"}', "plain", document("single", 0.99, 0)]
    lines += [document("batch", 0.9, 0)]

    assert emf_summary(lines)[1:] == [
        "Metrics the filter emitted (EMF, namespace Proj):",
        "  Workflow=single  2 evaluations, 1 BelowThreshold; TopConfidence min 0.500, median 0.745",
        "  Workflow=batch   1 evaluations, 0 BelowThreshold; TopConfidence min 0.900, median 0.900",
    ]


def test_ctrl_c_during_the_executions_is_one_line_and_status_130(synthesized_app, tmp_path):
    arguments = ["--cdk-out", str(synthesized_app.assembly.directory), "--no-progress", "--no-plot"]
    demo = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "local_run",
            "demo",
            *arguments,
            "--train-per-class",
            "5",
            "--test-per-class",
            "5",
        ],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )
    try:
        for line in demo.stdout:
            if line.startswith("Running 11 executions"):  # 10 test images and the generated large photo
                demo.send_signal(signal.SIGINT)
                break
        _, err = demo.communicate(timeout=60)
    finally:
        demo.kill()

    assert (demo.returncode, err) == (130, "local_run: interrupted\n")

"""The app's entry point as the CDK CLI runs it: one clear line and a non-zero exit for what it refuses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app import build_app
from stacks.config import cdk_json_context
from stacks.dataset_source import DemoDatasetRefused

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_bad_context_value_exits_with_one_line_naming_it(tmp_path):
    # The CLI hands cdk.json and `-c` values to the app in CDK_CONTEXT_JSON; this is what `-c` does.
    context = {**cdk_json_context(), "confidence_threshold": "1.7"}
    environment = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps(context),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
    }
    result = subprocess.run(
        [sys.executable, "app.py"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "scones-vision: context 'confidence_threshold'='1.7' is invalid: expected a number in (0.0, 1.0]"
    )
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()


def test_deploy_refuses_the_generated_demo_dataset_in_one_line(default_context, tmp_path):
    # app.py's __main__ exits with this line, as with the setting above (both are one except clause).
    with pytest.raises(DemoDatasetRefused) as refused:
        build_app(default_context, outdir=str(tmp_path / "cdk.out"), for_deploy=True)
    assert "make data" in str(refused.value) and "\n" not in str(refused.value)
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()


def test_ctrl_c_during_synth_is_one_line_and_status_130(default_context, tmp_path):
    # The CDK CLI runs app.py in the terminal's process group, so a Ctrl-C reaches it wherever synth is: here
    # while aws_cdk loads or the stacks are built (a synth takes several seconds; the handler is set at once).
    environment = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps(default_context),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
    }
    process = subprocess.Popen(
        [sys.executable, "app.py"], cwd=PROJECT_ROOT, env=environment, stderr=subprocess.PIPE, text=True
    )
    time.sleep(1.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130
    assert stderr.strip().splitlines()[-1] == "scones-vision: synth interrupted"
    assert "Traceback" not in stderr

"""The app's entry point as the CDK CLI runs it: one clear line and a non-zero exit for what it refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from app import DEPLOY_ENV_FLAG
from stacks.config import cdk_json_context

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def run_app(context_overrides: dict, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    # The CLI hands cdk.json and `-c` values to the app in CDK_CONTEXT_JSON; this is what `-c` does.
    context = {**cdk_json_context(), **context_overrides}
    environment = {
        **os.environ,
        "CDK_CONTEXT_JSON": json.dumps(context),
        "CDK_OUTDIR": str(tmp_path / "cdk.out"),
        **env,
    }
    return subprocess.run(
        [sys.executable, "app.py"],
        cwd=PROJECT_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bad_context_value_exits_with_one_line_naming_it(tmp_path):
    result = run_app({"confidence_threshold": "1.7"}, tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1] == (
        "scones-vision: context 'confidence_threshold'='1.7' is invalid: expected a number in (0.0, 1.0]"
    )
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()


def test_deploy_refuses_the_generated_demo_dataset(tmp_path):
    result = run_app({"dataset_dir": str(tmp_path / "no-dataset-here")}, tmp_path, **{DEPLOY_ENV_FLAG: "1"})
    assert result.returncode != 0
    last_line = result.stderr.strip().splitlines()[-1]
    assert last_line.startswith("scones-vision: ") and "make data" in last_line
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()

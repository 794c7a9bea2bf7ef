"""The operations commands as a user runs them after `make deploy`: `python -m ops ...` in a subprocess, with only
the user's AWS environment, against moto on 127.0.0.1 seeded with the stacks' outputs and objects they read."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stacks.names import (
    BATCH_STATE_MACHINE_ARN_OUTPUT,
    BUCKET_NAME_OUTPUT,
    CONFIDENCE_THRESHOLD_OUTPUT,
    ENDPOINT_NAME_OUTPUT,
    MODEL,
    STATE_MACHINE_ARN_OUTPUT,
    STORAGE,
    TRANSFORM_STATE_MACHINE_ARN_OUTPUT,
    WORKFLOW,
    stack_name,
)
from tests.journey.conftest import REGION
from tests.ops.builders import PNG_BYTES, WORKFLOW_DEFINITION, capture_line
from tests.processes import default_sigint

PROJECT = "Journey"
ROOT = Path(__file__).resolve().parents[2]
BUCKET = "journey-bucket"
ENDPOINT = "journey-endpoint"
ROLE = "arn:aws:iam::123456789012:role/journey"
SUMMARY = {
    "images": 2,
    "succeeded": 1,
    "below_threshold": 1,
    "failed": {},
    "per_class": {"bicycle": 1, "motorcycle": 1},
    "results_uri": f"s3://{BUCKET}/batch/results/",
    "summary_uri": f"s3://{BUCKET}/batch/summary.json",
}
TRANSFORM_OUTPUT = {"output_uri": f"s3://{BUCKET}/transform/out/", "job_name": "transform-journey"}


def _pass_machine(sfn, name, result):
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": result, "End": True}}}
    return sfn.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)[
        "stateMachineArn"
    ]


def _stack(cloudformation, unit, outputs):
    template = {
        "Resources": {"Handle": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    cloudformation.create_stack(StackName=stack_name(PROJECT, unit), TemplateBody=json.dumps(template))


@pytest.fixture(scope="module")
def deployed(aws):
    """What a deploy leaves: the three stacks' outputs, test images, data capture and transform results."""
    s3, sfn = aws("s3"), aws("stepfunctions")
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    for key in ("dataset/validation/bike_s_1.png", "dataset/validation/low_motorbike_s_2.png"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=PNG_BYTES)
    capture = "\n".join(capture_line(p, event_id=f"e-{i}") for i, p in enumerate([[0.97, 0.03], [0.4, 0.6]]))
    s3.put_object(
        Bucket=BUCKET, Key=f"data_capture/{ENDPOINT}/AllTraffic/2026/12/04/10/c.jsonl", Body=capture
    )
    for name, probabilities in (("bike_s_1.png", [0.9, 0.1]), ("low_motorbike_s_2.png", [0.45, 0.55])):
        s3.put_object(Bucket=BUCKET, Key=f"transform/out/{name}.out", Body=json.dumps(probabilities))
    workflow = sfn.create_state_machine(
        name="journey-workflow", definition=json.dumps(WORKFLOW_DEFINITION), roleArn=ROLE
    )["stateMachineArn"]
    # Waits long enough to be interrupted; `ops run` reaches it with --prefix dataset/slow/.
    slow = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 60, "End": True}}}
    slow_arn = sfn.create_state_machine(name="journey-slow", definition=json.dumps(slow), roleArn=ROLE)
    cloudformation = aws("cloudformation")
    _stack(cloudformation, STORAGE, {BUCKET_NAME_OUTPUT: BUCKET})
    _stack(cloudformation, MODEL, {ENDPOINT_NAME_OUTPUT: ENDPOINT})
    _stack(
        cloudformation,
        WORKFLOW,
        {
            STATE_MACHINE_ARN_OUTPUT: workflow,
            CONFIDENCE_THRESHOLD_OUTPUT: "0.93",
            BATCH_STATE_MACHINE_ARN_OUTPUT: _pass_machine(sfn, "journey-batch", SUMMARY),
            TRANSFORM_STATE_MACHINE_ARN_OUTPUT: _pass_machine(sfn, "journey-transform", TRANSFORM_OUTPUT),
        },
    )
    return {"slow": slow_arn["stateMachineArn"]}


def user_environment(home: Path, endpoint_url: str, how: str) -> dict[str, str]:
    """A shell after `make deploy`: the region in AWS_REGION only, or a named profile in the AWS files only."""
    config, credentials = home / ".aws" / "config", home / ".aws" / "credentials"
    config.parent.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ENDPOINT_URL": endpoint_url,
    }
    if how == "AWS_REGION":
        config.write_text("")
        credentials.write_text("")
        return env | {"AWS_REGION": REGION, "AWS_ACCESS_KEY_ID": "user", "AWS_SECRET_ACCESS_KEY": "user"}
    config.write_text(f"[profile scones]\nregion = {REGION}\n")
    credentials.write_text("[scones]\naws_access_key_id = user\naws_secret_access_key = user\n")
    return env | {"AWS_PROFILE": "scones"}


def ops(*args: str, env: dict[str, str], cwd: Path, **popen) -> subprocess.Popen:
    command = [sys.executable, "-m", "ops", *args, "--stack-prefix", PROJECT]
    env = env | {"PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        command, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
    )


# (command line, what its output shows once it got past the region to the deployed app)
COMMANDS = {
    "run": (["run", "--no-progress", "--poll", "0.05"], "2 executions: 1 succeeded, 1 failed as designed"),
    "monitor": (
        ["monitor", "--classes", "bicycle", "motorcycle", "--out", "my plots/monitoring.png"],
        '"records": 2',
    ),
    "batch": (
        ["batch", "--prefix", "dataset/validation/", "--no-progress", "--poll", "0.05"],
        "2 images: 1 classified",
    ),
    "transform": (
        [
            "transform",
            "--prefix",
            "dataset/validation/",
            "--classes",
            "bicycle",
            "motorcycle",
            "--poll",
            "0.05",
        ],
        "transform job transform-journey: 2 images scored",
    ),
}


@pytest.fixture
def home(tmp_path):
    # A user's folder with a space in its name: every path the commands take or write lies under it.
    folder = tmp_path / "my home"
    folder.mkdir()
    return folder


@pytest.mark.parametrize("how", ["AWS_REGION", "profile"])
@pytest.mark.parametrize("name", COMMANDS)
def test_each_command_reaches_the_deployed_app(name, how, deployed, moto_server, home):
    args, shown = COMMANDS[name]

    process = ops(*args, env=user_environment(home, moto_server.endpoint_url, how), cwd=home)
    out, err = process.communicate(timeout=60)

    assert (process.returncode, "region" in err) == (0, False), err
    assert shown in out
    if name == "monitor":
        assert (home / "my plots" / "monitoring.png").stat().st_size > 0


def test_a_missing_stack_is_named_with_the_region_the_commands_chose(deployed, moto_server, home):
    env = user_environment(home, moto_server.endpoint_url, "AWS_REGION") | {"AWS_REGION": "eu-central-1"}

    process = ops("run", "--no-progress", env=env, cwd=home)
    _, err = process.communicate(timeout=60)

    assert process.returncode == 2
    assert err.startswith(
        f"error: no stack '{PROJECT}-Workflow' in region eu-central-1: deploy with `make deploy`"
    )


def test_ctrl_c_is_one_line_and_exit_130(deployed, aws, moto_server, home):
    env = user_environment(home, moto_server.endpoint_url, "AWS_REGION")
    s3 = aws("s3")
    s3.put_object(Bucket=BUCKET, Key="dataset/slow/bike_s_9.png", Body=PNG_BYTES)
    args = ["run", "--state-machine-arn", deployed["slow"], "--prefix", "dataset/slow/", "--no-progress"]

    process = ops(*args, env=env, cwd=home, preexec_fn=default_sigint)
    # Interrupt once the command is waiting on its execution, as a user would.
    sfn, deadline = aws("stepfunctions"), time.monotonic() + 30
    while (
        not sfn.list_executions(stateMachineArn=deployed["slow"])["executions"]
        and time.monotonic() < deadline
    ):
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)

    assert (process.returncode, out, err) == (130, "", "ops: interrupted\n")

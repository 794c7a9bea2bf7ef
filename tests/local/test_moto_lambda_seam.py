"""The one place the local run touches moto's internals: these tests fail loudly if moto changes it."""

from __future__ import annotations

import inspect
import io
import json
from pathlib import Path

import boto3
import moto
import pytest
from moto.awslambda_simple.models import LambdaSimpleBackend

from local_run.lambda_runtime import InProcessFunction
from local_run.moto_lambda_seam import SEAM_PARAMETERS, MotoSeamChanged, check_seam, route_invocations
from local_run.workflow import REGION


def test_moto_is_the_pinned_version_whose_seam_was_checked():
    pinned = next(
        line.split("==")[1].strip()
        for line in (Path(__file__).resolve().parents[2] / "requirements-dev.txt").read_text().splitlines()
        if line.startswith("moto")
    )
    assert moto.__version__ == pinned


def test_seam_signature_is_what_the_local_run_plugs_into():
    assert tuple(inspect.signature(LambdaSimpleBackend.invoke).parameters) == SEAM_PARAMETERS
    check_seam()


def test_a_changed_signature_stops_the_local_run(monkeypatch):
    monkeypatch.setattr(LambdaSimpleBackend, "invoke", lambda self, function_name, payload: b"")

    with pytest.raises(MotoSeamChanged, match="moto changed"), route_invocations({}):
        pass


@pytest.fixture
def probe_function(local, tmp_path) -> InProcessFunction:
    """A function in the session's moto whose handler echoes its event, or raises when asked to."""
    (tmp_path / "app.py").write_text(
        "class ProbeFailure(Exception):\n"
        "    pass\n\n"
        "def handler(event, context):\n"
        "    if event.get('fail'):\n"
        "        raise ProbeFailure('asked to fail')\n"
        "    return {'echo': event, 'function': context.function_name}\n"
    )
    client = boto3.client("lambda", region_name=REGION)
    role = boto3.client("iam", region_name=REGION).get_role(RoleName="local-run-lambda")["Role"]["Arn"]
    name = f"SeamProbe{tmp_path.name[-6:]}"
    arn = client.create_function(
        FunctionName=name, Runtime="python3.11", Role=role, Handler="app.handler", Code={"ZipFile": b"PK"}
    )["FunctionArn"]
    return InProcessFunction(
        name=name, arn=arn, code_dir=tmp_path, handler="app.handler", environment={}, log_stream=io.StringIO()
    )


def test_moto_lambda_invoke_runs_the_handler_in_process(probe_function):
    client = boto3.client("lambda", region_name=REGION)

    with route_invocations({probe_function.name: probe_function}):
        response = client.invoke(FunctionName=probe_function.arn, Payload=json.dumps({"n": 1}))

    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read()) == {"echo": {"n": 1}, "function": probe_function.name}


def test_a_handler_exception_is_a_function_error_named_after_its_class(probe_function):
    client = boto3.client("lambda", region_name=REGION)

    with route_invocations({probe_function.name: probe_function}):
        response = client.invoke(FunctionName=probe_function.name, Payload=json.dumps({"fail": True}))

    assert response["FunctionError"] == "Unhandled"
    payload = json.loads(response["Payload"].read())
    assert payload["errorType"] == "ProbeFailure"
    assert payload["errorMessage"] == "asked to fail"

"""The in-process Lambda runtime: cold start per function, its own environment, Lambda's error payloads."""

from __future__ import annotations

import io
import json
import os

import pytest

from local_run.lambda_runtime import InProcessFunction

HANDLER = """
import logging
import os
LOADED_WITH = os.environ.get("SETTING")
CALLS = []

class BadThing(Exception):
    pass

def handler(event, context):
    CALLS.append(event)
    print("log line from", context.function_name)
    if event == "raise":
        raise BadThing("it went wrong")
    if event == "bytes":
        return {"image_data": b"raw"}
    if event == "log":
        logging.getLogger("probe").info("structured", extra={"s3_key": "a.png", "confidence": 0.5})
        logging.getLogger("probe").debug("below the function's level")
    return {"setting": os.environ["SETTING"], "loaded_with": LOADED_WITH, "calls": len(CALLS)}
"""


@pytest.fixture
def code_dir(tmp_path):
    (tmp_path / "app.py").write_text(HANDLER)
    return tmp_path


def _function(code_dir, logs=None, setting="one"):
    return InProcessFunction(
        name="Probe",
        arn="arn:aws:lambda:us-east-1:123456789012:function:Probe",
        code_dir=code_dir,
        handler="app.handler",
        environment={"SETTING": setting},
        log_stream=logs or io.StringIO(),
    )


def test_the_environment_is_set_for_the_call_only(code_dir, monkeypatch):
    monkeypatch.delenv("SETTING", raising=False)

    result = _function(code_dir).invoke(json.dumps({}))

    assert not result.failed
    assert json.loads(result.payload) == {"setting": "one", "loaded_with": "one", "calls": 1}
    assert "SETTING" not in os.environ


def test_each_function_object_cold_starts_its_own_module(code_dir):
    first, second = _function(code_dir), _function(code_dir, setting="two")

    first.invoke("{}")
    warm = json.loads(first.invoke("{}").payload)
    cold = json.loads(second.invoke("{}").payload)

    assert warm["calls"] == 2
    assert cold == {"setting": "two", "loaded_with": "two", "calls": 1}


def test_an_exception_becomes_lambdas_error_payload(code_dir):
    result = _function(code_dir).invoke(json.dumps("raise"))

    assert result.failed
    error = json.loads(result.payload)
    assert error["errorType"] == "BadThing"
    assert error["errorMessage"] == "it went wrong"
    assert any("app.py" in line for line in error["stackTrace"])


def test_a_result_that_is_not_json_is_a_marshal_error(code_dir):
    result = _function(code_dir).invoke(json.dumps("bytes"))

    assert result.failed
    assert json.loads(result.payload)["errorType"] == "Runtime.MarshalError"


def test_handler_output_goes_to_the_log_stream(code_dir, capsys):
    logs = io.StringIO()

    _function(code_dir, logs).invoke("{}")

    assert logs.getvalue() == "log line from Probe\n"
    assert capsys.readouterr().out == ""


def test_logging_records_become_json_lines_in_the_log_stream_not_stderr(code_dir, capsys):
    logs = io.StringIO()

    _function(code_dir, logs).invoke(json.dumps("log"))

    records = [json.loads(line) for line in logs.getvalue().splitlines() if line.startswith("{")]
    assert len(records) == 1
    (record,) = records
    assert (record["level"], record["message"], record["logger"]) == ("INFO", "structured", "probe")
    assert (record["s3_key"], record["confidence"]) == ("a.png", 0.5)
    assert record["requestId"] and record["timestamp"].endswith("+00:00")
    assert capsys.readouterr().err == ""

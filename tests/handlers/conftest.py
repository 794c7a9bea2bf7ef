"""Handler test fixtures: fake AWS credentials, a fake Lambda context, seed events and log lines."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

EVENTS_DIR = Path(__file__).parent / "events"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
HANDLER_LOGGERS = frozenset({"serialize_image", "classify_image", "filter_inferences", "summarize_batch"})
# Attributes every LogRecord has; any other attribute came in through ``extra``.
_STANDARD_RECORD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


@dataclass(frozen=True)
class FakeLambdaContext:
    """The LambdaContext attributes a handler may read, with fixed values."""

    function_name: str = "scones-vision-handler"
    function_version: str = "$LATEST"
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:scones-vision-handler"
    memory_limit_in_mb: int = 256
    aws_request_id: str = "0f5e1a4c-6c1b-4f39-9d0e-1f2a3b4c5d6e"
    log_group_name: str = "/aws/lambda/scones-vision-handler"
    log_stream_name: str = "2026/11/26/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and a region, so no test can reach a real account."""
    for name, value in FAKE_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_REGION", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def _moto() -> Iterator[None]:
    """One moto per test module: starting one costs more than most tests."""
    with pytest.MonkeyPatch.context() as environment:
        for name, value in FAKE_CREDENTIALS.items():
            environment.setenv(name, value)
        with mock_aws():
            yield


@pytest.fixture
def moto_s3(_moto: None, aws_credentials: None) -> Iterator[Any]:
    """A moto S3 client; each test's buckets are removed after it."""
    client = boto3.client("s3", region_name="us-east-1")
    yield client
    for bucket in client.list_buckets()["Buckets"]:
        for version in client.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
            client.delete_object(Bucket=bucket["Name"], Key=version["Key"])
        client.delete_bucket(Bucket=bucket["Name"])


@pytest.fixture
def load_event() -> Any:
    """Return a fresh copy of a seed event from tests/handlers/events/<name>.json."""

    def load(name: str) -> dict[str, Any]:
        return json.loads((EVENTS_DIR / f"{name}.json").read_text())

    return load


@pytest.fixture
def log_lines(caplog: pytest.LogCaptureFixture) -> Any:
    """Return the handlers' log records so far, each as the JSON object Lambda's JSON log format prints.

    Like the runtime, every record attribute that came in through ``extra`` becomes a top-level key; the JSON
    round trip fails the test if a field could not be printed.
    """
    caplog.set_level(logging.INFO)

    def read() -> list[dict[str, Any]]:
        return [
            json.loads(
                json.dumps(
                    {
                        "level": record.levelname,
                        "logger": record.name,
                        "message": record.getMessage(),
                        **{k: v for k, v in vars(record).items() if k not in _STANDARD_RECORD_ATTRIBUTES},
                    }
                )
            )
            for record in caplog.records
            if record.name in HANDLER_LOGGERS
        ]

    return read


# The endpoint's model as DescribeEndpoint -> DescribeEndpointConfig -> DescribeModel answer for it (served_model.py);
# tests/handlers/test_served_model.py tests that lookup itself.
SERVED_MODEL_NAME = "model-a1b2c3"
SERVED_MODEL_PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/scones-vision/3"


def served_model_responses(endpoint_name: str, model_name: str = SERVED_MODEL_NAME) -> list[tuple[str, dict]]:
    """(operation, response) in the order the lookup calls them."""
    variant = {"VariantName": "AllTraffic", "ModelName": model_name}
    container = {"ModelPackageName": SERVED_MODEL_PACKAGE}
    return [
        (
            "describe_endpoint",
            {**_DESCRIBED, "EndpointName": endpoint_name, "EndpointConfigName": "config-1"},
        ),
        ("describe_endpoint_config", {**_DESCRIBED_CONFIG, "ProductionVariants": [variant]}),
        ("describe_model", {**_DESCRIBED_MODEL, "ModelName": model_name, "PrimaryContainer": container}),
    ]


_CREATED = {"CreationTime": "2026-12-04T00:00:00Z"}
_DESCRIBED = {
    "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/e",
    "EndpointStatus": "InService",
    "LastModifiedTime": "2026-12-04T00:00:00Z",
    **_CREATED,
}
_DESCRIBED_CONFIG = {
    "EndpointConfigName": "config-1",
    "EndpointConfigArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint-config/config-1",
    **_CREATED,
}
_DESCRIBED_MODEL = {"ModelArn": "arn:aws:sagemaker:us-east-1:123456789012:model/m", **_CREATED}


@functools.cache
def _sagemaker_client() -> Any:
    """One client for the session: each test's Stubber starts from an empty queue."""
    return boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


@pytest.fixture(autouse=True)
def served_model(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The classifier's model lookup answered by a Stubber (twice: a test may switch endpoints), from an empty cache."""
    from botocore.stub import Stubber

    from tests.lambda_handlers import load_handler_module

    classify = load_handler_module("classify_image")
    client = _sagemaker_client()
    with Stubber(client) as stubber:
        for _ in range(2):
            for operation, response in served_model_responses("scones-vision-endpoint"):
                stubber.add_response(operation, response)
        monkeypatch.setattr(classify, "_sagemaker_client", lambda: client)
        monkeypatch.setattr(classify, "_SERVED_MODEL", classify.served_model.ServedModelCache())
        yield

"""The three handlers in workflow order, each state passed through JSON as Step Functions passes it."""

from __future__ import annotations

import base64
import io
import json

import boto3
import pytest
from botocore.response import StreamingBody
from botocore.stub import Stubber
from moto import mock_aws

from tests.handlers.conftest import SERVED_MODEL_NAME
from tests.handlers.images import jpeg_bytes, noisy_jpeg_bytes
from tests.lambda_handlers import load_handler_module

serialize_app = load_handler_module("serialize_image")
classify_app = load_handler_module("classify_image")
filter_app = load_handler_module("filter_inferences")


@pytest.fixture
def workflow_environment(aws_credentials, monkeypatch):
    monkeypatch.setenv("ENDPOINT_NAME", "scones-vision-endpoint")
    monkeypatch.setenv("CLASS_NAMES", '["bicycle", "motorcycle"]')
    monkeypatch.setenv("THRESHOLD", "0.93")
    monkeypatch.setenv("METRICS_NAMESPACE", "SconesVision")
    monkeypatch.setenv("ENDPOINT_MODE", "realtime")
    for app in (serialize_app, classify_app):
        app._s3_client.cache_clear()
    yield
    for app in (serialize_app, classify_app):
        app._s3_client.cache_clear()


@pytest.mark.parametrize(
    ("image", "by_reference"),
    [(jpeg_bytes(), False), (noisy_jpeg_bytes((1200, 900)), True)],
    ids=["inline", "by-reference"],
)
def test_a_confident_image_flows_through_all_three_handlers(
    workflow_environment, monkeypatch, load_event, lambda_context, image, by_reference
):
    workflow_input = {**load_event("serialize_input"), "run_id": "chain-1"}
    sagemaker_runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
    monkeypatch.setattr(classify_app, "_sagemaker_runtime_client", lambda: sagemaker_runtime)
    answer = b"[0.96, 0.04]"

    with mock_aws(), Stubber(sagemaker_runtime) as stubber:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=workflow_input["s3_bucket"])
        etag = s3.put_object(Bucket=workflow_input["s3_bucket"], Key=workflow_input["s3_key"], Body=image)[
            "ETag"
        ]
        stubber.add_response(
            "invoke_endpoint",
            {"Body": StreamingBody(io.BytesIO(answer), len(answer))},
            {
                "EndpointName": "scones-vision-endpoint",
                "ContentType": "image/jpeg",
                "Accept": "application/json",
                "Body": image,
            },
        )

        states = [json.loads(json.dumps(serialize_app.handler(workflow_input, lambda_context)))]
        states.append(json.loads(json.dumps(classify_app.handler(states[-1], lambda_context))))
        states.append(filter_app.handler(states[-1], lambda_context))
        stubber.assert_no_pending_responses()

    passed = {"image_data": base64.b64encode(image).decode("ascii")}
    if by_reference:
        passed = {
            "image_ref": {
                "s3_bucket": workflow_input["s3_bucket"],
                "s3_key": workflow_input["s3_key"],
                "etag": etag,
            }
        }
        # By reference, every state stays small: no base64 image in any of them.
        assert all(len(json.dumps(state)) < 1_000 for state in states)
    assert states[-1] == {
        **workflow_input,
        **passed,
        "inferences": [0.96, 0.04],
        "predicted_class": "bicycle",
        "top_confidence": 0.96,
        "model_name": SERVED_MODEL_NAME,
        "model_version": 3,
    }

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
from tests.handlers.images import jpeg_bytes
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
    serialize_app._s3_client.cache_clear()
    yield
    serialize_app._s3_client.cache_clear()


def test_a_confident_image_flows_through_all_three_handlers(
    workflow_environment, monkeypatch, load_event, lambda_context
):
    workflow_input = {**load_event("serialize_input"), "run_id": "chain-1"}
    image = jpeg_bytes()
    sagemaker_runtime = boto3.client("sagemaker-runtime", region_name="us-east-1")
    monkeypatch.setattr(classify_app, "_sagemaker_runtime_client", lambda: sagemaker_runtime)
    answer = b"[0.96, 0.04]"

    with mock_aws(), Stubber(sagemaker_runtime) as stubber:
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=workflow_input["s3_bucket"])
        s3.put_object(Bucket=workflow_input["s3_bucket"], Key=workflow_input["s3_key"], Body=image)
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

        state = json.loads(json.dumps(serialize_app.handler(workflow_input, lambda_context)))
        state = json.loads(json.dumps(classify_app.handler(state, lambda_context)))
        final_state = filter_app.handler(state, lambda_context)
        stubber.assert_no_pending_responses()

    assert final_state == {
        **workflow_input,
        "image_data": base64.b64encode(image).decode("ascii"),
        "inferences": [0.96, 0.04],
        "predicted_class": "bicycle",
        "top_confidence": 0.96,
        "model_name": SERVED_MODEL_NAME,
        "model_version": 3,
    }

"""The emulator as botocore sees it: a real sagemaker-runtime client against 127.0.0.1, and its data capture."""

from __future__ import annotations

import copy
import dataclasses
import json
import socket
import uuid
from datetime import UTC, datetime
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local_run.sagemaker_emulator import (
    MAX_REQUEST_BYTES,
    CaptureWriter,
    DataCaptureSettings,
    SageMakerRuntimeEmulator,
)
from local_run.template import ACCOUNT_ID, REGION, TemplateError
from ops.assembly import CloudAssembly
from ops.capture import parse_capture_line
from tests.cloud_assembly import write_cloud_assembly
from tests.handlers.images import png_claiming_size, png_with_garbage_image_data
from tests.lambda_handlers import load_handler_module


def _client(url: str):
    return boto3.client(
        "sagemaker-runtime",
        region_name=REGION,
        endpoint_url=url,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture(scope="module")
def image(dataset) -> bytes:
    dataset_dir, _ = dataset
    return next((dataset_dir / "test").glob("*.png")).read_bytes()


def _capture_keys(local, endpoint_name: str) -> set[str]:
    prefix = f"data_capture/{endpoint_name}/AllTraffic/"
    pages = local.s3.get_paginator("list_objects_v2").paginate(Bucket=local.bucket, Prefix=prefix)
    return {entry["Key"] for page in pages for entry in page.get("Contents", [])}


def test_invoke_endpoint_answers_probabilities_and_captures_the_request(
    local, image, standin, workflow_template
):
    endpoint = workflow_template.endpoint_name
    keys_before = _capture_keys(local, endpoint)

    response = _client(local.emulator.url).invoke_endpoint(
        EndpointName=endpoint, ContentType="image/png", Accept="application/json", Body=image
    )

    probabilities = json.loads(response["Body"].read())
    assert probabilities == pytest.approx(standin.predict(image))
    assert response["ContentType"] == "application/json"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    (new_key,) = _capture_keys(local, endpoint) - keys_before
    assert new_key.startswith(f"data_capture/{endpoint}/AllTraffic/")
    year, month, day, hour, file_name = new_key.split("/")[3:]
    assert (len(year), len(month), len(day), len(hour)) == (4, 2, 2, 2)
    assert file_name.endswith(".jsonl")
    lines = local.s3.get_object(Bucket=local.bucket, Key=new_key)["Body"].read().decode().splitlines()
    assert len(lines) == 1
    record = parse_capture_line(lines[0])
    assert record.input_data == image
    assert record.input_content_type == "image/png"
    assert list(record.probabilities) == pytest.approx(probabilities)
    raw = json.loads(lines[0])
    assert raw["captureData"]["endpointInput"]["encoding"] == "BASE64"
    assert raw["captureData"]["endpointOutput"] == {
        "observedContentType": "application/json",
        "mode": "OUTPUT",
        "data": json.dumps(probabilities),
        "encoding": "JSON",
    }
    assert raw["eventVersion"] == "0"
    assert raw["eventMetadata"]["inferenceTime"].endswith("Z")


def test_unknown_endpoint_is_a_validation_error(local, image):
    client = _client(local.emulator.url)

    with pytest.raises(client.exceptions.ValidationError) as raised:
        client.invoke_endpoint(EndpointName="no-such-endpoint", ContentType="image/png", Body=image)

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert raised.value.response["Error"]["Message"] == (
        f"Endpoint no-such-endpoint of account {ACCOUNT_ID} not found."
    )


def test_model_error_carries_the_original_status(local, workflow_template, image):
    client = _client(local.emulator.url)
    keys_before = _capture_keys(local, workflow_template.endpoint_name)
    local.emulator.faults.append("model_error")

    with pytest.raises(client.exceptions.ModelError) as injected:
        client.invoke_endpoint(
            EndpointName=workflow_template.endpoint_name, ContentType="image/png", Body=image
        )
    with pytest.raises(client.exceptions.ModelError) as undecodable:
        client.invoke_endpoint(
            EndpointName=workflow_template.endpoint_name, ContentType="image/png", Body=b"x"
        )

    assert injected.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert injected.value.response["OriginalStatusCode"] == 500
    assert injected.value.response["LogStreamArn"].startswith(f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:")
    assert undecodable.value.response["OriginalStatusCode"] == 400
    assert "cannot decode" in undecodable.value.response["OriginalMessage"]
    assert _capture_keys(local, workflow_template.endpoint_name) == keys_before, "failures are not captured"


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        (png_with_garbage_image_data(), "broken data stream"),
        # Pillow refuses to allocate this many pixels with DecompressionBombError, which is no OSError.
        (png_claiming_size(20_000, 20_000), "exceeds limit"),
    ],
    ids=["garbage-image-data", "decompression-bomb"],
)
def test_an_image_the_model_cannot_decode_is_a_model_error(local, workflow_template, body, cause):
    client = _client(local.emulator.url)
    invocations_before = local.emulator.invocations

    with pytest.raises(client.exceptions.ModelError) as raised:
        client.invoke_endpoint(
            EndpointName=workflow_template.endpoint_name, ContentType="image/png", Body=body
        )

    response = raised.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert response["Error"]["Code"] == "ModelError"
    assert response["OriginalStatusCode"] == 400
    assert response["OriginalMessage"].startswith("cannot decode the request body as an image: ")
    assert cause in response["OriginalMessage"]
    assert response["Error"]["Message"].startswith("Received client error (400) from primary with message")
    log_group = f"/aws/sagemaker/Endpoints/{workflow_template.endpoint_name}"
    assert response["LogStreamArn"] == f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:{log_group}"
    assert local.emulator.invocations - invocations_before == 1


def test_a_model_that_crashes_is_a_model_error_not_a_dropped_connection(image):
    def crashing_model(body: bytes) -> list[float]:
        raise RuntimeError("CUDA out of memory")

    with SageMakerRuntimeEmulator(
        {"crashing": crashing_model}, capture=None, account_id=ACCOUNT_ID, region=REGION
    ) as emulator:
        client = _client(emulator.url)
        with pytest.raises(client.exceptions.ModelError) as raised:
            client.invoke_endpoint(EndpointName="crashing", ContentType="image/png", Body=image)
        # The server is still answering after the crash.
        with pytest.raises(client.exceptions.ModelError):
            client.invoke_endpoint(EndpointName="crashing", ContentType="image/png", Body=image)

    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 424
    assert raised.value.response["OriginalStatusCode"] == 500
    assert raised.value.response["OriginalMessage"] == "RuntimeError: CUDA out of memory"
    assert raised.value.response["Error"]["Message"].startswith("Received server error (500) from primary")


def test_throttling_is_sagemakers_throttling_exception(local, workflow_template, image):
    client = _client(local.emulator.url)
    local.emulator.faults.append("throttle")

    with pytest.raises(ClientError) as raised:
        client.invoke_endpoint(
            EndpointName=workflow_template.endpoint_name, ContentType="image/png", Body=image
        )

    assert raised.value.response["Error"]["Code"] == "ThrottlingException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_binds_to_localhost_and_frees_its_port_on_exit():
    with SageMakerRuntimeEmulator({}, capture=None, account_id=ACCOUNT_ID, region=REGION) as emulator:
        address = urlsplit(emulator.url)
        assert address.hostname == "127.0.0.1"
        with pytest.raises(_client(emulator.url).exceptions.ValidationError):
            _client(emulator.url).invoke_endpoint(EndpointName="none", Body=b"")

    with pytest.raises(ConnectionRefusedError), socket.create_connection((address.hostname, address.port), 1):
        pass


def _keys(s3, bucket: str) -> list[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [entry["Key"] for page in pages for entry in page.get("Contents", [])]


def _with_data_capture(template, folder, change):
    """The template, read from a copy of its cloud assembly's templates with `change` applied to the endpoint
    config's DataCaptureConfig."""
    source = template.assembly
    documents = {name: copy.deepcopy(source.template(name)) for name in source.stack_names}
    for document in documents.values():
        for resource in document.get("Resources", {}).values():
            if resource["Type"] == "AWS::SageMaker::EndpointConfig":
                change(resource["Properties"]["DataCaptureConfig"])
    return dataclasses.replace(template, assembly=CloudAssembly(write_cloud_assembly(folder, documents)))


def _sampled_elsewhere_input_only(capture: dict) -> None:
    capture["InitialSamplingPercentage"] = 20
    capture["CaptureOptions"] = [{"CaptureMode": "Input"}]
    # "s3://", the project bucket's name, then the key prefix: only the prefix changes.
    capture["DestinationS3Uri"]["Fn::Join"][1][-1] = "/elsewhere/captured"


@pytest.mark.parametrize(
    ("change", "declared"),
    [
        (lambda capture: None, DataCaptureSettings(100, "data_capture/", frozenset({"Input", "Output"}))),
        (_sampled_elsewhere_input_only, DataCaptureSettings(20, "elsewhere/captured/", frozenset({"Input"}))),
        (lambda capture: capture.update(EnableCapture=False), None),
    ],
    ids=["as-synthesized", "sampling-destination-and-mode", "EnableCapture-false"],
)
def test_the_emulator_follows_the_endpoint_configs_data_capture(
    workflow_template, tmp_path, change, declared
):
    template = _with_data_capture(workflow_template, tmp_path, change)

    assert template.data_capture("local") == declared


def test_a_capture_destination_outside_the_project_bucket_is_a_template_error(workflow_template, tmp_path):
    template = _with_data_capture(
        workflow_template, tmp_path, lambda capture: capture.update(DestinationS3Uri="s3://another-bucket/x")
    )

    with pytest.raises(
        TemplateError, match=r"DestinationS3Uri 's3://another-bucket/x' is not in the project"
    ):
        template.data_capture("local")


def test_only_the_sampled_share_and_the_declared_modes_are_captured(local):
    bucket = f"capture-{uuid.uuid4().hex[:12]}"
    local.s3.create_bucket(Bucket=bucket)
    draws = iter([0.19, 0.2])  # uniform in [0, 1): inside, then just outside a 20% share
    writer = CaptureWriter(
        local.s3,
        bucket,
        DataCaptureSettings(20, "elsewhere/", frozenset({"Input"})),
        sample=lambda: next(draws),
    )
    invocation = (
        "an-endpoint",
        b"image bytes",
        "image/png",
        b"[0.25, 0.75]",
        datetime(2026, 11, 29, 10, 30, tzinfo=UTC),
    )

    sampled = writer.write(*invocation)
    left_out = writer.write(*invocation)

    assert left_out is None
    assert _keys(local.s3, bucket) == [sampled]
    assert sampled.startswith("elsewhere/an-endpoint/AllTraffic/2026/11/29/10/30-00-000-")
    record = json.loads(local.s3.get_object(Bucket=bucket, Key=sampled)["Body"].read())
    assert record["captureData"] == {
        "endpointInput": {
            "observedContentType": "image/png",
            "mode": "INPUT",
            "data": "aW1hZ2UgYnl0ZXM=",
            "encoding": "BASE64",
        }
    }


@pytest.mark.parametrize("mode", ["realtime", "serverless"])
def test_a_body_over_the_endpoints_payload_limit_is_sagemakers_413(mode):
    limit = MAX_REQUEST_BYTES[mode]
    seen = []

    def model(body: bytes) -> list[float]:
        seen.append(len(body))
        return [1.0, 0.0]

    with SageMakerRuntimeEmulator(
        {"photos": model}, capture=None, account_id=ACCOUNT_ID, region=REGION, max_request_bytes=limit
    ) as emulator:
        client = _client(emulator.url)
        client.invoke_endpoint(EndpointName="photos", ContentType="image/jpeg", Body=bytes(limit))
        with pytest.raises(ClientError) as raised:
            client.invoke_endpoint(EndpointName="photos", ContentType="image/jpeg", Body=bytes(limit + 1))

    # As SageMaker answers (aws/sagemaker-python-sdk#171): HTTP 413 and no error code, so botocore says "413".
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert raised.value.response["Error"] == {
        "Code": "413",
        "Message": f"HTTP content length exceeded {limit} bytes.",
    }
    assert seen == [limit]
    assert emulator.invocations == 1


def test_the_emulator_and_the_serializer_hold_the_same_payload_limits():
    serializer = load_handler_module("serialize_image")

    assert MAX_REQUEST_BYTES == serializer.MAX_REQUEST_BYTES


def _with_serverless_variant(variant: dict) -> None:
    for name in ("InstanceType", "InitialInstanceCount", "VolumeSizeInGB"):
        variant.pop(name, None)
    variant["ServerlessConfig"] = {"MemorySizeInMB": 3072, "MaxConcurrency": 5}


def test_the_endpoint_mode_comes_from_the_endpoint_configs_variant(workflow_template, tmp_path):
    source = workflow_template.assembly
    documents = {name: copy.deepcopy(source.template(name)) for name in source.stack_names}
    for document in documents.values():
        for resource in document.get("Resources", {}).values():
            if resource["Type"] == "AWS::SageMaker::EndpointConfig":
                _with_serverless_variant(resource["Properties"]["ProductionVariants"][0])
    serverless = dataclasses.replace(
        workflow_template, assembly=CloudAssembly(write_cloud_assembly(tmp_path, documents))
    )

    assert (workflow_template.endpoint_mode, serverless.endpoint_mode) == ("realtime", "serverless")

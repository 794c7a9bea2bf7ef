"""The emulator as botocore sees it: a real sagemaker-runtime client against 127.0.0.1, and its data capture."""

from __future__ import annotations

import json
import socket
from urllib.parse import urlsplit

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from local_run.sagemaker_emulator import SageMakerRuntimeEmulator
from local_run.workflow import ACCOUNT_ID, REGION
from ops.capture import iter_capture_records, parse_capture_line
from tests.handlers.images import png_claiming_size, png_with_garbage_image_data


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
    local.emulator.faults.model_error_next()

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
    local.emulator.faults.throttle_next()

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


def test_capture_records_read_back_with_the_monitoring_reader(local, workflow_template):
    records = list(
        iter_capture_records(local.s3, local.bucket, f"data_capture/{workflow_template.endpoint_name}/")
    )

    assert len(records) == local.capture.records_written

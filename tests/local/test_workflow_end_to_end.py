"""The synthesized state machine, run end to end by moto's interpreter with the three synthesized handlers."""

from __future__ import annotations

import base64
import json

import pytest

from local_run.photos import large_photo
from local_run.sagemaker_emulator import MAX_REQUEST_BYTES
from local_run.standin_model import read_split
from ops.capture import iter_capture_records
from tests.handlers.images import (
    heic_bytes,
    png_bytes_of_length,
    png_claiming_size,
    png_with_garbage_image_data,
)
from tests.local.conftest import execute, put_object

CLASSIFY_STATE = "ClassifyImage"


@pytest.fixture(scope="module")
def test_images(dataset) -> dict[int, list[bytes]]:
    dataset_dir, _ = dataset
    paths, labels = read_split(dataset_dir, "test")
    by_label: dict[int, list[bytes]] = {}
    for path, label in zip(paths, labels, strict=True):
        by_label.setdefault(int(label), []).append(path.read_bytes())
    return by_label


@pytest.fixture(scope="module")
def threshold(workflow_template) -> float:
    return workflow_template.threshold


def test_confident_image_succeeds_with_the_expected_output(
    local, standin, test_images, threshold, workflow_template
):
    image = test_images[1][0]
    expected = standin.predict(image)
    assert max(expected) >= threshold
    key = put_object(local, image)

    execution = execute(local, key)

    assert execution.status == "SUCCEEDED", execution.description
    output = json.loads(execution.description["output"])
    assert output["s3_bucket"] == local.bucket and output["s3_key"] == key
    assert base64.b64decode(output["image_data"]) == image
    assert output["inferences"] == pytest.approx(expected)
    assert output["predicted_class"] == workflow_template.class_names[1]
    assert execution.entered_states() == [
        "SerializeImage",
        CLASSIFY_STATE,
        "FilterInferences",
        "PublishClassified",
        "VehicleClassified",
    ]
    assert len(execution.events_of("LambdaFunctionSucceeded")) == 3
    assert not execution.events_of("LambdaFunctionFailed")


def test_below_threshold_fails_with_threshold_confidence_not_met(
    local, ambiguous_image, standin, threshold, workflow_template
):
    execution = execute(local, put_object(local, ambiguous_image))

    assert execution.status == "FAILED"
    assert execution.description["error"] == "ThresholdConfidenceNotMet"
    (failure,) = execution.events_of("LambdaFunctionFailed")
    assert failure["lambdaFunctionFailedEventDetails"]["error"] == "ThresholdConfidenceNotMet"
    assert execution.entered_states()[-1] == "ConfidenceBelowThreshold"
    (failed,) = execution.events_of("ExecutionFailed")
    assert failed["executionFailedEventDetails"]["error"] == "ThresholdConfidenceNotMet"
    # The Fail state's cause is the Lambda error; its errorMessage is the filter's JSON (docs/CONTRACTS.md).
    lambda_error = json.loads(failed["executionFailedEventDetails"]["cause"])
    details = json.loads(lambda_error["errorMessage"])
    assert set(details) == {"message", "top_confidence", "predicted_class", "predicted_index", "threshold"}
    assert details["top_confidence"] == pytest.approx(max(standin.predict(ambiguous_image)))
    assert details["top_confidence"] < details["threshold"] == threshold
    assert details["predicted_class"] in workflow_template.class_names
    assert details["message"].startswith("top confidence 0.")


@pytest.mark.parametrize(
    ("body", "error", "failing_state"),
    [
        (b"plain text, not an image", "NotAnImage", "SerializeImage"),
        (png_claiming_size(20_000, 20_000), "NotAnImage", "SerializeImage"),
        (None, "ImageNotFound", "SerializeImage"),
        (heic_bytes(), "UnsupportedImageFormat", "SerializeImage"),
        (png_bytes_of_length(6_291_457), "ImageTooLarge", "SerializeImage"),
    ],
    ids=["non-image object", "decompression bomb", "missing object", "heic", "over the payload limit"],
)
def test_bad_input_fails_with_its_own_error_name(local, body, error, failing_state):
    key = put_object(local, body) if body is not None else "dataset/validation/no-such-object.png"

    execution = execute(local, key)

    assert execution.status == "FAILED"
    assert execution.description["error"] == error
    (failure,) = execution.events_of("LambdaFunctionFailed")
    assert failure["lambdaFunctionFailedEventDetails"]["error"] == error
    assert json.loads(failure["lambdaFunctionFailedEventDetails"]["cause"])["errorType"] == error
    assert execution.entered_states() == [failing_state, "ImageRejected"]
    assert execution.events_of("ExecutionFailed")[0]["executionFailedEventDetails"]["error"] == error


def test_endpoint_error_fails_with_endpoint_error(local, test_images):
    local.emulator.faults.append("model_error")

    execution = execute(local, put_object(local, test_images[0][0]))

    assert execution.status == "FAILED"
    assert execution.description["error"] == "EndpointError"
    (failure,) = execution.events_of("LambdaFunctionFailed")
    assert failure["lambdaFunctionFailedEventDetails"]["error"] == "EndpointError"
    assert "ModelError" in failure["lambdaFunctionFailedEventDetails"]["cause"]
    assert execution.entered_states() == ["SerializeImage", CLASSIFY_STATE, "EndpointFailed"]


def test_an_image_the_model_cannot_decode_fails_with_endpoint_error_at_once(local):
    invocations_before = local.emulator.invocations

    execution = execute(local, put_object(local, png_with_garbage_image_data()))

    assert execution.status == "FAILED"
    assert execution.description["error"] == "EndpointError"
    assert execution.entered_states() == ["SerializeImage", CLASSIFY_STATE, "EndpointFailed"]
    (failure,) = execution.events_of("LambdaFunctionFailed")
    details = failure["lambdaFunctionFailedEventDetails"]
    assert details["error"] == "EndpointError"
    message = json.loads(details["cause"])["errorMessage"]
    assert "answered ModelError (HTTP 424)" in message
    assert "the model container answered HTTP 400: cannot decode the request body as an image" in message
    # One call, no retry: a model error is no throttle.
    assert local.emulator.invocations - invocations_before == 1
    assert len(execution.events_of("LambdaFunctionScheduled")) == 2
    (failed,) = execution.events_of("ExecutionFailed")
    assert failed["executionFailedEventDetails"]["error"] == "EndpointError"


def test_transient_throttle_is_retried_by_the_definition_then_succeeds(local, test_images):
    invocations_before = local.emulator.invocations
    local.emulator.faults.append("throttle")

    execution = execute(local, put_object(local, test_images[0][1]))

    assert execution.status == "SUCCEEDED", execution.description
    assert execution.entered_states().count(CLASSIFY_STATE) == 1
    classify_attempts = [
        event
        for event in execution.events_of("LambdaFunctionScheduled")
        if "ClassifyImage" in event["lambdaFunctionScheduledEventDetails"]["resource"]
    ]
    assert len(classify_attempts) == 2
    (failure,) = execution.events_of("LambdaFunctionFailed")
    assert failure["lambdaFunctionFailedEventDetails"]["error"] == "EndpointThrottled"
    assert local.emulator.invocations - invocations_before == 2


def test_each_invocation_writes_one_capture_record_of_the_exact_image(local, test_images, workflow_template):
    image = test_images[0][2]
    prefix = f"data_capture/{workflow_template.endpoint_name}/AllTraffic/"
    before = list(iter_capture_records(local.s3, local.bucket, prefix))

    execution = execute(local, put_object(local, image))

    after = list(iter_capture_records(local.s3, local.bucket, prefix))
    assert execution.status == "SUCCEEDED"
    (record,) = [record for record in after if record.event_id not in {old.event_id for old in before}]
    assert record.input_data == image
    assert record.input_content_type == "image/png"
    assert list(record.probabilities) == pytest.approx(
        json.loads(execution.description["output"])["inferences"]
    )


def test_a_multi_megabyte_photo_passes_by_reference_and_is_classified(
    local, standin, test_images, workflow_template
):
    photo = large_photo(test_images[1][0])
    assert 2_000_000 < len(photo) <= min(MAX_REQUEST_BYTES.values())
    key = put_object(local, photo, suffix=".jpg")
    etag = local.s3.head_object(Bucket=local.bucket, Key=key)["ETag"]

    execution = execute(local, key)

    assert execution.status == "SUCCEEDED", execution.description
    output = json.loads(execution.description["output"])
    assert "image_data" not in output
    assert output["image_ref"] == {"s3_bucket": local.bucket, "s3_key": key, "etag": etag}
    assert output["predicted_class"] == workflow_template.class_names[1]
    assert output["inferences"] == pytest.approx(standin.predict(photo))
    # Every state stays small: the photo travels through S3, never through the state.
    states = [
        details.get("input") or details.get("output")
        for event in execution.events
        for name, details in event.items()
        if name in ("stateEnteredEventDetails", "stateExitedEventDetails")
    ]
    assert states and max(len(state) for state in states) < 1_000
    # The endpoint received the photo itself, and captured it.
    prefix = f"data_capture/{workflow_template.endpoint_name}/AllTraffic/"
    assert any(record.input_data == photo for record in iter_capture_records(local.s3, local.bucket, prefix))

"""Test data in the project's real formats: a workflow stand-in, SageMaker data capture lines and files, the AWS
responses the ops tools read, and `ops monitor`'s arguments."""

import base64
import datetime
import json
from pathlib import Path

from data_prep.manifest import Manifest

PNG_BYTES = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24

# Stands in for serialize -> classify -> filter with Pass/Fail states, routed on the key, so moto's
# interpreter produces the three kinds of outcome without Lambda: classified, rejected by the filter for
# low confidence (after a state whose output carries the prediction), and an unexpected error.
WORKFLOW_DEFINITION = {
    "StartAt": "Serialize",
    "States": {
        "Serialize": {
            "Type": "Choice",
            "Choices": [
                {"Variable": "$.s3_key", "StringMatches": "*missing*", "Next": "ImageNotFound"},
                {"Variable": "$.s3_key", "StringMatches": "*low*", "Next": "Classify unsure"},
            ],
            "Default": "Classify sure",
        },
        "Classify sure": {
            "Type": "Pass",
            "Parameters": {
                "s3_bucket.$": "$.s3_bucket",
                "s3_key.$": "$.s3_key",
                "inferences": [0.97, 0.03],
                "predicted_class": "bicycle",
            },
            "Next": "Filter passes",
        },
        "Classify unsure": {
            "Type": "Pass",
            "Parameters": {
                "s3_bucket.$": "$.s3_bucket",
                "s3_key.$": "$.s3_key",
                "inferences": [0.4, 0.6],
                "predicted_class": "motorcycle",
            },
            "Next": "Filter rejects",
        },
        "Filter passes": {"Type": "Succeed"},
        "Filter rejects": {
            "Type": "Fail",
            "Error": "ThresholdConfidenceNotMet",
            "Cause": "confidence 0.6 is below the threshold 0.93",
        },
        "ImageNotFound": {"Type": "Fail", "Error": "ImageNotFound", "Cause": "no such key"},
    },
}


def capture_line(
    probabilities,
    *,
    event_id="e-1",
    inference_time="2026-11-26T10:00:00Z",
    input_bytes=PNG_BYTES,
    output_encoding="JSON",
) -> str:
    """One data capture record exactly as CONTRACTS.md "Data capture record" shows it."""
    if output_encoding == "JSON":
        output_data, content_type = json.dumps(list(probabilities)), "application/json"
    elif output_encoding == "CSV":
        output_data, content_type = ",".join(str(value) for value in probabilities), "text/csv"
    else:
        output_data = base64.b64encode(json.dumps(list(probabilities)).encode()).decode()
        content_type = "application/json"
    capture_data = {
        "endpointOutput": {
            "observedContentType": content_type,
            "mode": "OUTPUT",
            "data": output_data,
            "encoding": output_encoding,
        }
    }
    if input_bytes is not None:
        capture_data["endpointInput"] = {
            "observedContentType": "image/png",
            "mode": "INPUT",
            "data": base64.b64encode(input_bytes).decode(),
            "encoding": "BASE64",
        }
    return json.dumps(
        {
            "captureData": capture_data,
            "eventMetadata": {"eventId": event_id, "inferenceTime": inference_time},
            "eventVersion": "0",
        }
    )


def write_manifest(folder, classes=("bicycle", "motorcycle")) -> None:
    """A manifest.json that data_prep's Manifest.load accepts."""
    manifest = Manifest(
        classes=tuple(classes),
        splits={split: dict.fromkeys(classes, 1) for split in ("train", "test")},
        source={"name": "cifar-100-python.tar.gz", "md5": "eb9058c3a382ffc7106e4002c42a8d85"},
        content_hash="0" * 64,
        synthetic=True,
        tool_version="0.1.0",
    )
    (folder / Manifest.FILENAME).write_text(manifest.to_json())


def stack_description(stack_name: str, outputs: dict[str, str]) -> dict:
    """A DescribeStacks response for one deployed stack with these outputs."""
    return {
        "Stacks": [
            {
                "StackName": stack_name,
                "CreationTime": "2026-11-26T10:00:00Z",
                "StackStatus": "CREATE_COMPLETE",
                "Outputs": [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()],
            }
        ]
    }


def execution_description(
    status: str, *, execution_arn: str, state_machine_arn: str, started: datetime.datetime, **extra
) -> dict:
    """A DescribeExecution response; `extra` adds output, error, cause or a map run as the status calls for."""
    return {
        "executionArn": execution_arn,
        "stateMachineArn": state_machine_arn,
        "status": status,
        "startDate": started,
        **extra,
    }


# Where the endpoint's data capture lands: `make monitor` reads every file below it.
CAPTURE_PREFIX = "data_capture/scones-endpoint/"


def put_capture(s3, bucket: str, lines: list[str]) -> str:
    """One capture file of these lines under CAPTURE_PREFIX, as SageMaker names it; returns its key."""
    key = f"{CAPTURE_PREFIX}AllTraffic/2026/11/26/10/capture.jsonl"
    s3.put_object(Bucket=bucket, Key=key, Body="\n".join(lines).encode())
    return key


def monitor_args(bucket: str, out: Path, *, threshold: str) -> list[str]:
    """`python -m ops monitor` over CAPTURE_PREFIX for the two demo classes, writing its plot to `out`."""
    return [
        "monitor",
        "--bucket",
        bucket,
        "--prefix",
        CAPTURE_PREFIX,
        "--threshold",
        threshold,
        "--classes",
        "bicycle",
        "motorcycle",
        "--out",
        str(out),
    ]

"""The second place that touches moto's internals: its Distributed Map ResultWriter, completed.

moto 5.2.5's `ResourceEvalS3._handle_put_object` (the ResultWriter's `s3:putObject`) pops the map's results off
the interpreter's stack unused ("TODO: results") and writes a `manifest.json` with empty `ResultFiles`.
`write_result_files` replaces it, while active, with one that writes what Step Functions writes with
`WriterConfig` JSONL / COMPACT (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html):
the children's outputs as JSON Lines in `SUCCEEDED_0.json`, and the manifest listing it, under
`<Prefix><map run id>/`; the map state's output stays `{"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}`.
moto turns a failed child into a `null` result and keeps no error for it, so each becomes a FAILED entry without
`Error` (the summary counts it as ChildExecutionFailed).

What this relies on is checked by `check_seam()` before patching (the method, its parameters and the helpers it
calls) and by tests/local/test_batch_end_to_end.py; if moto changes, the local run stops with
`MotoSeamChanged` instead of writing wrong results.
"""

from __future__ import annotations

import contextlib
import inspect
import json
from collections.abc import Iterator
from typing import Any
from unittest import mock

from moto.stepfunctions.parser.asl.component.state.exec.state_map.result_writer.resource_eval.resource_eval_s3 import (  # noqa: E501
    ResourceEvalS3,
)

from local_run.moto_lambda_seam import MotoSeamChanged

SEAM = "moto...result_writer.resource_eval.resource_eval_s3.ResourceEvalS3._handle_put_object"
SEAM_PARAMETERS = ("env", "resource_runtime_part", "state_credentials")


def check_seam() -> None:
    method = inspect.getattr_static(ResourceEvalS3, "_handle_put_object", None)
    parameters = (
        tuple(inspect.signature(method.__func__).parameters) if isinstance(method, staticmethod) else ()
    )
    if parameters != SEAM_PARAMETERS or not hasattr(ResourceEvalS3, "_get_s3_client"):
        raise MotoSeamChanged(
            f"{SEAM} is no staticmethod taking {SEAM_PARAMETERS}: moto changed; "
            "see local_run/moto_result_writer_seam.py"
        )


def _handle_put_object(env: Any, resource_runtime_part: Any, state_credentials: Any) -> None:
    parameters = env.stack.pop()
    results = env.stack.pop()
    s3_client = ResourceEvalS3._get_s3_client(
        resource_runtime_part=resource_runtime_part, state_credentials=state_credentials
    )
    map_run_arn = env.map_run_record_pool_manager.get_all().pop().map_run_arn
    prefix = parameters["Prefix"]
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    folder = f"{prefix}{map_run_arn.split(':')[-1]}/"
    bucket = parameters["Bucket"]
    result_files: dict[str, list[dict[str, Any]]] = {"FAILED": [], "PENDING": [], "SUCCEEDED": []}
    lines = {
        "SUCCEEDED": [json.dumps(result) for result in results if result is not None],
        "FAILED": [json.dumps({"Status": "FAILED"}) for result in results if result is None],
    }
    for status, status_lines in lines.items():
        if status_lines:
            key = f"{folder}{status}_0.json"
            body = "".join(f"{line}\n" for line in status_lines).encode()
            s3_client.put_object(Bucket=bucket, Key=key, Body=body)
            result_files[status].append({"Key": key, "Size": len(body)})
    manifest_key = f"{folder}manifest.json"
    manifest = {"DestinationBucket": bucket, "MapRunArn": map_run_arn, "ResultFiles": result_files}
    s3_client.put_object(Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest, indent=2).encode())
    env.stack.append(
        {"MapRunArn": map_run_arn, "ResultWriterDetails": {"Bucket": bucket, "Key": manifest_key}}
    )


@contextlib.contextmanager
def write_result_files() -> Iterator[None]:
    """While active, moto's ResultWriter writes the result files and a manifest that lists them."""
    check_seam()
    with mock.patch.object(ResourceEvalS3, "_handle_put_object", staticmethod(_handle_put_object)):
        yield

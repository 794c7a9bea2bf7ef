"""Step Functions task: count a Distributed Map's result files into summary.json (docs/CONTRACTS.md, "Batch").

``map_run.ResultWriterDetails`` names the map's manifest.json, whose ResultFiles are JSONL
(https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html): a SUCCEEDED line is a
child's list of outcome records, one per image of its batch
(https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itembatcher.html); a FAILED or PENDING line is
an execution record standing for every item of its Input. Environment: ``RESULTS_PREFIX``, the only prefix used.
"""

from __future__ import annotations

import collections
import functools
import json
import logging
import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

SUMMARY_NAME = "summary.json"
OUTCOMES = ("succeeded", "below_threshold", "failed")
# A failed entry that names no error (the local run's stand-in for moto's null results).
UNRECORDED_FAILURE = "ChildExecutionFailed"
# PENDING result files list children that never ran (the map stopped first).
NOT_RUN = "NotRun"


class ConfigurationError(Exception):
    """The function's environment lacks RESULTS_PREFIX or holds an invalid one."""


class MalformedEvent(Exception):
    """The event lacks the keys the batch state machine passes, or they have the wrong type or place."""


class ResultsUnreadable(Exception):
    """The manifest or a result file is missing, unreadable or not in the ResultWriter's format."""


_LOGGER = logging.getLogger("summarize_batch")


@functools.cache
def _s3_client() -> Any:
    # One per execution environment, created on first use so a test can start moto first.
    return boto3.client("s3")


def handler(event: Any, context: Any) -> dict[str, Any]:
    return summarize_batch(event, load_results_prefix(os.environ), _s3_client())


def load_results_prefix(environ: Mapping[str, str]) -> str:
    prefix = environ.get("RESULTS_PREFIX", "")
    if not prefix.endswith("/") or prefix.startswith("/"):
        raise ConfigurationError(f"RESULTS_PREFIX must be a key prefix ending in '/', got {prefix!r}")
    return prefix


def summarize_batch(event: Any, results_prefix: str, s3_client: Any) -> dict[str, Any]:
    if not isinstance(event, dict) or "map_run" not in event:
        raise MalformedEvent("the event must be a JSON object with 'map_run' (the Distributed Map's output)")
    map_run = event["map_run"]
    details = map_run.get("ResultWriterDetails") if isinstance(map_run, dict) else None
    if not isinstance(details, dict):
        raise MalformedEvent("'map_run' must be the map's output with ResultWriterDetails")
    bucket, manifest_key = _text(details, "Bucket"), _text(details, "Key")
    if not manifest_key.startswith(results_prefix):
        raise MalformedEvent(f"the manifest {manifest_key!r} is not under {results_prefix!r}")
    folder = manifest_key.rpartition("/")[0] + "/"
    records = _manifest_records(s3_client, bucket, manifest_key, results_prefix)

    summary = count(records)
    summary["results_uri"] = f"s3://{bucket}/{folder}"
    summary["summary_uri"] = f"s3://{bucket}/{folder}{SUMMARY_NAME}"
    s3_client.put_object(
        Bucket=bucket,
        Key=f"{folder}{SUMMARY_NAME}",
        Body=json.dumps(summary, indent=2),
        ContentType="application/json",
    )
    _LOGGER.info(
        "batch summarized",
        extra=dict(prefix=event.get("prefix"), execution_name=event.get("execution_name"), **summary),
    )
    return summary


def count(records: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The summary of (result status, record) pairs: a child's outcome record, or Step Functions' own entry."""
    outcomes: collections.Counter[str] = collections.Counter()
    failed: collections.Counter[str] = collections.Counter()
    per_class: collections.Counter[str] = collections.Counter()
    images = 0
    for status, record in records:
        images += 1
        if status == "PENDING":
            failed[NOT_RUN] += 1
            continue
        if status == "FAILED":
            failed[record.get("Error") or UNRECORDED_FAILURE] += 1
            continue
        outcome = record.get("outcome")
        if outcome not in OUTCOMES:
            raise ResultsUnreadable(f"an outcome record has outcome {outcome!r}, expected one of {OUTCOMES}")
        outcomes[outcome] += 1
        if outcome == "failed":
            failed[record.get("error") or UNRECORDED_FAILURE] += 1
        elif isinstance(record.get("predicted_class"), str):
            per_class[record["predicted_class"]] += 1
    return {
        "images": images,
        "succeeded": outcomes["succeeded"],
        "below_threshold": outcomes["below_threshold"],
        "failed": dict(sorted(failed.items())),
        "per_class": dict(sorted(per_class.items())),
    }


def _manifest_records(
    s3_client: Any, bucket: str, manifest_key: str, results_prefix: str
) -> Iterator[tuple[str, dict[str, Any]]]:
    manifest = _json(_get(s3_client, bucket, manifest_key).read(), f"s3://{bucket}/{manifest_key}")
    result_files = manifest.get("ResultFiles") if isinstance(manifest, dict) else None
    if not isinstance(result_files, dict):
        raise ResultsUnreadable(f"s3://{bucket}/{manifest_key} has no ResultFiles object")
    for status in ("SUCCEEDED", "FAILED", "PENDING"):
        for entry in result_files.get(status, []):
            key = entry.get("Key") if isinstance(entry, dict) else None
            if not isinstance(key, str) or not key.startswith(results_prefix):
                raise ResultsUnreadable(
                    f"{manifest_key}: {status} entry {entry!r} is not a key under {results_prefix}"
                )
            for line_number, line in enumerate(_get(s3_client, bucket, key).iter_lines(), start=1):
                if line.strip():
                    where = f"s3://{bucket}/{key} line {line_number}"
                    yield from (
                        (status, record) for record in _image_records(status, _json(line, where), where)
                    )


def _image_records(status: str, entry: Any, where: str) -> list[dict[str, Any]]:
    """One record per image: a child's outcome records (or an execution record with them as Output text), or a
    failed or pending child's execution record once per item of its batch."""
    if status == "SUCCEEDED":
        if isinstance(entry, dict) and "ExecutionArn" in entry and isinstance(entry.get("Output"), str):
            entry = _json(entry["Output"], f"{where} Output")
        if not isinstance(entry, list) or not all(isinstance(record, dict) for record in entry):
            raise ResultsUnreadable(f"{where} is not a child's list of outcome records")
        return entry
    if not isinstance(entry, dict):
        raise ResultsUnreadable(f"{where} is not a JSON object")
    batch = _json(entry["Input"], f"{where} Input") if isinstance(entry.get("Input"), str) else None
    items = batch.get("Items") if isinstance(batch, dict) else None
    return [entry] * (len(items) if isinstance(items, list) and items else 1)


def _get(s3_client: Any, bucket: str, key: str) -> Any:
    try:
        return s3_client.get_object(Bucket=bucket, Key=key)["Body"]
    except (ClientError, BotoCoreError) as error:
        raise ResultsUnreadable(f"cannot read s3://{bucket}/{key}: {error}") from error


def _json(text: bytes | str, where: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as error:
        raise ResultsUnreadable(f"{where} is not JSON: {error}") from error


def _text(mapping: Mapping[str, Any], key: str) -> str:
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"the event's {key!r} must be a non-empty string, got {value!r}")
    return value

"""The batch state machine `cdk synth` wrote, run locally in moto: one execution over a prefix, then its summary.

moto 5.2.5's interpreter runs a Distributed Map with an S3 ItemReader, but not the synthesized definition as it
is (checked on these machines; README, "Scaling"):

- its parser refuses `"ExecutionType": "EXPRESS"` in ProcessorConfig (STANDARD only) and an integer
  `ToleratedFailurePercentage` (it wants a float literal), and it does not know the ResultWriter's `WriterConfig`;
- it does not enforce the tolerated percentage (a failed child becomes a null result, the map still succeeds);
- its ResultWriter writes only `manifest.json`, with empty `ResultFiles` (completed by
  `local_run/moto_result_writer_seam.py`, which writes the JSON Lines result files WriterConfig asks for);
- it does not know `ItemBatcher` (its lexer has no such key), so it cannot hand a child a batch of
  `{"Items": [...]}`;
- its S3 ItemReader makes one `ListObjectsV2` call, so it reads at most the first 1,000 keys of a prefix (and
  fails on an empty one): `run_batch` compares the summary's image count with the prefix and stops with
  `BatchRunError` rather than report a silently shortened batch.

`local_definition` therefore rewrites exactly four things, and nothing else: EXPRESS children become STANDARD,
the percentage a float, `WriterConfig` is dropped, and `ItemBatcher` is dropped with the ItemSelector wrapped
into `{"Items": [<selector>]}`: every child gets a batch of one image, in the shape Step Functions gives a
batched child, and runs the same inner map and chain over it. Locally there is therefore one child per image,
never a batch of several; the batch size is the template's, checked by template assertions
with the children's type, the writer's configuration and the percentage (tests/cdk/test_batch_workflow.py).
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

DISTRIBUTED = "DISTRIBUTED"
# One ListObjectsV2 page: all moto 5.2.5's ItemReader reads (Step Functions itself reads every page).
MOTO_ITEM_READER_KEYS = 1000


class BatchRunError(Exception):
    """The local batch execution did not succeed, or left no summary; the message says how it ended."""


@dataclass(frozen=True)
class BatchResult:
    execution_name: str
    summary: dict[str, Any]
    rows: list[dict[str, Any]]  # the outcome records, one per image (the children's lists flattened)
    seconds: float


def local_definition(definition: str) -> str:
    """The synthesized batch definition with the four rewrites moto's interpreter needs (module docstring)."""
    document = json.loads(definition)
    _rewrite_distributed_maps(document["States"])
    return json.dumps(document)


def _rewrite_distributed_maps(states: dict[str, Any]) -> None:
    for state in states.values():
        processor = state.get("ItemProcessor", {})
        config = processor.get("ProcessorConfig", {})
        if state.get("Type") == "Map" and config.get("Mode") == DISTRIBUTED:
            config["ExecutionType"] = "STANDARD"
            if "ToleratedFailurePercentage" in state:
                state["ToleratedFailurePercentage"] = float(state["ToleratedFailurePercentage"])
            state.get("ResultWriter", {}).pop("WriterConfig", None)
            if state.pop("ItemBatcher", None) is not None:
                state["ItemSelector"] = {"Items": [state["ItemSelector"]]}
        _rewrite_distributed_maps(processor.get("States", {}))


def run_batch(
    sfn: Any,
    s3: Any,
    state_machine_arn: str,
    *,
    bucket: str,
    prefix: str,
    timeout_s: float,
    poll_s: float = 0.05,
) -> BatchResult:
    """Start one batch execution over s3://bucket/prefix, wait for it, and read its summary and rows."""
    name = f"batch-{uuid.uuid4().hex[:12]}"
    started = time.monotonic()
    execution_arn = sfn.start_execution(
        stateMachineArn=state_machine_arn,
        name=name,
        input=json.dumps({"s3_bucket": bucket, "prefix": prefix}),
    )["executionArn"]
    deadline = started + timeout_s
    while True:
        execution = sfn.describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING":
            break
        if time.monotonic() > deadline:
            raise BatchRunError(f"batch execution {name} still running after {timeout_s:g} s")
        time.sleep(poll_s)
    seconds = time.monotonic() - started
    if execution["status"] != "SUCCEEDED":
        raise BatchRunError(
            f"batch execution {name} ended {execution['status']}: {execution.get('error')} {execution.get('cause')}"
        )
    summary = json.loads(execution["output"])
    listed = sum(
        page.get("KeyCount", 0)
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    )
    if summary["images"] != listed:
        raise BatchRunError(
            f"batch execution {name} classified {summary['images']} of the {listed} objects under {prefix}: "
            f"moto's ItemReader lists only the first {MOTO_ITEM_READER_KEYS:,} keys of a prefix"
        )
    return BatchResult(name, summary, _rows(s3, summary["results_uri"]), seconds)


def _rows(s3: Any, results_uri: str) -> list[dict[str, Any]]:
    """The outcome records of the SUCCEEDED result files the run's manifest lists: a line per child, each its
    list of outcome records."""
    bucket, _, folder = results_uri.removeprefix("s3://").partition("/")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=f"{folder}manifest.json")["Body"].read())
    rows = []
    for entry in manifest["ResultFiles"]["SUCCEEDED"]:
        body = s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"]
        for line in body.iter_lines():
            if line.strip():
                rows.extend(json.loads(line))
    return rows


def render_summary(result: BatchResult, *, prefix_uri: str) -> str:
    summary = result.summary
    failed = ", ".join(f"{name} {count}" for name, count in summary["failed"].items()) or "none"
    per_class = ", ".join(f"{name} {count}" for name, count in summary["per_class"].items()) or "none"
    return "\n".join(
        [
            "",
            f"Batch classification of {prefix_uri} (one execution, {result.execution_name}, "
            f"{result.seconds:.1f} s)",
            f"  images                {summary['images']}",
            f"  succeeded             {summary['succeeded']}",
            f"  below threshold       {summary['below_threshold']}",
            f"  failed                {failed}",
            f"  predicted per class   {per_class}",
            f"  results               {summary['results_uri']}",
            f"  summary               {summary['summary_uri']}",
        ]
    )

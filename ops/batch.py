"""`ops batch`: one execution of the Distributed Map state machine over a prefix; its summary (docs/CONTRACTS.md)."""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from tqdm import tqdm

from ops.errors import RunFailed

SUMMARY_KEYS = ("images", "succeeded", "below_threshold", "failed", "per_class", "results_uri", "summary_uri")
# Map run item counts of items that are done, one way or another (DescribeMapRun itemCounts).
_DONE_COUNTS = ("succeeded", "failed", "timedOut", "aborted")


class BatchSummaryMissing(RunFailed):
    pass


def start_execution(sfn_client, state_machine_arn: str, kind: str, document: dict[str, str]) -> str:
    # Step Functions names: at most 80 letters, digits, '-' or '_'.
    name = f"{kind}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
    response = sfn_client.start_execution(
        stateMachineArn=state_machine_arn, name=name, input=json.dumps(document)
    )
    return response["executionArn"]


def wait_for_execution(
    sfn_client,
    execution_arn: str,
    *,
    timeout_s: float,
    poll_s: float,
    on_poll: Callable[[], None] = lambda: None,
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        description = sfn_client.describe_execution(executionArn=execution_arn)
        on_poll()
        if description["status"] != "RUNNING":
            return description
        if time.monotonic() >= deadline:
            raise RunFailed(
                f"execution {execution_arn} is still running after {timeout_s:g} s; it was left running "
                "(follow it in the Step Functions console, or wait longer with --timeout)"
            )
        time.sleep(poll_s)


def ended_badly(description: Mapping[str, Any], detail: str = "") -> RunFailed:
    return RunFailed(
        f"execution {description['executionArn']} ended {description['status']}{detail}: "
        f"{description.get('error', 'no error name')}: {description.get('cause', 'no cause given')}"
    )


def run_batch(
    sfn_client,
    state_machine_arn: str,
    bucket: str,
    prefix: str,
    *,
    timeout_s: float,
    poll_s: float,
    progress: bool = True,
) -> dict[str, Any]:
    execution_arn = start_execution(
        sfn_client, state_machine_arn, "batch", {"s3_bucket": bucket, "prefix": prefix}
    )
    print(f"started {execution_arn}", file=sys.stderr)
    with tqdm(desc="images", unit="image", file=sys.stderr, disable=not progress) as bar:

        def show_progress() -> None:
            runs = sfn_client.list_map_runs(executionArn=execution_arn)["mapRuns"]
            if runs:  # none before the map run has started
                counts = sfn_client.describe_map_run(mapRunArn=runs[0]["mapRunArn"])["itemCounts"]
                bar.n, bar.total = sum(counts[name] for name in _DONE_COUNTS), counts["total"]
                bar.refresh()

        description = wait_for_execution(
            sfn_client, execution_arn, timeout_s=timeout_s, poll_s=poll_s, on_poll=show_progress
        )
    if description["status"] != "SUCCEEDED":
        raise ended_badly(description)
    return batch_summary(description.get("output"))


def batch_summary(output: str | None) -> dict[str, Any]:
    """The summary a succeeded batch execution returns; BatchSummaryMissing names what its output lacks."""
    output_text = output or ""
    try:
        summary = json.loads(output_text)
    except json.JSONDecodeError:
        summary = None
    missing = [key for key in SUMMARY_KEYS if not isinstance(summary, dict) or key not in summary]
    if missing:
        raise BatchSummaryMissing(
            f"the batch execution succeeded but its output lacks {', '.join(missing)} "
            f"(output: {output_text[:200]!r}); is the deployed batch state machine this version's?"
        )
    return summary


def render_summary(summary: Mapping[str, Any]) -> str:
    lines = [
        f"{summary['images']} images: {summary['succeeded']} classified, {summary['below_threshold']} below the "
        f"threshold, {sum(summary['failed'].values())} failed",
    ]
    lines += [f"  predicted {name}: {count}" for name, count in sorted(summary["per_class"].items())]
    lines += [f"  failed with {name}: {count}" for name, count in sorted(summary["failed"].items())]
    lines += [f"results: {summary['results_uri']}", f"summary: {summary['summary_uri']}"]
    return "\n".join(lines)

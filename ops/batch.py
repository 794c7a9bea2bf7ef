"""`python -m ops batch`: classify every image under a prefix with the batch (Distributed Map) state machine.

The state machine is the Workflow stack's `BatchStateMachineArn`; its input is `{"s3_bucket", "prefix"}` and its
output the summary object of docs/CONTRACTS.md ("Batch classification"). Progress is the map run's item counts
(`ListMapRuns`, then `DescribeMapRun` `itemCounts`). Exit status: 0 the batch ran (low-confidence images are
results, not failures), 1 the execution failed, timed out, was aborted, is still running at --timeout or gave no
summary, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from tqdm import tqdm

from ops.deployment import (
    BUCKET_NAME_OUTPUT,
    DEFAULT_STACK_PREFIX,
    STORAGE_STACK,
    WORKFLOW_STACK,
    stack_output,
)
from ops.errors import OpsError

BATCH_STATE_MACHINE_ARN_OUTPUT = "BatchStateMachineArn"
SUMMARY_KEYS = ("images", "succeeded", "below_threshold", "failed", "per_class", "results_uri", "summary_uri")
EXIT_OK, EXIT_FAILED = 0, 1
# Map run item counts that mean an item is done, one way or another (DescribeMapRun, itemCounts).
_DONE_COUNTS = ("succeeded", "failed", "timedOut", "aborted")


class ExecutionDidNotSucceed(OpsError):
    """The execution failed, timed out or was aborted; the message has its error and cause."""


class StillRunning(OpsError):
    """The execution had not ended when --timeout ran out; it is left running."""


class BatchSummaryMissing(OpsError):
    """The execution succeeded but its output is not the summary object of the contract."""


@dataclass(frozen=True)
class Progress:
    processed: int
    total: int | None


def execution_name(kind: str) -> str:
    """A unique execution name: letters, digits and '-' only, well under Step Functions' 80 characters."""
    return f"{kind}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"


def deployed_output(session: boto3.Session, stack_prefix: str, stack: str, output_key: str) -> str:
    return stack_output(session.client("cloudformation"), f"{stack_prefix}-{stack}", output_key)


def wait_for_execution(
    sfn_client,
    execution_arn: str,
    *,
    timeout_s: float,
    poll_s: float,
    on_poll: Callable[[], None] = lambda: None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """DescribeExecution until the execution leaves RUNNING or `timeout_s` passes (then StillRunning)."""
    deadline = time.monotonic() + timeout_s
    while True:
        description = sfn_client.describe_execution(executionArn=execution_arn)
        if description["status"] != "RUNNING":
            on_poll()
            return description
        on_poll()
        if time.monotonic() >= deadline:
            raise StillRunning(
                f"execution {execution_arn} is still running after {timeout_s:g} s; it was left running "
                "(follow it in the Step Functions console, or wait longer with --timeout)"
            )
        sleep(poll_s)


def ended_badly(description: Mapping[str, Any]) -> ExecutionDidNotSucceed:
    return ExecutionDidNotSucceed(
        f"execution {description['executionArn']} ended {description['status']}: "
        f"{description.get('error', 'no error name')}: {description.get('cause', 'no cause given')}"
    )


def map_run_progress(sfn_client, execution_arn: str) -> Progress | None:
    """Items done and in all, from the execution's map run; None before the map run has started."""
    runs = sfn_client.list_map_runs(executionArn=execution_arn)["mapRuns"]
    if not runs:
        return None
    counts = sfn_client.describe_map_run(mapRunArn=runs[0]["mapRunArn"])["itemCounts"]
    return Progress(processed=sum(counts[name] for name in _DONE_COUNTS), total=counts["total"])


def batch_summary(output_text: str | None) -> dict[str, Any]:
    """The execution's output, checked against the contract's summary shape."""
    try:
        summary = json.loads(output_text or "")
    except json.JSONDecodeError:
        summary = None
    missing = [key for key in SUMMARY_KEYS if not isinstance(summary, dict) or key not in summary]
    if missing:
        raise BatchSummaryMissing(
            f"the batch execution succeeded but its output lacks {', '.join(missing)} "
            f"(output: {(output_text or '')[:200]!r}); is the deployed batch state machine this version's?"
        )
    return summary


def run_batch(
    sfn_client,
    state_machine_arn: str,
    bucket: str,
    prefix: str,
    *,
    timeout_s: float,
    poll_s: float,
    progress: bool = True,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Start the batch, show its progress, and return its summary; raises if it did not succeed."""
    execution_arn = sfn_client.start_execution(
        stateMachineArn=state_machine_arn,
        name=execution_name("batch"),
        input=json.dumps({"s3_bucket": bucket, "prefix": prefix}),
    )["executionArn"]
    print(f"started {execution_arn}", file=sys.stderr)
    with tqdm(desc="images", unit="image", file=sys.stderr, disable=not progress) as bar:

        def show_progress() -> None:
            current = map_run_progress(sfn_client, execution_arn)
            if current is not None:
                bar.total = current.total
                bar.n = current.processed
                bar.refresh()

        description = wait_for_execution(
            sfn_client, execution_arn, timeout_s=timeout_s, poll_s=poll_s, on_poll=show_progress, sleep=sleep
        )
    if description["status"] != "SUCCEEDED":
        raise ended_badly(description)
    return batch_summary(description.get("output"))


def render_summary(summary: Mapping[str, Any]) -> str:
    lines = [
        f"{summary['images']} images: {summary['succeeded']} classified, {summary['below_threshold']} below the "
        f"threshold, {sum(summary['failed'].values())} failed",
    ]
    lines += [f"  predicted {name}: {count}" for name, count in sorted(summary["per_class"].items())]
    lines += [f"  failed with {name}: {count}" for name, count in sorted(summary["failed"].items())]
    lines += [f"results: {summary['results_uri']}", f"summary: {summary['summary_uri']}"]
    return "\n".join(lines)


def command(args: argparse.Namespace) -> int:
    session = boto3.Session(region_name=args.region)
    state_machine_arn, bucket = prefix_target(session, args, machine_output=BATCH_STATE_MACHINE_ARN_OUTPUT)
    try:
        summary = run_batch(
            session.client("stepfunctions"),
            state_machine_arn,
            bucket,
            args.prefix,
            timeout_s=args.timeout,
            poll_s=args.poll,
            progress=not args.no_progress,
        )
    except (ExecutionDidNotSucceed, StillRunning, BatchSummaryMissing) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(render_summary(summary))
    return EXIT_OK


def register(commands) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "batch",
        help="classify every image under a prefix in one batch execution (Distributed Map) and summarize",
        description="Start the batch state machine on a prefix of the project bucket, show how many images are "
        "done, then print the summary and where the results are.",
        epilog="Exit status: 0 the batch ran (images below the threshold are results), 1 the execution failed, "
        "timed out or gave no summary, 2 bad input.",
    )
    add_prefix_target(
        parser, machine="the batch state machine", machine_output=BATCH_STATE_MACHINE_ARN_OUTPUT
    )
    add_polling(parser, default_timeout=3600)
    parser.add_argument(
        "--stack-prefix",
        default=DEFAULT_STACK_PREFIX,
        help="the deployed app's project_name, whose stacks supply what is not given (default: %(default)s)",
    )
    parser.add_argument("--region", help="AWS region (default: the AWS configuration's)")
    parser.set_defaults(command=command)
    return parser


def add_prefix_target(parser: argparse.ArgumentParser, *, machine: str, machine_output: str) -> None:
    """What `ops batch` and `ops transform` run on: a prefix of the project bucket, through one state machine."""
    parser.add_argument(
        "--prefix", required=True, help="key prefix of the images, inside workflow_input_prefix"
    )
    parser.add_argument(
        "--bucket", help=f"the project's bucket (default: the Storage stack's {BUCKET_NAME_OUTPUT})"
    )
    parser.add_argument(
        "--state-machine-arn", help=f"{machine} (default: the Workflow stack's {machine_output})"
    )


def prefix_target(
    session: boto3.Session, args: argparse.Namespace, *, machine_output: str
) -> tuple[str, str]:
    """The state machine and bucket `add_prefix_target`'s options name; the deployed stacks' outputs stand in for
    whichever was not given."""
    state_machine_arn = args.state_machine_arn or deployed_output(
        session, args.stack_prefix, WORKFLOW_STACK, machine_output
    )
    bucket = args.bucket or deployed_output(session, args.stack_prefix, STORAGE_STACK, BUCKET_NAME_OUTPUT)
    return state_machine_arn, bucket


def add_polling(
    parser: argparse.ArgumentParser, *, default_timeout: float, default_poll: float = 5.0
) -> None:
    parser.add_argument(
        "--timeout",
        type=float,
        default=default_timeout,
        help="seconds to wait for the execution; it is left running after that (default: %(default)s)",
    )
    parser.add_argument(
        "--poll",
        type=float,
        default=default_poll,
        help="seconds between status checks (default: %(default)s)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress shown on stderr")

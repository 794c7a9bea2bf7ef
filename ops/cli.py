"""`python -m ops`: argument parsing and AWS clients over the run, monitor and preflight functions."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from ops import batch, cost, transform
from ops.capture import CaptureProblem, iter_capture_records
from ops.classes import chosen_class_names
from ops.deployment import (
    BUCKET_NAME_OUTPUT,
    CONFIDENCE_THRESHOLD_OUTPUT,
    DEFAULT_STACK_PREFIX,
    ENDPOINT_NAME_OUTPUT,
    MODEL_STACK,
    STATE_MACHINE_ARN_OUTPUT,
    STORAGE_STACK,
    WORKFLOW_STACK,
    stack_output,
)
from ops.errors import NoCaptureRecords, OpsError
from ops.executions import render_table, run_executions
from ops.images import images_from_lst, images_under_prefix, pick_images
from ops.plots import plot_monitoring, summarize, write_summary_json
from ops.preflight import (
    PreflightCannotRun,
    any_failed,
    deploy_region_from_environment,
    render_checks,
    run_preflight,
)
from ops.settings import add_settings_options, app_config
from stacks.s3_layout import DATA_CAPTURE_PREFIX, VALIDATION_CHANNEL_PREFIX, VALIDATION_LST_CHANNEL_PREFIX

EXIT_OK, EXIT_UNEXPECTED, EXIT_BAD_INPUT = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "lst", None) and not (args.classes or args.manifest):
        parser.error("--lst needs --classes or --manifest to name its labels")
    try:
        return args.command(args)
    except OpsError as error:
        print(f"error: {error}", file=sys.stderr)
    except (ClientError, BotoCoreError) as error:
        print(f"AWS error: {error}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _run(args: argparse.Namespace) -> int:
    session = boto3.Session(region_name=args.region)
    class_names = chosen_class_names(args.classes, args.manifest)
    deployed = _DeployedApp(session, args.stack_prefix)
    state_machine_arn = args.state_machine_arn or deployed.output(WORKFLOW_STACK, STATE_MACHINE_ARN_OUTPUT)
    bucket = args.bucket or deployed.output(STORAGE_STACK, BUCKET_NAME_OUTPUT)
    s3 = session.client("s3")
    if args.lst:
        images = images_from_lst(s3, bucket, args.lst, args.prefix, class_names)
    else:
        images = images_under_prefix(s3, bucket, args.prefix)
    # An EXPRESS execution runs inside one StartSyncExecution call: let it hold the connection for --timeout.
    sfn = session.client("stepfunctions", config=Config(read_timeout=args.timeout))
    outcomes = run_executions(
        sfn,
        state_machine_arn,
        pick_images(images, args.limit),
        timeout_s=args.timeout,
        poll_s=args.poll,
        progress=not args.no_progress,
    )
    print(render_table(outcomes, class_names=class_names))
    return EXIT_OK if all(outcome.as_designed for outcome in outcomes) else EXIT_UNEXPECTED


def _monitor(args: argparse.Namespace) -> int:
    session = boto3.Session(region_name=args.region)
    class_names = chosen_class_names(args.classes, args.manifest)
    deployed = _DeployedApp(session, args.stack_prefix)
    bucket = args.bucket or deployed.output(STORAGE_STACK, BUCKET_NAME_OUTPUT)
    prefix = args.prefix or f"{DATA_CAPTURE_PREFIX}{deployed.output(MODEL_STACK, ENDPOINT_NAME_OUTPUT)}/"
    threshold = args.threshold
    if threshold is None:
        threshold = _threshold_from_stack(deployed.output(WORKFLOW_STACK, CONFIDENCE_THRESHOLD_OUTPUT))
    problems: list[CaptureProblem] = []
    records = list(iter_capture_records(session.client("s3"), bucket, prefix, problems=problems))
    for problem in problems:
        print(f"malformed capture line skipped: {problem}", file=sys.stderr)
    if not records:
        raise NoCaptureRecords(
            f"no readable capture records under s3://{bucket}/{prefix} "
            "(has the endpoint been invoked, with data capture on?)"
        )
    summary = summarize(records, class_names, threshold)
    print(json.dumps(summary, indent=2, default=lambda moment: moment.isoformat()))
    path = plot_monitoring(
        records,
        class_names,
        threshold,
        args.out,
        title=f"Endpoint monitoring: s3://{bucket}/{prefix}",
    )
    print(f"plot: {path}")
    summary_path = write_summary_json(
        summary,
        args.out.with_suffix(".json"),
        source=f"s3://{bucket}/{prefix}",
        plot=path,
        skipped_lines=len(problems),
    )
    print(f"summary: {summary_path}")
    if problems:
        print(f"{len(problems)} malformed capture lines were skipped (listed above)", file=sys.stderr)
        return EXIT_UNEXPECTED
    return EXIT_OK


def _preflight(args: argparse.Namespace) -> int:
    config = app_config(args)
    session = boto3.Session(
        profile_name=args.profile, region_name=args.region or deploy_region_from_environment()
    )
    try:
        checks = run_preflight(session, config, args.cdk_out)
    except NoCredentialsError as error:
        raise PreflightCannotRun(
            "no AWS credentials found: configure them (`aws configure`, `aws sso login`, AWS_PROFILE or --profile)"
        ) from error
    print(render_checks(checks))
    return EXIT_UNEXPECTED if any_failed(checks) else EXIT_OK


class _DeployedApp:
    """The stacks named "<prefix>-<part>"; CloudFormation is asked only for what the options left out."""

    def __init__(self, session: boto3.Session, stack_prefix: str):
        self._session = session
        self._stack_prefix = stack_prefix

    @cached_property
    def _cloudformation(self):
        return self._session.client("cloudformation")

    def output(self, stack: str, output_key: str) -> str:
        return stack_output(self._cloudformation, f"{self._stack_prefix}-{stack}", output_key)


def _threshold_from_stack(text: str) -> float:
    try:
        return _confidence(text)
    except (ValueError, argparse.ArgumentTypeError) as error:
        raise OpsError(
            f"the Workflow stack's {CONFIDENCE_THRESHOLD_OUTPUT} output {text!r} is not a confidence "
            "between 0 and 1; give --threshold"
        ) from error


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops",
        description="Run the workflow on test images; monitor the endpoint from its data capture; check an "
        "account before a deploy; classify or re-score a whole prefix (batch, transform).",
        epilog="Exit status: 0 all as designed, 1 unexpected outcomes, skipped capture lines or a failed "
        "preflight check, 2 bad input.",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run",
        help="start one execution per test image and show which succeed and which fail as designed",
        description="Start one workflow execution per test image and tabulate the outcomes. "
        "Exits 0 when every execution succeeded or failed with ThresholdConfidenceNotMet, 1 otherwise.",
    )
    run.add_argument(
        "--state-machine-arn",
        help=f"the workflow's state machine (default: the Workflow stack's {STATE_MACHINE_ARN_OUTPUT})",
    )
    run.add_argument(
        "--bucket",
        help=f"the project's bucket holding the test images (default: the Storage stack's {BUCKET_NAME_OUTPUT})",
    )
    run.add_argument(
        "--prefix", default=VALIDATION_CHANNEL_PREFIX, help="folder of the test images (default: %(default)s)"
    )
    run.add_argument(
        "--lst",
        help="S3 key of the .lst naming images and labels, e.g. "
        f"{VALIDATION_LST_CHANNEL_PREFIX}validation.lst; "
        "paths in it are relative to --prefix (needs --classes or --manifest)",
    )
    run.add_argument(
        "--limit", type=_positive_int, help="run at most N images, taken in turn from each class"
    )
    run.add_argument(
        "--timeout",
        type=float,
        default=300,
        help="seconds to wait for the executions; for an EXPRESS workflow, for each one (default: %(default)s)",
    )
    run.add_argument(
        "--poll",
        type=float,
        default=1.0,
        help="seconds between status checks of a STANDARD workflow's executions (default: %(default)s)",
    )
    run.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    _add_common(run)
    run.set_defaults(command=_run)

    monitor = commands.add_parser(
        "monitor",
        help="read the endpoint's captured data, print a summary and draw the monitoring plots",
        description="Read every capture record under the prefix, print a JSON summary and write one PNG, and the "
        "summary as JSON next to it (--out with .json; its shape is in docs/CONTRACTS.md).",
    )
    monitor.add_argument(
        "--bucket",
        help=f"the project's bucket holding data_capture/ (default: the Storage stack's {BUCKET_NAME_OUTPUT})",
    )
    monitor.add_argument(
        "--prefix",
        help=f"capture folder, {DATA_CAPTURE_PREFIX} for every endpoint "
        f"(default: {DATA_CAPTURE_PREFIX}<the Model stack's {ENDPOINT_NAME_OUTPUT}>/)",
    )
    monitor.add_argument(
        "--threshold",
        type=_confidence,
        help=f"confidence the filter requires (default: the Workflow stack's {CONFIDENCE_THRESHOLD_OUTPUT})",
    )
    monitor.add_argument(
        "--out", type=Path, default=Path("plots/monitoring.png"), help="PNG to write (default: %(default)s)"
    )
    _add_common(monitor, classes_required=True)
    monitor.set_defaults(command=_monitor)

    preflight = commands.add_parser(
        "preflight",
        help="check the account and the synthesized app before a deploy (read-only)",
        description="Check, before anything is created: the credentials, that the region has the algorithm's "
        "image, the CDK bootstrap version, the SageMaker instance quotas, that the bucket name is free, and that "
        "the dataset is the real one. Prints one row per check, with the fix under every row that did not pass.",
        epilog="Exit status: 0 ready to deploy (warnings allowed), 1 a check failed, "
        "2 cannot run (no credentials or region, no cdk.out, a bad setting).",
    )
    add_settings_options(preflight, cdk_command="deploy", cdk_out_use="the cloud assembly `make synth` wrote")
    preflight.add_argument(
        "--region",
        help="AWS region (default: AWS_REGION, else the AWS configuration's, as cdk deploy picks it)",
    )
    preflight.add_argument("--profile", help="AWS profile (default: the AWS configuration's)")
    preflight.set_defaults(command=_preflight)

    cost.register(commands, positive_int=_positive_int)
    batch.register(commands)
    _add_common(transform.register(commands))
    return parser


def _add_common(parser: argparse.ArgumentParser, *, classes_required: bool = False) -> None:
    classes = parser.add_mutually_exclusive_group(required=classes_required)
    classes.add_argument(
        "--classes",
        nargs="+",
        metavar="NAME",
        help="class names in class-index order, as data_prep takes them: --classes bicycle motorcycle",
    )
    classes.add_argument(
        "--manifest", type=Path, help="data_prep's manifest.json (or its folder) for the class names"
    )
    parser.add_argument(
        "--stack-prefix",
        default=DEFAULT_STACK_PREFIX,
        help="the deployed app's project_name: its stacks PREFIX-Storage, -Model and -Workflow supply "
        "whatever is not given above (default: %(default)s)",
    )
    parser.add_argument("--region", help="AWS region (default: the AWS configuration's)")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive whole number, got {text}")
    return value


def _confidence(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"expected a confidence between 0 and 1, got {text}")
    return value

"""`python -m ops`: one parser for every operations command; AWS through ops.session (docs/OPERATIONS.md)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from ops import cost, models
from ops.batch import render_summary, run_batch
from ops.capture import CaptureProblem, iter_capture_records
from ops.classes import chosen_class_names
from ops.errors import OpsError
from ops.executions import render_table, run_executions
from ops.images import images_from_lst, images_under_prefix, pick_images
from ops.preflight import Status, render_checks, run_preflight
from ops.session import Deployment, aws_session
from ops.settings import add_settings_options, app_config
from ops.transform import render_results, require_images, run_transform, summarize_results
from stacks import names
from stacks.s3_layout import DATA_CAPTURE_PREFIX, VALIDATION_CHANNEL_PREFIX, VALIDATION_LST_CHANNEL_PREFIX

EXIT_OK, EXIT_UNEXPECTED, EXIT_BAD_INPUT = 0, 1, 2
NO_CREDENTIALS = "no AWS credentials found: run `aws configure` or `aws sso login`, or give --profile"


class UsageError(OpsError):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        raise UsageError(f"{self.prog}: {message}")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        return args.command(args)
    except OpsError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_status
    except NoCredentialsError:
        print(f"error: {NO_CREDENTIALS}", file=sys.stderr)
    except (ClientError, BotoCoreError) as error:
        print(f"AWS error: {' '.join(str(error).split())}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _threshold(args, deployment: Deployment) -> float:
    if args.threshold is not None:
        return args.threshold
    text = deployment.output(names.WORKFLOW, names.CONFIDENCE_THRESHOLD_OUTPUT)
    try:
        return _confidence(text)
    except (ValueError, argparse.ArgumentTypeError):
        raise OpsError(
            f"the Workflow stack's {names.CONFIDENCE_THRESHOLD_OUTPUT} output {text!r} is not a confidence "
            "between 0 and 1; give --threshold"
        ) from None


def _deployment(args) -> Deployment:
    return Deployment(aws_session(args.region, args.profile), args.stack_prefix)


def _run(args) -> int:
    if args.lst and not (args.classes or args.manifest):
        raise UsageError("python -m ops run: --lst needs --classes or --manifest to name its labels")
    deployment = _deployment(args)
    class_names = chosen_class_names(args.classes, args.manifest)
    state_machine_arn = deployment.output(
        names.WORKFLOW, names.STATE_MACHINE_ARN_OUTPUT, args.state_machine_arn
    )
    bucket = deployment.output(names.STORAGE, names.BUCKET_NAME_OUTPUT, args.bucket)
    s3 = deployment.session.client("s3")
    if args.lst:
        images = images_from_lst(s3, bucket, args.lst, args.prefix, class_names)
    else:
        images = images_under_prefix(s3, bucket, args.prefix)
    # An EXPRESS execution runs inside one StartSyncExecution call: let it hold the connection for --timeout.
    sfn = deployment.session.client("stepfunctions", config=Config(read_timeout=args.timeout))
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


def _monitor(args) -> int:
    # matplotlib: only monitor pays for it
    from ops.plots import plot_monitoring, summarize, write_summary_json

    class_names = chosen_class_names(args.classes, args.manifest)
    if class_names is None:
        raise UsageError("python -m ops monitor: give --classes or --manifest to name the classes")
    deployment = _deployment(args)
    bucket = deployment.output(names.STORAGE, names.BUCKET_NAME_OUTPUT, args.bucket)
    prefix = (
        args.prefix or f"{DATA_CAPTURE_PREFIX}{deployment.output(names.MODEL, names.ENDPOINT_NAME_OUTPUT)}/"
    )
    threshold = _threshold(args, deployment)
    problems: list[CaptureProblem] = []
    s3 = deployment.session.client("s3")
    records = list(iter_capture_records(s3, bucket, prefix, problems=problems, keep_input_data=False))
    for problem in problems:
        print(f"malformed capture line skipped: {problem}", file=sys.stderr)
    source = f"s3://{bucket}/{prefix}"
    if not records:
        raise OpsError(
            f"no readable capture records under {source} (has the endpoint been invoked, with data capture on?)"
        )
    summary = summarize(records, class_names, threshold)
    print(json.dumps(summary, indent=2))
    plot = plot_monitoring(records, class_names, threshold, args.out, title=f"Endpoint monitoring: {source}")
    summary_path = args.out.with_suffix(".json")
    write_summary_json(summary, summary_path, source=source, plot=plot, skipped_lines=len(problems))
    print(f"plot: {plot}\nsummary: {summary_path}")
    if problems:
        print(f"{len(problems)} malformed capture lines were skipped (listed above)", file=sys.stderr)
        return EXIT_UNEXPECTED
    return EXIT_OK


def _preflight(args) -> int:
    checks = run_preflight(aws_session(args.region, args.profile), app_config(args), args.cdk_out)
    print(render_checks(checks))
    return EXIT_UNEXPECTED if any(check.status is Status.FAIL for check in checks) else EXIT_OK


def _batch(args) -> int:
    deployment = _deployment(args)
    state_machine_arn = deployment.output(
        names.WORKFLOW, names.BATCH_STATE_MACHINE_ARN_OUTPUT, args.state_machine_arn
    )
    summary = run_batch(
        deployment.session.client("stepfunctions"),
        state_machine_arn,
        deployment.output(names.STORAGE, names.BUCKET_NAME_OUTPUT, args.bucket),
        args.prefix,
        timeout_s=args.timeout,
        poll_s=args.poll,
        progress=not args.no_progress,
    )
    print(render_summary(summary))
    return EXIT_OK


def _transform(args) -> int:
    deployment = _deployment(args)
    state_machine_arn = deployment.output(
        names.WORKFLOW, names.TRANSFORM_STATE_MACHINE_ARN_OUTPUT, args.state_machine_arn
    )
    threshold = _threshold(args, deployment)
    class_names = chosen_class_names(args.classes, args.manifest)
    s3 = deployment.session.client("s3")
    require_images(s3, deployment.output(names.STORAGE, names.BUCKET_NAME_OUTPUT, args.bucket), args.prefix)
    run = run_transform(
        deployment.session.client("stepfunctions"),
        deployment.session.client("sagemaker"),
        state_machine_arn,
        args.prefix,
        timeout_s=args.timeout,
        poll_s=args.poll,
        report=(lambda line: None) if args.no_progress else lambda line: print(line, file=sys.stderr),
    )
    print(
        render_results(
            run, summarize_results(s3, run.output_uri, threshold=threshold, class_names=class_names)
        )
    )
    return EXIT_OK


def _models(args) -> int:
    deployment = _deployment(args)
    sagemaker = deployment.session.client("sagemaker")
    group = names.model_package_group_name(args.stack_prefix)
    versions = models.list_versions(sagemaker, group)
    serving, problem = None, ""
    try:
        serving = models.served(sagemaker, deployment.output(names.MODEL, names.ENDPOINT_NAME_OUTPUT))
    except OpsError as error:
        problem = str(error)
    print(models.render(group, versions, serving, problem))
    # Only an endpoint at rest on a known model is an outcome as designed.
    return EXIT_OK if serving is not None and serving.status == "InService" else EXIT_UNEXPECTED


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m ops",
        description="Operate the deployed app: run the workflow on test images, monitor the endpoint's data "
        "capture, classify or re-score a prefix (batch, transform), list the model versions (models); check an "
        "account before a deploy (preflight); price the paths (cost, offline).",
        epilog="Region: --region, else AWS_REGION, AMAZON_REGION, AWS_DEFAULT_REGION, the profile's region "
        "(--profile, else AWS_PROFILE), else us-east-1: the order `cdk deploy` uses. Exit status: 0 as designed; "
        "1 unexpected outcomes, a failed execution or job, skipped capture lines, a failed check, an endpoint not "
        "InService; 2 bad input or an AWS error; 130 interrupted.",
    )
    aws = _Parser(add_help=False)
    aws.add_argument("--region", help="AWS region (default: as `cdk deploy` picks it, see below)")
    aws.add_argument("--profile", help="AWS profile (default: AWS_PROFILE, else the default profile)")
    stacks = _Parser(add_help=False, parents=[aws])
    stacks.add_argument(
        "--stack-prefix",
        default=names.DEFAULT_PROJECT_NAME,
        help="the deployed app's project_name; its stacks' outputs supply what is not given (default: %(default)s)",
    )
    deployed = _Parser(add_help=False, parents=[stacks])
    deployed.add_argument("--bucket", help="the project's bucket (default: the Storage stack's BucketName)")
    classes = _Parser(add_help=False)
    names_group = classes.add_mutually_exclusive_group()
    names_group.add_argument("--classes", nargs="+", metavar="NAME", help="class names in class-index order")
    names_group.add_argument(
        "--manifest", type=Path, help="data_prep's manifest.json (or its folder) for the names"
    )
    threshold = _Parser(add_help=False)
    threshold.add_argument("--threshold", type=_confidence, help="confidence (default: the Workflow stack's)")
    machine = _Parser(add_help=False)
    machine.add_argument(
        "--state-machine-arn", help="the state machine (default: the Workflow stack's output)"
    )
    polling = _Parser(add_help=False)
    polling.add_argument("--timeout", type=float, help="seconds to wait; a run is left running after that")
    polling.add_argument("--poll", type=float, help="seconds between status checks")
    polling.add_argument("--no-progress", action="store_true", help="no progress on stderr")

    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name, function, help_text, parents=(), **defaults):
        sub = commands.add_parser(name, help=help_text, description=help_text, parents=list(parents))
        sub.set_defaults(command=function, **defaults)
        return sub

    run = command(
        "run",
        _run,
        "start one workflow execution per test image and tabulate how each ended (default --timeout 300)",
        [deployed, machine, polling, classes],
        timeout=300.0,
        poll=1.0,
    )
    run.add_argument("--prefix", default=VALIDATION_CHANNEL_PREFIX, help="folder of the images (%(default)s)")
    run.add_argument(
        "--lst",
        help=f"S3 key of a .lst naming images and labels, e.g. {VALIDATION_LST_CHANNEL_PREFIX}validation.lst",
    )
    run.add_argument("--limit", type=_positive_int, help="at most N images, taken in turn from each class")

    monitor = command(
        "monitor",
        _monitor,
        "summarize the endpoint's data capture; write a PNG and the summary JSON next to it",
        [deployed, threshold, classes],
    )
    monitor.add_argument("--prefix", help=f"capture folder (default: {DATA_CAPTURE_PREFIX}<EndpointName>/)")
    monitor.add_argument("--out", type=Path, default=Path("plots/monitoring.png"), help="PNG (%(default)s)")

    batch = command(
        "batch",
        _batch,
        "classify every image under --prefix in one Distributed Map execution "
        "(default --timeout 3600, --poll 5)",
        [deployed, machine, polling],
        timeout=3600.0,
        poll=5.0,
    )
    transform = command(
        "transform",
        _transform,
        "re-score every image under --prefix with Batch Transform (default --timeout 10800, --poll 30)",
        [deployed, machine, polling, threshold, classes],
        timeout=3 * 3600.0,
        poll=30.0,
    )
    for sub in (batch, transform):
        sub.add_argument(
            "--prefix", required=True, help="key prefix of the images, inside workflow_input_prefix"
        )

    command(
        "models",
        _models,
        "list the registered model versions (accuracy, training job, dataset, date) and mark the one the endpoint "
        "serves now",
        [stacks],
    )

    preflight = command(
        "preflight",
        _preflight,
        "check credentials, region, CDK bootstrap, SageMaker quotas, bucket name and dataset (read-only)",
        [aws],
    )
    add_settings_options(preflight, cdk_command="deploy", cdk_out_use="the cloud assembly `make synth` wrote")

    prices = command("cost", cost.command, "each path's cost per hour deployed and per 1,000 (offline)")
    prices.add_argument("--images", type=_positive_int, default=1000, help="images in a batch (%(default)s)")
    prices.add_argument("--per-day", type=_positive_int, default=10000, help="images a day (%(default)s)")
    add_settings_options(prices, cdk_command="synth", cdk_out_use="the cloud assembly to read, when present")
    return parser


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

"""`python -m local_run demo|local`: the synthesized workflow, run on this machine with no AWS account."""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import statistics
import sys
import tempfile
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

from data_prep.cli import DEFAULT_CLASSES
from data_prep.errors import DataPrepError
from local_run.template import TemplateError, load_workflow_template, synthesize
from ops.errors import OpsError, RunFailed
from stacks.config import AppConfig, ConfigError, cdk_json_context
from stacks.names import BELOW_THRESHOLD_METRIC, TOP_CONFIDENCE_METRIC, WORKFLOW_DIMENSION

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BUCKET = "scones-vision-local"
EXECUTION_TIMEOUT_S = 300
WIDTH = 100  # every line the run prints fits this many columns
LISTED_FAILURES = 8  # failed executions listed one per line; the rest are counted
PHOTO_FOLDER = "photos"  # where the generated phone-sized photo goes, below the test split's prefix
# With the default threshold 0.93 and the demo's defaults, 7 of its 40 executions fail as designed.
DEMO_AMBIGUITY = 0.25
EXIT_UNEXPECTED, EXIT_USAGE = 1, 2

DESCRIPTION = """\
Run the workflow `cdk synth` produces on this machine, with no AWS account: the state machines' own definitions in
moto's Step Functions interpreter, the synthesized Lambda handlers in-process, and an InvokeEndpoint emulator on
127.0.0.1 serving a small scikit-learn stand-in model (not the SageMaker algorithm) that writes data capture.
One execution per test image, then one batch execution over the same images. Exit status 0 when every execution
ended as designed (succeeded, or failed with ThresholdConfidenceNotMet) and no batch image failed, 1 otherwise,
2 for bad input, 130 when interrupted. What this proves and what it does not: docs/LOCAL.md."""


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of at least 1")
    return int(text)


def _share(text: str) -> float:
    try:
        share = float(text)
    except ValueError:
        share = -1.0
    if not 0.0 <= share <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share between 0 and 1")
    return share


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m local_run",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--classes",
        nargs="+",
        metavar="NAME",
        help="CIFAR-100 fine labels in class-index order (default: the templates' CLASS_NAMES with --cdk-out, else "
        f"{' '.join(DEFAULT_CLASSES)})",
    )
    common.add_argument(
        "--limit", type=_count, metavar="N", help="run at most N test images, every class in turn"
    )
    common.add_argument(
        "-c",
        "--context",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a setting for the synth, as `cdk synth -c` (e.g. -c confidence_threshold=0.99); not with --cdk-out",
    )
    common.add_argument(
        "--cdk-out", type=Path, metavar="DIR", help="run this cloud assembly (make synth's cdk.out)"
    )
    common.add_argument(
        "--handler-log", type=Path, metavar="FILE", help="append the handlers' JSON logs here"
    )
    common.add_argument("--no-progress", action="store_true", help="no progress bar")
    plot = common.add_mutually_exclusive_group()
    plot.add_argument(
        "--plot",
        type=Path,
        metavar="PATH",
        help="the monitoring figure (default: plots/<command>-monitoring.png)",
    )
    plot.add_argument("--no-plot", action="store_true", help="draw no monitoring figure")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser(
        "demo",
        parents=[common],
        usage="%(prog)s [options]",
        help="on a small generated CIFAR-format dataset (offline, seconds)",
        description="Generate a small CIFAR-100-format dataset (cached under .cache/demo-dataset/), then run the "
        "workflow on its test images.",
    )
    for split, default, images in (("train", 100, "training images"), ("test", 20, "test images")):
        demo.add_argument(
            f"--{split}-per-class",
            type=_count,
            default=default,
            metavar="N",
            help=f"{images} per class (default: %(default)s)",
        )
    demo.set_defaults(parser=demo)
    demo.add_argument("--seed", type=int, default=0, help="default: %(default)s")
    demo.add_argument(
        "--ambiguity",
        type=_share,
        default=DEMO_AMBIGUITY,
        metavar="SHARE",
        help="share of images that blend in another class of their superclass, some of which the stand-in is "
        "unsure of (0 to 1, default: %(default)s)",
    )
    local = commands.add_parser(
        "local",
        parents=[common],
        usage="%(prog)s --source TARBALL [options]",
        help="on the CIFAR-100 tarball at SOURCE",
        description="Build the dataset from SOURCE into --dataset-dir unless it is already there, then run the "
        "workflow on its test images.",
    )
    local.set_defaults(parser=local)
    local.add_argument("--source", type=Path, required=True, help="the CIFAR-100 python tarball")
    local.add_argument("--dataset-dir", type=Path, default=PROJECT_ROOT / "data", help="default: data/")
    local.add_argument(
        "--no-verify", action="store_true", help="accept a tarball whose md5 is not the official one"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    context = _context(args.parser, args)
    # The CDK's jsii runs on the first `node` on PATH; the project pins a supported one (as the Makefile does).
    os.environ["PATH"] = f"{PROJECT_ROOT / 'node_modules' / '.bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    # moto logs every failed state at ERROR; the run reports each failure once, with its error name.
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)

    from local_run.moto_seams import MotoChanged

    handler_logs = io.StringIO()
    try:
        with tempfile.TemporaryDirectory(prefix="scones-local-") as work_dir:
            return _run(args, context, Path(work_dir), handler_logs)
    except StandInBelowBar as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_UNEXPECTED
    except (DataPrepError, TemplateError, OpsError, MotoChanged) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        if args.handler_log is not None:
            with open(args.handler_log, "a", encoding="utf-8") as log:
                log.write(handler_logs.getvalue())


def _context(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, str]:
    """The -c settings, checked as the app checks them, before anything runs."""
    if args.context and args.cdk_out is not None:
        parser.error(
            "-c applies when the app is synthesized here; with --cdk-out, synthesize with the setting"
        )
    context = {}
    for text in args.context:
        key, separator, value = text.partition("=")
        if not separator or not key:
            parser.error(f"-c {text!r} is not KEY=VALUE")
        context[key] = value
    if context:
        try:
            AppConfig.from_context({**cdk_json_context(), **context})
        except ConfigError as error:
            parser.error(str(error))
    return context


class StandInBelowBar(Exception):
    """The stand-in's own test accuracy is below min_validation_accuracy, as the deploy's gate would refuse."""


def standin_gate(accuracy: float, config: AppConfig) -> str:
    """The quality gate's line for the stand-in, labelled as its own accuracy (not SageMaker's validation:accuracy)."""
    bar = config.min_validation_accuracy
    if not accuracy >= bar:
        raise StandInBelowBar(
            f"the stand-in's own accuracy {accuracy:.4g} is below min_validation_accuracy {bar:.4g}, as a deploy would "
            "refuse it: give the demo more images (--train-per-class), less --ambiguity, or -c min_validation_accuracy"
        )
    return f"  quality gate on the stand-in's own accuracy: {accuracy:.4g} >= min_validation_accuracy {bar:.4g}, passed"


def _run(args: argparse.Namespace, context: dict[str, str], work_dir: Path, handler_logs: io.StringIO) -> int:
    from data_prep.build import build_dataset
    from data_prep.dataset import DemoSpec, demo_dataset
    from local_run.standin_model import train_standin

    template = load_workflow_template(args.cdk_out) if args.cdk_out is not None else None
    # Templates read from cdk.out fix the classes (and their order) the classifier answers in.
    classes = tuple(args.classes or (template.class_names if template else DEFAULT_CLASSES))
    if args.command == "demo":
        demo = demo_dataset(
            DemoSpec(
                classes=classes,
                train_per_class=args.train_per_class,
                test_per_class=args.test_per_class,
                seed=args.seed,
                ambiguity=args.ambiguity,
            )
        )
        dataset_dir, manifest = demo.directory, demo.manifest
    else:
        dataset_dir = args.dataset_dir.resolve()
        manifest = build_dataset(
            args.source, dataset_dir, classes=classes, verify_md5=not args.no_verify, progress=False
        ).manifest
    train, test = (sum(manifest.splits[split].values()) for split in ("train", "test"))
    kind = "generated" if manifest.synthetic else "CIFAR-100"
    shown_dir = dataset_dir.relative_to(Path.cwd()) if dataset_dir.is_relative_to(Path.cwd()) else dataset_dir
    _say(f"Dataset: {', '.join(manifest.classes)}; {train} train, {test} test images ({kind})")
    _say(f"  in {shown_dir}")
    if template is None:
        _say("Synthesizing the app ...")
        template = load_workflow_template(
            synthesize(work_dir / "cdk.out", {"dataset_dir": str(dataset_dir), **context})
        )
    if template.class_names != manifest.classes:
        raise TemplateError(
            f"the synthesized CLASS_NAMES {list(template.class_names)} differ from the dataset's classes "
            f"{list(manifest.classes)}: the stand-in model would answer in another order"
        )
    model = train_standin(dataset_dir, manifest.classes)
    _say(
        f"Stand-in model (scikit-learn, not the SageMaker algorithm): {model.test_accuracy:.1%} accurate on "
        f"{test} test images"
    )
    # The deploy's gate reads SageMaker's validation:accuracy; locally only the stand-in's own accuracy exists.
    _say(standin_gate(model.test_accuracy, AppConfig.from_context({**cdk_json_context(), **context})))
    return _execute(args, template, dataset_dir, model.predict, handler_logs)


def _execute(args, template, dataset_dir: Path, predict, handler_logs: io.StringIO) -> int:
    from data_prep.lst import format_lst
    from local_run.standin_model import read_split
    from local_run.workflow import local_workflow
    from ops.capture import iter_capture_records
    from ops.executions import outcome_counts, run_executions
    from ops.images import images_from_lst, pick_images
    from ops.plots import plot_monitoring, summarize
    from stacks.s3_layout import VALIDATION_CHANNEL_PREFIX, VALIDATION_LST_CHANNEL_PREFIX

    classes = template.class_names
    lst_entries, photo_entry, photo = _test_images_with_a_large_photo(dataset_dir, predict, len(classes))
    photo_key = f"{VALIDATION_CHANNEL_PREFIX}{photo_entry.path}"
    with local_workflow(template, predict, bucket=BUCKET, handler_logs=handler_logs) as workflow:
        # The test split where deploy puts it: images under dataset/validation/, the .lst under validation_lst/.
        lst_key = f"{VALIDATION_LST_CHANNEL_PREFIX}validation.lst"
        workflow.s3.put_object(Bucket=BUCKET, Key=lst_key, Body=format_lst(lst_entries).encode("utf-8"))
        for path in read_split(dataset_dir, "test")[0]:
            key = f"{VALIDATION_CHANNEL_PREFIX}{path.relative_to(dataset_dir / 'test').as_posix()}"
            workflow.s3.put_object(
                Bucket=BUCKET, Key=key, Body=path.read_bytes(), ContentType="application/x-image"
            )
        workflow.s3.put_object(Bucket=BUCKET, Key=photo_key, Body=photo, ContentType="image/jpeg")
        images = pick_images(
            images_from_lst(workflow.s3, BUCKET, lst_key, VALIDATION_CHANNEL_PREFIX, classes), args.limit
        )
        _say(f"Running {len(images)} executions of {template.stack_name}'s state machine in moto ...")
        outcomes = run_executions(
            workflow.sfn,
            workflow.state_machine_arn,
            images,
            timeout_s=EXECUTION_TIMEOUT_S,
            poll_s=0.05,
            progress=not args.no_progress,
        )
        published = Counter(event["detail-type"] for event in workflow.published_events())
        capture_prefix = None
        if workflow.emulator.capture is not None:
            capture_prefix = workflow.emulator.capture.endpoint_prefix(template.endpoint_name)
        records = []
        if capture_prefix:
            records = list(iter_capture_records(workflow.s3, BUCKET, capture_prefix, keep_input_data=False))
        batch = batch_error = None
        if workflow.batch_state_machine_arn is not None:
            _say(f"Running the batch state machine over s3://{BUCKET}/{VALIDATION_CHANNEL_PREFIX} ...")
            try:
                batch = workflow.run_batch(VALIDATION_CHANNEL_PREFIX, timeout_s=EXECUTION_TIMEOUT_S)
            except RunFailed as error:
                batch_error = str(error)

    lines = _failure_lines(outcomes)
    lines += _photo_lines(outcomes, photo_key, handler_logs.getvalue().splitlines())
    lines += emf_summary(handler_logs.getvalue().splitlines())
    if batch is not None:
        summary = batch.summary
        failed = ", ".join(f"{name} {count}" for name, count in summary["failed"].items()) or "none"
        lines += [
            "",
            f"Batch over s3://{BUCKET}/{VALIDATION_CHANNEL_PREFIX}: one execution, {batch.seconds:.1f} s",
            f"  {summary['images']} images: {summary['succeeded']} succeeded, {summary['below_threshold']} below "
            f"threshold, failed: {failed}",
            f"  summary {summary['summary_uri']}",
        ]
    if batch_error is not None:
        lines += ["", f"Batch did NOT succeed: {batch_error}"]

    succeeded, as_designed, unexpected = outcome_counts(outcomes)
    lines += [
        "",
        "Summary",
        f"  executions    {len(outcomes)}: {succeeded} succeeded, {as_designed} failed as designed "
        f"(ThresholdConfidenceNotMet), {unexpected} unexpected",
    ]
    events = ", ".join(f"{count} {detail_type!r}" for detail_type, count in sorted(published.items()))
    lines.append(f"  events        {sum(published.values())} on the default bus: {events or 'none'}")
    for name in classes:
        of_class = [outcome for outcome in outcomes if outcome.image.true_class == name]
        correct = sum(outcome.predicted_class == name for outcome in of_class)
        lines.append(f"  {name:<12}  {len(of_class)} images, {correct} predicted correctly")
    if capture_prefix is None:
        lines.append("  data capture  off (the synthesized endpoint config declares none)")
    else:
        lines.append(
            f"  data capture  {len(records)} records in s3://{BUCKET}/{capture_prefix.split('/')[0]}/"
        )
    if records:
        monitoring = summarize(records, classes, template.threshold)
        lines.append(
            f"  confidence    mean {monitoring['mean_confidence']:.3f}; {monitoring['below_threshold']} of "
            f"{monitoring['records']} captured below the filter's THRESHOLD {template.threshold:g}"
        )
        if not args.no_plot:
            plot = args.plot or Path("plots") / f"{args.command}-monitoring.png"
            title = f"Local run: data capture of endpoint {template.endpoint_name} (stand-in model)"
            figure = plot_monitoring(records, classes, template.threshold, plot, title=title)
            lines.append(f"  figure        {figure}")
    all_as_designed = not unexpected and batch_error is None and not (batch and batch.summary["failed"])
    lines += [
        "",
        "Every execution ended as designed." if all_as_designed else "NOT every execution ended as designed.",
    ]
    _say("\n".join(lines))
    return 0 if all_as_designed else EXIT_UNEXPECTED


def _test_images_with_a_large_photo(dataset_dir: Path, predict, num_classes: int):
    """The test split's .lst entries led by a generated phone-sized JPEG of its image the stand-in is surest of (so
    --limit keeps it); that entry and the photo's bytes."""
    from data_prep.dataset import read_lst
    from data_prep.lst import LstEntry
    from local_run.photos import large_photo

    entries = read_lst(dataset_dir / "test.lst", num_classes=num_classes)
    surest = max(entries, key=lambda entry: max(predict((dataset_dir / "test" / entry.path).read_bytes())))
    name = surest.path.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    photo_entry = LstEntry(
        index=max(entry.index for entry in entries) + 1, label=surest.label, path=f"{PHOTO_FOLDER}/{name}.jpg"
    )
    return (
        [photo_entry, *entries],
        photo_entry,
        large_photo((dataset_dir / "test" / surest.path).read_bytes()),
    )


def _photo_lines(outcomes, photo_key: str, log_lines: Iterable[str]) -> list[str]:
    """How the generated large photo went: its size, how the serializer passed it on, the prediction."""
    outcome = next((o for o in outcomes if o.image.key == photo_key), None)
    if outcome is None:  # not run: the photo leads the .lst, so any --limit keeps it
        return []
    serialized = {}
    for line in log_lines:
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and (document.get("message"), document.get("s3_key")) == (
            "image serialized",
            photo_key,
        ):
            serialized = document
    size = (
        f"{serialized['width']}x{serialized['height']} JPEG of {serialized['image_bytes']:,} bytes, "
        f"passed {serialized['passed'].replace('_', ' ')}"
        if serialized
        else "not serialized"
    )
    prediction = f"{outcome.image.true_class} -> {outcome.predicted_class}"
    if outcome.confidence is not None:
        prediction += f" {outcome.confidence:.3f}"
    ended = outcome.status if not outcome.error else f"{outcome.status} ({outcome.error})"
    return ["", f"Large photo (generated): s3://{BUCKET}/{photo_key}", f"  {size}; {prediction}, {ended}"]


def _failure_lines(outcomes) -> list[str]:
    """One line per failed execution (at most LISTED_FAILURES), unexpected ones first."""
    from ops.executions import cause_message

    failed = sorted((o for o in outcomes if o.status != "SUCCEEDED"), key=lambda o: o.as_designed)
    if not failed:
        return []
    lines = [
        "",
        f"Failed executions, {len(failed)} of {len(outcomes)} (true -> predicted class, top confidence):",
    ]
    width = max(len(outcome.image.key.rsplit("/", 1)[-1]) for outcome in failed[:LISTED_FAILURES])
    for outcome in failed[:LISTED_FAILURES]:
        name = outcome.image.key.rsplit("/", 1)[-1].ljust(width)
        if outcome.as_designed:
            prediction = f"{outcome.image.true_class} -> {outcome.predicted_class} {outcome.confidence:.3f}"
            lines.append(f"  {name}  {prediction}  {outcome.error}")
        else:
            error = f" {outcome.error}: {cause_message(outcome.cause)}" if outcome.error else ""
            lines.append(f"  {name}  UNEXPECTED {outcome.status}{error}")
    if len(failed) > LISTED_FAILURES:
        lines.append(f"  ... and {len(failed) - LISTED_FAILURES} more")
    return lines


def emf_summary(log_lines: Iterable[str]) -> list[str]:
    """Per Workflow dimension value: the filter's evaluations, how many were below threshold, top confidence."""
    by_workflow: dict[str, list[tuple[float, int]]] = {}
    namespaces = set()
    for line in log_lines:
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and "_aws" in document:
            namespaces.update(directive["Namespace"] for directive in document["_aws"]["CloudWatchMetrics"])
            by_workflow.setdefault(document[WORKFLOW_DIMENSION], []).append(
                (document[TOP_CONFIDENCE_METRIC], document[BELOW_THRESHOLD_METRIC])
            )
    lines = ["", f"Metrics the filter emitted (EMF, namespace {', '.join(sorted(namespaces)) or '-'}):"]
    for workflow, values in sorted(by_workflow.items(), reverse=True):  # single, then batch
        tops = [top for top, _ in values]
        lines.append(
            f"  {WORKFLOW_DIMENSION}={workflow:<7} {len(values)} evaluations, {sum(b for _, b in values)} "
            f"{BELOW_THRESHOLD_METRIC}; {TOP_CONFIDENCE_METRIC} min {min(tops):.3f}, "
            f"median {statistics.median(tops):.3f}"
        )
    return lines


def _say(text: str) -> None:
    lines = (line if len(line) <= WIDTH else line[: WIDTH - 3] + "..." for line in text.split("\n"))
    print("\n".join(lines), flush=True)

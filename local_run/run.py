"""One local run: dataset -> stand-in model -> synthesized workflow on moto -> one execution per test image."""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from data_prep.build import build_dataset
from data_prep.dataset import DemoSpec, demo_dataset, load_dataset
from data_prep.manifest import Manifest
from local_run import metrics
from local_run.batch import BatchResult, BatchRunError, render_summary
from local_run.standin_model import read_split, train_standin
from local_run.template import TemplateError, WorkflowTemplate, load_workflow_template, synthesize
from local_run.workflow import LocalWorkflow, local_workflow
from ops.capture import iter_capture_records
from ops.executions import ExecutionOutcome, render_table, run_executions
from ops.images import images_from_lst, pick_images
from ops.plots import plot_monitoring, summarize
from stacks.s3_layout import VALIDATION_CHANNEL_PREFIX, VALIDATION_LST_CHANNEL_PREFIX

LOCAL_BUCKET = "scones-vision-local"
VALIDATION_LST_KEY = f"{VALIDATION_LST_CHANNEL_PREFIX}validation.lst"
IMAGE_CONTENT_TYPE = "application/x-image"  # docs/CONTRACTS.md, S3 layout
EXECUTION_TIMEOUT_S = 300
STANDIN_DESCRIPTION = (
    "Stand-in model: scikit-learn logistic regression on pooled pixels and colour histograms, trained here in "
    "seconds.\n  It stands in for SageMaker's image-classification algorithm locally; it is not that model."
)


@dataclass(frozen=True)
class RunResult:
    outcomes: list[ExecutionOutcome]
    standin_accuracy: float
    test_images: int
    capture_records: int
    # ops.plots.summarize of the capture records against the synthesized filter's threshold; None without records
    monitoring: dict[str, Any] | None
    monitoring_plot: Path | None  # None when not asked for, or with no capture records to draw
    batch: BatchResult | None = None  # the same images in one batch execution, when the template has one
    batch_error: str | None = None  # why that batch execution did not succeed

    @property
    def all_as_designed(self) -> bool:
        # As for single images, a batch image that failed (rather than scored below threshold) is unexpected.
        batch_as_designed = self.batch_error is None and (
            self.batch is None or not self.batch.summary["failed"]
        )
        return batch_as_designed and all(outcome.as_designed for outcome in self.outcomes)


def prepare_dataset(
    source: Path, dataset_dir: Path, *, classes: tuple[str, ...], verify_md5: bool
) -> Manifest:
    """Build the dataset from the tarball unless `dataset_dir` already holds exactly it (data_prep decides)."""
    return build_dataset(source, dataset_dir, classes=classes, verify_md5=verify_md5, progress=False).manifest


def prepare_demo_dataset(spec: DemoSpec) -> tuple[Path, Manifest]:
    """data_prep's generated demo dataset of `spec`: the builder and cache the CDK app's synth uses too."""
    demo = demo_dataset(spec)
    return demo.directory, demo.manifest


def synthesized_workflow_template(
    dataset_dir: Path, *, synth_dir: Path, context: Mapping[str, Any]
) -> WorkflowTemplate:
    """The workflow synthesized now, into synth_dir, for this dataset."""
    return load_workflow_template(synthesize(synth_dir, {"dataset_dir": str(dataset_dir), **context}))


def run(
    dataset_dir: Path,
    template: WorkflowTemplate,
    *,
    limit: int | None,
    progress: bool,
    handler_logs: TextIO,
    out: TextIO,
    plot_path: Path | None = None,
) -> RunResult:
    """Execute the workflow once per test image, tabulate the outcomes and summarize the data capture.

    With `plot_path`, the captured inferences are also drawn there, as `ops monitor` draws a deployed
    endpoint's.
    """
    manifest = load_dataset(dataset_dir).manifest
    threshold = template.threshold
    if template.class_names != manifest.classes:
        raise TemplateError(
            f"the synthesized classifier's CLASS_NAMES {list(template.class_names)} differ from the dataset's "
            f"classes {list(manifest.classes)} ({dataset_dir}); the stand-in model would answer in another order"
        )
    print(f"Training the local stand-in model on {dataset_dir / 'train'} ...", file=out, flush=True)
    model = train_standin(dataset_dir, manifest.classes)
    print(STANDIN_DESCRIPTION, file=out, flush=True)
    handler_log = metrics.TeeStream(handler_logs)  # the EMF lines in it are read back after the executions
    with local_workflow(template, model.predict, bucket=LOCAL_BUCKET, handler_logs=handler_log) as workflow:
        test_images = _upload_test_images(workflow, dataset_dir)
        images = pick_images(
            images_from_lst(
                workflow.s3, workflow.bucket, VALIDATION_LST_KEY, VALIDATION_CHANNEL_PREFIX, manifest.classes
            ),
            limit,
        )
        print(
            f"Running {len(images)} executions of {template.stack_name}'s state machine (moto), "
            f"endpoint {template.endpoint_name!r} emulated at {workflow.emulator.url}",
            file=out,
            flush=True,
        )
        outcomes = run_executions(
            workflow.sfn,
            workflow.state_machine_arn,
            images,
            timeout_s=EXECUTION_TIMEOUT_S,
            poll_s=0.05,
            progress=progress,
        )
        # The endpoint config may declare no data capture (data_capture_enabled=false): then there is none to read.
        capture_prefix = (
            workflow.capture.endpoint_prefix(template.endpoint_name) if workflow.capture is not None else None
        )
        capture_records = (
            list(iter_capture_records(workflow.s3, workflow.bucket, capture_prefix))
            if capture_prefix is not None
            else []
        )
        # The metrics of the single-image executions, taken before the batch adds its own invocations.
        run_metrics = metrics.collect_from_workflow(workflow, outcomes, handler_log)
        batch, batch_error = _run_batch(workflow, out)
    monitoring = summarize(capture_records, manifest.classes, threshold) if capture_records else None
    drawn_plot = None
    if monitoring is not None and plot_path is not None:
        drawn_plot = plot_monitoring(
            capture_records,
            manifest.classes,
            threshold,
            plot_path,
            title=f"Local run: data capture of endpoint {template.endpoint_name} (stand-in model)",
        )
    result = RunResult(
        outcomes,
        model.test_accuracy,
        test_images,
        len(capture_records),
        monitoring,
        drawn_plot,
        batch,
        batch_error,
    )
    print(render_table(outcomes, class_names=manifest.classes), file=out)
    print(
        _summary(result, f"s3://{LOCAL_BUCKET}/{capture_prefix}" if capture_prefix is not None else None),
        file=out,
    )
    metrics.report(template.assembly_dir, run_metrics, out)
    if batch is not None:
        print(render_summary(batch, prefix_uri=f"s3://{LOCAL_BUCKET}/{VALIDATION_CHANNEL_PREFIX}"), file=out)
    if batch_error is not None:
        print(f"\nBatch classification did NOT succeed: {batch_error}", file=out)
    return result


def _run_batch(workflow: LocalWorkflow, out: TextIO) -> tuple[BatchResult | None, str | None]:
    """The validation prefix in one execution of the batch state machine (after the single-image ones, so the
    data capture above holds only theirs)."""
    if workflow.batch_state_machine_arn is None:
        return None, None
    print(
        f"Classifying s3://{workflow.bucket}/{VALIDATION_CHANNEL_PREFIX} in one batch execution ...", file=out
    )
    try:
        batch = workflow.run_batch(VALIDATION_CHANNEL_PREFIX, timeout_s=EXECUTION_TIMEOUT_S)
    except BatchRunError as error:
        return None, str(error)
    return batch, None


def _upload_test_images(workflow: LocalWorkflow, dataset_dir: Path) -> int:
    """The test split where deploy puts it: images under dataset/validation/, the .lst under validation_lst/."""
    paths, _ = read_split(dataset_dir, "test")
    for path in paths:
        relative_key = path.relative_to(dataset_dir / "test").as_posix()
        workflow.s3.put_object(
            Bucket=workflow.bucket,
            Key=f"{VALIDATION_CHANNEL_PREFIX}{relative_key}",
            Body=path.read_bytes(),
            ContentType=IMAGE_CONTENT_TYPE,
        )
    workflow.s3.put_object(
        Bucket=workflow.bucket, Key=VALIDATION_LST_KEY, Body=(dataset_dir / "test.lst").read_bytes()
    )
    return len(paths)


def _summary(result: RunResult, capture_location: str | None) -> str:
    """The run's summary; `capture_location` is where the data capture was read, None when the endpoint has none."""
    outcomes = result.outcomes
    succeeded = sum(outcome.status == "SUCCEEDED" for outcome in outcomes)
    as_designed_failures = sum(outcome.as_designed and outcome.status != "SUCCEEDED" for outcome in outcomes)
    unexpected = sum(not outcome.as_designed for outcome in outcomes)
    accuracy = (
        "n/a (empty test split)"
        if math.isnan(result.standin_accuracy)
        else f"{result.standin_accuracy:.1%} on {result.test_images} test images"
    )
    lines = [
        "",
        "Summary",
        f"  executions            {len(outcomes)}",
        f"  succeeded             {succeeded}",
        f"  failed as designed    {as_designed_failures} (ThresholdConfidenceNotMet)",
        f"  unexpected            {unexpected}",
        f"  stand-in accuracy     {accuracy} (local scikit-learn stand-in, not the SageMaker model)",
        f"  data capture records  {result.capture_records} under {capture_location}"
        if capture_location is not None
        else "  data capture          off (the synthesized endpoint config declares none)",
        *_monitoring_lines(result),
        "",
        "Every execution ended as designed."
        if not unexpected
        else f"{unexpected} execution(s) did NOT end as designed.",
    ]
    return "\n".join(lines)


def _monitoring_lines(result: RunResult) -> list[str]:
    monitoring = result.monitoring
    if monitoring is None:
        return []
    lines = [
        f"  below threshold       {monitoring['below_threshold']} of {monitoring['records']} captured "
        f"({monitoring['share_below_threshold']:.1%}) below the filter's THRESHOLD {monitoring['threshold']:g}",
        f"  mean confidence       {monitoring['mean_confidence']:.3f}",
    ]
    if result.monitoring_plot is not None:
        lines.append(f"  monitoring plot       {result.monitoring_plot}")
    return lines


@contextlib.contextmanager
def handler_log_stream(path: Path | None) -> Iterator[TextIO]:
    """Where the handlers' JSON log lines go: appended to a file, or nowhere (the table reports failures)."""
    with open(path or os.devnull, "a", encoding="utf-8") as stream:
        yield stream

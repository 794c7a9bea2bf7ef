"""The synthesized batch state machine over a prefix, in moto: its rows agree with single-image executions."""

from __future__ import annotations

import json
import time
import uuid

import moto
import pytest

from local_run.moto_seams import MotoChanged, local_definition, patched_moto
from local_run.photos import large_photo
from local_run.standin_model import read_split
from tests.local.conftest import execute

BATCH_TIMEOUT_S = 60


@pytest.fixture(scope="module")
def batch_prefix(local, dataset, ambiguous_image) -> str:
    """A prefix of every test image, one blend the stand-in is unsure of, a phone-sized photo (passed by
    reference), and an object that is no image."""
    dataset_dir, _ = dataset
    paths, _ = read_split(dataset_dir, "test")
    prefix = f"dataset/validation/batch-{uuid.uuid4().hex[:8]}/"
    images = {f"{prefix}{path.name}": path.read_bytes() for path in paths}
    images[f"{prefix}blend.png"] = ambiguous_image
    images[f"{prefix}photo.jpg"] = large_photo(paths[0].read_bytes())
    images[f"{prefix}notes.txt"] = b"not an image"
    for key, body in images.items():
        local.s3.put_object(Bucket=local.bucket, Key=key, Body=body)
    return prefix


@pytest.fixture(scope="module")
def batch(local, batch_prefix):
    return local.run_batch(batch_prefix, timeout_s=BATCH_TIMEOUT_S)


@pytest.fixture(scope="module")
def rows(local, batch) -> list[dict]:
    """The outcome records in the SUCCEEDED result files the run's manifest lists (a line per child)."""
    bucket, _, folder = batch.summary["results_uri"].removeprefix("s3://").partition("/")
    manifest = json.loads(local.s3.get_object(Bucket=bucket, Key=f"{folder}manifest.json")["Body"].read())
    lines = [
        line
        for entry in manifest["ResultFiles"]["SUCCEEDED"]
        for line in local.s3.get_object(Bucket=bucket, Key=entry["Key"])["Body"].iter_lines()
    ]
    return [record for line in lines if line.strip() for record in json.loads(line)]


def _single_image_outcome(local, key: str) -> dict:
    """What one execution of the single-image state machine says about the key, in the batch row's terms."""
    execution = execute(local, key)
    if execution.status == "SUCCEEDED":
        output = json.loads(execution.description["output"])
        return {
            "outcome": "succeeded",
            "error": None,
            "predicted_class": output["predicted_class"],
            "top": max(output["inferences"]),
        }
    error = execution.description["error"]
    if error == "ThresholdConfidenceNotMet":
        details = json.loads(json.loads(execution.description["cause"])["errorMessage"])
        return {
            "outcome": "below_threshold",
            "error": error,
            "predicted_class": details["predicted_class"],
            "top": details["top_confidence"],
        }
    return {"outcome": "failed", "error": error, "predicted_class": None, "top": None}


def test_every_row_matches_the_single_image_outcome_of_the_same_image(local, rows, batch_prefix):
    listed = local.s3.list_objects_v2(Bucket=local.bucket, Prefix=batch_prefix)["Contents"]
    rows = {row["s3_key"]: row for row in rows}

    assert set(rows) == {item["Key"] for item in listed}
    for key, row in rows.items():
        assert "image_data" not in row and "image_ref" not in row
        inferences = row.get("inferences")
        batch_outcome = {
            "outcome": row["outcome"],
            "error": row.get("error"),
            "predicted_class": row.get("predicted_class"),
            "top": max(inferences) if inferences else None,
        }
        assert batch_outcome == _single_image_outcome(local, key), key


def test_the_phone_sized_photo_is_classified_in_the_batch(rows, batch_prefix):
    (photo,) = [row for row in rows if row["s3_key"] == f"{batch_prefix}photo.jpg"]

    assert photo["outcome"] in ("succeeded", "below_threshold")
    assert len(photo["inferences"]) == 2


def test_the_rows_cover_every_outcome_and_the_summary_counts_them(batch, rows):
    outcomes = [row["outcome"] for row in rows]
    summary = batch.summary

    assert {"succeeded", "below_threshold", "failed"} <= set(outcomes)
    assert summary["images"] == len(rows)
    assert summary["succeeded"] == outcomes.count("succeeded")
    assert summary["below_threshold"] == outcomes.count("below_threshold")
    assert summary["failed"] == {"NotAnImage": 1}
    predicted = [row["predicted_class"] for row in rows if row["outcome"] != "failed"]
    assert summary["per_class"] == {name: predicted.count(name) for name in sorted(set(predicted))}


def test_the_summary_is_written_next_to_the_results(local, batch):
    summary = batch.summary
    bucket, _, key = summary["summary_uri"].removeprefix("s3://").partition("/")
    assert summary["summary_uri"] == f"{summary['results_uri']}summary.json"
    assert key.startswith("batch-results/") and key.endswith("/summary.json")
    assert json.loads(local.s3.get_object(Bucket=bucket, Key=key)["Body"].read()) == summary


def test_the_filter_counts_a_batchs_images_under_its_own_workflow(local, handler_logs, dataset):
    # The map's "workflow": "batch" reaches the filter through serialize and classify; a single-image
    # execution of the same image has none, and is counted as "single" (docs/CONTRACTS.md, "Metrics").
    dataset_dir, _ = dataset
    paths = read_split(dataset_dir, "test")[0][:3]
    prefix = f"dataset/validation/workflow-{uuid.uuid4().hex[:8]}/"
    for path in paths:
        local.s3.put_object(Bucket=local.bucket, Key=f"{prefix}{path.name}", Body=path.read_bytes())

    def emf_workflows_of(run) -> list[str]:
        start = len(handler_logs.getvalue())
        run()
        lines = handler_logs.getvalue()[start:].splitlines()
        return [json.loads(line)["Workflow"] for line in lines if line.startswith('{"_aws"')]

    batch_workflows = emf_workflows_of(lambda: local.run_batch(prefix, timeout_s=BATCH_TIMEOUT_S))
    single_workflows = emf_workflows_of(lambda: execute(local, f"{prefix}{paths[0].name}"))

    assert batch_workflows == ["batch"] * len(paths)
    assert single_workflows == ["single"]


@pytest.mark.parametrize(
    "batch_input",
    [
        {"prefix": "model-artifacts/"},
        {"prefix": "dataset/validation/", "s3_bucket": "someone-elses-bucket"},
        {"prefix": "dataset/validation/", "s3_bucket": None},
        {"s3_key": "dataset/validation/a.png"},
    ],
)
def test_an_input_outside_the_projects_input_prefix_is_refused(local, batch_input):
    batch_input = {"s3_bucket": local.bucket, **batch_input}  # the last case has no prefix at all
    arn = local.sfn.start_execution(
        stateMachineArn=local.batch_state_machine_arn,
        name=f"refused-{uuid.uuid4().hex[:12]}",
        input=json.dumps(batch_input),
    )["executionArn"]
    deadline = time.monotonic() + BATCH_TIMEOUT_S
    while (description := local.sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.02)

    assert (description["status"], description["error"]) == ("FAILED", "BatchInputRejected")
    assert not local.s3.list_objects_v2(
        Bucket=local.bucket, Prefix=f"batch-results/{description['name']}/"
    ).get("Contents")


def test_the_local_rewrite_changes_only_what_moto_cannot_run(workflow_template):
    arns = {
        logical_id: f"arn:aws:lambda:us-east-1:123456789012:function:{logical_id}"
        for logical_id in workflow_template.batch.functions
    }
    synthesized = json.loads(workflow_template.batch.definition(arns, bucket="b"))
    rewritten = json.loads(local_definition(json.dumps(synthesized)))

    (name,) = [name for name, state in synthesized["States"].items() if state["Type"] == "Map"]
    original, local_map = synthesized["States"].pop(name), rewritten["States"].pop(name)
    assert rewritten == synthesized
    assert original["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == "EXPRESS"
    assert local_map["ItemProcessor"]["ProcessorConfig"]["ExecutionType"] == "STANDARD"
    assert isinstance(local_map["ToleratedFailurePercentage"], float)
    assert local_map["ToleratedFailurePercentage"] == original["ToleratedFailurePercentage"]
    assert original["ResultWriter"].pop("WriterConfig") == {
        "OutputType": "JSONL",
        "Transformation": "COMPACT",
    }
    # No ItemBatcher locally: each child gets a batch of one image, in the {"Items": [...]} shape of a batch.
    assert original.pop("ItemBatcher") == {"MaxItemsPerBatch": 10}
    assert local_map.pop("ItemSelector") == {"Items": [original.pop("ItemSelector")]}
    del original["ToleratedFailurePercentage"], local_map["ToleratedFailurePercentage"]
    original["ItemProcessor"]["ProcessorConfig"].pop("ExecutionType")
    local_map["ItemProcessor"]["ProcessorConfig"].pop("ExecutionType")
    assert local_map == original


def test_a_moto_other_than_the_checked_version_stops_the_local_run(monkeypatch):
    monkeypatch.setattr(moto, "__version__", "5.3.0")

    with (
        pytest.raises(MotoChanged, match=r"moto 5\.3\.0 is installed.*local_run/moto_seams\.py"),
        patched_moto({}),
    ):
        pass


def test_the_result_files_list_every_image_of_the_prefix(local, batch, rows):
    bucket, _, folder = batch.summary["results_uri"].removeprefix("s3://").partition("/")
    manifest = json.loads(local.s3.get_object(Bucket=bucket, Key=f"{folder}manifest.json")["Body"].read())

    assert [entry["Key"] for entry in manifest["ResultFiles"]["SUCCEEDED"]] == [f"{folder}SUCCEEDED_0.json"]
    assert manifest["ResultFiles"]["FAILED"] == manifest["ResultFiles"]["PENDING"] == []
    assert len(rows) == batch.summary["images"]

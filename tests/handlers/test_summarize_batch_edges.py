"""summarize_batch at its edges: PENDING children counted as NotRun, batches of odd shapes, bad result-file entries.
Each test fails on a mutant that survived the handler's other tests (mutation/README.md)."""

from __future__ import annotations

import json

import pytest

from tests.lambda_handlers import load_handler_module

summarize_batch = load_handler_module("summarize_batch")
BUCKET = "scones-test-bucket"
RESULTS = "batch-results/"
RUN = "0c6c4b8e-run"


@pytest.fixture
def s3(moto_s3):
    moto_s3.create_bucket(Bucket=BUCKET)
    return moto_s3


def summary_of(s3, files: dict[str, list[str]]) -> dict:
    """Write one result file per status (its JSONL lines as given) and the manifest naming them, then summarize."""
    result_files: dict[str, list[dict]] = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
    for status, lines in files.items():
        key = f"{RESULTS}{RUN}/{status}_0.json"
        s3.put_object(Bucket=BUCKET, Key=key, Body="".join(line + "\n" for line in lines).encode())
        result_files[status].append({"Key": key})
    return summary_with_manifest(s3, {"ResultFiles": result_files})


def summary_with_manifest(s3, manifest: dict) -> dict:
    manifest_key = f"{RESULTS}{RUN}/manifest.json"
    s3.put_object(Bucket=BUCKET, Key=manifest_key, Body=json.dumps(manifest).encode())
    event = {"map_run": {"ResultWriterDetails": {"Bucket": BUCKET, "Key": manifest_key}}}
    return summarize_batch.summarize_batch(event, RESULTS, s3)


def child(status: str, images: int | None, **fields) -> str:
    """A FAILED or PENDING line: the child's execution record, its Input the batch of `images` items."""
    record = {
        "ExecutionArn": f"arn:aws:states:us-east-1:123456789012:express:Batch/{RUN}:x",
        "Status": status,
    }
    if images is not None:
        record["Input"] = json.dumps({"Items": [{"s3_key": f"{n}.png"} for n in range(images)]})
    return json.dumps({**record, **fields})


def test_every_image_of_a_pending_child_counts_as_not_run(s3):
    summary = summary_of(s3, {"PENDING": [child("PENDING", 3), child("PENDING", 2)]})

    assert (summary["images"], summary["failed"]) == (5, {"NotRun": 5})


def test_pending_children_count_after_the_failed_and_succeeded_ones(s3):
    succeeded = json.dumps([{"s3_key": "a.png", "outcome": "succeeded", "predicted_class": "bicycle"}])
    failed = child("FAILED", 2, Error="StorageUnavailable")

    summary = summary_of(s3, {"SUCCEEDED": [succeeded], "FAILED": [failed], "PENDING": [child("PENDING", 2)]})

    assert summary["images"] == 5
    assert (summary["succeeded"], summary["failed"]) == (1, {"NotRun": 2, "StorageUnavailable": 2})


@pytest.mark.parametrize(
    "input_text",
    [None, json.dumps({"Items": []}), json.dumps({"Items": "a.png"}), json.dumps(["a.png", "b.png"])],
    ids=["no-input", "empty-items", "items-not-a-list", "input-not-an-object"],
)
def test_a_child_whose_batch_cannot_be_read_counts_once(s3, input_text):
    line = json.dumps(
        {"Status": "FAILED", "Error": "States.Timeout", **({"Input": input_text} if input_text else {})}
    )

    summary = summary_of(s3, {"FAILED": [line]})

    assert (summary["images"], summary["failed"]) == (1, {"States.Timeout": 1})


@pytest.mark.parametrize(
    "line", ["[1, 2]", '[{"outcome": "succeeded"}, "b.png"]', "7"], ids=["numbers", "mixed", "number"]
)
def test_a_succeeded_line_that_is_not_a_list_of_records_is_unreadable(s3, line):
    with pytest.raises(summarize_batch.ResultsUnreadable, match="is not a child's list of outcome records"):
        summary_of(s3, {"SUCCEEDED": [line]})


def test_the_unreadable_line_is_named_by_its_number(s3):
    good = json.dumps([{"s3_key": "a.png", "outcome": "succeeded"}])

    with pytest.raises(summarize_batch.ResultsUnreadable, match=r"SUCCEEDED_0\.json line 3 is not JSON"):
        summary_of(s3, {"SUCCEEDED": [good, "", "{not json"]})


@pytest.mark.parametrize(
    "entry",
    [{"Key": 7}, {"Key": "dataset/other.json"}, {"Size": 1}, "batch-results/x.json"],
    ids=["key-not-text", "key-outside-the-results", "no-key", "not-an-object"],
)
def test_a_result_file_entry_outside_the_results_prefix_is_unreadable(s3, entry):
    with pytest.raises(summarize_batch.ResultsUnreadable, match="is not a key under batch-results/"):
        summary_with_manifest(s3, {"ResultFiles": {"FAILED": [entry]}})

"""summarize_batch: reading a ResultWriter manifest and its JSONL result files (moto S3), and the inline form."""

from __future__ import annotations

import json

import pytest

from tests.lambda_handlers import load_handler_module

summarize_batch = load_handler_module("summarize_batch")
BUCKET = "scones-test-bucket"
RESULTS = "batch-results/"
RUN = "6dbfba93-bcff-410b-9b5c-abf41ae9eddb"


def record(key: str, outcome: str, **fields) -> dict:
    return {"s3_key": key, "outcome": outcome, **fields}


SUCCEEDED_RECORDS = [
    record("dataset/validation/a.png", "succeeded", predicted_class="bicycle", inferences=[0.97, 0.03]),
    record("dataset/validation/b.png", "succeeded", predicted_class="motorcycle", inferences=[0.01, 0.99]),
    record(
        "dataset/validation/c.png",
        "below_threshold",
        error="ThresholdConfidenceNotMet",
        cause="{}",
        predicted_class="bicycle",
        inferences=[0.6, 0.4],
    ),
    record("dataset/validation/d.txt", "failed", error="NotAnImage", cause="{}"),
]
FAILED_ENTRY = {
    "ExecutionArn": f"arn:aws:states:us-east-1:123456789012:express:Batch/{RUN}:x",
    # A batch of two images (the map's ItemBatcher): both count as failed.
    "Input": json.dumps(
        {
            "Items": [
                {"s3_bucket": BUCKET, "s3_key": "dataset/validation/e.png"},
                {"s3_bucket": BUCKET, "s3_key": "dataset/validation/f.png"},
            ]
        }
    ),
    "Status": "FAILED",
    "Error": "StorageUnavailable",
    "Cause": "S3 was unavailable",
}


@pytest.fixture
def s3(moto_s3):
    moto_s3.create_bucket(Bucket=BUCKET)
    summarize_batch._s3_client.cache_clear()
    yield moto_s3
    summarize_batch._s3_client.cache_clear()


def write_result_writer_output(s3, *, succeeded: list, failed: list[dict]) -> str:
    """What Step Functions writes with WriterConfig JSONL/COMPACT: the manifest and one file per status, a line
    per child (a succeeded child's line is its list of outcome records)."""
    files = {"SUCCEEDED": [], "FAILED": [], "PENDING": []}
    for status, rows in (("SUCCEEDED", succeeded), ("FAILED", failed)):
        if rows:
            key = f"{RESULTS}{RUN}/{status}_0.json"
            body = "".join(json.dumps(row) + "\n" for row in rows).encode()
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
            files[status].append({"Key": key, "Size": len(body)})
    manifest_key = f"{RESULTS}{RUN}/manifest.json"
    manifest = {"DestinationBucket": BUCKET, "MapRunArn": "arn:...:mapRun:x", "ResultFiles": files}
    s3.put_object(Bucket=BUCKET, Key=manifest_key, Body=json.dumps(manifest).encode())
    return manifest_key


def event_for(map_run) -> dict:
    return {
        "s3_bucket": BUCKET,
        "prefix": "dataset/validation/",
        "execution_name": "run-1",
        "map_run": map_run,
    }


def test_counts_the_result_files_and_writes_the_summary_next_to_the_manifest(s3, monkeypatch, lambda_context):
    batches = [SUCCEEDED_RECORDS[:3], SUCCEEDED_RECORDS[3:]]
    manifest_key = write_result_writer_output(s3, succeeded=batches, failed=[FAILED_ENTRY])
    monkeypatch.setenv("RESULTS_PREFIX", RESULTS)
    map_run = {"MapRunArn": "arn:...", "ResultWriterDetails": {"Bucket": BUCKET, "Key": manifest_key}}

    summary = summarize_batch.handler(event_for(map_run), lambda_context)

    assert summary == {
        "images": 6,
        "succeeded": 2,
        "below_threshold": 1,
        "failed": {"NotAnImage": 1, "StorageUnavailable": 2},
        "per_class": {"bicycle": 2, "motorcycle": 1},
        "results_uri": f"s3://{BUCKET}/{RESULTS}{RUN}/",
        "summary_uri": f"s3://{BUCKET}/{RESULTS}{RUN}/summary.json",
    }
    written = s3.get_object(Bucket=BUCKET, Key=f"{RESULTS}{RUN}/summary.json")["Body"].read()
    assert json.loads(written) == summary


def test_a_succeeded_line_in_the_none_transformation_is_read_from_its_output(s3):
    wrapped = {"ExecutionArn": "arn:x", "Status": "SUCCEEDED", "Output": json.dumps(SUCCEEDED_RECORDS[:2])}
    manifest_key = write_result_writer_output(s3, succeeded=[wrapped], failed=[])
    map_run = {"ResultWriterDetails": {"Bucket": BUCKET, "Key": manifest_key}}

    summary = summarize_batch.summarize_batch(event_for(map_run), RESULTS, s3)

    assert (summary["succeeded"], summary["per_class"]) == (2, {"bicycle": 1, "motorcycle": 1})


def test_a_failed_entry_without_an_error_name_counts_as_a_failed_child(s3):
    manifest_key = write_result_writer_output(
        s3, succeeded=[SUCCEEDED_RECORDS[:1]], failed=[{"Status": "FAILED"}]
    )
    map_run = {"ResultWriterDetails": {"Bucket": BUCKET, "Key": manifest_key}}

    summary = summarize_batch.summarize_batch(event_for(map_run), RESULTS, s3)

    assert (summary["images"], summary["failed"]) == (2, {"ChildExecutionFailed": 1})


@pytest.mark.parametrize(
    ("succeeded", "match"),
    [
        ([SUCCEEDED_RECORDS[0]], "is not a child's list of outcome records"),
        ([[record("k", "maybe")]], "an outcome record has outcome 'maybe'"),
        (None, f"cannot read s3://{BUCKET}/{RESULTS}{RUN}/manifest.json"),
    ],
    ids=["not-a-list", "unknown-outcome", "no-manifest"],
)
def test_unreadable_results_are_named(s3, succeeded, match):
    manifest_key = f"{RESULTS}{RUN}/manifest.json"
    if succeeded is not None:
        manifest_key = write_result_writer_output(s3, succeeded=succeeded, failed=[])
    map_run = {"ResultWriterDetails": {"Bucket": BUCKET, "Key": manifest_key}}

    with pytest.raises(summarize_batch.ResultsUnreadable, match=match):
        summarize_batch.summarize_batch(event_for(map_run), RESULTS, s3)


@pytest.mark.parametrize(
    ("event", "match"),
    [
        (None, "must be a JSON object with 'map_run'"),
        ({}, "must be a JSON object with 'map_run'"),
        ({"map_run": "x"}, "with ResultWriterDetails"),
        ({"map_run": []}, "with ResultWriterDetails"),
        ({"map_run": {"MapRunArn": "x"}}, "with ResultWriterDetails"),
        (
            event_for({"ResultWriterDetails": {"Bucket": BUCKET, "Key": "dataset/manifest.json"}}),
            "not under 'batch-results/'",
        ),
        (
            event_for({"ResultWriterDetails": {"Bucket": "", "Key": "batch-results/m.json"}}),
            "'Bucket' must be a non-empty",
        ),
    ],
)
def test_malformed_events_are_named(s3, event, match):
    with pytest.raises(summarize_batch.MalformedEvent, match=match):
        summarize_batch.summarize_batch(event, RESULTS, s3)


@pytest.mark.parametrize("value", [None, "", "/batch-results/", "batch-results"])
def test_results_prefix_must_be_a_key_prefix(value):
    environ = {} if value is None else {"RESULTS_PREFIX": value}
    with pytest.raises(summarize_batch.ConfigurationError):
        summarize_batch.load_results_prefix(environ)

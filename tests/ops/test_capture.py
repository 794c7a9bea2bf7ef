import json
from datetime import UTC, datetime

import pytest
from botocore.response import StreamingBody

from ops.capture import CaptureProblem, CaptureRecord, iter_capture_records, parse_capture_line
from ops.errors import CaptureFormatError
from tests.ops.builders import PNG_BYTES, capture_line

PREFIX = "data_capture/scones-endpoint/"


def test_parse_capture_line_reads_the_contract_format():
    line = capture_line([0.97, 0.03], event_id="4f1c", inference_time="2026-11-26T10:15:30Z")

    assert parse_capture_line(line) == CaptureRecord(
        event_id="4f1c",
        inference_time=datetime(2026, 11, 26, 10, 15, 30, tzinfo=UTC),
        input_content_type="image/png",
        input_data=PNG_BYTES,
        probabilities=(0.97, 0.03),
    )


@pytest.mark.parametrize("output_encoding", ["JSON", "CSV", "BASE64"])
def test_the_output_is_decoded_by_its_encoding(output_encoding):
    record = parse_capture_line(capture_line([0.25, 0.75], output_encoding=output_encoding))

    assert record.probabilities == (0.25, 0.75)
    assert (record.confidence, record.predicted_index) == (0.75, 1)


def test_an_output_only_capture_has_no_input():
    record = parse_capture_line(capture_line([0.5, 0.5], input_bytes=None))

    assert (record.input_content_type, record.input_data) == (None, None)


def test_a_time_without_offset_is_read_as_utc():
    record = parse_capture_line(capture_line([1.0], inference_time="2026-11-26T10:00:00"))

    assert record.inference_time == datetime(2026, 11, 26, 10, tzinfo=UTC)


def _edited(edit) -> str:
    record = json.loads(capture_line([0.9, 0.1]))
    edit(record)
    return json.dumps(record)


def _set_output(field, value):
    return lambda record: record["captureData"]["endpointOutput"].__setitem__(field, value)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not JSON"),
        (_edited(lambda r: r.pop("eventMetadata")), "missing eventMetadata"),
        (_edited(lambda r: r["captureData"].pop("endpointOutput")), "missing captureData.endpointOutput"),
        (_edited(lambda r: r["eventMetadata"].pop("eventId")), "missing eventMetadata.eventId"),
        (_edited(_set_output("data", 7)), "captureData.endpointOutput.data is int, expected str"),
        (_edited(_set_output("encoding", "XML")), "endpointOutput encoding 'XML' is not BASE64, JSON or CSV"),
        (_edited(_set_output("data", '{"predictions": [0.9]}')), "not a JSON list of numbers"),
        (_edited(_set_output("data", "[0.9, NaN]")), "not finite"),
        (_edited(_set_output("data", "[]")), "no probabilities"),
        (
            _edited(lambda r: r["captureData"]["endpointInput"].update(data="***")),
            "endpointInput data is not valid base64",
        ),
        (
            _edited(lambda r: r["eventMetadata"].update(inferenceTime="yesterday")),
            "'yesterday' is not an ISO 8601 time",
        ),
    ],
)
def test_a_malformed_line_says_what_is_wrong(line, message):
    with pytest.raises(CaptureFormatError, match=message):
        parse_capture_line(line)


def _put_capture(s3, bucket, hour: int, name: str, lines: list[str]) -> str:
    key = f"{PREFIX}AllTraffic/2026/11/26/{hour:02d}/{name}.jsonl"
    s3.put_object(Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode())
    return key


def test_records_come_from_every_jsonl_object_across_pages_in_key_order(s3, bucket):
    _put_capture(s3, bucket, 11, "b", [capture_line([0.1, 0.9], event_id="3")])
    _put_capture(
        s3, bucket, 10, "a", [capture_line([0.9, 0.1], event_id="1"), capture_line([0.8, 0.2], event_id="2")]
    )
    _put_capture(s3, bucket, 12, "c", [capture_line([0.6, 0.4], event_id="4")])
    s3.put_object(Bucket=bucket, Key=f"{PREFIX}README.txt", Body=b"not capture data")
    s3.put_object(Bucket=bucket, Key="data_capture/other-endpoint/x.jsonl", Body=b"{not ours")

    records = list(iter_capture_records(s3, bucket, PREFIX, page_size=1))

    assert [record.event_id for record in records] == ["1", "2", "3", "4"]


def test_a_malformed_line_stops_reading_with_its_key_and_line_number(s3, bucket):
    key = _put_capture(s3, bucket, 10, "a", [capture_line([0.9, 0.1]), "", "{oops"])

    with pytest.raises(CaptureFormatError, match=rf"s3://{bucket}/{key} line 3: not JSON"):
        list(iter_capture_records(s3, bucket, PREFIX))


def test_with_a_problems_list_malformed_lines_are_listed_and_reading_goes_on(s3, bucket):
    bad_key = _put_capture(s3, bucket, 10, "a", ["{oops", capture_line([0.9, 0.1], event_id="1")])
    binary_key = f"{PREFIX}AllTraffic/2026/11/26/11/b.jsonl"
    s3.put_object(
        Bucket=bucket, Key=binary_key, Body=b"\xff\xfe\n" + capture_line([0.2, 0.8], event_id="2").encode()
    )
    problems: list[CaptureProblem] = []

    records = list(iter_capture_records(s3, bucket, PREFIX, problems=problems))

    assert [record.event_id for record in records] == ["1", "2"]
    assert [(problem.key, problem.line_number) for problem in problems] == [
        (f"s3://{bucket}/{bad_key}", 1),
        (f"s3://{bucket}/{binary_key}", 1),
    ]
    assert str(problems[0]).startswith(f"s3://{bucket}/{bad_key} line 1: not JSON")
    assert problems[1].reason.startswith("not UTF-8 text")


def test_an_empty_prefix_yields_no_records(s3, bucket):
    assert list(iter_capture_records(s3, bucket, PREFIX)) == []


def test_a_photo_sized_record_is_read_in_a_few_large_chunks(s3, bucket, monkeypatch):
    # A 6 MiB image is an 8 MiB line; in botocore's default 1 KiB chunks it took 8,000 reads, each rejoining all
    # that came before (a 5 MB record took 6.5 s).
    photo = PNG_BYTES + bytes(6 * 1024 * 1024)
    _put_capture(s3, bucket, 10, "a", [capture_line([0.9, 0.1], event_id="big"), capture_line([0.2, 0.8])])
    _put_capture(s3, bucket, 11, "b", [capture_line([0.3, 0.7], event_id="photo", input_bytes=photo)])
    reads = []
    read = StreamingBody.read
    monkeypatch.setattr(StreamingBody, "read", lambda self, amt=None: reads.append(amt) or read(self, amt))

    records = list(iter_capture_records(s3, bucket, PREFIX))

    assert [record.event_id for record in records] == ["big", "e-1", "photo"]
    assert records[-1].input_data == photo
    assert len(reads) < 20


def test_records_can_leave_their_images_behind(s3, bucket):
    _put_capture(s3, bucket, 10, "a", [capture_line([0.9, 0.1])])

    (record,) = iter_capture_records(s3, bucket, PREFIX, keep_input_data=False)

    assert (record.input_content_type, record.input_data, record.probabilities) == (
        "image/png",
        None,
        (0.9, 0.1),
    )

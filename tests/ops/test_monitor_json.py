"""`make monitor` writes its summary as JSON next to its PNG, in the shape docs/CONTRACTS.md documents."""

import json
import re
from pathlib import Path

from ops.cli import main
from tests.ops.builders import CAPTURE_PREFIX, capture_line, monitor_args, put_capture

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "CONTRACTS.md"


def _monitor(bucket: str, out: Path) -> int:
    return main(monitor_args(bucket, out, threshold="0.9"))


def test_monitor_writes_the_summary_json_next_to_the_png(s3, bucket, tmp_path):
    put_capture(
        s3,
        bucket,
        [
            capture_line([0.97, 0.03], event_id="1", inference_time="2026-11-26T10:00:00Z"),
            capture_line([0.2, 0.8], event_id="2", inference_time="2026-11-26T10:05:00Z"),
            capture_line([0.1, 0.9], event_id="3", inference_time="2026-11-26T10:07:30Z"),
        ],
    )
    out_png = tmp_path / "plots" / "monitoring.png"

    assert _monitor(bucket, out_png) == 0

    document = json.loads((tmp_path / "plots" / "monitoring.json").read_text())
    assert document == {
        "version": 1,
        "source": f"s3://{bucket}/{CAPTURE_PREFIX}",
        "records": 3,
        "threshold": 0.9,
        "below_threshold": 1,
        "share_below_threshold": 1 / 3,
        "mean_confidence": (0.97 + 0.8 + 0.9) / 3,
        "per_class": {"bicycle": 1, "motorcycle": 2},
        "first_inference": "2026-11-26T10:00:00+00:00",
        "last_inference": "2026-11-26T10:07:30+00:00",
        "plot": str(out_png),
        "skipped_lines": 0,
    }


def test_the_summary_json_counts_skipped_lines(s3, bucket, tmp_path):
    put_capture(s3, bucket, [capture_line([0.97, 0.03]), "{broken"])

    assert _monitor(bucket, tmp_path / "monitoring.png") == 1

    assert json.loads((tmp_path / "monitoring.json").read_text())["skipped_lines"] == 1


def test_docs_contracts_name_every_key_of_the_summary_json(s3, bucket, tmp_path):
    put_capture(s3, bucket, [capture_line([0.97, 0.03])])
    _monitor(bucket, tmp_path / "monitoring.png")
    keys = set(json.loads((tmp_path / "monitoring.json").read_text()))

    section = CONTRACTS.read_text().split("## make monitor's summary (JSON)", 1)[1].split("\n## ", 1)[0]
    documented = set(re.findall(r'^\s*"(\w+)":', section, flags=re.MULTILINE))

    assert documented == keys

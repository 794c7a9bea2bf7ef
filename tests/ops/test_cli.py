import json

import pytest

from ops.cli import main
from tests.ops.builders import PNG_BYTES, capture_line, write_manifest

CAPTURE_PREFIX = "data_capture/scones-endpoint/"
LST_KEY = "dataset/validation_lst/validation.lst"


def test_help_names_run_and_monitor(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])

    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "run " in out and "monitor " in out


def _put_validation_set(s3, bucket, names_and_labels):
    lst = "".join(f"{index}\t{label}\t{name}\n" for index, (name, label) in enumerate(names_and_labels))
    s3.put_object(Bucket=bucket, Key=LST_KEY, Body=lst.encode())
    for name, _ in names_and_labels:
        s3.put_object(Bucket=bucket, Key=f"dataset/validation/{name}", Body=PNG_BYTES)


def _run_args(bucket, workflow_arn, *extra):
    return [
        "run",
        "--state-machine-arn",
        workflow_arn,
        "--bucket",
        bucket,
        "--poll",
        "0.01",
        "--no-progress",
        *extra,
    ]


def test_run_exits_0_when_every_execution_ends_as_designed(s3, bucket, workflow_arn, capsys):
    _put_validation_set(s3, bucket, [("bike_s_1.png", 0), ("low_motorbike_s_2.png", 1)])

    code = main(_run_args(bucket, workflow_arn, "--lst", LST_KEY, "--classes", "bicycle,motorcycle"))

    out = capsys.readouterr().out
    assert code == 0
    assert "2 executions: 1 succeeded, 1 failed as designed (ThresholdConfidenceNotMet), 0 unexpected" in out
    assert "dataset/validation/low_motorbike_s_2.png  motorcycle  motorcycle  0.600       yes" in out


def test_run_exits_1_when_an_execution_fails_unexpectedly(s3, bucket, workflow_arn, capsys):
    _put_validation_set(s3, bucket, [("bike_s_1.png", 0), ("bike_s_2_missing.png", 0), ("bike_s_3.png", 0)])

    code = main(_run_args(bucket, workflow_arn, "--limit", "2"))

    out = capsys.readouterr().out
    assert code == 1
    assert "2 executions: 1 succeeded, 0 failed as designed (ThresholdConfidenceNotMet), 1 unexpected" in out
    assert "FAILED ImageNotFound: no such key" in out


def test_run_reads_class_names_from_the_manifest(s3, bucket, workflow_arn, tmp_path, capsys):
    write_manifest(tmp_path)
    _put_validation_set(s3, bucket, [("bike_s_1.png", 0)])

    code = main(_run_args(bucket, workflow_arn, "--lst", LST_KEY, "--manifest", str(tmp_path)))

    assert code == 0
    assert "bicycle     images 1, predicted correctly 1, succeeded 1" in capsys.readouterr().out


def test_run_against_a_missing_state_machine_exits_2_with_a_clear_error(s3, bucket, capsys):
    _put_validation_set(s3, bucket, [("bike_s_1.png", 0)])

    code = main(_run_args(bucket, "arn:aws:states:us-east-1:123456789012:stateMachine:gone"))

    assert code == 2
    assert "error: no state machine 'arn:aws:states:us-east-1:123456789012:stateMachine:gone'" in (
        capsys.readouterr().err
    )


def test_run_with_an_lst_but_no_class_names_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--state-machine-arn", "arn", "--bucket", "any-bucket", "--lst", LST_KEY])

    assert exit_info.value.code == 2
    assert "--lst needs --classes or --manifest" in capsys.readouterr().err


def _monitor_args(bucket, tmp_path):
    return [
        "monitor",
        "--bucket",
        bucket,
        "--prefix",
        CAPTURE_PREFIX,
        "--classes",
        "bicycle,motorcycle",
        "--out",
        str(tmp_path / "plots" / "monitoring.png"),
    ]


def _put_capture(s3, bucket, lines):
    key = f"{CAPTURE_PREFIX}AllTraffic/2026/11/26/10/capture.jsonl"
    s3.put_object(Bucket=bucket, Key=key, Body="\n".join(lines).encode())
    return key


def test_monitor_prints_the_summary_and_writes_the_png(s3, bucket, tmp_path, capsys):
    _put_capture(
        s3, bucket, [capture_line([0.97, 0.03], event_id="1"), capture_line([0.3, 0.7], event_id="2")]
    )

    code = main(_monitor_args(bucket, tmp_path))

    out = capsys.readouterr().out
    summary_text, plot_line = out.rsplit("\n", 2)[0], out.splitlines()[-1]
    assert code == 0
    assert json.loads(summary_text) == {
        "records": 2,
        "threshold": 0.93,
        "below_threshold": 1,
        "share_below_threshold": 0.5,
        "mean_confidence": 0.835,
        "per_class": {"bicycle": 1, "motorcycle": 1},
        "first_inference": "2026-11-26T10:00:00+00:00",
        "last_inference": "2026-11-26T10:00:00+00:00",
    }
    assert plot_line == f"plot: {tmp_path / 'plots' / 'monitoring.png'}"
    assert (tmp_path / "plots" / "monitoring.png").stat().st_size > 10_000


def test_monitor_reports_malformed_lines_and_exits_1(s3, bucket, tmp_path, capsys):
    key = _put_capture(s3, bucket, [capture_line([0.97, 0.03]), "{broken"])

    code = main(_monitor_args(bucket, tmp_path))

    err = capsys.readouterr().err
    assert code == 1
    assert f"malformed capture line skipped: s3://{bucket}/{key} line 2: not JSON" in err
    assert "1 malformed capture lines were skipped" in err
    assert (tmp_path / "plots" / "monitoring.png").exists()


def test_monitor_without_capture_records_exits_2_with_a_clear_error(s3, bucket, tmp_path, capsys):
    code = main(_monitor_args(bucket, tmp_path))

    assert code == 2
    assert (
        f"error: no readable capture records under s3://{bucket}/{CAPTURE_PREFIX}" in capsys.readouterr().err
    )
    assert not (tmp_path / "plots").exists()


def test_monitor_refuses_a_threshold_outside_0_to_1(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*_monitor_args("any-bucket", tmp_path), "--threshold", "93"])

    assert exit_info.value.code == 2
    assert "expected a confidence between 0 and 1, got 93" in capsys.readouterr().err


def test_bad_class_names_exit_2_with_a_clear_error(tmp_path, capsys):
    code = main([*_monitor_args("any-bucket", tmp_path), "--classes", "bicycle,,motorcycle"])

    assert code == 2
    assert (
        "error: --classes 'bicycle,,motorcycle': expected distinct non-empty names" in capsys.readouterr().err
    )

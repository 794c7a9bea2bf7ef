import json
from dataclasses import replace
from types import SimpleNamespace

import pytest

from ops import cost
from ops.assembly import CloudAssembly
from ops.cli import main
from stacks.config import AppConfig, cdk_json_context

# Round prices, so each figure below can be redone by hand.
PRICES = {
    "stepfunctions_state_transition": 0.001,
    "stepfunctions_express_request": 0.01,
    "stepfunctions_express_gb_second": 1.0,
    "lambda_request": 0.0001,
    "lambda_arm_gb_second": 0.01,
    "s3_get_request": 0.00001,
    "s3_put_list_request": 0.0001,
    "sagemaker_serverless_gb_second": 0.001,
    "sagemaker_data_processed_gb": 0.0,
    "sagemaker_instance_hourly": {
        "real_time_inference": {"ml.m5.large": 1.0},
        "batch_transform": {"ml.m5.large": 2.0},
    },
}


def config(**overrides):
    settings = dict(
        workflow_type="STANDARD",
        batch_images_per_child=5,
        endpoint_mode="realtime",
        endpoint_instance_type="ml.m5.large",
        endpoint_instance_count=2,
        serverless_memory_mb=2048,
        transform_instance_type="ml.m5.large",
        transform_instance_count=1,
    )
    return SimpleNamespace(**(settings | overrides))


def test_the_hand_made_assembly_is_read_as_it_is_laid_out(cdk_out):
    shape = cost.read_shape(CloudAssembly(cdk_out), "SconesVision-Workflow")

    # States but the Fail ones; the chain's Lambdas (a missing MemorySize is Lambda's 128 MB); the batch's own.
    assert shape == cost.Shape(
        f"{cdk_out}/ SconesVision-Workflow", "STANDARD", 3, (512, 128), 2, 5, (1024,), 2
    )


def test_the_synthesized_app_is_what_the_defaults_say(synthesized_app):
    shape = cost.read_shape(CloudAssembly(synthesized_app.assembly.directory), "SconesVision-Workflow")

    assert shape.__dict__ | {"source": ""} == cost.default_shape(synthesized_app.config).__dict__ | {
        "source": ""
    }


SHAPE = cost.Shape("hand-made", "STANDARD", 3, (512, 128), 2, 5, (1024,), 2)
# Lambda per image: 2 requests x 0.0001 + (0.5 + 0.125) GB x 0.1 s x 0.01 = 0.000825.


@pytest.mark.parametrize(
    ("settings", "images", "path", "per_hour", "parts"),
    [
        # 3 transitions x 0.001 x 1,000; Lambda 0.825; a GET each; 2 instances x 24 h x 1,000 / 24,000 a day.
        ({}, 1000, "single image, STANDARD workflow", 2.0, (3.0, 0.825, 0.01, 2.0)),
        # 1,000 x (0.01 + 0.2 s x 0.0625 GB x 1.0).
        ({"workflow_type": "EXPRESS"}, 1000, "single image, EXPRESS workflow", 2.0, (22.5, 0.825, 0.01, 2.0)),
        # 200 children: (2 + 200) x 0.001 + 200 x (0.01 + 1.0 s x 0.0625); Lambda 0.825 + the summary once,
        # 0.0001 + 1 GB x 2 s x 0.01; 1,004 GETs, 1 LIST + 5 PUTs.
        ({}, 1000, "batch, 5 images a child", 2.0, (14.702, 0.8451, 0.01064, 2.0)),
        # Twice the images: the parent's states, the summary and the result files are spread over more.
        ({}, 2000, "batch, 5 images a child", 2.0, (14.701, 0.83505, 0.01037, 2.0)),
        # 2 transitions; 1,000 GETs, 1,000 PUTs + 1 LIST; (5 min + 1,000 / 20 per s) x $2 an hour.
        ({}, 1000, "Batch Transform, 1 x ml.m5.large", 0.0, (0.002, 0.0, 0.1101, 0.19444)),
        # Serverless: nothing an hour; 1,000 x 0.1 s x 2 GB x 0.001.
        (
            {"endpoint_mode": "serverless"},
            1000,
            "single image, STANDARD workflow",
            0.0,
            (3.0, 0.825, 0.01, 0.2),
        ),
    ],
)
def test_each_path_per_hour_and_per_1000(settings, images, path, per_hour, parts):
    shape = replace(SHAPE, workflow_type=settings.get("workflow_type", "STANDARD"))
    rows = cost.paths(shape, PRICES, config(**settings), images=images, per_day=24000)
    rows = {name: (hour, usd) for name, hour, usd in rows}

    assert rows[path][0] == pytest.approx(per_hour)
    assert rows[path][1] == pytest.approx(parts, rel=1e-4)


def test_an_instance_type_the_table_lacks_is_named_with_those_it_has():
    with pytest.raises(
        cost.OpsError, match="no real_time_inference price for ml.x.large; it has ml.m5.large"
    ):
        cost.paths(SHAPE, PRICES, config(endpoint_instance_type="ml.x.large"), images=1000, per_day=1)


def test_every_price_in_the_table_names_its_page_and_how_it_was_read():
    table = json.loads(cost.PRICES_FILE.read_text())

    for entry in [*table["unit_prices"].values(), table["sagemaker_instance_hourly"]]:
        assert entry["page"].startswith("https://aws.amazon.com/")
        assert entry.get("source" if entry["status"] == "as last known" else "quote")
    assert set(cost.load_prices()) >= set(PRICES)


def test_make_cost_prints_a_row_per_path_within_100_columns(cdk_out, capsys):
    code = main(["cost", "--cdk-out", str(cdk_out), "--per-day", "2760"])

    out = capsys.readouterr().out
    lines = out.splitlines()
    assert code == 0
    assert lines[1] == f"the app as read from {cdk_out}/ SconesVision-Workflow"
    assert lines[3].split() == [
        "path",
        "per",
        "hour",
        "per",
        "1,000",
        "Step",
        "Fns",
        "Lambda",
        "S3",
        "compute",
    ]
    # The table's ml.m5.large, $0.115 an hour, shared by 2,760 images a day: $1 per 1,000.
    assert lines[4].startswith("single image, STANDARD workflow      $0.1150")
    assert lines[4].endswith("$1.0000")
    assert [line.split(",")[0] for line in lines[5:7]] == ["batch", "Batch Transform"]
    assert max(len(line) for line in lines if str(cdk_out) not in line) <= 100
    assert "target" not in out


def test_without_cdk_out_the_defaults_are_priced_and_said(tmp_path, capsys):
    code = main(["cost", "--cdk-out", str(tmp_path), "-c", "batch_images_per_child=4"])

    out = capsys.readouterr().out
    assert code == 0
    assert "the app as read from defaults (no cdk.out/: `make synth` reads the app)" in out
    assert "batch, 4 images a child" in out
    assert cost.default_shape(AppConfig.from_context(cdk_json_context())).items_per_child == 10


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["--images", "0"],
            "error: python -m ops cost: argument --images: expected a positive whole number, got 0\n",
        ),
        (["-c", "endpoint_instance_count=0"], "error: context 'endpoint_instance_count'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, error):
    code = main(["cost", "--cdk-out", str(tmp_path), *args])

    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(error) and err.count("\n") == 1

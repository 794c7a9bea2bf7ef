"""`python -m ops cost`: each path's formula against numbers worked out by hand (in the comments), the reading of
the synthesized definitions, the price table's provenance, and the command end to end."""

import json
import re
from dataclasses import replace

import pytest

from ops import cost
from ops.cli import main
from ops.cost import (
    DEFAULT_BATCH,
    DEFAULT_SINGLE,
    LambdaStep,
    Prices,
    batch_transform,
    distributed_map,
    express_billed_mb,
    express_billed_seconds,
    express_single,
    items_per_child_within,
    real_time_endpoint,
    serverless_endpoint,
    standard_single,
    success_path,
    workflow_shapes,
)

# Round test prices, independent of the table (which may be updated): the values below are computed from these.
PRICES = Prices(
    region="test-region",
    read_on="2026-11-29",
    stepfunctions_state_transition=0.000025,
    stepfunctions_express_request=0.000001,
    stepfunctions_express_gb_second=0.00001,
    lambda_request=0.0000002,
    lambda_arm_gb_second=0.00001,
    s3_get_request=0.0000004,
    s3_put_list_request=0.000005,
    sagemaker_serverless_gb_second=0.00002,
    sagemaker_data_processed_gb=0.016,
    real_time_hourly={"ml.m5.large": 0.1},
    transform_hourly={"ml.m5.large": 0.12},
)


def parts(path_cost):
    return dict(path_cost.parts)


def test_standard_single_image_per_1000():
    result = standard_single(DEFAULT_SINGLE, PRICES)

    # 1,000 x 4 states x $0.000025 = $0.1
    # Lambda: 1,000 x 3 requests x $0.0000002 = $0.0006
    # GB-s per image: 0.25 GB x 0.100 s + 0.25 x 0.150 + 0.125 x 0.005 = 0.063125; x 1,000 x $0.00001 = $0.00063125
    # S3: 1,000 GETs x $0.0000004 = $0.0004; total $0.10163125
    assert parts(result)["state transitions"] == pytest.approx(0.1)
    assert parts(result)["Lambda requests"] == pytest.approx(0.0006)
    assert parts(result)["Lambda GB-seconds"] == pytest.approx(0.00063125)
    assert result.per_1000 == pytest.approx(0.10163125)
    assert result.hourly == 0


def test_express_single_image_per_1000():
    result = express_single(DEFAULT_SINGLE, PRICES)

    # Duration: Lambdas 0.255 s + 4 states x 0.020 s = 0.335 s, billed 0.4 s; memory 50 MB + ~8 KB -> 64 MB.
    # 1,000 x 0.4 s x 0.0625 GB x $0.00001 = $0.00025; requests 1,000 x $0.000001 = $0.001
    # + Lambda $0.0006 + $0.00063125 + S3 $0.0004 = $0.00288125
    assert parts(result)["Express GB-seconds"] == pytest.approx(0.00025)
    assert result.per_1000 == pytest.approx(0.00288125)


def test_express_billing_rounds_duration_to_100_ms_and_memory_to_64_mb():
    assert express_billed_seconds(0.335) == pytest.approx(0.4)
    assert express_billed_seconds(0.3) == pytest.approx(0.3)
    assert express_billed_seconds(0.30001) == pytest.approx(0.4)
    # 50 MB + (4 KB + 14,000 KB) / 1024 = 63.7 MB -> 64; + 400 KB more = 64.1 MB -> 128
    assert express_billed_mb(4, 14000) == 64
    assert express_billed_mb(4, 14400) == 128


def test_distributed_map_with_one_image_per_child():
    result = distributed_map(DEFAULT_BATCH, PRICES, images=1000)

    # Transitions: 3 parent states + 1,000 children started = 1,003 x $0.000025 = $0.025075
    # Children: 1,000 x $0.000001 = $0.001; 1,000 x 0.4 s x 0.0625 GB x $0.00001 = $0.00025
    # Lambda per image as above: $0.0006 + $0.00063125
    # S3 GET: 1,000 images + 4 result files read by the summary = 1,004 x $0.0000004 = $0.0004016
    # S3 LIST + PUT: 1 LIST (<= 1,000 keys) + 4 result files + summary.json = 6 x $0.000005 = $0.00003
    # Summary Lambda: $0.0000002 + 0.25 GB x 2 s x $0.00001 = $0.0000052
    # Total for the batch of 1,000 = per 1,000: $0.02799305
    assert parts(result)["state transitions"] == pytest.approx(0.025075)
    assert parts(result)["S3 GET"] == pytest.approx(0.0004016)
    assert parts(result)["S3 LIST + PUT"] == pytest.approx(0.00003)
    assert parts(result)["summary Lambda"] == pytest.approx(0.0000052)
    assert result.per_1000 == pytest.approx(0.02799305)


def test_distributed_map_spreads_a_batch_s_fixed_costs_over_its_images():
    result = distributed_map(DEFAULT_BATCH, PRICES, images=2500)

    # Transitions (3 + 2,500) x $0.000025 = $0.062575, / 2.5 = $0.02503 per 1,000
    # LIST + PUT: 3 LISTs + 5 PUTs = 8 x $0.000005 = $0.00004, / 2.5 = $0.000016
    assert parts(result)["state transitions"] == pytest.approx(0.02503)
    assert parts(result)["S3 LIST + PUT"] == pytest.approx(0.000016)


def test_distributed_map_with_four_images_per_child():
    result = distributed_map(replace(DEFAULT_BATCH, items_per_child=4), PRICES, images=1000)

    # 250 children: transitions (3 + 250) x $0.000025 = $0.006325; requests 250 x $0.000001 = $0.00025
    # A child runs 4 x 0.335 s = 1.34 s, billed 1.4 s; 64 MB: 250 x 1.4 x 0.0625 x $0.00001 = $0.00021875
    # + Lambda $0.00123125 + S3 $0.0004316 + summary $0.0000052 = $0.0084618
    assert parts(result)["Express GB-seconds"] == pytest.approx(0.00021875)
    assert result.per_1000 == pytest.approx(0.0084618)


def test_items_per_child_needed_for_one_cent():
    # 3 per child: 334 children, transitions 337 x $0.000025 = $0.008425, requests $0.000334,
    # 334 x 1.1 s x 0.0625 GB x $0.00001 = $0.000229625, + $0.00166805 of the rest = $0.010656675 > $0.01;
    # 4 per child is $0.0084618 (within).
    assert items_per_child_within(DEFAULT_BATCH, PRICES, images=1000, target=0.01) == 4
    assert items_per_child_within(DEFAULT_BATCH, PRICES, images=1000, target=0.0001) is None


def test_batch_transform_bills_start_up_and_throughput():
    result = batch_transform(
        PRICES,
        images=1000,
        instance_type="ml.m5.large",
        instance_count=2,
        images_per_second=20,
        startup_minutes=6,
    )

    # Instance-hours: 2 x 6/60 = 0.2 start-up + 1,000 / 20 / 3,600 = 0.013889 -> 0.213889 x $0.12 = $0.0256667
    # S3: 1,000 GETs = $0.0004; 1 LIST + 1,000 .out PUTs = 1,001 x $0.000005 = $0.005005
    assert parts(result)["instance-hours"] == pytest.approx(0.0256667, rel=1e-5)
    assert result.per_1000 == pytest.approx(0.0310717, rel=1e-5)
    assert result.hourly == 0


def test_real_time_endpoint_hours_are_shared_by_the_day_s_classifications():
    result = real_time_endpoint(PRICES, instance_type="ml.m5.large", instance_count=2, per_day=4800)

    # 2 x $0.1 = $0.2 an hour; a day $4.8 over 4,800 classifications = $1 per 1,000
    # Data: 1,000 x 3.1 KB = 3,100 KB / 1,048,576 KB per GB x $0.016 = $0.0000473
    assert result.hourly == pytest.approx(0.2)
    assert parts(result)["instance-hours shared by 4,800/day"] == pytest.approx(1.0)
    assert parts(result)["data processed"] == pytest.approx(0.0000473022, rel=1e-5)


def test_serverless_endpoint_bills_inference_gb_seconds_only():
    result = serverless_endpoint(PRICES, memory_mb=3072, inference_seconds=0.25)

    # 1,000 x 0.25 s x 3 GB x $0.00002 = $0.015; nothing while idle
    assert parts(result)["inference GB-seconds"] == pytest.approx(0.015)
    assert result.hourly == 0


def test_an_instance_type_missing_from_the_table_names_those_present():
    with pytest.raises(
        cost.PriceTableError, match=r"ml\.c5\.large.*it has: ml\.m5\.large.*--price ml\.c5\.large="
    ):
        real_time_endpoint(PRICES, instance_type="ml.c5.large", instance_count=1, per_day=1000)


def test_success_path_follows_next_to_the_end_and_stops_on_a_cycle():
    machine = {
        "StartAt": "A",
        "States": {
            "A": {"Type": "Choice", "Choices": [{"Next": "F"}], "Default": "B"},
            "B": {"Type": "Pass", "Next": "C"},
            "C": {"Type": "Task", "End": True},
            "F": {"Type": "Fail"},
        },
    }
    assert success_path(machine) == ["A", "B", "C"]
    looping = {
        "StartAt": "A",
        "States": {"A": {"Type": "Pass", "Next": "B"}, "B": {"Type": "Wait", "Next": "A"}},
    }
    assert success_path(looping) == ["A", "B"]


def test_the_synthesized_single_image_workflow_matches_the_documented_defaults(synthesized_app):
    single, batch = workflow_shapes(synthesized_app.template("Workflow"))

    # SerializeImage -> ClassifyImage -> FilterInferences -> VehicleClassified, at 256, 256 and 128 MB.
    assert single.states_per_execution == DEFAULT_SINGLE.states_per_execution == 4
    assert single.lambda_steps == DEFAULT_SINGLE.lambda_steps
    assert 1 < single.definition_kb < 16


def test_the_synthesized_batch_costs_under_one_cent_per_1000_at_the_default_batch_size(synthesized_app):
    single, batch = workflow_shapes(synthesized_app.template("Workflow"))

    # The ItemBatcher's size, and per image the inner map's chain: the same Lambda steps as the single path.
    assert batch.items_per_child == synthesized_app.config.batch_images_per_child == 10
    assert batch.child.lambda_steps == single.lambda_steps
    per_1000 = distributed_map(batch, cost.Prices.load(), images=1000).per_1000
    assert per_1000 <= 0.01
    one_per_child = distributed_map(replace(batch, items_per_child=1), cost.Prices.load(), images=1000)
    assert one_per_child.per_1000 > 0.01


def _function(memory):
    return {"Type": "AWS::Lambda::Function", "Properties": {"MemorySize": memory}}


def test_a_distributed_map_is_read_from_its_definition():
    child = {
        "StartAt": "Serialize",
        "States": {
            "Serialize": {"Type": "Task", "Resource": "{FN:Ser}", "Next": "Classify"},
            "Classify": {
                "Type": "Task",
                "Resource": "arn:aws:states:::lambda:invoke",
                "Parameters": {"FunctionName": "{FN:Cls}", "Payload.$": "$"},
                "End": True,
            },
        },
    }
    definition = {
        "StartAt": "Images",
        "States": {
            "Images": {
                "Type": "Map",
                "ItemProcessor": {
                    "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "EXPRESS"},
                    **child,
                },
                "ItemBatcher": {"MaxItemsPerBatch": 10},
                "Next": "Summary",
            },
            "Summary": {"Type": "Task", "Resource": "{FN:Sum}", "Next": "Done"},
            "Done": {"Type": "Succeed"},
        },
    }
    # As CloudFormation holds it: a Fn::Join whose references are the functions' ARNs, inside the JSON strings.
    chunks = re.split(r"\{FN:(\w+)\}", json.dumps(definition))
    join = [
        chunk if index % 2 == 0 else {"Fn::GetAtt": [f"{chunk}Function", "Arn"]}
        for index, chunk in enumerate(chunks)
    ]
    template = {
        "Resources": {
            "SerFunction": _function(256),
            "ClsFunction": _function(512),
            "SumFunction": _function(1024),
            "Batch": {
                "Type": "AWS::StepFunctions::StateMachine",
                "Properties": {"DefinitionString": {"Fn::Join": ["", join]}},
            },
        }
    }

    single, batch = workflow_shapes(template)

    assert single is None
    assert batch.parent_states == 3
    assert batch.items_per_child == 10
    assert batch.child.states_per_execution == 2
    assert batch.child.lambda_steps == (LambdaStep("Serialize", 256), LambdaStep("Classify", 512))
    assert batch.summary_steps == (LambdaStep("Summary", 1024),)


def test_every_price_in_the_table_names_its_page_and_how_it_was_read():
    table = json.loads(cost.PRICES_FILE.read_text())
    entries = [*table["unit_prices"].values(), table["sagemaker_instance_hourly"]]

    for entry in entries:
        assert entry["page"].startswith("https://aws.amazon.com/")
        assert entry["status"] in ("read", "as last known")
        assert entry.get("source" if entry["status"] == "as last known" else "quote")
    instances = table["sagemaker_instance_hourly"]
    assert set(instances["real_time_inference"]) == set(instances["batch_transform"])
    assert Prices.load().read_on == table["read_on"]


def _cost(capsys, *args, cdk_out):
    code = main(["cost", "--cdk-out", str(cdk_out), *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cost_prints_every_path_and_the_figure_to_beat(capsys, tmp_path):
    code, out, _ = _cost(capsys, cdk_out=tmp_path / "no-cdk-out")

    assert code == 0
    assert "states and memory from defaults (no " in out
    rows = {
        line.split("  ")[0]: line
        for line in out.splitlines()
        if line.startswith(("single", "batch", "Batch", "end"))
    }
    # Table prices: 4 x $0.000025 x 1,000 = $0.1 + Lambda $0.0006 + $0.000841671 + S3 $0.0004 = $0.1018
    assert "$0.1018" in rows["single image, STANDARD workflow"]
    # ml.m5.large at $0.115: $0.1150 an hour; $2.76 a day over 10,000 = $0.2760 per 1,000 (+ $0.00005 data)
    assert "$0.1150" in rows["endpoint, real-time (1 x ml.m5.large)"]
    assert "$0.2760" in rows["endpoint, real-time (1 x ml.m5.large)"]
    assert "Batch Transform (1 x ml.m5.large, no endpoint)" in out
    assert "figure to beat: the batch path costs $0.0284 per 1,000 images" in out
    assert "ABOVE the target of $0.0100" in out
    assert "4 or more images per child execution" in out


def test_cost_with_enough_images_per_child_meets_the_target(capsys, tmp_path):
    code, out, _ = _cost(capsys, "--items-per-child", "10", cdk_out=tmp_path)

    assert code == 0
    assert "batch: Distributed Map, EXPRESS children, 10 images each" in out
    assert "at or below the target of $0.0100" in out


def test_cost_reads_states_and_memory_from_the_synthesized_templates(capsys, tmp_path, synthesized_app):
    cdk_out = tmp_path / "cdk.out"
    stack = synthesized_app.stack("Workflow").stack_name
    cdk_out.mkdir()
    (cdk_out / "manifest.json").write_text(
        json.dumps(
            {
                "artifacts": {
                    stack: {
                        "type": "aws:cloudformation:stack",
                        "properties": {"templateFile": "w.template.json"},
                    }
                }
            }
        )
    )
    (cdk_out / "w.template.json").write_text(json.dumps(synthesized_app.template("Workflow")))

    code, out, _ = _cost(capsys, cdk_out=cdk_out)

    assert code == 0
    assert f"states and memory from {cdk_out}/ {stack} (single image, batch; defaults for the rest)" in out


def test_bad_images_is_refused_by_name(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["cost", "--images", "0", "--cdk-out", str(tmp_path)])

    assert exit_info.value.code == 2
    assert "--images: expected a positive whole number, got 0" in capsys.readouterr().err


def test_an_unknown_endpoint_instance_type_exits_2_naming_the_known_ones(capsys, tmp_path):
    code, out, err = _cost(capsys, "-c", "endpoint_instance_type=ml.m5.4xlarge", cdk_out=tmp_path)

    assert code == 2
    assert out == ""
    assert "no us-east-1 real-time inference price for ml.m5.4xlarge" in err
    assert "ml.m5.large" in err and "--price ml.m5.4xlarge=USD_PER_HOUR" in err


def test_price_gives_a_missing_instance_type(capsys, tmp_path):
    code, out, _ = _cost(
        capsys, "-c", "endpoint_instance_type=ml.m5.4xlarge", "--price", "ml.m5.4xlarge=0.5", cdk_out=tmp_path
    )

    assert code == 0
    # $0.5 an hour x 730 = $365.00 a month
    assert "real-time endpoint: $365.00 a month" in out


def test_a_malformed_price_is_refused(capsys, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["cost", "--price", "ml.m5.large", "--cdk-out", str(tmp_path)])

    assert exit_info.value.code == 2
    assert "expected TYPE=USD_PER_HOUR" in capsys.readouterr().err

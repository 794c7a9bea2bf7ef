"""The endpoint's model swap behind guardrails: blue/green, rolled back on the endpoint's 5xx and latency alarms, which
exist before the endpoint; a canary only where the variant always has two instances or more."""

from __future__ import annotations

import json
import re
from typing import Any

import botocore.session
import botocore.validate
import pytest
from aws_cdk.assertions import Match, Template
from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

from stacks.config import AppConfig
from stacks.constructs.serving import FLEET_START_SECONDS, endpoint_name, fewest_instances
from tests.cdk.helpers import policy_statements_of_role, resources_of_type

# The variants' tests share the worker that synthesizes them (tests/cdk/conftest.py).
pytestmark = pytest.mark.xdist_group("option_variants")
SAGEMAKER = botocore.session.get_session().get_service_model("sagemaker")


def the_endpoint(template: dict) -> tuple[str, dict[str, Any]]:
    ((endpoint_id, endpoint),) = resources_of_type(template, "AWS::SageMaker::Endpoint").items()
    return endpoint_id, endpoint["Properties"]


def policy(template: dict) -> dict[str, Any]:
    return the_endpoint(template)[1]["DeploymentConfig"]["BlueGreenUpdatePolicy"]


def alarm_window_seconds(alarm: dict[str, Any]) -> int:
    return alarm["Properties"]["Period"] * alarm["Properties"]["EvaluationPeriods"]


def rollback_alarms(template: dict) -> dict[str, dict[str, Any]]:
    """The alarms the endpoint's deployments roll back on, by logical id, in the order it names them."""
    alarms = the_endpoint(template)[1]["DeploymentConfig"]["AutoRollbackConfiguration"]["Alarms"]
    return {entry["AlarmName"]["Ref"]: template["Resources"][entry["AlarmName"]["Ref"]] for entry in alarms}


@pytest.fixture(scope="module")
def model(synthesized_app) -> dict[str, Any]:
    return synthesized_app.template("Model")


def test_the_default_endpoint_shifts_all_at_once_and_bakes_for_the_alarms_whole_window(model):
    # One instance: no canary can be at most half of it.
    bake = max(alarm_window_seconds(alarm) for alarm in rollback_alarms(model).values())
    assert bake == 900
    Template.from_json(model).has_resource_properties(
        "AWS::SageMaker::Endpoint",
        {
            "DeploymentConfig": {
                "BlueGreenUpdatePolicy": {
                    "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
                    "TerminationWaitInSeconds": bake,
                    "MaximumExecutionTimeoutInSeconds": bake + FLEET_START_SECONDS,
                },
                "AutoRollbackConfiguration": {"Alarms": Match.any_value()},
            }
        },
    )


def test_it_rolls_back_on_its_own_5xx_and_p90_latency_alarms(model, synthesized_app):
    _, endpoint = the_endpoint(model)
    alarms = rollback_alarms(model)
    assert [
        (a["Properties"]["MetricName"], a["Properties"].get("ExtendedStatistic")) for a in alarms.values()
    ] == [
        ("Invocation5XXErrors", None),
        ("ModelLatency", "p90"),
    ]
    project = synthesized_app.config.project_name
    assert [a["Properties"]["AlarmName"] for a in alarms.values()] == [
        f"{project}-Model-Endpoint5xxErrors",
        f"{project}-Model-ModelLatencyP90",
    ]
    (config,) = resources_of_type(model, "AWS::SageMaker::EndpointConfig").values()
    (variant,) = config["Properties"]["ProductionVariants"]
    for alarm in alarms.values():
        assert alarm["Properties"]["Dimensions"] == [
            {"Name": "EndpointName", "Value": endpoint["EndpointName"]},
            {"Name": "VariantName", "Value": variant["VariantName"]},
        ]
    assert endpoint["EndpointName"] == endpoint_name(project, "realtime")


def test_the_alarms_come_first_on_create_and_on_every_update(model):
    endpoint_id, endpoint = the_endpoint(model)
    # The endpoint Refs the alarms, so CloudFormation creates and updates them before it; they name it literally,
    # so they wait for nothing of it, and nothing orders them after it.
    assert isinstance(endpoint["EndpointName"], str)
    for alarm_id, alarm in rollback_alarms(model).items():
        assert endpoint_id not in json.dumps(alarm), alarm_id
        assert "DependsOn" not in alarm
    assert "DependsOn" not in model["Resources"][endpoint_id]


def test_the_execution_role_may_describe_exactly_the_rollback_alarms(model):
    statements = policy_statements_of_role(model, "Serving/ExecutionRole")
    # The fixed name also narrows the endpoint's logs to its own log group.
    (logs,) = [s for s in statements if "logs:PutLogEvents" in s["Action"]]
    endpoint = the_endpoint(model)[1]["EndpointName"]
    assert logs["Resource"]["Fn::Join"][1][-1] == f":log-group:/aws/sagemaker/Endpoints/{endpoint}:*"
    (described,) = [s for s in statements if "cloudwatch:DescribeAlarms" in s["Action"]]
    assert described["Action"] == "cloudwatch:DescribeAlarms"
    assert described["Resource"] == [{"Fn::GetAtt": [alarm_id, "Arn"]} for alarm_id in rollback_alarms(model)]
    (sagemaker_model,) = resources_of_type(model, "AWS::SageMaker::Model").values()
    role_id = sagemaker_model["Properties"]["ExecutionRoleArn"]["Fn::GetAtt"][0]
    assert "Serving/ExecutionRole" in model["Resources"][role_id]["Metadata"]["aws:cdk:path"]


def test_an_autoscaled_variant_of_two_instances_or_more_gets_a_canary_of_at_most_half(variants):
    model = variants("flipped")["Model"]
    (target,) = resources_of_type(model, "AWS::ApplicationAutoScaling::ScalableTarget").values()
    (config,) = resources_of_type(model, "AWS::SageMaker::EndpointConfig").values()
    (variant,) = config["Properties"]["ProductionVariants"]
    update = policy(model)
    routing = update["TrafficRoutingConfiguration"]
    bake = max(alarm_window_seconds(alarm) for alarm in rollback_alarms(model).values())
    assert routing == {
        "Type": "CANARY",
        "CanarySize": {"Type": "INSTANCE_COUNT", "Value": 1},
        "WaitIntervalInSeconds": bake,
    }
    # SageMaker checks it against the variant's instances, which autoscaling keeps at or above MinCapacity.
    fewest = min(target["Properties"]["MinCapacity"], variant["InitialInstanceCount"])
    assert fewest >= 2 and routing["CanarySize"]["Value"] <= fewest / 2
    assert update["TerminationWaitInSeconds"] == bake
    assert update["MaximumExecutionTimeoutInSeconds"] == 2 * bake + FLEET_START_SECONDS


def test_serverless_bakes_all_at_once_on_its_own_alarms(variants):
    model = variants("serverless")["Model"]
    _, endpoint = the_endpoint(model)
    update = policy(model)
    assert update["TrafficRoutingConfiguration"] == {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0}
    assert update["TerminationWaitInSeconds"] == 900
    assert endpoint["EndpointName"] == endpoint_name("SconesVision", "serverless")
    for alarm in rollback_alarms(model).values():
        assert {"Name": "EndpointName", "Value": endpoint["EndpointName"]} in alarm["Properties"][
            "Dimensions"
        ]


@pytest.mark.parametrize("variant", [None, "flipped", "serverless"])
def test_the_deployment_config_is_one_update_endpoint_accepts(variant, variants, model):
    template = model if variant is None else variants(variant)["Model"]
    deployment = json.loads(json.dumps(the_endpoint(template)[1]["DeploymentConfig"]))
    for entry in deployment["AutoRollbackConfiguration"]["Alarms"]:
        entry["AlarmName"] = template["Resources"][entry["AlarmName"]["Ref"]]["Properties"]["AlarmName"]
    # botocore's model of the API: required members (WaitIntervalInSeconds too), enums, minimums.
    report = botocore.validate.ParamValidator().validate(deployment, SAGEMAKER.shape_for("DeploymentConfig"))
    assert not report.has_errors(), report.generate_report()
    update = deployment["BlueGreenUpdatePolicy"]
    # "the timeout value should be larger than the total waiting time specified in TerminationWaitInSeconds and
    # WaitIntervalInSeconds" (API_BlueGreenUpdatePolicy); cfn-lint holds the maximums.
    waits = (
        update["TerminationWaitInSeconds"] + update["TrafficRoutingConfiguration"]["WaitIntervalInSeconds"]
    )
    assert update["MaximumExecutionTimeoutInSeconds"] > waits


def test_no_alarm_name_is_shared_between_stacks(synthesized_app):
    # A name that moved stacks would be deleted by the old stack's update, under the new stack's alarm.
    names = [
        alarm["Properties"]["AlarmName"]
        for unit in ("Storage", "Model", "Workflow", "Monitoring")
        for alarm in resources_of_type(synthesized_app.template(unit), "AWS::CloudWatch::Alarm").values()
    ]
    assert len(names) == len(set(names)) == 5


@pytest.mark.parametrize(
    ("overrides", "fewest"),
    [
        ({}, 1),
        ({"endpoint_instance_count": 3}, 3),
        # The scaled fleet may shrink to its minimum between two deploys: no canary on 2 instances that can be 1.
        ({"autoscaling_enabled": True, "endpoint_instance_count": 2, "autoscaling_max_instances": 3}, 1),
        ({"autoscaling_enabled": True, "autoscaling_min_instances": 2, "endpoint_instance_count": 3}, 2),
    ],
)
def test_the_canary_is_sized_against_the_fewest_instances_the_variant_can_have(
    default_context, overrides, fewest
):
    assert fewest_instances(AppConfig.from_context({**default_context, **overrides})) == fewest


def test_every_project_name_gives_an_endpoint_name_cloudformation_accepts():
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", "AWS::SageMaker::Endpoint").schema
    pattern = schema["properties"]["EndpointName"]["pattern"]
    longest = "A" + "-" * 29  # project_name: a letter, then up to 29 of letters, digits and '-'
    for project in ("SconesVision", longest, "a"):
        for mode in ("realtime", "serverless"):
            name = endpoint_name(project, mode)
            assert (
                re.fullmatch(pattern, name) and len(name) <= schema["properties"]["EndpointName"]["maxLength"]
            )

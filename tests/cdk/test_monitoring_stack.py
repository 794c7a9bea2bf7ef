"""The alarms' intent, in the Monitoring stack and (the endpoint's rollback alarms) the Model stack: what they compute,
that they reach people on one encrypted topic, and how the stacks are wired; the dashboard's layout is the snapshot's
to hold."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks import names
from tests.cdk.helpers import resources_of_type, stack_outputs_read


@pytest.fixture(scope="module")
def monitoring(synthesized_app) -> dict[str, Any]:
    return synthesized_app.template(names.MONITORING)


@pytest.fixture(scope="module")
def model(synthesized_app) -> dict[str, Any]:
    return synthesized_app.template(names.MODEL)


@pytest.fixture(scope="module")
def alarms(monitoring, model, synthesized_app) -> dict[str, dict[str, Any]]:
    """Every alarm's properties by name without the prefix of its stack (the Model stack's) or of the project."""
    project = synthesized_app.config.project_name
    prefixes = (f"{names.stack_name(project, names.MODEL)}-", f"{project}-")
    found = {}
    for template in (monitoring, model):
        for alarm in resources_of_type(template, "AWS::CloudWatch::Alarm").values():
            name = alarm["Properties"]["AlarmName"]
            found[next(name.removeprefix(p) for p in prefixes if name.startswith(p))] = alarm["Properties"]
    return found


def output_of(synthesized_app, reference: dict[str, Any]) -> Any:
    """The value a Fn::GetStackOutput reads from the producing stack's template."""
    output = reference["Fn::GetStackOutput"]
    producer = output["StackName"].removeprefix(f"{synthesized_app.config.project_name}-")
    return synthesized_app.template(producer)["Outputs"][output["OutputName"]]["Value"]


def test_unexpected_failures_subtract_only_the_single_image_workflows_below_threshold(
    alarms, synthesized_app
):
    alarm = alarms["UnexpectedExecutionFailures"]
    (expression,) = [query for query in alarm["Metrics"] if "Expression" in query]
    assert (expression["Expression"], expression["ReturnData"]) == ("failed - FILL(below, 0)", True)
    inputs = {query["Id"]: query for query in alarm["Metrics"] if "MetricStat" in query}
    assert set(inputs) == {"failed", "below"} and not any(query["ReturnData"] for query in inputs.values())
    failed, below = (inputs[name]["MetricStat"] for name in ("failed", "below"))
    assert (failed["Metric"]["Namespace"], failed["Metric"]["MetricName"], failed["Stat"]) == (
        "AWS/States",
        "ExecutionsFailed",
        "Sum",
    )
    # The executions counted are the single-image state machine's: the Workflow stack's StateMachineArn output.
    (machine,) = failed["Metric"]["Dimensions"]
    workflow = synthesized_app.template(names.WORKFLOW)
    assert (
        output_of(synthesized_app, machine["Value"])
        == workflow["Outputs"][names.STATE_MACHINE_ARN_OUTPUT]["Value"]
    )
    # A batch's below-threshold images fail no execution: only Workflow=single is subtracted.
    assert below["Metric"] == {
        "Namespace": synthesized_app.config.project_name,
        "MetricName": names.BELOW_THRESHOLD_METRIC,
        "Dimensions": [{"Name": names.WORKFLOW_DIMENSION, "Value": names.SINGLE_IMAGE_WORKFLOW}],
    }
    assert below["Stat"] == "Sum" and below["Period"] == failed["Period"]


def test_the_share_alarm_reads_every_workflows_evaluations(alarms, synthesized_app):
    # A batch's low confidence is drift too.
    share = alarms["BelowThresholdShare"]
    assert (share["Namespace"], share["MetricName"], share["Statistic"]) == (
        synthesized_app.config.project_name,
        names.BELOW_THRESHOLD_METRIC,
        "Average",
    )
    assert "Dimensions" not in share


def test_latency_is_compared_in_microseconds_and_idleness_counts_missing_data(alarms, synthesized_app):
    latency, idle = alarms["ModelLatencyP90"], alarms["IdleEndpoint"]
    assert latency["ExtendedStatistic"] == "p90"
    assert latency["Threshold"] == synthesized_app.config.alarm_latency_p90_ms * 1000
    # An endpoint nobody calls publishes no Invocations datapoints at all.
    assert (idle["MetricName"], idle["Period"], idle["TreatMissingData"]) == (
        "Invocations",
        3600,
        "breaching",
    )


def test_every_alarm_fits_cloudwatch_s_evaluation_range(alarms):
    # period x evaluation periods at most a day under an hour's period, else seven days
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html).
    assert len(alarms) == 5
    for name, alarm in alarms.items():
        periods = [alarm.get("Period")] + [
            q["MetricStat"]["Period"] for q in alarm.get("Metrics", []) if "MetricStat" in q
        ]
        for period in filter(None, periods):
            assert period * alarm["EvaluationPeriods"] <= (86_400 if period < 3600 else 604_800), name
        assert 1 <= alarm["DatapointsToAlarm"] <= alarm["EvaluationPeriods"], name


def test_every_alarm_notifies_the_one_encrypted_tls_only_topic_cloudwatch_may_use(
    monitoring, model, alarms, synthesized_app
):
    # The topic lives in the Model stack, whose rollback alarms come before the Monitoring stack exists.
    assert not resources_of_type(monitoring, "AWS::SNS::Topic")
    ((topic_id, topic),) = resources_of_type(model, "AWS::SNS::Topic").items()
    for name, alarm in alarms.items():
        actions = alarm["AlarmActions"] + alarm["OKActions"]
        targets = [output_of(synthesized_app, a) if "Fn::GetStackOutput" in a else a for a in actions]
        assert targets == [{"Ref": topic_id}] * 2, name
    (key_id, _) = topic["Properties"]["KmsMasterKeyId"]["Fn::GetAtt"]
    key = model["Resources"][key_id]
    assert key["Properties"]["EnableKeyRotation"] is True
    this_account = {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    cloudwatch = {"Service": "cloudwatch.amazonaws.com"}
    (key_grant,) = [s for s in key["Properties"]["KeyPolicy"]["Statement"] if s["Principal"] == cloudwatch]
    assert (sorted(key_grant["Action"]), key_grant["Condition"]) == (
        ["kms:Decrypt", "kms:GenerateDataKey*"],
        this_account,
    )
    (policy,) = resources_of_type(model, "AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    assert [
        (s["Effect"], s.get("Principal"), s["Condition"]) for s in statements if s["Action"] == "sns:Publish"
    ] == [
        ("Deny", "*", {"Bool": {"aws:SecureTransport": "false"}}),
        ("Allow", cloudwatch, this_account),
    ]
    assert not resources_of_type(model, "AWS::SNS::Subscription")
    assert model["Outputs"]["AlarmTopicArn"]["Value"] == {"Ref": topic_id}


def test_the_dashboard_shows_every_alarm_and_one_series_per_class(monitoring, model, synthesized_app):
    (dashboard,) = resources_of_type(monitoring, "AWS::CloudWatch::Dashboard").values()
    body = json.dumps(dashboard["Properties"]["DashboardBody"])
    for alarm_id in resources_of_type(monitoring, "AWS::CloudWatch::Alarm"):
        assert json.dumps({"Fn::GetAtt": [alarm_id, "Arn"]}) in body
    # The Model stack's alarms by their ARNs, read from its outputs.
    read = [
        output_of(synthesized_app, {"Fn::GetStackOutput": o})
        for o in stack_outputs_read(dashboard["Properties"]["DashboardBody"])
    ]
    for alarm_id in resources_of_type(model, "AWS::CloudWatch::Alarm"):
        assert {"Fn::GetAtt": [alarm_id, "Arn"]} in read
    for class_name in json.loads(
        _function(synthesized_app, "ClassifyImage")["Properties"]["Environment"]["Variables"]["CLASS_NAMES"]
    ):
        assert f'\\"{names.PREDICTED_CLASS_DIMENSION}\\",\\"{class_name}\\"' in body, class_name


def _function(synthesized_app, function_id: str) -> dict:
    (function,) = [
        resource
        for resource in resources_of_type(
            synthesized_app.template(names.WORKFLOW), "AWS::Lambda::Function"
        ).values()
        if f"/Functions/{function_id}/" in resource["Metadata"]["aws:cdk:path"]
    ]
    return function


def test_monitoring_comes_after_model_and_workflow_and_nothing_depends_on_it(synthesized_app):
    monitoring = synthesized_app.stack(names.MONITORING)
    assert {stack.stack_name for stack in monitoring.dependencies} >= {
        synthesized_app.stack(names.MODEL).stack_name,
        synthesized_app.stack(names.WORKFLOW).stack_name,
    }
    for other in (names.STORAGE, names.MODEL, names.WORKFLOW):
        assert monitoring not in synthesized_app.stack(other).dependencies


def test_the_filter_publishes_into_the_project_namespace_at_info(synthesized_app):
    function = _function(synthesized_app, "FilterInferences")
    variables = function["Properties"]["Environment"]["Variables"]
    assert variables["METRICS_NAMESPACE"] == synthesized_app.config.project_name
    # A stdout line without a "level" counts as INFO: a log level above INFO would drop the EMF lines
    # (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
    logging_config = function["Properties"]["LoggingConfig"]
    assert logging_config["LogFormat"] == "JSON"
    assert logging_config.get("ApplicationLogLevel", "INFO") in ("TRACE", "DEBUG", "INFO")

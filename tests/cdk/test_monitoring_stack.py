"""The monitoring stack: what each dashboard widget and each alarm watches, and how the alarms reach people.

Metric references are followed across stacks: a dimension value such as the state machine's ARN is a
Fn::GetStackOutput of the Workflow stack, resolved here to the output's value in that stack's template, so each
test checks the dimension names the right resource, not just the right metric name.
"""

from __future__ import annotations

import json
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks

from stacks.config import AppConfig
from stacks.constructs import batch_workflow, workflow_metrics
from stacks.monitoring_stack import MonitoringStack
from stacks.refs import EndpointRef
from tests.cdk.helpers import resources_of_type
from tests.cdk.test_cfn_lint import findings_of
from tests.lambda_handlers import load_handler_module

STEPS = ("SerializeImage", "ClassifyImage", "FilterInferences")


@pytest.fixture(scope="module")
def monitoring(synthesized_app) -> dict[str, Any]:
    return synthesized_app.template("Monitoring")


@pytest.fixture(scope="module")
def references(synthesized_app) -> dict[str, Any]:
    """What the monitoring template's cross-stack values point at, keyed by the resources they must name."""
    workflow = synthesized_app.template("Workflow")
    model = synthesized_app.template("Model")
    # The single-image state machine: the one the Workflow stack's StateMachineArn output names.
    machine = workflow["Outputs"]["StateMachineArn"]["Value"]["Ref"]
    (endpoint,) = resources_of_type(model, "AWS::SageMaker::Endpoint")
    functions = {
        step: next(
            logical_id
            for logical_id, resource in resources_of_type(workflow, "AWS::Lambda::Function").items()
            if f"/Functions/{step}/Function" in resource["Metadata"]["aws:cdk:path"]
        )
        for step in STEPS
    }
    return {
        "templates": {
            synthesized_app.stack("Workflow").stack_name: workflow,
            synthesized_app.stack("Model").stack_name: model,
        },
        "state_machine": {"Ref": machine},
        "endpoint_name": {"Fn::GetAtt": [endpoint, "EndpointName"]},
        "functions": {step: {"Ref": logical_id} for step, logical_id in functions.items()},
    }


def resolved(value: Any, references: dict[str, Any]) -> Any:
    """A Fn::GetStackOutput replaced by the producing stack's output value; anything else as it is."""
    if isinstance(value, dict) and "Fn::GetStackOutput" in value:
        output = value["Fn::GetStackOutput"]
        return references["templates"][output["StackName"]]["Outputs"][output["OutputName"]]["Value"]
    return value


# --- the dashboard ---


@pytest.fixture(scope="module")
def widgets(monitoring, references) -> dict[str, dict[str, Any]]:
    """The dashboard's widgets by title, with each intrinsic in the body replaced by what it resolves to."""
    (dashboard,) = resources_of_type(monitoring, "AWS::CloudWatch::Dashboard").values()
    delimiter, parts = dashboard["Properties"]["DashboardBody"]["Fn::Join"]
    tokens: list[Any] = []
    text = delimiter.join(part if isinstance(part, str) else _token(part, tokens) for part in parts)
    body = json.loads(text)
    by_title = {}
    for widget in body["widgets"]:
        properties = _detokenized(widget["properties"], tokens, references)
        by_title[properties["title"]] = {**widget, "properties": properties}
    return by_title


def _token(intrinsic: Any, tokens: list[Any]) -> str:
    tokens.append(intrinsic)
    return f"@@{len(tokens) - 1}@@"


def _detokenized(value: Any, tokens: list[Any], references: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("@@") and value.endswith("@@"):
        return resolved(tokens[int(value[2:-2])], references)
    if isinstance(value, list):
        return [_detokenized(item, tokens, references) for item in value]
    if isinstance(value, dict):
        return {key: _detokenized(item, tokens, references) for key, item in value.items()}
    return value


def graphed(widget: dict[str, Any]) -> list[dict[str, Any]]:
    """Each line of a metric widget as {namespace, name, dimensions, stat, ...options} or {expression, ...}."""
    lines = []
    for entry in widget["properties"]["metrics"]:
        options = entry[-1] if isinstance(entry[-1], dict) else {}
        fields = entry[:-1] if options else entry
        if not fields:
            lines.append(dict(options))
            continue
        namespace, name, *pairs = fields
        dimensions = {pairs[i]: pairs[i + 1] for i in range(0, len(pairs), 2)}
        # A widget line without "stat" uses the dashboard's default, Average.
        stat = options.get("stat", "Average")
        lines.append(
            {**options, "namespace": namespace, "name": name, "dimensions": dimensions, "stat": stat}
        )
    return lines


def test_the_dashboard_has_the_documented_rows(widgets):
    assert [(w["x"], w["y"], w["width"]) for w in widgets.values()] == [
        (x, y, 8) for y in (0, 6, 12, 18) for x in (0, 8, 16)
    ]
    assert list(widgets) == [
        "Executions",
        "Failed executions by error",
        "Alarms",
        "Share below the confidence threshold",
        "Top confidence",
        "Predicted classes",
        "Endpoint invocations",
        "Model latency (microseconds)",
        "Endpoint errors",
        "Lambda errors",
        "Lambda throttles",
        "Lambda duration p90 (milliseconds)",
    ]


def test_executions_widget_counts_the_state_machine_s_executions(widgets, references):
    lines = graphed(widgets["Executions"])
    assert [(line["namespace"], line["name"], line["stat"]) for line in lines] == [
        ("AWS/States", "ExecutionsStarted", "Sum"),
        ("AWS/States", "ExecutionsSucceeded", "Sum"),
        ("AWS/States", "ExecutionsFailed", "Sum"),
    ]
    assert all(line["dimensions"] == {"StateMachineArn": references["state_machine"]} for line in lines)


def test_failures_by_error_split_below_threshold_from_the_rest(widgets, references, synthesized_app):
    below, unexpected, failed = graphed(widgets["Failed executions by error"])
    # The single-image state machine's failures: its own below-threshold evaluations, not a batch's images.
    assert (below["namespace"], below["name"], below["dimensions"], below["stat"], below["id"]) == (
        synthesized_app.config.project_name,
        "BelowThreshold",
        {"Workflow": "single"},
        "Sum",
        "below",
    )
    assert unexpected["expression"] == "failed - FILL(below, 0)"
    assert (failed["name"], failed["stat"], failed["id"], failed["visible"]) == (
        "ExecutionsFailed",
        "Sum",
        "failed",
        False,
    )
    assert failed["dimensions"] == {"StateMachineArn": references["state_machine"]}


def test_confidence_widgets_read_the_filter_s_metrics(widgets, synthesized_app):
    config = synthesized_app.config
    [share] = graphed(widgets["Share below the confidence threshold"])
    assert (share["namespace"], share["name"], share["dimensions"], share["stat"]) == (
        config.project_name,
        "BelowThreshold",
        {},
        "Average",
    )
    assert widgets["Share below the confidence threshold"]["properties"]["annotations"]["horizontal"][0][
        "value"
    ] == (config.alarm_below_threshold_share)
    confidence = graphed(widgets["Top confidence"])
    assert [(line["name"], line["dimensions"], line["stat"]) for line in confidence] == [
        ("TopConfidence", {}, "p10"),
        ("TopConfidence", {}, "p50"),
    ]
    assert widgets["Top confidence"]["properties"]["annotations"]["horizontal"][0]["value"] == (
        config.confidence_threshold
    )


def test_predicted_class_share_has_one_series_per_class_of_the_manifest(widgets, synthesized_app):
    # The manifest's classes reach the classifier as CLASS_NAMES; the dashboard lists the same, in order.
    class_names = json.loads(_classify_environment(synthesized_app)["CLASS_NAMES"])
    lines = graphed(widgets["Predicted classes"])
    assert [(line["name"], line["dimensions"], line["stat"]) for line in lines] == [
        ("TopConfidence", {"PredictedClass": name}, "SampleCount") for name in class_names
    ]
    assert widgets["Predicted classes"]["properties"]["stacked"] is True


def _classify_environment(synthesized_app) -> dict[str, str]:
    workflow = synthesized_app.template("Workflow")
    (function,) = [
        resource
        for resource in resources_of_type(workflow, "AWS::Lambda::Function").values()
        if "/Functions/ClassifyImage/" in resource["Metadata"]["aws:cdk:path"]
    ]
    return function["Properties"]["Environment"]["Variables"]


def test_endpoint_widgets_read_the_served_variant(widgets, references):
    variant = {"EndpointName": references["endpoint_name"], "VariantName": "AllTraffic"}
    lines = [
        *graphed(widgets["Endpoint invocations"]),
        *graphed(widgets["Model latency (microseconds)"]),
        *graphed(widgets["Endpoint errors"]),
    ]
    assert [(line["namespace"], line["name"], line["stat"]) for line in lines] == [
        ("AWS/SageMaker", "Invocations", "Sum"),
        ("AWS/SageMaker", "ModelLatency", "p50"),
        ("AWS/SageMaker", "ModelLatency", "p90"),
        ("AWS/SageMaker", "Invocation4XXErrors", "Sum"),
        ("AWS/SageMaker", "Invocation5XXErrors", "Sum"),
    ]
    assert all(line["dimensions"] == variant for line in lines)


@pytest.mark.parametrize(
    ("title", "metric", "stat"),
    [
        ("Lambda errors", "Errors", "Sum"),
        ("Lambda throttles", "Throttles", "Sum"),
        ("Lambda duration p90 (milliseconds)", "Duration", "p90"),
    ],
)
def test_lambda_widgets_cover_each_function(widgets, references, title, metric, stat):
    lines = graphed(widgets[title])
    assert [(line["namespace"], line["name"], line["stat"], line["label"]) for line in lines] == [
        ("AWS/Lambda", metric, stat, step) for step in STEPS
    ]
    assert [line["dimensions"] for line in lines] == [
        {"FunctionName": references["functions"][step]} for step in STEPS
    ]


def test_the_alarm_widget_shows_every_alarm(widgets, monitoring):
    shown = widgets["Alarms"]["properties"]["alarms"]
    assert shown == [
        {"Fn::GetAtt": [alarm, "Arn"]} for alarm in resources_of_type(monitoring, "AWS::CloudWatch::Alarm")
    ]
    assert len(shown) == 5


# --- the alarms ---


@pytest.fixture(scope="module")
def alarms(monitoring, references) -> dict[str, dict[str, Any]]:
    by_name = {}
    for alarm in resources_of_type(monitoring, "AWS::CloudWatch::Alarm").values():
        properties = alarm["Properties"]
        for dimension in properties.get("Dimensions", []):
            dimension["Value"] = resolved(dimension["Value"], references)
        for query in properties.get("Metrics", []):
            for dimension in query.get("MetricStat", {}).get("Metric", {}).get("Dimensions", []):
                dimension["Value"] = resolved(dimension["Value"], references)
        by_name[properties["AlarmName"]] = properties
    return by_name


@pytest.fixture(scope="module")
def topic(monitoring) -> dict[str, str]:
    (logical_id,) = resources_of_type(monitoring, "AWS::SNS::Topic")
    return {"Ref": logical_id}


def evaluation(alarm: dict[str, Any]) -> tuple:
    return (
        alarm["ComparisonOperator"],
        alarm["Threshold"],
        alarm["EvaluationPeriods"],
        alarm["DatapointsToAlarm"],
        alarm["TreatMissingData"],
    )


def test_there_are_exactly_the_five_alarms(alarms, synthesized_app):
    project = synthesized_app.config.project_name
    assert sorted(alarms) == sorted(
        f"{project}-{name}"
        for name in (
            "UnexpectedExecutionFailures",
            "Endpoint5xxErrors",
            "ModelLatencyP90",
            "BelowThresholdShare",
            "IdleEndpoint",
        )
    )


def test_every_alarm_notifies_the_topic_when_it_fires_and_when_it_clears(alarms, topic):
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == [topic] and alarm["OKActions"] == [topic], name
        assert alarm["AlarmDescription"], name


def test_unexpected_failures_are_failed_executions_less_the_below_threshold_ones(
    alarms, references, synthesized_app
):
    config = synthesized_app.config
    alarm = alarms[f"{config.project_name}-UnexpectedExecutionFailures"]
    expressions = [query for query in alarm["Metrics"] if "Expression" in query]
    stats = {query["Id"]: query["MetricStat"] for query in alarm["Metrics"] if "MetricStat" in query}
    assert [(e["Expression"], e["ReturnData"]) for e in expressions] == [("failed - FILL(below, 0)", True)]
    assert stats == {
        "failed": {
            "Metric": {
                "Namespace": "AWS/States",
                "MetricName": "ExecutionsFailed",
                "Dimensions": [{"Name": "StateMachineArn", "Value": references["state_machine"]}],
            },
            "Period": 300,
            "Stat": "Sum",
        },
        # The single-image workflow's evaluations only: a batch's below-threshold images fail no execution.
        "below": {
            "Metric": {
                "Namespace": config.project_name,
                "MetricName": "BelowThreshold",
                "Dimensions": [{"Name": "Workflow", "Value": "single"}],
            },
            "Period": 300,
            "Stat": "Sum",
        },
    }
    assert all(not query.get("ReturnData", False) for query in alarm["Metrics"] if "MetricStat" in query)
    assert evaluation(alarm) == (
        "GreaterThanOrEqualToThreshold",
        config.alarm_unexpected_failures,
        1,
        1,
        "notBreaching",
    )


def test_only_the_unexpected_failures_alarm_reads_the_single_image_workflows_series(
    monitoring, synthesized_app
):
    project = synthesized_app.config.project_name
    below_of_single_image_workflow = Match.object_like(
        {
            "Id": "below",
            "MetricStat": Match.object_like(
                {
                    "Metric": {
                        "Namespace": project,
                        "MetricName": "BelowThreshold",
                        "Dimensions": [{"Name": "Workflow", "Value": "single"}],
                    },
                    "Stat": "Sum",
                }
            ),
        }
    )
    template = Template.from_json(monitoring)
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": f"{project}-UnexpectedExecutionFailures",
            "Metrics": Match.array_with([below_of_single_image_workflow]),
        },
    )
    # The share alarm keeps the all-workflows series: a batch's low confidence is drift too.
    template.has_resource_properties(
        "AWS::CloudWatch::Alarm",
        {
            "AlarmName": f"{project}-BelowThresholdShare",
            "Namespace": project,
            "MetricName": "BelowThreshold",
            "Dimensions": Match.absent(),
        },
    )


def single_metric(alarm: dict[str, Any]) -> tuple:
    return (
        alarm["Namespace"],
        alarm["MetricName"],
        alarm.get("Dimensions", []),
        alarm.get("Statistic") or alarm.get("ExtendedStatistic"),
        alarm["Period"],
    )


def expected_single_metric_alarms(config: AppConfig, references: dict[str, Any]) -> dict[str, tuple]:
    """Each single-metric alarm by name: what single_metric() and evaluation() must read from it."""
    variant = [
        {"Name": "EndpointName", "Value": references["endpoint_name"]},
        {"Name": "VariantName", "Value": "AllTraffic"},
    ]
    every_period_of_the_window = config.alarm_below_threshold_minutes // 5
    return {
        "Endpoint5xxErrors": (
            ("AWS/SageMaker", "Invocation5XXErrors", variant, "Sum", 300),
            ("GreaterThanOrEqualToThreshold", config.alarm_endpoint_5xx_errors, 1, 1, "notBreaching"),
        ),
        # SageMaker's ModelLatency is in microseconds; the setting is in milliseconds.
        "ModelLatencyP90": (
            ("AWS/SageMaker", "ModelLatency", variant, "p90", 300),
            ("GreaterThanThreshold", config.alarm_latency_p90_ms * 1000, 3, 2, "notBreaching"),
        ),
        # The share alarms only when every 5-minute period of the window is above it.
        "BelowThresholdShare": (
            (config.project_name, "BelowThreshold", [], "Average", 300),
            (
                "GreaterThanThreshold",
                config.alarm_below_threshold_share,
                every_period_of_the_window,
                every_period_of_the_window,
                "notBreaching",
            ),
        ),
        # An idle endpoint publishes no Invocations at all: missing data counts as breaching.
        "IdleEndpoint": (
            ("AWS/SageMaker", "Invocations", variant, "Sum", 3600),
            ("LessThanThreshold", 1, config.alarm_idle_hours, config.alarm_idle_hours, "breaching"),
        ),
    }


@pytest.mark.parametrize(
    "name", ["Endpoint5xxErrors", "ModelLatencyP90", "BelowThresholdShare", "IdleEndpoint"]
)
def test_single_metric_alarm_watches_its_metric_and_fires_as_set(alarms, references, synthesized_app, name):
    config = synthesized_app.config
    alarm = alarms[f"{config.project_name}-{name}"]
    metric, evaluated = expected_single_metric_alarms(config, references)[name]
    assert single_metric(alarm) == metric
    assert evaluation(alarm) == evaluated


def test_latency_alarm_reads_the_p90_as_an_extended_statistic(alarms, synthesized_app):
    alarm = alarms[f"{synthesized_app.config.project_name}-ModelLatencyP90"]
    assert "Statistic" not in alarm and alarm["ExtendedStatistic"] == "p90"


def test_every_alarm_fits_cloudwatch_s_evaluation_range(alarms):
    # PutMetricAlarm: period x evaluation periods at most one day under an hour's period, else seven days
    # (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html).
    for name, alarm in alarms.items():
        periods = (
            [alarm["Period"]]
            if "Period" in alarm
            else [q["MetricStat"]["Period"] for q in alarm["Metrics"] if "MetricStat" in q]
        )
        for period in periods:
            limit = 86_400 if period < 3600 else 604_800
            assert period * alarm["EvaluationPeriods"] <= limit, name
            assert 1 <= alarm["DatapointsToAlarm"] <= alarm["EvaluationPeriods"], name


# --- the topic ---


def test_the_topic_is_encrypted_with_a_rotated_key_cloudwatch_may_use(monitoring, synthesized_app):
    (topic,) = resources_of_type(monitoring, "AWS::SNS::Topic").values()
    ((key_id, key),) = resources_of_type(monitoring, "AWS::KMS::Key").items()
    assert topic["Properties"]["KmsMasterKeyId"] == {"Fn::GetAtt": [key_id, "Arn"]}
    assert key["Properties"]["EnableKeyRotation"] is True
    cloudwatch = [
        statement
        for statement in key["Properties"]["KeyPolicy"]["Statement"]
        if statement["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    ]
    assert [(s["Effect"], sorted(s["Action"]), s["Condition"]) for s in cloudwatch] == [
        (
            "Allow",
            ["kms:Decrypt", "kms:GenerateDataKey*"],
            {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        )
    ]


def test_the_topic_accepts_only_tls_and_lets_cloudwatch_publish(monitoring, topic):
    (policy,) = resources_of_type(monitoring, "AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [topic]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert [(s["Action"], s["Condition"], s["Resource"]) for s in deny] == [
        ("sns:Publish", {"Bool": {"aws:SecureTransport": "false"}}, topic)
    ]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert [(s["Principal"], s["Action"], s["Resource"]) for s in allow] == [
        ({"Service": "cloudwatch.amazonaws.com"}, "sns:Publish", topic)
    ]


def test_no_one_is_subscribed_by_default(monitoring):
    assert not resources_of_type(monitoring, "AWS::SNS::Subscription")


def test_outputs_name_the_topic_and_the_dashboard(monitoring, topic, synthesized_app):
    outputs = monitoring["Outputs"]
    assert outputs["AlarmTopicArn"]["Value"] == topic
    (dashboard,) = resources_of_type(monitoring, "AWS::CloudWatch::Dashboard").values()
    assert dashboard["Properties"]["DashboardName"] == synthesized_app.config.project_name


# --- how the stack fits in the app ---


def test_monitoring_depends_on_model_and_workflow_and_nothing_depends_on_it(synthesized_app):
    monitoring = synthesized_app.stack("Monitoring")
    assert {stack.stack_name for stack in monitoring.dependencies} >= {
        synthesized_app.stack("Model").stack_name,
        synthesized_app.stack("Workflow").stack_name,
    }
    for other in ("Storage", "Model", "Workflow"):
        assert monitoring not in synthesized_app.stack(other).dependencies


def test_the_filter_gets_its_metrics_namespace_and_logs_at_info(synthesized_app):
    workflow = synthesized_app.template("Workflow")
    (function,) = [
        resource
        for resource in resources_of_type(workflow, "AWS::Lambda::Function").values()
        if "/Functions/FilterInferences/" in resource["Metadata"]["aws:cdk:path"]
    ]
    assert function["Properties"]["Environment"]["Variables"]["METRICS_NAMESPACE"] == (
        synthesized_app.config.project_name
    )
    # A stdout line without a "level" counts as INFO: an application log level above INFO would drop the EMF
    # lines (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
    logging_config = function["Properties"]["LoggingConfig"]
    assert logging_config["LogFormat"] == "JSON"
    assert logging_config.get("ApplicationLogLevel", "INFO") in ("TRACE", "DEBUG", "INFO")


def test_the_handler_and_the_stack_agree_on_the_metric_contract():
    handler = load_handler_module("filter_inferences")
    assert (
        handler.TOP_CONFIDENCE_METRIC,
        handler.BELOW_THRESHOLD_METRIC,
        handler.PREDICTED_CLASS_DIMENSION,
        handler.WORKFLOW_DIMENSION,
        handler.SINGLE_IMAGE_WORKFLOW,
        handler.WORKFLOW_KEY,
        handler.BATCH_WORKFLOW,
    ) == (
        workflow_metrics.TOP_CONFIDENCE_METRIC,
        workflow_metrics.BELOW_THRESHOLD_METRIC,
        workflow_metrics.PREDICTED_CLASS_DIMENSION,
        workflow_metrics.WORKFLOW_DIMENSION,
        workflow_metrics.SINGLE_IMAGE_WORKFLOW,
        batch_workflow.WORKFLOW_INPUT_KEY,
        batch_workflow.BATCH_WORKFLOW,
    )


# --- the options, on the monitoring stack alone ---

OPTIONS = {
    "alarm_email": "ops@example.com",
    "alarm_unexpected_failures": "3",
    "alarm_endpoint_5xx_errors": "5",
    "alarm_latency_p90_ms": "250",
    "alarm_below_threshold_share": "0.2",
    "alarm_below_threshold_minutes": "30",
    "alarm_idle_hours": "3",
    "project_name": "Scones2",
}


@pytest.fixture(scope="module")
def with_options(default_context) -> cdk.Stack:
    config = AppConfig.from_context({**default_context, **OPTIONS})
    # cdk.json's feature flags and the CLI's metadata settings, as the real app has them.
    app = cdk.App(context={k: v for k, v in default_context.items() if k.startswith(("@", "aws:cdk:"))})
    # The imported resources need a stack; CDK refuses an empty one, hence the placeholder.
    refs = cdk.Stack(app, "Refs")
    cdk.CfnWaitConditionHandle(refs, "Placeholder")
    stack = MonitoringStack(
        app,
        "Monitoring",
        config=config,
        endpoint=EndpointRef(
            name="endpoint", arn="arn:aws:sagemaker:us-east-1:123456789012:endpoint/endpoint"
        ),
        state_machine=sfn.StateMachine.from_state_machine_arn(
            refs, "Machine", "arn:aws:states:us-east-1:123456789012:stateMachine:machine"
        ),
        functions={step: lambda_.Function.from_function_name(refs, step, step.lower()) for step in STEPS},
        class_names=["bicycle", "motorcycle", "tractor"],
    )
    return stack


def test_options_reach_their_alarms(with_options):
    template = cdk.assertions.Template.from_stack(with_options).to_json()
    by_name = {
        a["Properties"]["AlarmName"]: a["Properties"]
        for a in resources_of_type(template, "AWS::CloudWatch::Alarm").values()
    }
    assert evaluation(by_name["Scones2-UnexpectedExecutionFailures"])[1] == 3
    assert evaluation(by_name["Scones2-Endpoint5xxErrors"])[1] == 5
    assert evaluation(by_name["Scones2-ModelLatencyP90"])[1] == 250_000
    assert evaluation(by_name["Scones2-BelowThresholdShare"])[1:4] == (0.2, 6, 6)
    assert evaluation(by_name["Scones2-IdleEndpoint"])[1:4] == (1, 3, 3)
    assert by_name["Scones2-BelowThresholdShare"]["Namespace"] == "Scones2"
    (subscription,) = resources_of_type(template, "AWS::SNS::Subscription").values()
    assert (subscription["Properties"]["Protocol"], subscription["Properties"]["Endpoint"]) == (
        "email",
        "ops@example.com",
    )


def test_the_stack_with_options_is_nag_and_lint_clean(with_options):
    report = AwsSolutionsChecks().validate_scope(with_options)
    assert report.success, [v.rule_name for v in report.violations]
    assert findings_of(cdk.assertions.Template.from_stack(with_options).to_json()) == []

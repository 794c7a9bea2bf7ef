"""The local run's CloudWatch side: the EMF reader, the alarm evaluator, and the report on a synthesized template."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from local_run.alarms import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    AlarmDefinitionError,
    alarm_from_template,
    evaluate,
)
from local_run.emf import Datapoint, EmfFormatError, parse_emf_line, read_emf_log
from local_run.lambda_runtime import InvocationRecord
from local_run.metrics import (
    ALARM_TYPE,
    ExecutionTimes,
    collect,
    evaluate_alarms,
    report,
    state_machine_logical_id,
    summary_lines,
)
from local_run.sagemaker_emulator import EndpointRequest
from local_run.template import load_monitoring_template
from tests.cloud_assembly import write_cloud_assembly
from tests.lambda_handlers import load_handler_module

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NAMESPACE = "SconesVision"
# The end of a 5-minute period, so that every offset below lands in a known period.
RUN_END = datetime(2026, 11, 29, 12, 4, 59, tzinfo=UTC)


def emf_line(
    top_confidence: float,
    below: int,
    predicted_class: str = "bicycle",
    *,
    at: datetime = RUN_END,
    **overrides,
) -> str:
    """One filter evaluation as the WAVE2 contract describes it."""
    document = {
        "_aws": {
            "Timestamp": int(at.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [["Workflow"], ["Workflow", "PredictedClass"]],
                    "Metrics": [
                        {"Name": "TopConfidence", "Unit": "None"},
                        {"Name": "BelowThreshold", "Unit": "Count"},
                    ],
                }
            ],
        },
        "Workflow": NAMESPACE,
        "PredictedClass": predicted_class,
        "TopConfidence": top_confidence,
        "BelowThreshold": below,
        **overrides,
    }
    return json.dumps(document)


# --- EMF reader ------------------------------------------------------------------------------------------


def test_an_emf_line_gives_one_datapoint_per_metric_and_dimension_set():
    document = parse_emf_line(emf_line(0.97, 0, "motorcycle"), line_number=3)

    assert document is not None
    assert document.timestamp == RUN_END.replace(microsecond=0)
    assert document.values == {"TopConfidence": (0.97,), "BelowThreshold": (0.0,)}
    assert document.members["PredictedClass"] == "motorcycle"
    assert {(p.metric_name, p.dimensions, p.value) for p in document.datapoints} == {
        ("TopConfidence", (("Workflow", NAMESPACE),), 0.97),
        ("TopConfidence", (("PredictedClass", "motorcycle"), ("Workflow", NAMESPACE)), 0.97),
        ("BelowThreshold", (("Workflow", NAMESPACE),), 0.0),
        ("BelowThreshold", (("PredictedClass", "motorcycle"), ("Workflow", NAMESPACE)), 0.0),
    }


def test_an_array_of_values_is_one_datapoint_each():
    document = parse_emf_line(emf_line(0.5, 0, TopConfidence=[0.5, 0.6, 0.7]))

    assert document is not None
    assert sorted(p.value for p in document.datapoints if p.metric_name == "TopConfidence") == [
        0.5, 0.5, 0.6, 0.6, 0.7, 0.7
    ]  # fmt: skip


def test_ordinary_log_lines_are_not_emf():
    log = [
        json.dumps({"level": "INFO", "message": "classified", "requestId": "r"}),
        "START RequestId: 1 Version: $LATEST",
        emf_line(0.9, 1),
        "[1, 2]",
    ]

    documents = read_emf_log(log)

    assert [document.line_number for document in documents] == [3]


def _without(path: list[str], line: str) -> str:
    document = json.loads(line)
    node = document
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return json.dumps(document)


def _with(line: str, update) -> str:
    document = json.loads(line)
    update(document)
    return json.dumps(document)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (_without(["_aws", "Timestamp"], emf_line(0.9, 0)), "_aws has no Timestamp member"),
        (_without(["_aws", "CloudWatchMetrics"], emf_line(0.9, 0)), "has no CloudWatchMetrics member"),
        (
            _with(emf_line(0.9, 0), lambda d: d["_aws"].update(Timestamp="now")),
            "Timestamp has the wrong type",
        ),
        (
            _with(emf_line(0.9, 0), lambda d: d["_aws"]["CloudWatchMetrics"][0].pop("Namespace")),
            "CloudWatchMetrics[0] has no Namespace member",
        ),
        (
            _with(emf_line(0.9, 0), lambda d: d["_aws"]["CloudWatchMetrics"][0].pop("Dimensions")),
            "has no Dimensions member",
        ),
        (
            _with(emf_line(0.9, 0), lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Metrics=[])),
            "Metrics must hold 1 to 100",
        ),
        (_without(["PredictedClass"], emf_line(0.9, 0)), "dimension 'PredictedClass' is not a string member"),
        (_without(["TopConfidence"], emf_line(0.9, 0)), "metric 'TopConfidence' needs a root member"),
        (emf_line(0.9, 0, TopConfidence="high"), "metric 'TopConfidence' needs a root member"),
        (
            _with(
                emf_line(0.9, 0), lambda d: d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0].update(Unit="Pct")
            ),
            "Unit 'Pct' is not a CloudWatch unit",
        ),
        (
            _with(
                emf_line(0.9, 0),
                lambda d: d["_aws"]["CloudWatchMetrics"][0].update(Dimensions=[[f"k{i}" for i in range(31)]]),
            ),
            "31 dimension keys, more than 30",
        ),
    ],
)
def test_a_malformed_emf_line_is_refused_naming_the_line_and_the_fault(line: str, message: str):
    with pytest.raises(EmfFormatError) as refused:
        read_emf_log([json.dumps({"message": "fine"}), line])

    assert str(refused.value).startswith("EMF line 2")
    assert message in str(refused.value)


# --- alarm evaluator -------------------------------------------------------------------------------------


def point(metric: str, value: float, *, seconds_before_end: float = 0, dimensions=(), namespace=NAMESPACE):
    return Datapoint(
        namespace, metric, tuple(dimensions), RUN_END - timedelta(seconds=seconds_before_end), value
    )


def single_metric_alarm(**properties: Any) -> dict[str, Any]:
    return {
        "Namespace": NAMESPACE,
        "MetricName": "Errors",
        "Statistic": "Sum",
        "Period": 300,
        "EvaluationPeriods": 1,
        "Threshold": 0,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
        **properties,
    }


def state_of(properties: dict[str, Any], datapoints: list[Datapoint]) -> str:
    alarm = alarm_from_template("Alarm", properties, lambda node: node)
    return evaluate(alarm, datapoints, at=RUN_END).state


def test_single_metric_alarm_fires_on_a_breaching_sum_and_not_below_it():
    properties = single_metric_alarm(Threshold=2)
    three = [point("Errors", 1, seconds_before_end=s) for s in (1, 2, 3)]

    assert state_of(properties, three) == ALARM
    assert state_of(properties, three[:2]) == OK
    assert state_of(properties, []) == OK  # notBreaching: no errors is fine


def test_datapoints_outside_the_metric_dimensions_or_namespace_do_not_count():
    properties = single_metric_alarm(Dimensions=[{"Name": "FunctionName", "Value": "Filter"}])
    others = [
        point("Errors", 5, dimensions=[("FunctionName", "Classify")]),
        point("Errors", 5),
        point("Errors", 5, dimensions=[("FunctionName", "Filter")], namespace="AWS/Lambda"),
    ]

    assert state_of(properties, others) == OK
    assert state_of(properties, [point("Errors", 1, dimensions=[("FunctionName", "Filter")])]) == ALARM


@pytest.mark.parametrize(
    ("statistic", "threshold", "expected"),
    [
        ("Average", 0.25, ALARM),  # 2 of 5 below: 0.4
        ("Average", 0.5, OK),
        ("SampleCount", 5, OK),
        ("SampleCount", 4, ALARM),
        ("Maximum", 0.9, ALARM),
        ("Minimum", 0, OK),
    ],
)
def test_each_statistic_aggregates_the_period(statistic: str, threshold: float, expected: str):
    properties = single_metric_alarm(MetricName="BelowThreshold", Statistic=statistic, Threshold=threshold)
    values = [1, 0, 1, 0, 0]

    assert state_of(
        properties, [point("BelowThreshold", v, seconds_before_end=i) for i, v in enumerate(values)]
    ) == (expected)


def test_percentile_alarm_uses_the_extended_statistic():
    # Latencies 1..10 ms in microseconds: p90 is 9 ms by nearest rank.
    latencies = [point("ModelLatency", ms * 1000, seconds_before_end=ms) for ms in range(1, 11)]
    properties = single_metric_alarm(
        MetricName="ModelLatency",
        ExtendedStatistic="p90",
        Statistic=None,
        ComparisonOperator="GreaterThanThreshold",
    )

    assert state_of({**properties, "Threshold": 8500}, latencies) == ALARM
    assert state_of({**properties, "Threshold": 9000}, latencies) == OK


def math_alarm(expression: str, threshold: float = 0) -> dict[str, Any]:
    def metric_stat(metric_id: str, name: str) -> dict[str, Any]:
        return {
            "Id": metric_id,
            "ReturnData": False,
            "MetricStat": {
                "Metric": {"Namespace": NAMESPACE, "MetricName": name},
                "Period": 300,
                "Stat": "Sum",
            },
        }

    return {
        "Metrics": [
            metric_stat("failed", "ExecutionsFailed"),
            metric_stat("below", "BelowThreshold"),
            {"Id": "unexpected", "Expression": expression, "ReturnData": True},
        ],
        "EvaluationPeriods": 1,
        "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold",
        "TreatMissingData": "notBreaching",
    }


def test_math_alarm_fires_only_on_failures_other_than_below_threshold():
    failures = [point("ExecutionsFailed", 1, seconds_before_end=s) for s in range(3)]
    below_two = [point("BelowThreshold", v, seconds_before_end=s) for s, v in enumerate([1, 1, 0, 0])]
    below_three = [point("BelowThreshold", 1, seconds_before_end=s) for s in range(3)]

    unexpected = "failed - FILL(below, 0)"
    assert state_of(math_alarm(unexpected), failures + below_two) == ALARM  # 3 - 2 = 1 unexpected
    assert state_of(math_alarm(unexpected), failures + below_three) == OK  # all as designed
    # FILL gives the period without a filter evaluation a 0: failures before any filter ran still fire.
    assert state_of(math_alarm(unexpected), failures) == ALARM
    # Without FILL, an operand without a value leaves the period without one (here: not breaching).
    assert state_of(math_alarm("failed - below"), failures) == OK
    # With no value of any of its metrics, the period is missing (here: not breaching).
    assert state_of(math_alarm(unexpected, threshold=-1), []) == OK


def test_math_expression_operators_precedence_and_division_by_zero():
    failures = [point("ExecutionsFailed", 1, seconds_before_end=s) for s in range(4)]
    below = [point("BelowThreshold", 1, seconds_before_end=s) for s in range(2)]
    data = failures + below

    assert state_of(math_alarm("(failed - below) * 100 / failed", threshold=49), data) == ALARM  # 50 %
    assert state_of(math_alarm("(failed - below) * 100 / failed", threshold=50), data) == OK
    # * before -: 4 - 2 * 2 = 0 (left to right it would be 4)
    assert state_of(math_alarm("failed - below * 2", threshold=-1), data) == ALARM
    assert state_of(math_alarm("failed - below * 2", threshold=0), data) == OK
    no_failures = [point("ExecutionsFailed", 0), point("BelowThreshold", 1)]
    # x / 0 has no value: the period is missing, which this alarm treats as not breaching.
    assert state_of(math_alarm("below / failed", threshold=0), no_failures) == OK


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("failed + unknown", "unknown metric ids ['unknown']"),
        ("RATE(failed)", "not a number, a metric id"),
        ("failed - below)", "unexpected ')'"),
        ("(failed - below", "ends too early"),
        ("failed - FILL(below)", "ends too early"),
        ("failed - FILL(below, 0, 1)", "expected FILL(metric id, number)"),
        ("failed - FILL(unknown, 0)", "unknown metric ids ['unknown']"),
        ("failed - FILL(below, zero)", "unknown metric ids ['zero']"),
    ],
)
def test_math_expressions_beyond_the_contract_are_refused(expression: str, message: str):
    with pytest.raises(
        AlarmDefinitionError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")
    ):
        state_of(math_alarm(expression), [point("ExecutionsFailed", 1), point("BelowThreshold", 0)])


def idle_alarm(hours: int) -> dict[str, Any]:
    return single_metric_alarm(
        Namespace="AWS/SageMaker",
        MetricName="Invocations",
        Period=3600,
        EvaluationPeriods=hours,
        DatapointsToAlarm=hours,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
        TreatMissingData="breaching",
    )


def test_idle_alarm_fires_when_no_invocation_arrived_for_the_configured_hours():
    # Missing data is breaching: no datapoint at all for `hours` periods means an idle endpoint.
    assert state_of(idle_alarm(3), []) == ALARM
    invocation = point("Invocations", 1, namespace="AWS/SageMaker")
    assert state_of(idle_alarm(3), [invocation]) == OK
    # Invocations four hours ago do not keep a three-hour idle alarm quiet.
    stale = point("Invocations", 1, namespace="AWS/SageMaker", seconds_before_end=4 * 3600)
    assert state_of(idle_alarm(3), [stale]) == ALARM


def test_m_of_n_needs_m_breaching_periods_among_the_last_n():
    properties = single_metric_alarm(
        MetricName="BelowThreshold",
        Statistic="Average",
        Period=60,
        EvaluationPeriods=5,
        DatapointsToAlarm=3,
        Threshold=0.5,
        ComparisonOperator="GreaterThanThreshold",
        TreatMissingData="missing",
    )

    def minutes(shares: list[float]) -> list[Datapoint]:
        # One datapoint per minute, the last one in the run's final minute.
        return [
            point("BelowThreshold", share, seconds_before_end=60 * back) for back, share in enumerate(shares)
        ]

    assert state_of(properties, minutes([0.9, 0.1, 0.9, 0.1, 0.9])) == ALARM  # 3 of 5
    assert state_of(properties, minutes([0.9, 0.1, 0.9, 0.1, 0.1])) == OK  # 2 of 5
    # Missing periods are not considered: three real, breaching ones are enough, two are not.
    assert state_of(properties, minutes([0.9, 0.9, 0.9])) == ALARM
    assert state_of(properties, minutes([0.9, 0.9])) == OK
    # With at least N real datapoints in the evaluation range, the N most recent real ones count.
    assert state_of(properties, minutes([0.1, 0.1, 0.1, 0.1, 0.1, 0.9, 0.9, 0.9])) == OK


@pytest.mark.parametrize(
    ("treatment", "expected"),
    [
        ("missing", INSUFFICIENT_DATA),
        ("ignore", INSUFFICIENT_DATA),
        ("breaching", ALARM),
        ("notBreaching", OK),
    ],
)
def test_treat_missing_data_when_no_datapoint_arrived(treatment: str, expected: str):
    assert state_of(single_metric_alarm(TreatMissingData=treatment), []) == expected


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"ComparisonOperator": "LessThanLowerOrGreaterThanUpperThreshold"}, "ComparisonOperator"),
        ({"TreatMissingData": "sometimes"}, "TreatMissingData"),
        ({"Statistic": "Median"}, "statistic 'Median'"),
        ({"EvaluationPeriods": 0}, "EvaluationPeriods is 0"),
        ({"DatapointsToAlarm": 2}, "DatapointsToAlarm 2 exceeds EvaluationPeriods"),
    ],
)
def test_an_alarm_the_evaluator_cannot_evaluate_is_refused_by_name(override: dict[str, Any], message: str):
    with pytest.raises(AlarmDefinitionError, match="alarm Alarm") as refused:
        alarm_from_template("Alarm", single_metric_alarm(**override), lambda node: node)

    assert message in str(refused.value)


# --- the run's metrics and a synthesized monitoring template ------------------------------------------------


def test_collect_turns_the_run_into_aws_metrics():
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:X-Workflow"
    metrics = collect(
        handler_log_lines=[emf_line(0.5, 1)],
        executions=[ExecutionTimes("FAILED", RUN_END - timedelta(seconds=2), RUN_END)],
        state_machine_arn=arn,
        endpoint_requests=[
            EndpointRequest("ep", RUN_END, 1500.0, 200),
            EndpointRequest("ep", RUN_END, 90.0, 500),
        ],
        lambda_invocations={"Filter": [InvocationRecord(RUN_END, 3.0, True)]},
        local_names={},
        ended=RUN_END,
    )

    counted = {}
    for p in metrics.datapoints:
        key = (p.namespace, p.metric_name)
        counted[key] = counted.get(key, 0) + p.value
    assert counted[("AWS/States", "ExecutionsStarted")] == 1
    assert counted[("AWS/States", "ExecutionsFailed")] == 1
    assert counted[("AWS/SageMaker", "Invocations")] == 2
    assert counted[("AWS/SageMaker", "Invocation5XXErrors")] == 1
    assert counted[("AWS/SageMaker", "ModelLatency")] == 1500.0  # only the answered request
    assert counted[("AWS/Lambda", "Errors")] == 1
    assert counted[("AWS/Lambda", "Throttles")] == 0
    assert counted[(NAMESPACE, "BelowThreshold")] == 2  # two dimension sets


def test_summary_shows_percentiles_share_and_classes():
    emf = read_emf_log(
        [emf_line(c / 10, int(c < 9), "bicycle" if c % 2 else "motorcycle") for c in range(1, 11)]
    )

    lines = "\n".join(summary_lines(emf))

    assert "p10 0.100, p50 0.500" in lines
    assert "8 of 10 (80.0%)" in lines
    assert "bicycle 5, motorcycle 5" in lines


def write_assembly(folder: Path, alarms: dict[str, dict[str, Any]]) -> Path:
    """A cloud assembly with a workflow and a monitoring stack whose alarms name the workflow's resources."""
    workflow = {
        "Resources": {
            "FilterFunction": {"Type": "AWS::Lambda::Function"},
            "Machine": {"Type": "AWS::StepFunctions::StateMachine"},
        },
        "Outputs": {
            "StateMachineArn": {"Value": {"Ref": "Machine"}},
            "FilterName": {"Value": {"Ref": "FilterFunction"}},
        },
    }
    monitoring = {
        "Resources": {
            logical_id: {"Type": "AWS::CloudWatch::Alarm", "Properties": properties}
            for logical_id, properties in alarms.items()
        }
    }
    return write_cloud_assembly(folder, {"X-Workflow": workflow, "X-Monitoring": monitoring})


def test_alarms_of_a_synthesized_template_resolve_other_stacks_names_to_the_local_ones(tmp_path: Path):
    function = {"Fn::GetStackOutput": {"StackName": "X-Workflow", "OutputName": "FilterName"}}
    machine = {"Fn::GetStackOutput": {"StackName": "X-Workflow", "OutputName": "StateMachineArn"}}
    assembly = write_assembly(
        tmp_path,
        {
            "FilterErrors": single_metric_alarm(
                Namespace="AWS/Lambda",
                AlarmName={"Fn::Join": ["-", [{"Ref": "AWS::StackName"}, "FilterErrors"]]},
                Dimensions=[{"Name": "FunctionName", "Value": function}],
            ),
            "Failures": single_metric_alarm(
                Namespace="AWS/States",
                MetricName="ExecutionsFailed",
                Dimensions=[{"Name": "StateMachineArn", "Value": machine}],
            ),
        },
    )
    arn = "arn:aws:states:us-east-1:123456789012:stateMachine:X-Workflow"
    metrics = collect(
        handler_log_lines=[],
        executions=[ExecutionTimes("SUCCEEDED", RUN_END, RUN_END)],
        state_machine_arn=arn,
        endpoint_requests=[],
        lambda_invocations={"FilterFunction": [InvocationRecord(RUN_END, 3.0, True)]},
        local_names={("X-Workflow", "FilterFunction"): "FilterFunction", ("X-Workflow", "Machine"): arn},
        ended=RUN_END,
    )

    monitoring = load_monitoring_template(assembly)
    assert monitoring is not None
    evaluations = {e.alarm.logical_id: e for e in evaluate_alarms(monitoring, metrics)}

    assert evaluations["FilterErrors"].alarm.name == "X-Monitoring-FilterErrors"
    assert evaluations["FilterErrors"].state == ALARM
    assert evaluations["Failures"].alarm.metrics["m"].dimensions == (("StateMachineArn", arn),)
    assert evaluations["Failures"].state == OK
    out = io.StringIO()
    report(assembly, metrics, out)
    printed = out.getvalue()
    assert "An evaluation of the synthesized alarms of X-Monitoring on this local run's metrics" in printed
    assert "X-Monitoring-FilterErrors" in printed and "ALARM" in printed


def test_without_a_monitoring_stack_the_report_says_so(tmp_path: Path):
    metrics = collect(
        handler_log_lines=[emf_line(0.99, 0)],
        executions=[],
        state_machine_arn="arn",
        endpoint_requests=[],
        lambda_invocations={},
        local_names={},
        ended=RUN_END,
    )
    out = io.StringIO()

    assert report(write_cloud_assembly(tmp_path, {"X-Workflow": {"Resources": {}}}), metrics, out) == []
    assert "EMF lines             1" in out.getvalue()
    assert "no <project>-Monitoring stack" in out.getvalue()


# --- the synthesized Monitoring stack's own alarms, on crafted runs ----------------------------------------


@pytest.fixture(scope="module")
def monitoring(synthesized_app):
    template = load_monitoring_template(Path(synthesized_app.assembly.directory))
    assert template is not None, "the app synthesizes no <project>-Monitoring stack"
    return template


@pytest.fixture(scope="module")
def machine_arn(workflow_template) -> str:
    return f"arn:aws:states:us-east-1:123456789012:stateMachine:{workflow_template.stack_name}"


def crafted_run(
    workflow_template,
    machine_arn: str,
    *,
    minutes_ago: list[int],
    below: bool = False,
    unexpected_failures: int = 0,
    batch_below_minutes_ago: list[int] = (),
    latency_us: float = 2_000,
    model_status: int = 200,
):
    """One execution per entry of `minutes_ago`, each through the filter and the endpoint; plus failures.

    `batch_below_minutes_ago`: images of a batch run scoring below the threshold then, each through the same
    filter and endpoint, but results of the batch state machine, not failed executions of this one.
    """
    lines, executions, requests = [], [], []
    for minutes in minutes_ago:
        at = RUN_END - timedelta(minutes=minutes)
        lines.append(filter_emf_line(0.6 if below else 0.99, at=at))
        executions.append(ExecutionTimes("FAILED" if below else "SUCCEEDED", at, at))
        requests.append(EndpointRequest(workflow_template.endpoint_name, at, latency_us, model_status))
    for minutes in batch_below_minutes_ago:
        at = RUN_END - timedelta(minutes=minutes)
        lines.append(filter_emf_line(0.6, at=at, batch=True))
        requests.append(EndpointRequest(workflow_template.endpoint_name, at, latency_us, model_status))
    executions += [ExecutionTimes("FAILED", RUN_END, RUN_END)] * unexpected_failures
    return collect(
        handler_log_lines=lines,
        executions=executions,
        state_machine_arn=machine_arn,
        endpoint_requests=requests,
        lambda_invocations={},
        local_names={
            (workflow_template.stack_name, state_machine_logical_id(workflow_template)): machine_arn
        },
        ended=RUN_END,
    )


def filter_emf_line(top_confidence: float, *, at: datetime, batch: bool = False) -> str:
    """The EMF line the synthesized filter prints for this evaluation (its own evaluate and metrics_document),
    of an image of a batch (its event carrying the batch map's marker) or of the single-image workflow."""
    filter_app = load_handler_module("filter_inferences")
    event = {"inferences": [top_confidence, 1 - top_confidence], "predicted_class": "bicycle"}
    if batch:
        event["workflow"] = "batch"
    evaluation = filter_app.evaluate(event, 0.93)
    return json.dumps(
        filter_app.metrics_document(evaluation, namespace=NAMESPACE, timestamp_ms=int(at.timestamp() * 1000))
    )


def states(monitoring, metrics) -> dict[str, str]:
    return {e.alarm.name.split("-", 1)[1]: e.state for e in evaluate_alarms(monitoring, metrics)}


def test_the_synthesized_alarms_stay_ok_on_a_healthy_run(monitoring, workflow_template, machine_arn):
    healthy = crafted_run(workflow_template, machine_arn, minutes_ago=[0, 1, 2, 6, 11])

    assert states(monitoring, healthy) == {
        "BelowThresholdShare": OK,
        "Endpoint5xxErrors": OK,
        "IdleEndpoint": OK,
        "ModelLatencyP90": OK,
        "UnexpectedExecutionFailures": OK,
    }


def test_unexpected_failures_fire_and_below_threshold_ones_do_not(monitoring, workflow_template, machine_arn):
    below_only = crafted_run(workflow_template, machine_arn, minutes_ago=[0, 1], below=True)
    with_unexpected = crafted_run(
        workflow_template, machine_arn, minutes_ago=[0, 1], below=True, unexpected_failures=1
    )

    assert states(monitoring, below_only)["UnexpectedExecutionFailures"] == OK
    assert states(monitoring, with_unexpected)["UnexpectedExecutionFailures"] == ALARM
    # Executions that failed before the filter ran (ImageNotFound, say) emit no EMF line at all.
    no_filter = crafted_run(workflow_template, machine_arn, minutes_ago=[], unexpected_failures=2)
    assert states(monitoring, no_filter)["UnexpectedExecutionFailures"] == ALARM


def test_a_batch_below_the_threshold_does_not_hide_an_unexpected_single_image_failure(
    monitoring, workflow_template, machine_arn
):
    # Three batch images below the threshold in the period of one unexpected failure of the single-image
    # state machine: the batch's evaluations are no failed executions of it, so they must not offset it.
    batch_alongside = crafted_run(
        workflow_template,
        machine_arn,
        minutes_ago=[],
        unexpected_failures=1,
        batch_below_minutes_ago=[0, 0, 1],
    )
    # The single-image workflow's own below-threshold failures are still the expected ones.
    mixed = crafted_run(
        workflow_template,
        machine_arn,
        minutes_ago=[0, 1],
        below=True,
        unexpected_failures=1,
        batch_below_minutes_ago=[0, 1],
    )
    batch_only = crafted_run(
        workflow_template, machine_arn, minutes_ago=[1], below=True, batch_below_minutes_ago=[0]
    )

    assert states(monitoring, batch_alongside)["UnexpectedExecutionFailures"] == ALARM
    assert states(monitoring, mixed)["UnexpectedExecutionFailures"] == ALARM
    assert states(monitoring, batch_only)["UnexpectedExecutionFailures"] == OK


def test_a_sustained_below_threshold_share_fires_a_short_one_does_not(
    monitoring, workflow_template, machine_arn
):
    sustained = crafted_run(workflow_template, machine_arn, minutes_ago=[0, 5, 10], below=True)
    short = crafted_run(workflow_template, machine_arn, minutes_ago=[0, 5], below=True)

    assert states(monitoring, sustained)["BelowThresholdShare"] == ALARM
    assert states(monitoring, short)["BelowThresholdShare"] == OK


def test_endpoint_5xx_and_slow_model_fire(monitoring, workflow_template, machine_arn):
    failing = crafted_run(workflow_template, machine_arn, minutes_ago=[0], model_status=500)
    slow = crafted_run(workflow_template, machine_arn, minutes_ago=[0, 5], latency_us=2_000_000)
    slow_once = crafted_run(workflow_template, machine_arn, minutes_ago=[0], latency_us=2_000_000)

    assert states(monitoring, failing)["Endpoint5xxErrors"] == ALARM
    assert states(monitoring, slow)["ModelLatencyP90"] == ALARM  # 2 of 3 periods
    assert states(monitoring, slow_once)["ModelLatencyP90"] == OK


def test_an_endpoint_without_requests_is_idle(monitoring, workflow_template, machine_arn):
    idle = crafted_run(workflow_template, machine_arn, minutes_ago=[])
    served_a_day_ago = crafted_run(workflow_template, machine_arn, minutes_ago=[25 * 60])

    assert states(monitoring, idle)["IdleEndpoint"] == ALARM
    assert states(monitoring, served_a_day_ago)["IdleEndpoint"] == ALARM


def test_the_demo_shows_the_emitted_metrics_and_evaluates_every_synthesized_alarm(
    synthesized_app, monitoring, tmp_path
):
    completed = subprocess.run(
        [sys.executable, "-m", "local_run", "demo", "--no-progress", "--no-plot", "--test-per-class", "5",
         "--cdk-out", synthesized_app.assembly.directory],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip

    assert completed.returncode == 0, completed.stdout + completed.stderr
    out = completed.stdout
    rejected = sum("FAILED ThresholdConfidenceNotMet" in line for line in out.splitlines())
    assert "Metrics the filter emitted (EMF, namespace SconesVision)" in out
    assert "EMF lines             10" in out
    assert f"BelowThreshold        {rejected} of 10" in out
    assert re.search(r"TopConfidence         p10 0\.\d{3}, p50 (0\.\d{3}|1\.000)", out)
    assert (
        "An evaluation of the synthesized alarms of SconesVision-Monitoring on this local run's metrics"
        in out
    )
    table = {
        line.split()[0]: line.split()[-1] for line in out.splitlines() if line.startswith("  SconesVision-")
    }
    alarm_names = {
        resource["Properties"]["AlarmName"] for resource in monitoring.resources_of_type(ALARM_TYPE).values()
    }
    assert set(table) >= alarm_names and len(alarm_names) == 5
    assert {table[name] for name in alarm_names} == {OK}

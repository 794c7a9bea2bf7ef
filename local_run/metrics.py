"""What CloudWatch would have received from a local run, and which of the synthesized alarms it would fire.

The run's metrics, as datapoints with timestamps:

- the filter's EMF lines (namespace = the project), read from the handlers' log (`local_run.emf`);
- AWS/States `ExecutionsStarted` at each execution's start and `ExecutionsSucceeded` / `ExecutionsFailed` /
  `ExecutionsTimedOut` / `ExecutionsAborted` at its end, value 1, dimension `StateMachineArn`;
- AWS/SageMaker per request that reached the endpoint: `Invocations` 1, `Invocation4XXErrors` and
  `Invocation5XXErrors` 0 or 1 (by the model's status), `ModelLatency` in microseconds for the requests the model
  answered (the emulator's time, standing in for the model container's), dimensions `EndpointName`,
  `VariantName`;
- AWS/Lambda per invocation: `Invocations` 1, `Errors` 0 or 1, `Throttles` 0 (nothing throttles locally),
  `Duration` in milliseconds, dimension `FunctionName`.

Each `AWS::CloudWatch::Alarm` of the synthesized `<project>-Monitoring` stack is then evaluated on them by
`local_run.alarms`, as at the close of the period that holds the end of the run. Dimension values that name
another stack's resources (`Fn::GetStackOutput`, `Ref`, `Fn::GetAtt`) are resolved to the local run's names: the
functions' logical ids, the local state machine's ARN, the endpoint's local name.
"""

from __future__ import annotations

import io
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from local_run.alarms import (
    AlarmDefinition,
    AlarmEvaluation,
    alarm_from_template,
    evaluate,
    statistic,
)
from local_run.emf import Datapoint, EmfDocument, read_emf_log
from local_run.lambda_runtime import InvocationRecord
from local_run.sagemaker_emulator import VARIANT_NAME, EndpointRequest
from local_run.template import (
    MonitoringTemplate,
    TemplateError,
    WorkflowTemplate,
    load_monitoring_template,
    read_assembly,
    template_if_any,
)
from local_run.workflow import ACCOUNT_ID, REGION
from ops.assembly import CloudAssembly

if TYPE_CHECKING:
    from local_run.workflow import LocalWorkflow
    from ops.executions import ExecutionOutcome

ALARM_TYPE = "AWS::CloudWatch::Alarm"
TOP_CONFIDENCE, BELOW_THRESHOLD, CLASS_DIMENSION = "TopConfidence", "BelowThreshold", "PredictedClass"
STATES_END_METRICS = {
    "SUCCEEDED": "ExecutionsSucceeded",
    "FAILED": "ExecutionsFailed",
    "TIMED_OUT": "ExecutionsTimedOut",
    "ABORTED": "ExecutionsAborted",
}
HEADLINE = (
    "An evaluation of the synthesized alarms of {stack} on this local run's metrics (no AWS involved): what "
    "CloudWatch would show\nhad the deployed system served these requests, each alarm as at the close of the "
    "period holding the run's end."
)
_COMPARISON_SYMBOLS = {
    "GreaterThanOrEqualToThreshold": ">=",
    "GreaterThanThreshold": ">",
    "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "<=",
}


class TeeStream(io.TextIOBase):
    """Writes to the given stream and keeps a copy: the handlers' log goes to its file and is read back here."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._copy = io.StringIO()

    def write(self, text: str) -> int:
        self._stream.write(text)
        return self._copy.write(text)

    def flush(self) -> None:
        self._stream.flush()

    def lines(self) -> list[str]:
        return self._copy.getvalue().splitlines()


@dataclass(frozen=True)
class ExecutionTimes:
    status: str
    started: datetime
    stopped: datetime | None


@dataclass(frozen=True)
class RunMetrics:
    emf: list[EmfDocument]
    datapoints: list[Datapoint]
    ended: datetime
    local_names: Mapping[tuple[str, str], str]  # (stack, logical id) -> the local run's name for it


def collect(
    *,
    handler_log_lines: Sequence[str],
    executions: Sequence[ExecutionTimes],
    state_machine_arn: str,
    endpoint_requests: Sequence[EndpointRequest],
    lambda_invocations: Mapping[str, Sequence[InvocationRecord]],
    local_names: Mapping[tuple[str, str], str],
    ended: datetime | None = None,
) -> RunMetrics:
    """Every datapoint of the run; `lambda_invocations` maps a function name to its invocations."""
    emf = read_emf_log(handler_log_lines)
    points = [point for document in emf for point in document.datapoints]
    arn = (("StateMachineArn", state_machine_arn),)
    for execution in executions:
        points.append(Datapoint("AWS/States", "ExecutionsStarted", arn, execution.started, 1.0))
        end_metric = STATES_END_METRICS.get(execution.status)
        if end_metric is not None and execution.stopped is not None:
            points.append(Datapoint("AWS/States", end_metric, arn, execution.stopped, 1.0))
    for request in endpoint_requests:
        endpoint = (("EndpointName", request.endpoint_name), ("VariantName", VARIANT_NAME))
        at = request.received
        points += [
            Datapoint("AWS/SageMaker", "Invocations", endpoint, at, 1.0),
            Datapoint(
                "AWS/SageMaker", "Invocation4XXErrors", endpoint, at, float(400 <= request.model_status < 500)
            ),
            Datapoint(
                "AWS/SageMaker", "Invocation5XXErrors", endpoint, at, float(request.model_status >= 500)
            ),
        ]
        if request.model_status == 200:
            points.append(Datapoint("AWS/SageMaker", "ModelLatency", endpoint, at, request.latency_us))
    for function_name, invocations in lambda_invocations.items():
        function = (("FunctionName", function_name),)
        for invocation in invocations:
            at = invocation.started
            points += [
                Datapoint("AWS/Lambda", "Invocations", function, at, 1.0),
                Datapoint("AWS/Lambda", "Errors", function, at, float(invocation.failed)),
                Datapoint("AWS/Lambda", "Throttles", function, at, 0.0),
                Datapoint("AWS/Lambda", "Duration", function, at, invocation.duration_ms),
            ]
    return RunMetrics(emf, points, ended or datetime.now(UTC), dict(local_names))


def collect_from_workflow(
    workflow: LocalWorkflow, outcomes: Sequence[ExecutionOutcome], log: TeeStream
) -> RunMetrics:
    """The metrics of a run of `local_run.workflow.LocalWorkflow`, while it is still up."""
    executions = []
    for outcome in outcomes:
        description = workflow.sfn.describe_execution(executionArn=outcome.execution_arn)
        executions.append(
            ExecutionTimes(description["status"], description["startDate"], description.get("stopDate"))
        )
    stack = workflow.template.stack_name
    local_names = {(stack, logical_id): logical_id for logical_id in workflow.functions}
    local_names[(stack, state_machine_logical_id(workflow.template))] = workflow.state_machine_arn
    return collect(
        handler_log_lines=log.lines(),
        executions=executions,
        state_machine_arn=workflow.state_machine_arn,
        endpoint_requests=workflow.emulator.requests,
        lambda_invocations={name: function.invocations for name, function in workflow.functions.items()},
        local_names=local_names,
    )


def evaluate_alarms(monitoring: MonitoringTemplate, metrics: RunMetrics) -> list[AlarmEvaluation]:
    """Every alarm of the monitoring stack, evaluated on the run's datapoints, in logical-id order."""
    resolver = LocalResolver(monitoring.assembly, metrics.local_names)
    evaluations = []
    for logical_id, resource in sorted(monitoring.resources_of_type(ALARM_TYPE).items()):
        alarm = alarm_from_template(
            logical_id,
            resource.get("Properties", {}),
            lambda node: resolver.resolve(node, stack=monitoring.stack_name),
        )
        evaluations.append(evaluate(alarm, metrics.datapoints, at=metrics.ended))
    return evaluations


def report(assembly_dir: Path | None, metrics: RunMetrics, out: TextIO) -> list[AlarmEvaluation]:
    """Print the run's EMF metric summary and the alarm evaluation table; return the evaluations."""
    print("", file=out)
    print("\n".join(summary_lines(metrics.emf)), file=out)
    monitoring = load_monitoring_template(assembly_dir) if assembly_dir is not None else None
    if monitoring is None:
        print(
            f"  alarms                no <project>-Monitoring stack in {assembly_dir}: nothing to evaluate",
            file=out,
        )
        return []
    evaluations = evaluate_alarms(monitoring, metrics)
    print("", file=out)
    print(HEADLINE.format(stack=monitoring.stack_name), file=out)
    print("\n".join(alarm_table(evaluations)), file=out)
    return evaluations


def summary_lines(emf: Sequence[EmfDocument]) -> list[str]:
    """Top-confidence p10/p50, the below-threshold share and the count per predicted class, from EMF lines."""
    namespaces = sorted({point.namespace for document in emf for point in document.datapoints})
    lines = [f"Metrics the filter emitted (EMF, namespace {', '.join(namespaces) or 'none'})"]
    confidences = [value for document in emf for value in document.values.get(TOP_CONFIDENCE, ())]
    below = [value for document in emf for value in document.values.get(BELOW_THRESHOLD, ())]
    classes = Counter(document.members.get(CLASS_DIMENSION, "(none)") for document in emf)
    lines.append(f"  EMF lines             {len(emf)}")
    if confidences:
        lines.append(
            f"  {TOP_CONFIDENCE:<22}p10 {statistic('p10', confidences):.3f}, p50 {statistic('p50', confidences):.3f}"
        )
    if below:
        lines.append(f"  {BELOW_THRESHOLD:<22}{sum(below):g} of {len(below)} ({sum(below) / len(below):.1%})")
    if classes:
        lines.append(
            f"  per {CLASS_DIMENSION:<18}"
            + ", ".join(f"{name} {count}" for name, count in sorted(classes.items()))
        )
    return lines


def alarm_table(evaluations: Sequence[AlarmEvaluation]) -> list[str]:
    rows = [("alarm", "value", "threshold", "state")]
    for evaluation in evaluations:
        alarm = evaluation.alarm
        value = "missing" if evaluation.value is None else f"{evaluation.value:.6g}"
        rows.append((alarm.name, value, _condition(alarm), evaluation.state))
    widths = [max(len(row[column]) for row in rows) for column in range(3)]
    lines = [
        f"  {name:<{widths[0]}}  {value:>{widths[1]}}  {cond:<{widths[2]}}  {state}"
        for name, value, cond, state in rows
    ]
    lines.append("  why:")
    lines += [f"    {evaluation.alarm.name}: {evaluation.reason}" for evaluation in evaluations]
    return lines


def _condition(alarm: AlarmDefinition) -> str:
    m, n = alarm.datapoints_to_alarm, alarm.evaluation_periods
    return (
        f"{_COMPARISON_SYMBOLS[alarm.comparison]} {alarm.threshold:.10g}, {m} of {n} x {alarm.period_s}s, "
        f"missing={alarm.treat_missing_data}"
    )


class LocalResolver:
    """Evaluates the intrinsic functions of a template value to the local run's text for it.

    `Fn::GetStackOutput` and `Fn::ImportValue` are followed into the producing stack's outputs; a `Ref` or
    `Fn::GetAtt` of a resource becomes `local_names[(stack, logical id)]`, or for a SageMaker endpoint the
    local endpoint's name (`<stack>-<logical id>`, lower case, as `local_run.template` names it); anything else
    becomes a `<stack/logical id>` placeholder that matches no metric.
    """

    def __init__(self, assembly: CloudAssembly, local_names: Mapping[tuple[str, str], str]) -> None:
        self._assembly = assembly
        self._local_names = local_names

    def resolve(self, node: Any, *, stack: str) -> Any:
        if isinstance(node, list):
            return [self.resolve(item, stack=stack) for item in node]
        if not isinstance(node, dict) or len(node) != 1:
            return node
        ((function, argument),) = node.items()
        handlers: dict[str, Callable[[Any, str], Any]] = {
            "Ref": self._ref,
            "Fn::GetAtt": self._get_att,
            "Fn::Join": lambda arg, s: str(arg[0]).join(str(self.resolve(part, stack=s)) for part in arg[1]),
            "Fn::Select": lambda arg, s: self.resolve(arg[1], stack=s)[int(arg[0])],
            "Fn::Split": lambda arg, s: str(self.resolve(arg[1], stack=s)).split(arg[0]),
            "Fn::GetStackOutput": lambda arg, s: self._output(arg["StackName"], arg["OutputName"]),
            "Fn::ImportValue": lambda arg, s: self._import(self.resolve(arg, stack=s)),
        }
        handler = handlers.get(function)
        return node if handler is None else handler(argument, stack)

    def _ref(self, name: str, stack: str) -> str:
        pseudo = {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": stack,
        }
        return pseudo[name] if name in pseudo else self._resource_name(stack, name)

    def _get_att(self, argument: Any, stack: str) -> str:
        logical_id = argument[0] if isinstance(argument, list) else str(argument).split(".", 1)[0]
        return self._resource_name(stack, logical_id)

    def _resource_name(self, stack: str, logical_id: str) -> str:
        if (stack, logical_id) in self._local_names:
            return self._local_names[(stack, logical_id)]
        resource = template_if_any(self._assembly, stack).get("Resources", {}).get(logical_id, {})
        if resource.get("Type") == "AWS::SageMaker::Endpoint":
            return f"{stack}-{logical_id}".lower()
        return f"<{stack}/{logical_id}>"

    def _output(self, stack: str, output_name: str) -> Any:
        output = template_if_any(self._assembly, stack).get("Outputs", {}).get(output_name)
        if output is None:
            return f"<{stack} output {output_name}>"
        return self.resolve(output["Value"], stack=stack)

    def _import(self, export_name: str) -> Any:
        for stack in self._assembly.stack_names:
            for output in self._assembly.template(stack).get("Outputs", {}).values():
                if self.resolve(output.get("Export", {}).get("Name"), stack=stack) == export_name:
                    return self.resolve(output["Value"], stack=stack)
        return f"<export {export_name}>"


def state_machine_logical_id(template: WorkflowTemplate) -> str:
    """The workflow's state machine's logical id: the resource its StateMachineArn output refers to."""
    if template.assembly_dir is None:
        raise TemplateError(f"{template.stack_name}: no cloud assembly to read the state machine from")
    stack = read_assembly(template.assembly_dir).template(template.stack_name)
    reference = stack.get("Outputs", {}).get("StateMachineArn", {}).get("Value", {})
    if not isinstance(reference, dict) or "Ref" not in reference:
        raise TemplateError(f"{template.stack_name}: output StateMachineArn is not a Ref: {reference}")
    return reference["Ref"]

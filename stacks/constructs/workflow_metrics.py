"""The metrics the dashboard and the alarms watch, defined once (docs/CONTRACTS.md, "Metrics"). Units and statistics:
Step Functions https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html (counts, Sum);
SageMaker https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html (ModelLatency in microseconds);
Lambda https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html (Duration in milliseconds)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw

from stacks import names
from stacks.refs import EndpointRef

MICROSECONDS_PER_MILLISECOND = 1000
# Every alarm and widget but the idle-endpoint alarm aggregates over this period.
PERIOD = Duration.minutes(5)


@dataclass(frozen=True)
class WorkflowMetrics:
    """One deployment's metrics: its namespace, state machine, endpoint variant and functions.

    A label makes CDK render an alarm's metric as a `Metrics` array: the alarms pass none, so a single-metric alarm
    keeps CloudFormation's plain MetricName/Statistic form."""

    namespace: str
    state_machine_arn: str
    endpoint: EndpointRef
    variant_name: str
    function_names: Mapping[str, str]
    class_names: Sequence[str]

    def execution(self, metric_name: str, *, label: str | None = None) -> cw.Metric:
        dimensions = {"StateMachineArn": self.state_machine_arn}
        return _metric("AWS/States", metric_name, dimensions, statistic="Sum", label=label)

    def inference(
        self,
        metric_name: str,
        *,
        statistic: str,
        label: str | None = None,
        predicted_class: str | None = None,
        workflow: str | None = None,
    ) -> cw.Metric:
        """A filter metric over every class of every workflow, or of one class, or of one workflow (the filter
        publishes no series per both)."""
        dimensions = {names.PREDICTED_CLASS_DIMENSION: predicted_class, names.WORKFLOW_DIMENSION: workflow}
        dimensions = {name: value for name, value in dimensions.items() if value is not None}
        return _metric(self.namespace, metric_name, dimensions, statistic=statistic, label=label)

    def endpoint_metric(
        self, metric_name: str, *, statistic: str, label: str | None = None, period: Duration = PERIOD
    ) -> cw.Metric:
        return endpoint_metric(
            self.endpoint.name,
            self.variant_name,
            metric_name,
            statistic=statistic,
            label=label,
            period=period,
        )

    def function_metric(self, step: str, metric_name: str, *, statistic: str) -> cw.Metric:
        dimensions = {"FunctionName": self.function_names[step]}
        return _metric("AWS/Lambda", metric_name, dimensions, statistic=statistic, label=step)

    def below_threshold_executions(self) -> cw.Metric:
        """The single-image workflow's evaluations below the threshold, each a ThresholdConfidenceNotMet failure; a
        batch's are results of its images, not failed executions."""
        return self.inference(
            names.BELOW_THRESHOLD_METRIC,
            statistic="Sum",
            label="ThresholdConfidenceNotMet",
            workflow=names.SINGLE_IMAGE_WORKFLOW,
        )

    def unexpected_failures(self) -> cw.MathExpression:
        """Failed executions less those that failed as designed; a batch alongside adds no `below`, so it hides no
        failure. FILL makes a period without evaluations 0, so its failures still count
        (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html, "FILL")."""
        return cw.MathExpression(
            expression="failed - FILL(below, 0)",
            using_metrics={
                "failed": self.execution("ExecutionsFailed", label="failed executions"),
                "below": self.below_threshold_executions(),
            },
            period=PERIOD,
            label="unexpected failures (any error but ThresholdConfidenceNotMet)",
        )


def endpoint_metric(
    endpoint_name: str,
    variant_name: str,
    metric_name: str,
    *,
    statistic: str,
    label: str | None = None,
    period: Duration = PERIOD,
) -> cw.Metric:
    """A metric SageMaker publishes per endpoint variant; the Model stack's alarms name the endpoint literally."""
    dimensions = {"EndpointName": endpoint_name, "VariantName": variant_name}
    return _metric("AWS/SageMaker", metric_name, dimensions, statistic=statistic, label=label, period=period)


def _metric(
    namespace: str,
    metric_name: str,
    dimensions: Mapping[str, str],
    *,
    statistic: str,
    label: str | None,
    period: Duration = PERIOD,
) -> cw.Metric:
    return cw.Metric(
        namespace=namespace,
        metric_name=metric_name,
        dimensions_map=dict(dimensions),
        statistic=statistic,
        period=period,
        label=label,
    )

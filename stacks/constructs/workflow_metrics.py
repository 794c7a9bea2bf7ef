"""The CloudWatch metrics the monitoring stack watches, defined once for the dashboard and the alarms.

- The filter's own metrics, from its Embedded Metric Format lines (docs/CONTRACTS.md, "Metrics"): namespace
  = the project name; `TopConfidence` (Unit None) and `BelowThreshold` (Unit Count, 1 or 0 per evaluation),
  each with no dimension (every class of every workflow), per `Workflow` (`single`: the single-image state
  machine; `batch`: the batch state machine's images) and per `PredictedClass`.
- Step Functions (namespace AWS/States, dimension StateMachineArn): ExecutionsStarted, ExecutionsSucceeded,
  ExecutionsFailed, counts whose useful statistic is Sum
  (https://docs.aws.amazon.com/step-functions/latest/dg/procedure-cw-metrics.html).
- The endpoint (namespace AWS/SageMaker, dimensions EndpointName and VariantName): Invocations,
  Invocation4XXErrors, Invocation5XXErrors (counts, Sum) and ModelLatency in MICROseconds
  (https://docs.aws.amazon.com/sagemaker/latest/dg/monitoring-cloudwatch.html).
- Lambda (namespace AWS/Lambda, dimension FunctionName): Errors and Throttles (Sum), Duration in milliseconds
  (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_cloudwatch as cw

from stacks.refs import EndpointRef

# The filter's metric contract; lambda_src/filter_inferences/app.py prints them (a test keeps both in step).
TOP_CONFIDENCE_METRIC = "TopConfidence"
BELOW_THRESHOLD_METRIC = "BelowThreshold"
PREDICTED_CLASS_DIMENSION = "PredictedClass"
WORKFLOW_DIMENSION = "Workflow"
# The Workflow value of the single-image state machine's evaluations (the batch's are "batch").
SINGLE_IMAGE_WORKFLOW = "single"
STATES_NAMESPACE = "AWS/States"
SAGEMAKER_NAMESPACE = "AWS/SageMaker"
LAMBDA_NAMESPACE = "AWS/Lambda"
MICROSECONDS_PER_MILLISECOND = 1000
# Every alarm and widget but the idle-endpoint alarm aggregates over this period.
PERIOD = Duration.minutes(5)


@dataclass(frozen=True)
class WorkflowMetrics:
    """Builds the metrics of one deployment: its namespace, state machine, endpoint variant and functions."""

    namespace: str
    state_machine_arn: str
    endpoint: EndpointRef
    variant_name: str
    function_names: Mapping[str, str]
    class_names: Sequence[str]

    # A label makes CDK render an alarm's metric as a `Metrics` array: the alarms pass none, so a single-metric
    # alarm keeps CloudFormation's plain MetricName/Statistic form (docs/CONTRACTS.md, "Metrics").

    def execution(self, metric_name: str, *, label: str | None = None) -> cw.Metric:
        return cw.Metric(
            namespace=STATES_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"StateMachineArn": self.state_machine_arn},
            statistic="Sum",
            period=PERIOD,
            label=label,
        )

    def inference(
        self,
        metric_name: str,
        *,
        statistic: str,
        label: str | None = None,
        predicted_class: str | None = None,
        workflow: str | None = None,
    ) -> cw.Metric:
        """A filter metric over every class of every workflow, or over one `predicted_class` or one `workflow`:
        the filter publishes no series per both, so a metric that names both has no data."""
        dimensions = {PREDICTED_CLASS_DIMENSION: predicted_class, WORKFLOW_DIMENSION: workflow}
        return cw.Metric(
            namespace=self.namespace,
            metric_name=metric_name,
            dimensions_map={name: value for name, value in dimensions.items() if value is not None},
            statistic=statistic,
            period=PERIOD,
            label=label,
        )

    def endpoint_metric(
        self, metric_name: str, *, statistic: str, label: str | None = None, period: Duration = PERIOD
    ) -> cw.Metric:
        return cw.Metric(
            namespace=SAGEMAKER_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"EndpointName": self.endpoint.name, "VariantName": self.variant_name},
            statistic=statistic,
            period=period,
            label=label,
        )

    def function_metric(self, step: str, metric_name: str, *, statistic: str) -> cw.Metric:
        return cw.Metric(
            namespace=LAMBDA_NAMESPACE,
            metric_name=metric_name,
            dimensions_map={"FunctionName": self.function_names[step]},
            statistic=statistic,
            period=PERIOD,
            label=step,
        )

    def below_threshold_executions(self) -> cw.Metric:
        """The single-image workflow's evaluations below the threshold: each ends its execution with
        ThresholdConfidenceNotMet. The batch's are results of its images, not failed executions, so they are not
        counted here."""
        return self.inference(
            BELOW_THRESHOLD_METRIC,
            statistic="Sum",
            label="ThresholdConfidenceNotMet",
            workflow=SINGLE_IMAGE_WORKFLOW,
        )

    def unexpected_failures(self) -> cw.MathExpression:
        """Failed executions of the single-image state machine less those that failed as designed
        (ThresholdConfidenceNotMet): a batch running alongside adds no `below`, so it hides no failure.

        A period with failures but no filter evaluation (a burst of ImageNotFound) has no `below` datapoint:
        FILL makes that 0, so the failures still count, whatever arithmetic does with a gap
        (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/using-metric-math.html, "FILL").
        The local evaluator reads this expression too (docs/CONTRACTS.md, "Metrics").
        """
        return cw.MathExpression(
            expression="failed - FILL(below, 0)",
            using_metrics={
                "failed": self.execution("ExecutionsFailed", label="failed executions"),
                "below": self.below_threshold_executions(),
            },
            period=PERIOD,
            label="unexpected failures (any error but ThresholdConfidenceNotMet)",
        )

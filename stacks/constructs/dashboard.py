"""One CloudWatch dashboard: the workflow's executions, the model's confidence, the endpoint and the Lambdas.

Rows, top to bottom: executions and failures by error name, with the alarms' state; the share below the
threshold, the confidence distribution and the predicted-class share; the endpoint's invocations, latency
and errors; each Lambda's errors, throttles and duration. The local run draws this layout from the synthesized
DashboardBody (docs/CONTRACTS.md, "Metrics").
"""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from stacks.config import AppConfig
from stacks.constructs.workflow_metrics import (
    BELOW_THRESHOLD_METRIC,
    MICROSECONDS_PER_MILLISECOND,
    PERIOD,
    TOP_CONFIDENCE_METRIC,
    WorkflowMetrics,
)

HEIGHT = 6
THIRD = 8
WORKFLOW_STEPS = ("SerializeImage", "ClassifyImage", "FilterInferences")


class WorkflowDashboard(Construct):
    """The dashboard (attribute `dashboard`), named after the project."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        metrics: WorkflowMetrics,
        alarms: Sequence[cw.IAlarm],
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cw.Dashboard(self, "Dashboard", dashboard_name=config.project_name)
        self.dashboard.add_widgets(
            _graph(
                "Executions",
                [
                    metrics.execution("ExecutionsStarted", label="started"),
                    metrics.execution("ExecutionsSucceeded", label="succeeded"),
                    metrics.execution("ExecutionsFailed", label="failed"),
                ],
                width=THIRD,
            ),
            _graph(
                "Failed executions by error",
                [metrics.below_threshold_executions(), metrics.unexpected_failures()],
                width=THIRD,
                stacked=True,
            ),
            cw.AlarmStatusWidget(alarms=list(alarms), title="Alarms", width=THIRD, height=HEIGHT),
        )
        self.dashboard.add_widgets(
            _graph(
                "Share below the confidence threshold",
                [metrics.inference(BELOW_THRESHOLD_METRIC, statistic="Average", label="share below")],
                width=THIRD,
                annotation=cw.HorizontalAnnotation(
                    value=config.alarm_below_threshold_share, label="alarm level"
                ),
                left_range=(0, 1),
            ),
            _graph(
                "Top confidence",
                [
                    metrics.inference(TOP_CONFIDENCE_METRIC, statistic="p10", label="p10"),
                    metrics.inference(TOP_CONFIDENCE_METRIC, statistic="p50", label="p50"),
                ],
                width=THIRD,
                annotation=cw.HorizontalAnnotation(value=config.confidence_threshold, label="threshold"),
                left_range=(0, 1),
            ),
            _graph(
                "Predicted classes",
                [
                    metrics.inference(
                        TOP_CONFIDENCE_METRIC, statistic="SampleCount", label=name, predicted_class=name
                    )
                    for name in metrics.class_names
                ],
                width=THIRD,
                stacked=True,
            ),
        )
        self.dashboard.add_widgets(
            _graph(
                "Endpoint invocations",
                [metrics.endpoint_metric("Invocations", statistic="Sum", label="invocations")],
                width=THIRD,
            ),
            _graph(
                "Model latency (microseconds)",
                [
                    metrics.endpoint_metric("ModelLatency", statistic="p50", label="p50"),
                    metrics.endpoint_metric("ModelLatency", statistic="p90", label="p90"),
                ],
                width=THIRD,
                annotation=cw.HorizontalAnnotation(
                    value=config.alarm_latency_p90_ms * MICROSECONDS_PER_MILLISECOND, label="p90 alarm"
                ),
            ),
            _graph(
                "Endpoint errors",
                [
                    metrics.endpoint_metric("Invocation4XXErrors", statistic="Sum", label="4xx"),
                    metrics.endpoint_metric("Invocation5XXErrors", statistic="Sum", label="5xx"),
                ],
                width=THIRD,
            ),
        )
        self.dashboard.add_widgets(
            _graph(
                "Lambda errors",
                [metrics.function_metric(step, "Errors", statistic="Sum") for step in WORKFLOW_STEPS],
                width=THIRD,
            ),
            _graph(
                "Lambda throttles",
                [metrics.function_metric(step, "Throttles", statistic="Sum") for step in WORKFLOW_STEPS],
                width=THIRD,
            ),
            _graph(
                "Lambda duration p90 (milliseconds)",
                [metrics.function_metric(step, "Duration", statistic="p90") for step in WORKFLOW_STEPS],
                width=THIRD,
            ),
        )


def _graph(
    title: str,
    metrics: Sequence[cw.IMetric],
    *,
    width: int,
    stacked: bool = False,
    annotation: cw.HorizontalAnnotation | None = None,
    left_range: tuple[float, float] | None = None,
) -> cw.GraphWidget:
    return cw.GraphWidget(
        title=title,
        left=list(metrics),
        width=width,
        height=HEIGHT,
        period=PERIOD,
        stacked=stacked,
        left_annotations=[annotation] if annotation else None,
        left_y_axis=cw.YAxisProps(min=left_range[0], max=left_range[1]) if left_range else None,
    )

"""One CloudWatch dashboard, four rows: executions, confidence, endpoint, Lambdas (docs/CONTRACTS.md, "Dashboard")."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import aws_cloudwatch as cw
from constructs import Construct

from stacks.config import AppConfig
from stacks.constructs.workflow_metrics import MICROSECONDS_PER_MILLISECOND, PERIOD, WorkflowMetrics
from stacks.names import BELOW_THRESHOLD_METRIC, TOP_CONFIDENCE_METRIC

HEIGHT = 6
THIRD = 8
WORKFLOW_STEPS = ("SerializeImage", "ClassifyImage", "FilterInferences")


class WorkflowDashboard(Construct):
    """Named after the project."""

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
            ),
            _graph(
                "Failed executions by error",
                [metrics.below_threshold_executions(), metrics.unexpected_failures()],
                stacked=True,
            ),
            cw.AlarmStatusWidget(alarms=list(alarms), title="Alarms", width=THIRD, height=HEIGHT),
        )
        self.dashboard.add_widgets(
            _graph(
                "Share below the confidence threshold",
                [metrics.inference(BELOW_THRESHOLD_METRIC, statistic="Average", label="share below")],
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
                stacked=True,
            ),
        )
        self.dashboard.add_widgets(
            _graph(
                "Endpoint invocations",
                [metrics.endpoint_metric("Invocations", statistic="Sum", label="invocations")],
            ),
            _graph(
                "Model latency (microseconds)",
                [
                    metrics.endpoint_metric("ModelLatency", statistic="p50", label="p50"),
                    metrics.endpoint_metric("ModelLatency", statistic="p90", label="p90"),
                ],
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
            ),
        )
        self.dashboard.add_widgets(
            _graph(
                "Lambda errors",
                [metrics.function_metric(step, "Errors", statistic="Sum") for step in WORKFLOW_STEPS],
            ),
            _graph(
                "Lambda throttles",
                [metrics.function_metric(step, "Throttles", statistic="Sum") for step in WORKFLOW_STEPS],
            ),
            _graph(
                "Lambda duration p90 (milliseconds)",
                [metrics.function_metric(step, "Duration", statistic="p90") for step in WORKFLOW_STEPS],
            ),
        )


def _graph(
    title: str,
    metrics: Sequence[cw.IMetric],
    *,
    stacked: bool = False,
    annotation: cw.HorizontalAnnotation | None = None,
    left_range: tuple[float, float] | None = None,
) -> cw.GraphWidget:
    return cw.GraphWidget(
        title=title,
        left=list(metrics),
        width=THIRD,
        height=HEIGHT,
        period=PERIOD,
        stacked=stacked,
        left_annotations=[annotation] if annotation else None,
        left_y_axis=cw.YAxisProps(min=left_range[0], max=left_range[1]) if left_range else None,
    )

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
        inference, endpoint = metrics.inference, metrics.endpoint_metric
        executions = [
            metrics.execution(f"Executions{s.title()}", label=s) for s in ("started", "succeeded", "failed")
        ]
        self.dashboard.add_widgets(
            _graph("Executions", executions),
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
                [inference(BELOW_THRESHOLD_METRIC, statistic="Average", label="share below")],
                annotation=(config.alarm_below_threshold_share, "alarm level"),
                left_range=(0, 1),
            ),
            _graph(
                "Top confidence",
                [inference(TOP_CONFIDENCE_METRIC, statistic=p, label=p) for p in ("p10", "p50")],
                annotation=(config.confidence_threshold, "threshold"),
                left_range=(0, 1),
            ),
            _graph(
                "Predicted classes",
                [
                    inference(
                        TOP_CONFIDENCE_METRIC, statistic="SampleCount", label=name, predicted_class=name
                    )
                    for name in metrics.class_names
                ],
                stacked=True,
            ),
        )
        self.dashboard.add_widgets(
            _graph("Endpoint invocations", [endpoint("Invocations", statistic="Sum", label="invocations")]),
            _graph(
                "Model latency (microseconds)",
                [endpoint("ModelLatency", statistic=p, label=p) for p in ("p50", "p90")],
                annotation=(config.alarm_latency_p90_ms * MICROSECONDS_PER_MILLISECOND, "p90 alarm"),
            ),
            _graph(
                "Endpoint errors",
                [endpoint(f"Invocation{c}XXErrors", statistic="Sum", label=f"{c}xx") for c in (4, 5)],
            ),
        )
        self.dashboard.add_widgets(
            *(
                _graph(
                    title, [metrics.function_metric(step, name, statistic=stat) for step in WORKFLOW_STEPS]
                )
                for title, name, stat in (
                    ("Lambda errors", "Errors", "Sum"),
                    ("Lambda throttles", "Throttles", "Sum"),
                    ("Lambda duration p90 (milliseconds)", "Duration", "p90"),
                )
            )
        )


def _graph(
    title: str,
    metrics: Sequence[cw.IMetric],
    *,
    stacked: bool = False,
    annotation: tuple[float, str] | None = None,
    left_range: tuple[float, float] | None = None,
) -> cw.GraphWidget:
    return cw.GraphWidget(
        title=title,
        left=list(metrics),
        width=THIRD,
        height=HEIGHT,
        period=PERIOD,
        stacked=stacked,
        left_annotations=[cw.HorizontalAnnotation(value=annotation[0], label=annotation[1])]
        if annotation
        else None,
        left_y_axis=cw.YAxisProps(min=left_range[0], max=left_range[1]) if left_range else None,
    )

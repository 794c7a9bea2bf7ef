"""Deployment unit of the dashboard and the alarms; it reads the model's and the workflow's resources by reference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import AppConfig
from stacks.constructs.alarms import WorkflowAlarms
from stacks.constructs.dashboard import WorkflowDashboard
from stacks.constructs.serving import VARIANT_NAME
from stacks.constructs.workflow_metrics import WorkflowMetrics
from stacks.refs import EndpointRef


class MonitoringStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        endpoint: EndpointRef,
        state_machine: sfn.IStateMachine,
        functions: Mapping[str, lambda_.IFunction],
        class_names: Sequence[str],
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        metrics = WorkflowMetrics(
            namespace=config.project_name,
            state_machine_arn=state_machine.state_machine_arn,
            endpoint=endpoint,
            variant_name=VARIANT_NAME,
            function_names={step: function.function_name for step, function in functions.items()},
            class_names=tuple(class_names),
        )
        alarms = WorkflowAlarms(self, "Alarms", config=config, metrics=metrics)
        dashboard = WorkflowDashboard(
            self, "Dashboard", config=config, metrics=metrics, alarms=list(alarms.alarms.values())
        )
        CfnOutput(
            self,
            "AlarmTopicArn",
            value=alarms.topic.topic_arn,
            description="SNS topic the alarms notify (subscribe with -c alarm_email=... or aws sns subscribe)",
        )
        CfnOutput(self, "DashboardName", value=dashboard.dashboard.dashboard_name)

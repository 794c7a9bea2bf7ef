"""Deployment unit of the dashboard and the workflow's alarms; it reads the model's and the workflow's resources, the
alarm topic and the endpoint's rollback alarms by reference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import AppConfig
from stacks.constructs.alarms import WorkflowAlarms
from stacks.constructs.dashboard import WorkflowDashboard
from stacks.constructs.serving import VARIANT_NAME
from stacks.constructs.workflow_metrics import WorkflowMetrics
from stacks.refs import AlarmsRef, EndpointRef


class MonitoringStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        endpoint: EndpointRef,
        alarms: AlarmsRef,
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
        topic = sns.Topic.from_topic_arn(self, "AlarmTopic", alarms.topic_arn)
        workflow = WorkflowAlarms(self, "Alarms", config=config, metrics=metrics, topic=topic).alarms
        rollback = [
            cw.Alarm.from_alarm_arn(self, f"EndpointAlarm{index}", arn)
            for index, arn in enumerate(alarms.endpoint_alarm_arns)
        ]
        shown = [
            workflow["UnexpectedFailures"],
            *rollback,
            workflow["BelowThresholdShare"],
            workflow["IdleEndpoint"],
        ]
        dashboard = WorkflowDashboard(self, "Dashboard", config=config, metrics=metrics, alarms=shown)
        CfnOutput(self, "DashboardName", value=dashboard.dashboard.dashboard_name)

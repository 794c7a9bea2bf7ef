"""State machines traced and logging every event to their own group (cdk-nag SF1, SF2;
https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html)."""

from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import AppConfig
from stacks.constructs.log_group import project_log_group


def traced_state_machine(
    scope: Construct,
    *,
    config: AppConfig,
    definition: sfn.IChainable,
    state_machine_type: sfn.StateMachineType,
    timeout: Duration,
    include_execution_data: bool,
    role: iam.IRole | None = None,
) -> sfn.StateMachine:
    """`scope`'s "StateMachine", logging to `scope`'s "Logs"; `include_execution_data` is whether the logs may
    hold the states' input and output."""
    log_group = project_log_group(scope, "Logs", config=config)
    return sfn.StateMachine(
        scope,
        "StateMachine",
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        state_machine_type=state_machine_type,
        timeout=timeout,
        tracing_enabled=True,
        role=role,
        logs=sfn.LogOptions(
            destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=include_execution_data
        ),
    )

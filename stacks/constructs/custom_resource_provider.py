"""The CDK provider framework with the project's conventions, shared by the training job and the model registry:
own roles for the framework's functions, handlers logging JSON to an expiring group, precise acknowledgements."""

from __future__ import annotations

from typing import Any

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import custom_resources as cr
from constructs import Construct

from stacks.config import AppConfig
from stacks.constructs.log_group import project_log_group
from stacks.constructs.workflow_functions import LAMBDA_RUNTIME, LAMBDA_SOURCE_DIR
from stacks.nag import acknowledge_wildcard_resources

LAMBDA_PRINCIPAL = iam.ServicePrincipal("lambda.amazonaws.com")


def handler_options(scope: Construct, config: AppConfig, role: iam.Role, folder: str) -> dict[str, Any]:
    """Function options for the handlers in lambda_src/<folder>, sharing one role and one log group."""
    handler_logs = project_log_group(scope, "HandlerLogs", config=config)
    handler_logs.grant_write(role)
    return dict(
        runtime=LAMBDA_RUNTIME,
        architecture=lambda_.Architecture.ARM_64,
        code=lambda_.Code.from_asset(str(LAMBDA_SOURCE_DIR / folder), exclude=["__pycache__", "*.pyc"]),
        role=role,
        log_group=handler_logs,
        # The handlers log one JSON object per line with their fields, like the workflow's functions.
        logging_format=lambda_.LoggingFormat.JSON,
        timeout=Duration.minutes(1),
        memory_size=256,
    )


def provider(
    scope: Construct,
    *,
    config: AppConfig,
    on_event: lambda_.IFunction,
    is_complete: lambda_.IFunction | None = None,
    query_interval: Duration | None = None,
    total_timeout: Duration | None = None,
) -> cr.Provider:
    framework_logs = project_log_group(scope, "ProviderLogs", config=config)
    # Own roles for the framework's functions: log writes to its own group instead of the broad
    # AWSLambdaBasicExecutionRole managed policy. Two roles, as one shared role forms a dependency cycle.
    roles = {
        "ProviderOnEventRole": "CDK provider framework: forwards CloudFormation events, starts the waiter"
    }
    if is_complete is not None:
        roles["ProviderWaiterRole"] = "CDK provider framework: polls is_complete, reports the timeout"
    framework_roles = {}
    for name, description in roles.items():
        framework_roles[name] = iam.Role(scope, name, assumed_by=LAMBDA_PRINCIPAL, description=description)
        framework_logs.grant_write(framework_roles[name])
    result = cr.Provider(
        scope,
        "Provider",
        on_event_handler=on_event,
        is_complete_handler=is_complete,
        query_interval=query_interval,
        total_timeout=total_timeout,
        framework_on_event_role=framework_roles["ProviderOnEventRole"],
        framework_complete_and_timeout_role=framework_roles.get("ProviderWaiterRole"),
        log_group=framework_logs,
    )
    framework_wildcards = {
        ".Arn>:*": "Granted by the CDK provider framework: it invokes any version (`<arn>:*`) of its functions.",
        ":*": "Log streams of the provider framework's own log group.",
    }
    for acknowledged in (result, *framework_roles.values()):
        acknowledge_wildcard_resources(acknowledged, framework_wildcards)
    if is_complete is not None:
        Validations.of(result).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SF1",
                reason=(
                    "The framework's waiter state machine is unlogged on purpose: its execution input holds "
                    "CloudFormation's pre-signed response URL, which must not be copied into a log group. Every "
                    "step it runs (is_complete, the timeout handler) logs to its own log group."
                ),
            ),
            Acknowledgment(
                id="AwsSolutions-SF2",
                reason="The provider framework offers no X-Ray option for its waiter; it only loops over is_complete.",
            ),
        )
    return result

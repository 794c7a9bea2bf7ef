"""Log groups with the project's retention, removed with the stack (logs are not data worth retaining)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import LOG_RETENTION_DAYS, AppConfig

# config.LOG_RETENTION_DAYS lists CloudWatch's periods in the order of CDK's RetentionDays members; the mapping
# lives here so that reading the config (ops, preflight, cost) never starts the CDK's Node process.
_RETENTION_BY_DAYS = dict(
    zip(
        LOG_RETENTION_DAYS,
        [member for member in logs.RetentionDays if member is not logs.RetentionDays.INFINITE],
        strict=True,
    )
)


def project_log_group(scope: Construct, construct_id: str, *, config: AppConfig) -> logs.LogGroup:
    return logs.LogGroup(
        scope,
        construct_id,
        retention=_RETENTION_BY_DAYS[config.log_retention_days],
        removal_policy=RemovalPolicy.DESTROY,
    )

"""Log groups with the project's retention, removed with the stack (logs are not data worth retaining)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import LOG_RETENTION_DAYS, AppConfig

# RetentionDays lists CloudWatch's periods in ascending order, as config.LOG_RETENTION_DAYS does, then INFINITE.
RETENTION_BY_DAYS = dict(zip(LOG_RETENTION_DAYS, [p for p in logs.RetentionDays if p != logs.RetentionDays.INFINITE],
                             strict=True))  # fmt: skip


def project_log_group(scope: Construct, construct_id: str, *, config: AppConfig) -> logs.LogGroup:
    return logs.LogGroup(
        scope,
        construct_id,
        retention=RETENTION_BY_DAYS[config.log_retention_days],
        removal_policy=RemovalPolicy.DESTROY,
    )

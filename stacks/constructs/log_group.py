"""Log groups with the project's retention, removed with the stack (logs are not data worth retaining)."""

from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

from stacks.config import AppConfig


def project_log_group(scope: Construct, construct_id: str, *, config: AppConfig) -> logs.LogGroup:
    return logs.LogGroup(
        scope, construct_id, retention=config.log_retention, removal_policy=RemovalPolicy.DESTROY
    )

"""Typed references passed between stacks, so a consumer depends on what it needs, not on who makes it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EndpointRef:
    """A SageMaker real-time endpoint the workflow invokes (tokens when it comes from the model stack)."""

    name: str
    arn: str


@dataclass(frozen=True)
class ModelRef:
    """A SageMaker model a Batch Transform job runs, and the execution role its jobs run under (tokens)."""

    name: str
    execution_role_name: str


@dataclass(frozen=True)
class AlarmsRef:
    """The SNS topic every alarm notifies, and the endpoint's alarms its deployments roll back on (tokens)."""

    topic_arn: str
    endpoint_alarm_arns: tuple[str, ...]

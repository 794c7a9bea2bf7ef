"""Acknowledging cdk-nag findings precisely: one finding id per wildcard, each with a written reason.

cdk-nag 3 matches acknowledgements by exact finding id, and AwsSolutions-IAM5 ids embed the wildcard action or
the resource as cdk-nag flattens it (`<LogicalId.Arn>/prefix/*`). Computing them here from the same tokens the
policy uses keeps each acknowledgement as narrow as the finding, and correct after a logical id changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from aws_cdk import Acknowledgment, Stack, Validations
from constructs import IConstruct


def flatten_cfn_reference(value: Any) -> str:
    """The text cdk-nag makes of a resolved CloudFormation value (cdk-nag's own flattenCfnReference)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.replace("${", "<").replace("}", ">")
    if isinstance(value, dict) and "Fn::Join" in value:
        delimiter, items = value["Fn::Join"]
        return delimiter.join(flatten_cfn_reference(item) for item in items)
    if isinstance(value, dict) and "Fn::Sub" in value:
        return flatten_cfn_reference(value["Fn::Sub"])
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        resource, attribute = value["Fn::GetAtt"]
        return f"<{flatten_cfn_reference(resource)}.{flatten_cfn_reference(attribute)}>"
    if isinstance(value, dict) and "Fn::ImportValue" in value:
        return flatten_cfn_reference(value["Fn::ImportValue"])
    if isinstance(value, dict) and "Ref" in value:
        return f"<{flatten_cfn_reference(value['Ref'])}>"
    return json.dumps(value, separators=(",", ":"))


def acknowledge_wildcards(
    scope: IConstruct, *, reason: str, actions: Iterable[str] = (), resources: Iterable[str] = ()
) -> None:
    """Acknowledge AwsSolutions-IAM5 for exactly these wildcard actions and resources (tokens allowed) on scope.

    Resources must be tokens of `scope`'s own stack: a reference to another stack is rewritten at synth, after
    this id is computed.
    """
    stack = Stack.of(scope)
    findings = [f"Action::{action}" for action in actions]
    findings += [f"Resource::{flatten_cfn_reference(stack.resolve(resource))}" for resource in resources]
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=f"AwsSolutions-IAM5[{finding}]", reason=reason) for finding in findings)
    )

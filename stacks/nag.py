"""cdk-nag acknowledgements as narrow as their findings: one exact AwsSolutions-IAM5 id per wildcard, with its reason.

IAM5 ids embed the wildcard as cdk-nag flattens it (`AwsSolutions-IAM5[Resource::<HandlerA1B2C3D4.Arn>:*]`), so the
ids are computed from the policy's tokens and follow a logical id when it changes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import jsii
from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct, IConstruct, IValidation

IAM5 = "AwsSolutions-IAM5"


def flatten_cfn_reference(value: Any) -> str:
    """cdk-nag's text for a resolved value in a finding id (its flattenCfnReference), not a template evaluator."""
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
    """IAM5 for exactly these wildcard actions and resources of `scope`'s own stack, computed now; another stack's
    reference is rewritten at synth, after this (use `acknowledge_wildcard_resources`)."""
    stack = Stack.of(scope)
    findings = [f"Action::{action}" for action in actions]
    findings += [f"Resource::{flatten_cfn_reference(stack.resolve(resource))}" for resource in resources]
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=f"{IAM5}[{finding}]", reason=reason) for finding in findings)
    )


@jsii.implements(IValidation)
class _AcknowledgeWildcardResources:
    def __init__(self, scope: IConstruct, reasons_by_suffix: Mapping[str, str]) -> None:
        self._scope = scope
        self._reasons_by_suffix = dict(reasons_by_suffix)

    def validate(self) -> list[str]:
        for policy in (c for c in self._scope.node.find_all() if isinstance(c, iam.CfnPolicy)):
            statements = Stack.of(policy).resolve(policy.policy_document).get("Statement", [])
            for statement in (s for s in statements if s.get("Effect") == "Allow"):
                resources = statement.get("Resource", [])
                for resource in map(
                    flatten_cfn_reference, resources if isinstance(resources, list) else [resources]
                ):
                    reason = next(
                        (r for suffix, r in self._reasons_by_suffix.items() if resource.endswith(suffix)),
                        None,
                    )
                    if "*" in resource and reason is not None:
                        Validations.of(policy).acknowledge(
                            Acknowledgment(id=f"{IAM5}[Resource::{resource}]", reason=reason)
                        )
        return []


def acknowledge_wildcard_resources(scope: Construct, reasons_by_suffix: Mapping[str, str]) -> None:
    """IAM5 for the wildcard resources under `scope` ending in a suffix, computed in synth once cross-stack references
    are resolved (a construct validation, before the nag plugin): a check outside synth runs after `app.synth()`."""
    scope.node.add_validation(_AcknowledgeWildcardResources(scope, reasons_by_suffix))

"""Acknowledging cdk-nag findings precisely: one finding id per wildcard, each with a written reason.

cdk-nag 3 matches acknowledgements by exact finding id, and AwsSolutions-IAM5 ids embed the wildcard action or
the resource as cdk-nag flattens it: `AwsSolutions-IAM5[Resource::<HandlerA1B2C3D4.Arn>:*]`, or, for another
stack's resource, `...[Resource::{"Fn::GetStackOutput":{...,"OutputName":"PublishOutput...<hash>"}}/dataset/*]`.
Two ways to compute them from the tokens the policy uses, so each acknowledgement stays as narrow as its finding
and follows a logical id when it changes:

- `acknowledge_wildcards`: exact actions and resources of the scope's own stack, computed at construction.
- `acknowledge_wildcard_resources`: resources ending in a given suffix, computed during synth once cross-stack
  references are resolved (a construct validation, which runs before policy-validation plugins). Checks outside
  `cdk synth` must then run `validate_scope` after `app.synth()`.
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
    this id is computed (use `acknowledge_wildcard_resources` for those).
    """
    stack = Stack.of(scope)
    findings = [f"Action::{action}" for action in actions]
    findings += [f"Resource::{flatten_cfn_reference(stack.resolve(resource))}" for resource in resources]
    Validations.of(scope).acknowledge(
        *(Acknowledgment(id=f"{IAM5}[{finding}]", reason=reason) for finding in findings)
    )


def wildcard_resources(policy: iam.CfnPolicy) -> list[str]:
    document = Stack.of(policy).resolve(policy.policy_document)
    found = []
    for statement in document.get("Statement", []):
        if statement.get("Effect") != "Allow":
            continue
        resources = statement.get("Resource", [])
        for resource in resources if isinstance(resources, list) else [resources]:
            flat = flatten_cfn_reference(resource)
            if "*" in flat and flat not in found:
                found.append(flat)
    return found


@jsii.implements(IValidation)
class _AcknowledgeWildcardResources:
    def __init__(self, scope: IConstruct, reasons_by_suffix: Mapping[str, str]) -> None:
        self._scope = scope
        self._reasons_by_suffix = dict(reasons_by_suffix)

    def validate(self) -> list[str]:
        for construct in self._scope.node.find_all():
            if not isinstance(construct, iam.CfnPolicy):
                continue
            for resource in wildcard_resources(construct):
                reason = next(
                    (text for suffix, text in self._reasons_by_suffix.items() if resource.endswith(suffix)),
                    None,
                )
                if reason is not None:
                    Validations.of(construct).acknowledge(
                        Acknowledgment(id=f"{IAM5}[Resource::{resource}]", reason=reason)
                    )
        return []


def acknowledge_wildcard_resources(scope: Construct, reasons_by_suffix: Mapping[str, str]) -> None:
    """Acknowledge IAM5 wildcard-resource findings of the policies under `scope` that end in a given suffix."""
    scope.node.add_validation(_AcknowledgeWildcardResources(scope, reasons_by_suffix))

"""Reading synthesized templates the way a reviewer would: by resource properties, never by hashed logical ids;
and how a bad setting must be refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import AppConfig, ConfigError

# cdk.json's training hyperparameters, rendered as the algorithm's reference writes its values (True, not JSON's
# true); the model stack adds num_classes and num_training_samples from the dataset manifest.
CDK_JSON_TRAINING_HYPERPARAMETERS = {
    "augmentation_type": "crop_color_transform",
    "early_stopping": "True",
    "early_stopping_min_epochs": "10",
    "early_stopping_patience": "5",
    "epochs": "30",
    "image_shape": "3,224,224",
    "learning_rate": "0.001",
    "mini_batch_size": "32",
    "num_layers": "18",
    "optimizer": "adam",
    "resize": "224",
    "use_pretrained_model": "1",
}


def resources_of_type(template: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == resource_type}


def state_machine_definition(template: dict[str, Any], output: str = "StateMachineArn") -> dict[str, Any]:
    """The ASL of the state machine a stack output names, with intrinsic functions flattened to `<LogicalId.Arn>`."""
    machine = template["Resources"][template["Outputs"][output]["Value"]["Ref"]]
    delimiter, parts = machine["Properties"]["DefinitionString"]["Fn::Join"]
    return json.loads(delimiter.join(_placeholder(part) for part in parts))


def _placeholder(part: Any) -> str:
    if isinstance(part, str):
        return part
    if "Fn::GetAtt" in part:
        return "<{}.{}>".format(*part["Fn::GetAtt"])
    if "Ref" in part:
        return f"<{part['Ref']}>"
    if "Fn::GetStackOutput" in part:
        return "<{StackName}.{OutputName}>".format(**part["Fn::GetStackOutput"])
    raise AssertionError(f"unexpected intrinsic in the state machine definition: {part}")


def stack_outputs_read(value: Any) -> list[dict[str, Any]]:
    """Every Fn::GetStackOutput in a template (or part of one): the weak cross-stack references it reads."""
    if isinstance(value, dict):
        if set(value) == {"Fn::GetStackOutput"}:
            return [value["Fn::GetStackOutput"]]
        return [found for item in value.values() for found in stack_outputs_read(item)]
    if isinstance(value, list):
        return [found for item in value for found in stack_outputs_read(item)]
    return []


def policy_statements_of_role(template: dict[str, Any], role_path_fragment: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies attached to the role whose construct path contains the fragment."""
    roles = {
        logical_id
        for logical_id, resource in resources_of_type(template, "AWS::IAM::Role").items()
        if role_path_fragment in resource.get("Metadata", {}).get("aws:cdk:path", logical_id)
    }
    assert len(roles) == 1, f"expected one role matching {role_path_fragment!r}, found {sorted(roles)}"
    (role,) = roles
    statements = []
    for policy in resources_of_type(template, "AWS::IAM::Policy").values():
        if {"Ref": role} in policy["Properties"]["Roles"]:
            statements.extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def assert_refused_in_one_line(context: dict[str, Any], key: str, value: str, allowed: str) -> None:
    """`-c key=value` fails synth with one line naming the key, the value as given, and what is allowed."""
    with pytest.raises(ConfigError) as raised:
        AppConfig.from_context({**context, key: value})
    message = str(raised.value)
    assert message.startswith(f"context '{key}'={value!r} is invalid: ") and allowed in message, message
    assert "\n" not in message, message

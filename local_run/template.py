"""The workflow as `cdk synth` wrote it: the state machine's definition and the Lambda functions it calls.

Nothing here copies the definition: it is the template's `DefinitionString`, with its `Fn::Join` /
`Fn::GetAtt` / `Ref` pieces resolved to local values. Each function's code is its synthesized asset folder
(`Metadata["aws:asset:path"]`, present when the app is synthesized with `aws:cdk:enable-asset-metadata`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from lambda_src.filter_inferences.app import ConfigurationError, load_threshold
from ops.assembly import MONITORING_STACK_SUFFIX, AssemblyError, CloudAssembly
from ops.assembly import resolve as assembly_resolve
from stacks.config import cdk_json_context

STATE_MACHINE_TYPE = "AWS::StepFunctions::StateMachine"
WORKFLOW_OUTPUT = "StateMachineArn"
BATCH_OUTPUT = "BatchStateMachineArn"
BUCKET_TYPE = "AWS::S3::Bucket"
FUNCTION_TYPE = "AWS::Lambda::Function"
ASSET_PATH_METADATA = "aws:asset:path"
ASSET_METADATA_CONTEXT = {"aws:cdk:enable-asset-metadata": True}
# The classifier's settings (docs/CONTRACTS.md): the endpoint it calls and the class names in index order.
ENDPOINT_NAME_VARIABLE = "ENDPOINT_NAME"
CLASS_NAMES_VARIABLE = "CLASS_NAMES"
# The filter's setting: the confidence below which an execution fails with ThresholdConfidenceNotMet.
THRESHOLD_VARIABLE = "THRESHOLD"


class TemplateError(Exception):
    """The synthesized app lacks something the local run needs; the message says what and where."""


@dataclass(frozen=True)
class FunctionSpec:
    """One Lambda function of the template: where its synthesized code is and how Lambda would run it."""

    logical_id: str
    code_dir: Path
    handler: str
    environment: Mapping[str, str]


@dataclass(frozen=True)
class WorkflowTemplate:
    stack_name: str
    definition_string: Any  # as in the template: a string, or an Fn::Join of strings and references
    functions: Mapping[str, FunctionSpec]  # by logical id: the functions the definition calls
    assembly_dir: Path | None = None  # the cloud assembly it was read from, holding its sibling stacks
    # (stack, output) pairs the definition reads through Fn::GetStackOutput: each the project bucket's name
    bucket_outputs: frozenset[tuple[str, str]] = frozenset()
    # The batch state machine of the same stack (its BatchStateMachineArn output), when it has one
    batch: WorkflowTemplate | None = None

    def definition(
        self, function_arns: Mapping[str, str], *, region: str, account_id: str, bucket: str | None = None
    ) -> str:
        """The definition with every function reference replaced by the given local ARN (by logical id), and
        the project bucket's name by `bucket`."""
        attributes = {(logical_id, "Arn"): arn for logical_id, arn in function_arns.items()}
        if bucket is not None:
            attributes.update(dict.fromkeys(self.bucket_outputs, bucket))
        return resolve(self.definition_string, attributes, region=region, account_id=account_id)

    @property
    def classifier(self) -> FunctionSpec:
        """The function that calls the endpoint: the one whose environment names it."""
        return self._function_with(ENDPOINT_NAME_VARIABLE)

    @property
    def confidence_filter(self) -> FunctionSpec:
        """The function that rejects low-confidence inferences: the one whose environment sets the threshold."""
        return self._function_with(THRESHOLD_VARIABLE)

    @property
    def endpoint_name(self) -> str:
        return self.classifier.environment[ENDPOINT_NAME_VARIABLE]

    @property
    def class_names(self) -> tuple[str, ...]:
        text = self.classifier.environment.get(CLASS_NAMES_VARIABLE, "")
        try:
            names = json.loads(text)
        except ValueError:
            names = None
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise TemplateError(
                f"{self.stack_name}: {CLASS_NAMES_VARIABLE} is not a JSON list of names: {text!r}"
            )
        return tuple(names)

    @property
    def threshold(self) -> float:
        """The filter's confidence threshold, read and checked exactly as the filter itself does."""
        try:
            return load_threshold(self.confidence_filter.environment)
        except ConfigurationError as error:
            raise TemplateError(f"{self.stack_name}: {error}") from error

    def _function_with(self, variable: str) -> FunctionSpec:
        matches = [spec for spec in self.functions.values() if variable in spec.environment]
        if len(matches) != 1:
            raise TemplateError(
                f"{self.stack_name}: expected one function with {variable} in its environment, found {len(matches)}"
            )
        return matches[0]


def synthesize(outdir: Path, context: Mapping[str, Any] | None = None) -> Path:
    """Synthesize the app in-process into `outdir`, as `cdk synth` would, with asset metadata on."""
    from app import build_app  # the CDK app is imported only when it is synthesized here

    build_app({**cdk_json_context(), **ASSET_METADATA_CONTEXT, **(context or {})}, outdir=str(outdir)).synth()
    return outdir


def read_assembly(assembly_dir: Path) -> CloudAssembly:
    """The cloud assembly (cdk.out) in `assembly_dir`; TemplateError when it has no readable manifest.

    A stack the manifest lists but whose template cannot be read stays an AssemblyError, an OpsError, which
    local_run's CLI reports as it does a TemplateError.
    """
    try:
        return CloudAssembly(assembly_dir)
    except AssemblyError as error:
        raise TemplateError(str(error)) from None


def load_workflow_template(assembly_dir: Path) -> WorkflowTemplate:
    """Find the workflow stack's state machine in a cloud assembly folder (cdk.out) and read its functions.

    The workflow stack is the one that outputs `StateMachineArn` (the output ops reads too); other stacks may
    hold state machines of their own, such as the custom-resource provider's waiter in the model stack.
    """
    assembly = read_assembly(assembly_dir)
    candidates = []
    for stack_name in assembly.stacks_with_output(WORKFLOW_OUTPUT):
        template = assembly.template(stack_name)
        # The stack holds other state machines too (the batch's); the output names the single-image one.
        reference = template["Outputs"][WORKFLOW_OUTPUT].get("Value", {}).get("Ref")
        machine = template.get("Resources", {}).get(reference, {})
        if machine.get("Type") == STATE_MACHINE_TYPE:
            candidates.append((stack_name, template, machine))
    if len(candidates) != 1:
        raise TemplateError(
            f"expected one {STATE_MACHINE_TYPE} in the stack that outputs {WORKFLOW_OUTPUT} under {assembly_dir}, "
            f"found {len(candidates)}; "
            "synthesize the app first (make synth)"
        )
    stack_name, template, machine = candidates[0]
    workflow = _machine_template(stack_name, template, machine, assembly)
    batch_reference = template["Outputs"].get(BATCH_OUTPUT, {}).get("Value", {}).get("Ref")
    if batch_reference is None:
        return workflow
    batch_machine = template["Resources"][batch_reference]
    return replace(workflow, batch=_machine_template(stack_name, template, batch_machine, assembly))


def _machine_template(
    stack_name: str, template: dict[str, Any], machine: dict[str, Any], assembly: CloudAssembly
) -> WorkflowTemplate:
    definition_string = machine["Properties"]["DefinitionString"]
    resources = template["Resources"]
    functions = {
        logical_id: _function_spec(stack_name, logical_id, resources.get(logical_id), assembly)
        for logical_id in sorted(_referenced_logical_ids(definition_string))
    }
    return WorkflowTemplate(
        stack_name=stack_name,
        definition_string=definition_string,
        functions=functions,
        assembly_dir=assembly.directory,
        bucket_outputs=bucket_name_outputs(stack_name, definition_string, assembly),
    )


def template_if_any(assembly: CloudAssembly, stack_name: Any) -> dict[str, Any]:
    """The stack's template, or an empty one when the assembly has no such stack (a reference to check on)."""
    return assembly.template(stack_name) if stack_name in assembly.stack_names else {}


def bucket_name_outputs(stack_name: str, node: Any, assembly: CloudAssembly) -> frozenset[tuple[str, str]]:
    """The definition's Fn::GetStackOutput references; each must be a bucket's name (its Ref) in its stack."""
    if isinstance(node, list):
        return frozenset().union(*(bucket_name_outputs(stack_name, item, assembly) for item in node))
    if not isinstance(node, dict):
        return frozenset()
    reference = node.get("Fn::GetStackOutput")
    if not isinstance(reference, dict):
        return frozenset().union(*(bucket_name_outputs(stack_name, item, assembly) for item in node.values()))
    producer = template_if_any(assembly, reference.get("StackName"))
    value = producer.get("Outputs", {}).get(reference.get("OutputName"), {}).get("Value")
    logical_id = value.get("Ref") if isinstance(value, dict) else None
    if producer.get("Resources", {}).get(logical_id, {}).get("Type") != BUCKET_TYPE:
        raise TemplateError(
            f"{stack_name}: the definition reads {json.dumps(node)}, which is no bucket's name"
        )
    return frozenset({(reference["StackName"], reference["OutputName"])})


def resolve(value: Any, attributes: Mapping[tuple[str, str], str], *, region: str, account_id: str) -> Any:
    """The template value with its references replaced by their local values (ops.assembly.resolve)."""
    try:
        return assembly_resolve(value, attributes.__getitem__, region=region, account_id=account_id)
    except AssemblyError as error:
        raise TemplateError(f"the local run cannot evaluate a template value: {error}") from None


def _referenced_logical_ids(node: Any) -> set[str]:
    """Logical ids the definition takes an attribute of: the functions its tasks invoke."""
    if isinstance(node, list):
        return set().union(*(_referenced_logical_ids(item) for item in node))
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"}:
            argument = node["Fn::GetAtt"]
            return {argument[0] if isinstance(argument, list) else argument.split(".", 1)[0]}
        return set().union(*(_referenced_logical_ids(item) for item in node.values()))
    return set()


def _function_spec(stack_name: str, logical_id: str, resource: Any, assembly: CloudAssembly) -> FunctionSpec:
    where = f"{stack_name}/{logical_id}"
    if not isinstance(resource, dict) or resource.get("Type") != FUNCTION_TYPE:
        raise TemplateError(f"{where}: the definition references it, but it is not an {FUNCTION_TYPE}")
    asset_path = resource.get("Metadata", {}).get(ASSET_PATH_METADATA)
    if not asset_path:
        raise TemplateError(
            f"{where}: no {ASSET_PATH_METADATA} metadata; synthesize with -c aws:cdk:enable-asset-metadata=true "
            "(the CDK CLI's default)"
        )
    code_dir = assembly.directory / asset_path
    if not code_dir.is_dir():
        raise TemplateError(f"{where}: its code folder {code_dir} does not exist (an incomplete cdk.out?)")
    properties = resource["Properties"]
    variables = properties.get("Environment", {}).get("Variables", {})
    return FunctionSpec(
        logical_id=logical_id,
        code_dir=code_dir,
        handler=properties["Handler"],
        environment={
            name: _local_environment_value(value, assembly, where=f"{where}: environment variable {name}")
            for name, value in variables.items()
        },
    )


def _local_environment_value(value: Any, assembly: CloudAssembly, *, where: str) -> str:
    """A literal, or another stack's resource name read through its output (the endpoint name, say).

    CloudFormation generates names for resources the app leaves unnamed; locally the stand-in for such a
    resource gets the same kind of name, `<stack>-<logical id>` in lower case.
    """
    if isinstance(value, str):
        return value
    reference = value.get("Fn::GetStackOutput") if isinstance(value, dict) and len(value) == 1 else None
    if isinstance(reference, dict):
        outputs = template_if_any(assembly, reference.get("StackName")).get("Outputs", {})
        exported = outputs.get(reference.get("OutputName"), {}).get("Value")
        attribute = exported.get("Fn::GetAtt") if isinstance(exported, dict) else None
        if isinstance(attribute, list) and len(attribute) == 2:
            return f"{reference['StackName']}-{attribute[0]}".lower()
    raise TemplateError(f"{where} is {json.dumps(value)}, which has no local value")


@dataclass(frozen=True)
class MonitoringTemplate:
    """The monitoring stack as synthesized: its alarms and dashboard, plus the assembly of its sibling stacks."""

    stack_name: str
    resources: Mapping[str, Any]  # by logical id, as in the template
    assembly: CloudAssembly

    def resources_of_type(self, resource_type: str) -> dict[str, Mapping[str, Any]]:
        return {
            logical_id: resource
            for logical_id, resource in self.resources.items()
            if resource.get("Type") == resource_type
        }


def load_monitoring_template(assembly_dir: Path) -> MonitoringTemplate | None:
    """The `<project>-Monitoring` stack of a cloud assembly (cdk.out); None when the app has none."""
    assembly = read_assembly(assembly_dir)
    stack_names = assembly.stacks_ending_with(MONITORING_STACK_SUFFIX)
    if len(stack_names) > 1:
        raise TemplateError(f"more than one monitoring stack under {assembly_dir}: {stack_names}")
    if not stack_names:
        return None
    return MonitoringTemplate(
        stack_name=stack_names[0],
        resources=assembly.template(stack_names[0]).get("Resources", {}),
        assembly=assembly,
    )

"""The workflow as `cdk synth` wrote it: state machine definitions, their functions and the endpoint's data capture."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lambda_src.filter_inferences.app import ConfigurationError, load_threshold
from local_run.sagemaker_emulator import DataCaptureSettings
from ops.assembly import AssemblyError, CloudAssembly
from ops.assembly import resolve as assembly_resolve
from stacks.config import cdk_json_context
from stacks.names import BATCH_STATE_MACHINE_ARN_OUTPUT, STATE_MACHINE_ARN_OUTPUT

# Present when synthesized with aws:cdk:enable-asset-metadata (the CLI's default).
ASSET_PATH = "aws:asset:path"
ENDPOINT_NAME, CLASS_NAMES, THRESHOLD = "ENDPOINT_NAME", "CLASS_NAMES", "THRESHOLD"  # docs/CONTRACTS.md
REGION, ACCOUNT_ID = "us-east-1", "123456789012"  # moto's defaults


class TemplateError(Exception):
    """The synthesized app lacks something the local run needs; the message says what and where."""


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    code_dir: Path
    handler: str
    environment: Mapping[str, str]


@dataclass(frozen=True)
class WorkflowTemplate:
    assembly: CloudAssembly
    stack_name: str
    definition_string: Any  # as in the template: a string, or an Fn::Join of strings and references
    functions: Mapping[str, FunctionSpec]  # by logical id: the functions the definition calls
    batch: WorkflowTemplate | None = None  # the stack's batch state machine, when it has one

    def resolve(
        self,
        value: Any,
        *,
        function_arns: Mapping[str, str] | None = None,
        bucket: str | None = None,
        region: str = REGION,
        account_id: str = ACCOUNT_ID,
    ) -> Any:
        """The value with its references replaced by local ones: function ARNs, the bucket, and for the names
        CloudFormation generates, `<stack>-<logical id>`."""

        def lookup(key: tuple[str, str]) -> str:
            name, attribute = key
            if attribute == "Arn" and name in (function_arns or {}):
                return function_arns[name]
            producer = self.assembly.template(name) if name in self.assembly.stack_names else {}
            value = producer.get("Outputs", {}).get(attribute, {}).get("Value")
            if isinstance(value, dict) and "Fn::GetAtt" in value:
                return f"{name}-{value['Fn::GetAtt'][0]}".lower()
            resource = producer.get("Resources", {}).get(
                value.get("Ref") if isinstance(value, dict) else None
            )
            if bucket is not None and resource and resource["Type"] == "AWS::S3::Bucket":
                return bucket
            raise KeyError(key)

        try:
            return assembly_resolve(value, lookup, region=region, account_id=account_id)
        except AssemblyError as error:
            raise TemplateError(
                f"{self.stack_name}: the local run cannot evaluate a value: {error}"
            ) from None

    def definition(self, function_arns: Mapping[str, str], *, bucket: str | None = None, **where: str) -> str:
        """The definition string calling the given function ARNs (by logical id); `where`: region, account_id."""
        return self.resolve(self.definition_string, function_arns=function_arns, bucket=bucket, **where)

    def _function_with(self, variable: str) -> FunctionSpec:
        matches = [spec for spec in self.functions.values() if variable in spec.environment]
        if len(matches) != 1:
            raise TemplateError(f"{self.stack_name}: {len(matches)} functions have {variable}, expected one")
        return matches[0]

    @property
    def endpoint_name(self) -> str:
        return self._function_with(ENDPOINT_NAME).environment[ENDPOINT_NAME]

    @property
    def class_names(self) -> tuple[str, ...]:
        text = self._function_with(ENDPOINT_NAME).environment.get(CLASS_NAMES, "")
        try:
            names = json.loads(text)
        except ValueError:
            names = None
        if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
            raise TemplateError(f"{self.stack_name}: {CLASS_NAMES} is not a JSON list of names: {text!r}")
        return tuple(names)

    @property
    def threshold(self) -> float:
        """The filter's confidence threshold, read and checked as the filter itself does."""
        try:
            return load_threshold(self._function_with(THRESHOLD).environment)
        except ConfigurationError as error:
            raise TemplateError(f"{self.stack_name}: {error}") from error

    @property
    def served_model_name(self) -> str:
        """The name the endpoint config's first variant serves, as `resolve` names what CloudFormation generates."""
        stack, _, properties = self._endpoint_config()
        model_id = properties["ProductionVariants"][0]["ModelName"]["Fn::GetAtt"][0]
        return f"{stack}-{model_id}".lower()

    def _endpoint_config(self) -> tuple[str, str, dict[str, Any]]:
        """The stack, logical id and properties of the endpoint config behind the classifier's endpoint."""
        classifier = self._function_with(ENDPOINT_NAME).logical_id
        workflow = self.assembly.template(self.stack_name)
        variables = workflow["Resources"][classifier]["Properties"]["Environment"]["Variables"]
        output = variables[ENDPOINT_NAME]["Fn::GetStackOutput"]
        stack = output["StackName"]
        resources = self.assembly.template(stack)["Resources"]
        endpoint_id = self.assembly.template(stack)["Outputs"][output["OutputName"]]["Value"]["Fn::GetAtt"][0]
        config_id = resources[endpoint_id]["Properties"]["EndpointConfigName"]["Fn::GetAtt"][0]
        return stack, config_id, resources[config_id]["Properties"]

    @property
    def endpoint_mode(self) -> str:
        """ "serverless" when the endpoint config's variant has a ServerlessConfig, else "realtime"
        (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html)."""
        (variant,) = self._endpoint_config()[2]["ProductionVariants"]
        return "serverless" if "ServerlessConfig" in variant else "realtime"

    def data_capture(self, bucket: str) -> DataCaptureSettings | None:
        """The DataCaptureConfig of the endpoint config behind the classifier's endpoint; None if it captures nothing.

        https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataCaptureConfig.html
        """
        stack, config_id, properties = self._endpoint_config()
        capture = properties.get("DataCaptureConfig")
        if capture is None or capture.get("EnableCapture", True) is False:
            return None
        uri = self.resolve(capture["DestinationS3Uri"], bucket=bucket)
        if not (uri == f"s3://{bucket}" or uri.startswith(f"s3://{bucket}/")):
            raise TemplateError(f"{stack}/{config_id}: DestinationS3Uri {uri!r} is not in the project bucket")
        key_prefix = uri.removeprefix(f"s3://{bucket}").strip("/")
        return DataCaptureSettings(
            sampling_percentage=capture["InitialSamplingPercentage"],
            key_prefix=f"{key_prefix}/" if key_prefix else "",
            modes=frozenset(option["CaptureMode"] for option in capture["CaptureOptions"]),
        )


def synthesize(outdir: Path, context: Mapping[str, Any] | None = None) -> Path:
    """Synthesize the app in-process into `outdir`, as `cdk synth` would."""
    from app import build_app  # the CDK app is imported only when it is synthesized here

    metadata = {"aws:cdk:enable-asset-metadata": True}
    build_app({**cdk_json_context(), **metadata, **(context or {})}, outdir=str(outdir)).synth()
    return outdir


def load_workflow_template(assembly_dir: Path) -> WorkflowTemplate:
    """The state machine of the stack that outputs StateMachineArn (the output ops reads too), and its batch one."""
    try:
        assembly = CloudAssembly(assembly_dir)
    except AssemblyError as error:
        raise TemplateError(str(error)) from None
    stacks = assembly.stacks_with_output(STATE_MACHINE_ARN_OUTPUT)
    if len(stacks) != 1:
        raise TemplateError(
            f"expected one stack that outputs {STATE_MACHINE_ARN_OUTPUT} under {assembly_dir}, found "
            f"{len(stacks)}; synthesize the app first (make synth)"
        )
    outputs = assembly.template(stacks[0])["Outputs"]
    batch = outputs.get(BATCH_STATE_MACHINE_ARN_OUTPUT)
    batch_machine = _machine(assembly, stacks[0], batch["Value"]["Ref"]) if batch else None
    return _machine(assembly, stacks[0], outputs[STATE_MACHINE_ARN_OUTPUT]["Value"]["Ref"], batch_machine)


def _machine(
    assembly: CloudAssembly, stack_name: str, logical_id: str, batch: WorkflowTemplate | None = None
) -> WorkflowTemplate:
    resources = assembly.template(stack_name)["Resources"]
    definition = resources[logical_id]["Properties"]["DefinitionString"]
    template = WorkflowTemplate(assembly, stack_name, definition, {}, batch)
    functions = {}
    for function_id in sorted(_getatt_logical_ids(definition)):
        where = f"{stack_name}/{function_id}"
        resource = resources.get(function_id, {})
        if resource.get("Type") != "AWS::Lambda::Function":
            raise TemplateError(f"{where}: the definition references it, but it is no AWS::Lambda::Function")
        asset_path = resource.get("Metadata", {}).get(ASSET_PATH)
        if not asset_path:
            raise TemplateError(
                f"{where}: no {ASSET_PATH}; synthesize with -c aws:cdk:enable-asset-metadata=true"
            )
        code_dir = assembly.directory / asset_path
        if not code_dir.is_dir():
            raise TemplateError(
                f"{where}: its code folder {code_dir} does not exist (an incomplete cdk.out?)"
            )
        variables = resource["Properties"].get("Environment", {}).get("Variables", {})
        environment = {name: template.resolve(value) for name, value in variables.items()}
        functions[function_id] = FunctionSpec(
            function_id, code_dir, resource["Properties"]["Handler"], environment
        )
    return WorkflowTemplate(assembly, stack_name, definition, functions, batch)


def _getatt_logical_ids(node: Any) -> set[str]:
    """Logical ids the definition takes an attribute of: the functions its tasks invoke."""
    if isinstance(node, list):
        return set().union(*map(_getatt_logical_ids, node))
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"}:
            argument = node["Fn::GetAtt"]
            return {argument[0] if isinstance(argument, list) else argument.split(".", 1)[0]}
        return set().union(*map(_getatt_logical_ids, node.values()))
    return set()

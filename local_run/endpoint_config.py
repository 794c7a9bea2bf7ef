"""The data capture the synthesized endpoint config declares, for the local endpoint emulator.

The endpoint is found by following the templates' own references, from the classifier the workflow calls: its
`ENDPOINT_NAME` reads another stack's output (Fn::GetStackOutput), that output is an endpoint's EndpointName, and
the endpoint's EndpointConfigName is an endpoint config's. Its DataCaptureConfig decides what the emulator
captures (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataCaptureConfig.html): nothing
without one (the app's `data_capture_enabled=false`) or with EnableCapture false; otherwise the
InitialSamplingPercentage share of the requests, the CaptureOptions' modes, under DestinationS3Uri's key prefix.
"""

from __future__ import annotations

import json
from typing import Any

from local_run.sagemaker_emulator import DataCaptureSettings
from local_run.template import (
    ENDPOINT_NAME_VARIABLE,
    TemplateError,
    WorkflowTemplate,
    bucket_name_outputs,
    read_assembly,
    resolve,
)
from ops.assembly import CloudAssembly

ENDPOINT_TYPE = "AWS::SageMaker::Endpoint"
ENDPOINT_CONFIG_TYPE = "AWS::SageMaker::EndpointConfig"
CAPTURE_MODES = frozenset({"Input", "Output"})


def declared_data_capture(
    template: WorkflowTemplate, *, bucket: str, region: str, account_id: str
) -> DataCaptureSettings | None:
    """The data capture of the endpoint config behind the classifier's endpoint; None when it captures nothing.

    `bucket` stands for the project bucket DestinationS3Uri names, as it does in the definition.
    """
    if template.assembly_dir is None:
        raise TemplateError(f"{template.stack_name}: no cloud assembly to read the endpoint config from")
    assembly = read_assembly(template.assembly_dir)
    stack_name, config_id, config = _endpoint_config(template, assembly)
    where = f"{stack_name}/{config_id} DataCaptureConfig"
    capture = config.get("Properties", {}).get("DataCaptureConfig")
    if capture is None or capture.get("EnableCapture", True) is False:
        return None
    sampling = capture.get("InitialSamplingPercentage")
    if not isinstance(sampling, int) or isinstance(sampling, bool) or not 0 <= sampling <= 100:
        raise TemplateError(f"{where}: InitialSamplingPercentage {sampling!r} is not a whole number 0 to 100")
    modes = frozenset(option.get("CaptureMode") for option in capture.get("CaptureOptions", []))
    if not modes or not modes <= CAPTURE_MODES:
        raise TemplateError(f"{where}: CaptureOptions {capture.get('CaptureOptions')!r} are not Input/Output")
    destination = capture.get("DestinationS3Uri")
    local_buckets = dict.fromkeys(bucket_name_outputs(stack_name, destination, assembly), bucket)
    uri = resolve(destination, local_buckets, region=region, account_id=account_id)
    if not isinstance(uri, str) or not (uri == f"s3://{bucket}" or uri.startswith(f"s3://{bucket}/")):
        raise TemplateError(
            f"{where}: DestinationS3Uri {json.dumps(destination)} is not in the project bucket"
        )
    key_prefix = uri.removeprefix(f"s3://{bucket}").strip("/")
    return DataCaptureSettings(sampling, f"{key_prefix}/" if key_prefix else "", modes)


def _endpoint_config(template: WorkflowTemplate, assembly: CloudAssembly) -> tuple[str, str, dict[str, Any]]:
    """(stack name, logical id, resource) of the endpoint config of the endpoint the classifier calls."""
    classifier = template.classifier
    workflow = _read(assembly, template.stack_name)
    variable = workflow["Resources"][classifier.logical_id]["Properties"]["Environment"]["Variables"]
    reference = variable[ENDPOINT_NAME_VARIABLE]
    where = f"{template.stack_name}/{classifier.logical_id} {ENDPOINT_NAME_VARIABLE}"
    output = reference.get("Fn::GetStackOutput") if isinstance(reference, dict) else None
    if not isinstance(output, dict):
        raise TemplateError(f"{where} is {json.dumps(reference)}, not another stack's output")
    stack_name = output.get("StackName")
    producer = _read(assembly, stack_name)
    exported = producer.get("Outputs", {}).get(output.get("OutputName"), {}).get("Value")
    endpoint_id = _attribute_of(exported, "EndpointName", producer, ENDPOINT_TYPE, where)
    endpoint = producer["Resources"][endpoint_id]
    config_id = _attribute_of(
        endpoint["Properties"].get("EndpointConfigName"),
        "EndpointConfigName",
        producer,
        ENDPOINT_CONFIG_TYPE,
        f"{stack_name}/{endpoint_id} EndpointConfigName",
    )
    return stack_name, config_id, producer["Resources"][config_id]


def _attribute_of(
    value: Any, attribute: str, template: dict[str, Any], resource_type: str, where: str
) -> str:
    """The logical id in `{"Fn::GetAtt": [<logical id>, attribute]}`, which must be a resource of that type."""
    argument = value.get("Fn::GetAtt") if isinstance(value, dict) else None
    logical_id = argument[0] if isinstance(argument, list) and argument[1:] == [attribute] else None
    if template.get("Resources", {}).get(logical_id, {}).get("Type") != resource_type:
        raise TemplateError(f"{where} is {json.dumps(value)}, not the {attribute} of an {resource_type}")
    return logical_id


def _read(assembly: CloudAssembly, stack_name: Any) -> dict[str, Any]:
    if stack_name not in assembly.stack_names:
        raise TemplateError(f"no template of stack {stack_name!r} under {assembly.directory}")
    return assembly.template(stack_name)

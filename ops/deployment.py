"""The deployed app's stacks and their CloudFormation outputs: what the tools use when not told otherwise."""

from __future__ import annotations

from botocore.exceptions import ClientError

from ops.errors import StackNotFound, StackOutputNotFound

# cdk.json's project_name; app.py names the stacks "<project_name>-Storage", "-Model" and "-Workflow".
DEFAULT_STACK_PREFIX = "SconesVision"
STORAGE_STACK, MODEL_STACK, WORKFLOW_STACK = "Storage", "Model", "Workflow"
# The CfnOutput ids in stacks/storage_stack.py, stacks/model_stack.py and stacks/workflow_stack.py.
BUCKET_NAME_OUTPUT = "BucketName"
ENDPOINT_NAME_OUTPUT = "EndpointName"
STATE_MACHINE_ARN_OUTPUT = "StateMachineArn"
CONFIDENCE_THRESHOLD_OUTPUT = "ConfidenceThreshold"


def stack_output(cfn_client, stack_name: str, output_key: str) -> str:
    """The value of one output of a deployed stack; StackNotFound or StackOutputNotFound say what is missing."""
    try:
        stack = cfn_client.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as error:
        message = error.response["Error"]["Message"]
        if error.response["Error"]["Code"] == "ValidationError" and "does not exist" in message:
            raise StackNotFound(
                f"no stack {stack_name!r} in region {cfn_client.meta.region_name}: deploy the app with "
                "`make deploy`, or name its stacks' prefix (cdk.json's project_name) with --stack-prefix"
            ) from error
        raise
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}
    if output_key not in outputs:
        raise StackOutputNotFound(
            f"stack {stack_name!r} ({stack['StackStatus']}) has no output {output_key!r} "
            f"(its outputs: {', '.join(sorted(outputs)) or 'none'})"
        )
    return outputs[output_key]

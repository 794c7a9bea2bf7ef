import pytest
from botocore.exceptions import ClientError

from ops.deployment import stack_output
from ops.errors import StackNotFound, StackOutputNotFound
from tests.ops.builders import stack_description
from tests.ops.conftest import REGION


@pytest.fixture
def cloudformation(stub):
    return stub("cloudformation")


def test_an_output_comes_from_describe_stacks_on_the_named_stack(cloudformation):
    client, stubber = cloudformation
    stubber.add_response(
        "describe_stacks",
        stack_description(
            "SconesVision-Workflow", {"ConfidenceThreshold": "0.93", "StateMachineArn": "arn:aws:states:sm"}
        ),
        {"StackName": "SconesVision-Workflow"},
    )

    assert stack_output(client, "SconesVision-Workflow", "StateMachineArn") == "arn:aws:states:sm"


def test_a_stack_without_the_output_names_its_status_and_the_outputs_it_has(cloudformation):
    client, stubber = cloudformation
    stubber.add_response(
        "describe_stacks",
        stack_description(
            "SconesVision-Model", {"ModelDataUrl": "s3://b/m.tar.gz", "DatasetSource": "data/"}
        ),
        {"StackName": "SconesVision-Model"},
    )

    with pytest.raises(StackOutputNotFound) as error:
        stack_output(client, "SconesVision-Model", "EndpointName")

    assert str(error.value) == (
        "stack 'SconesVision-Model' (CREATE_COMPLETE) has no output 'EndpointName' "
        "(its outputs: DatasetSource, ModelDataUrl)"
    )


def test_a_missing_stack_is_named_with_its_region_and_how_to_deploy_it(cloudformation):
    client, stubber = cloudformation
    stubber.add_client_error(
        "describe_stacks",
        "ValidationError",
        "Stack with id Other-Storage does not exist",
        400,
        expected_params={"StackName": "Other-Storage"},
    )

    with pytest.raises(StackNotFound) as error:
        stack_output(client, "Other-Storage", "BucketName")

    assert str(error.value) == (
        f"no stack 'Other-Storage' in region {REGION}: deploy the app with `make deploy`, "
        "or name its stacks' prefix (cdk.json's project_name) with --stack-prefix"
    )


def test_other_cloudformation_errors_are_not_mistaken_for_a_missing_stack(cloudformation):
    client, stubber = cloudformation
    stubber.add_client_error("describe_stacks", "AccessDenied", "not authorized: describe_stacks", 403)

    with pytest.raises(ClientError, match="AccessDenied"):
        stack_output(client, "SconesVision-Storage", "BucketName")

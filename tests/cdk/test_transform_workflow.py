"""The Batch Transform state machine: the job it creates, the name it gives it, and who may do what."""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid

import botocore.session
import pytest

from stacks import algorithm
from stacks.config import AppConfig, ConfigError
from stacks.constructs.transform_workflow import TRANSFORM_JOB_NAME_PREFIX
from tests.cdk.helpers import (
    as_list,
    policy_statements_of_role,
    resources_of_type,
    stack_outputs_read,
    state_machine_definition,
)

OUTPUT = "TransformStateMachineArn"


@pytest.fixture(scope="module")
def template(synthesized_app):
    return synthesized_app.template("Workflow")


@pytest.fixture(scope="module")
def machine(template):
    return template["Resources"][template["Outputs"][OUTPUT]["Value"]["Ref"]]


@pytest.fixture(scope="module")
def definition(template):
    return state_machine_definition(template, OUTPUT)


@pytest.fixture(scope="module")
def job_parameters(definition):
    return definition["States"]["TransformImages"]["Parameters"]


@pytest.fixture(scope="module")
def sagemaker_model():
    return botocore.session.get_session().get_service_model("sagemaker")


def test_the_task_runs_the_job_to_its_end_with_the_model_the_endpoint_serves_now(definition, job_parameters):
    task = definition["States"]["TransformImages"]
    assert task["Resource"].endswith(":states:::sagemaker:createTransformJob.sync")
    # Read at run time: a retrain replaces the model under a new name and the endpoint keeps its own.
    assert "ModelName" not in job_parameters
    assert job_parameters["ModelName.$"] == "$.model.model_name"
    states = definition["States"]
    assert states["NameTransformJob"]["Next"] == "DescribeEndpoint"
    describe_endpoint = states["DescribeEndpoint"]
    assert describe_endpoint["Resource"].endswith(":states:::aws-sdk:sagemaker:describeEndpoint")
    assert re.fullmatch(
        r"<SconesVision-Model\.PublishOutputFnGetAttServingEndpoint\w+EndpointName\w+>",
        describe_endpoint["Parameters"]["EndpointName"],
    )
    assert describe_endpoint["ResultSelector"] == {"config_name.$": "$.EndpointConfigName"}
    assert (describe_endpoint["ResultPath"], describe_endpoint["Next"]) == (
        "$.endpoint",
        "DescribeEndpointConfig",
    )
    describe_config = states["DescribeEndpointConfig"]
    assert describe_config["Resource"].endswith(":states:::aws-sdk:sagemaker:describeEndpointConfig")
    assert describe_config["Parameters"] == {"EndpointConfigName.$": "$.endpoint.config_name"}
    assert describe_config["ResultSelector"] == {
        "model_name.$": "States.ArrayGetItem($.ProductionVariants[*].ModelName, 0)"
    }
    assert (describe_config["ResultPath"], describe_config["Next"]) == ("$.model", "TransformImages")


def test_the_lookups_may_read_the_endpoint_and_endpoint_configs_only(template):
    statements = policy_statements_of_role(template, "Transform/StateMachine/Role")
    by_action = {
        s["Action"]: s for s in statements if str(s["Action"]).startswith("sagemaker:DescribeEndpoint")
    }
    assert set(by_action) == {"sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig"}
    endpoint_arn = by_action["sagemaker:DescribeEndpoint"]["Resource"]["Fn::GetStackOutput"]
    # The endpoint's Ref (its ARN), which an update in place keeps.
    assert re.fullmatch(r"PublishOutputRefServingEndpoint\w+", endpoint_arn["OutputName"])
    assert by_action["sagemaker:DescribeEndpointConfig"]["Resource"] == {
        "Fn::Join": [
            "",
            [
                "arn:",
                {"Ref": "AWS::Partition"},
                ":sagemaker:",
                {"Ref": "AWS::Region"},
                ":",
                {"Ref": "AWS::AccountId"},
                ":endpoint-config/*",
            ],
        ]
    }
    # Nothing in the Workflow stack reads the model's name any more.
    assert not [o for o in stack_outputs_read(template) if "ServingModel" in o["OutputName"]]


def test_the_model_stack_outputs_the_model_name(synthesized_app):
    template = synthesized_app.template("Model")
    (model_id,) = resources_of_type(template, "AWS::SageMaker::Model")
    assert template["Outputs"]["ModelName"]["Value"] == {"Fn::GetAtt": [model_id, "ModelName"]}


def test_input_is_every_image_under_the_prefix_one_per_request(job_parameters):
    transform_input = job_parameters["TransformInput"]
    source = transform_input["DataSource"]["S3DataSource"]
    assert source["S3DataType"] == "S3Prefix"
    assert re.fullmatch(
        r"States\.Format\('s3://<SconesVision-Storage\.[^>]+>/\{\}', \$\.prefix\)", source["S3Uri.$"]
    )
    assert transform_input["ContentType"] == "application/x-image"
    assert transform_input["SplitType"] == "None"


def test_output_goes_to_transform_results_under_the_job_name_as_json(job_parameters):
    output = job_parameters["TransformOutput"]
    assert re.fullmatch(
        r"States\.Format\('s3://<SconesVision-Storage\.[^>]+>/transform-results/\{\}/', \$\.job_name\)",
        output["S3OutputPath.$"],
    )
    assert output["Accept"] == "application/json"
    assert output["AssembleWith"] == "None"
    assert job_parameters["TransformJobName.$"] == "$.job_name"


def test_instances_come_from_config(job_parameters, synthesized_app):
    assert job_parameters["TransformResources"] == {
        "InstanceType": synthesized_app.config.transform_instance_type,
        "InstanceCount": synthesized_app.config.transform_instance_count,
    }


def test_job_name_is_the_md5_of_the_execution_arn_and_always_valid(definition, sagemaker_model):
    """The definition's rule and ops' derivation of it agree, and any execution ARN gives a valid, unique name."""
    from ops.transform import transform_job_name

    expression = definition["States"]["NameTransformJob"]["Parameters"]["job_name.$"]
    assert (
        expression == f"States.Format('{TRANSFORM_JOB_NAME_PREFIX}{{}}', States.Hash($$.Execution.Id, 'MD5'))"
    )
    shape = sagemaker_model.shape_for("TransformJobName").metadata
    longest_arn = "arn:aws:states:us-east-1:123456789012:execution:" + "m" * 80 + ":" + "n_" * 40
    assert (
        transform_job_name(longest_arn)
        == TRANSFORM_JOB_NAME_PREFIX + hashlib.md5(longest_arn.encode()).hexdigest()
    )
    names = {transform_job_name(arn) for arn in (longest_arn, longest_arn[:-1] + "x", "arn:short:x")}
    assert len(names) == 3
    for name in names:
        assert shape["min"] <= len(name) <= shape["max"]
        assert re.fullmatch(shape["pattern"], name), name


def test_a_prefix_outside_the_input_area_fails_before_any_job(definition, synthesized_app):
    check = definition["States"][definition["StartAt"]]
    assert check["Type"] == "Choice"
    assert check["Choices"] == [
        {"Not": {"Variable": "$.prefix", "IsPresent": True}, "Next": "PrefixRejected"},
        {"Not": {"Variable": "$.prefix", "IsString": True}, "Next": "PrefixRejected"},
        {
            "Variable": "$.prefix",
            "StringMatches": f"{synthesized_app.config.workflow_input_prefix}*",
            "Next": "NameTransformJob",
        },
    ]
    assert definition["States"][check["Default"]] == {
        "Type": "Fail",
        "Error": "InvalidTransformInput",
        "Cause": "the input needs a 'prefix' under dataset/, the only prefix the model may read",
    }


def test_execution_output_names_the_job_and_where_its_results_are(definition):
    assert definition["States"]["TransformImages"]["ResultSelector"] == {
        "job_name.$": "$.TransformJobName",
        "status.$": "$.TransformJobStatus",
        "input_uri.$": "$.TransformInput.DataSource.S3DataSource.S3Uri",
        "output_uri.$": "$.TransformOutput.S3OutputPath",
    }


def test_logs_everything_and_traces(machine):
    properties = machine["Properties"]
    assert properties["StateMachineType"] == "STANDARD"
    assert properties["TracingConfiguration"] == {"Enabled": True}
    assert properties["LoggingConfiguration"]["Level"] == "ALL"


def test_state_machine_passes_only_the_model_role_and_has_no_managed_policy(template):
    statements = policy_statements_of_role(template, "Transform/StateMachine/Role")
    (pass_role,) = [s for s in statements if s["Action"] == "iam:PassRole"]
    # arn:...:role/<the model stack's execution role name>
    *_, role_name = pass_role["Resource"]["Fn::Join"][1]
    assert role_name["Fn::GetStackOutput"]["OutputName"].startswith("PublishOutputRefServingExecutionRole")
    assert pass_role["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
    roles = resources_of_type(template, "AWS::IAM::Role")
    assert not any("ManagedPolicyArns" in role["Properties"] for role in roles.values())
    job_actions = next(s for s in statements if "sagemaker:CreateTransformJob" in as_list(s["Action"]))
    assert job_actions["Resource"]["Fn::Join"][1][-1] == ":transform-job/*"


def test_the_model_role_reads_the_input_prefix_and_writes_transform_results_only(template):
    (policy,) = [
        p
        for logical_id, p in resources_of_type(template, "AWS::IAM::Policy").items()
        if "TransformJobPolicy" in logical_id
    ]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    s3_statements = {s["Action"]: s for s in statements if str(s["Action"]).startswith("s3:")}
    assert set(s3_statements) == {"s3:GetObject", "s3:ListBucket", "s3:PutObject"}
    assert s3_statements["s3:GetObject"]["Resource"]["Fn::Join"][1][-1] == "/dataset/*"
    assert s3_statements["s3:ListBucket"]["Condition"] == {"StringLike": {"s3:prefix": ["dataset/*"]}}
    assert s3_statements["s3:PutObject"]["Resource"]["Fn::Join"][1][-1] == "/transform-results/*"
    (role,) = policy["Properties"]["Roles"]
    assert role["Fn::GetStackOutput"]["OutputName"].startswith("PublishOutputRefServingExecutionRole")


def test_transform_instance_types_are_what_create_transform_job_offers_in_the_serving_families(
    sagemaker_model,
):
    offered = set(sagemaker_model.shape_for("TransformInstanceType").enum)
    listed = set(algorithm.offered_types(algorithm.TRANSFORM_INSTANCE_TYPES))
    assert listed <= offered
    assert set(algorithm.TRANSFORM_INSTANCE_TYPES) <= set(algorithm.ENDPOINT_INSTANCE_TYPES)
    serving = set(algorithm.offered_types(algorithm.ENDPOINT_INSTANCE_TYPES))
    assert listed == offered & serving


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("transform_instance_type", "ml.t2.medium", "runs Batch Transform (CPU or GPU) on the families"),
        ("transform_instance_type", "ml.c5.large", "SageMaker offers ml.c5 as xlarge"),
        ("transform_instance_count", "0", "[1, 10]"),
    ],
)
def test_config_refuses_what_batch_transform_cannot_run(default_context, key, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        AppConfig.from_context({**default_context, key: value})


ENDPOINT = "scones-endpoint"
SERVED_MODEL = "served-model-b"


@pytest.fixture
def local_machine(definition, job_parameters, monkeypatch):
    """The synthesized definition in moto's interpreter, with a seeded endpoint for the run-time lookup and the
    SageMaker job task (which moto cannot run) replaced by a Pass state that outputs what the task would be given."""
    import boto3
    from moto import mock_aws

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    states = dict(definition["States"])
    states["TransformImages"] = {"Type": "Pass", "Parameters": job_parameters, "End": True}
    text = json.dumps({**definition, "States": states}).replace("<AWS::Partition>", "aws")
    text = re.sub(r"<SconesVision-Model\.PublishOutputFnGetAttServingEndpoint\w+>", ENDPOINT, text)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sagemaker = boto3.client("sagemaker", region_name="us-east-1")
        role = "arn:aws:iam::123456789012:role/model"
        for model in ("retired-model-a", SERVED_MODEL):
            sagemaker.create_model(
                ModelName=model,
                ExecutionRoleArn=role,
                PrimaryContainer={"Image": "image", "ModelDataUrl": f"s3://b/{model}/model.tar.gz"},
            )
            sagemaker.create_endpoint_config(
                EndpointConfigName=f"config-of-{model}",
                ProductionVariants=[
                    {
                        "VariantName": "AllTraffic",
                        "ModelName": model,
                        "InitialInstanceCount": 1,
                        "InstanceType": "ml.m5.large",
                    }
                ],
            )
        # Two configs exist (moto has no UpdateEndpoint); the endpoint serves the second one's model.
        sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=f"config-of-{SERVED_MODEL}")
        client = boto3.client("stepfunctions", region_name="us-east-1")
        arn = client.create_state_machine(
            name=f"transform-{uuid.uuid4().hex[:8]}",
            definition=text,
            roleArn="arn:aws:iam::123456789012:role/transform",
        )["stateMachineArn"]
        yield client, arn


def _run_locally(client, arn, state_input):
    execution_arn = client.start_execution(
        stateMachineArn=arn, name=uuid.uuid4().hex, input=json.dumps(state_input)
    )["executionArn"]
    for _ in range(200):
        description = client.describe_execution(executionArn=execution_arn)
        if description["status"] != "RUNNING":
            return description
        time.sleep(0.05)
    raise AssertionError(f"{execution_arn} still running")


def test_locally_the_job_runs_the_endpoints_model_under_the_name_ops_derives(local_machine):
    from ops.transform import transform_job_name

    description = _run_locally(*local_machine, {"prefix": "dataset/validation/"})

    assert description["status"] == "SUCCEEDED", description
    job = json.loads(description["output"])
    assert job["ModelName"] == SERVED_MODEL
    assert job["TransformJobName"] == transform_job_name(description["executionArn"])


@pytest.mark.parametrize(
    "state_input", [{}, {"prefix": 3}, {"prefix": "model-artifacts/"}, {"prefix": "dataset"}]
)
def test_locally_a_missing_or_outside_prefix_fails_as_invalid_input(local_machine, state_input):
    description = _run_locally(*local_machine, state_input)

    assert description["status"] == "FAILED"
    assert description["error"] == "InvalidTransformInput"


@pytest.fixture(scope="module")
def retrained(default_context, synthesized_app, tmp_path_factory):
    """The default app (serving the model its training job makes), then the same app serving another artifact:
    what a retrain, or a new brought model, changes in the templates. One synth more than the session's."""
    from app import build_app

    context = {**default_context, "model_data_url": "s3://models-bucket/b/model.tar.gz"}
    assembly = build_app(context, outdir=str(tmp_path_factory.mktemp("artifact-b"))).synth()
    units = ("Storage", "Model", "Workflow", "Monitoring")
    return {
        "a": {unit: synthesized_app.template(unit) for unit in units},
        "b": {stack.stack_name.rsplit("-", 1)[-1]: stack.template for stack in assembly.stacks},
    }


def test_a_new_artifact_replaces_the_model_but_the_transform_reads_the_endpoint_it_keeps(retrained):
    a, b = retrained["a"], retrained["b"]
    ((model_id, model_a),) = resources_of_type(a["Model"], "AWS::SageMaker::Model").items()
    model_b = b["Model"]["Resources"][model_id]
    # PrimaryContainer is create-only: CloudFormation replaces the model, under a new generated name. The trained
    # app serves its registered version (ModelPackageName), the other one the brought artifact.
    assert model_a["Properties"]["PrimaryContainer"] != model_b["Properties"]["PrimaryContainer"]
    assert model_b["Properties"]["PrimaryContainer"]["ModelDataUrl"].endswith("/b/model.tar.gz")
    # The endpoint (updated in place) and the model's role (what the job runs under) keep their resources.
    assert resources_of_type(a["Model"], "AWS::SageMaker::Endpoint") == resources_of_type(
        b["Model"], "AWS::SageMaker::Endpoint"
    )
    serving_roles = [
        {
            key: role
            for key, role in resources_of_type(app["Model"], "AWS::IAM::Role").items()
            if "/Serving/" in key
        }
        | {
            key: role
            for key, role in resources_of_type(app["Model"], "AWS::IAM::Role").items()
            if "/Serving/" in role["Metadata"]["aws:cdk:path"]
        }
        for app in (a, b)
    ]
    assert serving_roles[0] and serving_roles[0] == serving_roles[1]
    # The Workflow stack is the same text, so a deploy skips it: harmless now, it names no model.
    assert a["Workflow"] == b["Workflow"]
    definition = state_machine_definition(b["Workflow"], OUTPUT)
    assert definition["States"]["TransformImages"]["Parameters"]["ModelName.$"] == "$.model.model_name"
    assert not [o for o in stack_outputs_read(b["Workflow"]) if "ServingModel" in o["OutputName"]]


# Every weak cross-stack reference the consumers read, and why a producer's update cannot leave it stale
# (docs/DESIGN.md, "Weak cross-stack references"). A value whose resource can be replaced must not be here.
STABLE_CROSS_STACK_VALUES = {
    "Workflow": {
        (
            "Storage",
            "PublishOutputRefProjectBucket",
        ): "bucket name: from project, account, region, like the stack names",
        ("Storage", "PublishOutputFnGetAttProjectBucket"): "bucket ARN: the same bucket",
        (
            "Model",
            "PublishOutputFnGetAttServingEndpointRealtime",
        ): "endpoint name: fixed per mode; a new config updates it in place",
        ("Model", "PublishOutputRefServingEndpointRealtime"): "endpoint ARN: the same endpoint",
        ("Model", "PublishOutputRefServingExecutionRole"): "model role name: its properties are updatable",
    },
    "Monitoring": {
        ("Model", "PublishOutputFnGetAttServingEndpointRealtime"): "endpoint name, as above",
        ("Model", "PublishOutputRefAlarmTopic"): "alarm topic ARN: TopicName unset",
        ("Model", "PublishOutputFnGetAttServingAlarmsEndpoint5xx"): "rollback alarm ARN: AlarmName fixed",
        ("Model", "PublishOutputFnGetAttServingAlarmsModelLatencyP90"): "rollback alarm ARN: AlarmName fixed",
        ("Workflow", "PublishOutputRefFunctionsClassifyImageFunction"): "function name: FunctionName unset",
        (
            "Workflow",
            "PublishOutputRefFunctionsFilterInferencesFunction",
        ): "function name: FunctionName unset",
        ("Workflow", "PublishOutputRefFunctionsSerializeImageFunction"): "function name: FunctionName unset",
        ("Workflow", "PublishOutputRefWorkflowStateMachine"): "state machine ARN: StateMachineName unset",
    },
}


@pytest.mark.parametrize("unit", STABLE_CROSS_STACK_VALUES)
def test_every_cross_stack_value_a_consumer_reads_is_one_its_producer_keeps(synthesized_app, unit):
    read = {
        (o["StackName"].rsplit("-", 1)[-1], o["OutputName"])
        for o in stack_outputs_read(synthesized_app.template(unit))
    }
    # CDK's output id: the prefix above, the logical id's hash and the output's own hash.
    listed = {
        key: {
            (stack, name)
            for stack, name in read
            if stack == key[0] and re.fullmatch(rf"{key[1]}[0-9A-F]{{8}}\w+", name)
        }
        for key in STABLE_CROSS_STACK_VALUES[unit]
    }
    assert all(len(matched) == 1 for matched in listed.values()), listed
    assert set().union(*listed.values()) == read

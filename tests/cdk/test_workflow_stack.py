"""The inference workflow: state machine wiring, Lambda settings and the scope of every permission."""

from __future__ import annotations

import json

import pytest
from aws_cdk.assertions import Match, Template

from tests.cdk.helpers import as_list, policy_statements_of_role, resources_of_type, state_machine_definition
from tests.lambda_handlers import load_handler_module

HANDLER_FOLDERS = ("serialize_image", "classify_image", "filter_inferences")


@pytest.fixture(scope="module")
def template(synthesized_app):
    return synthesized_app.template("Workflow")


@pytest.fixture(scope="module")
def definition(template):
    return state_machine_definition(template)


def test_states_run_serialize_classify_filter_then_succeed(definition):
    order = [definition["StartAt"]]
    while "Next" in definition["States"][order[-1]]:
        order.append(definition["States"][order[-1]]["Next"])
    assert order == [
        "SerializeImage",
        "ClassifyImage",
        "FilterInferences",
        "PublishClassified",
        "VehicleClassified",
    ]
    assert definition["States"]["VehicleClassified"]["Type"] == "Succeed"


def test_each_task_invokes_its_own_function_and_returns_the_payload_only(definition, template):
    functions = resources_of_type(template, "AWS::Lambda::Function")
    for state, folder in zip(
        ("SerializeImage", "ClassifyImage", "FilterInferences"), HANDLER_FOLDERS, strict=True
    ):
        resource = definition["States"][state]["Resource"]
        # payload_response_only invokes the function ARN directly instead of the lambda:invoke integration.
        assert resource.startswith("<") and resource.endswith(".Arn>"), resource
        logical_id = resource[1:].split(".")[0]
        assert folder.replace("_", "").lower() in logical_id.lower(), (state, logical_id)
        assert logical_id in functions


def test_low_confidence_fails_the_execution_with_threshold_error(definition):
    catches = definition["States"]["FilterInferences"]["Catch"]
    (low_confidence,) = [c for c in catches if c["ErrorEquals"] == ["ThresholdConfidenceNotMet"]]
    # Through the "needs review" event (tests/cdk/test_dispatch_events.py) to the Fail state.
    state = definition["States"][low_confidence["Next"]]
    while "Next" in state:
        state = definition["States"][state["Next"]]
    fail_state = state
    assert fail_state == {
        "Type": "Fail",
        "Error": "ThresholdConfidenceNotMet",
        "CausePath": "$.failure.Cause",
    }


@pytest.mark.parametrize(
    ("state", "input_errors"),
    [
        (
            "SerializeImage",
            {
                "MalformedEvent",
                "ImageNotFound",
                "ImageUnreadable",
                "NotAnImage",
                "UnsupportedImageFormat",
                "ImageTooLarge",
            },
        ),
        # Each task catches only what its own handler raises (tests/cdk/test_error_names.py); the classifier reads
        # an image passed by reference itself.
        ("ClassifyImage", {"MalformedEvent", "ImageNotFound", "ImageUnreadable"}),
        ("FilterInferences", {"MalformedEvent"}),
    ],
)
def test_bad_input_ends_in_a_fail_state_named_after_the_handler_error(definition, state, input_errors):
    (catch,) = [c for c in definition["States"][state]["Catch"] if "MalformedEvent" in c["ErrorEquals"]]
    assert set(catch["ErrorEquals"]) == input_errors
    assert definition["States"][catch["Next"]] == {
        "Type": "Fail",
        "ErrorPath": "$.failure.Error",
        "CausePath": "$.failure.Cause",
    }


def test_no_state_catches_everything(definition):
    # A States.ALL catch would turn unknown failures into a designed outcome (a seed defect).
    for name, state in definition["States"].items():
        for catch in state.get("Catch", []):
            assert "States.ALL" not in catch["ErrorEquals"], name


def test_endpoint_throttling_is_retried_before_it_fails(definition):
    classify = definition["States"]["ClassifyImage"]
    (throttle_retry,) = [r for r in classify["Retry"] if "EndpointThrottled" in r["ErrorEquals"]]
    # The served-model lookup runs before InvokeEndpoint: retrying it classifies the image once.
    assert {"EndpointThrottled", "ModelLookupFailed"} <= set(throttle_retry["ErrorEquals"])
    assert throttle_retry["MaxAttempts"] >= 2 and throttle_retry["BackoffRate"] > 1
    (endpoint_catch,) = [c for c in classify["Catch"] if "EndpointError" in c["ErrorEquals"]]
    assert {"EndpointThrottled", "ModelLookupFailed"} <= set(endpoint_catch["ErrorEquals"])


@pytest.mark.parametrize("state", ["SerializeImage", "ClassifyImage"])
def test_busy_storage_is_retried_then_fails_under_its_own_name(definition, state):
    task = definition["States"][state]
    (storage_retry,) = [r for r in task["Retry"] if "StorageUnavailable" in r["ErrorEquals"]]
    assert storage_retry["MaxAttempts"] >= 2 and storage_retry["BackoffRate"] > 1
    assert not any("StorageUnavailable" in c["ErrorEquals"] for c in task["Catch"])


@pytest.mark.parametrize("state", ["SerializeImage", "ClassifyImage", "FilterInferences"])
def test_transient_lambda_errors_are_retried(definition, state):
    retried = {error for retry in definition["States"][state]["Retry"] for error in retry["ErrorEquals"]}
    assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= retried


def test_state_machine_logs_everything_and_traces(template, synthesized_app):
    Template.from_json(template).has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {
            "StateMachineType": synthesized_app.config.workflow_type,
            "TracingConfiguration": {"Enabled": True},
            "LoggingConfiguration": Match.object_like({"Level": "ALL", "IncludeExecutionData": False}),
        },
    )


def test_execution_timeout_comes_from_config(definition, synthesized_app):
    assert definition["TimeoutSeconds"] == synthesized_app.config.workflow_timeout_minutes * 60


def test_functions_run_newest_python_on_arm_with_tracing_and_json_logs(template):
    functions = resources_of_type(template, "AWS::Lambda::Function")
    assert len(functions) == 4  # the chain's three and the batch's summary
    for function in functions.values():
        props = function["Properties"]
        assert props["Runtime"] == "python3.14"
        assert props["Architectures"] == ["arm64"]
        assert props["Handler"] == "app.handler"
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["LoggingConfig"]["LogFormat"] == "JSON"


def test_function_environments_carry_threshold_endpoint_and_class_names(template, synthesized_app):
    environments = [
        f["Properties"].get("Environment", {}).get("Variables", {})
        for f in resources_of_type(template, "AWS::Lambda::Function").values()
    ]
    (filter_env,) = [env for env in environments if "THRESHOLD" in env]
    assert float(filter_env["THRESHOLD"]) == synthesized_app.config.confidence_threshold
    (classify_env,) = [env for env in environments if "ENDPOINT_NAME" in env]
    class_names = json.loads(classify_env["CLASS_NAMES"])
    assert class_names and all(isinstance(name, str) for name in class_names)


def test_function_log_groups_expire(template, synthesized_app):
    log_groups = resources_of_type(template, "AWS::Logs::LogGroup")
    assert len(log_groups) == 7  # four functions and three state machines (single image, batch, transform)
    for log_group in log_groups.values():
        assert log_group["Properties"]["RetentionInDays"] == synthesized_app.config.log_retention_days
        assert log_group["DeletionPolicy"] == "Delete"


def test_functions_carry_no_managed_policies(template):
    for role in resources_of_type(template, "AWS::IAM::Role").values():
        assert "ManagedPolicyArns" not in role["Properties"]


def storage_bucket_arn_reference(synthesized_app) -> dict:
    """What the workflow template holds for the project bucket's ARN: the storage stack's output of it."""
    storage_template = synthesized_app.template("Storage")
    (bucket_id,) = [
        logical_id
        for logical_id, bucket in resources_of_type(storage_template, "AWS::S3::Bucket").items()
        if "LoggingConfiguration" in bucket["Properties"]
    ]
    (output_name,) = [
        name
        for name, output in storage_template["Outputs"].items()
        if output["Value"] == {"Fn::GetAtt": [bucket_id, "Arn"]}
    ]
    return {
        "Fn::GetStackOutput": {
            "OutputName": output_name,
            "Region": {"Ref": "AWS::Region"},
            "StackName": synthesized_app.stack("Storage").stack_name,
        }
    }


def test_serializer_reads_only_the_input_and_intake_prefixes_of_the_project_bucket(template, synthesized_app):
    # stacks/constructs/workflow_functions.py's input_prefixes(): the same prefixes bound the classifier's reads.
    prefixes = [synthesized_app.config.workflow_input_prefix, synthesized_app.config.intake_prefix]
    bucket_arn = storage_bucket_arn_reference(synthesized_app)
    statements = policy_statements_of_role(template, "SerializeImage")
    s3_statements = [s for s in statements if any(a.startswith("s3:") for a in as_list(s["Action"]))]
    (read,) = [s for s in s3_statements if s["Action"] == "s3:GetObject"]
    assert read["Resource"] == [{"Fn::Join": ["", [bucket_arn, f"/{prefix}*"]]} for prefix in prefixes]
    listings = [s for s in s3_statements if s["Action"] == "s3:ListBucket"]
    assert len(s3_statements) == 1 + len(listings)
    assert [listing["Resource"] for listing in listings] == [bucket_arn] * len(prefixes)
    assert [listing["Condition"] for listing in listings] == [
        {"StringLike": {"s3:prefix": [f"{prefix}*"]}} for prefix in prefixes
    ]


def test_workflow_is_deployed_after_the_stacks_it_references(synthesized_app):
    # Derived from the bucket and endpoint references alone: app.py adds no dependency by hand.
    workflow = synthesized_app.stack("Workflow")
    assert {stack.stack_name for stack in workflow.dependencies} == {
        synthesized_app.stack("Storage").stack_name,
        synthesized_app.stack("Model").stack_name,
    }


def test_classifier_may_only_invoke_the_model_stacks_endpoint(template, synthesized_app):
    statements = policy_statements_of_role(template, "ClassifyImage")
    (invoke,) = [s for s in statements if "sagemaker:InvokeEndpoint" in as_list(s["Action"])]
    # DescribeEndpoint: served_model.py, on the same endpoint (tests/cdk/test_dispatch_events.py has the rest).
    assert as_list(invoke["Action"]) == ["sagemaker:DescribeEndpoint", "sagemaker:InvokeEndpoint"]
    # The endpoint's ARN is its Ref, read from the model stack's output.
    reference = invoke["Resource"]["Fn::GetStackOutput"]
    assert reference["StackName"] == synthesized_app.stack("Model").stack_name
    model_template = synthesized_app.template("Model")
    exported = model_template["Outputs"][reference["OutputName"]]["Value"]
    assert model_template["Resources"][exported["Ref"]]["Type"] == "AWS::SageMaker::Endpoint"


def test_classifier_reads_only_the_objects_of_the_input_prefixes(template, synthesized_app):
    # An image passed by reference: GetObject on the objects the serializer may read, no listing, nothing else.
    prefixes = [synthesized_app.config.workflow_input_prefix, synthesized_app.config.intake_prefix]
    bucket_arn = storage_bucket_arn_reference(synthesized_app)
    statements = policy_statements_of_role(template, "ClassifyImage")
    s3_statements = [s for s in statements if any(a.startswith("s3:") for a in as_list(s["Action"]))]

    assert [(as_list(s["Action"]), s["Resource"]) for s in s3_statements] == [
        (["s3:GetObject"], [{"Fn::Join": ["", [bucket_arn, f"/{prefix}*"]]} for prefix in prefixes])
    ]
    assert all(s["Effect"] == "Allow" and "Condition" not in s for s in s3_statements)


def test_filter_has_no_data_access(template):
    actions = {
        a for s in policy_statements_of_role(template, "FilterInferences") for a in as_list(s["Action"])
    }
    assert actions == {
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
        "logs:CreateLogStream",
        "logs:PutLogEvents",
    }


def test_only_xray_and_log_delivery_use_a_star_resource(template):
    """Besides those, the transform's sagemaker:ListTags, and its job's metrics held to their namespace."""
    for policy in resources_of_type(template, "AWS::IAM::Policy").values():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if statement["Resource"] != "*":
                continue
            if statement["Action"] == "cloudwatch:PutMetricData":
                assert statement["Condition"] == {
                    "StringEquals": {"cloudwatch:namespace": "/aws/sagemaker/TransformJobs"}
                }
                continue
            assert all(
                a.startswith(("xray:", "logs:")) or a == "sagemaker:ListTags"
                for a in as_list(statement["Action"])
            ), statement


def test_classifier_outlives_its_endpoint_call(template):
    # A function killed by its own timeout fails with an error no Retry or Catch names; the SDK call must end
    # first, as EndpointThrottled.
    classify_app = load_handler_module("classify_image")

    (classify,) = [
        f["Properties"]
        for f in resources_of_type(template, "AWS::Lambda::Function").values()
        if "ENDPOINT_NAME" in f["Properties"].get("Environment", {}).get("Variables", {})
    ]
    # The served model's three Describe calls (uncached), a photo passed by reference read from S3, the endpoint.
    configs = (
        *[classify_app.LOOKUP_CLIENT_CONFIG] * 3,
        classify_app.S3_CLIENT_CONFIG,
        classify_app.CLIENT_CONFIG,
    )
    call_seconds = sum(config.connect_timeout + config.read_timeout for config in configs)
    assert all(config.retries["total_max_attempts"] == 1 for config in configs)
    assert classify["Timeout"] > call_seconds


def test_classifier_describes_only_the_account_s_endpoint_configs_and_models(template):
    statements = policy_statements_of_role(template, "ClassifyImage")
    describes = {
        s["Action"]: s["Resource"]["Fn::Join"][1][-1]
        for s in statements
        if s["Action"] in ("sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel")
    }

    # Names CloudFormation generates and a new model replaces: the account's in this region, of that kind only.
    assert describes == {
        "sagemaker:DescribeEndpointConfig": ":endpoint-config/*",
        "sagemaker:DescribeModel": ":model/*",
    }
    sagemaker_actions = {a for s in statements for a in as_list(s["Action"]) if a.startswith("sagemaker:")}
    assert sagemaker_actions == {
        "sagemaker:InvokeEndpoint",
        "sagemaker:DescribeEndpoint",
        "sagemaker:DescribeEndpointConfig",
        "sagemaker:DescribeModel",
    }

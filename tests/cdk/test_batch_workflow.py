"""The batch state machine: Distributed Map reader, batcher, writer, child type and inner map, concurrency,
tolerated failures, IAM scope.

What moto's interpreter cannot run (EXPRESS children, the ItemBatcher, the WriterConfig, the tolerated
percentage) is checked here.
"""

from __future__ import annotations

import json
import re

import pytest
from aws_cdk.assertions import Match, Template

from tests.cdk.helpers import as_list, policy_statements_of_role, resources_of_type, state_machine_definition
from tests.lambda_handlers import load_handler_module

CHAIN_STATES = ("SerializeImage", "ClassifyImage", "FilterInferences")


@pytest.fixture(scope="module")
def template(synthesized_app):
    return synthesized_app.template("Workflow")


@pytest.fixture(scope="module")
def batch(template):
    return state_machine_definition(template, "BatchStateMachineArn")


@pytest.fixture(scope="module")
def single(template):
    return state_machine_definition(template, "StateMachineArn")


@pytest.fixture(scope="module")
def classify_prefix(batch):
    (state,) = [s for s in batch["States"].values() if s["Type"] == "Map"]
    return state


@pytest.fixture(scope="module")
def each_image(classify_prefix):
    """The inline map a child runs over the images of its batch."""
    child = classify_prefix["ItemProcessor"]
    return child["States"][child["StartAt"]]


def test_input_outside_the_project_prefix_is_refused_before_anything_is_listed(batch, synthesized_app):
    check = batch["States"][batch["StartAt"]]
    assert check["Type"] == "Choice"
    (rule,) = check["Choices"]
    conditions = {
        (c["Variable"], key): value for c in rule["And"] for key, value in c.items() if key != "Variable"
    }
    assert conditions[("$.prefix", "StringMatches")] == f"{synthesized_app.config.workflow_input_prefix}*"
    assert ("$.s3_bucket", "StringEquals") in conditions
    assert batch["States"][check["Default"]] == {
        "Type": "Fail",
        "Error": "BatchInputRejected",
        "Cause": batch["States"][check["Default"]]["Cause"],
    }


def test_the_map_reads_the_prefix_and_runs_express_children(classify_prefix):
    reader = classify_prefix["ItemReader"]
    assert reader["Resource"].endswith(":states:::s3:listObjectsV2")
    assert reader["Parameters"]["Prefix.$"] == "$.prefix"
    assert classify_prefix["ItemSelector"] == {
        "s3_bucket.$": "$.s3_bucket",
        "s3_key.$": "$$.Map.Item.Value.Key",
        "workflow": "batch",
    }
    assert classify_prefix["ItemProcessor"]["ProcessorConfig"] == {
        "Mode": "DISTRIBUTED",
        "ExecutionType": "EXPRESS",
    }


def test_each_image_of_the_map_is_marked_as_the_batch_workflows_for_the_filter(template):
    # The filter counts an event with this key and value in its Workflow=batch series, which the
    # unexpected-failures alarm leaves out (docs/CONTRACTS.md, "Metrics").
    filter_app = load_handler_module("filter_inferences")
    item_selector = re.escape(
        '"ItemSelector":{"s3_bucket.$":"$.s3_bucket","s3_key.$":"$$.Map.Item.Value.Key",'
        f'"{filter_app.WORKFLOW_KEY}":"{filter_app.BATCH_WORKFLOW}"}}'
    )
    Template.from_json(template).has_resource_properties(
        "AWS::StepFunctions::StateMachine",
        {"DefinitionString": {"Fn::Join": ["", Match.array_with([Match.string_like_regexp(item_selector)])]}},
    )


def test_the_single_image_workflow_marks_no_workflow(single):
    # Its input is the caller's: without the key, the filter counts it as the single-image workflow's.
    assert "ItemSelector" not in json.dumps(single)
    assert '"workflow"' not in json.dumps(single)


def test_concurrency_and_tolerated_failures_come_from_config(classify_prefix, synthesized_app):
    config = synthesized_app.config
    assert classify_prefix["MaxConcurrency"] == config.batch_max_concurrency
    assert classify_prefix["ToleratedFailurePercentage"] == config.batch_tolerated_failure_percentage


def test_each_child_gets_a_batch_of_images_from_config(classify_prefix, synthesized_app):
    assert classify_prefix["ItemBatcher"] == {
        "MaxItemsPerBatch": synthesized_app.config.batch_images_per_child
    }
    assert synthesized_app.config.batch_images_per_child == 10


def test_a_child_classifies_its_batch_one_image_at_a_time_and_returns_the_records(
    classify_prefix, each_image
):
    # The only state of the child: its output (the list of the images' outcome records) is the child's output.
    assert list(classify_prefix["ItemProcessor"]["States"]) == ["ClassifyEachImage"]
    assert each_image["Type"] == "Map" and each_image.get("End") is True
    assert each_image["ItemsPath"] == "$.Items"
    assert each_image["ItemProcessor"]["ProcessorConfig"] == {"Mode": "INLINE"}
    # One image at a time: batch_max_concurrency children keep at most batch_max_concurrency images in flight.
    assert each_image["MaxConcurrency"] == 1
    assert not {"ResultPath", "ResultSelector", "OutputPath", "ItemSelector"} & set(each_image)


def test_results_are_written_as_jsonl_of_the_childrens_outputs_under_batch_results(classify_prefix):
    writer = classify_prefix["ResultWriter"]
    assert writer["Resource"].endswith(":states:::s3:putObject")
    assert writer["Parameters"]["Prefix"] == "batch-results/"
    assert writer["WriterConfig"] == {"OutputType": "JSONL", "Transformation": "COMPACT"}
    assert classify_prefix["ResultPath"] == "$.map_run"


def test_the_summary_step_follows_the_map_and_ends_the_execution(batch, classify_prefix):
    summary = batch["States"][classify_prefix["Next"]]
    assert summary["Type"] == "Task" and summary.get("End") is True
    assert summary["Parameters"] == {
        "s3_bucket.$": "$.s3_bucket",
        "prefix.$": "$.prefix",
        "execution_name.$": "$$.Execution.Name",
        "map_run.$": "$.map_run",
    }


def test_the_child_runs_the_same_tasks_as_the_single_image_workflow(each_image, single):
    child = each_image["ItemProcessor"]
    assert child["StartAt"] == single["StartAt"] == "SerializeImage"
    for name in CHAIN_STATES:
        ours, theirs = child["States"][name], single["States"][name]
        assert ours["Resource"] == theirs["Resource"], name
        assert ours["Retry"] == theirs["Retry"], name
        assert [c["ErrorEquals"] for c in ours["Catch"]] == [c["ErrorEquals"] for c in theirs["Catch"]], name


def test_designed_outcomes_end_the_child_with_a_record_without_the_image(each_image):
    states = each_image["ItemProcessor"]["States"]
    records = {name: state for name, state in states.items() if state["Type"] == "Pass"}
    assert {state["Parameters"]["outcome"] for state in records.values()} == {
        "succeeded",
        "below_threshold",
        "failed",
    }
    for state in records.values():
        assert state.get("End") is True
        assert "image_data" not in str(state["Parameters"])
        assert state["Parameters"]["s3_key.$"] == "$.s3_key"
    assert not [name for name, state in states.items() if state["Type"] == "Fail"]
    (low,) = [
        c for c in states["FilterInferences"]["Catch"] if c["ErrorEquals"] == ["ThresholdConfidenceNotMet"]
    ]
    assert states[low["Next"]]["Parameters"]["outcome"] == "below_threshold"


def test_state_machine_may_list_only_the_input_prefix_and_write_only_batch_results(template, synthesized_app):
    statements = policy_statements_of_role(template, "Batch/Role")
    s3_statements = [s for s in statements if any(a.startswith("s3:") for a in as_list(s["Action"]))]
    (listing,) = [s for s in s3_statements if as_list(s["Action"]) == ["s3:ListBucket"]]
    assert listing["Condition"] == {
        "StringLike": {"s3:prefix": [f"{synthesized_app.config.workflow_input_prefix}*"]}
    }
    (writing,) = [s for s in s3_statements if "s3:PutObject" in as_list(s["Action"])]
    assert writing["Resource"]["Fn::Join"][1][-1] == "/batch-results/*"
    assert len(s3_statements) == 2


def test_summary_function_reads_and_writes_only_batch_results(template):
    statements = policy_statements_of_role(template, "Batch/SummaryFunction")
    (s3_statement,) = [s for s in statements if any(a.startswith("s3:") for a in as_list(s["Action"]))]
    assert sorted(as_list(s3_statement["Action"])) == ["s3:GetObject", "s3:PutObject"]
    assert s3_statement["Resource"]["Fn::Join"][1][-1] == "/batch-results/*"


def test_child_executions_may_be_started_only_on_the_batch_state_machine(template):
    policies = [
        p
        for p in resources_of_type(template, "AWS::IAM::Policy").values()
        if any(
            "states:StartExecution" in as_list(s["Action"])
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        )
        # The intake rule's role starts the single-image machine (tests/cdk/test_intake.py).
        and not any(role["Ref"].startswith("IntakeRole") for role in p["Properties"]["Roles"])
    ]
    (policy,) = policies
    (start,) = [
        s
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
        if s["Action"] == "states:StartExecution"
    ]
    batch_ref = template["Outputs"]["BatchStateMachineArn"]["Value"]
    assert start["Resource"] == batch_ref


def test_batch_state_machine_arn_is_an_output(template):
    assert template["Outputs"]["BatchStateMachineArn"]["Value"]["Ref"] in resources_of_type(
        template, "AWS::StepFunctions::StateMachine"
    )


def test_batch_concurrency_beyond_what_the_endpoint_serves_is_refused():
    from stacks.config import AppConfig, ConfigError, cdk_json_context

    context = {**cdk_json_context(), "endpoint_instance_count": 1, "batch_max_concurrency": 11}
    with pytest.raises(ConfigError, match=r"batch_max_concurrency.*at most 10 .*endpoint_instance_count"):
        AppConfig.from_context(context)
    assert AppConfig.from_context({**context, "endpoint_instance_count": 2}).batch_max_concurrency == 11
    # An autoscaled endpoint may grow to its maximum; a serverless one serves its own concurrency limit.
    autoscaled = {**context, "autoscaling_enabled": True, "autoscaling_max_instances": 2}
    assert AppConfig.from_context(autoscaled).batch_max_concurrency == 11
    serverless = {
        **context,
        "endpoint_mode": "serverless",
        "data_capture_enabled": False,
        "serverless_max_concurrency": 10,
        "batch_max_concurrency": 10,
    }
    assert AppConfig.from_context(serverless).batch_max_concurrency == 10
    with pytest.raises(ConfigError, match=r"batch_max_concurrency.*at most 10 .*serverless_max_concurrency"):
        AppConfig.from_context({**serverless, "batch_max_concurrency": 11})

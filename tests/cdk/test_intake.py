"""The intake: an object created under intake_prefix starts the single-image state machine with {"s3_bucket", "s3_key"}.

moto 5.2.5 cannot run it end to end: its S3 sends EventBridge notifications to the rules of its default bus, but
with `transform_input=False` (moto/s3/notifications.py, _send_event_bridge_message), and a rule's Step Functions
target raises NotImplementedError there (moto/events/models.py, Rule.send_to_targets: log groups, archives, SQS,
event buses and API destinations only), which S3 swallows. So the rule's pattern is tested against S3 events with
moto's rule matcher, its input transformer by evaluating the InputTemplate as EventBridge does,
and tests/local/test_intake_local.py puts an object in moto's S3 and runs what the rule would start.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
from moto.events.models import EventPattern

from tests.cdk.helpers import policy_statements_of_role, resources_of_type

SAMPLE_BUCKET = "sconesvision-123456789012-us-east-1"
# The "Object created" example of https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html.
OBJECT_CREATED = {
    "version": "0",
    "id": "17793124-05d4-b198-2fde-7ededc63b103",
    "detail-type": "Object Created",
    "source": "aws.s3",
    "account": "111122223333",
    "time": "2021-11-12T00:00:00Z",
    "region": "ca-central-1",
    "resources": [f"arn:aws:s3:::{SAMPLE_BUCKET}"],
    "detail": {
        "version": "0",
        "bucket": {"name": SAMPLE_BUCKET},
        "object": {
            "key": "incoming/driver-42/photo.jpg",
            "size": 5,
            "etag": "b1946ac92492d2347c6235b4d2611184",
            "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
            "sequencer": "617f08299329d189",
        },
        "request-id": "N4N7GDK58NMKJ12R",
        "requester": "123456789012",
        "source-ip-address": "1.2.3.4",
        "reason": "PutObject",
    },
}


@pytest.fixture(scope="module")
def workflow(synthesized_app) -> dict[str, Any]:
    return synthesized_app.template("Workflow")


@pytest.fixture(scope="module")
def target(workflow) -> dict[str, Any]:
    (rule,) = resources_of_type(workflow, "AWS::Events::Rule").values()
    (target,) = rule["Properties"]["Targets"]
    return target


@pytest.fixture(scope="module")
def pattern(workflow) -> dict[str, Any]:
    """The rule's pattern with the Storage stack's bucket name (a cross-stack reference) as SAMPLE_BUCKET."""
    (rule,) = resources_of_type(workflow, "AWS::Events::Rule").values()
    pattern = copy.deepcopy(rule["Properties"]["EventPattern"])
    pattern["detail"]["bucket"]["name"] = [SAMPLE_BUCKET]
    return pattern


def test_the_project_bucket_sends_its_events_to_eventbridge_without_a_custom_resource(synthesized_app):
    storage = synthesized_app.template("Storage")
    (project,) = [
        bucket
        for bucket in resources_of_type(storage, "AWS::S3::Bucket").values()
        if "BucketName" in bucket["Properties"]
    ]
    assert project["Properties"]["NotificationConfiguration"] == {
        "EventBridgeConfiguration": {"EventBridgeEnabled": True}
    }
    assert not resources_of_type(storage, "Custom::S3BucketNotifications")


def test_the_rule_matches_objects_created_under_the_intake_prefix_of_the_project_bucket(
    workflow, synthesized_app
):
    (rule,) = resources_of_type(workflow, "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]

    assert "EventBusName" not in rule["Properties"]  # S3 sends to the default bus
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["object"] == {"key": [{"prefix": synthesized_app.config.intake_prefix}]}
    (bucket_name,) = pattern["detail"]["bucket"]["name"]
    assert bucket_name["Fn::GetStackOutput"]["StackName"] == "SconesVision-Storage"


def test_the_target_starts_the_single_image_machine_with_the_workflow_input(workflow, target):
    assert target["Arn"] == workflow["Outputs"]["StateMachineArn"]["Value"]
    assert target["InputTransformer"] == {
        "InputPathsMap": {
            "detail-bucket-name": "$.detail.bucket.name",
            "detail-object-key": "$.detail.object.key",
        },
        "InputTemplate": '{"s3_bucket":<detail-bucket-name>,"s3_key":<detail-object-key>}',
    }
    # EventBridge's defaults, stated (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html).
    assert target["RetryPolicy"] == {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185}


def test_the_targets_role_may_only_start_this_state_machine(workflow, target):
    roles = resources_of_type(workflow, "AWS::IAM::Role")
    role_id = target["RoleArn"]["Fn::GetAtt"][0]
    trust = roles[role_id]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "events.amazonaws.com"}]

    statements = policy_statements_of_role(workflow, "/Intake/Role/")

    assert statements == [
        {
            "Action": "states:StartExecution",
            "Effect": "Allow",
            "Resource": workflow["Outputs"]["StateMachineArn"]["Value"],
        }
    ]
    assert not roles[role_id]["Properties"].get("ManagedPolicyArns")


def test_undeliverable_events_land_in_an_encrypted_tls_only_queue_only_the_rule_may_send_to(workflow, target):
    queues = resources_of_type(workflow, "AWS::SQS::Queue")
    queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert queues[queue_id]["Properties"]["SqsManagedSseEnabled"] is True
    (policy,) = resources_of_type(workflow, "AWS::SQS::QueuePolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    deny, allow = statements
    assert deny["Effect"] == "Deny" and deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert allow["Principal"] == {"Service": "events.amazonaws.com"}
    assert allow["Action"] == "sqs:SendMessage"
    (rule_id,) = resources_of_type(workflow, "AWS::Events::Rule")
    assert allow["Condition"] == {"ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}}


def test_the_serializer_reads_the_input_and_intake_prefixes_and_nothing_else(workflow, synthesized_app):
    config = synthesized_app.config
    statements = policy_statements_of_role(workflow, "SerializeImage")
    (read,) = [s for s in statements if "s3:GetObject" in s["Action"]]
    lists = [s for s in statements if s["Action"] == "s3:ListBucket"]

    assert read["Action"] == "s3:GetObject"
    assert sorted(resource["Fn::Join"][1][-1] for resource in read["Resource"]) == sorted(
        [f"/{config.intake_prefix}*", f"/{config.workflow_input_prefix}*"]
    )
    assert sorted(s["Condition"]["StringLike"]["s3:prefix"][0] for s in lists) == sorted(
        [f"{config.intake_prefix}*", f"{config.workflow_input_prefix}*"]
    )


def _moved(event: dict[str, Any], **changes: Any) -> dict[str, Any]:
    moved = copy.deepcopy(event)
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        node = moved
        for parent in parents:
            node = node[parent]
        node[leaf] = value
    return moved


@pytest.mark.parametrize(
    ("event", "matches"),
    [
        (OBJECT_CREATED, True),
        (_moved(OBJECT_CREATED, detail__object__key="incoming/a b+c%.jpg"), True),
        (_moved(OBJECT_CREATED, detail__object__key="dataset/validation/bike.png"), False),
        (_moved(OBJECT_CREATED, detail__object__key="incoming"), False),
        (_moved(OBJECT_CREATED, **{"detail-type": "Object Deleted"}), False),
        (_moved(OBJECT_CREATED, detail__bucket__name="someone-elses-bucket"), False),
        (_moved(OBJECT_CREATED, source="sconesvision.test"), False),
    ],
    ids=[
        "created",
        "odd-characters",
        "other-prefix",
        "prefix-without-slash",
        "deleted",
        "other-bucket",
        "source",
    ],
)
def test_eventbridge_matches_only_objects_created_under_the_prefix(pattern, event, matches):
    # moto 5.2.5's TestEventPattern is a stub (moto/events/responses.py returns nothing): its rules' own matcher,
    # which its PutEvents and S3 notifications use (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html).
    assert EventPattern.load(json.dumps(pattern)).matches_event(event) is matches


def transformed_input(input_transformer: dict[str, Any], event: dict[str, Any]) -> Any:
    """EventBridge's input transformer for templates like this rule's: every `<name>` outside a string literal takes
    the JSON of the value its dot-notation path selects (a string gets quotes), as the page's examples show
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html). moto's own
    (moto/events/utils.py EventTemplateParser) inserts strings unquoted, which is not JSON."""
    values = {}
    for name, path in input_transformer["InputPathsMap"].items():
        assert re.fullmatch(r"\$(\.[A-Za-z0-9_-]+)+", path), f"{path}: only dot notation is evaluated here"
        node = event
        for step in path.split(".")[1:]:
            node = node[step]
        values[name] = node
    template = input_transformer["InputTemplate"]
    literals = re.findall(r'"(?:[^"\\]|\\.)*"', template)
    assert not any("<" in literal for literal in literals), (
        "a placeholder inside quotes is not evaluated here"
    )
    return json.loads(re.sub(r"<([^>]+)>", lambda m: json.dumps(values[m.group(1)]), template))


@pytest.mark.parametrize("key", ["incoming/driver-42/photo.jpg", 'incoming/say "cheese" \\ café.jpg'])
def test_the_input_transformer_makes_the_workflow_input_from_the_s3_event(target, key):
    event = _moved(OBJECT_CREATED, detail__object__key=key)

    assert transformed_input(target["InputTransformer"], event) == {"s3_bucket": SAMPLE_BUCKET, "s3_key": key}

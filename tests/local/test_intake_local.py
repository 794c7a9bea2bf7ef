"""The intake as far as moto 5.2.5 carries it: its S3, with EventBridge notifications on, sends the S3 event to a rule
with the synthesized pattern; the synthesized input transformer turns it into the input the state machine then runs.

moto starts no execution from a rule (tests/cdk/test_intake.py says why), so the rule's target here is an SQS queue
and the test starts the execution with the transformed event, as EventBridge would."""

from __future__ import annotations

import json

import pytest

from local_run.standin_model import read_split
from stacks import names
from tests.cdk.helpers import resources_of_type
from tests.cdk.test_intake import transformed_input
from tests.local.conftest import FinishedExecution, execute_input

RULE = "intake-under-test"


@pytest.fixture
def intake(local, workflow_template):
    """The template's intake rule on moto's default bus, sending to a queue; the bucket's EventBridge delivery on."""
    workflow = workflow_template.assembly.template(workflow_template.stack_name)
    (rule,) = resources_of_type(workflow, "AWS::Events::Rule").values()
    pattern = rule["Properties"]["EventPattern"]
    pattern["detail"]["bucket"]["name"] = [local.bucket]
    (target,) = rule["Properties"]["Targets"]
    queue_url = local.sqs.create_queue(QueueName=RULE)["QueueUrl"]
    arn = local.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events = local.events
    events.put_rule(Name=RULE, EventPattern=json.dumps(pattern))
    events.put_targets(Rule=RULE, Targets=[{"Id": "queue", "Arn": arn}])
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/enable-event-notifications-eventbridge.html
    local.s3.put_bucket_notification_configuration(
        Bucket=local.bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    yield queue_url, target["InputTransformer"]
    local.s3.put_bucket_notification_configuration(Bucket=local.bucket, NotificationConfiguration={})
    events.remove_targets(Rule=RULE, Ids=["queue"])
    events.delete_rule(Name=RULE)
    local.sqs.delete_queue(QueueUrl=queue_url)


def test_a_photo_put_under_the_intake_prefix_is_classified(local, intake, dataset, synthesized_app):
    queue_url, input_transformer = intake
    dataset_dir, _ = dataset
    image = read_split(dataset_dir, "test")[0][0].read_bytes()
    key = f"{synthesized_app.config.intake_prefix}driver 42/photo+1.png"
    local.s3.put_object(Bucket=local.bucket, Key="dataset/validation/not-for-the-intake.png", Body=image)
    local.s3.put_object(Bucket=local.bucket, Key=key, Body=image)
    local.published_events()

    messages = local.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])

    (s3_event,) = [json.loads(message["Body"]) for message in messages]
    assert (s3_event["source"], s3_event["detail-type"]) == ("aws.s3", "Object Created")
    workflow_input = transformed_input(input_transformer, s3_event)
    assert workflow_input == {"s3_bucket": local.bucket, "s3_key": key}
    execution: FinishedExecution = execute_input(local, workflow_input)
    assert execution.status == "SUCCEEDED" or execution.description["error"] == "ThresholdConfidenceNotMet"
    (outcome,) = local.published_events()
    assert outcome["detail-type"] in (names.VEHICLE_CLASSIFIED_EVENT, names.NEEDS_REVIEW_EVENT)
    assert outcome["detail"]["s3_key"] == key

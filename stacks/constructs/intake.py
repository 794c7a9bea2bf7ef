"""A photo created under the intake prefix starts the single-image state machine (docs/OPERATIONS.md, "Intake")."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

# The S3 event EventBridge receives (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html).
S3_SOURCE, OBJECT_CREATED = "aws.s3", "Object Created"
# EventBridge's own defaults, stated so the template shows them
# (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html).
RETRY_ATTEMPTS, MAX_EVENT_AGE = 185, Duration.hours(24)


class PhotoIntake(Construct):
    """The rule on the default bus, its target's role (StartExecution on this machine only) and dead-letter queue."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        prefix: str,
        state_machine: sfn.IStateMachine,
    ) -> None:
        super().__init__(scope, construct_id)
        # What exhausted its retries (or was refused) lands here; 14 days is SQS's longest retention.
        self.dead_letters = sqs.Queue(
            self,
            "DeadLetters",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=Duration.days(14),
        )
        Validations.of(self.dead_letters).acknowledge(
            Acknowledgment(id="AwsSolutions-SQS3", reason="It is the intake rule's dead-letter queue itself.")
        )
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("events.amazonaws.com"),
            description="Starts the single-image state machine for a photo created under the intake prefix",
        )
        self.rule = events.Rule(
            self,
            "Rule",
            description=f"Object Created under {prefix} starts the single-image workflow",
            event_pattern=events.EventPattern(
                source=[S3_SOURCE],
                detail_type=[OBJECT_CREATED],
                detail={
                    "bucket": {"name": [bucket.bucket_name]},
                    "object": {"key": events.Match.prefix(prefix)},
                },
            ),
        )
        # The workflow's input contract, {"s3_bucket", "s3_key"} (docs/CONTRACTS.md, "Workflow state").
        workflow_input = events.RuleTargetInput.from_object(
            {
                "s3_bucket": events.EventField.from_path("$.detail.bucket.name"),
                "s3_key": events.EventField.from_path("$.detail.object.key"),
            }
        )
        # The target grants the role states:StartExecution on this state machine's ARN.
        self.rule.add_target(
            targets.SfnStateMachine(
                state_machine,
                input=workflow_input,
                role=self.role,
                dead_letter_queue=self.dead_letters,
                retry_attempts=RETRY_ATTEMPTS,
                max_event_age=MAX_EVENT_AGE,
            )
        )

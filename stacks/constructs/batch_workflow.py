"""Batch classification of an S3 prefix: a Distributed Map of EXPRESS children, each the single-image chain.

Input `{"s3_bucket": ..., "prefix": ...}`, the prefix inside `workflow_input_prefix` of the project bucket.
Output: the summary object the final Lambda writes next to the results (docs/CONTRACTS.md, "Batch
classification"). AWS behaviour this relies on, by page:

- Distributed Map, child executions (up to 10,000 at once; EXPRESS children run at most five minutes):
  https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html
- S3 ItemReader over a prefix (`arn:aws:states:::s3:listObjectsV2`, each item an object's `Key`, `Size`,
  `ETag`, `LastModified`; needs `s3:ListBucket`):
  https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html
- ResultWriter: `manifest.json` under `<prefix><map run id>/` listing SUCCEEDED, FAILED and PENDING result
  files; the map state's output is then `{"MapRunArn", "ResultWriterDetails": {"Bucket", "Key"}}`:
  https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html
- ItemBatcher: each child receives `{"Items": [...]}`, at most MaxItemsPerBatch items, each already shaped by
  the ItemSelector: https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itembatcher.html
- ToleratedFailurePercentage (beyond it the map fails with States.ExceedToleratedFailureThreshold):
  https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html
- IAM for a Distributed Map (StartExecution on the state machine itself, DescribeExecution/StopExecution on
  its executions): https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.config import AppConfig
from stacks.constructs.inference_chain import TRANSIENT_LAMBDA_ERRORS, ChainEnd, InferenceChain
from stacks.constructs.state_machine import traced_state_machine
from stacks.nag import acknowledge_wildcard_resources, acknowledge_wildcards
from stacks.s3_layout import BATCH_RESULTS_PREFIX

if TYPE_CHECKING:
    from stacks.workflow_stack import InferenceFunctions, WorkflowFunction

# The error of a batch input this state machine refuses before listing anything.
BATCH_INPUT_ERROR = "BatchInputRejected"
# The key and value the map adds to each image's input: the filter then counts the image's evaluation in its
# `Workflow=batch` metrics, apart from the single-image workflow's below-threshold failures, which the
# unexpected-failures alarm offsets (docs/CONTRACTS.md, "Metrics"). The filter's own constants name the same.
WORKFLOW_INPUT_KEY = "workflow"
BATCH_WORKFLOW = "batch"
# A batch of thousands of images at batch_max_concurrency takes a while; STANDARD executions run up to a year.
BATCH_TIMEOUT = Duration.hours(24)


class BatchClassification(Construct):
    """The batch state machine: check the input, map the prefix, summarize the results."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        bucket: s3.IBucket,
        functions: InferenceFunctions,
    ) -> None:
        # Imported here: stacks.workflow_stack imports this module to instantiate it.
        from stacks.workflow_stack import WorkflowFunction  # noqa: F811

        super().__init__(scope, construct_id)
        summarize = WorkflowFunction(
            self,
            "SummaryFunction",
            source_folder="summarize_batch",
            description="Counts a batch's outcome records and writes summary.json next to them",
            environment={"RESULTS_PREFIX": BATCH_RESULTS_PREFIX},
            # Reads every result file of the map run, a line at a time.
            timeout=Duration.minutes(5),
            memory_size=256,
            config=config,
        )
        results = bucket.arn_for_objects(f"{BATCH_RESULTS_PREFIX}*")
        summarize.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject", "s3:PutObject"], resources=[results])
        )
        acknowledge_wildcard_resources(
            summarize.role,
            {
                f"/{BATCH_RESULTS_PREFIX}*": "Reads the map run's manifest and result files and writes its "
                "summary, all under batch-results/ of the project bucket: the object key is the wildcard."
            },
        )
        chain = InferenceChain(self, "Child", functions=functions, end=ChainEnd.RECORD_OUTCOME)
        # A child runs the chain once per image of its batch, one image at a time: with batch_max_concurrency
        # children at once, at most batch_max_concurrency images are in flight, the bound config.py holds to
        # what the endpoint can serve. Its output is the list of the images' outcome records, in order.
        each_image = sfn.Map(
            self,
            "ClassifyEachImage",
            items_path=sfn.JsonPath.string_at("$.Items"),
            max_concurrency=1,
        )
        each_image.item_processor(chain.definition)

        classify_prefix = sfn.DistributedMap(
            self,
            "ClassifyPrefix",
            # The project bucket itself, not a path: CheckInput has made sure the input names it.
            item_reader=sfn.S3ObjectsItemReader(bucket=bucket, prefix=sfn.JsonPath.string_at("$.prefix")),
            item_selector={
                "s3_bucket": sfn.JsonPath.string_at("$.s3_bucket"),
                "s3_key": sfn.JsonPath.string_at("$$.Map.Item.Value.Key"),
                WORKFLOW_INPUT_KEY: BATCH_WORKFLOW,
            },
            map_execution_type=sfn.StateMachineType.EXPRESS,
            # One child per batch_images_per_child images: the map's one STANDARD state transition per child is
            # most of the batch's cost (docs/COST.md). ToleratedFailurePercentage then counts failed batches.
            item_batcher=sfn.ItemBatcher(max_items_per_batch=config.batch_images_per_child),
            max_concurrency=config.batch_max_concurrency,
            tolerated_failure_percentage=config.batch_tolerated_failure_percentage,
            # JSONL of the children's own outputs (a list of outcome records each): the summary reads them a
            # line at a time, so its memory grows with a batch, not with the prefix.
            result_writer_v2=sfn.ResultWriterV2(
                bucket=bucket,
                prefix=BATCH_RESULTS_PREFIX,
                writer_config=sfn.WriterConfig(
                    output_type=sfn.OutputType.JSONL, transformation=sfn.Transformation.COMPACT
                ),
            ),
            result_path="$.map_run",
        )
        # DistributedMap renders ProcessorConfig itself (Mode DISTRIBUTED, ExecutionType from
        # map_execution_type); a config passed here would be ignored.
        classify_prefix.item_processor(each_image)

        summary = tasks.LambdaInvoke(
            self,
            "SummarizeBatch",
            lambda_function=summarize.function,
            payload=sfn.TaskInput.from_object(
                {
                    "s3_bucket": sfn.JsonPath.string_at("$.s3_bucket"),
                    "prefix": sfn.JsonPath.string_at("$.prefix"),
                    "execution_name": sfn.JsonPath.string_at("$$.Execution.Name"),
                    "map_run": sfn.JsonPath.object_at("$.map_run"),
                }
            ),
            payload_response_only=True,
            retry_on_service_exceptions=True,
        )
        summary.add_retry(
            errors=list(TRANSIENT_LAMBDA_ERRORS), interval=Duration.seconds(2), max_attempts=4, backoff_rate=2
        )

        # IsPresent before the comparisons on the same keys, the Choice state's pattern for a field that may be
        # absent (https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html); tested in moto only.
        project_prefix = sfn.Condition.and_(
            sfn.Condition.is_present("$.s3_bucket"),
            sfn.Condition.is_present("$.prefix"),
            sfn.Condition.is_string("$.s3_bucket"),
            sfn.Condition.is_string("$.prefix"),
            sfn.Condition.string_equals("$.s3_bucket", bucket.bucket_name),
            sfn.Condition.string_matches("$.prefix", f"{config.workflow_input_prefix}*"),
        )
        rejected = sfn.Fail(
            self,
            "InputRejected",
            error=BATCH_INPUT_ERROR,
            cause=f"the input must be {{'s3_bucket': <the project bucket>, 'prefix': "
            f"'{config.workflow_input_prefix}...'}}: the batch may list only the workflow's input prefix",
        )
        definition = (
            sfn.Choice(self, "CheckInput")
            .when(project_prefix, classify_prefix.next(summary))
            .otherwise(rejected)
        )

        # Written out rather than granted by CDK: its ResultWriter grant covers every object of the bucket and its
        # ItemReader grant every key. CDK's own additions go to an immutable view of the role and are dropped.
        self.role = iam.Role(
            self,
            "Role",
            assumed_by=iam.ServicePrincipal("states.amazonaws.com"),
            description="Runs the batch: lists the input prefix, runs the children, writes under batch-results/",
        )
        self.state_machine = traced_state_machine(
            self,
            config=config,
            definition=definition,
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=BATCH_TIMEOUT,
            role=self.role.without_policy_updates(),
            # The children's state holds base64 images: it stays out of the logs.
            include_execution_data=False,
        )
        # CDK's own grant for the map's children, made for the immutable view of the role; ours replaces it.
        self.state_machine.node.try_remove_child("DistributedMapPolicy")
        self._grant(config, bucket, (*functions.all, summarize))

    def _grant(self, config: AppConfig, bucket: s3.IBucket, handlers: tuple[WorkflowFunction, ...]) -> None:
        """What the batch needs (https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html)."""
        for handler in handlers:
            handler.function.grant_invoke(self.role)
        # A Distributed Map starts its children as executions of its own state machine, and describes and stops
        # them. In a policy of its own: in the role's default policy, which the state machine waits for, its
        # own ARN would be a circular dependency.
        child_executions = Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{self.state_machine.state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        child_executions_policy = iam.Policy(
            self,
            "ChildExecutionsPolicy",
            roles=[self.role],
            statements=[
                iam.PolicyStatement(
                    actions=["states:StartExecution"], resources=[self.state_machine.state_machine_arn]
                ),
                iam.PolicyStatement(
                    actions=["states:DescribeExecution", "states:StopExecution"], resources=[child_executions]
                ),
            ],
        )
        acknowledge_wildcards(
            child_executions_policy,
            reason="'<state machine name>:*' is the batch's own child executions, whose ids Step Functions "
            "generates as it starts them.",
            resources=[child_executions],
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{config.workflow_input_prefix}*"]}},
            )
        )
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "s3:PutObject",
                    "s3:GetObject",
                    "s3:AbortMultipartUpload",
                    "s3:ListMultipartUploadParts",
                ],
                resources=[bucket.arn_for_objects(f"{BATCH_RESULTS_PREFIX}*")],
            )
        )
        # Log delivery and X-Ray take no resource-level permissions
        # (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html#cloudwatch-iam-policy).
        self.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=[
                    "logs:CreateLogDelivery",
                    "logs:DeleteLogDelivery",
                    "logs:DescribeLogGroups",
                    "logs:DescribeResourcePolicies",
                    "logs:GetLogDelivery",
                    "logs:ListLogDeliveries",
                    "logs:PutResourcePolicy",
                    "logs:UpdateLogDelivery",
                    "xray:GetSamplingRules",
                    "xray:GetSamplingTargets",
                    "xray:PutTelemetryRecords",
                    "xray:PutTraceSegments",
                ],
                resources=["*"],
            )
        )
        acknowledge_wildcards(
            self.role,
            reason="'<function arn>:*' is each invoked function's versions and aliases (as LambdaInvoke grants); "
            "X-Ray and CloudWatch Logs delivery actions take no resource-level permissions.",
            resources=["*", *(f"{handler.function.function_arn}:*" for handler in handlers)],
        )
        acknowledge_wildcard_resources(
            self.role,
            {
                f"/{BATCH_RESULTS_PREFIX}*": "The ResultWriter writes the map run's manifest and result files "
                "under batch-results/ of the project bucket; the map run id in their keys is the wildcard.",
            },
        )

"""Batch classification of an S3 prefix: a Distributed Map of EXPRESS children, each the single-image chain
(docs/CONTRACTS.md, "Batch classification"). The Step Functions behaviour it relies on, by page:
Distributed Map (children, EXPRESS at most five minutes): https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html
S3 ItemReader (listObjectsV2, needs s3:ListBucket): https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itemreader.html
ResultWriter (manifest.json, its output): https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultwriter.html
ItemBatcher ({"Items": [...]} per child): https://docs.aws.amazon.com/step-functions/latest/dg/input-output-itembatcher.html
ToleratedFailurePercentage: https://docs.aws.amazon.com/step-functions/latest/dg/maprun-fail-threshold.html
IAM: https://docs.aws.amazon.com/step-functions/latest/dg/iam-policies-eg-dist-map.html
"""

from __future__ import annotations

from aws_cdk import ArnFormat, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks import names
from stacks.config import AppConfig
from stacks.constructs.grants import list_prefix, on_objects
from stacks.constructs.inference_chain import ChainEnd, InferenceChain, lambda_task
from stacks.constructs.state_machine import traced_state_machine
from stacks.constructs.workflow_functions import InferenceFunctions, WorkflowFunction
from stacks.nag import acknowledge_wildcard_resources, acknowledge_wildcards
from stacks.s3_layout import BATCH_RESULTS_PREFIX

# The error of a batch input this state machine refuses before listing anything.
BATCH_INPUT_ERROR = "BatchInputRejected"
# A batch of thousands of images at batch_max_concurrency takes a while; STANDARD executions run up to a year.
BATCH_TIMEOUT = Duration.hours(24)
# Log delivery and X-Ray take no resource-level permissions
# (https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html#cloudwatch-iam-policy).
LOG_DELIVERY_AND_XRAY_ACTIONS = [
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
]


class BatchClassification(Construct):
    """Check the input, map the prefix, summarize the results."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        bucket: s3.IBucket,
        functions: InferenceFunctions,
    ) -> None:
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
        summarize.allow(on_objects(bucket, BATCH_RESULTS_PREFIX, "s3:GetObject", "s3:PutObject"))
        acknowledge_wildcard_resources(
            summarize.role,
            {
                f"/{BATCH_RESULTS_PREFIX}*": "Reads the map run's manifest and result files and writes its "
                "summary, all under batch-results/ of the project bucket: the object key is the wildcard."
            },
        )
        chain = InferenceChain(self, "Child", functions=functions, end=ChainEnd.RECORD_OUTCOME)
        # One image at a time per child: at most batch_max_concurrency images in flight, the bound config.py holds.
        each_image = sfn.Map(self, "ClassifyEachImage", items_path="$.Items", max_concurrency=1)
        each_image.item_processor(chain.definition)

        classify_prefix = sfn.DistributedMap(
            self,
            "ClassifyPrefix",
            # The project bucket itself, not a path: CheckInput has made sure the input names it.
            item_reader=sfn.S3ObjectsItemReader(bucket=bucket, prefix=sfn.JsonPath.string_at("$.prefix")),
            item_selector={
                "s3_bucket": sfn.JsonPath.string_at("$.s3_bucket"),
                "s3_key": sfn.JsonPath.string_at("$$.Map.Item.Value.Key"),
                # The filter counts it under Workflow=batch, which the unexpected-failures alarm leaves out.
                names.WORKFLOW_INPUT_KEY: names.BATCH_WORKFLOW,
            },
            map_execution_type=sfn.StateMachineType.EXPRESS,
            # A STANDARD state transition per child is most of the batch's cost (docs/COST.md).
            item_batcher=sfn.ItemBatcher(max_items_per_batch=config.batch_images_per_child),
            max_concurrency=config.batch_max_concurrency,
            tolerated_failure_percentage=config.batch_tolerated_failure_percentage,
            # JSONL: the summary reads a line (a child's records) at a time, so its memory grows with a batch.
            result_writer_v2=sfn.ResultWriterV2(
                bucket=bucket,
                prefix=BATCH_RESULTS_PREFIX,
                writer_config=sfn.WriterConfig(
                    output_type=sfn.OutputType.JSONL, transformation=sfn.Transformation.COMPACT
                ),
            ),
            result_path="$.map_run",
        )
        # DistributedMap renders ProcessorConfig itself, from map_execution_type.
        classify_prefix.item_processor(each_image)

        summary = lambda_task(
            self,
            "SummarizeBatch",
            summarize,
            payload={
                "s3_bucket": sfn.JsonPath.string_at("$.s3_bucket"),
                "prefix": sfn.JsonPath.string_at("$.prefix"),
                "execution_name": sfn.JsonPath.string_at("$$.Execution.Name"),
                "map_run": sfn.JsonPath.object_at("$.map_run"),
            },
        )

        # IsPresent before comparing a field that may be absent (https://docs.aws.amazon.com/step-functions/latest/dg/state-choice.html).
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

        # Our grants, not CDK's (its ResultWriter and ItemReader grants cover the whole bucket): CDK's go to an
        # immutable view of the role and are dropped.
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
        for handler in handlers:
            handler.function.grant_invoke(self.role)
        # The map starts, describes and stops its children, executions of its own state machine: in a policy of its
        # own, as the state machine's ARN in the default policy it waits for would be a circular dependency.
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
        allow = self.role.add_to_principal_policy
        allow(list_prefix(bucket, config.workflow_input_prefix))
        writer = ["s3:PutObject", "s3:GetObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
        allow(on_objects(bucket, BATCH_RESULTS_PREFIX, *writer))
        allow(iam.PolicyStatement(actions=LOG_DELIVERY_AND_XRAY_ACTIONS, resources=["*"]))
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

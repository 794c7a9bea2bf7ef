"""Bulk re-scoring without an endpoint: one SageMaker Batch Transform job over a prefix (docs/CONTRACTS.md, "Batch
Transform"). API: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTransformJob.html;
output: https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TransformOutput.html (one failed object fails
the job); integration (.sync): https://docs.aws.amazon.com/step-functions/latest/dg/connect-sagemaker.html.
The model is read from the endpoint at run time: a retrain replaces the model under a new name (docs/DESIGN.md)."""

from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct

from stacks.config import AppConfig
from stacks.constructs.grants import list_prefix, on_objects
from stacks.constructs.sagemaker_role import logs_and_metrics_statements
from stacks.constructs.state_machine import traced_state_machine
from stacks.nag import acknowledge_wildcard_resources, acknowledge_wildcards
from stacks.refs import EndpointRef, ModelRef
from stacks.s3_layout import TRANSFORM_RESULTS_PREFIX

# TransformJobName: 1-63 characters matching [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}, unique in the account and region
# (CreateTransformJob, above). An execution name may be up to 80 characters and hold '_', so it cannot be the job
# name as it is; the MD5 of the execution's ARN (32 hex digits) is unique per execution of any state machine and
# always valid: "transform-" + 32 = 42 characters. ops/transform.py derives the same name from the ARN.
TRANSFORM_JOB_NAME_PREFIX = "transform-"
TRANSFORM_JOB_NAME = f"States.Format('{TRANSFORM_JOB_NAME_PREFIX}{{}}', States.Hash($$.Execution.Id, 'MD5'))"
# The built-in algorithm takes one encoded image per request (`application/x-image`) and answers with a JSON list
# of probabilities (https://docs.aws.amazon.com/sagemaker/latest/dg/image-classification.html, inference).
IMAGE_CONTENT_TYPE = "application/x-image"
RESULT_CONTENT_TYPE = "application/json"
INVALID_INPUT_ERROR = "InvalidTransformInput"
# A transform of a whole archive runs for hours; a STANDARD execution may run for a year, this bounds it to a day.
TRANSFORM_TIMEOUT = Duration.hours(24)
# Where SageMaker writes a transform job's logs (one stream per job and instance) and its metrics' namespace
# (https://docs.aws.amazon.com/sagemaker/latest/dg/logging-cloudwatch.html).
TRANSFORM_LOG_GROUP = "/aws/sagemaker/TransformJobs"
# Every endpoint config of the account and region, in SageMaker's ARN format (service authorization reference).
ENDPOINT_CONFIGS = "arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:endpoint-config/*"


class TransformStateMachine(Construct):
    """Checks the prefix, runs the job, outputs its name, status and output URI. The job runs under the model's role
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateModel.html, ExecutionRoleArn), granted here."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        bucket: s3.IBucket,
        endpoint: EndpointRef,
        model: ModelRef,
    ) -> None:
        super().__init__(scope, construct_id)
        input_prefix = config.workflow_input_prefix
        # By name: cfn-lint cannot follow the role name CDK would split out of an imported ARN.
        model_role = iam.Role.from_role_name(self, "ModelRole", model.execution_role_name)
        self._grant_job_access(model_role, bucket, input_prefix)

        name_job = sfn.Pass(
            self,
            "NameTransformJob",
            parameters={"prefix.$": "$.prefix", "job_name.$": TRANSFORM_JOB_NAME},
        )
        stack = Stack.of(self)
        # The endpoint keeps its name across retrains; its config names the model it serves now.
        # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpoint.html (EndpointConfigName)
        describe_endpoint = tasks.CallAwsService(
            self,
            "DescribeEndpoint",
            service="sagemaker",
            action="describeEndpoint",
            iam_action="sagemaker:DescribeEndpoint",
            parameters={"EndpointName": endpoint.name},
            # https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html: endpoint*
            iam_resources=[endpoint.arn],
            result_selector={"config_name.$": "$.EndpointConfigName"},
            result_path="$.endpoint",
        )
        # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DescribeEndpointConfig.html (ProductionVariants)
        describe_config = tasks.CallAwsService(
            self,
            "DescribeEndpointConfig",
            service="sagemaker",
            action="describeEndpointConfig",
            iam_action="sagemaker:DescribeEndpointConfig",
            parameters={"EndpointConfigName": sfn.JsonPath.string_at("$.endpoint.config_name")},
            # endpoint-config* (service authorization reference, above). CloudFormation generates the config's name
            # and a retrain replaces it under a new one, so no name is known to this stack.
            iam_resources=[ENDPOINT_CONFIGS.format(stack=stack)],
            # ProductionVariants[0]'s model; an array path and ArrayGetItem read alike in AWS and in moto's interpreter
            # (https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-arrays).
            result_selector={"model_name.$": "States.ArrayGetItem($.ProductionVariants[*].ModelName, 0)"},
            result_path="$.model",
        )
        transform = tasks.SageMakerCreateTransformJob(
            self,
            "TransformImages",
            integration_pattern=sfn.IntegrationPattern.RUN_JOB,
            transform_job_name=sfn.JsonPath.string_at("$.job_name"),
            # CreateTransformJob's only resource is transform-job (service authorization reference, above).
            model_name=sfn.JsonPath.string_at("$.model.model_name"),
            # The construct grants the state machine iam:PassRole on this role, and without one it creates a role
            # with AmazonSageMakerFullAccess; the job runs under the model's role anyway.
            role=model_role,
            transform_input=tasks.TransformInput(
                transform_data_source=tasks.TransformDataSource(
                    s3_data_source=tasks.TransformS3DataSource(
                        s3_uri=sfn.JsonPath.format(
                            f"s3://{bucket.bucket_name}/{{}}", sfn.JsonPath.string_at("$.prefix")
                        ),
                        s3_data_type=tasks.S3DataType.S3_PREFIX,
                    )
                ),
                content_type=IMAGE_CONTENT_TYPE,
                # One image per record; MaxPayloadInMB left at its default, 6 MB, the real-time endpoint's limit
                # too, so a photo the endpoint takes fits (CreateTransformJob, above).
                split_type=tasks.SplitType.NONE,
            ),
            transform_output=tasks.TransformOutput(
                s3_output_path=sfn.JsonPath.format(
                    f"s3://{bucket.bucket_name}/{TRANSFORM_RESULTS_PREFIX}{{}}/",
                    sfn.JsonPath.string_at("$.job_name"),
                ),
                accept=RESULT_CONTENT_TYPE,
                assemble_with=tasks.AssembleWith.NONE,
            ),
            transform_resources=tasks.TransformResources(
                instance_count=config.transform_instance_count,
                instance_type=ec2.InstanceType(config.transform_instance_type.removeprefix("ml.")),
            ),
            # The .sync result is DescribeTransformJob's response; the execution outputs what ops needs of it.
            result_selector={
                "job_name.$": "$.TransformJobName",
                "status.$": "$.TransformJobStatus",
                "input_uri.$": "$.TransformInput.DataSource.S3DataSource.S3Uri",
                "output_uri.$": "$.TransformOutput.S3OutputPath",
            },
        )
        # A Choice's StringMatches treats '*' as a wildcard and '\' as its escape (States Language, Choice Rules).
        escaped_prefix = input_prefix.replace("\\", "\\\\").replace("*", "\\*")
        prefix_rejected = sfn.Fail(
            self,
            "PrefixRejected",
            error=INVALID_INPUT_ERROR,
            cause=f"the input needs a 'prefix' under {input_prefix}, the only prefix the model may read",
        )
        # Rules are tried in order: the comparison is reached only with a string to compare.
        check_input = (
            sfn.Choice(self, "CheckPrefix")
            .when(sfn.Condition.not_(sfn.Condition.is_present("$.prefix")), prefix_rejected)
            .when(sfn.Condition.not_(sfn.Condition.is_string("$.prefix")), prefix_rejected)
            .when(
                sfn.Condition.string_matches("$.prefix", f"{escaped_prefix}*"),
                name_job.next(describe_endpoint).next(describe_config).next(transform),
            )
            .otherwise(prefix_rejected)
        )

        self.state_machine = traced_state_machine(
            self,
            config=config,
            definition=check_input,
            state_machine_type=sfn.StateMachineType.STANDARD,
            timeout=TRANSFORM_TIMEOUT,
            include_execution_data=True,
        )
        acknowledge_wildcards(
            self.state_machine.role,
            reason="SageMakerCreateTransformJob's generated policy: the job's name is made per execution, so "
            "Create/Describe/Stop/AddTags are on transform-job/*; sagemaker:ListTags, X-Ray and CloudWatch Logs "
            "delivery actions take no resource-level permissions.",
            resources=[
                "*",
                stack.format_arn(service="sagemaker", resource="transform-job", resource_name="*"),
            ],
        )
        acknowledge_wildcards(
            self.state_machine.role,
            reason="DescribeEndpointConfig reads the served model's name: CloudFormation generates the config's "
            "name and a retrain replaces the config under a new one, so only the account's configs can be named.",
            resources=[ENDPOINT_CONFIGS.format(stack=stack)],
        )

    def _grant_job_access(self, role: iam.IRole, bucket: s3.IBucket, input_prefix: str) -> None:
        """Read the input prefix, write transform-results/, and the job's own logs and metrics."""
        stack = Stack.of(self)
        policy = iam.Policy(
            self,
            "JobPolicy",
            roles=[role],
            # An S3Prefix data source lists the prefix (ListObjectsV2) before reading its objects.
            statements=[
                on_objects(bucket, input_prefix, "s3:GetObject"),
                list_prefix(bucket, input_prefix),
                on_objects(bucket, TRANSFORM_RESULTS_PREFIX, "s3:PutObject"),
                *logs_and_metrics_statements(stack, TRANSFORM_LOG_GROUP, TRANSFORM_LOG_GROUP),
            ],
        )
        acknowledge_wildcards(
            policy,
            reason="cloudwatch:PutMetricData has no resource-level permissions; the namespace condition holds the "
            "job to SageMaker's TransformJobs namespace.",
            resources=["*"],
        )
        acknowledge_wildcard_resources(
            self,
            {
                f"/{input_prefix}*": "The job reads every image under the input prefix it is given: the key is the "
                "wildcard.",
                f"/{TRANSFORM_RESULTS_PREFIX}*": "SageMaker names each result after its input image, under "
                "transform-results/<job name>/.",
                f"{TRANSFORM_LOG_GROUP}:*": "SageMaker creates one log stream per job and instance in this group.",
            },
        )

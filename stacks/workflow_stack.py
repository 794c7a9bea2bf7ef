"""The inference workflow: three Lambdas chained by a Step Functions state machine (serialize -> classify -> filter)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import CfnOutput, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from stacks.config import AppConfig
from stacks.constructs.batch_workflow import BatchClassification
from stacks.constructs.inference_chain import UNCAUGHT_ERRORS, ChainEnd, InferenceChain
from stacks.constructs.log_group import project_log_group
from stacks.constructs.state_machine import traced_state_machine
from stacks.constructs.transform_workflow import TransformStateMachine
from stacks.nag import acknowledge_wildcard_resources, acknowledge_wildcards
from stacks.refs import EndpointRef, ModelRef

LAMBDA_SOURCE_DIR = Path(__file__).resolve().parent.parent / "lambda_src"
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14

# Re-exported: the chain's error names live with the chain (stacks/constructs/inference_chain.py).
__all__ = [
    "UNCAUGHT_ERRORS",
    "InferenceFunctions",
    "InferenceStateMachine",
    "WorkflowFunction",
    "WorkflowStack",
]
XRAY_REASON = "X-Ray's PutTraceSegments and PutTelemetryRecords take no resource-level permissions."


class WorkflowFunction(Construct):
    """One handler from lambda_src/<name>/app.py: arm64, X-Ray traced, JSON logs into its own log group.

    The role is written out rather than defaulted so it carries no managed policy: only its log group, plus
    whatever the stack grants.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source_folder: str,
        description: str,
        environment: Mapping[str, str],
        timeout: Duration,
        memory_size: int,
        config: AppConfig,
    ) -> None:
        super().__init__(scope, construct_id)
        self.log_group = project_log_group(self, "Logs", config=config)
        self.role = iam.Role(
            self, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=description
        )
        self.function = lambda_.Function(
            self,
            "Function",
            description=description,
            runtime=LAMBDA_RUNTIME,
            architecture=lambda_.Architecture.ARM_64,
            handler="app.handler",
            code=lambda_.Code.from_asset(
                str(LAMBDA_SOURCE_DIR / source_folder), exclude=["__pycache__", "*.pyc"]
            ),
            environment=dict(environment),
            timeout=timeout,
            memory_size=memory_size,
            role=self.role,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=self.log_group,
        )
        self.log_group.grant_write(self.role)
        acknowledge_wildcards(self.role, reason=XRAY_REASON, resources=["*"])


class InferenceFunctions(Construct):
    """The three handlers, each granted only what its step needs."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        bucket: s3.IBucket,
        endpoint: EndpointRef,
        class_names: Sequence[str],
    ) -> None:
        super().__init__(scope, construct_id)
        self.serialize = WorkflowFunction(
            self,
            "SerializeImage",
            source_folder="serialize_image",
            description="Reads the image from S3 and returns it base64-encoded",
            environment={},
            timeout=Duration.seconds(30),
            memory_size=256,
            config=config,
        )
        # Written out rather than bucket.grant_read(): that grant adds s3:List*/GetBucket* on the whole bucket,
        # which would let the serializer list data_capture/ and model-artifacts/ too.
        input_objects = bucket.arn_for_objects(f"{config.workflow_input_prefix}*")
        self.serialize.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["s3:GetObject"], resources=[input_objects])
        )
        # Listing the input prefix only, so a missing key is a 404 (NoSuchKey) rather than an opaque 403.
        self.serialize.role.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["s3:ListBucket"],
                resources=[bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{config.workflow_input_prefix}*"]}},
            )
        )
        # The bucket's ARN is another stack's output, resolved only at synth: acknowledged by its suffix.
        acknowledge_wildcard_resources(
            self.serialize.role,
            {
                f"/{config.workflow_input_prefix}*": "Reads the objects under the workflow's input prefix of the "
                "project bucket: the object key is the wildcard."
            },
        )

        self.classify = WorkflowFunction(
            self,
            "ClassifyImage",
            source_folder="classify_image",
            description="Sends the image to the SageMaker endpoint and returns the class probabilities",
            environment={"ENDPOINT_NAME": endpoint.name, "CLASS_NAMES": json.dumps(list(class_names))},
            # InvokeEndpoint may take up to 60 s before SageMaker itself times out.
            timeout=Duration.seconds(70),
            memory_size=256,
            config=config,
        )
        self.classify.role.add_to_principal_policy(
            iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[endpoint.arn])
        )

        self.filter = WorkflowFunction(
            self,
            "FilterInferences",
            source_folder="filter_inferences",
            description="Fails the execution when the top confidence is below the threshold",
            # METRICS_NAMESPACE: the handler's EMF lines become metrics there (docs/CONTRACTS.md, "Metrics").
            environment={
                "THRESHOLD": repr(config.confidence_threshold),
                "METRICS_NAMESPACE": config.project_name,
            },
            timeout=Duration.seconds(10),
            memory_size=128,
            config=config,
        )

    @property
    def all(self) -> tuple[WorkflowFunction, ...]:
        return (self.serialize, self.classify, self.filter)


class InferenceStateMachine(Construct):
    """serialize -> classify -> filter, with retries on transient errors and one named Fail state per failure."""

    def __init__(
        self, scope: Construct, construct_id: str, *, config: AppConfig, functions: InferenceFunctions
    ):
        super().__init__(scope, construct_id)

        chain = InferenceChain(self, "Chain", functions=functions, end=ChainEnd.FAIL_EXECUTION)
        definition = chain.definition

        self.state_machine = traced_state_machine(
            self,
            config=config,
            definition=definition,
            state_machine_type=sfn.StateMachineType[config.workflow_type],
            timeout=Duration.minutes(config.workflow_timeout_minutes),
            # Execution data holds the base64 image: it stays out of the logs, the history keeps it.
            include_execution_data=False,
        )
        acknowledge_wildcards(
            self.state_machine.role,
            reason="LambdaInvoke's generated policy: '<function arn>:*' is the function's versions and aliases; "
            "X-Ray and CloudWatch Logs delivery actions take no resource-level permissions.",
            resources=["*", *(f"{handler.function.function_arn}:*" for handler in functions.all)],
        )


class WorkflowStack(Stack):
    """Deployment unit of the inference workflow; consumes the project bucket and the endpoint it calls.

    Both come in as references from the stacks that own them, so CDK derives the deployment order from them.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        bucket: s3.IBucket,
        endpoint: EndpointRef,
        model: ModelRef,
        class_names: Sequence[str],
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        functions = InferenceFunctions(
            self, "Functions", config=config, bucket=bucket, endpoint=endpoint, class_names=class_names
        )
        self.functions = functions
        workflow = InferenceStateMachine(self, "Workflow", config=config, functions=functions)
        self.state_machine = workflow.state_machine
        CfnOutput(self, "StateMachineArn", value=self.state_machine.state_machine_arn)
        self.batch_state_machine = BatchClassification(
            self, "Batch", config=config, bucket=bucket, functions=functions
        ).state_machine
        CfnOutput(
            self,
            "BatchStateMachineArn",
            value=self.batch_state_machine.state_machine_arn,
            description='Classifies every image under a prefix: input {"s3_bucket": ..., "prefix": ...}',
        )
        CfnOutput(
            self,
            "ConfidenceThreshold",
            value=repr(config.confidence_threshold),
            description="Executions whose top confidence is below this fail with ThresholdConfidenceNotMet",
        )
        transform = TransformStateMachine(self, "Transform", config=config, bucket=bucket, model=model)
        CfnOutput(self, "TransformStateMachineArn", value=transform.state_machine.state_machine_arn)

"""The workflow's Lambdas (lambda_src/<folder>/app.py), each with its own role granted only what its step needs."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks.config import AppConfig
from stacks.constructs.grants import list_prefix
from stacks.constructs.log_group import project_log_group
from stacks.nag import acknowledge_wildcard_resources, acknowledge_wildcards
from stacks.refs import EndpointRef

LAMBDA_SOURCE_DIR = Path(__file__).resolve().parents[2] / "lambda_src"
LAMBDA_RUNTIME = lambda_.Runtime.PYTHON_3_14
# The resource kinds served_model.py describes beyond the endpoint, and the action on each.
SERVED = {"endpoint-config": "sagemaker:DescribeEndpointConfig", "model": "sagemaker:DescribeModel"}
XRAY_REASON = "X-Ray's PutTraceSegments and PutTelemetryRecords take no resource-level permissions."


class WorkflowFunction(Construct):
    """arm64, X-Ray traced, JSON logs into its own log group; a role of its own, so no managed policy."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        source_folder: str,
        description: str,
        timeout: Duration,
        memory_size: int,
        config: AppConfig,
        environment: Mapping[str, str] | None = None,
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
            environment=dict(environment or {}),
            timeout=timeout,
            memory_size=memory_size,
            role=self.role,
            tracing=lambda_.Tracing.ACTIVE,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=self.log_group,
        )
        self.log_group.grant_write(self.role)
        acknowledge_wildcards(self.role, reason=XRAY_REASON, resources=["*"])

    def allow(self, *statements: iam.PolicyStatement) -> None:
        for statement in statements:
            self.role.add_to_principal_policy(statement)


class InferenceFunctions(Construct):
    """serialize, classify and filter."""

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
        prefixes = input_prefixes(config)
        self.serialize = WorkflowFunction(
            self,
            "SerializeImage",
            source_folder="serialize_image",
            description="Checks the image in S3; passes it on inline (base64) or by reference",
            # The endpoint's request payload limit bounds the image (docs/CONTRACTS.md, "Workflow state").
            environment={"ENDPOINT_MODE": config.endpoint_mode},
            timeout=Duration.seconds(30),
            memory_size=256,
            config=config,
        )
        # Not bucket.grant_read(): that adds s3:List*/GetBucket* on the whole bucket (data_capture/ included).
        # Listing the input prefixes only, so a missing key is a 404 (NoSuchKey) rather than an opaque 403.
        self.serialize.allow(
            read_objects(bucket, prefixes), *(list_prefix(bucket, prefix) for prefix in prefixes)
        )

        self.classify = WorkflowFunction(
            self,
            "ClassifyImage",
            source_folder="classify_image",
            description="Sends the image to the SageMaker endpoint and returns the class probabilities",
            environment={"ENDPOINT_NAME": endpoint.name, "CLASS_NAMES": json.dumps(list(class_names))},
            # Longer than its calls at their timeouts: the served model's lookup, a photo passed by reference, then
            # InvokeEndpoint (lambda_src/classify_image/app.py's client configurations).
            timeout=Duration.seconds(150),
            memory_size=256,
            config=config,
        )
        self.classify.allow(
            iam.PolicyStatement(actions=["sagemaker:InvokeEndpoint"], resources=[endpoint.arn]),
            # An image passed by reference: the objects the serializer checked, under the same prefixes; no listing.
            read_objects(bucket, prefixes),
        )
        # served_model.py names the model the endpoint serves in the outcome events: Describe on this endpoint, and
        # on the account's configs and models, whose names CloudFormation generates and a new model replaces
        # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html).
        stack = Stack.of(self)
        served = {
            kind: f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}:{kind}/*"
            for kind in SERVED
        }
        self.classify.allow(
            iam.PolicyStatement(actions=["sagemaker:DescribeEndpoint"], resources=[endpoint.arn]),
            *(
                iam.PolicyStatement(actions=[action], resources=[served[kind]])
                for kind, action in SERVED.items()
            ),
        )
        acknowledge_wildcards(
            self.classify.role,
            reason="DescribeEndpointConfig and DescribeModel name the model the endpoint serves: CloudFormation "
            "generates their names and a new model replaces both, so only the account's can be named.",
            resources=list(served.values()),
        )
        for function in (self.serialize, self.classify):
            # The bucket's ARN is another stack's output, resolved only at synth: acknowledged by its suffix.
            acknowledge_wildcard_resources(
                function.role,
                {
                    f"/{prefix}*": "Reads the images under an input prefix of the project bucket: the object key "
                    "is the wildcard."
                    for prefix in prefixes
                },
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


def input_prefixes(config: AppConfig) -> tuple[str, ...]:
    """The key prefixes whose images the workflow classifies: the serializer and the classifier read only these.
    The intake prefix is one: a photo dropped there starts its own execution (stacks/constructs/intake.py)."""
    return tuple(dict.fromkeys(p for p in (config.workflow_input_prefix, config.intake_prefix) if p))


def read_objects(bucket: s3.IBucket, prefixes: Sequence[str]) -> iam.PolicyStatement:
    return iam.PolicyStatement(
        actions=["s3:GetObject"], resources=[bucket.arn_for_objects(f"{prefix}*") for prefix in prefixes]
    )

"""SageMaker execution roles: what any job or endpoint of the built-in algorithm needs, and nothing more."""

from __future__ import annotations

from aws_cdk import Acknowledgment, ArnFormat, Stack, Validations
from aws_cdk import aws_iam as iam
from constructs import Construct

from stacks.constructs.algorithm_image import AlgorithmImage
from stacks.nag import IAM5

SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"


def logs_and_metrics_statements(
    stack: Stack, log_group_name: str, metric_namespace: str
) -> list[iam.PolicyStatement]:
    """What a SageMaker job or endpoint writes under its role: its log streams, and metrics in its namespace."""
    return [
        iam.PolicyStatement(
            actions=[
                f"logs:{a}"
                for a in ("CreateLogGroup", "CreateLogStream", "PutLogEvents", "DescribeLogStreams")
            ],
            resources=[
                stack.format_arn(
                    service="logs",
                    resource="log-group",
                    resource_name=f"{log_group_name}:*",
                    arn_format=ArnFormat.COLON_RESOURCE_NAME,
                )
            ],
        ),
        iam.PolicyStatement(
            actions=["cloudwatch:PutMetricData"],
            resources=["*"],
            conditions={"StringEquals": {"cloudwatch:namespace": metric_namespace}},
        ),
    ]


def sagemaker_execution_role(
    scope: Construct,
    construct_id: str,
    *,
    description: str,
    image: AlgorithmImage,
    log_group_name: str,
    metric_namespace: str,
) -> iam.Role:
    """Pulls the algorithm image and writes the logs and metrics under SageMaker's own names."""
    stack = Stack.of(scope)
    role = iam.Role(
        scope, construct_id, assumed_by=iam.ServicePrincipal(SAGEMAKER_PRINCIPAL), description=description
    )
    role.add_to_policy(
        iam.PolicyStatement(
            actions=["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
            resources=[image.repository_arn],
        )
    )
    role.add_to_policy(iam.PolicyStatement(actions=["ecr:GetAuthorizationToken"], resources=["*"]))
    for statement in logs_and_metrics_statements(stack, log_group_name, metric_namespace):
        role.add_to_policy(statement)
    Validations.of(role).acknowledge(
        Acknowledgment(
            id=f"{IAM5}[Resource::*]",
            reason=(
                "ecr:GetAuthorizationToken and cloudwatch:PutMetricData have no resource-level permissions; "
                "the metrics are held to SageMaker's namespace by a condition."
            ),
        )
    )
    return role

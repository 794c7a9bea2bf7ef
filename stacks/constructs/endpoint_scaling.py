"""Target tracking of a real-time variant's invocations per instance per minute, as SageMaker's guide registers it
(https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-policy.html: namespace, resource id,
dimension, 1 <= min <= max; the metric: https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-code-define.html)."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_iam as iam
from constructs import Construct

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# The service-linked role Application Auto Scaling creates on first use, as CloudFormation's RoleARN recommends;
# it spares a role of our own. Its permissions: AWSApplicationAutoscalingSageMakerEndpointPolicy.
# https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-service-linked-roles.html
SERVICE_LINKED_ROLE = (
    "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


class EndpointAutoscaling(Construct):
    """The resource id embeds the endpoint's name token: the target is created after the endpoint, deleted first."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        endpoint_name: str,
        variant_name: str,
        min_instances: int,
        max_instances: int,
        target_invocations_per_instance: int,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        service_linked_role = iam.Role.from_role_arn(
            self,
            "ServiceLinkedRole",
            stack.format_arn(service="iam", region="", resource="role", resource_name=SERVICE_LINKED_ROLE),
            mutable=False,
        )
        target = appscaling.ScalableTarget(
            self,
            "Target",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            scalable_dimension=SCALABLE_DIMENSION,
            resource_id=f"endpoint/{endpoint_name}/variant/{variant_name}",
            min_capacity=min_instances,
            max_capacity=max_instances,
            role=service_linked_role,
        )
        target.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=target_invocations_per_instance,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
        )

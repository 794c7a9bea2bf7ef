"""Endpoint autoscaling: Application Auto Scaling keeps a real-time variant's invocations per instance on target.

The variant is registered as a scalable target and given one target-tracking policy on the predefined metric
SageMakerVariantInvocationsPerInstance (invocations per minute per instance), as SageMaker's guide does it:
https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-policy.html (register: namespace
`sagemaker`, resource id `endpoint/<endpoint>/variant/<variant>`, dimension
`sagemaker:variant:DesiredInstanceCount`, min capacity at least 1 and at most max capacity) and
https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-code-define.html (the metric).
"""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_applicationautoscaling as appscaling
from aws_cdk import aws_iam as iam
from constructs import Construct

SCALABLE_DIMENSION = "sagemaker:variant:DesiredInstanceCount"
# Application Auto Scaling acts on SageMaker through this service-linked role, which it creates on the first
# RegisterScalableTarget of the account; naming it in the template is what CloudFormation's RoleARN documentation
# recommends for a service-linked role, and it spares a role of our own (CDK would otherwise make an empty one).
# Its permissions are the AWS managed AWSApplicationAutoscalingSageMakerEndpointPolicy.
# https://docs.aws.amazon.com/autoscaling/application/userguide/application-auto-scaling-service-linked-roles.html
SERVICE_LINKED_ROLE = (
    "aws-service-role/sagemaker.application-autoscaling.amazonaws.com/"
    "AWSServiceRoleForApplicationAutoScaling_SageMakerEndpoint"
)


def variant_resource_id(endpoint_name: str, variant_name: str) -> str:
    return f"endpoint/{endpoint_name}/variant/{variant_name}"


class EndpointAutoscaling(Construct):
    """Scales one variant of an endpoint between `min_instances` and `max_instances` to hold
    `target_invocations_per_instance` invocations per instance per minute.

    The resource id embeds the endpoint's name token, so CloudFormation creates the target after the endpoint
    and deletes it first. Attributes: `target` (the ScalableTarget), `policy` (the target-tracking policy).
    """

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
        self.target = appscaling.ScalableTarget(
            self,
            "Target",
            service_namespace=appscaling.ServiceNamespace.SAGEMAKER,
            scalable_dimension=SCALABLE_DIMENSION,
            resource_id=variant_resource_id(endpoint_name, variant_name),
            min_capacity=min_instances,
            max_capacity=max_instances,
            role=service_linked_role,
        )
        self.policy = self.target.scale_to_track_metric(
            "InvocationsPerInstance",
            target_value=target_invocations_per_instance,
            predefined_metric=appscaling.PredefinedMetric.SAGEMAKER_VARIANT_INVOCATIONS_PER_INSTANCE,
        )

"""The model registry: a SageMaker Model Package Group that lives as long as the project bucket holding the artifacts
its versions point at, and the `Custom::ModelVersion` resources that register or look up the version served
(lambda_src/model_registry; docs/DESIGN.md, "Quality gate and model registry")."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import CustomResource, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from stacks.config import AppConfig
from stacks.constructs.algorithm_image import AlgorithmImage
from stacks.constructs.custom_resource_provider import LAMBDA_PRINCIPAL, handler_options, provider
from stacks.constructs.training_job import TrainingJob
from stacks.nag import acknowledge_wildcard_resources
from stacks.names import model_package_group_name


@dataclass(frozen=True)
class ModelVersion:
    """A registered version the model serves (deploy-time tokens)."""

    package_arn: str
    model_data_url: str
    model_data_key: str


class ModelRegistry(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig) -> None:
        super().__init__(scope, construct_id)
        self.group_name = model_package_group_name(config.project_name)
        stack = Stack.of(self)
        group_arn = stack.format_arn(
            service="sagemaker", resource="model-package-group", resource_name=self.group_name
        )
        self._versions_arn = stack.format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{self.group_name}/*"
        )
        role = iam.Role(
            self,
            "HandlerRole",
            assumed_by=LAMBDA_PRINCIPAL,
            description="Model registry custom resources: this project's model package group and its versions",
        )
        group_actions = ["sagemaker:CreateModelPackageGroup", "sagemaker:DescribeModelPackageGroup"]
        version_actions = ["sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage"]
        # Deleting is for destroy with removal_policy=destroy only; a retained group is never deleted.
        if not config.retain_data:
            group_actions.append("sagemaker:DeleteModelPackageGroup")
            version_actions.append("sagemaker:DeleteModelPackage")
        role.add_to_policy(iam.PolicyStatement(actions=group_actions, resources=[group_arn]))
        role.add_to_policy(iam.PolicyStatement(actions=version_actions, resources=[self._versions_arn]))
        # ListModelPackages is authorized on the model-package resource type (unlike ListModels: the Service
        # Authorization Reference, https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html),
        # and its request names the group: the group's ARN and its versions' are granted, nothing wider.
        group_packages = stack.format_arn(
            service="sagemaker", resource="model-package", resource_name=self.group_name
        )
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["sagemaker:ListModelPackages"],
                resources=[group_arn, group_packages, self._versions_arn],
            )
        )
        acknowledge_wildcard_resources(
            role,
            {
                f":model-package/{self.group_name}/*": (
                    "Version numbers are given by SageMaker at registration; the ARN is pinned to this group."
                ),
                ":*": "Log streams of the handlers' own log group.",
            },
        )
        on_event = lambda_.Function(
            self,
            "OnEvent",
            handler="app.on_event",
            description="Creates the model package group, registers and looks up its versions",
            **handler_options(self, config, role, "model_registry"),
        )
        self._service_token = provider(self, config=config, on_event=on_event).service_token
        group = CustomResource(
            self,
            "Group",
            service_token=self._service_token,
            resource_type="Custom::ModelPackageGroup",
            properties={"GroupName": self.group_name},
            # The versions point at artifacts in the project bucket: the group lives as long as the bucket does.
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
        )
        # Deletes the group's versions on destroy, so the handler's grants must outlive it.
        group.node.add_dependency(role.node.find_child("DefaultPolicy"))
        self._group = group

    def register(self, training: TrainingJob, image: AlgorithmImage) -> ModelVersion:
        """The version of the job that passed the gate: its attributes exist only once the gate has passed."""
        return self._version(
            "TrainedVersion",
            {
                "Mode": "register",
                "GroupName": self._group.get_att_string("GroupName"),
                "TrainingJobName": training.job_name,
                "ModelDataUrl": training.model_data_url,
                "ValidationAccuracy": training.validation_accuracy,
                "DatasetContentHash": training.dataset_content_hash,
                "Hyperparameters": training.hyperparameters,
                "Image": image.image_uri,
            },
        )

    def lookup(self, version: int) -> ModelVersion:
        """An earlier registered version (a rollback): the deploy fails if it is missing or not Approved."""
        arn = Stack.of(self).format_arn(
            service="sagemaker", resource="model-package", resource_name=f"{self.group_name}/{version}"
        )
        return self._version("ServedVersion", {"Mode": "lookup", "ModelPackageArn": arn})

    def _version(self, construct_id: str, properties: dict) -> ModelVersion:
        resource = CustomResource(
            self,
            construct_id,
            service_token=self._service_token,
            resource_type="Custom::ModelVersion",
            properties=properties,
        )
        resource.node.add_dependency(self._group)
        return ModelVersion(
            package_arn=resource.get_att_string("ModelPackageArn"),
            model_data_url=resource.get_att_string("ModelDataUrl"),
            model_data_key=resource.get_att_string("ModelDataKey"),
        )

"""A SageMaker training job as a custom resource on the CDK provider framework, fitted into CloudFormation's hour
(ServiceTimeout at most 3600 s: https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudformation-customresource.html)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aws_cdk import CustomResource, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import custom_resources as cr
from constructs import Construct, IDependable

from stacks.config import MAX_TRAINING_MINUTES, AppConfig
from stacks.constructs.algorithm_image import AlgorithmImage
from stacks.constructs.custom_resource_provider import LAMBDA_PRINCIPAL, handler_options, provider
from stacks.constructs.grants import list_prefix, on_objects
from stacks.constructs.sagemaker_role import SAGEMAKER_PRINCIPAL, sagemaker_execution_role
from stacks.dataset_source import DatasetSource
from stacks.nag import acknowledge_wildcard_resources
from stacks.s3_layout import DATASET_PREFIX, MODEL_ARTIFACTS_PREFIX

CUSTOM_RESOURCE_TIMEOUT = Duration.hours(1)
# The provider gives up before CloudFormation's hour (its message, not a bare timeout); the handler stops a job
# still running after 50 minutes, so no instance outlives a failed deploy; config caps training itself at 40.
PROVIDER_TOTAL_TIMEOUT = Duration.minutes(55)
QUERY_INTERVAL = Duration.minutes(1)
STOP_AFTER = Duration.minutes(50)
# The EBS volume the channels are copied to; the PNGs of all of CIFAR-100 take well under 1 GB.
TRAINING_VOLUME_GB = 30


def job_name_prefix(config: AppConfig) -> str:
    # Training job ARNs carry the name in lower case; a lower-case prefix keeps the IAM resource pattern exact.
    return config.project_name.lower()


class TrainingJob(Construct):
    """Trains the built-in algorithm on the uploaded dataset and gates it on min_validation_accuracy;
    `model_data_url`, `model_artifact_key`, `job_name`, `validation_accuracy` are deploy-time tokens."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        bucket: s3.IBucket,
        dataset: DatasetSource,
        channel_uris: Mapping[str, str],
        image: AlgorithmImage,
        data_uploads: Sequence[IDependable],
    ) -> None:
        super().__init__(scope, construct_id)
        prefix = job_name_prefix(config)
        self.role = self._execution_role(bucket, image)
        provider = self._provider(config, prefix)

        # The settings' hyperparameters are checked against the algorithm's reference and rendered as it documents
        # them (stacks/algorithm.py); the two it requires besides come from the dataset manifest.
        hyperparameters = {
            **config.training_hyperparameters,
            "num_classes": str(dataset.manifest.num_classes),
            "num_training_samples": str(dataset.manifest.num_training_samples),
        }
        # What the registry records with the version, besides the job's outcome.
        self.hyperparameters = dict(sorted(hyperparameters.items()))
        self.dataset_content_hash = dataset.manifest.content_hash
        resource = CustomResource(
            self,
            "Resource",
            service_token=provider.service_token,
            resource_type="Custom::SageMakerTrainingJob",
            service_timeout=CUSTOM_RESOURCE_TIMEOUT,
            # CloudFormation hands every scalar to the handler as a string, so they are strings here already.
            properties={
                "JobNamePrefix": prefix,
                "TrainingImage": image.image_uri,
                "RoleArn": self.role.role_arn,
                "DatasetContentHash": self.dataset_content_hash,
                "DatasetSynthetic": "true" if dataset.is_demo else "false",
                "Hyperparameters": self.hyperparameters,
                "Channels": dict(channel_uris),
                "OutputPath": f"s3://{bucket.bucket_name}/{MODEL_ARTIFACTS_PREFIX}",
                "InstanceType": config.training_instance_type,
                "InstanceCount": str(config.training_instance_count),
                "VolumeSizeGb": str(TRAINING_VOLUME_GB),
                "UseSpotTraining": "true" if config.use_spot_training else "false",
                "MaxRuntimeSeconds": str(config.training_max_runtime_minutes * 60),
                # Spot: waiting for capacity plus training may use the whole training budget, never more.
                "MaxWaitSeconds": str(MAX_TRAINING_MINUTES * 60),
                # Not hashed: a new bar re-checks the current job (the Update re-runs is_complete), never retrains.
                "MinValidationAccuracy": str(config.min_validation_accuracy),
            },
        )
        # The data must be in place, and the role able to read it, before the job starts.
        resource.node.add_dependency(self.role.node.find_child("DefaultPolicy"), *data_uploads)
        self.model_data_url: str = resource.get_att_string("ModelArtifactUrl")
        self.model_artifact_key: str = resource.get_att_string("ModelArtifactKey")
        self.job_name: str = resource.get_att_string("TrainingJobName")
        # Only a job that passed the gate has it; the registry records it with the version.
        self.validation_accuracy: str = resource.get_att_string("ValidationAccuracy")

    def _execution_role(self, bucket: s3.IBucket, image: AlgorithmImage) -> iam.Role:
        role = sagemaker_execution_role(
            self,
            "ExecutionRole",
            description="SageMaker training job: reads dataset/, writes model-artifacts/",
            image=image,
            log_group_name="/aws/sagemaker/TrainingJobs",
            metric_namespace="/aws/sagemaker/TrainingJobs",
        )
        role.add_to_policy(on_objects(bucket, DATASET_PREFIX, "s3:GetObject"))
        role.add_to_policy(list_prefix(bucket, DATASET_PREFIX))
        role.add_to_policy(
            on_objects(bucket, MODEL_ARTIFACTS_PREFIX, "s3:PutObject", "s3:AbortMultipartUpload")
        )
        acknowledge_wildcard_resources(
            role,
            {
                f"/{DATASET_PREFIX}*": "The job reads every image and .lst file of the four channels under dataset/.",
                f"/{MODEL_ARTIFACTS_PREFIX}*": "SageMaker writes <job>/output/model.tar.gz; jobs are named at deploy.",
                "/aws/sagemaker/TrainingJobs:*": "SageMaker writes one log stream per job in its TrainingJobs group.",
            },
        )
        return role

    def _provider(self, config: AppConfig, prefix: str) -> cr.Provider:
        handler_role = self._handler_role(prefix)
        options = handler_options(self, config, handler_role, "training_job")
        on_event = lambda_.Function(
            self, "OnEvent", handler="app.on_event", description="Starts and stops SageMaker training jobs",
            **options,
        )  # fmt: skip
        is_complete = lambda_.Function(
            self, "IsComplete", handler="app.is_complete",
            description="Polls SageMaker training jobs and gates them on validation accuracy",
            environment={"STOP_AFTER_SECONDS": str(int(STOP_AFTER.to_seconds()))}, **options,
        )  # fmt: skip
        acknowledge_wildcard_resources(
            handler_role,
            {
                f":training-job/{prefix}-*": (
                    "Job names are content hashes computed at deploy time; the ARN is pinned to this project's prefix."
                ),
                ":*": "Log streams of the handlers' own log group.",
            },
        )
        return provider(
            self,
            config=config,
            on_event=on_event,
            is_complete=is_complete,
            query_interval=QUERY_INTERVAL,
            total_timeout=PROVIDER_TOTAL_TIMEOUT,
        )

    def _handler_role(self, prefix: str) -> iam.Role:
        """May create, describe and stop only this project's jobs, and pass only the execution role."""
        handler_role = iam.Role(
            self,
            "HandlerRole",
            assumed_by=LAMBDA_PRINCIPAL,
            description="Training-job custom resource handlers: create, describe and stop this project's jobs",
        )
        jobs = Stack.of(self).format_arn(
            service="sagemaker", resource="training-job", resource_name=f"{prefix}-*"
        )
        actions = [f"sagemaker:{verb}TrainingJob" for verb in ("Create", "Describe", "Stop")]
        handler_role.add_to_policy(iam.PolicyStatement(actions=actions, resources=[jobs]))
        handler_role.add_to_policy(
            iam.PolicyStatement(
                actions=["iam:PassRole"],
                resources=[self.role.role_arn],
                conditions={"StringEquals": {"iam:PassedToService": SAGEMAKER_PRINCIPAL}},
            )
        )
        return handler_role

"""Training and serving: dataset upload, training job (unless a model is brought), model, endpoint."""

from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks import names
from stacks.config import AppConfig
from stacks.constructs.alarms import AlarmTopic
from stacks.constructs.algorithm_image import AlgorithmImage
from stacks.constructs.dataset_upload import DatasetUpload
from stacks.constructs.log_group import project_log_group
from stacks.constructs.model_registry import ModelRegistry
from stacks.constructs.serving import ModelEndpoint
from stacks.constructs.training_job import TrainingJob
from stacks.dataset_source import DatasetSource
from stacks.refs import AlarmsRef, EndpointRef, ModelRef


class ModelStack(Stack):
    """Trains, gates and registers a model, then serves that version; with `model_version` it serves an earlier
    registered version, with `model_data_url` a brought artifact, and trains nothing."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        bucket: s3.IBucket,
        dataset: DatasetSource,
        **kwargs,
    ) -> None:
        super().__init__(scope, construct_id, **kwargs)
        image = AlgorithmImage(self, "AlgorithmImage")
        upload = DatasetUpload(
            self,
            "Dataset",
            bucket=bucket,
            dataset=dataset,
            log_group=project_log_group(self, "UploadLogs", config=config),
        )

        registry = ModelRegistry(self, "Registry", config=config)
        model_package_arn = None
        if config.model_data_url:
            # A brought artifact stays unregistered: there is no validation accuracy to gate it on.
            model_data_url = config.model_data_url
            model_data_arn = _s3_object_arn(self, config.model_data_url)
        else:
            if config.trains:
                training = TrainingJob(
                    self,
                    "Training",
                    config=config,
                    bucket=bucket,
                    dataset=dataset,
                    channel_uris=upload.channel_uris,
                    image=image,
                    data_uploads=upload.deployments,
                )
                CfnOutput(self, "TrainingJobName", value=training.job_name)
                version = registry.register(training, image)
            else:
                version = registry.lookup(config.model_version)
            model_data_url, model_package_arn = version.model_data_url, version.package_arn
            # The serving role reads exactly the served version's artifact; every version was trained into this bucket.
            model_data_arn = bucket.arn_for_objects(version.model_data_key)
            CfnOutput(
                self, "ModelPackageArn", value=model_package_arn, description="The registered version served"
            )

        # Every alarm's topic lives here, with the endpoint's rollback alarms: the Monitoring stack comes later.
        alarm_topic = AlarmTopic(self, "AlarmTopic", config=config).topic
        serving = ModelEndpoint(
            self,
            "Serving",
            config=config,
            bucket=bucket,
            image=image,
            model_data_url=model_data_url,
            model_data_arn=model_data_arn,
            model_package_arn=model_package_arn,
            alarm_topic=alarm_topic,
        )
        self.endpoint: EndpointRef = serving.endpoint
        self.model: ModelRef = serving.model
        self.alarms = AlarmsRef(
            topic_arn=alarm_topic.topic_arn,
            endpoint_alarm_arns=tuple(alarm.alarm_arn for alarm in serving.alarms.alarms.values()),
        )
        for output_id, value, description in (
            (names.ENDPOINT_NAME_OUTPUT, self.endpoint.name, "SageMaker endpoint the workflow calls"),
            (
                names.MODEL_NAME_OUTPUT,
                self.model.name,
                "SageMaker model the endpoint serves and Batch Transform jobs run",
            ),
            ("ModelDataUrl", model_data_url, "The model.tar.gz being served"),
            ("DatasetSource", dataset.describe(), "The dataset this deploy uploads"),
            (
                "AlarmTopicArn",
                alarm_topic.topic_arn,
                "SNS topic every alarm notifies (subscribe with -c alarm_email=... or aws sns subscribe)",
            ),
        ):
            CfnOutput(self, output_id, value=value, description=description)


def _s3_object_arn(stack: Stack, url: str) -> str:
    bucket_name, key = url.removeprefix("s3://").split("/", 1)
    return stack.format_arn(service="s3", region="", account="", resource=bucket_name, resource_name=key)

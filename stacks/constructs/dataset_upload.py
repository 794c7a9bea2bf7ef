"""Uploads a prepared dataset into the four S3 channels the image-classification algorithm reads."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from constructs import Construct

from stacks.dataset_source import DatasetSource
from stacks.nag import acknowledge_wildcard_resources, acknowledge_wildcards
from stacks.s3_layout import (
    TRAIN_CHANNEL_PREFIX,
    TRAIN_LST_CHANNEL_PREFIX,
    VALIDATION_CHANNEL_PREFIX,
    VALIDATION_LST_CHANNEL_PREFIX,
)

IMAGE_CONTENT_TYPE = "application/x-image"
# Unzipping and syncing thousands of small PNGs is CPU-bound; 1 GB also buys the CPU share to do it quickly.
UPLOAD_MEMORY_MB = 1024


class DatasetUpload(Construct):
    """One pruning BucketDeployment per channel, so a channel holds exactly one split; test is `validation`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        bucket: s3.IBucket,
        dataset: DatasetSource,
        log_group: logs.ILogGroup,
    ) -> None:
        super().__init__(scope, construct_id)
        Source = s3_deployment.Source
        lst = {split: dataset.lst_file(split).read_text(encoding="utf-8") for split in ("train", "test")}
        sources = {
            "train": (TRAIN_CHANNEL_PREFIX, Source.asset(str(dataset.images_dir("train")))),
            "validation": (VALIDATION_CHANNEL_PREFIX, Source.asset(str(dataset.images_dir("test")))),
            "train_lst": (TRAIN_LST_CHANNEL_PREFIX, Source.data("train.lst", lst["train"])),
            "validation_lst": (VALIDATION_LST_CHANNEL_PREFIX, Source.data("validation.lst", lst["test"])),
        }
        # Own role: log writes go to the given group instead of the AWSLambdaBasicExecutionRole managed policy.
        role = iam.Role(
            self,
            "UploadRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="BucketDeployment handler: copies the dataset from the CDK asset bucket to dataset/",
        )
        log_group.grant_write(role)
        self.channel_uris: dict[str, str] = {}
        self.deployments: list[s3_deployment.BucketDeployment] = []
        for channel, (prefix, source) in sources.items():
            is_images = not channel.endswith("_lst")
            deployment = s3_deployment.BucketDeployment(
                self,
                f"{channel.title().replace('_', '')}Channel",
                destination_bucket=bucket,
                destination_key_prefix=prefix,
                sources=[source],
                content_type=IMAGE_CONTENT_TYPE if is_images else "text/plain",
                prune=True,
                memory_limit=UPLOAD_MEMORY_MB,
                log_group=log_group,
                role=role,
            )
            self.deployments.append(deployment)
            self.channel_uris[channel] = f"s3://{bucket.bucket_name}/{prefix}"
        self._acknowledge(role)

    def _acknowledge(self, role: iam.Role) -> None:
        # BucketDeployment writes these grants itself: read the staged asset zip, sync into the prefix and prune.
        acknowledge_wildcards(
            role,
            reason="BucketDeployment's own grant for copying and pruning with `aws s3 sync`.",
            actions=["s3:GetBucket*", "s3:GetObject*", "s3:List*", "s3:Abort*", "s3:DeleteObject*"],
        )
        acknowledge_wildcard_resources(
            role,
            {
                "/*": (
                    "BucketDeployment grants object access on the CDK asset bucket (to read the staged zip) and the "
                    "project bucket; every deployment here writes under dataset/ only."
                ),
                ":*": "Log streams of the upload handler's own log group.",
            },
        )
        for child in Stack.of(self).node.children:
            if child.node.id.startswith("Custom::CDKBucketDeployment"):
                Validations.of(child).acknowledge(
                    Acknowledgment(
                        id="AwsSolutions-L1",
                        reason="BucketDeployment picks its handler's Python runtime; it is not configurable.",
                    )
                )

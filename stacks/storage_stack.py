"""Stateful storage: the project bucket (dataset, model artifacts, data capture) and its access-log bucket."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Aws, CfnOutput, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_s3 as s3
from constructs import Construct

from stacks import names, s3_layout
from stacks.config import AppConfig
from stacks.s3_layout import DATA_CAPTURE_PREFIX


class HardenedBucket(Construct):
    """A private, TLS-only, encrypted, versioned bucket; the building block of every bucket here."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        retain: bool,
        bucket_name: str | None = None,
        server_access_logs_bucket: s3.IBucket | None = None,
        server_access_logs_prefix: str | None = None,
        lifecycle_rules: list[s3.LifecycleRule] | None = None,
        event_bridge_enabled: bool = False,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            bucket_name=bucket_name,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            server_access_logs_bucket=server_access_logs_bucket,
            server_access_logs_prefix=server_access_logs_prefix,
            lifecycle_rules=[
                # Versioning keeps overwritten objects recoverable for a while, not forever.
                s3.LifecycleRule(id="ExpireOldVersions", noncurrent_version_expiration=Duration.days(30)),
                s3.LifecycleRule(
                    id="AbortIncompleteUploads", abort_incomplete_multipart_upload_after=Duration.days(1)
                ),
                *(lifecycle_rules or []),
            ],
            removal_policy=RemovalPolicy.RETAIN if retain else RemovalPolicy.DESTROY,
            auto_delete_objects=not retain,
        )
        if event_bridge_enabled:
            # The CloudFormation property, not the L2's event_bridge_enabled, which adds a notifications custom
            # resource (a Lambda allowed s3:PutBucketNotification on *) for what one property does
            # (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-s3-bucket-eventbridgeconfiguration.html).
            cfn_bucket = self.bucket.node.default_child
            cfn_bucket.notification_configuration = s3.CfnBucket.NotificationConfigurationProperty(
                event_bridge_configuration=s3.CfnBucket.EventBridgeConfigurationProperty(
                    event_bridge_enabled=True
                )
            )


class StorageStack(Stack):
    """The data that outlives any model; the project bucket's derived name lets operators find it without a lookup."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig, **kwargs) -> None:
        super().__init__(scope, construct_id, **kwargs)
        access_logs = HardenedBucket(self, "AccessLogs", retain=config.retain_data)
        Validations.of(access_logs.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="This is the access-log bucket itself; logging it into itself would loop.",
            )
        )
        project = HardenedBucket(
            self,
            "Project",
            retain=config.retain_data,
            bucket_name=project_bucket_name(config),
            server_access_logs_bucket=access_logs.bucket,
            server_access_logs_prefix="project-bucket/",
            # The intake rule's source (docs/OPERATIONS.md, "Intake"): S3 then sends every event of the bucket.
            event_bridge_enabled=bool(config.intake_prefix),
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="ExpireDataCapture",
                    prefix=DATA_CAPTURE_PREFIX,
                    expiration=Duration.days(config.capture_retention_days),
                )
            ],
        )
        self.bucket: s3.IBucket = project.bucket
        CfnOutput(
            self, names.BUCKET_NAME_OUTPUT, value=self.bucket.bucket_name, description="The project bucket"
        )


def project_bucket_name(config: AppConfig) -> str:
    return s3_layout.project_bucket_name(config.project_name, Aws.ACCOUNT_ID, Aws.REGION)

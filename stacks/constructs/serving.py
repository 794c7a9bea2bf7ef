"""Serving: SageMaker model, endpoint config with data capture, and a real-time endpoint."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct

from stacks.algorithm import has_local_storage
from stacks.config import AppConfig
from stacks.constructs.algorithm_image import AlgorithmImage
from stacks.constructs.sagemaker_role import sagemaker_execution_role
from stacks.nag import acknowledge_wildcard_resources
from stacks.refs import EndpointRef, ModelRef
from stacks.s3_layout import DATA_CAPTURE_PREFIX

VARIANT_NAME = "AllTraffic"
# The classifier's responses are JSON; listing the type makes capture store them as text ("encoding": "JSON")
# instead of base64. Request bodies (images) are captured base64-encoded, as docs/CONTRACTS.md expects.
CAPTURED_JSON_CONTENT_TYPES = ["application/json"]


class ModelEndpoint(Construct):
    """Serves a model.tar.gz of the built-in algorithm on a real-time endpoint and captures its traffic.

    Model -> EndpointConfig -> Endpoint are chained through their generated names, so a new artifact
    replaces model and config and updates the endpoint in place. Attributes: `endpoint` (EndpointRef),
    `role` (the SageMaker execution role), `capture_key` (the KMS key of captured data, and of the ML
    volume unless the instance type has local storage).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        bucket: s3.IBucket,
        image: AlgorithmImage,
        model_data_url: str,
        model_data_arn: str,
    ) -> None:
        super().__init__(scope, construct_id)
        self.capture_key = self._capture_key(config)
        self.role = self._execution_role(bucket, image, model_data_arn)
        model = self._model(image, model_data_url)
        self.model = ModelRef(name=model.attr_model_name, execution_role_name=self.role.role_name)
        endpoint_config = self._endpoint_config(config, bucket, model)
        endpoint = sagemaker.CfnEndpoint(
            self, "Endpoint", endpoint_config_name=endpoint_config.attr_endpoint_config_name
        )
        # Ref of an AWS::SageMaker::Endpoint is its ARN.
        self.endpoint = EndpointRef(name=endpoint.attr_endpoint_name, arn=endpoint.ref)

    def _capture_key(self, config: AppConfig) -> kms.Key:
        return kms.Key(
            self,
            "CaptureKey",
            description=(
                "Encrypts the endpoint's captured requests/responses (its instances encrypt their local storage)"
                if has_local_storage(config.endpoint_instance_type)
                else "Encrypts the endpoint's captured requests/responses and its ML storage volume"
            ),
            enable_key_rotation=True,
            # Retained data capture must stay readable, so the key lives as long as the bucket does.
            removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )

    def _execution_role(self, bucket: s3.IBucket, image: AlgorithmImage, model_data_arn: str) -> iam.Role:
        """Reads exactly the served artifact, writes data_capture/ and encrypts what it writes there."""
        role = sagemaker_execution_role(
            self,
            "ExecutionRole",
            description="SageMaker model and endpoint: reads the model artifact, writes data_capture/",
            image=image,
            log_group_name="/aws/sagemaker/Endpoints/*",
            metric_namespace="/aws/sagemaker/Endpoints",
        )
        role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[model_data_arn]))
        role.add_to_policy(
            iam.PolicyStatement(
                actions=["s3:PutObject"], resources=[bucket.arn_for_objects(f"{DATA_CAPTURE_PREFIX}*")]
            )
        )
        self.capture_key.grant(role, "kms:Encrypt", "kms:GenerateDataKey")
        acknowledge_wildcard_resources(
            role,
            {
                f"/{DATA_CAPTURE_PREFIX}*": "SageMaker chooses the capture file keys under data_capture/<endpoint>/.",
                "/aws/sagemaker/Endpoints/*:*": "SageMaker names the endpoint's log group after the generated name.",
            },
        )
        return role

    def _model(self, image: AlgorithmImage, model_data_url: str) -> sagemaker.CfnModel:
        model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            primary_container=sagemaker.CfnModel.ContainerDefinitionProperty(
                image=image.image_uri, model_data_url=model_data_url
            ),
        )
        # SageMaker checks at CreateModel that the role can read the artifact: its policy must exist first.
        model.node.add_dependency(self.role.node.find_child("DefaultPolicy"))
        return model

    def _endpoint_config(
        self, config: AppConfig, bucket: s3.IBucket, model: sagemaker.CfnModel
    ) -> sagemaker.CfnEndpointConfig:
        return sagemaker.CfnEndpointConfig(
            self,
            "EndpointConfig",
            kms_key_id=self._volume_key_arn(config.endpoint_instance_type),
            production_variants=[
                sagemaker.CfnEndpointConfig.ProductionVariantProperty(
                    variant_name=VARIANT_NAME,
                    model_name=model.attr_model_name,
                    instance_type=config.endpoint_instance_type,
                    initial_instance_count=config.endpoint_instance_count,
                    initial_variant_weight=1.0,
                )
            ],
            data_capture_config=self._data_capture(config, bucket),
        )

    def _volume_key_arn(self, instance_type: str) -> str | None:
        """The ML storage volume's key, left out on instance types with local NVMe storage: CreateEndpointConfig
        refuses a KmsKeyId for them, as a hardware module on the instance encrypts that storage itself
        (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html, KmsKeyId;
        the families are listed in stacks/algorithm.py)."""
        return None if has_local_storage(instance_type) else self.capture_key.key_arn

    def _data_capture(
        self, config: AppConfig, bucket: s3.IBucket
    ) -> sagemaker.CfnEndpointConfig.DataCaptureConfigProperty:
        # This key encrypts the capture files SageMaker writes to S3, on every instance type.
        return sagemaker.CfnEndpointConfig.DataCaptureConfigProperty(
            enable_capture=True,
            initial_sampling_percentage=config.capture_sampling_percentage,
            destination_s3_uri=f"s3://{bucket.bucket_name}/{DATA_CAPTURE_PREFIX.rstrip('/')}",
            kms_key_id=self.capture_key.key_arn,
            capture_options=[
                sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Input"),
                sagemaker.CfnEndpointConfig.CaptureOptionProperty(capture_mode="Output"),
            ],
            capture_content_type_header=sagemaker.CfnEndpointConfig.CaptureContentTypeHeaderProperty(
                json_content_types=CAPTURED_JSON_CONTENT_TYPES
            ),
        )

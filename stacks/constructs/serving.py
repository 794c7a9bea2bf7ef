"""Serving: SageMaker model, endpoint config (data capture unless turned off), a real-time or serverless endpoint."""

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
from stacks.constructs.endpoint_scaling import EndpointAutoscaling
from stacks.constructs.grants import on_objects
from stacks.constructs.sagemaker_role import sagemaker_execution_role
from stacks.nag import acknowledge_wildcard_resources
from stacks.refs import EndpointRef, ModelRef
from stacks.s3_layout import DATA_CAPTURE_PREFIX

VARIANT_NAME = "AllTraffic"
# The classifier's responses are JSON; listing the type makes capture store them as text ("encoding": "JSON")
# instead of base64. Request bodies (images) are captured base64-encoded, as docs/CONTRACTS.md expects.
CAPTURED_JSON_CONTENT_TYPES = ["application/json"]
Cfn = sagemaker.CfnEndpointConfig


class ModelEndpoint(Construct):
    """Model -> EndpointConfig -> Endpoint chained by generated names: a new artifact replaces model and config and
    updates the endpoint in place. `capture_key` encrypts capture and the ML volume; None if nothing to encrypt."""

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
        model_package_arn: str | None,
    ) -> None:
        super().__init__(scope, construct_id)
        # The ML volume's key (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html,
        # KmsKeyId) is refused on instance types with local NVMe storage (stacks/algorithm.py), moot on serverless.
        volume_key = config.endpoint_mode == "realtime" and not has_local_storage(
            config.endpoint_instance_type
        )
        capture = config.data_capture_enabled
        self.capture_key = None
        if capture or volume_key:
            self.capture_key = kms.Key(
                self,
                "CaptureKey",
                description=_key_description(capture=capture, volume_key=volume_key),
                enable_key_rotation=True,
                # Retained data capture must stay readable, so the key lives as long as the bucket does.
                removal_policy=RemovalPolicy.RETAIN if config.retain_data else RemovalPolicy.DESTROY,
                pending_window=Duration.days(7),
            )
        self.role = self._execution_role(capture, bucket, image, model_data_arn)
        model = sagemaker.CfnModel(
            self,
            "Model",
            execution_role_arn=self.role.role_arn,
            primary_container=_container(image, model_data_url, model_package_arn),
        )
        # SageMaker checks at CreateModel that the role can read the artifact: its policy must exist first.
        model.node.add_dependency(self.role.node.find_child("DefaultPolicy"))
        self.model = ModelRef(name=model.attr_model_name, execution_role_name=self.role.role_name)
        # A serverless variant has a ServerlessConfig instead of an instance type and count
        # (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariant.html).
        serverless = config.endpoint_mode == "serverless"
        variant = Cfn.ProductionVariantProperty(
            variant_name=VARIANT_NAME,
            model_name=model.attr_model_name,
            instance_type=None if serverless else config.endpoint_instance_type,
            initial_instance_count=None if serverless else config.endpoint_instance_count,
            initial_variant_weight=1.0,
            serverless_config=Cfn.ServerlessConfigProperty(
                memory_size_in_mb=config.serverless_memory_mb,
                max_concurrency=config.serverless_max_concurrency,
            )
            if serverless
            else None,
        )
        endpoint_config = Cfn(
            self,
            "EndpointConfig",
            kms_key_id=self.capture_key.key_arn if volume_key else None,
            production_variants=[variant],
            data_capture_config=self._data_capture(config, bucket) if capture else None,
        )
        # One logical id per mode: SageMaker refuses to update real-time to serverless, so a switch replaces the
        # endpoint (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html).
        endpoint = sagemaker.CfnEndpoint(
            self,
            "ServerlessEndpoint" if serverless else "Endpoint",
            endpoint_config_name=endpoint_config.attr_endpoint_config_name,
        )
        # Ref of an AWS::SageMaker::Endpoint is its ARN.
        self.endpoint = EndpointRef(name=endpoint.attr_endpoint_name, arn=endpoint.ref)
        if config.autoscaling_enabled:
            self._autoscale(config, endpoint)

    def _execution_role(
        self, capture: bool, bucket: s3.IBucket, image: AlgorithmImage, model_data_arn: str
    ) -> iam.Role:
        """Reads exactly the served artifact, writes data_capture/ and may use the key (CreateEndpointConfig, KmsKeyId:
        the role "must include permissions to call kms:Encrypt")."""
        role = sagemaker_execution_role(
            self,
            "ExecutionRole",
            description="SageMaker model and endpoint: reads the model artifact, writes data_capture/",
            image=image,
            log_group_name="/aws/sagemaker/Endpoints/*",
            metric_namespace="/aws/sagemaker/Endpoints",
        )
        role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[model_data_arn]))
        reasons = {
            "/aws/sagemaker/Endpoints/*:*": "SageMaker names the endpoint's log group after the generated name."
        }
        if capture:
            role.add_to_policy(on_objects(bucket, DATA_CAPTURE_PREFIX, "s3:PutObject"))
            reasons[f"/{DATA_CAPTURE_PREFIX}*"] = (
                "SageMaker chooses the capture file keys under data_capture/<endpoint>/."
            )
        if self.capture_key is not None:
            self.capture_key.grant(role, "kms:Encrypt", "kms:GenerateDataKey")
        acknowledge_wildcard_resources(role, reasons)
        return role

    def _autoscale(self, config: AppConfig, endpoint: sagemaker.CfnEndpoint) -> None:
        """A deploy keeps the count scaling reached (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-scaling-update.html)
        but takes weight and capture from the new config (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_UpdateEndpoint.html)."""
        endpoint.retain_all_variant_properties = True
        endpoint.exclude_retained_variant_properties = [
            sagemaker.CfnEndpoint.VariantPropertyProperty(variant_property_type=property_type)
            for property_type in ("DesiredWeight", "DataCaptureConfig")
        ]
        EndpointAutoscaling(
            self,
            "Autoscaling",
            endpoint_name=self.endpoint.name,
            variant_name=VARIANT_NAME,
            min_instances=config.autoscaling_min_instances,
            max_instances=config.autoscaling_max_instances,
            target_invocations_per_instance=config.autoscaling_target_invocations,
        )

    def _data_capture(self, config: AppConfig, bucket: s3.IBucket) -> Cfn.DataCaptureConfigProperty:
        # This key encrypts the capture files SageMaker writes to S3, on every instance type.
        return Cfn.DataCaptureConfigProperty(
            enable_capture=True,
            initial_sampling_percentage=config.capture_sampling_percentage,
            destination_s3_uri=f"s3://{bucket.bucket_name}/{DATA_CAPTURE_PREFIX.rstrip('/')}",
            kms_key_id=self.capture_key.key_arn,
            capture_options=[Cfn.CaptureOptionProperty(capture_mode=mode) for mode in ("Input", "Output")],
            capture_content_type_header=Cfn.CaptureContentTypeHeaderProperty(
                json_content_types=CAPTURED_JSON_CONTENT_TYPES
            ),
        )


def _container(
    image: AlgorithmImage, model_data_url: str, model_package_arn: str | None
) -> sagemaker.CfnModel.ContainerDefinitionProperty:
    """A registered version by its package (image and artifact come from it), else a brought artifact as it is
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html, ModelPackageName)."""
    if model_package_arn is not None:
        return sagemaker.CfnModel.ContainerDefinitionProperty(model_package_name=model_package_arn)
    return sagemaker.CfnModel.ContainerDefinitionProperty(
        image=image.image_uri, model_data_url=model_data_url
    )


def _key_description(*, capture: bool, volume_key: bool) -> str:
    if not capture:
        return "Encrypts the endpoint's ML storage volume (data capture is off)"
    if volume_key:
        return "Encrypts the endpoint's captured requests/responses and its ML storage volume"
    return "Encrypts the endpoint's captured requests/responses (its instances encrypt their local storage)"

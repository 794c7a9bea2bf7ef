"""Serving: SageMaker model, endpoint config (data capture unless turned off), a real-time or serverless endpoint."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from aws_cdk import aws_sns as sns
from constructs import Construct

from stacks.algorithm import has_local_storage
from stacks.config import AppConfig
from stacks.constructs.alarms import EndpointAlarms
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
Deploy = sagemaker.CfnEndpoint
# SageMaker's time to start the new fleet and load the model, on top of the baking: a design bound, not an AWS limit.
# The deployment's timeout stays within MaximumExecutionTimeoutInSeconds' 600..28800 s (API_BlueGreenUpdatePolicy) and
# the 970 minutes CloudFormation gives an endpoint update (the resource schema cfn-lint bundles, handlers.update).
FLEET_START_SECONDS = 3600


class ModelEndpoint(Construct):
    """Model -> EndpointConfig -> Endpoint chained by generated names (the endpoint's is fixed per mode): a new artifact
    replaces model and config and updates the endpoint in place, blue/green behind its rollback alarms. `capture_key`
    encrypts capture and the ML volume; None if nothing to encrypt."""

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
        alarm_topic: sns.ITopic,
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
        name = endpoint_name(config.project_name, config.endpoint_mode)
        self.role = self._execution_role(capture, bucket, image, model_data_arn, name)
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
        # The rollback alarms name the endpoint and it names them: a fixed name lets them come first (docs/DESIGN.md).
        self.alarms = EndpointAlarms(
            self, "Alarms", config=config, endpoint_name=name, variant_name=VARIANT_NAME, topic=alarm_topic
        )
        # One logical id and name per mode: SageMaker refuses to update real-time to serverless, so a switch replaces
        # the endpoint (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html) under a new name.
        # EndpointName is its only create-only property. The ids are new with the fixed names, so a deployed endpoint
        # is replaced under a new id and the consumers' weak references, named after the id, change with it.
        endpoint = sagemaker.CfnEndpoint(
            self,
            f"Endpoint{config.endpoint_mode.title()}",
            endpoint_name=name,
            endpoint_config_name=endpoint_config.attr_endpoint_config_name,
            deployment_config=deployment_config(
                config, alarms=list(self.alarms.alarms.values()), window=self.alarms.evaluation_window
            ),
        )
        # SageMaker reads the rollback alarms as the execution role: "Ensure that your IAM execution role has
        # permission to perform the cloudwatch:DescribeAlarms action on the auto-rollback alarms you specify"
        # (https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-configuration.html).
        self.role.add_to_policy(
            iam.PolicyStatement(
                actions=["cloudwatch:DescribeAlarms"],
                resources=[alarm.alarm_arn for alarm in self.alarms.alarms.values()],
            )
        )
        # Ref of an AWS::SageMaker::Endpoint is its ARN.
        self.endpoint = EndpointRef(name=endpoint.attr_endpoint_name, arn=endpoint.ref)
        if config.autoscaling_enabled:
            self._autoscale(config, endpoint)

    def _execution_role(
        self, capture: bool, bucket: s3.IBucket, image: AlgorithmImage, model_data_arn: str, name: str
    ) -> iam.Role:
        """Reads exactly the served artifact, writes data_capture/ and may use the key (CreateEndpointConfig, KmsKeyId:
        the role "must include permissions to call kms:Encrypt")."""
        role = sagemaker_execution_role(
            self,
            "ExecutionRole",
            description="SageMaker model and endpoint: reads the model artifact, writes data_capture/",
            image=image,
            log_group_name=f"/aws/sagemaker/Endpoints/{name}",
            metric_namespace="/aws/sagemaker/Endpoints",
        )
        role.add_to_policy(iam.PolicyStatement(actions=["s3:GetObject"], resources=[model_data_arn]))
        reasons = {
            f"/aws/sagemaker/Endpoints/{name}:*": "SageMaker names the streams of the endpoint's log group."
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


def endpoint_name(project_name: str, mode: str) -> str:
    """The endpoint's fixed name, one per endpoint_mode (project_name's pattern keeps it within EndpointName's)."""
    return f"{project_name}-{mode}"


def fewest_instances(config: AppConfig) -> int:
    """The fewest instances the variant has when an update starts: autoscaling keeps it at or above its minimum, and
    a scaled endpoint's update keeps the count it reached (RetainAllVariantProperties, see _autoscale)."""
    return config.autoscaling_min_instances if config.autoscaling_enabled else config.endpoint_instance_count


def deployment_config(
    config: AppConfig, *, alarms: list[cw.IAlarm], window: Duration
) -> Deploy.DeploymentConfigProperty:
    """Blue/green, rolled back on `alarms`, baked for `window` (their evaluation span) at every step
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DeploymentConfig.html; bounds:
    https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_BlueGreenUpdatePolicy.html). The why is in
    docs/OPERATIONS.md, "Rolling out a new model".

    A canary of one instance when the variant always has two or more: CanarySize "must be less than or equal to 50% of
    the variant's total instance count" (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_TrafficRoutingConfig.html,
    https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green-canary.html). Otherwise, and on
    serverless (no instances to size a canary by; only rolling deployments exclude serverless:
    https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-exclusions.html), all at once, baked by
    TerminationWaitInSeconds (https://docs.aws.amazon.com/sagemaker/latest/dg/deployment-guardrails-blue-green-all-at-once.html)."""
    bake = int(window.to_seconds())
    if config.endpoint_mode == "realtime" and fewest_instances(config) >= 2:
        routing = Deploy.TrafficRoutingConfigProperty(
            type="CANARY",
            canary_size=Deploy.CapacitySizeProperty(type="INSTANCE_COUNT", value=1),
            wait_interval_in_seconds=bake,
        )
        baked = 2 * bake
    else:
        # The API requires WaitIntervalInSeconds (botocore's TrafficRoutingConfig); all at once has no step to wait.
        routing = Deploy.TrafficRoutingConfigProperty(type="ALL_AT_ONCE", wait_interval_in_seconds=0)
        baked = bake
    return Deploy.DeploymentConfigProperty(
        blue_green_update_policy=Deploy.BlueGreenUpdatePolicyProperty(
            traffic_routing_configuration=routing,
            termination_wait_in_seconds=bake,
            maximum_execution_timeout_in_seconds=baked + FLEET_START_SECONDS,
        ),
        # https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_AutoRollbackConfig.html
        auto_rollback_configuration=Deploy.AutoRollbackConfigProperty(
            alarms=[Deploy.AlarmProperty(alarm_name=alarm.alarm_name) for alarm in alarms]
        ),
    )


def _key_description(*, capture: bool, volume_key: bool) -> str:
    if not capture:
        return "Encrypts the endpoint's ML storage volume (data capture is off)"
    if volume_key:
        return "Encrypts the endpoint's captured requests/responses and its ML storage volume"
    return "Encrypts the endpoint's captured requests/responses (its instances encrypt their local storage)"

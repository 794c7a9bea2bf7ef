"""The alarm topic (KMS-encrypted, TLS-only) and the five alarms on it, every threshold from the config: the endpoint's
two that its deployments roll back on (Model stack), and the workflow's three (Monitoring stack)."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cloudwatch as cw
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from stacks import names
from stacks.config import ALARM_PERIOD_MINUTES, AppConfig
from stacks.constructs.workflow_metrics import (
    MICROSECONDS_PER_MILLISECOND,
    PERIOD,
    WorkflowMetrics,
    endpoint_metric,
)

# A period shorter than this would miss the idle endpoint's hours; SageMaker publishes every minute.
IDLE_PERIOD = Duration.hours(1)
# Latency: p90 above the bound in 2 of the last 3 periods, so one slow burst does not page anyone.
LATENCY_EVALUATION_PERIODS = 3
LATENCY_DATAPOINTS_TO_ALARM = 2


class AlarmTopic(Construct):
    """Customer-managed key: CloudWatch publishes to an encrypted topic only if the key policy lets it, which aws/sns's
    cannot (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services).
    `enforce_ssl` denies any publish without aws:SecureTransport (cdk-nag SNS3)."""

    def __init__(self, scope: Construct, construct_id: str, *, config: AppConfig) -> None:
        super().__init__(scope, construct_id)
        account = Stack.of(self).account
        from_this_account = {"StringEquals": {"aws:SourceAccount": account}}
        cloudwatch = iam.ServicePrincipal("cloudwatch.amazonaws.com")
        key = kms.Key(
            self,
            "Key",
            description=f"{config.project_name} alarm notifications",
            enable_key_rotation=True,
            removal_policy=RemovalPolicy.DESTROY,
            pending_window=Duration.days(7),
        )
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsEncryptNotifications",
                principals=[cloudwatch],
                actions=["kms:Decrypt", "kms:GenerateDataKey*"],
                resources=["*"],
                conditions=from_this_account,
            )
        )
        self.topic = sns.Topic(
            self,
            "Topic",
            display_name=f"{config.project_name} alarms",
            master_key=key,
            enforce_ssl=True,
        )
        # The topic policy replaces SNS's default one, so CloudWatch's publishing is allowed in writing.
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="CloudWatchAlarmsPublish",
                principals=[cloudwatch],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions=from_this_account,
            )
        )
        if config.alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(config.alarm_email))


class EndpointAlarms(Construct):
    """5xx errors and slow model on `endpoint_name`, which it names literally: a deployment of the endpoint rolls back
    on them, so they exist before it (docs/DESIGN.md, "Where the alarms live"). Named after the Model stack."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        endpoint_name: str,
        variant_name: str,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        prefix = Stack.of(self).stack_name

        def metric(metric_name: str, statistic: str) -> cw.Metric:
            return endpoint_metric(endpoint_name, variant_name, metric_name, statistic=statistic)

        self.alarms: dict[str, cw.Alarm] = {}
        self.alarms["Endpoint5xx"] = _alarm(
            self,
            "Endpoint5xx",
            topic,
            alarm_name=f"{prefix}-Endpoint5xxErrors",
            metric=metric("Invocation5XXErrors", "Sum"),
            threshold=config.alarm_endpoint_5xx_errors,
            alarm_description=(
                f"The endpoint answered at least {config.alarm_endpoint_5xx_errors} request(s) in "
                f"{ALARM_PERIOD_MINUTES} minutes with a 5xx: the model container failed. Read the endpoint's "
                f"log group /aws/sagemaker/Endpoints/{endpoint_name}. During a deployment it rolls the new model "
                "back."
            ),
        )
        self.alarms["ModelLatencyP90"] = _alarm(
            self,
            "ModelLatencyP90",
            topic,
            alarm_name=f"{prefix}-ModelLatencyP90",
            metric=metric("ModelLatency", "p90"),
            threshold=config.alarm_latency_p90_ms * MICROSECONDS_PER_MILLISECOND,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=LATENCY_EVALUATION_PERIODS,
            datapoints_to_alarm=LATENCY_DATAPOINTS_TO_ALARM,
            alarm_description=(
                f"The model's p90 latency was above {config.alarm_latency_p90_ms} ms (ModelLatency is in "
                f"microseconds) in {LATENCY_DATAPOINTS_TO_ALARM} of the last {LATENCY_EVALUATION_PERIODS} "
                f"{ALARM_PERIOD_MINUTES}-minute periods. Check the endpoint's CPU and invocations per instance; "
                "add instances or choose a larger endpoint_instance_type. During a deployment it rolls the new "
                "model back."
            ),
        )
        # The longest span any of them evaluates: a baking period this long gives each its whole window.
        self.evaluation_window = Duration.seconds(PERIOD.to_seconds() * LATENCY_EVALUATION_PERIODS)


class WorkflowAlarms(Construct):
    """Unexpected failures, drifting confidence, idle endpoint; each notifies `topic`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        metrics: WorkflowMetrics,
        topic: sns.ITopic,
    ) -> None:
        super().__init__(scope, construct_id)
        project = config.project_name
        below_threshold_periods = config.alarm_below_threshold_minutes // ALARM_PERIOD_MINUTES
        self.alarms: dict[str, cw.Alarm] = {}
        self.alarms["UnexpectedFailures"] = _alarm(
            self,
            "UnexpectedFailures",
            topic,
            alarm_name=f"{project}-UnexpectedExecutionFailures",
            metric=metrics.unexpected_failures(),
            threshold=config.alarm_unexpected_failures,
            alarm_description=(
                f"At least {config.alarm_unexpected_failures} execution(s) in {ALARM_PERIOD_MINUTES} minutes "
                "failed with an error other than ThresholdConfidenceNotMet (ImageNotFound, EndpointError, "
                "ConfigurationError, a timeout...). Open the state machine's failed executions: the error name "
                "says which step and why."
            ),
        )
        self.alarms["BelowThresholdShare"] = _alarm(
            self,
            "BelowThresholdShare",
            topic,
            alarm_name=f"{project}-BelowThresholdShare",
            metric=metrics.inference(names.BELOW_THRESHOLD_METRIC, statistic="Average"),
            threshold=config.alarm_below_threshold_share,
            comparison_operator=cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
            evaluation_periods=below_threshold_periods,
            alarm_description=(
                f"More than {config.alarm_below_threshold_share:.0%} of the evaluations fell below the "
                f"confidence threshold in every {ALARM_PERIOD_MINUTES}-minute period for "
                f"{config.alarm_below_threshold_minutes} minutes: the traffic has drifted away from what the "
                "model learned. Look at the captured images (make monitor); retrain on data like them."
            ),
        )
        # Not a rollback alarm: it is in ALARM after every deploy, until the endpoint's first request.
        self.alarms["IdleEndpoint"] = _alarm(
            self,
            "IdleEndpoint",
            topic,
            alarm_name=f"{project}-IdleEndpoint",
            metric=metrics.endpoint_metric("Invocations", statistic="Sum", period=IDLE_PERIOD),
            threshold=1,
            comparison_operator=cw.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=config.alarm_idle_hours,
            # An endpoint nobody calls publishes no Invocations datapoints at all: missing data is idleness.
            treat_missing_data=cw.TreatMissingData.BREACHING,
            alarm_description=(
                f"The endpoint served no request for {config.alarm_idle_hours} hour(s) but is billed for every "
                "hour it exists. If nobody needs it, run make destroy (or delete the Model stack). Right after "
                "a deploy it is in ALARM too, until the endpoint's first request."
            ),
        )


def _alarm(scope: Construct, construct_id: str, topic: sns.ITopic, **props) -> cw.Alarm:
    """An alarm on the topic; unless told otherwise, it fires on one period at or above its threshold."""
    props.setdefault("evaluation_periods", 1)
    props.setdefault("datapoints_to_alarm", props["evaluation_periods"])
    props.setdefault("comparison_operator", cw.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD)
    props.setdefault("treat_missing_data", cw.TreatMissingData.NOT_BREACHING)
    alarm = cw.Alarm(scope, construct_id, **props)
    action = cw_actions.SnsAction(topic)
    alarm.add_alarm_action(action)
    alarm.add_ok_action(action)
    return alarm

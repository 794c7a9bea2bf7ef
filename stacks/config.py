"""The app's settings as one frozen, validated model, built once from `cdk.json` context and `-c key=value` (text
or JSON alike); docs/CONFIGURATION.md is generated from it (stacks/config_reference.py)."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType, NoneType
from typing import Annotated, Any, Literal, get_args, get_origin

import pydantic
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo

from stacks import algorithm, s3_layout

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"
SETTINGS_DOC = "docs/CONFIGURATION.md lists every setting"
# CloudWatch Logs' retention periods, in the order of CDK's RetentionDays members
# (https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_PutRetentionPolicy.html).
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557)
LOG_RETENTION_DAYS += (2922, 3288, 3653)
# The alarms' short period (stacks/constructs/alarms.py). With a period under an hour PutMetricAlarm allows an
# evaluation range (period x evaluation periods) of at most one day, with an hour seven days
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html).
ALARM_PERIOD_MINUTES = 5
MAX_SHORT_ALARM_RANGE_MINUTES = 24 * 60
MAX_HOURLY_ALARM_RANGE_HOURS = 7 * 24
# InvokeEndpoint gives a model 60 s to answer (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html).
MAX_MODEL_LATENCY_MS = 60_000
# CloudFormation waits at most an hour for a custom resource such as the training job (ServiceTimeout, 3600 s:
# https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-resource-cloudformation-customresource.html);
# training gets 40 minutes of it, the rest covers instance start-up, data download and artifact upload.
MAX_TRAINING_MINUTES = 40
# Step Functions ends an EXPRESS execution after five minutes, whatever its timeout says
# (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-standard-vs-express.html).
EXPRESS_MAX_MINUTES = 5
# Design bounds, not AWS limits (SageMaker publishes no per-instance concurrency for the algorithm): images in flight
# per endpoint instance during a batch, so it adds a steady load (EndpointThrottled retries absorb the rest); and
# images per batch child, run one after the other in EXPRESS_MAX_MINUTES: 20 leave each 15 s, many times its three
# Lambda calls; a child that still overruns fails as a whole, which ToleratedFailurePercentage counts.
BATCH_CONCURRENCY_PER_ENDPOINT_INSTANCE = 10
MAX_IMAGES_PER_CHILD = 20
# "Valid values are in 1 GB increments: 1024 MB, ... 6144 MB"; MaxConcurrency "Minimum value of 1. Maximum value of
# 200" (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html).
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY = 200
SERVERLESS_EXCLUSIONS_DOC = "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html#serverless-endpoints-how-it-works-exclusions"
# The project's bound on an autoscaled variant's instances; `make preflight` checks the account's quota.
MAX_SCALED_INSTANCES = 20
INSTANCE_TYPE = "a SageMaker instance type such as ml.m5.large or ml.g4dn.xlarge"


class ConfigError(ValueError):
    """A context value is unknown, ill-typed or out of range; the message names key, value and what is allowed."""


def _fail(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"context '{key}'={value!r} is invalid: {allowed}")


def _field(description: str, *, expected: str | None = None, **constraints: Any) -> Any:
    """A setting; `expected` says what it allows where its type and bounds cannot."""
    extra = {"json_schema_extra": {"expected": expected}} if expected else {}
    return Field(description=description, **extra, **constraints)


def _instance_type(families: dict[str, tuple[str, ...]], purpose: str) -> Any:
    def check(text: str) -> str:
        if (family := algorithm.family_of(text)) not in families:
            offered = ", ".join(f"ml.{name}" for name in families)
            algorithm_runs = f"the image-classification algorithm {purpose} on the families {offered}"
            raise ValueError(f"{algorithm_runs} ({algorithm.ALGORITHM_DOC})")
        if text not in algorithm.offered_types({family: families[family]}):
            raise ValueError(f"SageMaker offers ml.{family} as {', '.join(families[family])}")
        return text

    shape = Field(pattern=r"^ml\.[^.]*\.[^.]*$", json_schema_extra={"expected": INSTANCE_TYPE})
    return Annotated[str, shape, pydantic.AfterValidator(check)]


TrainingType = _instance_type(algorithm.TRAINING_INSTANCE_TYPES, "trains (GPU)")
TransformType = _instance_type(algorithm.TRANSFORM_INSTANCE_TYPES, "runs Batch Transform (CPU or GPU)")
EndpointType = _instance_type(algorithm.ENDPOINT_INSTANCE_TYPES, "serves (CPU or GPU)")
Frozen = pydantic.AfterValidator(lambda value: MappingProxyType(dict(sorted(value.items()))))
JsonObject = Field(json_schema_extra={"expected": "a JSON object of hyperparameter names to values"})
LogRetention = Literal[LOG_RETENTION_DAYS]  # type: ignore[valid-type]
ServerlessMemory = Literal[SERVERLESS_MEMORY_MB]  # type: ignore[valid-type]
Share = Annotated[float, Field(gt=0.0, le=1.0)]
Count = Annotated[int, Field(ge=1, le=100_000)]  # an alarm's threshold or a scaling target
ScaledInstances = Annotated[int, Field(ge=1, le=MAX_SCALED_INSTANCES)]


class AppConfig(BaseModel):
    """All settings of the app. Their defaults live in cdk.json only; docs/CONFIGURATION.md lists them."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)

    # Stack names and the bucket name start with it; the bucket's 63 characters also hold account and region.
    project_name: str = _field(
        "prefix of the stack names and of the bucket name",
        pattern=r"^[A-Za-z][A-Za-z0-9-]{0,29}$",
        expected="letters, digits and '-', starting with a letter, at most 30 characters",
    )
    dataset_dir: str = _field(
        "folder with the prepared dataset (manifest.json, train/, test/, .lst files)",
        min_length=1,
        expected="a folder path (relative to the project root or absolute)",
    )
    confidence_threshold: Share = _field("an execution below it fails with ThresholdConfidenceNotMet")
    workflow_type: Literal["STANDARD", "EXPRESS"] = _field("the single-image state machine's type")
    workflow_timeout_minutes: int = _field("execution timeout", ge=1, le=60)
    workflow_input_prefix: str = _field(
        "the only key prefix of the project bucket the serializer may read",
        pattern=r"^([A-Za-z0-9!_.*'()-]+/)+$",
        expected="an S3 key prefix ending in '/', such as dataset/",
    )
    intake_prefix: str = _field(
        "objects created under it start the single-image workflow (S3 -> EventBridge); empty turns the intake off",
        pattern=r"^([A-Za-z0-9!_.*'()-]+/)*$",
        expected="an S3 key prefix ending in '/', such as incoming/, or empty for no intake",
    )
    # A Distributed Map runs at most 10,000 child executions at once
    # (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html).
    batch_max_concurrency: int = _field(
        "images a batch classifies at once (see the rules below)", ge=1, le=10_000
    )
    batch_tolerated_failure_percentage: float = _field(
        "share of batch children that may fail", ge=0.0, le=100.0
    )
    batch_images_per_child: int = _field(
        "images one batch child classifies in turn (the Distributed Map's ItemBatcher)",
        ge=1,
        le=MAX_IMAGES_PER_CHILD,
    )
    removal_policy: Literal["destroy", "retain"] = _field("retain keeps both buckets on cdk destroy")
    log_retention_days: LogRetention = _field("retention of every log group")
    # No spaces, one '@', a dot in the domain: SNS confirms the address by mail, this only catches typos.
    alarm_email: str = _field(
        "an address the alarm topic mails (SNS asks it to confirm first); empty subscribes nobody",
        pattern=r"^([^@\s]+@[^@\s]+\.[^@\s.]+)?$",
        expected="one e-mail address such as ops@example.com, or empty for none",
    )
    alarm_unexpected_failures: Count = _field("failed executions in 5 minutes that raise the alarm")
    alarm_endpoint_5xx_errors: Count = _field("endpoint 5xx errors in 5 minutes that raise the alarm")
    alarm_latency_p90_ms: int = _field("bound on the model's p90 latency", ge=1, le=MAX_MODEL_LATENCY_MS)
    alarm_below_threshold_share: Share = _field("share below confidence_threshold that is drift")
    alarm_below_threshold_minutes: int = _field(
        "how long that share must last",
        ge=ALARM_PERIOD_MINUTES,
        le=MAX_SHORT_ALARM_RANGE_MINUTES,
        multiple_of=ALARM_PERIOD_MINUTES,
    )
    alarm_idle_hours: int = _field(
        "hours without an invocation that raise the idle alarm", ge=1, le=MAX_HOURLY_ALARM_RANGE_HOURS
    )
    capture_sampling_percentage: int = _field("percentage of endpoint requests captured", ge=1, le=100)
    capture_retention_days: int = _field("days captured data is kept", ge=1, le=3653)
    training_instance_type: TrainingType = _field("training instance type")
    training_instance_count: int = _field("training instances", ge=1, le=20)
    training_max_runtime_minutes: int = _field(
        "the training job's stopping condition",
        ge=5,
        le=MAX_TRAINING_MINUTES,
        expected=f"an integer in [5, {MAX_TRAINING_MINUTES}]: a deploy can wait for at most {MAX_TRAINING_MINUTES} "
        "minutes of training (CloudFormation waits one hour for a custom resource); lower it, or train outside the "
        "deploy and serve the artifact with -c model_data_url=s3://.../model.tar.gz",
    )
    use_spot_training: bool = _field("managed spot training")
    transform_instance_type: TransformType = _field("Batch Transform instance type (make transform)")
    transform_instance_count: int = _field("Batch Transform instances", ge=1, le=10)
    hyperparameters: Annotated[Mapping[str, str], Frozen, JsonObject] = _field("the algorithm's, see below")
    hyperparameter_overrides: Annotated[Mapping[str, str | None], Frozen, JsonObject] = _field(
        "laid over hyperparameters; null removes one"
    )
    endpoint_instance_type: EndpointType = _field("endpoint instance type")
    endpoint_instance_count: int = _field("endpoint instances", ge=1, le=10)
    endpoint_mode: Literal["realtime", "serverless"] = _field("serverless needs data_capture_enabled=false")
    data_capture_enabled: bool = _field("capture endpoint requests and responses (make monitor reads them)")
    serverless_memory_mb: ServerlessMemory = _field("a serverless endpoint's memory")
    serverless_max_concurrency: int = _field(
        "its concurrent invocations", ge=1, le=SERVERLESS_MAX_CONCURRENCY
    )
    autoscaling_enabled: bool = _field("scale a real-time endpoint between the two bounds below")
    autoscaling_min_instances: ScaledInstances = _field("fewest instances when autoscaled")
    autoscaling_max_instances: ScaledInstances = _field("most instances when autoscaled")
    autoscaling_target_invocations: Count = _field("invocations per instance and minute to hold")
    model_data_url: str | None = _field(
        "serve this artifact instead of training",
        pattern=r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+\.tar\.gz$",
        expected="an s3://bucket/key URL of a model.tar.gz artifact, or empty",
    )
    # The seed notebook's bar; its public solutions reached 0.75 to 0.83.
    min_validation_accuracy: Share = _field(
        "a trained job's validation:accuracy below it fails the deploy; the endpoint keeps its model"
    )
    # Model package versions count from 1 (https://docs.aws.amazon.com/sagemaker/latest/dg/model-registry-models.html).
    model_version: int | None = _field(
        "serve this registered model version instead of training (a rollback); empty trains",
        ge=1,
        expected="a version number (1, 2, ...) that `make models` lists, or empty to train",
    )

    @property
    def training_hyperparameters(self) -> Mapping[str, str]:
        """The defaults with the overrides on top, rendered as the algorithm documents them."""
        merged = {**self.hyperparameters, **self.hyperparameter_overrides}
        return MappingProxyType({name: value for name, value in sorted(merged.items()) if value is not None})

    @property
    def trains(self) -> bool:
        """A deploy trains, unless it serves a registered version or a brought artifact."""
        return self.model_data_url is None and self.model_version is None

    @property
    def retain_data(self) -> bool:
        return self.removal_policy == "retain"

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> AppConfig:
        """Build the config from a context mapping; keys with ':' or a leading '@' belong to the CDK itself."""
        own = {key: value for key, value in context.items() if ":" not in key and not key.startswith("@")}
        if unknown := sorted(set(own) - set(cls.model_fields)):
            meant = {k for key in unknown for k in difflib.get_close_matches(key, cls.model_fields, n=1)}
            hint = f" (did you mean {', '.join(sorted(meant))}?)" if meant else ""
            raise ConfigError(f"unknown context key(s) {', '.join(map(repr, unknown))}{hint}; {SETTINGS_DOC}")
        try:
            return cls(**own)
        except ValidationError as error:
            raise ConfigError(_one_line(error, own)) from None

    @pydantic.field_validator("*", mode="before")
    @classmethod
    def _from_text(cls, value: Any, info: ValidationInfo) -> Any:
        """`-c` gives text: 'express' names EXPRESS, '30' a choice of 30, '' no URL; JSON's true is no number."""
        kind = cls.model_fields[info.field_name].annotation
        choices = get_args(kind) if get_origin(kind) is Literal else ()
        numeric = kind in (int, float) or kind == int | None
        if isinstance(value, bool) and (numeric or choices):
            raise ValueError
        if isinstance(value, str) and choices:
            return next((choice for choice in choices if str(choice).lower() == value.strip().lower()), value)
        return None if value == "" and NoneType in get_args(kind) else value

    @pydantic.field_validator("hyperparameters", "hyperparameter_overrides", mode="before")
    @classmethod
    def _rendered(cls, value: Any, info: ValidationInfo) -> dict[str, str | None]:
        """Each hyperparameter checked and rendered on its own; _reject_contradictions checks how they combine."""
        try:
            parsed = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ValueError
        if derived := sorted(set(parsed) & set(algorithm.DERIVED)):
            raise ValueError(f"{', '.join(derived)} come from the dataset manifest and cannot be set")
        kept = {n: v for n, v in parsed.items() if v is not None or info.field_name == "hyperparameters"}
        try:
            return {**dict.fromkeys(parsed.keys() - kept.keys()), **algorithm.rendered_hyperparameters(kept)}
        except algorithm.HyperparameterError as error:
            raise ConfigError(f"context '{info.field_name}' is invalid: {error}") from None

    @pydantic.model_validator(mode="after")
    def _reject_contradictions(self) -> AppConfig:
        try:
            algorithm.validated_hyperparameters(
                self.training_hyperparameters, training_instance_count=self.training_instance_count
            )
        except algorithm.HyperparameterError as error:
            # Named after the setting the offending value came from; a missing one belongs to the defaults.
            overridden = error.name in self.hyperparameter_overrides
            source = "hyperparameter_overrides" if overridden else "hyperparameters"
            raise ConfigError(f"context '{source}' is invalid: {error}") from None
        serverless = self.endpoint_mode == "serverless"
        low, high = self.autoscaling_min_instances, self.autoscaling_max_instances
        counted = "autoscaling_max_instances" if self.autoscaling_enabled else "endpoint_instance_count"
        per_instance, instances = BATCH_CONCURRENCY_PER_ENDPOINT_INSTANCE, getattr(self, counted)
        bound = self.serverless_max_concurrency if serverless else per_instance * instances
        capacity = f"{instances} instance(s) x {per_instance} images each ({counted})"
        intake = self.intake_prefix
        # Every upload under the intake starts an execution: a prefix the app writes to would classify its own files.
        written = s3_layout.APP_WRITTEN_PREFIXES
        clash = next((p for p in written if intake and (p.startswith(intake) or intake.startswith(p))), None)
        contradictions = {
            "intake_prefix": (
                clash is not None,
                f"it overlaps {clash}, which the app itself writes to (each object would start an execution); "
                "use a prefix of its own such as incoming/",
            ),
            "workflow_timeout_minutes": (
                self.workflow_type == "EXPRESS" and self.workflow_timeout_minutes > EXPRESS_MAX_MINUTES,
                f"an EXPRESS workflow runs for at most {EXPRESS_MAX_MINUTES} minutes; lower it or use "
                "workflow_type=STANDARD",
            ),
            "endpoint_mode": (
                serverless and self.data_capture_enabled,
                "SageMaker does not capture data on serverless endpoints (data capture and Model Monitor are among "
                f"its feature exclusions: {SERVERLESS_EXCLUSIONS_DOC}); turn capture off explicitly with "
                "-c data_capture_enabled=false (make monitor then has no data), or keep endpoint_mode=realtime",
            ),
            "autoscaling_enabled": (
                serverless and self.autoscaling_enabled,
                "a serverless endpoint scales itself up to serverless_max_concurrency; autoscaling applies to "
                "endpoint_mode=realtime only",
            ),
            # register-scalable-target: "min-capacity ... must be equal to or less than the value specified for
            # max-capacity" (https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-policy.html).
            "autoscaling_min_instances": (low > high, f"at most autoscaling_max_instances ({high})"),
            "endpoint_instance_count": (
                self.autoscaling_enabled and not low <= self.endpoint_instance_count <= high,
                "an autoscaled endpoint starts within autoscaling_min_instances..autoscaling_max_instances "
                f"({low}..{high})",
            ),
            "model_version": (
                self.model_version is not None and self.model_data_url is not None,
                "serve either a registered version or a brought model_data_url, not both",
            ),
            "batch_max_concurrency": (
                self.batch_max_concurrency > bound,
                f"the endpoint serves at most {bound} batch images at once "
                f"({'serverless_max_concurrency' if serverless else capacity}); lower it or give the endpoint more "
                "capacity",
            ),
        }
        if broken := [
            _fail(key, getattr(self, key), why) for key, (wrong, why) in contradictions.items() if wrong
        ]:
            raise ConfigError("; ".join(map(str, broken)))
        return self


def expected(name: str) -> str:
    """What a setting accepts, from its JSON schema: its type and bounds, or what the field says where they cannot."""
    schema = AppConfig.model_json_schema()["properties"][name]
    if "expected" in schema:
        return schema["expected"]
    if schema["type"] == "boolean":
        return "true or false"
    if "enum" in schema:
        return f"one of {', '.join(map(str, schema['enum']))}"
    noun = "an integer" if schema["type"] == "integer" else "a number"
    opening = f"({schema['exclusiveMinimum']}" if "exclusiveMinimum" in schema else f"[{schema['minimum']}"
    step = f" and a multiple of {schema['multipleOf']}" if "multipleOf" in schema else ""
    return f"{noun} in {opening}, {schema['maximum']}]{step}"


def _one_line(error: ValidationError, context: Mapping[str, Any]) -> str:
    """One line for all that is wrong: the key, the value as given and what is expected."""
    problems = error.errors()
    if missing := [str(problem["loc"][0]) for problem in problems if problem["type"] == "missing"]:
        return f"context key(s) {', '.join(missing)} missing: cdk.json must define every setting"
    lines: dict[str, str] = {}
    for problem in problems:
        cause = problem.get("ctx", {}).get("error")
        if isinstance(cause, ConfigError):
            lines.setdefault(str(cause), str(cause))
            continue
        key = str(problem["loc"][0])
        lines.setdefault(key, str(_fail(key, context[key], str(cause or "") or f"expected {expected(key)}")))
    return "; ".join(lines.values())


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The context block of cdk.json, for building the app outside the CDK CLI (tests, the local run)."""
    return dict(json.loads(path.read_text())["context"])

"""Typed, validated settings for the whole app, built once from `cdk.json` context and `-c key=value`.

Every setting has its default in `cdk.json`; `-c` values arrive as text, `cdk.json` values as JSON, and both go
through the same parser. A bad value fails synth with one line naming the key, the value and what is allowed.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

from stacks import algorithm

CDK_JSON = Path(__file__).resolve().parent.parent / "cdk.json"
INSTANCE_TYPE_PATTERN = re.compile(r"^ml\.[a-z0-9-]+\.[0-9]*x?[a-z0-9]+$")
WORKFLOW_TYPES = ("STANDARD", "EXPRESS")
REMOVAL_POLICIES = ("destroy", "retain")
# The only retention periods CloudWatch Logs accepts, in the order of CDK's RetentionDays members.
LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)
S3_URL_PATTERN = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$")
# One address: no spaces, one '@', a dot in the domain. SNS confirms the address by mail; this only catches typos.
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
# The alarms' short period (stacks/constructs/alarms.py). With a period under an hour, PutMetricAlarm allows an
# evaluation range (period x evaluation periods) of at most one day; with an hour, seven days
# (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html).
ALARM_PERIOD_MINUTES = 5
MAX_SHORT_ALARM_RANGE_MINUTES = 24 * 60
MAX_HOURLY_ALARM_RANGE_HOURS = 7 * 24
# InvokeEndpoint gives a model 60 seconds to answer
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html).
MAX_MODEL_LATENCY_MS = 60_000


# CloudFormation waits at most one hour for a custom resource such as the training job; training itself gets
# 40 minutes of it, the rest covers instance start-up, data download and artifact upload.
MAX_TRAINING_MINUTES = 40
# Step Functions ends an EXPRESS execution after five minutes, whatever the definition's timeout says.
EXPRESS_MAX_MINUTES = 5
# How many images in flight one endpoint instance is asked to serve during a batch. Not an AWS limit (SageMaker
# publishes no per-instance concurrency for the built-in algorithm): a design bound, so a batch adds a steady
# load rather than a burst; EndpointThrottled retries absorb what it still overshoots.
BATCH_CONCURRENCY_PER_ENDPOINT_INSTANCE = 10
# Images one batch child classifies, one after the other, within EXPRESS_MAX_MINUTES. A design bound: 20 leave
# each image 15 s, many times its three Lambda calls (well under a second each when warm) and room for a few short
# retries; a child that still overruns (one task's full Lambda service-error backoff alone, 6 retries from 2 s
# doubling, is 126 s: stacks/constructs/inference_chain.py) fails as a whole batch, which
# ToleratedFailurePercentage counts.
MAX_BATCH_IMAGES_PER_CHILD = 20


class ConfigError(ValueError):
    """A context value is unknown, ill-typed or out of range; the message names key, value and what is allowed."""


def _fail(key: str, value: Any, allowed: str) -> ConfigError:
    return ConfigError(f"context '{key}'={value!r} is invalid: {allowed}")


def _as_float(key: str, value: Any, *, low: float, high: float, low_open: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise _fail(key, value, f"expected a number in {'(' if low_open else '['}{low}, {high}]") from None
    if number != number or number > high or number < low or (low_open and number == low):
        raise _fail(key, value, f"expected a number in {'(' if low_open else '['}{low}, {high}]")
    return number


def _as_int(key: str, value: Any, *, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise _fail(key, value, f"expected an integer in [{low}, {high}]")
    try:
        number = int(str(value), 10)
    except ValueError:
        raise _fail(key, value, f"expected an integer in [{low}, {high}]") from None
    if not low <= number <= high:
        raise _fail(key, value, f"expected an integer in [{low}, {high}]")
    return number


def _as_bool(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise _fail(key, value, "expected true or false")


def _as_choice(key: str, value: Any, choices: tuple[str, ...], *, normalise: Callable[[str], str]) -> str:
    text = normalise(str(value))
    if text not in choices:
        raise _fail(key, value, f"expected one of {', '.join(choices)}")
    return text


def _as_instance_type(key: str, value: Any) -> str:
    text = str(value)
    if not INSTANCE_TYPE_PATTERN.match(text):
        raise _fail(key, value, "expected a SageMaker instance type such as ml.m5.large or ml.g4dn.xlarge")
    return text


def _as_algorithm_instance_type(
    key: str, value: Any, *, offered: Mapping[str, tuple[str, ...]], purpose: str
) -> str:
    text = _as_instance_type(key, value)
    family = algorithm.family_of(text)
    if family not in offered:
        raise _fail(
            key,
            value,
            f"the image-classification algorithm {purpose} on the families "
            f"{', '.join(f'ml.{name}' for name in offered)} ({algorithm.ALGORITHM_DOC})",
        )
    if text not in algorithm.offered_types({family: offered[family]}):
        raise _fail(key, value, f"SageMaker offers ml.{family} as {', '.join(offered[family])}")
    return text


def _as_optional_s3_url(key: str, value: Any) -> str | None:
    if value is None or value == "":
        return None
    text = str(value)
    if not S3_URL_PATTERN.match(text) or not text.endswith(".tar.gz"):
        raise _fail(key, value, "expected an s3://bucket/key URL of a model.tar.gz artifact, or empty")
    return text


def _as_hyperparameters(key: str, value: Any) -> Mapping[str, str]:
    """Each hyperparameter checked against the algorithm's reference and rendered as it documents the values
    (stacks/algorithm.py); how they combine is checked once defaults and overrides are merged."""
    parsed = value
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            raise _fail(key, value, "expected a JSON object of hyperparameter names to values") from None
    if not isinstance(parsed, dict) or not all(isinstance(name, str) for name in parsed):
        raise _fail(key, value, "expected a JSON object of hyperparameter names to values")
    derived = sorted(set(parsed) & set(algorithm.DERIVED))
    if derived:
        raise _fail(key, value, f"{', '.join(derived)} come from the dataset manifest and cannot be set")
    # An override of null removes a default: `{"early_stopping": false, "early_stopping_patience": null, ...}`.
    removed = {name: None for name, v in parsed.items() if v is None and key == "hyperparameter_overrides"}
    try:
        rendered = algorithm.rendered_hyperparameters({n: v for n, v in parsed.items() if n not in removed})
    except algorithm.HyperparameterError as error:
        raise _fail_hyperparameter(key, error) from None
    return MappingProxyType(dict(sorted({**rendered, **removed}.items())))


def _fail_hyperparameter(key: str, error: algorithm.HyperparameterError) -> ConfigError:
    return ConfigError(f"context '{key}' is invalid: {error}")


def _as_folder(key: str, value: Any) -> str:
    text = str(value).strip()
    if not text:
        raise _fail(key, value, "expected a folder path (relative to the project root or absolute)")
    return text


def _as_training_minutes(key: str, value: Any) -> int:
    minutes = _as_int(key, value, low=5, high=10**6)
    if minutes > MAX_TRAINING_MINUTES:
        raise _fail(
            key,
            value,
            f"a deploy can wait for at most {MAX_TRAINING_MINUTES} minutes of training (CloudFormation waits one "
            "hour for a custom resource); lower it, or train outside the deploy and serve the artifact with "
            "-c model_data_url=s3://.../model.tar.gz",
        )
    return minutes


def _as_log_retention(key: str, value: Any) -> int:
    days = _as_int(key, value, low=1, high=3653)
    if days not in LOG_RETENTION_DAYS:
        raise _fail(key, value, f"expected one of CloudWatch's retention periods: {LOG_RETENTION_DAYS}")
    return days


def _as_optional_email(key: str, value: Any) -> str:
    text = "" if value is None else str(value).strip()
    if text and not EMAIL_PATTERN.match(text):
        raise _fail(key, value, "expected one e-mail address such as ops@example.com, or empty for none")
    return text


def _as_alarm_minutes(key: str, value: Any) -> int:
    minutes = _as_int(key, value, low=ALARM_PERIOD_MINUTES, high=MAX_SHORT_ALARM_RANGE_MINUTES)
    if minutes % ALARM_PERIOD_MINUTES:
        raise _fail(key, value, f"expected a multiple of the alarms' {ALARM_PERIOD_MINUTES}-minute period")
    return minutes


def _as_key_prefix(key: str, value: Any) -> str:
    text = str(value)
    if not re.fullmatch(r"([A-Za-z0-9!_.*'()-]+/)+", text):
        raise _fail(key, value, "expected an S3 key prefix ending in '/', such as dataset/")
    return text


ENDPOINT_MODES = ("realtime", "serverless")
# "Valid values are in 1 GB increments: 1024 MB, ... 6144 MB"; MaxConcurrency "Minimum value of 1. Maximum value of
# 200" (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ProductionVariantServerlessConfig.html).
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY = 200
SERVERLESS_EXCLUSIONS_DOC = (
    "https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html"
    "#serverless-endpoints-how-it-works-exclusions"
)
# The project's bound on an autoscaled variant's instances; the account's "<type> for endpoint usage" quota is the
# real one, and `make preflight` checks autoscaling_max_instances against it.
MAX_SCALED_INSTANCES = 20


def _as_serverless_memory(key: str, value: Any) -> int:
    memory = _as_int(key, value, low=SERVERLESS_MEMORY_MB[0], high=SERVERLESS_MEMORY_MB[-1])
    if memory not in SERVERLESS_MEMORY_MB:
        raise _fail(
            key, value, f"expected one of SageMaker's serverless memory sizes (MB): {SERVERLESS_MEMORY_MB}"
        )
    return memory


def _as_name(key: str, value: Any) -> str:
    text = str(value)
    # It prefixes stack names and the bucket name, whose 63-character limit also holds account and region.
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9-]{0,29}", text):
        raise _fail(
            key, value, "expected letters, digits and '-', starting with a letter, at most 30 characters"
        )
    return text


@dataclass(frozen=True)
class AppConfig:
    """All settings of the app. Their defaults live in cdk.json only; README.md says what each one does."""

    project_name: str
    dataset_dir: str
    confidence_threshold: float
    workflow_type: str
    workflow_timeout_minutes: int
    workflow_input_prefix: str
    batch_max_concurrency: int
    batch_tolerated_failure_percentage: float
    batch_images_per_child: int
    removal_policy: str
    log_retention_days: int
    alarm_email: str
    alarm_unexpected_failures: int
    alarm_endpoint_5xx_errors: int
    alarm_latency_p90_ms: int
    alarm_below_threshold_share: float
    alarm_below_threshold_minutes: int
    alarm_idle_hours: int
    capture_sampling_percentage: int
    capture_retention_days: int
    training_instance_type: str
    training_instance_count: int
    training_max_runtime_minutes: int
    use_spot_training: bool
    transform_instance_type: str
    transform_instance_count: int
    hyperparameters: Mapping[str, str]
    hyperparameter_overrides: Mapping[str, str | None]
    endpoint_instance_type: str
    endpoint_instance_count: int
    endpoint_mode: str
    data_capture_enabled: bool
    serverless_memory_mb: int
    serverless_max_concurrency: int
    autoscaling_enabled: bool
    autoscaling_min_instances: int
    autoscaling_max_instances: int
    autoscaling_target_invocations: int
    model_data_url: str | None

    @property
    def training_hyperparameters(self) -> Mapping[str, str]:
        """The defaults with the overrides on top (`-c hyperparameter_overrides='{"epochs": 50}'` changes one),
        rendered as the algorithm documents them; `from_context` has checked how they combine."""
        merged = {**self.hyperparameters, **self.hyperparameter_overrides}
        return MappingProxyType({name: value for name, value in sorted(merged.items()) if value is not None})

    @property
    def retain_data(self) -> bool:
        return self.removal_policy == "retain"

    @classmethod
    def from_context(cls, context: Mapping[str, Any]) -> AppConfig:
        """Build the config from a context mapping; keys with ':' or a leading '@' belong to the CDK itself."""
        own_keys = {k: v for k, v in context.items() if ":" not in k and not k.startswith("@")}
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(own_keys) - known)
        if unknown:
            raise ConfigError(
                f"unknown context key(s) {', '.join(repr(k) for k in unknown)}; "
                f"known keys are: {', '.join(sorted(known))}"
            )
        missing = sorted(known - set(own_keys))
        if missing:
            raise ConfigError(
                f"context key(s) {', '.join(missing)} missing: cdk.json must define every setting"
            )
        config = cls(**{name: parse(name, own_keys[name]) for name, parse in _PARSERS.items()})
        config._reject_contradictions()
        return config

    def _reject_contradictions(self) -> None:
        try:
            algorithm.validated_hyperparameters(
                self.training_hyperparameters, training_instance_count=self.training_instance_count
            )
        except algorithm.HyperparameterError as error:
            # Named after the setting the offending value came from; a missing one belongs to the defaults.
            source = (
                "hyperparameter_overrides"
                if error.name in self.hyperparameter_overrides
                else "hyperparameters"
            )
            raise _fail_hyperparameter(source, error) from None
        if self.workflow_type == "EXPRESS" and self.workflow_timeout_minutes > EXPRESS_MAX_MINUTES:
            raise _fail(
                "workflow_timeout_minutes",
                self.workflow_timeout_minutes,
                f"an EXPRESS workflow runs for at most {EXPRESS_MAX_MINUTES} minutes; lower it or use "
                "workflow_type=STANDARD",
            )
        self._reject_serving_contradictions()
        self._reject_batch_overload()

    def _reject_serving_contradictions(self) -> None:
        """Serverless endpoints capture nothing and scale themselves; an autoscaled variant starts inside its range
        (register-scalable-target: "min-capacity ... must be equal to or less than the value specified for
        max-capacity", https://docs.aws.amazon.com/sagemaker/latest/dg/endpoint-auto-scaling-add-policy.html)."""
        if self.endpoint_mode == "serverless" and self.data_capture_enabled:
            raise _fail(
                "endpoint_mode",
                self.endpoint_mode,
                "SageMaker does not capture data on serverless endpoints (data capture and Model Monitor are "
                f"among its feature exclusions: {SERVERLESS_EXCLUSIONS_DOC}); turn capture off explicitly with "
                "-c data_capture_enabled=false (make monitor then has no data), or keep endpoint_mode=realtime",
            )
        if self.endpoint_mode == "serverless" and self.autoscaling_enabled:
            raise _fail(
                "autoscaling_enabled",
                self.autoscaling_enabled,
                "a serverless endpoint scales itself up to serverless_max_concurrency; autoscaling applies to "
                "endpoint_mode=realtime only",
            )
        if self.autoscaling_min_instances > self.autoscaling_max_instances:
            raise _fail(
                "autoscaling_min_instances",
                self.autoscaling_min_instances,
                f"at most autoscaling_max_instances ({self.autoscaling_max_instances})",
            )
        if self.autoscaling_enabled and not (
            self.autoscaling_min_instances <= self.endpoint_instance_count <= self.autoscaling_max_instances
        ):
            raise _fail(
                "endpoint_instance_count",
                self.endpoint_instance_count,
                "an autoscaled endpoint starts within autoscaling_min_instances..autoscaling_max_instances "
                f"({self.autoscaling_min_instances}..{self.autoscaling_max_instances})",
            )

    def _reject_batch_overload(self) -> None:
        """A batch keeps at most what the endpoint can serve in flight: a serverless endpoint its own concurrency
        limit, an instance endpoint BATCH_CONCURRENCY_PER_ENDPOINT_INSTANCE per instance it may have."""
        if self.endpoint_mode == "serverless":
            bound, capacity = self.serverless_max_concurrency, "serverless_max_concurrency"
        else:
            instances = (
                self.autoscaling_max_instances if self.autoscaling_enabled else self.endpoint_instance_count
            )
            bound = BATCH_CONCURRENCY_PER_ENDPOINT_INSTANCE * instances
            capacity = (
                f"{instances} instance(s) x {BATCH_CONCURRENCY_PER_ENDPOINT_INSTANCE} images each "
                f"({'autoscaling_max_instances' if self.autoscaling_enabled else 'endpoint_instance_count'})"
            )
        if self.batch_max_concurrency > bound:
            raise _fail(
                "batch_max_concurrency",
                self.batch_max_concurrency,
                f"the endpoint serves at most {bound} batch images at once ({capacity}); lower it or give the "
                "endpoint more capacity",
            )


_PARSERS: dict[str, Callable[[str, Any], Any]] = {
    "project_name": _as_name,
    "dataset_dir": _as_folder,
    "confidence_threshold": lambda k, v: _as_float(k, v, low=0.0, high=1.0, low_open=True),
    "workflow_type": lambda k, v: _as_choice(k, v, WORKFLOW_TYPES, normalise=str.upper),
    "workflow_timeout_minutes": lambda k, v: _as_int(k, v, low=1, high=60),
    "workflow_input_prefix": _as_key_prefix,
    # A Distributed Map runs at most 10,000 child executions at once
    # (https://docs.aws.amazon.com/step-functions/latest/dg/state-map-distributed.html).
    "batch_max_concurrency": lambda k, v: _as_int(k, v, low=1, high=10_000),
    "batch_tolerated_failure_percentage": lambda k, v: _as_float(k, v, low=0.0, high=100.0),
    # A child runs its images one after the other inside an EXPRESS execution's five minutes
    # (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-standard-vs-express.html): see
    # MAX_BATCH_IMAGES_PER_CHILD.
    "batch_images_per_child": lambda k, v: _as_int(k, v, low=1, high=MAX_BATCH_IMAGES_PER_CHILD),
    "removal_policy": lambda k, v: _as_choice(k, v, REMOVAL_POLICIES, normalise=str.lower),
    "log_retention_days": _as_log_retention,
    "alarm_email": _as_optional_email,
    "alarm_unexpected_failures": lambda k, v: _as_int(k, v, low=1, high=100_000),
    "alarm_endpoint_5xx_errors": lambda k, v: _as_int(k, v, low=1, high=100_000),
    "alarm_latency_p90_ms": lambda k, v: _as_int(k, v, low=1, high=MAX_MODEL_LATENCY_MS),
    "alarm_below_threshold_share": lambda k, v: _as_float(k, v, low=0.0, high=1.0, low_open=True),
    "alarm_below_threshold_minutes": _as_alarm_minutes,
    "alarm_idle_hours": lambda k, v: _as_int(k, v, low=1, high=MAX_HOURLY_ALARM_RANGE_HOURS),
    "capture_sampling_percentage": lambda k, v: _as_int(k, v, low=1, high=100),
    "capture_retention_days": lambda k, v: _as_int(k, v, low=1, high=3653),
    "training_instance_type": lambda k, v: _as_algorithm_instance_type(
        k, v, offered=algorithm.TRAINING_INSTANCE_TYPES, purpose="trains (GPU)"
    ),
    "training_instance_count": lambda k, v: _as_int(k, v, low=1, high=20),
    "training_max_runtime_minutes": _as_training_minutes,
    "use_spot_training": _as_bool,
    "transform_instance_type": lambda k, v: _as_algorithm_instance_type(
        k, v, offered=algorithm.TRANSFORM_INSTANCE_TYPES, purpose="runs Batch Transform (CPU or GPU)"
    ),
    "transform_instance_count": lambda k, v: _as_int(k, v, low=1, high=10),
    "hyperparameters": _as_hyperparameters,
    "hyperparameter_overrides": _as_hyperparameters,
    "endpoint_instance_type": lambda k, v: _as_algorithm_instance_type(
        k, v, offered=algorithm.ENDPOINT_INSTANCE_TYPES, purpose="serves (CPU or GPU)"
    ),
    "endpoint_instance_count": lambda k, v: _as_int(k, v, low=1, high=10),
    "endpoint_mode": lambda k, v: _as_choice(k, v, ENDPOINT_MODES, normalise=str.lower),
    "data_capture_enabled": _as_bool,
    "serverless_memory_mb": _as_serverless_memory,
    "serverless_max_concurrency": lambda k, v: _as_int(k, v, low=1, high=SERVERLESS_MAX_CONCURRENCY),
    "autoscaling_enabled": _as_bool,
    "autoscaling_min_instances": lambda k, v: _as_int(k, v, low=1, high=MAX_SCALED_INSTANCES),
    "autoscaling_max_instances": lambda k, v: _as_int(k, v, low=1, high=MAX_SCALED_INSTANCES),
    "autoscaling_target_invocations": lambda k, v: _as_int(k, v, low=1, high=100_000),
    "model_data_url": _as_optional_s3_url,
}


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The context block of cdk.json, for building the app outside the CDK CLI (tests, the local run)."""
    return dict(json.loads(path.read_text())["context"])

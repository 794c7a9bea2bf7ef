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

from aws_cdk import aws_logs as logs

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
_RETENTION_BY_DAYS = dict(
    zip(
        LOG_RETENTION_DAYS,
        [m for m in logs.RetentionDays if m is not logs.RetentionDays.INFINITE],
        strict=True,
    )
)
S3_URL_PATTERN = re.compile(r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]/.+$")


# CloudFormation waits at most one hour for a custom resource such as the training job; training itself gets
# 40 minutes of it, the rest covers instance start-up, data download and artifact upload.
MAX_TRAINING_MINUTES = 40
# Step Functions ends an EXPRESS execution after five minutes, whatever the definition's timeout says.
EXPRESS_MAX_MINUTES = 5
# How many images in flight one endpoint instance is asked to serve during a batch. Not an AWS limit (SageMaker
# publishes no per-instance concurrency for the built-in algorithm): a design bound, so a batch adds a steady
# load rather than a burst; EndpointThrottled retries absorb what it still overshoots.
BATCH_CONCURRENCY_PER_ENDPOINT_INSTANCE = 10


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


def _as_key_prefix(key: str, value: Any) -> str:
    text = str(value)
    if not re.fullmatch(r"([A-Za-z0-9!_.*'()-]+/)+", text):
        raise _fail(key, value, "expected an S3 key prefix ending in '/', such as dataset/")
    return text


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
    removal_policy: str
    log_retention_days: int
    capture_sampling_percentage: int
    capture_retention_days: int
    training_instance_type: str
    training_instance_count: int
    training_max_runtime_minutes: int
    use_spot_training: bool
    hyperparameters: Mapping[str, str]
    hyperparameter_overrides: Mapping[str, str | None]
    endpoint_instance_type: str
    endpoint_instance_count: int
    model_data_url: str | None

    @property
    def training_hyperparameters(self) -> Mapping[str, str]:
        """The defaults with the overrides on top (`-c hyperparameter_overrides='{"epochs": 50}'` changes one),
        rendered as the algorithm documents them; `from_context` has checked how they combine."""
        merged = {**self.hyperparameters, **self.hyperparameter_overrides}
        return MappingProxyType({name: value for name, value in sorted(merged.items()) if value is not None})

    @property
    def log_retention(self) -> logs.RetentionDays:
        return _RETENTION_BY_DAYS[self.log_retention_days]

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
        batch_concurrency_bound = BATCH_CONCURRENCY_PER_ENDPOINT_INSTANCE * self.endpoint_instance_count
        if self.batch_max_concurrency > batch_concurrency_bound:
            raise _fail(
                "batch_max_concurrency",
                self.batch_max_concurrency,
                f"the endpoint's {self.endpoint_instance_count} instance(s) serve at most "
                f"{batch_concurrency_bound} batch images at once ({BATCH_CONCURRENCY_PER_ENDPOINT_INSTANCE} per "
                "instance); lower it or raise endpoint_instance_count",
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
    "removal_policy": lambda k, v: _as_choice(k, v, REMOVAL_POLICIES, normalise=str.lower),
    "log_retention_days": _as_log_retention,
    "capture_sampling_percentage": lambda k, v: _as_int(k, v, low=1, high=100),
    "capture_retention_days": lambda k, v: _as_int(k, v, low=1, high=3653),
    "training_instance_type": lambda k, v: _as_algorithm_instance_type(
        k, v, offered=algorithm.TRAINING_INSTANCE_TYPES, purpose="trains (GPU)"
    ),
    "training_instance_count": lambda k, v: _as_int(k, v, low=1, high=20),
    "training_max_runtime_minutes": _as_training_minutes,
    "use_spot_training": _as_bool,
    "hyperparameters": _as_hyperparameters,
    "hyperparameter_overrides": _as_hyperparameters,
    "endpoint_instance_type": lambda k, v: _as_algorithm_instance_type(
        k, v, offered=algorithm.ENDPOINT_INSTANCE_TYPES, purpose="serves (CPU or GPU)"
    ),
    "endpoint_instance_count": lambda k, v: _as_int(k, v, low=1, high=10),
    "model_data_url": _as_optional_s3_url,
}


def cdk_json_context(path: Path = CDK_JSON) -> dict[str, Any]:
    """The context block of cdk.json, for building the app outside the CDK CLI (tests, the local run)."""
    return dict(json.loads(path.read_text())["context"])

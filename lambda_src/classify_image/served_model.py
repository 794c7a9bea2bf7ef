"""Which model the endpoint serves, for the outcome events: InvokeEndpoint's answer names none
(https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html#API_runtime_InvokeEndpoint_ResponseSyntax),
so DescribeEndpoint -> DescribeEndpointConfig -> DescribeModel, kept per execution environment for TTL_S."""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import botocore.exceptions

# A new model reaches the events at most this late after the endpoint switched to it (docs/CONTRACTS.md).
TTL_S = 60.0
# A registered model package version's ARN ends in model-package/<group>/<version>
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ContainerDefinition.html, ModelPackageName).
_VERSIONED_PACKAGE = re.compile(r":model-package/[^/]+/(\d+)$")


class ModelLookupFailed(Exception):
    """SageMaker did not say which model the endpoint serves (throttled, denied, unreachable, or no such endpoint)."""


@dataclass(frozen=True)
class ServedModel:
    model_name: str
    model_version: int | None  # the model package version it serves; None for an unregistered model artifact

    def fields(self) -> dict[str, Any]:
        return {"model_name": self.model_name, "model_version": self.model_version}


def model_version(model: dict[str, Any]) -> int | None:
    """The package version of a DescribeModel answer's container, or None when it serves no versioned package."""
    containers = [model.get("PrimaryContainer") or {}, *(model.get("Containers") or [])]
    for container in containers:
        if found := _VERSIONED_PACKAGE.search(container.get("ModelPackageName") or ""):
            return int(found.group(1))
    return None


def describe_served_model(sagemaker: Any, endpoint_name: str) -> ServedModel:
    """The model of the endpoint config's first variant, as the transform state machine reads it."""
    try:
        config_name = sagemaker.describe_endpoint(EndpointName=endpoint_name)["EndpointConfigName"]
        config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
        model_name = config["ProductionVariants"][0]["ModelName"]
        model = sagemaker.describe_model(ModelName=model_name)
    except botocore.exceptions.ClientError as error:
        details = error.response.get("Error", {})
        raise ModelLookupFailed(
            f"which model endpoint {endpoint_name!r} serves is unknown: {details.get('Code', '')}: "
            f"{details.get('Message', '')}"
        ) from error
    except botocore.exceptions.BotoCoreError as error:
        raise ModelLookupFailed(
            f"which model endpoint {endpoint_name!r} serves is unknown: {error}"
        ) from error
    return ServedModel(model_name=model_name, model_version=model_version(model))


class ServedModelCache:
    """One lookup per TTL_S per execution environment, so a burst of executions costs a handful of Describe calls."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entry: tuple[str, float, ServedModel] | None = None

    def get(self, sagemaker: Any, endpoint_name: str) -> ServedModel:
        now = self._clock()
        if self._entry is not None:
            name, looked_up_at, served = self._entry
            if name == endpoint_name and now - looked_up_at < TTL_S:
                return served
        served = describe_served_model(sagemaker, endpoint_name)
        self._entry = (endpoint_name, now, served)
        return served

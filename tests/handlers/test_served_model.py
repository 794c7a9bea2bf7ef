"""The classifier's lookup of the model its endpoint serves (lambda_src/classify_image/served_model.py)."""

from __future__ import annotations

import pytest

from tests.handlers.conftest import SERVED_MODEL_NAME, served_model_responses
from tests.lambda_handlers import load_handler_module
from tests.stubs import stubbed_client

served_model = load_handler_module("classify_image").served_model
ENDPOINT = "scones-vision-endpoint"


@pytest.fixture
def sagemaker():
    with stubbed_client("sagemaker") as pair:
        yield pair


def test_the_lookup_follows_endpoint_config_and_model_to_the_package_version(sagemaker):
    client, stubber = sagemaker
    expected = [
        {"EndpointName": ENDPOINT},
        {"EndpointConfigName": "config-1"},
        {"ModelName": SERVED_MODEL_NAME},
    ]
    for (operation, response), params in zip(served_model_responses(ENDPOINT), expected, strict=True):
        stubber.add_response(operation, response, params)

    served = served_model.describe_served_model(client, ENDPOINT)

    assert served.fields() == {"model_name": SERVED_MODEL_NAME, "model_version": 3}


@pytest.mark.parametrize(
    ("model", "version"),
    [
        ({"PrimaryContainer": {"ModelPackageName": "arn:aws:sagemaker:eu-west-1:1:model-package/g/12"}}, 12),
        (
            {"Containers": [{"Image": "i"}, {"ModelPackageName": "arn:aws:sagemaker:r:1:model-package/g/2"}]},
            2,
        ),
        # An unversioned package is named without a version; a brought artifact has no package at all.
        ({"PrimaryContainer": {"ModelPackageName": "arn:aws:sagemaker:r:1:model-package/my-package"}}, None),
        ({"PrimaryContainer": {"ModelDataUrl": "s3://b/model.tar.gz", "Image": "i"}}, None),
        ({}, None),
    ],
    ids=["primary-container", "containers", "unversioned-package", "brought-artifact", "no-container"],
)
def test_model_version_is_the_package_version_or_none(model, version):
    assert served_model.model_version(model) == version


@pytest.mark.parametrize("code", ["ThrottlingException", "AccessDeniedException", "ValidationException"])
def test_a_refused_describe_is_model_lookup_failed_naming_the_endpoint(sagemaker, code):
    client, stubber = sagemaker
    stubber.add_client_error("describe_endpoint", code, "no", 400)

    with pytest.raises(served_model.ModelLookupFailed) as raised:
        served_model.describe_served_model(client, ENDPOINT)

    assert str(raised.value) == f"which model endpoint {ENDPOINT!r} serves is unknown: {code}: no"


def test_the_cache_looks_up_once_per_ttl_and_again_for_another_endpoint(sagemaker):
    client, stubber = sagemaker
    now = [1000.0]
    cache = served_model.ServedModelCache(clock=lambda: now[0])
    for endpoint, model in ((ENDPOINT, "m1"), (ENDPOINT, "m2"), ("other", "m3")):
        for operation, response in served_model_responses(endpoint, model):
            stubber.add_response(operation, response)

    first = cache.get(client, ENDPOINT).model_name
    now[0] += served_model.TTL_S - 0.001
    cached = cache.get(client, ENDPOINT).model_name
    now[0] += 0.001
    renewed = cache.get(client, ENDPOINT).model_name
    other = cache.get(client, "other").model_name

    assert (first, cached, renewed, other) == ("m1", "m1", "m2", "m3")

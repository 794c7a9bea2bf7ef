"""served_model at its edges: the cache's TTL from both sides, endpoints by name, the first variant, an unreachable
SageMaker. Each test fails on a mutant that survived the module's other tests (mutation/README.md)."""

from __future__ import annotations

import boto3
import botocore.exceptions
import pytest
from botocore.config import Config

from tests.handlers.conftest import served_model_responses
from tests.lambda_handlers import load_handler_module
from tests.stubs import stubbed_client

served_model = load_handler_module("classify_image").served_model


@pytest.fixture
def sagemaker():
    with stubbed_client("sagemaker") as pair:
        yield pair


def queue_lookup(stubber, endpoint: str, model: str) -> None:
    for operation, response in served_model_responses(endpoint, model):
        stubber.add_response(operation, response)


def test_an_entry_is_fresh_until_exactly_ttl_seconds_and_stale_from_then_on(sagemaker):
    client, stubber = sagemaker
    now = [1000.0]
    cache = served_model.ServedModelCache(clock=lambda: now[0])
    # (seconds since the start, the model a lookup then would find, the model the cache answers)
    steps = [
        (0, "m1", "m1"),
        (59.999, None, "m1"),
        (1010, "m2", "m2"),
        (1070, "m3", "m3"),
        (1131, "m4", "m4"),
    ]
    answers = []
    for at, looked_up, _ in steps:
        now[0] = 1000.0 + at
        if looked_up:
            queue_lookup(stubber, "e", looked_up)
        answers.append(cache.get(client, "e").model_name)

    assert served_model.TTL_S == 60.0
    assert answers == [expected for *_, expected in steps]


def test_another_endpoint_is_looked_up_whatever_its_name_sorts_as(sagemaker):
    client, stubber = sagemaker
    cache = served_model.ServedModelCache(clock=lambda: 1000.0)
    queue_lookup(stubber, "scones-a", "ma")
    queue_lookup(stubber, "scones-b", "mb")
    queue_lookup(stubber, "scones-a", "ma2")

    assert [cache.get(client, name).model_name for name in ("scones-a", "scones-b", "scones-a")] == [
        "ma",
        "mb",
        "ma2",
    ]


def test_the_first_production_variant_names_the_model(sagemaker):
    client, stubber = sagemaker
    (_, endpoint), (_, config), (_, model) = served_model_responses("e", "first")
    variants = [
        {"VariantName": "AllTraffic", "ModelName": "first"},
        {"VariantName": "Canary", "ModelName": "second"},
    ]
    stubber.add_response("describe_endpoint", endpoint)
    stubber.add_response("describe_endpoint_config", {**config, "ProductionVariants": variants})
    stubber.add_response("describe_model", model, {"ModelName": "first"})

    assert served_model.describe_served_model(client, "e").model_name == "first"


def test_an_unreachable_sagemaker_is_model_lookup_failed():
    client = boto3.client(
        "sagemaker",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
        config=Config(retries={"total_max_attempts": 1}),
    )

    def refuse(**_):
        raise botocore.exceptions.EndpointConnectionError(endpoint_url="https://api.sagemaker.test")

    client.meta.events.register("before-send.sagemaker.DescribeEndpoint", refuse)

    with pytest.raises(
        served_model.ModelLookupFailed, match="which model endpoint 'e' serves is unknown: Could not"
    ):
        served_model.describe_served_model(client, "e")


def test_an_equal_endpoint_name_read_anew_finds_the_cached_entry(sagemaker):
    # The handler reads ENDPOINT_NAME from the environment at each call: an equal string, not the same object.
    client, stubber = sagemaker
    cache = served_model.ServedModelCache(clock=lambda: 1000.0)
    queue_lookup(stubber, "scones-a", "ma")
    first, again = "-".join(["scones", "a"]), "-".join(["scones", "a"])
    assert first == again and first is not again

    assert [cache.get(client, name).model_name for name in (first, again)] == ["ma", "ma"]

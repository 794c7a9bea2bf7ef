"""The algorithm image registry read as data gives exactly what the SageMaker SDK's `image_uris.retrieve` computes."""

from __future__ import annotations

import json

import pytest

from stacks.constructs.algorithm_image import (
    ALGORITHM,
    ALGORITHM_VERSION,
    ENDPOINTS_FILE,
    UnsupportedRegion,
    algorithm_registry,
    ecr_hostname,
    installed_json,
    repository_name,
)


@pytest.fixture(scope="module")
def image_uris():
    # The SDK is imported here only: the app reads its registry file without it.
    from sagemaker.core import image_uris

    return image_uris


# One region of each ECR domain the registry knows (aws, aws-cn, the two ISO partitions, GovCloud); the accounts of
# every region are compared below. retrieve() for all 37 regions costs seconds and checks the same rules again.
RETRIEVED_REGIONS = (
    "us-east-1",
    "eu-west-1",
    "cn-north-1",
    "us-iso-east-1",
    "us-isob-east-1",
    "us-gov-west-1",
)


def test_every_region_matches_the_sdks_registry_and_retrieve(image_uris):
    registry = algorithm_registry()
    sdk_regions = image_uris.config_for_framework(ALGORITHM)["versions"][ALGORITHM_VERSION]["registries"]
    assert sorted(registry) == sorted(sdk_regions)
    for region, entry in registry.items():
        assert entry["Account"] == sdk_regions[region]
        assert entry["ImageUri"].startswith(f"{sdk_regions[region]}.dkr.ecr.{region}.")
    for region in RETRIEVED_REGIONS:
        retrieved = image_uris.retrieve(ALGORITHM, region=region, version=ALGORITHM_VERSION)
        assert registry[region]["ImageUri"] == retrieved
    assert repository_name() == image_uris.config_for_framework(ALGORITHM)["versions"]["1"]["repository"]


def test_partitions_outside_aws_get_their_own_domains():
    registry = algorithm_registry()
    assert registry["cn-north-1"]["ImageUri"].startswith("390948362332.dkr.ecr.cn-north-1.amazonaws.com.cn/")
    assert ".c2s.ic.gov/" in registry["us-iso-east-1"]["ImageUri"]
    assert ".sc2s.sgov.gov/" in registry["us-isob-east-1"]["ImageUri"]
    assert (
        registry["us-east-1"]["ImageUri"]
        == "811284229777.dkr.ecr.us-east-1.amazonaws.com/image-classification:1"
    )


def test_hostname_follows_botocores_resolver_for_regions_the_registry_does_not_list():
    import botocore.loaders
    import botocore.regions

    endpoints = installed_json(*ENDPOINTS_FILE)
    resolver = botocore.regions.EndpointResolver(botocore.loaders.create_loader().load_data("endpoints"))
    regions = {region for partition in endpoints["partitions"] for region in partition["regions"]}
    # A region no partition lists but one partition's pattern matches is resolved from the defaults.
    for region in sorted(regions | {"us-west-9", "cn-south-7"}):
        assert ecr_hostname(region, endpoints) == resolver.construct_endpoint("ecr", region)["hostname"], (
            region
        )


def test_a_region_of_no_partition_is_named():
    with pytest.raises(UnsupportedRegion, match="'moon-base-1'"):
        ecr_hostname("moon-base-1", json.loads('{"partitions": []}'))

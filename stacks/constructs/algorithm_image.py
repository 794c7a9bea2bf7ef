"""The built-in image-classification algorithm's container image, for whichever region the stack lands in."""

from __future__ import annotations

import json
import re
from functools import cache
from importlib.metadata import distribution
from typing import Any

from aws_cdk import Aws, CfnMapping, Stack, Token
from constructs import Construct

ALGORITHM = "image-classification"
ALGORITHM_VERSION = "1"
# The SageMaker SDK's own registry of the algorithm's images, and botocore's endpoint data that gives each region's
# ECR host name. Both are read as data: importing the SDK and calling `image_uris.retrieve` per region took two
# thirds of the app's synth; tests/model/test_algorithm_image.py proves the result is the same for every region.
REGISTRY_FILE = ("sagemaker-core", f"sagemaker/core/image_uri_config/{ALGORITHM}.json")
ENDPOINTS_FILE = ("botocore", "botocore/data/endpoints.json")
# sagemaker.core.image_uris.ECR_URI_TEMPLATE, with the algorithm's version as the tag.
IMAGE_URI_TEMPLATE = "{account}.dkr.{hostname}/{repository}:{version}"


class UnsupportedRegion(ValueError):
    """The stack's explicit region has no image-classification image in the SageMaker SDK's registry."""


def installed_json(package: str, path: str) -> Any:
    with distribution(package).locate_file(path).open(encoding="utf-8") as file:  # type: ignore[union-attr]
        return json.load(file)


@cache
def _algorithm_config() -> dict[str, Any]:
    return installed_json(*REGISTRY_FILE)["versions"][ALGORITHM_VERSION]


def ecr_hostname(region: str, endpoints: dict[str, Any]) -> str:
    """ECR's host name in a region, as botocore's EndpointResolver.construct_endpoint("ecr", region) builds it
    (the SDK's `retrieve` asks it): the partition that lists or matches the region, the region's own entry, then
    the service's and the partition's defaults. The partition's DNS suffix gives cn/iso regions their domains."""
    for partition in endpoints["partitions"]:
        service = partition["services"].get("ecr", {"endpoints": {}})
        listed = region in service["endpoints"]
        if not (
            listed or region in partition["regions"] or re.match(partition.get("regionRegex", "$^"), region)
        ):
            continue
        endpoint = {
            **partition.get("defaults", {}),
            **service.get("defaults", {}),
            **service["endpoints"].get(region, {}),
        }
        dns_suffix = service["endpoints"].get(region, {}).get("dnsSuffix", partition["dnsSuffix"])
        return endpoint["hostname"].format(service="ecr", region=region, dnsSuffix=dns_suffix)
    raise UnsupportedRegion(
        f"region {region!r} is in no partition of the installed botocore's endpoint data; a sagemaker-core newer "
        "than boto3 lists it: pin matching versions in requirements.txt"
    )


@cache
def algorithm_registry() -> dict[str, dict[str, str]]:
    """Region -> {"ImageUri", "Account"} from the SageMaker SDK's own registry, never typed by hand."""
    config = _algorithm_config()
    endpoints = installed_json(*ENDPOINTS_FILE)
    return {
        region: {
            "ImageUri": IMAGE_URI_TEMPLATE.format(
                account=account,
                hostname=ecr_hostname(region, endpoints),
                repository=config["repository"],
                version=ALGORITHM_VERSION,
            ),
            "Account": account,
        }
        for region, account in sorted(config["registries"].items())
    }


def repository_name() -> str:
    return _algorithm_config()["repository"]


class AlgorithmImage(Construct):
    """A region -> image mapping looked up with AWS::Region, so one template serves every supported region."""

    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        registry = algorithm_registry()
        region = Stack.of(self).region
        if not Token.is_unresolved(region) and region not in registry:
            raise UnsupportedRegion(
                f"region {region!r} has no SageMaker {ALGORITHM} image; supported regions: {', '.join(registry)}"
            )
        mapping = CfnMapping(self, "Registry", mapping=registry)
        self.image_uri: str = mapping.find_in_map(Aws.REGION, "ImageUri")
        self.repository_arn: str = Stack.of(self).format_arn(
            service="ecr",
            account=mapping.find_in_map(Aws.REGION, "Account"),
            resource="repository",
            resource_name=repository_name(),
        )

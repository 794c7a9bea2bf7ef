"""The built-in image-classification algorithm's container image, for whichever region the stack lands in."""

from __future__ import annotations

from functools import cache

from aws_cdk import Aws, CfnMapping, Stack, Token
from constructs import Construct

ALGORITHM = "image-classification"
ALGORITHM_VERSION = "1"


class UnsupportedRegion(ValueError):
    """The stack's explicit region has no image-classification image in the SageMaker SDK's registry."""


@cache
def algorithm_registry() -> dict[str, dict[str, str]]:
    """Region -> {"ImageUri", "Account"} from the SageMaker SDK's own registry, never typed by hand.

    `image_uris.retrieve` also knows each partition's domain (amazonaws.com.cn, c2s.ic.gov, ...). Imported
    here, not at module level: the SDK takes about a second to import and only synth needs it.
    """
    from sagemaker.core import image_uris

    registries = image_uris.config_for_framework(ALGORITHM)["versions"][ALGORITHM_VERSION]["registries"]
    return {
        region: {
            "ImageUri": image_uris.retrieve(ALGORITHM, region=region, version=ALGORITHM_VERSION),
            "Account": account,
        }
        for region, account in sorted(registries.items())
    }


def repository_name() -> str:
    from sagemaker.core import image_uris

    return image_uris.config_for_framework(ALGORITHM)["versions"][ALGORITHM_VERSION]["repository"]


class AlgorithmImage(Construct):
    """A region -> image mapping looked up with AWS::Region, so one template serves every supported region.

    Attributes: `image_uri` and `repository_arn` (the ECR repository the image is pulled from), both tokens.
    """

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

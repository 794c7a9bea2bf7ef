"""The one boto3 session of every ops command, in the account and region `cdk deploy` would use."""

from __future__ import annotations

import os

import boto3
from botocore.exceptions import ClientError

from ops.errors import OpsError
from stacks.names import stack_name

# The CDK CLI's order (AwsCliCompatible.region in aws-cdk-cli, packages/@aws-cdk/toolkit-lib/lib/api/aws-auth/
# awscli-compatible.ts; profiles: https://docs.aws.amazon.com/cdk/v2/guide/configure-env.html): these variables,
# then the profile's region, then us-east-1. boto3 alone reads neither AWS_REGION nor AMAZON_REGION.
REGION_VARIABLES = ("AWS_REGION", "AMAZON_REGION", "AWS_DEFAULT_REGION", "AMAZON_DEFAULT_REGION")
PROFILE_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE")
CDK_FALLBACK_REGION = "us-east-1"


def _first(names) -> str | None:
    return next((os.environ[name] for name in names if os.environ.get(name)), None)


def aws_session(region: str | None = None, profile: str | None = None) -> boto3.Session:
    profile = profile or _first(PROFILE_VARIABLES)
    region = region or _first(REGION_VARIABLES)
    if not region:
        region = boto3.Session(profile_name=profile).region_name or CDK_FALLBACK_REGION
    return boto3.Session(profile_name=profile, region_name=region)


class Deployment:
    """The stacks "<project>-<unit>" of a deployed app; CloudFormation is asked once per stack."""

    def __init__(self, session: boto3.Session, project: str):
        self.session, self.project = session, project
        self._outputs: dict[str, dict[str, str]] = {}

    def output(self, unit: str, key: str, given: str | None = None) -> str:
        """The stack's output `key`, unless a value was given (a command-line option)."""
        if given:
            return given
        name = stack_name(self.project, unit)
        if name not in self._outputs:
            self._outputs[name] = self._describe(name)
        outputs = self._outputs[name]
        if key not in outputs:
            raise OpsError(
                f"stack {name!r} has no output {key!r} (its outputs: {', '.join(sorted(outputs)) or 'none'})"
            )
        return outputs[key]

    def _describe(self, name: str) -> dict[str, str]:
        cloudformation = self.session.client("cloudformation")
        try:
            stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
        except ClientError as error:
            if "does not exist" in error.response["Error"]["Message"]:
                raise OpsError(
                    f"no stack {name!r} in region {self.session.region_name}: deploy with `make deploy`, or give "
                    "--region, --profile or --stack-prefix (cdk.json's project_name)"
                ) from error
            raise
        return {output["OutputKey"]: output["OutputValue"] for output in stack.get("Outputs", [])}

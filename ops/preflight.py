"""`make preflight`: read-only checks that a deploy can succeed, run before anything is created.

Each check is a small function over the clients it needs and returns a `Check` (pass, warn or fail, with the fix
for anything but a pass; skip when it needs credentials that were refused); `run_preflight` runs them all against
one boto3 session. What a check cannot decide (no permission to look) is a warning, never a crash.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from data_prep.errors import DatasetError
from data_prep.manifest import Manifest
from ops.assembly import BootstrapRequirement, CloudAssembly, algorithm_image_regions
from ops.deployment import BUCKET_NAME_OUTPUT, MODEL_STACK, STORAGE_STACK
from ops.errors import OpsError
from stacks.dataset_source import PROJECT_ROOT
from stacks.s3_layout import project_bucket_name

if TYPE_CHECKING:
    import boto3

    from stacks.config import AppConfig

BOOTSTRAP_DOCS = "https://docs.aws.amazon.com/cdk/v2/guide/bootstrapping-env.html"
QUOTAS_CONSOLE = "https://console.aws.amazon.com/servicequotas/home/services/sagemaker/quotas"
SAGEMAKER_QUOTAS_DOCS = "https://docs.aws.amazon.com/general/latest/gr/sagemaker.html#limits_sagemaker"
SAGEMAKER_SERVICE_CODE = "sagemaker"


class Status(enum.Enum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""


class PreflightCannotRun(OpsError):
    """Nothing could be checked: no region configured, or no credentials at all."""


@dataclass(frozen=True)
class QuotaNeed:
    """One SageMaker instance quota the deploy uses, by its Service Quotas name, and how many instances it needs."""

    purpose: str
    quota_name: str
    instances: int


def required_quotas(config: AppConfig) -> list[QuotaNeed]:
    """The quotas this deploy draws on. SageMaker names them "<instance type> for <usage>", e.g.
    "ml.g4dn.xlarge for training job usage" (the names ResourceLimitExceeded quotes; listed per type in
    https://docs.aws.amazon.com/general/latest/gr/sagemaker.html). A managed spot training job is counted against
    the "spot training job usage" quota (the one ResourceLimitExceeded names for it), so that is the one checked
    with use_spot_training. With model_data_url nothing is trained. An autoscaled endpoint may grow to
    autoscaling_max_instances. A serverless endpoint uses no instance quota: its concurrency counts against the
    account's serverless quotas (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html), which
    the README asks to check by hand, as their Service Quotas names could not be verified here."""
    needs = []
    if not config.model_data_url:
        usage = "spot training job usage" if config.use_spot_training else "training job usage"
        needs.append(
            QuotaNeed(
                "spot training" if config.use_spot_training else "training",
                f"{config.training_instance_type} for {usage}",
                config.training_instance_count,
            )
        )
    if config.endpoint_mode == "realtime":
        needs.append(
            QuotaNeed(
                "endpoint",
                f"{config.endpoint_instance_type} for endpoint usage",
                config.autoscaling_max_instances
                if config.autoscaling_enabled
                else config.endpoint_instance_count,
            )
        )
    return needs


def check_credentials(sts) -> tuple[Check, str | None]:
    """Who the credentials are, and the account to deploy into. GetCallerIdentity needs no permission
    (https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html).

    botocore's NoCredentialsError (nothing configured at all) is left to the caller: then nothing can run.
    """
    try:
        identity = sts.get_caller_identity()
    except ClientError as error:
        code = error.response["Error"]["Code"]
        return (
            Check(
                "credentials",
                Status.FAIL,
                f"STS refused the credentials: {code}: {error.response['Error'].get('Message', '')}".strip(),
                "refresh or replace them (`aws sso login`, `aws configure`, or another --profile)",
            ),
            None,
        )
    account = identity["Account"]
    return Check("credentials", Status.PASS, f"{identity['Arn']} (account {account})"), account


def check_algorithm_region(regions: Sequence[str], region: str) -> Check:
    name = "algorithm image"
    if region in regions:
        return Check(name, Status.PASS, f"the image-classification image exists in {region}")
    return Check(
        name,
        Status.FAIL,
        f"SageMaker's image-classification algorithm has no image in {region}",
        f"deploy to one of: {', '.join(regions)} (--region, or AWS_REGION)",
    )


def check_bootstrap(ssm, requirement: BootstrapRequirement, *, account: str, region: str) -> Check:
    """The deployed bootstrap version, read where `cdk deploy` reads it: the SSM parameter the assembly names
    (/cdk-bootstrap/hnb659fds/version by default), which works whatever the bootstrap stack is called.
    https://docs.aws.amazon.com/cdk/v2/guide/bootstrapping-env.html"""
    name = "CDK bootstrap"
    bootstrap = f"npx cdk bootstrap aws://{account}/{region} (see {BOOTSTRAP_DOCS})"
    try:
        value = ssm.get_parameter(Name=requirement.ssm_parameter)["Parameter"]["Value"]
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "ParameterNotFound":
            return Check(
                name,
                Status.FAIL,
                f"{region} is not bootstrapped for the CDK: no SSM parameter {requirement.ssm_parameter}",
                bootstrap,
            )
        return Check(
            name,
            Status.WARN,
            f"cannot read {requirement.ssm_parameter} ({code}); cdk deploy reads it with the bootstrap's role",
            f"if the deploy says the environment is not bootstrapped: {bootstrap}",
        )
    if not value.isdigit() or int(value) < requirement.version:
        return Check(
            name,
            Status.FAIL,
            f"bootstrap version {value} in {region}, this app needs {requirement.version} or later",
            f"bootstrap again with this project's CDK CLI: {bootstrap}",
        )
    return Check(name, Status.PASS, f"version {value} (needs {requirement.version} or later)")


def check_quotas(service_quotas, needs: Sequence[QuotaNeed], *, region: str) -> list[Check]:
    """One row per needed quota: its applied value (ListServiceQuotas) or, where no value was ever applied, its
    default (ListServiceQuotas omits those: https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ListServiceQuotas.html)."""
    if not needs:
        return []
    try:
        found = _quotas_named(service_quotas, "list_service_quotas", {need.quota_name for need in needs})
        missing = {need.quota_name for need in needs} - set(found)
        if missing:
            found |= _quotas_named(service_quotas, "list_aws_default_service_quotas", missing)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        wanted = "; ".join(f"'{need.quota_name}' >= {need.instances}" for need in needs)
        return [
            Check(
                "SageMaker quotas",
                Status.WARN,
                f"cannot read Service Quotas ({code})",
                f"check by hand in {region}: {wanted} at {QUOTAS_CONSOLE}",
            )
        ]
    return [_quota_check(need, found.get(need.quota_name), region=region) for need in needs]


def _quotas_named(service_quotas, operation: str, names: set[str]) -> dict[str, dict]:
    """The quotas of those names, paging only as far as needed (SageMaker has thousands of quotas)."""
    found: dict[str, dict] = {}
    pages = service_quotas.get_paginator(operation).paginate(ServiceCode=SAGEMAKER_SERVICE_CODE)
    for page in pages:
        found |= {quota["QuotaName"]: quota for quota in page["Quotas"] if quota["QuotaName"] in names}
        if len(found) == len(names):
            break
    return found


def _quota_check(need: QuotaNeed, quota: dict | None, *, region: str) -> Check:
    name = f"{need.purpose} quota"
    if quota is None:
        return Check(
            name,
            Status.WARN,
            f"no quota '{need.quota_name}' in {region}: is that instance type offered there?",
            f"compare with {SAGEMAKER_QUOTAS_DOCS} and {QUOTAS_CONSOLE}",
        )
    value = quota["Value"]
    shown = f"'{need.quota_name}' is {value:g}"
    if value >= need.instances:
        return Check(name, Status.PASS, f"{shown}, {need.instances} needed")
    code = quota["QuotaCode"]
    new_account = " (new accounts often start at 0 for GPU instances)" if value == 0 else ""
    return Check(
        name,
        Status.FAIL,
        f"{shown} in {region}, {need.instances} needed{new_account}",
        f"request {need.instances} at {QUOTAS_CONSOLE}/{code} (region {region}), or:\n"
        f"aws service-quotas request-service-quota-increase --service-code {SAGEMAKER_SERVICE_CODE} "
        f"--quota-code {code} --desired-value {need.instances} --region {region}",
    )


def check_bucket(s3, cloudformation, *, bucket: str, storage_stack: str) -> Check:
    """Whether the storage stack can create its bucket. HeadBucket answers 404 when no bucket has the name,
    403 when one exists that these credentials may not see (another account's), 200 when it is ours
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html). Ours is fine only if it is the
    deployed Storage stack's own bucket; otherwise it is one an earlier deploy retained."""
    name = "bucket name"
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("404", "NoSuchBucket"):
            return Check(name, Status.PASS, f"{bucket} is free")
        if code in ("403", "AccessDenied"):
            return Check(
                name,
                Status.FAIL,
                f"{bucket} exists and these credentials cannot see it: another account owns the name",
                'choose another project_name (CONTEXT="-c project_name=...")',
            )
        return Check(name, Status.WARN, f"HeadBucket {bucket} answered {code}", "check the name by hand")
    try:
        owned_by_stack = _stack_bucket(cloudformation, storage_stack) == bucket
    except ClientError as error:
        return Check(
            name,
            Status.WARN,
            f"{bucket} exists; cannot tell whether {storage_stack} owns it "
            f"(DescribeStacks: {error.response['Error']['Code']})",
            f"if no {storage_stack} stack is deployed, the bucket was retained: delete it or choose another "
            "project_name",
        )
    if owned_by_stack:
        return Check(name, Status.PASS, f"{bucket} belongs to the deployed {storage_stack} stack")
    return Check(
        name,
        Status.FAIL,
        f"{bucket} exists but no deployed {storage_stack} stack owns it (retained by an earlier deploy)",
        # The bucket is versioned: `aws s3 rb --force` deletes only current objects and then fails
        # (https://docs.aws.amazon.com/cli/latest/reference/s3/rb.html); this deletes every version first.
        "if its data is not needed, delete it with every object version:\n"
        f".venv/bin/python -c \"import boto3; b = boto3.resource('s3').Bucket('{bucket}'); "
        'b.object_versions.delete(); b.delete()"\n'
        'or choose another project_name (CONTEXT="-c project_name=...")',
    )


def _stack_bucket(cloudformation, stack_name: str) -> str | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ValidationError" and "does not exist" in str(error):
            return None
        raise
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    return outputs.get(BUCKET_NAME_OUTPUT)


def check_dataset(dataset_dir: Path) -> Check:
    name = "dataset"
    try:
        manifest = Manifest.load(dataset_dir)
    except DatasetError as error:
        return Check(name, Status.FAIL, str(error), "make data")
    if manifest.synthetic:
        return Check(
            name,
            Status.FAIL,
            f"{dataset_dir} holds a generated (synthetic) dataset, not CIFAR-100",
            "make data (downloads CIFAR-100 once; SOURCE=<tarball> uses a local copy)",
        )
    return Check(
        name,
        Status.PASS,
        f"{dataset_dir}: {', '.join(manifest.classes)}, {manifest.num_training_samples} training images",
    )


def deploy_region_from_environment() -> str | None:
    """The region variable `cdk deploy` reads first and botocore does not read at all.

    The CDK CLI takes AWS_REGION, then AMAZON_REGION, before AWS_DEFAULT_REGION and the profile's region
    (aws-cdk's SdkProvider); boto3 reads only the last two. None leaves the choice to boto3.
    """
    return os.environ.get("AWS_REGION") or os.environ.get("AMAZON_REGION") or None


def run_preflight(session: boto3.Session, config: AppConfig, cdk_out: Path) -> list[Check]:
    """Every check, in the order a deploy meets them. Read-only: Get, List, Describe and Head calls only."""
    region = session.region_name
    if not region:
        raise PreflightCannotRun(
            "no AWS region configured (cdk deploy would fall back to us-east-1): give --region, or set "
            "AWS_REGION or a profile's region"
        )
    assembly = CloudAssembly(cdk_out)
    regions = algorithm_image_regions(assembly.template(f"{config.project_name}-{MODEL_STACK}"))
    requirements = assembly.bootstrap_requirements()

    credentials, account = check_credentials(session.client("sts"))
    checks = [credentials, check_algorithm_region(regions, region)]
    if account is None:
        needs_account = ["CDK bootstrap", "SageMaker quotas", "bucket name"]
        checks += [Check(name, Status.SKIP, "needs working credentials") for name in needs_account]
    else:
        ssm = session.client("ssm")
        checks += [check_bootstrap(ssm, req, account=account, region=region) for req in requirements]
        checks += check_quotas(session.client("service-quotas"), required_quotas(config), region=region)
        checks.append(
            check_bucket(
                session.client("s3"),
                session.client("cloudformation"),
                bucket=project_bucket_name(config.project_name, account, region),
                storage_stack=f"{config.project_name}-{STORAGE_STACK}",
            )
        )
    dataset_dir = Path(config.dataset_dir)
    checks.append(check_dataset(dataset_dir if dataset_dir.is_absolute() else PROJECT_ROOT / dataset_dir))
    return checks


def render_checks(checks: Iterable[Check]) -> str:
    """Aligned columns, the fix on its own lines under each row that is not a pass, then a summary line."""
    checks = list(checks)
    width = max(len("check"), *(len(check.name) for check in checks))
    lines = [f"{'check':<{width}}  status  detail"]
    for check in checks:
        lines.append(f"{check.name:<{width}}  {check.status.value:<6}  {check.detail}")
        indent = " " * (width + 10)
        lines += [
            f"{indent}{'fix: ' if n == 0 else '     '}{line}" for n, line in enumerate(check.fix.splitlines())
        ]
    counts = {status: sum(check.status is status for check in checks) for status in Status}
    summary = ", ".join(f"{counts[status]} {status.value}" for status in Status if counts[status])
    verdict = "ready to deploy" if not counts[Status.FAIL] else "fix the failing checks, then deploy"
    lines.append(f"{len(checks)} checks: {summary}: {verdict}")
    return "\n".join(lines)


def any_failed(checks: Iterable[Check]) -> bool:
    return any(check.status is Status.FAIL for check in checks)

"""`make preflight`: read-only checks that a deploy can succeed; a check that cannot tell is a warning."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from data_prep.errors import DatasetError
from data_prep.manifest import Manifest
from ops.assembly import BootstrapRequirement, CloudAssembly, algorithm_image_regions
from stacks import names
from stacks.dataset_source import PROJECT_ROOT
from stacks.s3_layout import project_bucket_name

if TYPE_CHECKING:
    import boto3

    from stacks.config import AppConfig

BOOTSTRAP_DOCS = "https://docs.aws.amazon.com/cdk/v2/guide/bootstrapping-env.html"
QUOTAS_CONSOLE = "https://console.aws.amazon.com/servicequotas/home/services/sagemaker/quotas"
SAGEMAKER_QUOTAS_DOCS = "https://docs.aws.amazon.com/general/latest/gr/sagemaker.html#limits_sagemaker"
SAGEMAKER_SERVICE_CODE = "sagemaker"
RENAME = 'choose another project_name (CONTEXT="-c project_name=...")'


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


@dataclass(frozen=True)
class QuotaNeed:
    purpose: str
    quota_name: str
    instances: int


def required_quotas(config: AppConfig) -> list[QuotaNeed]:
    # Quota names "<instance type> for <usage>", as ResourceLimitExceeded quotes them and
    # https://docs.aws.amazon.com/general/latest/gr/sagemaker.html lists them; spot training has its own quota. A
    # serverless endpoint draws on no instance quota, only the account's serverless concurrency
    # (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints.html), checked by hand.
    needs = []
    if config.trains:
        spot = "spot " if config.use_spot_training else ""
        usage = f"{config.training_instance_type} for {spot}training job usage"
        needs.append(QuotaNeed(f"{spot}training", usage, config.training_instance_count))
    if config.endpoint_mode == "realtime":
        count = (
            config.autoscaling_max_instances if config.autoscaling_enabled else config.endpoint_instance_count
        )
        needs.append(QuotaNeed("endpoint", f"{config.endpoint_instance_type} for endpoint usage", count))
    return needs


def check_credentials(sts) -> tuple[Check, str | None]:
    # GetCallerIdentity needs no permission: https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html
    try:
        identity = sts.get_caller_identity()
    except ClientError as error:
        refused = f"{error.response['Error']['Code']}: {error.response['Error'].get('Message', '')}".strip()
        fix = "refresh or replace them (`aws sso login`, `aws configure`, or another --profile)"
        return Check("credentials", Status.FAIL, f"STS refused the credentials: {refused}", fix), None
    account = identity["Account"]
    return Check("credentials", Status.PASS, f"{identity['Arn']} (account {account})"), account


def check_algorithm_region(regions: Sequence[str], region: str) -> Check:
    name = "algorithm image"
    if region in regions:
        return Check(name, Status.PASS, f"the image-classification image exists in {region}")
    fix = f"deploy to one of: {', '.join(regions)} (--region, or AWS_REGION)"
    return Check(
        name, Status.FAIL, f"SageMaker's image-classification algorithm has no image in {region}", fix
    )


def check_bootstrap(ssm, requirement: BootstrapRequirement, *, account: str, region: str) -> Check:
    # Read where `cdk deploy` reads it, the SSM parameter the assembly names: BOOTSTRAP_DOCS.
    name = "CDK bootstrap"
    bootstrap = f"npx cdk bootstrap aws://{account}/{region} (see {BOOTSTRAP_DOCS})"
    try:
        value = ssm.get_parameter(Name=requirement.ssm_parameter)["Parameter"]["Value"]
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "ParameterNotFound":
            detail = f"{region} is not bootstrapped for the CDK: no SSM parameter {requirement.ssm_parameter}"
            return Check(name, Status.FAIL, detail, bootstrap)
        detail = (
            f"cannot read {requirement.ssm_parameter} ({code}); cdk deploy reads it with the bootstrap's role"
        )
        fix = f"if the deploy says the environment is not bootstrapped: {bootstrap}"
        return Check(name, Status.WARN, detail, fix)
    if not value.isdigit() or int(value) < requirement.version:
        detail = f"bootstrap version {value} in {region}, this app needs {requirement.version} or later"
        return Check(name, Status.FAIL, detail, f"bootstrap again with this project's CDK CLI: {bootstrap}")
    return Check(name, Status.PASS, f"version {value} (needs {requirement.version} or later)")


def check_quotas(service_quotas, needs: Sequence[QuotaNeed], *, region: str) -> list[Check]:
    # ListServiceQuotas omits quotas never changed; their default is in ListAWSDefaultServiceQuotas:
    # https://docs.aws.amazon.com/servicequotas/2019-06-24/apireference/API_ListServiceQuotas.html
    if not needs:
        return []
    try:
        found = _quotas_named(service_quotas, "list_service_quotas", {need.quota_name for need in needs})
        missing = {need.quota_name for need in needs} - set(found)
        if missing:
            found |= _quotas_named(service_quotas, "list_aws_default_service_quotas", missing)
    except ClientError as error:
        detail = f"cannot read Service Quotas ({error.response['Error']['Code']})"
        wanted = "; ".join(f"'{need.quota_name}' >= {need.instances}" for need in needs)
        fix = f"check by hand in {region}: {wanted} at {QUOTAS_CONSOLE}"
        return [Check("SageMaker quotas", Status.WARN, detail, fix)]
    return [_quota_check(need, found.get(need.quota_name), region=region) for need in needs]


def _quotas_named(service_quotas, operation: str, names: set[str]) -> dict[str, dict]:
    # Pages only as far as needed: SageMaker has thousands of quotas.
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
        detail = f"no quota '{need.quota_name}' in {region}: is that instance type offered there?"
        return Check(name, Status.WARN, detail, f"compare with {SAGEMAKER_QUOTAS_DOCS} and {QUOTAS_CONSOLE}")
    value = quota["Value"]
    shown = f"'{need.quota_name}' is {value:g}"
    if value >= need.instances:
        return Check(name, Status.PASS, f"{shown}, {need.instances} needed")
    code = quota["QuotaCode"]
    new_account = " (new accounts often start at 0 for GPU instances)" if value == 0 else ""
    fix = (
        f"request {need.instances} at {QUOTAS_CONSOLE}/{code} (region {region}), or:\n"
        f"aws service-quotas request-service-quota-increase --service-code {SAGEMAKER_SERVICE_CODE} "
        f"--quota-code {code} --desired-value {need.instances} --region {region}"
    )
    return Check(name, Status.FAIL, f"{shown} in {region}, {need.instances} needed{new_account}", fix)


def check_bucket(s3, cloudformation, *, bucket: str, storage_stack: str) -> Check:
    # HeadBucket: 404 free, 403 another account's, 200 ours, which is fine only if the Storage stack owns it
    # (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadBucket.html).
    name = "bucket name"
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("404", "NoSuchBucket"):
            return Check(name, Status.PASS, f"{bucket} is free")
        if code in ("403", "AccessDenied"):
            detail = f"{bucket} exists and these credentials cannot see it: another account owns the name"
            return Check(name, Status.FAIL, detail, RENAME)
        return Check(name, Status.WARN, f"HeadBucket {bucket} answered {code}", "check the name by hand")
    try:
        owned_by_stack = _stack_bucket(cloudformation, storage_stack) == bucket
    except ClientError as error:
        code = error.response["Error"]["Code"]
        detail = f"{bucket} exists; cannot tell whether {storage_stack} owns it (DescribeStacks: {code})"
        retained = f"if no {storage_stack} stack is deployed, the bucket was retained"
        return Check(name, Status.WARN, detail, f"{retained}: delete it or choose another project_name")
    if owned_by_stack:
        return Check(name, Status.PASS, f"{bucket} belongs to the deployed {storage_stack} stack")
    detail = f"{bucket} exists but no deployed {storage_stack} stack owns it (retained by an earlier deploy)"
    # The bucket is versioned: `aws s3 rb --force` deletes only current objects and then fails
    # (https://docs.aws.amazon.com/cli/latest/reference/s3/rb.html); this deletes every version first.
    fix = (
        "if its data is not needed, delete it with every object version:\n"
        f".venv/bin/python -c \"import boto3; b = boto3.resource('s3').Bucket('{bucket}'); "
        f'b.object_versions.delete(); b.delete()"\nor {RENAME}'
    )
    return Check(name, Status.FAIL, detail, fix)


def _stack_bucket(cloudformation, stack_name: str) -> str | None:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except ClientError as error:
        if error.response["Error"]["Code"] == "ValidationError" and "does not exist" in str(error):
            return None
        raise
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    return outputs.get(names.BUCKET_NAME_OUTPUT)


def check_dataset(dataset_dir: Path) -> Check:
    name = "dataset"
    try:
        manifest = Manifest.load(dataset_dir)
    except DatasetError as error:
        return Check(name, Status.FAIL, str(error), "make data")
    if manifest.synthetic:
        detail = f"{dataset_dir} holds a generated (synthetic) dataset, not CIFAR-100"
        return Check(
            name,
            Status.FAIL,
            detail,
            "make data (downloads CIFAR-100 once; SOURCE=<tarball> uses a local copy)",
        )
    detail = f"{dataset_dir}: {', '.join(manifest.classes)}, {manifest.num_training_samples} training images"
    return Check(name, Status.PASS, detail)


def run_preflight(session: boto3.Session, config: AppConfig, cdk_out: Path) -> list[Check]:
    """Every check, in the order a deploy meets them; Get, List, Describe and Head calls only."""
    region = session.region_name
    assembly = CloudAssembly(cdk_out)
    regions = algorithm_image_regions(assembly.template(names.stack_name(config.project_name, names.MODEL)))
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
                storage_stack=names.stack_name(config.project_name, names.STORAGE),
            )
        )
    dataset_dir = Path(config.dataset_dir)
    checks.append(check_dataset(dataset_dir if dataset_dir.is_absolute() else PROJECT_ROOT / dataset_dir))
    return checks


def render_checks(checks: Iterable[Check]) -> str:
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

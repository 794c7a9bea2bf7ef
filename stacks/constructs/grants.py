"""Policy statements the constructs share: object access under a prefix, and listing held to that prefix."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3


def on_objects(bucket: s3.IBucket, prefix: str, *actions: str) -> iam.PolicyStatement:
    return iam.PolicyStatement(actions=list(actions), resources=[bucket.arn_for_objects(f"{prefix}*")])


def list_prefix(bucket: s3.IBucket, prefix: str) -> iam.PolicyStatement:
    """s3:ListBucket on the bucket, held to the prefix by a condition."""
    return iam.PolicyStatement(
        actions=["s3:ListBucket"],
        resources=[bucket.bucket_arn],
        conditions={"StringLike": {"s3:prefix": [f"{prefix}*"]}},
    )

"""The project bucket and its access-log bucket: private, encrypted, TLS-only, logged, and removed by destroy."""

from __future__ import annotations

import pytest
from aws_cdk.assertions import Match, Template

from tests.cdk.helpers import resources_of_type


@pytest.fixture(scope="module")
def template(synthesized_app):
    return synthesized_app.template("Storage")


def test_every_bucket_is_private_encrypted_and_versioned(template):
    buckets = resources_of_type(template, "AWS::S3::Bucket")
    assert len(buckets) == 2
    for bucket in buckets.values():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }
        (rule,) = props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}


def test_every_bucket_denies_plain_http_and_old_tls(template):
    policies = resources_of_type(template, "AWS::S3::BucketPolicy")
    assert len(policies) == 2
    for policy in policies.values():
        denies = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]
        conditions = [s["Condition"] for s in denies]
        assert {"Bool": {"aws:SecureTransport": "false"}} in conditions
        assert {"NumericLessThan": {"s3:TlsVersion": 1.2}} in conditions


def test_project_bucket_logs_access_and_expires_capture(template, synthesized_app):
    Template.from_json(template).has_resource_properties(
        "AWS::S3::Bucket",
        {
            "LoggingConfiguration": Match.object_like({"LogFilePrefix": "project-bucket/"}),
            "LifecycleConfiguration": {
                "Rules": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Prefix": "data_capture/",
                                "ExpirationInDays": synthesized_app.config.capture_retention_days,
                                "Status": "Enabled",
                            }
                        )
                    ]
                )
            },
        },
    )


def test_project_bucket_name_is_derived_from_project_account_and_region(template):
    names = [
        b["Properties"].get("BucketName") for b in resources_of_type(template, "AWS::S3::Bucket").values()
    ]
    assert {
        "Fn::Join": ["", ["sconesvision-", {"Ref": "AWS::AccountId"}, "-", {"Ref": "AWS::Region"}]]
    } in names


def test_buckets_are_emptied_and_deleted_by_destroy_by_default(template):
    for bucket in resources_of_type(template, "AWS::S3::Bucket").values():
        assert bucket["DeletionPolicy"] == "Delete"
    assert resources_of_type(template, "Custom::S3AutoDeleteObjects")

"""cfn-lint over every synthesized template: zero findings, informational ones included."""

from __future__ import annotations

import json

import pytest
from cfnlint.api import ManualArgs, lint

# W3005 (DependsOn beside a GetAtt): CDK adds DependsOn on a role's default policy so the policy exists before
# the function or state machine first runs; the GetAtt alone only orders the role. Keeping it is deliberate.
IGNORED_CHECKS = ["W3005"]
LINT_CONFIG = ManualArgs(regions=["us-east-1"], include_checks=["I"], ignore_checks=IGNORED_CHECKS)


def findings_of(template: dict) -> list:
    return lint(json.dumps(template), config=LINT_CONFIG)


@pytest.mark.parametrize("suffix", ["Storage", "Model", "Workflow", "Monitoring"])
def test_template_has_no_cfn_lint_findings(synthesized_app, suffix):
    findings = findings_of(synthesized_app.template(suffix))
    assert findings == [], "\n".join(f"{m.rule.id} {m.path}: {m.message}" for m in findings)


def test_cfn_lint_does_report_a_broken_template():
    broken = {
        "Resources": {"Bucket": {"Type": "AWS::S3::Bucket", "Properties": {"VersioningConfiguration": 1}}}
    }
    assert findings_of(broken)

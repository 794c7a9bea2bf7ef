"""cdk-nag's AwsSolutions pack over every stack: no finding without a written acknowledgement."""

from __future__ import annotations

import aws_cdk as cdk
import pytest
from cdk_nag import AwsSolutionsChecks


def stacks_of(app: cdk.App) -> list[cdk.Stack]:
    return [child for child in app.node.children if isinstance(child, cdk.Stack)]


def test_app_has_the_stacks_nag_checks(synthesized_app):
    assert {s.stack_name.split("-")[-1] for s in stacks_of(synthesized_app.app)} == {
        "Storage",
        "Model",
        "Workflow",
        "Monitoring",
    }


@pytest.mark.parametrize("suffix", ["Storage", "Model", "Workflow", "Monitoring"])
def test_stack_has_no_unacknowledged_aws_solutions_findings(synthesized_app, suffix):
    report = AwsSolutionsChecks().validate_scope(synthesized_app.stack(suffix))
    findings = [
        f"{violation.rule_name}: {resource.construct_path}"
        for violation in report.violations
        for resource in violation.violating_resources
    ]
    assert report.success and not findings, "\n".join(findings)


def test_every_acknowledgement_has_a_reason(synthesized_app):
    acknowledged = 0
    for construct in synthesized_app.app.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
                for rule, reason in entry.data.items():
                    acknowledged += 1
                    assert len(str(reason).strip()) >= 30, f"{construct.node.path}: {rule} has no real reason"
    assert acknowledged > 0

"""The option variants (tests/cdk/test_option_variants.py's VARIANTS), each synthesized once per session on the worker
that runs its tests (test_option_variants.py, test_deployment_guardrails.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def variants(default_context, tmp_path_factory):
    """Each variant's templates by unit (Storage, Model, ...), synthesized on first use; its tests carry
    `pytest.mark.xdist_group("option_variants")`, so one worker synthesizes each variant once."""
    from app import build_app
    from tests.cdk.test_option_variants import VARIANTS

    built: dict[str, dict[str, dict]] = {}

    def templates(variant: str) -> dict[str, dict]:
        if variant not in built:
            app = build_app(
                {**default_context, **VARIANTS[variant]}, outdir=str(tmp_path_factory.mktemp(variant))
            )
            # build_app registers cdk-nag's AwsSolutions checks: synth raises on any unacknowledged finding.
            assembly = app.synth()
            built[variant] = {
                stack.stack_name.rsplit("-", 1)[-1]: stack.template for stack in assembly.stacks
            }
        return built[variant]

    return templates

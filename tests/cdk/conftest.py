"""The option variants: apps with every option flipped from its default, each synthesized once per session on the worker
that runs its tests (tests/cdk/test_option_variants.py, test_deployment_guardrails.py)."""

from __future__ import annotations

import pytest

BROUGHT_MODEL_URL = "s3://someone-elses-models/classifiers/v3/model.tar.gz"
ALARM_OPTIONS = {
    "alarm_email": "ops@example.com",
    "alarm_unexpected_failures": "3",
    "alarm_endpoint_5xx_errors": "5",
    "alarm_latency_p90_ms": "250",
    "alarm_below_threshold_share": "0.2",
    "alarm_below_threshold_minutes": "30",
    "alarm_idle_hours": "3",
}
VARIANTS = {
    # Real-time, autoscaled from 2 instances (a canary rollout), on an instance type with local NVMe storage (no volume
    # key), capture on.
    "flipped": {
        "project_name": "Scones2",
        "workflow_type": "EXPRESS",
        "removal_policy": "retain",
        "use_spot_training": "true",
        "capture_sampling_percentage": "20",
        "confidence_threshold": "0.8",
        "endpoint_instance_type": "ml.g4dn.xlarge",
        "endpoint_instance_count": "2",
        "autoscaling_enabled": "true",
        "autoscaling_min_instances": "2",
        "autoscaling_max_instances": "3",
        "autoscaling_target_invocations": "150",
        "transform_instance_type": "ml.g4dn.xlarge",
        "transform_instance_count": "3",
        "workflow_input_prefix": "incoming/",
        **ALARM_OPTIONS,
    },
    # Serverless excludes autoscaling and capture; it serves a brought model.
    "serverless": {
        "endpoint_mode": "serverless",
        "data_capture_enabled": "false",
        "serverless_memory_mb": "3072",
        "serverless_max_concurrency": "7",
        "model_data_url": BROUGHT_MODEL_URL,
    },
    # Real-time without capture: the key encrypts only the ML volume.
    "uncaptured": {"data_capture_enabled": "false"},
}


@pytest.fixture(scope="session")
def variants(default_context, tmp_path_factory):
    """Each variant's templates by unit (Storage, Model, ...), synthesized on first use; its tests carry
    `pytest.mark.xdist_group("option_variants")`, so one worker synthesizes each variant once."""
    from app import build_app

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

#!/usr/bin/env python3
"""The scones-vision CDK app: storage -> model -> workflow, checked by cdk-nag's AwsSolutions pack."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from stacks.config import AppConfig, ConfigError
from stacks.refs import EndpointRef
from stacks.storage_stack import StorageStack
from stacks.workflow_stack import WorkflowStack


def build_app(context: Mapping[str, Any] | None = None, outdir: str | None = None) -> cdk.App:
    """Build the whole app; `context` adds to (and overrides) what cdk.json and `-c` give."""
    app = cdk.App(context=dict(context or {}), outdir=outdir)
    config = AppConfig.from_context(app.node.get_all_context())
    storage = StorageStack(app, f"{config.project_name}-Storage", config=config)
    endpoint_name = f"{config.project_name}-endpoint"
    endpoint = EndpointRef(
        name=endpoint_name,
        arn=cdk.Stack.of(storage).format_arn(
            service="sagemaker", resource="endpoint", resource_name=endpoint_name.lower()
        ),
    )
    workflow = WorkflowStack(
        app,
        f"{config.project_name}-Workflow",
        config=config,
        bucket_name=storage.bucket_name,
        endpoint=endpoint,
        class_names=("bicycle", "motorcycle"),
    )
    workflow.add_stack_dependency(storage, "the workflow reads images from the project bucket")
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks())
    return app


if __name__ == "__main__":
    try:
        build_app().synth()
    except ConfigError as error:
        sys.exit(f"scones-vision: {error}")

#!/usr/bin/env python3
"""The scones-vision CDK app: storage -> model -> workflow -> monitoring, checked by cdk-nag's AwsSolutions pack."""

from __future__ import annotations

import os
import signal
import sys


def _interrupted(signum: int, frame: object) -> None:
    # One line, not a traceback through jsii; _exit skips jsii's atexit, whose kernel the same Ctrl-C has ended.
    print("scones-vision: synth interrupted", file=sys.stderr)
    os._exit(130)


if __name__ == "__main__":
    signal.signal(signal.SIGINT, _interrupted)

from collections.abc import Mapping
from typing import Any

import aws_cdk as cdk
from cdk_nag import AwsSolutionsChecks

from data_prep.errors import DatasetError
from stacks import names
from stacks.config import AppConfig, ConfigError
from stacks.dataset_source import require_real_dataset, resolve_dataset
from stacks.model_stack import ModelStack
from stacks.monitoring_stack import MonitoringStack
from stacks.storage_stack import StorageStack
from stacks.workflow_stack import WorkflowStack

# Set by `make deploy`: a deploy must never train on the generated demo dataset.
DEPLOY_ENV_FLAG = "SCONES_VISION_DEPLOY"


def build_app(
    context: Mapping[str, Any] | None = None, outdir: str | None = None, *, for_deploy: bool = False
) -> cdk.App:
    """Build the whole app; `context` adds to (and overrides) what cdk.json and `-c` give."""
    app = cdk.App(context=dict(context or {}), outdir=outdir)
    config = AppConfig.from_context(app.node.get_all_context())
    dataset = resolve_dataset(config.dataset_dir)
    if for_deploy:
        require_real_dataset(dataset)

    def name(unit: str) -> str:
        return names.stack_name(config.project_name, unit)

    # The references between the stacks order them: CDK derives the dependencies, none is added by hand.
    storage = StorageStack(app, name(names.STORAGE), config=config)
    model = ModelStack(app, name(names.MODEL), config=config, bucket=storage.bucket, dataset=dataset)
    workflow = WorkflowStack(
        app,
        name(names.WORKFLOW),
        config=config,
        bucket=storage.bucket,
        endpoint=model.endpoint,
        model=model.model,
        class_names=dataset.manifest.classes,
    )
    MonitoringStack(
        app,
        name(names.MONITORING),
        config=config,
        endpoint=model.endpoint,
        alarms=model.alarms,
        state_machine=workflow.state_machine,
        functions={handler.node.id: handler.function for handler in workflow.functions.all},
        class_names=dataset.manifest.classes,
    )
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks())
    return app


if __name__ == "__main__":
    try:
        build_app(for_deploy=os.environ.get(DEPLOY_ENV_FLAG) == "1").synth()
    except (ConfigError, DatasetError) as error:
        sys.exit(f"scones-vision: {error}")

"""Fixtures of the model tests: the training-job handler with a stubbed SageMaker client, and one synthesized
app per model variant (trained here / brought model / served on an instance with local storage / autoscaled /
serverless / without data capture), built once per session."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from tests.lambda_handlers import load_handler_module
from tests.model.dataset_factory import write_dataset

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BROUGHT_MODEL_URL = "s3://someone-elses-models/classifiers/v3/model.tar.gz"
# An endpoint instance type with local NVMe storage: its endpoint config must not carry a volume KmsKeyId.
LOCAL_STORAGE_INSTANCE_TYPE = "ml.g4dn.xlarge"


@pytest.fixture(scope="session")
def handler():
    return load_handler_module("training_job")


@pytest.fixture
def sagemaker(handler, monkeypatch):
    """A real client behind a Stubber, installed as the handler's client; every queued answer must be used."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    client = boto3.client("sagemaker", region_name="us-east-1")
    monkeypatch.setattr(handler, "_sagemaker_client", lambda: client)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def context_overrides(**overrides: Any) -> dict[str, Any]:
    context = json.loads((PROJECT_ROOT / "cdk.json").read_text())["context"]
    # A deploy can wait for at most 40 minutes of training (stacks/constructs/training_job.py).
    context["training_max_runtime_minutes"] = 40
    context.update(overrides)
    return context


@dataclass(frozen=True)
class SynthesizedModel:
    stack: Any
    template: dict[str, Any]


def synthesize_model(dataset_dir: Path, **overrides: Any) -> SynthesizedModel:
    import aws_cdk as cdk

    from stacks.config import AppConfig
    from stacks.dataset_source import load_dataset
    from stacks.model_stack import ModelStack
    from stacks.storage_stack import StorageStack

    context = context_overrides(**overrides)
    config = AppConfig.from_context(context)
    app = cdk.App(context=context)
    storage = StorageStack(app, "Storage", config=config)
    model = ModelStack(app, "Model", config=config, bucket=storage.bucket, dataset=load_dataset(dataset_dir))
    assembly = app.synth()
    return SynthesizedModel(stack=model, template=assembly.get_stack_by_name("Model").template)


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("dataset") / "data")


@pytest.fixture(scope="session")
def trained(dataset_dir) -> SynthesizedModel:
    return synthesize_model(dataset_dir)


@pytest.fixture(scope="session")
def brought(dataset_dir) -> SynthesizedModel:
    return synthesize_model(dataset_dir, model_data_url=BROUGHT_MODEL_URL)


@pytest.fixture(scope="session")
def local_storage_endpoint(dataset_dir) -> SynthesizedModel:
    return synthesize_model(dataset_dir, endpoint_instance_type=LOCAL_STORAGE_INSTANCE_TYPE)


@pytest.fixture(scope="session")
def autoscaled(dataset_dir) -> SynthesizedModel:
    return synthesize_model(
        dataset_dir,
        autoscaling_enabled=True,
        autoscaling_min_instances=1,
        autoscaling_max_instances=4,
        endpoint_instance_count=2,
        autoscaling_target_invocations=120,
    )


@pytest.fixture(scope="session")
def serverless(dataset_dir) -> SynthesizedModel:
    return synthesize_model(
        dataset_dir,
        endpoint_mode="serverless",
        data_capture_enabled=False,
        serverless_memory_mb=3072,
        serverless_max_concurrency=7,
    )


@pytest.fixture(scope="session")
def uncaptured(dataset_dir) -> SynthesizedModel:
    return synthesize_model(dataset_dir, data_capture_enabled=False)

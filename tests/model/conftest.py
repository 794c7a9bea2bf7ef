"""Fixtures of the model tests: the training-job handler with a stubbed SageMaker client, and a small prepared
dataset. The model stack's templates come from the session's app (tests/conftest.py) and its variants
(tests/cdk/test_option_variants.py)."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from tests.lambda_handlers import load_handler_module
from tests.model.dataset_factory import write_dataset


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


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("dataset") / "data")

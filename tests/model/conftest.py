"""Fixtures of the model tests: the training-job handler with a stubbed SageMaker client, and a small prepared
dataset. The model stack's templates come from the session's app (tests/conftest.py) and its variants
(tests/cdk/test_option_variants.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.lambda_handlers import load_handler_module
from tests.model.dataset_factory import write_dataset
from tests.stubs import stubbed_client


@pytest.fixture(scope="session")
def handler():
    return load_handler_module("training_job")


@pytest.fixture
def sagemaker(handler, monkeypatch):
    """A real client behind a Stubber, installed as the handler's client; every queued answer must be used."""
    with stubbed_client("sagemaker") as (client, stubber):
        monkeypatch.setattr(handler, "_sagemaker_client", lambda: client)
        yield client, stubber


@pytest.fixture(scope="session")
def dataset_dir(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("dataset") / "data")

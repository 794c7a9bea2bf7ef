"""One local workflow per test session: the session's synthesized app, a small synthetic dataset, moto started once."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from data_prep.build import build_dataset
from data_prep.manifest import Manifest
from data_prep.synthetic import write_synthetic_tarball
from local_run.standin_model import StandInModel, read_split, train_standin
from local_run.template import WorkflowTemplate, load_workflow_template
from local_run.workflow import POLL_S, LocalWorkflow, local_workflow
from ops.batch import wait_for_execution

EXECUTION_DEADLINE_S = 20


@dataclass(frozen=True)
class FinishedExecution:
    description: dict[str, Any]
    events: list[dict[str, Any]]

    @property
    def status(self) -> str:
        return self.description["status"]

    def events_of(self, event_type: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == event_type]

    def entered_states(self) -> list[str]:
        return [
            event["stateEnteredEventDetails"]["name"]
            for event in self.events
            if "stateEnteredEventDetails" in event
        ]


@pytest.fixture(scope="session")
def workflow_template(synthesized_app) -> WorkflowTemplate:
    return load_workflow_template(Path(synthesized_app.assembly.directory))


@pytest.fixture(scope="session")
def dataset(
    tmp_path_factory: pytest.TempPathFactory, workflow_template: WorkflowTemplate
) -> tuple[Path, Manifest]:
    folder = tmp_path_factory.mktemp("local-dataset")
    tarball = write_synthetic_tarball(folder / "cifar.tar.gz", train_per_class=30, test_per_class=3, seed=1)
    built = build_dataset(
        tarball, folder / "data", classes=workflow_template.class_names, verify_md5=False, progress=False
    )
    return folder / "data", built.manifest


@pytest.fixture(scope="session")
def standin(dataset: tuple[Path, Manifest]) -> StandInModel:
    dataset_dir, manifest = dataset
    return train_standin(dataset_dir, manifest.classes)


@pytest.fixture(scope="session")
def ambiguous_image(dataset, standin, workflow_template) -> bytes:
    """A blend of the first test images of classes 0 and 1 that the stand-in model is unsure about: of 41
    blends, the one it is least confident of, below the synthesized filter's threshold."""
    dataset_dir, _ = dataset
    paths, labels = read_split(dataset_dir, "test")
    first, second = (_pixels(paths[list(labels).index(label)].read_bytes()) for label in (0, 1))
    blends = [_png((1 - alpha) * first + alpha * second) for alpha in np.linspace(0, 1, 41)]
    least_confident = min(blends, key=lambda png: max(standin.predict(png)))
    assert max(standin.predict(least_confident)) < workflow_template.threshold
    return least_confident


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.float32)


@pytest.fixture(scope="session")
def handler_logs() -> io.StringIO:
    return io.StringIO()


# Package scope: moto's mock stays active while the fixture lives, so it must end with this folder's tests
# rather than leak a mocked AWS into the folders that run after it.
@pytest.fixture(scope="package")
def local(
    workflow_template: WorkflowTemplate, standin: StandInModel, handler_logs: io.StringIO
) -> Iterator[LocalWorkflow]:
    with local_workflow(
        workflow_template,
        standin.predict,
        bucket="local-run-tests",
        handler_logs=handler_logs,
    ) as workflow:
        yield workflow


@pytest.fixture(autouse=True)
def no_leftover_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "local" in request.fixturenames:
        local: LocalWorkflow = request.getfixturevalue("local")
        leftover = len(local.emulator.faults)
        local.emulator.faults.clear()
        assert leftover == 0, f"{leftover} injected fault(s) were never consumed"


def put_object(local: LocalWorkflow, body: bytes, *, suffix: str = ".png") -> str:
    key = f"dataset/validation/test-{uuid.uuid4().hex}{suffix}"
    local.s3.put_object(Bucket=local.bucket, Key=key, Body=body)
    return key


def execute(local: LocalWorkflow, key: str) -> FinishedExecution:
    """Run one execution for s3://<bucket>/<key> and wait, bounded, until it leaves RUNNING."""
    return execute_input(local, {"s3_bucket": local.bucket, "s3_key": key})


def execute_input(local: LocalWorkflow, workflow_input: dict[str, Any]) -> FinishedExecution:
    """Run one execution with this input and wait, bounded, until it leaves RUNNING."""
    arn = local.sfn.start_execution(
        stateMachineArn=local.state_machine_arn,
        name=f"test-{uuid.uuid4().hex}",
        input=json.dumps(workflow_input),
    )["executionArn"]
    description = wait_for_execution(local.sfn, arn, timeout_s=EXECUTION_DEADLINE_S, poll_s=POLL_S)
    events = local.sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
    return FinishedExecution(description, events)

"""The handlers and the stacks agree on names: the synthesized state machine catches or retries only errors its task's
handler raises, every raised error is caught, retried or in UNCAUGHT_ERRORS with a reason, docs/CONTRACTS.md lists
them; the filter's own copies of the metric names equal stacks/names.py's."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

from stacks import names
from stacks.constructs.inference_chain import UNCAUGHT_ERRORS
from tests.cdk.helpers import state_machine_definition
from tests.lambda_handlers import LAMBDA_SOURCE_DIR, load_handler_module

CONTRACTS = Path(__file__).resolve().parents[2] / "docs" / "CONTRACTS.md"
# Errors of Step Functions itself and of the Lambda service, not of a handler.
SERVICE_ERROR_PREFIXES = ("States.", "Lambda.")


@dataclass(frozen=True)
class TaskStep:
    state: str
    handler_folder: str  # lambda_src/<folder>
    raised: frozenset[str]  # exception class names of the handler and its sibling modules
    caught: frozenset[str]
    retried: frozenset[str]

    @property
    def where(self) -> str:
        return f"state {self.state!r} (lambda_src/{self.handler_folder})"


def exception_names(handler: ModuleType) -> frozenset[str]:
    """Exception classes defined by the handler module or a sibling module of its code folder."""
    code_dir = Path(handler.__file__).parent
    modules = [handler] + [
        value
        for value in vars(handler).values()
        if inspect.ismodule(value) and Path(getattr(value, "__file__", None) or "/").parent == code_dir
    ]
    own_module_names = {module.__name__ for module in modules}
    return frozenset(
        name
        for module in modules
        for name, value in vars(module).items()
        if inspect.isclass(value) and issubclass(value, Exception) and value.__module__ in own_module_names
    )


def _handler_folder(code_dir: Path) -> str:
    """The lambda_src folder whose files the synthesized asset folder copies."""
    asset_files = {path.name: path.read_bytes() for path in code_dir.glob("*.py")}
    matches = [
        folder.name
        for folder in LAMBDA_SOURCE_DIR.iterdir()
        if {path.name: path.read_bytes() for path in folder.glob("*.py")} == asset_files
    ]
    assert len(matches) == 1, f"asset {code_dir} matches lambda_src folders {matches}"
    return matches[0]


def _handled_names(rules: list[dict]) -> frozenset[str]:
    return frozenset(
        name for rule in rules for name in rule["ErrorEquals"] if not name.startswith(SERVICE_ERROR_PREFIXES)
    )


@pytest.fixture(scope="module")
def steps(synthesized_app) -> list[TaskStep]:
    template = synthesized_app.template(names.WORKFLOW)
    definition = state_machine_definition(template, names.STATE_MACHINE_ARN_OUTPUT)
    found = []
    for state_name, state in definition["States"].items():
        # The outcome events' PutEvents tasks run no handler (tests/cdk/test_dispatch_events.py).
        if state["Type"] != "Task" or not state["Resource"].startswith("<"):
            continue
        # payload_response_only: the task's Resource is the function's ARN, flattened to <LogicalId.Arn>.
        function = template["Resources"][state["Resource"].strip("<>").removesuffix(".Arn")]
        assert function["Properties"]["Handler"] == "app.handler", state_name
        folder = _handler_folder(
            Path(synthesized_app.assembly.directory) / function["Metadata"]["aws:asset:path"]
        )
        found.append(
            TaskStep(
                state=state_name,
                handler_folder=folder,
                raised=exception_names(load_handler_module(folder)),
                caught=_handled_names(state.get("Catch", [])),
                retried=_handled_names(state.get("Retry", [])),
            )
        )
    assert [step.state for step in found] == ["SerializeImage", "ClassifyImage", "FilterInferences"]
    return found


def test_every_caught_or_retried_name_is_raised_by_that_steps_handler(steps):
    problems = [
        f"{step.where} {verb} {name!r}, which its handler never raises (it raises {sorted(step.raised)})"
        for step in steps
        for verb, names in (("catches", step.caught), ("retries", step.retried))
        for name in sorted(names - step.raised)
    ]

    assert not problems, "\n".join(problems)


def test_every_exception_a_handler_raises_is_caught_retried_or_deliberately_uncaught(steps):
    problems = [
        f"{step.where} raises {name!r}, which the state neither catches nor retries: catch it in "
        "stacks/constructs/inference_chain.py, or list it in UNCAUGHT_ERRORS there with the reason"
        for step in steps
        for name in sorted(step.raised - step.caught - step.retried - set(UNCAUGHT_ERRORS))
    ]

    assert not problems, "\n".join(problems)


def test_every_deliberately_uncaught_error_is_raised_and_uncaught(steps):
    problems = []
    for name, reason in UNCAUGHT_ERRORS.items():
        raising = [step for step in steps if name in step.raised]
        if not raising:
            problems.append(f"UNCAUGHT_ERRORS lists {name!r}, which no handler raises")
        problems.extend(
            f"UNCAUGHT_ERRORS lists {name!r}, but {step.where} catches it"
            for step in raising
            if name in step.caught
        )
        if len(reason.split()) < 5:
            problems.append(f"UNCAUGHT_ERRORS gives {name!r} no real reason: {reason!r}")

    assert not problems, "\n".join(problems)


def test_the_contracts_error_table_lists_exactly_the_handlers_errors(steps):
    table_rows = re.findall(r"^\| `(\w+)` \|", CONTRACTS.read_text(), flags=re.MULTILINE)
    raised = set().union(*(step.raised for step in steps))

    assert len(table_rows) == len(set(table_rows)), f"docs/CONTRACTS.md lists an error twice: {table_rows}"
    assert set(table_rows) == raised, (
        f"docs/CONTRACTS.md's error table differs from the handlers: only in the table "
        f"{sorted(set(table_rows) - raised)}, only in the handlers {sorted(raised - set(table_rows))}"
    )


def test_exception_names_finds_classes_of_the_handler_and_its_sibling_modules():
    serialize = load_handler_module("serialize_image")

    names = exception_names(serialize)

    assert "NotAnImage" in names  # defined in image_format.py, next to app.py
    assert {"MalformedEvent", "ImageNotFound", "StorageUnavailable"} <= names
    assert not {"ClientError", "BotoCoreError", "Exception"} & names


def test_the_filter_and_the_stacks_agree_on_the_metric_names():
    handler = load_handler_module("filter_inferences")
    shared = (
        "TOP_CONFIDENCE_METRIC",
        "BELOW_THRESHOLD_METRIC",
        "PREDICTED_CLASS_DIMENSION",
        "WORKFLOW_DIMENSION",
        "SINGLE_IMAGE_WORKFLOW",
        "BATCH_WORKFLOW",
    )
    assert {name: getattr(handler, name) for name in shared} == {
        name: getattr(names, name) for name in shared
    }
    # The input key the batch map sets, under the handler's own name for it.
    assert handler.WORKFLOW_KEY == names.WORKFLOW_INPUT_KEY

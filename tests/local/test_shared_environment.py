"""The handlers share this process's os.environ with moto's execution threads, which read it while they run."""

from __future__ import annotations

import os

from local_run.standin_model import read_split
from tests.local.conftest import execute, put_object


def test_an_execution_removes_no_function_variable_while_the_workflow_runs(local, dataset, workflow_template):
    # moto's threads read os.environ name by name; a name an invocation removed in between made a concurrent
    # execution fail with `Exception: 'AWS_REGION'` in `make demo`. Invocations may change values, not names.
    dataset_dir, _ = dataset
    paths, _ = read_split(dataset_dir, "test")
    execution = execute(local, put_object(local, paths[0].read_bytes()))
    assert "FilterInferences" in execution.entered_states(), execution.events
    function_variables = {name for spec in workflow_template.functions.values() for name in spec.environment}
    expected = function_variables | {"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_LAMBDA_FUNCTION_NAME"}
    assert not expected - set(os.environ)

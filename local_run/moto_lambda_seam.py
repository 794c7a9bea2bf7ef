"""The one place that touches moto's internals: its Lambda invocation, redirected to in-process handlers.

moto's Step Functions interpreter (`execute_state_machine: True`) runs a Task whose Resource is a function
ARN by calling `lambda:Invoke` through boto3, which moto answers. Without Docker (`"lambda": {"use_docker":
False}`) that request ends in `LambdaSimpleBackend.invoke(function_name, qualifier, body, headers,
response_headers)`, which normally echoes the request body. `route_invocations` replaces that method, for
as long as the context lasts, with one that runs the function's handler (`InProcessFunction`) and returns
its payload; a failed handler's payload goes out with the `x-amz-function-error` header, so boto3 reports
`FunctionError` and the interpreter raises the payload's `errorType` into the definition's Retry and Catch.

What this relies on, checked by `check_seam()` before patching and by tests/local/test_moto_lambda_seam.py:
the method's name and parameters, that the returned bytes become the Invoke response payload, and that
`response_headers` becomes the response's headers. If moto changes any of it, the local run stops with
`MotoSeamChanged` instead of running handlers wrongly.
"""

from __future__ import annotations

import contextlib
import inspect
import json
from collections.abc import Iterator, Mapping
from typing import Any
from unittest import mock

from moto.awslambda_simple.models import LambdaSimpleBackend

from local_run.lambda_runtime import InProcessFunction

SEAM = "moto.awslambda_simple.models.LambdaSimpleBackend.invoke"
SEAM_PARAMETERS = ("self", "function_name", "qualifier", "body", "headers", "response_headers")
FUNCTION_ERROR_HEADER = "x-amz-function-error"


class MotoSeamChanged(RuntimeError):
    """moto's Lambda invocation no longer has the shape the local run plugs into."""


def check_seam() -> None:
    parameters = tuple(inspect.signature(LambdaSimpleBackend.invoke).parameters)
    if parameters != SEAM_PARAMETERS:
        raise MotoSeamChanged(
            f"{SEAM} takes {parameters}, the local run expects {SEAM_PARAMETERS}: "
            "moto changed; see local_run/moto_lambda_seam.py"
        )


@contextlib.contextmanager
def route_invocations(functions: Mapping[str, InProcessFunction]) -> Iterator[None]:
    """While active, moto's Lambda runs `functions[<function name>]` in-process for every invocation."""
    check_seam()

    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: dict[str, str],
    ) -> bytes:
        # function_name may be a name or an ARN; moto's own lookup resolves both (and raises its 404).
        name = self.get_function(function_name, qualifier).function_name
        function = functions.get(name)
        if function is None:
            response_headers[FUNCTION_ERROR_HEADER] = "Unhandled"
            message = f"the local run has no in-process handler for function {name!r}"
            return json.dumps({"errorType": "LocalRunError", "errorMessage": message}).encode()
        result = function.invoke(body)
        if result.failed:
            response_headers[FUNCTION_ERROR_HEADER] = "Unhandled"
        return result.payload

    with mock.patch.object(LambdaSimpleBackend, "invoke", invoke):
        yield

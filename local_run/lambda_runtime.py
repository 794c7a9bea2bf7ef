"""A synthesized Lambda handler run in this process as Lambda's Python runtime would: cold start, its environment,
JSON logs, and errors as `{"errorType", "errorMessage", "stackTrace"}`, which Step Functions' Retry and Catch match."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import sys
import threading
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any, TextIO

# os.environ and sys.stdout are process-wide: one invocation at a time may change them.
_PROCESS_STATE_LOCK = threading.Lock()


@dataclass(frozen=True)
class InvocationResult:
    payload: bytes
    failed: bool  # True: payload is an error object, sent with the x-amz-function-error header


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that handlers read."""

    function_name: str
    invoked_function_arn: str
    aws_request_id: str
    log_group_name: str
    memory_limit_in_mb: int = 128
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        # Timeouts are not enforced locally; the state machine's own timeout still applies.
        return 60_000


@dataclass(eq=False)
class InProcessFunction:
    """One Lambda function: its code folder, `module.function` handler and environment variables."""

    name: str
    arn: str
    code_dir: Path
    handler: str
    environment: Mapping[str, str]
    log_stream: TextIO
    _loaded: Callable[[Any, Any], Any] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.code_dir = self.code_dir.resolve()
        self.environment = MappingProxyType(dict(self.environment))
        self._module_name = f"local_run_lambda_{self.name}_{uuid.uuid4().hex}"

    def invoke(self, payload: bytes | str) -> InvocationResult:
        context = LambdaContext(
            function_name=self.name,
            invoked_function_arn=self.arn,
            aws_request_id=str(uuid.uuid4()),
            log_group_name=f"/aws/lambda/{self.name}",
        )
        with (
            _PROCESS_STATE_LOCK,
            environment_variables(self.environment),
            contextlib.redirect_stdout(self.log_stream),
            json_logging_to(self.log_stream, request_id=context.aws_request_id),
        ):
            try:
                if self._loaded is None:  # cold start: loaded inside the function's environment
                    self._loaded = _load_handler(self.code_dir, self.handler, module_name=self._module_name)
                result = self._loaded(json.loads(payload or "null"), context)
            except Exception as error:  # every handler failure is reported to the caller, as Lambda does
                return InvocationResult(_error_payload(type(error).__name__, str(error), error), failed=True)
        try:
            return InvocationResult(json.dumps(result).encode("utf-8"), failed=False)
        except (TypeError, ValueError) as error:
            message = f"Unable to marshal response: {error}"
            return InvocationResult(_error_payload("Runtime.MarshalError", message, error), failed=True)

    def unload(self) -> None:
        """Forget the loaded handler module; the next invocation is a cold start again."""
        sys.modules.pop(self._module_name, None)
        self._loaded = None


def _error_payload(error_type: str, message: str, error: BaseException) -> bytes:
    stack_trace = [line.rstrip("\n") for line in traceback.format_tb(error.__traceback__)]
    return json.dumps({"errorType": error_type, "errorMessage": message, "stackTrace": stack_trace}).encode()


# Attributes every LogRecord has; the others on a record came from `extra=`.
_STANDARD_RECORD_ATTRIBUTES = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message"}


class _JsonLinesHandler(logging.StreamHandler):
    def __init__(self, stream: TextIO, request_id: str) -> None:
        super().__init__(stream)
        self._request_id = request_id

    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in vars(record).items() if k not in _STANDARD_RECORD_ATTRIBUTES}
        entry = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "requestId": self._request_id,
            **extra,
        }
        return json.dumps(entry, default=str)


@contextlib.contextmanager
def json_logging_to(stream: TextIO, *, request_id: str) -> Iterator[None]:
    """Route the root logger to `stream` at INFO for the block, as Lambda's runtime does for a function."""
    root = logging.getLogger()
    handler = _JsonLinesHandler(stream, request_id)
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)


@contextlib.contextmanager
def environment_variables(variables: Mapping[str, str]) -> Iterator[None]:
    """Set the variables for the duration of the block, then restore what was there (or its absence)."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _load_handler(code_dir: Path, handler: str, *, module_name: str) -> Callable[[Any, Any], Any]:
    """Import `module.function` from the code folder as `module_name`, a module no other function shares."""
    module_path, _, function_name = handler.rpartition(".")
    source = code_dir / (module_path.replace(".", "/") + ".py")
    spec = importlib.util.spec_from_file_location(module_name, source)
    if spec is None or spec.loader is None or not source.is_file():
        raise ImportError(f"Unable to import module '{module_path}': no {source}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    modules_before = set(sys.modules)
    # Registered before it runs: dataclasses and pickle look a class's module up in sys.modules.
    sys.modules[module_name] = module
    sys.path.insert(0, str(code_dir))
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    finally:
        sys.path.remove(str(code_dir))
        # Sibling modules the handler imported stay referenced by it, but must not shadow another function's.
        for name in set(sys.modules) - modules_before - {module_name}:
            if Path(getattr(sys.modules[name], "__file__", None) or "/").is_relative_to(code_dir):
                del sys.modules[name]
    function = getattr(module, function_name, None)
    if not callable(function):
        raise AttributeError(f"Handler '{function_name}' missing on module '{module_path}'")
    return function

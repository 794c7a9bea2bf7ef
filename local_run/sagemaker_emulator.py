"""InvokeEndpoint on 127.0.0.1 as botocore's sagemaker-runtime model describes it, with data capture (docs/LOCAL.md):
https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html"""

from __future__ import annotations

import base64
import json
import logging
import random
import re
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

LOG = logging.getLogger(__name__)

LOCALHOST = "127.0.0.1"
VARIANT_NAME = "AllTraffic"
INVOCATIONS_PATH = re.compile(r"/endpoints/(.+)/invocations")

# A model takes the request body and returns one probability per class; a ValueError means "bad input".
Predictor = Callable[[bytes], Sequence[float]]
# The largest request body by endpoint mode: InvokeEndpoint's Body, at most 6291456 bytes (the page above); a
# serverless endpoint's, 4 MB (https://docs.aws.amazon.com/sagemaker/latest/dg/serverless-endpoints-invoke.html).
MAX_REQUEST_BYTES = {"realtime": 6_291_456, "serverless": 4_194_304}


@dataclass(frozen=True)
class DataCaptureSettings:
    """What an endpoint config's DataCaptureConfig declares, with capture enabled."""

    sampling_percentage: int  # InitialSamplingPercentage, 0 to 100: the share of requests captured
    key_prefix: str  # the key part of DestinationS3Uri: "" or ending in "/"
    modes: frozenset[str]  # the CaptureOptions' CaptureMode values: "Input", "Output" or both


@dataclass(frozen=True)
class CaptureWriter:
    """Writes data capture records where SageMaker would: `<key prefix><endpoint>/AllTraffic/yyyy/mm/dd/hh/`
    (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html)."""

    s3: Any
    bucket: str
    settings: DataCaptureSettings
    # Uniform in [0, 1): a request is captured when it falls in the sampled share.
    sample: Callable[[], float] = random.random

    def endpoint_prefix(self, endpoint_name: str) -> str:
        return f"{self.settings.key_prefix}{endpoint_name}/"

    def write(
        self, endpoint_name: str, request_body: bytes, content_type: str, response_body: bytes, when: datetime
    ) -> str | None:
        """Write the record of one invocation, if it falls in the sampled share; its key, else None."""
        if self.sample() * 100 >= self.settings.sampling_percentage:
            return None
        event_id = str(uuid.uuid4())
        captured = {}
        if "Input" in self.settings.modes:
            captured["endpointInput"] = {
                "observedContentType": content_type,
                "mode": "INPUT",
                "data": base64.b64encode(request_body).decode("ascii"),
                "encoding": "BASE64",
            }
        if "Output" in self.settings.modes:
            captured["endpointOutput"] = {
                "observedContentType": "application/json",
                "mode": "OUTPUT",
                "data": response_body.decode("utf-8"),
                "encoding": "JSON",
            }
        record = {
            "captureData": captured,
            "eventMetadata": {"eventId": event_id, "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")},
            "eventVersion": "0",
        }
        key = (
            f"{self.endpoint_prefix(endpoint_name)}{VARIANT_NAME}/{when:%Y/%m/%d/%H}/"
            f"{when:%M-%S}-{when.microsecond // 1000:03d}-{event_id}.jsonl"
        )
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=(json.dumps(record) + "\n").encode("utf-8"))
        return key


@dataclass(eq=False)
class SageMakerRuntimeEmulator:
    """InvokeEndpoint for the given endpoints on 127.0.0.1 (a free port); a context manager that stops it."""

    endpoints: Mapping[str, Predictor]
    capture: CaptureWriter | None  # None when the endpoint captures nothing
    account_id: str
    region: str
    max_request_bytes: int = MAX_REQUEST_BYTES["realtime"]
    # Failures to answer instead of the model, one request each: "throttle" or "model_error" (for tests).
    faults: deque[str] = field(default_factory=deque)
    invocations: int = 0  # requests that reached an endpoint, faulted or not
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> SageMakerRuntimeEmulator:
        handler = type("BoundHandler", (_InvokeEndpointHandler,), {"emulator": self})
        self._server = ThreadingHTTPServer((LOCALHOST, 0), handler)
        self._server.daemon_threads = True
        # shutdown() in __exit__ returns once serve_forever has ended, so the thread needs no join.
        threading.Thread(target=self._server.serve_forever, name="sagemaker-emulator", daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        self._server = None

    def invoke(self, endpoint_name: str, body: bytes, content_type: str) -> tuple[int, dict[str, str], bytes]:
        """Answer one InvokeEndpoint request: (HTTP status, headers, body)."""
        if len(body) > self.max_request_bytes:
            # SageMaker's answer: HTTP 413 without an error code, so botocore names the error "413"
            # (aws/sagemaker-python-sdk#171: "HTTP content length exceeded 5246976 bytes.", the limit then).
            message = f"HTTP content length exceeded {self.max_request_bytes} bytes."
            return 413, {"Content-Type": "application/json"}, json.dumps({"message": message}).encode("utf-8")
        predictor = self.endpoints.get(endpoint_name)
        if predictor is None:
            return _error(
                400, "ValidationError", f"Endpoint {endpoint_name} of account {self.account_id} not found."
            )
        self.invocations += 1
        fault = self.faults.popleft() if self.faults else None
        if fault == "throttle":  # what SageMaker answers when throttling, not 429
            return _error(400, "ThrottlingException", "Rate exceeded")
        if fault == "model_error":
            return self._model_error(endpoint_name, 500, "injected model failure")
        try:
            probabilities = [float(p) for p in predictor(body)]
        except ValueError as bad_input:
            return self._model_error(endpoint_name, 400, str(bad_input))
        except Exception as crash:  # any other failure of the model is the container answering 500
            # Left to the HTTP server, a dropped connection would look like a busy endpoint to the classifier.
            LOG.warning("model of endpoint %s failed", endpoint_name, exc_info=True)
            return self._model_error(endpoint_name, 500, f"{type(crash).__name__}: {crash}")
        response_body = json.dumps(probabilities).encode("utf-8")
        if self.capture is not None:  # as on SageMaker, failed invocations are not captured
            self.capture.write(endpoint_name, body, content_type, response_body, datetime.now(UTC))
        headers = {"Content-Type": "application/json", "x-Amzn-Invoked-Production-Variant": VARIANT_NAME}
        return 200, headers, response_body

    def _model_error(
        self, endpoint_name: str, original_status: int, original_message: str
    ) -> tuple[int, dict[str, str], bytes]:
        log_group = f"/aws/sagemaker/Endpoints/{endpoint_name}"
        kind = "client" if original_status < 500 else "server"
        message = (
            f'Received {kind} error ({original_status}) from primary with message "{original_message}". '
            f"See the log group {log_group} in account {self.account_id} for more information."
        )
        return _error(
            424,
            "ModelError",
            message,
            OriginalStatusCode=original_status,
            OriginalMessage=original_message,
            LogStreamArn=f"arn:aws:logs:{self.region}:{self.account_id}:log-group:{log_group}",
        )


def _error(status: int, code: str, message: str, **members: Any) -> tuple[int, dict[str, str], bytes]:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": code}
    return status, headers, json.dumps({"ErrorCode": code, "message": message, **members}).encode("utf-8")


class _InvokeEndpointHandler(BaseHTTPRequestHandler):
    emulator: SageMakerRuntimeEmulator
    # HTTP/1.1 keeps botocore's pooled connections open between invocations.
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        path = self.path.split("?", 1)[0]
        if invocation := INVOCATIONS_PATH.fullmatch(path):
            content_type = self.headers.get("Content-Type", "application/octet-stream")
            self._send(*self.emulator.invoke(unquote(invocation[1]), body, content_type))
        else:
            self._send(*_error(404, "UnknownOperationException", f"No operation at POST {path}"))

    def _send(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.send_response(status)
        for name, value in {**headers, "x-amzn-RequestId": str(uuid.uuid4())}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's signature
        # The run prints its own table; request lines would interleave with it.
        LOG.debug("%s " + format, self.address_string(), *args)

"""A local SageMaker runtime: InvokeEndpoint over HTTP on 127.0.0.1, with data capture into the local bucket.

It speaks the REST shape botocore's `sagemaker-runtime` model describes, so the unchanged classifier reaches it
through `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`:

- `POST /endpoints/{EndpointName}/invocations`, the request body passed to the model as is, the answer a JSON
  list of probabilities (`Content-Type: application/json`, `x-Amzn-Invoked-Production-Variant: AllTraffic`);
- errors as AWS sends them: the code in `x-amzn-ErrorType`, a JSON body with `message` (and the modelled
  members of `ModelError`), so botocore raises `client.exceptions.ValidationError`, `ModelError`, ...;
  an unknown endpoint is `400 ValidationError "Endpoint X of account Y not found."`, throttling is
  `400 ThrottlingException "Rate exceeded"` (what SageMaker answers, not 429);
- a model that cannot handle the input is `424 ModelError` with the container's own status and message in
  `OriginalStatusCode` and `OriginalMessage` and its log stream in `LogStreamArn` (botocore's sagemaker-runtime
  model; https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_runtime_InvokeEndpoint.html): 400 when
  the predictor refuses the body (ValueError), 500 when it fails in any other way. The connection is never
  dropped, so the classifier's EndpointError path runs here as it would on AWS.

Data capture follows the endpoint's DataCaptureConfig (`DataCaptureSettings`, read from the synthesized
EndpointConfig by local_run/endpoint_config.py): none without one; otherwise the sampled share of successful
invocations, each written as one record of the configured modes in SageMaker's format and key layout
(docs/CONTRACTS.md), one object per invocation; SageMaker buffers several records per object, readers handle
both. Failed invocations are not captured, as on SageMaker. `faults` injects failures for tests.
`requests` lists every request that reached an endpoint (time, the model's latency, status), from which the local
run derives the endpoint's CloudWatch metrics.
"""

from __future__ import annotations

import base64
import json
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

LOG = logging.getLogger(__name__)

LOCALHOST = "127.0.0.1"
VARIANT_NAME = "AllTraffic"
INVOCATIONS_PATH_PREFIX = "/endpoints/"
INVOCATIONS_PATH_SUFFIX = "/invocations"

# A model takes the request body and returns one probability per class; a ValueError means "bad input".
Predictor = Callable[[bytes], Sequence[float]]


class Fault(Enum):
    THROTTLE = "throttle"
    MODEL_ERROR = "model_error"


class FaultPlan:
    """Failures to answer instead of the model, one per request, in the order they were planned."""

    def __init__(self) -> None:
        self._planned: deque[Fault] = deque()
        self._lock = threading.Lock()

    def throttle_next(self, count: int = 1) -> None:
        self._plan(Fault.THROTTLE, count)

    def model_error_next(self, count: int = 1) -> None:
        self._plan(Fault.MODEL_ERROR, count)

    def clear(self) -> None:
        with self._lock:
            self._planned.clear()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._planned)

    def take(self) -> Fault | None:
        with self._lock:
            return self._planned.popleft() if self._planned else None

    def _plan(self, fault: Fault, count: int) -> None:
        with self._lock:
            self._planned.extend([fault] * count)


@dataclass(frozen=True)
class EndpointRequest:
    """One InvokeEndpoint request that reached an endpoint, as SageMaker's CloudWatch metrics count it."""

    endpoint_name: str
    received: datetime
    latency_us: float  # time spent answering it, the local stand-in for ModelLatency (microseconds)
    model_status: int  # 200; a ModelError's OriginalStatusCode (the model's 4xx or 5xx); else the HTTP status


@dataclass(frozen=True)
class DataCaptureSettings:
    """What an endpoint config's DataCaptureConfig declares, with capture enabled
    (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_DataCaptureConfig.html)."""

    sampling_percentage: int  # InitialSamplingPercentage, 0 to 100: the share of requests captured
    key_prefix: str  # the key part of DestinationS3Uri: "" or ending in "/"
    modes: frozenset[str]  # the CaptureOptions' CaptureMode values: "Input", "Output" or both


class CaptureWriter:
    """Writes data capture records where SageMaker would: `<key prefix><endpoint>/AllTraffic/yyyy/mm/dd/hh/`
    (https://docs.aws.amazon.com/sagemaker/latest/dg/model-monitor-data-capture-endpoint.html)."""

    def __init__(
        self,
        s3_client: Any,
        bucket: str,
        settings: DataCaptureSettings,
        *,
        sample: Callable[[], float] = random.random,
    ) -> None:
        self._s3 = s3_client
        self._bucket = bucket
        self._settings = settings
        self._sample = sample  # uniform in [0, 1): a request is captured when it falls in the sampled share
        self._count = 0
        self._lock = threading.Lock()

    def endpoint_prefix(self, endpoint_name: str) -> str:
        """The key prefix of one endpoint's capture records."""
        return f"{self._settings.key_prefix}{endpoint_name}/"

    @property
    def records_written(self) -> int:
        with self._lock:
            return self._count

    def write(
        self,
        endpoint_name: str,
        *,
        request_body: bytes,
        request_content_type: str,
        response_body: bytes,
        response_content_type: str,
        when: datetime,
    ) -> str | None:
        """Write the record of one invocation, if it falls in the sampled share; its key, else None."""
        if self._sample() * 100 >= self._settings.sampling_percentage:
            return None
        event_id = str(uuid.uuid4())
        captured = {}
        if "Input" in self._settings.modes:
            captured["endpointInput"] = {
                "observedContentType": request_content_type,
                "mode": "INPUT",
                "data": base64.b64encode(request_body).decode("ascii"),
                "encoding": "BASE64",
            }
        if "Output" in self._settings.modes:
            captured["endpointOutput"] = {
                "observedContentType": response_content_type,
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
        self._s3.put_object(Bucket=self._bucket, Key=key, Body=(json.dumps(record) + "\n").encode("utf-8"))
        with self._lock:
            self._count += 1
        return key


class SageMakerRuntimeEmulator:
    """InvokeEndpoint for the given endpoints on 127.0.0.1 (a free port); a context manager that stops it."""

    def __init__(
        self,
        endpoints: Mapping[str, Predictor],
        *,
        capture: CaptureWriter | None,
        account_id: str,
        region: str,
    ) -> None:
        self._endpoints = dict(endpoints)
        self._capture = capture
        self._account_id = account_id
        self._region = region
        self.faults = FaultPlan()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._requests: list[EndpointRequest] = []
        self._lock = threading.Lock()

    @property
    def capture(self) -> CaptureWriter | None:
        """Where successful invocations are captured; None when the endpoint captures nothing."""
        return self._capture

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the emulator is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def invocations(self) -> int:
        """Requests that reached an endpoint (faulted or not); each is one call a client made."""
        with self._lock:
            return len(self._requests)

    @property
    def requests(self) -> list[EndpointRequest]:
        with self._lock:
            return list(self._requests)

    def __enter__(self) -> SageMakerRuntimeEmulator:
        handler = type("BoundHandler", (_InvokeEndpointHandler,), {"emulator": self})
        self._server = ThreadingHTTPServer((LOCALHOST, 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="sagemaker-emulator", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def invoke(self, endpoint_name: str, body: bytes, content_type: str) -> tuple[int, dict[str, str], bytes]:
        """Answer one InvokeEndpoint request: (HTTP status, headers, body)."""
        predictor = self._endpoints.get(endpoint_name)
        if predictor is None:
            return _error(
                400, "ValidationError", f"Endpoint {endpoint_name} of account {self._account_id} not found."
            )
        received = datetime.now(UTC)
        started = time.perf_counter()
        status, headers, response_body = self._answer(endpoint_name, predictor, body, content_type)
        model_status = (
            json.loads(response_body).get("OriginalStatusCode", status) if status != 200 else status
        )
        request = EndpointRequest(
            endpoint_name, received, (time.perf_counter() - started) * 1e6, model_status
        )
        with self._lock:
            self._requests.append(request)
        return status, headers, response_body

    def _answer(
        self, endpoint_name: str, predictor: Predictor, body: bytes, content_type: str
    ) -> tuple[int, dict[str, str], bytes]:
        fault = self.faults.take()
        if fault is Fault.THROTTLE:
            return _error(400, "ThrottlingException", "Rate exceeded")
        if fault is Fault.MODEL_ERROR:
            return self._model_error(endpoint_name, 500, "injected model failure")
        try:
            probabilities = [float(p) for p in predictor(body)]
        except ValueError as bad_input:
            return self._model_error(endpoint_name, 400, str(bad_input))
        except Exception as crash:  # any other failure of the model is the container answering 500
            # Left to the HTTP server, it would drop the connection, and the classifier would retry a broken
            # model as if the endpoint were busy (EndpointThrottled) instead of failing with EndpointError.
            LOG.warning("model of endpoint %s failed", endpoint_name, exc_info=True)
            return self._model_error(endpoint_name, 500, f"{type(crash).__name__}: {crash}")
        response_body = json.dumps(probabilities).encode("utf-8")
        if self._capture is not None:
            self._capture.write(
                endpoint_name,
                request_body=body,
                request_content_type=content_type,
                response_body=response_body,
                response_content_type="application/json",
                when=datetime.now(UTC),
            )
        headers = {"Content-Type": "application/json", "x-Amzn-Invoked-Production-Variant": VARIANT_NAME}
        return 200, headers, response_body

    def _model_error(
        self, endpoint_name: str, original_status: int, original_message: str
    ) -> tuple[int, dict[str, str], bytes]:
        log_group = f"/aws/sagemaker/Endpoints/{endpoint_name}"
        kind = "client" if original_status < 500 else "server"
        message = (
            f'Received {kind} error ({original_status}) from primary with message "{original_message}". '
            f"See the log group {log_group} in account {self._account_id} for more information."
        )
        return _error(
            424,
            "ModelError",
            message,
            OriginalStatusCode=original_status,
            OriginalMessage=original_message,
            LogStreamArn=f"arn:aws:logs:{self._region}:{self._account_id}:log-group:{log_group}",
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
        if path.startswith(INVOCATIONS_PATH_PREFIX) and path.endswith(INVOCATIONS_PATH_SUFFIX):
            endpoint_name = unquote(path[len(INVOCATIONS_PATH_PREFIX) : -len(INVOCATIONS_PATH_SUFFIX)])
            content_type = self.headers.get("Content-Type", "application/octet-stream")
            self._send(*self.emulator.invoke(endpoint_name, body, content_type))
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

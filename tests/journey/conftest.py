"""moto behind an HTTP server on 127.0.0.1, for the ops commands run as a user runs them: as subprocesses.

moto's own server mode (ThreadedMotoServer) needs Flask, which this venv lacks: this forwards each request to moto's
in-process mock instead, by the service and region in its SigV4 credential scope. With moto[server] installed,
`ThreadedMotoServer(ip_address="127.0.0.1", port=0)` can replace `MotoOverHttp`.
"""

from __future__ import annotations

import re
import sys
import threading
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest
import requests
from moto import mock_aws

# moto's CloudFormation imports every backend, and API Gateway's imports openapi_spec_validator (not installed here)
# for import_rest_api only, which nothing here calls.
for _name in (
    "openapi_spec_validator",
    "openapi_spec_validator.validation",
    "openapi_spec_validator.validation.exceptions",
):
    sys.modules.setdefault(_name, types.SimpleNamespace(validate=None, OpenAPIValidationError=Exception))

REGION = "eu-west-1"
# Hosts moto's mock answers for a signing name, where that is not "<name>.<region>.amazonaws.com".
HOSTS = {"sagemaker": "api.sagemaker.{region}.amazonaws.com"}
_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/([^/]+)/([^/]+)/aws4_request")
_HOP_BY_HOP = {"host", "content-length", "transfer-encoding", "connection"}


class _Forward(BaseHTTPRequestHandler):
    def _forward(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        region, service = _SCOPE.search(self.headers["Authorization"]).groups()
        host = HOSTS.get(service, "{service}.{region}.amazonaws.com").format(service=service, region=region)
        headers = {name: value for name, value in self.headers.items() if name.lower() not in _HOP_BY_HOP}
        answer = requests.request(self.command, f"https://{host}{self.path}", headers=headers, data=body)
        self.send_response(answer.status_code)
        for name, value in answer.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.content)))
        self.end_headers()
        self.wfile.write(answer.content)

    do_GET = do_POST = do_PUT = do_HEAD = do_DELETE = _forward

    def log_message(self, *args):
        pass


class MotoOverHttp:
    def __init__(self):
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Forward)
        self.endpoint_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self):
        self._mock.start()
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._mock.stop()


@pytest.fixture(scope="session")
def moto_server():
    with MotoOverHttp() as server:
        yield server


@pytest.fixture(scope="session")
def aws(moto_server):
    """Clients of the server's moto, to seed what the commands read."""
    session = boto3.Session(aws_access_key_id="seed", aws_secret_access_key="seed", region_name=REGION)
    return lambda service: session.client(service)

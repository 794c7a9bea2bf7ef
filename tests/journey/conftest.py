"""moto's server mode on 127.0.0.1, for the ops commands run as a user runs them: as subprocesses."""

from __future__ import annotations

from types import SimpleNamespace

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"


@pytest.fixture(scope="session")
def moto_server():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint_url = f"http://{host}:{port}"
    # Executions run their definitions (moto's default only records them): moto/core/config.py's
    # stepfunctions.execute_state_machine, set through moto_api's /moto-api/config in server mode.
    requests.post(
        f"{endpoint_url}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=10
    ).raise_for_status()
    yield SimpleNamespace(endpoint_url=endpoint_url)
    server.stop()


@pytest.fixture(scope="session")
def aws(moto_server):
    """Clients of the server's moto, to seed what the commands read."""
    session = boto3.Session(aws_access_key_id="seed", aws_secret_access_key="seed", region_name=REGION)
    return lambda service: session.client(service, endpoint_url=moto_server.endpoint_url)

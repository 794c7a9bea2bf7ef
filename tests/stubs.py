"""A real boto3 client behind botocore's Stubber, the one way the tests answer AWS calls they script."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.stub import Stubber


@contextmanager
def stubbed_client(service: str) -> Iterator[tuple[Any, Stubber]]:
    """The client (fake credentials, us-east-1: it can reach no account) and its Stubber; on leaving, every queued
    answer must have been used."""
    client = boto3.client(
        service, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing"
    )
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()

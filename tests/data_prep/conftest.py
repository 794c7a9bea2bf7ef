from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from data_prep.synthetic import write_synthetic_tarball

TRAIN_PER_CLASS = 3
TEST_PER_CLASS = 2


@pytest.fixture(scope="session")
def synthetic_tarball(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small tarball in the real layout and key style: all 100 classes, 3 train and 2 test images each."""
    path = tmp_path_factory.mktemp("source") / "cifar-100-python.tar.gz"
    return write_synthetic_tarball(path, train_per_class=TRAIN_PER_CLASS, test_per_class=TEST_PER_CLASS)


@pytest.fixture(scope="session")
def synthetic_tarball_str_keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same images as `synthetic_tarball`, pickled with str keys and strings."""
    path = tmp_path_factory.mktemp("source_str") / "cifar-100-python.tar.gz"
    return write_synthetic_tarball(
        path, train_per_class=TRAIN_PER_CLASS, test_per_class=TEST_PER_CLASS, key_style="str"
    )


@dataclass
class TarballServer:
    """What the local server serves and how it misbehaves; `gets` counts the GET requests it answered."""

    payload: bytes
    url: str = ""
    connections_to_break: int = 0
    # Answered in turn, one per request, before the payload is served; a 404 stays a 404.
    error_statuses: list[int] = field(default_factory=list)
    gets: int = 0


class _Handler(http.server.BaseHTTPRequestHandler):
    server: http.server.ThreadingHTTPServer

    def do_GET(self) -> None:
        state: TarballServer = self.server.state
        state.gets += 1
        if state.error_statuses:
            status = (
                state.error_statuses[0] if state.error_statuses[0] == 404 else state.error_statuses.pop(0)
            )
            self.send_error(status)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(state.payload)))
        self.end_headers()
        if state.connections_to_break:
            state.connections_to_break -= 1
            # Half the promised bytes, then the connection closes: a download broken half-way.
            self.wfile.write(state.payload[: len(state.payload) // 2])
            self.close_connection = True
            return
        self.wfile.write(state.payload)

    def log_message(self, format: str, *args: object) -> None:
        """Keeps test output quiet."""


@pytest.fixture
def tarball_server(synthetic_tarball: Path) -> Iterator[TarballServer]:
    """An HTTP server on 127.0.0.1 serving the synthetic tarball."""
    state = TarballServer(payload=synthetic_tarball.read_bytes())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.state = state
    state.url = f"http://127.0.0.1:{server.server_address[1]}/cifar-100-python.tar.gz"
    # A short poll interval lets shutdown() return at once instead of after the default half second.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()

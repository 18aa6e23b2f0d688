"""A real HTTP receiver on 127.0.0.1 (one of the API engineer's ports), started and stopped by each test."""

import http.server
import json
import socket
import threading
from dataclasses import dataclass, field

import pytest
from django.core.cache import cache

PORTS = range(8120, 8130)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self):
        return json.loads(self.body)


@dataclass
class Receiver:
    """Records every POST; answers with the queued statuses first, then `default_status`."""

    url: str
    requests: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    default_status: int = 200


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8120-8129")


@pytest.fixture(autouse=True)
def _fresh_cache():
    # The set of subscribed events is cached; each test starts without it.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def receiver():
    port = _free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}/hooks/crm")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            state.requests.append(Received(self.path, {k: v for k, v in self.headers.items()}, body))
            status = state.statuses.pop(0) if state.statuses else state.default_status
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"ok" if status < 300 else b"nope")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

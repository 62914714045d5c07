"""A stub OpenAI-compatible chat server on 127.0.0.1, so tests make REAL openai SDK calls offline.

It implements ``POST /v1/chat/completions`` only, records every request body, and can imitate servers
that reject JSON schemas or every ``response_format`` (as some local servers do), fail, or hang.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator


@dataclass
class StubLLM:
    """Behaviour knobs; change them between requests. ``requests`` holds every parsed request body."""

    #: the assistant's message content; None means: JSON ``{"words": words}``
    content: str | None = None
    words: list[Any] = field(default_factory=lambda: ["Red", "green", "Blue"])
    #: response_format types answered with HTTP 400 ("none" = a request without response_format)
    reject: tuple[str, ...] = ()
    #: answer every request with this HTTP status and an error body
    status: int = 200
    #: answer 400 to any request that sets ``temperature`` (as reasoning models do)
    reject_temperature: bool = False
    #: answer 200 with this non-JSON body instead of a chat completion (a misconfigured proxy)
    html: str | None = None
    #: seconds to wait before answering (to test timeouts)
    delay: float = 0.0
    #: answer 200 ``application/json`` with exactly these bytes (garbage, deeply nested JSON, ...)
    raw: bytes | None = None
    #: send the answer one byte every this many seconds (a per-read timeout never fires)
    trickle: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    base_url: str = ""

    def formats(self) -> list[str]:
        """The response_format type of each request so far ("none" when absent)."""
        return [(r.get("response_format") or {}).get("type", "none") for r in self.requests]


def _handler(stub: StubLLM) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def _send(self, status: int, body: dict[str, Any] | bytes) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                if stub.trickle:
                    for i in range(len(data)):
                        self.wfile.write(data[i : i + 1])
                        self.wfile.flush()
                        time.sleep(stub.trickle)
                else:
                    self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError, OSError):  # the client gave up (timeout test): expected
                pass

        def do_POST(self) -> None:  # noqa: N802 (http.server naming)
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length) or b"{}")
            stub.requests.append(body)
            stub.headers.append({k.lower(): v for k, v in self.headers.items()})
            if stub.delay:
                time.sleep(stub.delay)
            if self.path.rstrip("/") != "/v1/chat/completions":
                self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                return
            if stub.raw is not None:
                self._send(200, stub.raw)
                return
            if stub.status != 200:
                self._send(stub.status, {"error": {"message": f"stub error {stub.status}", "type": "server_error"}})
                return
            if stub.html is not None:
                data = stub.html.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                return
            if stub.reject_temperature and "temperature" in body:
                self._send(400, {"error": {"message": "Unsupported value: 'temperature' does not support 0", "type": "invalid_request_error"}})
                return
            kind = (body.get("response_format") or {}).get("type", "none")
            if kind in stub.reject:
                self._send(400, {"error": {"message": f"response_format {kind} is not supported", "type": "invalid_request_error"}})
                return
            content = stub.content if stub.content is not None else json.dumps({"words": stub.words})
            self._send(
                200,
                {
                    "id": "chatcmpl-stub",
                    "object": "chat.completion",
                    "created": 0,
                    "model": body.get("model", "?"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                },
            )

    return Handler


@contextlib.contextmanager
def serve(stub: StubLLM | None = None) -> Iterator[StubLLM]:
    """Run the stub on a free port for the duration of the ``with``; ``stub.base_url`` ends in ``/v1``."""
    stub = stub or StubLLM()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    server.daemon_threads = True
    server.block_on_close = False  # a hung (delayed) request must not stall the test's teardown
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    stub.base_url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def closed_port_url() -> str:
    """A base URL where nothing listens (a port we bound and released), to simulate a server that is down."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")


def direct_to_localhost(monkeypatch: Any) -> None:
    """httpx honours proxy variables: a CI proxy must not intercept requests meant for the stub."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")

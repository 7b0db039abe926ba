"""A tiny scripted HTTP server for client tests: real sockets, real headers, real drops.

Each test gives a `handler(request) -> Reply | "drop" | "hang"`; the server records every
request it received. Used where the sandbox cannot easily script an exact sequence.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


Handler = Callable[[Seen], "Reply | str"]


class FakeCW:
    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.seen: list[Seen] = []
        self.lock = threading.Lock()
        fake = self

        class _H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                seen = Seen(
                    self.command,
                    parts.path,
                    dict(parse_qsl(parts.query)),
                    {k.lower(): v for k, v in self.headers.items()},
                    json.loads(raw) if raw else None,
                )
                with fake.lock:
                    fake.seen.append(seen)
                reply = fake.handler(seen)
                if reply == "drop":
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                if isinstance(reply, tuple) and reply[0] == "hang":
                    time.sleep(reply[1])
                    self.close_connection = True
                    return
                assert isinstance(reply, Reply)
                data = (
                    b""
                    if reply.body is None
                    else (
                        reply.body
                        if isinstance(reply.body, bytes)
                        else json.dumps(reply.body).encode()
                    )
                )
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in reply.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v4_6_release/apis/3.0"

    def count(self, method: str | None = None) -> int:
        with self.lock:
            return sum(1 for s in self.seen if method is None or s.method == method)

    def __enter__(self) -> FakeCW:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


def script(*replies: Reply | str | tuple[str, float]) -> Handler:
    """A handler answering with `replies` in order, then repeating the last one."""
    queue = list(replies)
    lock = threading.Lock()

    def handler(_: Seen) -> Reply | str:
        with lock:
            return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler

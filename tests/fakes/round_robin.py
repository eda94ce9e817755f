"""A round-robin HTTP proxy for tests: what a load balancer in front of several replicas does.

Each request goes to the next upstream in turn, its body and end-to-end headers untouched (the
Slack and Stripe signatures must still verify at the replica). An upstream that refuses the
connection is skipped and the next one tried, as a load balancer retries a failed connect: the
request never reached it, so sending it elsewhere cannot do it twice. A failure after the request
went out (the replica died mid-answer) is not retried here, since the replica may have acted on it:
the client gets 502, as from a real load balancer, and retries if it wants (Stripe does). With
every upstream refusing, 502 too.

    with RoundRobinProxy([a.url, b.url]) as proxy:
        httpx.post(proxy.url + "/stripe/webhook", ...)
"""

from __future__ import annotations

import http.client
import itertools
import threading
from collections import Counter
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

# Headers about one connection, not the request (RFC 9110 7.6.1): never forwarded.
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "proxy-authenticate",
                        "proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"})


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # many senders at once: a full backlog would look like a refused connect
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], proxy: RoundRobinProxy) -> None:
        super().__init__(address, _Handler)
        self.proxy = proxy

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up mid-answer; the proxy's counters say what happened


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive with clients, as a load balancer offers

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._forward()

    def do_POST(self) -> None:  # noqa: N802
        self._forward()

    def _forward(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = [(name, value) for name, value in self.headers.items() if name.lower() not in HOP_BY_HOP]
        status, reply_headers, reply = self.server.proxy.forward(self.command, self.path, headers, body)
        self.send_response(status)
        for name, value in reply_headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass  # keep test output clean


class RoundRobinProxy:
    """Forwards to `upstreams` (base URLs like `http://127.0.0.1:8001`) in turn; see the module doc."""

    def __init__(self, upstreams: Sequence[str], *, host: str = "127.0.0.1", port: int = 0,
                 timeout: float = 30.0) -> None:
        if not upstreams:
            raise ValueError("at least one upstream")
        self.upstreams = [_host_port(url) for url in upstreams]
        self.timeout = timeout
        self._turn = itertools.count()
        self._lock = threading.Lock()
        self.forwarded: Counter[str] = Counter()  # answers relayed, per upstream URL
        self.refused: Counter[str] = Counter()  # connects refused (and skipped), per upstream URL
        self.bad_gateway = 0  # 502s answered: every upstream refused, or one failed mid-request
        self._server = _Server((host, port), self)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> RoundRobinProxy:
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="round-robin-proxy", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> RoundRobinProxy:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def forward(self, method: str, path: str, headers: list[tuple[str, str]], body: bytes
                ) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, headers, body) of the first upstream, from this request's turn on, that takes the connection."""
        first = next(self._turn)
        for offset in range(len(self.upstreams)):
            host, port = self.upstreams[(first + offset) % len(self.upstreams)]
            name = f"http://{host}:{port}"
            connection = http.client.HTTPConnection(host, port, timeout=self.timeout)
            try:
                try:
                    connection.connect()
                except ConnectionRefusedError:
                    self._count(self.refused, name)
                    continue  # never reached it: the next upstream may take it
                try:
                    connection.request(method, path, body=body, headers=dict(headers))
                    response = connection.getresponse()
                    reply = response.read()
                except (OSError, http.client.HTTPException):
                    return self._bad_gateway(f"{name} failed mid-request")
                self._count(self.forwarded, name)
                kept = [(key, value) for key, value in response.getheaders()
                        if key.lower() not in HOP_BY_HOP and key.lower() != "content-length"]
                return response.status, kept, reply
            finally:
                connection.close()
        return self._bad_gateway("every upstream refused the connection")

    def _count(self, counter: Counter[str], name: str) -> None:
        with self._lock:
            counter[name] += 1

    def _bad_gateway(self, why: str) -> tuple[int, list[tuple[str, str]], bytes]:
        with self._lock:
            self.bad_gateway += 1
        return 502, [("Content-Type", "text/plain; charset=utf-8")], why.encode()


def _host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.port is None:
        raise ValueError(f"an upstream must look like http://host:port, not {url!r}")
    return parts.hostname, parts.port

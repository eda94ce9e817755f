"""uvicorn as invoicebot serves with it, plus the limits uvicorn lacks.

uvicorn bounds a keep-alive connection's idle time, but nothing bounds how long one request may
take to arrive: its keep-alive timer is reset by every byte, so a client that trickles headers or
a body one byte at a time holds a connection (and a slot of `limit_concurrency`) for ever, and
with httptools the headers a client sends are not capped in size. `GuardedHttpToolsProtocol`
adds both: a request must arrive whole within `HTTP_REQUEST_TIMEOUT` seconds of its first byte (or
of the connection opening), and its request line and headers within `MAX_HEADER_BYTES`; otherwise the
connection is closed. (uvicorn's own `--timeout-request-start` was proposed upstream and not
merged; a reverse proxy in front does the same job where there is one.)
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

if TYPE_CHECKING:
    from bot.bootstrap import Bot

logger = logging.getLogger(__name__)

MAX_HEADER_BYTES = 64 * 1024
MAX_CONNECTIONS = 1000  # beyond this, uvicorn answers 503 at once
KEEP_ALIVE_SECONDS = 5
GRACEFUL_SHUTDOWN_SECONDS = 20


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    receipt_seconds = 10.0  # HTTP_REQUEST_TIMEOUT: Slack's and Stripe's requests arrive in milliseconds
    max_header_bytes = MAX_HEADER_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._header_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        if self._count(len(url)):
            super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._count(len(name) + len(value)):
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        if self._header_bytes <= self.max_header_bytes:  # else the connection is closing: start nothing
            super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()

    def _arm(self) -> None:
        if self._deadline is None:
            self._deadline = self.loop.call_later(self.receipt_seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        logger.warning("closed a connection whose request did not arrive within %.0f s", self.receipt_seconds)
        self.transport.close()

    def _count(self, size: int) -> bool:
        self._header_bytes += size
        if self._header_bytes <= self.max_header_bytes:
            return True
        if not self.transport.is_closing():
            logger.warning("closed a connection whose request headers passed %d bytes", self.max_header_bytes)
            self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n"
                                 b"connection: close\r\n\r\n")
            self.transport.close()
        return False


def server_config(bot: Bot, *, log_level: str | None = None) -> uvicorn.Config:
    """The one way the bot is served, by `invoicebot serve` and by the tests alike."""
    from bot.web import asgi_app

    settings = bot.settings
    protocol = type("GuardedHttpToolsProtocol", (GuardedHttpToolsProtocol,),
                    {"receipt_seconds": settings.http_request_timeout})
    return uvicorn.Config(
        asgi_app(bot), host=settings.host, port=settings.port, lifespan="on",
        log_level=(log_level or settings.log_level).lower(),
        http=protocol, limit_concurrency=MAX_CONNECTIONS, timeout_keep_alive=KEEP_ALIVE_SECONDS,
        # A line per request, written on the event loop, cost a twentieth of the webhook's capacity;
        # refusals and errors are still logged by the bot itself.
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )

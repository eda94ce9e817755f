"""The HTTP edge: one Starlette app with `/slack/events`, `/stripe/webhook` and `/healthz`; its
lifespan starts the workers (and Socket Mode, when configured) and drains them on shutdown.

Refusing costs little: a body is read in chunks up to its door's limit, and one that declares or
turns out to be larger is answered 413 at once (the connection is then closed, so the rest is
never read); signatures are checked before anything parses a body; `/healthz` does a handful of
index lookups, whatever the backlog.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence

import orjson
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from slack_bolt import BoltRequest
from slack_bolt.adapter.starlette.handler import to_starlette_response
from slack_bolt.error import BoltError
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.bootstrap import Bot
from bot.config import SlackMode
from bot.errors import StoreUnavailable
from bot.jobs.model import Lane
from bot.metrics import Exposition
from bot.secrets import SecretKind
from bot.urlencoded import parse_form
from bot.web_connect import connect_routes
from bot.web_install import install_routes
from bot.webhook import MAX_WEBHOOK_BYTES, WebhookEndpoint, WebhookReceiver

logger = logging.getLogger(__name__)

STRIPE_PATH = "/stripe/webhook"
TENANT_STRIPE_PREFIX = "/stripe/webhook/"

MAX_SLACK_BODY_BYTES = 1024 * 1024
CLOSE = {"connection": "close"}  # the rest of a refused body is not worth reading


class Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


async def read_body(request: Request, limit: int) -> bytes:
    """The body, read chunk by chunk and never past `limit` (whatever Content-Length says or omits)."""
    declared = request.headers.get("content-length")
    if declared is not None and not (declared.isascii() and declared.isdigit()):
        raise Refused(JSONResponse({"error": "malformed Content-Length"}, status_code=400, headers=CLOSE))
    if declared is not None and int(declared) > limit:
        raise Refused(JSONResponse({"error": f"body larger than {limit} bytes"}, status_code=413, headers=CLOSE))
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(JSONResponse({"error": f"body larger than {limit} bytes"}, status_code=413,
                                       headers=CLOSE))
    return bytes(body)


def as_bolt_request(request: Request, text: str) -> BoltRequest:
    """The request as Bolt would build it, with the form decoded here: Bolt decodes forms with
    `parse_qsl` (most of an ack's CPU for a modal's 30 KB of escapes) and takes any body that merely
    contains the word "payload" (`/invoice list payload`) for an interaction, leaving it empty.
    Handed JSON, Bolt only runs the C decoder over it."""
    headers: dict[str, str | Sequence[str]] = dict(request.headers.items())
    content_type = request.headers.get("content-type", "").split(";")[0].strip()
    if content_type != "application/json" and not text.startswith("{"):
        fields = parse_form(text)
        text = fields["payload"] if "payload" in fields else orjson.dumps(fields).decode()
        headers["content-type"] = "application/json"
    return BoltRequest(body=text, query=request.url.query, headers=headers)


def asgi_app(bot: Bot) -> ASGIApp:
    settings = bot.settings

    async def slack_events(request: Request) -> Response:
        arrived = time.perf_counter()
        try:
            body = await read_body(request, MAX_SLACK_BODY_BYTES)
        except Refused as refused:
            return refused.response
        # Check the signature before anything parses the body (Bolt parses first and then verifies,
        # so a broken or hostile body would otherwise end in a 500 rather than a 401 or a 400).
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return JSONResponse({"error": "request body is not UTF-8"}, status_code=400)
        if not signed_by_slack(text, request.headers):
            return JSONResponse({"error": "invalid request"}, status_code=401)
        try:
            bolt_request = as_bolt_request(request, text)
        except (ValueError, TypeError, AttributeError, RecursionError, BoltError):
            return JSONResponse({"error": "malformed request body"}, status_code=400)
        # Bolt's dispatch is synchronous: run it in a thread so the event loop keeps serving.
        bolt_response = await run_in_threadpool(bot.bolt.dispatch, bolt_request)
        response = to_starlette_response(bolt_response)
        kind = "slash_command" if "command" in bolt_request.body else str(bolt_request.body.get("type"))
        bot.metrics.ack(kind, time.perf_counter() - arrived)
        return response

    async def healthz(request: Request) -> Response:
        database = await run_in_threadpool(bot.store.ping)
        workers = bot.runner.health()
        waiting = await run_in_threadpool(bot.store.queue.oldest_due) if database else {}
        ok = database and workers.ok
        return JSONResponse(
            {"ok": ok, "database": "ok" if database else "unreachable", "workers": workers.to_dict(),
             "oldest_due_seconds": waiting, "slack_mode": "socket" if settings.socket_mode else "http"},
            status_code=200 if ok else 503,
        )

    exposition = Exposition(bot.metrics, bot.remote_samples, lambda: scrape_gauges(bot))

    async def metrics(request: Request) -> Response:
        return Response(await run_in_threadpool(exposition.render), media_type=CONTENT_TYPE_LATEST)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        bot.start()
        try:
            yield
        finally:
            await run_in_threadpool(bot.stop)

    routes: list[BaseRoute] = [Route("/healthz", healthz, methods=["GET"]), Route("/metrics", metrics, methods=["GET"])]
    if not settings.socket_mode:
        assert settings.slack_signing_secret is not None  # HTTP mode requires it (bot/config.py)
        verifier = SignatureVerifier(settings.slack_signing_secret.get_secret_value())

        def signed_by_slack(text: str, headers: Mapping[str, str]) -> bool:
            timestamp = headers.get("x-slack-request-timestamp") or ""
            signature = headers.get("x-slack-signature") or ""
            if len(signature) > 200 or not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
                return False
            return verifier.is_valid(body=text, timestamp=timestamp, signature=signature)

        routes.append(Route("/slack/events", slack_events, methods=["POST"]))
    if settings.slack_mode is SlackMode.OAUTH:
        routes += install_routes(bot) + connect_routes(bot)
    starlette = Starlette(routes=routes, lifespan=lifespan)
    stripe_door = StripeDoor(bot.webhooks)
    # SLACK_MODE=oauth: one endpoint per workspace's Stripe account, `/stripe/webhook/<its public id>`.
    tenant_doors = StripeDoor(bot.webhooks, TenantEndpoints(bot)) if settings.slack_mode is SlackMode.OAUTH else None

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == STRIPE_PATH and tenant_doors is None:
            await stripe_door(scope, receive, send)
        elif scope["type"] == "http" and tenant_doors is not None and scope["path"].startswith(TENANT_STRIPE_PREFIX):
            await tenant_doors(scope, receive, send)
        else:
            await starlette(scope, receive, send)

    return app


def scrape_gauges(bot: Bot) -> Iterator[Metric]:
    """What the store and the workers say now, read at each scrape."""
    health = bot.runner.health()
    alive = GaugeMetricFamily("invoicebot_worker_threads_alive", "Worker threads running (of "
                              "invoicebot_worker_threads); fewer means some are being restarted.", value=health.alive)
    threads = GaugeMetricFamily("invoicebot_worker_threads", "Worker threads configured across lanes.",
                                value=health.threads)
    try:
        waiting = bot.store.queue.waiting()
        oldest = bot.store.queue.oldest_due()
    except Exception:  # the scrape still answers: the database is down, and says so
        logger.exception("could not read the job queue for /metrics")
        yield GaugeMetricFamily("invoicebot_database_up", "1 when the database answered this scrape.", value=0)
        yield from (alive, threads)
        return
    jobs = GaugeMetricFamily("invoicebot_jobs_waiting", "Unfinished jobs per lane: pending (ready, retrying, "
                             "waiting for a channel's pace, or scheduled) and running (leased).",
                             labels=["lane", "status"])
    ages = GaugeMetricFamily("invoicebot_oldest_due_job_seconds", "Per lane, how long the oldest job that is due "
                             "has waited (0: none waiting).", labels=["lane"])
    for lane in Lane:
        for status in ("pending", "running"):
            jobs.add_metric([lane.value, status], waiting.get((lane.value, status), 0))
        ages.add_metric([lane.value], oldest.get(lane.value, 0.0))
    yield GaugeMetricFamily("invoicebot_database_up", "1 when the database answered this scrape.", value=1)
    yield from (jobs, ages, alive, threads)


class TenantEndpoints:
    """Each workspace's webhook endpoint by the public id in its URL: its tenant and signing secret,
    read from the directory and kept a few seconds: a busy endpoint costs one read per interval, and a
    disconnect or an uninstall (in any process) closes the old address within it."""

    def __init__(self, bot: Bot, ttl: float = 5.0) -> None:
        self._bot = bot
        self._ttl = ttl
        self._known: dict[str, tuple[WebhookEndpoint | None, float]] = {}

    async def __call__(self, public_id: str) -> WebhookEndpoint | None:
        known = self._known.get(public_id)
        if known is not None and time.monotonic() - known[1] < self._ttl:
            return known[0]
        endpoint = await run_in_threadpool(self._lookup, public_id)
        if len(self._known) > 10_000:  # ids that were never ours must not grow this without end
            self._known.clear()
        self._known[public_id] = (endpoint, time.monotonic())
        return endpoint

    def _lookup(self, public_id: str) -> WebhookEndpoint | None:
        directory, box = self._bot.store.directory, self._bot.secret_box
        tenant = directory.by_public_id(public_id) if public_id else None
        connection = directory.stripe(tenant.id) if tenant is not None and tenant.active else None
        if tenant is None or connection is None or box is None:
            return None
        return WebhookEndpoint(tenant.id, box.decrypt(tenant.id, SecretKind.STRIPE_WEBHOOK_SECRET,
                                                      connection.webhook_secret))


class StripeDoor:
    """`POST /stripe/webhook` as a bare ASGI app: Stripe's events are the bot's hottest path, and
    Starlette's routing, middleware and Request/Response objects cost as much as the checks
    themselves. Same rules as `read_body`: a capped read, 413 and close past the limit. With
    `endpoints`, the path names the workspace (`/stripe/webhook/<public id>`) and its secret."""

    def __init__(self, webhooks: WebhookReceiver,
                 endpoints: Callable[[str], Awaitable[WebhookEndpoint | None]] | None = None) -> None:
        self.webhooks = webhooks
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["method"] != "POST":
            await _answer(send, 405, {"error": "POST only"}, close=False)
            return
        endpoint: WebhookEndpoint | None = None
        if self.endpoints is not None:
            try:
                endpoint = await self.endpoints(scope["path"].removeprefix(TENANT_STRIPE_PREFIX))
            except StoreUnavailable:
                await _answer(send, 503, {"error": "the event could not be stored; send it again"}, close=True)
                return
            if endpoint is None:
                await _answer(send, 404, {"error": "no Stripe account is connected at this address"}, close=True)
                return
        headers = dict(scope["headers"])
        declared = headers.get(b"content-length")
        if declared is not None and not (declared.isascii() and declared.isdigit()):
            await _answer(send, 400, {"error": "malformed Content-Length"}, close=True)
            return
        if declared is not None and int(declared) > MAX_WEBHOOK_BYTES:
            await _answer(send, 413, {"error": f"body larger than {MAX_WEBHOOK_BYTES} bytes"}, close=True)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_WEBHOOK_BYTES:
                await _answer(send, 413, {"error": f"body larger than {MAX_WEBHOOK_BYTES} bytes"}, close=True)
                return
        signature = headers.get(b"stripe-signature")
        result = await self.webhooks.receive_async(bytes(body), signature.decode("latin-1") if signature else None,
                                                   endpoint)
        await _answer(send, result.status, result.body, close=False)


async def _answer(send: Send, status: int, body: dict[str, object], *, close: bool) -> None:
    content = orjson.dumps(body)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(content)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": content})

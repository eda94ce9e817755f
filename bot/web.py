"""The HTTP edge: one Starlette app with `/slack/events`, `/stripe/webhook` and `/healthz`; its
lifespan starts the workers (and Socket Mode, when configured) and drains them on shutdown.

Refusing costs little: a body is read in chunks up to its door's limit, and one that declares or
turns out to be larger is answered 413 at once (the connection is then closed, so the rest is
never read); signatures are checked before anything parses a body; `/healthz` does a handful of
index lookups, whatever the backlog.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping

from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.bootstrap import Bot
from bot.webhook import MAX_WEBHOOK_BYTES

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


def asgi_app(bot: Bot) -> Starlette:
    settings = bot.settings

    async def slack_events(request: Request) -> Response:
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
            bolt_request = to_bolt_request(request, body)
        except (ValueError, TypeError, AttributeError, RecursionError):
            return JSONResponse({"error": "malformed request body"}, status_code=400)
        # Bolt's dispatch is synchronous: run it in a thread so the event loop keeps serving.
        bolt_response = await run_in_threadpool(bot.bolt.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    async def stripe_webhook(request: Request) -> Response:
        try:
            raw = await read_body(request, MAX_WEBHOOK_BYTES)
        except Refused as refused:
            return refused.response
        result = await bot.webhooks.receive_async(raw, request.headers.get("stripe-signature"))
        return JSONResponse(result.body, status_code=result.status)

    async def healthz(request: Request) -> Response:
        database = await run_in_threadpool(bot.store.ping)
        workers = bot.workers.health()
        waiting = await run_in_threadpool(bot.store.queue.oldest_due) if database else {}
        ok = database and workers.ok
        return JSONResponse(
            {"ok": ok, "database": "ok" if database else "unreachable", "workers": workers.to_dict(),
             "oldest_due_seconds": waiting, "slack_mode": "socket" if settings.socket_mode else "http"},
            status_code=200 if ok else 503,
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        bot.start()
        try:
            yield
        finally:
            await run_in_threadpool(bot.stop)

    routes = [
        Route("/stripe/webhook", stripe_webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
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
    return Starlette(routes=routes, lifespan=lifespan)

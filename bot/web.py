"""The HTTP edge: one Starlette app with `/slack/events`, `/stripe/webhook` and `/healthz`; its
lifespan starts the workers (and Socket Mode, when configured) and drains them on shutdown."""

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


def asgi_app(bot: Bot) -> Starlette:
    settings = bot.settings

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_SLACK_BODY_BYTES:
            return JSONResponse({"error": "request body too large"}, status_code=413)
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
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
            return JSONResponse({"error": f"body larger than {MAX_WEBHOOK_BYTES} bytes"}, status_code=413)
        raw = await request.body()
        result = await bot.webhooks.receive_async(raw, request.headers.get("stripe-signature"))
        return JSONResponse(result.body, status_code=result.status)

    async def healthz(request: Request) -> Response:
        database = await run_in_threadpool(bot.store.ping)
        workers = bot.workers.health()
        stats = await run_in_threadpool(bot.store.queue.stats) if database else None
        ok = database and workers.ok
        return JSONResponse(
            {"ok": ok, "database": "ok" if database else "unreachable", "workers": workers.to_dict(),
             "jobs": {**stats.counts, "due": stats.due} if stats else {},
             "oldest_due_seconds": stats.oldest_due_seconds if stats else {},
             "slack_mode": "socket" if settings.socket_mode else "http"},
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

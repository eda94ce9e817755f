"""The benchmarks' references, on the bot's server stack (Starlette under uvicorn), each in its
own process:

    python -m bench.refservers ceiling --port PORT
    python -m bench.refservers usual --port PORT --database PATH
    python -m bench.refservers whole-body --port PORT

- `ceiling`: `POST /ceiling` answers 200 to an empty body: what the stack itself costs.
- `usual`: `POST /stripe/webhook` the way Stripe's docs and most bots do it: the raw body through
  `stripe.Webhook.construct_event` (verify, parse, build the `Event` object), then stored once by
  id (with its processing job) in the same SQLite store the bot uses, off the event loop.
- `whole-body`: `POST /slack/events` reads the whole body, then checks its size.
"""

from __future__ import annotations

import argparse
import sys

import stripe
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.domain.tenants import DEFAULT_TENANT
from bot.jobs.payloads import ProcessEvent
from bot.store import open_store
from tests.harness import WEBHOOK_SECRET


def ceiling_app() -> Starlette:
    async def ceiling(request: Request) -> Response:
        return Response(status_code=200)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/ceiling", ceiling, methods=["POST"]), Route("/healthz", healthz)])


def whole_body_app() -> Starlette:
    """Reads the whole body, then checks its size: what the bot did before it streamed with a cap."""

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        if len(body) > 1024 * 1024:
            return JSONResponse({"error": "request body too large"}, status_code=413)
        return Response(status_code=200)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/slack/events", slack_events, methods=["POST"]), Route("/healthz", healthz)])


def usual_app(database: str, secret: str = WEBHOOK_SECRET) -> Starlette:
    store = open_store(f"sqlite:///{database}")

    def receive(raw: bytes, signature: str) -> tuple[int, dict[str, object]]:
        try:
            event = stripe.Webhook.construct_event(raw, signature, secret)
        except (ValueError, stripe.SignatureVerificationError) as error:
            return 400, {"error": str(error)}
        fields = {"id": event.id, "type": event.type, "created": event.created,
                  "data": {"object": {"id": event.data.object.id}}}
        with store.unit_of_work(DEFAULT_TENANT) as uow:
            stored = uow.events.record(fields, raw.decode())
            if stored:
                uow.jobs.add(ProcessEvent(event_id=event.id), key=f"event:{event.id}")
            uow.commit()
        return 200, {"received": True, "duplicate": not stored}

    async def webhook(request: Request) -> Response:
        raw = await request.body()
        status, body = await run_in_threadpool(receive, raw, request.headers.get("stripe-signature", ""))
        return JSONResponse(body, status_code=status)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/stripe/webhook", webhook, methods=["POST"]), Route("/healthz", healthz)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.refservers", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("receiver", choices=["ceiling", "usual", "whole-body"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--database", required=False, help="SQLite file for the usual receiver")
    parser.add_argument("--log-level", default="info", help="as `invoicebot serve` with its default LOG_LEVEL")
    args = parser.parse_args(argv)
    if args.receiver == "usual" and not args.database:
        parser.error("usual needs --database")
    app = {"ceiling": ceiling_app, "whole-body": whole_body_app}.get(args.receiver, lambda: usual_app(args.database))()
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level=args.log_level, timeout_graceful_shutdown=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())

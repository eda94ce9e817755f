"""The ack benchmark's baseline: a naive Bolt app that asks Stripe before it acks.

    python -m bench.naive_bolt --port PORT --slack-api-url URL --stripe-url URL

Served exactly like the bot (Bolt's defaults, the same Starlette glue as `bot/app.py`, uvicorn
as `invoicebot serve` runs it) and showing the same modal. The difference is what tutorials do:

- `/invoice` lists the catalog's prices from Stripe to fill the modal, then acks and opens it;
- the modal's submit creates the customer in Stripe (to report a bad email in the modal), then
  acks. That is one Stripe call before each ack, the least such a handler makes: creating the
  whole invoice first (customer, invoice, item, finalize, send) would be five.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import stripe
import uvicorn
from slack_bolt import Ack, App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk import WebClient
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import blocks
from bot.forms import flatten_state
from tests.harness import BOT_TOKEN, SIGNING_SECRET, STRIPE_KEY


def naive_bolt(slack_api_url: str, stripe_url: str) -> App:
    stripe_client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": stripe_url})
    bolt = App(client=WebClient(token=BOT_TOKEN, base_url=slack_api_url), signing_secret=SIGNING_SECRET,
               token_verification_enabled=False)

    @bolt.command("/invoice")
    def open_modal(ack: Ack, command: dict[str, Any], client: WebClient) -> None:
        stripe_client.v1.prices.list(params={"active": True, "limit": 100})  # the catalog, before the ack
        ack()
        state = blocks.ModalState(channel_id=command["channel_id"], default_currency="usd", default_days=30)
        client.views_open(trigger_id=command["trigger_id"], view=blocks.invoice_modal(state))

    @bolt.view(blocks.MODAL_CALLBACK_ID)
    def submit(ack: Ack, view: dict[str, Any]) -> None:
        values = flatten_state(view["state"]["values"])
        stripe_client.v1.customers.create(params={"email": values.get("customer_email") or "",
                                                  "name": values.get("customer_name") or ""})
        ack(response_action="update", view=blocks.status_view("New invoice", "Creating the invoice…"))

    return bolt


def naive_app(slack_api_url: str, stripe_url: str) -> Starlette:
    bolt = naive_bolt(slack_api_url, stripe_url)

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        bolt_response = await run_in_threadpool(bolt.dispatch, to_bolt_request(request, body))
        return to_starlette_response(bolt_response)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"ok": True})

    return Starlette(routes=[Route("/slack/events", slack_events, methods=["POST"]), Route("/healthz", healthz)])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.naive_bolt", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--slack-api-url", required=True)
    parser.add_argument("--stripe-url", required=True)
    args = parser.parse_args(argv)
    uvicorn.run(naive_app(args.slack_api_url, args.stripe_url), host="127.0.0.1", port=args.port, log_level="info",
                timeout_graceful_shutdown=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())

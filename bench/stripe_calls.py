"""4. Stripe calls per invoice with n lines, the bot's flow against Stripe's guide.

The bot: `Invoicing.create` (what the worker runs for a modal submit; the modal holds at most
18 lines, so larger n come as a `CreateInvoice` job), for a new customer, sent at once. The
guide: customer, invoice, one `invoiceitems.create` per line, finalize, send, through the same SDK.
Both against fake Stripe; calls counted by the fake (`requests`).
"""

from __future__ import annotations

import time

import stripe

from bench.common import Context, bot_settings
from bench.report import Section, fmt
from bot.adapters.stripe import StripeGateway
from bot.bootstrap import build
from bot.domain.tenants import DEFAULT_TENANT
from bot.jobs.payloads import CreateInvoice, SubmittedLine
from tests.harness import STRIPE_KEY

LINES = (1, 10, 100, 250)
SLOW_STRIPE = 2.0  # bench 1's Stripe latency, to put the call counts in seconds


def _submission(n: int) -> CreateInvoice:
    return CreateInvoice(
        view_id=f"V_BENCH_{n}", team_id="T123", user_id="UREP", channel_id="CSALES", customer_id=None,
        customer_name=f"Customer {n}", customer_email=f"lines{n}@bench.example", currency="usd",
        lines=[SubmittedLine(description=f"Line {i + 1}", quantity=1, unit_amount=100 + i) for i in range(n)],
        days_until_due=30, memo=None, send_now=True,
    )


def _guide(client: stripe.StripeClient, n: int) -> None:
    customer = client.v1.customers.create(params={"name": f"Guide {n}", "email": f"guide{n}@bench.example"})
    invoice = client.v1.invoices.create(params={
        "customer": customer.id, "collection_method": "send_invoice", "days_until_due": 30,
        "pending_invoice_items_behavior": "exclude"})
    assert invoice.id is not None
    for i in range(n):
        client.v1.invoice_items.create(params={"customer": customer.id, "invoice": invoice.id, "amount": 100 + i,
                                               "currency": "usd", "description": f"Line {i + 1}"})
    client.v1.invoices.finalize_invoice(invoice.id)
    client.v1.invoices.send_invoice(invoice.id)


def run(context: Context) -> Section:
    fakes = context.fakes
    fakes.reset()
    settings = bot_settings(context.workdir / "calls.db", fakes)
    # The use case alone, with the gateway the bot would build: no workers, no HTTP edge.
    bot = build(settings, stripe=StripeGateway(STRIPE_KEY, fakes.stripe.url))
    client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": fakes.stripe.url})
    rows = []
    try:
        for n in LINES:
            before, started = len(fakes.stripe.requests), time.perf_counter()
            invoice_id = bot.invoicing.create(_submission(n))
            bot_seconds, bot_calls = time.perf_counter() - started, len(fakes.stripe.requests) - before
            invoice = bot.store.reads(DEFAULT_TENANT).invoices.get(invoice_id)
            assert invoice is not None and invoice.status == "open", invoice
            before, started = len(fakes.stripe.requests), time.perf_counter()
            _guide(client, n)
            guide_seconds, guide_calls = time.perf_counter() - started, len(fakes.stripe.requests) - before
            rows.append([str(n), str(bot_calls), str(guide_calls), f"{guide_calls / bot_calls:.1f}×",
                         fmt(bot_seconds * 1000), fmt(guide_seconds * 1000), fmt(bot_calls * SLOW_STRIPE),
                         fmt(guide_calls * SLOW_STRIPE)])
    finally:
        bot.store.close()
    return Section(
        key="stripe_calls",
        title="4. Stripe calls per invoice",
        headers=["lines", "bot calls", "guide calls", "guide / bot", "bot ms", "guide ms",
                 f"bot s at {SLOW_STRIPE:.0f} s/call", f"guide s at {SLOW_STRIPE:.0f} s/call"],
        rows=rows,
        notes=[
            "A new customer each time, sent at once. The bot looks the customer up by email first (one call the "
            "guide doesn't make), then adds the lines with `invoices.add_lines`, 50 per call; the guide makes one "
            "`invoiceitems.create` per line.",
            f"ms: against fake Stripe on loopback (no injected latency); the last two columns are the calls made "
            f"one after another at bench 1's {SLOW_STRIPE:.0f} s per call.",
        ],
    )

"""8. Memory after a receivables digest: the resident sets of `invoicebot serve` and of its worker process
(`invoicebot work`, where digests are put together) idle after start, then idle again after one
`/invoice digest now` reconciled 150 open invoices with Stripe, drew the aging charts (matplotlib, in a
child of its own that exits) and shared them with the CSV in Slack. Runs alone: `python -m bench digest_memory`.
"""

from __future__ import annotations

import time

import psutil

from bench.common import Context, bot_process, bot_settings, rss_mb, wait_until
from bench.report import Section, Target, fmt
from bot.adapters.stripe import LineItem, StripeGateway
from tests.harness import STRIPE_KEY

SETTLE = 3.0  # as bench/memory.py: the workers polling, the catalog refresh done
TARGET_IDLE_MB = 120.0
INVOICES = 150
CURRENCIES = ("usd", "eur", "jpy")
FINANCE = "CFINANCE"
ADMIN = "UADMIN"


def _open_invoices(gateway: StripeGateway, fake_stripe: object) -> None:
    """150 open invoices in the fake Stripe, a third of them overdue, the bot told of none (it reconciles)."""
    customer = gateway.create_customer(name="Bench Customer", email="bench@example.com", description="bench",
                                       metadata={}, idempotency_key="bench-digest-customer")
    for number in range(INVOICES):
        currency = CURRENCIES[number % len(CURRENCIES)]
        invoice = gateway.create_invoice(customer_id=customer["id"], currency=currency, days_until_due=30,
                                         description=None, metadata={}, idempotency_key=f"bench-digest-{number}")
        gateway.add_lines(invoice["id"], [LineItem(1, description="Services", unit_amount=10_000 + 137 * number)],
                          currency, idempotency_key=f"bench-digest-lines-{number}")
        gateway.finalize_invoice(invoice["id"], idempotency_key=f"bench-digest-finalize-{number}")
        if number % 3 == 0:
            fake_stripe.make_overdue(invoice["id"])  # type: ignore[attr-defined]


def _worker_pid(serve_pid: int) -> int:
    children = psutil.Process(serve_pid).children()
    workers = [child.pid for child in children if "work" in child.cmdline()]
    if not workers:
        raise RuntimeError(f"no worker process under {serve_pid}: {[child.cmdline() for child in children]}")
    return workers[0]


def run(context: Context) -> Section:
    context.fakes.reset()
    context.fakes.stripe.webhooks.pause()  # the bot hears of none of them: the digest's reconciliation does
    _open_invoices(StripeGateway(STRIPE_KEY, context.fakes.stripe.url), context.fakes.stripe)
    settings = bot_settings(context.workdir / "digest.db", context.fakes, invoice_admins=ADMIN)
    with bot_process(settings) as bot:
        assert bot.process is not None
        time.sleep(SETTLE)
        bot.http.get("/healthz")
        worker = _worker_pid(bot.process.pid)
        serve_before, worker_before = rss_mb(bot.process.pid), rss_mb(worker)
        began = time.monotonic()
        response = bot.slash(f"digest now <#{FINANCE}|finance>", trigger_id=context.fakes.slack.new_trigger_id(),
                             response_url=context.fakes.slack.response_url(), user=ADMIN)
        assert response.status_code == 200, response.text
        wait_until(lambda: any(getattr(message, "files", None) for message in context.fakes.slack.messages(FINANCE)),
                   timeout=120, what="the digest's chart and CSV in Slack")
        took = time.monotonic() - began
        shared = [message for message in context.fakes.slack.messages(FINANCE) if getattr(message, "files", None)]
        files = [item["name"] for item in shared[0].files]  # type: ignore[attr-defined]
        time.sleep(SETTLE)
        bot.http.get("/healthz")
        serve_after, worker_after = rss_mb(bot.process.pid), rss_mb(_worker_pid(bot.process.pid))
    context.fakes.stripe.webhooks.resume()
    context.shared["rss_after_digest_mb"] = max(serve_after, worker_after)
    return Section(
        key="digest_memory",
        title="8. Memory after a receivables digest (`invoicebot serve` and its worker process)",
        headers=["process", "idle after start, MB", "idle after a digest, MB"],
        rows=[["invoicebot serve (HTTP)", fmt(serve_before), fmt(serve_after)],
              ["invoicebot work (where the digest is put together)", fmt(worker_before), fmt(worker_after)]],
        targets=[Target("idle RSS after a digest was drawn (serve)", serve_after, "<", TARGET_IDLE_MB, "MB"),
                 Target("idle RSS after a digest was drawn (worker)", worker_after, "<", TARGET_IDLE_MB, "MB")],
        notes=[f"`/invoice digest now` over {INVOICES} open invoices in {len(CURRENCIES)} currencies, all learned "
               f"from Stripe's list: posted with {', '.join(files)} in {took:.1f} s.",
               "The charts are drawn by matplotlib in a child process that exits (bot/adapters/charts.py): neither "
               "the serving process nor the worker process ever imports it.",
               f"RSS from psutil {SETTLE:.0f} s after /healthz answered, before and after; MB = 10^6 bytes."],
    )

"""The Stripe webhook's hot path: verify, store once, answer.

Only what must happen before the 2xx happens here: size check, signature check on the raw
body (Stripe's scheme, 300 s tolerance), JSON parse, insert-or-ignore by event id together with
its processing job. Building Stripe objects (`construct_event`) and all Slack work come later,
from the queue.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import orjson
from stripe import SignatureVerificationError, WebhookSignature

from bot.domain.tenants import DEFAULT_TENANT
from bot.jobs.payloads import ProcessEvent
from bot.metrics import Metrics
from bot.store.ports import Store

logger = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 512 * 1024  # Stripe's events are a few KB; anything far larger is not Stripe
SIGNATURE_TOLERANCE = 300
MAX_BATCH = 500  # events stored in one transaction at most (group commit)
MAX_CURRENCY = 10  # ISO 4217 codes are 3 letters; room for whatever Stripe adds
MAX_ID = 255  # Stripe's ids and event types are far shorter
MAX_INTEGER = 2**53  # amounts and timestamps; also keeps SQLite's 64-bit INTEGER safe
# The invoice fields the bot reads from an event (bot/invoicing.invoice_row, bot/blocks): a value of
# the wrong type would fail the event's job on every retry, so it is refused here, before the 2xx.
INVOICE_INTEGERS = ("total", "amount_paid", "amount_remaining", "due_date", "created")
INVOICE_STRINGS = ("status", "currency", "number", "customer_name", "customer_email", "hosted_invoice_url")
# The hosted invoice URL becomes a Slack link (`<url|text>`) and a button's url (3,000 characters at most).
HOSTED_URL = re.compile(r"^https://[^\s<>|\x00-\x1f\x7f]{1,1990}$")


@dataclass(frozen=True)
class WebhookResult:
    status: int
    body: dict[str, object]


@dataclass(frozen=True)
class WebhookEndpoint:
    """Where an event was posted: the tenant whose Stripe account signs for this URL, and its secret.
    An event signed for another tenant's endpoint fails the signature check here."""

    tenant_id: str
    secret: str

    def __repr__(self) -> str:
        return f"WebhookEndpoint({self.tenant_id!r}, secret=<hidden>)"


@dataclass(frozen=True)
class CheckedEvent:
    event: dict[str, Any]
    text: str
    tenant_id: str = DEFAULT_TENANT


class WebhookReceiver:
    """Checks and stores Stripe's events.

    `receive_async` is the hot path, on the event loop: the checks run inline (tens of
    microseconds), then the event joins every other one that arrived meanwhile and one writer
    thread stores them in one transaction (group commit). Each answer waits for its own commit,
    so a 2xx still means stored.
    """

    def __init__(self, store: Store, secret: str | None = None, clock: Callable[[], float] = time.time,
                 metrics: Metrics | None = None) -> None:
        self._store = store
        self._metrics = metrics or Metrics()
        # With one Stripe account (SLACK_MODE=env), its endpoint; with many, each request names its own.
        self._default = WebhookEndpoint(DEFAULT_TENANT, secret) if secret else None
        self._clock = clock
        self._waiting: list[tuple[CheckedEvent, asyncio.Future[bool]]] = []
        self._flush_task: asyncio.Task[None] | None = None
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="webhook-writer")

    async def receive_async(self, raw: bytes, signature: str | None,
                            endpoint: WebhookEndpoint | None = None) -> WebhookResult:
        checked = self.check(raw, signature, endpoint)
        if isinstance(checked, WebhookResult):
            self._metrics.stripe_events.labels("refused").inc()
            return checked
        loop = asyncio.get_running_loop()
        stored: asyncio.Future[bool] = loop.create_future()
        self._waiting.append((checked, stored))
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = loop.create_task(self._flush(loop))
        try:
            new = await stored
        except Exception:  # logged by _flush, once per batch
            # Never a 2xx for an event that was not stored: Stripe sends it again.
            self._metrics.stripe_events.labels("unavailable").inc()
            return WebhookResult(503, {"error": "the event could not be stored; send it again"})
        self._metrics.stripe_events.labels("stored" if new else "duplicate").inc()
        return _accepted(new)

    async def _flush(self, loop: asyncio.AbstractEventLoop) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting[:MAX_BATCH], self._waiting[MAX_BATCH:]
            events = [checked for checked, _ in batch]
            try:
                results = await loop.run_in_executor(self._writer, self.store_events, events)
            except Exception as error:  # no 2xx for any of them: Stripe sends them again
                logger.exception("could not store %d webhook events", len(batch))
                for _, future in batch:
                    if not future.done():
                        future.set_exception(error)
                continue
            for (_, future), stored in zip(batch, results, strict=True):
                if not future.done():
                    future.set_result(stored)

    def store_events(self, events: list[CheckedEvent]) -> list[bool]:
        """Each event once by id, with the job that processes it, in one transaction per tenant (group commit)."""
        by_tenant: dict[str, list[int]] = {}
        for position, checked in enumerate(events):
            by_tenant.setdefault(checked.tenant_id, []).append(position)
        stored = [False] * len(events)
        for tenant_id, positions in by_tenant.items():
            mine = [events[position] for position in positions]
            for position, is_new in zip(positions, self._store_for(tenant_id, mine), strict=True):
                stored[position] = is_new
        return stored

    def _store_for(self, tenant_id: str, events: list[CheckedEvent]) -> list[bool]:
        with self._store.unit_of_work(tenant_id) as uow:
            stored = uow.events.record_many([(checked.event, checked.text) for checked in events])
            new = [checked for checked, is_new in zip(events, stored, strict=True) if is_new]
            own = uow.invoices.made_in_slack(sorted({invoice for checked in new if (invoice := _invoice_of(checked))}))
            uow.jobs.add_many([(ProcessEvent(event_id=str(checked.event["id"]), own=_invoice_of(checked) in own),
                                f"event:{checked.event['id']}") for checked in new])
            uow.commit()
        return stored

    def close(self) -> None:
        self._writer.shutdown(wait=True)

    def check(self, raw: bytes, signature: str | None,
              endpoint: WebhookEndpoint | None = None) -> WebhookResult | CheckedEvent:
        """Everything before the store: size, signature (with the endpoint's secret), JSON, shape."""
        endpoint = endpoint or self._default
        if endpoint is None:
            raise ValueError("no webhook endpoint: this receiver serves one per tenant")
        if len(raw) > MAX_WEBHOOK_BYTES:
            return WebhookResult(413, {"error": f"body larger than {MAX_WEBHOOK_BYTES} bytes"})
        if not signature:
            return WebhookResult(400, {"error": "missing Stripe-Signature header"})
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return WebhookResult(400, {"error": "body is not UTF-8"})
        try:
            WebhookSignature.verify_header(text, signature, endpoint.secret, SIGNATURE_TOLERANCE)
        except SignatureVerificationError as error:
            return WebhookResult(400, {"error": f"signature verification failed: {_reason(error)}"})
        if _signed_in_the_future(signature, self._clock()):
            # Stripe's SDK only refuses old timestamps; a signature dated ahead would stay replayable.
            return WebhookResult(400, {"error": "signature verification failed: timestamp in the future"})
        try:
            # orjson: a quarter of the hot path's time with the standard library. It refuses
            # NaN/Infinity and nesting deeper than 1024 levels; the store reads events back with
            # orjson too, so an event accepted here is never one a later reader chokes on (which
            # would fail it on every retry instead of once, here).
            event = orjson.loads(raw)
        except (ValueError, RecursionError):
            return WebhookResult(400, {"error": "body is not valid JSON (or nests deeper than 1024 levels)"})
        problem = event_problem(event)
        if problem:
            return WebhookResult(400, {"error": problem})
        return CheckedEvent(event, text, endpoint.tenant_id)


def _invoice_of(checked: CheckedEvent) -> str | None:
    """The invoice an event is about: its object, or the payment's invoice."""
    obj = checked.event["data"]["object"]
    invoice = obj.get("id") if obj.get("object") == "invoice" else obj.get("invoice")
    return invoice if isinstance(invoice, str) else None


def _signed_in_the_future(header: str, now: float) -> bool:
    stamps = [item[2:] for item in header.split(",") if item.startswith("t=")]
    return any(stamp.isdigit() and int(stamp) > now + SIGNATURE_TOLERANCE for stamp in stamps)


def _accepted(stored: bool) -> WebhookResult:
    return WebhookResult(200, {"received": True, "duplicate": not stored})


def _integer(value: object) -> bool:
    return type(value) is int and -MAX_INTEGER < value < MAX_INTEGER


def _short_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID


def event_problem(event: object) -> str | None:
    """Why a (correctly signed) body is not an event the bot can store and process, or None."""
    if not isinstance(event, dict) or not event.get("id") or not event.get("type"):
        return "not a Stripe event: id and type are required"
    if not _short_id(event["id"]) or not _short_id(event["type"]):
        return f"not a Stripe event: id and type must be strings of at most {MAX_ID} characters"
    if event.get("created") is not None and not _integer(event["created"]):
        return "not a Stripe event: created must be a Unix timestamp"
    data = event.get("data")
    if data is None:
        return None
    if not isinstance(data, dict):
        return "not a Stripe event: data must be an object"
    obj = data.get("object")
    if obj is None:
        return None
    if not isinstance(obj, dict):
        return "not a Stripe event: data.object must be an object"
    if obj.get("id") is not None and not _short_id(obj["id"]):
        return "not a Stripe event: data.object.id must be a Stripe id"
    if obj.get("object") == "invoice":
        return _invoice_problem(obj)
    if obj.get("object") == "credit_note":
        return _credit_note_problem(obj)
    if obj.get("object") == "payment_intent":
        if obj.get("invoice") is not None and not isinstance(obj["invoice"], str | dict):
            return "not a Stripe event: the payment intent's invoice must be an id or an object"
        if obj.get("metadata") is not None and not isinstance(obj["metadata"], dict):
            return "not a Stripe event: metadata must be an object"
    return None


def _invoice_problem(invoice: dict[str, object]) -> str | None:
    if not _short_id(invoice.get("id")):
        return "not a Stripe event: the invoice has no id"
    currency = invoice.get("currency")
    if not isinstance(currency, str) or not 0 < len(currency) <= MAX_CURRENCY:
        return "not a Stripe event: the invoice needs its currency"
    for name in INVOICE_INTEGERS:
        if invoice.get(name) is not None and not _integer(invoice[name]):
            return f"not a Stripe event: invoice {name} must be an integer"
    for name in INVOICE_STRINGS:
        if invoice.get(name) is not None and not isinstance(invoice[name], str):
            return f"not a Stripe event: invoice {name} must be a string"
    hosted_url = invoice.get("hosted_invoice_url")
    if hosted_url is not None and not (isinstance(hosted_url, str) and HOSTED_URL.match(hosted_url)):
        return "not a Stripe event: hosted_invoice_url must be an https URL"
    customer = invoice.get("customer")
    if customer is not None and not (_short_id(customer) or isinstance(customer, dict)
                                     and _short_id(customer.get("id"))):
        return "not a Stripe event: invoice customer must be an id or an object"
    lines = invoice.get("lines")
    if lines is not None:
        items = lines.get("data") if isinstance(lines, dict) else None
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            return "not a Stripe event: invoice lines must be a list object"
        for item in items:
            if any(item.get(name) is not None and not _integer(item[name]) for name in ("quantity", "amount")):
                return "not a Stripe event: line quantity and amount must be integers"
            if item.get("description") is not None and not isinstance(item["description"], str):
                return "not a Stripe event: line description must be a string"
    return None


# What the bot reads of a credit note (bot/domain/notices.py): refused here when of the wrong type, as for invoices.
CREDIT_NOTE_INTEGERS = ("amount", "total", "pre_payment_amount", "post_payment_amount", "out_of_band_amount", "created")
CREDIT_NOTE_STRINGS = ("number", "status", "reason", "type", "memo")


def _credit_note_problem(note: dict[str, object]) -> str | None:
    if not _short_id(note.get("id")):
        return "not a Stripe event: the credit note has no id"
    invoice = note.get("invoice")
    if not (_short_id(invoice) or isinstance(invoice, dict) and _short_id(invoice.get("id"))):
        return "not a Stripe event: a credit note's invoice must be an id or an object"
    currency = note.get("currency")
    if not isinstance(currency, str) or not 0 < len(currency) <= MAX_CURRENCY:
        return "not a Stripe event: the credit note needs its currency"
    for name in CREDIT_NOTE_INTEGERS:
        if note.get(name) is not None and not _integer(note[name]):
            return f"not a Stripe event: credit note {name} must be an integer"
    for name in CREDIT_NOTE_STRINGS:
        if note.get(name) is not None and not isinstance(note[name], str):
            return f"not a Stripe event: credit note {name} must be a string"
    if note.get("metadata") is not None and not isinstance(note["metadata"], dict):
        return "not a Stripe event: metadata must be an object"
    refunds = note.get("refunds")
    if refunds is not None and not (isinstance(refunds, list) and all(
            isinstance(refund, dict) and (refund.get("amount_refunded") is None or _integer(refund["amount_refunded"]))
            for refund in refunds)):
        return "not a Stripe event: a credit note's refunds must be a list of refunds with integer amounts"
    return None


def _reason(error: SignatureVerificationError) -> str:
    message = str(error.user_message or error).lower()
    if "tolerance" in message or "timestamp" in message and "outside" in message:
        return "timestamp outside the tolerance zone"
    if "unable to extract" in message:
        return "malformed header"
    return "no signature matches the payload"

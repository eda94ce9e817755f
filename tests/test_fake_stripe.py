"""Conformance tests for the fake Stripe API, driven through the real ``stripe`` SDK over HTTP."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import stripe

from tests.fakes.stripe_fake import FakeStripe, StripeApiError
from tests.fakes.stripe_fake.fixtures import template

API_KEY = "sk_test_fake_conformance"
WEBHOOK_SECRET = "whsec_test_conformance"
REPO_ROOT = Path(__file__).resolve().parents[1]


# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with FakeStripe(api_key=API_KEY, seed=1234) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_fake(fake: FakeStripe) -> Iterator[None]:
    fake.reset()
    yield
    fake.reset()


@pytest.fixture(scope="module")
def client(fake: FakeStripe) -> stripe.StripeClient:
    """No automatic retries, so each test sees exactly the responses the fake gives."""
    return stripe.StripeClient(API_KEY, base_addresses={"api": fake.url}, max_network_retries=0)


class Receiver:
    """A tiny webhook endpoint recording (headers, raw body); can fail its first N requests."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[dict[str, str], str]] = []
        self.fail_first = 0
        self._seen = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8")
                with receiver._lock:
                    receiver._seen += 1
                    failing = receiver._seen <= receiver.fail_first
                    if not failing:
                        receiver.deliveries.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(500 if failing else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/stripe/webhooks"

    @property
    def event_ids(self) -> list[str]:
        return [json.loads(body)["id"] for _, body in self.deliveries]

    @property
    def event_types(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.deliveries]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver(fake: FakeStripe) -> Iterator[Receiver]:
    endpoint = Receiver()
    fake.add_webhook_endpoint(endpoint.url, WEBHOOK_SECRET)
    yield endpoint
    endpoint.close()


def make_customer(client: stripe.StripeClient, **extra: Any) -> stripe.Customer:
    return client.v1.customers.create({"email": "ada@example.com", "name": "Ada Lovelace", **extra})


def make_open_invoice(client: stripe.StripeClient, amount: int = 5_000) -> stripe.Invoice:
    customer = make_customer(client)
    invoice = client.v1.invoices.create(
        {"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 14}
    )
    client.v1.invoice_items.create({"customer": customer.id, "invoice": invoice.id, "amount": amount})
    return client.v1.invoices.finalize_invoice(invoice.id)


def event_types(fake: FakeStripe) -> list[str]:
    return [event["type"] for event in fake.events]


# -- the guide's flow --------------------------------------------------------------------------


def test_guide_flow_creates_sends_and_collects_an_invoice(fake: FakeStripe, client: stripe.StripeClient) -> None:
    product = client.v1.products.create({"name": "Consulting hour"})
    price = client.v1.prices.create({"product": product.id, "unit_amount": 12_000, "currency": "usd"})
    customer = make_customer(client)
    invoice = client.v1.invoices.create(
        {
            "customer": customer.id,
            "collection_method": "send_invoice",
            "days_until_due": 30,
            "metadata": {"slack_channel": "C123"},
        }
    )
    assert (invoice.status, invoice.customer_email, invoice.total) == ("draft", "ada@example.com", 0)

    by_price = client.v1.invoice_items.create(
        {"customer": customer.id, "invoice": invoice.id, "pricing": {"price": price.id}, "quantity": 3}
    )
    assert by_price.amount == 36_000
    assert by_price.pricing.price_details.price == price.id
    by_amount = client.v1.invoice_items.create(
        {
            "customer": customer.id,
            "invoice": invoice.id,
            "amount": 2_500,
            "currency": "usd",
            "description": "Travel",
        }
    )
    assert by_amount.invoice == invoice.id

    many = [{"description": f"Support ticket #{n}", "amount": 100 * n} for n in range(1, 41)]
    invoice = client.v1.invoices.add_lines(invoice.id, {"lines": many})
    expected_total = 36_000 + 2_500 + sum(100 * n for n in range(1, 41))
    assert (invoice.subtotal, invoice.total, invoice.amount_due) == (expected_total,) * 3
    assert (invoice.lines.total_count, invoice.lines.has_more, len(invoice.lines.data)) == (42, True, 10)
    all_lines = client.v1.invoices.line_items.list(invoice.id, {"limit": 100})
    assert [line.description for line in all_lines.data][2:] == [line["description"] for line in many]

    invoice = client.v1.invoices.finalize_invoice(invoice.id)
    finalized_at = invoice.status_transitions.finalized_at
    assert invoice.status == "open"
    assert re.fullmatch(r"[A-Z0-9]{8}-0001", invoice.number)
    assert invoice.due_date == finalized_at + 30 * 86_400
    assert invoice.hosted_invoice_url.startswith("https://invoice.stripe.com/i/")
    assert invoice.invoice_pdf.endswith("/pdf?s=ap")
    assert invoice.amount_remaining == expected_total

    client.v1.invoices.send_invoice(invoice.id)
    assert event_types(fake)[-1] == "invoice.sent"
    paid = client.v1.invoices.pay(invoice.id, {"paid_out_of_band": True})
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", expected_total, 0)
    assert paid.status_transitions.paid_at is not None
    # Paid out of band: no payment succeeded, so no invoice.payment_succeeded.
    assert event_types(fake)[-2:] == ["invoice.paid", "invoice.updated"]

    types = event_types(fake)
    for expected in (
        "product.created",
        "price.created",
        "customer.created",
        "invoice.created",
        "invoiceitem.created",
        "invoice.finalized",
    ):
        assert expected in types

    second = make_open_invoice(client)
    assert second.number.endswith("-0002")  # numbering runs per account


def test_pay_with_a_test_card_succeeds_and_links_the_payment_intent(client: stripe.StripeClient) -> None:
    invoice = make_open_invoice(client, amount=4_200)
    paid = client.v1.invoices.pay(invoice.id, {"payment_method": "pm_card_visa"})
    assert paid.status == "paid" and paid.amount_paid == 4_200
    payments = client.v1.invoice_payments.list({"invoice": invoice.id})
    assert payments.data[0].status == "paid"
    intent = client.v1.payment_intents.retrieve(payments.data[0].payment.payment_intent)
    assert (intent.status, intent.amount_received, intent.currency) == ("succeeded", 4_200, "usd")


def test_zero_total_invoice_is_paid_on_finalization(fake: FakeStripe, client: stripe.StripeClient) -> None:
    customer = make_customer(client)
    invoice = client.v1.invoices.create({"customer": customer.id})
    invoice = client.v1.invoices.finalize_invoice(invoice.id)
    assert invoice.status == "paid"
    assert event_types(fake)[-3:] == ["invoice.paid", "invoice.payment_succeeded", "invoice.updated"]


# -- parameter validation ----------------------------------------------------------------------


def test_unknown_parameter_is_rejected_with_its_full_path(fake: FakeStripe, client: stripe.StripeClient) -> None:
    customer = make_customer(client)
    invoice = client.v1.invoices.create({"customer": customer.id})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoices.add_lines(invoice.id, {"lines": [{"amount": 100}, {"amount": 5, "bogus": "x"}]})  # type: ignore[typeddict-unknown-key]
    error = raised.value
    assert (error.http_status, error.code, error.param) == (400, "parameter_unknown", "lines[1][bogus]")
    assert error.user_message == "Received unknown parameter: lines[1][bogus]"
    assert error.json_body["error"]["type"] == "invalid_request_error"
    assert client.v1.invoices.retrieve(invoice.id).lines.total_count == 0  # nothing half-applied

    with pytest.raises(stripe.InvalidRequestError) as top_level:
        client.v1.customers.create({"email": "x@example.com", "api_key_typo": "1"})  # type: ignore[typeddict-unknown-key]
    assert top_level.value.param == "api_key_typo"


def test_missing_and_malformed_parameters(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.prices.create({"unit_amount": 100, "product_data": {"name": "x"}})  # type: ignore[typeddict-item]
    assert (missing.value.code, missing.value.param) == ("parameter_missing", "currency")

    with pytest.raises(stripe.InvalidRequestError) as enum:
        client.v1.invoices.create({"customer": make_customer(client).id, "collection_method": "by_pigeon"})
    assert enum.value.param == "collection_method"

    with pytest.raises(stripe.InvalidRequestError) as empty:
        client.v1.customers.create({"name": ""})
    assert empty.value.code == "parameter_invalid_empty"

    with pytest.raises(stripe.InvalidRequestError) as unknown_id:
        client.v1.invoices.create({"customer": "cus_doesnotexist"})
    assert (unknown_id.value.code, unknown_id.value.param) == ("resource_missing", "customer")

    with pytest.raises(stripe.InvalidRequestError) as not_found:
        client.v1.invoices.retrieve("in_doesnotexist")
    assert (not_found.value.http_status, not_found.value.code) == (404, "resource_missing")


def test_zero_decimal_currency_accepts_only_integer_amounts(client: stripe.StripeClient) -> None:
    customer = make_customer(client)
    invoice = client.v1.invoices.create({"customer": customer.id, "currency": "jpy"})
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.invoice_items.create({"customer": customer.id, "invoice": invoice.id, "amount": 1500.5})  # type: ignore[typeddict-item]
    assert (raised.value.code, raised.value.param) == ("parameter_invalid_integer", "amount")

    item = client.v1.invoice_items.create({"customer": customer.id, "invoice": invoice.id, "amount": 1500})
    assert (item.amount, item.currency) == (1500, "jpy")
    fractional = client.v1.invoice_items.create(
        {"customer": customer.id, "invoice": invoice.id, "unit_amount_decimal": "99.5", "quantity": 3}  # type: ignore[typeddict-item]
    )
    assert fractional.amount == 299  # 298.5 rounded half up

    with pytest.raises(stripe.InvalidRequestError) as currency:
        client.v1.invoices.create({"customer": customer.id, "currency": "xyz"})
    assert currency.value.param == "currency"


def test_currency_of_a_line_must_match_the_invoice(client: stripe.StripeClient) -> None:
    product = client.v1.products.create({"name": "Widget"})
    euro_price = client.v1.prices.create({"product": product.id, "unit_amount": 500, "currency": "eur"})
    customer = make_customer(client)
    invoice = client.v1.invoices.create({"customer": customer.id, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError, match="currency"):
        client.v1.invoices.add_lines(invoice.id, {"lines": [{"pricing": {"price": euro_price.id}}]})


def test_collection_method_rules(client: stripe.StripeClient) -> None:
    customer = make_customer(client)
    with pytest.raises(stripe.InvalidRequestError) as no_terms:
        client.v1.invoices.create({"customer": customer.id, "collection_method": "send_invoice"})
    assert no_terms.value.param == "days_until_due"
    with pytest.raises(stripe.InvalidRequestError) as automatic_with_terms:
        client.v1.invoices.create({"customer": customer.id, "days_until_due": 10})
    assert automatic_with_terms.value.param == "days_until_due"
    with pytest.raises(stripe.InvalidRequestError, match="amount, quantity"):
        client.v1.invoice_items.create({"customer": customer.id, "amount": 100, "currency": "usd", "quantity": 2})


# -- the status machine ------------------------------------------------------------------------


def test_forbidden_transitions_answer_like_stripe(client: stripe.StripeClient) -> None:
    customer = make_customer(client)
    draft = client.v1.invoices.create(
        {"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 7}
    )
    with pytest.raises(stripe.InvalidRequestError, match="draft"):
        client.v1.invoices.void_invoice(draft.id)
    with pytest.raises(stripe.InvalidRequestError, match="draft"):
        client.v1.invoices.send_invoice(draft.id)

    client.v1.invoice_items.create({"customer": customer.id, "invoice": draft.id, "amount": 1_000})
    opened = client.v1.invoices.finalize_invoice(draft.id)
    with pytest.raises(stripe.InvalidRequestError, match="re-finalize") as twice:
        client.v1.invoices.finalize_invoice(opened.id)
    assert twice.value.http_status == 400
    with pytest.raises(stripe.InvalidRequestError, match="only delete draft"):
        client.v1.invoices.delete(opened.id)
    with pytest.raises(stripe.InvalidRequestError) as add_lines:
        client.v1.invoices.add_lines(opened.id, {"lines": [{"amount": 100}]})
    assert add_lines.value.code == "invoice_not_editable"
    with pytest.raises(stripe.InvalidRequestError) as item_on_open:
        client.v1.invoice_items.create({"customer": customer.id, "invoice": opened.id, "amount": 1})
    assert item_on_open.value.code == "invoice_not_editable"

    uncollectible = client.v1.invoices.mark_uncollectible(opened.id)
    assert uncollectible.status == "uncollectible"
    voided = client.v1.invoices.void_invoice(opened.id)
    assert voided.status == "void" and voided.status_transitions.voided_at
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.pay(opened.id, {"paid_out_of_band": True})

    paid = make_open_invoice(client)
    client.v1.invoices.pay(paid.id, {"paid_out_of_band": True})
    with pytest.raises(stripe.InvalidRequestError, match="already paid"):
        client.v1.invoices.pay(paid.id, {"paid_out_of_band": True})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.void_invoice(paid.id)


def test_an_invoice_holds_at_most_250_lines(client: stripe.StripeClient) -> None:
    customer = make_customer(client)
    invoice = client.v1.invoices.create({"customer": customer.id})
    with pytest.raises(stripe.InvalidRequestError, match="250"):
        client.v1.invoices.add_lines(invoice.id, {"lines": [{"amount": 1}] * 251})
    full = client.v1.invoices.add_lines(invoice.id, {"lines": [{"amount": 1}] * 250})
    assert full.lines.total_count == 250
    with pytest.raises(stripe.InvalidRequestError, match="250"):
        client.v1.invoices.add_lines(invoice.id, {"lines": [{"amount": 1}]})


def test_deleting_a_draft_removes_it(fake: FakeStripe, client: stripe.StripeClient) -> None:
    customer = make_customer(client)
    invoice = client.v1.invoices.create({"customer": customer.id})
    deleted = client.v1.invoices.delete(invoice.id)
    assert deleted.deleted is True
    assert event_types(fake)[-1] == "invoice.deleted"
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.invoices.retrieve(invoice.id)
    assert gone.value.http_status == 404


# -- idempotency -------------------------------------------------------------------------------


def test_idempotent_replay_returns_the_first_result_without_side_effects(
    fake: FakeStripe, client: stripe.StripeClient
) -> None:
    params: stripe.params.CustomerCreateParams = {"email": "grace@example.com", "metadata": {"team": "T1"}}
    first = client.v1.customers.create(params, {"idempotency_key": "create-grace"})
    again = client.v1.customers.create(params, {"idempotency_key": "create-grace"})
    assert again.id == first.id
    assert again.last_response.headers.get("Idempotent-Replayed") == "true"
    assert first.last_response.headers.get("Idempotent-Replayed") is None
    assert len(fake.objects("customer")) == 1
    assert event_types(fake) == ["customer.created"]
    assert [r.replayed for r in fake.requests] == [False, True]

    with pytest.raises(stripe.IdempotencyError, match="same parameters"):
        client.v1.customers.create({"email": "other@example.com"}, {"idempotency_key": "create-grace"})
    assert len(fake.objects("customer")) == 1


def test_business_errors_are_replayed_but_validation_errors_are_not(client: stripe.StripeClient) -> None:
    customer = make_customer(client)
    draft = client.v1.invoices.create({"customer": customer.id})
    for _ in range(2):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            client.v1.invoices.void_invoice(draft.id, options={"idempotency_key": "void-draft"})
    assert raised.value.headers.get("Idempotent-Replayed") == "true"

    # A request rejected by validation stores nothing: the caller may fix it and reuse the key.
    with pytest.raises(stripe.InvalidRequestError) as invalid:
        client.v1.customers.create({"email": "not-an-email"}, {"idempotency_key": "fix-me"})
    assert invalid.value.code == "email_invalid"
    fixed = client.v1.customers.create({"email": "ada@example.com"}, {"idempotency_key": "fix-me"})
    assert fixed.last_response.headers.get("Idempotent-Replayed") is None


# -- fault injection ---------------------------------------------------------------------------


def test_injected_500_is_not_stored_and_a_retry_executes(fake: FakeStripe, client: stripe.StripeClient) -> None:
    rule = fake.inject(method="POST", path_prefix="/v1/customers", status=500, count=1)
    with pytest.raises(stripe.APIError) as raised:
        client.v1.customers.create({"email": "ada@example.com"}, {"idempotency_key": "k-500"})
    assert raised.value.http_status == 500
    assert raised.value.json_body["error"]["type"] == "api_error"
    assert fake.objects("customer") == []

    created = client.v1.customers.create({"email": "ada@example.com"}, {"idempotency_key": "k-500"})
    assert created.last_response.headers.get("Idempotent-Replayed") is None
    assert rule.hits == 1
    assert [(r.status, r.idempotency_key) for r in fake.requests] == [(500, "k-500"), (200, "k-500")]


def test_injected_429_is_a_rate_limit_error(fake: FakeStripe, client: stripe.StripeClient) -> None:
    fake.inject(method="GET", path_prefix="/v1/invoices", status=429)
    with pytest.raises(stripe.RateLimitError):
        client.v1.invoices.list()
    fake.clear_faults()
    assert client.v1.invoices.list().data == []


def test_injected_latency_and_a_timed_out_client_retrying_gets_the_replay(fake: FakeStripe) -> None:
    impatient = stripe.StripeClient(
        API_KEY,
        base_addresses={"api": fake.url},
        max_network_retries=1,
        http_client=stripe.RequestsClient(timeout=0.3),
    )
    fake.inject(method="POST", path_prefix="/v1/customers", latency=1.0, count=1)
    customer = impatient.v1.customers.create({"email": "slow@example.com"})
    # The first attempt timed out after the fake had created the customer; the SDK retried with
    # the same idempotency key and got the stored response back.
    assert customer.last_response.headers.get("Idempotent-Replayed") == "true"
    assert len(fake.objects("customer")) == 1

    fake.inject(method="GET", path_prefix="/v1/customers/", latency=0.2, count=1)
    started = time.monotonic()
    impatient.v1.customers.retrieve(customer.id)
    assert time.monotonic() - started >= 0.2


# -- webhooks ----------------------------------------------------------------------------------


def test_webhook_signatures_verify_with_the_sdk(
    fake: FakeStripe, client: stripe.StripeClient, receiver: Receiver
) -> None:
    customer = make_customer(client)
    fake.flush_webhooks()
    assert receiver.event_types == ["customer.created"]
    headers, body = receiver.deliveries[0]
    assert headers["content-type"].startswith("application/json")
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", headers["stripe-signature"])
    event = stripe.Webhook.construct_event(body, headers["stripe-signature"], WEBHOOK_SECRET)
    assert event.type == "customer.created"
    assert event.data.object.id == customer.id
    assert event.id == fake.events[0]["id"]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, headers["stripe-signature"], "whsec_wrong")
    assert fake.get(event.id)["pending_webhooks"] == 0  # delivered


def test_duplicate_delivery(fake: FakeStripe, client: stripe.StripeClient, receiver: Receiver) -> None:
    fake.webhooks.duplicate = 2
    make_customer(client)
    fake.flush_webhooks()
    assert receiver.event_ids == [fake.events[0]["id"]] * 3


def test_shuffled_delivery(fake: FakeStripe, client: stripe.StripeClient, receiver: Receiver) -> None:
    fake.webhooks.shuffle = True
    fake.webhooks.shuffle_window = 5.0  # held until the flush
    for n in range(12):
        client.v1.customers.create({"name": f"Customer {n}"})
    time.sleep(0.05)
    assert receiver.deliveries == []
    fake.flush_webhooks()
    emitted = [event["id"] for event in fake.events]
    assert sorted(receiver.event_ids) == sorted(emitted)
    assert receiver.event_ids != emitted


def test_paused_and_delayed_delivery(fake: FakeStripe, client: stripe.StripeClient, receiver: Receiver) -> None:
    fake.webhooks.pause()
    make_customer(client)
    time.sleep(0.1)
    assert receiver.deliveries == []
    with pytest.raises(RuntimeError, match="paused"):
        fake.flush_webhooks(timeout=0.5)
    fake.webhooks.resume()
    fake.flush_webhooks()
    assert receiver.event_types == ["customer.created"]

    fake.webhooks.delay = 0.3
    started = time.monotonic()
    make_customer(client)
    fake.flush_webhooks()
    assert time.monotonic() - started >= 0.3
    assert len(receiver.deliveries) == 2


def test_failed_deliveries_are_retried(fake: FakeStripe, client: stripe.StripeClient, receiver: Receiver) -> None:
    receiver.fail_first = 2
    make_customer(client)
    fake.flush_webhooks()
    assert receiver.event_types == ["customer.created"]
    assert [(a.attempt, a.succeeded) for a in fake.webhooks.attempts] == [(1, False), (2, False), (3, True)]


def test_api_responses_do_not_wait_for_webhook_delivery(
    fake: FakeStripe, client: stripe.StripeClient, receiver: Receiver
) -> None:
    fake.webhooks.delay = 2.0
    started = time.monotonic()
    make_customer(client)
    assert time.monotonic() - started < 1.0
    assert receiver.deliveries == []


# -- test helpers ------------------------------------------------------------------------------


def test_pay_invoice_helper_emits_paid_and_payment_succeeded(fake: FakeStripe, client: stripe.StripeClient) -> None:
    invoice = make_open_invoice(client)
    fake.pay_invoice(invoice.id)
    assert client.v1.invoices.retrieve(invoice.id).status == "paid"
    assert event_types(fake)[-3:] == ["invoice.paid", "invoice.payment_succeeded", "invoice.updated"]
    with pytest.raises(StripeApiError, match="already paid"):
        fake.pay_invoice(invoice.id)

    out_of_band = make_open_invoice(client)
    before = len(fake.events)
    fake.pay_invoice(out_of_band.id, out_of_band=True)
    assert event_types(fake)[before:] == ["invoice.paid", "invoice.updated"]


def test_fail_payment_helper(fake: FakeStripe, client: stripe.StripeClient) -> None:
    invoice = make_open_invoice(client)
    fake.fail_payment(invoice.id, decline_code="insufficient_funds")
    after = client.v1.invoices.retrieve(invoice.id)
    assert (after.status, after.attempt_count, after.attempted) == ("open", 1, True)
    failed = [e for e in fake.events if e["type"] == "invoice.payment_failed"]
    assert failed and failed[0]["data"]["object"]["id"] == invoice.id
    intent_event = next(e for e in fake.events if e["type"] == "payment_intent.payment_failed")
    assert intent_event["data"]["object"]["last_payment_error"]["decline_code"] == "insufficient_funds"
    # Since API 2025-03-31.basil invoices carry no payment_intent: the decline is found through
    # the invoice's payments, as a webhook handler would look it up.
    payments = client.v1.invoice_payments.list({"invoice": invoice.id, "expand": ["data.payment.payment_intent"]})
    assert payments.data[0].payment.payment_intent.last_payment_error.decline_code == "insufficient_funds"


def test_declining_test_card_on_pay_is_a_card_error(fake: FakeStripe, client: stripe.StripeClient) -> None:
    invoice = make_open_invoice(client)
    with pytest.raises(stripe.CardError) as raised:
        client.v1.invoices.pay(invoice.id, {"payment_method": "pm_card_chargeDeclined"})
    assert (raised.value.http_status, raised.value.code) == (402, "card_declined")
    assert "invoice.payment_failed" in event_types(fake)
    assert client.v1.invoices.retrieve(invoice.id).attempt_count == 1


def test_start_processing_helper_links_back_to_the_invoice(fake: FakeStripe, client: stripe.StripeClient) -> None:
    invoice = make_open_invoice(client)
    intent = fake.start_processing(invoice.id)
    event = fake.events[-1]
    assert event["type"] == "payment_intent.processing"
    assert event["data"]["object"]["id"] == intent["id"]
    assert event["data"]["object"]["status"] == "processing"
    link = client.v1.invoice_payments.list({"payment": {"type": "payment_intent", "payment_intent": intent["id"]}})
    assert [payment.invoice for payment in link.data] == [invoice.id]


def test_make_overdue_helper(fake: FakeStripe, client: stripe.StripeClient) -> None:
    invoice = make_open_invoice(client)
    fake.make_overdue(invoice.id)
    assert client.v1.invoices.retrieve(invoice.id).due_date < time.time()
    assert fake.events[-1]["type"] == "invoice.overdue"


# -- reading: lists, search, events, shapes ----------------------------------------------------


def test_list_filters_and_pagination(client: stripe.StripeClient) -> None:
    ids = [client.v1.customers.create({"email": f"user{n}@example.com"}).id for n in range(5)]
    page = client.v1.customers.list({"limit": 2})
    assert [c.id for c in page.data] == [ids[4], ids[3]] and page.has_more
    rest = client.v1.customers.list({"limit": 10, "starting_after": page.data[-1].id})
    assert [c.id for c in rest.data] == [ids[2], ids[1], ids[0]] and not rest.has_more
    assert [c.id for c in client.v1.customers.list({"email": "user3@example.com"}).data] == [ids[3]]


def test_customer_search(client: stripe.StripeClient) -> None:
    ada = make_customer(client)
    client.v1.customers.create({"email": "grace@example.com", "name": "Grace Hopper"})
    found = client.v1.customers.search({"query": "email:'ada@example.com'"})
    assert found.object == "search_result" and [c.id for c in found.data] == [ada.id]
    assert len(client.v1.customers.search({"query": "name~'Lovel' OR name~'Hopp'"}).data) == 2
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.customers.search({"query": "favourite_colour:'blue'"})


def test_events_endpoint_and_snapshots(fake: FakeStripe, client: stripe.StripeClient) -> None:
    customer = make_customer(client)
    client.v1.customers.update(customer.id, {"name": "Countess of Lovelace"})
    events = client.v1.events.list({"type": "customer.*"})
    assert [e.type for e in events.data] == ["customer.updated", "customer.created"]  # newest first
    updated = client.v1.events.retrieve(events.data[0].id)
    assert updated.data.object.name == "Countess of Lovelace"
    assert updated.data.previous_attributes.name == "Ada Lovelace"
    update_request = next(r for r in fake.requests if r.path == f"/v1/customers/{customer.id}")
    assert updated.request.id == update_request.request_id
    created = client.v1.events.retrieve(events.data[1].id)
    assert created.data.object.name == "Ada Lovelace"  # a snapshot from its own time


def test_objects_have_the_fixture_shapes(fake: FakeStripe, client: stripe.StripeClient) -> None:
    invoice = make_open_invoice(client)
    product = client.v1.products.create({"name": "Thing"})
    client.v1.prices.create({"product": product.id, "unit_amount": 1, "currency": "usd"})
    for kind in (
        "customer",
        "product",
        "price",
        "invoice",
        "invoiceitem",
        "payment_intent",
        "invoice_payment",
    ):
        obj = fake.objects(kind)[0]
        assert set(obj) == set(template(kind)), kind
        assert obj["livemode"] is False
    line = fake.get(invoice.id)["lines"]["data"][0]
    assert set(line) == set(template("line_item")) and line["id"].startswith("il_")
    assert set(fake.events[0]) == set(template("event"))
    prefixes = {
        "customer": "cus_",
        "product": "prod_",
        "price": "price_",
        "invoice": "in_",
        "invoiceitem": "ii_",
        "payment_intent": "pi_",
        "event": "evt_",
    }
    for kind, prefix in prefixes.items():
        assert all(obj["id"].startswith(prefix) for obj in fake.objects(kind)), kind


def test_expand_references(client: stripe.StripeClient) -> None:
    invoice = make_open_invoice(client)
    expanded = client.v1.invoices.retrieve(invoice.id, {"expand": ["customer", "payments"]})
    assert expanded.customer.email == "ada@example.com"
    assert expanded.payments.data[0].payment.type == "payment_intent"
    listed = client.v1.invoices.list({"expand": ["data.customer"]})
    assert listed.data[0].customer.object == "customer"


def test_authentication_is_required(fake: FakeStripe) -> None:
    intruder = stripe.StripeClient("sk_test_wrong", base_addresses={"api": fake.url}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        intruder.v1.customers.list()
    assert fake.requests[-1].status == 401


def test_standalone_server_serves_until_terminated(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.stripe_fake", "--port", "0", "--api-key", "sk_test_cli"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url)
        cli_client = stripe.StripeClient("sk_test_cli", base_addresses={"api": url}, max_network_retries=0)
        assert cli_client.v1.customers.create({"name": "Demo"}).id.startswith("cus_")
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0

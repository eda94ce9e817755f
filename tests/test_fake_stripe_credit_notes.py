"""The fake Stripe's credit notes, driven through the real ``stripe`` SDK over HTTP: the preview, Stripe's amount
rules (never more than what was paid or is due; a paid invoice's refund, balance and out-of-band parts adding up
to the credit note), lines, voiding, idempotency, permissions, parameters checked against the SDK's types, objects
shaped like Stripe's fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from tests.fakes.stripe_fake import FakeStripe
from tests.fakes.stripe_fake.fixtures import template

API_KEY = "sk_test_fake_credit_notes"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with FakeStripe(api_key=API_KEY, seed=4321) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_fake(fake: FakeStripe) -> Iterator[None]:
    fake.reset()
    yield
    fake.reset()


@pytest.fixture(scope="module")
def client(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": fake.url}, max_network_retries=0)


def open_invoice(client: stripe.StripeClient, *amounts: int, currency: str = "usd") -> dict[str, Any]:
    """A finalized send_invoice invoice with one line per amount."""
    customer = client.v1.customers.create(params={"name": "Jenny", "email": "jenny@example.com"})
    invoice = client.v1.invoices.create(params={"customer": customer.id, "collection_method": "send_invoice",
                                                "days_until_due": 30, "currency": currency})
    client.v1.invoices.add_lines(invoice.id, params={"lines": [
        {"amount": amount, "description": f"Line {n}"} for n, amount in enumerate(amounts or (10_000,), start=1)]})
    return client.v1.invoices.finalize_invoice(invoice.id).to_dict()


def refused(call: Any) -> stripe.InvalidRequestError:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        call()
    return caught.value


def test_the_preview_shows_the_credit_note_and_changes_nothing(fake: FakeStripe, client: stripe.StripeClient) -> None:
    invoice = open_invoice(client, 6_000, 4_000)
    events_before = len(fake.events)
    params = {"invoice": invoice["id"], "amount": 2_500, "reason": "order_change", "memo": "Goodwill"}
    preview = client.v1.credit_notes.preview(params=params).to_dict()  # type: ignore[arg-type]
    assert set(preview) == set(template("credit_note"))
    assert preview["object"] == "credit_note" and preview["status"] == "issued" and preview["total"] == 2_500
    assert preview["pre_payment_amount"] == 2_500 and preview["post_payment_amount"] == 0
    assert preview["type"] == "pre_payment" and preview["memo"] == "Goodwill"
    assert fake.objects("credit_note") == [] and len(fake.events) == events_before
    assert fake.get(invoice["id"])["amount_due"] == 10_000
    request = fake.requests[-1]
    assert request.method == "GET" and request.path == "/v1/credit_notes/preview" and request.params["amount"] == 2_500

    note = client.v1.credit_notes.create(params=params).to_dict()  # type: ignore[arg-type]
    assert set(note) == set(template("credit_note")) and note["id"].startswith("cn_")
    assert note["number"] == f"{invoice['number']}-CN-01" and note["lines"]["data"] == []
    after = fake.get(invoice["id"])
    assert after["status"] == "open" and after["amount_due"] == 7_500 and after["amount_remaining"] == 7_500
    assert after["pre_payment_credit_notes_amount"] == 2_500 and after["total"] == 10_000
    assert [e["type"] for e in fake.events[events_before:]] == ["invoice.updated", "credit_note.created"]
    assert client.v1.credit_notes.retrieve(note["id"]).to_dict() == note
    listed = client.v1.credit_notes.list(params={"invoice": invoice["id"]}).to_dict()
    assert [found["id"] for found in listed["data"]] == [note["id"]]


def test_an_open_invoice_takes_no_more_than_is_due_and_no_refund(fake: FakeStripe,
                                                                 client: stripe.StripeClient) -> None:
    invoice = open_invoice(client, 10_000)
    client.v1.credit_notes.create(params={"invoice": invoice["id"], "amount": 4_000})
    error = refused(lambda: client.v1.credit_notes.create(params={"invoice": invoice["id"], "amount": 6_001}))
    assert "greater than the amount that can still be credited" in str(error.user_message)
    assert "($60.00)" in str(error.user_message) and error.param == "amount"
    error = refused(lambda: client.v1.credit_notes.preview(params={
        "invoice": invoice["id"], "amount": 1_000, "refund_amount": 1_000}))
    assert str(error.user_message).startswith("The sum of credit amount, refund amount and out of band amount")
    assert len(fake.objects("credit_note")) == 1
    # Credited down to nothing due: paid, with nothing collected.
    client.v1.credit_notes.create(params={"invoice": invoice["id"], "amount": 6_000})
    paid = fake.get(invoice["id"])
    assert paid["status"] == "paid" and paid["amount_paid"] == 0 and paid["pre_payment_credit_notes_amount"] == 10_000
    assert "invoice.paid" in [e["type"] for e in fake.events]


def test_a_paid_invoice_splits_its_credit_between_refund_balance_and_out_of_band(
        fake: FakeStripe, client: stripe.StripeClient) -> None:
    invoice = open_invoice(client, 10_000)
    fake.pay_invoice(invoice["id"])  # through Stripe: a charge that can be refunded
    missing = refused(lambda: client.v1.credit_notes.create(params={"invoice": invoice["id"], "amount": 3_000}))
    assert missing.user_message == ("The sum of credit amount, refund amount and out of band amount ($0.00) must "
                                    "equal the credit note amount ($30.00).")
    note = client.v1.credit_notes.create(params={"invoice": invoice["id"], "amount": 3_000, "refund_amount": 1_000,
                                                 "credit_amount": 1_500, "out_of_band_amount": 500}).to_dict()
    assert note["type"] == "post_payment" and note["post_payment_amount"] == 3_000 and note["pre_payment_amount"] == 0
    assert note["refunds"][0]["amount_refunded"] == 1_000 and note["out_of_band_amount"] == 500
    assert note["customer_balance_transaction"]
    assert fake.get(invoice["customer"])["balance"] == -1_500
    assert fake.get(invoice["id"])["post_payment_credit_notes_amount"] == 3_000
    # Never more than what was paid less earlier credit notes; a refund never more than is left on the charge.
    error = refused(lambda: client.v1.credit_notes.create(params={"invoice": invoice["id"], "amount": 7_001,
                                                                  "out_of_band_amount": 7_001}))
    assert "($70.00)" in str(error.user_message)
    note = client.v1.credit_notes.create(params={"invoice": invoice["id"], "amount": 7_000,
                                                 "refund_amount": 7_000}).to_dict()
    assert note["refunds"][0]["amount_refunded"] == 7_000
    error = refused(lambda: client.v1.credit_notes.preview(params={"invoice": invoice["id"], "amount": 1,
                                                                   "refund_amount": 1}))
    assert "greater than the amount that can still be credited" in str(error.user_message)
    # Voiding: only while the invoice is open (Stripe's own words).
    error = refused(lambda: client.v1.credit_notes.void_credit_note(note["id"]))
    assert error.user_message == "You can only void a credit note if the associated invoice is open."


def test_a_refund_needs_a_charge(fake: FakeStripe, client: stripe.StripeClient) -> None:
    invoice = open_invoice(client, 5_000)
    client.v1.invoices.pay(invoice["id"], params={"paid_out_of_band": True})
    error = refused(lambda: client.v1.credit_notes.create(params={"invoice": invoice["id"], "amount": 5_000,
                                                                  "refund_amount": 5_000}))
    assert "has no charge to refund" in str(error.user_message) and error.param == "refund_amount"
    note = client.v1.credit_notes.create(params={"invoice": invoice["id"], "amount": 5_000,
                                                 "out_of_band_amount": 5_000})
    assert note.out_of_band_amount == 5_000


def test_lines_are_credited_at_most_in_full(fake: FakeStripe, client: stripe.StripeClient) -> None:
    invoice = open_invoice(client, 6_000, 4_000)
    first, second = (line["id"] for line in invoice["lines"]["data"])
    note = client.v1.credit_notes.create(params={"invoice": invoice["id"], "lines": [
        {"type": "invoice_line_item", "invoice_line_item": first, "amount": 2_000},
        {"type": "custom_line_item", "description": "Shipping refund", "unit_amount": 150, "quantity": 2},
    ]}).to_dict()
    assert note["amount"] == 2_300 and [line["type"] for line in note["lines"]["data"]] == [
        "invoice_line_item", "custom_line_item"]
    assert set(note["lines"]["data"][0]) == set(template("credit_note_line_item"))
    assert note["lines"]["data"][0]["invoice_line_item"] == first
    assert client.v1.credit_notes.line_items.list(note["id"]).data[1].description == "Shipping refund"
    error = refused(lambda: client.v1.credit_notes.create(params={"invoice": invoice["id"], "lines": [
        {"type": "invoice_line_item", "invoice_line_item": first, "amount": 4_001}]}))
    assert "left to credit on it ($40.00)" in str(error.user_message)
    assert error.param == "lines[0][amount]"
    error = refused(lambda: client.v1.credit_notes.create(params={"invoice": invoice["id"], "lines": [
        {"type": "invoice_line_item", "invoice_line_item": "il_nope", "amount": 1}]}))
    assert error.code == "resource_missing"
    other = open_invoice(client, 1_000)
    error = refused(lambda: client.v1.credit_notes.create(params={"invoice": invoice["id"], "lines": [
        {"type": "invoice_line_item", "invoice_line_item": other["lines"]["data"][0]["id"], "amount": 1}]}))
    assert "does not belong to invoice" in str(error.user_message)
    error = refused(lambda: client.v1.credit_notes.create(params={"invoice": invoice["id"], "amount": 999, "lines": [
        {"type": "invoice_line_item", "invoice_line_item": second, "amount": 1_000}]}))
    assert "must equal the sum of its lines" in str(error.user_message)
    error = refused(lambda: client.v1.credit_notes.create(params={"invoice": invoice["id"], "lines": [
        {"type": "invoice_line_item", "invoice_line_item": second, "amount": 1_000, "description": "x"}]}))
    assert error.param == "lines[0][description]"


def test_only_open_or_paid_invoices_and_params_as_the_sdk_types_them(fake: FakeStripe,
                                                                    client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create(params={"email": "a@example.com"})
    draft = client.v1.invoices.create(params={"customer": customer.id, "collection_method": "send_invoice",
                                              "days_until_due": 5})
    error = refused(lambda: client.v1.credit_notes.create(params={"invoice": draft.id, "amount": 1}))
    assert "only be issued for open or paid invoices" in str(error.user_message)
    invoice = open_invoice(client, 1_000)
    error = refused(lambda: client.v1.credit_notes.create(params={"invoice": invoice["id"]}))
    assert error.code == "parameter_missing"
    error = refused(lambda: client.v1.credit_notes.create(params={  # type: ignore[typeddict-unknown-key]
        "invoice": invoice["id"], "amount": 1, "refund_reason": "x"}))
    assert error.code == "parameter_unknown" and error.param == "refund_reason"
    error = refused(lambda: client.v1.credit_notes.create(params={"invoice": invoice["id"], "amount": 1,
                                                                  "reason": "changed_my_mind"}))
    assert "must be one of duplicate, fraudulent, order_change, or product_unsatisfactory" in str(error.user_message)
    error = refused(lambda: client.v1.credit_notes.create(params={"invoice": "in_missing", "amount": 1}))
    assert error.code == "resource_missing" and error.param == "invoice"
    client.v1.invoices.void_invoice(invoice["id"])
    error = refused(lambda: client.v1.credit_notes.preview(params={"invoice": invoice["id"], "amount": 1}))
    assert "is void" in str(error.user_message)
    assert fake.objects("credit_note") == []


def test_voiding_gives_back_what_it_took_and_says_so_once(fake: FakeStripe, client: stripe.StripeClient) -> None:
    invoice = open_invoice(client, 10_000)
    note = client.v1.credit_notes.create(params={"invoice": invoice["id"], "amount": 3_000})
    voided = client.v1.credit_notes.void_credit_note(note.id).to_dict()
    assert voided["status"] == "void" and voided["voided_at"]
    after = fake.get(invoice["id"])
    assert after["amount_due"] == 10_000 and after["pre_payment_credit_notes_amount"] == 0
    assert [e["type"] for e in fake.events][-2:] == ["invoice.updated", "credit_note.voided"]
    error = refused(lambda: client.v1.credit_notes.void_credit_note(note.id))
    assert "already void" in str(error.user_message)
    # A void note no longer counts: the whole invoice can be credited again.
    again = client.v1.credit_notes.create(params={"invoice": invoice["id"], "amount": 10_000})
    assert again.number.endswith("-CN-02")


def test_idempotent_creation_and_restricted_keys(fake: FakeStripe, client: stripe.StripeClient) -> None:
    invoice = open_invoice(client, 10_000)
    params = {"invoice": invoice["id"], "amount": 1_000}
    first = client.v1.credit_notes.create(params=params, options={"idempotency_key": "cn-once"})  # type: ignore[arg-type]
    second = client.v1.credit_notes.create(params=params, options={"idempotency_key": "cn-once"})  # type: ignore[arg-type]
    assert first.id == second.id and len(fake.objects("credit_note")) == 1
    assert fake.requests[-1].replayed
    with pytest.raises(stripe.IdempotencyError):
        client.v1.credit_notes.create(params={"invoice": invoice["id"], "amount": 2_000},
                                      options={"idempotency_key": "cn-once"})
    key = fake.default_account.restricted_key(["rak_invoice_write"])
    restricted = stripe.StripeClient(key, base_addresses={"api": fake.url}, max_network_retries=0)
    with pytest.raises(stripe.PermissionError) as caught:
        restricted.v1.credit_notes.create(params={"invoice": invoice["id"], "amount": 1_000})
    assert "rak_credit_note_write" in str(caught.value.user_message)
    allowed = fake.default_account.restricted_key(["rak_credit_note_write"])
    reader = stripe.StripeClient(allowed, base_addresses={"api": fake.url}, max_network_retries=0)
    assert reader.v1.credit_notes.list().data[0].id == first.id

"""The fake Stripe's subscriptions (tests/fakes/stripe_fake/subscriptions.py), through the real SDK over HTTP:
parameters checked against the SDK's types, objects shaped like Stripe's fixtures, the invoices each period
makes and their events, cancellation, idempotency."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from tests.fakes.stripe_fake import FakeStripe, StripeApiError
from tests.fakes.stripe_fake.fixtures import template
from tests.fakes.stripe_fake.subscriptions import add_interval

API_KEY = "sk_test_fake_subscriptions"
DAY = 86_400


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with FakeStripe(api_key=API_KEY, seed=99) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_fake(fake: FakeStripe) -> Iterator[None]:
    fake.reset()
    yield
    fake.reset()


@pytest.fixture(scope="module")
def client(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": fake.url}, max_network_retries=0)


def customer(client: stripe.StripeClient, email: str = "ada@example.com") -> str:
    return str(client.v1.customers.create({"name": "Ada", "email": email}).id)


def product(client: stripe.StripeClient, name: str = "Support plan") -> str:
    return str(client.v1.products.create({"name": name}).id)


def subscribe(client: stripe.StripeClient, cus: str, items: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"customer": cus, "collection_method": "send_invoice", "days_until_due": 14,
                              "items": items, **extra}
    return client.v1.subscriptions.create(params).to_dict()  # type: ignore[arg-type]


def monthly(prod: str, amount: int = 2500, currency: str = "usd", count: int = 1) -> dict[str, Any]:
    return {"price_data": {"currency": currency, "product": prod, "unit_amount": amount,
                           "recurring": {"interval": "month", "interval_count": count}}, "quantity": 2}


def types_of(fake: FakeStripe) -> list[str]:
    return [event["type"] for event in fake.events]


def test_create_with_price_data_makes_and_sends_the_first_invoice(client: stripe.StripeClient,
                                                                   fake: FakeStripe) -> None:
    cus, prod = customer(client), product(client)
    sub = subscribe(client, cus, [monthly(prod)], metadata={"slack_user": "UREP"}, description="Support")
    assert set(sub) == set(template("subscription")), "shaped like Stripe's fixture"
    assert sub["status"] == "active" and sub["collection_method"] == "send_invoice" and sub["days_until_due"] == 14
    (item,) = sub["items"]["data"]
    assert set(item) == set(template("subscription_item"))
    assert item["price"]["recurring"]["interval"] == "month" and item["price"]["type"] == "recurring"
    assert item["price"]["active"] is False  # made inline
    assert item["current_period_end"] == add_interval(item["current_period_start"], "month", 1)

    invoice = fake.get(sub["latest_invoice"])
    assert invoice["status"] == "open" and invoice["billing_reason"] == "subscription_create"
    assert invoice["subscription"] == sub["id"]
    assert invoice["parent"]["type"] == "subscription_details"
    assert invoice["parent"]["subscription_details"]["subscription"] == sub["id"]
    assert invoice["total"] == 5000 and invoice["collection_method"] == "send_invoice"
    assert invoice["due_date"] == invoice["status_transitions"]["finalized_at"] + 14 * DAY
    (line,) = invoice["lines"]["data"]
    assert line["parent"]["type"] == "subscription_item_details" and line["quantity"] == 2
    assert "Support plan" in line["description"] and line["period"]["end"] == item["current_period_end"]
    kinds = types_of(fake)
    for expected in ("customer.subscription.created", "invoice.created", "invoice.finalized", "invoice.sent"):
        assert expected in kinds
    assert kinds.index("invoice.created") < kinds.index("invoice.finalized") < kinds.index("invoice.sent")
    created = next(e for e in fake.events if e["type"] == "invoice.created")
    assert created["data"]["object"]["subscription"] == sub["id"]
    listed = client.v1.invoices.list({"subscription": sub["id"]})
    assert [found.id for found in listed.data] == [invoice["id"]]


def test_a_one_off_price_is_refused_on_its_item_and_nothing_is_made(client: stripe.StripeClient,
                                                                     fake: FakeStripe) -> None:
    cus, prod = customer(client), product(client)
    one_off = client.v1.prices.create({"product": prod, "unit_amount": 1000, "currency": "usd"})
    before = len(fake.events)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        subscribe(client, cus, [monthly(prod), {"price": one_off.id}])
    assert refused.value.param == "items[1][price]"
    assert "type=recurring" in str(refused.value.user_message)
    assert fake.objects("subscription") == [] and fake.objects("invoice") == []
    assert len(fake.events) == before


def test_a_recurring_catalog_price_is_used_as_it_is(client: stripe.StripeClient, fake: FakeStripe) -> None:
    cus, prod = customer(client), product(client)
    yearly = client.v1.prices.create({"product": prod, "unit_amount": 120000, "currency": "usd",
                                      "recurring": {"interval": "year"}})
    sub = subscribe(client, cus, [{"price": yearly.id}])
    assert sub["items"]["data"][0]["price"]["id"] == yearly.id
    assert fake.get(sub["latest_invoice"])["total"] == 120000


@pytest.mark.parametrize(("items", "param"), [
    ([{"price_data": {"currency": "usd", "product": "PROD", "unit_amount": 1,
                      "recurring": {"interval": "month", "interval_count": 13}}}],
     "items[0][price_data][recurring][interval_count]"),
    ([{"price_data": {"currency": "usd", "product": "prod_missing", "unit_amount": 1,
                      "recurring": {"interval": "month"}}}], "items[0][price_data][product]"),
    ([{"price_data": {"currency": "usd", "product": "PROD", "unit_amount": 1, "recurring": {"interval": "month"}}},
      {"price_data": {"currency": "eur", "product": "PROD", "unit_amount": 1, "recurring": {"interval": "month"}}}],
     "items"),
    ([{"price_data": {"currency": "usd", "product": "PROD", "unit_amount": 1, "recurring": {"interval": "month"}}},
      {"price_data": {"currency": "usd", "product": "PROD", "unit_amount": 1, "recurring": {"interval": "year"}}}],
     "items"),
    ([{"price_data": {"currency": "usd", "product": "PROD", "unit_amount": 1, "recurring": {"interval": "fortnight"}}}],
     "items[0][price_data][recurring][interval]"),
    ([{"price_data": {"currency": "usd", "product": "PROD", "unit_amount": 1, "recurring": {"interval": "month"}},
       "colour": "blue"}], "items[0][colour]"),
])
def test_bad_items_are_refused_by_stripe_rules_and_the_sdk_types(client: stripe.StripeClient, fake: FakeStripe,
                                                                  items: list[dict[str, Any]], param: str) -> None:
    cus, prod = customer(client), product(client)
    for item in items:
        if item["price_data"]["product"] == "PROD":
            item["price_data"]["product"] = prod
    with pytest.raises(stripe.InvalidRequestError) as refused:
        subscribe(client, cus, items)
    assert refused.value.param == param
    assert fake.objects("subscription") == [] and fake.objects("invoice") == []


def test_collection_rules(client: stripe.StripeClient) -> None:
    cus, prod = customer(client), product(client)
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.subscriptions.create({"customer": cus, "items": [monthly(prod)],  # type: ignore[list-item]
                                        "days_until_due": 3})
    assert refused.value.param == "days_until_due"
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.subscriptions.create({"customer": cus, "collection_method": "send_invoice", "items": []})
    assert missing.value.param == "items"


def test_an_idempotency_key_replays_the_same_subscription(client: stripe.StripeClient, fake: FakeStripe) -> None:
    cus, prod = customer(client), product(client)
    params: dict[str, Any] = {"customer": cus, "collection_method": "send_invoice", "days_until_due": 7,
                              "items": [monthly(prod)]}
    first = client.v1.subscriptions.create(params, {"idempotency_key": "view1:subscription"})  # type: ignore[arg-type]
    again = client.v1.subscriptions.create(params, {"idempotency_key": "view1:subscription"})  # type: ignore[arg-type]
    assert first.id == again.id
    assert len(fake.objects("subscription")) == 1 and len(fake.objects("invoice")) == 1


def test_each_period_makes_its_invoice_with_its_events(client: stripe.StripeClient, fake: FakeStripe) -> None:
    cus, prod = customer(client), product(client)
    sub = subscribe(client, cus, [monthly(prod, count=3)])
    start = sub["items"]["data"][0]["current_period_start"]
    before = len(fake.events)
    second = fake.advance_subscription(sub["id"])
    assert second is not None and second["status"] == "open" and second["billing_reason"] == "subscription_cycle"
    assert second["subscription"] == sub["id"] and second["total"] == 5000
    assert second["period_start"] == start and second["period_end"] == add_interval(start, "month", 3)
    new = [event["type"] for event in fake.events[before:]]
    assert new[0] == "invoice.created" and "customer.subscription.updated" in new
    assert new.index("invoice.finalized") < new.index("invoice.sent")
    current = client.v1.subscriptions.retrieve(sub["id"]).to_dict()
    assert current["latest_invoice"] == second["id"]
    assert current["items"]["data"][0]["current_period_start"] == add_interval(start, "month", 3)

    draft = fake.cycle(sub["id"], finalize=False)
    assert draft is not None and draft["status"] == "draft" and draft["auto_advance"] is True
    finalized = fake.finalize_draft(draft["id"])
    assert finalized["status"] == "open" and types_of(fake)[-1] == "invoice.sent"
    assert len(client.v1.invoices.list({"subscription": sub["id"]}).data) == 3


def test_cancel_at_period_end_then_the_period_ends(client: stripe.StripeClient, fake: FakeStripe) -> None:
    cus, prod = customer(client), product(client)
    sub = subscribe(client, cus, [monthly(prod)])
    updated = client.v1.subscriptions.update(sub["id"], {"cancel_at_period_end": True})
    assert updated.cancel_at_period_end is True and updated.status == "active"
    assert updated.cancel_at == sub["items"]["data"][0]["current_period_end"]
    assert types_of(fake)[-1] == "customer.subscription.updated"
    assert fake.advance_subscription(sub["id"]) is None
    ended = client.v1.subscriptions.retrieve(sub["id"])
    assert ended.status == "canceled" and types_of(fake)[-1] == "customer.subscription.deleted"
    assert len(fake.objects("invoice")) == 1
    assert client.v1.subscriptions.list().data == []
    assert [found.id for found in client.v1.subscriptions.list({"status": "all"}).data] == [sub["id"]]


def test_cancel_now_once(client: stripe.StripeClient, fake: FakeStripe) -> None:
    cus, prod = customer(client), product(client)
    sub = subscribe(client, cus, [monthly(prod)])
    canceled = client.v1.subscriptions.cancel(sub["id"])
    assert canceled.status == "canceled" and canceled.ended_at is not None
    assert types_of(fake)[-1] == "customer.subscription.deleted"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.cancel(sub["id"])
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.update(sub["id"], {"cancel_at_period_end": True})
    with pytest.raises(StripeApiError):
        fake.advance_subscription(sub["id"])
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.subscriptions.retrieve("sub_missing")
    assert missing.value.http_status == 404


def test_add_interval_keeps_to_the_calendar() -> None:
    jan_31 = 1738281600  # 2025-01-31T00:00:00Z
    assert add_interval(jan_31, "month", 1) == 1740700800  # 2025-02-28
    assert add_interval(jan_31, "month", 3) == 1745971200  # 2025-04-30
    assert add_interval(jan_31, "year", 1) == 1769817600  # 2026-01-31

"""The fake Stripe as many accounts: keys, restricted keys, live mode, webhook endpoints, /v1/account.

Everything goes through the real ``stripe`` SDK over HTTP, like ``test_fake_stripe.py``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import stripe

from tests.fakes.stripe_fake import Account, FakeStripe
from tests.fakes.stripe_fake.fixtures import template

API_KEY = "sk_test_fake_accounts"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with FakeStripe(api_key=API_KEY, seed=99) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_fake(fake: FakeStripe) -> Iterator[None]:
    fake.reset()
    yield
    fake.reset()


def client_for(fake: FakeStripe, key: str) -> stripe.StripeClient:
    return stripe.StripeClient(key, base_addresses={"api": fake.url}, max_network_retries=0)


class Receiver:
    """A webhook endpoint on 127.0.0.1 recording (Stripe-Signature header, raw body)."""

    def __init__(self) -> None:
        self.deliveries: list[tuple[str, str]] = []
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"])).decode("utf-8")
                with lock:
                    receiver.deliveries.append((self.headers["Stripe-Signature"], body))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/stripe/webhook"

    @property
    def event_types(self) -> list[str]:
        return [json.loads(body)["type"] for _, body in self.deliveries]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receivers() -> Iterator[list[Receiver]]:
    made = [Receiver() for _ in range(3)]
    yield made
    for receiver in made:
        receiver.close()


def make_customer(client: stripe.StripeClient, email: str = "ada@example.com") -> stripe.Customer:
    return client.v1.customers.create({"email": email, "name": "Ada Lovelace"})


# -- one account per key ----------------------------------------------------------------------


def test_accounts_do_not_see_each_others_objects(fake: FakeStripe) -> None:
    acme, globex = fake.add_account(name="Acme Ltd"), fake.add_account(name="Globex")
    assert acme.id != globex.id and acme.id.startswith("acct_1")
    assert acme.secret_key.startswith("sk_test_") and acme.live_secret_key.startswith("sk_live_")
    a, b = client_for(fake, acme.secret_key), client_for(fake, globex.secret_key)
    default = client_for(fake, API_KEY)

    customer = make_customer(a)
    product = a.v1.products.create({"name": "Consulting"})
    price = a.v1.prices.create({"product": product.id, "unit_amount": 1_000, "currency": "usd"})
    invoice = a.v1.invoices.create({"customer": customer.id})

    for retrieve, object_id, label in (
        (b.v1.customers.retrieve, customer.id, "customer"),
        (b.v1.products.retrieve, product.id, "product"),
        (b.v1.prices.retrieve, price.id, "price"),
        (b.v1.invoices.retrieve, invoice.id, "invoice"),
        (default.v1.invoices.retrieve, invoice.id, "invoice"),
    ):
        with pytest.raises(stripe.InvalidRequestError) as missing:
            retrieve(object_id)
        assert (missing.value.http_status, missing.value.code) == (404, "resource_missing")
        assert missing.value.user_message == f"No such {label}: '{object_id}'"
    with pytest.raises(stripe.InvalidRequestError) as as_param:
        b.v1.invoices.create({"customer": customer.id})
    assert (as_param.value.http_status, as_param.value.code) == (400, "resource_missing")
    assert as_param.value.param == "customer"

    assert b.v1.customers.list().data == [] and default.v1.customers.list().data == []
    assert b.v1.customers.search({"query": "email:'ada@example.com'"}).data == []
    assert [e.type for e in b.v1.events.list().data] == []
    assert {e.type for e in a.v1.events.list().data} >= {"customer.created", "invoice.created"}
    assert fake.objects("customer") == []  # the default account's
    assert [c["id"] for c in acme.objects("customer")] == [customer.id] and globex.objects("customer") == []
    assert fake.get(invoice.id)["id"] == invoice.id  # inspection finds any account's objects
    assert {r.account for r in fake.requests} == {acme.id, globex.id, fake.default_account.id}

    # Test helpers act on whichever account holds the invoice.
    a.v1.invoice_items.create({"customer": customer.id, "invoice": invoice.id, "amount": 500})
    a.v1.invoices.finalize_invoice(invoice.id)
    fake.pay_invoice(invoice.id)
    assert a.v1.invoices.retrieve(invoice.id).status == "paid"
    assert acme.events()[-1]["type"] == "invoice.updated" and fake.events == []


def test_the_default_account_keeps_its_key_and_survives_reset(fake: FakeStripe) -> None:
    default = fake.default_account
    assert (default.secret_key, default.id) == (API_KEY, "acct_1FakeStripeTestAcct")
    assert default.name == "FakeStripe Test Account"
    extra = default.restricted_key(["rak_customer_read"])
    other = fake.add_account(name="Initech")
    fake.reset()
    assert fake.default_account is default and fake.accounts == [default]
    assert client_for(fake, API_KEY).v1.customers.list().data == []
    for gone in (extra, other.secret_key):
        with pytest.raises(stripe.AuthenticationError):
            client_for(fake, gone).v1.customers.list()


def test_idempotency_keys_belong_to_their_account(fake: FakeStripe) -> None:
    acme, globex = fake.add_account(name="Acme"), fake.add_account(name="Globex")
    first = client_for(fake, acme.secret_key).v1.customers.create({"name": "A"}, {"idempotency_key": "same"})
    second = client_for(fake, globex.secret_key).v1.customers.create({"name": "B"}, {"idempotency_key": "same"})
    assert first.id != second.id
    assert second.last_response.headers.get("Idempotent-Replayed") is None


# -- authentication ---------------------------------------------------------------------------


def test_unknown_and_revoked_keys_are_authentication_errors(fake: FakeStripe) -> None:
    acme = fake.add_account(name="Acme")
    key = acme.restricted_key(["rak_customer_write"])
    assert key.startswith("rk_test_")
    client = client_for(fake, key)
    make_customer(client)

    acme.revoke(key)
    with pytest.raises(stripe.AuthenticationError) as revoked:
        client.v1.customers.list()
    assert revoked.value.http_status == 401
    assert revoked.value.json_body["error"]["type"] == "invalid_request_error"
    message = revoked.value.user_message
    assert message == f"Invalid API Key provided: rk_test_{'*' * (len(key) - 12)}{key[-4:]}"
    assert key not in message
    assert fake.requests[-1].status == 401 and fake.requests[-1].account is None
    assert [k.revoked for k in acme.keys() if k.secret == key] == [True]

    assert client_for(fake, acme.secret_key).v1.customers.list().data  # the account's other keys still work
    with pytest.raises(stripe.AuthenticationError, match="Invalid API Key provided: sk_test_"):
        client_for(fake, "sk_test_" + "x" * 40).v1.customers.list()
    with pytest.raises(ValueError):
        fake.add_account(name="Other").revoke(acme.secret_key)  # not that account's key

    acme.revoke(acme.secret_key)
    with pytest.raises(stripe.AuthenticationError):
        client_for(fake, acme.secret_key).v1.customers.list()


# -- restricted keys --------------------------------------------------------------------------


def test_restricted_key_without_invoice_write_gets_a_permission_error_naming_it(fake: FakeStripe) -> None:
    acme = fake.add_account(name="Acme")
    key = acme.restricted_key(["rak_customer_write", "rak_invoice_read"])
    client = client_for(fake, key)
    customer = make_customer(client)  # customer_write
    assert client.v1.customers.retrieve(customer.id).id == customer.id  # write implies read
    assert client.v1.invoices.list().data == []  # invoice_read

    with pytest.raises(stripe.PermissionError) as denied:
        client.v1.invoices.create({"customer": customer.id}, {"idempotency_key": "try-1"})
    error = denied.value
    assert error.http_status == 403
    assert error.json_body["error"]["type"] == "invalid_request_error"
    assert "rak_invoice_write" in error.user_message
    assert error.user_message == (
        f"The provided key 'rk_test_{'*' * (len(key) - 12)}{key[-4:]}' does not have the required permissions "
        f"for this endpoint on account '{acme.id}'. Having the 'rak_invoice_write' permission would allow this "
        "request to continue."
    )
    assert acme.objects("invoice") == []
    assert fake.requests[-1].status == 403

    for attempt, permission in (
        (
            lambda: client.v1.invoice_items.create({"customer": customer.id, "amount": 1, "currency": "usd"}),
            "rak_invoice_write",
        ),
        (lambda: client.v1.products.list(), "rak_product_read"),
        (
            lambda: client.v1.prices.create({"product_data": {"name": "x"}, "unit_amount": 1, "currency": "usd"}),
            "rak_plan_write",
        ),
        (lambda: client.v1.events.list(), "rak_event_read"),
        (lambda: client.v1.webhook_endpoints.list(), "rak_webhook_read"),
        (lambda: client.v1.customers.delete(customer.id), None),  # allowed: customer_write
    ):
        if permission is None:
            attempt()
            continue
        with pytest.raises(stripe.PermissionError, match=f"'{permission}' permission"):
            attempt()

    # A key with the permission may do it, and the idempotency key was not burnt by the refusal.
    writer = client_for(fake, acme.restricted_key(["rak_invoice_write", "rak_customer_read"]))
    other = make_customer(client_for(fake, acme.secret_key))
    created = writer.v1.invoices.create({"customer": other.id}, {"idempotency_key": "try-1"})
    assert created.last_response.headers.get("Idempotent-Replayed") is None


def test_restricted_key_permission_names_are_stripes(fake: FakeStripe) -> None:
    acme = fake.add_account(name="Acme")
    with pytest.raises(ValueError, match="rak_plan"):
        acme.restricted_key(["rak_price_write"])
    with pytest.raises(ValueError, match="rak_invoice"):
        acme.restricted_key(["rak_invoiceitem_write"])
    with pytest.raises(ValueError):
        acme.restricted_key(["invoice_write"])
    with pytest.raises(TypeError):
        acme.restricted_key("rak_invoice_write")  # type: ignore[arg-type]
    live = acme.restricted_key(["rak_plan_write", "rak_product_write"], livemode=True)
    assert live.startswith("rk_live_")
    price = client_for(fake, live).v1.prices.create(
        {"product_data": {"name": "Hour"}, "unit_amount": 100, "currency": "usd"}
    )
    assert price.livemode is True


# -- live mode --------------------------------------------------------------------------------


def test_live_keys_make_live_objects_apart_from_test_ones(fake: FakeStripe) -> None:
    acme = fake.add_account(name="Acme")
    live, test = client_for(fake, acme.live_secret_key), client_for(fake, acme.secret_key)
    customer = make_customer(live)
    assert customer.livemode is True
    invoice = live.v1.invoices.create(
        {"customer": customer.id, "collection_method": "send_invoice", "days_until_due": 7}
    )
    live.v1.invoice_items.create({"customer": customer.id, "invoice": invoice.id, "amount": 2_000})
    invoice = live.v1.invoices.finalize_invoice(invoice.id)
    assert invoice.livemode is True and invoice.lines.data[0].livemode is True
    assert f"/i/{acme.id}/live_" in invoice.hosted_invoice_url
    assert invoice.account_name == "Acme"
    events = live.v1.events.list().data
    assert events and all(event.livemode is True for event in events)
    assert all(event["livemode"] is True for event in acme.events(livemode=True))

    with pytest.raises(stripe.InvalidRequestError) as missing:
        test.v1.customers.retrieve(customer.id)
    assert missing.value.http_status == 404
    assert test.v1.events.list().data == [] and acme.objects("customer") == []
    test_customer = make_customer(test)
    assert test_customer.livemode is False
    assert [c["id"] for c in acme.objects("customer", livemode=True)] == [customer.id]

    with pytest.raises(stripe.InvalidRequestError) as error:
        live.v1.invoices.retrieve("in_missing")
    assert error.value.json_body["error"]["request_log_url"].startswith("https://dashboard.stripe.com/logs/")


# -- /v1/account ------------------------------------------------------------------------------


def test_account_endpoint_shows_the_keys_account(fake: FakeStripe) -> None:
    acme = fake.add_account(name="Acme Ltd", email="billing@acme.example", country="gb", default_currency="GBP")
    account = client_for(fake, acme.secret_key).v1.accounts.retrieve_current()
    assert (account.id, account.settings.dashboard.display_name, account.business_profile.name) == (
        acme.id,
        "Acme Ltd",
        "Acme Ltd",
    )
    assert (account.email, account.country, account.default_currency, account.charges_enabled) == (
        "billing@acme.example",
        "GB",
        "gbp",
        True,
    )
    assert set(account.to_dict()) == set(template("account"))
    assert client_for(fake, API_KEY).v1.accounts.retrieve_current().id == fake.default_account.id
    assert client_for(fake, acme.live_secret_key).v1.accounts.retrieve_current().id == acme.id

    # A restricted key needs Stripe's "accounts KYC basic" read permission for it.
    plain = client_for(fake, acme.restricted_key(["rak_invoice_write"]))
    with pytest.raises(stripe.PermissionError, match="'rak_accounts_kyc_basic_read' permission") as denied:
        plain.v1.accounts.retrieve_current()
    assert acme.id in denied.value.user_message
    reader = client_for(fake, acme.restricted_key(["rak_accounts_kyc_basic_read"]))
    assert reader.v1.accounts.retrieve_current().settings.dashboard.display_name == "Acme Ltd"

    disabled = fake.add_account(name="Not Yet Ltd", charges_enabled=False)
    assert client_for(fake, disabled.secret_key).v1.accounts.retrieve_current().charges_enabled is False


# -- webhook endpoints ------------------------------------------------------------------------


def test_webhook_endpoint_secret_is_shown_only_on_create(fake: FakeStripe) -> None:
    acme = fake.add_account(name="Acme")
    client = client_for(fake, acme.secret_key)
    created = client.v1.webhook_endpoints.create(
        {
            "url": "https://bot.example/stripe/webhook",
            "enabled_events": ["invoice.paid", "invoice.payment_failed"],
            "description": "invoicebot",
            "metadata": {"team": "T123"},
            "api_version": "2026-10-28.endive",
        }
    )
    assert re.fullmatch(r"whsec_[A-Za-z0-9]{32}", created.secret)
    assert created.id.startswith("we_") and created.status == "enabled" and created.livemode is False
    assert (created.url, created.description, created.metadata.to_dict()) == (
        "https://bot.example/stripe/webhook",
        "invoicebot",
        {"team": "T123"},
    )
    assert set(created.to_dict()) == set(template("webhook_endpoint")) | {"secret"}
    another = client.v1.webhook_endpoints.create({"url": "https://bot.example/other", "enabled_events": ["*"]})
    assert another.secret != created.secret

    retrieved = client.v1.webhook_endpoints.retrieve(created.id)
    assert "secret" not in retrieved.to_dict()
    assert retrieved.enabled_events == ["invoice.paid", "invoice.payment_failed"]
    listed = client.v1.webhook_endpoints.list()
    assert [e.id for e in listed.data] == [another.id, created.id]
    assert all("secret" not in e.to_dict() for e in listed.data)
    assert "secret" not in fake.get(created.id)

    updated = client.v1.webhook_endpoints.update(created.id, {"enabled_events": ["*"], "disabled": True})
    assert (updated.enabled_events, updated.status, "secret" in updated.to_dict()) == (["*"], "disabled", False)

    deleted = client.v1.webhook_endpoints.delete(created.id)
    assert deleted.deleted is True
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.webhook_endpoints.retrieve(created.id)
    assert (gone.value.http_status, gone.value.code) == (404, "resource_missing")
    with pytest.raises(stripe.InvalidRequestError) as elsewhere:
        client_for(fake, API_KEY).v1.webhook_endpoints.retrieve(another.id)
    assert elsewhere.value.http_status == 404

    with pytest.raises(stripe.InvalidRequestError) as bad_event:
        client.v1.webhook_endpoints.create({"url": "https://x.example", "enabled_events": ["invoice.exploded"]})  # type: ignore[list-item]
    assert bad_event.value.param == "enabled_events[0]"
    with pytest.raises(stripe.InvalidRequestError, match="explicit scheme"):
        client.v1.webhook_endpoints.create({"url": "bot.example/hook", "enabled_events": ["*"]})
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.webhook_endpoints.create({"url": "https://x.example"})  # type: ignore[typeddict-item]
    assert (missing.value.code, missing.value.param) == ("parameter_missing", "enabled_events")


def test_the_seventeenth_webhook_endpoint_is_refused(fake: FakeStripe) -> None:
    acme, globex = fake.add_account(name="Acme"), fake.add_account(name="Globex")
    client = client_for(fake, acme.secret_key)
    made = [
        client.v1.webhook_endpoints.create({"url": f"https://bot.example/hook/{n}", "enabled_events": ["*"]})
        for n in range(16)
    ]
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.webhook_endpoints.create({"url": "https://bot.example/hook/16", "enabled_events": ["*"]})
    assert refused.value.http_status == 400
    assert refused.value.user_message == "You have reached the maximum of 16 test webhook endpoints."
    assert refused.value.json_body["error"]["type"] == "invalid_request_error"
    assert len(acme.objects("webhook_endpoint")) == 16

    # The limit is per account and mode; deleting one frees a place.
    globex_client = client_for(fake, globex.secret_key)
    globex_client.v1.webhook_endpoints.create({"url": "https://g.example", "enabled_events": ["*"]})
    client_for(fake, acme.live_secret_key).v1.webhook_endpoints.create(
        {"url": "https://bot.example/live", "enabled_events": ["*"]}
    )
    client.v1.webhook_endpoints.delete(made[0].id)
    client.v1.webhook_endpoints.create({"url": "https://bot.example/hook/again", "enabled_events": ["*"]})


def test_events_go_to_their_accounts_endpoints_signed_with_each_endpoints_secret(
    fake: FakeStripe, receivers: list[Receiver]
) -> None:
    to_acme, to_globex, to_default = receivers
    fake.add_webhook_endpoint(to_default.url, "whsec_default_target")  # today's default delivery target
    acme, globex = fake.add_account(name="Acme"), fake.add_account(name="Globex")
    a, b = client_for(fake, acme.secret_key), client_for(fake, globex.secret_key)
    acme_endpoint = a.v1.webhook_endpoints.create({"url": to_acme.url, "enabled_events": ["customer.created"]})
    globex_endpoint = b.v1.webhook_endpoints.create({"url": to_globex.url, "enabled_events": ["*"]})

    customer = make_customer(a)
    a.v1.products.create({"name": "Not subscribed to"})
    fake.flush_webhooks()
    assert to_acme.event_types == ["customer.created"]
    assert to_globex.deliveries == [] and to_default.deliveries == []
    signature, body = to_acme.deliveries[0]
    event = stripe.Webhook.construct_event(body, signature, acme_endpoint.secret)
    assert (event.type, event.data.object.id, event.livemode) == ("customer.created", customer.id, False)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, signature, globex_endpoint.secret)
    assert next(e for e in acme.events() if e["id"] == event.id)["pending_webhooks"] == 0

    (attempt,) = fake.deliveries(acme_endpoint.id)
    assert (attempt.event_id, attempt.url, attempt.succeeded) == (event.id, to_acme.url, True)
    assert stripe.WebhookSignature.verify_header(attempt.payload, attempt.signature, acme_endpoint.secret)

    make_customer(b, "grace@example.com")
    make_customer(client_for(fake, API_KEY), "default@example.com")
    fake.flush_webhooks()
    assert to_acme.event_types == ["customer.created"]  # nothing of Globex's or the default account's
    assert to_globex.event_types == ["customer.created"]
    stripe.Webhook.construct_event(to_globex.deliveries[0][1], to_globex.deliveries[0][0], globex_endpoint.secret)
    assert to_default.event_types == ["customer.created"]
    stripe.Webhook.construct_event(to_default.deliveries[0][1], to_default.deliveries[0][0], "whsec_default_target")
    assert json.loads(to_default.deliveries[0][1])["data"]["object"]["email"] == "default@example.com"


def test_account_side_endpoints_and_live_events(fake: FakeStripe, receivers: list[Receiver]) -> None:
    live_receiver, listener, _ = receivers
    acme = fake.add_account(name="Acme")
    live = client_for(fake, acme.live_secret_key)
    endpoint = live.v1.webhook_endpoints.create({"url": live_receiver.url, "enabled_events": ["*"]})
    acme.add_webhook_endpoint(listener.url, "whsec_listen")  # test mode only, not an API object
    make_customer(live)
    make_customer(client_for(fake, acme.secret_key))
    fake.flush_webhooks()
    (live_delivery,) = live_receiver.deliveries
    assert stripe.Webhook.construct_event(live_delivery[1], live_delivery[0], endpoint.secret).livemode is True
    (test_delivery,) = listener.deliveries
    assert stripe.Webhook.construct_event(test_delivery[1], test_delivery[0], "whsec_listen").livemode is False
    assert client_for(fake, acme.secret_key).v1.webhook_endpoints.list().data == []


def test_deleted_or_disabled_endpoints_get_nothing_more(fake: FakeStripe, receivers: list[Receiver]) -> None:
    deleted_target, disabled_target, kept_target = receivers
    acme = fake.add_account(name="Acme")
    client = client_for(fake, acme.secret_key)
    deleted = client.v1.webhook_endpoints.create({"url": deleted_target.url, "enabled_events": ["*"]})
    disabled = client.v1.webhook_endpoints.create({"url": disabled_target.url, "enabled_events": ["*"]})
    kept = client.v1.webhook_endpoints.create({"url": kept_target.url, "enabled_events": ["*"]})
    make_customer(client)
    fake.flush_webhooks()
    assert [len(r.deliveries) for r in receivers] == [1, 1, 1]

    client.v1.webhook_endpoints.delete(deleted.id)
    client.v1.webhook_endpoints.update(disabled.id, {"disabled": True})
    make_customer(client, "second@example.com")
    fake.flush_webhooks()
    assert [len(r.deliveries) for r in receivers] == [1, 1, 2]

    # Deliveries already queued when an endpoint goes away are dropped too.
    fake.webhooks.pause()
    make_customer(client, "third@example.com")
    client.v1.webhook_endpoints.delete(kept.id)
    fake.webhooks.resume()
    fake.flush_webhooks()
    time.sleep(0.05)
    assert [len(r.deliveries) for r in receivers] == [1, 1, 2]
    assert len(fake.deliveries(deleted.id)) == 1 and len(fake.deliveries(kept.id)) == 2


def test_accounts_are_listed_and_found(fake: FakeStripe) -> None:
    acme = fake.add_account(name="Acme", id="acct_1AcmeTestAccount")
    assert isinstance(acme, Account) and acme.id == "acct_1AcmeTestAccount"
    assert fake.account(acme.id) is acme and fake.accounts == [fake.default_account, acme]
    with pytest.raises(ValueError):
        fake.add_account(name="Again", id=acme.id)
    assert acme.email == "owner@acme.example"

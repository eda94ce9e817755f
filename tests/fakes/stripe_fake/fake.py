"""The public face of the fake: :class:`FakeStripe`."""

from __future__ import annotations

import copy
import random
from typing import Any

import stripe

from . import invoicing, subscriptions
from .accounts import INSPECTABLE_KINDS, Account, Accounts, is_live_key
from .api import ApiCore, RecordedRequest
from .faults import Fault, FaultInjector
from .server import HttpServer
from .state import SYSTEM, AccountProfile, State
from .webhook_endpoints import subscribed
from .webhooks import DeliveryAttempt, WebhookDispatcher, WebhookEndpoint


class FakeStripe:
    """A stateful fake of Stripe's v1 billing API, served over HTTP for the real ``stripe`` SDK.

    >>> with FakeStripe(api_key="sk_test_fake") as fake:
    ...     client = stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url})
    """

    def __init__(
        self,
        api_key: str = "sk_test_fake",
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        seed: int | None = None,
        api_version: str | None = None,
    ) -> None:
        """``seed`` makes ids, invoice numbers and shuffled delivery order reproducible;
        ``api_version`` is what events report (default: the installed SDK's version)."""
        self.api_key = api_key
        self.host = host
        self.port = port
        rng = random.Random(seed)
        version = api_version or stripe.api_version
        self._state = State(
            api_version=version,
            seed=rng.randrange(2**32),
            profile=AccountProfile(),
            livemode=is_live_key(api_key),
        )
        self._faults = FaultInjector()
        self.webhooks = WebhookDispatcher(random.Random(rng.randrange(2**32)))
        self.webhooks.on_delivered = self._mark_delivered
        self.webhooks.is_wanted = self._endpoint_wanted
        self._accounts = Accounts(
            lock=self._state.lock,
            api_version=version,
            rng=random.Random(rng.randrange(2**32)),
            webhooks=self.webhooks,
            default_state=self._state,
            default_key=api_key,
            on_new_state=self._listen,
        )
        self._listen(self._accounts.default, self._state.livemode, self._state)
        self._api = ApiCore(self._state, self._accounts, self._faults)
        self._delivered: set[tuple[str, str]] = set()
        self._http: HttpServer | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> FakeStripe:
        if self._http is None:
            self._http = HttpServer(self._api, self.host, self.port)
            self._http.start()
            self.webhooks.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None
        self.webhooks.stop()

    def __enter__(self) -> FakeStripe:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._http is None:
            raise RuntimeError("FakeStripe is not started")
        host, port = self._http.address
        return f"http://{host}:{port}"

    def reset(self) -> None:
        """Drop all state: objects, events, recorded requests, idempotency keys, faults, webhook
        endpoints, queued deliveries and switches, every added account (and its keys), and the
        default account's extra keys. The server keeps running on the same URL."""
        with self._state.lock:
            self._state.clear()
            self._accounts.reset()
            self._api.clear()
            self._faults.clear()
            self.webhooks.reset()
            self._delivered.clear()

    # -- accounts --------------------------------------------------------------------------------

    def add_account(
        self,
        name: str = "Acme Ltd",
        *,
        email: str | None = None,
        country: str = "US",
        default_currency: str = "usd",
        charges_enabled: bool = True,
        id: str | None = None,
    ) -> Account:
        """A new Stripe account with its own keys (``account.secret_key``, ``account.live_secret_key``,
        ``account.restricted_key([...])``) and its own data: no key sees another account's objects.
        ``name`` is what ``GET /v1/account`` shows as ``settings.dashboard.display_name`` and
        ``business_profile.name``. Accounts live until :meth:`reset`."""
        return self._accounts.add(
            name,
            email=email,
            country=country,
            default_currency=default_currency,
            charges_enabled=charges_enabled,
            account_id=id,
        )

    @property
    def default_account(self) -> Account:
        """The account of ``api_key``: what every request with that key acts on."""
        return self._accounts.default

    @property
    def accounts(self) -> list[Account]:
        """Every account, the default one first."""
        return self._accounts.all()

    def account(self, account_id: str) -> Account:
        return self._accounts.get(account_id)

    # -- webhooks --------------------------------------------------------------------------------

    def add_webhook_endpoint(self, url: str, secret: str) -> None:
        """Deliver every event of the default account emitted from now on to ``url``, signed with
        ``secret`` (for other accounts: ``account.add_webhook_endpoint``)."""
        self.webhooks.add_endpoint(url, secret)

    def flush_webhooks(self, timeout: float = 10.0) -> None:
        """Block until every queued delivery has been attempted (delivered, or retries exhausted)."""
        self.webhooks.flush(timeout)

    def deliveries(self, endpoint_id: str) -> list[DeliveryAttempt]:
        """Every delivery attempt to the API-created endpoint ``endpoint_id`` (``we_...``), oldest
        first; each has the ``payload`` and ``signature`` sent. Call :meth:`flush_webhooks` first."""
        return [attempt for attempt in list(self.webhooks.attempts) if attempt.endpoint_id == endpoint_id]

    def _listen(self, account: Account, livemode: bool, state: State) -> None:
        """Route the events of one account's data in one mode to its endpoints."""
        scope = self._accounts.scope(account, livemode)

        def dispatch(event: dict[str, Any]) -> None:  # called under the state lock, as events are emitted
            endpoints = self.webhooks.endpoints_for(scope)
            for endpoint in state.all("webhook_endpoint"):
                if endpoint["status"] == "enabled" and subscribed(endpoint["enabled_events"], event["type"]):
                    secret = state.webhook_endpoint_secrets[endpoint["id"]]
                    endpoints.append(WebhookEndpoint(endpoint["url"], secret, endpoint["id"]))
            self.webhooks.enqueue(event, endpoints)

        state.event_listeners[:] = [dispatch]

    def _endpoint_wanted(self, endpoint: WebhookEndpoint) -> bool:
        """Still deliver to this API-created endpoint? Not once it is deleted or disabled."""
        with self._state.lock:
            for _, _, state in self._accounts.states():
                found = state.find(endpoint.id or "", "webhook_endpoint")
                if found is not None:
                    return bool(found["status"] == "enabled")
            return False

    def _mark_delivered(self, event_id: str, endpoint: WebhookEndpoint) -> None:
        with self._state.lock:
            key = (event_id, endpoint.id or endpoint.url)
            event = self._find_event(event_id)
            if event is not None and key not in self._delivered:
                self._delivered.add(key)
                event["pending_webhooks"] = max(event["pending_webhooks"] - 1, 0)

    def _find_event(self, event_id: str) -> dict[str, Any] | None:
        for _, _, state in self._accounts.states():
            event = state.event(event_id)
            if event is not None:
                return event
        return None

    def _state_of(self, object_id: str, kind: str) -> State:
        """The State holding ``object_id`` (any account, any mode); the default one if none does."""
        for _, _, state in self._accounts.states():
            if state.find(object_id, kind) is not None:
                return state
        return self._state

    # -- faults ----------------------------------------------------------------------------------

    def inject(
        self,
        method: str | None = None,
        path_prefix: str = "/",
        latency: float = 0.0,
        status: int | None = None,
        count: int | None = None,
    ) -> Fault:
        """Slow down and/or fail requests whose method (None: any) and path prefix match.

        ``latency`` holds the response that many seconds; without ``status`` the request is still
        executed first (a client that times out and retries with its idempotency key gets the
        replay). ``status`` (e.g. 500, 503, 429, 409) answers a Stripe-shaped error instead of
        executing. ``count`` limits the rule to that many requests (None: forever). Returns the
        rule; its ``hits`` counts the requests it affected.
        """
        return self._faults.add(Fault(method.upper() if method else None, path_prefix, latency, status, count))

    def clear_faults(self) -> None:
        self._faults.clear()

    # -- test helpers: Stripe-side happenings ------------------------------------------------------

    def pay_invoice(self, invoice_id: str, out_of_band: bool = False) -> dict[str, Any]:
        """The customer pays an open (or uncollectible) invoice: status ``paid``; emits
        ``invoice.paid`` and, unless ``out_of_band``, ``payment_intent.succeeded`` and
        ``invoice.payment_succeeded``; then ``invoice.updated``."""
        with self._state.lock:
            state = self._state_of(invoice_id, "invoice")
            invoice = state.require("invoice", invoice_id, in_path=True)
            invoicing.mark_paid(state, SYSTEM, invoice, out_of_band=out_of_band)
            return state.render(invoice)

    def fail_payment(self, invoice_id: str, decline_code: str = "card_declined") -> dict[str, Any]:
        """A payment attempt on an open invoice is declined: it stays ``open``, ``attempt_count``
        +1, its PaymentIntent gets ``last_payment_error``; emits ``payment_intent.payment_failed``,
        ``invoice.payment_failed`` and ``invoice.updated``."""
        with self._state.lock:
            state = self._state_of(invoice_id, "invoice")
            invoice = state.require("invoice", invoice_id, in_path=True)
            invoicing.payment_failure(state, SYSTEM, invoice, decline_code)
            return state.render(invoice)

    def start_processing(self, invoice_id: str) -> dict[str, Any]:
        """The invoice's PaymentIntent starts processing (e.g. a bank debit): emits
        ``payment_intent.processing``. Returns the PaymentIntent; find its invoice with
        ``client.v1.invoice_payments.list({"payment": {"type": "payment_intent", "payment_intent": pi}})``."""
        with self._state.lock:
            state = self._state_of(invoice_id, "invoice")
            invoice = state.require("invoice", invoice_id, in_path=True)
            return state.render(invoicing.start_processing(state, SYSTEM, invoice))

    def make_overdue(self, invoice_id: str) -> dict[str, Any]:
        """Move an open invoice's ``due_date`` into the past and emit ``invoice.overdue``."""
        with self._state.lock:
            state = self._state_of(invoice_id, "invoice")
            invoice = state.require("invoice", invoice_id, in_path=True)
            invoicing.make_overdue(state, SYSTEM, invoice)
            return state.render(invoice)

    def advance_subscription(self, subscription_id: str, *, finalize: bool = True) -> dict[str, Any] | None:
        """The subscription's current period ends (see :mod:`.subscriptions`): the next period's invoice is made
        (``invoice.created``, ``customer.subscription.updated``; then, unless ``finalize`` is False,
        ``invoice.finalized``, ``invoice.updated`` and ``invoice.sent``) and returned; a subscription set to
        cancel at the period's end ends instead (``customer.subscription.deleted``) and None is returned."""
        with self._state.lock:
            state = self._state_of(subscription_id, "subscription")
            subscription = state.require("subscription", subscription_id, in_path=True)
            invoice = subscriptions.cycle(state, SYSTEM, subscription, finalize=finalize)
            return state.render(invoice) if invoice is not None else None

    cycle = advance_subscription

    def finalize_draft(self, invoice_id: str) -> dict[str, Any]:
        """Stripe's own finalization of an auto-advancing draft (a subscription's, about an hour after it was
        made): ``invoice.finalized``, ``invoice.updated``, then ``invoice.sent`` for ``send_invoice``."""
        with self._state.lock:
            state = self._state_of(invoice_id, "invoice")
            invoice = state.require("invoice", invoice_id, in_path=True)
            subscriptions.finalize_and_send(state, SYSTEM, invoice)
            return state.render(invoice)

    def set_stripe_tax(self, active: bool = True) -> None:
        """Stripe Tax on (or off) for the default account's data (see :mod:`.tax_and_discounts`): without it,
        ``automatic_tax[enabled]=true`` is refused. ``reset()`` turns it off again."""
        with self._state.lock:
            self._state.stripe_tax_active = active

    # -- inspection ------------------------------------------------------------------------------

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Current state of every live object of ``kind`` of the default account (in the mode of
        ``api_key``), in creation order; other accounts: ``account.objects(kind)``."""
        if kind not in INSPECTABLE_KINDS:
            raise ValueError(f"kind must be one of {INSPECTABLE_KINDS}, not {kind!r}")
        with self._state.lock:
            if kind == "event":
                return copy.deepcopy(self._state.events)
            return [self._state.render(obj) for obj in self._state.all(kind)]

    def get(self, object_id: str) -> dict[str, Any]:
        """Any object by id (including events, invoice lines and deleted tombstones), of any
        account and mode. Webhook endpoints come without their secret."""
        with self._state.lock:
            for _, _, state in self._accounts.states():
                found = state.render_id(object_id)
                if found is not None:
                    return found
        raise KeyError(object_id)

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in the order they were handled (injected latency comes after)."""
        return self._api.requests

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event emitted, oldest first."""
        return self.objects("event")

"""The public face of the fake: :class:`FakeStripe`."""

from __future__ import annotations

import copy
import random
from typing import Any

import stripe

from . import invoicing
from .api import ApiCore, RecordedRequest
from .faults import Fault, FaultInjector
from .server import HttpServer
from .state import KINDS, SYSTEM, State
from .webhooks import WebhookDispatcher, WebhookEndpoint

INSPECTABLE_KINDS = (*KINDS, "event")


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
        self._state = State(api_version=api_version or stripe.api_version, seed=rng.randrange(2**32))
        self._faults = FaultInjector()
        self._api = ApiCore(self._state, api_key, self._faults)
        self.webhooks = WebhookDispatcher(random.Random(rng.randrange(2**32)))
        self.webhooks.on_delivered = self._mark_delivered
        self._state.event_listeners.append(self.webhooks.enqueue)
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
        endpoints, queued deliveries and switches. The server keeps running on the same URL."""
        with self._state.lock:
            self._state.clear()
            self._api.clear()
            self._faults.clear()
            self.webhooks.reset()
            self._delivered.clear()

    # -- webhooks --------------------------------------------------------------------------------

    def add_webhook_endpoint(self, url: str, secret: str) -> None:
        """Deliver every event emitted from now on to ``url``, signed with ``secret``."""
        self.webhooks.add_endpoint(url, secret)

    def flush_webhooks(self, timeout: float = 10.0) -> None:
        """Block until every queued delivery has been attempted (delivered, or retries exhausted)."""
        self.webhooks.flush(timeout)

    def _mark_delivered(self, event_id: str, endpoint: WebhookEndpoint) -> None:
        with self._state.lock:
            key = (event_id, endpoint.url)
            event = self._state.event(event_id)
            if event is not None and key not in self._delivered:
                self._delivered.add(key)
                event["pending_webhooks"] = max(event["pending_webhooks"] - 1, 0)

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
            invoice = self._state.require("invoice", invoice_id, in_path=True)
            invoicing.mark_paid(self._state, SYSTEM, invoice, out_of_band=out_of_band)
            return self._state.render(invoice)

    def fail_payment(self, invoice_id: str, decline_code: str = "card_declined") -> dict[str, Any]:
        """A payment attempt on an open invoice is declined: it stays ``open``, ``attempt_count``
        +1, its PaymentIntent gets ``last_payment_error``; emits ``payment_intent.payment_failed``,
        ``invoice.payment_failed`` and ``invoice.updated``."""
        with self._state.lock:
            invoice = self._state.require("invoice", invoice_id, in_path=True)
            invoicing.payment_failure(self._state, SYSTEM, invoice, decline_code)
            return self._state.render(invoice)

    def start_processing(self, invoice_id: str) -> dict[str, Any]:
        """The invoice's PaymentIntent starts processing (e.g. a bank debit): emits
        ``payment_intent.processing``. Returns the PaymentIntent; find its invoice with
        ``client.v1.invoice_payments.list({"payment": {"type": "payment_intent", "payment_intent": pi}})``."""
        with self._state.lock:
            invoice = self._state.require("invoice", invoice_id, in_path=True)
            return self._state.render(invoicing.start_processing(self._state, SYSTEM, invoice))

    def make_overdue(self, invoice_id: str) -> dict[str, Any]:
        """Move an open invoice's ``due_date`` into the past and emit ``invoice.overdue``."""
        with self._state.lock:
            invoice = self._state.require("invoice", invoice_id, in_path=True)
            invoicing.make_overdue(self._state, SYSTEM, invoice)
            return self._state.render(invoice)

    # -- inspection ------------------------------------------------------------------------------

    def objects(self, kind: str) -> list[dict[str, Any]]:
        """Current state of every live object of ``kind``, in creation order."""
        if kind not in INSPECTABLE_KINDS:
            raise ValueError(f"kind must be one of {INSPECTABLE_KINDS}, not {kind!r}")
        with self._state.lock:
            if kind == "event":
                return copy.deepcopy(self._state.events)
            return [self._state.render(obj) for obj in self._state.all(kind)]

    def get(self, object_id: str) -> dict[str, Any]:
        """Any object by id (including events, invoice lines and deleted tombstones)."""
        with self._state.lock:
            found = self._state.render_id(object_id)
        if found is None:
            raise KeyError(object_id)
        return found

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received, in the order they were handled (injected latency comes after)."""
        return self._api.requests

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event emitted, oldest first."""
        return self.objects("event")

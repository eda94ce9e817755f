"""One account's data in one mode (test or live): objects, invoice lines, events, ids and numbering.

Every account has a :class:`State` per mode it was used in; they all share one re-entrant lock,
which the HTTP layer holds for the whole of a request's execution (validation, business rules,
events), so each request is atomic like Stripe's. Objects are stored in their API shape, except
that an invoice's ``lines`` are kept apart and embedded when the invoice is rendered.
"""

from __future__ import annotations

import copy
import random
import string
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .errors import no_such
from .fixtures import from_template

ID_ALPHABET = string.ascii_letters + string.digits
EMBEDDED_LINES_LIMIT = 10  # Stripe embeds the first 10 lines in an invoice; the rest via /lines

# Object kinds the fake stores, keyed by the "object" value Stripe uses.
KINDS = ("customer", "product", "price", "invoice", "invoiceitem", "payment_intent", "invoice_payment")

DEFAULT_ACCOUNT_ID = "acct_1FakeStripeTestAcct"
DEFAULT_ACCOUNT_NAME = "FakeStripe Test Account"


@dataclass
class AccountProfile:
    """What an account says about itself (``GET /v1/account``, invoices' ``account_name``...)."""

    id: str = DEFAULT_ACCOUNT_ID
    name: str = DEFAULT_ACCOUNT_NAME
    email: str | None = "owner@fakestripe.example"
    country: str = "US"
    default_currency: str = "usd"
    charges_enabled: bool = True
    created: int = field(default_factory=lambda: int(time.time()))


@dataclass(frozen=True)
class RequestContext:
    """What an event's ``request`` field reports: the API request that caused it, if any."""

    request_id: str | None = None
    idempotency_key: str | None = None


SYSTEM = RequestContext()  # events caused by Stripe itself (test helpers: payments, overdue...)


@dataclass
class InvoicePrivate:
    """Invoice facts Stripe keeps but the object (in this API version) does not show."""

    days_until_due: int | None = None
    payment_intent: str | None = None
    invoice_payment: str | None = None


class State:
    def __init__(
        self,
        *,
        api_version: str,
        seed: int | None = None,
        lock: threading.RLock | None = None,
        profile: AccountProfile | None = None,
        livemode: bool = False,
    ) -> None:
        """``lock``: shared by every State of a fake (one is made if None); ``livemode``: the mode
        of the keys this data belongs to (stamped on every object and event)."""
        self.lock = lock if lock is not None else threading.RLock()
        self.api_version = api_version
        self.rng = random.Random(seed)
        self.profile = profile or AccountProfile()
        self.livemode = livemode
        self.event_listeners: list[Callable[[dict[str, Any]], None]] = []
        self.clear()

    def clear(self) -> None:
        with self.lock:
            self._objects: dict[str, dict[str, Any]] = {}  # insertion order == creation order
            self._deleted: dict[str, dict[str, Any]] = {}
            self.invoice_lines: dict[str, list[dict[str, Any]]] = {}
            self.invoice_private: dict[str, InvoicePrivate] = {}
            self.events: list[dict[str, Any]] = []
            self._event_index: dict[str, dict[str, Any]] = {}
            self.webhook_endpoint_secrets: dict[str, str] = {}  # never rendered: shown once, on create
            # Tax and discounts (tax_and_discounts.py): Stripe Tax switched on for this account and mode
            # (``FakeStripe.set_stripe_tax``), and each discount's coupon terms as redeemed.
            self.stripe_tax_active = False
            self.discount_coupons: dict[str, dict[str, Any]] = {}
            self.invoice_number_prefix = "".join(self.rng.choices(string.ascii_uppercase + string.digits, k=8))
            self.next_invoice_sequence = 1

    @property
    def account_id(self) -> str:
        return self.profile.id

    # -- ids and time --------------------------------------------------------------------------

    def new_id(self, prefix: str, length: int = 24) -> str:
        return f"{prefix}_{''.join(self.rng.choices(ID_ALPHABET, k=length))}"

    def random_token(self, length: int = 24) -> str:
        return "".join(self.rng.choices(ID_ALPHABET, k=length))

    @staticmethod
    def now() -> int:
        return int(time.time())

    def next_invoice_number(self) -> str:
        number = f"{self.invoice_number_prefix}-{self.next_invoice_sequence:04d}"
        self.next_invoice_sequence += 1
        return number

    # -- objects --------------------------------------------------------------------------------

    def add(self, obj: dict[str, Any]) -> dict[str, Any]:
        self._objects[obj["id"]] = obj
        if obj["object"] == "invoice":
            self.invoice_lines[obj["id"]] = []
            self.invoice_private[obj["id"]] = InvoicePrivate()
        return obj

    def find(self, object_id: str, kind: str | None = None) -> dict[str, Any] | None:
        obj = self._objects.get(object_id)
        if obj is None or (kind is not None and obj["object"] != kind):
            return None
        return obj

    def require(self, kind: str, object_id: str, param: str | None = None, *, in_path: bool = False) -> dict[str, Any]:
        """The stored object, or Stripe's "No such <kind>" error."""
        obj = self.find(object_id, kind)
        if obj is None:
            raise no_such(kind, object_id, param, in_path=in_path)
        return obj

    def delete(self, object_id: str) -> dict[str, Any]:
        obj = self._objects.pop(object_id)
        stub = {"id": object_id, "object": obj["object"], "deleted": True}
        self._deleted[object_id] = stub
        if obj["object"] == "invoice":
            self.invoice_lines.pop(object_id, None)
            self.invoice_private.pop(object_id, None)
        return stub

    def deleted_stub(self, object_id: str) -> dict[str, Any] | None:
        stub = self._deleted.get(object_id)
        return dict(stub) if stub else None

    def all(self, kind: str) -> list[dict[str, Any]]:
        """Live objects of ``kind`` in creation order (stored dicts, not copies)."""
        return [obj for obj in self._objects.values() if obj["object"] == kind]

    def find_line(self, line_id: str) -> dict[str, Any] | None:
        for lines in self.invoice_lines.values():
            for line in lines:
                if line["id"] == line_id:
                    return line
        return None

    # -- rendering ------------------------------------------------------------------------------

    def render(self, obj: dict[str, Any]) -> dict[str, Any]:
        """The API representation: a deep copy, with an invoice's first lines embedded."""
        rendered = copy.deepcopy(obj)
        if rendered.get("object") == "invoice" and rendered["id"] in self.invoice_lines:
            lines = self.invoice_lines[rendered["id"]]
            rendered["lines"] = {
                "object": "list",
                "data": copy.deepcopy(lines[:EMBEDDED_LINES_LIMIT]),
                "has_more": len(lines) > EMBEDDED_LINES_LIMIT,
                "total_count": len(lines),
                "url": f"/v1/invoices/{rendered['id']}/lines",
            }
        return rendered

    def render_id(self, object_id: str) -> dict[str, Any] | None:
        """Render a stored object, a deleted stub, or an event by id (for expansion and inspection)."""
        obj = self._objects.get(object_id)
        if obj is not None:
            return self.render(obj)
        if object_id in self._event_index:
            return copy.deepcopy(self._event_index[object_id])
        line = self.find_line(object_id)
        if line is not None:
            return copy.deepcopy(line)
        return self.deleted_stub(object_id)

    # -- events ---------------------------------------------------------------------------------

    def emit(
        self,
        event_type: str,
        obj: dict[str, Any],
        ctx: RequestContext,
        previous_attributes: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Record an event and hand it to the listeners (the webhook dispatcher sets its
        ``pending_webhooks`` to the number of endpoints it will deliver to)."""
        data: dict[str, Any] = {"object": self.render(obj)}
        if previous_attributes:
            data["previous_attributes"] = copy.deepcopy(previous_attributes)
        event = from_template(
            "event",
            id=self.new_id("evt"),
            object="event",
            api_version=self.api_version,
            created=self.now(),
            data=data,
            livemode=self.livemode,
            pending_webhooks=0,
            request={"id": ctx.request_id, "idempotency_key": ctx.idempotency_key},
            type=event_type,
        )
        self.events.append(event)
        self._event_index[event["id"]] = event
        for listener in self.event_listeners:
            listener(event)
        return event

    def event(self, event_id: str) -> dict[str, Any] | None:
        return self._event_index.get(event_id)


def changed_attributes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Top-level keys whose value changed, with their old values (an event's previous_attributes)."""
    return {key: before.get(key) for key in after if before.get(key) != after.get(key)}

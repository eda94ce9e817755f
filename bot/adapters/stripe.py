"""The only module that talks to Stripe.

Wraps `stripe.StripeClient` (`client.v1.*`), passes the caller's idempotency key on every
write, returns plain dicts, and turns Stripe's exceptions into `StripeFailure` (an
`ExternalFailure`) with a message a sales rep can read and whether trying again later can help.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import stripe

from bot.domain.invoices import MAX_INVOICE_LINES
from bot.errors import Defer, ExternalFailure
from bot.metrics import Metrics

# Bulk line additions go out in batches of this size: large enough that a 250-line invoice
# takes a handful of calls, small enough to stay well inside Stripe's request limits.
ADD_LINES_BATCH = 50


class StripeFailure(ExternalFailure):
    """A Stripe call failed. `retryable` says whether the same call may succeed later."""

    def __init__(self, message: str, *, retryable: bool, code: str | None = None, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, retryable=retryable, retry_after=retry_after, code=code)
        self.status = status


@dataclass(frozen=True)
class LineItem:
    """One invoice line: either a catalog price, or a description with an amount in minor units."""

    quantity: int
    price_id: str | None = None
    description: str | None = None
    unit_amount: int | None = None


@dataclass(frozen=True)
class RecurringItem:
    """One line of a recurring invoice: a recurring catalog price, or a product of its own with an amount in
    minor units (each period's)."""

    quantity: int
    price_id: str | None = None
    product_id: str | None = None
    unit_amount: int | None = None


@dataclass(frozen=True)
class InvoiceExtras:
    """Tax, a discount and more on a new invoice (bot/domain/invoice_extras.py): the account's tax rates
    (`default_tax_rates`) or Stripe Tax (`automatic_tax`), one coupon or promotion code (`discount`: kind and
    id), custom fields (name, value) and a footer."""

    tax_rate_ids: tuple[str, ...] = ()
    automatic_tax: bool = False
    discount: tuple[str, str] | None = None  # ("coupon", id) or ("promotion_code", promo_ id)
    custom_fields: tuple[tuple[str, str], ...] = ()
    footer: str | None = None

    def params(self) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if self.tax_rate_ids:
            params["default_tax_rates"] = list(self.tax_rate_ids)
        if self.automatic_tax:
            params["automatic_tax"] = {"enabled": True}
        if self.discount is not None:
            kind, stripe_id = self.discount
            params["discounts"] = [{kind: stripe_id}]
        if self.custom_fields:
            params["custom_fields"] = [{"name": name, "value": value} for name, value in self.custom_fields]
        if self.footer:
            params["footer"] = self.footer
        return params


def _to_dict(obj: Any) -> dict[str, Any]:
    return obj.to_dict() if hasattr(obj, "to_dict") else dict(obj)


def _failure_from(error: stripe.StripeError) -> StripeFailure:
    status = error.http_status
    code = getattr(error, "code", None)
    message = error.user_message or _error_message(error)
    if isinstance(error, stripe.APIConnectionError):
        return StripeFailure("Stripe could not be reached", retryable=True, code="connection", status=status)
    if isinstance(error, stripe.RateLimitError):
        return StripeFailure("Stripe is rate limiting us", retryable=True, code=code or "rate_limit", status=status)
    if isinstance(error, stripe.AuthenticationError | stripe.PermissionError):
        return StripeFailure(
            "Stripe refused the bot's API key; an admin must check STRIPE_API_KEY", retryable=False, code=code,
            status=status,
        )
    if status is not None and status >= 500:
        return StripeFailure(f"Stripe had an internal error ({status})", retryable=True, code=code, status=status)
    return StripeFailure(message, retryable=False, code=code, status=status)


def _error_message(error: stripe.StripeError) -> str:
    body = error.json_body or {}
    detail = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
    return str(detail or error.user_message or "Stripe refused the request")


# An id no object has: updating it proves a write permission without writing (see `prove_permissions`).
PROBE_ID = "invoicebot_permission_probe"
KEY_NOT_RECOGNISED = "Stripe doesn't recognise this key (revoked or mistyped)"
_PERMISSION_NAMED = re.compile(r"\b(rak_[a-z0-9_]+)\b")
_ACCOUNT_NAMED = re.compile(r"\b(acct_[A-Za-z0-9]+)\b")


@dataclass(frozen=True)
class StripeAccount:
    id: str  # empty when Stripe named none
    name: str  # empty when the key may not read it, or the account has none


class KeyRefused(StripeFailure):
    """Stripe refused a key (401: unknown or revoked; 403: a permission missing, named in
    `missing_permission` when Stripe's message names it). `account_id`: the account a 403 names."""

    def __init__(self, message: str, *, status: int, missing_permission: str | None = None,
                 account_id: str | None = None) -> None:
        super().__init__(message, retryable=False, code="key_refused", status=status)
        self.missing_permission = missing_permission
        self.account_id = account_id


def _key_refused(error: stripe.StripeError) -> KeyRefused:
    if isinstance(error, stripe.AuthenticationError):
        return KeyRefused(KEY_NOT_RECOGNISED, status=401)
    # Stripe's 403 reads "... does not have the required permissions for this endpoint on account
    # 'acct_...'. Having the 'rak_invoice_write' permission would allow this request to continue."
    detail = _error_message(error)
    permission = _PERMISSION_NAMED.search(detail)
    account = _ACCOUNT_NAMED.search(detail)
    named = permission.group(1) if permission else None
    message = (f"This key lacks the {named} permission" if named
               else "Stripe refused this key a call it needs (a permission is missing)")
    return KeyRefused(message, status=403, missing_permission=named, account_id=account.group(1) if account else None)


NOT_CONNECTED = ("This workspace hasn't connected a Stripe account yet: an invoicing admin connects one from "
                 "invoicebot's App Home")
# While a workspace's key is refused, its Stripe work waits this long between looks (not an attempt).
KEY_REFUSED_PAUSE_SECONDS = 60.0


class StripeGateway:
    """One Stripe account's API, through one key. `api_key=""`: no account connected (every call says so).
    With `on_key_refused` (a workspace's own account), a 401 pauses the work instead of failing it: the
    callback tells the workspace's admins once, and each job waits until an admin reconnects.

    `changed` (a workspace's own account): True when its connection is no longer the one this gateway
    was built with. An admin connects on our web page, in whichever process serves it, while a worker
    process holds the gateway it built before: not connected, or paused. Asked only then, it turns a
    refusal into a run again at once with the workspace built anew."""

    def __init__(self, api_key: str, api_base: str = "https://api.stripe.com", *, timeout: float = 30.0,
                 max_network_retries: int = 1, metrics: Metrics | None = None,
                 on_key_refused: Callable[[], None] | None = None, paused: bool = False,
                 changed: Callable[[], bool] | None = None) -> None:
        self.metrics = metrics or Metrics()
        self.connected = bool(api_key)
        self._on_key_refused = on_key_refused
        self._paused = paused
        self._changed = changed
        self._api_base = api_base
        self._timeout = timeout
        self._max_network_retries = max_network_retries
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            http_client=stripe.RequestsClient(timeout=timeout),
            max_network_retries=max_network_retries,
        )

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        if (not self.connected or self._paused) and self._changed is not None and self._changed():
            raise Defer("the workspace's Stripe connection changed: running again with it", 0.0)
        if not self.connected:
            raise StripeFailure(NOT_CONNECTED, retryable=False, code="stripe_not_connected")
        if self._paused:
            raise Defer("Stripe refused this workspace's key: waiting for an admin to reconnect",
                        KEY_REFUSED_PAUSE_SECONDS)
        try:
            result = _to_dict(fn(*args, **kwargs))
        except stripe.StripeError as error:
            self.metrics.stripe_call(_operation(fn), type(error).__name__)
            if isinstance(error, stripe.AuthenticationError) and self._on_key_refused is not None:
                self._paused = True
                self._on_key_refused()
                raise Defer("Stripe refused this workspace's key: waiting for an admin to reconnect",
                            KEY_REFUSED_PAUSE_SECONDS) from None
            raise _failure_from(error) from None
        self.metrics.stripe_call(_operation(fn), "ok")
        return result

    @staticmethod
    def _options(idempotency_key: str | None) -> dict[str, Any]:
        return {"idempotency_key": idempotency_key} if idempotency_key else {}

    # --- a workspace's own account: checking a key, its webhook endpoint -------------------------
    def with_key(self, api_key: str) -> StripeGateway:
        """The same Stripe, through another key (one an admin is connecting, or a stored one to clean up
        with): no pause, no callback, and its own counters, since a mistyped key is the admin's typo and
        not the deployment's key trouble the `AuthenticationError` alert is about."""
        return StripeGateway(api_key, self._api_base, timeout=self._timeout,
                             max_network_retries=self._max_network_retries)

    def prove_permissions(self) -> None:
        """Raise `KeyRefused` unless this key may do what the bot does (the webhook endpoint aside:
        creating it proves that one). A write is proven by updating an object that does not exist:
        Stripe checks the permission first (403), then answers 404, and nothing changes."""
        for update in (self._client.v1.customers.update, self._client.v1.products.update,
                       self._client.v1.prices.update, self._client.v1.invoices.update):
            try:
                self._key_call(update, PROBE_ID)
            except KeyRefused:
                raise
            except StripeFailure as failure:
                if failure.status not in (400, 404):
                    raise
        for listing in (self._client.v1.payment_intents.list, self._client.v1.events.list):
            self._key_call(listing, params={"limit": 1})

    def own_account(self) -> StripeAccount:
        """The key's account: its id and name when the key may read it (`rak_accounts_kyc_basic_read`),
        else the id Stripe names in its refusal and no name."""
        try:
            account = self._key_call(self._client.v1.accounts.retrieve_current)
        except KeyRefused as refused:
            if refused.status != 403:
                raise
            return StripeAccount(refused.account_id or "", "")
        profile = account.get("business_profile") or {}
        dashboard = (account.get("settings") or {}).get("dashboard") or {}
        return StripeAccount(str(account.get("id") or ""), str(profile.get("name") or dashboard.get("display_name")
                                                                or ""))

    def create_webhook_endpoint(self, *, url: str, enabled_events: list[str], description: str,
                                idempotency_key: str) -> dict[str, Any]:
        """The endpoint, with its signing `secret`: Stripe shows that secret in this answer only."""
        return self._key_call(self._client.v1.webhook_endpoints.create,
                              params={"url": url, "enabled_events": enabled_events, "description": description},
                              options=self._options(idempotency_key))

    def delete_webhook_endpoint(self, endpoint_id: str) -> None:
        """Gone already (404) is as good as deleted."""
        try:
            self._key_call(self._client.v1.webhook_endpoints.delete, endpoint_id)
        except KeyRefused:
            raise
        except StripeFailure as failure:
            if failure.status != 404:
                raise

    def _key_call(self, fn: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """A call whose 401 or 403 is about the key itself: `KeyRefused`, worded for the admin pasting it."""
        try:
            result = _to_dict(fn(*args, **kwargs))
        except (stripe.AuthenticationError, stripe.PermissionError) as error:
            self.metrics.stripe_call(_operation(fn), type(error).__name__)
            raise _key_refused(error) from None
        except stripe.StripeError as error:
            self.metrics.stripe_call(_operation(fn), type(error).__name__)
            raise _failure_from(error) from None
        self.metrics.stripe_call(_operation(fn), "ok")
        return result

    # --- customers ---------------------------------------------------------------------------
    def find_customer_by_email(self, email: str) -> dict[str, Any] | None:
        found = self._call(self._client.v1.customers.list, params={"email": email, "limit": 1})
        data = found.get("data") or []
        return data[0] if data else None

    def create_customer(self, *, name: str, email: str, description: str, metadata: dict[str, str],
                        idempotency_key: str) -> dict[str, Any]:
        return self._call(
            self._client.v1.customers.create,
            params={"name": name, "email": email, "description": description, "metadata": metadata},
            options=self._options(idempotency_key),
        )

    def get_customer(self, customer_id: str) -> dict[str, Any]:
        return self._call(self._client.v1.customers.retrieve, customer_id)

    def iter_customers(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        yield from self._iterate(self._client.v1.customers.list, {"limit": page_size})

    # --- catalog -----------------------------------------------------------------------------
    def create_product(self, *, name: str, idempotency_key: str) -> dict[str, Any]:
        return self._call(self._client.v1.products.create, params={"name": name},
                          options=self._options(idempotency_key))

    def create_price(self, *, product_id: str, unit_amount: int, currency: str,
                     idempotency_key: str) -> dict[str, Any]:
        return self._call(
            self._client.v1.prices.create,
            params={"product": product_id, "unit_amount": unit_amount, "currency": currency},
            options=self._options(idempotency_key),
        )

    def create_product_with_price(self, *, name: str, unit_amount: int, currency: str,
                                  idempotency_key: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The guide's first two steps: a product, then its price."""
        product = self.create_product(name=name, idempotency_key=f"{idempotency_key}:product")
        price = self.create_price(product_id=product["id"], unit_amount=unit_amount, currency=currency,
                                  idempotency_key=f"{idempotency_key}:price")
        return product, price

    def iter_active_prices(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        yield from self._iterate(
            self._client.v1.prices.list, {"active": True, "limit": page_size, "expand": ["data.product"]}
        )

    # --- invoices ----------------------------------------------------------------------------
    def create_invoice(self, *, customer_id: str, currency: str, days_until_due: int, description: str | None,
                       metadata: dict[str, str], idempotency_key: str,
                       extras: InvoiceExtras | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {
            "customer": customer_id,
            "collection_method": "send_invoice",
            "days_until_due": days_until_due,
            "auto_advance": False,
            "currency": currency,
            "metadata": metadata,
            "pending_invoice_items_behavior": "exclude",
        }
        if description:
            params["description"] = description
        if extras is not None:
            params.update(extras.params())
        return self._call(self._client.v1.invoices.create, params=params, options=self._options(idempotency_key))

    def add_lines(self, invoice_id: str, lines: list[LineItem], currency: str,
                  idempotency_key: str) -> dict[str, Any]:
        """Attach every line in as few calls as possible; each batch has its own derived key."""
        if len(lines) > MAX_INVOICE_LINES:
            raise StripeFailure(f"an invoice holds at most {MAX_INVOICE_LINES} lines", retryable=False)
        invoice: dict[str, Any] = {}
        for batch_no, start in enumerate(range(0, len(lines), ADD_LINES_BATCH)):
            batch = [_line_params(line) for line in lines[start : start + ADD_LINES_BATCH]]
            invoice = self._call(
                self._client.v1.invoices.add_lines,
                invoice_id,
                params={"lines": batch},
                options=self._options(f"{idempotency_key}:{batch_no}"),
            )
        return invoice

    def finalize_invoice(self, invoice_id: str, idempotency_key: str) -> dict[str, Any]:
        return self._call(
            self._client.v1.invoices.finalize_invoice, invoice_id, params={"auto_advance": False},
            options=self._options(idempotency_key),
        )

    def send_invoice(self, invoice_id: str, idempotency_key: str) -> dict[str, Any]:
        return self._call(self._client.v1.invoices.send_invoice, invoice_id, options=self._options(idempotency_key))

    def void_invoice(self, invoice_id: str, idempotency_key: str) -> dict[str, Any]:
        return self._call(self._client.v1.invoices.void_invoice, invoice_id, options=self._options(idempotency_key))

    def mark_uncollectible(self, invoice_id: str, idempotency_key: str) -> dict[str, Any]:
        return self._call(
            self._client.v1.invoices.mark_uncollectible, invoice_id, options=self._options(idempotency_key)
        )

    def update_invoice_metadata(self, invoice_id: str, metadata: dict[str, str],
                                idempotency_key: str) -> dict[str, Any]:
        """Merge `metadata` into the invoice's (a key set to "" is removed); any status, draft to paid."""
        return self._call(self._client.v1.invoices.update, invoice_id, params={"metadata": metadata},
                          options=self._options(idempotency_key))

    def delete_draft(self, invoice_id: str) -> None:
        self._call(self._client.v1.invoices.delete, invoice_id)

    def get_invoice(self, invoice_id: str) -> dict[str, Any]:
        return self._call(self._client.v1.invoices.retrieve, invoice_id, params={"expand": ["customer"]})

    def iter_open_invoices(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """Every invoice Stripe holds open, one page (`page_size`, at most 100) per call, newest first:
        one pass over the list, never a call per invoice. Each page goes through `_call`, so a paused or
        unconnected account says so like any other call."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"status": "open", "limit": page_size}
            if cursor is not None:
                params["starting_after"] = cursor
            page = self._call(self._client.v1.invoices.list, params=params)
            data = page.get("data") or []
            yield from data
            if not page.get("has_more") or not data:
                return
            cursor = str(data[-1]["id"])

    # --- subscriptions: recurring invoices (bot/services/recurring.py) ----------------------------
    def get_price(self, price_id: str) -> dict[str, Any]:
        return self._call(self._client.v1.prices.retrieve, price_id)

    def create_subscription(self, *, customer_id: str, currency: str, days_until_due: int,
                            items: list[RecurringItem], interval: str, interval_count: int, description: str | None,
                            metadata: dict[str, str], idempotency_key: str) -> dict[str, Any]:
        """A subscription whose invoices are emailed (`send_invoice`), due `days_until_due` days after each
        is finalized. A catalog line is its price (recurring already); a typed one `price_data` with the
        interval, on a product of its own (`create_product`)."""
        params: dict[str, Any] = {
            "customer": customer_id,
            "currency": currency,
            "collection_method": "send_invoice",
            "days_until_due": days_until_due,
            "items": [_item_params(item, currency, interval, interval_count) for item in items],
            "metadata": metadata,
        }
        if description:
            params["description"] = description
        return self._call(self._client.v1.subscriptions.create, params=params,
                          options=self._options(idempotency_key))

    def get_subscription(self, subscription_id: str) -> dict[str, Any]:
        return self._call(self._client.v1.subscriptions.retrieve, subscription_id)

    def cancel_subscription(self, subscription_id: str, *, at_period_end: bool,
                            idempotency_key: str) -> dict[str, Any]:
        """At the period's end (no more invoices after the current one) or now."""
        if at_period_end:
            return self._call(self._client.v1.subscriptions.update, subscription_id,
                              params={"cancel_at_period_end": True}, options=self._options(idempotency_key))
        return self._call(self._client.v1.subscriptions.cancel, subscription_id,
                          options=self._options(idempotency_key))

    # --- tax rates, coupons and promotion codes (the form's tax and discount; bot/domain/invoice_extras.py) ----
    def iter_tax_rates(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """The account's active tax rates."""
        yield from self._iterate(self._client.v1.tax_rates.list, {"active": True, "limit": page_size})

    def iter_coupons(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        yield from self._iterate(self._client.v1.coupons.list, {"limit": page_size})

    def iter_promotion_codes(self, page_size: int = 100) -> Iterator[dict[str, Any]]:
        """The account's active promotion codes (an account may have thousands of spent ones)."""
        yield from self._iterate(self._client.v1.promotion_codes.list, {"active": True, "limit": page_size})

    def get_tax_rate(self, tax_rate_id: str) -> dict[str, Any]:
        return self._call(self._client.v1.tax_rates.retrieve, tax_rate_id)

    def get_coupon(self, coupon_id: str) -> dict[str, Any]:
        return self._call(self._client.v1.coupons.retrieve, coupon_id)

    def get_promotion_code(self, promotion_code_id: str) -> dict[str, Any]:
        return self._call(self._client.v1.promotion_codes.retrieve, promotion_code_id)

    # --- credit notes, payments outside Stripe (bot/services/credit_notes.py) -----------------------
    def invoice_line_items(self, invoice_id: str, page_size: int = 100) -> list[dict[str, Any]]:
        """Every line of an invoice in Stripe's order (an invoice object embeds only the first ten)."""
        lines: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": page_size}
            if cursor is not None:
                params["starting_after"] = cursor
            page = self._call(self._client.v1.invoices.line_items.list, invoice_id, params=params)
            data = page.get("data") or []
            lines += data
            if not page.get("has_more") or not data:
                return lines
            cursor = str(data[-1]["id"])

    def preview_credit_note(self, params: dict[str, Any]) -> dict[str, Any]:
        """The credit note `params` would make (Stripe checks every rule), without making it."""
        return self._call(self._client.v1.credit_notes.preview, params=params)

    def create_credit_note(self, params: dict[str, Any], idempotency_key: str) -> dict[str, Any]:
        return self._call(self._client.v1.credit_notes.create, params=params, options=self._options(idempotency_key))

    def pay_out_of_band(self, invoice_id: str, idempotency_key: str) -> dict[str, Any]:
        """A payment received outside Stripe (a cheque, a bank transfer): the invoice is paid, nothing is charged."""
        return self._call(self._client.v1.invoices.pay, invoice_id, params={"paid_out_of_band": True},
                          options=self._options(idempotency_key))

    # --- payments -----------------------------------------------------------------------------
    def invoice_for_payment_intent(self, payment_intent_id: str) -> str | None:
        """PaymentIntents no longer name their invoice; Stripe's invoice_payments link the two."""
        page = self._call(self._client.v1.invoice_payments.list, params={
            "payment": {"type": "payment_intent", "payment_intent": payment_intent_id}, "limit": 1})
        data = page.get("data") or []
        invoice = data[0].get("invoice") if data else None
        return invoice.get("id") if isinstance(invoice, dict) else invoice

    def payment_failure_reason(self, invoice_id: str) -> str | None:
        """Why the invoice's latest payment attempt failed, from its PaymentIntent."""
        page = self._call(self._client.v1.invoice_payments.list, params={"invoice": invoice_id, "limit": 10})
        for payment in page.get("data") or []:
            payment_intent = (payment.get("payment") or {}).get("payment_intent")
            if isinstance(payment_intent, dict):
                payment_intent = payment_intent.get("id")
            if not payment_intent:
                continue
            error = self._call(self._client.v1.payment_intents.retrieve, payment_intent).get("last_payment_error")
            if error:
                return str(error.get("decline_code") or error.get("code") or error.get("message") or "")
        return None

    def _iterate(self, list_fn: Any, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        try:
            for item in list_fn(params=params).auto_paging_iter():
                yield _to_dict(item)
        except stripe.StripeError as error:
            self.metrics.stripe_call(_operation(list_fn), type(error).__name__)
            raise _failure_from(error) from None
        self.metrics.stripe_call(_operation(list_fn), "ok")  # one per listing, however many pages


def _operation(fn: Any) -> str:
    """`invoices.create` for `client.v1.invoices.create`: a bounded label, never an id."""
    service = type(getattr(fn, "__self__", None)).__name__
    if not service.endswith("Service"):
        return "other"
    resource = "".join(f"_{char.lower()}" if char.isupper() else char for char in service.removesuffix("Service"))
    return f"{resource.lstrip('_')}s.{getattr(fn, '__name__', 'call')}"


def _line_params(line: LineItem) -> dict[str, Any]:
    if line.price_id:
        return {"pricing": {"price": line.price_id}, "quantity": line.quantity}
    assert line.unit_amount is not None and line.description is not None
    # An ad-hoc line is a description with an amount (the guide's alternative to a price);
    # Stripe's `amount` is the line total, so the quantity is spelt out in the description.
    description = line.description if line.quantity == 1 else f"{line.description} (x{line.quantity})"
    return {"amount": line.unit_amount * line.quantity, "description": description}


def _item_params(item: RecurringItem, currency: str, interval: str, interval_count: int) -> dict[str, Any]:
    if item.price_id:
        return {"price": item.price_id, "quantity": item.quantity}
    assert item.product_id is not None and item.unit_amount is not None
    return {"price_data": {"currency": currency, "product": item.product_id, "unit_amount": item.unit_amount,
                           "recurring": {"interval": interval, "interval_count": interval_count}},
            "quantity": item.quantity}

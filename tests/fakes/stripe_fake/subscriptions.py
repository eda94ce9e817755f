"""Subscriptions that invoice: create, retrieve, list, update (cancel at period end), cancel; each period's invoice.

Modelled: ``collection_method=send_invoice`` subscriptions (``charge_automatically`` needs payment methods the
fake does not have), their items (an existing recurring price or ``price_data`` with ``recurring``), and the
invoices they generate, as Stripe makes them: the first one (``billing_reason=subscription_create``) is
finalized at once and emailed (``invoice.created``, ``invoice.finalized``, ``invoice.sent``); each later one
(``subscription_cycle``) is created as a draft that Stripe finalizes about an hour later. Time does not pass
by itself: :func:`cycle` (``FakeStripe.advance_subscription``) ends the current period and makes the next
invoice, or ends a subscription set to cancel at the period's end. Every invoice carries ``subscription`` and
``parent.subscription_details``; its lines are ``subscription_item_details`` lines for the period.

Rules kept: items' prices must be recurring (a one-off price is refused on its ``items[n][price]``), active,
in one currency and on one billing interval, each price once; ``interval_count`` at most a year;
``days_until_due`` only with ``send_invoice``; a canceled subscription cannot change or be canceled again.
"""

from __future__ import annotations

import calendar
import copy
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from . import invoicing, objects
from .catalog import param_path, reject_unknown_reference, unit_amount_from, unsupported
from .currencies import THREE_DECIMAL, ZERO_DECIMAL, normalize_currency
from .errors import exclusive_params, invalid_param, invalid_state, missing_param
from .fixtures import from_template, template
from .listing import list_object
from .state import RequestContext, State, changed_attributes

MAX_ITEMS = 20
DEFAULT_DAYS_UNTIL_DUE = 30
# What one interval_count may reach at most: one year.
MAX_INTERVAL_COUNT = {"day": 365, "week": 52, "month": 12, "year": 1}
# Parameters the fake does not model: refused, never silently ignored.
UNMODELED_CREATE_PARAMS = (
    "add_invoice_items",
    "application_fee_percent",
    "backdate_start_date",
    "billing_cycle_anchor",
    "billing_cycle_anchor_config",
    "billing_schedules",
    "billing_thresholds",
    "cancel_at",
    "customer_account",
    "invoice_settings",
    "pending_invoice_item_interval",
    "transfer_data",
    "trial_end",
    "trial_from_plan",
    "trial_period_days",
    "trial_settings",
)
UPDATABLE = ("cancel_at_period_end", "days_until_due", "description", "metadata", "proration_behavior",
             "payment_behavior", "off_session", "cancellation_details")


def _subscription(state: State, subscription_id: str) -> dict[str, Any]:
    return state.require("subscription", subscription_id, in_path=True)


def add_interval(start: int, interval: str, count: int) -> int:
    """``start`` plus ``count`` intervals, months and years by the calendar (Jan 31 + 1 month = Feb 28/29)."""
    if interval == "day":
        return start + count * 86_400
    if interval == "week":
        return start + count * 7 * 86_400
    moment = datetime.fromtimestamp(start, tz=UTC)
    months = count * (12 if interval == "year" else 1)
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return int(moment.replace(year=year, month=month, day=day).timestamp())


# -- items --------------------------------------------------------------------------------------


def _recurring(data: dict[str, Any], prefix: str) -> dict[str, Any]:
    recurring = data.get("recurring")
    if recurring is None:
        raise missing_param(param_path(prefix, "recurring"))
    interval = recurring["interval"]
    count = recurring.get("interval_count", 1)
    if count < 1 or count > MAX_INTERVAL_COUNT[interval]:
        raise invalid_param(
            param_path(prefix, "recurring][interval_count"),
            "Invalid interval_count: the maximum interval allowed is one year (1 year, 12 months, 52 weeks or "
            "365 days).",
        )
    return {"interval": interval, "interval_count": count}


def _plan(price: dict[str, Any]) -> dict[str, Any]:
    """The legacy ``plan`` mirror of a recurring price that each subscription item still shows."""
    recurring = price["recurring"]
    shape = template("subscription_item")["plan"]
    plan = {
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "id": price["id"],
        "interval": recurring["interval"],
        "interval_count": recurring["interval_count"],
        "livemode": price["livemode"],
        "metadata": dict(price["metadata"]),
        "meter": None,
        "nickname": price["nickname"],
        "object": "plan",
        "product": price["product"],
        "tiers_mode": None,
        "transform_usage": None,
        "trial_period_days": None,
        "usage_type": "licensed",
    }
    assert plan.keys() == shape.keys(), sorted(plan.keys() ^ shape.keys())
    return plan


def _planned_items(state: State, params: dict[str, Any]) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """Validate ``items`` without side effects: (spec, existing price or None for price_data) per item."""
    specs = params.get("items")
    if not specs:
        raise missing_param("items")
    if len(specs) > MAX_ITEMS:
        raise invalid_param("items", f"A subscription can have at most {MAX_ITEMS} items.")
    planned: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    seen_prices: set[str] = set()
    currencies: set[str] = set()
    intervals: set[tuple[str, int]] = set()
    for index, spec in enumerate(specs):
        prefix = f"items[{index}]"
        if "plan" in spec:
            raise unsupported(f"{prefix}[plan]")
        for key in ("discounts", "billing_thresholds", "current_trial"):
            if spec.get(key):
                raise unsupported(f"{prefix}[{key}]")
        reject_unknown_reference(spec, "tax_rates", "tax_rate")
        if "price" in spec and "price_data" in spec:
            raise exclusive_params(f"{prefix}[price]", f"{prefix}[price_data]")
        if spec.get("quantity", 1) < 0:
            raise invalid_param(f"{prefix}[quantity]", "This value must be greater than or equal to 0.")
        if "price" in spec:
            param = f"{prefix}[price]"
            price = state.require("price", spec["price"], param)
            if not price["active"]:
                raise invalid_param(param, "The price specified is inactive. This field only accepts active prices.")
            if price["type"] != "recurring":
                raise invalid_param(
                    param,
                    f"The price specified is set to `type={price['type']}` but this field only accepts prices "
                    "with `type=recurring`.",
                )
            if price["id"] in seen_prices:
                raise invalid_param(
                    param, f"Cannot add multiple subscription items with the same price: {price['id']}."
                )
            seen_prices.add(price["id"])
            currencies.add(price["currency"])
            intervals.add((price["recurring"]["interval"], price["recurring"]["interval_count"]))
            planned.append((spec, price))
            continue
        if "price_data" not in spec:
            raise missing_param(f"{prefix}[price]")
        data_prefix = f"{prefix}[price_data]"
        data = spec["price_data"]
        currencies.add(normalize_currency(data["currency"], param_path(data_prefix, "currency")))
        state.require("product", data["product"], param_path(data_prefix, "product"))
        unit_amount_from(data, data_prefix)
        recurring = _recurring(data, data_prefix)
        intervals.add((recurring["interval"], recurring["interval_count"]))
        planned.append((spec, None))
    if "currency" in params:
        currencies.add(normalize_currency(params["currency"]))
    if len(currencies) > 1:
        raise invalid_param("items", f"All items of a subscription must use one currency; these use "
                                     f"{', '.join(sorted(currencies))}.")
    if len(intervals) > 1:
        raise invalid_param("items", "Currently all items of a subscription must have the same billing interval.")
    return planned


def _materialize(state: State, ctx: RequestContext, spec: dict[str, Any],
                 price: dict[str, Any] | None) -> dict[str, Any]:
    if price is not None:
        return price
    data = spec["price_data"]
    created = objects.build_price(
        state,
        product_id=data["product"],
        currency=normalize_currency(data["currency"]),
        unit_amount_decimal=unit_amount_from(data),
        recurring=_recurring(data, ""),
        active=False,  # prices made inline are not offered anywhere else
        params={"tax_behavior": data.get("tax_behavior", "unspecified")},
    )
    return state.add(created)


def _item(state: State, subscription_id: str, spec: dict[str, Any], price: dict[str, Any], start: int,
          end: int) -> dict[str, Any]:
    return from_template(
        "subscription_item",
        billing_thresholds=None,
        created=state.now(),
        current_period_end=end,
        current_period_start=start,
        discounts=[],
        id=state.new_id("si", 14),
        metadata=objects.metadata_from(spec.get("metadata")),
        object="subscription_item",
        plan=_plan(price),
        price=copy.deepcopy(price),
        quantity=spec.get("quantity", 1),
        subscription=subscription_id,
        tax_rates=[],
    )


# -- the subscription object --------------------------------------------------------------------


def _build(state: State, customer: dict[str, Any], params: dict[str, Any], currency: str, now: int) -> dict[str, Any]:
    payment_settings = template("subscription")["payment_settings"]
    payment_settings.update(payment_method_options=None, payment_method_types=None,
                            save_default_payment_method="off")
    return from_template(
        "subscription",
        application=None,
        application_fee_percent=None,
        automatic_tax={"enabled": False, "liability": None, "disabled_reason": None},
        billing_cycle_anchor=now,
        billing_cycle_anchor_config=None,
        billing_mode={"type": "classic", "flexible": None},
        billing_schedules=[],
        billing_thresholds=None,
        cancel_at=None,
        cancel_at_period_end=False,
        canceled_at=None,
        cancellation_details={"comment": None, "feedback": None, "reason": None},
        collection_method="send_invoice",
        created=now,
        currency=currency,
        customer=customer["id"],
        customer_account=None,
        days_until_due=params.get("days_until_due", DEFAULT_DAYS_UNTIL_DUE),
        default_payment_method=params.get("default_payment_method"),
        default_source=None,
        default_tax_rates=[],
        description=params.get("description") or None,
        discounts=[],
        ended_at=None,
        id=state.new_id("sub"),
        invoice_settings={"account_tax_ids": None, "issuer": {"type": "self"}, "custom_fields": None,
                          "description": None, "footer": None},
        items=None,  # filled below, once the subscription has its id
        latest_invoice=None,
        livemode=state.livemode,
        managed_payments=None,
        metadata=objects.metadata_from(params.get("metadata")),
        next_pending_invoice_item_invoice=None,
        object="subscription",
        on_behalf_of=None,
        pause_collection=None,
        payment_settings=payment_settings,
        pending_invoice_item_interval=None,
        pending_setup_intent=None,
        pending_update=None,
        schedule=None,
        start_date=now,
        status="active",
        test_clock=None,
        transfer_data=None,
        trial_end=None,
        trial_settings={"end_behavior": {"missing_payment_method": "create_invoice"}},
        trial_start=None,
    )


def _items_list(subscription_id: str, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": items, "has_more": False, "total_count": len(items),
            "url": f"/v1/subscription_items?subscription={subscription_id}"}


def create_subscription(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    for key in UNMODELED_CREATE_PARAMS:
        if key in params:
            raise unsupported(key)
    for key, kind in (("default_tax_rates", "tax_rate"), ("on_behalf_of", "account"), ("default_source", "source")):
        reject_unknown_reference(params, key, kind)
    for index, entry in enumerate(params.get("discounts") or []):
        for kind in ("coupon", "promotion_code", "discount"):
            if entry.get(kind):
                raise invalid_param(f"discounts[{index}][{kind}]", f"No such {kind}: '{entry[kind]}'",
                                    code="resource_missing")
    if (params.get("automatic_tax") or {}).get("enabled"):
        raise invalid_param("automatic_tax[enabled]", "Stripe Tax has not been activated on your account.")
    if "customer" not in params:
        raise missing_param("customer")
    customer = state.require("customer", params["customer"], "customer")
    collection_method = params.get("collection_method", "charge_automatically")
    if collection_method != "send_invoice":
        if "days_until_due" in params:
            raise invalid_param("days_until_due",
                                "`days_until_due` can only be set when `collection_method` is `send_invoice`.")
        raise unsupported("collection_method=charge_automatically")
    if params.get("days_until_due", 0) < 0:
        raise invalid_param("days_until_due", "This value must be greater than or equal to 0.")
    invoicing._check_payment_method(params.get("default_payment_method"), "default_payment_method")
    planned = _planned_items(state, params)  # every check before anything is made

    now = state.now()
    prices = [_materialize(state, ctx, spec, price) for spec, price in planned]
    currency = prices[0]["currency"]
    recurring = prices[0]["recurring"]
    end = add_interval(now, recurring["interval"], recurring["interval_count"])
    subscription = _build(state, customer, params, currency, now)
    items = [_item(state, subscription["id"], spec, price, now, end)
             for (spec, _), price in zip(planned, prices, strict=True)]
    subscription["items"] = _items_list(subscription["id"], items)
    state.add(subscription)
    state.emit("customer.subscription.created", subscription, ctx)
    _invoice_period(state, ctx, subscription, "subscription_create", (now, now), (now, end), finalize=True)
    return state.render(subscription)


def retrieve_subscription(state: State, ctx: RequestContext, params: dict[str, Any],
                          subscription_exposed_id: str) -> dict[str, Any]:
    return state.render(_subscription(state, subscription_exposed_id))


def list_subscriptions(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    for key in ("test_clock", "customer_account", "automatic_tax", "current_period_end", "current_period_start"):
        if key in params:
            raise unsupported(key)
    subscriptions = [state.render(sub) for sub in state.all("subscription")]
    status = params.get("status")
    if status is None:  # Stripe lists every subscription but the canceled ones unless asked
        subscriptions = [sub for sub in subscriptions if sub["status"] != "canceled"]
    elif status != "all":
        subscriptions = [sub for sub in subscriptions if sub["status"] == status]
    for key in ("customer", "collection_method"):
        if key in params:
            subscriptions = [sub for sub in subscriptions if sub[key] == params[key]]
    if "price" in params:
        subscriptions = [sub for sub in subscriptions
                         if any(item["price"]["id"] == params["price"] for item in sub["items"]["data"])]
    return list_object(subscriptions, params, "/v1/subscriptions", kind="subscription")


def update_subscription(state: State, ctx: RequestContext, params: dict[str, Any],
                        subscription_exposed_id: str) -> dict[str, Any]:
    subscription = _subscription(state, subscription_exposed_id)
    for key in params:
        if key not in UPDATABLE:
            raise unsupported(key)
    if subscription["status"] == "canceled" and set(params) - {"metadata", "cancellation_details"}:
        raise invalid_state(
            f"A canceled subscription can only update its cancellation_details and metadata "
            f"({subscription['id']} is canceled).",
        )
    before = state.render(subscription)
    if "cancel_at_period_end" in params:
        at_end = bool(params["cancel_at_period_end"])
        subscription["cancel_at_period_end"] = at_end
        subscription["cancel_at"] = _period_end(subscription) if at_end else None
        subscription["canceled_at"] = state.now() if at_end else None
    if "days_until_due" in params:
        subscription["days_until_due"] = params["days_until_due"]
    if "description" in params:
        subscription["description"] = params["description"] or None
    if "metadata" in params:
        subscription["metadata"] = objects.merge_metadata(subscription["metadata"], params["metadata"])
    if "cancellation_details" in params:
        details = params["cancellation_details"] or {}
        subscription["cancellation_details"].update(
            {key: details[key] or None for key in ("comment", "feedback") if key in details})
    previous = changed_attributes(before, state.render(subscription))
    if previous:
        state.emit("customer.subscription.updated", subscription, ctx, previous)
    return state.render(subscription)


def cancel_subscription(state: State, ctx: RequestContext, params: dict[str, Any],
                        subscription_exposed_id: str) -> dict[str, Any]:
    subscription = _subscription(state, subscription_exposed_id)
    if subscription["status"] == "canceled":
        raise invalid_state(f"The subscription {subscription['id']} is already canceled.")
    if params.get("invoice_now"):
        raise unsupported("invoice_now")
    details = params.get("cancellation_details") or {}
    _end(state, ctx, subscription, reason="cancellation_requested", details=details)
    return state.render(subscription)


def _period_end(subscription: dict[str, Any]) -> int:
    return int(subscription["items"]["data"][0]["current_period_end"])


def _end(state: State, ctx: RequestContext, subscription: dict[str, Any], *, reason: str,
         details: dict[str, Any]) -> None:
    now = state.now()
    subscription.update(status="canceled", ended_at=now, canceled_at=subscription["canceled_at"] or now,
                        cancel_at=subscription["cancel_at"])
    subscription["cancellation_details"] = {
        "comment": details.get("comment") or subscription["cancellation_details"]["comment"],
        "feedback": details.get("feedback") or subscription["cancellation_details"]["feedback"],
        "reason": reason,
    }
    state.emit("customer.subscription.deleted", subscription, ctx)


# -- invoices of a period ------------------------------------------------------------------------


def _line(state: State, subscription: dict[str, Any], item: dict[str, Any], invoice_id: str, start: int,
          end: int) -> dict[str, Any]:
    price = item["price"]
    product = state.find(price["product"], "product")
    name = product["name"] if product else price["product"]
    amount = objects.line_total(Decimal(price["unit_amount_decimal"]), Decimal(item["quantity"]))
    exponent = 0 if price["currency"] in ZERO_DECIMAL else 3 if price["currency"] in THREE_DECIMAL else 2
    unit = (Decimal(price["unit_amount_decimal"]) / Decimal(10) ** exponent).quantize(Decimal(1).scaleb(-exponent))
    every = price["recurring"]["interval"] if price["recurring"]["interval_count"] == 1 \
        else f"every {price['recurring']['interval_count']} {price['recurring']['interval']}s"
    return from_template(
        "line_item",
        amount=amount,
        currency=price["currency"],
        description=f"{item['quantity']} × {name} (at {unit:f} {price['currency'].upper()} / {every})",
        discount_amounts=[],
        discountable=True,
        discounts=[],
        id=state.new_id("il"),
        invoice=invoice_id,
        livemode=state.livemode,
        metadata=dict(item["metadata"]),
        object="line_item",
        period={"end": end, "start": start},
        quantity=item["quantity"],
        subscription=subscription["id"],
        pretax_credit_amounts=[],
        taxes=[],
        parent={
            "invoice_item_details": None,
            "subscription_item_details": {
                "invoice_item": None,
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": subscription["id"],
                "subscription_item": item["id"],
            },
            "type": "subscription_item_details",
        },
        pricing={"type": "price_details", "price_details": {"price": price["id"], "product": price["product"]},
                 "unit_amount_decimal": price["unit_amount_decimal"]},
        subtotal=amount,
        quantity_decimal=objects.decimal_text(Decimal(item["quantity"])),
    )


def _invoice_period(state: State, ctx: RequestContext, subscription: dict[str, Any], reason: str,
                    covered: tuple[int, int], lines_period: tuple[int, int], *, finalize: bool) -> dict[str, Any]:
    """The invoice of a period: ``covered`` is the invoice's own period_start/end, ``lines_period`` its lines'."""
    customer = state.require("customer", subscription["customer"])
    invoice = state.add(objects.build_invoice(
        state, customer, currency=subscription["currency"], collection_method="send_invoice",
        params={"auto_advance": True, "description": subscription["description"]}))
    invoice.update(
        billing_reason=reason,
        subscription=subscription["id"],
        parent={"quote_details": None, "type": "subscription_details",
                "subscription_details": {"metadata": dict(subscription["metadata"]),
                                         "subscription": subscription["id"]}},
        # The first invoice covers the moment it was made (Stripe's quirk); later ones the period just ended.
        period_start=covered[0],
        period_end=covered[1],
    )
    state.invoice_private[invoice["id"]].days_until_due = subscription["days_until_due"]
    state.invoice_lines[invoice["id"]].extend(
        _line(state, subscription, item, invoice["id"], *lines_period) for item in subscription["items"]["data"])
    invoicing.recompute_totals(state, invoice)
    subscription["latest_invoice"] = invoice["id"]
    state.emit("invoice.created", invoice, ctx)
    if finalize:
        finalize_and_send(state, ctx, invoice)
    return invoice


def finalize_and_send(state: State, ctx: RequestContext, invoice: dict[str, Any]) -> None:
    """What Stripe does with an auto-advancing ``send_invoice`` draft: finalize it and email it."""
    invoicing.finalize(state, ctx, invoice)
    if invoice["status"] == "open" and invoice["customer_email"]:
        state.emit("invoice.sent", invoice, ctx)


def cycle(state: State, ctx: RequestContext, subscription: dict[str, Any], *, finalize: bool = True
          ) -> dict[str, Any] | None:
    """The current period ends: a subscription set to cancel then ends (``customer.subscription.deleted``,
    no invoice); otherwise the next period starts and its invoice is made (finalized and emailed unless
    ``finalize`` is False: then it stays a draft, as for Stripe's hour before it finalizes)."""
    if subscription["status"] == "canceled":
        raise invalid_state(f"The subscription {subscription['id']} is canceled; it makes no more invoices.")
    if subscription["cancel_at_period_end"]:
        _end(state, ctx, subscription, reason="cancellation_requested", details={})
        return None
    before = state.render(subscription)
    previous_start = int(subscription["items"]["data"][0]["current_period_start"])
    start = _period_end(subscription)
    first = subscription["items"]["data"][0]["price"]["recurring"]
    end = add_interval(start, first["interval"], first["interval_count"])
    for item in subscription["items"]["data"]:
        item.update(current_period_start=start, current_period_end=end)
    invoice = _invoice_period(state, ctx, subscription, "subscription_cycle", (previous_start, start), (start, end),
                              finalize=False)
    previous = changed_attributes(before, state.render(subscription))
    state.emit("customer.subscription.updated", subscription, ctx, previous)
    if finalize:
        finalize_and_send(state, ctx, invoice)
    return invoice


def check_subscription_filter(state: State, params: dict[str, Any]) -> str | None:
    """``subscription`` on ``GET /v1/invoices``: an existing subscription's id (or Stripe's 404)."""
    if "subscription" not in params:
        return None
    return str(state.require("subscription", params["subscription"], "subscription")["id"])

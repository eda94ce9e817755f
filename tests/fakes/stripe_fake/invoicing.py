"""Invoices, invoice items and lines, and the payment side of invoices.

Status machine (Stripe's): ``draft -> open -> paid | void | uncollectible``, and
``uncollectible -> paid | void``; ``paid`` and ``void`` are terminal. Only drafts can be edited
line by line or deleted. Finalizing assigns the number and due date, creates the PaymentIntent
(linked to the invoice through an ``invoice_payment``, since PaymentIntents no longer carry an
``invoice`` field in this API version), and a zero-amount invoice is paid on the spot.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import objects, tax_and_discounts
from .catalog import emit_update, param_path, reject_unknown_reference, unit_amount_from, unsupported
from .currencies import normalize_currency
from .errors import (
    StripeApiError,
    exclusive_params,
    invalid_param,
    invalid_state,
    missing_param,
    no_such,
)
from .listing import list_object, matches_range, search_object
from .state import RequestContext, State, changed_attributes

INVOICE_LINE_LIMIT = 250
CUSTOM_FIELDS_LIMIT = 4
CUSTOM_FIELD_NAME_LIMIT = 40
CUSTOM_FIELD_VALUE_LIMIT = 140
SECONDS_PER_DAY = 86_400
SMART_RETRY_DELAY = 3 * SECONDS_PER_DAY
AUTO_ADVANCE_DELAY = 3_600  # Stripe finalizes / attempts auto-advancing invoices about an hour later

# Fields that only a draft accepts; finalized invoices keep their monetary facts.
DRAFT_ONLY_FIELDS = (
    "account_tax_ids",
    "application_fee_amount",
    "automatic_tax",
    "collection_method",
    "default_tax_rates",
    "discounts",
    "effective_at",
    "issuer",
    "number",
    "on_behalf_of",
    "shipping_cost",
    "transfer_data",
)
# Fields that stop making sense once an invoice is paid or void.
UNSETTLED_ONLY_FIELDS = (
    "auto_advance",
    "automatically_finalizes_at",
    "days_until_due",
    "due_date",
    "default_payment_method",
    "default_source",
    "payment_settings",
)

# Card decline simulation: Stripe's test payment methods, and what each decline looks like.
DECLINING_TEST_PAYMENT_METHODS = {
    "pm_card_chargeDeclined": "generic_decline",
    "pm_card_visa_chargeDeclined": "generic_decline",
    "pm_card_chargeDeclinedInsufficientFunds": "insufficient_funds",
    "pm_card_chargeDeclinedLostCard": "lost_card",
    "pm_card_chargeDeclinedStolenCard": "stolen_card",
    "pm_card_chargeDeclinedExpiredCard": "expired_card",
    "pm_card_chargeDeclinedIncorrectCvc": "incorrect_cvc",
    "pm_card_chargeDeclinedProcessingError": "processing_error",
}
DECLINE_MESSAGES = {
    "insufficient_funds": "Your card has insufficient funds.",
    "expired_card": "Your card has expired.",
    "incorrect_cvc": "Your card's security code is incorrect.",
    "processing_error": "An error occurred while processing your card. Try again in a little bit.",
    "incorrect_number": "Your card number is incorrect.",
}
# Decline reasons Stripe reports with their own error `code` rather than `card_declined`.
OWN_CODE_DECLINES = ("expired_card", "incorrect_cvc", "processing_error", "incorrect_number")


# ---------------------------------------------------------------------------------------------
# Shared helpers
# ---------------------------------------------------------------------------------------------


def _customer(state: State, customer_id: str, param: str = "customer") -> dict[str, Any]:
    return state.require("customer", customer_id, param)


def _check_payment_method(value: str | None, param: str) -> None:
    # The fake has no PaymentMethod objects: any `pm_...` id (Stripe's test tokens included) is accepted.
    if value and not value.startswith("pm_"):
        raise no_such("PaymentMethod", value, param)


def _reject_invoice_references(state: State, params: dict[str, Any]) -> None:
    """Parameters pointing at objects this fake account cannot have (tax ids, Connect...). Tax rates,
    discounts and automatic tax: tax_and_discounts.check_invoice_params."""
    reject_unknown_reference(params, "account_tax_ids", "tax_id")
    reject_unknown_reference(params, "subscription", "subscription")
    reject_unknown_reference(params, "on_behalf_of", "account")
    reject_unknown_reference(params, "default_source", "source")
    if "transfer_data" in params:
        raise no_such("account", params["transfer_data"]["destination"], "transfer_data[destination]")
    if "application_fee_amount" in params:
        raise invalid_param(
            "application_fee_amount",
            "Can only apply an application_fee_amount when the request is made on behalf of another account "
            "(using an OAuth key, the Stripe-Account header, or the on_behalf_of parameter).",
        )
    if (params.get("issuer") or {}).get("type") == "account":
        raise no_such("account", params["issuer"].get("account", ""), "issuer[account]")
    shipping_cost = params.get("shipping_cost")
    if shipping_cost:
        if shipping_cost.get("shipping_rate"):
            raise no_such("shipping_rate", shipping_cost["shipping_rate"], "shipping_cost[shipping_rate]")
        raise unsupported("shipping_cost")
    if "from_invoice" in params:
        raise unsupported("from_invoice")
    if "customer_account" in params:
        raise unsupported("customer_account")
    if len(params.get("custom_fields") or []) > CUSTOM_FIELDS_LIMIT:
        raise invalid_param("custom_fields", f"You can only set up to {CUSTOM_FIELDS_LIMIT} custom fields.")
    for index, custom_field in enumerate(params.get("custom_fields") or []):
        for key, limit in (("name", CUSTOM_FIELD_NAME_LIMIT), ("value", CUSTOM_FIELD_VALUE_LIMIT)):
            if len(custom_field[key]) > limit:
                raise invalid_param(f"custom_fields[{index}][{key}]",
                                    f"Invalid custom_fields[{index}][{key}]: must be at most {limit} characters")
    _check_payment_method(params.get("default_payment_method"), "default_payment_method")


def _reject_discounts(state: State, params: dict[str, Any], prefix: str = "") -> None:
    """Tax rates and discounts on one line or invoice item are not modelled (an unknown id is still "No such")."""
    tax_and_discounts.reject_line_references(state, params, prefix)


def _check_collection(collection_method: str, days_until_due: int | None, due_date: int | None) -> None:
    if collection_method == "send_invoice":
        if days_until_due is None and due_date is None:
            raise invalid_param(
                "days_until_due",
                "Invoices with `collection_method=send_invoice` must have either `days_until_due` or `due_date` set.",
                code="parameter_missing",
            )
        if days_until_due is not None and due_date is not None:
            raise exclusive_params("days_until_due", "due_date")
        if days_until_due is not None and days_until_due < 0:
            raise invalid_param("days_until_due", "This value must be greater than or equal to 0.")
    else:
        if days_until_due is not None:
            raise invalid_param(
                "days_until_due",
                "`days_until_due` can only be set when `collection_method` is `send_invoice`.",
            )
        if due_date is not None:
            raise invalid_param("due_date", "`due_date` can only be set when `collection_method` is `send_invoice`.")


def _check_number_unique(state: State, number: str | None, invoice_id: str | None = None) -> None:
    if number and any(inv["number"] == number and inv["id"] != invoice_id for inv in state.all("invoice")):
        raise invalid_state("Invoice number must be unique.", param="number")


def _not_editable(invoice: dict[str, Any], what: str) -> StripeApiError:
    return invalid_state(
        f"{what} The invoice {invoice['id']} is {invoice['status']}; only draft invoices can be edited this way.",
        code="invoice_not_editable",
    )


def recompute_totals(state: State, invoice: dict[str, Any]) -> None:
    """Draft invoices: totals follow the lines, their discounts and taxes (tax_and_discounts.py; no credit
    balance modelled)."""
    totals = tax_and_discounts.recompute(state, invoice)
    amount_due = max(totals["total"], 0)
    invoice.update(
        **totals,
        amount_due=amount_due,
        amount_remaining=amount_due - invoice["amount_paid"],
    )


def _refresh_customer_details(state: State, invoice: dict[str, Any]) -> None:
    """Drafts mirror the customer's details; finalization freezes them."""
    customer = state.find(invoice["customer"], "customer")
    if customer is None:
        return
    invoice.update(
        customer_address=customer["address"],
        customer_email=customer["email"],
        customer_name=customer["name"],
        customer_phone=customer["phone"],
        customer_shipping=customer["shipping"],
        customer_tax_exempt=customer["tax_exempt"],
    )


def _require_invoice(state: State, invoice_id: str) -> dict[str, Any]:
    return state.require("invoice", invoice_id, in_path=True)


# ---------------------------------------------------------------------------------------------
# Charges: the money part shared by invoice items and add_lines
# ---------------------------------------------------------------------------------------------


@dataclass
class Charge:
    amount: int
    currency: str
    quantity: Decimal
    unit_amount_decimal: Decimal
    price: dict[str, Any] | None = None  # an existing price
    inline_price: dict[str, Any] | None = None  # validated price_data, created when applied
    inline_product: dict[str, Any] | None = None  # validated price_data[product_data]


def _quantity(spec: dict[str, Any], prefix: str) -> Decimal | None:
    if "quantity" in spec and "quantity_decimal" in spec:
        raise exclusive_params(param_path(prefix, "quantity"), param_path(prefix, "quantity_decimal"))
    if "quantity_decimal" in spec:
        quantity = spec["quantity_decimal"]
        if -quantity.as_tuple().exponent > 12:
            raise invalid_param(
                param_path(prefix, "quantity_decimal"), "Quantities can have at most 12 decimal places."
            )
    elif "quantity" in spec:
        quantity = Decimal(spec["quantity"])
    else:
        return None
    if quantity < 0:
        name = "quantity_decimal" if "quantity_decimal" in spec else "quantity"
        raise invalid_param(param_path(prefix, name), "This value must be greater than or equal to 0.")
    return quantity


def prepare_charge(
    state: State,
    spec: dict[str, Any],
    *,
    prefix: str,
    currency: str | None,
    allow_unit_amount_decimal: bool,
) -> Charge:
    """Validate how a line is priced (without side effects).

    Exactly one of ``amount``, ``pricing[price]``, ``price_data`` (and, for invoice items,
    ``unit_amount_decimal``). ``currency`` is the currency the line must use (an invoice's), or
    the default when the spec may choose (a pending invoice item), or None.
    """
    sources = [key for key in ("amount", "pricing", "price_data") if key in spec]
    if allow_unit_amount_decimal and "unit_amount_decimal" in spec:
        sources.append("unit_amount_decimal")
    names = [param_path(prefix, "pricing[price]" if key == "pricing" else key) for key in sources]
    if len(sources) > 1:
        raise exclusive_params(*names)
    if not sources:
        raise missing_param(param_path(prefix, "amount"))
    quantity = _quantity(spec, prefix)
    explicit_currency = (
        normalize_currency(spec["currency"], param_path(prefix, "currency")) if "currency" in spec else None
    )
    source = sources[0]

    if source == "amount":
        if quantity is not None:
            raise exclusive_params(param_path(prefix, "amount"), param_path(prefix, "quantity"))
        chosen = explicit_currency or currency
        if chosen is None:
            raise missing_param(param_path(prefix, "currency"))
        return Charge(spec["amount"], chosen, Decimal(1), Decimal(spec["amount"]))

    quantity = Decimal(1) if quantity is None else quantity
    if source == "pricing":
        param = param_path(prefix, "pricing[price]")
        if "price" not in spec["pricing"]:
            raise missing_param(param)
        price = state.require("price", spec["pricing"]["price"], param)
        if not price["active"]:
            raise invalid_param(param, "The price specified is inactive. This field only accepts active prices.")
        if price["type"] != "one_time":
            raise invalid_param(
                param,
                f"The price specified is set to `type={price['type']}` but this field only accepts prices "
                "with `type=one_time`.",
            )
        if explicit_currency and explicit_currency != price["currency"]:
            raise invalid_param(
                param_path(prefix, "currency"),
                f"The currency {explicit_currency} does not match the price's currency {price['currency']}.",
            )
        unit = Decimal(price["unit_amount_decimal"])
        return Charge(objects.line_total(unit, quantity), price["currency"], quantity, unit, price=price)

    if source == "price_data":
        data_prefix = param_path(prefix, "price_data")
        data = spec["price_data"]
        price_currency = normalize_currency(data["currency"], param_path(data_prefix, "currency"))
        if "product" in data and "product_data" in data:
            raise exclusive_params(param_path(data_prefix, "product"), param_path(data_prefix, "product_data"))
        product_data = data.get("product_data")
        if "product" in data:
            state.require("product", data["product"], param_path(data_prefix, "product"))
        elif product_data is None:
            raise missing_param(param_path(data_prefix, "product"))
        elif product_data.get("tax_code"):
            raise no_such("tax_code", product_data["tax_code"], param_path(data_prefix, "product_data[tax_code]"))
        unit = unit_amount_from(data, data_prefix)
        return Charge(
            objects.line_total(unit, quantity),
            price_currency,
            quantity,
            unit,
            inline_price=data,
            inline_product=product_data,
        )

    # unit_amount_decimal on an invoice item
    unit = spec["unit_amount_decimal"]
    chosen = explicit_currency or currency
    if chosen is None:
        raise missing_param(param_path(prefix, "currency"))
    return Charge(objects.line_total(unit, quantity), chosen, quantity, unit)


def _materialize_price(state: State, charge: Charge) -> dict[str, Any] | None:
    """Create the inline product/price a ``price_data`` charge describes (prices made inline are inactive)."""
    if charge.inline_price is None:
        return charge.price
    data = charge.inline_price
    product_id = data.get("product")
    if product_id is None:
        product = state.add(objects.build_product(state, charge.inline_product or {}))
        product_id = product["id"]
    price = objects.build_price(
        state,
        product_id=product_id,
        currency=charge.currency,
        unit_amount_decimal=charge.unit_amount_decimal,
        active=False,
        params={"tax_behavior": data.get("tax_behavior", "unspecified")},
    )
    return state.add(price)


def _currency_mismatch(param: str, line_currency: str, invoice: dict[str, Any]) -> StripeApiError:
    return invalid_param(
        param,
        f"The currency of this line ({line_currency}) must match the invoice's currency ({invoice['currency']}).",
    )


def _attach(state: State, item: dict[str, Any], invoice: dict[str, Any]) -> None:
    item["invoice"] = invoice["id"]
    state.invoice_lines[invoice["id"]].append(objects.build_line_item(state, item, invoice["id"]))


def _detach(state: State, item: dict[str, Any]) -> None:
    invoice_id = item["invoice"]
    if invoice_id is None:
        return
    lines = state.invoice_lines.get(invoice_id, [])
    lines[:] = [
        line for line in lines if (line["parent"]["invoice_item_details"] or {}).get("invoice_item") != item["id"]
    ]
    item["invoice"] = None
    invoice = state.find(invoice_id, "invoice")
    if invoice is not None:
        recompute_totals(state, invoice)


def _check_room(state: State, invoice: dict[str, Any], adding: int, param: str) -> None:
    count = len(state.invoice_lines[invoice["id"]]) + adding
    if count > INVOICE_LINE_LIMIT:
        raise invalid_state(
            f"An invoice can have at most {INVOICE_LINE_LIMIT} line items; this request would bring invoice "
            f"{invoice['id']} to {count}.",
            param=param,
        )


# ---------------------------------------------------------------------------------------------
# Invoices
# ---------------------------------------------------------------------------------------------


def create_invoice(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _reject_invoice_references(state, params)
    if "customer" not in params:
        raise missing_param("customer")
    customer = _customer(state, params["customer"])
    collection_method = params.get("collection_method", "charge_automatically")
    _check_collection(collection_method, params.get("days_until_due"), params.get("due_date"))
    currency = normalize_currency(params["currency"]) if "currency" in params else (customer["currency"] or "usd")
    _check_number_unique(state, params.get("number"))
    extras = tax_and_discounts.check_invoice_params(state, params, None, customer, currency)
    invoice = state.add(
        objects.build_invoice(state, customer, currency=currency, collection_method=collection_method, params=params)
    )
    tax_and_discounts.apply_invoice_params(state, invoice, extras)
    state.invoice_private[invoice["id"]].days_until_due = params.get("days_until_due")
    if params.get("pending_invoice_items_behavior") == "include":
        pending = [
            item
            for item in state.all("invoiceitem")
            if item["customer"] == customer["id"] and item["invoice"] is None and item["currency"] == currency
        ]
        for item in pending[:INVOICE_LINE_LIMIT]:
            _attach(state, item, invoice)
    recompute_totals(state, invoice)
    state.emit("invoice.created", invoice, ctx)
    return state.render(invoice)


def retrieve_invoice(state: State, ctx: RequestContext, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    return state.render(_require_invoice(state, invoice))


def update_invoice(state: State, ctx: RequestContext, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    obj = _require_invoice(state, invoice)
    status = obj["status"]
    if status != "draft":
        blocked = [key for key in DRAFT_ONLY_FIELDS if key in params]
        if status in ("paid", "void"):
            blocked += [key for key in UNSETTLED_ONLY_FIELDS if key in params]
        if blocked:
            raise invalid_state(
                f"You can't update `{blocked[0]}` on invoice {obj['id']}: it is {status}, no longer a draft.",
                code="invoice_already_finalized",
                param=blocked[0],
            )
    _reject_invoice_references(state, params)
    extras = tax_and_discounts.check_invoice_params(
        state, params, obj, state.find(obj["customer"], "customer") or {"id": obj["customer"]}, obj["currency"])
    private = state.invoice_private[obj["id"]]

    collection_method = params.get("collection_method", obj["collection_method"])
    days_until_due, due_date = private.days_until_due, obj["due_date"]
    if status == "draft":
        if "days_until_due" in params:
            days_until_due = params["days_until_due"]
            due_date = params.get("due_date")
        elif "due_date" in params:
            due_date, days_until_due = params["due_date"], None
        elif collection_method == "charge_automatically":
            days_until_due = due_date = None  # switching to automatic collection drops the due terms
        _check_collection(collection_method, days_until_due, due_date)
    elif "days_until_due" in params or "due_date" in params:
        if obj["collection_method"] != "send_invoice":
            raise invalid_param("due_date", "`due_date` can only be set when `collection_method` is `send_invoice`.")
        if "days_until_due" in params and "due_date" in params:
            raise exclusive_params("days_until_due", "due_date")
        if "days_until_due" in params:
            days_until_due = params["days_until_due"]
            due_date = obj["status_transitions"]["finalized_at"] + days_until_due * SECONDS_PER_DAY
        else:
            due_date = params["due_date"]
    if "number" in params:
        _check_number_unique(state, params["number"] or None, obj["id"])

    before = state.render(obj)
    obj["collection_method"] = collection_method
    obj["due_date"] = due_date
    private.days_until_due = days_until_due
    for key in (
        "auto_advance",
        "automatically_finalizes_at",
        "default_payment_method",
        "description",
        "effective_at",
        "footer",
        "number",
        "statement_descriptor",
    ):
        if key in params:
            obj[key] = params[key] if params[key] != "" else None
    if "custom_fields" in params:
        obj["custom_fields"] = params["custom_fields"] or None
    if "payment_settings" in params:
        obj["payment_settings"] = objects.payment_settings(obj["payment_settings"], params["payment_settings"])
    if "rendering" in params:
        rendering = params["rendering"] or {}
        obj["rendering"].update({k: v for k, v in rendering.items() if k in obj["rendering"]})
    if "shipping_details" in params:
        obj["shipping_details"] = objects.shipping(params["shipping_details"] or None)
    if "metadata" in params:
        obj["metadata"] = objects.merge_metadata(obj["metadata"], params["metadata"])
    if extras:
        tax_and_discounts.apply_invoice_params(state, obj, extras)
        recompute_totals(state, obj)
    if status == "draft":
        _refresh_customer_details(state, obj)
    emit_update(state, ctx, "invoice.updated", before, obj)
    return state.render(obj)


def delete_invoice(state: State, ctx: RequestContext, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    obj = _require_invoice(state, invoice)
    if obj["status"] != "draft":
        raise invalid_state(
            f"You can only delete draft invoices. Invoice {obj['id']} is {obj['status']}; void it instead.",
        )
    snapshot = state.render(obj)
    for item in state.all("invoiceitem"):
        if item["invoice"] == obj["id"]:
            state.delete(item["id"])  # items made for a deleted draft go with it
    stub = state.delete(obj["id"])
    state.emit("invoice.deleted", snapshot, ctx)
    return stub


def list_invoices(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if "subscription" in params:
        state.require("subscription", params["subscription"], "subscription")
    if "customer_account" in params:
        raise unsupported("customer_account")
    invoices = [state.render(inv) for inv in state.all("invoice")]
    for key in ("customer", "status", "collection_method", "subscription"):
        if key in params:
            invoices = [inv for inv in invoices if inv[key] == params[key]]
    if "due_date" in params:
        invoices = [inv for inv in invoices if matches_range(inv["due_date"], params["due_date"])]
    return list_object(invoices, params, "/v1/invoices", kind="invoice")


INVOICE_SEARCH_FIELDS = {
    "created": lambda inv: inv["created"],
    "currency": lambda inv: inv["currency"],
    "customer": lambda inv: inv["customer"],
    "metadata": lambda inv: inv["metadata"],
    "number": lambda inv: inv["number"],
    "receipt_number": lambda inv: inv["receipt_number"],
    "status": lambda inv: inv["status"],
    "subscription": lambda inv: inv["subscription"],
    "total": lambda inv: inv["total"],
}


def search_invoices(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    invoices = [state.render(inv) for inv in state.all("invoice")]
    return search_object(invoices, params, "/v1/invoices/search", resource="invoices", fields=INVOICE_SEARCH_FIELDS)


def list_lines(state: State, ctx: RequestContext, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    obj = _require_invoice(state, invoice)
    lines = [dict(line) for line in state.invoice_lines[obj["id"]]]
    return list_object(lines, params, f"/v1/invoices/{obj['id']}/lines", kind="line item", newest_first=False)


def add_lines(state: State, ctx: RequestContext, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    obj = _require_invoice(state, invoice)
    if obj["status"] != "draft":
        raise _not_editable(obj, "Lines can only be added to draft invoices.")
    specs = params["lines"]
    _check_room(state, obj, len(specs), "lines")

    # Validate every line before changing anything: the request succeeds or fails as a whole.
    planned: list[tuple[dict[str, Any], Charge | dict[str, Any]]] = []
    for index, spec in enumerate(specs):
        prefix = f"lines[{index}]"
        _reject_discounts(state, spec, prefix)
        if spec.get("tax_amounts"):
            raise unsupported(f"{prefix}[tax_amounts]")
        if "invoice_item" in spec:
            for key in ("amount", "pricing", "price_data", "quantity", "quantity_decimal"):
                if key in spec:
                    raise exclusive_params(f"{prefix}[invoice_item]", f"{prefix}[{key}]")
            item = state.require("invoiceitem", spec["invoice_item"], f"{prefix}[invoice_item]")
            if item["customer"] != obj["customer"]:
                raise invalid_param(f"{prefix}[invoice_item]", "The invoice item belongs to a different customer.")
            already_planned = any(planned_item is item for _, planned_item in planned)
            if item["invoice"] is not None or already_planned:
                raise invalid_param(
                    f"{prefix}[invoice_item]",
                    f"The invoice item {item['id']} is already attached to invoice {item['invoice'] or obj['id']}.",
                )
            if item["currency"] != obj["currency"]:
                raise _currency_mismatch(f"{prefix}[invoice_item]", item["currency"], obj)
            planned.append((spec, item))
            continue
        charge = prepare_charge(state, spec, prefix=prefix, currency=obj["currency"], allow_unit_amount_decimal=False)
        if charge.currency != obj["currency"]:
            raise _currency_mismatch(
                f"{prefix}[{'price_data][currency' if charge.inline_price else 'pricing][price'}]",
                charge.currency,
                obj,
            )
        planned.append((spec, charge))

    before = state.render(obj)
    for spec, plan in planned:
        if isinstance(plan, Charge):
            item = state.add(
                objects.build_invoice_item(
                    state,
                    customer_id=obj["customer"],
                    invoice_id=None,
                    amount=plan.amount,
                    currency=plan.currency,
                    quantity=plan.quantity,
                    unit_amount_decimal=plan.unit_amount_decimal,
                    price=_materialize_price(state, plan),
                    params=spec,
                )
            )
            _attach(state, item, obj)
            state.emit("invoiceitem.created", item, ctx)
        else:
            item = plan
            _apply_item_details(item, spec)
            _attach(state, item, obj)
    if "invoice_metadata" in params:
        obj["metadata"] = objects.merge_metadata(obj["metadata"], params["invoice_metadata"])
    recompute_totals(state, obj)
    _refresh_customer_details(state, obj)
    emit_update(state, ctx, "invoice.updated", before, obj)
    return state.render(obj)


def remove_lines(state: State, ctx: RequestContext, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    obj = _require_invoice(state, invoice)
    if obj["status"] != "draft":
        raise _not_editable(obj, "Lines can only be removed from draft invoices.")
    lines = {line["id"]: line for line in state.invoice_lines[obj["id"]]}
    seen: set[str] = set()
    for index, spec in enumerate(params["lines"]):
        if spec["id"] not in lines:
            raise no_such("invoice line item", spec["id"], f"lines[{index}][id]")
        if spec["id"] in seen:
            raise invalid_param(f"lines[{index}][id]", f"Line {spec['id']} is listed more than once.")
        seen.add(spec["id"])
    before = state.render(obj)
    for spec in params["lines"]:
        item_id = lines[spec["id"]]["parent"]["invoice_item_details"]["invoice_item"]
        item = state.require("invoiceitem", item_id)
        _detach(state, item)
        if spec["behavior"] == "delete":
            snapshot = state.render(item)
            state.delete(item_id)
            state.emit("invoiceitem.deleted", snapshot, ctx)
    if "invoice_metadata" in params:
        obj["metadata"] = objects.merge_metadata(obj["metadata"], params["invoice_metadata"])
    recompute_totals(state, obj)
    emit_update(state, ctx, "invoice.updated", before, obj)
    return state.render(obj)


# -- the status machine ------------------------------------------------------------------------


def _transition(
    state: State, ctx: RequestContext, invoice: dict[str, Any], before: dict[str, Any], *events: str
) -> None:
    """Emit the specific events for a status change, then ``invoice.updated`` (as Stripe does)."""
    for event_type in events:
        state.emit(event_type, invoice, ctx)
    previous = changed_attributes(before, state.render(invoice))
    if previous:
        state.emit("invoice.updated", invoice, ctx, previous)


def finalize(state: State, ctx: RequestContext, invoice: dict[str, Any], auto_advance: bool | None = None) -> None:
    if invoice["status"] != "draft":
        raise invalid_state(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            code="invoice_already_finalized",
        )
    if state.find(invoice["customer"], "customer") is None:
        raise no_such("customer", invoice["customer"], "customer")
    tax_and_discounts.check_finalize(state, invoice)
    before = state.render(invoice)
    now = state.now()
    private = state.invoice_private[invoice["id"]]
    _refresh_customer_details(state, invoice)
    recompute_totals(state, invoice)
    tax_and_discounts.redeem(state, invoice)
    if auto_advance is not None:
        invoice["auto_advance"] = auto_advance
    if invoice["collection_method"] == "send_invoice" and invoice["due_date"] is None:
        invoice["due_date"] = now + (private.days_until_due or 0) * SECONDS_PER_DAY
    hosted_url, pdf_url = objects.hosted_invoice_url(state)
    invoice.update(
        status="open",
        number=invoice["number"] or state.next_invoice_number(),
        effective_at=invoice["effective_at"] or now,
        hosted_invoice_url=hosted_url,
        invoice_pdf=pdf_url,
        ending_balance=invoice["starting_balance"],
        webhooks_delivered_at=now,
        automatically_finalizes_at=None,
        next_payment_attempt=(
            now + AUTO_ADVANCE_DELAY
            if invoice["collection_method"] == "charge_automatically" and invoice["auto_advance"]
            else None
        ),
    )
    invoice["status_transitions"]["finalized_at"] = now
    if invoice["amount_due"] > 0:
        payment_intent = state.add(objects.build_payment_intent(state, invoice))
        invoice_payment = state.add(objects.build_invoice_payment(state, invoice, payment_intent))
        private.payment_intent = payment_intent["id"]
        private.invoice_payment = invoice_payment["id"]
    _transition(state, ctx, invoice, before, "invoice.finalized")
    if invoice["amount_due"] == 0:
        mark_paid(state, ctx, invoice, out_of_band=False)  # nothing to collect: Stripe marks it paid


def mark_paid(
    state: State,
    ctx: RequestContext,
    invoice: dict[str, Any],
    *,
    out_of_band: bool,
    payment_method: str | None = None,
) -> None:
    if invoice["status"] not in ("open", "uncollectible"):
        raise _cannot_pay(invoice)
    before = state.render(invoice)
    now = state.now()
    private = state.invoice_private[invoice["id"]]
    payment_intent = state.find(private.payment_intent or "", "payment_intent")
    invoice_payment = state.find(private.invoice_payment or "", "invoice_payment")
    succeeded_intent = None
    if payment_intent is not None and invoice_payment is not None:
        if out_of_band:  # the money arrived elsewhere: the invoice's PaymentIntent is no longer needed
            payment_intent.update(status="canceled", canceled_at=now, cancellation_reason=None)
            invoice_payment["status"] = "canceled"
            invoice_payment["status_transitions"]["canceled_at"] = now
        else:
            payment_intent.update(
                status="succeeded",
                amount_received=payment_intent["amount"],
                payment_method=payment_method or payment_intent["payment_method"] or state.new_id("pm"),
                latest_charge=state.new_id("ch"),
                last_payment_error=None,
                processing=None,
            )
            invoice_payment.update(status="paid", amount_paid=payment_intent["amount"])
            invoice_payment["status_transitions"]["paid_at"] = now
            succeeded_intent = payment_intent
    invoice.update(
        status="paid",
        amount_paid=invoice["amount_due"],
        amount_remaining=0,
        attempted=True,
        attempt_count=invoice["attempt_count"] + (0 if out_of_band or invoice["amount_due"] == 0 else 1),
        next_payment_attempt=None,
        auto_advance=False,
    )
    invoice["status_transitions"]["paid_at"] = now
    if succeeded_intent is not None:
        state.emit("payment_intent.succeeded", succeeded_intent, ctx)
    events = ["invoice.paid"] if out_of_band else ["invoice.paid", "invoice.payment_succeeded"]
    _transition(state, ctx, invoice, before, *events)


def _cannot_pay(invoice: dict[str, Any]) -> StripeApiError:
    if invoice["status"] == "paid":
        return invalid_state("Invoice is already paid")
    if invoice["status"] == "void":
        return invalid_state(f"Invoice {invoice['id']} has been voided and can no longer be paid.")
    return invalid_state(f"Invoice {invoice['id']} is a draft; finalize it before paying.")


def payment_failure(
    state: State,
    ctx: RequestContext,
    invoice: dict[str, Any],
    decline_code: str,
    payment_method: str | None = None,
) -> StripeApiError:
    """Record a declined attempt (events included) and return the card error Stripe would answer."""
    if invoice["status"] not in ("open", "uncollectible"):
        raise _cannot_pay(invoice)
    before = state.render(invoice)
    now = state.now()
    code = decline_code if decline_code in OWN_CODE_DECLINES else "card_declined"
    message = DECLINE_MESSAGES.get(decline_code, "Your card was declined.")
    error_info = {
        "type": "card_error",
        "code": code,
        "decline_code": decline_code,
        "message": message,
        "doc_url": f"https://stripe.com/docs/error-codes/{code.replace('_', '-')}",
    }
    payment_intent = state.find(state.invoice_private[invoice["id"]].payment_intent or "", "payment_intent")
    if payment_intent is not None:
        payment_intent.update(
            status="requires_payment_method",
            last_payment_error=error_info,
            payment_method=None,
            processing=None,
        )
    invoice.update(
        attempted=True,
        attempt_count=invoice["attempt_count"] + 1,
        next_payment_attempt=(
            now + SMART_RETRY_DELAY if invoice["collection_method"] == "charge_automatically" else None
        ),
    )
    if payment_intent is not None:
        state.emit("payment_intent.payment_failed", payment_intent, ctx)
    _transition(state, ctx, invoice, before, "invoice.payment_failed")
    return StripeApiError(
        402,
        message,
        type="card_error",
        code=code,
        decline_code=decline_code,
        extra={"payment_intent": state.render(payment_intent)} if payment_intent else None,
    )


def start_processing(state: State, ctx: RequestContext, invoice: dict[str, Any]) -> dict[str, Any]:
    if invoice["status"] != "open":
        raise invalid_state(f"Invoice {invoice['id']} is {invoice['status']}; only open invoices can be processing.")
    payment_intent = state.find(state.invoice_private[invoice["id"]].payment_intent or "", "payment_intent")
    if payment_intent is None:
        raise invalid_state(f"Invoice {invoice['id']} has no PaymentIntent (nothing to collect).")
    if payment_intent["status"] == "processing":
        raise invalid_state(f"PaymentIntent {payment_intent['id']} is already processing.")
    payment_intent.update(
        status="processing",
        payment_method=payment_intent["payment_method"] or state.new_id("pm"),
        last_payment_error=None,
    )
    state.emit("payment_intent.processing", payment_intent, ctx)
    return payment_intent


def make_overdue(state: State, ctx: RequestContext, invoice: dict[str, Any]) -> None:
    if invoice["status"] != "open":
        raise invalid_state(f"Invoice {invoice['id']} is {invoice['status']}; only open invoices become overdue.")
    if invoice["due_date"] is None:
        raise invalid_state(f"Invoice {invoice['id']} has no due date (collection_method=charge_automatically).")
    now = state.now()
    if invoice["due_date"] >= now:
        invoice["due_date"] = now - SECONDS_PER_DAY
    state.emit("invoice.overdue", invoice, ctx)


# -- status endpoints --------------------------------------------------------------------------


def finalize_invoice(state: State, ctx: RequestContext, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    obj = _require_invoice(state, invoice)
    finalize(state, ctx, obj, params.get("auto_advance"))
    return state.render(obj)


def send_invoice(state: State, ctx: RequestContext, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    obj = _require_invoice(state, invoice)
    if obj["collection_method"] != "send_invoice":
        raise invalid_state("You can only manually send an invoice if its collection method is 'send_invoice'.")
    if obj["status"] == "draft":
        raise invalid_state(f"Invoice {obj['id']} is still a draft. Finalize it before sending it.")
    if obj["status"] == "void":
        raise invalid_state(f"Invoice {obj['id']} is void and can't be sent.")
    if not obj["customer_email"]:
        raise invalid_state(
            f"Invoice {obj['id']} can't be sent: customer {obj['customer']} has no email address.",
            param="customer",
        )
    state.emit("invoice.sent", obj, ctx)  # test mode sends no email; only the event
    return state.render(obj)


def void_invoice(state: State, ctx: RequestContext, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    obj = _require_invoice(state, invoice)
    if obj["status"] == "draft":
        raise invalid_state(f"You can't void a draft invoice ({obj['id']}). Delete it instead, or finalize it first.")
    if obj["status"] not in ("open", "uncollectible"):
        raise invalid_state(
            f"You can only void open or uncollectible invoices; invoice {obj['id']} is {obj['status']}."
        )
    before = state.render(obj)
    now = state.now()
    private = state.invoice_private[obj["id"]]
    payment_intent = state.find(private.payment_intent or "", "payment_intent")
    if payment_intent is not None and payment_intent["status"] not in ("succeeded", "canceled"):
        payment_intent.update(status="canceled", canceled_at=now, cancellation_reason="void_invoice")
        invoice_payment = state.find(private.invoice_payment or "", "invoice_payment")
        if invoice_payment is not None:
            invoice_payment["status"] = "canceled"
            invoice_payment["status_transitions"]["canceled_at"] = now
    obj.update(status="void", next_payment_attempt=None, auto_advance=False)
    obj["status_transitions"]["voided_at"] = now
    if payment_intent is not None:
        state.emit("payment_intent.canceled", payment_intent, ctx)
    _transition(state, ctx, obj, before, "invoice.voided")
    return state.render(obj)


def mark_uncollectible(state: State, ctx: RequestContext, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    obj = _require_invoice(state, invoice)
    if obj["status"] != "open":
        raise invalid_state(
            f"You can only mark open invoices as uncollectible; invoice {obj['id']} is {obj['status']}."
        )
    before = state.render(obj)
    obj.update(status="uncollectible", next_payment_attempt=None, auto_advance=False)
    obj["status_transitions"]["marked_uncollectible_at"] = state.now()
    _transition(state, ctx, obj, before, "invoice.marked_uncollectible")
    return state.render(obj)


def pay_invoice(state: State, ctx: RequestContext, params: dict[str, Any], invoice: str) -> dict[str, Any]:
    obj = _require_invoice(state, invoice)
    if params.get("source"):
        raise no_such("source", params["source"], "source")
    if params.get("mandate"):
        raise no_such("mandate", params["mandate"], "mandate")
    _check_payment_method(params.get("payment_method"), "payment_method")
    if obj["status"] in ("paid", "void"):
        raise _cannot_pay(obj)
    if obj["status"] == "draft":
        finalize(state, ctx, obj)  # /pay finalizes drafts first
        if obj["status"] == "paid":
            return state.render(obj)
    if params.get("paid_out_of_band"):
        mark_paid(state, ctx, obj, out_of_band=True)
        return state.render(obj)
    customer = state.find(obj["customer"], "customer")
    payment_method = (
        params.get("payment_method")
        or obj["default_payment_method"]
        or (customer["invoice_settings"]["default_payment_method"] if customer else None)
    )
    if not payment_method:
        raise invalid_state(
            "This customer has no attached payment source or default payment method. Please consider "
            "adding a default payment method. For more information, visit "
            "https://stripe.com/docs/billing/subscriptions/payment-methods-setting#payment-method-priority."
        )
    decline_code = DECLINING_TEST_PAYMENT_METHODS.get(payment_method)
    if decline_code:
        raise payment_failure(state, ctx, obj, decline_code, payment_method)
    mark_paid(state, ctx, obj, out_of_band=False, payment_method=payment_method)
    return state.render(obj)


# ---------------------------------------------------------------------------------------------
# Invoice items
# ---------------------------------------------------------------------------------------------


def _apply_item_details(item: dict[str, Any], spec: dict[str, Any]) -> None:
    """Non-monetary fields an item takes from create/update/add_lines parameters."""
    for key in ("description", "discountable"):
        if key in spec:
            item[key] = spec[key] if spec[key] != "" else None
    if "period" in spec:
        item["period"] = {"end": spec["period"]["end"], "start": spec["period"]["start"]}
    if "metadata" in spec:
        item["metadata"] = objects.merge_metadata(item["metadata"], spec["metadata"])


def _check_period(spec: dict[str, Any], prefix: str = "") -> None:
    period = spec.get("period")
    if period and period["end"] < period["start"]:
        raise invalid_param(
            param_path(prefix, "period[end]"), "The period end must be greater than or equal to the start."
        )


def _editable_item(state: State, item: dict[str, Any]) -> None:
    if item["invoice"] is None:
        return
    invoice = state.find(item["invoice"], "invoice")
    if invoice is not None and invoice["status"] != "draft":
        raise _not_editable(invoice, f"Invoice item {item['id']} belongs to a finalized invoice.")


def create_invoice_item(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if "customer_account" in params:
        raise unsupported("customer_account")
    for key, kind in (("subscription", "subscription"), ("tax_code", "tax_code")):
        reject_unknown_reference(params, key, kind)
    _reject_discounts(state, params)
    if "customer" not in params:
        raise missing_param("customer")
    customer = _customer(state, params["customer"])
    _check_period(params)
    invoice = None
    if "invoice" in params:
        invoice = state.require("invoice", params["invoice"], "invoice")
        if invoice["customer"] != customer["id"]:
            raise invalid_param("invoice", f"Invoice {invoice['id']} belongs to a different customer.")
        if invoice["status"] != "draft":
            raise _not_editable(invoice, "Invoice items can only be added to draft invoices.")
        _check_room(state, invoice, 1, "invoice")
    charge = prepare_charge(
        state,
        params,
        prefix="",
        currency=invoice["currency"] if invoice else customer["currency"],
        allow_unit_amount_decimal=True,
    )
    if invoice is not None and charge.currency != invoice["currency"]:
        raise _currency_mismatch("currency", charge.currency, invoice)
    item = state.add(
        objects.build_invoice_item(
            state,
            customer_id=customer["id"],
            invoice_id=None,
            amount=charge.amount,
            currency=charge.currency,
            quantity=charge.quantity,
            unit_amount_decimal=charge.unit_amount_decimal,
            price=_materialize_price(state, charge),
            params=params,
        )
    )
    if invoice is not None:
        _attach(state, item, invoice)
        recompute_totals(state, invoice)
    state.emit("invoiceitem.created", item, ctx)
    return state.render(item)


def retrieve_invoice_item(
    state: State, ctx: RequestContext, params: dict[str, Any], invoiceitem: str
) -> dict[str, Any]:
    return state.render(state.require("invoiceitem", invoiceitem, in_path=True))


def update_invoice_item(state: State, ctx: RequestContext, params: dict[str, Any], invoiceitem: str) -> dict[str, Any]:
    item = state.require("invoiceitem", invoiceitem, in_path=True)
    _editable_item(state, item)
    for key, kind in (("tax_code", "tax_code"),):
        reject_unknown_reference(params, key, kind)
    if "invoicing_rules" in params:
        raise unsupported("invoicing_rules")
    _reject_discounts(state, params)
    _check_period(params)
    before = state.render(item)
    money_keys = ("amount", "pricing", "price_data", "unit_amount_decimal", "quantity", "quantity_decimal")
    if any(key in params for key in money_keys):
        spec = {key: params[key] for key in money_keys if key in params}
        kept_price = None
        if not any(key in spec for key in ("amount", "pricing", "price_data", "unit_amount_decimal")):
            # Only the quantity changes: keep the item's unit price (and its price reference, if any).
            spec["unit_amount_decimal"] = Decimal(item["pricing"]["unit_amount_decimal"])
            price_details = item["pricing"]["price_details"]
            kept_price = state.find(price_details["price"], "price") if price_details else None
        spec["currency"] = item["currency"]
        charge = prepare_charge(state, spec, prefix="", currency=item["currency"], allow_unit_amount_decimal=True)
        if charge.currency != item["currency"]:
            raise invalid_param("pricing[price]", "An invoice item's currency can't be changed.")
        price = kept_price or _materialize_price(state, charge)
        item.update(
            amount=charge.amount,
            net_amount=charge.amount,
            quantity=int(charge.quantity),
            quantity_decimal=objects.decimal_text(charge.quantity),
            pricing=objects.pricing(price, charge.unit_amount_decimal),
        )
    _apply_item_details(item, params)
    if item["invoice"] is not None:
        for line in state.invoice_lines[item["invoice"]]:
            if line["parent"]["invoice_item_details"]["invoice_item"] == item["id"]:
                objects.refresh_line_item(line, item)
        invoice = state.require("invoice", item["invoice"])
        invoice_before = state.render(invoice)
        recompute_totals(state, invoice)
        emit_update(state, ctx, "invoiceitem.updated", before, item)
        emit_update(state, ctx, "invoice.updated", invoice_before, invoice)
    else:
        emit_update(state, ctx, "invoiceitem.updated", before, item)
    return state.render(item)


def delete_invoice_item(state: State, ctx: RequestContext, params: dict[str, Any], invoiceitem: str) -> dict[str, Any]:
    item = state.require("invoiceitem", invoiceitem, in_path=True)
    _editable_item(state, item)
    snapshot = state.render(item)
    _detach(state, item)
    stub = state.delete(item["id"])
    state.emit("invoiceitem.deleted", snapshot, ctx)
    return stub


def list_invoice_items(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if "customer_account" in params:
        raise unsupported("customer_account")
    items = [state.render(item) for item in state.all("invoiceitem")]
    for key in ("customer", "invoice"):
        if key in params:
            items = [item for item in items if item[key] == params[key]]
    if "pending" in params:
        items = [item for item in items if (item["invoice"] is None) == params["pending"]]
    return list_object(items, params, "/v1/invoiceitems", kind="invoiceitem")


# ---------------------------------------------------------------------------------------------
# Payments: invoice_payments and PaymentIntents (read-only)
# ---------------------------------------------------------------------------------------------


def list_invoice_payments(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    payments = [state.render(p) for p in state.all("invoice_payment")]
    if "invoice" in params:
        payments = [p for p in payments if p["invoice"] == params["invoice"]]
    if "status" in params:
        payments = [p for p in payments if p["status"] == params["status"]]
    wanted = params.get("payment")
    if wanted:
        payments = [
            p
            for p in payments
            if p["payment"]["type"] == wanted["type"]
            and all(p["payment"].get(key) == value for key, value in wanted.items() if key != "type")
        ]
    return list_object(payments, params, "/v1/invoice_payments", kind="invoice_payment")


def retrieve_invoice_payment(
    state: State, ctx: RequestContext, params: dict[str, Any], invoice_payment: str
) -> dict[str, Any]:
    return state.render(state.require("invoice_payment", invoice_payment, in_path=True))


def retrieve_payment_intent(state: State, ctx: RequestContext, params: dict[str, Any], intent: str) -> dict[str, Any]:
    payment_intent = state.require("payment_intent", intent, in_path=True)
    return state.render(payment_intent)


def list_payment_intents(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    intents = [state.render(p) for p in state.all("payment_intent")]
    if "customer" in params:
        intents = [p for p in intents if p["customer"] == params["customer"]]
    return list_object(intents, params, "/v1/payment_intents", kind="payment_intent")


def includable_fields(state: State, obj: dict[str, Any], field: str) -> Any:
    """What Stripe returns only through ``expand``: an invoice's ``payments`` and ``confirmation_secret``."""
    if obj.get("object") != "invoice" or obj.get("id") not in state.invoice_private:
        return None
    private = state.invoice_private[obj["id"]]
    if field == "payments":
        payments = [state.render(p) for p in state.all("invoice_payment") if p["invoice"] == obj["id"]]
        return list_object(
            payments,
            {"limit": 100},
            f"/v1/invoice_payments?invoice={obj['id']}",
            kind="invoice_payment",
            with_total_count=True,
        )
    if field == "confirmation_secret":
        payment_intent = state.find(private.payment_intent or "", "payment_intent")
        if payment_intent is None:
            return None
        return {"client_secret": payment_intent["client_secret"], "type": "payment_intent"}
    return None

"""Builders for API objects, shaped after Stripe's fixtures (see :mod:`.fixtures`).

Each builder sets every top-level key of the fixture explicitly (``from_template`` enforces it),
using the fixture only for the key set and for a few nested default shapes.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .fixtures import from_template, template
from .state import DEFAULT_ACCOUNT_ID, DEFAULT_ACCOUNT_NAME, AccountProfile, State

ACCOUNT_ID = DEFAULT_ACCOUNT_ID  # the default account's (each State knows its own: state.profile)
ACCOUNT_NAME = DEFAULT_ACCOUNT_NAME


def decimal_text(value: Decimal | int) -> str:
    """Stripe's decimal strings: "1500", "12.5" (no exponent, no trailing zeros)."""
    text = format(Decimal(value).normalize(), "f")
    return text


def line_total(unit_amount: Decimal, quantity: Decimal) -> int:
    """An amount in the currency's smallest unit: unit price x quantity, rounded half up."""
    return int((unit_amount * quantity).to_integral_value(rounding=ROUND_HALF_UP))


def metadata_from(value: Any) -> dict[str, str]:
    """Metadata on create: empty values are simply not stored."""
    if not isinstance(value, dict):
        return {}
    return {key: item for key, item in value.items() if item != ""}


def merge_metadata(current: dict[str, str], update: Any) -> dict[str, str]:
    """Metadata on update: ``""`` clears everything, a key set to ``""`` is removed, others merge."""
    if update == "":
        return {}
    merged = dict(current)
    for key, item in (update or {}).items():
        if item == "":
            merged.pop(key, None)
        else:
            merged[key] = item
    return merged


def address(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if not value:
        return None
    return {key: value.get(key) for key in ("city", "country", "line1", "line2", "postal_code", "state")}


def shipping(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if not value:
        return None
    return {"address": address(value.get("address")), "name": value.get("name"), "phone": value.get("phone")}


# -- catalog and customers ---------------------------------------------------------------------


def build_customer(state: State, params: dict[str, Any]) -> dict[str, Any]:
    settings = params.get("invoice_settings") or {}
    return from_template(
        "customer",
        address=address(params.get("address")),
        balance=params.get("balance", 0),
        created=state.now(),
        currency=None,
        default_source=None,
        delinquent=False,
        description=params.get("description"),
        discount=None,
        email=params.get("email"),
        id=state.new_id("cus", 14),
        invoice_prefix=params.get("invoice_prefix") or state.random_token(8).upper(),
        invoice_settings=invoice_settings({}, settings),
        livemode=state.livemode,
        metadata=metadata_from(params.get("metadata")),
        name=params.get("name"),
        next_invoice_sequence=params.get("next_invoice_sequence", 1),
        object="customer",
        phone=params.get("phone"),
        preferred_locales=params.get("preferred_locales") or [],
        shipping=shipping(params.get("shipping")),
        tax_exempt=params.get("tax_exempt", "none"),
        test_clock=None,
    )


def invoice_settings(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    settings = {
        "custom_fields": current.get("custom_fields"),
        "default_payment_method": current.get("default_payment_method"),
        "footer": current.get("footer"),
        "rendering_options": current.get("rendering_options"),
    }
    for key in ("custom_fields", "default_payment_method", "footer", "rendering_options"):
        if key in update:
            settings[key] = update[key] or None
    return settings


def build_product(state: State, params: dict[str, Any]) -> dict[str, Any]:
    now = state.now()
    return from_template(
        "product",
        active=params.get("active", True),
        created=now,
        default_price=None,
        description=params.get("description"),
        id=params.get("id") or state.new_id("prod", 14),
        images=params.get("images") or [],
        livemode=state.livemode,
        marketing_features=[{"name": feature["name"]} for feature in params.get("marketing_features") or []],
        metadata=metadata_from(params.get("metadata")),
        name=params["name"],
        object="product",
        package_dimensions=params.get("package_dimensions"),
        shippable=params.get("shippable"),
        statement_descriptor=params.get("statement_descriptor"),
        tax_code=params.get("tax_code"),
        unit_label=params.get("unit_label"),
        updated=now,
        url=params.get("url"),
        type=params.get("type", "service"),
    )


def build_price(
    state: State,
    *,
    product_id: str,
    currency: str,
    unit_amount_decimal: Decimal,
    recurring: dict[str, Any] | None = None,
    active: bool = True,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    params = params or {}
    whole = unit_amount_decimal == unit_amount_decimal.to_integral_value()
    return from_template(
        "price",
        active=active,
        billing_scheme="per_unit",
        created=state.now(),
        currency=currency,
        custom_unit_amount=None,
        id=state.new_id("price"),
        livemode=state.livemode,
        lookup_key=params.get("lookup_key"),
        metadata=metadata_from(params.get("metadata")),
        nickname=params.get("nickname"),
        object="price",
        product=product_id,
        recurring=(
            {
                "interval": recurring["interval"],
                "interval_count": recurring.get("interval_count", 1),
                "meter": recurring.get("meter"),
                "usage_type": recurring.get("usage_type", "licensed"),
                "trial_period_days": recurring.get("trial_period_days"),
            }
            if recurring
            else None
        ),
        tax_behavior=params.get("tax_behavior", "unspecified"),
        tiers_mode=None,
        transform_quantity=None,
        type="recurring" if recurring else "one_time",
        unit_amount=int(unit_amount_decimal) if whole else None,
        unit_amount_decimal=decimal_text(unit_amount_decimal),
    )


# -- invoicing ---------------------------------------------------------------------------------


def build_invoice(
    state: State,
    customer: dict[str, Any],
    *,
    currency: str,
    collection_method: str,
    params: dict[str, Any],
) -> dict[str, Any]:
    now = state.now()
    rendering = template("invoice")["rendering"]
    rendering.update({"amount_tax_display": None, "pdf": {"page_size": "auto"}, "template": None})
    return from_template(
        "invoice",
        account_country=state.profile.country,
        account_name=state.profile.name,
        account_tax_ids=None,
        amount_due=0,
        amount_paid=0,
        amount_remaining=0,
        amount_shipping=0,
        application=None,
        attempt_count=0,
        attempted=False,
        auto_advance=params.get("auto_advance", False),
        automatic_tax={
            "enabled": False,
            "liability": None,
            "status": None,
            "disabled_reason": None,
            "provider": None,
        },
        billing_reason="manual",
        collection_method=collection_method,
        created=now,
        currency=currency,
        custom_fields=params.get("custom_fields") or None,
        customer=customer["id"],
        customer_address=customer["address"],
        customer_email=customer["email"],
        customer_name=customer["name"],
        customer_phone=customer["phone"],
        customer_shipping=customer["shipping"],
        customer_tax_exempt=customer["tax_exempt"],
        customer_tax_ids=[],
        default_payment_method=params.get("default_payment_method"),
        default_source=None,
        default_tax_rates=[],
        description=params.get("description"),
        discounts=[],
        due_date=params.get("due_date"),
        effective_at=params.get("effective_at"),
        ending_balance=None,
        footer=params.get("footer", customer["invoice_settings"]["footer"]),
        from_invoice=None,
        hosted_invoice_url=None,
        id=state.new_id("in"),
        invoice_pdf=None,
        issuer={"type": "self"},
        last_finalization_error=None,
        latest_revision=None,
        lines=None,  # kept in State.invoice_lines, embedded by State.render
        livemode=state.livemode,
        metadata=metadata_from(params.get("metadata")),
        next_payment_attempt=None,
        number=params.get("number"),
        object="invoice",
        on_behalf_of=None,
        payment_settings=payment_settings({}, params.get("payment_settings") or {}),
        period_end=now,
        period_start=now,
        post_payment_credit_notes_amount=0,
        pre_payment_credit_notes_amount=0,
        receipt_number=None,
        rendering=rendering,
        shipping_cost=None,
        shipping_details=shipping(params.get("shipping_details")),
        starting_balance=customer["balance"] or 0,
        statement_descriptor=params.get("statement_descriptor"),
        status="draft",
        status_transitions={
            "finalized_at": None,
            "marked_uncollectible_at": None,
            "paid_at": None,
            "voided_at": None,
        },
        subscription=None,
        subtotal=0,
        subtotal_excluding_tax=0,
        test_clock=None,
        total=0,
        total_discount_amounts=[],
        total_excluding_tax=0,
        webhooks_delivered_at=None,
        automatically_finalizes_at=None,
        total_pretax_credit_amounts=[],
        total_taxes=[],
        amount_overpaid=0,
        parent=None,
        customer_account=None,
    )


def payment_settings(current: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    settings = {
        "default_mandate": current.get("default_mandate"),
        "payment_method_options": current.get("payment_method_options"),
        "payment_method_types": current.get("payment_method_types"),
    }
    for key in settings:
        if key in update:
            settings[key] = update[key] or None
    return settings


def pricing(price: dict[str, Any] | None, unit_amount_decimal: Decimal) -> dict[str, Any]:
    return {
        "price_details": {"price": price["id"], "product": price["product"]} if price else None,
        "type": "price_details",
        "unit_amount_decimal": decimal_text(unit_amount_decimal),
    }


def build_invoice_item(
    state: State,
    *,
    customer_id: str,
    invoice_id: str | None,
    amount: int,
    currency: str,
    quantity: Decimal,
    unit_amount_decimal: Decimal,
    price: dict[str, Any] | None,
    params: dict[str, Any],
) -> dict[str, Any]:
    now = state.now()
    period = params.get("period") or {"start": now, "end": now}
    return from_template(
        "invoiceitem",
        amount=amount,
        currency=currency,
        customer=customer_id,
        date=now,
        description=params.get("description"),
        discountable=params.get("discountable", amount >= 0),
        discounts=[],
        id=state.new_id("ii"),
        invoice=invoice_id,
        livemode=state.livemode,
        metadata=metadata_from(params.get("metadata")),
        object="invoiceitem",
        period={"end": period["end"], "start": period["start"]},
        proration=False,
        quantity=int(quantity),
        tax_rates=[],
        test_clock=None,
        parent=None,
        pricing=pricing(price, unit_amount_decimal),
        net_amount=amount,
        customer_account=None,
        quantity_decimal=decimal_text(quantity),
    )


def build_line_item(state: State, item: dict[str, Any], invoice_id: str) -> dict[str, Any]:
    """The invoice line that shows an invoice item on its invoice."""
    return from_template(
        "line_item",
        amount=item["amount"],
        currency=item["currency"],
        description=item["description"],
        discount_amounts=[],
        discountable=item["discountable"],
        discounts=[],
        id=state.new_id("il"),
        invoice=invoice_id,
        livemode=state.livemode,
        metadata=dict(item["metadata"]),
        object="line_item",
        period=dict(item["period"]),
        quantity=item["quantity"],
        subscription=None,
        pretax_credit_amounts=[],
        taxes=[],
        parent={
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": None,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        },
        pricing=dict(item["pricing"]) if item["pricing"] else None,
        subtotal=item["amount"],
        quantity_decimal=item["quantity_decimal"],
    )


def refresh_line_item(line: dict[str, Any], item: dict[str, Any]) -> None:
    """Copy an updated invoice item's values onto its line."""
    line.update(
        amount=item["amount"],
        currency=item["currency"],
        description=item["description"],
        discountable=item["discountable"],
        metadata=dict(item["metadata"]),
        period=dict(item["period"]),
        quantity=item["quantity"],
        pricing=dict(item["pricing"]) if item["pricing"] else None,
        subtotal=item["amount"],
        quantity_decimal=item["quantity_decimal"],
    )


def build_payment_intent(state: State, invoice: dict[str, Any]) -> dict[str, Any]:
    pi_id = state.new_id("pi")
    return from_template(
        "payment_intent",
        amount=invoice["amount_due"],
        amount_capturable=0,
        amount_details={"tip": {}},
        amount_received=0,
        application=None,
        application_fee_amount=None,
        automatic_payment_methods=None,
        canceled_at=None,
        cancellation_reason=None,
        capture_method="automatic",
        client_secret=f"{pi_id}_secret_{state.random_token(25)}",
        confirmation_method="automatic",
        created=state.now(),
        currency=invoice["currency"],
        customer=invoice["customer"],
        description="Payment for Invoice",
        id=pi_id,
        last_payment_error=None,
        latest_charge=None,
        livemode=state.livemode,
        metadata={},
        next_action=None,
        object="payment_intent",
        on_behalf_of=None,
        payment_method=None,
        payment_method_configuration_details=None,
        payment_method_options={},
        payment_method_types=["card"],
        processing=None,
        receipt_email=None,
        review=None,
        setup_future_usage=None,
        shipping=None,
        statement_descriptor=None,
        statement_descriptor_suffix=None,
        status="requires_payment_method",
        transfer_data=None,
        transfer_group=None,
        source=None,
        excluded_payment_method_types=None,
        customer_account=None,
        managed_payments=None,
    )


def build_invoice_payment(state: State, invoice: dict[str, Any], payment_intent: dict[str, Any]) -> dict[str, Any]:
    """The link between an invoice and its PaymentIntent (PaymentIntents no longer carry `invoice`)."""
    return from_template(
        "invoice_payment",
        amount_paid=None,
        amount_requested=invoice["amount_due"],
        created=state.now(),
        currency=invoice["currency"],
        id=state.new_id("inpay"),
        invoice=invoice["id"],
        is_default=True,
        livemode=state.livemode,
        object="invoice_payment",
        payment={"type": "payment_intent", "payment_intent": payment_intent["id"]},
        status="open",
        status_transitions={"canceled_at": None, "paid_at": None},
    )


def hosted_invoice_url(state: State) -> tuple[str, str]:
    token = f"{'live' if state.livemode else 'test'}_{state.random_token(60)}"
    return (
        f"https://invoice.stripe.com/i/{state.account_id}/{token}?s=ap",
        f"https://pay.stripe.com/invoice/{state.account_id}/{token}/pdf?s=ap",
    )


# -- account and webhook endpoints -------------------------------------------------------------


def build_account(profile: AccountProfile) -> dict[str, Any]:
    """The account as ``GET /v1/account`` shows it to its own keys: a standard account, activated."""
    shape = template("account")
    business_profile = shape["business_profile"]
    business_profile["name"] = profile.name
    settings = shape["settings"]
    settings["dashboard"]["display_name"] = profile.name
    no_requirements = {
        "alternatives": [],
        "current_deadline": None,
        "currently_due": [],
        "disabled_reason": None,
        "errors": [],
        "eventually_due": [],
        "past_due": [],
        "pending_verification": [],
    }
    return from_template(
        "account",
        business_profile=business_profile,
        business_type="company",
        capabilities={"card_payments": "active", "transfers": "active"} if profile.charges_enabled else {},
        charges_enabled=profile.charges_enabled,
        controller=shape["controller"],
        country=profile.country,
        created=profile.created,
        default_currency=profile.default_currency,
        details_submitted=True,
        email=profile.email,
        external_accounts={
            "data": [],
            "has_more": False,
            "object": "list",
            "url": f"/v1/accounts/{profile.id}/external_accounts",
        },
        future_requirements=dict(no_requirements),
        id=profile.id,
        metadata={},
        object="account",
        payouts_enabled=profile.charges_enabled,
        requirements=(
            no_requirements
            if profile.charges_enabled
            else dict(shape["requirements"], disabled_reason="requirements.past_due")
        ),
        settings=settings,
        tos_acceptance=shape["tos_acceptance"],
        type="standard",
    )


def build_webhook_endpoint(state: State, params: dict[str, Any]) -> dict[str, Any]:
    return from_template(
        "webhook_endpoint",
        api_version=params.get("api_version"),
        application=None,
        created=state.now(),
        description=params.get("description") or None,
        enabled_events=list(params["enabled_events"]),
        id=state.new_id("we"),
        livemode=state.livemode,
        metadata=metadata_from(params.get("metadata")),
        object="webhook_endpoint",
        status="enabled",
        url=params["url"],
    )

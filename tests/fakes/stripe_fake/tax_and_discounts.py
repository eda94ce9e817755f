"""Tax rates, coupons and promotion codes, and what they do to an invoice.

Endpoints (``/v1/tax_rates``, ``/v1/coupons``, ``/v1/promotion_codes``), shaped like Stripe's fixtures
(``tax_rate``, ``coupon``, ``promotion_code``, ``discount``), and the invoice side:

- ``default_tax_rates`` (active tax rates of the account) and ``discounts`` (``coupon`` or
  ``promotion_code``) on a draft, checked before anything changes; each redeemed code becomes a
  ``discount`` object (``di_...``) the invoice lists by id (expandable).
- Totals (``recompute``): each discount in order takes its share of the discountable lines (percent off,
  rounded half up; amount off at most what is left), then each tax rate taxes what a line has left:
  exclusive rates add to the total, inclusive ones are carved out of it. Lines carry their
  ``discount_amounts`` and ``taxes``; the invoice its ``total_discount_amounts`` and ``total_taxes``.
- ``automatic_tax[enabled]``: refused unless the account has Stripe Tax (``State.stripe_tax_active``,
  ``FakeStripe.set_stripe_tax``); with it, a customer without an address leaves the invoice
  ``requires_location_inputs`` and finalizing is refused; otherwise Stripe Tax collects nothing here
  (no registrations are modelled): ``complete`` with no tax.
- Finalizing checks a promotion code's minimum amount and redeems each code (``times_redeemed``);
  a coupon past ``redeem_by`` or its ``max_redemptions`` is no longer ``valid``, a promotion code past
  ``expires_at`` or its own maximum (or whose coupon is no longer valid) no longer ``active``.

Not modelled (refused as such): a coupon's ``applies_to`` and ``currency_options``, promotion codes'
``restrictions[currency_options]``, flat-amount tax rates.
"""

from __future__ import annotations

import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .catalog import emit_update, param_path, unsupported
from .currencies import normalize_currency
from .errors import StripeApiError, invalid_param, invalid_state, missing_param, no_such
from .fixtures import from_template
from .listing import list_object
from .objects import merge_metadata, metadata_from
from .state import RequestContext, State

MAX_DISCOUNTS = 20
_CODE = re.compile(r"^[A-Za-z0-9-]{1,500}$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
STRIPE_TAX_INACTIVE = (
    "Stripe Tax has not been activated on your account. Please visit https://stripe.com/docs/tax/set-up to get "
    "started."
)


def _round(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_HALF_UP))


def _percent(value: Any) -> Decimal:
    return Decimal(str(value))


# -- tax rates -----------------------------------------------------------------------------------


def create_tax_rate(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    percentage = params["percentage"]
    if not 0 <= percentage <= 100:
        raise invalid_param("percentage", "The percentage must be between 0 and 100.")
    country = params.get("country")
    if country is not None and not _COUNTRY.match(country):
        raise invalid_param("country", f"Country '{country}' is unknown. Try using a 2-character alphanumeric "
                                       "country code instead, such as 'US', 'EG', or 'GB'.")
    tax_rate = state.add(
        from_template(
            "tax_rate",
            active=params.get("active", True),
            country=country,
            created=state.now(),
            description=params.get("description"),
            display_name=params["display_name"],
            effective_percentage=percentage,
            id=state.new_id("txr"),
            inclusive=params["inclusive"],
            jurisdiction=params.get("jurisdiction"),
            jurisdiction_level=None,
            livemode=state.livemode,
            metadata=metadata_from(params.get("metadata")),
            object="tax_rate",
            percentage=percentage,
            state=params.get("state"),
            tax_type=params.get("tax_type"),
            flat_amount=None,
            rate_type="percentage",
        )
    )
    state.emit("tax_rate.created", tax_rate, ctx)
    return state.render(tax_rate)


def retrieve_tax_rate(state: State, ctx: RequestContext, params: dict[str, Any], tax_rate: str) -> dict[str, Any]:
    return state.render(state.require("tax_rate", tax_rate, in_path=True))


def update_tax_rate(state: State, ctx: RequestContext, params: dict[str, Any], tax_rate: str) -> dict[str, Any]:
    obj = state.require("tax_rate", tax_rate, in_path=True)
    before = state.render(obj)
    for key in ("active", "country", "description", "display_name", "jurisdiction", "state", "tax_type"):
        if key in params:
            obj[key] = params[key] if params[key] != "" else None
    if "metadata" in params:
        obj["metadata"] = merge_metadata(obj["metadata"], params["metadata"])
    emit_update(state, ctx, "tax_rate.updated", before, obj)
    return state.render(obj)


def list_tax_rates(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    rates = [state.render(rate) for rate in state.all("tax_rate")]
    for key in ("active", "inclusive"):
        if key in params:
            rates = [rate for rate in rates if rate[key] == params[key]]
    return list_object(rates, params, "/v1/tax_rates", kind="tax_rate")


# -- coupons -------------------------------------------------------------------------------------


def _coupon_valid(state: State, coupon: dict[str, Any]) -> bool:
    if coupon["redeem_by"] is not None and coupon["redeem_by"] <= state.now():
        return False
    return coupon["max_redemptions"] is None or coupon["times_redeemed"] < coupon["max_redemptions"]


def _render_coupon(state: State, coupon: dict[str, Any]) -> dict[str, Any]:
    coupon["valid"] = _coupon_valid(state, coupon)
    return state.render(coupon)


def create_coupon(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    for key in ("applies_to", "currency_options"):
        if key in params:
            raise unsupported(key)
    has_amount, has_percent = "amount_off" in params, "percent_off" in params
    if has_amount == has_percent:
        raise invalid_param("percent_off", "You must pass exactly one of `amount_off` or `percent_off`.")
    currency = None
    if has_amount:
        if "currency" not in params:
            raise missing_param("currency")
        currency = normalize_currency(params["currency"])
        if params["amount_off"] <= 0:
            raise invalid_param("amount_off", "This value must be greater than 0.")
    elif not 0 < params["percent_off"] <= 100:
        raise invalid_param("percent_off", "This value must be greater than 0 and at most 100.")
    duration = params.get("duration", "once")
    if duration == "repeating" and "duration_in_months" not in params:
        raise missing_param("duration_in_months")
    if duration != "repeating" and "duration_in_months" in params:
        raise invalid_param("duration_in_months", "`duration_in_months` can only be set when `duration` is "
                                                  "`repeating`.")
    if "max_redemptions" in params and params["max_redemptions"] <= 0:
        raise invalid_param("max_redemptions", "This value must be greater than 0.")
    if "redeem_by" in params and params["redeem_by"] <= state.now():
        raise invalid_param("redeem_by", "The redeem_by date must be in the future.")
    coupon_id = params.get("id") or state.random_token(8)
    if state.find(coupon_id) is not None:
        raise invalid_state("Coupon already exists.", code="resource_already_exists", param="id")
    coupon = state.add(
        from_template(
            "coupon",
            amount_off=params.get("amount_off"),
            created=state.now(),
            currency=currency,
            duration=duration,
            duration_in_months=params.get("duration_in_months"),
            id=coupon_id,
            livemode=state.livemode,
            max_redemptions=params.get("max_redemptions"),
            metadata=metadata_from(params.get("metadata")),
            name=params.get("name"),
            object="coupon",
            percent_off=params.get("percent_off"),
            redeem_by=params.get("redeem_by"),
            times_redeemed=0,
            valid=True,
        )
    )
    state.emit("coupon.created", coupon, ctx)
    return _render_coupon(state, coupon)


def retrieve_coupon(state: State, ctx: RequestContext, params: dict[str, Any], coupon: str) -> dict[str, Any]:
    return _render_coupon(state, state.require("coupon", coupon, in_path=True))


def update_coupon(state: State, ctx: RequestContext, params: dict[str, Any], coupon: str) -> dict[str, Any]:
    obj = state.require("coupon", coupon, in_path=True)
    if "currency_options" in params:
        raise unsupported("currency_options")
    before = _render_coupon(state, obj)
    if "name" in params:
        obj["name"] = params["name"] or None
    if "metadata" in params:
        obj["metadata"] = merge_metadata(obj["metadata"], params["metadata"])
    emit_update(state, ctx, "coupon.updated", before, obj)
    return _render_coupon(state, obj)


def delete_coupon(state: State, ctx: RequestContext, params: dict[str, Any], coupon: str) -> dict[str, Any]:
    obj = state.require("coupon", coupon, in_path=True)
    snapshot = _render_coupon(state, obj)
    stub = state.delete(obj["id"])
    state.emit("coupon.deleted", snapshot, ctx)
    return stub


def list_coupons(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    coupons = [_render_coupon(state, coupon) for coupon in state.all("coupon")]
    return list_object(coupons, params, "/v1/coupons", kind="coupon")


# -- promotion codes -----------------------------------------------------------------------------


def _promotion_active(state: State, promotion_code: dict[str, Any]) -> bool:
    coupon = state.find(promotion_code["promotion"]["coupon"] or "", "coupon")
    if not promotion_code["active"] or coupon is None or not _coupon_valid(state, coupon):
        return False
    if promotion_code["expires_at"] is not None and promotion_code["expires_at"] <= state.now():
        return False
    limit = promotion_code["max_redemptions"]
    return limit is None or promotion_code["times_redeemed"] < limit


def _render_promotion_code(state: State, promotion_code: dict[str, Any]) -> dict[str, Any]:
    rendered = state.render(promotion_code)
    rendered["active"] = _promotion_active(state, promotion_code)
    return rendered


def _check_code_free(state: State, code: str, holder: dict[str, Any] | None = None) -> None:
    for other in state.all("promotion_code"):
        if other is not holder and other["code"].lower() == code.lower() and _promotion_active(state, other):
            raise invalid_state(f"An active promotion code with `code: {code}` already exists.",
                                code="resource_already_exists", param="code")


def create_promotion_code(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    promotion = params["promotion"]
    if "coupon" not in promotion:
        raise missing_param("promotion[coupon]")
    coupon = state.require("coupon", promotion["coupon"], "promotion[coupon]")
    if not _coupon_valid(state, coupon):
        raise invalid_param("promotion[coupon]", f"Coupon {coupon['id']} is no longer valid.")
    code = params.get("code") or state.random_token(8).upper()
    if not _CODE.match(code):
        raise invalid_param("code", "A promotion code may only contain letters, digits and dashes (at most 500).")
    _check_code_free(state, code)
    if params.get("customer"):
        state.require("customer", params["customer"], "customer")
    if "customer_account" in params:
        raise unsupported("customer_account")
    if "expires_at" in params and params["expires_at"] <= state.now():
        raise invalid_param("expires_at", "The expires_at date must be in the future.")
    restrictions = params.get("restrictions") or {}
    if "currency_options" in restrictions:
        raise unsupported("restrictions[currency_options]")
    minimum, minimum_currency = restrictions.get("minimum_amount"), restrictions.get("minimum_amount_currency")
    if (minimum is None) != (minimum_currency is None):
        raise missing_param("restrictions[minimum_amount_currency]" if minimum is not None
                            else "restrictions[minimum_amount]")
    promotion_code = state.add(
        from_template(
            "promotion_code",
            active=params.get("active", True),
            code=code,
            created=state.now(),
            customer=params.get("customer"),
            expires_at=params.get("expires_at"),
            id=state.new_id("promo"),
            livemode=state.livemode,
            max_redemptions=params.get("max_redemptions"),
            metadata=metadata_from(params.get("metadata")),
            object="promotion_code",
            restrictions={
                "first_time_transaction": restrictions.get("first_time_transaction", False),
                "minimum_amount": minimum,
                "minimum_amount_currency": normalize_currency(minimum_currency,
                                                              "restrictions[minimum_amount_currency]")
                if minimum_currency else None,
            },
            times_redeemed=0,
            promotion={"coupon": coupon["id"], "type": "coupon"},
            customer_account=None,
        )
    )
    state.emit("promotion_code.created", promotion_code, ctx)
    return _render_promotion_code(state, promotion_code)


def retrieve_promotion_code(
    state: State, ctx: RequestContext, params: dict[str, Any], promotion_code: str
) -> dict[str, Any]:
    return _render_promotion_code(state, state.require("promotion_code", promotion_code, in_path=True))


def update_promotion_code(
    state: State, ctx: RequestContext, params: dict[str, Any], promotion_code: str
) -> dict[str, Any]:
    obj = state.require("promotion_code", promotion_code, in_path=True)
    if "currency_options" in (params.get("restrictions") or {}):
        raise unsupported("restrictions[currency_options]")
    if params.get("active") and not obj["active"]:
        _check_code_free(state, obj["code"], obj)
    before = _render_promotion_code(state, obj)
    if "active" in params:
        obj["active"] = params["active"]
    if "metadata" in params:
        obj["metadata"] = merge_metadata(obj["metadata"], params["metadata"])
    emit_update(state, ctx, "promotion_code.updated", before, obj)
    return _render_promotion_code(state, obj)


def list_promotion_codes(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if "customer_account" in params:
        raise unsupported("customer_account")
    codes = [_render_promotion_code(state, code) for code in state.all("promotion_code")]
    if "active" in params:
        codes = [code for code in codes if code["active"] == params["active"]]
    if "code" in params:  # case-insensitive, like Stripe's filter
        codes = [code for code in codes if code["code"].lower() == params["code"].lower()]
    if "coupon" in params:
        codes = [code for code in codes if code["promotion"]["coupon"] == params["coupon"]]
    if "customer" in params:
        codes = [code for code in codes if code["customer"] == params["customer"]]
    return list_object(codes, params, "/v1/promotion_codes", kind="promotion_code")


# -- on an invoice -------------------------------------------------------------------------------


def check_invoice_params(
    state: State, params: dict[str, Any], invoice: dict[str, Any] | None, customer: dict[str, Any], currency: str
) -> dict[str, Any]:
    """Validate an invoice's ``default_tax_rates``, ``discounts`` and ``automatic_tax`` (create, or update
    of ``invoice``) without changing anything; what :func:`apply_invoice_params` then applies."""
    plan: dict[str, Any] = {}
    automatic = (params.get("automatic_tax") or {}).get("enabled")
    if automatic is None and invoice is not None:
        automatic = invoice["automatic_tax"]["enabled"]
    if "automatic_tax" in params:
        if params["automatic_tax"].get("enabled") and not state.stripe_tax_active:
            raise invalid_param("automatic_tax[enabled]", STRIPE_TAX_INACTIVE)
        if "liability" in params["automatic_tax"]:
            raise unsupported("automatic_tax[liability]")
        plan["automatic_tax"] = bool(params["automatic_tax"].get("enabled"))
    if "default_tax_rates" in params:
        rates = []
        for index, rate_id in enumerate(params["default_tax_rates"] or []):
            param = f"default_tax_rates[{index}]"
            rate = state.require("tax_rate", rate_id, param)
            if not rate["active"]:
                raise invalid_param(param, f"Tax rate {rate_id} is inactive and cannot be applied.")
            if any(known["id"] == rate_id for known in rates):
                raise invalid_param(param, f"Tax rate {rate_id} is listed more than once.")
            rates.append(rate)
        plan["default_tax_rates"] = rates
    rates_after = plan.get("default_tax_rates", invoice["default_tax_rates"] if invoice else [])
    if automatic and rates_after:
        raise invalid_param("default_tax_rates", "You cannot set `default_tax_rates` on an invoice with "
                                                 "`automatic_tax[enabled]=true`: Stripe Tax calculates its taxes.")
    if "discounts" in params:
        plan["discounts"] = _check_discounts(state, params["discounts"] or [], customer, currency)
    return plan


def _check_discounts(
    state: State, entries: list[dict[str, Any]], customer: dict[str, Any], currency: str
) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    if len(entries) > MAX_DISCOUNTS:
        raise invalid_param("discounts", f"An invoice can have at most {MAX_DISCOUNTS} discounts.")
    planned: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
    for index, entry in enumerate(entries):
        prefix = f"discounts[{index}]"
        given = [kind for kind in ("coupon", "promotion_code", "discount") if entry.get(kind)]
        if len(given) != 1:
            raise invalid_param(prefix, "Each discount takes exactly one of `coupon`, `promotion_code` or "
                                        "`discount`.")
        kind = given[0]
        param = f"{prefix}[{kind}]"
        if kind == "discount":
            raise no_such("discount", entry["discount"], param)  # the fake keeps no customer-level discounts
        promotion_code = None
        if kind == "promotion_code":
            promotion_code = state.require("promotion_code", entry["promotion_code"], param)
            if not _promotion_active(state, promotion_code):
                raise invalid_param(param, f"This promotion code ({promotion_code['code']}) is not active.")
            if promotion_code["customer"] and promotion_code["customer"] != customer["id"]:
                raise invalid_param(param, f"This promotion code ({promotion_code['code']}) cannot be redeemed "
                                           "by this customer.")
            if promotion_code["restrictions"]["first_time_transaction"] and any(
                    invoice["customer"] == customer["id"] and invoice["status"] == "paid"
                    for invoice in state.all("invoice")):
                raise invalid_param(param, f"This promotion code ({promotion_code['code']}) is for first-time "
                                           "customers only.")
            coupon = state.require("coupon", promotion_code["promotion"]["coupon"], param)
        else:
            coupon = state.require("coupon", entry["coupon"], param)
            if not _coupon_valid(state, coupon):
                raise invalid_param(param, f"Coupon {coupon['id']} is no longer valid.")
        if coupon["currency"] is not None and coupon["currency"] != currency:
            raise invalid_param(param, f"The coupon's currency ({coupon['currency']}) must match the invoice's "
                                       f"currency ({currency}).")
        if any(known is coupon for known, _ in planned):
            raise invalid_param(param, f"Coupon {coupon['id']} is applied more than once.")
        planned.append((coupon, promotion_code))
    return planned


def apply_invoice_params(state: State, invoice: dict[str, Any], plan: dict[str, Any]) -> None:
    """Apply what :func:`check_invoice_params` accepted (totals follow with :func:`recompute`)."""
    if "automatic_tax" in plan:
        invoice["automatic_tax"] = _automatic_tax(state, invoice, plan["automatic_tax"])
    if "default_tax_rates" in plan:
        invoice["default_tax_rates"] = [state.render(rate) for rate in plan["default_tax_rates"]]
    if "discounts" in plan:
        for old in invoice["discounts"]:
            if state.find(old, "discount") is not None:
                state.delete(old)
            state.discount_coupons.pop(old, None)
        invoice["discounts"] = []
        for coupon, promotion_code in plan["discounts"]:
            discount = state.add(
                from_template(
                    "discount",
                    checkout_session=None,
                    customer=invoice["customer"],
                    end=None,
                    id=state.new_id("di"),
                    invoice=invoice["id"],
                    invoice_item=None,
                    object="discount",
                    promotion_code=promotion_code["id"] if promotion_code else None,
                    start=state.now(),
                    subscription=None,
                    subscription_item=None,
                    source={"coupon": coupon["id"], "type": "coupon"},
                    customer_account=None,
                )
            )
            # The terms as redeemed: a coupon deleted later still discounts the invoices it is on.
            state.discount_coupons[discount["id"]] = state.render(coupon)
            invoice["discounts"].append(discount["id"])


def _automatic_tax(state: State, invoice: dict[str, Any], enabled: bool) -> dict[str, Any]:
    if not enabled:
        return {"enabled": False, "liability": None, "status": None, "disabled_reason": None, "provider": None}
    customer = state.find(invoice["customer"], "customer")
    located = bool(customer and (customer["address"] or {}).get("country"))
    return {"enabled": True, "liability": {"type": "self"}, "status": "complete" if located
            else "requires_location_inputs", "disabled_reason": None, "provider": "stripe"}


def recompute(state: State, invoice: dict[str, Any]) -> dict[str, int]:
    """Discounts and taxes over the invoice's lines: sets each line's ``discount_amounts`` and ``taxes``
    and the invoice's ``total_discount_amounts`` and ``total_taxes``; returns the totals that follow."""
    lines = state.invoice_lines[invoice["id"]]
    subtotal = sum(line["amount"] for line in lines)
    left = [line["amount"] if line["discountable"] and line["amount"] > 0 else 0 for line in lines]
    for line in lines:
        line["discount_amounts"] = []
        line["taxes"] = []
    total_discounts = []
    for discount_id in invoice["discounts"]:
        coupon = state.discount_coupons.get(discount_id)
        if coupon is None:
            continue
        base = sum(left)
        amount = (_round(Decimal(base) * _percent(coupon["percent_off"]) / 100) if coupon["percent_off"] is not None
                  else min(int(coupon["amount_off"]), base))
        shares = _allocate(amount, left)
        for index, share in enumerate(shares):
            left[index] -= share
            lines[index]["discount_amounts"].append({"amount": share, "discount": discount_id})
        total_discounts.append({"amount": amount, "discount": discount_id})
    discount_total = sum(entry["amount"] for entry in total_discounts)
    rates = [] if invoice["automatic_tax"]["enabled"] else invoice["default_tax_rates"]
    inclusive_share = sum((_percent(rate["percentage"]) for rate in rates if rate["inclusive"]), Decimal(0))
    per_rate: dict[str, dict[str, Any]] = {}
    for index, line in enumerate(lines):
        net = line["amount"] - sum(entry["amount"] for entry in line["discount_amounts"])
        inclusive_base = _round(Decimal(net) / (1 + inclusive_share / 100)) if inclusive_share else net
        inclusive_left = net - inclusive_base  # what the inclusive rates carve out, to the unit
        inclusive_rates = [rate for rate in rates if rate["inclusive"]]
        for rate in rates:
            taxable = inclusive_base if rate["inclusive"] else net
            amount = _round(Decimal(taxable) * _percent(rate["percentage"]) / 100)
            if rate["inclusive"]:
                amount = inclusive_left if rate is inclusive_rates[-1] else min(amount, inclusive_left)
                inclusive_left -= amount
            tax = {"amount": amount, "tax_behavior": "inclusive" if rate["inclusive"] else "exclusive",
                   "tax_rate_details": {"tax_rate": rate["id"]}, "taxability_reason": "standard_rated",
                   "taxable_amount": taxable, "type": "tax_rate_details"}
            lines[index]["taxes"].append(tax)
            summed = per_rate.setdefault(rate["id"], {**tax, "amount": 0, "taxable_amount": 0})
            summed["amount"] += amount
            summed["taxable_amount"] += taxable
    invoice["total_discount_amounts"] = total_discounts
    invoice["total_taxes"] = list(per_rate.values())
    exclusive = sum(tax["amount"] for tax in per_rate.values() if tax["tax_behavior"] == "exclusive")
    inclusive = sum(tax["amount"] for tax in per_rate.values() if tax["tax_behavior"] == "inclusive")
    total = subtotal - discount_total + exclusive
    return {"subtotal": subtotal, "subtotal_excluding_tax": subtotal - inclusive, "total": total,
            "total_excluding_tax": subtotal - discount_total - inclusive}


def _allocate(amount: int, bases: list[int]) -> list[int]:
    """``amount`` split over ``bases`` in proportion (largest remainders first), never above a base."""
    whole = sum(bases)
    if not whole or not amount:
        return [0] * len(bases)
    exact = [Decimal(amount) * base / whole for base in bases]
    shares = [int(value) for value in exact]
    order = sorted(range(len(bases)), key=lambda index: exact[index] - shares[index], reverse=True)
    for index in order[: amount - sum(shares)]:
        shares[index] += 1
    return shares


def check_finalize(state: State, invoice: dict[str, Any]) -> None:
    """What Stripe refuses to finalize: automatic tax without the customer's location, a promotion code's
    minimum amount not reached."""
    automatic = invoice["automatic_tax"]
    if automatic["enabled"]:
        automatic.update(_automatic_tax(state, invoice, True))
        if automatic["status"] == "requires_location_inputs":
            raise StripeApiError(
                400, "The customer's location isn't recognized: automatic tax needs at least the customer's "
                     "country (a 5-digit postal code in the US). Update the customer's address and finalize "
                     "again.", code="customer_tax_location_invalid")
    subtotal = sum(line["amount"] for line in state.invoice_lines[invoice["id"]])
    for discount_id in invoice["discounts"]:
        discount = state.find(discount_id, "discount")
        promotion_code = state.find((discount or {}).get("promotion_code") or "", "promotion_code")
        if promotion_code is None:
            continue
        restrictions = promotion_code["restrictions"]
        minimum = restrictions["minimum_amount"]
        if minimum is not None and restrictions["minimum_amount_currency"] == invoice["currency"] \
                and subtotal < minimum:
            raise invalid_state(
                f"This promotion code ({promotion_code['code']}) needs an invoice of at least {minimum} "
                f"({invoice['currency']}, in the smallest unit); this one's subtotal is {subtotal}.",
                code="promotion_code_minimum_amount_not_met", param="discounts")


def redeem(state: State, invoice: dict[str, Any]) -> None:
    """Count the invoice's codes as redeemed (on finalizing)."""
    for discount_id in invoice["discounts"]:
        discount = state.find(discount_id, "discount")
        if discount is None:
            continue
        coupon = state.find(discount["source"]["coupon"], "coupon")
        if coupon is not None:
            coupon["times_redeemed"] += 1
        promotion_code = state.find(discount["promotion_code"] or "", "promotion_code")
        if promotion_code is not None:
            promotion_code["times_redeemed"] += 1


def reject_line_references(state: State, spec: dict[str, Any], prefix: str = "") -> None:
    """Tax rates and discounts on one line (an invoice item, ``add_lines``): not modelled. An id the
    account does not have is still Stripe's "No such ..."."""
    for index, rate_id in enumerate(spec.get("tax_rates") or []):
        param = param_path(prefix, f"tax_rates[{index}]")
        state.require("tax_rate", rate_id, param)
        raise unsupported(param_path(prefix, "tax_rates"))
    for index, entry in enumerate(spec.get("discounts") or []):
        for kind in ("coupon", "promotion_code", "discount"):
            if entry.get(kind):
                state.require(kind, entry[kind], param_path(prefix, f"discounts[{index}][{kind}]"))
                raise unsupported(param_path(prefix, "discounts"))


# (method, path template, the SDK's params type, handler): wired into ``routes.ROUTES``.
ENDPOINTS = (
    ("POST", "/v1/tax_rates", "TaxRateCreateParams", create_tax_rate),
    ("GET", "/v1/tax_rates", "TaxRateListParams", list_tax_rates),
    ("GET", "/v1/tax_rates/{tax_rate}", "TaxRateRetrieveParams", retrieve_tax_rate),
    ("POST", "/v1/tax_rates/{tax_rate}", "TaxRateUpdateParams", update_tax_rate),
    ("POST", "/v1/coupons", "CouponCreateParams", create_coupon),
    ("GET", "/v1/coupons", "CouponListParams", list_coupons),
    ("GET", "/v1/coupons/{coupon}", "CouponRetrieveParams", retrieve_coupon),
    ("POST", "/v1/coupons/{coupon}", "CouponUpdateParams", update_coupon),
    ("DELETE", "/v1/coupons/{coupon}", "CouponDeleteParams", delete_coupon),
    ("POST", "/v1/promotion_codes", "PromotionCodeCreateParams", create_promotion_code),
    ("GET", "/v1/promotion_codes", "PromotionCodeListParams", list_promotion_codes),
    ("GET", "/v1/promotion_codes/{promotion_code}", "PromotionCodeRetrieveParams", retrieve_promotion_code),
    ("POST", "/v1/promotion_codes/{promotion_code}", "PromotionCodeUpdateParams", update_promotion_code),
)

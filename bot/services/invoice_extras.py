"""Tax, discounts and more on invoices made in the form (bot/domain/invoice_extras.py), Stripe's side.

- `refresh`: with the catalog refresh, the account's active tax rates, its coupons and its active
  promotion codes are mirrored into the store, where the form's tax search and its check of a typed code
  look (within Slack's 3 s, never through Stripe). A key that may not read them (a restricted key made
  without those permissions) leaves the copies as they were, with a warning in the log.
- `verify`: the create job's first step, before the customer and the draft: the code and tax rates the form
  was checked against (the store's copy, up to a refresh old) are asked of Stripe again. One gone or no
  longer valid refuses the job (the rep is told why) with nothing made in Stripe, and leaves the store's copy.
- `gateway_extras`: what `create_invoice` sends for them.
- `echo`: what "Add line" puts back in the form (the picked tax rates with their labels, the checkbox).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from bot.adapters.stripe import InvoiceExtras, StripeFailure, StripeGateway
from bot.domain.invoice_extras import DiscountCode, TaxRate, percent_text
from bot.forms import AUTOMATIC_TAX_ON
from bot.jobs.payloads import CreateInvoice
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)
T = TypeVar("T")
CHUNK = 500  # rows a transaction writes: the write lock is never held for a whole large account


def tax_rate_record(rate: dict[str, Any]) -> TaxRate:
    percentage = rate.get("percentage")
    return TaxRate(str(rate["id"]), str(rate.get("display_name") or rate["id"]),
                   percent_text(str(percentage if percentage is not None else 0)), bool(rate.get("inclusive")),
                   str(rate.get("jurisdiction") or rate.get("country") or ""), bool(rate.get("active", True)))


def coupon_record(coupon: dict[str, Any]) -> DiscountCode:
    return DiscountCode(
        stripe_id=str(coupon["id"]), kind="coupon", code=str(coupon["id"]), coupon_id=str(coupon["id"]),
        **_terms(coupon), active=bool(coupon.get("valid", True)), expires_at=_number(coupon.get("redeem_by")))


def promotion_code_record(promotion_code: dict[str, Any], coupon: dict[str, Any]) -> DiscountCode:
    restrictions = promotion_code.get("restrictions") or {}
    customer = promotion_code.get("customer")
    expiries = [moment for moment in (_number(promotion_code.get("expires_at")), _number(coupon.get("redeem_by")))
                if moment is not None]
    return DiscountCode(
        stripe_id=str(promotion_code["id"]), kind="promotion_code", code=str(promotion_code.get("code") or ""),
        coupon_id=str(coupon["id"]), **_terms(coupon),
        active=bool(promotion_code.get("active")) and bool(coupon.get("valid", True)),
        expires_at=min(expiries) if expiries else None,
        minimum_amount=restrictions.get("minimum_amount"),
        minimum_amount_currency=restrictions.get("minimum_amount_currency"),
        customer_id=customer.get("id") if isinstance(customer, dict) else customer)


def _terms(coupon: dict[str, Any]) -> dict[str, Any]:
    percent_off = coupon.get("percent_off")
    return {"name": str(coupon.get("name") or ""),
            "percent_off": percent_text(str(percent_off)) if percent_off is not None else None,
            "amount_off": coupon.get("amount_off"), "currency": coupon.get("currency")}


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _coupon_of(promotion_code: dict[str, Any]) -> Any:
    """A promotion code's coupon: `promotion.coupon` in this API version (`coupon` before it); an id or the object."""
    promotion = promotion_code.get("promotion") or {}
    return promotion.get("coupon") or promotion_code.get("coupon")


def _chunks(items: list[T]) -> list[list[T]]:
    return [items[start: start + CHUNK] for start in range(0, len(items), CHUNK)]


def refresh(store: TenantScope, stripe: StripeGateway, clock: Callable[[], float]) -> int:
    """Mirror the account's active tax rates, coupons and active promotion codes; what Stripe no longer lists
    leaves the form. Returns how many were seen."""
    started = clock()
    try:
        rates = [tax_rate_record(rate) for rate in stripe.iter_tax_rates()]
        coupons = {str(coupon["id"]): coupon for coupon in stripe.iter_coupons()}
        promotion_codes = list(stripe.iter_promotion_codes())
    except StripeFailure as failure:
        if failure.status != 403:
            raise
        logger.warning("catalog refresh: Stripe refused to list tax rates, coupons or promotion codes (%s); the "
                       "form's copies stay as they were: give the key Tax Rates, Coupons and Promotion Codes: "
                       "Read", failure.message)
        return 0
    codes = [coupon_record(coupon) for coupon in coupons.values()]
    for promotion_code in promotion_codes:
        coupon = _coupon_of(promotion_code)
        terms = coupon if isinstance(coupon, dict) else coupons.get(str(coupon))
        if terms is not None and promotion_code.get("code"):
            codes.append(promotion_code_record(promotion_code, terms))
    _save_all(store, rates, codes)
    with store.unit_of_work() as uow:  # only after every list was read to the end
        retired = uow.tax_rates.retire_unseen(since=started)
        forgotten = uow.discount_codes.forget_unseen(since=started)
        uow.commit()
    if retired or forgotten:
        logger.info("catalog refresh: %d tax rate(s) no longer active, %d coupon(s) or promotion code(s) gone",
                    retired, forgotten)
    return len(rates) + len(codes)


def _save_all(store: TenantScope, rates: Iterable[TaxRate], codes: Iterable[DiscountCode]) -> None:
    for chunk in _chunks(list(rates)):
        with store.unit_of_work() as uow:
            for rate in chunk:
                uow.tax_rates.save(rate)
            uow.commit()
    for code_chunk in _chunks(list(codes)):
        with store.unit_of_work() as uow:
            for code in code_chunk:
                uow.discount_codes.save(code)
            uow.commit()


def verify(store: TenantScope, stripe: StripeGateway, submission: CreateInvoice) -> None:
    """Before anything is made for the form: its code and tax rates are still good in Stripe. Raises a
    `StripeFailure` that is not retried (the job's give-up tells the rep) when one is not."""
    discount = submission.discount
    if discount is not None:
        what = f"{'promotion code' if discount.kind == 'promotion_code' else 'coupon'} {discount.code}"
        try:
            found = (stripe.get_promotion_code(discount.stripe_id) if discount.kind == "promotion_code"
                     else stripe.get_coupon(discount.stripe_id))
        except StripeFailure as failure:
            if failure.status != 404:
                raise
            _forget(store, discount.kind, discount.stripe_id)
            raise StripeFailure(f"the {what} no longer exists in Stripe", retryable=False, code="resource_missing",
                                status=404) from None
        usable = found.get("active") if discount.kind == "promotion_code" else found.get("valid", True)
        if not usable:
            _forget(store, discount.kind, discount.stripe_id)
            raise StripeFailure(f"the {what} is no longer valid", retryable=False, code="discount_invalid")
    for rate_id in submission.tax_rate_ids:
        try:
            rate = stripe.get_tax_rate(rate_id)
        except StripeFailure as failure:
            if failure.status != 404:
                raise
            rate = {"id": rate_id, "active": False}
        if not rate.get("active"):
            with store.unit_of_work() as uow:
                known = uow.tax_rates.get(rate_id)
                if known is not None:
                    uow.tax_rates.save(TaxRate(known.stripe_id, known.display_name, known.percentage,
                                               known.inclusive, known.jurisdiction, active=False))
                uow.commit()
            name = rate.get("display_name") or rate_id
            raise StripeFailure(f"the tax rate {name} is no longer active in Stripe", retryable=False,
                                code="tax_rate_inactive")


def _forget(store: TenantScope, kind: str, stripe_id: str) -> None:
    with store.unit_of_work() as uow:
        uow.discount_codes.forget(kind, stripe_id)
        uow.commit()


def gateway_extras(submission: CreateInvoice) -> InvoiceExtras | None:
    """What `StripeGateway.create_invoice` sends for the form's tax, discount, custom fields and footer."""
    extras = InvoiceExtras(
        tax_rate_ids=tuple(submission.tax_rate_ids), automatic_tax=submission.automatic_tax,
        discount=(submission.discount.kind, submission.discount.stripe_id) if submission.discount else None,
        custom_fields=tuple((field.name, field.value) for field in submission.custom_fields),
        footer=submission.footer)
    return extras if extras.params() else None


def echo(values: dict[str, Any], tax_rate: Callable[[str], TaxRate | None]) -> tuple[dict[str, Any], dict[str, str]]:
    """What of the form's tax and checkbox goes back into it on "Add line": the picked tax rates the store
    still knows as active (with their labels), and the checkbox as ticked."""
    kept: dict[str, Any] = {}
    labels: dict[str, str] = {}
    picked = values.get("tax_rates")
    if isinstance(picked, list):
        for rate_id in picked[:10]:
            rate = tax_rate(rate_id) if isinstance(rate_id, str) else None
            if rate is not None and rate.active:
                labels[rate.stripe_id] = rate.label
        kept["tax_rates"] = list(labels)
    ticked = values.get("automatic_tax")
    if isinstance(ticked, list):
        kept["automatic_tax"] = [value for value in ticked if value == AUTOMATIC_TAX_ON]
    return kept, labels

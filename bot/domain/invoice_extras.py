"""Tax, discounts and more on an invoice made in the form: the account's tax rates and codes as the
bot mirrors them (refreshed with the catalog), and the rules the form checks before anything is queued.

- A tax rate is one of the account's active tax rates (picked in a search that answers from the store).
- A discount is what a rep types: a promotion code's customer-facing code (case-insensitive, as Stripe
  matches it) or a coupon's id; `discount_problem` says why it can't be used on this invoice, if so.
- Custom fields are typed one per line, `Name: value`: at most 4, names up to 40 characters and values up
  to 140 (Stripe's limits); `parse_custom_fields` says which line breaks which rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from bot import money

MAX_TAX_RATES = 5  # per invoice, in the form
MAX_CUSTOM_FIELDS = 4  # Stripe's limit
MAX_CUSTOM_FIELD_NAME = 40
MAX_CUSTOM_FIELD_VALUE = 140
MAX_CUSTOM_FIELDS_TEXT = MAX_CUSTOM_FIELDS * (MAX_CUSTOM_FIELD_NAME + MAX_CUSTOM_FIELD_VALUE + 3) + 200
MAX_FOOTER = 500
MAX_DISCOUNT_CODE = 500  # Stripe's longest promotion code


@dataclass(frozen=True)
class TaxRate:
    stripe_id: str
    display_name: str
    percentage: str  # Stripe's number as written, exact ("19", "8.875")
    inclusive: bool
    jurisdiction: str = ""
    active: bool = True

    @property
    def label(self) -> str:
        """`VAT 19% (inclusive) · DE`."""
        text = f"{self.display_name} {percent_text(self.percentage)}%"
        if self.inclusive:
            text += " (inclusive)"
        return f"{text} · {self.jurisdiction}" if self.jurisdiction else text


@dataclass(frozen=True)
class DiscountCode:
    """A coupon (`kind` "coupon", `code` its id) or a promotion code (`kind` "promotion_code", `code` what
    customers type, `stripe_id` its promo_ id), with the coupon's terms."""

    stripe_id: str
    kind: str
    code: str
    coupon_id: str
    name: str = ""
    percent_off: str | None = None  # exact, as Stripe wrote it
    amount_off: int | None = None  # minor units of `currency`
    currency: str | None = None
    active: bool = True  # a coupon's `valid`, a promotion code's `active`
    expires_at: float | None = None  # a promotion code's `expires_at`, a coupon's `redeem_by`
    minimum_amount: int | None = None
    minimum_amount_currency: str | None = None
    customer_id: str | None = None  # a promotion code only this customer may redeem

    @property
    def terms(self) -> str:
        """`25% off`, `$10.00 off`."""
        if self.percent_off is not None:
            return f"{percent_text(self.percent_off)}% off"
        if self.amount_off is not None and self.currency:
            return f"{money.format_amount(self.amount_off, self.currency)} off"
        return "a discount"

    @property
    def label(self) -> str:
        what = "promotion code" if self.kind == "promotion_code" else "coupon"
        named = f" ({self.name})" if self.name else ""
        return f"{what} {self.code}{named}: {self.terms}"


def percent_text(value: str) -> str:
    """`19.000` -> `19`, `8.875` stays: Stripe's percentage without trailing zeros."""
    try:
        number = Decimal(value)
    except InvalidOperation:
        return value
    return format(number.normalize(), "f") if number.is_finite() else value


def discount_problem(code: DiscountCode | None, typed: str, *, currency: str, subtotal: int,
                     customer_id: str | None, now: float) -> str | None:
    """Why `typed` can't discount this invoice (in `currency`, `subtotal` minor units before discounts,
    for `customer_id`, None for a new customer); None when it can."""
    if code is None:
        return (f"No coupon or promotion code “{typed}” in Stripe. Codes made in the last few minutes show up "
                "after the next catalog refresh")
    if not code.active or (code.expires_at is not None and code.expires_at <= now):
        return f"The {code.label} is no longer valid"
    if code.amount_off is not None and code.currency and code.currency != currency:
        return (f"The {code.label} is in {code.currency.upper()}; this invoice is in {currency.upper()}")
    if code.customer_id and code.customer_id != customer_id:
        return f"The {code.label} is for another customer only"
    if code.minimum_amount is not None and code.minimum_amount_currency == currency and subtotal < code.minimum_amount:
        return (f"The {code.label} needs an invoice of at least "
                f"{money.format_amount(code.minimum_amount, currency)}")
    return None


@dataclass(frozen=True)
class CustomField:
    name: str
    value: str


def parse_custom_fields(text: str | None) -> list[CustomField]:
    """`Name: value`, one a line (blank lines skipped); ValueError naming the first line that breaks a rule."""
    fields: list[CustomField] = []
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(lines) > MAX_CUSTOM_FIELDS:
        raise ValueError(f"An invoice takes at most {MAX_CUSTOM_FIELDS} custom fields (Stripe's limit); "
                         f"this has {len(lines)}")
    for number, line in enumerate(lines, start=1):
        name, colon, value = line.partition(":")
        name, value = name.strip(), value.strip()
        if not colon or not name or not value:
            raise ValueError(f"Line {number}: write each field as Name: value (e.g. PO number: 4711)")
        if len(name) > MAX_CUSTOM_FIELD_NAME:
            raise ValueError(f"Line {number}: keep the name under {MAX_CUSTOM_FIELD_NAME + 1} characters "
                             f"({len(name)} now)")
        if len(value) > MAX_CUSTOM_FIELD_VALUE:
            raise ValueError(f"Line {number}: keep the value under {MAX_CUSTOM_FIELD_VALUE + 1} characters "
                             f"({len(value)} now)")
        fields.append(CustomField(name, value))
    return fields

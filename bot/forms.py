"""The invoice modal's input as pydantic models.

Fields are named after the modal's `block_id`s (`customer_email`, `days_until_due`, ...); line
fields map to `line_{n}_{field}`. A `ValidationError` becomes `response_action: errors` keyed by
block id, so every rule violation lands on the field the rep has to fix. Validation is pure
(plus a look-up of a catalog price in the local store), so it can run before Slack's ack.
"""

from __future__ import annotations

import re
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from bot import money
from bot.domain.invoice_extras import (
    MAX_CUSTOM_FIELDS_TEXT,
    MAX_DISCOUNT_CODE,
    MAX_FOOTER,
    MAX_TAX_RATES,
    CustomField,
    DiscountCode,
    TaxRate,
    discount_problem,
    parse_custom_fields,
)
from bot.domain.invoices import MAX_INVOICE_LINES
from bot.domain.records import Customer, Price
from bot.domain.recurring import NO_REPEAT, REPEATS, line_problem

# The local part refuses controls and invisible format characters (zero-width, bidi) as well.
EMAIL = re.compile(r"^[^@\s<>&\"',;:\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]+"
                   r"@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")
MAX_EMAIL = 254  # RFC 5321's limit for a whole address
MAX_MEMO = 500
MAX_DESCRIPTION = 250
MAX_NAME = 200
MAX_QUANTITY = 1_000_000
MAX_AMOUNT_TEXT = 40  # far more than any amount `money.parse_amount` accepts, with symbol and grouping
# Bidi embeddings, overrides and isolates: they reorder how text displays ("‮fdp.exe"), in Slack and
# on the invoice, so a name or description could show something other than what was stored.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_FULL_WIDTH_DIGITS = str.maketrans({chr(0xFF10 + i): str(i) for i in range(10)})

PriceLookup = Callable[[str], Price | None]
CustomerLookup = Callable[[str], Customer | None]


def unsafe_character(text: str, allowed: str = "") -> str | None:
    """A human-readable name of the first invisible control character in `text`, if any.

    Control characters (NUL, ESC, ...), lone surrogates, line/paragraph separators and bidi
    controls are refused; emoji, combining marks and zero-width joiners are ordinary text.
    """
    for char in text:
        if char in allowed:
            continue
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in BIDI_CONTROLS:
            return f"U+{ord(char):04X} ({unicodedata.name(char, 'a control character').lower()})"
    return None


def _no_control_characters(value: str | None, allowed: str = "") -> str | None:
    if value:
        found = unsafe_character(value, allowed)
        if found:
            raise ValueError(f"Remove the invisible character {found}; type plain text")
    return value


def whole_number(text: str | None, max_digits: int) -> int | None:
    """ASCII (or full-width) digits only, at most `max_digits` of them; None for anything else."""
    digits = (text or "").strip().translate(_FULL_WIDTH_DIGITS)
    if not digits or len(digits) > max_digits or not digits.isascii() or not digits.isdigit():
        return None
    return int(digits)


class LineForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    quantity: str | None = None
    unit_amount: str | None = None
    price: str | None = None

    @field_validator("description", "quantity", "unit_amount")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        return _no_control_characters(value)

    def is_blank(self) -> bool:
        return not (self.description or self.unit_amount or self.price) and self.quantity in (None, "", "1")


class ParsedLine(BaseModel):
    """A line after validation: amounts are integer minor units."""

    quantity: int
    price_id: str | None = None
    description: str | None = None
    unit_amount: int


class InvoiceForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    customer: str | None = None
    customer_name: str | None = Field(default=None, max_length=MAX_NAME)
    customer_email: str | None = None
    currency: str
    lines: list[LineForm]
    days_until_due: str | None = None
    memo: str | None = Field(default=None, max_length=MAX_MEMO)
    delivery: Literal["send", "draft"] = "send"

    # Filled by the validators below.
    parsed_lines: list[ParsedLine] = []
    due_days: int = 0

    @field_validator("customer_name")
    @classmethod
    def _plain_name(cls, value: str | None) -> str | None:
        return _no_control_characters(value)

    @field_validator("memo")
    @classmethod
    def _plain_memo(cls, value: str | None) -> str | None:
        return _no_control_characters(value, allowed="\n\t")

    @field_validator("customer_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value and (len(value) > MAX_EMAIL or not EMAIL.match(value)
                      or any(unicodedata.category(char) in ("Cc", "Cf", "Cs") for char in value)):
            # Format characters (zero-width space, bidi controls) only ever make a look-alike address.
            raise ValueError("That doesn't look like an email address, e.g. jenny@example.com")
        return value.lower() if value else value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if not money.is_supported(value):
            raise ValueError("Choose a currency Stripe supports")
        return value.lower()

    @model_validator(mode="after")
    def _rules_across_fields(self, info: ValidationInfo) -> InvoiceForm:
        errors: dict[str, str] = {}
        if not self.customer and not self.customer_email:
            errors["customer"] = "Pick a customer, or give a new customer's email below"
        if not self.customer and self.customer_email and not self.customer_name:
            errors["customer_name"] = "Give the new customer's name"
        customer_lookup: CustomerLookup | None = (info.context or {}).get("customer_lookup")
        if self.customer and customer_lookup is not None and customer_lookup(self.customer) is None:
            errors["customer"] = "That customer is not in the list any more; pick another"
        errors.update(self._check_days())
        price_lookup: PriceLookup | None = (info.context or {}).get("price_lookup")
        errors.update(self._check_lines(price_lookup))
        if errors:
            raise FormErrors(errors)
        return self

    def _check_days(self) -> dict[str, str]:
        days = whole_number(self.days_until_due, max_digits=3)
        if days is None or not 1 <= days <= 365:
            return {"days_until_due": "Days until due must be a whole number from 1 to 365"}
        self.due_days = days
        return {}

    def _check_lines(self, price_lookup: PriceLookup | None) -> dict[str, str]:
        errors: dict[str, str] = {}
        parsed: list[ParsedLine] = []
        filled = [(number, line) for number, line in enumerate(self.lines, start=1) if not line.is_blank()]
        if not filled:
            return {"line_1_description": "Add at least one line: a description and an amount, or a catalog price"}
        if len(filled) > MAX_INVOICE_LINES:
            return {f"line_{filled[-1][0]}_description": f"An invoice holds at most {MAX_INVOICE_LINES} lines"}
        for number, line in filled:
            quantity = whole_number(line.quantity or "1", max_digits=len(str(MAX_QUANTITY)))
            if quantity is None or not 1 <= quantity <= MAX_QUANTITY:
                errors[f"line_{number}_quantity"] = (
                    f"Quantity must be a whole number from 1 to {MAX_QUANTITY:,}")
                continue
            if line.price:
                price = price_lookup(line.price) if price_lookup else None
                if price is None:
                    errors[f"line_{number}_price"] = "That catalog price no longer exists; pick another"
                elif price.currency != self.currency:
                    errors[f"line_{number}_price"] = (
                        f"This price is in {price.currency.upper()}, the invoice in {self.currency.upper()}"
                    )
                else:
                    parsed.append(ParsedLine(quantity=quantity, price_id=line.price, unit_amount=price.unit_amount,
                                             description=price.product_name))
                continue
            if not line.description:
                errors[f"line_{number}_description"] = "Describe what this line is for"
            if not line.unit_amount:
                errors[f"line_{number}_unit_amount"] = "Type an amount, or pick a catalog price"
                continue
            if len(line.unit_amount) > MAX_AMOUNT_TEXT:
                errors[f"line_{number}_unit_amount"] = (
                    "That's too long for an amount: type digits only, at most 8 before the decimal point")
                continue
            try:
                unit_amount = money.parse_amount(line.unit_amount, self.currency)
            except money.AmountError as error:
                errors[f"line_{number}_unit_amount"] = str(error)
                continue
            if line.description:
                parsed.append(ParsedLine(quantity=quantity, description=line.description, unit_amount=unit_amount))
        self.parsed_lines = parsed
        return errors

    def total(self) -> int:
        return sum(line.unit_amount * line.quantity for line in self.parsed_lines)


class FormErrors(ValueError):
    """Several field errors at once, keyed by block id."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def field_errors(error: ValidationError) -> dict[str, str]:
    """Map a ValidationError onto block ids for `response_action: errors`."""
    result: dict[str, str] = {}
    for item in error.errors(include_url=False):
        ctx_error = (item.get("ctx") or {}).get("error")
        if isinstance(ctx_error, FormErrors):
            result.update(ctx_error.errors)
            continue
        loc = item["loc"]
        if loc and loc[0] == "lines" and len(loc) >= 3:
            block_id = f"line_{int(loc[1]) + 1}_{loc[2]}"
        elif loc:
            block_id = str(loc[0])
        else:
            block_id = "customer"
        result.setdefault(block_id, _readable(item))
    return result


def _readable(item: Any) -> str:
    if item["type"] == "string_too_long":
        return f"Keep this under {item['ctx']['max_length']} characters"
    if item["type"] == "literal_error":
        return "Choose one of the options"
    if item["type"] == "string_type":
        return "Type plain text here"
    return str(item["msg"]).removeprefix("Value error, ")


def parse_invoice_form(values: dict[str, Any], price_lookup: PriceLookup | None,
                       customer_lookup: CustomerLookup | None = None) -> InvoiceForm:
    """Build the form from a view's `state.values` (already flattened to block_id -> value).

    With `customer_lookup`, a picked customer must still be known (the search only offers known ones).
    """
    line_numbers = sorted(
        {int(key.split("_")[1]) for key in values
         if key.startswith("line_") and key.split("_")[1].isascii() and key.split("_")[1].isdigit()}
    )
    if line_numbers and line_numbers[-1] > MAX_INVOICE_LINES + 1:
        # Only a forged view has such blocks; refuse before building a list that long.
        block_id = next(key for key in values if key.startswith(f"line_{line_numbers[-1]}_"))
        raise ValidationError.from_exception_data("InvoiceForm", [InitErrorDetails(
            type=PydanticCustomError("too_many_lines", "An invoice holds at most {limit} lines",
                                     {"limit": MAX_INVOICE_LINES}),
            loc=(block_id,), input=values[block_id])])
    lines = [
        {
            "description": values.get(f"line_{n}_description"),
            "quantity": values.get(f"line_{n}_quantity"),
            "unit_amount": values.get(f"line_{n}_unit_amount"),
            "price": values.get(f"line_{n}_price"),
        }
        for n in range(1, (max(line_numbers) if line_numbers else 1) + 1)
    ]
    data = {
        "customer": values.get("customer"),
        "customer_name": values.get("customer_name"),
        "customer_email": values.get("customer_email"),
        "currency": values.get("currency") or "",
        "lines": lines,
        "days_until_due": values.get("days_until_due"),
        "memo": values.get("memo"),
        "delivery": values.get("delivery") or "send",
    }
    return InvoiceForm.model_validate(data, context={"price_lookup": price_lookup, "customer_lookup": customer_lookup})


def parse_repeat(values: dict[str, Any], form: InvoiceForm, price_lookup: PriceLookup | None) -> str:
    """The modal's "Repeat" (`blocks.repeat_block`): "none", or one of `bot.domain.recurring.REPEATS`. Raises
    `FormErrors` keyed by block id: a repeat nobody offered, a draft that would repeat, and each catalog line
    whose price does not repeat as the invoice does (a one-off price in a repeating invoice, or a repeating
    price in a one-off one), judged from the catalog cache."""
    chosen = values.get("repeat") or NO_REPEAT
    if chosen != NO_REPEAT and chosen not in REPEATS:
        raise FormErrors({"repeat": "Choose one of the options"})
    errors: dict[str, str] = {}
    if chosen != NO_REPEAT and form.delivery == "draft":
        errors["repeat"] = "A repeating invoice is emailed by Stripe each period: choose Send now, or no repeat"
    for number, line in enumerate(form.lines, start=1):
        price = price_lookup(line.price) if line.price and price_lookup is not None else None
        problem = line_problem(chosen, price.recurring) if price is not None else None
        if problem:
            errors[f"line_{number}_price"] = problem
    if errors:
        raise FormErrors(errors)
    return str(chosen)


def flatten_state(state_values: dict[str, Any]) -> dict[str, Any]:
    """Slack's `view.state.values` (block_id -> action_id -> element state) -> block_id -> plain value."""
    flat: dict[str, Any] = {}
    for block_id, actions in state_values.items():
        if not isinstance(actions, dict):  # a forged view can send anything
            continue
        for element in actions.values():
            if isinstance(element, dict):
                flat[block_id] = _element_value(element)
    return flat


def _element_value(element: dict[str, Any]) -> Any:
    kind = element.get("type")
    if kind in ("static_select", "external_select", "radio_buttons"):
        option = element.get("selected_option")
        return option.get("value") if isinstance(option, dict) else None
    if kind in ("multi_external_select", "multi_static_select", "checkboxes"):  # a list of the picked values
        options = element.get("selected_options")
        return [option.get("value") for option in options if isinstance(option, dict)] \
            if isinstance(options, list) else []
    return element.get("value")


def draft_total(values: dict[str, Any], currency: str, price_lookup: PriceLookup) -> str | None:
    """The running total of a modal still being filled in: the lines that already parse, by the
    same rules as the submission (`LineForm`); lines still being typed are left out, not errors."""
    if not money.is_supported(currency):
        return None
    total, counted = 0, 0
    numbers = sorted({key.split("_")[1] for key in values if key.startswith("line_") and key.split("_")[1].isdigit()})
    for number in numbers:
        try:
            line = LineForm(description=values.get(f"line_{number}_description"),
                            quantity=values.get(f"line_{number}_quantity"),
                            unit_amount=values.get(f"line_{number}_unit_amount"),
                            price=values.get(f"line_{number}_price"))
        except ValidationError:
            continue
        quantity = whole_number(line.quantity or "1", max_digits=len(str(MAX_QUANTITY))) or 1
        if line.price:
            price = price_lookup(line.price)
            if price is not None and price.currency == currency:
                total += price.unit_amount * quantity
                counted += 1
            continue
        if not line.unit_amount or len(line.unit_amount) > MAX_AMOUNT_TEXT:
            continue
        try:
            total += money.parse_amount(line.unit_amount, currency) * quantity
            counted += 1
        except money.AmountError:
            continue
    return money.format_amount(total, currency) if counted else None


# --- `/invoice settings` ------------------------------------------------------------------------
SLACK_CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,40}$")  # a public or private channel, never a DM (D...)
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,40}$")
MAX_LISTED_PEOPLE = 500  # far more than a workspace names by hand; a forged submission cannot store thousands


class SettingsForm(BaseModel):
    """The settings modal's input; fields are its block ids (`blocks.settings_modal`)."""

    payments_channel: str
    admins: list[str] = []
    creators: list[str] = []
    viewers: list[str] = []

    # "before": whatever a forged view sends (nothing, a number, a DM) gets the same readable error.
    @field_validator("payments_channel", mode="before")
    @classmethod
    def _channel(cls, value: Any) -> str:
        if not isinstance(value, str) or not SLACK_CHANNEL.match(value):
            raise ValueError("Pick the channel that hears about payments (a public or private channel)")
        return value

    @field_validator("admins", "creators", "viewers", mode="before")
    @classmethod
    def _people(cls, value: Any) -> list[str]:
        if not isinstance(value, list) or not all(isinstance(user, str) and SLACK_USER.match(user) for user in value):
            raise ValueError("Pick people from the list")
        if len(value) > MAX_LISTED_PEOPLE:
            raise ValueError(f"Name at most {MAX_LISTED_PEOPLE} people")
        return list(dict.fromkeys(value))  # in the order picked, each once


def parse_settings_form(state_values: dict[str, Any]) -> SettingsForm:
    """Build the settings form from a view's `state.values` (block id -> action id -> element state):
    a conversations_select's `selected_conversation`, multi_users_selects' `selected_users`."""

    def element(block_id: str) -> dict[str, Any]:
        actions = state_values.get(block_id)
        found = next(iter(actions.values()), None) if isinstance(actions, dict) and actions else None
        return found if isinstance(found, dict) else {}

    return SettingsForm.model_validate({
        "payments_channel": element("payments_channel").get("selected_conversation"),
        **{block_id: element(block_id).get("selected_users") or [] for block_id in ("admins", "creators", "viewers")},
    })


# --- tax, discounts and more (bot/domain/invoice_extras.py; the modal's `blocks.invoice_extras_blocks`) ------
TaxRateLookup = Callable[[str], TaxRate | None]
DiscountLookup = Callable[[str], DiscountCode | None]
AUTOMATIC_TAX_ON = "on"  # the value of the "Automatic tax" checkbox


@dataclass(frozen=True)
class FormExtras:
    """The form's tax, discount, custom fields and footer, checked."""

    tax_rate_ids: tuple[str, ...] = ()
    automatic_tax: bool = False
    discount: DiscountCode | None = None
    custom_fields: tuple[CustomField, ...] = ()
    footer: str | None = None

    def given(self) -> list[str]:
        """The block ids of what was filled in."""
        filled = {"tax_rates": bool(self.tax_rate_ids), "automatic_tax": self.automatic_tax,
                  "discount_code": self.discount is not None, "custom_fields": bool(self.custom_fields),
                  "footer": bool(self.footer)}
        return [block_id for block_id, is_filled in filled.items() if is_filled]

    def payload(self) -> dict[str, Any]:
        """`CreateInvoice`'s fields for them (`bot/jobs/payloads.py`)."""
        discount = self.discount
        return {
            "tax_rate_ids": list(self.tax_rate_ids), "automatic_tax": self.automatic_tax,
            "discount": {"kind": discount.kind, "stripe_id": discount.stripe_id, "code": discount.code}
            if discount else None,
            "custom_fields": [{"name": field.name, "value": field.value} for field in self.custom_fields],
            "footer": self.footer,
        }


def _typed(values: dict[str, Any], block_id: str, limit: int, errors: dict[str, str], allowed: str = "") -> str | None:
    value = values.get(block_id)
    if value is None:
        return None
    if not isinstance(value, str):
        errors[block_id] = "Type plain text here"
        return None
    value = value.strip()
    if len(value) > limit:
        errors[block_id] = f"Keep this under {limit + 1} characters"
        return None
    found = unsafe_character(value, allowed)
    if found:
        errors[block_id] = f"Remove the invisible character {found}; type plain text"
        return None
    return value or None


def parse_extras(values: dict[str, Any], form: InvoiceForm, tax_rate_lookup: TaxRateLookup | None,
                 discount_lookup: DiscountLookup | None, now: float | None = None) -> FormExtras:
    """The modal's tax rates, automatic tax, coupon or promotion code, custom fields and footer, checked
    against the store's copy of the account's tax rates and codes (refreshed with the catalog): pure and
    quick, so it runs before the ack. Raises `FormErrors` keyed by block id."""
    errors: dict[str, str] = {}
    picked = values.get("tax_rates") or []
    rate_ids: list[str] = []
    if not isinstance(picked, list) or not all(isinstance(rate_id, str) for rate_id in picked):
        errors["tax_rates"] = "Pick tax rates from the list"
    elif len(picked) > MAX_TAX_RATES:
        errors["tax_rates"] = f"Pick at most {MAX_TAX_RATES} tax rates"
    else:
        rate_ids = list(dict.fromkeys(picked))
        for rate_id in rate_ids:
            rate = tax_rate_lookup(rate_id) if tax_rate_lookup is not None else None
            if rate is None or not rate.active:
                errors["tax_rates"] = "A tax rate picked here is no longer active in Stripe; pick another"
    ticked = values.get("automatic_tax") or []
    automatic = isinstance(ticked, list) and AUTOMATIC_TAX_ON in ticked
    if automatic and rate_ids:
        errors["automatic_tax"] = "Stripe Tax works the tax out itself: untick this, or remove the tax rates above"
    discount = None
    typed = _typed(values, "discount_code", MAX_DISCOUNT_CODE, errors)
    if typed:
        discount = discount_lookup(typed) if discount_lookup is not None else None
        problem = discount_problem(discount, typed, currency=form.currency, subtotal=form.total(),
                                   customer_id=form.customer, now=time.time() if now is None else now)
        if problem:
            errors["discount_code"] = problem
    custom_fields: list[CustomField] = []
    custom_text = _typed(values, "custom_fields", MAX_CUSTOM_FIELDS_TEXT, errors, allowed="\n")
    try:
        custom_fields = parse_custom_fields(custom_text)
    except ValueError as error:
        errors["custom_fields"] = str(error)
    footer = _typed(values, "footer", MAX_FOOTER, errors, allowed="\n\t")
    if errors:
        raise FormErrors(errors)
    return FormExtras(tuple(rate_ids), automatic, discount, tuple(custom_fields), footer)

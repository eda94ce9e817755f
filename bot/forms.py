"""The invoice modal's input as pydantic models.

Fields are named after the modal's `block_id`s (`customer_email`, `days_until_due`, ...); line
fields map to `line_{n}_{field}`. A `ValidationError` becomes `response_action: errors` keyed by
block id, so every rule violation lands on the field the rep has to fix. Validation is pure
(plus a look-up of a catalog price in the local store), so it can run before Slack's ack.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator

from bot import money
from bot.stripe_gateway import MAX_INVOICE_LINES

EMAIL = re.compile(r"^[^@\s<>&\"',;:]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})+$")
MAX_MEMO = 500
MAX_DESCRIPTION = 250
MAX_NAME = 200
MAX_QUANTITY = 1_000_000

PriceLookup = Callable[[str], dict[str, Any] | None]


class LineForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    description: str | None = Field(default=None, max_length=MAX_DESCRIPTION)
    quantity: str | None = None
    unit_amount: str | None = None
    price: str | None = None

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

    @field_validator("customer_email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value and not EMAIL.match(value):
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
        errors.update(self._check_days())
        price_lookup: PriceLookup | None = (info.context or {}).get("price_lookup")
        errors.update(self._check_lines(price_lookup))
        if errors:
            raise FormErrors(errors)
        return self

    def _check_days(self) -> dict[str, str]:
        text = (self.days_until_due or "").strip()
        if not text.isdigit() or not 1 <= int(text) <= 365:
            return {"days_until_due": "Days until due must be a whole number from 1 to 365"}
        self.due_days = int(text)
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
            quantity_text = (line.quantity or "1").strip()
            if not quantity_text.isdigit() or not 1 <= int(quantity_text) <= MAX_QUANTITY:
                errors[f"line_{number}_quantity"] = "Quantity must be a whole number of at least 1"
                continue
            quantity = int(quantity_text)
            if line.price:
                price = price_lookup(line.price) if price_lookup else None
                if price is None:
                    errors[f"line_{number}_price"] = "That catalog price no longer exists; pick another"
                elif price["currency"] != self.currency:
                    errors[f"line_{number}_price"] = (
                        f"This price is in {price['currency'].upper()}, the invoice in {self.currency.upper()}"
                    )
                else:
                    parsed.append(ParsedLine(quantity=quantity, price_id=line.price, unit_amount=price["unit_amount"],
                                             description=price.get("product_name")))
                continue
            if not line.description:
                errors[f"line_{number}_description"] = "Describe what this line is for"
            if not line.unit_amount:
                errors[f"line_{number}_unit_amount"] = "Type an amount, or pick a catalog price"
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
    return str(item["msg"]).removeprefix("Value error, ")


def parse_invoice_form(values: dict[str, Any], price_lookup: PriceLookup | None) -> InvoiceForm:
    """Build the form from a view's `state.values` (already flattened to block_id -> value)."""
    line_numbers = sorted(
        {int(key.split("_")[1]) for key in values if key.startswith("line_") and key.split("_")[1].isdigit()}
    )
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
    return InvoiceForm.model_validate(data, context={"price_lookup": price_lookup})


def flatten_state(state_values: dict[str, dict[str, dict[str, Any]]]) -> dict[str, Any]:
    """Slack's `view.state.values` (block_id -> action_id -> element state) -> block_id -> plain value."""
    flat: dict[str, Any] = {}
    for block_id, actions in state_values.items():
        for element in actions.values():
            flat[block_id] = _element_value(element)
    return flat


def _element_value(element: dict[str, Any]) -> Any:
    kind = element.get("type")
    if kind in ("static_select", "external_select", "radio_buttons"):
        option = element.get("selected_option")
        return option.get("value") if option else None
    if kind == "number_input":
        return element.get("value")
    return element.get("value")

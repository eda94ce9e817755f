"""The credit note and "Mark paid outside Stripe" forms: their views, and their input as pydantic models.

As with the invoice form (`bot/forms.py`), fields are named after the modals' `block_id`s, so a
`ValidationError` becomes `response_action: errors` on the field to fix (`bot.forms.field_errors`). The checks
are pure over the invoice as the store knows it (what is left to credit: never more than what was paid or is
due); Stripe's preview then checks again against the invoice as Stripe has it, before anything is made.

The credit note form is one view that changes in place: the form, then Stripe's preview with a confirm
button, then the outcome. Its view id is the request: the Stripe idempotency key of the credit note derives
from it (and from the very parameters previewed), so a double click on the confirmation makes one.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, model_validator
from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    ContextBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot import money
from bot.domain.invoices import Invoice
from bot.forms import FormErrors, unsafe_character
from bot.jobs.payloads import CreditMethod, CreditReason, CreditRequest, OfflineMethod
from bot.mrkdwn import escape, truncate

CREDIT_CALLBACK_ID = "credit_note"
CREDIT_CONFIRM_CALLBACK_ID = "credit_note_confirm"
PAY_OUTSIDE_CALLBACK_ID = "pay_outside"
CREDITABLE_STATUSES = ("open", "paid")  # Stripe issues credit notes for these only
REASONS: dict[str, str] = {  # Stripe's reasons, in its order
    "duplicate": "Duplicate", "fraudulent": "Fraudulent", "order_change": "Order change",
    "product_unsatisfactory": "Product unsatisfactory",
}
METHODS: dict[str, str] = {
    "refund": "Refund it to the original payment",
    "credit": "Credit the customer's balance (taken off their next invoice)",
    "out_of_band": "Out of band: it was (or will be) paid back outside Stripe",
}
METHOD_PARAMS: dict[str, str] = {"refund": "refund_amount", "credit": "credit_amount",
                                 "out_of_band": "out_of_band_amount"}
OFFLINE_METHODS: dict[str, str] = {"cheque": "Cheque", "bank_transfer": "Bank transfer", "cash": "Cash",
                                   "other": "Other"}
MAX_MEMO = 300  # what the credit note's PDF shows; the confirmation carries it in its private_metadata
MAX_NOTE = 500
MIN_NOTE = 3
MAX_AMOUNT_TEXT = 40
LINES_OFFERED = 10  # Slack's checkboxes hold ten options


def _plain(text: str, limit: int = 150) -> PlainTextObject:
    return PlainTextObject(text=truncate(text, limit), emoji=True)


def _section(block_id: str, text: str) -> SectionBlock:
    return SectionBlock(block_id=block_id, text=MarkdownTextObject(text=truncate(text, 3000)))


def _amount(minor: int, currency: str) -> str:
    return escape(money.format_amount(minor, currency))


def _option(value: str, label: str) -> Option:
    return Option(value=value, text=_plain(label, 75))


# --- what the forms carry ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class MoneyFormMetadata:
    """Which invoice a form is about and where it was asked from (its `private_metadata`)."""

    invoice_id: str
    channel_id: str

    def dump(self, **extra: Any) -> str:
        # Unescaped: Slack counts characters (3,000 at most), and a memo in Japanese is not six times as long.
        return json.dumps({"invoice_id": self.invoice_id, "channel_id": self.channel_id, **extra}, ensure_ascii=False)

    @staticmethod
    def read(text: str | None) -> MoneyFormMetadata | None:
        data = _json_object(text)
        invoice_id, channel_id = data.get("invoice_id"), data.get("channel_id") or ""
        if not (isinstance(invoice_id, str) and invoice_id.startswith("in_") and len(invoice_id) <= 255
                and isinstance(channel_id, str) and len(channel_id) <= 40):
            return None
        return MoneyFormMetadata(invoice_id, channel_id)


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class Confirmation:
    """What the preview's confirm button submits: the request and Stripe's parameters as previewed."""

    metadata: MoneyFormMetadata
    request: CreditRequest
    params: dict[str, Any]


def confirmation_metadata(metadata: MoneyFormMetadata, request: CreditRequest, params: dict[str, Any]) -> str:
    # Not `lines` at the top: handlers/shape.py reads that key as the invoice form's line count. The memo once,
    # in Stripe's parameters: the whole must stay within Slack's 3,000 characters.
    return metadata.dump(request=request.model_copy(update={"memo": None}).model_dump(mode="json"), params=params)


def read_confirmation(text: str | None) -> Confirmation | None:
    metadata = MoneyFormMetadata.read(text)
    data = _json_object(text)
    params = data.get("params")
    if metadata is None or not isinstance(params, dict) or params.get("invoice") != metadata.invoice_id:
        return None
    try:
        request = CreditRequest.model_validate(data.get("request"))
    except ValidationError:
        return None
    memo = params.get("memo")
    return Confirmation(metadata, request.model_copy(update={"memo": memo if isinstance(memo, str) else None}),
                        params)


def request_key(view_id: str, params: dict[str, Any]) -> str:
    """The request a credit note belongs to: its form's view and the very parameters previewed (a form put back
    after a refusal and changed is another request; the same confirmation clicked twice is one)."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return f"{view_id}:{digest[:16]}"


# --- the credit note form ------------------------------------------------------------------------------------
def creditable_lines(invoice: Invoice) -> list[tuple[int, str]]:
    """The lines a rep may pick (position, label): the first ten with something to credit."""
    offered: list[tuple[int, str]] = []
    for position, line in enumerate(invoice.lines):
        if line.amount <= 0:
            continue
        label = f"{line.quantity} × {line.description or 'item'}: {money.format_amount(line.amount, invoice.currency)}"
        offered.append((position, label))
        if len(offered) == LINES_OFFERED:
            break
    return offered


def limit_text(invoice: Invoice) -> str:
    """Why at most `creditable` can be credited (mrkdwn, escaped)."""
    currency = invoice.currency
    parts = []
    if invoice.amount_remaining:
        parts.append(f"{_amount(invoice.amount_remaining, currency)} still due")
    if invoice.amount_paid:
        paid = f"{_amount(invoice.amount_paid, currency)} paid"
        if invoice.credited_after_payment:
            paid += f" less {_amount(invoice.credited_after_payment, currency)} credited already"
        parts.append(paid)
    return " and ".join(parts) or "nothing paid or due"


def _heading(invoice: Invoice) -> str:
    currency = invoice.currency
    facts = [f"total {_amount(invoice.total, currency)}"]
    if invoice.amount_paid:
        facts.append(f"paid {_amount(invoice.amount_paid, currency)}")
    if invoice.credited:
        facts.append(f"credited {_amount(invoice.credited, currency)}")
    return (f"*{escape(invoice.title)}* · {escape(invoice.customer_label or 'a customer')} · " + " · ".join(facts)
            + f"\nAt most *{_amount(invoice.creditable, currency)}* can be credited ({limit_text(invoice)}).")


def credit_note_modal(invoice: Invoice, metadata: str, *, values: CreditRequest | None = None,
                      amount_text: str | None = None, error: str | None = None) -> dict[str, Any]:
    """The form: what to credit (the whole invoice, chosen lines, an amount), Stripe's reason, where the part
    already paid goes (refund, the customer's balance, out of band), a memo. `values` and `amount_text` put a
    request back as it was typed; `error` (mrkdwn, escaped) says why Stripe refused it."""
    currency = invoice.currency
    lines = creditable_lines(invoice)
    left = money.format_amount(invoice.creditable, currency)
    choices = [_option("whole", f"The whole invoice (what is left: {left})")]
    if lines:
        choices.append(_option("lines", "Chosen lines"))
    choices.append(_option("amount", "An amount"))
    chosen = values.what if values is not None else "whole"
    blocks: list[Block] = [_section("credit_invoice", _heading(invoice))]
    if error:
        blocks.append(_section("credit_error", f":x: {error}"))
    blocks.append(InputBlock(block_id="credit_what", label=_plain("Credit"), element=RadioButtonsElement(
        action_id="credit_what", options=choices,
        initial_option=next((option for option in choices if option.value == chosen), choices[0]))))
    if lines:
        options = [_option(str(position), label) for position, label in lines]
        picked = [option for option in options if values is not None and int(str(option.value)) in values.lines]
        blocks.append(InputBlock(
            block_id="credit_lines", label=_plain("Lines to credit"), optional=True,
            element=CheckboxesElement(action_id="credit_lines", options=options, initial_options=picked or None),
            hint=_plain("With “Chosen lines”: each chosen line is credited in full.")))
    blocks.append(InputBlock(
        block_id="credit_amount", label=_plain("Amount"), optional=True,
        element=PlainTextInputElement(action_id="credit_amount", placeholder=_plain("10.00"),
                                      initial_value=amount_text or None, max_length=MAX_AMOUNT_TEXT),
        hint=_plain(f"With “An amount”: in {currency.upper()}, as you would write it (10.00 USD, 1000 JPY).")))
    reasons = [_option(value, label) for value, label in REASONS.items()]
    reason = next((option for option in reasons if values is not None and option.value == values.reason), None)
    blocks.append(InputBlock(block_id="credit_reason", label=_plain("Reason"), element=StaticSelectElement(
        action_id="credit_reason", placeholder=_plain("Stripe's reasons"), options=reasons, initial_option=reason)))
    if invoice.amount_paid:
        methods = [_option(value, label) for value, label in METHODS.items()]
        method = values.method if values is not None and values.method else "refund"
        blocks.append(InputBlock(
            block_id="credit_method", label=_plain("What was paid goes back as"), element=RadioButtonsElement(
                action_id="credit_method", options=methods,
                initial_option=next(option for option in methods if option.value == method)),
            hint=_plain("A credit first lowers what is still due; only the rest is refunded or credited.")))
    else:
        blocks.append(ContextBlock(block_id="credit_no_payment", elements=[MarkdownTextObject(
            text="Nothing was paid yet: the credit note lowers what the customer owes. Nothing is refunded.")]))
    blocks.append(InputBlock(
        block_id="credit_memo", label=_plain("Memo (on the credit note the customer gets)"), optional=True,
        element=PlainTextInputElement(action_id="credit_memo", multiline=True, max_length=MAX_MEMO,
                                      initial_value=values.memo if values is not None and values.memo else None)))
    return View(type="modal", callback_id=CREDIT_CALLBACK_ID, title=_plain("Issue credit note", 24),
                submit=_plain("Preview", 24), close=_plain("Cancel", 24), private_metadata=metadata,
                blocks=blocks).to_dict()


def preview_effect(preview: dict[str, Any], currency: str, remaining: int) -> list[str]:
    """What the previewed credit note does (mrkdwn, escaped): `remaining` is what the invoice still has due."""
    pre = int(preview.get("pre_payment_amount") or 0)
    post = int(preview.get("post_payment_amount") or 0)
    refunded = sum(int(refund.get("amount_refunded") or 0) for refund in preview.get("refunds") or []
                   if isinstance(refund, dict))
    outside = int(preview.get("out_of_band_amount") or 0)
    balance = post - refunded - outside
    effects = []
    if pre:
        effects.append(f"Lowers what the customer owes by {_amount(pre, currency)}: "
                       f"{_amount(max(remaining - pre, 0), currency)} left to pay"
                       + (" (the invoice is then paid)" if remaining - pre <= 0 else ""))
    if refunded:
        effects.append(f"Refunds {_amount(refunded, currency)} to the original payment")
    if balance > 0:
        effects.append(f"Adds {_amount(balance, currency)} to the customer's credit balance, taken off their next "
                       "invoice")
    if outside:
        effects.append(f"Records {_amount(outside, currency)} as paid back outside Stripe (no money moves in Stripe)")
    return effects


def credit_note_confirmation(invoice: Invoice, preview: dict[str, Any], request: CreditRequest, metadata: str,
                             *, remaining: int) -> dict[str, Any]:
    """Stripe's preview in the form, with the button that issues it."""
    currency = invoice.currency
    amount = int(preview.get("total") or preview.get("amount") or 0)
    lines = [f"*Credit note for {_amount(amount, currency)}* on *{escape(invoice.title)}* "
             f"({escape(invoice.customer_label or 'a customer')})",
             *(f"• {effect}" for effect in preview_effect(preview, currency, remaining)),
             f"Credited on this invoice after it: {_amount(invoice.credited + amount, currency)} of "
             f"{_amount(invoice.total, currency)}",
             f"Reason: {escape(REASONS.get(request.reason, request.reason))}"]
    credited_lines = [line for line in (preview.get("lines") or {}).get("data") or [] if isinstance(line, dict)]
    if credited_lines:
        lines.append("Lines: " + "; ".join(
            f"{escape(str(line.get('description') or 'item'))} {_amount(int(line.get('amount') or 0), currency)}"
            for line in credited_lines[:LINES_OFFERED]))
    if request.memo:
        lines.append(f"Memo: “{escape(request.memo)}”")
    blocks: list[Block] = [
        _section("credit_preview", "\n".join(lines)),
        ContextBlock(block_id="credit_preview_note", elements=[MarkdownTextObject(
            text="Stripe's preview: nothing is issued until you press *Issue credit note*. Stripe then emails the "
                 "customer the credit note; it can't be undone from Slack.")]),
    ]
    return View(type="modal", callback_id=CREDIT_CONFIRM_CALLBACK_ID, title=_plain("Issue credit note", 24),
                submit=_plain("Issue credit note", 24), close=_plain("Cancel", 24), private_metadata=metadata,
                blocks=blocks).to_dict()


class CreditNoteForm(BaseModel):
    """The form's input; the invoice it is about comes in the validation context (`invoice`)."""

    model_config = ConfigDict(str_strip_whitespace=True)

    credit_what: Literal["whole", "lines", "amount"]
    credit_lines: list[str] = []
    credit_amount: str | None = Field(default=None, max_length=MAX_AMOUNT_TEXT)
    credit_reason: CreditReason
    credit_method: CreditMethod | None = None
    credit_memo: str | None = Field(default=None, max_length=MAX_MEMO)

    # Filled by the validator below.
    request: CreditRequest | None = None

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo) -> CreditNoteForm:
        invoice = (info.context or {}).get("invoice")
        if not isinstance(invoice, Invoice):
            raise FormErrors({"credit_what": "I don't know this invoice any more; it may have been deleted."})
        if invoice.status not in CREDITABLE_STATUSES:
            raise FormErrors({"credit_what": f"{invoice.title} is {invoice.status}: only open or paid invoices take "
                                             "credit notes."})
        creditable, currency = invoice.creditable, invoice.currency
        if creditable <= 0:
            raise FormErrors({"credit_what": f"Nothing is left to credit on {invoice.title}: "
                                             f"{money.format_amount(invoice.credited, currency)} credited already."})
        field, chosen = "credit_what", []
        if self.credit_what == "whole":
            amount = creditable
        elif self.credit_what == "lines":
            field = "credit_lines"
            offered = dict(creditable_lines(invoice))
            try:
                chosen = sorted({int(value) for value in self.credit_lines})
            except ValueError:
                chosen = [-1]
            if not chosen:
                raise FormErrors({field: "Tick the lines to credit (or choose another way above)"})
            if any(position not in offered for position in chosen):
                raise FormErrors({field: "This invoice has no such line any more; open the form again"})
            amount = sum(invoice.lines[position].amount for position in chosen)
        else:
            field = "credit_amount"
            if not self.credit_amount:
                raise FormErrors({field: "Type the amount to credit (or choose another way above)"})
            try:
                amount = money.parse_amount(self.credit_amount, currency)
            except money.AmountError as error:
                raise FormErrors({field: str(error)}) from None
        if amount > creditable:
            raise FormErrors({field: f"That's more than can be credited: at most "
                                     f"{money.format_amount(creditable, currency)} "
                                     f"({limit_text(invoice)})."})
        errors: dict[str, str] = {}
        method = self.credit_method
        if amount <= invoice.amount_remaining:
            method = None  # it only lowers what is due
        elif method is None:
            errors["credit_method"] = "Choose where the part already paid goes"
        if self.credit_memo:
            found = unsafe_character(self.credit_memo, allowed="\n")
            if found:
                errors["credit_memo"] = f"Remove the invisible character {found}; type plain text"
        if errors:
            raise FormErrors(errors)
        self.request = CreditRequest(what=self.credit_what, amount=amount, lines=chosen, reason=self.credit_reason,
                                     method=method, memo=self.credit_memo or None)
        return self


def parse_credit_note(state_values: dict[str, Any], invoice: Invoice | None) -> CreditRequest:
    """The form's `view.state.values` as a request; a ValidationError names each field to fix."""
    form = CreditNoteForm.model_validate({
        "credit_what": _selected(state_values, "credit_what"),
        "credit_lines": [option.get("value") for option in _element(state_values, "credit_lines").get(
            "selected_options") or [] if isinstance(option, dict)],
        "credit_amount": _element(state_values, "credit_amount").get("value"),
        "credit_reason": _selected(state_values, "credit_reason"),
        "credit_method": _selected(state_values, "credit_method"),
        "credit_memo": _element(state_values, "credit_memo").get("value"),
    }, context={"invoice": invoice})
    assert form.request is not None  # the validator sets it or raises
    return form.request


def typed_amount(state_values: dict[str, Any]) -> str | None:
    """What was typed as the amount, to put back in the form (Slack keeps it within the field's length)."""
    value = _element(state_values, "credit_amount").get("value")
    return value if isinstance(value, str) and len(value) <= MAX_AMOUNT_TEXT else None


def _element(state_values: dict[str, Any], block_id: str) -> dict[str, Any]:
    actions = state_values.get(block_id)
    found = next(iter(actions.values()), None) if isinstance(actions, dict) and actions else None
    return found if isinstance(found, dict) else {}


def _selected(state_values: dict[str, Any], block_id: str) -> Any:
    option = _element(state_values, block_id).get("selected_option")
    return option.get("value") if isinstance(option, dict) else None


def credit_note_params(invoice_id: str, request: CreditRequest, line_items: Sequence[tuple[str, int]],
                       remaining: int, *, user_id: str, view_id: str) -> dict[str, Any]:
    """Stripe's parameters for the request: `line_items` are the chosen lines as Stripe has them (id, amount),
    `remaining` what the invoice still has due in Stripe (what is credited beyond it was paid: the request's
    `method` says where that goes)."""
    params: dict[str, Any] = {"invoice": invoice_id, "reason": request.reason,
                              "metadata": {"created_via": "invoicebot", "slack_user": user_id, "slack_view": view_id}}
    if request.what == "lines":
        params["lines"] = [{"type": "invoice_line_item", "invoice_line_item": line_id, "amount": amount}
                           for line_id, amount in line_items]
    else:
        params["amount"] = request.amount
    post = request.amount - min(request.amount, max(remaining, 0))
    if post and request.method is not None:
        params[METHOD_PARAMS[request.method]] = post
    if request.memo:
        params["memo"] = request.memo
    return params


# --- Mark paid outside Stripe --------------------------------------------------------------------------------
def pay_outside_modal(invoice: Invoice, metadata: str) -> dict[str, Any]:
    """The note a payment received outside Stripe needs, and the confirmation that it arrived."""
    due = _amount(invoice.amount_remaining, invoice.currency)
    return View(type="modal", callback_id=PAY_OUTSIDE_CALLBACK_ID, title=_plain("Mark paid outside Stripe", 24),
                submit=_plain("Mark paid", 24), close=_plain("Cancel", 24), private_metadata=metadata, blocks=[
                    _section("pay_outside_invoice",
                             f"*{escape(invoice.title)}* · {escape(invoice.customer_label or 'a customer')} · "
                             f"*{due}* due\nStripe marks it paid and stops collecting it: no money moves through "
                             "Stripe. Only do this once the money has arrived."),
                    InputBlock(block_id="payment_method", label=_plain("Paid by"), element=StaticSelectElement(
                        action_id="payment_method", placeholder=_plain("How the money came"),
                        options=[_option(value, label) for value, label in OFFLINE_METHODS.items()])),
                    InputBlock(block_id="payment_note", label=_plain("Note (kept in the audit log)"),
                               element=PlainTextInputElement(
                                   action_id="payment_note", multiline=True, max_length=MAX_NOTE,
                                   placeholder=_plain("Cheque #1042, banked on 3 March")),
                               hint=_plain("What proves the payment: a cheque number, a bank reference.")),
                ]).to_dict()


class OfflinePaymentForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    payment_method: OfflineMethod
    payment_note: str = Field(min_length=MIN_NOTE, max_length=MAX_NOTE)

    @model_validator(mode="after")
    def _plain_note(self) -> OfflinePaymentForm:
        found = unsafe_character(self.payment_note, allowed="\n")
        if found:
            raise FormErrors({"payment_note": f"Remove the invisible character {found}; type plain text"})
        return self


def parse_offline_payment(state_values: dict[str, Any]) -> OfflinePaymentForm:
    note = _element(state_values, "payment_note").get("value")
    return OfflinePaymentForm.model_validate({
        "payment_method": _selected(state_values, "payment_method"),
        "payment_note": note if isinstance(note, str) else "",
    })

"""Pure Block Kit builders: the invoice modal, the invoice message, notices, lists, App Home.

Every builder returns dicts made through `slack_sdk.models`, whose `to_dict()` enforces Block
Kit's limits, and every piece of text that lands in mrkdwn, from people or from Stripe, goes
through `escape`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    CheckboxesElement,
    ConfirmObject,
    ContextBlock,
    ConversationFilter,
    ConversationSelectElement,
    DatePickerElement,
    DividerBlock,
    ExternalDataMultiSelectElement,
    ExternalDataSelectElement,
    HeaderBlock,
    InputBlock,
    MarkdownTextObject,
    Option,
    OptionGroup,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    SectionBlock,
    StaticSelectElement,
    UserMultiSelectElement,
)
from slack_sdk.models.views import View

from bot import money
from bot.domain.chasing import MAX_NOTE, MAX_REASON, SNOOZE_DAYS, cadence_text, describe_cadence, format_day
from bot.domain.invoice_extras import (
    MAX_CUSTOM_FIELD_NAME,
    MAX_CUSTOM_FIELD_VALUE,
    MAX_CUSTOM_FIELDS,
    MAX_CUSTOM_FIELDS_TEXT,
    MAX_DISCOUNT_CODE,
    MAX_FOOTER,
    MAX_TAX_RATES,
)
from bot.domain.invoices import Invoice, InvoiceLine
from bot.domain.notices import NOTICE_KINDS
from bot.domain.receivables import (
    BUCKET_LABELS,
    BUCKETS,
    COLLECTED_DAYS,
    DSO_METHOD,
    Aging,
    CurrencyReport,
    Report,
)
from bot.domain.records import AuditEntry, CurrencyTotals, Customer, Price
from bot.domain.recurring import Subscription
from bot.domain.tenants import TenantSettings
from bot.mrkdwn import escape, link, truncate


class ActionId(StrEnum):
    """Every action id the bot's blocks carry; the listeners register these same values."""

    ADD_LINE = "add_line"
    CUSTOMER_SEARCH = "customer_search"
    PRICE_SEARCH = "price_search"
    CURRENCY = "currency"
    INVOICE_OPEN = "invoice_open"
    INVOICE_SEND = "invoice_send"
    INVOICE_VOID = "invoice_void"
    INVOICE_UNCOLLECTIBLE = "invoice_uncollectible"
    INVOICE_REMIND = "invoice_remind"
    HOME_NEW_INVOICE = "home_new_invoice"
    LIST_MORE = "list_more"
    SHOW_INVOICE = "invoice_show"
    CONNECT_STRIPE = "connect_stripe"
    DISCONNECT_STRIPE = "disconnect_stripe"
    # Chasing (bot/services/chasing.py, promises.py): the invoice message's buttons, then the evening preview's.
    CHASE_PROMISE = "chase_promise"
    CHASE_DISPUTE = "chase_dispute"
    CHASE_RESOLVE = "chase_resolve"
    CHASE_CADENCE = "chase_cadence"
    CHASE_SKIP = "chase_skip"
    CHASE_SNOOZE = "chase_snooze"
    CHASE_SEND_NOW = "chase_send_now"
    APPROVAL_APPROVE = "approval_approve"
    APPROVAL_REJECT = "approval_reject"
    # Credit notes and payments outside Stripe (bot/services/credit_notes.py): the invoice message's buttons.
    CREDIT_NOTE = "invoice_credit_note"
    PAY_OUTSIDE = "invoice_pay_outside"
    # Recurring invoices (bot/services/recurring.py): `/invoice recurring`'s Cancel buttons.
    RECURRING_CANCEL_AT_END = "recurring_cancel_at_end"
    RECURRING_CANCEL_NOW = "recurring_cancel_now"
    # Tax, discounts and more in the form (bot/domain/invoice_extras.py); the message's PDF link.
    TAX_RATE_SEARCH = "tax_rate_search"
    INVOICE_PDF = "invoice_pdf"


MODAL_CALLBACK_ID = "invoice_modal"
MAX_BLOCKS_IN_VIEW = 100
FIXED_MODAL_BLOCKS = 10  # everything but the lines: customer fields, currency, due, memo, delivery, total, buttons
BLOCKS_PER_LINE = 5  # divider + description, quantity, unit amount, catalog price
EXTRA_FIELD_BLOCKS = 5  # tax rates, automatic tax, coupon or promotion code, custom fields, footer
MAX_MODAL_LINES = (MAX_BLOCKS_IN_VIEW - FIXED_MODAL_BLOCKS - EXTRA_FIELD_BLOCKS) // BLOCKS_PER_LINE
COMMON_CURRENCIES = ("usd", "eur", "gbp", "cad", "aud", "jpy", "chf", "sek", "nok", "dkk", "inr", "sgd", "nzd",
                     "mxn", "brl", "kwd")

STATUS_BADGES = {
    "draft": ":memo: Draft",
    "open": ":envelope_with_arrow: Open",
    "paid": ":white_check_mark: Paid",
    "void": ":no_entry_sign: Void",
    "uncollectible": ":warning: Uncollectible",
    "deleted": ":wastebasket: Deleted",
}
# An invoice held above APPROVAL_LIMITS (`Invoice.approval`), shown instead of its Stripe status.
APPROVAL_BADGES = {
    "pending": ":hourglass_flowing_sand: Awaiting approval",
    "rejected": ":no_entry_sign: Rejected",
}



def plain(text: str, limit: int = 150) -> PlainTextObject:
    return PlainTextObject(text=truncate(text, limit), emoji=True)


# --- the modal --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModalState:
    """Everything the modal shows: defaults, what was typed, how many lines."""

    channel_id: str
    default_currency: str
    default_days: int
    line_count: int = 1
    values: dict[str, Any] | None = None
    total_text: str | None = None
    customer_label: str | None = None
    price_labels: dict[str, str] | None = None
    tax_rate_labels: dict[str, str] | None = None  # the picked tax rates' labels (`invoice_extras_blocks`)

    # Pre-filled from a message ("Invoice this", bot/services/shortcuts.py): the invoice goes in the thread of
    # `thread_ts`; `notes` (plain text) say what was read how; with `currency_unset` the rep picks the currency.
    thread_ts: str | None = None
    notes: tuple[str, ...] = ()
    currency_unset: bool = False

    def metadata(self) -> str:
        data: dict[str, Any] = {"channel_id": self.channel_id, "lines": self.line_count}
        if self.thread_ts:
            data["thread_ts"] = self.thread_ts
        return json.dumps(data)

    @staticmethod
    def read_metadata(text: str | None) -> ModalMetadata:
        """The modal's `private_metadata` back (its shape was checked by `handlers/shape.py`)."""
        data = json.loads(text or "{}")
        thread_ts = data.get("thread_ts")
        return ModalMetadata(channel_id=str(data.get("channel_id") or ""), lines=int(data.get("lines", 1)),
                             thread_ts=thread_ts if isinstance(thread_ts, str) and MESSAGE_TS.match(thread_ts)
                             else None)


MESSAGE_TS = re.compile(r"^[0-9]{1,12}\.[0-9]{1,9}$")


@dataclass(frozen=True)
class ModalMetadata:
    channel_id: str
    lines: int
    thread_ts: str | None = None  # "Invoice this": the thread the invoice's message goes in


@functools.lru_cache(maxsize=64)
def _currency_element(selected: str | None) -> str:
    """The currency menu (130-odd options) validated once per preselected currency, as JSON."""
    return json.dumps(currency_select(selected).to_dict())


def currency_select(selected: str | None) -> StaticSelectElement:
    """`selected` None: nothing chosen (a message's "¥" could be JPY or CNY), the rep picks."""
    common = [c for c in COMMON_CURRENCIES if money.is_supported(c)]
    others = [c for c in money.SUPPORTED_CURRENCIES if c not in common]
    groups = [OptionGroup(label="Common", options=[_currency_option(c) for c in common])]
    for start in range(0, len(others), 100):
        chunk = others[start : start + 100]
        groups.append(OptionGroup(label=f"{chunk[0].upper()}–{chunk[-1].upper()}",
                                  options=[_currency_option(c) for c in chunk]))
    return StaticSelectElement(
        action_id=ActionId.CURRENCY,
        option_groups=groups,
        initial_option=_currency_option(selected) if selected else None,
        placeholder=None if selected else plain("Pick the currency"),
    )


def _currency_option(code: str) -> Option:
    return Option(value=code, text=plain(truncate(money.currency_label(code), 75), 75))


def _text_input(block_id: str, label: str, *, optional: bool, initial: str | None = None, placeholder: str = "",
                multiline: bool = False, max_length: int | None = None, hint: str | None = None) -> InputBlock:
    element = PlainTextInputElement(
        action_id=block_id,
        placeholder=plain(placeholder) if placeholder else None,
        initial_value=initial or None,
        multiline=multiline or None,
        max_length=max_length,
    )
    return InputBlock(block_id=block_id, label=plain(label), element=element, optional=optional,
                      hint=plain(hint) if hint else None)


def invoice_modal(state: ModalState) -> dict[str, Any]:
    values = state.values or {}
    currency = values.get("currency") or state.default_currency
    chosen = None if state.currency_unset else currency
    blocks: list[Block] = []
    if state.notes:  # what a message's pre-fill read, and what it left for the rep (escaped: people's words)
        blocks.append(ContextBlock(block_id="prefill_notes", elements=[MarkdownTextObject(
            text=truncate("\n".join(escape(note) for note in state.notes), 3000))]))
    blocks += [
        InputBlock(
            block_id="customer",
            label=plain("Existing customer"),
            optional=True,
            element=ExternalDataSelectElement(
                action_id=ActionId.CUSTOMER_SEARCH,
                placeholder=plain("Type a name or email"),
                min_query_length=0,
                initial_option=(
                    Option(value=values["customer"], text=plain(state.customer_label or values["customer"], 75))
                    if values.get("customer") else None),
            ),
            hint=plain("Or leave empty and give a new customer's name and email below"),
        ),
        _text_input("customer_name", "New customer: name", optional=True, initial=values.get("customer_name"),
                    max_length=200),
        _text_input("customer_email", "New customer: email", optional=True, initial=values.get("customer_email"),
                    placeholder="jenny@example.com", max_length=254),
        # A one-option stand-in, swapped for the cached full menu below (building it each time was
        # most of the cost of opening the modal).
        InputBlock(block_id="currency", label=plain("Currency"), element=StaticSelectElement(
            action_id=ActionId.CURRENCY, options=[_currency_option(currency)],
            initial_option=_currency_option(currency) if chosen else None)),
    ]
    for number in range(1, state.line_count + 1):
        blocks.extend(_line_blocks(number, values, state.price_labels or {}))
    if state.line_count < MAX_MODAL_LINES:
        blocks.append(ActionsBlock(block_id="line_actions", elements=[
            ButtonElement(text=plain("Add line"), action_id=ActionId.ADD_LINE, value=str(state.line_count + 1))
        ]))
    if state.total_text:
        blocks.append(ContextBlock(block_id="running_total",
                                   elements=[MarkdownTextObject(text=f"*Total so far:* {escape(state.total_text)}")]))
    blocks.extend([
        _text_input("days_until_due", "Days until due", optional=False,
                    initial=str(values.get("days_until_due") or state.default_days), max_length=3),
        _text_input("memo", "Memo (shown on the invoice)", optional=True, initial=values.get("memo"),
                    multiline=True, max_length=500),
        *invoice_extras_blocks(values, state.tax_rate_labels or {}),
        InputBlock(block_id="delivery", label=plain("Delivery"), element=RadioButtonsElement(
            action_id="delivery",
            options=[Option(value="send", text=plain("Send now")), Option(value="draft", text=plain("Save as draft"))],
            initial_option=Option(value="draft", text=plain("Save as draft")) if values.get("delivery") == "draft"
            else Option(value="send", text=plain("Send now")),
        )),
    ])
    blocks.append(repeat_block(values))
    view = View(
        type="modal",
        callback_id=MODAL_CALLBACK_ID,
        title=plain("New invoice", 24),
        submit=plain("Create invoice", 24),
        close=plain("Cancel", 24),
        private_metadata=state.metadata(),
        blocks=blocks,
    ).to_dict()
    for block in view["blocks"]:
        if block.get("block_id") == "currency":
            block["element"] = json.loads(_currency_element(chosen))
    return view


def _line_blocks(number: int, values: dict[str, Any], price_labels: dict[str, str]) -> list[Block]:
    prefix = f"line_{number}_"
    price_id = values.get(prefix + "price")
    return [
        DividerBlock(block_id=f"{prefix}divider"),
        _text_input(prefix + "description", f"Line {number}: description", optional=number > 1,
                    initial=values.get(prefix + "description"), max_length=250),
        _text_input(prefix + "quantity", f"Line {number}: quantity", optional=True,
                    initial=values.get(prefix + "quantity") or "1", max_length=7),
        _text_input(prefix + "unit_amount", f"Line {number}: unit amount", optional=True,
                    initial=values.get(prefix + "unit_amount"), placeholder="10.00",
                    hint="In major units, as you would write it: 10.00 USD, 1000 JPY, 1.250 KWD"),
        InputBlock(
            block_id=prefix + "price",
            label=plain(f"Line {number}: or a catalog price"),
            optional=True,
            element=ExternalDataSelectElement(
                action_id=ActionId.PRICE_SEARCH,
                placeholder=plain("Search the catalog"),
                min_query_length=0,
                initial_option=Option(value=price_id, text=plain(price_labels.get(price_id, price_id), 75))
                if price_id else None,
            ),
        ),
    ]


def invoice_extras_blocks(values: dict[str, Any], tax_rate_labels: dict[str, str]) -> list[Block]:
    """The form's tax, discount, custom fields and footer (`forms.parse_extras` reads them): EXTRA_FIELD_BLOCKS
    blocks, each its own block id, so each error lands on its field."""
    picked = [rate_id for rate_id in values.get("tax_rates") or [] if isinstance(rate_id, str)]
    automatic = Option(value="on", text=plain("Let Stripe Tax work out the tax"))
    return [
        InputBlock(
            block_id="tax_rates", label=plain("Tax rates"), optional=True,
            element=ExternalDataMultiSelectElement(
                action_id=ActionId.TAX_RATE_SEARCH, placeholder=plain("Search the account's tax rates"),
                min_query_length=0, max_selected_items=MAX_TAX_RATES,
                initial_options=[Option(value=rate_id, text=plain(tax_rate_labels.get(rate_id, rate_id), 75))
                                 for rate_id in picked[:MAX_TAX_RATES]] or None),
            hint=plain("Applied to every line. The account's tax rates, as in Stripe's Dashboard")),
        InputBlock(
            block_id="automatic_tax", label=plain("Automatic tax"), optional=True,
            element=CheckboxesElement(action_id="automatic_tax", options=[automatic],
                                      initial_options=[automatic] if "on" in (values.get("automatic_tax") or [])
                                      else None),
            hint=plain("Only where the Stripe account has Stripe Tax set up, and the customer has an address in "
                       "Stripe; instead of tax rates")),
        _text_input("discount_code", "Coupon or promotion code", optional=True, initial=values.get("discount_code"),
                    placeholder="SUMMER25", max_length=MAX_DISCOUNT_CODE),
        _text_input("custom_fields", "Custom fields", optional=True, initial=values.get("custom_fields"),
                    multiline=True, max_length=MAX_CUSTOM_FIELDS_TEXT, placeholder="PO number: 4711",
                    hint=f"One a line, as Name: value; at most {MAX_CUSTOM_FIELDS} (names up to "
                         f"{MAX_CUSTOM_FIELD_NAME} characters, values up to {MAX_CUSTOM_FIELD_VALUE})"),
        _text_input("footer", "Footer (shown on the invoice)", optional=True, initial=values.get("footer"),
                    multiline=True, max_length=MAX_FOOTER),
    ]


def status_view(title: str, text: str) -> dict[str, Any]:
    """A modal with a single message, for "Creating invoice..." and its outcome."""
    return View(type="modal", title=plain(title, 24), close=plain("Close", 24),
                blocks=[SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000)))]).to_dict()


# --- `/invoice settings` ----------------------------------------------------------------------------
SETTINGS_CALLBACK_ID = "workspace_settings"
SETTINGS_LISTS = (("admins", "Invoicing admins"), ("creators", "Who may create invoices"),
                  ("viewers", "Who sees every invoice (finance)"))


def settings_modal(current: TenantSettings, defaults: TenantSettings) -> dict[str, Any]:
    """The workspace's settings as they apply now; `defaults` are what an emptied list falls back to."""
    hints = {
        "admins": "They change the catalog, routes and these settings, and may act on any invoice. Slack's "
                  "workspace admins and owners always may.",
        "creators": "Admins always may.",
        "viewers": "Besides each invoice's rep and the members of the channel it was posted in.",
    }
    blocks: list[Block] = [InputBlock(
        block_id="payments_channel", label=plain("Payments channel"),
        element=ConversationSelectElement(
            action_id="payments_channel", initial_conversation=current.payments_channel or None,
            # A channel shared with another organisation would tell them about this workspace's payments.
            filter=ConversationFilter(include=["public", "private"], exclude_bot_users=True,
                                      exclude_external_shared_channels=True)),
        hint=plain("Paid, failed and overdue invoices are announced here; invite invoicebot to it."))]
    groups: list[str] = []
    for block_id, label in SETTINGS_LISTS:
        listed: tuple[str, ...] = getattr(current, block_id)
        fallback: tuple[str, ...] = getattr(defaults, block_id)
        empty = ("Empty: everyone in the workspace (guests excepted)." if block_id == "creators" and not fallback
                 else f"Empty: back to the default ({len(fallback)} named)." if fallback else "")
        blocks.append(InputBlock(
            block_id=block_id, label=plain(label), optional=True,
            element=UserMultiSelectElement(action_id=block_id,
                                           initial_users=[entry for entry in listed if entry[:1] in ("U", "W")]),
            hint=plain(f"{hints[block_id]} {empty}".strip(), 2000)))
        groups += [f"<!subteam^{entry}> ({label.lower()})" for entry in listed if entry.startswith("S")]
    if groups:  # a user group can't be picked in a users menu: say it stays as it is
        blocks.append(ContextBlock(block_id="kept_groups", elements=[MarkdownTextObject(
            text=truncate("User groups stay as they are: " + ", ".join(groups), 3000))]))
    return View(type="modal", callback_id=SETTINGS_CALLBACK_ID, title=plain("Workspace settings", 24),
                submit=plain("Save", 24), close=plain("Cancel", 24), blocks=blocks).to_dict()


# --- options of the modal's searches ---------------------------------------------------------------
def option_text(text: str, limit: int = 75) -> str:
    """Option text: `&`, `<`, `>` escaped as Slack asks for every text object (so a name like
    `<!channel>` is shown, not parsed), at most `limit` characters, never cutting an entity."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    kept, size = [], 0
    for char in text:
        piece = escape(char)
        if size + len(piece) > limit - 1:
            break
        kept.append(piece)
        size += len(piece)
    return "".join(kept) + "…"


def customer_option_text(customer: Customer) -> str:
    name, email = customer.name, customer.email
    return option_text(f"{name} <{email}>" if name and email else name or email or customer.stripe_id)


def price_option_text(price: Price) -> str:
    return option_text(f"{price.product_name} – {money.format_amount(price.unit_amount, price.currency)}")


def option(text: str, value: str) -> dict[str, Any]:
    return {"text": {"type": "plain_text", "text": text}, "value": value}


# --- the invoice message ----------------------------------------------------------------------
def format_due(due_date: int | None, zone: tzinfo = UTC) -> str:
    if not due_date:
        return "not set"
    return datetime.fromtimestamp(due_date, tz=zone).strftime("%b %-d, %Y")


def format_moment(timestamp: float | None, zone: tzinfo = UTC) -> str:
    if not timestamp:
        return "unknown time"
    return datetime.fromtimestamp(timestamp, tz=zone).strftime("%b %-d, %Y %H:%M %Z")


def due_mrkdwn(due_date: int | None) -> str:
    """A due date Slack renders in each viewer's own time zone, with a UTC fallback."""
    if not due_date:
        return "not set"
    return f"<!date^{int(due_date)}^{{date_short_pretty}}|{format_due(due_date)}>"


def invoice_message(invoice: Invoice) -> tuple[str, list[dict[str, Any]]]:
    """The one message per invoice: (fallback text, blocks)."""
    currency = invoice.currency
    status = invoice.status
    total = money.format_amount(invoice.total, currency)
    customer = escape(invoice.customer_label or "a customer")
    email = escape(invoice.customer_email or "")
    fields = [
        MarkdownTextObject(text=f"*Customer*\n{customer}" + (f"\n{email}" if email and email != customer else "")),
        MarkdownTextObject(text=f"*Total*\n{escape(total)}"),
        MarkdownTextObject(text=f"*Status*\n{status_badge(invoice)}"),
        MarkdownTextObject(text=f"*Due*\n{due_mrkdwn(invoice.due_date)}"),
    ]
    if invoice.amount_paid:
        fields.append(MarkdownTextObject(text=f"*Paid*\n{escape(money.format_amount(invoice.amount_paid, currency))}"))
    if invoice.credited:  # by credit notes (bot/services/credit_notes.py)
        fields.append(MarkdownTextObject(text=f"*Credited*\n{escape(money.format_amount(invoice.credited, currency))}"))
    if status == "open" and invoice.amount_remaining != invoice.total:
        fields.append(MarkdownTextObject(
            text=f"*Remaining*\n{escape(money.format_amount(invoice.amount_remaining, currency))}"))
    blocks: list[Block] = [
        HeaderBlock(block_id="title", text=plain(f"{invoice.title} · {total}", 150)),
        SectionBlock(block_id="summary", fields=fields),
    ]
    summary = lines_summary(invoice.lines, currency)
    if summary:
        blocks.append(ContextBlock(block_id="lines", elements=[MarkdownTextObject(text=summary)]))
    buttons = invoice_buttons(invoice)
    if buttons:
        blocks.append(ActionsBlock(block_id="invoice_actions", elements=buttons))
    blocks.extend(chasing_blocks(invoice))
    text = f"{escape(invoice.title)} for {customer}: {escape(total)}, {status}"
    return text, [block.to_dict() for block in blocks]


def status_badge(invoice: Invoice) -> str:
    """Its Stripe status, or where it stands with its approval while that decides (a held draft, a
    rejected one deleted)."""
    if invoice.approval == "pending" and invoice.status == "draft":
        return APPROVAL_BADGES["pending"]
    if invoice.approval == "rejected" and invoice.status in ("draft", "deleted"):
        return APPROVAL_BADGES["rejected"]
    return STATUS_BADGES.get(invoice.status, escape(invoice.status))


def lines_summary(lines: Sequence[InvoiceLine], currency: str, shown: int = 5) -> str:
    parts = []
    for line in lines[:shown]:
        description = escape(truncate(line.description or "item", 80))
        amount = money.format_amount(line.amount, currency)
        parts.append(f"{line.quantity} × {description}: {escape(amount)}")
    if len(lines) > shown:
        parts.append(f"and {len(lines) - shown} more")
    return truncate("\n".join(parts), 3000)


def invoice_buttons(invoice: Invoice) -> list[ButtonElement]:
    status = invoice.status
    invoice_id = invoice.stripe_id
    buttons: list[ButtonElement] = []
    if invoice.hosted_url:
        buttons.append(ButtonElement(text=plain("Open invoice"), action_id=ActionId.INVOICE_OPEN,
                                     url=invoice.hosted_url, value=invoice_id))
    if invoice.pdf_url:
        buttons.append(ButtonElement(text=plain("Download PDF"), action_id=ActionId.INVOICE_PDF,
                                     url=invoice.pdf_url, value=invoice_id))
    if status == "draft" and invoice.approval not in ("pending", "rejected"):  # a held draft waits for its approver
        buttons.append(ButtonElement(text=plain("Send"), action_id=ActionId.INVOICE_SEND, value=invoice_id,
                                     style="primary"))
    if status == "open":
        buttons.append(ButtonElement(text=plain("Send reminder"), action_id=ActionId.INVOICE_REMIND,
                                     value=invoice_id))
        buttons.append(ButtonElement(
            text=plain("Void"), action_id=ActionId.INVOICE_VOID, value=invoice_id, style="danger",
            confirm=ConfirmObject(title=plain("Void this invoice?", 100),
                                  text=plain(f"{invoice.title} can no longer be paid after this.", 300),
                                  confirm=plain("Void", 30), deny=plain("Keep it", 30), style="danger"),
        ))
        buttons.append(ButtonElement(
            text=plain("Mark uncollectible"), action_id=ActionId.INVOICE_UNCOLLECTIBLE, value=invoice_id,
            confirm=ConfirmObject(title=plain("Mark uncollectible?", 100),
                                  text=plain(f"{invoice.title} will be written off as bad debt. "
                                             "It can still be paid or voided later.", 300),
                                  confirm=plain("Mark uncollectible", 30), deny=plain("Cancel", 30)),
        ))
    buttons.extend(money_buttons(invoice))
    return buttons


# --- link previews (bot/services/unfurls.py) -----------------------------------------------------------------
def unfurl_card(invoice: Invoice, allowed: Collection[str], now: float) -> list[dict[str, Any]]:
    """A pasted invoice link's preview: its title, customer, status, total and due date as they are now; of its
    buttons, the links and those whose action id is in `allowed` (what the person who shared the link may do:
    everyone in the channel sees them, and each press is checked again for whoever presses)."""
    currency = invoice.currency
    total = money.format_amount(invoice.total, currency)
    status = status_badge(invoice) + (" · :alarm_clock: overdue" if invoice.is_overdue(now) else "")
    fields = [
        MarkdownTextObject(text=f"*Customer*\n{clip(invoice.customer_label or 'a customer', 200)}"),
        MarkdownTextObject(text=f"*Total*\n{escape(total)}"),
        MarkdownTextObject(text=f"*Status*\n{status}"),
        MarkdownTextObject(text=f"*Due*\n{due_mrkdwn(invoice.due_date)}"),
    ]
    if invoice.status == "open" and invoice.amount_remaining != invoice.total:
        fields.append(MarkdownTextObject(
            text=f"*Remaining*\n{escape(money.format_amount(invoice.amount_remaining, currency))}"))
    card: list[Block] = [SectionBlock(block_id="unfurl_invoice", fields=fields, text=MarkdownTextObject(
        text=truncate(f"*{escape(invoice.title)}* · {escape(total)}", 3000)))]
    buttons = [button for button in invoice_buttons(invoice) if button.url or button.action_id in allowed]
    if buttons:
        card.append(ActionsBlock(block_id="unfurl_actions", elements=buttons[:25]))
    return [block.to_dict() for block in card]


def money_buttons(invoice: Invoice) -> list[ButtonElement]:
    """Credit notes and payments outside Stripe (bot/services/credit_notes.py): "Mark paid outside Stripe" on an
    open invoice, "Issue credit note" on an open or paid one with something left to credit."""
    found: list[ButtonElement] = []
    if invoice.status == "open":
        found.append(ButtonElement(
            text=plain("Mark paid outside Stripe"), action_id=ActionId.PAY_OUTSIDE, value=invoice.stripe_id,
            confirm=ConfirmObject(
                title=plain("Paid outside Stripe?", 100),
                text=plain(f"Record that {invoice.title} was paid by cheque, bank transfer or cash: Stripe marks it "
                           "paid and stops collecting it, no money moves through Stripe. You add a note next.", 300),
                confirm=plain("Continue", 30), deny=plain("Cancel", 30))))
    if invoice.status in ("open", "paid") and invoice.creditable > 0:
        found.append(ButtonElement(text=plain("Issue credit note"), action_id=ActionId.CREDIT_NOTE,
                                   value=invoice.stripe_id))
    return found


# --- approval above a limit ---------------------------------------------------------------------
APPROVAL_REASON_CALLBACK_ID = "approval_reason"


def _approval_summary(invoice: Invoice, requested_by: str, limit: int) -> str:
    total = money.format_amount(invoice.total, invoice.currency)
    customer = escape(invoice.customer_label or "a customer")
    email = escape(invoice.customer_email or "")
    who = customer + (f" ({email})" if email and email != customer else "")
    return (f"<@{requested_by}> wants to send *{escape(invoice.title)}* for *{escape(total)}* to {who}. "
            f"It is above the {escape(invoice.currency.upper())} approval limit of "
            f"{escape(money.format_amount(limit, invoice.currency))}.")


def _approval_blocks(invoice: Invoice, requested_by: str, limit: int, heading: str) -> list[Block]:
    found: list[Block] = [
        HeaderBlock(block_id="approval_title", text=plain(heading, 150)),
        SectionBlock(block_id="approval_summary",
                     text=MarkdownTextObject(text=truncate(_approval_summary(invoice, requested_by, limit), 3000))),
    ]
    summary = lines_summary(invoice.lines, invoice.currency)
    if summary:
        found.append(ContextBlock(block_id="approval_lines", elements=[MarkdownTextObject(text=summary)]))
    return found


def approval_request(invoice: Invoice, requested_by: str, limit: int) -> tuple[str, list[dict[str, Any]]]:
    """What an approver gets: the invoice, the limit it is above, Approve and Reject (with a reason)."""
    total = money.format_amount(invoice.total, invoice.currency)
    request = _approval_blocks(invoice, requested_by, limit, "Approval needed")
    request.append(ActionsBlock(block_id="approval_actions", elements=[
        ButtonElement(
            text=plain("Approve"), action_id=ActionId.APPROVAL_APPROVE, value=invoice.stripe_id, style="primary",
            confirm=ConfirmObject(title=plain("Approve and send?", 100),
                                  text=plain(f"{invoice.title} for {total} is emailed to the customer at once.", 300),
                                  confirm=plain("Approve and send", 30), deny=plain("Cancel", 30))),
        ButtonElement(text=plain("Reject"), action_id=ActionId.APPROVAL_REJECT, value=invoice.stripe_id,
                      style="danger"),
    ]))
    text = f"Approval needed: {escape(invoice.title)} for {escape(total)}"
    return text, [block.to_dict() for block in request]


def decision_line(status: str, decided_by: str | None, decided_at: float | None, reason: str | None) -> str:
    """`Approved by @x on <date>` (in each viewer's time zone), or rejected, with the reason."""
    when = f"<!date^{int(decided_at)}^{{date_short_pretty}} at {{time}}|{format_moment(decided_at)}>" \
        if decided_at else "earlier"
    who = f"<@{decided_by}>" if decided_by else "someone"
    if status == "approved":
        return f":white_check_mark: Approved by {who} {when}."
    line = f":no_entry_sign: Rejected by {who} {when}"
    return line + (f": “{escape(reason)}”" if reason else ".")


def approval_decided(invoice: Invoice, requested_by: str, limit: int, status: str, decided_by: str | None,
                     decided_at: float | None, reason: str | None) -> tuple[str, list[dict[str, Any]]]:
    """A request once decided: the same summary, who decided and when; no buttons."""
    verb = "Approved" if status == "approved" else "Rejected"
    decided = _approval_blocks(invoice, requested_by, limit, verb)
    decided.append(SectionBlock(block_id="approval_decision", text=MarkdownTextObject(
        text=truncate(decision_line(status, decided_by, decided_at, reason), 3000))))
    return f"{verb}: {escape(invoice.title)}", [block.to_dict() for block in decided]


def approval_reason_modal(invoice: Invoice) -> dict[str, Any]:
    """Reject's form: why (the rep reads it). The invoice rides in `private_metadata`."""
    total = money.format_amount(invoice.total, invoice.currency)
    return View(
        type="modal", callback_id=APPROVAL_REASON_CALLBACK_ID, title=plain("Reject invoice", 24),
        submit=plain("Reject", 24), close=plain("Cancel", 24),
        private_metadata=json.dumps({"invoice_id": invoice.stripe_id}),
        blocks=[
            SectionBlock(text=MarkdownTextObject(text=truncate(
                f"*{escape(invoice.title)}* for {escape(total)} to "
                f"{escape(invoice.customer_label or 'a customer')} is deleted, not sent.", 3000))),
            _text_input("reason", "Why?", optional=False, multiline=True, max_length=500,
                        hint="The rep reads this, so they know what to change."),
        ],
    ).to_dict()


def notice(text: str, *, context: str | None = None) -> list[dict[str, Any]]:
    """A short message in mrkdwn; callers escape any user text they put in."""
    blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000)))]
    if context:
        blocks.append(ContextBlock(elements=[MarkdownTextObject(text=truncate(context, 3000))]))
    return [block.to_dict() for block in blocks]


# --- notices, digests, App Home ---------------------------------------------------------------
NOTICE_HEADLINES = {
    "paid": ":white_check_mark: *Paid*",
    "failed": ":x: *Payment failed*",
    "processing": ":hourglass_flowing_sand: *Payment processing*",
    "overdue": ":alarm_clock: *Overdue*",
}
# Credit notes (bot/services/credit_notes.py): announced, not counted among NOTICE_KINDS' payment news.
NOTICE_HEADLINES |= {"credited": ":receipt: *Credit note*", "credit_voided": ":wastebasket: *Credit note voided*"}


def remind_blocks(invoice_id: str) -> list[dict[str, Any]]:
    return [ActionsBlock(block_id="remind", elements=[
        ButtonElement(text=plain("Send reminder"), action_id=ActionId.INVOICE_REMIND, value=invoice_id,
                      style="primary")
    ]).to_dict()]


def _invoice_line(invoice: Invoice) -> str:
    total = money.format_amount(invoice.total, invoice.currency)
    customer = escape(invoice.customer_label or "unknown customer")
    return f"{escape(invoice.number or invoice.stripe_id)} · {customer} · {escape(total)}"


def payment_notice(kind: str, invoice: Invoice, message_link: str | None, *,
                   detail: str | None = None) -> tuple[str, list[dict[str, Any]]]:
    """The payments channel's notice for one invoice event; `detail` (mrkdwn, escaped by its maker) says more,
    such as a credit note's number and amount."""
    headline = NOTICE_HEADLINES.get(kind, "*Invoice update*")
    rep = f"<@{invoice.rep_user_id}>" if invoice.rep_user_id else "no rep (created outside invoicebot)"
    body = f"{headline} {_invoice_line(invoice)}\nRep: {rep}"
    if kind == "failed" and invoice.rep_user_id:
        body += f"\n<@{invoice.rep_user_id}>, please follow up with the customer."
    if detail:
        body += f"\n{detail}"
    links = [found for found in (link(message_link, "Invoice message"), link(invoice.hosted_url, "Hosted invoice"))
             if found]
    text = f"{headline.replace('*', '')} {_invoice_line(invoice)}"
    return text, notice(body, context=" · ".join(links) or None)


# --- digests -----------------------------------------------------------------------------------
# What Slack takes in one chat.postMessage, and where each figure comes from:
# - at most 50 blocks ("You can include up to 50 blocks in each message", Block Kit reference,
#   api.slack.com/reference/block-kit/blocks), and a section's text at most 3,000 characters (same
#   page; slack_sdk's SectionBlock enforces it);
# - the blocks together are capped as well, whatever each holds: past it Slack answers
#   `msg_blocks_too_long`. Slack publishes no figure for sections; its engineers put it at "12,000
#   text characters with a buffer for block containers" (slackapi/bolt-js#2509), and the
#   measurements in slackapi/bolt-js#2867 (9,597 characters of text in 50 blocks accepted, 11,341 in
#   45 refused) bound that buffer at 48 characters a block at most. We count 50.
# - the top-level `text` is truncated past 40,000 characters (api.slack.com/changelog/
#   2018-04-truncating-really-long-messages); a digest's is a one-line summary.
# So the whole-message cap binds long before 50 blocks of 3,000 characters would (150,000).
# Lengths are counted in UTF-16 code units (JavaScript's `length`, the unit of those measurements):
# never fewer than Python's len, so a limit kept in these units holds in either.
MESSAGE_MAX_BLOCKS = 50
SECTION_TEXT_MAX = 3000
MESSAGE_BLOCKS_TEXT_MAX = 12_000
BLOCK_CONTAINER_COST = 50
# One digest line is `number · customer · amount`: the first two come from Stripe and people and are
# cut (visibly, with "…") to these many characters once escaped; an amount is never cut (Stripe's
# largest, IDR 999,999,999,999.99, is 24 characters at most, `-F CFA99,999,999,999,999` in XOF).
DIGEST_NUMBER_MAX = 30  # Stripe's numbers (`PREFIX-0001`) and ids (`in_` + 24) fit whole
DIGEST_CUSTOMER_MAX = 40
DIGEST_TOTALS_ROWS = 4  # currencies whose totals row the capacity keeps room for
STRIPE_MAX_AMOUNT = 10**14 - 1  # minor units: IDR's 12 integer digits and 2 decimals
DIGEST_TOTAL_LABELS = {"paid": "paid", "failed": "failed", "processing": "processing", "overdue": "overdue"}
DIGEST_TOTAL_LABELS |= {"credited": "credit notes", "credit_voided": "credit notes voided"}


def slack_length(text: str) -> int:
    """`text`'s length in UTF-16 code units, the unit Slack's limits are held to here."""
    return len(text.encode("utf-16-le")) // 2


def message_size(message_blocks: list[dict[str, Any]]) -> int:
    """What blocks count against MESSAGE_BLOCKS_TEXT_MAX: every `text` in them, plus
    BLOCK_CONTAINER_COST per block."""

    def texts(node: Any) -> int:
        if isinstance(node, list):
            return sum(texts(item) for item in node)
        if not isinstance(node, dict):
            return 0
        return sum(slack_length(value) if key == "text" and isinstance(value, str) else texts(value)
                   for key, value in node.items())

    return texts(message_blocks) + BLOCK_CONTAINER_COST * len(message_blocks)


def fits_one_message(message_blocks: list[dict[str, Any]]) -> bool:
    return len(message_blocks) <= MESSAGE_MAX_BLOCKS and message_size(message_blocks) <= MESSAGE_BLOCKS_TEXT_MAX


def clip(text: str, limit: int) -> str:
    """`text` on one line, escaped for mrkdwn, in at most `limit` UTF-16 units: cut visibly with
    "…", never inside an entity (`&amp;`) or a character."""
    flat = " ".join(text.split())
    escaped = escape(flat)
    if slack_length(escaped) <= limit:
        return escaped
    kept, size = [], 0
    for char in flat:
        piece = escape(char)
        cost = len(piece) + (ord(char) > 0xFFFF)  # a character beyond the BMP is two UTF-16 units
        if size + cost > limit - 1:
            break
        kept.append(piece)
        size += cost
    return "".join(kept) + "…"


@dataclass(frozen=True)
class DigestMessage:
    """One digest as posted: fallback text, blocks, and how many of the items it names (the first
    `named`; the rest did not fit in one message and must go in another)."""

    text: str
    blocks: list[dict[str, Any]]
    named: int


def digest_line(invoice: Invoice) -> str:
    """An invoice in a digest, at most DIGEST_NUMBER_MAX + DIGEST_CUSTOMER_MAX + 6 characters
    besides its amount."""
    number = clip(invoice.number or invoice.stripe_id, DIGEST_NUMBER_MAX)
    customer = clip(invoice.customer_label or "unknown customer", DIGEST_CUSTOMER_MAX)
    line = f"{number} · {customer} · {escape(money.format_amount(invoice.total, invoice.currency))}"
    return truncate(line, SECTION_TEXT_MAX)  # only an amount thousands of digits long could need it


def digest(items: Sequence[tuple[str, Invoice]], *, fit: bool = True,
           budget: int = MESSAGE_BLOCKS_TEXT_MAX) -> DigestMessage:
    """Many notices as one message: first the totals per currency (amount and count per kind of
    notice), then every invoice, under a heading per kind.

    With `fit`, names as many of `items` as one message can carry (`budget`: its blocks' size as
    `message_size` counts it), in order, and always the first; the caller must send the rest in
    another message. Without it (the items were promised to this message), names them all. The same
    items always render the same message.
    """
    lines = [digest_line(invoice) for _, invoice in items]
    named = len(items)
    if fit and items and not _sections_fit(_digest_sections(items, lines, len(items)), budget):
        low, high = 1, len(items) - 1  # the largest prefix that fits: each item only ever adds text
        while low < high:
            middle = (low + high + 1) // 2
            if _sections_fit(_digest_sections(items, lines, middle), budget):
                low = middle
            else:
                high = middle - 1
        named = low
    sections = _digest_sections(items, lines, named)
    message_blocks = [SectionBlock(text=MarkdownTextObject(text=text)).to_dict() for text in sections]
    return DigestMessage(_digest_text(items[:named]), message_blocks, named)


def _sections_fit(sections: list[str], budget: int) -> bool:
    """`message_size` of these sections, counted without building them, within `budget`."""
    size = sum(slack_length(text) for text in sections) + BLOCK_CONTAINER_COST * len(sections)
    return len(sections) <= MESSAGE_MAX_BLOCKS and size <= budget


def _kinds(items: Sequence[tuple[str, Invoice]]) -> list[str]:
    """The kinds present: the known ones in their order, then any other in order of appearance."""
    present = list(dict.fromkeys(kind for kind, _ in items))
    return [kind for kind in NOTICE_KINDS if kind in present] + [k for k in present if k not in NOTICE_KINDS]


def _digest_sections(items: Sequence[tuple[str, Invoice]], lines: list[str], count: int) -> list[str]:
    """The text of each section of a digest of the first `count` items."""
    chosen = items[:count]
    totals: dict[str, dict[str, list[int]]] = {}  # currency -> kind -> [amount, count]
    for kind, invoice in chosen:
        entry = totals.setdefault(invoice.currency, {}).setdefault(kind, [0, 0])
        entry[0] += invoice.total
        entry[1] += 1
    kinds = _kinds(chosen)
    rows = []
    for currency in sorted(totals):
        parts = [f"{DIGEST_TOTAL_LABELS.get(kind) or clip(kind, 20)} "
                 f"{escape(money.format_amount(totals[currency][kind][0], currency))} ({totals[currency][kind][1]})"
                 for kind in kinds if kind in totals[currency]]
        rows.append(f"*{clip(currency.upper(), 8)}*  " + " · ".join(parts))
    noun = "invoice" if count == 1 else "invoices"
    sections = _chunk([f"*Invoice digest: {count} {noun}*", *rows])
    for kind in kinds:
        numbered = [lines[index] for index, (k, _) in enumerate(chosen) if k == kind]
        heading = NOTICE_HEADLINES.get(kind) or f"*{clip(kind, 20)}*"
        sections += _chunk([f"{heading} ({len(numbered)})", *numbered])
    return sections


def _chunk(lines: list[str]) -> list[str]:
    """Lines joined into section texts of at most SECTION_TEXT_MAX characters each."""
    chunks: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        length = slack_length(line)
        if current and size + 1 + length > SECTION_TEXT_MAX:
            chunks.append("\n".join(current))
            current, size = [], 0
        size += length + (1 if current else 0)
        current.append(line)
    if current:
        chunks.append("\n".join(current))
    return chunks


def _digest_text(items: Sequence[tuple[str, Invoice]]) -> str:
    """The notification's text: counts only, so it stays short whatever the currencies."""
    counts = [f"{sum(1 for k, _ in items if k == kind)} {DIGEST_TOTAL_LABELS.get(kind) or clip(kind, 20)}"
              for kind in _kinds(items)]
    noun = "invoice" if len(items) == 1 else "invoices"
    return f"Invoice digest: {len(items)} {noun} ({', '.join(counts)})"


@functools.cache
def digest_capacity() -> int:
    """How many invoices one digest can always name, however long their numbers, names and amounts
    and with up to DIGEST_TOTALS_ROWS currencies: the largest digest of the worst such invoices that
    fits one message. Claim at most this many notices for a digest; `digest` hands back what does not
    fit (a digest in more currencies, absurd amounts)."""

    def worst(currencies: Sequence[str], count: int) -> list[tuple[str, Invoice]]:
        # Every kind in every currency's row; numbers and names past their cut; amounts at Stripe's
        # largest, negative (a credit), so each row's totals are as long as they can get.
        return [(NOTICE_KINDS[n % len(NOTICE_KINDS)],
                 Invoice(stripe_id=f"in_{n}", status="paid", number="N" * 100, customer_name="W" * 300,
                         currency=currencies[(n // len(NOTICE_KINDS)) % len(currencies)],
                         total=-STRIPE_MAX_AMOUNT))
                for n in range(count)]

    longest = sorted(money.SUPPORTED_CURRENCIES,
                     key=lambda code: (-len(money.format_amount(-STRIPE_MAX_AMOUNT, code)), code))
    most = (MESSAGE_BLOCKS_TEXT_MAX // (DIGEST_NUMBER_MAX + DIGEST_CUSTOMER_MAX)) + 1  # more than can fit
    return min(digest(worst(longest[:rows], most)).named for rows in (1, DIGEST_TOTALS_ROWS))


def home_view(totals: list[CurrencyTotals], recent: list[Invoice], *, may_create: bool = True,
              note: str | None = None) -> dict[str, Any]:
    """Totals are of what the viewer may see; `note` says why they may not create invoices."""
    home_blocks: list[Block] = [HeaderBlock(text=plain("Invoices"))]
    if may_create:
        home_blocks.append(ActionsBlock(elements=[ButtonElement(
            text=plain("New invoice"), action_id=ActionId.HOME_NEW_INVOICE, style="primary")]))
    elif note:
        home_blocks.append(ContextBlock(elements=[MarkdownTextObject(text=escape(note))]))
    if totals:
        rows = []
        for row in totals:
            currency = row.currency
            rows.append(
                f"*{currency.upper()}*  open {escape(money.format_amount(row.open_total, currency))}"
                f" ({row.open_count}) · overdue "
                f"{escape(money.format_amount(row.overdue_total, currency))} ({row.overdue_count})"
                f" · paid this month {escape(money.format_amount(row.paid_month, currency))}"
            )
        home_blocks.append(SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(rows), 3000))))
    home_blocks.append(DividerBlock())
    if recent:
        home_blocks.append(SectionBlock(text=MarkdownTextObject(text="*Your recent invoices*")))
        for invoice in recent[:10]:
            home_blocks.append(SectionBlock(text=MarkdownTextObject(
                text=f"{STATUS_BADGES.get(invoice.status, escape(invoice.status))}  {_invoice_line(invoice)}"
                     f" · due {due_mrkdwn(invoice.due_date)}")))
    else:
        home_blocks.append(SectionBlock(text=MarkdownTextObject(text="You haven't created any invoices yet.")))
    return View(type="home", blocks=home_blocks).to_dict()


@dataclass(frozen=True)
class StripeHome:
    """What App Home says about the workspace's own Stripe account (SLACK_MODE=oauth)."""

    admin: bool  # sees the Connect / Disconnect buttons; everyone else the status line only
    account_id: str | None  # None: not connected
    account_name: str = ""
    livemode: bool = False
    paused: bool = False  # Stripe refused the stored key: invoicing waits for a new one


def stripe_home_blocks(status: StripeHome) -> list[dict[str, Any]]:
    connect = ButtonElement(text=plain("Connect Stripe"), action_id=ActionId.CONNECT_STRIPE, style="primary")
    if status.account_id is None:
        line = "*Stripe:* not connected"
        detail = ("Connect your Stripe account to start sending invoices." if status.admin
                  else "Nobody can send invoices until an invoicing admin connects it.")
        buttons = [connect]
    else:
        account = f"`{escape(status.account_id)}`" if status.account_id else "an account (its id unknown)"
        if status.account_name:
            account = f"*{escape(status.account_name)}* ({account})"
        mode = "live mode" if status.livemode else "test mode"
        if status.paused:
            line = f":warning: *Stripe:* {account} refused invoicebot's key ({mode})"
            detail = ("Invoicing is paused: connect Stripe again with a new restricted key." if status.admin
                      else "Invoicing is paused until an invoicing admin connects Stripe again.")
            buttons = [connect]
        else:
            line = f"*Stripe:* connected to {account}, {mode}"
            detail = ""
            buttons = [ButtonElement(
                text=plain("Disconnect"), action_id=ActionId.DISCONNECT_STRIPE, style="danger",
                confirm=ConfirmObject(
                    title=plain("Disconnect Stripe?", 100),
                    text=plain("Nobody can create or send invoices until Stripe is connected again. invoicebot "
                               "deletes its webhook endpoint in the account and erases its key.", 300),
                    confirm=plain("Disconnect", 30), deny=plain("Keep it", 30), style="danger"))]
    stripe_blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=truncate(line, 3000)))]
    if detail:
        stripe_blocks.append(ContextBlock(elements=[MarkdownTextObject(text=detail)]))
    if status.admin:
        stripe_blocks.append(ActionsBlock(elements=buttons))
    stripe_blocks.append(DividerBlock())
    return [block.to_dict() for block in stripe_blocks]


def home_with_stripe(view: dict[str, Any], status: StripeHome | None) -> dict[str, Any]:
    """`home_view`'s App Home with the Stripe account's state under its header (None: unchanged)."""
    if status is None:
        return view
    home_blocks = list(view.get("blocks") or [])
    return {**view, "blocks": home_blocks[:1] + stripe_home_blocks(status) + home_blocks[1:]}


# --- finding invoices -------------------------------------------------------------------------
LIST_PAGE_SIZE = 20


def invoice_summary_line(invoice: Invoice, zone: tzinfo, now: float) -> str:
    badge = STATUS_BADGES.get(invoice.status, escape(invoice.status))
    if invoice.is_overdue(now):
        badge = ":alarm_clock: Overdue"
    return f"*{escape(invoice.number or invoice.stripe_id)}* · {badge}\n" + \
        f"{_invoice_line(invoice).split(' · ', 1)[1]} · due {format_due(invoice.due_date, zone)}"


def invoice_list(invoices: list[Invoice], *, heading: str, zone: tzinfo, now: float,
                 more_value: str | None) -> list[dict[str, Any]]:
    """One page of `/invoice list`: at most LIST_PAGE_SIZE invoices, each with an Open button."""
    list_blocks: list[Block] = [SectionBlock(text=MarkdownTextObject(text=truncate(heading, 3000)))]
    for invoice in invoices[:LIST_PAGE_SIZE]:
        list_blocks.append(SectionBlock(
            text=MarkdownTextObject(text=truncate(invoice_summary_line(invoice, zone, now), 3000)),
            accessory=ButtonElement(text=plain("Open"), action_id=ActionId.SHOW_INVOICE, value=invoice.stripe_id),
        ))
    if not invoices:
        list_blocks.append(SectionBlock(text=MarkdownTextObject(text="No invoices match.")))
    if more_value:
        list_blocks.append(ActionsBlock(elements=[
            ButtonElement(text=plain("Show more"), action_id=ActionId.LIST_MORE, value=more_value)]))
    return [block.to_dict() for block in list_blocks]


def invoice_card(invoice: Invoice, history: list[tuple[float, str]], zone: tzinfo) -> list[dict[str, Any]]:
    """`/invoice show`: the invoice message plus every line, payments and its history."""
    _, card = invoice_message(invoice)
    card = [block for block in card if block.get("block_id") != "lines"]
    currency = invoice.currency
    extra: list[Block] = []
    if invoice.lines:
        extra.append(SectionBlock(text=MarkdownTextObject(text=truncate(
            "*Lines*\n" + lines_summary(invoice.lines, currency, shown=40), 3000))))
    paid = money.format_amount(invoice.amount_paid, currency)
    remaining = money.format_amount(invoice.amount_remaining, currency)
    extra.append(SectionBlock(text=MarkdownTextObject(
        text=f"*Payments*\nPaid {escape(paid)} · remaining {escape(remaining)} · due "
             f"{format_due(invoice.due_date, zone)}")))
    if history:
        entries = [f"{format_moment(at, zone)} – {what}" for at, what in sorted(history)[-25:]]
        extra.append(SectionBlock(text=MarkdownTextObject(text=truncate("*History*\n" + "\n".join(entries), 3000))))
    return card + [block.to_dict() for block in extra]


def audit_blocks(invoice: Invoice, entries: list[AuditEntry], zone: tzinfo) -> list[dict[str, Any]]:
    lines = []
    for entry in entries[-40:]:
        ids = ", ".join(f"{k} `{escape(str(v))}`" for k, v in entry.stripe_ids.items())
        lines.append(f"{format_moment(entry.at, zone)} – <@{entry.actor}> *{escape(entry.action)}*"
                     + (f" ({ids})" if ids else ""))
    text = f"*Audit log of {escape(invoice.title)}*\n" + ("\n".join(lines) or "Nothing recorded.")
    return [SectionBlock(text=MarkdownTextObject(text=truncate(text, 3000))).to_dict()]


# --- receivables: the digest and App Home's aging --------------------------------------------------
DIGEST_REPS_SHOWN = 10  # per currency; the rest are counted in one line


def aging_text(row: Aging) -> str:
    """One currency's open amounts by days past due: `Current $1.00 (2) · 1–30 days $0.00 (0) · ...`."""
    return " · ".join(f"{BUCKET_LABELS[bucket]} {escape(money.format_amount(row.amount(bucket), row.currency))} "
                      f"({row.counts[index]})" for index, bucket in enumerate(BUCKETS))


def home_with_aging(view: dict[str, Any], agings: Sequence[Aging]) -> dict[str, Any]:
    """App Home with the receivables' aging (what the viewer may see) under its totals: the figures the
    digest shows, from the same rule."""
    if not agings:
        return view
    lines = ["*Aging* (open invoices by days past due)"]
    lines += [f"*{escape(row.currency.upper())}*  {aging_text(row)}" for row in agings]
    section = SectionBlock(text=MarkdownTextObject(text=truncate("\n".join(lines), SECTION_TEXT_MAX))).to_dict()
    home_blocks = list(view.get("blocks") or [])
    first_divider = next((index for index, block in enumerate(home_blocks) if block.get("type") == "divider"),
                         len(home_blocks))
    if len(home_blocks) >= MAX_BLOCKS_IN_VIEW:
        return view
    return {**view, "blocks": [*home_blocks[:first_divider], section, *home_blocks[first_divider:]]}


def _moment(now: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(now, zone).strftime("%a %b %-d, %Y %H:%M %Z")


def _currency_sections(row: CurrencyReport) -> list[dict[str, Any]]:
    """One currency of the digest: its totals and DSO, its aging, its largest overdue invoices, its reps."""
    currency = row.currency

    def amount(minor: int) -> str:
        return escape(money.format_amount(minor, currency))

    aging_row: Aging = row.aging
    headline = (f"*{escape(currency.upper())}* · open *{amount(aging_row.total)}* ({aging_row.count}) · overdue "
                f"{amount(aging_row.overdue)} ({aging_row.overdue_count}) · collected in the last {COLLECTED_DAYS} "
                f"days {amount(row.collected)} · DSO {row.dso.text()}")
    sections = [f"{headline}\n{aging_text(aging_row)}"]
    if row.top_overdue:
        lines = [f"*Largest overdue ({escape(currency.upper())})*"]
        for rank, item in enumerate(row.top_overdue, start=1):
            invoice = item.invoice
            rep = f"<@{escape(invoice.rep_user_id)}>" if invoice.rep_user_id else "no rep"
            lines.append(f"{rank}. {clip(invoice.number or invoice.stripe_id, DIGEST_NUMBER_MAX)} · "
                         f"{clip(invoice.customer_label, DIGEST_CUSTOMER_MAX)} · {amount(invoice.amount_remaining)} · "
                         f"{item.days} day{'s' if item.days != 1 else ''} past due · {rep}")
        sections.append("\n".join(lines))
        reps = [f"*Overdue by rep ({escape(currency.upper())})*"]
        for tally in row.by_rep[:DIGEST_REPS_SHOWN]:
            who = f"<@{escape(tally.rep_user_id)}>" if tally.rep_user_id else "no rep (made outside invoicebot)"
            reps.append(f"{who}: {amount(tally.amount)} ({tally.count})")
        hidden = row.by_rep[DIGEST_REPS_SHOWN:]
        if hidden:
            reps.append(f"and {len(hidden)} more: {amount(sum(t.amount for t in hidden))} "
                        f"({sum(t.count for t in hidden)})")
        sections.append("\n".join(reps))
    return [SectionBlock(text=MarkdownTextObject(text=truncate(text, SECTION_TEXT_MAX))).to_dict()
            for text in sections]


def receivables_digest(report: Report, zone: tzinfo, *, notes: Sequence[str] = (),
                       budget: int = MESSAGE_BLOCKS_TEXT_MAX) -> tuple[str, list[dict[str, Any]]]:
    """The receivables digest as one message (fallback text, blocks): per currency its open total,
    aging, collected, DSO, largest overdue invoices and overdue by rep; currencies that do not fit
    one message get a line each, and past that a count (the CSV has every open invoice)."""
    moment = _moment(report.now, zone)
    head: list[dict[str, Any]] = [
        HeaderBlock(text=plain("Receivables digest")).to_dict(),
        ContextBlock(elements=[MarkdownTextObject(text=truncate(
            " · ".join([f"As of {escape(moment)}", f"{report.open_count} open invoice"
                        f"{'s' if report.open_count != 1 else ''}", *notes]), SECTION_TEXT_MAX))]).to_dict(),
    ]
    tail: list[dict[str, Any]] = [ContextBlock(elements=[MarkdownTextObject(text=truncate(
        f"{DSO_METHOD}. Aging counts days past the due date (current: not yet due). The chart and a CSV of "
        "every open invoice follow.", SECTION_TEXT_MAX))]).to_dict()]
    body: list[dict[str, Any]] = []
    left_out = []
    for row in report.currencies:
        candidate = [*body, DividerBlock().to_dict(), *_currency_sections(row)]
        if fits_one_message([*head, *candidate, *tail]) and message_size([*head, *candidate, *tail]) <= budget:
            body = candidate
        else:
            left_out.append(row)
    if left_out:
        lines = [f"*{escape(row.currency.upper())}* open {escape(money.format_amount(row.open_total, row.currency))} "
                 f"({row.aging.count}) · overdue {escape(money.format_amount(row.aging.overdue, row.currency))}"
                 for row in left_out]
        section = SectionBlock(text=MarkdownTextObject(text=truncate(
            "*Also open*\n" + "\n".join(lines), SECTION_TEXT_MAX))).to_dict()
        if fits_one_message([*head, *body, section, *tail]) \
                and message_size([*head, *body, section, *tail]) <= budget:
            body.append(section)
        else:
            body.append(ContextBlock(elements=[MarkdownTextObject(
                text=f"{len(left_out)} more currencies: see the CSV.")]).to_dict())
    if not report.currencies:
        body.append(SectionBlock(text=MarkdownTextObject(text="Nothing is open: every invoice is paid.")).to_dict())
    summary = "; ".join(f"{row.currency.upper()} {money.format_amount(row.open_total, row.currency)} open"
                        for row in report.currencies[:5])
    text = f"Receivables digest, {moment}" + (f": {summary}" if summary else "")
    return text, [*head, *body, *tail]


# --- chasing unpaid invoices (bot/services/chasing.py, bot/services/promises.py) ----------------------------
PROMISE_CALLBACK_ID = "chase_promise"
DISPUTE_CALLBACK_ID = "chase_dispute"
CADENCE_CALLBACK_ID = "chase_cadence"
PREVIEW_SHOWN = 20  # invoices one preview names (two blocks each, within a message's 50)


def chasing_status(invoice: Invoice) -> str | None:
    """What the invoice message says of its chasing: a dispute, a promise, its own cadence."""
    state = invoice.chase
    parts: list[str] = []
    if state.disputed:
        by = f" (flagged by <@{escape(state.disputed_by)}>)" if state.disputed_by else ""
        parts.append(f":triangular_flag_on_post: *Disputed*: {clip(state.dispute_reason or '', 300)}{by}"
                     " · not chased until resolved")
    if state.promised_until is not None:
        day = state.promised_until.strftime("%b %-d, %Y")
        note = f" ({clip(state.promise_note, 200)})" if state.promise_note else ""
        parts.append(f":hourglass: Promised to pay by {day}{note}: it passed unpaid, chasing resumed"
                     if state.promise_lapsed_on else
                     f":handshake: *Promised to pay by {day}*{note} · not chased until then")
    if state.days is not None:
        parts.append(":mute: Not chased (chasing is off for this invoice)" if not state.days
                     else f"Chased {describe_cadence(state.days)} (this invoice's own schedule)")
    return "\n".join(parts) or None


def chasing_blocks(invoice: Invoice) -> list[Block]:
    """Under the message of an unpaid invoice: its chasing status, and for an open one made in Slack the
    buttons Promise to pay, Disputed, Resolve and Chasing…"""
    found: list[Block] = []
    if invoice.status not in ("open", "uncollectible"):  # paid, void: its chasing is over (the audit keeps it)
        return found
    status = chasing_status(invoice)
    if status:
        found.append(ContextBlock(block_id="chasing", elements=[MarkdownTextObject(text=truncate(status, 3000))]))
    if invoice.status != "open" or not invoice.made_in_slack:
        return found
    invoice_id, state = invoice.stripe_id, invoice.chase
    buttons: list[ButtonElement] = []
    if not state.disputed:
        buttons.append(ButtonElement(text=plain("Promise to pay"), action_id=ActionId.CHASE_PROMISE, value=invoice_id))
        buttons.append(ButtonElement(text=plain("Disputed"), action_id=ActionId.CHASE_DISPUTE, value=invoice_id))
    if state.disputed or state.promised_until is not None:
        what = "the dispute and the promise" if state.disputed and state.promised_until else (
            "the dispute" if state.disputed else "the promise to pay")
        buttons.append(ButtonElement(
            text=plain("Resolve"), action_id=ActionId.CHASE_RESOLVE, value=invoice_id,
            confirm=ConfirmObject(title=plain("Resolve?", 100),
                                  text=plain(f"Clears {what}: {invoice.title} is chased on its schedule again.", 300),
                                  confirm=plain("Resolve", 30), deny=plain("Cancel", 30))))
    buttons.append(ButtonElement(text=plain("Chasing…"), action_id=ActionId.CHASE_CADENCE, value=invoice_id))
    found.append(ActionsBlock(block_id="chasing_actions", elements=buttons))
    return found


@dataclass(frozen=True)
class PreviewItem:
    invoice: Invoice
    why: str  # "7 days after the due date"


def _preview_value(invoice_id: str, day: date) -> str:
    return json.dumps({"invoice": invoice_id, "day": day.isoformat()})


def read_preview_value(value: str) -> tuple[str, date] | None:
    """A preview button's value back: (invoice id, the reminder's day); None when not one the bot wrote."""
    try:
        data = json.loads(value or "{}")
        invoice_id, day = str(data["invoice"])[:100], date.fromisoformat(str(data["day"]))
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return (invoice_id, day) if invoice_id.startswith("in_") else None


def chase_preview(day: date, items: Sequence[PreviewItem]) -> tuple[str, list[dict[str, Any]]]:
    """A rep's evening DM: tomorrow's reminders, each with Skip, Snooze 7 days and Send now."""
    noun = "reminder" if len(items) == 1 else "reminders"
    text = f"Tomorrow ({format_day(day)}) Stripe emails {len(items)} {noun} of your invoices"
    preview: list[Block] = [
        HeaderBlock(block_id="chase_title", text=plain(f"Tomorrow's {noun}: {format_day(day)}", 150)),
        SectionBlock(block_id="chase_intro", text=MarkdownTextObject(
            text="In the morning Stripe emails each of these customers their invoice again. *Skip* drops that "
                 f"one reminder, *Snooze {SNOOZE_DAYS} days* moves it a week later, *Send now* sends it today "
                 "instead.")),
    ]
    for item in items[:PREVIEW_SHOWN]:
        invoice = item.invoice
        remaining = money.format_amount(invoice.amount_remaining, invoice.currency)
        line = (f"*{escape(invoice.number or invoice.stripe_id)}* · {clip(invoice.customer_label or 'a customer', 60)}"
                f" · {escape(remaining)} due {due_mrkdwn(invoice.due_date)} · {escape(item.why)}")
        preview.append(SectionBlock(block_id=f"chase_item:{invoice.stripe_id}",
                                    text=MarkdownTextObject(text=truncate(line, 3000))))
        value = _preview_value(invoice.stripe_id, day)
        preview.append(ActionsBlock(block_id=f"chase_buttons:{invoice.stripe_id}", elements=[
            ButtonElement(text=plain("Skip"), action_id=ActionId.CHASE_SKIP, value=value),
            ButtonElement(text=plain(f"Snooze {SNOOZE_DAYS} days"), action_id=ActionId.CHASE_SNOOZE, value=value),
            ButtonElement(text=plain("Send now"), action_id=ActionId.CHASE_SEND_NOW, value=value, style="primary"),
        ]))
    if len(items) > PREVIEW_SHOWN:
        preview.append(ContextBlock(block_id="chase_more", elements=[MarkdownTextObject(
            text=f"…and {len(items) - PREVIEW_SHOWN} more: `/invoice list overdue` lists what is unpaid.")]))
    return text, [block.to_dict() for block in preview]


def preview_answered(message_blocks: list[dict[str, Any]], invoice_id: str, note: str) -> list[dict[str, Any]]:
    """The preview as it was, with the buttons of `invoice_id` replaced by what was done (mrkdwn, escaped)."""
    answered: list[dict[str, Any]] = []
    for block in message_blocks:
        if isinstance(block, dict) and block.get("block_id") == f"chase_buttons:{invoice_id}":
            block = ContextBlock(block_id=f"chase_done:{invoice_id}",
                                 elements=[MarkdownTextObject(text=truncate(note, 3000))]).to_dict()
        answered.append(block)
    return answered


def _invoice_heading(invoice: Invoice) -> SectionBlock:
    remaining = money.format_amount(invoice.amount_remaining, invoice.currency)
    return SectionBlock(block_id="chase_invoice", text=MarkdownTextObject(text=truncate(
        f"*{escape(invoice.title)}* · {clip(invoice.customer_label or 'a customer', 80)} · {escape(remaining)} "
        f"remaining · due {due_mrkdwn(invoice.due_date)}", 3000)))


def promise_modal(invoice: Invoice, metadata: str, today: date) -> dict[str, Any]:
    return View(type="modal", callback_id=PROMISE_CALLBACK_ID, title=plain("Promise to pay", 24),
                submit=plain("Save", 24), close=plain("Cancel", 24), private_metadata=metadata, blocks=[
                    _invoice_heading(invoice),
                    InputBlock(block_id="promised_until", label=plain("The customer pays by"),
                               element=DatePickerElement(action_id="promised_until",
                                                         initial_date=(today + timedelta(days=7)).isoformat()),
                               hint=plain("No reminder until then. If it passes unpaid you hear of it and chasing "
                                          "resumes the day after.")),
                    _text_input("promise_note", "Note (optional)", optional=True, multiline=True,
                                max_length=MAX_NOTE, placeholder="Paying by wire, per Jenny on the phone"),
                ]).to_dict()


def dispute_modal(invoice: Invoice, metadata: str) -> dict[str, Any]:
    return View(type="modal", callback_id=DISPUTE_CALLBACK_ID, title=plain("Disputed", 24),
                submit=plain("Mark disputed", 24), close=plain("Cancel", 24), private_metadata=metadata, blocks=[
                    _invoice_heading(invoice),
                    _text_input("dispute_reason", "What does the customer dispute?", optional=False, multiline=True,
                                max_length=MAX_REASON, placeholder="Says the second line was never delivered",
                                hint="Chasing stops until someone presses Resolve; invoicing admins are told."),
                ]).to_dict()


def cadence_modal(invoice: Invoice, metadata: str, workspace: Sequence[int]) -> dict[str, Any]:
    own = invoice.chase.days
    return View(type="modal", callback_id=CADENCE_CALLBACK_ID, title=plain("Chasing", 24),
                submit=plain("Save", 24), close=plain("Cancel", 24), private_metadata=metadata, blocks=[
                    _invoice_heading(invoice),
                    _text_input("chase_days", "Reminders, in days from the due date", optional=True,
                                initial=cadence_text(own) if own is not None else None, max_length=60,
                                placeholder=cadence_text(workspace),
                                hint=f"Negative: before it; “off”: no reminders. Empty: the workspace's schedule, "
                                     f"{describe_cadence(workspace)} ({cadence_text(workspace)})."),
                ]).to_dict()


# --- recurring invoices (bot/services/recurring.py) --------------------------------------------------------
REPEAT_BLOCK_ID = "repeat"
REPEAT_OPTIONS = (("none", "Doesn't repeat"), ("month", "Monthly"), ("quarter", "Quarterly"), ("year", "Yearly"))
RECURRING_SHOWN = 20  # subscriptions one list names (two blocks each, within a message's 50)


def repeat_block(values: dict[str, Any]) -> InputBlock:
    """The modal's "Repeat" choice (its own block: `forms.parse_repeat` reads it)."""
    options = [Option(value=value, text=plain(label)) for value, label in REPEAT_OPTIONS]
    chosen = next((option for option in options if option.value == values.get(REPEAT_BLOCK_ID)), options[0])
    return InputBlock(
        block_id=REPEAT_BLOCK_ID, label=plain("Repeat"), optional=True,
        element=StaticSelectElement(action_id=REPEAT_BLOCK_ID, options=options, initial_option=chosen),
        hint=plain("Monthly, quarterly or yearly: Stripe emails a new invoice each period, due the days above after "
                   "it is issued, and each one is posted here. `/invoice recurring` lists them.", 2000))


def _subscription_line(subscription: Subscription, zone: tzinfo) -> str:
    amount = money.format_amount(subscription.amount, subscription.currency)
    head = (f"*{escape(subscription.customer_label)}* · {escape(amount)} {escape(subscription.label)} · "
            f"<@{subscription.rep_user_id}>")
    if subscription.status == "canceled":
        state = ":no_entry_sign: Canceled"
    elif subscription.cancel_at_period_end:
        state = f":hourglass: Ends {escape(format_due(subscription.current_period_end, zone))}"
    else:
        state = f"Next invoice {escape(format_due(subscription.current_period_end, zone))}"
    summary = escape(truncate(subscription.summary, 300))
    return truncate(f"{head}\n{state} · {summary}", 3000)


def recurring_list(subscriptions: Sequence[Subscription], *, heading: str, zone: tzinfo
                   ) -> tuple[str, list[dict[str, Any]]]:
    """`/invoice recurring`: each subscription with Cancel at period end and Cancel now (each confirmed)."""
    if not subscriptions:
        text = f"{heading}: none. Choose *Repeat* in the `/invoice` form to make one."
        return text, [SectionBlock(text=MarkdownTextObject(text=text)).to_dict()]
    shown = list(subscriptions[:RECURRING_SHOWN])
    result: list[Block] = [SectionBlock(text=MarkdownTextObject(text=f"*{escape(heading)}*"))]
    for subscription in shown:
        result.append(SectionBlock(text=MarkdownTextObject(text=_subscription_line(subscription, zone))))
        buttons: list[ButtonElement] = []
        if subscription.active and not subscription.cancel_at_period_end:
            buttons.append(ButtonElement(
                text=plain("Cancel at period end"), action_id=ActionId.RECURRING_CANCEL_AT_END,
                value=subscription.stripe_id,
                confirm=ConfirmObject(title=plain("Cancel at period end?", 100), text=plain(
                    f"No more invoices for {subscription.customer_label} after "
                    f"{format_due(subscription.current_period_end, zone)}; the current one stays as it is.", 300),
                    confirm=plain("Cancel at period end", 30), deny=plain("Keep it", 30))))
        if subscription.active:
            buttons.append(ButtonElement(
                text=plain("Cancel now"), action_id=ActionId.RECURRING_CANCEL_NOW, value=subscription.stripe_id,
                style="danger",
                confirm=ConfirmObject(title=plain("Cancel now?", 100), text=plain(
                    f"The repeating invoice for {subscription.customer_label} stops today; invoices already "
                    "issued stay open until paid or voided.", 300),
                    confirm=plain("Cancel now", 30), deny=plain("Keep it", 30), style="danger")))
        if buttons:
            result.append(ActionsBlock(block_id=f"recurring_{subscription.stripe_id}"[:255], elements=buttons))
    if len(subscriptions) > RECURRING_SHOWN:
        result.append(ContextBlock(elements=[MarkdownTextObject(
            text=f"and {len(subscriptions) - RECURRING_SHOWN} more, not shown")]))
    return f"{heading}: {len(subscriptions)}", [block.to_dict() for block in result]

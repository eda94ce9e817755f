"""Answers a person is looking at: what `/invoice`, a button or App Home show after their ack.

Listeners ack at once and queue the rest as a job of the `replies` lane (`AnswerCommand`,
`AnswerAction`, `PublishHome`); this service runs it in the worker: who may do what
(`bot.access`), then the answer through Slack (a form, an ephemeral answer through the
response_url, App Home). The HTTP edge does no Slack call, so no ack waits behind one, and an
answer that fails is retried instead of lost with a thread.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot import blocks, money, slash
from bot.access import Access, Action
from bot.adapters.slack import SlackOut
from bot.blocks import ActionId
from bot.domain.invoice_extras import MAX_CUSTOM_FIELDS_TEXT, MAX_DISCOUNT_CODE, MAX_FOOTER
from bot.forms import EMAIL, draft_total, flatten_state
from bot.jobs.payloads import AddCatalogPrice, InvoiceAction, InvoiceActionName
from bot.mrkdwn import escape
from bot.services import invoice_extras
from bot.services.browse import Answer, Browser
from bot.services.receivables import Receivables
from bot.services.routing import Routing
from bot.services.workspace_settings import WorkspaceSettings
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

BUTTON_ACTIONS: dict[str, InvoiceActionName] = {
    ActionId.INVOICE_SEND: "send",
    ActionId.INVOICE_VOID: "void",
    ActionId.INVOICE_UNCOLLECTIBLE: "uncollectible",
    ActionId.INVOICE_REMIND: "remind",
}
# What the modal's inputs take (`max_length` in `blocks.invoice_modal`); Slack keeps typing within
# them, so anything longer (or not text at all) did not come from the modal and is not shown again.
ECHO_LIMITS = {"customer_name": 200, "customer_email": 254, "days_until_due": 3, "memo": 500,
               "discount_code": MAX_DISCOUNT_CODE, "custom_fields": MAX_CUSTOM_FIELDS_TEXT, "footer": MAX_FOOTER}
LINE_ECHO_LIMITS = {"description": 250, "quantity": 7}
MAX_ECHO = 3000  # Slack's largest max_length for a plain-text input


@dataclass(frozen=True)
class ModalDefaults:
    currency: str
    days_until_due: int


@dataclass(frozen=True)
class Asker:
    """Who asked, and where the answer goes."""

    user_id: str
    channel_id: str | None
    response_url: str | None
    trigger_id: str | None


class Replies:
    def __init__(self, store: TenantScope, slack: SlackOut, access: Access, browser: Browser, routing: Routing,
                 defaults: ModalDefaults, *, workspace_settings: WorkspaceSettings,
                 stripe_status: Callable[[str], blocks.StripeHome | None] = lambda user_id: None,
                 receivables: Receivables | None = None,
                 chasing: Callable[[slash.ShowChasing | slash.SetChasing, str], str] | None = None,
                 recurring: Callable[[str], tuple[str, list[dict[str, Any]]]] | None = None) -> None:
        self.store = store
        self.recurring = recurring  # `/invoice recurring` (bot/services/recurring.py): the asker's list
        self.chasing = chasing  # `/invoice chasing ...` (bot/services/chasing.py): the answer's text
        self.receivables = receivables  # `/invoice digest ...` and App Home's aging (bot/services/receivables.py)
        # What App Home says about the workspace's own Stripe account, per viewer (bot/services/stripe_connect.py).
        self.stripe_status = stripe_status
        self.slack = slack
        self.access = access
        self.browser = browser
        self.routing = routing
        self.defaults = defaults
        self.workspace_settings = workspace_settings
        self._commands: dict[type, Callable[[Any, Asker, str], None]] = {
            slash.OpenModal: self._open_form,
            slash.ListCatalog: self._list_catalog,
            slash.AddCatalogPrice: self._add_catalog_price,
            slash.ListInvoices: self._list_invoices,
            slash.ShowInvoice: self._show_invoice,
            slash.ShowAudit: self._show_audit,
            slash.ListRoutes: self._list_routes,
            slash.SetRoute: self._set_route,
            slash.OpenSettings: self._open_settings,
            slash.ShowDigest: self._digest,
            slash.SetDigest: self._digest,
            slash.DigestNow: self._digest,
            slash.ShowChasing: self._chasing,
            slash.SetChasing: self._chasing,
            slash.ListRecurring: self._recurring,
        }

    # --- /invoice -------------------------------------------------------------------------------------
    def answer_command(self, command: dict[str, Any], job_key: str) -> None:
        parsed = slash.parse(str(command.get("text") or ""))
        answer = self._commands.get(type(parsed))
        if answer is None:
            logger.error("no reply for /invoice %s", type(parsed).__name__)
            return
        asker = Asker(str(command["user_id"]), command.get("channel_id"), command.get("response_url"),
                      command.get("trigger_id"))
        answer(parsed, asker, job_key)

    def _say(self, asker: Asker, text: str, answer_blocks: list[dict[str, Any]] | None = None, *,
             replace: bool = False) -> None:
        if asker.response_url:
            self.slack.respond(asker.response_url, text, answer_blocks, replace_original=replace)
        else:
            self.slack.tell_user(asker.channel_id, asker.user_id, text, answer_blocks)

    def _reply(self, asker: Asker, answer: Answer, *, replace: bool = False) -> None:
        self._say(asker, answer.text, answer.blocks, replace=replace)

    def _open_form(self, parsed: slash.OpenModal, asker: Asker, job_key: str) -> None:
        refusal = self.access.refusal(Action.CREATE, asker.user_id)
        if refusal:
            self._say(asker, refusal)
            return
        prefill = {"customer_email": parsed.email} if parsed.email and EMAIL.match(parsed.email) else {}
        self._open_view(asker, blocks.invoice_modal(self._form(asker.channel_id or "", prefill)))

    def _form(self, channel_id: str, values: dict[str, Any] | None = None) -> blocks.ModalState:
        return blocks.ModalState(channel_id=channel_id, default_currency=self.defaults.currency,
                                 default_days=self.defaults.days_until_due, values=values)

    def _open_view(self, asker: Asker, view: dict[str, Any]) -> None:
        if asker.trigger_id is None:
            raise ValueError("a form needs the trigger of the request that asked for it")
        self.slack.call("views.open", trigger_id=asker.trigger_id, view=view)

    def _list_catalog(self, parsed: slash.ListCatalog, asker: Asker, job_key: str) -> None:
        self._say(asker, self.access.refusal(Action.CREATE, asker.user_id) or self._catalog_text())

    def _catalog_text(self) -> str:
        prices = self.store.reads.prices.search("", limit=50)
        if not prices:
            return 'The catalog is empty. Add a price with `/invoice catalog add "Gold Special" 10.00 usd`.'
        lines = [f"• *{escape(price.product_name)}* – {escape(money.format_amount(price.unit_amount, price.currency))}"
                 f" (`{escape(price.stripe_id)}`)" for price in prices]
        return "*Active prices*\n" + "\n".join(lines)

    def _add_catalog_price(self, parsed: slash.AddCatalogPrice, asker: Asker, job_key: str) -> None:
        refusal = self.access.refusal(Action.ADMINISTER, asker.user_id, what="add prices to the catalog")
        if refusal:
            self._say(asker, refusal)
            return
        assert asker.response_url is not None
        with self.store.unit_of_work() as uow:
            uow.jobs.add(AddCatalogPrice(name=parsed.name, unit_amount=parsed.unit_amount, currency=parsed.currency,
                                         user_id=asker.user_id, response_url=asker.response_url),
                         key=f"catalog:{job_key}")
            uow.commit()
        self._say(asker, f"Creating *{escape(parsed.name)}* at "
                         f"{escape(money.format_amount(parsed.unit_amount, parsed.currency))}…")

    def _list_invoices(self, parsed: slash.ListInvoices, asker: Asker, job_key: str) -> None:
        self._reply(asker, self.browser.list_page(asker.user_id, parsed))

    def _show_invoice(self, parsed: slash.ShowInvoice, asker: Asker, job_key: str) -> None:
        self._reply(asker, self.browser.card(asker.user_id, parsed.reference))

    def _show_audit(self, parsed: slash.ShowAudit, asker: Asker, job_key: str) -> None:
        self._reply(asker, self.browser.audit(asker.user_id, parsed.reference))

    def _list_routes(self, parsed: slash.ListRoutes, asker: Asker, job_key: str) -> None:
        refusal = self.access.refusal(Action.ADMINISTER, asker.user_id, what="see where payment news goes")
        self._say(asker, refusal or self.routing.describe())

    def _set_route(self, parsed: slash.SetRoute, asker: Asker, job_key: str) -> None:
        refusal = self.access.refusal(Action.ADMINISTER, asker.user_id, what="change where payment news goes")
        if refusal:
            self._say(asker, refusal)
            return
        self.routing.set_route(parsed.kind, parsed.key, parsed.channel_id, asker.user_id)
        who = f"<@{parsed.key}>" if parsed.kind == "rep" else f"`{escape(parsed.key)}`"
        self._say(asker, f"Payment news for {parsed.kind} {who} now goes to <#{parsed.channel_id}>.")

    def _open_settings(self, parsed: slash.OpenSettings, asker: Asker, job_key: str) -> None:
        refusal = self.access.refusal(Action.ADMINISTER, asker.user_id, what="change this workspace's settings")
        if refusal:
            self._say(asker, refusal)
            return
        self._open_view(asker, self.workspace_settings.form())

    def _digest(self, parsed: slash.ShowDigest | slash.SetDigest | slash.DigestNow, asker: Asker, job_key: str) -> None:
        if self.receivables is None:
            self._say(asker, "The receivables digest is not set up in this deployment.")
            return
        self._say(asker, self.receivables.answer(parsed, asker.user_id, response_url=asker.response_url,
                                                 job_key=job_key))

    def _chasing(self, parsed: slash.ShowChasing | slash.SetChasing, asker: Asker, job_key: str) -> None:
        self._say(asker, self.chasing(parsed, asker.user_id) if self.chasing is not None
                  else "Chasing is not set up in this deployment.")

    def _recurring(self, parsed: slash.ListRecurring, asker: Asker, job_key: str) -> None:
        refusal = self.access.refusal(Action.CREATE, asker.user_id)
        if refusal or self.recurring is None:
            self._say(asker, refusal or "Recurring invoices are not set up in this deployment.")
            return
        self._say(asker, *self.recurring(asker.user_id))

    # --- buttons --------------------------------------------------------------------------------------
    def answer_action(self, body: dict[str, Any], job_key: str) -> None:
        pressed = body["actions"][0]
        action_id = str(pressed["action_id"])
        asker = Asker(str(body["user"]["id"]), (body.get("channel") or {}).get("id"), body.get("response_url"),
                      body.get("trigger_id"))
        value = str(pressed.get("value") or "")
        if action_id in BUTTON_ACTIONS:
            self._press(BUTTON_ACTIONS[action_id], value, asker, str(pressed.get("action_ts") or job_key))
        elif action_id == ActionId.LIST_MORE:
            query = slash.ListInvoices.decode(value)
            if query is None:
                self._say(asker, "That list is out of date; run `/invoice list` again.")
            else:
                self._reply(asker, self.browser.list_page(asker.user_id, query), replace=True)
        elif action_id == ActionId.SHOW_INVOICE:
            self._reply(asker, self.browser.card(asker.user_id, value[:100]))
        elif action_id == ActionId.ADD_LINE:
            self._add_line(body, asker)
        elif action_id == ActionId.HOME_NEW_INVOICE:
            refusal = self.access.refusal(Action.CREATE, asker.user_id)
            self._open_view(asker, blocks.status_view("Not allowed", refusal) if refusal
                            else blocks.invoice_modal(self._form("")))
        else:
            logger.error("no reply for the button %s", action_id)

    def _press(self, action: InvoiceActionName, invoice_id: str, asker: Asker, pressed_at: str) -> None:
        invoice = self.store.reads.invoices.get(invoice_id)
        if invoice is None:
            self._say(asker, "I don't know that invoice any more; it may have been deleted.")
            return
        refusal = self.access.refusal(Action(action), asker.user_id, invoice)
        if refusal:
            self._say(asker, refusal)
            return
        # One job per press; Stripe's idempotency key (invoice id + action) makes repeats harmless.
        with self.store.unit_of_work() as uow:
            uow.jobs.add(InvoiceAction(action=action, invoice_id=invoice_id, user_id=asker.user_id,
                                       channel_id=asker.channel_id), key=f"{action}:{invoice_id}:{pressed_at}")
            uow.commit()

    def _add_line(self, body: dict[str, Any], asker: Asker) -> None:
        """One more line in the form, what was typed kept, the running total shown."""
        view = body["view"]
        refusal = self.access.refusal(Action.CREATE, asker.user_id)
        if refusal:
            self.slack.update_view(view["id"], blocks.status_view("Not allowed", refusal))
            return
        metadata = blocks.ModalState.read_metadata(view.get("private_metadata"))
        flat = flatten_state(view["state"]["values"])
        values = echoable(flat)
        extra_values, tax_rate_labels = invoice_extras.echo(flat, self.store.reads.tax_rates.get)  # tax picks
        values.update(extra_values)
        currency = values.get("currency")
        unset = not money.is_supported(currency or "")  # not picked yet (a pre-filled form's "¥"): still the rep's
        if unset:
            values.pop("currency", None)
        reads = self.store.reads
        customer = reads.customers.get(values["customer"]) if isinstance(values.get("customer"), str) else None
        price_labels = {}
        for key, value in values.items():
            if key.endswith("_price") and isinstance(value, str) and value:
                price = reads.prices.get(value)
                if price:
                    price_labels[value] = blocks.price_option_text(price)
        # Picks the store does not know (any more) are dropped rather than shown as raw ids.
        if customer is None:
            values.pop("customer", None)
        for key in [key for key in values if key.endswith("_price") and values[key] not in price_labels]:
            del values[key]
        state = blocks.ModalState(
            channel_id=metadata.channel_id, default_currency=self.defaults.currency,
            default_days=self.defaults.days_until_due,
            line_count=max(1, min(metadata.lines + 1, blocks.MAX_MODAL_LINES)), values=values,
            total_text=None if unset else draft_total(values, str(currency), reads.prices.get),
            thread_ts=metadata.thread_ts, currency_unset=unset,
            customer_label=blocks.customer_option_text(customer) if customer else None, price_labels=price_labels,
            tax_rate_labels=tax_rate_labels)
        self.slack.call("views.update", view_id=view["id"], hash=view.get("hash"), view=blocks.invoice_modal(state))

    # --- App Home ---------------------------------------------------------------------------------------
    def publish_home(self, user_id: str) -> None:
        view = self.browser.home(user_id)
        if self.receivables is not None:  # under the totals, the same figures as the digest's aging
            view = blocks.home_with_aging(view, self.receivables.home_aging(user_id))
        view = blocks.home_with_stripe(view, self.stripe_status(user_id))
        self.slack.call("views.publish", user_id=user_id, view=view)


def echoable(values: dict[str, Any]) -> dict[str, Any]:
    """The typed values that can be put back into the modal as they were typed."""
    kept: dict[str, Any] = {}
    for block_id, value in values.items():
        if not isinstance(value, str):
            continue
        limit = ECHO_LIMITS.get(block_id, MAX_ECHO)
        if block_id.startswith("line_"):
            limit = LINE_ECHO_LIMITS.get(block_id.split("_", 2)[-1], MAX_ECHO)
        if len(value) <= limit:
            kept[block_id] = value
    return kept

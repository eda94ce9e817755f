"""Every kind of job, typed. Services queue these; `bot/jobs/handlers.py` runs them.

Kinds and field names are stored in the database: renaming one needs a migration of the rows.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from bot.jobs.model import JobPayload, Lane

InvoiceActionName = Literal["send", "void", "uncollectible", "remind"]


class AnswerCommand(JobPayload):
    """`/invoice` after its ack: the command as Slack sent it (text, user, channel, trigger, response_url)."""

    KIND: ClassVar[str] = "answer_command"
    LANE: ClassVar[Lane] = Lane.REPLIES

    command: dict[str, str]


class AnswerAction(JobPayload):
    """A button after its ack: the interaction as Slack sent it (the form's state with it, if any)."""

    KIND: ClassVar[str] = "answer_action"
    LANE: ClassVar[Lane] = Lane.REPLIES

    body: dict[str, Any]


class PublishHome(JobPayload):
    KIND: ClassVar[str] = "publish_home"
    LANE: ClassVar[Lane] = Lane.REPLIES

    user_id: str


class SubmittedLine(BaseModel):
    """One line of a submitted invoice form: amounts in minor units."""

    model_config = ConfigDict(frozen=True)

    quantity: int
    price_id: str | None = None
    description: str | None = None
    unit_amount: int


class SubmittedDiscount(BaseModel):
    """The coupon or promotion code a form named, as the store knew it (bot/domain/invoice_extras.py)."""

    model_config = ConfigDict(frozen=True)

    kind: Literal["coupon", "promotion_code"]
    stripe_id: str  # the coupon's id, or the promotion code's promo_ id
    code: str  # what the rep typed it as


class SubmittedCustomField(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    value: str


class CreateInvoice(JobPayload):
    """A modal submission: create (and maybe send) the invoice in Stripe."""

    KIND: ClassVar[str] = "create_invoice"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    view_id: str
    team_id: str
    user_id: str
    channel_id: str
    customer_id: str | None
    customer_name: str | None
    customer_email: str | None
    currency: str
    lines: list[SubmittedLine]
    days_until_due: int
    memo: str | None
    send_now: bool
    # Tax, discounts and more (bot/domain/invoice_extras.py); the defaults keep jobs queued before them valid.
    tax_rate_ids: list[str] = []
    automatic_tax: bool = False
    discount: SubmittedDiscount | None = None
    custom_fields: list[SubmittedCustomField] = []
    footer: str | None = None
    # "Invoice this" (bot/services/shortcuts.py): the invoice's message goes in this thread of `channel_id`.
    thread_ts: str | None = None


class PublishInvoice(JobPayload):
    """Post or update an invoice's message; after a create, close the loop in the modal; after a
    button, say in the thread what was done."""

    KIND: ClassVar[str] = "publish_invoice"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    invoice_id: str
    view_id: str | None = None
    reply: str | None = None
    thread_ts: str | None = None  # its first post goes in this thread ("Invoice this")


class InvoiceAction(JobPayload):
    KIND: ClassVar[str] = "invoice_action"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    action: InvoiceActionName
    invoice_id: str
    user_id: str
    channel_id: str | None = None


class AddCatalogPrice(JobPayload):
    KIND: ClassVar[str] = "catalog_add"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    name: str
    unit_amount: int
    currency: str
    user_id: str
    response_url: str


class Respond(JobPayload):
    """An ephemeral answer to a slash command, through its response_url."""

    KIND: ClassVar[str] = "respond"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    response_url: str
    text: str


class TellUser(JobPayload):
    """An ephemeral note in a channel, or a DM where the bot cannot speak there."""

    KIND: ClassVar[str] = "tell_user"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    user_id: str
    text: str
    channel_id: str | None = None


class SendStripeLink(JobPayload):
    """App Home's "Connect Stripe": an admin gets a one-time link to the page that takes the key, by DM."""

    KIND: ClassVar[str] = "stripe_connect_link"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    user_id: str


class DisconnectStripe(JobPayload):
    """App Home's "Disconnect": delete the bot's webhook endpoint in the account, erase the secrets."""

    KIND: ClassVar[str] = "stripe_disconnect"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    user_id: str


class ProcessEvent(JobPayload):
    KIND: ClassVar[str] = "stripe_event"
    LANE: ClassVar[Lane] = Lane.EVENTS

    event_id: str
    # About an invoice made in Slack: decided on a lane of its own, ahead of a month-end backlog.
    own: bool = False

    def lane(self) -> Lane:
        return Lane.OWN_EVENTS if self.own else self.LANE


class RefreshMessage(JobPayload):
    KIND: ClassVar[str] = "refresh_message"
    LANE: ClassVar[Lane] = Lane.OWN

    invoice_id: str


class ThreadReply(JobPayload):
    KIND: ClassVar[str] = "thread_reply"
    LANE: ClassVar[Lane] = Lane.OWN

    invoice_id: str
    text: str
    remind_button: bool = False


class ChannelNotice(JobPayload):
    """A notice for a channel (the payments channel or a route); folded into digests in bursts."""

    KIND: ClassVar[str] = "channel_notice"
    LANE: ClassVar[Lane] = Lane.BULK

    channel: str
    kind: str
    invoice_id: str
    text: str = ""
    own: bool = False  # about an invoice made in Slack

    def lane(self) -> Lane:
        return Lane.OWN if self.own else Lane.BULK


class RefreshCatalog(JobPayload):
    KIND: ClassVar[str] = "refresh_catalog"
    LANE: ClassVar[Lane] = Lane.PERIODIC


class SweepOverdue(JobPayload):
    KIND: ClassVar[str] = "overdue_sweep"
    LANE: ClassVar[Lane] = Lane.PERIODIC


class PruneTables(JobPayload):
    """Delete finished jobs, decided events and sent posts past their retention (bot/store/retention.py)."""

    KIND: ClassVar[str] = "prune_tables"
    LANE: ClassVar[Lane] = Lane.PERIODIC


class SaveSettings(JobPayload):
    """`/invoice settings` submitted (already validated): who submitted it, from which modal, and the new values."""

    KIND: ClassVar[str] = "save_settings"
    LANE: ClassVar[Lane] = Lane.REPLIES  # the admin is looking at the modal

    view_id: str
    user_id: str
    payments_channel: str
    admins: list[str]
    creators: list[str]
    viewers: list[str]


class RequestApproval(JobPayload):
    """An invoice held above APPROVAL_LIMITS: ask its approvers (a DM each, with Approve and Reject)."""

    KIND: ClassVar[str] = "approval_request"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE  # the rep waits to hear it went to the approvers

    invoice_id: str


class AnswerApproval(JobPayload):
    """Approve or Reject pressed, after its ack: the interaction as Slack sent it."""

    KIND: ClassVar[str] = "approval_answer"
    LANE: ClassVar[Lane] = Lane.REPLIES  # Reject opens a form: within Slack's 3 s of the press

    body: dict[str, Any]


class RejectInvoice(JobPayload):
    """The reason form of Reject submitted (already validated): who, which invoice, why."""

    KIND: ClassVar[str] = "approval_reject"
    LANE: ClassVar[Lane] = Lane.REPLIES  # the approver is looking at the form

    view_id: str
    user_id: str
    invoice_id: str
    reason: str


class CompleteApproval(JobPayload):
    """An approval was decided: approved, finalize and send (the held path's own idempotency keys);
    rejected, delete the draft. Queued once per invoice's decision, so a double click sends once."""

    KIND: ClassVar[str] = "approval_complete"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    invoice_id: str


class AnnounceDecision(JobPayload):
    """After a decision's Stripe work: the approvers' requests say who decided, the rep hears it."""

    KIND: ClassVar[str] = "approval_news"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    invoice_id: str


class CheckDigestSchedule(JobPayload):
    """Every few minutes per workspace: queue the receivables digest of the schedule's coming (or just
    missed) run, keyed by that run, so each run is posted once whoever checks."""

    KIND: ClassVar[str] = "digest_check"
    LANE: ClassVar[Lane] = Lane.PERIODIC


class PostReceivablesDigest(JobPayload):
    """The receivables digest: reconcile with Stripe's open invoices, then post the figures, the aging
    charts and the CSV in `channel`. `slot`: the schedule's run (e.g. 2025-03-10T09:00), or `now:...` for
    one asked for; `asked_by` and `response_url` say who asked and where to tell them."""

    KIND: ClassVar[str] = "receivables_digest"
    LANE: ClassVar[Lane] = Lane.PERIODIC

    slot: str
    channel: str
    asked_by: str | None = None
    response_url: str | None = None

    def lane(self) -> Lane:
        return Lane.INTERACTIVE if self.asked_by else self.LANE  # someone asked: they are waiting


class LeaveWorkspace(JobPayload):
    """Slack says the app left the workspace (`app_uninstalled`, or its bot token revoked): erase what it gave us."""

    KIND: ClassVar[str] = "leave_workspace"
    # Not a person waiting, but quick: the workspace's secrets should not outlive its leaving behind a backlog.
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    reason: str  # the Slack event that told us


ALL_PAYLOADS: tuple[type[JobPayload], ...] = (
    AnswerCommand, AnswerAction, PublishHome, CreateInvoice, PublishInvoice, InvoiceAction, AddCatalogPrice, Respond,
    TellUser, ProcessEvent, RefreshMessage, ThreadReply, ChannelNotice, RefreshCatalog, SweepOverdue, PruneTables,
    SaveSettings, LeaveWorkspace, SendStripeLink, DisconnectStripe, RequestApproval, AnswerApproval, RejectInvoice,
    CompleteApproval, AnnounceDecision,
)
# The receivables digest (bot/services/receivables.py).
ALL_PAYLOADS += (CheckDigestSchedule, PostReceivablesDigest)


# --- chasing unpaid invoices (bot/services/chasing.py, bot/services/promises.py) ----------------------------
ChasingChange = Literal["promise", "dispute", "resolve", "cadence"]


class ChaseSweep(JobPayload):
    """Every few minutes, per workspace: queue today's reminders, tomorrow's previews, promises that passed."""

    KIND: ClassVar[str] = "chase_sweep"
    LANE: ClassVar[Lane] = Lane.PERIODIC


class ChaseInvoice(JobPayload):
    """One scheduled reminder: Stripe sends the invoice again. Keyed `chase:<invoice>:<day>`."""

    KIND: ClassVar[str] = "chase_invoice"
    LANE: ClassVar[Lane] = Lane.OWN  # news about an invoice made in Slack; nobody waits on it

    invoice_id: str
    day: str  # YYYY-MM-DD, the rep's
    why: str  # "7 days after the due date"


class ChasePreview(JobPayload):
    """A rep's evening DM: who will be chased tomorrow, with Skip, Snooze and Send now. Keyed per rep per day."""

    KIND: ClassVar[str] = "chase_preview"
    LANE: ClassVar[Lane] = Lane.OWN

    user_id: str
    day: str  # tomorrow, the rep's
    invoice_ids: list[str]


class PromiseLapsed(JobPayload):
    """A promise to pay passed unpaid: tell the rep once; chasing resumes."""

    KIND: ClassVar[str] = "promise_lapsed"
    LANE: ClassVar[Lane] = Lane.OWN

    invoice_id: str
    promised_until: str


class AnswerChasing(JobPayload):
    """A chasing button after its ack (Promise to pay, Disputed, Resolve, Chasing…, Skip, Snooze, Send now)."""

    KIND: ClassVar[str] = "chasing_answer"
    LANE: ClassVar[Lane] = Lane.REPLIES  # some open a form: within Slack's 3 s of the press

    body: dict[str, Any]


class ChangeChasing(JobPayload):
    """A promise, a dispute, its resolution or an invoice's own cadence: into Stripe's metadata (keyed by
    `request`, the form's view or the press) and the store."""

    KIND: ClassVar[str] = "chasing_change"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    change: ChasingChange
    invoice_id: str
    user_id: str
    request: str
    view_id: str | None = None
    channel_id: str | None = None
    promised_until: str | None = None
    note: str | None = None
    reason: str | None = None
    days: str | None = None  # "off", "-3,0,7", or "" for the workspace's


class DisputeNotice(JobPayload):
    """An invoice was marked disputed: its admins hear of it."""

    KIND: ClassVar[str] = "dispute_notice"
    LANE: ClassVar[Lane] = Lane.OWN

    invoice_id: str
    user_id: str


ALL_PAYLOADS += (ChaseSweep, ChaseInvoice, ChasePreview, PromiseLapsed, AnswerChasing, ChangeChasing, DisputeNotice)


# --- "Invoice this" and link previews (bot/services/shortcuts.py, bot/services/unfurls.py) -------------------
class OpenInvoiceThis(JobPayload):
    """The "Invoice this" message shortcut after its ack: the invoice form, filled in from the message, opened
    with the shortcut's trigger (within Slack's 3 s). Keyed by the trigger: a resent request opens one form."""

    KIND: ClassVar[str] = "invoice_this"
    LANE: ClassVar[Lane] = Lane.REPLIES

    user_id: str
    channel_id: str
    trigger_id: str
    response_url: str | None = None
    message_ts: str
    thread_ts: str  # where the invoice goes: the message's thread
    text: str  # the message's text, at most `phrases.MAX_TEXT` characters and a bit


class UnfurlInvoiceLinks(JobPayload):
    """`link_shared` after its ack: previews of the pasted invoice links (`chat.unfurl`). Keyed by the event's id:
    a redelivered event unfurls once."""

    KIND: ClassVar[str] = "unfurl_links"
    LANE: ClassVar[Lane] = Lane.REPLIES  # whoever pasted the link is looking at it

    user_id: str  # who shared the links: what they may see and do decides the previews
    channel_id: str
    message_ts: str
    urls: list[str]
    bot_in_channel: bool  # Slack's `is_bot_user_member`
    source: str = "conversations_history"
    unfurl_id: str | None = None


ALL_PAYLOADS += (OpenInvoiceThis, UnfurlInvoiceLinks)


# --- recurring invoices (bot/services/recurring.py) -----------------------------------------------------------
RepeatName = Literal["month", "quarter", "year"]


class CreateSubscription(CreateInvoice):
    """The invoice form submitted with "Repeat": a Stripe subscription that emails an invoice each period.
    Keyed `create:<view>` like the invoice it stands for, so a double submit makes one."""

    KIND: ClassVar[str] = "create_subscription"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    repeat: RepeatName


class PublishSubscription(JobPayload):
    """After the subscription was made: its first invoice's message in the rep's channel, the form says so."""

    KIND: ClassVar[str] = "publish_subscription"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    subscription_id: str
    view_id: str
    invoice_id: str | None = None  # its first invoice


class AnswerRecurring(JobPayload):
    """A recurring list's Cancel button after its ack: the interaction as Slack sent it."""

    KIND: ClassVar[str] = "recurring_answer"
    LANE: ClassVar[Lane] = Lane.REPLIES

    body: dict[str, Any]


class CancelSubscription(JobPayload):
    """Cancel a subscription made in Slack, at the period's end or now. Keyed by subscription and mode, so two
    presses (or two people) cancel it once."""

    KIND: ClassVar[str] = "recurring_cancel"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    subscription_id: str
    at_period_end: bool
    user_id: str
    channel_id: str | None = None
    response_url: str | None = None


ALL_PAYLOADS += (CreateSubscription, PublishSubscription, AnswerRecurring, CancelSubscription)


# --- credit notes, payments received outside Stripe (bot/services/credit_notes.py) ---------------------------
CreditReason = Literal["duplicate", "fraudulent", "order_change", "product_unsatisfactory"]  # Stripe's list
CreditMethod = Literal["refund", "credit", "out_of_band"]  # where the part already paid goes
OfflineMethod = Literal["cheque", "bank_transfer", "cash", "other"]


class AnswerInvoiceMoney(JobPayload):
    """"Issue credit note" or "Mark paid outside Stripe" pressed, after its ack: the interaction as Slack sent it."""

    KIND: ClassVar[str] = "money_answer"
    LANE: ClassVar[Lane] = Lane.REPLIES  # opens a form: within Slack's 3 s of the press

    body: dict[str, Any]


class CreditRequest(BaseModel):
    """What the credit note form asks for, validated: amounts in minor units."""

    model_config = ConfigDict(frozen=True)

    what: Literal["whole", "lines", "amount"]
    amount: int  # the credit note's total
    lines: list[int] = []  # chosen lines: their positions among the invoice's lines
    reason: CreditReason
    method: CreditMethod | None = None  # None: nothing was paid, the credit only lowers what is due
    memo: str | None = None


class PreviewCreditNote(JobPayload):
    """The credit note form submitted: ask Stripe for its preview, show it in the form with a confirm button."""

    KIND: ClassVar[str] = "credit_note_preview"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    view_id: str
    user_id: str
    invoice_id: str
    channel_id: str | None = None
    request: CreditRequest


class IssueCreditNote(JobPayload):
    """The preview confirmed: create the very credit note previewed (`params`, as Stripe took them), its Stripe
    idempotency key from the form's view and those params, so a double click makes one."""

    KIND: ClassVar[str] = "credit_note_issue"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    view_id: str
    user_id: str
    invoice_id: str
    channel_id: str | None = None
    request: CreditRequest
    params: dict[str, Any]


class RecordOfflinePayment(JobPayload):
    """"Mark paid outside Stripe" confirmed with its note: Stripe's `pay` with `paid_out_of_band`, audited."""

    KIND: ClassVar[str] = "offline_payment"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    view_id: str
    user_id: str
    invoice_id: str
    channel_id: str | None = None
    method: OfflineMethod
    note: str


ALL_PAYLOADS += (AnswerInvoiceMoney, PreviewCreditNote, IssueCreditNote, RecordOfflinePayment)

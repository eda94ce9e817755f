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


class PublishInvoice(JobPayload):
    """Post or update an invoice's message; after a create, close the loop in the modal; after a
    button, say in the thread what was done."""

    KIND: ClassVar[str] = "publish_invoice"
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    invoice_id: str
    view_id: str | None = None
    reply: str | None = None


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


class LeaveWorkspace(JobPayload):
    """Slack says the app left the workspace (`app_uninstalled`, or its bot token revoked): erase what it gave us."""

    KIND: ClassVar[str] = "leave_workspace"
    # Not a person waiting, but quick: the workspace's secrets should not outlive its leaving behind a backlog.
    LANE: ClassVar[Lane] = Lane.INTERACTIVE

    reason: str  # the Slack event that told us


ALL_PAYLOADS: tuple[type[JobPayload], ...] = (
    AnswerCommand, AnswerAction, PublishHome, CreateInvoice, PublishInvoice, InvoiceAction, AddCatalogPrice, Respond,
    TellUser, ProcessEvent, RefreshMessage, ThreadReply, ChannelNotice, RefreshCatalog, SweepOverdue, PruneTables,
    SaveSettings, LeaveWorkspace, SendStripeLink, DisconnectStripe,
)

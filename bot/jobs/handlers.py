"""What runs each kind of job, and who hears about it when it fails for good."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from bot import blocks
from bot.access import Access, Action
from bot.adapters.slack import SlackOut
from bot.jobs import credit_note_handlers, recurring_handlers
from bot.jobs.model import Job
from bot.jobs.payloads import (
    AddCatalogPrice,
    AnnounceDecision,
    AnswerAction,
    AnswerApproval,
    AnswerChasing,
    AnswerCommand,
    ChangeChasing,
    ChannelNotice,
    ChaseInvoice,
    ChasePreview,
    ChaseSweep,
    CheckDigestSchedule,
    CompleteApproval,
    CreateInvoice,
    DisconnectStripe,
    DisputeNotice,
    InvoiceAction,
    LeaveWorkspace,
    OpenInvoiceThis,
    PostReceivablesDigest,
    ProcessEvent,
    PromiseLapsed,
    PruneTables,
    PublishHome,
    PublishInvoice,
    RefreshCatalog,
    RefreshMessage,
    RejectInvoice,
    RequestApproval,
    Respond,
    SaveSettings,
    SendStripeLink,
    SweepOverdue,
    TellUser,
    ThreadReply,
    UnfurlInvoiceLinks,
)
from bot.jobs.registry import Registry
from bot.metrics import Metrics
from bot.mrkdwn import escape
from bot.services.approvals import Approvals
from bot.services.catalog import Catalog
from bot.services.chasing import PREVIEW_ACTIONS, Chasing
from bot.services.credit_notes import CreditNotes
from bot.services.invoicing import Invoicing
from bot.services.leaving import Leaving
from bot.services.notifications import Notifications
from bot.services.promises import Promises
from bot.services.receivables import Receivables
from bot.services.recurring import Recurring
from bot.services.replies import Replies
from bot.services.shortcuts import Shortcuts
from bot.services.stripe_connect import StripeConnect
from bot.services.tenancy import Tenancy
from bot.services.unfurls import Unfurls
from bot.services.workspace_settings import WorkspaceSettings
from bot.store.retention import Pruner


@dataclass(frozen=True)
class JobServices:
    invoicing: Invoicing
    catalog: Catalog
    notifications: Notifications
    access: Access
    slack: SlackOut
    replies: Replies
    pruner: Pruner
    tenancy: Tenancy
    stripe_connect: StripeConnect
    metrics: Metrics = field(default_factory=Metrics)
    workspace_settings: WorkspaceSettings = field(kw_only=True)
    leaving: Leaving = field(kw_only=True)
    approvals: Approvals = field(kw_only=True)
    receivables: Receivables = field(kw_only=True)
    chasing: Chasing = field(kw_only=True)
    promises: Promises = field(kw_only=True)
    credit_notes: CreditNotes = field(kw_only=True)  # and payments received outside Stripe
    recurring: Recurring = field(kw_only=True)
    shortcuts: Shortcuts = field(kw_only=True)  # "Invoice this"
    unfurls: Unfurls = field(kw_only=True)  # link previews


def job_registry(services: JobServices) -> Registry:
    invoicing, catalog, notifications, slack = (services.invoicing, services.catalog, services.notifications,
                                                services.slack)
    registry = Registry()

    def cannot_answer(response_url: str | None, reason: str) -> None:
        if response_url:
            slack.respond(response_url, f":warning: I couldn't answer that: {escape(reason)}. Try again in a moment.")

    registry.add(AnswerCommand, lambda answer, job: services.replies.answer_command(answer.command, job.key),
                 on_give_up=lambda answer, reason: cannot_answer(answer.command.get("response_url"), reason))
    registry.add(AnswerAction, lambda answer, job: services.replies.answer_action(answer.body, job.key),
                 on_give_up=lambda answer, reason: cannot_answer(answer.body.get("response_url"), reason))
    registry.add(PublishHome, lambda home, job: services.replies.publish_home(home.user_id))

    def settings_not_saved(save: SaveSettings, reason: str) -> None:
        slack.update_view(save.view_id, blocks.status_view(
            "Settings not saved", f":warning: I couldn't save the settings: {escape(reason)}. Try again."))

    registry.add(SaveSettings, lambda save, job: services.workspace_settings.save(save), on_give_up=settings_not_saved)
    registry.add(LeaveWorkspace, lambda leave, job: services.leaving.leave(leave.reason))

    def create_invoice(submission: CreateInvoice, job: Job) -> None:
        refusal = services.access.refusal(Action.CREATE, submission.user_id)
        if refusal:  # the modal only opens for people who may create; this catches a forged submission
            slack.update_view(submission.view_id, blocks.status_view("Not allowed", refusal))
            return
        invoicing.create(submission)

    registry.add(CreateInvoice, create_invoice, on_give_up=invoicing.abandon)

    def publish_failed(publish: PublishInvoice, reason: str) -> None:
        invoice = invoicing.store.reads.invoices.get(publish.invoice_id)
        if invoice is None or not invoice.rep_user_id:
            return
        text = (f":warning: {escape(invoice.title)} is in Stripe, but I couldn't post its message: "
                f"{escape(reason)}")
        if publish.view_id:
            slack.update_view(publish.view_id, blocks.status_view("Invoice created", text))
        slack.dm(invoice.rep_user_id, text)

    registry.add(PublishInvoice, lambda publish, job: invoicing.publish(publish, job.key), on_give_up=publish_failed)
    registry.add(InvoiceAction, lambda action, job: invoicing.act(action, job.key),
                 on_give_up=lambda action, reason: slack.tell_user(action.channel_id, action.user_id,
                                                                   invoicing.refusal_text(action, reason)))
    registry.add(AddCatalogPrice, lambda add, job: catalog.add_price(add, job.key),
                 on_give_up=lambda add, reason: slack.respond(
                     add.response_url, f":x: The price was not created: {escape(reason)}"))
    registry.add(Respond, lambda respond, job: slack.respond(respond.response_url, respond.text))
    registry.add(TellUser, lambda tell, job: slack.tell_user(tell.channel_id, tell.user_id, tell.text))
    def process_events(events: list[ProcessEvent], jobs: list[Job]) -> dict[int, Exception]:
        failed = notifications.process_events([event.event_id for event in events])
        services.metrics.events_decided.inc(len(events) - len(failed))
        return {job.id: failed[event.event_id] for event, job in zip(events, jobs, strict=True)
                if event.event_id in failed}

    def process_event(event: ProcessEvent, job: Job) -> None:
        notifications.process_event(event.event_id)
        services.metrics.events_decided.inc()

    registry.add(ProcessEvent, process_event, run_batch=process_events)
    registry.add(RefreshMessage, lambda refresh, job: notifications.refresh_message(refresh))
    registry.add(ThreadReply, lambda reply, job: notifications.thread_reply(reply, job.key),
                 on_give_up=lambda reply, reason: notifications.undeliverable(reply.invoice_id, None, reason))
    registry.add(ChannelNotice, notifications.channel_notice,
                 on_give_up=lambda notice, reason: notifications.undeliverable(notice.invoice_id, notice.channel,
                                                                               reason))

    def refresh_catalog(refresh: RefreshCatalog, job: Job) -> None:
        catalog.refresh()

    def sweep_overdue(sweep: SweepOverdue, job: Job) -> None:
        notifications.sweep_overdue()

    def prune_tables(prune: PruneTables, job: Job) -> None:
        services.pruner.prune()

    def no_link(ask: SendStripeLink, reason: str) -> None:
        slack.dm(ask.user_id, f":warning: I couldn't make you a link to connect Stripe: {escape(reason)}. "
                              "Try again in a moment.")

    def not_disconnected(ask: DisconnectStripe, reason: str) -> None:
        slack.dm(ask.user_id, f":warning: I couldn't finish disconnecting Stripe: {escape(reason)}. App Home "
                              "shows where it stands; try again in a moment.")

    registry.add(SendStripeLink, lambda ask, job: services.stripe_connect.send_link(ask.user_id),
                 on_give_up=no_link)
    registry.add(DisconnectStripe, lambda ask, job: services.stripe_connect.disconnect(ask.user_id),
                 on_give_up=not_disconnected)
    registry.add(RefreshCatalog, refresh_catalog)
    registry.add(SweepOverdue, sweep_overdue)
    registry.add(PruneTables, prune_tables)
    _approval_jobs(registry, services, cannot_answer)
    _receivables_jobs(registry, services.receivables)
    _chasing_jobs(registry, services.chasing, services.promises, cannot_answer)
    credit_note_handlers.register(registry, services.credit_notes, cannot_answer)
    recurring_handlers.register(registry, services.recurring, services.access, slack, cannot_answer)
    _message_jobs(registry, services.shortcuts, services.unfurls)
    return registry


def _approval_jobs(registry: Registry, services: JobServices, cannot_answer: Callable[[str | None, str], None]) -> None:
    """Approval above a limit (bot/services/approvals.py): ask, answer the presses, carry the decision out."""
    approvals, slack = services.approvals, services.slack

    def not_rejected(reject: RejectInvoice, reason: str) -> None:
        slack.update_view(reject.view_id, blocks.status_view(
            "Not rejected", f":warning: I couldn't record the rejection: {escape(reason)}. Try again."))

    registry.add(RequestApproval, lambda ask, job: approvals.ask(ask), on_give_up=approvals.not_asked)
    registry.add(AnswerApproval, lambda answer, job: approvals.answer(answer.body, job.key),
                 on_give_up=lambda answer, reason: cannot_answer(answer.body.get("response_url"), reason))
    registry.add(RejectInvoice, lambda reject, job: approvals.reject(reject), on_give_up=not_rejected)
    registry.add(CompleteApproval, lambda complete, job: approvals.complete(complete),
                 on_give_up=approvals.not_completed)
    registry.add(AnnounceDecision, lambda news, job: approvals.announce(news))


def _receivables_jobs(registry: Registry, receivables: Receivables) -> None:
    """The receivables digest: the schedule's check (periodic) and the digest itself."""
    def check_schedule(check: CheckDigestSchedule, job: Job) -> None:
        receivables.check_schedule()

    registry.add(CheckDigestSchedule, check_schedule)
    registry.add(PostReceivablesDigest, lambda digest, job: receivables.post_digest(digest),
                 on_give_up=receivables.digest_failed)


def _chasing_jobs(registry: Registry, chasing: Chasing, promises: Promises,
                  cannot_answer: Callable[[str | None, str], None]) -> None:
    """Chasing unpaid invoices (bot/services/chasing.py, promises.py): the sweep, reminders, previews,
    lapsed promises, the buttons and the changes they make."""
    def sweep(job_payload: ChaseSweep, job: Job) -> None:
        chasing.sweep()

    def answer(pressed: AnswerChasing, job: Job) -> None:
        if pressed.body["actions"][0]["action_id"] in PREVIEW_ACTIONS:
            chasing.answer_preview(pressed.body, job.key)
        else:
            promises.answer(pressed.body, job.key)

    registry.add(ChaseSweep, sweep)
    registry.add(ChaseInvoice, lambda chase, job: chasing.chase(chase, job.key), on_give_up=chasing.not_chased)
    registry.add(ChasePreview, lambda preview, job: chasing.send_preview(preview, job.key))
    registry.add(PromiseLapsed, lambda lapsed, job: chasing.note_lapse(lapsed, job.key))
    registry.add(DisputeNotice, lambda notice, job: chasing.tell_admins(notice, job.key))
    registry.add(AnswerChasing, answer,
                 on_give_up=lambda pressed, reason: cannot_answer(pressed.body.get("response_url"), reason))
    registry.add(ChangeChasing, lambda change, job: promises.change(change, job.key),
                 on_give_up=promises.not_changed)


def _message_jobs(registry: Registry, shortcuts: Shortcuts, unfurls: Unfurls) -> None:
    """"Invoice this" (bot/services/shortcuts.py) and link previews (bot/services/unfurls.py)."""
    def unfurl(links: UnfurlInvoiceLinks, job: Job) -> None:
        unfurls.unfurl(links)

    registry.add(OpenInvoiceThis, lambda shortcut, job: shortcuts.invoice_this(shortcut),
                 on_give_up=shortcuts.not_opened)
    registry.add(UnfurlInvoiceLinks, unfurl)  # nobody to tell: Slack shows its own preview, if any

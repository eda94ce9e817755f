"""Recurring invoices: the form's "Repeat" makes a Stripe subscription that emails an invoice each period.

`create` runs in the worker (`CreateSubscription`, queued by the form's submit as `create:<view>`): before
anything is made it asks Stripe about each catalog price (a one-off one, or one of another interval, cannot
repeat: the rep is told and nothing is created); then the customer (the invoice path's own step), a product
for each typed line (its price is `price_data` with the interval), and the subscription with
`collection_method=send_invoice` and `days_until_due`, each with an idempotency key from the form's view id.
The subscription is stored with its rep, channel and tenant (`subscriptions`), and its first invoice is
taken in and posted like one made in Slack.

Every later invoice it generates arrives as Stripe's events (`invoice.created`, `invoice.finalized`... with
`subscription` set); `adopt_generated`, called as the event is decided (bot/services/notifications.py),
makes it the rep's and queues its own message in the rep's channel, once per invoice whichever event comes
first or again. `customer.subscription.*` events keep the stored status (`note_subscription_event`).

`/invoice recurring` lists the rep's subscriptions (admins: everyone's) with "Cancel at period end" and
"Cancel now" (each confirmed); a press is one `CancelSubscription` job per subscription and mode, so a double
click or two people cancel once, with Stripe's idempotency key `<subscription>:cancel:<mode>`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from bot import blocks, money
from bot.access import Access
from bot.adapters.slack import SlackOut
from bot.adapters.stripe import RecurringItem, StripeFailure, StripeGateway
from bot.blocks import ActionId
from bot.domain.invoices import snapshot_from_stripe
from bot.domain.recurring import (
    REPEAT_LABELS,
    REPEATS,
    Subscription,
    describe,
    period_end,
    recurring_text,
    repeat_text,
    subscription_of_invoice,
)
from bot.errors import GiveUp
from bot.jobs.payloads import (
    CancelSubscription,
    CreateSubscription,
    PublishInvoice,
    PublishSubscription,
    Respond,
    TellUser,
)
from bot.mrkdwn import escape, link
from bot.people import People
from bot.services.invoicing import Invoicing
from bot.store.ports import UnitOfWork
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

Clock = Callable[[], float]
CANCEL_ACTIONS = {ActionId.RECURRING_CANCEL_AT_END.value: True, ActionId.RECURRING_CANCEL_NOW.value: False}
NOT_YOURS = "Only the rep who set up this repeating invoice or an invoicing admin can cancel it."


def generated_reply(subscription: Subscription) -> str:
    """The thread line under each invoice a subscription generates."""
    return (f":repeat: Issued by the repeating invoice ({escape(subscription.label)}) <@{subscription.rep_user_id}> "
            "set up; `/invoice recurring` lists it.")


def adopt_generated(uow: UnitOfWork, invoice: Mapping[str, Any]) -> bool:
    """An invoice Stripe generated for a subscription made in Slack becomes its rep's, with its own message in
    the rep's channel: queued once per invoice (`publish:recurring:<invoice>`), whichever of its events comes
    first, and the create job's own look at the first invoice too. Call after the invoice's snapshot was
    applied in this unit of work. True when the invoice is a known subscription's."""
    subscription_id = subscription_of_invoice(dict(invoice))
    invoice_id = invoice.get("id")
    if subscription_id is None or not isinstance(invoice_id, str):
        return False
    subscription = uow.subscriptions.get(subscription_id)
    if subscription is None:
        return False  # made elsewhere (or its create job has not stored it yet: that job adopts the first one)
    if uow.invoices.adopt(invoice_id, channel_id=subscription.channel_id, rep_user_id=subscription.rep_user_id,
                          team_id=subscription.team_id):
        uow.jobs.add(PublishInvoice(invoice_id=invoice_id, reply=generated_reply(subscription)),
                     key=f"publish:recurring:{invoice_id}")
    return True


def note_subscription_event(uow: UnitOfWork, event_type: str, subscription: Mapping[str, Any]) -> None:
    """`customer.subscription.updated|deleted`: the stored status follows Stripe's; its rep hears once when it
    ends (keyed by the subscription: a redelivery, or both events of one ending, say it once)."""
    subscription_id = subscription.get("id")
    if not isinstance(subscription_id, str):
        return
    known = uow.subscriptions.get(subscription_id)
    if known is None:
        return
    status = "canceled" if event_type == "customer.subscription.deleted" else str(subscription.get("status") or "")
    uow.subscriptions.update_state(subscription_id, status=status or known.status,
                                   cancel_at_period_end=bool(subscription.get("cancel_at_period_end")),
                                   current_period_end=period_end(dict(subscription)))
    if status == "canceled" and known.status != "canceled":
        uow.jobs.add(TellUser(user_id=known.rep_user_id, channel_id=known.channel_id, text=(
            f":no_entry_sign: The repeating invoice for {escape(known.customer_label)} "
            f"({escape(money.format_amount(known.amount, known.currency))} {escape(known.label)}) has ended: "
            "Stripe issues no more invoices for it.")), key=f"recurring-ended:{subscription_id}")


class Recurring:
    def __init__(self, store: TenantScope, stripe: StripeGateway, slack: SlackOut, invoicing: Invoicing,
                 access: Access, people: People, clock: Clock = time.time) -> None:
        self.store = store
        self.stripe = stripe
        self.slack = slack
        self.invoicing = invoicing
        self.access = access
        self.people = people
        self.clock = clock

    # --- create -----------------------------------------------------------------------------------
    def create(self, job: CreateSubscription) -> str | None:
        """The Stripe steps, each keyed by the form's view id; the subscription's id, or None when refused.
        A form that already made its subscription (a retry, a double submit, a resend after pruning) makes
        nothing again: it only queues its news (the same keys)."""
        key = job.view_id
        known = self.store.reads.subscriptions.by_view(key)
        if known is not None:  # its news went with it (`publish:<view>`); queued again if that job was pruned
            with self.store.unit_of_work() as uow:
                uow.jobs.add(PublishSubscription(subscription_id=known.stripe_id, view_id=key), key=f"publish:{key}")
                uow.commit()
            return known.stripe_id
        problem = self._price_problem(job)
        if problem is not None:
            self._refuse(job, problem)
            return None
        customer = self.invoicing.customer_for(job)
        interval, count = REPEATS[job.repeat]
        items: list[RecurringItem] = []
        for number, line in enumerate(job.lines, start=1):
            if line.price_id:
                items.append(RecurringItem(line.quantity, price_id=line.price_id))
                continue
            product = self.stripe.create_product(name=line.description or "Services",
                                                 idempotency_key=f"{key}:product:{number}")
            items.append(RecurringItem(line.quantity, product_id=str(product["id"]), unit_amount=line.unit_amount))
        created = self.stripe.create_subscription(
            customer_id=customer.stripe_id, currency=job.currency, days_until_due=job.days_until_due, items=items,
            interval=interval, interval_count=count, description=job.memo,
            metadata={"slack_team": job.team_id, "slack_channel": job.channel_id, "slack_user": job.user_id,
                      "created_via": "invoicebot"},
            idempotency_key=f"{key}:subscription")
        first = created.get("latest_invoice")
        first_id = first.get("id") if isinstance(first, dict) else first
        invoice = self.stripe.get_invoice(str(first_id)) if isinstance(first_id, str) and first_id else None
        record = Subscription(
            stripe_id=str(created["id"]), view_id=key, rep_user_id=job.user_id, channel_id=job.channel_id,
            team_id=job.team_id, customer_id=customer.stripe_id, customer_label=customer.label,
            repeat_every=repeat_text(job.repeat), currency=job.currency,
            amount=sum(line.unit_amount * line.quantity for line in job.lines),
            summary="; ".join(f"{line.quantity} × {line.description or 'item'}" for line in job.lines),
            status=str(created.get("status") or "active"),
            cancel_at_period_end=bool(created.get("cancel_at_period_end")), current_period_end=period_end(created))
        with self.store.unit_of_work() as uow:
            uow.subscriptions.add(record)
            uow.audit.add(job.user_id, "subscribe", str(first_id) if invoice is not None else None,
                          {"subscription": record.stripe_id, "customer": customer.stripe_id},
                          {"repeat": job.repeat, "currency": job.currency, "amount": record.amount,
                           "lines": len(job.lines)})
            if invoice is not None:
                uow.invoices.apply(snapshot_from_stripe(invoice), int(self.clock()))
                adopt_generated(uow, invoice)
            uow.jobs.add(PublishSubscription(subscription_id=record.stripe_id, view_id=key,
                                             invoice_id=str(first_id) if invoice is not None else None),
                         key=f"publish:{key}")
            uow.commit()
        return record.stripe_id

    def _price_problem(self, job: CreateSubscription) -> str | None:
        """Stripe's own word on each catalog price, before anything is created: it must repeat as the form
        says. (The form checked the cached copy; this catches a price the cache did not know yet.)"""
        wanted = repeat_text(job.repeat)
        for line in job.lines:
            if not line.price_id:
                continue
            try:
                price = self.stripe.get_price(line.price_id)
            except StripeFailure as failure:
                if failure.retryable:
                    raise
                return f"the catalog price {line.price_id} can't be used: {failure.message}"
            name = line.description or line.price_id
            recurring = recurring_text(price.get("recurring"))
            if not price.get("active", True):
                return f"“{name}” is no longer an active catalog price"
            if recurring != wanted:
                kind = "a one-off price" if not recurring else f"a price that repeats {describe(recurring)}"
                return (f"“{name}” is {kind}, so it can't be a line of an invoice that repeats "
                        f"{REPEAT_LABELS[job.repeat]}")
        return None

    def _refuse(self, job: CreateSubscription, reason: str) -> None:
        text = f":x: The repeating invoice was not created: {escape(reason)}. Nothing was created in Stripe."
        self.slack.update_view(job.view_id, blocks.status_view("Invoice not created", text))
        self.slack.tell_user(job.channel_id, job.user_id, text)

    def abandon(self, job: CreateSubscription, reason: str) -> None:
        """Stripe refused a step for good (or it kept failing): the rep hears why. No subscription was stored,
        so none exists in Stripe under this form (its customer and line products may)."""
        text = (f":x: The repeating invoice was not created: Stripe said “{escape(reason)}”. No invoice was "
                "sent.")
        self.slack.update_view(job.view_id, blocks.status_view("Invoice not created", text))
        self.slack.tell_user(job.channel_id, job.user_id, text)

    def publish(self, job: PublishSubscription) -> None:
        """The form says what was made (the first invoice's message is its own job)."""
        subscription = self.store.reads.subscriptions.get(job.subscription_id)
        if subscription is None:
            raise GiveUp(f"unknown subscription {job.subscription_id}")
        amount = money.format_amount(subscription.amount, subscription.currency)
        first = self.store.reads.invoices.get(job.invoice_id) if job.invoice_id else None
        title = f" ({escape(first.title)})" if first is not None else ""
        hosted = link(first.hosted_url, "Open the first invoice") if first is not None else None
        next_at = blocks.format_due(subscription.current_period_end, self.people.zone(subscription.rep_user_id))
        text = (f":white_check_mark: Repeating invoice created: {escape(amount)} {escape(subscription.label)} for "
                f"{escape(subscription.customer_label)}. Stripe emailed the first invoice{title} and issues the next "
                f"on {escape(next_at)}; each one is posted in <#{subscription.channel_id}>.")
        self.slack.update_view(job.view_id, blocks.status_view("Invoice created", f"{text}\n{hosted}" if hosted
                                                               else text))

    # --- /invoice recurring -------------------------------------------------------------------------
    def list_answer(self, user_id: str) -> tuple[str, list[dict[str, Any]]]:
        """The asker's repeating invoices (admins: everyone's), with their Cancel buttons."""
        admin = self.access.is_admin(user_id)
        listed = self.store.reads.subscriptions.listed(None if admin else user_id)
        heading = "Repeating invoices" if admin else "Your repeating invoices"
        return blocks.recurring_list(listed, heading=heading, zone=self.people.zone(user_id))

    def answer(self, body: dict[str, Any], job_key: str) -> None:
        """Cancel at period end / Cancel now pressed (after Slack's confirmation): who may, then one job."""
        pressed = body["actions"][0]
        user_id = str(body["user"]["id"])
        channel_id = (body.get("channel") or {}).get("id")
        response_url = body.get("response_url") or None
        at_period_end = CANCEL_ACTIONS.get(str(pressed.get("action_id")))
        subscription = self.store.reads.subscriptions.get(str(pressed.get("value") or "")[:255])

        def say(text: str) -> None:
            if response_url:
                self.slack.respond(response_url, text, replace_original=False)
            else:
                self.slack.tell_user(channel_id, user_id, text)

        if at_period_end is None or subscription is None:
            say("I don't know that repeating invoice; run `/invoice recurring` again.")
            return
        if user_id != subscription.rep_user_id and not self.access.is_admin(user_id):
            say(NOT_YOURS)
            return
        if not subscription.active:
            say(f"The repeating invoice for {escape(subscription.customer_label)} has ended already.")
            return
        if at_period_end and subscription.cancel_at_period_end:
            say(f"The repeating invoice for {escape(subscription.customer_label)} already ends at the period's end "
                f"({escape(blocks.format_due(subscription.current_period_end))}).")
            return
        mode = "end" if at_period_end else "now"
        with self.store.unit_of_work() as uow:
            uow.jobs.add(CancelSubscription(subscription_id=subscription.stripe_id, at_period_end=at_period_end,
                                            user_id=user_id, channel_id=channel_id, response_url=response_url),
                         key=f"recurring-cancel:{subscription.stripe_id}:{mode}")
            uow.commit()

    def cancel(self, job: CancelSubscription) -> None:
        subscription = self.store.reads.subscriptions.get(job.subscription_id)
        if subscription is None:
            raise GiveUp(f"unknown subscription {job.subscription_id}")
        mode = "end" if job.at_period_end else "now"
        try:
            result = self.stripe.cancel_subscription(job.subscription_id, at_period_end=job.at_period_end,
                                                     idempotency_key=f"{job.subscription_id}:cancel:{mode}")
        except StripeFailure as failure:
            if failure.retryable:
                raise
            # Canceled meanwhile (in the Dashboard, or the other button): Stripe's state is the answer.
            result = self.stripe.get_subscription(job.subscription_id)
            if result.get("status") != "canceled":
                raise
        status = str(result.get("status") or subscription.status)
        label = (f"the repeating invoice for {escape(subscription.customer_label)} "
                 f"({escape(money.format_amount(subscription.amount, subscription.currency))} "
                 f"{escape(subscription.label)})")
        ends = period_end(result) or subscription.current_period_end
        if status == "canceled":
            text = f":no_entry_sign: <@{job.user_id}> canceled {label}: Stripe issues no more invoices for it."
        else:
            text = (f":hourglass: <@{job.user_id}> set {label} to end on {escape(blocks.format_due(ends))}: no "
                    "invoices after the current period.")
        with self.store.unit_of_work() as uow:
            uow.subscriptions.update_state(job.subscription_id, status=status,
                                           cancel_at_period_end=bool(result.get("cancel_at_period_end")),
                                           current_period_end=ends, canceled_by=job.user_id)
            uow.audit.add(job.user_id, "cancel_subscription", None, {"subscription": job.subscription_id},
                          {"at_period_end": job.at_period_end, "status": status})
            uow.jobs.add(Respond(response_url=job.response_url, text=text) if job.response_url
                         else TellUser(user_id=job.user_id, channel_id=job.channel_id, text=text),
                         key=f"reply:recurring-cancel:{job.subscription_id}:{mode}")
            if job.user_id != subscription.rep_user_id:  # an admin canceled it: its rep hears
                uow.jobs.add(TellUser(user_id=subscription.rep_user_id, channel_id=subscription.channel_id,
                                      text=text), key=f"tell:recurring-cancel:{job.subscription_id}:{mode}")
            uow.commit()

    def not_canceled(self, job: CancelSubscription, reason: str) -> None:
        text = f":warning: I couldn't cancel the repeating invoice: {escape(reason)}. Try again in a moment."
        if job.response_url:
            self.slack.respond(job.response_url, text, replace_original=False)
        else:
            self.slack.tell_user(job.channel_id, job.user_id, text)

"""The recurring invoices' jobs (bot/services/recurring.py): make the subscription, say so, answer the Cancel
buttons, cancel."""

from __future__ import annotations

from collections.abc import Callable

from bot import blocks
from bot.access import Access, Action
from bot.adapters.slack import SlackOut
from bot.jobs.model import Job
from bot.jobs.payloads import AnswerRecurring, CancelSubscription, CreateSubscription, PublishSubscription
from bot.jobs.registry import Registry
from bot.mrkdwn import escape
from bot.services.recurring import Recurring


def register(registry: Registry, recurring: Recurring, access: Access, slack: SlackOut,
             cannot_answer: Callable[[str | None, str], None]) -> None:
    def create(submission: CreateSubscription, job: Job) -> None:
        refusal = access.refusal(Action.CREATE, submission.user_id)
        if refusal:  # the modal only opens for people who may create; this catches a forged submission
            slack.update_view(submission.view_id, blocks.status_view("Not allowed", refusal))
            return
        recurring.create(submission)

    def not_published(publish: PublishSubscription, reason: str) -> None:
        slack.update_view(publish.view_id, blocks.status_view(
            "Invoice created", f":warning: The repeating invoice is in Stripe, but I couldn't say so here: "
                               f"{escape(reason)}. `/invoice recurring` lists it."))

    registry.add(CreateSubscription, create, on_give_up=recurring.abandon)
    registry.add(PublishSubscription, lambda publish, job: recurring.publish(publish), on_give_up=not_published)
    registry.add(AnswerRecurring, lambda answer, job: recurring.answer(answer.body, job.key),
                 on_give_up=lambda answer, reason: cannot_answer(answer.body.get("response_url"), reason))
    registry.add(CancelSubscription, lambda cancel, job: recurring.cancel(cancel), on_give_up=recurring.not_canceled)

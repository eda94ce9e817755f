"""The jobs of credit notes and payments received outside Stripe (bot/services/credit_notes.py), and who hears
about it when one fails for good."""

from __future__ import annotations

from collections.abc import Callable

from bot.jobs.model import Job
from bot.jobs.payloads import AnswerInvoiceMoney, IssueCreditNote, PreviewCreditNote, RecordOfflinePayment
from bot.jobs.registry import Registry
from bot.services.credit_notes import CreditNotes


def register(registry: Registry, credit_notes: CreditNotes, cannot_answer: Callable[[str | None, str], None]) -> None:
    def answer(pressed: AnswerInvoiceMoney, job: Job) -> None:
        credit_notes.answer(pressed.body, job.key)

    registry.add(AnswerInvoiceMoney, answer,
                 on_give_up=lambda pressed, reason: cannot_answer(pressed.body.get("response_url"), reason))
    registry.add(PreviewCreditNote, lambda preview, job: credit_notes.preview(preview, job.key),
                 on_give_up=credit_notes.not_previewed)
    registry.add(IssueCreditNote, lambda issue, job: credit_notes.issue(issue, job.key),
                 on_give_up=credit_notes.not_issued)
    registry.add(RecordOfflinePayment, lambda record, job: credit_notes.record_payment(record, job.key),
                 on_give_up=credit_notes.not_recorded)

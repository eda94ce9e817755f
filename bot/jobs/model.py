"""A job as the queue hands it out, the lanes work travels in, and the base of every payload."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class Lane(StrEnum):
    """Each lane has its own workers, so work in one never waits behind a backlog in another."""

    REPLIES = "replies"  # a person is looking: forms to open (within 3 s), answers, App Home
    INTERACTIVE = "interactive"  # a person is waiting on Stripe: modal submits, buttons, catalog changes
    EVENTS = "events"  # deciding what stored Stripe events mean
    # Deciding events about invoices made in Slack: a rep's payment never waits behind a billing run's events.
    OWN_EVENTS = "own_events"
    OWN = "own"  # news about invoices made in Slack: their messages, threads and notices
    BULK = "bulk"  # announcements of invoices made elsewhere (a month-end billing run)
    PERIODIC = "periodic"  # catalog refresh, overdue sweep


# The benchmark's baseline only (`WORKER_LANES=single_fifo`): every job in one first-in, first-out
# line, one job per claim, as the queue was before lanes (bench/month_end.py measures both).
EVERY_LANE = "*"


class JobPayload(BaseModel):
    """What a job needs to run, stored as JSON; one subclass per kind of job."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    KIND: ClassVar[str]
    LANE: ClassVar[Lane]

    def lane(self) -> Lane:
        return self.LANE


@dataclass(frozen=True)
class Job:
    """A claimed job. `lease_token` proves the claim: only its holder may finish the job."""

    id: int
    tenant_id: str  # whose work: the worker runs it with that workspace's Slack, Stripe and data
    kind: str
    key: str
    lane: str
    payload: dict[str, Any]
    attempts: int
    lease_token: str
    digest_key: str | None = None
    channel: str | None = None

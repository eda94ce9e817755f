"""Bounded tables: what the bot no longer needs is deleted, and every dedupe still holds.

Three tables grow with traffic; each keeps a row as long as something may still ask for it:

- `jobs`: a finished job (done or failed) for `JOB_RETENTION_DAYS`. A job's key dedupes requests
  while it exists; the requests that could come again are Slack's (a retried button press,
  command or form: seconds to an hour later), and a retention of a day or more covers them.
- `stripe_events`: a decided event for `EVENT_MEMORY` (30 days), or longer when the job retention
  is. Stripe retries an event for 3 days and its Dashboard resends events up to 30 days old; a
  stored event is what makes its redelivery a duplicate, whatever became of its job.
- `deliveries`: a Slack post known to be sent, for as long as events are remembered. A post is
  only tried again by a job, and no job for an event can come back while the event is
  remembered; an invoice's own message is found through the invoice (`message_ts`), not here.

Never pruned: `invoices` (they also remember each form's view id, so a form resent after its job
was pruned still makes no second invoice), `audit`, customers, prices and routes. An event not yet
decided, a job not yet finished and a post that may or may not have gone out are never pruned.

Rows go in chunks, one short transaction each, so SQLite's writer lock is never held for long
and a backlog of old rows is cleared over many turns of it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.store.ports import UnitOfWork
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

DAY = 86_400.0
EVENT_MEMORY = 30 * DAY
PRUNE_CHUNK = 1_000  # rows per transaction: ~10 ms of the writer's lock on SQLite (5,000 held it 30-80 ms)
CHUNK_PAUSE = 0.005  # between chunks, so that waiting writers (acks, the webhook) get the lock first


@dataclass(frozen=True)
class Pruned:
    jobs: int = 0
    events: int = 0
    deliveries: int = 0

    @property
    def total(self) -> int:
        return self.jobs + self.events + self.deliveries


class Pruner:
    """`prune()` deletes what is past its retention; the periodic `PruneTables` job calls it."""

    def __init__(self, store: TenantScope, job_retention_days: float, *, chunk: int = PRUNE_CHUNK,
                 pause: float = CHUNK_PAUSE) -> None:
        if job_retention_days < 1:
            raise ValueError("jobs are kept at least a day: Slack may resend a request within the hour")
        if chunk < 1:
            raise ValueError("chunk must be at least 1")
        self.store = store
        self.job_retention = job_retention_days * DAY
        self.event_memory = max(EVENT_MEMORY, self.job_retention)
        self.chunk = chunk
        self.pause = pause

    def prune(self) -> Pruned:
        pruned = Pruned(
            jobs=self._in_chunks(lambda uow: uow.jobs.prune_finished(self.job_retention, self.chunk)),
            events=self._in_chunks(lambda uow: uow.events.prune_decided(self.event_memory, self.chunk)),
            deliveries=self._in_chunks(lambda uow: uow.deliveries.prune_sent(self.event_memory, self.chunk)),
        )
        # Counts only: no ids, no names, nothing about a customer.
        logger.info("pruned %d finished jobs, %d decided Stripe events, %d sent Slack posts", pruned.jobs,
                    pruned.events, pruned.deliveries)
        return pruned

    def _in_chunks(self, delete: Callable[[UnitOfWork], int]) -> int:
        """Delete chunk after chunk, each in its own transaction, until one comes back short."""
        total = 0
        while True:
            with self.store.unit_of_work() as uow:
                deleted = delete(uow)
                uow.commit()
            total += deleted
            if deleted < self.chunk:
                return total
            if self.pause:
                time.sleep(self.pause)

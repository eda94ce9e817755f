"""What Slack listeners get: reads (to validate a form, to answer a search) and a way to queue
work. Everything else a listener's answer needs happens in a job (`bot/services/replies.py`).

Its own module, imported by both the bootstrap and `handlers/`, so listeners never import the
module that builds the app (no import cycle), and never receive the worker, the raw store's
write side or the HTTP edge.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.access import Access
from bot.jobs.model import JobPayload
from bot.store.ports import Reads, Store


class JobSubmitter:
    """Queue work a listener promised (before its ack); workers wake when it commits."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def submit(self, payload: JobPayload, key: str) -> bool:
        """False when a job with that key was already queued (a double click, a resent request)."""
        with self._store.unit_of_work() as uow:
            added = uow.jobs.add(payload, key)
            uow.commit()
        return added


@dataclass(frozen=True)
class Services:
    reads: Reads
    jobs: JobSubmitter
    access: Access  # for the searches, which answer in their ack (from caches, as a rule)
    response_origins: frozenset[str]  # where a request's response_url may point (Slack's hosts)

"""What Slack listeners get: reads, a way to queue work, the access model and the read-side use cases.

Its own module, imported by both the bootstrap and `handlers/`, so listeners never import the
module that builds the app (no import cycle), and never receive the worker, the raw store's
write side or the HTTP edge.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.access import Access
from bot.jobs.model import JobPayload
from bot.people import People
from bot.services.browse import Browser
from bot.services.routing import Routing
from bot.store.ports import Reads, Store


@dataclass(frozen=True)
class ModalDefaults:
    currency: str
    days_until_due: int


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
    access: Access
    people: People
    browser: Browser
    routing: Routing
    modal_defaults: ModalDefaults
    response_origins: frozenset[str]  # where a request's response_url may point (Slack's hosts)

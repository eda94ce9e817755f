"""What Slack listeners get: reads (to validate a form, to answer a search) and a way to queue
work. Everything else a listener's answer needs happens in a job (`bot/services/replies.py`).

Its own module, imported by both the bootstrap and `handlers/`, so listeners never import the
module that builds the app (no import cycle), and never receive the worker, the raw store's
write side or the HTTP edge.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from bot.access import Access
from bot.jobs.model import JobPayload
from bot.store.ports import Reads
from bot.store.scope import TenantScope


class _Submission:
    def __init__(self, payload: JobPayload, key: str) -> None:
        self.payload = payload
        self.key = key
        self.added = False
        self.error: Exception | None = None
        self.lead = False  # woken to write the next batch rather than with its own result
        self.settled = threading.Event()


class JobSubmitter:
    """Queue work a listener promised (before its ack); workers wake when it commits.

    Submissions that arrive while another is being written go together in the next transaction
    (group commit), written by the first of them: ten clicks at once took ten turns at the
    writer's lock one by one, and the last ack waited 40 ms for its turn."""

    def __init__(self, store: TenantScope) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._waiting: list[_Submission] = []
        self._writing = False

    def submit(self, payload: JobPayload, key: str) -> bool:
        """False when a job with that key was already queued (a double click, a resent request)."""
        mine = _Submission(payload, key)
        with self._lock:
            self._waiting.append(mine)
            mine.lead = not self._writing
            self._writing = True
        while True:
            if mine.lead:
                mine.lead = False
                self._write_waiting()
            mine.settled.wait()
            if not mine.lead:
                break
            mine.settled.clear()
        if mine.error is not None:
            raise mine.error
        return mine.added

    def _write_waiting(self) -> None:
        with self._lock:
            batch, self._waiting = self._waiting, []
        try:
            with self._store.unit_of_work() as uow:
                added = [uow.jobs.add(each.payload, each.key) for each in batch]
                uow.commit()
        except Exception as error:  # each submitter answers its own user; logged by its handler
            for each in batch:
                each.error = error
        else:
            for each, was_added in zip(batch, added, strict=True):
                each.added = was_added
        with self._lock:  # hand the writing on to one of those that came meanwhile, if any
            if self._waiting:
                self._waiting[0].lead = True
                self._waiting[0].settled.set()
            else:
                self._writing = False
        for each in batch:
            each.settled.set()


@dataclass(frozen=True)
class Services:
    """One workspace's: a request from a team gets its own tenant's reads, queue and access rules."""

    tenant_id: str
    reads: Reads
    jobs: JobSubmitter
    access: Access  # for the searches, which answer in their ack (from caches, as a rule)
    response_origins: frozenset[str]  # where a request's response_url may point (Slack's hosts)

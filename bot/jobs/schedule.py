"""Periodic jobs: one run per period across every process, whatever happened to the last run.

On every tick the scheduler makes sure the current period's job and the next one exist, keyed
by the period (`refresh_catalog:{window}`), so a failed run never stops the next and two
processes (or a restart) never run a period twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.domain.tenants import DEFAULT_TENANT
from bot.jobs.model import JobPayload
from bot.store.ports import Store


@dataclass(frozen=True)
class Periodic:
    payload: JobPayload
    period: float


class Scheduler:
    def __init__(self, store: Store, periodic: Sequence[Periodic], clock: Callable[[], float] = time.time,
                 tenants: Callable[[], Iterable[str]] = lambda: [DEFAULT_TENANT]) -> None:
        self.store = store
        self.periodic = list(periodic)
        self.clock = clock
        self.tenants = tenants  # each tenant's catalog, overdue sweep and pruning run on their own

    def ensure(self) -> int:
        """Queue what is missing of this period and the next; returns how many jobs were added."""
        now = self.clock()
        added = 0
        for tenant in self.tenants():
            with self.store.unit_of_work(tenant) as uow:
                for item in self.periodic:
                    window = int(now // item.period)
                    kind = item.payload.KIND
                    added += uow.jobs.add(item.payload, f"{kind}:{window}")
                    added += uow.jobs.add(item.payload, f"{kind}:{window + 1}",
                                          delay=(window + 1) * item.period - now)
                uow.commit()
        return added

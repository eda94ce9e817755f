"""One workspace's view of the store: what every use case gets instead of the whole database.

Services hold a `TenantScope`, never the `Store`: each read and each unit of work they open is
bound to their tenant, and every query the repositories run carries `tenant_id = ?`. There is no
way to reach another tenant's rows from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.jobs.ports import JobQueue
    from bot.store.ports import ChannelPace, Reads, Store, UnitOfWork


class TenantScope:
    def __init__(self, store: Store, tenant_id: str) -> None:
        self.store = store
        self.tenant_id = tenant_id

    @property
    def reads(self) -> Reads:
        return self.store.reads(self.tenant_id)

    @property
    def queue(self) -> JobQueue:
        return self.store.queue

    def unit_of_work(self) -> UnitOfWork:
        return self.store.unit_of_work(self.tenant_id)

    def pace(self, interval: float) -> ChannelPace:
        return self.store.pace(interval, self.tenant_id)

    def __repr__(self) -> str:
        return f"TenantScope({self.tenant_id!r})"

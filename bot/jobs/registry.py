"""One declaration per kind of job: its payload type, what runs it, who hears when it gives up."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from bot.jobs.model import Job, JobPayload

P = TypeVar("P", bound=JobPayload)


# Runs many jobs of one kind together; returns the failures by job id (the rest succeeded).
BatchRun = Callable[[list[P], list[Job]], dict[int, Exception]]


@dataclass(frozen=True)
class JobSpec(Generic[P]):
    payload: type[P]
    run: Callable[[P, Job], None]
    # Called once when the job will never succeed (refused, or out of attempts): tell a person.
    on_give_up: Callable[[P, str], None] | None = None
    run_batch: BatchRun[P] | None = None


class UnknownTenant(Exception):
    """A job's tenant is gone (uninstalled) or was never installed: nothing may run it."""


class Registries(Protocol):
    """Each tenant's registry: its handlers are bound to that workspace's Slack, Stripe and data."""

    def for_tenant(self, tenant_id: str) -> Registry:
        """Raises `UnknownTenant` for a tenant with nothing to run its jobs."""
        ...

    def lanes(self) -> set[str]: ...


class Registry:
    def __init__(self) -> None:
        self._specs: dict[str, JobSpec[Any]] = {}

    def add(self, payload: type[P], run: Callable[[P, Job], None],
            on_give_up: Callable[[P, str], None] | None = None, run_batch: BatchRun[P] | None = None) -> None:
        if payload.KIND in self._specs:
            raise ValueError(f"job kind {payload.KIND} is registered twice")
        self._specs[payload.KIND] = JobSpec(payload, run, on_give_up, run_batch)

    def get(self, kind: str) -> JobSpec[Any] | None:
        return self._specs.get(kind)

    def kinds(self) -> set[str]:
        return set(self._specs)

    def lanes(self) -> set[str]:
        return {spec.payload.LANE.value for spec in self._specs.values()}

    def for_tenant(self, tenant_id: str) -> Registry:
        """A registry built for one workspace serves every job it is handed (tests, one tenant)."""
        return self

    def require(self, payloads: Iterable[type[JobPayload]]) -> None:
        """Fail at start-up, not at run time, when a kind of job has nothing to run it."""
        missing = sorted(payload.KIND for payload in payloads if payload.KIND not in self._specs)
        if missing:
            raise ValueError(f"no handler registered for job kinds: {', '.join(missing)}")

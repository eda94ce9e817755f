"""What the workers need from a durable job queue; each store implements it for its database.

Claims are leases: a claim stamps the job with a fresh `lease_token` and a `lease_until`; only the
holder of that token may complete, retry, defer or fail the job, and the holder keeps the lease
alive with `extend`. A job whose lease ran out (its worker died) is claimable again; nothing else
ever takes a job from a live worker.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

from bot.jobs.model import Job


@dataclass(frozen=True)
class QueueStats:
    counts: dict[str, int] = field(default_factory=dict)  # jobs per status
    due: int = 0  # unfinished: running, ready, waiting for a retry or a pace (not a future period's job)
    oldest_due_seconds: dict[str, float] = field(default_factory=dict)  # per lane: how long the oldest ready job waited


class JobQueue(Protocol):
    def claim(self, lane: str, owner: str, lease_seconds: float, limit: int = 1) -> list[Job]:
        """Up to `limit` ready jobs of `lane`, oldest first, leased to `owner`."""
        ...

    def complete(self, job: Job) -> bool:
        """Mark done; False when the lease was lost (someone else holds the job now)."""
        ...

    def complete_many(self, jobs: list[Job]) -> set[int]:
        """Mark many done in one statement; returns the ids whose lease was lost."""
        ...

    def retry(self, job: Job, delay: float, error: str) -> bool: ...

    def defer(self, job: Job, delay: float) -> bool:
        """Run again after `delay` without counting this attempt (the job waited, it did not fail)."""
        ...

    def fail(self, job: Job, error: str) -> bool: ...

    def extend(self, tokens: Collection[str], lease_seconds: float) -> set[str]:
        """Renew the leases held under `tokens`; returns the tokens still held."""
        ...

    # Digests: notices for one channel folded into one message, leased together with their leader.
    def claim_digest(self, channel: str, leader: Job, limit: int, threshold: int) -> list[Job]: ...

    def digest_members(self, digest_key: str) -> list[Job]: ...

    def complete_members(self, jobs: list[Job]) -> None: ...

    def return_members(self, jobs: list[Job], delay: float, error: str) -> None: ...

    def release_members(self, jobs: list[Job]) -> None:
        """Unbind notices from their digest: pending again, each on its own."""
        ...

    def oldest_due(self) -> dict[str, float]:
        """Per lane, seconds its oldest ready job has waited (cheap: for health probes)."""
        ...

    def waiting(self) -> dict[tuple[str, str], int]:
        """Unfinished jobs per (lane, status) (for /metrics)."""
        ...

    def stats(self) -> QueueStats:
        """Counts per status (reads the whole table: for tests and tools)."""
        ...

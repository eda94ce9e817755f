"""Switchable misbehaviour: Slack errors, HTTP errors, rate limits, pace, latency."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

ANY_METHOD = "*"

FaultKind = Literal["error", "http", "ratelimit"]


@dataclass
class Fault:
    """What to answer instead of the real thing, for the next ``remaining`` calls."""

    kind: FaultKind
    remaining: int
    error: str = ""
    status: int = 200
    retry_after: int = 1


class Faults:
    """Queued faults and latencies per method (``"*"`` means every method)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queues: dict[str, list[Fault]] = {}
        self._latency: dict[str, float] = {}

    def add(self, method: str, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("count must be at least 1")
        with self._lock:
            self._queues.setdefault(method, []).append(fault)

    def take(self, method: str) -> Fault | None:
        """Consume one unit of the first pending fault for ``method`` (then ``"*"``)."""
        with self._lock:
            for key in (method, ANY_METHOD):
                queue = self._queues.get(key)
                if queue:
                    fault = queue[0]
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        queue.pop(0)
                    return fault
        return None

    def set_latency(self, method: str, seconds: float) -> None:
        with self._lock:
            if seconds > 0:
                self._latency[method] = seconds
            else:
                self._latency.pop(method, None)

    def latency(self, method: str) -> float:
        with self._lock:
            return self._latency.get(method, self._latency.get(ANY_METHOD, 0.0))

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()
            self._latency.clear()


class Pace:
    """Token bucket per key (a channel): ``burst`` posts at once, refilled at ``rate`` per second."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float]) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("posts_per_second must be > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def acquire(self, key: str) -> int | None:
        """Take a token; ``None`` when allowed, else the Retry-After in whole seconds (>= 1)."""
        with self._lock:
            now = self._clock()
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return max(1, math.ceil((1.0 - tokens) / self.rate))

"""Fault injection: latency and error statuses on chosen endpoints."""

from __future__ import annotations

import threading
from dataclasses import dataclass

from .errors import StripeApiError

_LOCK_TIMEOUT_MESSAGE = (
    "This object cannot be accessed right now because another API request or Stripe process is currently "
    "accessing it. If you see this error intermittently, retry the request. If you see this error frequently "
    "and are making multiple concurrent requests to a single object, make your requests serially or at a "
    "lower rate. See https://stripe.com/docs/rate-limits for more information."
)


@dataclass
class Fault:
    """One rule. ``remaining=None`` applies forever; ``hits`` counts the requests it affected."""

    method: str | None
    path_prefix: str
    latency: float = 0.0
    status: int | None = None
    remaining: int | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        return (self.method is None or self.method == method) and path.startswith(self.path_prefix)

    def error(self) -> StripeApiError | None:
        """The Stripe-shaped error this fault answers with (never stored for idempotent replay)."""
        if self.status is None:
            return None
        if self.status == 429:
            return StripeApiError(
                429,
                "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                code="rate_limit",
                stored=False,
            )
        if self.status == 409:
            return StripeApiError(409, _LOCK_TIMEOUT_MESSAGE, code="lock_timeout", stored=False)
        if self.status >= 500:
            return StripeApiError(
                self.status,
                "Something went wrong on Stripe's end. (Injected by FakeStripe.)",
                type="api_error",
                stored=False,
            )
        return StripeApiError(self.status, f"Injected error (HTTP {self.status}) by FakeStripe.", stored=False)


class FaultInjector:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> Fault:
        if fault.status is not None and not 400 <= fault.status <= 599:
            raise ValueError(f"status must be an HTTP error status (4xx/5xx), not {fault.status}")
        if fault.remaining is not None and fault.remaining < 1:
            raise ValueError("count must be a positive number of requests, or None for every request")
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first rule matching this request, charged one use."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.hits += 1
                    if fault.remaining is not None:
                        fault.remaining -= 1
                        if fault.remaining == 0:
                            self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

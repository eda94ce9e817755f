"""One vocabulary for what goes wrong, so the worker decides in one place what to do about it.

- `ExternalFailure`: Slack or Stripe (or another peer) failed; `retryable` says whether the same
  call may succeed later, `retry_after` how long the peer asked us to wait. The adapters raise
  subclasses; use cases let them propagate.
- `StoreUnavailable`: the database did not answer (a restart, a network cut, no free connection
  in time): retryable; a listener tells the person to try again in a moment, a webhook answers 503.
- `GiveUp`: the work can never succeed (a refusal, a missing object); retrying would not help.
- `Defer`: not a failure: the work must wait (a channel's pace); it runs again later without
  spending one of its attempts.
"""

from __future__ import annotations


class ExternalFailure(Exception):
    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.code = code


class StoreUnavailable(ExternalFailure):
    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True, code="store_unavailable")


class GiveUp(Exception):
    """The job can never succeed; it is marked failed and its give-up handler tells a person."""


class Defer(Exception):  # noqa: N818 - flow control, not an error
    """Run the job again after `delay` seconds; the attempt is not counted."""

    def __init__(self, reason: str, delay: float) -> None:
        super().__init__(reason)
        self.delay = delay

"""Webhook delivery: signed like Stripe, from a background thread, with misbehaviour switches.

Every event is POSTed to each endpoint it is for (the fake decides which: the endpoints of the
account and mode the event happened in, see :meth:`WebhookDispatcher.enqueue`), as pretty-printed
JSON with ``Stripe-Signature: t=<unix time>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`` (what
``stripe.Webhook.construct_event`` verifies). A non-2xx answer or a connection error is retried
with a short doubling backoff, a bounded number of times (Stripe retries for days; tests can't).

Switches (attributes of :class:`WebhookDispatcher`, read when an event is emitted):

``duplicate`` (int, 0)
    Deliver every event ``1 + duplicate`` times (same event id and body, as Stripe's at-least-once
    delivery does).
``shuffle`` (bool, False)
    Hold deliveries in a batch and release the batch in random order, after ``shuffle_window``
    seconds (0.25) from its first event, or at once on ``flush()``.
``delay`` (float seconds, 0.0)
    Wait this long between an event and its first delivery attempt.
``pause()`` / ``resume()`` / ``paused``
    While paused nothing is sent; deliveries queue up and go out, in order, on resume.
``max_attempts`` (4), ``retry_backoff`` (0.05 s, doubling), ``timeout`` (5.0 s per attempt)
    Retry policy.

``attempts`` lists every delivery attempt made (:class:`DeliveryAttempt`).

Endpoints added with :meth:`WebhookDispatcher.add_endpoint` belong to a ``scope`` (None: the
fake's default account); endpoints created through the API (``/v1/webhook_endpoints``) are passed
in by the fake with each event, carry their ``id``, and are dropped from the queue once
``is_wanted`` says so (deleted or disabled).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import http.client
import itertools
import json
import random
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"


def signature_header(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The ``Stripe-Signature`` header value for ``payload`` (the exact body sent)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


@dataclass(frozen=True)
class WebhookEndpoint:
    url: str
    secret: str
    id: str | None = None  # we_... for endpoints created through the API


@dataclass(frozen=True)
class DeliveryAttempt:
    event_id: str
    event_type: str
    url: str
    attempt: int  # 1 for the first try of a copy, 2+ for retries
    status: int | None  # the endpoint's HTTP status; None when the connection failed
    error: str | None
    succeeded: bool
    endpoint_id: str | None = None  # we_... for endpoints created through the API
    signature: str | None = None  # the Stripe-Signature header sent
    payload: str | None = field(default=None, repr=False)  # the exact body sent


@dataclass(order=True)
class _Job:
    due: float
    sequence: int
    endpoint: WebhookEndpoint = field(compare=False)
    event_id: str = field(compare=False)
    event_type: str = field(compare=False)
    payload: str = field(compare=False)
    generation: int = field(compare=False)
    attempt: int = field(compare=False, default=1)


class WebhookDispatcher:
    def __init__(self, rng: random.Random | None = None) -> None:
        self._rng = rng or random.Random()
        self._cv = threading.Condition()
        self._sequence = itertools.count()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._generation = 0
        self.on_delivered: Callable[[str, WebhookEndpoint], None] | None = None
        # Asked (without the dispatcher's lock) before each attempt: False drops the delivery.
        self.is_wanted: Callable[[WebhookEndpoint], bool] | None = None
        self.reset()

    # -- configuration ---------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget endpoints, queued deliveries, the attempt log, and restore default switches."""
        with self._cv:
            self._generation += 1  # deliveries already in flight finish but are not retried
            self._endpoints: dict[Hashable, list[WebhookEndpoint]] = {}  # scope -> endpoints
            self._ready: list[_Job] = []  # heap ordered by (due, sequence)
            self._shuffle_batch: list[_Job] = []
            self._shuffle_deadline: float | None = None
            self._in_flight = 0
            self._paused = False
            self.attempts: list[DeliveryAttempt] = []
            self.duplicate = 0
            self.shuffle = False
            self.shuffle_window = 0.25
            self.delay = 0.0
            self.max_attempts = 4
            self.retry_backoff = 0.05
            self.timeout = 5.0
            self._cv.notify_all()

    def add_endpoint(self, url: str, secret: str, *, scope: Hashable = None) -> None:
        if urlsplit(url).scheme not in ("http", "https"):
            raise ValueError(f"webhook endpoint must be an http(s) URL, not {url!r}")
        with self._cv:
            self._endpoints.setdefault(scope, []).append(WebhookEndpoint(url, secret))

    @property
    def endpoints(self) -> list[WebhookEndpoint]:
        """The default scope's endpoints (the default account's)."""
        return self.endpoints_for(None)

    def endpoints_for(self, scope: Hashable) -> list[WebhookEndpoint]:
        with self._cv:
            return list(self._endpoints.get(scope, []))

    @property
    def paused(self) -> bool:
        return self._paused

    def pause(self) -> None:
        with self._cv:
            self._paused = True

    def resume(self) -> None:
        with self._cv:
            self._paused = False
            self._cv.notify_all()

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> None:
        with self._cv:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="fake-stripe-webhooks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        with self._cv:
            thread, self._thread = self._thread, None
            self._stopping = True
            self._cv.notify_all()
        if thread is not None:
            thread.join(timeout=self.timeout + 1)

    # -- queueing --------------------------------------------------------------------------------

    def enqueue(self, event: dict[str, Any], endpoints: Sequence[WebhookEndpoint] | None = None) -> None:
        """Schedule ``event`` for ``endpoints`` (None: the default scope's), as each event is emitted."""
        with self._cv:
            endpoints = list(self._endpoints.get(None, []) if endpoints is None else endpoints)
            event["pending_webhooks"] = len(endpoints)
            if not endpoints:
                return
            payload = json.dumps(event, indent=2, default=str)
            due = time.monotonic() + max(self.delay, 0.0)
            for endpoint in endpoints:
                for _ in range(1 + max(self.duplicate, 0)):
                    job = _Job(
                        due,
                        next(self._sequence),
                        endpoint,
                        event["id"],
                        event["type"],
                        payload,
                        self._generation,
                    )
                    if self.shuffle:
                        self._shuffle_batch.append(job)
                        if self._shuffle_deadline is None:
                            self._shuffle_deadline = time.monotonic() + self.shuffle_window
                    else:
                        heapq.heappush(self._ready, job)
            self._cv.notify_all()

    def _release_shuffle_batch(self, force: bool = False) -> None:
        """Move a held batch to the ready queue in random order (caller holds the lock)."""
        if not self._shuffle_batch:
            self._shuffle_deadline = None
            return
        if not force and (self._shuffle_deadline is None or time.monotonic() < self._shuffle_deadline):
            return
        batch, self._shuffle_batch, self._shuffle_deadline = self._shuffle_batch, [], None
        self._rng.shuffle(batch)
        # One due time for the whole batch, so the shuffled sequence alone decides the order.
        due = max(job.due for job in batch)
        for job in batch:
            heapq.heappush(self._ready, replace(job, due=due, sequence=next(self._sequence)))

    def flush(self, timeout: float = 10.0) -> None:
        """Block until every queued delivery (retries included) has been attempted to the end."""
        deadline = time.monotonic() + timeout
        with self._cv:
            self._release_shuffle_batch(force=True)
            self._cv.notify_all()
            while self._ready or self._shuffle_batch or self._in_flight:
                if self._paused:
                    raise RuntimeError("webhook delivery is paused: resume() before flushing")
                if self._thread is None:
                    raise RuntimeError("the fake is not started: nothing delivers webhooks")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pending = len(self._ready) + len(self._shuffle_batch) + self._in_flight
                    raise TimeoutError(f"{pending} webhook deliveries still pending after {timeout} s")
                self._cv.wait(remaining)

    # -- the delivery thread ----------------------------------------------------------------------

    def _next_job(self) -> _Job | None:
        with self._cv:
            while not self._stopping:
                self._release_shuffle_batch()
                now = time.monotonic()
                if not self._paused and self._ready and self._ready[0].due <= now:
                    self._in_flight += 1
                    return heapq.heappop(self._ready)
                waits = []
                if not self._paused and self._ready:
                    waits.append(self._ready[0].due - now)
                if self._shuffle_deadline is not None:
                    waits.append(self._shuffle_deadline - now)
                self._cv.wait(max(min(waits), 0.001) if waits else None)
        return None

    def _run(self) -> None:
        while (job := self._next_job()) is not None:
            if job.endpoint.id is not None and self.is_wanted is not None and not self.is_wanted(job.endpoint):
                with self._cv:  # a deleted or disabled endpoint: no attempt, no retry
                    self._in_flight -= 1
                    self._cv.notify_all()
                continue
            attempt = self._deliver(job)
            with self._cv:
                self._in_flight -= 1
                if job.generation == self._generation:
                    self.attempts.append(attempt)
                    if not attempt.succeeded and job.attempt < self.max_attempts:
                        backoff = self.retry_backoff * 2 ** (job.attempt - 1)
                        retry = replace(
                            job,
                            due=time.monotonic() + backoff,
                            sequence=next(self._sequence),
                            attempt=job.attempt + 1,
                        )
                        heapq.heappush(self._ready, retry)
                self._cv.notify_all()
            if attempt.succeeded and job.generation == self._generation and self.on_delivered is not None:
                self.on_delivered(job.event_id, job.endpoint)

    def _deliver(self, job: _Job) -> DeliveryAttempt:
        parts = urlsplit(job.endpoint.url)
        connection_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        connection = connection_type(parts.hostname or "localhost", parts.port, timeout=self.timeout)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        signature = signature_header(job.payload, job.endpoint.secret)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": signature,
            "User-Agent": USER_AGENT,
        }
        sent = {"endpoint_id": job.endpoint.id, "signature": signature, "payload": job.payload}
        try:
            connection.request("POST", target, body=job.payload.encode("utf-8"), headers=headers)
            response = connection.getresponse()
            response.read()
            succeeded = 200 <= response.status < 300
            return DeliveryAttempt(
                job.event_id,
                job.event_type,
                job.endpoint.url,
                job.attempt,
                response.status,
                None if succeeded else f"HTTP {response.status}",
                succeeded,
                **sent,
            )
        except (OSError, http.client.HTTPException) as error:
            return DeliveryAttempt(
                job.event_id, job.event_type, job.endpoint.url, job.attempt, None, repr(error), False, **sent
            )
        finally:
            connection.close()

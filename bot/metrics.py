"""What `GET /metrics` tells Prometheus: one registry per bot (nothing global), counters where the
work happens, gauges read from the store at scrape time.

With `WORKER_MODE=process` the workers count in a process of their own: the child sends its
samples with each health line (once a second) and the parent adds them to its own before
answering a scrape, so one endpoint shows both. A restarted child starts from zero, which
Prometheus' `rate()` reads as a counter reset.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

# Slack refuses an ack after 3 s; the buckets resolve the 50 ms target and everything up to the limit.
ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0)
ACK_KINDS = frozenset({"slash_command", "view_submission", "block_actions", "block_suggestion", "event_callback",
                       "view_closed", "url_verification"})

Sample = tuple[str, dict[str, str], float]  # sample name, labels, value: what crosses the pipe


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.stripe_events = Counter(
            "invoicebot_stripe_events", "Stripe webhook deliveries by outcome: stored (new), duplicate (an id "
            "already stored), refused (4xx: bad signature, malformed), unavailable (503: not stored).",
            ["outcome"], registry=self.registry)
        self.events_decided = Counter(
            "invoicebot_stripe_events_decided", "Stored Stripe events decided and applied by the workers.",
            registry=self.registry)
        self.slack_calls = Counter(
            "invoicebot_slack_calls", "Slack Web API calls (and response_url posts) by method and outcome: ok, "
            "error (Slack refused), rate_limited, failed (network or 5xx).", ["method", "outcome"],
            registry=self.registry)
        self.slack_rate_limited = Counter(
            "invoicebot_slack_rate_limited", "HTTP 429 answers from Slack by method, including those retried.",
            ["method"], registry=self.registry)
        self.stripe_calls = Counter(
            "invoicebot_stripe_calls", "Stripe API calls by operation and outcome: ok, or the error's class.",
            ["operation", "outcome"], registry=self.registry)
        self.jobs_finished = Counter(
            "invoicebot_jobs_finished", "Jobs finished by lane and outcome: done, retry (will run again), "
            "deferred (waiting for a channel's pace), failed (given up), lost (lease expired first).",
            ["lane", "outcome"], registry=self.registry)
        self.ack_seconds = Histogram(
            "invoicebot_slack_ack_seconds", "Time from a Slack request's arrival to its answer, by payload type.",
            ["kind"], buckets=ACK_BUCKETS, registry=self.registry)

    # --- counting, named for the call sites --------------------------------------------------
    def slack_call(self, method: str, outcome: str) -> None:
        self.slack_calls.labels(method, outcome).inc()
        if outcome == "rate_limited":
            self.slack_rate_limited.labels(method).inc()

    def stripe_call(self, operation: str, outcome: str) -> None:
        self.stripe_calls.labels(operation, outcome).inc()

    def ack(self, kind: str, seconds: float) -> None:
        self.ack_seconds.labels(kind if kind in ACK_KINDS else "other").observe(seconds)

    # --- crossing the process boundary -------------------------------------------------------
    def samples(self) -> list[Sample]:
        """This process's counters, for the parent (`_created` timestamps stay here)."""
        return [(sample.name, dict(sample.labels), sample.value) for family in self.registry.collect()
                for sample in family.samples if not sample.name.endswith("_created")]


class Exposition:
    """Answers a scrape: this process's counters plus the worker process's, and the gauges read
    at scrape time (`gauges` yields families such as jobs waiting per lane)."""

    def __init__(self, metrics: Metrics, remote: Callable[[], list[Sample]],
                 gauges: Callable[[], Iterable[Metric]]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Merged(metrics, remote))
        self.registry.register(_Gauges(gauges))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _Merged(Collector):
    def __init__(self, metrics: Metrics, remote: Callable[[], list[Sample]]) -> None:
        self._metrics = metrics
        self._remote = remote

    def collect(self) -> Iterator[Metric]:
        remote: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        for name, labels, value in self._remote():
            key = (name, tuple(sorted(labels.items())))
            remote[key] = remote.get(key, 0.0) + value
        for family in self._metrics.registry.collect():
            merged = Metric(family.name, family.documentation, family.type, family.unit)
            seen: set[tuple[str, tuple[tuple[str, str], ...]]] = set()
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                key = (sample.name, tuple(sorted(sample.labels.items())))
                seen.add(key)
                merged.add_sample(sample.name, sample.labels, sample.value + remote.get(key, 0.0))
            prefix = family.name
            for key, value in sorted(remote.items()):  # series only the other process has seen
                sample_name, label_pairs = key
                if key not in seen and _belongs(sample_name, prefix, family.type):
                    merged.add_sample(sample_name, dict(label_pairs), value)
            yield merged


def _belongs(sample_name: str, family_name: str, family_type: str) -> bool:
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}.get(family_type, ("",))
    return any(sample_name == family_name + suffix for suffix in suffixes)


class _Gauges(Collector):
    def __init__(self, gauges: Callable[[], Iterable[Metric]]) -> None:
        self._gauges = gauges

    def collect(self) -> Iterator[Metric]:
        yield from self._gauges()


class RemoteSamples:
    """The latest samples the worker process sent (kept by its handle in the parent)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._samples: list[Sample] = []
        self.received_at = 0.0

    def update(self, raw: Any) -> None:
        samples = [(str(name), {str(k): str(v) for k, v in dict(labels).items()}, float(value))
                   for name, labels, value in raw]
        with self._lock:
            self._samples = samples
            self.received_at = time.monotonic()

    def __call__(self) -> list[Sample]:
        with self._lock:
            return list(self._samples)

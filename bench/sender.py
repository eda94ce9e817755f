"""The load generator: a separate process that POSTs signed Stripe events over keep-alive connections.

    python -m bench.sender --url http://127.0.0.1:PORT/stripe/webhook --out result.json \
        [--concurrency 50] [--duration 20] [--count 150000] [--rate R] [--empty] \
        [--event-type invoice.updated] [--prefix ingest] [--secret whsec_...] [--duplicate-every 50]

Every request is built (and signed) before the clock starts. Each of `--concurrency` workers
holds one HTTP/1.1 connection and sends one request at a time, on plain asyncio streams: a few
microseconds per request, so on a 2-core machine the sender takes as little CPU from the server
as a Python client can. With `--rate`, request i is sent no earlier than i/rate seconds after the
start. Sending stops at `--count` requests or `--duration` seconds, whichever comes first; the
requests in flight then are waited for (at most `REQUEST_TIMEOUT` s each), so every event the
server stored has had its answer counted.

The result (JSON): requests sent, answers per status, transport errors, elapsed seconds,
latency percentiles in ms, and the distinct event ids answered 2xx.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bench import events
from bench.http1 import Connection, build_request
from bench.stats import summarize
from tests.harness import WEBHOOK_SECRET, stripe_signature

REQUEST_TIMEOUT = 10.0


@dataclass
class Plan:
    """What to send, in order: `requests[order[i]]` is the i-th request, `event_ids` name them."""

    requests: list[bytes]
    event_ids: list[str | None]
    order: list[int]


@dataclass
class Tally:
    latencies: array[float] = field(default_factory=lambda: array("d"))
    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    duplicates: int = 0
    accepted: set[str] = field(default_factory=set)
    sent: int = 0
    last_answer: float = 0.0


def build_plan(url: str, *, count: int, empty: bool, event_type: str, prefix: str, secret: str,
               duplicate_every: int) -> Plan:
    parts = urlsplit(url)
    target, host = parts.path or "/", parts.netloc
    if empty:
        return Plan([build_request("POST", target, host, {})], [None], [0] * count)
    requests: list[bytes] = []
    event_ids: list[str | None] = []
    order: list[int] = []
    timestamp = int(time.time())
    while len(order) < count:
        position = len(order)
        if duplicate_every and position % duplicate_every == duplicate_every - 1 and len(requests) > 10:
            order.append(len(requests) - 10)  # Stripe's at-least-once delivery: an event sent again
            continue
        ids = events.ids(prefix, len(requests))
        payload = events.body(event_type, ids)
        headers = {"Content-Type": "application/json; charset=utf-8",
                   "Stripe-Signature": stripe_signature(secret, payload, timestamp)}
        order.append(len(requests))
        requests.append(build_request("POST", target, host, headers, payload.encode()))
        event_ids.append(ids.event_id)
    return Plan(requests, event_ids, order)


MONTH_END_TYPES = ("invoice.finalized", "invoice.sent", "invoice.paid")


def month_end_plan(url: str, *, own: int, foreign: int, redelivered: float, seed: int, secret: str) -> Plan:
    """A month-end billing run: `invoice.finalized`, `.sent` and `.paid` for `own` invoices made in
    Slack (prefix `own`) and `foreign` made elsewhere (prefix `ext`), a `redelivered` fraction of
    them sent twice (Stripe's at-least-once), all shuffled (Stripe's order is no order)."""
    parts = urlsplit(url)
    target, host = parts.path or "/", parts.netloc
    timestamp = int(time.time())
    requests: list[bytes] = []
    event_ids: list[str | None] = []
    for prefix, invoices in (("own", own), ("ext", foreign)):
        for index in range(invoices):
            invoice = events.ids(prefix, index)
            for kind in MONTH_END_TYPES:
                ids = events.EventIds(f"evt_{prefix}_{kind.split('.')[1]}_{index:07d}", invoice.invoice_id,
                                      invoice.number)
                payload = events.body(kind, ids)
                headers = {"Content-Type": "application/json; charset=utf-8",
                           "Stripe-Signature": stripe_signature(secret, payload, timestamp)}
                requests.append(build_request("POST", target, host, headers, payload.encode()))
                event_ids.append(ids.event_id)
    shuffle = random.Random(seed)
    order = list(range(len(requests)))
    order += shuffle.sample(order, round(len(order) * redelivered))
    shuffle.shuffle(order)
    return Plan(requests, event_ids, order)


async def run(urls: list[str], plan: Plan, *, concurrency: int, duration: float, rate: float | None
              ) -> tuple[Tally, float]:
    """Connection `n` goes to `urls[n % len(urls)]`: several replicas share the load as behind a
    connection-balancing load balancer (the bench's own process, never a proxy that would cap it)."""
    addresses = [((parts := urlsplit(url)).hostname or "127.0.0.1", parts.port or 80) for url in urls]
    tally = Tally()
    next_position = 0
    started = time.perf_counter()
    deadline = started + duration

    def take() -> int | None:
        nonlocal next_position
        if next_position >= len(plan.order) or time.perf_counter() >= deadline:
            return None
        position = next_position
        next_position += 1
        return position

    async def worker(number: int) -> None:
        connection = Connection(*addresses[number % len(addresses)])
        try:
            while (position := take()) is not None:
                if rate:
                    delay = started + position / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                index = plan.order[position]
                sent_at = time.perf_counter()
                tally.sent += 1
                try:
                    status, body = await connection.request(plan.requests[index], REQUEST_TIMEOUT)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                    tally.transport_errors += 1
                    continue
                now = time.perf_counter()
                tally.latencies.append(now - sent_at)
                tally.last_answer = now
                tally.statuses[status] += 1
                event_id = plan.event_ids[index]
                if 200 <= status < 300 and event_id is not None:
                    tally.accepted.add(event_id)
                    if b'"duplicate":true' in body.replace(b" ", b""):
                        tally.duplicates += 1
        finally:
            connection.close()

    await asyncio.gather(*(worker(number) for number in range(concurrency)))
    return tally, (tally.last_answer or time.perf_counter()) - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sender", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, action="append", help="repeat for several replicas")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--count", type=int, default=150_000)
    parser.add_argument("--rate", type=float, default=None, help="requests per second (default: as fast as answered)")
    parser.add_argument("--empty", action="store_true", help="POST empty bodies (the ceiling route)")
    parser.add_argument("--event-type", default="invoice.updated")
    parser.add_argument("--prefix", default="ingest")
    parser.add_argument("--secret", default=WEBHOOK_SECRET)
    parser.add_argument("--duplicate-every", type=int, default=50, help="every Nth request re-sends an earlier event")
    parser.add_argument("--month-end", nargs=2, type=int, metavar=("OWN", "FOREIGN"),
                        help="send a month-end run instead (see month_end_plan) for OWN and FOREIGN invoices")
    parser.add_argument("--redelivered", type=float, default=0.05)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    if args.month_end:
        plan = month_end_plan(args.url[0], own=args.month_end[0], foreign=args.month_end[1],
                              redelivered=args.redelivered, seed=args.seed, secret=args.secret)
    else:
        plan = build_plan(args.url[0], count=args.count, empty=args.empty, event_type=args.event_type,
                          prefix=args.prefix, secret=args.secret, duplicate_every=args.duplicate_every)
    tally, elapsed = asyncio.run(run(args.url, plan, concurrency=args.concurrency, duration=args.duration,
                                     rate=args.rate))
    answered = sum(tally.statuses.values())
    result = {
        "sent": tally.sent,
        "answered": answered,
        "ok": sum(n for status, n in tally.statuses.items() if 200 <= status < 300),
        "statuses": {str(status): n for status, n in sorted(tally.statuses.items())},
        "transport_errors": tally.transport_errors,
        "duplicates_answered": tally.duplicates,
        "elapsed": elapsed,
        "ran_out": tally.sent >= len(plan.order),
        "latency_ms": summarize([latency * 1000 for latency in tally.latencies]).as_dict(),
        "accepted_ids": sorted(tally.accepted),
    }
    args.out.write_text(json.dumps(result))
    return 0 if answered else 1


if __name__ == "__main__":
    sys.exit(main())

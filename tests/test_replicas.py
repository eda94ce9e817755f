"""Issue 10: N stateless replicas of `invoicebot serve` on one PostgreSQL database.

Every replica here is a real `invoicebot serve` process (HTTP mode, its workers in a child
process) on a schema of the test's own, reached over HTTP with requests signed as Slack and
Stripe sign them, against the fake Slack and fake Stripe. What one replica starts, another may
finish; what two replicas receive at once happens once; a replica SIGKILLed under load loses and
repeats nothing. The load-balancer case sends through `tests/fakes/round_robin.py`.

Skipped without a PostgreSQL server (failed with REQUIRE_POSTGRES=1), as tests/test_postgres.py.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.bootstrap import CATALOG_REFRESH_SECONDS
from tests.contract.conftest import schema_url
from tests.fakes.round_robin import RoundRobinProxy
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import (
    PAYMENTS_CHANNEL,
    WEBHOOK_SECRET,
    BotProcess,
    bot_settings,
    execute_database,
    free_port,
    open_modal,
    query_database,
    stripe_signature,
    wait_for,
)

# Connections per process (a replica is two: serve and its worker process). Three replicas stay
# near 40 of PostgreSQL's default 100, leaving room for other tests on the same server.
REPLICA_POOL_SIZE = 6
FORM = {"customer_name": "Jenny Rosen", "customer_email": "jenny@example.com", "line_1_description": "Work",
        "line_1_unit_amount": "10.00"}


class Replicas:
    """`invoicebot serve` processes sharing one schema: started together, killed on `stop()`."""

    def __init__(self, schema: str, workdir: Path, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
        self.database_url = schema_url(schema)
        self.workdir = workdir
        self.fake_slack = fake_slack
        self.fake_stripe = fake_stripe
        self.processes: list[BotProcess] = []

    def start(self, count: int, **overrides: Any) -> list[BotProcess]:
        """`count` more replicas, started at once (they migrate the schema in turn at start-up)."""
        used = {process.settings.port for process in self.processes}
        new: list[BotProcess] = []
        for _ in range(count):
            port = free_port()
            while port in used:  # a port just handed to a sibling that has not bound it yet
                port = free_port()
            used.add(port)
            number = len(self.processes)
            settings = bot_settings(self.workdir / "unused.db", self.fake_slack.api_url, self.fake_stripe.url,
                                    database_url=self.database_url, database_pool_size=REPLICA_POOL_SIZE, port=port,
                                    **overrides)
            process = BotProcess(settings, log=self.workdir / f"replica-{number}.log")
            self.processes.append(process)  # before start: a replica that fails to start is still stopped
            new.append(process)
        with ThreadPoolExecutor(count) as pool:
            list(pool.map(BotProcess.start, new))
        return new

    def stop(self) -> None:
        for process in self.processes:
            process.stop()

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        return query_database(self.database_url, sql, params)

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> None:
        execute_database(self.database_url, sql, params)

    def wait_idle(self, timeout: float = 30.0) -> None:
        """No job due or running in the shared queue, whichever replica queued or holds it. (Any
        replica's `wait_idle` asks the database, not the process: a killed one's would do.)"""
        self.processes[0].wait_idle(timeout)

    def settle(self) -> None:
        """Stripe's webhooks delivered, and everything they queued done."""
        self.fake_stripe.flush_webhooks()
        self.wait_idle()

    def wait_for(self, probe: Callable[[], Any], timeout: float, what: str) -> Any:
        """`tests.harness.wait_for`, failing with the shared queue's jobs and the replicas' logs."""
        try:
            return wait_for(probe, timeout, what)
        except AssertionError as error:
            jobs = self.rows("SELECT kind, key, status, attempts, last_error FROM jobs WHERE status <> 'done' "
                             "ORDER BY id LIMIT 20")
            raise AssertionError(f"{error}\nunfinished jobs: {jobs}\n{self.logs()}") from None

    def logs(self) -> str:
        return "\n".join(f"--- {process.log.name}\n{process.log.read_text()[-2000:]}" for process in self.processes
                         if process.log.exists())



@pytest.fixture
def replicas(schema: str, tmp_path: Path, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> Iterator[Replicas]:
    group = Replicas(schema, tmp_path, fake_slack, fake_stripe)
    try:
        yield group
    finally:
        group.stop()


def top_level_messages(fake_slack: FakeSlack, channel: str) -> list[Any]:
    return [message for message in fake_slack.messages(channel) if not message.thread_ts]


def paid_event(number: int) -> dict[str, Any]:
    """`invoice.paid` for an invoice made outside Slack (announced in the payments channel only)."""
    invoice_id = f"in_rpl{number:06d}"
    return {
        "id": f"evt_rpl{number:06d}", "object": "event", "type": "invoice.paid", "created": int(time.time()),
        "livemode": False, "api_version": "2026-10-28.endive",
        "data": {"object": {"id": invoice_id, "object": "invoice", "status": "paid", "currency": "usd",
                            "total": 1000, "amount_paid": 1000, "amount_remaining": 0, "customer": f"cus_r{number}",
                            "customer_name": f"Customer {number}", "customer_email": f"c{number}@example.com",
                            "number": f"RPL-{number:06d}",
                            "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_id}"}},
    }


def announced(fake_slack: FakeSlack) -> Counter[str]:
    """How often each invoice number is named across the payments channel's messages (single
    notices and digests alike)."""
    counts: Counter[str] = Counter()
    for message in fake_slack.messages(PAYMENTS_CHANNEL):
        counts.update(re.findall(r"RPL-\d{6}", json.dumps(message.blocks)))
    return counts


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released together by a barrier; their results, in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait(10)
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


# --- the load balancer used below, on its own (no database) --------------------------------------
class _Echo(BaseHTTPRequestHandler):
    """An upstream that answers with its name, the body and the headers it got."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        reply = json.dumps({"upstream": self.server.server_address[1], "body": body.decode(),
                            "headers": dict(self.headers.items())}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass


def test_the_round_robin_proxy_takes_turns_skips_refused_upstreams_and_answers_502_when_all_refuse() -> None:
    upstreams = [ThreadingHTTPServer(("127.0.0.1", 0), _Echo) for _ in range(2)]
    for upstream in upstreams:
        threading.Thread(target=upstream.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    ports = [int(upstream.server_address[1]) for upstream in upstreams]
    dead = free_port()  # nothing listens there: connections are refused
    signed = {"Stripe-Signature": "t=1,v1=abc", "Content-Type": "application/json"}
    try:
        with RoundRobinProxy([f"http://127.0.0.1:{port}" for port in (ports[0], dead, ports[1])]) as proxy, \
                httpx.Client(base_url=proxy.url) as client:
            answers = [client.post("/stripe/webhook", content=b'{"n": %d}' % n, headers=signed).json()
                       for n in range(6)]
            assert [answer["upstream"] for answer in answers] == [ports[0], ports[1], ports[1]] * 2
            assert [answer["body"] for answer in answers] == [f'{{"n": {n}}}' for n in range(6)]
            assert all(answer["headers"]["Stripe-Signature"] == "t=1,v1=abc" for answer in answers)
            assert proxy.refused == Counter({f"http://127.0.0.1:{dead}": 2}) and proxy.bad_gateway == 0
        with RoundRobinProxy([f"http://127.0.0.1:{dead}"]) as proxy, httpx.Client(base_url=proxy.url) as client:
            assert client.post("/stripe/webhook", content=b"{}", headers=signed).status_code == 502
            assert proxy.bad_gateway == 1
    finally:
        for upstream in upstreams:
            upstream.shutdown()
            upstream.server_close()


# --- one request's work, begun on one replica and finished on another ---------------------------
def test_the_form_opened_on_one_replica_and_submitted_on_another_makes_the_invoice(
        replicas: Replicas, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    a, b = replicas.start(2)
    fake_stripe.add_webhook_endpoint(a.url + "/stripe/webhook", WEBHOOK_SECRET)
    view = open_modal(a, fake_slack)
    response = b.submit(view, FORM)
    assert response.status_code == 200 and response.json().get("response_action") == "update", response.text
    replicas.settle()
    (invoice,) = fake_stripe.objects("invoice")
    assert invoice["status"] == "open" and invoice["total"] == 1000
    assert [e["type"] for e in fake_stripe.events].count("invoice.sent") == 1
    (message,) = top_level_messages(fake_slack, "CSALES")
    assert invoice["hosted_invoice_url"] in json.dumps(message.blocks)
    (stored,) = replicas.rows("SELECT stripe_id, view_id, message_ts FROM invoices")
    assert stored == {"stripe_id": invoice["id"], "view_id": view["id"], "message_ts": message.ts}


def test_one_form_submitted_to_two_replicas_at_the_same_moment_makes_one_invoice(
        replicas: Replicas, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    a, b = replicas.start(2)
    fake_stripe.add_webhook_endpoint(a.url + "/stripe/webhook", WEBHOOK_SECRET)
    views = [open_modal(a, fake_slack) for _ in range(3)]  # three races: one would prove little
    for number, view in enumerate(views):
        values = {**FORM, "customer_email": f"race{number}@example.com"}
        responses = at_once([partial(replica.submit, view, values) for replica in (a, b)])
        for response in responses:
            assert response.status_code == 200 and response.json().get("response_action") == "update", response.text
    replicas.settle()
    invoices = fake_stripe.objects("invoice")
    assert len(invoices) == 3 and {invoice["status"] for invoice in invoices} == {"open"}
    assert len(fake_stripe.objects("customer")) == 3
    assert [e["type"] for e in fake_stripe.events].count("invoice.sent") == 3
    messages = top_level_messages(fake_slack, "CSALES")
    assert len(messages) == 3
    assert sorted(row["view_id"] for row in replicas.rows("SELECT view_id FROM invoices")) == sorted(
        view["id"] for view in views)


def test_a_stripe_event_delivered_to_one_replica_and_redelivered_to_another_is_processed_once(
        replicas: Replicas, fake_slack: FakeSlack) -> None:
    a, b = replicas.start(2)
    first, second = paid_event(1), paid_event(2)
    assert a.webhook(first).status_code == 200
    assert b.webhook(first).status_code == 200  # Stripe did not hear A's 2xx: it delivers again
    # And a redelivery racing the delivery, each to its own replica.
    assert [response.status_code for response in at_once([partial(a.webhook, second),
                                                           partial(b.webhook, second)])] == [200, 200]
    wait_for(lambda: len(announced(fake_slack)) == 2, 20, "both payments announced")
    replicas.wait_idle()
    assert announced(fake_slack) == Counter({"RPL-000001": 1, "RPL-000002": 1})
    assert len(fake_slack.messages(PAYMENTS_CHANNEL)) == 2
    assert Counter(row["id"] for row in replicas.rows("SELECT id FROM stripe_events")) == Counter(
        {"evt_rpl000001": 1, "evt_rpl000002": 1})


# --- periodic jobs ---------------------------------------------------------------------------------
def test_periodic_jobs_run_once_per_period_across_three_replicas(replicas: Replicas,
                                                                  fake_stripe: FakeStripe) -> None:
    """The periods are constants of bot/bootstrap.py (10 minutes for the catalog refresh), with no
    setting to shorten them; so the next period's start is brought forward in the database (the
    jobs are keyed by period) rather than waited for. Counted by what a run does outside: each
    catalog refresh lists Stripe's prices once (one page here)."""

    def catalog_refreshes() -> int:
        return sum(1 for request in fake_stripe.requests if request.method == "GET" and request.path == "/v1/prices")

    def periodic_jobs(status: str | None = None) -> list[dict[str, Any]]:
        return [job for job in replicas.rows("SELECT kind, key, status, attempts FROM jobs WHERE lane = 'periodic' "
                                             "ORDER BY kind, key") if status in (None, job["status"])]

    def refresh_windows(status: str | None = None) -> list[int]:
        return [int(job["key"].split(":")[1]) for job in periodic_jobs(status) if job["kind"] == "refresh_catalog"]

    def due_ones_done() -> bool:
        now = int(time.time() // CATALOG_REFRESH_SECONDS)
        return all(window > now for window in refresh_windows("pending")) and not periodic_jobs("running")

    before = int(time.time() // CATALOG_REFRESH_SECONDS)
    replicas.start(3)  # each ran its scheduler's first tick before answering /healthz: three ticks, one period
    after = int(time.time() // CATALOG_REFRESH_SECONDS)
    replicas.wait_for(lambda: refresh_windows("done") and due_ones_done(), 20, "this period's catalog refresh")
    # One job per period, this one and the next (queued ahead), not one per replica. (Three when a
    # period began while the replicas started: then each of the windows their ticks saw has one.)
    windows = refresh_windows()
    assert before <= windows[0] <= after and windows == list(range(windows[0], windows[0] + len(windows)))
    assert 2 <= len(windows) <= 3, windows
    assert catalog_refreshes() == len(refresh_windows("done")) >= 1

    # The next period begins: every replica's periodic worker polls for its jobs; one runs each.
    upcoming = [job["key"] for job in periodic_jobs("pending")]
    assert {key.split(":")[0] for key in upcoming} == {"refresh_catalog", "overdue_sweep", "prune_tables",
                                                       "chase_sweep", "digest_check"}
    for key in upcoming:
        replicas.execute("UPDATE jobs SET run_after = ? WHERE key = ?", (time.time(), key))
    replicas.wait_for(lambda: not periodic_jobs("running") and not set(upcoming) & {
        job["key"] for job in periodic_jobs("pending")}, 20, "the next period's jobs")
    replicas.wait_idle()
    assert catalog_refreshes() == len(refresh_windows("done")) >= 2
    # Each job was claimed once: a claim counts an attempt, so a second replica running it would show.
    finished = periodic_jobs("done")
    assert len(finished) >= 6 and all(job["attempts"] == 1 for job in finished), finished


# --- the load-balanced burst, a replica SIGKILLed in the middle ------------------------------------
SENDER_THREADS = 6
BURST = 2000


class StripeSender:
    """Delivers events as Stripe does: signed at each attempt; a connection error or a 5xx is tried
    again (sooner than Stripe's hours, so the test ends), a 2xx is done."""

    def __init__(self, url: str, *, give_up_after: float = 60.0) -> None:
        self.url = url
        self.give_up_after = give_up_after
        self.outcomes: dict[str, list[int | str]] = {}  # event id -> every attempt's status or error
        self._lock = threading.Lock()
        self.delivered = 0
        self.half_way = threading.Event()

    def deliver_all(self, events: list[dict[str, Any]], threads: int) -> None:
        bodies = iter([(event["id"], json.dumps(event)) for event in events])
        total = len(events)

        def sender() -> None:
            with httpx.Client(base_url=self.url, timeout=15) as client:
                while True:
                    with self._lock:
                        item = next(bodies, None)
                    if item is None:
                        return
                    attempts = self._deliver(client, *item)
                    with self._lock:
                        self.outcomes[item[0]] = attempts
                        self.delivered += 1
                        if self.delivered >= total // 2:
                            self.half_way.set()

        workers = [threading.Thread(target=sender, name=f"stripe-sender-{n}") for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    def _deliver(self, client: httpx.Client, event_id: str, body: str) -> list[int | str]:
        attempts: list[int | str] = []
        deadline, backoff = time.monotonic() + self.give_up_after, 0.05
        while True:
            headers = {"Content-Type": "application/json",
                       "Stripe-Signature": stripe_signature(WEBHOOK_SECRET, body)}
            try:
                status = client.post("/stripe/webhook", content=body.encode(), headers=headers).status_code
            except httpx.TransportError as error:
                attempts.append(type(error).__name__)
            else:
                attempts.append(status)
                if status < 500:
                    return attempts  # 2xx: done; 4xx: Stripe would not retry either (the test says so)
            if time.monotonic() > deadline:
                return attempts
            time.sleep(backoff)  # Stripe's retry backoff, shortened
            backoff = min(backoff * 2, 1.0)


def test_three_replicas_behind_a_load_balancer_announce_a_burst_once_when_one_is_killed(
        replicas: Replicas, fake_slack: FakeSlack) -> None:
    fake_slack.enforce_pace(posts_per_second=1.0)  # Slack's pace per channel, 429 past it
    processes = replicas.start(3)
    victim = processes[1]
    events = [paid_event(number) for number in range(BURST)]
    with RoundRobinProxy([process.url for process in processes]) as proxy:
        sender = StripeSender(proxy.url)
        sending = threading.Thread(target=sender.deliver_all, args=(events, SENDER_THREADS), name="stripe")
        sending.start()
        try:
            assert sender.half_way.wait(60), "half of the burst was not delivered within a minute"
            victim.kill()  # SIGKILL: no drain; its worker process dies with it
        finally:
            sending.join(120)
        assert not sending.is_alive()
        assert all(proxy.forwarded[process.url] for process in processes), proxy.forwarded
        assert proxy.refused[victim.url] > 0  # the load balancer did route around the dead replica

    undelivered = {event_id: attempts for event_id, attempts in sender.outcomes.items()
                   if not isinstance(attempts[-1], int) or not 200 <= attempts[-1] < 300}
    assert len(sender.outcomes) == BURST and undelivered == {}, list(undelivered.items())[:5]

    expected = Counter({f"RPL-{number:06d}": 1 for number in range(BURST)})
    replicas.wait_for(lambda: len(announced(fake_slack)) == BURST, 60, "every payment announced")
    replicas.wait_idle(timeout=30)
    counts = announced(fake_slack)
    assert counts == expected, {number: n for number, n in counts.items() if n != 1}
    assert len(replicas.rows("SELECT id FROM stripe_events")) == BURST

    posts = [call for call in fake_slack.calls_to("chat.postMessage") if call.args.get("channel") == PAYMENTS_CHANNEL]
    rate_limited = [call for call in posts if call.status == 429]
    # Three replicas share the channel's pace only if they share its account in the database.
    assert len(rate_limited) <= 0.01 * len(posts), (
        f"{len(rate_limited)} of {len(posts)} chat.postMessage calls to the payments channel got 429")

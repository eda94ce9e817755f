"""Lanes: people never wait behind a backlog, a rep's own news comes before bulk, no lane starves.
Not timed: orders and counts, with real stores and real workers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.domain.invoices import InvoiceSnapshot
from bot.domain.tenants import DEFAULT_TENANT
from bot.jobs.model import Lane
from bot.jobs.payloads import ChannelNotice, CreateInvoice, ProcessEvent, RefreshMessage
from bot.jobs.registry import Registry
from bot.jobs.worker import LaneConfig, LaneSignals, Workers
from bot.store.sqlite import SqliteStore
from bot.webhook import CheckedEvent, WebhookReceiver
from tests.harness import wait_for

ALL_LANES = [LaneConfig(lane, 1) for lane in Lane]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(str(tmp_path / "lanes.db"))
    yield opened
    opened.close()


def submission(view_id: str) -> CreateInvoice:
    return CreateInvoice(view_id=view_id, team_id="T1", user_id="UREP", channel_id="C1", customer_id="cus_1",
                         customer_name=None, customer_email=None, currency="usd", lines=[], days_until_due=30,
                         memo=None, send_now=True)


def backlog(store: SqliteStore, notices: int, events: int) -> None:
    with store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.jobs.add_many([(ChannelNotice(invoice_id=f"in_{n}", channel="CPAY", kind="paid"), f"notice:{n}")
                           for n in range(notices)])
        uow.jobs.add_many([(ProcessEvent(event_id=f"evt_{n}"), f"event:evt_{n}") for n in range(events)])
        uow.commit()


def pool(store: SqliteStore, registry: Registry, **options: object) -> Workers:
    signals = LaneSignals()
    store.on_commit(signals.wake)
    lanes = options.pop("lanes", ALL_LANES)
    return Workers(store.queue, registry, lanes, signals=signals, poll_interval=0.05, **options)  # type: ignore[arg-type]


def test_a_reps_job_is_claimed_before_10000_waiting_bulk_jobs(store: SqliteStore) -> None:
    backlog(store, notices=10_000, events=10_000)
    with store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.jobs.add(submission("V_REP"), "create:V_REP")  # queued after all of them
        uow.commit()
    claimed = store.queue.claim(Lane.INTERACTIVE, "me", 30)
    assert [job.key for job in claimed] == ["create:V_REP"]
    assert [job.key for job in store.queue.claim(Lane.BULK, "me", 30)] == ["notice:0"]  # bulk keeps its order


def test_a_reps_invoice_is_made_while_bulk_work_is_stuck(store: SqliteStore) -> None:
    """Every bulk worker busy (here: blocked) does not hold a rep's job back."""
    backlog(store, notices=10_000, events=0)
    bulk_started, release = threading.Event(), threading.Event()
    made: list[str] = []
    registry = Registry()
    registry.add(ChannelNotice, lambda notice, job: (bulk_started.set(), release.wait(10)) and None)
    registry.add(CreateInvoice, lambda payload, job: made.append(payload.view_id))
    workers = pool(store, registry)
    workers.start()
    try:
        wait_for(bulk_started.is_set, 5, "bulk work to start")
        with store.unit_of_work(DEFAULT_TENANT) as uow:
            uow.jobs.add(submission("V_REP"), "create:V_REP")
            uow.commit()
        wait_for(lambda: made == ["V_REP"], 5, "the rep's invoice")
    finally:
        release.set()
        workers.stop()


def test_no_lane_starves_while_interactive_work_keeps_coming(store: SqliteStore) -> None:
    """Interactive jobs arrive faster than they run; bulk notices still get their share meanwhile."""
    done: list[str] = []
    registry = Registry()
    registry.add(CreateInvoice, lambda payload, job: (time.sleep(0.01), done.append("interactive")) and None)
    registry.add(ChannelNotice, lambda notice, job: (time.sleep(0.01), done.append("bulk")) and None)
    registry.add(RefreshMessage, lambda refresh, job: (time.sleep(0.01), done.append("own")) and None)
    backlog(store, notices=50, events=0)
    with store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.jobs.add_many([(RefreshMessage(invoice_id=f"in_{n}"), f"refresh:{n}") for n in range(50)])
        uow.commit()
    stop = threading.Event()

    def keep_submitting() -> None:
        number = 0
        while not stop.is_set():
            with store.unit_of_work(DEFAULT_TENANT) as uow:
                uow.jobs.add_many([(submission(f"V{number + n}"), f"create:V{number + n}") for n in range(5)])
                uow.commit()
            number += 5
            stop.wait(0.02)  # 250 a second against a worker that runs at most 100

    workers = pool(store, registry)
    feeder = threading.Thread(target=keep_submitting)
    workers.start()
    feeder.start()
    try:
        wait_for(lambda: done.count("bulk") == 50 and done.count("own") == 50, 20, "bulk and own work to finish")
        assert store.queue.waiting().get((Lane.INTERACTIVE, "pending"), 0) > 0  # interactive work still queued
    finally:
        stop.set()
        feeder.join()
        workers.stop()


def test_an_event_about_a_reps_invoice_is_decided_on_the_reps_lane(store: SqliteStore) -> None:
    snapshot = InvoiceSnapshot(stripe_id="in_rep", status="open", currency="usd", total=1000, amount_paid=0,
                               amount_remaining=1000, due_date=None, number="REP-1", customer_name="Acme",
                               customer_email=None, hosted_url=None)
    with store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.invoices.add_own(snapshot, channel_id="CSALES", rep_user_id="UREP", team_id="T1", view_id="V1")
        uow.commit()
    backlog(store, notices=0, events=2_000)
    receiver = WebhookReceiver(store, "whsec_test")
    try:
        events = [{"id": f"evt_{invoice}", "type": "invoice.paid", "data": {"object": {"id": invoice,
                                                                                     "object": "invoice"}}}
                  for invoice in ("in_rep", "in_elsewhere")]
        assert receiver.store_events([CheckedEvent(event, json.dumps(event)) for event in events]) == [True, True]
    finally:
        receiver.close()
    own = store.queue.claim(Lane.OWN_EVENTS, "me", 30)
    assert [job.key for job in own] == ["event:evt_in_rep"]
    assert ProcessEvent.model_validate(own[0].payload).own
    assert store.queue.waiting()[(Lane.EVENTS, "pending")] == 2_001  # the other one joins the backlog


def test_the_benchmarks_single_fifo_line_runs_every_lane_in_arrival_order(store: SqliteStore) -> None:
    order: list[str] = []
    registry = Registry()
    for payload_type in (CreateInvoice, ChannelNotice, RefreshMessage, ProcessEvent):
        registry.add(payload_type, lambda payload, job: order.append(job.key))
    with store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.jobs.add(ProcessEvent(event_id="evt_1"), "event:1")
        uow.jobs.add(ChannelNotice(invoice_id="in_1", channel="CPAY", kind="paid"), "notice:1")
        uow.jobs.add(submission("V1"), "create:V1")
        uow.jobs.add(RefreshMessage(invoice_id="in_1"), "refresh:1")
        uow.commit()
    workers = pool(store, registry, lanes=[LaneConfig(Lane.INTERACTIVE, 1)], single_fifo=True)
    workers.start()
    try:
        wait_for(lambda: len(order) == 4, 5, "every job")
    finally:
        workers.stop()
    assert order == ["event:1", "notice:1", "create:V1", "refresh:1"]  # one line: the rep waited its turn

"""Faults inside the core: a crash between deciding an event and queuing its messages, and a
worker loop failing under a running bot while `/healthz` watches."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import pytest

from bot.adapters.courier import Courier
from bot.adapters.slack import SlackOut, build_web_client
from bot.adapters.stripe import StripeGateway
from bot.domain.tenants import DEFAULT_TENANT
from bot.jobs.model import Job, JobPayload
from bot.services.messages import InvoiceMessages
from bot.services.notifications import Notifications
from bot.store.ports import Store, UnitOfWork
from bot.store.scope import TenantScope
from bot.store.sqlite import SqliteStore
from tests.fakes.slack_fake import FakeSlack
from tests.harness import BOT_TOKEN, RunningBot, bot_settings, wait_for


class Crash(Exception):
    """The process died here."""


class CrashingOutbox:
    def __init__(self, outbox: Any) -> None:
        self.outbox = outbox

    def add(self, payload: JobPayload, key: str, *, delay: float = 0.0, channel: str | None = None) -> bool:
        raise Crash(f"died queuing {key}")


class UnitOfWorkThatDiesQueuing:
    """A unit of work whose outbox dies: everything before it in the transaction happened."""

    def __init__(self, inner: UnitOfWork) -> None:
        self.inner = inner

    def __enter__(self) -> UnitOfWorkThatDiesQueuing:
        self.inner.__enter__()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.inner.__exit__(kind, error, trace)

    @property
    def jobs(self) -> CrashingOutbox:
        return CrashingOutbox(self.inner.jobs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


class StoreThatDiesQueuing:
    def __init__(self, inner: SqliteStore) -> None:
        self.inner = inner

    def unit_of_work(self, tenant: str) -> UnitOfWorkThatDiesQueuing:
        return UnitOfWorkThatDiesQueuing(self.inner.unit_of_work(tenant))

    def tenant(self, tenant: str) -> TenantScope:
        return TenantScope(self, tenant)  # type: ignore[arg-type]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def notifications_on(store: Any, slack_url: str) -> Notifications:
    slack = SlackOut(build_web_client(BOT_TOKEN, slack_url))
    scope = store.tenant(DEFAULT_TENANT)
    courier = Courier(scope, slack)
    return Notifications(scope, slack, StripeGateway("sk_test_unused", "http://127.0.0.1:9"),
                         InvoiceMessages(scope, slack, courier), courier, payments_channel="CPAYMENTS")


def test_a_crash_between_deciding_an_event_and_queuing_its_messages_leaves_neither(
        tmp_path: Path, fake_slack: FakeSlack) -> None:
    store = SqliteStore(str(tmp_path / "decide.db"))
    event = {"id": "evt_paid", "type": "invoice.paid", "created": 100,
             "data": {"object": {"id": "in_1", "object": "invoice", "status": "paid", "currency": "usd",
                                 "total": 1000, "amount_paid": 1000, "number": "INV-1"}}}
    with store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.events.record(event, json.dumps(event))
        uow.commit()
    with pytest.raises(Crash):
        notifications_on(StoreThatDiesQueuing(store), fake_slack.api_url).process_event("evt_paid")
    stored = store.reads(DEFAULT_TENANT).events.get("evt_paid")
    assert stored is not None and stored.outcome is None and stored.processed_at is None
    assert store.reads(DEFAULT_TENANT).invoices.get("in_1") is None  # the state change went with the decision
    assert store.queue.stats().counts == {}
    # The restarted worker decides again, and this time both the decision and its notice land.
    notifications_on(store, fake_slack.api_url).process_event("evt_paid")
    decided = store.reads(DEFAULT_TENANT).events.get("evt_paid")
    assert decided is not None and decided.outcome is not None and json.loads(decided.outcome)["notice"] == "paid"
    assert (store.reads(DEFAULT_TENANT).invoices.get("in_1") or decided).status == "paid"
    assert store.queue.stats().counts == {"pending": 1}
    store.close()


class StoreWithFlakyClaims:
    """The bot's real store, whose job claims fail while `failing` is set (a locked database)."""

    def __init__(self, inner: SqliteStore) -> None:
        self.inner = inner
        self.failing = threading.Event()
        outer = self

        class Queue:
            def claim(self, lane: str, owner: str, lease_seconds: float, limit: int = 1) -> list[Job]:
                if outer.failing.is_set():
                    raise sqlite3.OperationalError("database is locked")
                return inner.queue.claim(lane, owner, lease_seconds, limit)

            def __getattr__(self, name: str) -> Callable[..., Any]:
                return getattr(inner.queue, name)  # type: ignore[no-any-return]

        self.queue = Queue()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_healthz_says_503_while_a_worker_loop_restarts_then_200(tmp_path: Path, fake_slack: FakeSlack,
                                                                 stripe_server: Any) -> None:
    settings = bot_settings(tmp_path / "health.db", fake_slack.api_url, stripe_server.url)
    store = StoreWithFlakyClaims(SqliteStore(settings.database_url.removeprefix("sqlite:///")))
    bot = RunningBot(settings, store=cast(Store, store)).start()
    try:
        assert bot.http.get("/healthz").status_code == 200
        store.failing.set()
        unhealthy = wait_for(lambda: (r := bot.http.get("/healthz")).status_code == 503 and r.json(), 10,
                             "healthz to report the failing workers")
        assert unhealthy["workers"]["restarting"] and unhealthy["database"] == "ok"
        store.failing.clear()
        wait_for(lambda: bot.http.get("/healthz").status_code == 200, 10, "healthz to recover")
        assert bot.http.get("/healthz").json()["workers"]["restarts"] >= 1
    finally:
        bot.stop()

"""Repositories and the unit of work: what every store must do, whatever its database."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from bot.domain.invoices import InvoiceLine, InvoiceSnapshot
from bot.domain.records import Price
from bot.domain.tenants import DEFAULT_TENANT
from bot.jobs.payloads import ProcessEvent, RefreshMessage
from bot.store.ports import Store, UnitOfWork
from tests.contract.conftest import FakeClock

T = DEFAULT_TENANT  # the tenant these tests write and read (isolation is tested with a second one)


def write(store: Store, change: Callable[[UnitOfWork], Any]) -> Any:
    with store.unit_of_work(T) as uow:
        result = change(uow)
        uow.commit()
    return result


def snapshot(stripe_id: str = "in_1", status: str = "open", **fields: Any) -> InvoiceSnapshot:
    values: dict[str, Any] = {"currency": "usd", "number": "INV-0001", "total": 1000, "amount_remaining": 1000,
                              "due_date": 1_800_100_000, "customer_id": "cus_1", "customer_name": "Jenny Rosen",
                              "customer_email": "jenny@example.com", **fields}
    return InvoiceSnapshot(stripe_id=stripe_id, status=status, **values)


# --- the unit of work ----------------------------------------------------------------------------
def test_a_unit_of_work_commits_everything_or_nothing(store: Store) -> None:
    with store.unit_of_work(T) as uow:
        uow.invoices.apply(snapshot(), 100)
        uow.jobs.add(RefreshMessage(invoice_id="in_1"), "refresh:1")
        # leaving without commit rolls back
    assert store.reads(T).invoices.get("in_1") is None and store.queue.stats().counts == {}
    with pytest.raises(RuntimeError), store.unit_of_work(T) as uow:
        uow.invoices.apply(snapshot(), 100)
        uow.jobs.add(RefreshMessage(invoice_id="in_1"), "refresh:1")
        raise RuntimeError("a crash between the state change and the commit")
    assert store.reads(T).invoices.get("in_1") is None and store.queue.stats().counts == {}
    write(store, lambda uow: (uow.invoices.apply(snapshot(), 100),
                              uow.jobs.add(RefreshMessage(invoice_id="in_1"), "refresh:1")))
    assert store.reads(T).invoices.get("in_1") is not None and store.queue.stats().counts == {"pending": 1}


def test_commit_tells_subscribers_which_lanes_got_jobs_after_the_commit(store: Store) -> None:
    seen: list[tuple[set[str], bool]] = []
    store.on_commit(lambda lanes: seen.append((lanes, store.reads(T).events.get("evt_1") is not None)))
    write(store, lambda uow: uow.invoices.apply(snapshot(), 100))
    assert seen == []  # no jobs, nothing to wake
    write(store, lambda uow: (uow.events.record({"id": "evt_1", "type": "x"}, "{}"),
                              uow.jobs.add(ProcessEvent(event_id="evt_1"), "event:evt_1")))
    assert seen == [({"events"}, True)]  # told after the commit: the job is visible to whoever wakes


def test_a_read_completes_while_a_write_transaction_is_held_open(store: Store) -> None:
    write(store, lambda uow: uow.invoices.apply(snapshot(), 100))
    holding, release = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with store.unit_of_work(T) as uow:
            uow.invoices.apply(snapshot(status="paid"), 200)
            holding.set()
            release.wait(10)
            uow.commit()

    writer = threading.Thread(target=slow_writer)
    writer.start()
    try:
        assert holding.wait(5)
        started = time.monotonic()
        found = store.reads(T).invoices.get("in_1")
        prices = store.reads(T).prices.search("")
        assert time.monotonic() - started < 0.5
        assert found is not None and found.status == "open" and prices == []  # the last committed state
    finally:
        release.set()
        writer.join(10)
    assert (store.reads(T).invoices.get("in_1") or snapshot()).status == "paid"


def test_writers_in_two_stores_on_one_database_take_turns(make_store: Callable[[], Store]) -> None:
    first, second = make_store(), make_store()
    errors: list[BaseException] = []

    def add(store: Store, start: int) -> None:
        try:
            for number in range(start, start + 50):
                write(store, lambda uow, n=number: uow.customers.save(f"cus_{n}", f"c{n}@example.com", f"C {n}"))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=add, args=(first, 0)), threading.Thread(target=add, args=(second, 50))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(first.reads(DEFAULT_TENANT).customers.search("", limit=500)) == 100


# --- customers and prices ------------------------------------------------------------------------
def test_customers_are_found_by_id_email_and_search(store: Store) -> None:
    write(store, lambda uow: (uow.customers.save("cus_1", " Jenny@Example.com ", "Jenny Rosen"),
                              uow.customers.save("cus_2", "pct@example.com", "100% Pure_Co")))
    assert store.reads(T).customers.get("cus_1") is not None
    assert (store.reads(T).customers.by_email("JENNY@example.com") or snapshot()).stripe_id == "cus_1"
    assert [c.stripe_id for c in store.reads(T).customers.search("jenny")] == ["cus_1"]
    # LIKE's wildcards in the query are plain characters
    assert [c.stripe_id for c in store.reads(T).customers.search("0% p")] == ["cus_2"]
    assert store.reads(T).customers.search("_") == [c for c in store.reads(T).customers.search("pure_co")]
    write(store, lambda uow: uow.customers.save("cus_1", "jenny@example.com", "Jenny R."))
    assert (store.reads(T).customers.get("cus_1") or snapshot()).name == "Jenny R."


def test_a_full_refresh_forgets_customers_and_retires_prices_it_did_not_see(store: Store, clock: FakeClock) -> None:
    write(store, lambda uow: (uow.customers.save("cus_old", "old@example.com", "Old"),
                              uow.prices.save(Price("price_old", "prod_1", "Old", 100, "usd"))))
    clock.advance(10)
    started = clock()
    write(store, lambda uow: (uow.customers.save("cus_new", "new@example.com", "New"),
                              uow.prices.save(Price("price_new", "prod_2", "New", 200, "usd"))))
    assert write(store, lambda uow: (uow.prices.retire_unseen(started), uow.customers.forget_unseen(started))) == (1, 1)
    assert store.reads(T).customers.get("cus_old") is None
    assert [p.stripe_id for p in store.reads(T).prices.search("")] == ["price_new"]
    assert (store.reads(T).prices.get("price_old") or Price("", "", "", 0, "", True)).active is False


def test_prices_search_by_name_or_id_active_only(store: Store) -> None:
    write(store, lambda uow: (uow.prices.save(Price("price_1", "prod_1", "Gold Special", 1000, "usd")),
                              uow.prices.save(Price("price_2", "prod_2", "Silver", 500, "eur", active=False))))
    assert [p.stripe_id for p in store.reads(T).prices.search("gold")] == ["price_1"]
    assert [p.stripe_id for p in store.reads(T).prices.search("price_1")] == ["price_1"]
    assert store.reads(T).prices.search("silver") == []
    assert store.reads(T).prices.get("price_2") == Price("price_2", "prod_2", "Silver", 500, "eur", active=False)


# --- invoices ------------------------------------------------------------------------------------
def test_status_only_moves_forward(store: Store) -> None:
    def apply(status: str, at: int) -> tuple[bool, bool]:
        change = write(store, lambda uow: uow.invoices.apply(snapshot(status=status), at))
        return change.applied, change.status_changed

    assert apply("draft", 100) == (True, True)
    assert apply("paid", 300) == (True, True)
    assert apply("open", 200) == (False, False)  # a late finalize never reopens a paid invoice
    assert apply("open", 400) == (False, False)
    assert apply("paid", 400) == (True, False)
    assert apply("void", 500) == (False, False)  # of two final states, the first one known stays
    assert (store.reads(T).invoices.get("in_1") or snapshot()).status == "paid"


def test_what_only_the_bot_knows_survives_snapshots(store: Store) -> None:
    rep_lines = (InvoiceLine("Consulting, the rep's words", 2, 2000),)
    write(store, lambda uow: uow.invoices.add_own(snapshot(status="draft"), channel_id="CSALES",
                                                  rep_user_id="UREP", team_id="T1", view_id="V1"))
    write(store, lambda uow: uow.invoices.set_lines("in_1", rep_lines))
    write(store, lambda uow: uow.invoices.set_message("in_1", "CSALES", "1.000100"))
    known = store.reads(T).invoices.get("in_1")
    stripe_lines = snapshot(status="open", total=2000, lines=(InvoiceLine(None, 2, 2000),)).keeping_lines_of(known)
    write(store, lambda uow: uow.invoices.apply(stripe_lines, 100))
    invoice = store.reads(T).invoices.by_view("V1")
    assert invoice is not None and invoice.status == "open" and invoice.total == 2000
    assert invoice.lines == rep_lines and invoice.rep_user_id == "UREP" and invoice.message_ts == "1.000100"
    assert invoice.made_in_slack and invoice.has_message
    write(store, lambda uow: uow.invoices.mark_reminded("in_1", 1234.5))
    assert (store.reads(T).invoices.get("in_1") or invoice).last_reminded_at == 1234.5


def test_invoices_are_found_listed_and_totalled(store: Store, clock: FakeClock) -> None:
    now = int(clock())
    write(store, lambda uow: [
        uow.invoices.apply(snapshot("in_open", number="A-1", due_date=now + 86400, customer_name="Ann"), 1),
        uow.invoices.apply(snapshot("in_late", number="A-2", due_date=now - 86400, customer_name="Bob"), 1),
        uow.invoices.apply(snapshot("in_paid", "paid", number="A-3", amount_paid=1000, amount_remaining=0), 1),
        uow.invoices.apply(snapshot("in_yen", currency="jpy", number="Y-1", total=5000, amount_remaining=5000,
                                    due_date=now + 86400), 1),
        uow.invoices.apply(snapshot("in_gone", "deleted", number=None), 1),
    ])
    assert (store.reads(T).invoices.find("a-2") or snapshot()).stripe_id == "in_late"
    assert (store.reads(T).invoices.find("in_yen") or snapshot()).currency == "jpy"
    assert {i.stripe_id for i in store.reads(T).invoices.search()} == {"in_open", "in_late", "in_paid", "in_yen"}
    assert [i.stripe_id for i in store.reads(T).invoices.search(status="overdue")] == ["in_late"]
    assert [i.stripe_id for i in store.reads(T).invoices.search(text="bob")] == ["in_late"]
    assert len(store.reads(T).invoices.search(limit=2)) == 2 and len(store.reads(T).invoices.search(offset=3)) == 1
    totals = {t.currency: t for t in store.reads(T).invoices.totals()}
    assert (totals["usd"].open_total, totals["usd"].open_count, totals["usd"].overdue_count) == (2000, 2, 1)
    assert totals["usd"].paid_month == 1000 and totals["jpy"].open_total == 5000
    assert [i.stripe_id for i in store.reads(T).invoices.overdue_unannounced()] == ["in_late"]
    assert write(store, lambda uow: uow.invoices.mark_overdue_once("in_late", clock())) is True
    assert write(store, lambda uow: uow.invoices.mark_overdue_once("in_late", clock())) is False
    assert store.reads(T).invoices.overdue_unannounced() == []


def test_a_reps_invoices_newest_first_without_deleted_drafts(store: Store, clock: FakeClock) -> None:
    for number in range(3):
        clock.advance(1)
        write(store, lambda uow, n=number: uow.invoices.add_own(
            snapshot(f"in_{n}", status="deleted" if n == 1 else "open"), channel_id="C", rep_user_id="UREP",
            team_id="T", view_id=f"V{n}"))
    assert [i.stripe_id for i in store.reads(T).invoices.of_rep("UREP")] == ["in_2", "in_0"]


# --- events, deliveries, audit, routes -----------------------------------------------------------
def test_events_are_stored_once_and_decided_once(store: Store) -> None:
    event = {"id": "evt_1", "type": "invoice.paid", "created": 7, "data": {"object": {"id": "in_1"}}}
    assert write(store, lambda uow: uow.events.record(event, '{"raw": true}')) is True
    assert write(store, lambda uow: uow.events.record(event, "{}")) is False
    stored = store.reads(T).events.get("evt_1")
    assert stored is not None and stored.payload == {"raw": True} and stored.object_id == "in_1"
    assert stored.outcome is None and stored.processed_at is None
    write(store, lambda uow: uow.events.decide("evt_1", '{"notice": "paid"}'))
    decided = store.reads(T).events.get("evt_1")
    assert decided is not None and decided.outcome == '{"notice": "paid"}' and decided.processed_at is not None
    seen = store.reads(T).events.for_invoice("in_1")
    assert [(e.type, e.created) for e in seen] == [("invoice.paid", 7)]


def test_a_delivery_is_begun_once_and_remembers_its_ts(store: Store) -> None:
    assert write(store, lambda uow: uow.deliveries.begin("notice:1", "CPAY", None)) is None
    earlier = write(store, lambda uow: uow.deliveries.begin("notice:1", "CPAY", None))
    assert earlier is not None and not earlier.sent and earlier.channel == "CPAY"
    write(store, lambda uow: uow.deliveries.finish("notice:1", "1.2"))
    again = write(store, lambda uow: uow.deliveries.begin("notice:1", "CPAY", None))
    assert again is not None and again.sent and again.ts == "1.2"


def test_audit_and_routes_round_trip(store: Store) -> None:
    write(store, lambda uow: uow.audit.add("UREP", "void", "in_1", {"invoice": "in_1"}, {"status": "void"}))
    (entry,) = store.reads(T).audit.for_invoice("in_1")
    assert (entry.actor, entry.action, entry.stripe_ids, entry.detail) == ("UREP", "void", {"invoice": "in_1"},
                                                                          {"status": "void"})
    write(store, lambda uow: uow.routes.set("customer", "jenny@example.com", "CVIP", "UADMIN"))
    write(store, lambda uow: uow.routes.set("customer", "jenny@example.com", "CGOLD", "UADMIN"))
    assert store.reads(T).routes.lookup("customer", "jenny@example.com") == "CGOLD"
    assert [(r.kind, r.key, r.channel_id) for r in store.reads(T).routes.all()] == [
        ("customer", "jenny@example.com", "CGOLD")]
    assert store.reads(T).routes.lookup("rep", "UREP") is None

"""Tenants never cross: every repository call made for tenant A neither sees nor touches tenant B's
rows, even where both hold the same Stripe or Slack ids (one Stripe account connected by two
workspaces; a Slack Connect channel shared by both)."""

from __future__ import annotations

from typing import Any

from bot.domain.invoices import InvoiceSnapshot
from bot.domain.records import Price, Visibility
from bot.jobs.payloads import ChannelNotice, ProcessEvent, RefreshMessage
from bot.store.ports import Store, UnitOfWork
from tests.contract.conftest import FakeClock

A, B = "t_alpha", "t_beta"
EVENT = {"id": "evt_1", "type": "invoice.paid", "created": 5, "data": {"object": {"id": "in_1"}}}


def snapshot(status: str = "open", total: int = 1000) -> InvoiceSnapshot:
    return InvoiceSnapshot(stripe_id="in_1", status=status, currency="usd", number="INV-1", total=total,
                           amount_remaining=total, due_date=1_700_000_000, customer_id="cus_1",
                           customer_name="Jenny", customer_email="jenny@example.com")


def fill(uow: UnitOfWork, tenant: str, total: int) -> None:
    """The same ids in each tenant, with values that tell them apart."""
    uow.customers.save("cus_1", f"{tenant}@example.com", tenant)
    uow.prices.save(Price("price_1", "prod_1", f"Plan {tenant}", total, "usd", True))
    uow.invoices.add_own(snapshot(total=total), channel_id="CSHARED", rep_user_id=f"U{tenant}", team_id=tenant,
                         view_id="V1")
    uow.invoices.set_message("in_1", "CSHARED", f"{total}.0001")
    uow.events.record(EVENT, "{}")
    uow.deliveries.begin("notice:evt_1:CSHARED", "CSHARED", None)
    uow.audit.add(f"U{tenant}", "created", "in_1", {}, {"tenant": tenant})
    uow.routes.set("customer", "cus_1", f"C{tenant}", f"U{tenant}")
    uow.jobs.add(ProcessEvent(event_id="evt_1"), "event:evt_1")


def write(store: Store, tenant: str, change: Any) -> Any:
    with store.unit_of_work(tenant) as uow:
        result = change(uow)
        uow.commit()
    return result


def test_two_tenants_with_the_same_ids_each_see_only_their_own(store: Store, clock: FakeClock) -> None:
    write(store, A, lambda uow: fill(uow, A, 1000))
    write(store, B, lambda uow: fill(uow, B, 2000))  # same keys: no conflict with A's rows
    for tenant, total in ((A, 1000), (B, 2000)):
        reads = store.reads(tenant)
        assert (reads.customers.get("cus_1") or snapshot()).name == tenant  # type: ignore[union-attr]
        assert [c.name for c in reads.customers.search("")] == [tenant]
        assert (reads.customers.by_email(f"{tenant}@example.com")) is not None
        assert reads.customers.by_email(f"{({A: B, B: A}[tenant])}@example.com") is None
        assert [p.unit_amount for p in reads.prices.search("plan")] == [total]
        invoice = reads.invoices.get("in_1")
        assert invoice is not None and invoice.total == total and invoice.rep_user_id == f"U{tenant}"
        assert (reads.invoices.by_view("V1") or invoice).total == total
        assert [i.total for i in reads.invoices.search()] == [total]
        assert [i.total for i in reads.invoices.search(visible=Visibility(f"U{tenant}", frozenset()))] == [total]
        assert [i.total for i in reads.invoices.of_rep(f"U{tenant}")] == [total]
        assert reads.invoices.of_rep(f"U{({A: B, B: A}[tenant])}") == []
        assert [t.open_total for t in reads.invoices.totals()] == [total]
        assert reads.invoices.made_in_slack(["in_1"]) == {"in_1"}
        assert len(reads.events.get_many(["evt_1"])) == 1 and len(reads.events.for_invoice("in_1")) == 1
        assert [e.detail for e in reads.audit.for_invoice("in_1")] == [{"tenant": tenant}]
        assert reads.routes.lookup("customer", "cus_1") == f"C{tenant}"
        assert [r.channel_id for r in reads.routes.all()] == [f"C{tenant}"]
        assert reads.deliveries.get("notice:evt_1:CSHARED") is not None
    # Both jobs were queued (the key is unique per tenant), and each names its tenant.
    claimed = store.queue.claim("events", "worker", 30, limit=10)
    assert sorted(job.tenant_id for job in claimed) == [A, B]


def test_a_change_for_one_tenant_never_reaches_the_other(store: Store, clock: FakeClock) -> None:
    write(store, A, lambda uow: fill(uow, A, 1000))
    write(store, B, lambda uow: fill(uow, B, 2000))
    write(store, A, lambda uow: (uow.invoices.apply(snapshot("paid", 1000), 10),
                                 uow.invoices.set_message("in_1", "COTHER", "9.9"),
                                 uow.invoices.mark_overdue_once("in_1", 1.0),
                                 uow.events.decide("evt_1", "{}"),
                                 uow.deliveries.finish("notice:evt_1:CSHARED", "1.1"),
                                 uow.prices.retire_unseen(clock() + 1),
                                 uow.customers.forget_unseen(clock() + 1)))
    b = store.reads(B)
    invoice = b.invoices.get("in_1")
    assert invoice is not None and invoice.status == "open" and invoice.channel_id == "CSHARED"
    assert invoice.overdue_notified_at is None
    assert write(store, B, lambda uow: uow.invoices.mark_overdue_once("in_1", 2.0)) is True
    event = b.events.get("evt_1")
    assert event is not None and event.outcome is None
    delivery = b.deliveries.get("notice:evt_1:CSHARED")
    assert delivery is not None and not delivery.sent
    assert b.prices.get("price_1") is not None and (b.prices.get("price_1") or Price("", "", "", 0, "", False)).active
    assert b.customers.get("cus_1") is not None
    assert store.reads(A).customers.get("cus_1") is None


def test_pruning_one_tenant_leaves_the_others_rows(store: Store, clock: FakeClock) -> None:
    for tenant in (A, B):
        write(store, tenant, lambda uow: (uow.events.record(EVENT, "{}"), uow.events.decide("evt_1", "{}"),
                                          uow.deliveries.begin("k", "C1", None), uow.deliveries.finish("k", "1.0")))
    clock.advance(90 * 86400)
    assert write(store, A, lambda uow: uow.events.prune_decided(86400, 100)) == 1
    assert write(store, A, lambda uow: uow.deliveries.prune_sent(86400, 100)) == 1
    assert store.reads(B).events.get("evt_1") is not None and store.reads(B).deliveries.get("k") is not None


def test_a_digest_gathers_only_its_own_tenants_notices_in_a_shared_channel(store: Store) -> None:
    for tenant in (A, B):
        with store.unit_of_work(tenant) as uow:
            for number in range(3):
                uow.jobs.add(ChannelNotice(invoice_id=f"in_{number}", channel="CSHARED", kind="paid"),
                             f"notice:{number}", channel="CSHARED")
            uow.commit()
    leader = store.queue.claim("bulk", "worker", 30)[0]
    folded = store.queue.claim_digest("CSHARED", leader, limit=10, threshold=1)
    assert {job.tenant_id for job in folded} == {leader.tenant_id} and len(folded) == 2


def test_the_channel_pace_is_kept_per_tenant(store: Store) -> None:
    assert store.pace(60, A).claim("CSHARED") == 0.0
    assert store.pace(60, A).claim("CSHARED") > 0.0
    assert store.pace(60, B).claim("CSHARED") == 0.0  # the other workspace's slot in a shared channel


def test_job_keys_are_unique_per_tenant(store: Store) -> None:
    assert write(store, A, lambda uow: uow.jobs.add(RefreshMessage(invoice_id="in_1"), "refresh:1")) is True
    assert write(store, A, lambda uow: uow.jobs.add(RefreshMessage(invoice_id="in_1"), "refresh:1")) is False
    assert write(store, B, lambda uow: uow.jobs.add(RefreshMessage(invoice_id="in_1"), "refresh:1")) is True

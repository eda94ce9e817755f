"""The receivables digest end to end, over HTTP against the fake Slack and the fake Stripe: `/invoice digest
now` reconciles with Stripe's open invoices (one paged pass), posts the figures, and shares the aging
charts and a CSV with Slack's two-step upload; the schedule is set from Slack, in the admin's time zone,
and each run is posted once; App Home shows the same aging; bad input and people without the right get
an answer and change nothing."""

from __future__ import annotations

import csv
import io
import json
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from bot.adapters.stripe import LineItem, StripeGateway
from bot.domain.invoices import InvoiceSnapshot
from bot.domain.receivables import DAY, aging
from bot.domain.tenants import DEFAULT_TENANT, TenantSettings
from bot.jobs.payloads import CheckDigestSchedule, SaveSettings
from bot.services.workspace_settings import WorkspaceSettings
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.slack_fake.files import FileShareMessage
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import STRIPE_KEY, TEAM_ID, RunningBot, create_invoice, on_both_databases, wait_for
from tests.test_browse import open_home
from tests.test_workspaces import create_invoice as create_in
from tests.test_workspaces import join

FINANCE = "CFIN"
FINANCE_REF = f"<#{FINANCE}|finance>"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def seed(bot: RunningBot, number: int, *, total: int, currency: str = "usd", status: str = "open",
         due: float | None = None, rep: str | None = "UREP", paid_at: float | None = None,
         created_at: float | None = None) -> str:
    """An invoice only the store knows (Stripe's list will not have it)."""
    invoice_id = f"in_seed{number:05d}"
    snapshot = InvoiceSnapshot(stripe_id=invoice_id, status=status, currency=currency, total=total,
                               amount_paid=total if status == "paid" else 0,
                               amount_remaining=0 if status == "paid" else total,
                               due_date=None if due is None else int(due), number=f"SEED-{number:05d}",
                               customer_name=f"Customer {number}", customer_email=f"c{number}@example.com")
    with bot.app.store.unit_of_work(DEFAULT_TENANT) as uow:
        if rep:
            uow.invoices.add_own(snapshot, channel_id="CSALES", rep_user_id=rep, team_id=TEAM_ID,
                                 view_id=f"V_SEED{number}")
        uow.invoices.apply(snapshot, int(paid_at or time.time()))
        uow.commit()
    if created_at is not None:
        bot.execute("UPDATE invoices SET created_at = ? WHERE stripe_id = ?", (created_at, invoice_id))
    return invoice_id


def command(bot: RunningBot, fake_slack: FakeSlack, text: str, user: str) -> tuple[dict[str, Any], str]:
    """Type `/invoice <text>`; (the ack's body, or {} when empty, and the response_url)."""
    url = fake_slack.response_url(f"cmd-{time.monotonic_ns()}")
    response = bot.slash(text, trigger_id=fake_slack.new_trigger_id(), response_url=url, user=user)
    assert response.status_code == 200, response.text
    return (response.json() if response.content else {}), url


def answers(fake_slack: FakeSlack, url: str) -> list[str]:
    return [str(post.get("text")) for post in fake_slack.responses if post.url == url]


def answer(bot: RunningBot, fake_slack: FakeSlack, text: str, user: str) -> str:
    ack, url = command(bot, fake_slack, text, user)
    assert not ack, ack
    return wait_for(lambda: answers(fake_slack, url), 10, f"the answer to {text}")[0]


def stripe_only_invoice(bot: RunningBot, fake_stripe: FakeStripe, amount: int, currency: str) -> dict[str, Any]:
    """An open invoice made straight in Stripe while its webhooks are held: the bot never heard of it."""
    fake_stripe.webhooks.pause()
    gateway: StripeGateway = bot.app.stripe
    customer = gateway.create_customer(name="Dashboard Customer", email="dash@example.com", description="Dashboard",
                                       metadata={}, idempotency_key=f"c-{time.monotonic_ns()}")
    invoice = gateway.create_invoice(customer_id=customer["id"], currency=currency, days_until_due=30,
                                     description=None, metadata={}, idempotency_key=f"i-{time.monotonic_ns()}")
    gateway.add_lines(invoice["id"], [LineItem(quantity=1, description="Consulting", unit_amount=amount)], currency,
                      idempotency_key=f"l-{time.monotonic_ns()}")
    return gateway.finalize_invoice(invoice["id"], idempotency_key=f"f-{time.monotonic_ns()}")


def digest_messages(fake_slack: FakeSlack, channel: str = FINANCE) -> tuple[list[Any], list[FileShareMessage]]:
    messages = fake_slack.messages(channel)
    shares = [message for message in messages if isinstance(message, FileShareMessage)]
    return [message for message in messages if not isinstance(message, FileShareMessage)], shares


def block_text(message: Any) -> str:
    return json.dumps(message.blocks, ensure_ascii=False)


def csv_rows(fake_slack: FakeSlack) -> list[dict[str, str]]:
    (table,) = [file for file in fake_slack.files() if file.name.endswith(".csv") and file.completed]
    assert table.data is not None
    return list(csv.DictReader(io.StringIO(table.data.decode("utf-8-sig"))))


# --- /invoice digest now ------------------------------------------------------------------------------------
@on_both_databases
def test_digest_now_reconciles_then_posts_the_figures_the_charts_and_the_csv(
        make_bot: Any, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    bot = make_bot()
    fake_slack.add_user("UADMIN", is_admin=True, tz="Europe/Paris")
    made_in_slack = create_invoice(bot, fake_slack, fake_stripe, amount="1234.00")
    fake_stripe.make_overdue(made_in_slack["id"])  # due a day ago: 1-30 days past due
    fake_stripe.flush_webhooks()
    bot.wait_idle()
    dashboard = stripe_only_invoice(bot, fake_stripe, 50000, "eur")
    assert bot.app.store.reads(DEFAULT_TENANT).invoices.get(dashboard["id"]) is None
    gone = seed(bot, 1, total=7000, due=time.time() - 40 * DAY, created_at=time.time() - 90 * DAY)
    seed(bot, 2, total=10000, status="paid", paid_at=time.time() - 2 * DAY)
    requests_before = len(fake_stripe.requests)

    said = answer(bot, fake_slack, f"digest now {FINANCE_REF}", "UADMIN")
    assert said == f"Putting the receivables digest together for <#{FINANCE}>…"
    wait_for(lambda: any(post.get("text") == "The receivables digest is in <#CFIN>." for post in fake_slack.responses),
             30, "the digest")
    bot.wait_idle()

    posts, shares = digest_messages(fake_slack)
    assert len(posts) == 1 and len(shares) == 1
    text = block_text(posts[0])
    assert "Receivables digest" in text and "countback" in text
    assert "*USD* · open *$1,234.00* (1)" in text and "*EUR* · open *€500.00* (1)" in text
    assert "collected in the last 7 days $100.00" in text
    assert "1 no longer open in Stripe left out" in text and "reconciled with Stripe's 2 open invoices" in text
    assert "SEED-00001" not in text  # Stripe no longer holds it open: not in the figures
    assert "<@UREP>" in text  # the largest overdue, with their rep
    # The CET/CEST of the admin who asked (no schedule yet): the digest is dated in their time zone.
    assert "CET" in text or "CEST" in text

    share = shares[0]
    names = [item["name"] for item in share.files]
    stamp = names[-1].removeprefix("open-invoices-").removesuffix(".csv")
    assert names == [f"receivables-aging-eur-{stamp}.png", f"receivables-aging-usd-{stamp}.png",
                     f"open-invoices-{stamp}.csv"] or names == [f"receivables-aging-usd-{stamp}.png",
                                                                f"receivables-aging-eur-{stamp}.png",
                                                                f"open-invoices-{stamp}.csv"]
    for file in fake_slack.files():
        assert file.completed and file.data is not None and len(file.data) == file.length
        if file.name.endswith(".png"):
            assert file.data.startswith(PNG_MAGIC) and file.alt_txt and "days past due" in file.alt_txt
    rows = {row["stripe_id"]: row for row in csv_rows(fake_slack)}
    assert set(rows) == {made_in_slack["id"], dashboard["id"]}
    assert rows[dashboard["id"]]["amount_due"] == "500.00" and rows[dashboard["id"]]["currency"] == "EUR"
    assert rows[made_in_slack["id"]]["aging"] == "1-30" and rows[made_in_slack["id"]]["rep"] == "UREP"

    # Reconciled into the store, dated as Stripe made it; the store's own figures come from it now.
    stored = bot.invoice(dashboard["id"])
    assert stored.status == "open" and stored.amount_remaining == 50000 and stored.created_at == dashboard["created"]
    assert bot.invoice(gone).status == "open"  # never moved by a list that merely lacks it
    # One paged pass over Stripe's open invoices, no call per invoice.
    during = fake_stripe.requests[requests_before:]
    lists = [request for request in during if request.method == "GET" and request.path == "/v1/invoices"]
    assert len(lists) == 1 and lists[0].params.get("status") == "open"
    assert not [request for request in during if request.path.startswith("/v1/invoices/")]
    # Slack's two-step flow: a URL per file, one completion; never files.upload.
    assert len(fake_slack.calls_to("files.getUploadURLExternal")) == 3
    assert len(fake_slack.calls_to("files.completeUploadExternal")) == 1 and not fake_slack.calls_to("files.upload")


def test_stripe_open_invoices_are_read_page_by_page_in_one_pass(fake_stripe: FakeStripe) -> None:
    gateway = StripeGateway(STRIPE_KEY, fake_stripe.url)
    made = []
    customer = gateway.create_customer(name="A", email="a@example.com", description="A", metadata={},
                                       idempotency_key="cust-a")
    for number in range(7):
        invoice = gateway.create_invoice(customer_id=customer["id"], currency="usd", days_until_due=30,
                                         description=None, metadata={}, idempotency_key=f"inv-{number}")
        gateway.add_lines(invoice["id"], [LineItem(1, description="x", unit_amount=100 + number)], "usd",
                          idempotency_key=f"lines-{number}")
        if number < 5:
            made.append(gateway.finalize_invoice(invoice["id"], idempotency_key=f"fin-{number}")["id"])
    fake_stripe.pay_invoice(made[0], out_of_band=True)  # paid: not open any more
    before = len(fake_stripe.requests)
    listed = [invoice["id"] for invoice in gateway.iter_open_invoices(page_size=2)]
    assert sorted(listed) == sorted(made[1:])
    pages = fake_stripe.requests[before:]
    assert [request.params.get("starting_after") for request in pages] == [None, listed[1], listed[3]][:len(pages)]
    assert len(pages) == 2 and all(request.params.get("status") == "open" for request in pages)


def test_a_failed_upload_is_retried_and_the_digest_is_posted_once(bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("UADMIN", is_admin=True)
    seed(bot, 1, total=2500, due=time.time() - 3 * DAY)
    fake_slack.http_error("file_upload", 500, count=1)
    answer(bot, fake_slack, f"digest now {FINANCE_REF}", "UADMIN")
    wait_for(lambda: digest_messages(fake_slack)[1], 30, "the files shared")
    bot.wait_idle()
    posts, shares = digest_messages(fake_slack)
    assert len(posts) == 1 and len(shares) == 1
    assert len(fake_slack.calls_to("files.completeUploadExternal")) == 1
    assert [file.completed for file in fake_slack.files()].count(True) == 2  # the chart and the CSV, once
    assert [row["stripe_id"] for row in csv_rows(fake_slack)] == ["in_seed00001"]


def test_digest_now_without_a_schedule_comes_to_the_asker_by_dm(make_bot: Any, fake_slack: FakeSlack) -> None:
    bot = make_bot(invoice_viewers="UFIN")
    fake_slack.add_user("UFIN", tz="America/New_York")
    seed(bot, 1, total=990, currency="jpy", due=time.time() + 3 * DAY)
    assert answer(bot, fake_slack, "digest now", "UFIN") == "Putting the receivables digest together for you, by DM…"
    wait_for(lambda: len(fake_slack.messages("UFIN")) == 2, 30, "the digest by DM")
    posts = fake_slack.messages("UFIN")
    assert "*JPY* · open *¥990* (1)" in block_text(posts[0]) and ("EST" in block_text(posts[0])
                                                                  or "EDT" in block_text(posts[0]))
    assert isinstance(posts[1], FileShareMessage)
    # A finance viewer may not send it elsewhere: only admins choose where it goes.
    refused = answer(bot, fake_slack, f"digest now {FINANCE_REF}", "UFIN")
    assert refused.startswith("Only invoicing admins can choose where the digest goes")
    assert fake_slack.messages(FINANCE) == []


def test_a_rep_may_not_see_or_schedule_the_digest(bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("UREP")
    before = bot.app.store.directory.get(DEFAULT_TENANT).settings  # type: ignore[union-attr]
    jobs_before = bot.rows("SELECT count(*) AS n FROM jobs WHERE kind = 'receivables_digest'")[0]["n"]
    assert answer(bot, fake_slack, "digest now", "UREP") == ("Only invoicing admins and finance viewers can see "
                                                            "the receivables digest.")
    assert answer(bot, fake_slack, "digest", "UREP").startswith("Only invoicing admins and finance viewers")
    assert answer(bot, fake_slack, f"digest weekly mon 09:00 {FINANCE_REF}", "UREP") == (
        "Only invoicing admins can schedule the receivables digest.")
    assert bot.app.store.directory.get(DEFAULT_TENANT).settings == before  # type: ignore[union-attr]
    assert bot.rows("SELECT count(*) AS n FROM jobs WHERE kind = 'receivables_digest'")[0]["n"] == jobs_before


# --- the schedule --------------------------------------------------------------------------------------------
@on_both_databases
def test_an_admin_schedules_it_in_their_time_zone_and_bad_input_changes_nothing(
        make_bot: Any, fake_slack: FakeSlack) -> None:
    bot = make_bot()
    fake_slack.add_user("UADMIN", is_admin=True, tz="Asia/Tokyo")
    said = answer(bot, fake_slack, f"digest weekly mon 09:00 {FINANCE_REF}", "UADMIN")
    assert said.startswith(":white_check_mark: The receivables digest will be posted every Monday at 09:00 "
                           "(Asia/Tokyo) in <#CFIN> (your time zone in Slack")
    assert "Next: Mon " in said and "09:00 JST" in said
    saved = bot.app.store.directory.get(DEFAULT_TENANT).settings  # type: ignore[union-attr]
    assert saved.digest is not None and (saved.digest.channel, saved.digest.weekday, saved.digest.hour,
                                         saved.digest.tz, saved.digest.set_by) == (FINANCE, 0, 9, "Asia/Tokyo",
                                                                                   "UADMIN")
    assert [row["actor"] for row in bot.rows("SELECT actor FROM audit WHERE action = 'digest schedule'")] == ["UADMIN"]
    assert "every Monday at 09:00 (Asia/Tokyo) in <#CFIN>" in answer(bot, fake_slack, "digest", "UADMIN")

    jobs_before = bot.job_counts()
    for bad, says in ((f"digest weekly funday 09:00 {FINANCE_REF}", "`funday` is not a day of the week"),
                      (f"digest daily 9am {FINANCE_REF}", "HH:MM"),
                      ("digest daily 09:00 #finance", "so Slack links it"),
                      (f"digest daily 09:00 {FINANCE_REF} Europe/Atlantis", "not a time zone")):
        ack, _ = command(bot, fake_slack, bad, "UADMIN")
        assert ack.get("response_type") == "ephemeral" and ack["text"].startswith("Nothing changed.")
        assert says in ack["text"], ack
    assert bot.app.store.directory.get(DEFAULT_TENANT).settings == saved  # type: ignore[union-attr]
    assert bot.job_counts() == jobs_before  # nothing was even queued

    own = answer(bot, fake_slack, f"digest daily 18:30 {FINANCE_REF} America/Chicago", "UADMIN")
    assert "every day at 18:30 (America/Chicago)" in own and "your time zone" not in own
    assert answer(bot, fake_slack, "digest off", "UADMIN").startswith("The receivables digest is off")
    assert bot.app.store.directory.get(DEFAULT_TENANT).settings.digest is None  # type: ignore[union-attr]
    assert answer(bot, fake_slack, "digest", "UADMIN").startswith("No receivables digest is scheduled")


def test_saving_the_workspace_settings_keeps_the_schedule(bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("UADMIN", is_admin=True, tz="Europe/Paris")
    answer(bot, fake_slack, f"digest weekly fri 16:00 {FINANCE_REF}", "UADMIN")
    scheduled = bot.app.store.directory.get(DEFAULT_TENANT).settings.digest  # type: ignore[union-attr]
    space = bot.app.default
    WorkspaceSettings(space.tenancy, space.scope, space.slack, space.access, current=TenantSettings(),
                      defaults=TenantSettings()).save(SaveSettings(view_id="VGONE", user_id="UADMIN",
                                                                   payments_channel="CNEWPAY", admins=["UADMIN"],
                                                                   creators=[], viewers=[]))
    saved = bot.app.store.directory.get(DEFAULT_TENANT).settings  # type: ignore[union-attr]
    assert saved.payments_channel == "CNEWPAY" and saved.digest == scheduled is not None


def queue_check(bot: RunningBot, key: str) -> None:
    with bot.app.store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.jobs.add(CheckDigestSchedule(), key)
        uow.commit()
    bot.wait_idle()


def test_a_scheduled_run_is_posted_once_and_setting_a_schedule_never_posts_a_past_run(
        bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("UADMIN", is_admin=True, tz="Europe/Paris")
    seed(bot, 1, total=4200, due=time.time() - 65 * DAY)
    minutes_ago = datetime.fromtimestamp(time.time() - 300, UTC)
    answer(bot, fake_slack, f"digest daily {minutes_ago:%H:%M} {FINANCE_REF} UTC", "UADMIN")
    queue_check(bot, "check-1")
    assert fake_slack.messages(FINANCE) == []  # its run five minutes ago came before it was set

    directory = bot.app.store.directory
    settings = directory.get(DEFAULT_TENANT).settings  # type: ignore[union-attr]
    assert settings.digest is not None
    directory.save_settings(DEFAULT_TENANT, replace(settings, digest=replace(settings.digest,
                                                                             set_at=settings.digest.set_at - 3600)))
    queue_check(bot, "check-2")
    wait_for(lambda: len(fake_slack.messages(FINANCE)) == 2, 30, "the scheduled digest")
    slot = f"{minutes_ago:%Y-%m-%dT%H:%M}"
    assert [row["status"] for row in bot.rows("SELECT status FROM jobs WHERE key = ?", (f"digest:default:{slot}",))] \
        == ["done"]
    queue_check(bot, "check-3")  # checked again (another process, the next period): the same run, not again
    bot.wait_idle()
    posts, shares = digest_messages(fake_slack)
    assert len(posts) == 1 and len(shares) == 1
    assert "61–90 days $42.00 (1)" in block_text(posts[0])
    assert "UTC" in block_text(posts[0])


def test_a_run_whose_schedule_was_turned_off_meanwhile_posts_nothing(bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("UADMIN", is_admin=True, tz="UTC")
    soon = datetime.fromtimestamp(time.time() + 240, UTC)  # within the look-ahead: queued, delayed to its time
    answer(bot, fake_slack, f"digest daily {soon:%H:%M} {FINANCE_REF}", "UADMIN")
    queue_check(bot, "check-soon")
    (job,) = bot.rows("SELECT key, run_after FROM jobs WHERE kind = 'receivables_digest'")
    assert job["key"] == f"digest:default:{soon:%Y-%m-%dT%H:%M}"
    assert abs(float(job["run_after"]) - datetime(soon.year, soon.month, soon.day, soon.hour, soon.minute,
                                                  tzinfo=UTC).timestamp()) < 1
    answer(bot, fake_slack, "digest off", "UADMIN")
    bot.execute("UPDATE jobs SET run_after = ? WHERE kind = 'receivables_digest'", (time.time(),))
    bot.app.runner.wake(["periodic"])
    wait_for(lambda: bot.rows("SELECT status FROM jobs WHERE kind = 'receivables_digest'")[0]["status"] == "done",
             10, "the run")
    assert fake_slack.messages(FINANCE) == []


# --- App Home --------------------------------------------------------------------------------------------------
@on_both_databases
def test_app_home_shows_the_same_aging_as_the_digest(make_bot: Any, fake_slack: FakeSlack) -> None:
    bot = make_bot()
    fake_slack.add_user("UADMIN", is_admin=True)
    now = time.time()
    seed(bot, 1, total=10000, due=now + 5 * DAY)
    seed(bot, 2, total=2000, due=now - 10 * DAY)
    seed(bot, 3, total=3000, due=now - 45 * DAY)
    seed(bot, 4, total=400, due=now - 75 * DAY)
    seed(bot, 5, total=50, due=now - 200 * DAY)
    seed(bot, 6, total=1500, currency="jpy", due=now - 31 * DAY)
    seed(bot, 7, total=999, status="paid")
    assert open_home(bot, "UADMIN").status_code == 200
    home = wait_for(lambda: fake_slack.home("UADMIN"), 10, "the home view")
    texts = [block.get("text", {}).get("text", "") for block in home["blocks"]]
    (shown,) = [text for text in texts if text.startswith("*Aging*")]
    assert ("*USD*  Current $100.00 (1) · 1–30 days $20.00 (1) · 31–60 days $30.00 (1) · 61–90 days $4.00 (1) "
            "· over 90 days $0.50 (1)") in shown
    assert "*JPY*  Current ¥0 (0) · 1–30 days ¥0 (0) · 31–60 days ¥1,500 (1)" in shown
    reads = bot.app.store.reads(DEFAULT_TENANT).invoices
    assert reads.aging(now) == aging(reads.receivables(), now)


@on_both_databases
def test_the_stores_aging_agrees_with_the_rule_at_every_edge(make_bot: Any) -> None:
    bot = make_bot()
    now = 1_800_000_000
    edges = [now + DAY, now, now - 1, now - 30 * DAY, now - 30 * DAY - 1, now - 60 * DAY, now - 60 * DAY - 1,
             now - 90 * DAY, now - 90 * DAY - 1, None]
    for number, due in enumerate(edges, start=1):
        seed(bot, number, total=number, due=due)
    reads = bot.app.store.reads(DEFAULT_TENANT).invoices
    (usd,) = reads.aging(now)
    assert usd == aging(reads.receivables(), now)[0]
    assert usd.amounts == (1 + 2 + 10, 3 + 4, 5 + 6, 7 + 8, 9)


def test_a_rep_sees_the_aging_of_their_own_invoices_only(bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.add_user("UREP")
    fake_slack.add_user("UOTHER")
    seed(bot, 1, total=1000, due=time.time() - 5 * DAY, rep="UREP")
    seed(bot, 2, total=7000, due=time.time() - 5 * DAY, rep="UOTHER")
    fake_slack.add_channel("CSALES", members=["UOTHER"])
    assert open_home(bot, "UREP").status_code == 200
    home = wait_for(lambda: fake_slack.home("UREP"), 10, "the home view")
    (shown,) = [block["text"]["text"] for block in home["blocks"] if block.get("text", {}).get("text", "")
                .startswith("*Aging*")]
    assert "1–30 days $10.00 (1)" in shown and "$70.00" not in shown


@pytest.mark.parametrize("text", ["digest now", "digest"])
def test_guests_get_an_answer_too(bot: RunningBot, fake_slack: FakeSlack, text: str) -> None:
    fake_slack.add_user("UGUEST", guest="single")
    assert answer(bot, fake_slack, text, "UGUEST").startswith("Only invoicing admins and finance viewers")


# --- any workspace ----------------------------------------------------------------------------------------------
def test_each_workspace_gets_a_digest_of_its_own_from_its_own_stripe_account(
        oauth_bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    alpha = join(oauth_bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
    beta = join(oauth_bot, fake_slack, fake_stripe, "TBETA", "Beta")
    create_in(oauth_bot, alpha, "100.00")
    create_in(oauth_bot, beta, "200.00")
    requests_before = len(fake_stripe.requests)
    team = alpha.team
    url = team.response_url("alpha-digest")
    response = oauth_bot.slash(f"digest now <#{alpha.payments}|pay>", trigger_id=team.new_trigger_id(),
                               response_url=url, channel=alpha.sales, user="UALPHAADMIN", team="TALPHA")
    assert response.status_code == 200
    wait_for(lambda: len(team.messages(alpha.payments)) >= 2 and isinstance(team.messages(alpha.payments)[-1],
                                                                            FileShareMessage), 30, "alpha's digest")
    oauth_bot.wait_idle()
    digest = [message for message in team.messages(alpha.payments) if "Receivables digest" in str(message.blocks)]
    assert len(digest) == 1
    text = block_text(digest[0])
    assert "*USD* · open *$100.00* (1)" in text and "$200.00" not in text
    assert [file.completed for file in team.files()] == [True, True] and beta.team.files() == []
    lists = [request for request in fake_stripe.requests[requests_before:] if request.path == "/v1/invoices"]
    assert [request.account for request in lists] == [alpha.account.id]

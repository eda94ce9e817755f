"""Working with invoices from Slack: list, show, App Home, permissions, audit, chasing overdue ones."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import httpx
import pytest
import stripe

from bot.domain.invoices import InvoiceSnapshot
from bot.domain.tenants import DEFAULT_TENANT
from bot.jobs.payloads import SweepOverdue
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import STRIPE_KEY, TEAM_ID, RunningBot, create_invoice, wait_for

DAY = 86400


def seed(bot: RunningBot, number: int, *, status: str = "open", currency: str = "usd", total: int = 1000,
         due_in_days: float = 10, name: str | None = None, rep: str = "UREP", paid: int = 0) -> str:
    invoice_id = f"in_seed{number:05d}"
    snapshot = InvoiceSnapshot(
        stripe_id=invoice_id, status=status, currency=currency, total=total, amount_paid=paid,
        amount_remaining=0 if status == "paid" else total - paid,
        due_date=int(time.time() + due_in_days * DAY), number=f"SEED-{number:05d}",
        customer_name=name or f"Customer {number}", customer_email=f"c{number}@example.com",
        hosted_url=f"https://invoice.stripe.com/i/{invoice_id}")
    with bot.app.store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.invoices.add_own(snapshot, channel_id="", rep_user_id=rep, team_id=TEAM_ID, view_id=f"V_SEED{number}")
        uow.invoices.apply(snapshot, int(time.time()))
        uow.commit()
    return invoice_id


def command(bot: RunningBot, fake_slack: FakeSlack, text: str, user: str = "UREP") -> dict[str, Any]:
    """Run a slash command that answers through its response_url; return that answer."""
    url = fake_slack.response_url(f"cmd-{time.monotonic_ns()}")
    response = bot.slash(text, trigger_id=fake_slack.new_trigger_id(), response_url=url, user=user)
    assert response.status_code == 200
    return wait_for(lambda: [r for r in fake_slack.responses if r.url == url], 5, f"answer to {text}")[-1]


def numbers_in(answer: dict[str, Any]) -> list[str]:
    return re.findall(r"SEED-\d{5}", json.dumps(answer.get("blocks", [])))


def more_button(answer: dict[str, Any]) -> str | None:
    for block in answer.get("blocks", []):
        for element in block.get("elements", []) if block["type"] == "actions" else []:
            if element.get("action_id") == "list_more":
                return str(element["value"])
    return None


def test_list_paginates_past_100_invoices_newest_first(bot: RunningBot, fake_slack: FakeSlack) -> None:
    for n in range(130):
        seed(bot, n)
    answer = command(bot, fake_slack, "list")
    seen = numbers_in(answer)
    assert len(seen) == 20 and seen[0] == "SEED-00129"
    while value := more_button(answer):
        url = fake_slack.response_url(f"more-{len(seen)}")
        bot.block_action("list_more", value, response_url=url)
        answer = wait_for(lambda url=url: [r for r in fake_slack.responses if r.url == url], 5, "next page")[-1]
        seen += numbers_in(answer)
        assert len(answer["blocks"]) <= 50
    assert seen == [f"SEED-{n:05d}" for n in reversed(range(130))]


def test_list_filters_by_status_and_customer(bot: RunningBot, fake_slack: FakeSlack) -> None:
    seed(bot, 1, status="open", name="Acme Corp")
    seed(bot, 2, status="paid", name="Acme Corp")
    seed(bot, 3, status="open", name="Globex", due_in_days=-3)
    seed(bot, 4, status="draft", name="Initech")
    assert numbers_in(command(bot, fake_slack, "list paid")) == ["SEED-00002"]
    assert numbers_in(command(bot, fake_slack, "list overdue")) == ["SEED-00003"]
    assert numbers_in(command(bot, fake_slack, "list open acme")) == ["SEED-00001"]
    assert numbers_in(command(bot, fake_slack, "list c4@example.com")) == ["SEED-00004"]
    assert "No invoices match" in json.dumps(command(bot, fake_slack, "list void"))


def test_a_command_whose_text_says_payload_is_still_a_command(bot: RunningBot, fake_slack: FakeSlack) -> None:
    # Bolt alone takes any form body containing "payload" for an interaction and leaves it empty.
    seed(bot, 1, status="open", name="Payload Logistics")
    seed(bot, 2, status="open", name="Globex")
    assert numbers_in(command(bot, fake_slack, "list payload")) == ["SEED-00001"]


def test_show_by_number_by_stripe_id_and_unknown(bot: RunningBot, fake_slack: FakeSlack,
                                                 fake_stripe: FakeStripe) -> None:
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    fake_stripe.pay_invoice(invoice["id"])
    fake_stripe.flush_webhooks()
    bot.wait_idle()
    card = json.dumps(command(bot, fake_slack, f"show {invoice['number']}"))
    assert invoice["number"] in card and "Services" in card and "Paid $1,234.00" in card
    assert "History" in card and "paid" in card
    # An invoice made in Stripe's Dashboard, never seen by the bot: an admin's to look up.
    fake_stripe.webhooks.pause()  # so the bot learns of it only by looking it up
    client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": fake_stripe.url})
    customer = client.v1.customers.create(params={"name": "Dash Board", "email": "dash@example.com"})
    outside = client.v1.invoices.create(params={"customer": customer.id, "collection_method": "send_invoice",
                                                "days_until_due": 5})
    refused = command(bot, fake_slack, f"show {outside.id}")
    assert "can't find" in refused["text"] and bot.app.store.reads(DEFAULT_TENANT).invoices.get(outside.id) is None
    fake_slack.add_user("UADMIN", is_admin=True)
    card = json.dumps(command(bot, fake_slack, f"show {outside.id}", user="UADMIN"))
    assert "Dash Board" in card and bot.app.store.reads(DEFAULT_TENANT).invoices.get(outside.id) is not None
    assert "isn't yours to see" in command(bot, fake_slack, f"show {outside.id}")["text"]
    unknown = command(bot, fake_slack, "show INV-<!channel>")
    assert "can't find" in unknown["text"] and "<!channel>" not in json.dumps(unknown)


def test_due_dates_are_shown_in_the_viewers_time_zone(make_bot: Any, fake_slack: FakeSlack) -> None:
    bot = make_bot(invoice_viewers="UWEST,UEAST")  # finance, in two time zones
    fake_slack.add_user("UWEST", tz="America/Los_Angeles")
    fake_slack.add_user("UEAST", tz="Pacific/Kiritimati")
    due = 1796101200  # 2026-12-01 05:00 UTC: Nov 30 in Los Angeles, Dec 1 in Kiritimati (UTC+14)
    invoice_id = seed(bot, 1)
    bot.execute("UPDATE invoices SET due_date = ? WHERE stripe_id = ?", (due, invoice_id))
    assert "Nov 30, 2026" in json.dumps(command(bot, fake_slack, "list", user="UWEST"))
    assert "Dec 1, 2026" in json.dumps(command(bot, fake_slack, "list", user="UEAST"))
    assert "Dec 1, 2026" in json.dumps(command(bot, fake_slack, "show SEED-00001", user="UEAST"))


def open_home(bot: RunningBot, user: str) -> httpx.Response:
    body = json.dumps({
        "token": "legacy", "team_id": TEAM_ID, "api_app_id": "A123", "type": "event_callback",
        "event_id": f"Ev{time.monotonic_ns()}", "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": user, "channel": "D123", "tab": "home",
                  "event_ts": f"{time.time():.6f}"},
    })
    return bot.post_slack(body, content_type="application/json")


def test_app_home_totals_are_exact_per_currency(bot: RunningBot, fake_slack: FakeSlack) -> None:
    seed(bot, 1, currency="usd", total=123456)                      # open
    seed(bot, 2, currency="usd", total=100000, due_in_days=-2)      # overdue
    seed(bot, 3, currency="usd", total=50050, status="paid", paid=50050)
    seed(bot, 4, currency="eur", total=99999, due_in_days=-1)       # overdue
    seed(bot, 5, currency="jpy", total=1500, status="paid", paid=1500)
    seed(bot, 6, currency="jpy", total=2500)
    seed(bot, 7, currency="usd", total=777, status="draft")         # drafts count nowhere
    assert open_home(bot, "UREP").status_code == 200
    home = wait_for(lambda: fake_slack.home("UREP"), 5, "the home view")
    text = json.dumps(home, ensure_ascii=False)
    assert "open $2,234.56 (2)" in text and "overdue $1,000.00 (1)" in text and "paid this month $500.50" in text
    assert "open €999.99 (1)" in text and "overdue €999.99 (1)" in text and "paid this month €0.00" in text
    assert "open ¥2,500 (1)" in text and "paid this month ¥1,500" in text
    assert "home_new_invoice" in text and "SEED-00007" in text


def test_permission_matrix_for_create_and_void(make_bot: Any, fake_slack: FakeSlack,
                                               fake_stripe: FakeStripe) -> None:
    bot = make_bot(invoice_creators="UREP,SSALES", invoice_admins="SFINANCE")
    fake_slack.add_usergroup("SSALES", users=["UGROUPREP"])
    fake_slack.add_usergroup("SFINANCE", users=["UFIN"])
    for user in ("UREP", "UGROUPREP", "UFIN", "UOUTSIDER", "UOWNER"):
        fake_slack.add_user(user, is_admin=(user == "UOWNER"))
    # create: direct member, member through a group, an admin through a group may; an outsider may not
    for user, allowed in (("UREP", True), ("UGROUPREP", True), ("UFIN", True), ("UOUTSIDER", False)):
        before = len(fake_slack.calls_to("views.open"))
        url = fake_slack.response_url(f"create-{user}")
        bot.slash("", trigger_id=fake_slack.new_trigger_id(), response_url=url, user=user)
        if allowed:
            wait_for(lambda before=before: len(fake_slack.calls_to("views.open")) > before, 5, f"modal for {user}")
        else:
            refusal = wait_for(lambda url=url: [r for r in fake_slack.responses if r.url == url], 5, "refusal")[-1]
            assert "not on the list" in refusal["text"]
            assert len(fake_slack.calls_to("views.open")) == before
    # void: the creator, a finance admin (group) and a workspace admin may; another rep may not
    for user, allowed in (("UGROUPREP", False), ("UREP", True), ("UFIN", True), ("UOWNER", True)):
        invoice = create_invoice(bot, fake_slack, fake_stripe, user="UREP", email=f"{user.lower()}@example.com")
        message = [m for m in fake_slack.messages("CSALES") if not m.thread_ts][-1]
        url = fake_slack.response_url(f"void-{user}")
        bot.block_action("invoice_void", invoice["id"], user=user, message_ts=message.ts, response_url=url)
        bot.wait_idle()
        assert (fake_stripe.get(invoice["id"])["status"] == "void") is allowed, user
        if not allowed:
            refusal = wait_for(lambda url=url: [r for r in fake_slack.responses if r.url == url], 5, "refusal")[-1]
            assert "Only the rep who created this invoice" in refusal["text"]


def test_every_action_path_is_audited_and_audit_is_for_admins(bot: RunningBot, fake_slack: FakeSlack,
                                                               fake_stripe: FakeStripe) -> None:
    fake_slack.add_user("UREP", is_admin=False)
    fake_slack.add_user("UADMIN", is_admin=True)
    draft = create_invoice(bot, fake_slack, fake_stripe, delivery="draft")
    message = [m for m in fake_slack.messages("CSALES") if not m.thread_ts][-1]
    bot.block_action("invoice_send", draft["id"], message_ts=message.ts)
    bot.wait_idle()
    bot.block_action("invoice_remind", draft["id"], message_ts=message.ts)
    bot.wait_idle()
    bot.block_action("invoice_uncollectible", draft["id"], message_ts=message.ts)
    bot.wait_idle()
    bot.block_action("invoice_void", draft["id"], message_ts=message.ts)
    bot.wait_idle()
    command(bot, fake_slack, "route rep <@UREP|rep> <#CREPS|reps>", user="UADMIN")
    rows = bot.audit_for(draft["id"])
    assert [row.action for row in rows] == ["create", "send", "remind", "uncollectible", "void"]
    assert all(row.actor == "UREP" and draft["id"] in row.stripe_ids.values() for row in rows)
    routes = bot.rows("SELECT actor FROM audit WHERE action = 'route'")
    assert routes == [{"actor": "UADMIN"}]
    refused = command(bot, fake_slack, f"audit {draft['id']}", user="UREP")
    assert "Only invoicing admins" in refused["text"]
    shown = json.dumps(command(bot, fake_slack, f"audit {draft['id']}", user="UADMIN"))
    for action in ("create", "send", "remind", "uncollectible", "void"):
        assert f"*{action}*" in shown


@pytest.mark.parametrize("via_event", [True, False])
def test_overdue_invoices_are_chased_once(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe,
                                          via_event: bool) -> None:
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    fake_stripe.flush_webhooks()
    bot.wait_idle()
    if via_event:
        fake_stripe.make_overdue(invoice["id"])
        fake_stripe.flush_webhooks()
    else:  # Stripe's invoice.overdue is opt-in: the bot notices the passed due date itself
        bot.execute("UPDATE invoices SET due_date = ? WHERE stripe_id = ?", (int(time.time()) - DAY, invoice["id"]))
    for sweep in range(2):
        bot.app.services.jobs.submit(SweepOverdue(), f"overdue_sweep:test{sweep}")
        bot.wait_idle()
    message = [m for m in fake_slack.messages("CSALES") if not m.thread_ts][-1]
    nudges = [r for r in fake_slack.thread("CSALES", message.ts) if "Overdue" in r.text]
    assert len(nudges) == 1 and "invoice_remind" in json.dumps(nudges[0].blocks)
    assert sum("Overdue" in m.text for m in fake_slack.messages("CPAYMENTS")) == 1


def test_new_invoice_from_app_home_lands_in_the_reps_dm(bot: RunningBot, fake_slack: FakeSlack,
                                                         fake_stripe: FakeStripe) -> None:
    fake_slack.add_user("UREP")
    open_home(bot, "UREP")
    wait_for(lambda: fake_slack.home("UREP"), 5, "the home view")
    bot.block_action("home_new_invoice", "", trigger_id=fake_slack.new_trigger_id(), message_ts=None)
    call = wait_for(lambda: fake_slack.calls_to("views.open"), 5, "the modal")[-1]
    view = {**call.args["view"], "id": call.result["view"]["id"]}
    response = bot.submit(view, {"customer_name": "Home Run", "customer_email": "home@example.com",
                                 "line_1_description": "From home", "line_1_unit_amount": "5"})
    assert response.json()["response_action"] == "update"
    bot.wait_idle()
    (invoice,) = fake_stripe.objects("invoice")
    (message,) = fake_slack.messages("UREP")
    assert invoice["number"] in json.dumps(message.blocks)

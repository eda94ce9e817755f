"""Approval above a limit (APPROVAL_LIMITS, APPROVERS), end to end over HTTP against the fakes: an invoice
above its currency's limit is held as a draft, its approvers are asked by DM, the first decision counts and
is carried out once (approved: finalized and sent with the held path's own idempotency keys; rejected:
the draft deleted), the rep hears it, everything is audited, and a stale or repeated press is answered,
never repeated."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from bot.config import ConfigError, load_settings
from bot.domain.approvals import parse_limits
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import RunningBot, on_both_databases, open_modal, wait_for

REP, APPROVER, SECOND_APPROVER, NOBODY, ADMIN = "UREP", "UAPPROVER", "UAPPROVER2", "UNOBODY", "UADMIN"
LIMITS = "usd:5,000.00,eur:4000"


@pytest.fixture
def approving_bot(make_bot: Any, fake_slack: FakeSlack) -> RunningBot:
    for user in (REP, APPROVER, SECOND_APPROVER, NOBODY, ADMIN):
        fake_slack.add_user(user)
    bot: RunningBot = make_bot(approval_limits=LIMITS, approvers=f"{APPROVER},{SECOND_APPROVER}",
                               invoice_admins=ADMIN)
    return bot


def submit_invoice(bot: RunningBot, slack: FakeSlack, stripe: FakeStripe, amount: str, *, currency: str = "usd",
                   delivery: str = "send") -> tuple[dict[str, Any], dict[str, Any]]:
    """The rep's form, filled in and submitted; (the form, the invoice as the fake Stripe has it)."""
    known = {invoice["id"] for invoice in stripe.objects("invoice")}
    view = open_modal(bot, slack, user=REP)
    response = bot.submit(view, {"customer_name": "Big Spender", "customer_email": "big@example.com",
                                 "currency": currency, "line_1_description": "Consulting",
                                 "line_1_unit_amount": amount, "delivery": delivery}, user=REP)
    assert response.status_code == 200 and response.json()["response_action"] == "update", response.text
    bot.wait_idle()
    (invoice,) = [invoice for invoice in stripe.objects("invoice") if invoice["id"] not in known]
    return view, invoice


def requests_to(stripe: FakeStripe, invoice_id: str, step: str) -> list[Any]:
    return [r for r in stripe.requests if r.method == "POST" and r.path == f"/v1/invoices/{invoice_id}/{step}"]


def sent_events(stripe: FakeStripe, invoice_id: str) -> int:
    return sum(1 for e in stripe.events if e["type"] == "invoice.sent" and e["data"]["object"]["id"] == invoice_id)


def the_request(slack: FakeSlack, user: str, invoice_id: str) -> Any:
    """The request for approval `user` got by DM about the invoice."""
    found = [m for m in slack.messages(user) if invoice_id in json.dumps(m.blocks or [])
             and "Approval needed" in json.dumps(m.blocks or [])]
    assert len(found) == 1, [m.text for m in slack.messages(user)]
    return found[0]


def now(slack: FakeSlack, message: Any) -> Any:
    """A message as it reads now (after updates)."""
    return slack.message(message.channel, message.ts)


def the_invoice_message(bot: RunningBot, slack: FakeSlack, invoice_id: str) -> Any:
    """The invoice's own message, where the bot says it posted it."""
    invoice = bot.invoice(invoice_id)
    assert invoice.channel_id == "CSALES" and invoice.message_ts
    return slack.message(invoice.channel_id, invoice.message_ts)


def press(bot: RunningBot, slack: FakeSlack, action: str, invoice_id: str, user: str, message: Any) -> str:
    """`user` presses `action` on the request `message`; returns the press's response_url."""
    url = slack.response_url(f"press-{uuid.uuid4().hex[:8]}")
    response = bot.block_action(action, invoice_id, user=user, channel=message.channel, message_ts=message.ts,
                                response_url=url, trigger_id=slack.new_trigger_id())
    assert response.status_code == 200, response.text
    return url


def answer(slack: FakeSlack, url: str) -> str:
    return str(wait_for(lambda: [r for r in slack.responses if r.url == url], 10, "the answer")[-1]["text"])


def approval_row(bot: RunningBot, invoice_id: str) -> dict[str, Any]:
    (row,) = bot.rows("SELECT * FROM approvals WHERE invoice_id = ?", (invoice_id,))
    return row


def actions(bot: RunningBot, invoice_id: str) -> list[tuple[str, str]]:
    return [(entry.action, entry.actor) for entry in bot.audit_for(invoice_id)]


@on_both_databases
def test_held_above_the_limit_then_approved_and_sent_once_with_the_forms_keys(
        approving_bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    bot = approving_bot
    view, invoice = submit_invoice(bot, fake_slack, fake_stripe, "6,000.00")
    invoice_id = invoice["id"]
    # Held: a draft in Stripe, nothing finalized or sent.
    assert fake_stripe.get(invoice_id)["status"] == "draft" and invoice["total"] == 600000
    assert not requests_to(fake_stripe, invoice_id, "finalize") and not requests_to(fake_stripe, invoice_id, "send")
    form = json.dumps(fake_slack.views[view["id"]])
    assert "Sent for approval" in form and "$5,000.00" in form
    message = json.dumps(the_invoice_message(bot, fake_slack, invoice_id).blocks)
    assert "Awaiting approval" in message and '"invoice_send"' not in message
    assert bot.invoice(invoice_id).approval == "pending"
    # Each approver is asked by DM; the rep is not.
    request = the_request(fake_slack, APPROVER, invoice_id)
    asked = json.dumps(request.blocks)
    assert "approval_approve" in asked and "approval_reject" in asked and "$6,000.00" in asked and f"<@{REP}>" in asked
    second_request = the_request(fake_slack, SECOND_APPROVER, invoice_id)
    assert not [m for m in fake_slack.messages(REP) if "Approval needed" in json.dumps(m.blocks or [])]

    # A double click on Approve: both presses answered, the invoice finalized and sent once.
    first = press(bot, fake_slack, "approval_approve", invoice_id, APPROVER, request)
    second = press(bot, fake_slack, "approval_approve", invoice_id, APPROVER, request)
    bot.wait_idle()
    fake_stripe.flush_webhooks()
    bot.wait_idle()
    said = sorted([answer(fake_slack, first), answer(fake_slack, second)])
    assert any(text.startswith(":white_check_mark: Approved") for text in said), said
    assert any("already approved" in text and f"Approved by <@{APPROVER}>" in text for text in said), said
    assert fake_stripe.get(invoice_id)["status"] == "open" and sent_events(fake_stripe, invoice_id) == 1
    # With the same idempotency keys the form would have used to send it directly.
    assert {r.idempotency_key for r in requests_to(fake_stripe, invoice_id, "finalize")} == {f"{view['id']}:finalize"}
    assert {r.idempotency_key for r in requests_to(fake_stripe, invoice_id, "send")} == {f"{view['id']}:send"}
    assert len([r for r in requests_to(fake_stripe, invoice_id, "send") if not r.replayed]) == 1

    # The requests show who decided (both approvers'), the invoice's message its new state, the rep hears it.
    for asked in (request, second_request):
        decided = json.dumps(now(fake_slack, asked).blocks)
        assert f"Approved by <@{APPROVER}>" in decided and "approval_approve" not in decided
    message = json.dumps(the_invoice_message(bot, fake_slack, invoice_id).blocks)
    assert "Awaiting approval" not in message and "invoice_remind" in message
    told = [m.text or "" for m in fake_slack.messages(REP)]
    assert any(f"<@{APPROVER}> approved" in text and "it was sent" in text for text in told), told
    assert approval_row(bot, invoice_id)["status"] == "approved"
    assert actions(bot, invoice_id) == [("create", REP), ("approval_requested", REP), ("approve", APPROVER),
                                        ("send", REP)]


@on_both_databases
def test_rejected_with_a_reason_deletes_the_draft_and_a_stale_approve_changes_nothing(
        approving_bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    bot = approving_bot
    _, invoice = submit_invoice(bot, fake_slack, fake_stripe, "4500", currency="eur")  # above EUR 4,000.00
    invoice_id = invoice["id"]
    request = the_request(fake_slack, APPROVER, invoice_id)
    second_request = the_request(fake_slack, SECOND_APPROVER, invoice_id)
    trigger_calls = len(fake_slack.calls_to("views.open"))
    press(bot, fake_slack, "approval_reject", invoice_id, APPROVER, request)
    opened = wait_for(lambda: fake_slack.calls_to("views.open")[trigger_calls:], 10, "the reason form")[0]
    form = {**opened.args["view"], "id": opened.result["view"]["id"]}
    # A reason is required, and refused with invisible characters.
    for bad in ("   ", "no\u202ewhy"):
        refused = bot.submit(form, {"reason": bad}, user=APPROVER).json()
        assert refused["response_action"] == "errors" and "reason" in refused["errors"], refused
    done = bot.submit(form, {"reason": "Wrong customer <!channel>"}, user=APPROVER)
    assert done.json()["response_action"] == "update"
    bot.wait_idle()
    fake_stripe.flush_webhooks()
    bot.wait_idle()

    assert not [i for i in fake_stripe.objects("invoice") if i["id"] == invoice_id]  # the draft is deleted
    assert not requests_to(fake_stripe, invoice_id, "finalize") and not requests_to(fake_stripe, invoice_id, "send")
    assert "Rejected" in json.dumps(fake_slack.views[form["id"]])
    told = [m.text or "" for m in fake_slack.messages(REP)]
    assert any(f"<@{APPROVER}> rejected" in t and "Wrong customer &lt;!channel&gt;" in t for t in told), told
    decided = json.dumps(now(fake_slack, second_request).blocks)
    assert f"Rejected by <@{APPROVER}>" in decided and "approval_reject" not in decided
    assert "Rejected" in json.dumps(the_invoice_message(bot, fake_slack, invoice_id).blocks)
    assert bot.invoice(invoice_id).status == "deleted"
    (rejected,) = [entry for entry in bot.audit_for(invoice_id) if entry.action == "reject"]
    assert rejected.actor == APPROVER and rejected.detail["reason"] == "Wrong customer <!channel>"

    # The other approver's stale Approve (their message from before): answered, nothing repeated.
    stale = press(bot, fake_slack, "approval_approve", invoice_id, SECOND_APPROVER, request)
    text = answer(fake_slack, stale)
    bot.wait_idle()
    assert "already rejected" in text and f"Rejected by <@{APPROVER}>" in text, text
    assert not requests_to(fake_stripe, invoice_id, "finalize")
    assert approval_row(bot, invoice_id)["decided_by"] == APPROVER
    assert [a for a, _ in actions(bot, invoice_id)].count("reject") == 1 and ("approve", SECOND_APPROVER) not in \
        actions(bot, invoice_id)


def test_a_non_approver_and_the_rep_are_refused_and_nothing_changes(
        approving_bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    bot = approving_bot
    _, invoice = submit_invoice(bot, fake_slack, fake_stripe, "5000.01")  # a cent above
    invoice_id = invoice["id"]
    request = the_request(fake_slack, APPROVER, invoice_id)
    refused = {user: answer(fake_slack, press(bot, fake_slack, "approval_approve", invoice_id, user, request))
               for user in (NOBODY, REP, ADMIN)}  # an admin is no approver once APPROVERS names some
    bot.wait_idle()
    assert refused[NOBODY].startswith("Only approvers can approve"), refused
    assert refused[ADMIN].startswith("Only approvers can approve"), refused
    assert refused[REP].startswith("You can't approve or reject an invoice you created"), refused
    # Nothing changed: still held, nothing sent, nothing decided.
    assert fake_stripe.get(invoice_id)["status"] == "draft" and not requests_to(fake_stripe, invoice_id, "finalize")
    assert approval_row(bot, invoice_id)["status"] == "pending" and bot.invoice(invoice_id).approval == "pending"
    assert [action for action, _ in actions(bot, invoice_id)] == ["create", "approval_requested"]
    # Reject by the rep opens no form either.
    opened = len(fake_slack.calls_to("views.open"))
    assert answer(fake_slack, press(bot, fake_slack, "approval_reject", invoice_id, REP, request)).startswith(
        "You can't approve")
    assert len(fake_slack.calls_to("views.open")) == opened


def test_at_or_below_the_limit_and_in_a_currency_without_one_it_goes_out_at_once(
        approving_bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    for amount, currency in (("5000.00", "usd"), ("100000", "jpy")):
        _, invoice = submit_invoice(approving_bot, fake_slack, fake_stripe, amount, currency=currency)
        assert fake_stripe.get(invoice["id"])["status"] == "open"
        assert approving_bot.rows("SELECT * FROM approvals WHERE invoice_id = ?", (invoice["id"],)) == []
    assert not [m for m in fake_slack.messages(APPROVER) if "Approval needed" in json.dumps(m.blocks or [])]


def test_a_draft_above_the_limit_is_held_when_sent_and_approval_uses_the_buttons_keys(
        approving_bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    bot = approving_bot
    _, invoice = submit_invoice(bot, fake_slack, fake_stripe, "9000", delivery="draft")  # saved, not held
    invoice_id = invoice["id"]
    message = the_invoice_message(bot, fake_slack, invoice_id)
    assert '"invoice_send"' in json.dumps(message.blocks)
    assert bot.rows("SELECT * FROM approvals WHERE invoice_id = ?", (invoice_id,)) == []
    bot.block_action("invoice_send", invoice_id, user=REP, message_ts=message.ts)
    bot.wait_idle()
    assert fake_stripe.get(invoice_id)["status"] == "draft" and not requests_to(fake_stripe, invoice_id, "send")
    assert any("went to the approvers" in (e.text or "") for e in fake_slack.ephemerals)
    assert "Awaiting approval" in json.dumps(the_invoice_message(bot, fake_slack, invoice_id).blocks)
    # Send pressed again while it waits: answered, not held twice.
    bot.block_action("invoice_send", invoice_id, user=REP, message_ts=message.ts)
    bot.wait_idle()
    assert any("is waiting for approval" in (e.text or "") for e in fake_slack.ephemerals)
    request = the_request(fake_slack, SECOND_APPROVER, invoice_id)
    press(bot, fake_slack, "approval_approve", invoice_id, SECOND_APPROVER, request)
    bot.wait_idle()
    assert fake_stripe.get(invoice_id)["status"] == "open" and sent_events(fake_stripe, invoice_id) == 1
    # The keys the Send button uses when nothing holds it.
    assert {r.idempotency_key for r in requests_to(fake_stripe, invoice_id, "finalize")} == {f"{invoice_id}:finalize"}
    assert {r.idempotency_key for r in requests_to(fake_stripe, invoice_id, "send")} == {f"{invoice_id}:send"}
    assert [a for a, _ in actions(bot, invoice_id)] == ["create", "approval_requested", "approve", "send"]


def test_without_approvers_the_admins_approve_and_a_user_group_names_its_members(
        make_bot: Any, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    for user in (REP, APPROVER, SECOND_APPROVER, ADMIN):
        fake_slack.add_user(user)
    fake_slack.add_usergroup("SFINANCE", [APPROVER, SECOND_APPROVER, REP])
    bot: RunningBot = make_bot(approval_limits="usd:100", invoice_admins=f"{ADMIN},SFINANCE")
    _, invoice = submit_invoice(bot, fake_slack, fake_stripe, "100.01")
    invoice_id = invoice["id"]
    for approver in (ADMIN, APPROVER, SECOND_APPROVER):  # the rep, in the group too, is not asked
        the_request(fake_slack, approver, invoice_id)
    assert not [m for m in fake_slack.messages(REP) if "Approval needed" in json.dumps(m.blocks or [])]
    request = the_request(fake_slack, ADMIN, invoice_id)
    assert answer(fake_slack, press(bot, fake_slack, "approval_approve", invoice_id, REP, request)).startswith(
        "You can't approve")
    press(bot, fake_slack, "approval_approve", invoice_id, ADMIN, request)
    bot.wait_idle()
    assert fake_stripe.get(invoice_id)["status"] == "open" and sent_events(fake_stripe, invoice_id) == 1


# --- the settings -----------------------------------------------------------------------------------------
VALID = {"slack_bot_token": "xoxb-1-2-secret", "slack_signing_secret": "signing-secret", "stripe_api_key":
         "sk_test_secret", "stripe_webhook_secret": "whsec_secret", "payments_channel": "C0123456789"}


def test_limits_are_major_units_in_each_currencys_own_decimals() -> None:
    assert parse_limits("usd:5000,eur:5000") == {"usd": 500000, "eur": 500000}
    assert parse_limits(" USD:5,000.50 , jpy:500000, kwd:1.250, isk:100") == {
        "usd": 500050, "jpy": 500000, "kwd": 1250, "isk": 10000}
    assert parse_limits("usd:0") == {"usd": 0} and parse_limits("") == {}
    settings = load_settings(None, **VALID, approval_limits="usd:5000", approvers="UAPPROVER,SFINANCE")
    assert settings.approval_limit_amounts == {"usd": 500000}
    assert settings.approver_ids == {"UAPPROVER", "SFINANCE"}


@pytest.mark.parametrize(("limits", "said"), [
    ("xyz:5000", "'xyz:5000': XYZ is not a currency Stripe supports"),
    ("usd5000", "'usd5000' is not currency:amount, like usd:5000"),
    ("usd:5000.001", "USD amounts have at most 2 decimals"),
    ("jpy:10.5", "JPY has no decimals"),
    ("usd:1,usd:2", "names USD twice"),
    ("usd:-5", "without a minus sign"),
])
def test_a_malformed_limit_is_named_and_stops_the_bot(limits: str, said: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, **VALID, approval_limits=limits)
    (problem,) = raised.value.problems
    assert problem.startswith("APPROVAL_LIMITS ") and said in problem, problem


def test_approvers_must_be_user_or_group_ids() -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, **VALID, approvers="UAPPROVER,@boss")
    assert raised.value.problems == ["APPROVERS '@boss' is not a Slack user ID (U...) or user group ID (S...)"]


def test_serve_with_a_limit_in_an_unknown_currency_names_it_and_exits_nonzero(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
           **{name.upper(): value for name, value in VALID.items()}, "APPROVAL_LIMITS": "usd:5000,xyz:5000"}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--env-file", "/dev/null"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "APPROVAL_LIMITS 'xyz:5000': XYZ is not a currency Stripe supports" in result.stderr
    assert "Traceback" not in result.stderr and not list(tmp_path.glob("*.db"))

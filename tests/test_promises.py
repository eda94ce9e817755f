"""Promise to pay, Disputed, Resolve and an invoice's own chasing, end to end over HTTP against the fakes:
the forms, Stripe's metadata and the store, a promise that lapses, a dispute that stops chasing, bad input
answered on its field with nothing changed, and a database rebuilt from Stripe recovering them."""

from __future__ import annotations

import json
import time
import uuid
from datetime import date, timedelta
from typing import Any

import stripe

from bot.domain.chasing import ChaseState
from bot.domain.invoices import snapshot_from_stripe
from bot.domain.tenants import DEFAULT_TENANT
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import STRIPE_KEY, TEAM_ID, RunningBot, create_invoice, on_both_databases, wait_for
from tests.test_chasing import evening_zone, invoice_thread, local_today, press, sends, set_due, settle, sweep


def open_form(bot: RunningBot, fake_slack: FakeSlack, action_id: str, invoice_id: str,
              user: str = "UREP") -> dict[str, Any]:
    """Press a chasing button on the invoice message; the form it opened (with its view id)."""
    before = len(fake_slack.calls_to("views.open"))
    stored = bot.invoice(invoice_id)
    press(bot, action_id, invoice_id, user=user, channel=str(stored.channel_id), message_ts=stored.message_ts,
          trigger_id=fake_slack.new_trigger_id(user))
    wait_for(lambda: len(fake_slack.calls_to("views.open")) > before, 10, "views.open")
    call = fake_slack.calls_to("views.open")[-1]
    assert call.ok, call.error
    return {**call.args["view"], "id": call.result["view"]["id"]}


def submit(bot: RunningBot, view: dict[str, Any], values: dict[str, Any], user: str = "UREP") -> dict[str, Any]:
    """The form submitted as Slack sends it: each input's state by its element's type."""
    state: dict[str, Any] = {}
    for block in view["blocks"]:
        if block.get("type") != "input":
            continue
        element = block["element"]
        value = values.get(block["block_id"])
        if element["type"] == "datepicker":
            state[block["block_id"]] = {element["action_id"]: {"type": "datepicker", "selected_date": value}}
        else:
            state[block["block_id"]] = {element["action_id"]: {"type": element["type"], "value": value}}
    response = bot.interactive({
        "type": "view_submission", "team": {"id": TEAM_ID, "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID}, "api_app_id": "A123",
        "trigger_id": f"{uuid.uuid4().int % 10**12}.1.x", "view": {**view, "state": {"values": state}},
    })
    assert response.status_code == 200, response.text
    return response.json() if response.content else {}


def metadata_updates(fake_stripe: FakeStripe, invoice_id: str) -> list[dict[str, Any]]:
    return [r.params["metadata"] for r in fake_stripe.requests
            if r.method == "POST" and r.path == f"/v1/invoices/{invoice_id}" and r.status == 200
            and "metadata" in r.params]


def message_of(fake_slack: FakeSlack, bot: RunningBot, invoice_id: str) -> str:
    stored = bot.invoice(invoice_id)
    found = fake_slack.message(str(stored.channel_id), str(stored.message_ts))
    assert found is not None
    return json.dumps(found.blocks)


@on_both_databases
def test_a_promise_pauses_chasing_and_when_it_lapses_the_rep_hears_and_chasing_resumes(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    zone = evening_zone()
    fake_slack.add_user("UREP", tz=zone)
    invoice_id = create_invoice(bot, fake_slack, fake_stripe)["id"]
    settle(bot, fake_stripe)
    today = local_today(zone)
    set_due(bot, fake_stripe, invoice_id, zone, today - timedelta(days=7))  # today would be a reminder day

    # Bad input: a date in the past is refused on its field, and nothing changes.
    view = open_form(bot, fake_slack, "chase_promise", invoice_id)
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == ["promised_until", "promise_note"]
    answer = submit(bot, view, {"promised_until": (today - timedelta(days=1)).isoformat()})
    assert answer["response_action"] == "errors" and "in the past" in answer["errors"]["promised_until"]
    answer = submit(bot, view, {"promised_until": "tomorrow"})
    assert answer["response_action"] == "errors" and "promised_until" in answer["errors"]
    bot.wait_idle()
    assert metadata_updates(fake_stripe, invoice_id) == [] and bot.invoice(invoice_id).chase == ChaseState()

    promised = today + timedelta(days=3)
    answer = submit(bot, view, {"promised_until": promised.isoformat(), "promise_note": "Wire <!here> on Friday"})
    assert answer["response_action"] == "update"
    settle(bot, fake_stripe)
    stored = bot.invoice(invoice_id).chase
    assert stored.promised_until == promised and stored.promise_note == "Wire <!here> on Friday"
    assert fake_stripe.get(invoice_id)["metadata"]["invoicebot_promised_until"] == promised.isoformat()
    shown = message_of(fake_slack, bot, invoice_id)
    assert "Promised to pay by" in shown and "<!here>" not in shown and "chase_resolve" in shown
    assert any("noted a promise to pay" in text for text in invoice_thread(fake_slack, invoice_id, bot))
    assert [e.action for e in bot.audit_for(invoice_id)].count("promise") == 1
    sent = sends(fake_stripe, invoice_id)
    sweep(bot)
    settle(bot, fake_stripe)
    assert sends(fake_stripe, invoice_id) == sent  # paused until the promised day

    # The promised day passes unpaid (the test moves it back to yesterday).
    bot.execute("UPDATE invoices SET promised_until = ? WHERE stripe_id = ?",
                ((today - timedelta(days=1)).isoformat(), invoice_id))
    sweep(bot)
    sweep(bot)
    settle(bot, fake_stripe)
    thread = invoice_thread(fake_slack, invoice_id, bot)
    lapsed = [text for text in thread if "passed, so chasing resumes" in text]
    assert len(lapsed) == 1 and "<@UREP>" in lapsed[0]  # once, to the rep
    assert bot.invoice(invoice_id).chase.promise_lapsed_on == today
    assert fake_stripe.get(invoice_id)["metadata"]["invoicebot_promise_lapsed"] == today.isoformat()
    assert sends(fake_stripe, invoice_id) == sent + 1  # chasing resumed: the day after the promise
    assert any("the promise to pay passed" in text for text in thread)
    assert "passed unpaid" in message_of(fake_slack, bot, invoice_id)


@on_both_databases
def test_a_dispute_stops_chasing_shows_the_flag_tells_admins_and_resolve_resumes(
        make_bot: Any, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    bot: RunningBot = make_bot(invoice_admins="UADMIN")
    zone = evening_zone()
    fake_slack.add_user("UREP", tz=zone)
    fake_slack.add_user("UADMIN")
    invoice_id = create_invoice(bot, fake_slack, fake_stripe)["id"]
    settle(bot, fake_stripe)
    set_due(bot, fake_stripe, invoice_id, zone, local_today(zone))  # due today: a reminder day

    view = open_form(bot, fake_slack, "chase_dispute", invoice_id)
    answer = submit(bot, view, {"dispute_reason": "  "})
    assert answer["response_action"] == "errors" and "dispute_reason" in answer["errors"]
    answer = submit(bot, view, {"dispute_reason": "bad\u202eline"})
    assert answer["response_action"] == "errors" and "invisible character" in answer["errors"]["dispute_reason"]
    bot.wait_idle()
    assert metadata_updates(fake_stripe, invoice_id) == [] and not bot.invoice(invoice_id).chase.disputed

    assert submit(bot, view, {"dispute_reason": "Says <!channel> line 2 was never delivered"})[
        "response_action"] == "update"
    settle(bot, fake_stripe)
    chase = bot.invoice(invoice_id).chase
    assert chase.disputed and chase.disputed_by == "UREP"
    metadata = fake_stripe.get(invoice_id)["metadata"]
    assert metadata["invoicebot_dispute"] == "Says <!channel> line 2 was never delivered"
    assert metadata["invoicebot_disputed_by"] == "UREP" and metadata["slack_user"] == "UREP"  # others kept
    shown = message_of(fake_slack, bot, invoice_id)
    assert "Disputed" in shown and "&lt;!channel&gt;" in shown and "<!channel>" not in shown
    assert "chase_promise" not in shown and "chase_resolve" in shown
    told = [m.text or "" for m in fake_slack.messages("UADMIN")]
    assert len(told) == 1 and "marked" in told[0] and "disputed" in told[0] and "<!channel>" not in told[0]
    assert "Marked disputed" in json.dumps(fake_slack.views[view["id"]])  # the form says what was done

    sent = sends(fake_stripe, invoice_id)
    sweep(bot)
    settle(bot, fake_stripe)
    assert sends(fake_stripe, invoice_id) == sent  # a dispute stops chasing

    stored = bot.invoice(invoice_id)
    press(bot, "chase_resolve", invoice_id, channel=str(stored.channel_id), message_ts=stored.message_ts)
    settle(bot, fake_stripe)
    assert not bot.invoice(invoice_id).chase.disputed
    assert "invoicebot_dispute" not in fake_stripe.get(invoice_id)["metadata"]
    assert any("Resolved by <@UREP>" in text for text in invoice_thread(fake_slack, invoice_id, bot))
    sweep(bot)
    settle(bot, fake_stripe)
    assert sends(fake_stripe, invoice_id) == sent + 1  # chased again
    actions = [e.action for e in bot.audit_for(invoice_id)]
    assert actions.index("dispute") < actions.index("resolve") < len(actions) - 1  # then the reminder
    assert actions[-1] == "remind"


def test_only_the_rep_and_admins_change_how_an_invoice_is_chased(bot: RunningBot, fake_slack: FakeSlack,
                                                                 fake_stripe: FakeStripe) -> None:
    fake_slack.add_user("UREP")
    fake_slack.add_user("UOTHER")
    fake_slack.add_user("UBOSS", is_admin=True)
    invoice_id = create_invoice(bot, fake_slack, fake_stripe)["id"]
    settle(bot, fake_stripe)
    stored = bot.invoice(invoice_id)
    opened = len(fake_slack.calls_to("views.open"))
    press(bot, "chase_dispute", invoice_id, user="UOTHER", channel=str(stored.channel_id),
          message_ts=stored.message_ts)
    bot.wait_idle()
    assert len(fake_slack.calls_to("views.open")) == opened
    assert any("Only the rep who created this invoice or an invoicing admin" in json.dumps(e.args)
               for e in fake_slack.ephemerals)
    # A form opened by the rep and submitted by someone else (forged) changes nothing either.
    view = open_form(bot, fake_slack, "chase_dispute", invoice_id)
    submit(bot, view, {"dispute_reason": "not mine to say"}, user="UOTHER")
    settle(bot, fake_stripe)
    assert not bot.invoice(invoice_id).chase.disputed and metadata_updates(fake_stripe, invoice_id) == []
    # A workspace admin may.
    view = open_form(bot, fake_slack, "chase_dispute", invoice_id, user="UBOSS")
    submit(bot, view, {"dispute_reason": "customer called finance"}, user="UBOSS")
    settle(bot, fake_stripe)
    assert bot.invoice(invoice_id).chase.disputed_by == "UBOSS"


def test_an_invoices_own_cadence_from_its_chasing_form(bot: RunningBot, fake_slack: FakeSlack,
                                                       fake_stripe: FakeStripe) -> None:
    zone = evening_zone()
    fake_slack.add_user("UREP", tz=zone)
    invoice_id = create_invoice(bot, fake_slack, fake_stripe)["id"]
    settle(bot, fake_stripe)
    set_due(bot, fake_stripe, invoice_id, zone, local_today(zone) - timedelta(days=2))  # +2: not in the default cadence

    view = open_form(bot, fake_slack, "chase_cadence", invoice_id)
    answer = submit(bot, view, {"chase_days": "every other day"})
    assert answer["response_action"] == "errors" and "not a number of days" in answer["errors"]["chase_days"]
    assert metadata_updates(fake_stripe, invoice_id) == []
    assert submit(bot, view, {"chase_days": "2, 9"})["response_action"] == "update"
    settle(bot, fake_stripe)
    assert bot.invoice(invoice_id).chase.days == (2, 9)
    assert fake_stripe.get(invoice_id)["metadata"]["invoicebot_chasing"] == "2,9"
    assert "2 and 9 days after" in message_of(fake_slack, bot, invoice_id)
    sent = sends(fake_stripe, invoice_id)
    sweep(bot)
    settle(bot, fake_stripe)
    assert sends(fake_stripe, invoice_id) == sent + 1  # today is its own day 2

    view = open_form(bot, fake_slack, "chase_cadence", invoice_id)
    assert submit(bot, view, {"chase_days": "off"})["response_action"] == "update"
    settle(bot, fake_stripe)
    assert bot.invoice(invoice_id).chase.days == ()
    view = open_form(bot, fake_slack, "chase_cadence", invoice_id)
    assert submit(bot, view, {"chase_days": ""})["response_action"] == "update"  # back to the workspace's
    settle(bot, fake_stripe)
    assert bot.invoice(invoice_id).chase.days is None
    assert "invoicebot_chasing" not in fake_stripe.get(invoice_id)["metadata"]


@on_both_databases
def test_a_rebuilt_database_recovers_promises_and_disputes_from_stripe(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    fake_slack.add_user("UREP")
    invoice_id = create_invoice(bot, fake_slack, fake_stripe)["id"]
    settle(bot, fake_stripe)
    promised = local_today("America/Los_Angeles") + timedelta(days=5)
    view = open_form(bot, fake_slack, "chase_promise", invoice_id)
    submit(bot, view, {"promised_until": promised.isoformat(), "promise_note": "by wire"})
    settle(bot, fake_stripe)
    view = open_form(bot, fake_slack, "chase_cadence", invoice_id)
    submit(bot, view, {"chase_days": "-1 5"})
    settle(bot, fake_stripe)
    stale = fake_stripe.get(invoice_id)  # as Stripe has it now: the promise, the cadence

    # The database is lost: the row comes back from Stripe's next event about the invoice.
    bot.execute("DELETE FROM invoices WHERE stripe_id = ?", (invoice_id,))
    client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": fake_stripe.url})
    client.v1.invoices.update(invoice_id, params={"metadata": {"po_number": "PO-7"}})
    settle(bot, fake_stripe)
    rebuilt = bot.invoice(invoice_id).chase
    assert (rebuilt.promised_until, rebuilt.promise_note, rebuilt.days, rebuilt.from_stripe) == (
        promised, "by wire", (-1, 5), True)

    # Once the bot changes it again, an old snapshot replayed later does not bring the old state back.
    bot.execute("UPDATE invoices SET chasing_from_stripe = 0, chasing_changed_at = ?, promised_until = NULL "
                "WHERE stripe_id = ?", (time.time(), invoice_id))
    with bot.app.store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.invoices.apply(snapshot_from_stripe(stale), int(time.time()) + 60)
        uow.commit()
    assert bot.invoice(invoice_id).chase.promised_until is None
    assert isinstance(promised, date)

"""Chasing unpaid invoices: the schedule's arithmetic (pure, at DST edges), then end to end over HTTP
against the fakes: the evening preview and its buttons, the morning's reminders, one a day whoever asks,
and `/invoice chasing`."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import stripe
from pydantic import ValidationError

from bot import blocks, slash
from bot.chase_forms import parse_cadence_form
from bot.domain import chasing
from bot.domain.chasing import (
    DEFAULT_CADENCE,
    CadenceError,
    ChaseState,
    chase_marks,
    describe_cadence,
    due_day,
    local_moment,
    parse_cadence,
    plan,
    reminder_days,
)
from bot.domain.invoices import Invoice
from bot.domain.tenants import DEFAULT_TENANT
from bot.forms import field_errors
from bot.jobs.payloads import ChaseSweep
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import STRIPE_KEY, TEAM_ID, RunningBot, create_invoice, on_both_databases, wait_for

NEW_YORK = ZoneInfo("America/New_York")
SYDNEY = ZoneInfo("Australia/Sydney")
SANTIAGO = ZoneInfo("America/Santiago")
DAY = 86400


def at(zone: ZoneInfo, *parts: int) -> float:
    return datetime(*parts, tzinfo=zone).timestamp()  # type: ignore[misc]


def utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=UTC).timestamp()  # type: ignore[misc]


# --- the cadence ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "days"), [
    ("-3, 0, 7, 14, 30", (-3, 0, 7, 14, 30)), ("30 14 7 0 -3", (-3, 0, 7, 14, 30)), ("7,7,-1", (-1, 7)),
    ("off", ()), ("OFF", ()), ("+5; 10", (5, 10)), ("−3 0", (-3, 0)),
])
def test_a_cadence_is_days_around_the_due_date(text: str, days: tuple[int, ...]) -> None:
    assert parse_cadence(text) == days
    assert chasing.read_cadence(chasing.cadence_text(days)) == days


@pytest.mark.parametrize("text", ["", "soon", "3d", "400", "-61", "1 2 3 4 5 6 7 8 9 10 11 12 13", "1.5"])
def test_a_cadence_that_does_not_read_says_how_to_write_one(text: str) -> None:
    with pytest.raises(CadenceError):
        parse_cadence(text)


def test_the_default_cadence_in_words() -> None:
    assert DEFAULT_CADENCE == (-3, 0, 7, 14, 30)
    assert describe_cadence(DEFAULT_CADENCE) == "3 days before, on the due date, 7, 14 and 30 days after"
    assert describe_cadence((-1, 1)) == "1 day before, 1 day after"
    assert describe_cadence(()) == "no reminders"


def test_reminder_days_are_calendar_days_around_the_due_date() -> None:
    due = date(2025, 3, 10)
    assert reminder_days(due, DEFAULT_CADENCE, ChaseState()) == [
        date(2025, 3, 7), date(2025, 3, 10), date(2025, 3, 17), date(2025, 3, 24), date(2025, 4, 9)]
    assert reminder_days(due, (), ChaseState()) == []
    assert reminder_days(due, DEFAULT_CADENCE, ChaseState(days=())) == []  # this invoice: off
    assert ChaseState(days=(1,)).cadence(DEFAULT_CADENCE) == (1,)


# --- time zones and DST -----------------------------------------------------------------------------
def test_the_due_date_is_the_reps_calendar_date() -> None:
    moment = utc(2025, 3, 10, 4, 30)  # one instant
    assert due_day(moment, NEW_YORK) == date(2025, 3, 10)  # 00:30 EDT
    assert due_day(moment, ZoneInfo("America/Los_Angeles")) == date(2025, 3, 9)  # 21:30 PDT
    assert due_day(moment, ZoneInfo("Asia/Tokyo")) == date(2025, 3, 10)


def test_days_are_counted_in_dates_not_seconds_across_a_dst_change() -> None:
    due_at = at(NEW_YORK, 2025, 3, 4, 23, 30)  # EST; clocks go forward on Mar 9
    # Seven days of seconds later is already Mar 12 00:30 EDT; the reminder 7 days after is on Mar 11.
    assert datetime.fromtimestamp(due_at + 7 * DAY, NEW_YORK).date() == date(2025, 3, 12)
    days = reminder_days(due_day(due_at, NEW_YORK), DEFAULT_CADENCE, ChaseState())
    assert date(2025, 3, 11) in days and date(2025, 3, 12) not in days


@pytest.mark.parametrize(("day", "hour", "expected"), [
    (date(2025, 3, 8), 9, utc(2025, 3, 8, 14)),  # EST
    (date(2025, 3, 9), 9, utc(2025, 3, 9, 13)),  # the morning clocks went forward: EDT
    (date(2025, 3, 8), 18, utc(2025, 3, 8, 23)),
    (date(2025, 11, 1), 9, utc(2025, 11, 1, 13)),  # EDT
    (date(2025, 11, 2), 9, utc(2025, 11, 2, 14)),  # the morning clocks went back: EST
    (date(2025, 3, 9), 2, utc(2025, 3, 9, 7)),  # 02:00 does not exist that night: 03:00 EDT
    (date(2025, 11, 2), 1, utc(2025, 11, 2, 5)),  # 01:00 happens twice: the first (EDT)
])
def test_local_moments_follow_the_zones_offset_that_day(day: date, hour: int, expected: float) -> None:
    assert local_moment(day, hour, NEW_YORK) == expected


def test_local_moments_in_the_southern_hemisphere_and_at_a_midnight_change() -> None:
    assert local_moment(date(2025, 10, 4), 9, SYDNEY) == utc(2025, 10, 3, 23)  # AEST, +10
    assert local_moment(date(2025, 10, 5), 9, SYDNEY) == utc(2025, 10, 4, 22)  # AEDT from 02:00 that night
    # Chile's clocks jump from 24:00 to 01:00: midnight of Sep 7 does not exist; the day still has its morning.
    assert local_moment(date(2025, 9, 7), 0, SANTIAGO) == utc(2025, 9, 7, 4)  # 01:00 -03
    assert local_moment(date(2025, 9, 7), 9, SANTIAGO) == utc(2025, 9, 7, 12)
    assert local_moment(date(2025, 9, 6), 18, SANTIAGO) == utc(2025, 9, 6, 22)


def test_the_reminder_on_the_morning_clocks_go_forward_waits_for_0900_local() -> None:
    due_at = at(NEW_YORK, 2025, 3, 2, 12)  # +7 days: Mar 9, the day clocks go forward
    state = ChaseState()
    assert plan(int(due_at), state, DEFAULT_CADENCE, NEW_YORK, utc(2025, 3, 9, 12, 59)).chase_on is None
    assert plan(int(due_at), state, DEFAULT_CADENCE, NEW_YORK, utc(2025, 3, 9, 13)).chase_on == date(2025, 3, 9)
    # Its preview, the evening before (still EST): from 18:00, i.e. 23:00 UTC.
    assert plan(int(due_at), state, DEFAULT_CADENCE, NEW_YORK, utc(2025, 3, 8, 22, 59)).preview_of is None
    assert plan(int(due_at), state, DEFAULT_CADENCE, NEW_YORK, utc(2025, 3, 8, 23)).preview_of == date(2025, 3, 9)
    # Late that night (after midnight UTC, still Mar 8 in New York) the preview is still tomorrow's.
    assert plan(int(due_at), state, DEFAULT_CADENCE, NEW_YORK, utc(2025, 3, 9, 4)).preview_of == date(2025, 3, 9)


def test_the_reminder_on_the_morning_clocks_go_back_and_in_sydney() -> None:
    due_at = at(NEW_YORK, 2025, 10, 26, 12)  # +7: Nov 2, clocks go back at 02:00
    assert plan(int(due_at), ChaseState(), DEFAULT_CADENCE, NEW_YORK, utc(2025, 11, 2, 13, 59)).chase_on is None
    assert plan(int(due_at), ChaseState(), DEFAULT_CADENCE, NEW_YORK, utc(2025, 11, 2, 14)).chase_on == \
        date(2025, 11, 2)
    sydney_due = at(SYDNEY, 2025, 10, 5, 17)  # due on the day AEDT starts
    assert plan(int(sydney_due), ChaseState(), DEFAULT_CADENCE, SYDNEY, utc(2025, 10, 4, 21, 59)).chase_on is None
    assert plan(int(sydney_due), ChaseState(), DEFAULT_CADENCE, SYDNEY, utc(2025, 10, 4, 22)).chase_on == \
        date(2025, 10, 5)


def test_the_same_invoice_is_chased_on_each_reps_own_calendar() -> None:
    due_at = int(utc(2025, 6, 10, 3))  # Jun 9 in Los Angeles, Jun 10 in Tokyo
    los_angeles, tokyo = ZoneInfo("America/Los_Angeles"), ZoneInfo("Asia/Tokyo")
    assert chasing.next_reminder(due_at, ChaseState(), (0,), los_angeles, utc(2025, 6, 1)) == date(2025, 6, 9)
    assert chasing.next_reminder(due_at, ChaseState(), (0,), tokyo, utc(2025, 6, 1)) == date(2025, 6, 10)


# --- what pauses and stops chasing -----------------------------------------------------------------------
def test_skip_drops_one_reminder_and_snooze_moves_it_a_week() -> None:
    due = date(2025, 3, 10)
    skipped = ChaseState().skipping(date(2025, 3, 17), today=date(2025, 3, 16))
    assert date(2025, 3, 17) not in reminder_days(due, DEFAULT_CADENCE, skipped)
    assert date(2025, 3, 24) in reminder_days(due, DEFAULT_CADENCE, skipped)
    snoozed = ChaseState().snoozing(date(2025, 3, 17))
    assert snoozed.snoozed_until == date(2025, 3, 24)
    days = reminder_days(due, DEFAULT_CADENCE, snoozed)
    assert date(2025, 3, 17) not in days and date(2025, 3, 24) in days
    old = ChaseState(skipped=frozenset({date(2024, 1, 1)})).skipping(date(2025, 3, 17), today=date(2025, 3, 16))
    assert old.skipped == frozenset({date(2025, 3, 17)})  # long-past skips are forgotten


def test_a_promise_pauses_chasing_and_a_lapsed_one_resumes_it_with_a_note() -> None:
    due_at = int(at(NEW_YORK, 2025, 3, 3, 12))
    promised = ChaseState().promising(date(2025, 3, 12), "wire on the 12th")
    days = reminder_days(date(2025, 3, 3), DEFAULT_CADENCE, promised)
    assert date(2025, 3, 10) not in days  # +7, within the promise
    assert date(2025, 3, 13) in days  # the day after the promise: chasing resumes
    assert plan(due_at, promised, DEFAULT_CADENCE, NEW_YORK, at(NEW_YORK, 2025, 3, 10, 10)).nothing
    on_the_day = plan(due_at, promised, DEFAULT_CADENCE, NEW_YORK, at(NEW_YORK, 2025, 3, 12, 20))
    assert on_the_day.lapsed is None and on_the_day.preview_of == date(2025, 3, 13)
    after = plan(due_at, promised, DEFAULT_CADENCE, NEW_YORK, at(NEW_YORK, 2025, 3, 13, 9))
    assert after.lapsed == date(2025, 3, 12) and after.chase_on == date(2025, 3, 13)
    noted = promised.lapse_noted(date(2025, 3, 13))
    assert plan(due_at, noted, DEFAULT_CADENCE, NEW_YORK, at(NEW_YORK, 2025, 3, 13, 10)).lapsed is None
    assert plan(due_at, noted, DEFAULT_CADENCE, NEW_YORK, at(NEW_YORK, 2025, 3, 17, 10)).chase_on == \
        date(2025, 3, 17)


def test_a_dispute_stops_chasing_until_resolved() -> None:
    disputed = ChaseState().disputing("never delivered", "UREP", 1.0)
    assert reminder_days(date(2025, 3, 10), DEFAULT_CADENCE, disputed) == []
    assert plan(int(at(NEW_YORK, 2025, 3, 10, 12)), disputed, DEFAULT_CADENCE, NEW_YORK,
                at(NEW_YORK, 2025, 3, 10, 10)).nothing
    resolved = disputed.resolved()
    assert not resolved.disputed and len(reminder_days(date(2025, 3, 10), DEFAULT_CADENCE, resolved)) == 5


def test_promises_in_the_past_or_too_far_are_refused() -> None:
    today = date(2025, 3, 10)
    assert "in the past" in (chasing.promise_refusal(date(2025, 3, 9), today) or "")
    assert chasing.promise_refusal(today, today) is None
    assert chasing.promise_refusal(date(2026, 3, 11), today) is not None


def test_stripe_metadata_keeps_the_cadence_the_promise_and_the_dispute() -> None:
    state = ChaseState(days=(0, 7)).promising(date(2025, 3, 12), "by wire").disputing("wrong amount", "UREP", 5.0)
    metadata = state.metadata()
    assert all(len(key) <= 40 and len(value) <= 500 for key, value in metadata.items())
    back = ChaseState.from_metadata(chase_marks({**metadata, "slack_user": "UREP"}))
    assert (back.days, back.promised_until, back.promise_note, back.dispute_reason, back.disputed_by) == (
        (0, 7), date(2025, 3, 12), "by wire", "wrong amount", "UREP")
    cleared = ChaseState().metadata()  # every key set to "": Stripe removes them
    assert set(cleared) == set(chasing.METADATA_KEYS) and set(cleared.values()) == {""}
    assert ChaseState.from_metadata(chase_marks(cleared)) == ChaseState()
    assert ChaseState.from_metadata({chasing.META_CADENCE: "nonsense", chasing.META_PROMISED_UNTIL: "soon"}) == \
        ChaseState()


def test_forms_and_commands_refuse_bad_cadences_on_their_field() -> None:
    state = {"chase_days": {"chase_days": {"type": "plain_text_input", "value": "every day"}}}
    with pytest.raises(ValidationError) as caught:
        parse_cadence_form(state)
    assert "not a number of days" in field_errors(caught.value)["chase_days"]
    assert parse_cadence_form({"chase_days": {"chase_days": {"type": "plain_text_input", "value": None}}}).days \
        is None
    assert slash.parse("chasing") == slash.ShowChasing()
    assert slash.parse("chasing -3 0 7") == slash.SetChasing((-3, 0, 7))
    assert slash.parse("chasing off") == slash.SetChasing(())
    assert slash.parse("chasing default") == slash.SetChasing(None)
    assert isinstance(slash.parse("chasing <!channel>"), slash.Refuse)
    assert "<!channel>" not in slash.parse("chasing <!channel>").message  # type: ignore[union-attr]


def test_the_invoice_message_shows_the_flags_escaped_and_its_buttons() -> None:
    invoice = Invoice(stripe_id="in_1", status="open", currency="usd", rep_user_id="UREP", total=100,
                      chase=ChaseState().disputing("<!channel> said *no*", "UREP", 1.0))
    _, message = blocks.invoice_message(invoice)
    dumped = json.dumps(message)
    assert "<!channel>" not in dumped and "Disputed" in dumped
    ids = [e["action_id"] for b in message if b.get("block_id") == "chasing_actions" for e in b["elements"]]
    assert ids == ["chase_resolve", "chase_cadence"]
    fresh = Invoice(stripe_id="in_2", status="open", currency="usd", rep_user_id="UREP")
    ids = [e["action_id"] for b in blocks.invoice_message(fresh)[1] if b.get("block_id") == "chasing_actions"
           for e in b["elements"]]
    assert ids == ["chase_promise", "chase_dispute", "chase_cadence"]
    paid = Invoice(stripe_id="in_3", status="paid", currency="usd", rep_user_id="UREP")
    assert not any(b.get("block_id") == "chasing_actions" for b in blocks.invoice_message(paid)[1])


def test_a_long_preview_stays_within_one_message() -> None:
    items = [blocks.PreviewItem(Invoice(stripe_id=f"in_{n}", status="open", currency="usd", number="N" * 100,
                                        customer_name="W" * 300, amount_remaining=10**13, due_date=1767225600),
                                "7 days after the due date") for n in range(40)]
    _, preview = blocks.chase_preview(date(2026, 1, 2), items)
    assert blocks.fits_one_message(preview)
    assert "20 more" in json.dumps(preview)


# --- end to end ------------------------------------------------------------------------------------------
def evening_zone() -> str:
    """A zone where it is now about 20:00: after the preview's 18:00 and the reminders' 09:00, far from midnight."""
    offset = (20 - datetime.now(UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # Etc/GMT-5 is UTC+5


def local_today(zone: str) -> date:
    return datetime.now(ZoneInfo(zone)).date()


def set_due(bot: RunningBot, fake_stripe: FakeStripe, invoice_id: str, zone: str, day: date) -> None:
    """The invoice falls due on `day` where the rep is (noon there), in Stripe; the bot hears by webhook."""
    moment = int(datetime.combine(day, datetime.min.time(), ZoneInfo(zone)).timestamp()) + 12 * 3600
    client = stripe.StripeClient(STRIPE_KEY, base_addresses={"api": fake_stripe.url})
    client.v1.invoices.update(invoice_id, params={"due_date": moment})
    settle(bot, fake_stripe)
    assert bot.invoice(invoice_id).due_date == moment


def sweep(bot: RunningBot) -> None:
    bot.app.services.jobs.submit(ChaseSweep(), f"chase_sweep:test:{uuid.uuid4().hex}")
    bot.wait_idle(timeout=30)


def sends(fake_stripe: FakeStripe, invoice_id: str) -> int:
    return sum(1 for e in fake_stripe.events if e["type"] == "invoice.sent" and e["data"]["object"]["id"] == invoice_id)


def settle(bot: RunningBot, fake_stripe: FakeStripe) -> None:
    fake_stripe.flush_webhooks()
    bot.wait_idle(timeout=30)


def previews(fake_slack: FakeSlack, user: str = "UREP") -> list[Any]:
    return [m for m in fake_slack.messages(user) if (m.text or "").startswith("Tomorrow")]


def press(bot: RunningBot, action_id: str, value: str, *, user: str = "UREP", message: Any = None,
          channel: str = "CSALES", message_ts: str | None = None, trigger_id: str | None = None) -> None:
    """A button as Slack sends it; in a message of the bot's, the message (its blocks) comes with it."""
    ts = message.ts if message is not None else message_ts
    where = message.channel if message is not None else channel
    payload: dict[str, Any] = {
        "type": "block_actions", "team": {"id": TEAM_ID, "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID}, "api_app_id": "A123",
        "trigger_id": trigger_id or f"{uuid.uuid4().int % 10**12}.1.x", "response_url": "",
        "actions": [{"action_id": action_id, "block_id": "b", "value": value, "type": "button",
                     "action_ts": f"{time.time():.6f}"}],
        "container": {"type": "message", "message_ts": ts, "channel_id": where},
        "channel": {"id": where, "name": "x"},
        "message": {"ts": ts, "text": message.text if message is not None else "",
                    **({"blocks": message.blocks} if message is not None and message.blocks else {})},
    }
    assert bot.interactive(payload).status_code == 200


def preview_value(message: Any, invoice_id: str, action_id: str) -> str:
    for block in message.blocks:
        if block.get("block_id") == f"chase_buttons:{invoice_id}":
            return str(next(e["value"] for e in block["elements"] if e["action_id"] == action_id))
    raise AssertionError(f"no {action_id} for {invoice_id} in the preview")


def invoice_thread(fake_slack: FakeSlack, invoice_id: str, bot: RunningBot) -> list[str]:
    stored = bot.invoice(invoice_id)
    assert stored.message_ts and stored.channel_id
    return [reply.text or "" for reply in fake_slack.thread(stored.channel_id, stored.message_ts)]


@on_both_databases
def test_the_evening_preview_and_its_buttons(bot: RunningBot, fake_slack: FakeSlack,
                                             fake_stripe: FakeStripe) -> None:
    zone = evening_zone()
    fake_slack.add_user("UREP", tz=zone)
    today = local_today(zone)
    made = [create_invoice(bot, fake_slack, fake_stripe, email=f"c{n}@example.com", name=f"Customer {n}")["id"]
            for n in range(3)]
    settle(bot, fake_stripe)
    for invoice_id in made:  # tomorrow is 7 days after the due date; today nothing
        set_due(bot, fake_stripe, invoice_id, zone, today + timedelta(days=1) - timedelta(days=7))
    skip_id, snooze_id, now_id = made
    before = {invoice_id: sends(fake_stripe, invoice_id) for invoice_id in made}

    sweep(bot)
    sweep(bot)  # once per rep per day, however many sweeps (or replicas)
    (preview,) = previews(fake_slack)
    dumped = json.dumps(preview.blocks)
    assert all(invoice_id in dumped for invoice_id in made) and "7 days after the due date" in dumped
    assert {e["action_id"] for b in preview.blocks if b["type"] == "actions" for e in b["elements"]} == {
        "chase_skip", "chase_snooze", "chase_send_now"}
    assert {invoice_id: sends(fake_stripe, invoice_id) for invoice_id in made} == before  # nothing sent yet

    press(bot, "chase_skip", preview_value(preview, skip_id, "chase_skip"), message=preview)
    bot.wait_idle()
    preview = previews(fake_slack)[0]
    press(bot, "chase_snooze", preview_value(preview, snooze_id, "chase_snooze"), message=preview)
    bot.wait_idle()
    preview = previews(fake_slack)[0]
    press(bot, "chase_send_now", preview_value(preview, now_id, "chase_send_now"), message=preview)
    settle(bot, fake_stripe)

    tomorrow = today + timedelta(days=1)
    assert bot.invoice(skip_id).chase.skipped == frozenset({tomorrow})
    assert bot.invoice(snooze_id).chase.snoozed_until == tomorrow + timedelta(days=7)
    assert bot.invoice(now_id).chase.skipped == frozenset({tomorrow})  # sent today instead
    assert sends(fake_stripe, now_id) == before[now_id] + 1 and sends(fake_stripe, skip_id) == before[skip_id]
    assert any("Reminder emailed" in text and "<@UREP>" in text for text in invoice_thread(fake_slack, now_id, bot))
    # The preview shows what was done in place of each invoice's buttons.
    final = json.dumps(previews(fake_slack)[0].blocks)
    assert "Skipped by" in final and "Snoozed by" in final and "sending it now" in final
    assert "chase_buttons:" not in final
    actions = {invoice_id: [entry.action for entry in bot.audit_for(invoice_id)] for invoice_id in made}
    assert "chase_skip" in actions[skip_id] and "chase_snooze" in actions[snooze_id]
    assert actions[now_id].count("remind") == 1


def test_preview_buttons_are_for_the_rep_and_admins(bot: RunningBot, fake_slack: FakeSlack,
                                                    fake_stripe: FakeStripe) -> None:
    zone = evening_zone()
    fake_slack.add_user("UREP", tz=zone)
    fake_slack.add_user("UOTHER")
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    settle(bot, fake_stripe)
    set_due(bot, fake_stripe, invoice["id"], zone, local_today(zone) - timedelta(days=6))
    sweep(bot)
    (preview,) = previews(fake_slack)
    press(bot, "chase_skip", preview_value(preview, invoice["id"], "chase_skip"), user="UOTHER", message=preview)
    bot.wait_idle()
    assert bot.invoice(invoice["id"]).chase.skipped == frozenset()
    # Someone else's DM is not a place to answer UOTHER in: the refusal comes by DM.
    assert any("Only the rep" in (m.text or "") for m in fake_slack.messages("UOTHER"))
    press(bot, "chase_skip", json.dumps({"invoice": "nonsense"}), message=preview)  # not a value the bot wrote
    bot.wait_idle()
    assert any("out of date" in json.dumps(e.args) for e in fake_slack.ephemerals)


@on_both_databases
def test_the_morning_reminder_goes_out_once_threads_a_line_and_is_audited(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    zone = evening_zone()
    fake_slack.add_user("UREP", tz=zone)
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    other = create_invoice(bot, fake_slack, fake_stripe, email="other@example.com")
    settle(bot, fake_stripe)
    today = local_today(zone)
    set_due(bot, fake_stripe, invoice["id"], zone, today - timedelta(days=14))  # today: 14 days after
    set_due(bot, fake_stripe, other["id"], zone, today - timedelta(days=5))  # today: nothing
    before, other_before = sends(fake_stripe, invoice["id"]), sends(fake_stripe, other["id"])

    for _ in range(3):  # a sweep every few minutes, and a replica's: one reminder
        sweep(bot)
    settle(bot, fake_stripe)
    assert sends(fake_stripe, invoice["id"]) == before + 1 and sends(fake_stripe, other["id"]) == other_before
    send = [r for r in fake_stripe.requests if r.path == f"/v1/invoices/{invoice['id']}/send"][-1]
    assert send.idempotency_key == f"chase:{invoice['id']}:{today.isoformat()}"
    thread = invoice_thread(fake_slack, invoice["id"], bot)
    assert sum("on the chasing schedule" in text and "14 days after the due date" in text for text in thread) == 1
    (entry,) = [e for e in bot.audit_for(invoice["id"]) if e.action == "remind"]
    assert entry.detail["via"] == "chasing" and entry.detail["day"] == today.isoformat()
    assert bot.invoice(invoice["id"]).last_reminded_at is not None

    # "Send reminder" right after: one a day, whoever asks.
    message = bot.invoice(invoice["id"])
    bot.block_action("invoice_remind", invoice["id"], message_ts=message.message_ts)
    settle(bot, fake_stripe)
    assert sends(fake_stripe, invoice["id"]) == before + 1
    assert any("already went out" in json.dumps(e.args) for e in fake_slack.ephemerals)


def test_a_reminder_the_button_already_sent_today_is_not_sent_again(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    zone = evening_zone()
    fake_slack.add_user("UREP", tz=zone)
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    settle(bot, fake_stripe)
    set_due(bot, fake_stripe, invoice["id"], zone, local_today(zone))  # due today: a reminder day
    bot.block_action("invoice_remind", invoice["id"], message_ts=bot.invoice(invoice["id"]).message_ts)
    settle(bot, fake_stripe)
    after_button = sends(fake_stripe, invoice["id"])
    sweep(bot)
    settle(bot, fake_stripe)
    assert sends(fake_stripe, invoice["id"]) == after_button
    assert [e.action for e in bot.audit_for(invoice["id"])].count("remind") == 1


def test_an_invoice_with_chasing_off_or_a_workspace_without_it_is_not_chased(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    zone = evening_zone()
    fake_slack.add_user("UREP", tz=zone)
    fake_slack.add_user("UADMIN", is_admin=True)
    fake_slack.add_user("UPLAIN")
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    settle(bot, fake_stripe)
    set_due(bot, fake_stripe, invoice["id"], zone, local_today(zone) - timedelta(days=7))
    before = sends(fake_stripe, invoice["id"])

    def command(text: str, user: str) -> str:
        url = fake_slack.response_url(f"chasing-{uuid.uuid4().hex}")
        response = bot.slash(text, trigger_id=fake_slack.new_trigger_id(), response_url=url, user=user)
        assert response.status_code == 200
        if response.content and response.json().get("text"):
            return str(response.json()["text"])  # answered in the ack (a usage message)
        return str(wait_for(lambda: [r for r in fake_slack.responses if r.url == url], 10, text)[-1]["text"])

    assert "-3,0,7,14,30" in command("chasing", "UREP") and "Send reminders" in command("chasing", "UREP")
    assert "Only invoicing admins" in command("chasing off", "UPLAIN")
    assert "not a number of days" in command("chasing often", "UADMIN")
    assert "no reminders" in command("chasing off", "UADMIN")
    assert bot.app.store.reads(DEFAULT_TENANT).chasing.cadence() == ()
    sweep(bot)
    settle(bot, fake_stripe)
    assert sends(fake_stripe, invoice["id"]) == before and previews(fake_slack) == []
    assert "-1,7" in command("chasing 7 -1", "UADMIN")
    assert "-3,0,7,14,30" in command("chasing default", "UADMIN")
    assert bot.app.store.reads(DEFAULT_TENANT).chasing.cadence() is None
    assert [e.action for e in bot.app.store.reads(DEFAULT_TENANT).audit.for_invoice(invoice["id"])].count(
        "remind") == 0

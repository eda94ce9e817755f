"""The receivables digest's figures as pure functions: aging at the bucket edges, DSO by the countback
method on a known ledger, every currency's exponent, the schedule across time zones and DST, the
command's bad input, the CSV and the message's limits. No store, no Slack, no Stripe."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest

from bot import blocks, money, slash
from bot.domain.receivables import (
    BUCKETS,
    DAY,
    DSO_MONTHS,
    DigestSchedule,
    Dso,
    Period,
    Receivable,
    ScheduleRequest,
    aging,
    aging_edges,
    bucket_of,
    build_report,
    days_past_due,
    dso_countback,
    latest_slot,
    month_bounds,
    next_slot,
    parse_schedule,
)
from bot.domain.tenants import TenantSettings
from bot.services.receivables import chart_spec, decimal_text, major_units, receivables_csv
from tests.fakes.slack_fake import validate_blocks
from tests.fakes.slack_fake.blockkit import MESSAGE_BLOCKS_TEXT_MAX_CHARS, blocks_text_size

NOW = datetime(2025, 3, 15, 12, 0, tzinfo=UTC).timestamp()


def receivable(number: int, amount: int, *, due: float | None, currency: str = "usd", rep: str | None = "UREP",
               created: float = NOW - 40 * DAY, name: str | None = None) -> Receivable:
    return Receivable(f"in_{number:04d}", currency, amount, amount, f"INV-{number:04d}",
                      None if due is None else int(due), name or f"Customer {number}", f"c{number}@example.com", rep,
                      created, f"https://invoice.stripe.com/i/in_{number:04d}")


# --- aging at the edges ---------------------------------------------------------------------------------
EDGES = [
    ("not due for a day", NOW + DAY, 0, "current"),
    ("due this very second", NOW, 0, "current"),
    ("due a second ago", NOW - 1, 1, "1-30"),
    ("due a day ago", NOW - DAY, 1, "1-30"),
    ("due a day and a second ago", NOW - DAY - 1, 2, "1-30"),
    ("exactly 30 days", NOW - 30 * DAY, 30, "1-30"),
    ("30 days and a second", NOW - 30 * DAY - 1, 31, "31-60"),
    ("exactly 60 days", NOW - 60 * DAY, 60, "31-60"),
    ("60 days and a second", NOW - 60 * DAY - 1, 61, "61-90"),
    ("exactly 90 days", NOW - 90 * DAY, 90, "61-90"),
    ("90 days and a second", NOW - 90 * DAY - 1, 91, "90+"),
    ("two years", NOW - 730 * DAY, 730, "90+"),
]


@pytest.mark.parametrize(("what", "due", "days", "bucket"), EDGES, ids=[edge[0] for edge in EDGES])
def test_aging_buckets_at_their_edges(what: str, due: float, days: int, bucket: str) -> None:
    assert days_past_due(int(due), NOW) == days
    assert bucket_of(days) == bucket


@pytest.mark.parametrize(("what", "due", "days", "bucket"), EDGES, ids=[edge[0] for edge in EDGES])
def test_the_sql_edges_put_each_invoice_in_the_same_bucket(what: str, due: float, days: int, bucket: str) -> None:
    """`aging_edges` is what the store's aggregate compares due dates with (App Home): the same rule."""
    first, second, third = aging_edges(NOW)
    due_date = int(due)
    if due_date >= NOW:
        sql_bucket = "current"
    elif due_date >= first:
        sql_bucket = "1-30"
    elif due_date >= second:
        sql_bucket = "31-60"
    elif due_date >= third:
        sql_bucket = "61-90"
    else:
        sql_bucket = "90+"
    assert sql_bucket == bucket


def test_an_invoice_without_a_due_date_is_current() -> None:
    assert days_past_due(None, NOW) == 0 and days_past_due(0, NOW) == 0
    assert aging([receivable(1, 500, due=None)], NOW)[0].amounts == (500, 0, 0, 0, 0)


def test_aging_sums_per_currency_in_minor_units_and_never_across() -> None:
    rows = aging([receivable(1, 1000, due=NOW + DAY), receivable(2, 250, due=NOW - 31 * DAY),
                  receivable(3, 1, due=NOW - 91 * DAY), receivable(4, 1500, due=NOW - 5 * DAY, currency="jpy"),
                  receivable(5, 1250, due=NOW - 5 * DAY, currency="kwd"), receivable(6, 1, due=NOW - DAY)], NOW)
    by_currency = {row.currency: row for row in rows}
    assert [row.currency for row in rows] == ["jpy", "kwd", "usd"]
    assert by_currency["usd"].amounts == (1000, 1, 250, 0, 1) and by_currency["usd"].counts == (1, 1, 1, 0, 1)
    assert by_currency["usd"].total == 1252 and by_currency["usd"].overdue == 252
    assert by_currency["jpy"].amounts == (0, 1500, 0, 0, 0)
    assert by_currency["kwd"].amount("1-30") == 1250
    assert all(type(amount) is int for row in rows for amount in row.amounts)


# --- DSO, countback ---------------------------------------------------------------------------------------
def test_month_bounds_walk_back_calendar_months() -> None:
    bounds = month_bounds(NOW, 3)
    starts = [datetime.fromtimestamp(start, UTC) for start, _, _ in bounds]
    assert [start.date().isoformat() for start in starts] == ["2025-02-15", "2025-01-15", "2024-12-15"]
    assert [days for _, _, days in bounds] == [28, 31, 31]
    assert bounds[0][1] == NOW and all(bounds[i][0] == bounds[i + 1][1] for i in range(2))


def test_month_bounds_from_a_months_last_day_keep_within_shorter_months() -> None:
    end_of_march = datetime(2025, 3, 31, 9, 0, tzinfo=UTC).timestamp()
    bounds = month_bounds(end_of_march, 2)
    assert [datetime.fromtimestamp(start, UTC).date().isoformat() for start, _, _ in bounds] == [
        "2025-02-28", "2025-01-31"]
    assert [days for _, _, days in bounds] == [31, 28]


def test_month_bounds_count_calendar_days_across_a_dst_change() -> None:
    paris = ZoneInfo("Europe/Paris")  # clocks go forward on Mar 30, 2025: that day has 23 hours
    now = datetime(2025, 4, 10, 9, 0, tzinfo=paris).timestamp()
    (start, end, days), = month_bounds(now, 1, paris)
    assert days == 31
    assert datetime.fromtimestamp(start, paris).strftime("%m-%d %H:%M") == "03-10 09:00"
    assert end - start == 31 * DAY - 3600


def test_dso_on_a_known_ledger() -> None:
    """Open $250.00 against months that invoiced $100.00, $200.00 and $300.00 (newest first): the
    newest month (28 days) is covered whole, $150.00 remain of the $200.00 month (31 days): 28 + 31 x 3/4."""
    bounds = month_bounds(NOW, DSO_MONTHS)
    invoiced = {"usd": [10000, 20000, 30000] + [0] * (DSO_MONTHS - 3)}
    open_invoices = [receivable(1, 15000, due=NOW - 10 * DAY), receivable(2, 10000, due=NOW + 5 * DAY)]
    report = build_report(open_invoices, invoiced, {}, bounds, NOW)
    (usd,) = report.currencies
    assert usd.dso == Dso(Fraction(28) + Fraction(31 * 3, 4), True, 2)
    assert usd.dso.text() == "51.2 days"


@pytest.mark.parametrize(("open_total", "expected"), [
    (0, Dso(Fraction(0), True, 0)),
    (10000, Dso(Fraction(28), True, 1)),  # exactly the newest month's invoicing
    (5000, Dso(Fraction(14), True, 1)),
    (60000, Dso(Fraction(90), True, 3)),
    (60001, Dso(Fraction(90), False, 3)),  # the history runs out: "more than 90 days"
])
def test_dso_countback_edges(open_total: int, expected: Dso) -> None:
    periods = [Period(0, 0, 28, 10000), Period(0, 0, 31, 20000), Period(0, 0, 31, 30000)]
    assert dso_countback(open_total, periods) == expected


def test_dso_skips_months_without_invoicing_and_says_more_than_past_its_history() -> None:
    periods = [Period(0, 0, 30, 0), Period(0, 0, 31, 4000)]
    assert dso_countback(2000, periods) == Dso(Fraction(30) + Fraction(31, 2), True, 2)
    assert dso_countback(9000, periods).text() == "more than 61 days"


def test_collected_and_the_largest_overdue_with_their_reps() -> None:
    invoices = [receivable(index, 1000 * index, due=NOW - index * DAY, rep=f"U{index % 3}") for index in range(1, 15)]
    invoices.append(receivable(99, 50000, due=NOW - DAY, rep=None))
    invoices.append(receivable(98, 99999, due=NOW + DAY))  # not overdue: never among them
    report = build_report(invoices, {}, {"usd": 4200, "eur": 100}, month_bounds(NOW, 2), NOW)
    usd = next(row for row in report.currencies if row.currency == "usd")
    assert usd.collected == 4200
    assert [item.invoice.stripe_id for item in usd.top_overdue] == ["in_0099"] + [
        f"in_{index:04d}" for index in range(14, 5, -1)]
    assert usd.top_overdue[1].days == 14
    reps = {tally.rep_user_id: (tally.amount, tally.count) for tally in usd.by_rep}
    assert reps == {None: (50000, 1), "U0": (3000 + 6000 + 9000 + 12000, 4),
                    "U1": (1000 + 4000 + 7000 + 10000 + 13000, 5), "U2": (2000 + 5000 + 8000 + 11000 + 14000, 5)}
    eur = next(row for row in report.currencies if row.currency == "eur")  # only collected: still reported
    assert eur.collected == 100 and eur.open_total == 0


# --- every currency's exponent ----------------------------------------------------------------------------
@pytest.mark.parametrize("currency", money.SUPPORTED_CURRENCIES)
def test_every_currency_keeps_its_exponent_in_the_csv_and_the_chart(currency: str) -> None:
    exponent = money.exponent(currency)
    minor = 123456789
    text = decimal_text(minor, currency)
    assert Decimal(text) * 10**exponent == minor
    assert (len(text.split(".")[1]) if "." in text else 0) == exponent
    assert major_units(minor, currency) == pytest.approx(minor / 10**exponent)
    row = aging([receivable(1, minor, due=NOW - 45 * DAY, currency=currency)], NOW)[0]
    spec = chart_spec(row, NOW, UTC)
    assert spec.value_labels[2] == money.format_amount(minor, currency) and spec.heights[2] == major_units(minor,
                                                                                                           currency)
    report = build_report([receivable(1, minor, due=NOW - 45 * DAY, currency=currency)], {}, {}, [], NOW)
    (line,) = list(csv.DictReader(io.StringIO(receivables_csv(report, UTC).decode("utf-8-sig"))))
    assert line["amount_due"] == text and line["currency"] == currency.upper() and line["aging"] == "31-60"


def test_the_known_exponents_read_as_people_write_them() -> None:
    assert decimal_text(1050, "usd") == "10.50"
    assert decimal_text(1000, "jpy") == "1000"
    assert decimal_text(1250, "kwd") == "1.250"
    assert decimal_text(50000, "isk") == "500.00"  # Stripe counts ISK in hundredths
    assert decimal_text(1050, "xyz") == "10.50"  # a currency newer than our list: two decimals


# --- the schedule: time zones and DST ----------------------------------------------------------------------
def schedule(tz: str, hour: int, minute: int = 0, weekday: int | None = None) -> DigestSchedule:
    return DigestSchedule("CFIN", hour, minute, tz, weekday)


def local(at: float, tz: str) -> str:
    return datetime.fromtimestamp(at, ZoneInfo(tz)).strftime("%Y-%m-%d %a %H:%M %Z")


def test_weekly_runs_keep_their_wall_clock_time_across_the_spring_change() -> None:
    paris = schedule("Europe/Paris", 9, weekday=0)  # Mondays 09:00; clocks go forward on Sunday Mar 30, 2025
    first = next_slot(paris, datetime(2025, 3, 22, tzinfo=UTC).timestamp())
    second = next_slot(paris, first.at)
    assert local(first.at, "Europe/Paris") == "2025-03-24 Mon 09:00 CET"
    assert local(second.at, "Europe/Paris") == "2025-03-31 Mon 09:00 CEST"
    assert second.at - first.at == 7 * DAY - 3600
    assert datetime.fromtimestamp(second.at, UTC).hour == 7 and datetime.fromtimestamp(first.at, UTC).hour == 8
    assert (first.key, second.key) == ("2025-03-24T09:00", "2025-03-31T09:00")


def test_a_time_skipped_by_spring_forward_runs_once_as_the_clock_shows_after_the_jump() -> None:
    new_york = schedule("America/New_York", 2, 30)  # 02:30 does not exist on Mar 9, 2025
    slot = next_slot(new_york, datetime(2025, 3, 9, 5, 0, tzinfo=UTC).timestamp())
    assert slot.key == "2025-03-09T02:30"
    assert local(slot.at, "America/New_York") == "2025-03-09 Sun 03:30 EDT"
    following = next_slot(new_york, slot.at)
    assert following.key == "2025-03-10T02:30" and local(following.at, "America/New_York").endswith("02:30 EDT")


def test_a_time_that_happens_twice_runs_once_at_its_first_occurrence() -> None:
    new_york = schedule("America/New_York", 1, 30)  # 01:30 happens twice on Nov 2, 2025
    slot = next_slot(new_york, datetime(2025, 11, 2, 4, 0, tzinfo=UTC).timestamp())
    assert local(slot.at, "America/New_York") == "2025-11-02 Sun 01:30 EDT"
    assert next_slot(new_york, slot.at).key == "2025-11-03T01:30"  # not the second 01:30 (EST) an hour later
    assert latest_slot(new_york, slot.at + 3600 + 60) == slot


def test_a_year_of_daily_runs_in_a_half_hour_dst_zone_is_one_run_a_day_at_the_same_wall_time() -> None:
    lord_howe = schedule("Australia/Lord_Howe", 9, 15)  # its DST moves the clock by 30 minutes
    at, keys = datetime(2025, 1, 1, tzinfo=UTC).timestamp(), []
    for _ in range(366):
        slot = next_slot(lord_howe, at)
        assert datetime.fromtimestamp(slot.at, ZoneInfo("Australia/Lord_Howe")).strftime("%H:%M") == "09:15"
        assert latest_slot(lord_howe, slot.at) == slot and latest_slot(lord_howe, slot.at - 1) != slot
        keys.append(slot.key)
        at = slot.at
    assert len(set(keys)) == 366 and keys == sorted(keys)
    assert keys[0] == "2025-01-02T09:15" and keys[-1] == "2026-01-02T09:15"  # 09:15 there is 22:15 UTC the day before


def test_weekly_in_a_zone_far_from_utc_falls_on_the_local_day() -> None:
    kiritimati = schedule("Pacific/Kiritimati", 8, weekday=4)  # UTC+14: Friday 08:00 there is Thursday in UTC
    slot = next_slot(kiritimati, datetime(2025, 6, 1, tzinfo=UTC).timestamp())
    assert local(slot.at, "Pacific/Kiritimati").startswith("2025-06-06 Fri 08:00")
    assert datetime.fromtimestamp(slot.at, UTC).strftime("%a %H:%M") == "Thu 18:00"


# --- the command's input -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("text", "expected"), [
    ("digest weekly mon 09:00 <#CFIN|finance>", ScheduleRequest("CFIN", 9, 0, 0, None)),
    ("digest weekly Friday 17:30 <#CFIN> Europe/Paris", ScheduleRequest("CFIN", 17, 30, 4, "Europe/Paris")),
    ("digest daily 8:05 <#G123|private>", ScheduleRequest("G123", 8, 5, None, None)),
])
def test_schedules_that_parse(text: str, expected: ScheduleRequest) -> None:
    assert slash.parse(text) == slash.SetDigest(expected)


@pytest.mark.parametrize(("text", "says"), [
    ("digest weekly", "Which day"),
    ("digest weekly funday 09:00 <#C1>", "not a day of the week"),
    ("digest weekly t 09:00 <#C1>", "not a day of the week"),  # too short to tell tue from thu
    ("digest weekly mon 9am <#C1>", "HH:MM"),
    ("digest weekly mon 24:00 <#C1>", "HH:MM"),
    ("digest daily 09:60 <#C1>", "HH:MM"),
    ("digest daily 09:00", "Name the channel"),
    ("digest daily 09:00 #finance", "so Slack links it"),
    ("digest daily 09:00 <@U123>", "so Slack links it"),
    ("digest daily 09:00 <#C1> Mars/Olympus_Mons", "not a time zone"),
    ("digest daily 09:00 <#C1> ../../etc/passwd", "not a time zone"),
    ("digest daily 09:00 <#C1> UTC extra", "don't know what"),
    ("digest hourly 09:00 <#C1>", "not a schedule"),
    ("digest now #finance", "Usage"),
    ("digest off now", "Usage"),
])
def test_schedules_that_do_not_parse_get_a_clear_answer(text: str, says: str) -> None:
    parsed = slash.parse(text)
    assert isinstance(parsed, slash.Refuse), parsed
    assert says in parsed.message
    assert "<" not in parsed.message.replace("<#", "")  # what was typed is quoted back inert


def test_the_other_digest_commands() -> None:
    assert slash.parse("digest") == slash.ShowDigest()
    assert slash.parse("digest now") == slash.DigestNow()
    assert slash.parse("digest now <#CFIN|finance>") == slash.DigestNow("CFIN")
    assert slash.parse("digest off") == slash.SetDigest(None)
    assert isinstance(parse_schedule([]), str)


def test_the_schedule_lives_in_the_workspace_settings_json() -> None:
    saved = DigestSchedule("CFIN", 9, 0, "Europe/Paris", 0, "UADMIN", 1700000000.0)
    settings = TenantSettings("CPAY", ("UADMIN",), digest=saved)
    assert TenantSettings.from_json(settings.to_json()) == settings
    assert "digest" not in json.loads(TenantSettings("CPAY").to_json())  # unchanged for workspaces without one
    broken = json.loads(settings.to_json())
    broken["digest"]["tz"] = "Not/AZone"
    assert TenantSettings.from_json(json.dumps(broken)).digest is None
    broken["digest"] = {"hour": 99}
    assert TenantSettings.from_json(json.dumps(broken)).digest is None


# --- the CSV and the message ---------------------------------------------------------------------------------
def test_the_csv_has_every_open_invoice_and_makes_formulas_inert() -> None:
    invoices = [receivable(1, 1234, due=NOW - 3 * DAY, name="=HYPERLINK(\"http://evil\")"),
                receivable(2, 99, due=NOW + DAY, currency="eur", name="@SUM(A1)", rep=None),
                receivable(3, 5, due=None, name="Ünïcödé GmbH, \"quoted\"")]
    report = build_report(invoices, {}, {}, [], NOW)
    raw = receivables_csv(report, ZoneInfo("Europe/Paris"))
    assert raw.startswith("\ufeff".encode())
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert len(rows) == 3
    by_id = {row["stripe_id"]: row for row in rows}
    assert by_id["in_0001"]["customer"] == "'=HYPERLINK(\"http://evil\")"
    assert by_id["in_0002"]["customer"] == "'@SUM(A1)" and by_id["in_0002"]["rep"] == ""
    assert by_id["in_0003"]["customer"] == "Ünïcödé GmbH, \"quoted\"" and by_id["in_0003"]["due_date"] == ""
    assert by_id["in_0001"]["amount_due"] == "12.34" and by_id["in_0001"]["days_past_due"] == "3"
    assert by_id["in_0001"]["due_date"] == datetime.fromtimestamp(NOW - 3 * DAY, ZoneInfo("Europe/Paris")).strftime(
        "%Y-%m-%d")


HOSTILE = "<!channel> *bold* & <https://evil.example|click> `code` " + "\U0001d54f" * 30


def test_the_digest_fits_one_message_however_many_currencies_and_escapes_what_people_typed() -> None:
    invoices = []
    for index, currency in enumerate(money.SUPPORTED_CURRENCIES[:40]):
        for number in range(12):
            invoices.append(receivable(index * 100 + number, 10**13 + number, due=NOW - (number * 9 + 1) * DAY,
                                       currency=currency, rep=f"U{number:08d}", name=HOSTILE))
    report = build_report(invoices, {}, {"usd": 1}, month_bounds(NOW, DSO_MONTHS), NOW)
    text, message = blocks.receivables_digest(report, ZoneInfo("Europe/Paris"), notes=["reconciled"])
    assert validate_blocks(message) == []
    assert len(message) <= blocks.MESSAGE_MAX_BLOCKS
    assert blocks_text_size(message) <= MESSAGE_BLOCKS_TEXT_MAX_CHARS
    dumped = json.dumps(message)
    assert "<!channel>" not in dumped and "<https://evil" not in dumped and "&lt;!channel&gt;" in dumped
    assert "Also open" in dumped or "more currencies" in dumped
    assert "countback" in dumped
    assert text.startswith("Receivables digest")


def test_an_empty_ledger_says_nothing_is_open() -> None:
    text, message = blocks.receivables_digest(build_report([], {}, {}, [], NOW), UTC)
    assert validate_blocks(message) == [] and "Nothing is open" in json.dumps(message)


def test_app_home_aging_goes_under_the_totals() -> None:
    view = blocks.home_view([], [])
    rows = aging([receivable(1, 1000, due=NOW - 40 * DAY), receivable(2, 700, due=NOW - 2 * DAY, currency="jpy")],
                 NOW)
    shown = blocks.home_with_aging(view, rows)
    texts = [block.get("text", {}).get("text", "") for block in shown["blocks"]]
    aging_block = next(text for text in texts if text.startswith("*Aging*"))
    assert "*USD*" in aging_block and "31–60 days $10.00 (1)" in aging_block and "1–30 days ¥700 (1)" in aging_block
    divider = next(index for index, block in enumerate(shown["blocks"]) if block["type"] == "divider")
    assert texts.index(aging_block) == divider - 1
    assert blocks.home_with_aging(view, []) == view
    assert len(BUCKETS) == 5 and timedelta(seconds=DAY) == timedelta(days=1)

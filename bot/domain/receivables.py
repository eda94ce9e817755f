"""Receivables: what is owed to the business and for how long, per currency, as pure figures.

Everything here is a function of records and a moment (`now`, epoch seconds): no store, no Slack,
no Stripe. Amounts are integers in each currency's minor units and are never added across
currencies; days are exact fractions, rounded only for people.

- **Aging.** An open invoice is *current* until its due date has passed; then it is 1-30, 31-60,
  61-90 or 90+ days past due, counting each started day: due 1 second ago is 1 day past due, due
  exactly 30 days ago is 30, a second more is 31. An invoice without a due date is current. The
  edges (`aging_edges`) are what the store's SQL uses too, so App Home and the digest agree.
- **DSO, countback method.** From now, walk back month by month (calendar months in the
  workspace's time zone: Mar 10 09:00, Feb 10 09:00, ...). Each month's invoiced total (invoices
  issued then, at their full total, whatever became of them since, drafts and voids excepted) is
  set against the open receivables: a month the receivables cover counts all its days, the month
  where they run out counts in proportion (days x what remains / that month's total). With no
  receivables DSO is 0; past `DSO_MONTHS` months it is "more than" the days walked.
- **Collected** in the last 7 days: `amount_paid` of invoices paid in that window.
- **The digest's schedule** (`DigestSchedule`): daily or weekly at a wall-clock time in an IANA time
  zone, turned into moments with `zoneinfo`, so DST moves the moment and never the wall-clock time.
  A time that does not exist that day (skipped by a spring-forward) runs at the same moment the
  clock shows after the jump; a time that happens twice runs once, at its first occurrence.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY = 86_400
BUCKETS: tuple[str, ...] = ("current", "1-30", "31-60", "61-90", "90+")
BUCKET_LABELS = {"current": "Current", "1-30": "1–30 days", "31-60": "31–60 days", "61-90": "61–90 days",
                 "90+": "over 90 days"}
BUCKET_DAYS = (30, 60, 90)  # the upper edge (in days past due) of 1-30, 31-60 and 61-90
COLLECTED_DAYS = 7
DSO_MONTHS = 24  # how far back the countback walks before it says "more than"
TOP_OVERDUE = 10
DSO_METHOD = ("DSO by the countback method: from today back month by month, each month whose invoiced total "
              "the open balance still covers counts all its days, the month where it runs out counts in "
              "proportion")


# --- records ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Receivable:
    """An open invoice, as much of it as the figures, the digest and its CSV need."""

    stripe_id: str
    currency: str
    amount_remaining: int
    total: int = 0
    number: str | None = None
    due_date: int | None = None
    customer_name: str | None = None
    customer_email: str | None = None
    rep_user_id: str | None = None
    created_at: float = 0.0  # when the invoice was made (Stripe's `created` where the bot learned it late)
    hosted_url: str | None = None

    @property
    def customer_label(self) -> str:
        return self.customer_name or self.customer_email or "unknown customer"


# --- aging -----------------------------------------------------------------------------------------
def days_past_due(due_date: int | None, now: float) -> int:
    """Started days since the due date: 0 while not yet due (or without a due date)."""
    if not due_date or due_date >= now:
        return 0
    return math.ceil((now - due_date) / DAY)


def bucket_of(days: int) -> str:
    if days <= 0:
        return "current"
    for name, upper in zip(BUCKETS[1:], BUCKET_DAYS, strict=False):
        if days <= upper:
            return name
    return BUCKETS[-1]


def aging_edges(now: float) -> tuple[int, int, int]:
    """Due dates at or after each edge are within 30, 60 and 90 days past due (for SQL: an invoice
    due before `now` and at or after `edges[0]` is 1-30 days past due, and so on)."""
    return (int(now) - BUCKET_DAYS[0] * DAY, int(now) - BUCKET_DAYS[1] * DAY, int(now) - BUCKET_DAYS[2] * DAY)


@dataclass(frozen=True)
class Aging:
    """One currency's open receivables by bucket: amounts (minor units) and counts, in BUCKETS' order."""

    currency: str
    amounts: tuple[int, ...] = (0, 0, 0, 0, 0)
    counts: tuple[int, ...] = (0, 0, 0, 0, 0)

    @property
    def total(self) -> int:
        return sum(self.amounts)

    @property
    def count(self) -> int:
        return sum(self.counts)

    @property
    def overdue(self) -> int:
        return sum(self.amounts[1:])

    @property
    def overdue_count(self) -> int:
        return sum(self.counts[1:])

    def amount(self, bucket: str) -> int:
        return self.amounts[BUCKETS.index(bucket)]


def aging(invoices: Iterable[Receivable], now: float) -> list[Aging]:
    """Per currency (alphabetical), the open amounts and counts by bucket."""
    amounts: dict[str, list[int]] = {}
    counts: dict[str, list[int]] = {}
    for invoice in invoices:
        index = BUCKETS.index(bucket_of(days_past_due(invoice.due_date, now)))
        amounts.setdefault(invoice.currency, [0] * len(BUCKETS))[index] += invoice.amount_remaining
        counts.setdefault(invoice.currency, [0] * len(BUCKETS))[index] += 1
    return [Aging(currency, tuple(amounts[currency]), tuple(counts[currency])) for currency in sorted(amounts)]


# --- DSO -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Period:
    """[start, end) and the calendar days it spans, with what was invoiced in it (minor units)."""

    start: float
    end: float
    days: int
    invoiced: int = 0


def month_bounds(now: float, months: int = DSO_MONTHS, zone: tzinfo = UTC) -> list[tuple[float, float, int]]:
    """The `months` periods walking back from `now` one calendar month at a time, newest first, as
    (start, end, days): the same day of the month and wall-clock time, the day kept within the month
    (Mar 31 -> Feb 28), days counted as calendar days (a DST change does not make a day of 23 hours)."""
    local = datetime.fromtimestamp(now, zone)
    periods: list[tuple[float, float, int]] = []
    end_local = local
    for back in range(1, months + 1):
        start_local = _months_back(local, back)
        periods.append((start_local.timestamp(), end_local.timestamp(), (end_local.date() - start_local.date()).days))
        end_local = start_local
    return periods


def _months_back(moment: datetime, months: int) -> datetime:
    year, month = divmod(moment.year * 12 + moment.month - 1 - months, 12)
    month += 1
    last_day = (date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)).day
    wall = datetime(year, month, min(moment.day, last_day), moment.hour, moment.minute, moment.second,
                    tzinfo=moment.tzinfo)
    return datetime.fromtimestamp(wall.timestamp(), moment.tzinfo)  # normalised through UTC (DST gaps)


@dataclass(frozen=True)
class Dso:
    days: Fraction  # exact; `covered` False: at least this many (the history ran out first)
    covered: bool = True
    months: int = 0  # periods walked

    def text(self) -> str:
        shown = f"{float(self.days):.1f}".removesuffix(".0")
        return f"{shown} days" if self.covered else f"more than {shown} days"


def dso_countback(open_total: int, periods: Sequence[Period]) -> Dso:
    """Days sales outstanding by the countback method over `periods` (newest first)."""
    remaining = open_total
    days = Fraction(0)
    if remaining <= 0:
        return Dso(days, True, 0)
    for walked, period in enumerate(periods, start=1):
        if remaining <= period.invoiced:
            return Dso(days + Fraction(period.days * remaining, period.invoiced), True, walked)
        days += period.days
        remaining -= period.invoiced
    return Dso(days, False, len(periods))


# --- the report ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Overdue:
    invoice: Receivable
    days: int


@dataclass(frozen=True)
class RepOverdue:
    rep_user_id: str | None  # None: invoices made outside invoicebot
    amount: int
    count: int


@dataclass(frozen=True)
class CurrencyReport:
    currency: str
    aging: Aging
    collected: int  # paid in the last COLLECTED_DAYS days
    dso: Dso
    top_overdue: tuple[Overdue, ...]  # the largest, at most TOP_OVERDUE
    by_rep: tuple[RepOverdue, ...]  # largest first

    @property
    def open_total(self) -> int:
        return self.aging.total


@dataclass(frozen=True)
class Report:
    now: float
    currencies: tuple[CurrencyReport, ...]
    invoices: tuple[Receivable, ...] = field(default=())  # every open invoice, for the CSV

    @property
    def open_count(self) -> int:
        return len(self.invoices)


def build_report(invoices: Sequence[Receivable], invoiced: dict[str, list[int]], collected: dict[str, int],
                 bounds: Sequence[tuple[float, float, int]], now: float) -> Report:
    """The digest's figures. `invoiced[currency][i]` is what was invoiced in `bounds[i]` (newest
    first); `collected[currency]` what was paid in the last 7 days. A currency with nothing open
    but money collected still gets its line."""
    agings = {row.currency: row for row in aging(invoices, now)}
    currencies = sorted(set(agings) | {currency for currency, amount in collected.items() if amount})
    reports: list[CurrencyReport] = []
    for currency in currencies:
        row = agings.get(currency, Aging(currency))
        periods = [Period(start, end, days, (invoiced.get(currency) or [0] * len(bounds))[index])
                   for index, (start, end, days) in enumerate(bounds)]
        overdue = [Overdue(invoice, days_past_due(invoice.due_date, now)) for invoice in invoices
                   if invoice.currency == currency and days_past_due(invoice.due_date, now) > 0]
        overdue.sort(key=lambda item: (-item.invoice.amount_remaining, -item.days, item.invoice.stripe_id))
        reps: dict[str | None, list[int]] = {}
        for item in overdue:
            tally = reps.setdefault(item.invoice.rep_user_id or None, [0, 0])
            tally[0] += item.invoice.amount_remaining
            tally[1] += 1
        by_rep = sorted((RepOverdue(rep, amount, count) for rep, (amount, count) in reps.items()),
                        key=lambda rep: (-rep.amount, rep.rep_user_id is None, rep.rep_user_id or ""))
        reports.append(CurrencyReport(currency, row, collected.get(currency, 0), dso_countback(row.total, periods),
                                      tuple(overdue[:TOP_OVERDUE]), tuple(by_rep)))
    reports.sort(key=lambda report: (-report.aging.count, report.currency))
    ordered = sorted(invoices, key=lambda invoice: (invoice.currency, -days_past_due(invoice.due_date, now),
                                                    -invoice.amount_remaining, invoice.stripe_id))
    return Report(now, tuple(reports), tuple(ordered))


# --- the digest's schedule ---------------------------------------------------------------------------
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_CHANNEL = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|[^>]*)?>$")
SCHEDULE_USAGE = ("`/invoice digest weekly mon 09:00 #finance`, `/invoice digest daily 08:30 #finance`, "
                  "`/invoice digest off`, or `/invoice digest now` (a time zone may follow the channel, "
                  "e.g. `Europe/Paris`; otherwise yours is used)")


@dataclass(frozen=True)
class DigestSchedule:
    """When and where the receivables digest is posted: `weekday` None means every day."""

    channel: str
    hour: int
    minute: int
    tz: str  # IANA name
    weekday: int | None = None  # 0 = Monday
    set_by: str = ""
    set_at: float = 0.0  # no slot before this moment is ever posted (setting it never posts a past one)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def describe(self) -> str:
        when = "every day" if self.weekday is None else f"every {WEEKDAY_NAMES[self.weekday]}"
        return f"{when} at {self.hour:02d}:{self.minute:02d} ({self.tz})"

    def to_dict(self) -> dict[str, Any]:
        return {"channel": self.channel, "hour": self.hour, "minute": self.minute, "tz": self.tz,
                "weekday": self.weekday, "set_by": self.set_by, "set_at": self.set_at}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> DigestSchedule | None:
        """None for nothing, or for anything that is not a schedule this module wrote."""
        if not isinstance(data, dict):
            return None
        try:
            schedule = cls(str(data["channel"]), int(data["hour"]), int(data["minute"]), str(data["tz"]),
                           None if data.get("weekday") is None else int(data["weekday"]),
                           str(data.get("set_by") or ""), float(data.get("set_at") or 0.0))
            ZoneInfo(schedule.tz)
        except (KeyError, TypeError, ValueError, ZoneInfoNotFoundError):
            return None
        valid = (0 <= schedule.hour < 24 and 0 <= schedule.minute < 60
                 and (schedule.weekday is None or 0 <= schedule.weekday < 7))
        return schedule if valid else None


@dataclass(frozen=True)
class ScheduleRequest:
    """A parsed `/invoice digest daily|weekly ...`; `tz` None: the asker's own time zone."""

    channel: str
    hour: int
    minute: int
    weekday: int | None
    tz: str | None


def parse_schedule(words: Sequence[str]) -> ScheduleRequest | str:
    """`weekly <mon..sun> HH:MM #channel [Area/City]` or `daily HH:MM #channel [Area/City]`, as Slack sends
    them (channels escaped as `<#C123|name>`); a string says what is wrong, in words for the person."""
    if not words:
        return f"Say when and where. Usage: {SCHEDULE_USAGE}"
    cadence, rest = words[0].lower(), list(words[1:])
    weekday: int | None = None
    if cadence == "weekly":
        if not rest:
            return f"Which day of the week? Usage: {SCHEDULE_USAGE}"
        day = rest.pop(0).lower()
        matches = [index for index, name in enumerate(WEEKDAYS) if WEEKDAY_NAMES[index].lower().startswith(day)
                   and len(day) >= 3]
        if len(matches) != 1:
            return f"`{_shown(day)}` is not a day of the week: use mon, tue, wed, thu, fri, sat or sun."
        weekday = matches[0]
    elif cadence != "daily":
        return f"`{_shown(cadence)}` is not a schedule: start with `daily` or `weekly`. Usage: {SCHEDULE_USAGE}"
    if not rest:
        return f"At what time? Give it as HH:MM, 24-hour (e.g. 09:00). Usage: {SCHEDULE_USAGE}"
    clock = _TIME.match(rest.pop(0))
    if clock is None:
        return "Give the time as HH:MM on a 24-hour clock, e.g. `09:00` or `17:30`."
    if not rest:
        return f"Name the channel to post in, as #channel. Usage: {SCHEDULE_USAGE}"
    channel = _CHANNEL.match(rest.pop(0))
    if channel is None:
        return "Name the channel as #channel so Slack links it (start typing # and pick it)."
    tz: str | None = None
    if rest:
        tz = rest.pop(0)
        if not valid_zone(tz):
            return (f"`{_shown(tz)}` is not a time zone I know: use an IANA name such as `Europe/Paris` or "
                    "`America/New_York`.")
    if rest:
        return f"I don't know what `{_shown(' '.join(rest))}` means here. Usage: {SCHEDULE_USAGE}"
    return ScheduleRequest(channel.group(1), int(clock.group(1)), int(clock.group(2)), weekday, tz)


def valid_zone(name: str) -> bool:
    if not name or len(name) > 64 or name.startswith("/") or ".." in name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _shown(text: str) -> str:
    """What the person typed, quoted back safely: no mrkdwn, no mentions, at most 40 characters."""
    cut = text if len(text) <= 40 else text[:39] + "…"
    return cut.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("`", "'")


@dataclass(frozen=True)
class Slot:
    """One run of the schedule: its wall-clock name in the schedule's zone, and its moment."""

    key: str  # e.g. 2025-03-10T09:00 (unique per run: a time that happens twice runs once)
    at: float


def slot_on(schedule: DigestSchedule, day: date) -> Slot | None:
    """The run on that (local) day, if the schedule runs that day."""
    if schedule.weekday is not None and day.weekday() != schedule.weekday:
        return None
    zone = schedule.zone
    wall = datetime.combine(day, time(schedule.hour, schedule.minute), tzinfo=zone)  # fold=0: the first one
    return Slot(f"{day.isoformat()}T{schedule.hour:02d}:{schedule.minute:02d}", wall.timestamp())


def next_slot(schedule: DigestSchedule, after: float) -> Slot:
    """The first run strictly after `after`."""
    day = datetime.fromtimestamp(after, schedule.zone).date() - timedelta(days=1)
    for offset in range(10):
        slot = slot_on(schedule, day + timedelta(days=offset))
        if slot is not None and slot.at > after:
            return slot
    raise AssertionError("a weekly schedule runs within 8 days")  # pragma: no cover


def latest_slot(schedule: DigestSchedule, at: float) -> Slot | None:
    """The last run at or before `at`, if one is due at all."""
    day = datetime.fromtimestamp(at, schedule.zone).date() + timedelta(days=1)
    for offset in range(10):
        slot = slot_on(schedule, day - timedelta(days=offset))
        if slot is not None and slot.at <= at:
            return slot
    return None  # pragma: no cover

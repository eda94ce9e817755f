"""Chasing unpaid invoices: the cadence of reminders, and what pauses or stops it. Pure: no I/O.

A workspace chases on a cadence of days relative to each invoice's due date (`DEFAULT_CADENCE`: 3 days
before, on the day, 7, 14 and 30 days after); an invoice may have its own (or none: "off"). Days are
calendar days in the rep's time zone: the due date is the local date of Stripe's `due_date`, and a
reminder for day D goes out from `MORNING_HOUR` local time on D, its preview from `EVENING_HOUR` local
time the day before. Calendar arithmetic on dates (never seconds) keeps a DST change from moving a
reminder to another day, and `local_moment` turns a local wall-clock time into an instant with zoneinfo.

What changes the plan, per invoice (`ChaseState`):
- a **promise to pay** by a date: no reminder up to that date; if it passes unpaid, the rep hears of it
  once and chasing resumes, with a reminder the day after;
- a **dispute**: no reminder at all until it is resolved;
- **Skip** one reminder, **Snooze** (reminders before a date dropped, one on that date).

Promises, disputes and an invoice's own cadence are kept in the invoice's Stripe metadata as well
(`METADATA_KEYS`), so a database rebuilt from Stripe recovers them (`ChaseState.from_metadata`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo

DEFAULT_CADENCE: tuple[int, ...] = (-3, 0, 7, 14, 30)
MORNING_HOUR = 9  # reminders go out from 09:00 in the rep's time zone
EVENING_HOUR = 18  # the rep's preview of tomorrow's reminders, from 18:00 their time
SNOOZE_DAYS = 7
MAX_PROMISE_DAYS = 365  # a promise further out than a year is not a promise
EARLIEST_DAY, LATEST_DAY = -60, 365  # a cadence's days, relative to the due date
MAX_CADENCE_DAYS = 12
MAX_REASON = 500  # Stripe's limit on a metadata value
MAX_NOTE = 300
KEEP_SKIPPED_DAYS = 60  # skipped days older than this are forgotten

# Stripe metadata keys (at most 40 characters each); values at most 500 characters.
META_CADENCE = "invoicebot_chasing"  # "off", or days such as "-3,0,7,14,30"; absent: the workspace's
META_PROMISED_UNTIL = "invoicebot_promised_until"  # YYYY-MM-DD
META_PROMISE_NOTE = "invoicebot_promise_note"
META_PROMISE_LAPSED = "invoicebot_promise_lapsed"  # YYYY-MM-DD: when the rep was told it passed unpaid
META_DISPUTE = "invoicebot_dispute"  # the reason
META_DISPUTED_BY = "invoicebot_disputed_by"  # a Slack user ID
METADATA_KEYS = (META_CADENCE, META_PROMISED_UNTIL, META_PROMISE_NOTE, META_PROMISE_LAPSED, META_DISPUTE,
                 META_DISPUTED_BY)
OFF = "off"
_DAY_WORD = re.compile(r"^[-+−]?[0-9]{1,3}$")
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,40}$")


class CadenceError(ValueError):
    """A cadence that cannot be read; the message says how to write one."""


def parse_cadence(text: str) -> tuple[int, ...]:
    """`-3, 0, 7, 14, 30` (commas or spaces; negative: before the due date) or `off` (no reminders):
    the days, each once, in order. Raises `CadenceError` with what to fix."""
    words = [word for word in re.split(r"[\s,;]+", text.strip()) if word]
    if len(words) == 1 and words[0].lower() in (OFF, "none", "never"):
        return ()
    if not words:
        raise CadenceError("Give days from the due date, such as -3, 0, 7, 14, 30, or `off`")
    days: set[int] = set()
    for word in words:
        if not _DAY_WORD.match(word):
            raise CadenceError(f"“{word[:20]}” is not a number of days: write days from the due date, such as "
                               "-3, 0, 7, 14, 30 (negative: before it), or `off`")
        day = int(word.replace("−", "-"))
        if not EARLIEST_DAY <= day <= LATEST_DAY:
            raise CadenceError(f"{day} is out of range: days run from {EARLIEST_DAY} to {LATEST_DAY} "
                               "around the due date")
        days.add(day)
    if len(days) > MAX_CADENCE_DAYS:
        raise CadenceError(f"At most {MAX_CADENCE_DAYS} reminders per invoice")
    return tuple(sorted(days))


def cadence_text(days: Sequence[int]) -> str:
    """The machine form, as stored and in Stripe's metadata: `-3,0,7,14,30`, or `off`."""
    return ",".join(str(day) for day in days) if days else OFF


def read_cadence(text: str | None) -> tuple[int, ...] | None:
    """A stored or metadata value back; None for none (or one that does not read)."""
    if text is None or not text.strip():
        return None
    try:
        return parse_cadence(text)
    except CadenceError:
        return None


def offset_words(offset: int) -> str:
    if offset == 0:
        return "on the due date"
    count = abs(offset)
    unit = "day" if count == 1 else "days"
    return f"{count} {unit} {'before' if offset < 0 else 'after'} the due date"


def describe_cadence(days: Sequence[int]) -> str:
    """`3 days before, on the due date, 7, 14 and 30 days after` (or `no reminders`)."""
    if not days:
        return "no reminders"
    before = [-day for day in days if day < 0]
    after = [day for day in days if day > 0]
    parts = []
    if before:
        parts.append(f"{_listed(sorted(before, reverse=True))} {'day' if before == [1] else 'days'} before")
    if 0 in days:
        parts.append("on the due date")
    if after:
        parts.append(f"{_listed(after)} {'day' if after == [1] else 'days'} after")
    return ", ".join(parts)


def _listed(numbers: Sequence[int]) -> str:
    words = [str(number) for number in numbers]
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _date(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text) if text else None
    except ValueError:
        return None


@dataclass(frozen=True)
class ChaseState:
    """An invoice's chasing: its own cadence, a promise, a dispute, skipped and snoozed reminders."""

    days: tuple[int, ...] | None = None  # None: the workspace's cadence; (): not chased ("off")
    promised_until: date | None = None
    promise_note: str | None = None
    promise_lapsed_on: date | None = None  # the rep was told the promise passed unpaid
    dispute_reason: str | None = None
    disputed_by: str | None = None
    disputed_at: float | None = None
    snoozed_until: date | None = None
    skipped: frozenset[date] = field(default_factory=frozenset)
    changed_at: float | None = None  # when the bot last changed it (or took it from Stripe)
    from_stripe: bool = False  # taken from Stripe's metadata (a rebuilt database), not changed here since

    @property
    def disputed(self) -> bool:
        return self.dispute_reason is not None

    @property
    def recorded(self) -> bool:
        """Anything Stripe's metadata keeps."""
        return self.days is not None or self.promised_until is not None or self.disputed

    def cadence(self, workspace: Sequence[int]) -> tuple[int, ...]:
        return tuple(workspace) if self.days is None else self.days

    # --- changes ----------------------------------------------------------------------------------
    def promising(self, until: date, note: str | None) -> ChaseState:
        return replace(self, promised_until=until, promise_note=note or None, promise_lapsed_on=None)

    def disputing(self, reason: str, by: str, at: float) -> ChaseState:
        return replace(self, dispute_reason=reason, disputed_by=by, disputed_at=at)

    def resolved(self) -> ChaseState:
        """The dispute and any promise cleared: the cadence applies again."""
        return replace(self, dispute_reason=None, disputed_by=None, disputed_at=None, promised_until=None,
                       promise_note=None, promise_lapsed_on=None)

    def with_days(self, days: tuple[int, ...] | None) -> ChaseState:
        return replace(self, days=days)

    def skipping(self, day: date, today: date) -> ChaseState:
        keep = today - timedelta(days=KEEP_SKIPPED_DAYS)
        return replace(self, skipped=frozenset({*(d for d in self.skipped if d >= keep), day}))

    def snoozing(self, day: date) -> ChaseState:
        """The reminder of `day` and any other in the SNOOZE_DAYS after it become one, SNOOZE_DAYS later."""
        return replace(self, snoozed_until=day + timedelta(days=SNOOZE_DAYS))

    def lapse_noted(self, on: date) -> ChaseState:
        return replace(self, promise_lapsed_on=on)

    # --- Stripe's metadata ---------------------------------------------------------------------------
    def metadata(self) -> dict[str, str]:
        """Every key of METADATA_KEYS: a value, or "" (Stripe removes a key set to "")."""
        return {
            META_CADENCE: cadence_text(self.days) if self.days is not None else "",
            META_PROMISED_UNTIL: self.promised_until.isoformat() if self.promised_until else "",
            META_PROMISE_NOTE: (self.promise_note or "")[:MAX_REASON] if self.promised_until else "",
            META_PROMISE_LAPSED: self.promise_lapsed_on.isoformat() if self.promise_lapsed_on else "",
            META_DISPUTE: (self.dispute_reason or "")[:MAX_REASON],
            META_DISPUTED_BY: (self.disputed_by or "") if self.disputed else "",
        }

    @classmethod
    def from_metadata(cls, marks: Mapping[str, str]) -> ChaseState:
        """What Stripe's metadata keeps of an invoice's chasing (skips and snoozes are the store's only)."""
        reason = (marks.get(META_DISPUTE) or "").strip() or None
        by = marks.get(META_DISPUTED_BY) or ""
        promised = _date(marks.get(META_PROMISED_UNTIL))
        return cls(days=read_cadence(marks.get(META_CADENCE)), promised_until=promised,
                   promise_note=(marks.get(META_PROMISE_NOTE) or None) if promised else None,
                   promise_lapsed_on=_date(marks.get(META_PROMISE_LAPSED)) if promised else None,
                   dispute_reason=reason[:MAX_REASON] if reason else None,
                   disputed_by=by if reason and _SLACK_USER.match(by) else None)


def chase_marks(metadata: Mapping[str, object] | None) -> dict[str, str]:
    """The chasing keys of a Stripe object's metadata."""
    return {key: str(value) for key, value in (metadata or {}).items() if key in METADATA_KEYS and value}


# --- the schedule ---------------------------------------------------------------------------------
def due_day(due_date: int | float, zone: tzinfo) -> date:
    """The calendar date an invoice falls due, where the rep is."""
    return datetime.fromtimestamp(due_date, UTC).astimezone(zone).date()


def local_today(now: float, zone: tzinfo) -> date:
    return datetime.fromtimestamp(now, UTC).astimezone(zone).date()


def local_moment(day: date, hour: int, zone: tzinfo) -> float:
    """The instant the clocks in `zone` show `hour`:00 on `day`. In a DST gap (that time does not exist
    there), the moment the clocks jump past it; in a repeated hour, its first occurrence."""
    wall = datetime.combine(day, time(hour), tzinfo=zone)  # fold=0: the earlier offset
    return wall.astimezone(UTC).timestamp()


def should_chase(state: ChaseState, day: date) -> bool:
    """May a reminder go out on `day`, whatever the cadence says? Not while disputed, not a skipped
    day, not while snoozed, not up to the day a promise runs to."""
    if state.disputed or day in state.skipped:
        return False
    if state.snoozed_until is not None and day < state.snoozed_until:
        return False
    return state.promised_until is None or day > state.promised_until


def reminder_days(due: date, cadence: Sequence[int], state: ChaseState) -> list[date]:
    """Every day a reminder goes out, in order: the cadence's days around `due` (the invoice's own
    cadence, if it has one; else the workspace's `cadence`), the day a snooze ends, and the day after a
    promise, less what `should_chase` rules out. An empty cadence: none."""
    cadence = state.cadence(cadence)
    if not cadence:
        return []
    days = {due + timedelta(days=offset) for offset in cadence}
    if state.snoozed_until is not None:
        days.add(state.snoozed_until)
    if state.promised_until is not None:
        days.add(state.promised_until + timedelta(days=1))
    return sorted(day for day in days if should_chase(state, day))


def why(day: date, due: date, state: ChaseState) -> str:
    """Why a reminder goes out on `day`: its place in the cadence, or what it resumes."""
    if state.promised_until is not None and day == state.promised_until + timedelta(days=1):
        return "the promise to pay passed"
    if state.snoozed_until is not None and day == state.snoozed_until:
        return "snoozed until today"
    return offset_words((day - due).days)


@dataclass(frozen=True)
class Plan:
    """What the chasing sweep does now for one invoice."""

    chase_on: date | None = None  # a reminder is due now, today's
    preview_of: date | None = None  # tomorrow has a reminder: into the rep's preview
    lapsed: date | None = None  # the promise to pay by this day passed unpaid: tell the rep, once

    @property
    def nothing(self) -> bool:
        return self.chase_on is None and self.preview_of is None and self.lapsed is None


def plan(due_date: int | None, state: ChaseState, cadence: Sequence[int], zone: tzinfo, now: float) -> Plan:
    """For an open invoice due at `due_date`, with the rep in `zone`, at `now`: today's reminder from
    MORNING_HOUR, tomorrow's preview from EVENING_HOUR, a promise that passed (noted from MORNING_HOUR)."""
    if not due_date:
        return Plan()
    today = local_today(now, zone)
    tomorrow = today + timedelta(days=1)
    days = reminder_days(due_day(due_date, zone), state.cadence(cadence), state)
    morning = now >= local_moment(today, MORNING_HOUR, zone)
    evening = now >= local_moment(today, EVENING_HOUR, zone)
    lapsed = state.promised_until if (
        state.promised_until is not None and state.promised_until < today and state.promise_lapsed_on is None
        and not state.disputed and morning) else None
    return Plan(chase_on=today if morning and today in days else None,
                preview_of=tomorrow if evening and tomorrow in days else None, lapsed=lapsed)


def next_reminder(due_date: int | None, state: ChaseState, cadence: Sequence[int], zone: tzinfo,
                  now: float) -> date | None:
    """The next day a reminder goes out (today's, if it has not yet), or None."""
    if not due_date:
        return None
    today = local_today(now, zone)
    return next((day for day in reminder_days(due_day(due_date, zone), state.cadence(cadence), state)
                 if day >= today), None)


# --- input from people -------------------------------------------------------------------------------
def promise_refusal(until: date, today: date) -> str | None:
    """Why a promise to pay by `until` cannot be taken on `today` (the rep's), or None."""
    if until < today:
        return f"{until.strftime('%b %-d, %Y')} is in the past: pick today or a later date"
    if until > today + timedelta(days=MAX_PROMISE_DAYS):
        return f"Pick a date within {MAX_PROMISE_DAYS} days"
    return None


def format_day(day: date) -> str:
    return day.strftime("%a %b %-d, %Y")


def parse_skipped(text: str | None) -> frozenset[date]:
    return frozenset(day for word in (text or "").split(",") if (day := _date(word.strip())) is not None)


def skipped_text(days: Iterable[date]) -> str | None:
    return ",".join(sorted(day.isoformat() for day in days)) or None

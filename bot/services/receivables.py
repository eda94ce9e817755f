"""The receivables digest (`/invoice digest ...`) and App Home's aging.

- **Schedule.** An admin sets it from Slack: `/invoice digest weekly mon 09:00 #finance` (or `daily
  08:30 #finance`, `off`). Slack's API has no time zone for a workspace (`team.info` names none), so
  the wall-clock time is read in the time zone of the admin who sets it, from `users.info`, unless
  they name an IANA zone after the channel; the zone is stored with the schedule (in the workspace's
  settings), so it does not move when that admin travels or leaves, and every answer states it.
  `CheckDigestSchedule` runs every few minutes per workspace and queues the coming run (or one missed
  by less than `CATCH_UP_SECONDS`, say across a restart) as a job keyed by the run
  (`digest:<tenant>:<2025-03-10T09:00>`), delayed to its moment: each run is posted once, whichever
  process checks, and DST moves the moment, never the wall-clock time (`bot.domain.receivables`).
- **Now.** `/invoice digest now` (admins and finance viewers) posts one at once where the schedule
  posts, or by DM to whoever asked when there is no schedule; `now #channel` (admins) elsewhere.
- **The digest.** Reconciled first: one paged pass over Stripe's open invoices; an invoice Stripe
  holds open that the store lacks, or knows in an earlier state or with other amounts, is applied
  through the same rule as every snapshot (`Invoices.apply`: never backwards), dated as Stripe made
  it. An invoice the store holds open that Stripe's list does not is left out of the figures (its
  news is on its way) and counted in the digest. Then the figures come from the store, per currency
  (`bot.domain.receivables`), the message is posted once (`Courier`), and the aging charts (PNG,
  matplotlib in a child process: `bot.adapters.charts`) and a CSV of every open invoice are shared
  under it with Slack's upload flow (`SlackOut.share_files`), once.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, tzinfo
from decimal import Decimal
from zoneinfo import ZoneInfo

from bot import blocks, money, slash
from bot.access import Access, Action
from bot.adapters.charts import ChartFailure, ChartSpec, render_charts
from bot.adapters.courier import Courier
from bot.adapters.slack import SlackFailure, SlackOut, Upload
from bot.adapters.stripe import StripeFailure, StripeGateway
from bot.domain.invoices import Invoice, InvoiceSnapshot, snapshot_from_stripe, supersedes
from bot.domain.receivables import (
    BUCKET_LABELS,
    BUCKETS,
    COLLECTED_DAYS,
    DAY,
    DSO_MONTHS,
    Aging,
    DigestSchedule,
    Report,
    ScheduleRequest,
    Slot,
    bucket_of,
    build_report,
    days_past_due,
    latest_slot,
    month_bounds,
    next_slot,
    slot_on,
    valid_zone,
)
from bot.jobs.payloads import PostReceivablesDigest
from bot.mrkdwn import escape
from bot.services.tenancy import Tenancy
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

CHECK_SECONDS = 300.0  # how often each workspace's schedule is looked at (bot/bootstrap.py's Periodic)
LOOKAHEAD_SECONDS = 2 * CHECK_SECONDS  # a run this close is queued now, delayed to its moment
CATCH_UP_SECONDS = 6 * 3600.0  # a run missed by less than this (the bot was down) is still posted
MAX_CHARTS = 9  # Slack shares at most 10 files at once: the charts of the 9 largest currencies, and the CSV
RECONCILE_BATCH = 200  # snapshots applied per unit of work
NOT_ALLOWED_TO_SEE = "Only invoicing admins and finance viewers can see the receivables digest."
CSV_COLUMNS = ("invoice", "stripe_id", "customer", "customer_email", "rep", "currency", "total", "amount_due",
               "due_date", "days_past_due", "aging", "issued", "hosted_invoice")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Reconciliation:
    """What the pass over Stripe's open invoices found."""

    checked: bool  # Stripe's list was read (False: `problem` says why not)
    open_in_stripe: int = 0
    updated: int = 0  # invoices added to the store, or brought up to date, from the list
    not_open: frozenset[str] = frozenset()  # open in the store, not in Stripe's list: left out of the figures
    problem: str | None = None

    def notes(self) -> list[str]:
        if not self.checked:
            return [f":warning: not reconciled with Stripe ({escape(self.problem or 'unknown')}): figures as "
                    "invoicebot last heard them"]
        notes = [f"reconciled with Stripe's {self.open_in_stripe} open invoice{'s' if self.open_in_stripe != 1 else ''}"
                 + (f" ({self.updated} brought up to date)" if self.updated else "")]
        if self.not_open:
            notes.append(f"{len(self.not_open)} no longer open in Stripe left out (their news is on its way)")
        return notes


class Receivables:
    def __init__(self, store: TenantScope, stripe: StripeGateway, slack: SlackOut, courier: Courier, access: Access,
                 tenancy: Tenancy, *, clock: Callable[[], float] = time.time,
                 charts: Callable[[list[ChartSpec]], list[bytes]] = render_charts) -> None:
        self.store = store
        self.stripe = stripe
        self.slack = slack
        self.courier = courier
        self.access = access
        self.tenancy = tenancy
        self.clock = clock
        self.charts = charts

    # --- /invoice digest -------------------------------------------------------------------------------
    def answer(self, parsed: slash.ShowDigest | slash.SetDigest | slash.DigestNow, user_id: str, *,
               response_url: str | None, job_key: str) -> str:
        """What to tell the person who typed the command (after doing what it asks)."""
        if isinstance(parsed, slash.SetDigest):
            return self.set_schedule(user_id, parsed.schedule)
        if isinstance(parsed, slash.DigestNow):
            return self.ask_now(user_id, parsed.channel_id, response_url=response_url, job_key=job_key)
        return self.describe(user_id)

    def schedule(self) -> DigestSchedule | None:
        """As saved now (read from the directory each time: another process may have just changed it)."""
        tenant = self.tenancy.directory.get(self.tenancy.tenant_id)
        return tenant.settings.digest if tenant is not None else None

    def describe(self, user_id: str) -> str:
        if not self.access.sees_everything(user_id):
            return NOT_ALLOWED_TO_SEE
        schedule = self.schedule()
        if schedule is None:
            return ("No receivables digest is scheduled. An invoicing admin sets one with "
                    "`/invoice digest weekly mon 09:00 #finance`; `/invoice digest now` posts one at once.")
        upcoming = next_slot(schedule, self.clock())
        return (f"The receivables digest is posted {escape(schedule.describe())} in <#{escape(schedule.channel)}>. "
                f"Next: {escape(_moment(upcoming.at, schedule.zone))}. `/invoice digest off` stops it.")

    def set_schedule(self, user_id: str, request: ScheduleRequest | None) -> str:
        refusal = self.access.refusal(Action.ADMINISTER, user_id, what="schedule the receivables digest")
        if refusal:
            return refusal
        tenant = self.tenancy.directory.get(self.tenancy.tenant_id)
        if tenant is None:
            return "This workspace is not installed any more; nothing changed."
        zone_note = ""
        schedule: DigestSchedule | None = None
        if request is not None:
            tz = request.tz
            if tz is None:
                tz, zone_note = self._zone_of(user_id)
            schedule = DigestSchedule(request.channel, request.hour, request.minute, tz, request.weekday,
                                      set_by=user_id, set_at=self.clock())
        self.tenancy.directory.save_settings(self.tenancy.tenant_id, replace(tenant.settings, digest=schedule))
        with self.store.unit_of_work() as uow:
            uow.audit.add(user_id, "digest schedule", None, {}, schedule.to_dict() if schedule else {"off": True})
            uow.commit()
        logger.info("receivables digest of %s %s by %s", self.tenancy.tenant_id,
                    schedule.describe() if schedule else "turned off", user_id)
        if schedule is None:
            return "The receivables digest is off: nothing is posted until an admin schedules it again."
        upcoming = next_slot(schedule, self.clock())
        return (f":white_check_mark: The receivables digest will be posted {escape(schedule.describe())} in "
                f"<#{escape(schedule.channel)}>{zone_note}. Next: {escape(_moment(upcoming.at, schedule.zone))}. "
                "Invite me there with `/invite @invoicebot` if I'm not in it yet.")

    def _zone_of(self, user_id: str) -> tuple[str, str]:
        """The person's time zone as Slack has it, and a note saying where it came from."""
        tz = str(self.access.people.info(user_id).get("tz") or "")
        if valid_zone(tz):
            return tz, " (your time zone in Slack; name another after the channel, e.g. `Europe/Paris`)"
        return "UTC", " (Slack did not say your time zone, so UTC; name one after the channel, e.g. `Europe/Paris`)"

    def ask_now(self, user_id: str, channel_id: str | None, *, response_url: str | None, job_key: str) -> str:
        if not self.access.sees_everything(user_id):
            return NOT_ALLOWED_TO_SEE
        schedule = self.schedule()
        if channel_id is not None and (schedule is None or channel_id != schedule.channel):
            refusal = self.access.refusal(Action.ADMINISTER, user_id, what="choose where the digest goes "
                                          "(`/invoice digest now` posts it where the schedule does)")
            if refusal:
                return refusal
        target = channel_id or (schedule.channel if schedule else user_id)
        with self.store.unit_of_work() as uow:
            uow.jobs.add(PostReceivablesDigest(slot=f"now:{job_key}", channel=target, asked_by=user_id,
                                               response_url=response_url), key=f"digest-now:{job_key}")
            uow.commit()
        where = "you, by DM" if target == user_id else f"<#{escape(target)}>"
        return f"Putting the receivables digest together for {where}…"

    # --- the schedule ------------------------------------------------------------------------------------
    def check_schedule(self) -> int:
        """Queue the schedule's coming run (delayed to its moment) and a run missed by a little; how many
        were new. Keyed by the run: checks from every process and every few minutes queue it once."""
        schedule = self.schedule()
        if schedule is None:
            return 0
        now = self.clock()
        runs: list[tuple[Slot, float]] = []
        missed = latest_slot(schedule, now)
        if missed is not None and missed.at >= schedule.set_at and now - missed.at <= CATCH_UP_SECONDS:
            runs.append((missed, 0.0))
        upcoming = next_slot(schedule, now)
        if upcoming.at - now <= LOOKAHEAD_SECONDS:
            runs.append((upcoming, upcoming.at - now))
        added = 0
        with self.store.unit_of_work() as uow:
            for slot, delay in runs:
                added += uow.jobs.add(PostReceivablesDigest(slot=slot.key, channel=schedule.channel),
                                      key=f"digest:{self.tenancy.tenant_id}:{slot.key}", delay=delay)
            uow.commit()
        return added

    def _still_scheduled(self, job: PostReceivablesDigest) -> DigestSchedule | None:
        """The schedule, if this run is still one of it (not turned off, moved or pointed elsewhere since)."""
        schedule = self.schedule()
        if schedule is None or schedule.channel != job.channel:
            return None
        try:
            day = datetime.strptime(job.slot, "%Y-%m-%dT%H:%M").date()
        except ValueError:
            return None
        slot = slot_on(schedule, day)
        return schedule if slot is not None and slot.key == job.slot else None

    # --- the digest --------------------------------------------------------------------------------------
    def post_digest(self, job: PostReceivablesDigest) -> None:
        schedule = self.schedule() if job.asked_by else self._still_scheduled(job)
        if not job.asked_by and schedule is None:
            logger.info("receivables digest run %s of %s skipped: the schedule changed", job.slot,
                        self.tenancy.tenant_id)
            return
        zone = schedule.zone if schedule is not None else self._asker_zone(job.asked_by)
        channel = self.slack.open_dm(job.channel) if job.channel[:1] in ("U", "W") else job.channel
        reconciliation = self.reconcile()
        now = self.clock()
        report = self.report(now, zone, exclude=reconciliation.not_open)
        text, message = blocks.receivables_digest(report, zone, notes=reconciliation.notes())
        key = f"receivables:{job.slot}"
        self.courier.post_once(key, channel, text, message)
        self._share_files_once(f"{key}:files", channel, report, zone)
        self._tell(job, f"The receivables digest is in <#{escape(channel)}>.")

    def digest_failed(self, job: PostReceivablesDigest, reason: str) -> None:
        logger.error("receivables digest %s of %s failed: %s", job.slot, self.tenancy.tenant_id, reason)
        self._tell(job, f":warning: I couldn't post the receivables digest: {escape(reason)}. Try again in a moment.")

    def _tell(self, job: PostReceivablesDigest, text: str) -> None:
        """A word to whoever asked, through their command's response_url; one that expired (Slack keeps
        them 30 minutes) is not the digest's failure."""
        if not job.response_url:
            return
        try:
            self.slack.respond(job.response_url, text)
        except SlackFailure as failure:
            if failure.retryable:
                raise
            logger.info("could not tell %s about the receivables digest: %s", job.asked_by, failure.message)

    def _asker_zone(self, user_id: str | None) -> tzinfo:
        if user_id:
            tz = str(self.access.people.info(user_id).get("tz") or "")
            if valid_zone(tz):
                return ZoneInfo(tz)
        return ZoneInfo("UTC")

    def reconcile(self) -> Reconciliation:
        """One paged pass over Stripe's open invoices, applied to the store (see the module's doc)."""
        listed_at = int(self.clock())  # the list is at least this recent: newer than any event before it
        try:
            listed = {str(invoice["id"]): invoice for invoice in self.stripe.iter_open_invoices()}
        except StripeFailure as failure:
            if failure.retryable:
                raise
            logger.warning("receivables digest of %s not reconciled: %s", self.tenancy.tenant_id, failure.message)
            return Reconciliation(False, problem=failure.message)
        known: dict[str, Invoice] = {}
        ids = list(listed)
        for start in range(0, len(ids), 500):
            known.update(self.store.reads.invoices.get_many(ids[start:start + 500]))
        changes: list[tuple[InvoiceSnapshot, int]] = []
        for invoice_id, invoice in listed.items():
            snapshot = snapshot_from_stripe(invoice)
            stored = known.get(invoice_id)
            if stored is not None and (_same(stored, snapshot)
                                       or not supersedes(snapshot.status, listed_at, stored.status, stored.state_at)):
                continue
            changes.append((snapshot.keeping_lines_of(stored), int(invoice.get("created") or 0)))
        updated = 0
        for start in range(0, len(changes), RECONCILE_BATCH):
            with self.store.unit_of_work() as uow:
                for snapshot, created in changes[start:start + RECONCILE_BATCH]:
                    updated += uow.invoices.apply(snapshot, listed_at).applied
                    if created:
                        uow.invoices.date_created(snapshot.stripe_id, float(created))
                uow.commit()
        # Open here but not in Stripe's list, and known before the list was read: Stripe moved it on.
        not_open = frozenset(receivable.stripe_id for receivable in self.store.reads.invoices.receivables()
                             if receivable.stripe_id not in listed and receivable.created_at < listed_at - 60)
        if updated or not_open:
            logger.info("receivables digest of %s: %d invoices brought up to date from Stripe, %d left out",
                        self.tenancy.tenant_id, updated, len(not_open))
        return Reconciliation(True, len(listed), updated, not_open)

    def report(self, now: float, zone: tzinfo, *, exclude: frozenset[str] = frozenset()) -> Report:
        invoices = self.store.reads.invoices
        bounds = month_bounds(now, DSO_MONTHS, zone)
        kept = [receivable for receivable in invoices.receivables() if receivable.stripe_id not in exclude]
        return build_report(kept,
                            invoices.invoiced_by_period(bounds),
                            invoices.collected_between(now - COLLECTED_DAYS * DAY, now), bounds, now)

    def _share_files_once(self, key: str, channel: str, report: Report, zone: tzinfo) -> None:
        with self.store.unit_of_work() as uow:
            earlier = uow.deliveries.begin(key, channel, None)
            uow.commit()
        if earlier is not None and earlier.sent:
            return
        stamp = datetime.fromtimestamp(report.now, zone).strftime("%Y-%m-%d")
        uploads: list[Upload] = []
        comment = "The aging chart{s} and every open invoice as CSV, for the receivables digest above."
        shown = report.currencies[:MAX_CHARTS]
        try:
            pngs = self.charts([chart_spec(row.aging, report.now, zone) for row in shown])
            uploads += [Upload(f"receivables-aging-{row.currency}-{stamp}.png", f"Aging, {row.currency.upper()}", png,
                               alt_text=chart_alt_text(row.aging))
                        for row, png in zip(shown, pngs, strict=True)]
            comment = comment.format(s="s" if len(shown) > 1 else "")
        except (ChartFailure, ValueError) as failure:
            logger.warning("receivables digest of %s without its charts: %s", self.tenancy.tenant_id, failure)
            comment = "Every open invoice as CSV, for the receivables digest above (the charts could not be drawn)."
        uploads.append(Upload(f"open-invoices-{stamp}.csv", "Open invoices (CSV)", receivables_csv(report, zone)))
        file_ids = self.slack.share_files(channel, uploads, initial_comment=comment)
        with self.store.unit_of_work() as uow:
            uow.deliveries.finish(key, ",".join(file_ids)[:200] or "shared")
            uow.commit()

    # --- App Home ------------------------------------------------------------------------------------------
    def home_aging(self, viewer: str) -> list[Aging]:
        """The aging figures of what `viewer` may see (the rule and buckets of the digest)."""
        invoices = self.store.reads.invoices
        visible = self.access.visibility(viewer, invoices.channels())
        if visible is not None and visible.nothing:
            return []
        return invoices.aging(self.clock(), visible)


def _same(stored: Invoice, snapshot: InvoiceSnapshot) -> bool:
    """Nothing the figures read differs between the store's row and Stripe's."""
    return (stored.status, stored.currency, stored.total, stored.amount_paid, stored.amount_remaining,
            stored.due_date, stored.number) == (snapshot.status, snapshot.currency, snapshot.total,
                                                snapshot.amount_paid, snapshot.amount_remaining, snapshot.due_date,
                                                snapshot.number)


def _moment(at: float, zone: tzinfo) -> str:
    return datetime.fromtimestamp(at, zone).strftime("%a %b %-d, %Y %H:%M %Z")


def decimal_text(minor: int, currency: str) -> str:
    """An amount in major units, exactly, with the currency's own decimals (Stripe's exponent)."""
    if money.is_supported(currency):
        return str(money.to_decimal(minor, currency))
    return f"{Decimal(minor).scaleb(-2):.2f}"


def major_units(minor: int, currency: str) -> float:
    """A bar's height: a float, for drawing only."""
    return float(Decimal(decimal_text(minor, currency)))


def _cell(text: str | None) -> str:
    """Text from people or Stripe, made inert for spreadsheets (a leading =, +, -, @ starts a formula)."""
    value = " ".join((text or "").split())
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


def receivables_csv(report: Report, zone: tzinfo) -> bytes:
    """Every open invoice of the report, one row each, amounts as exact decimals (UTF-8 with a BOM, so a
    spreadsheet reads the names right)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for invoice in report.invoices:
        days = days_past_due(invoice.due_date, report.now)
        due = datetime.fromtimestamp(invoice.due_date, zone).strftime("%Y-%m-%d") if invoice.due_date else ""
        issued = datetime.fromtimestamp(invoice.created_at, zone).strftime("%Y-%m-%d") if invoice.created_at else ""
        writer.writerow([_cell(invoice.number), invoice.stripe_id, _cell(invoice.customer_name),
                         _cell(invoice.customer_email), invoice.rep_user_id or "", invoice.currency.upper(),
                         decimal_text(invoice.total, invoice.currency),
                         decimal_text(invoice.amount_remaining, invoice.currency), due, days, bucket_of(days), issued,
                         invoice.hosted_url or ""])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def chart_spec(row: Aging, now: float, zone: tzinfo) -> ChartSpec:
    currency = row.currency
    return ChartSpec(
        title=f"Receivables aging, {currency.upper()}",
        subtitle=f"open {money.format_amount(row.total, currency)} in {row.count} invoice"
                 f"{'s' if row.count != 1 else ''} · as of {_moment(now, zone)}",
        labels=[BUCKET_LABELS[bucket] for bucket in BUCKETS],
        heights=[major_units(amount, currency) for amount in row.amounts],
        value_labels=[money.format_amount(amount, currency) for amount in row.amounts],
        counts=list(row.counts))


def chart_alt_text(row: Aging) -> str:
    parts = [f"{BUCKET_LABELS[bucket]} {money.format_amount(row.amount(bucket), row.currency)}" for bucket in BUCKETS]
    return f"Bar chart of open {row.currency.upper()} receivables by days past due: " + ", ".join(parts)


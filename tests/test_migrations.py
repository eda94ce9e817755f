"""Schema migrations: numbered SQL files, applied once, by `invoicebot migrate` or at start-up; a
database made by an earlier invoicebot upgrades in place with nothing lost."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from bot.domain.tenants import DEFAULT_TENANT
from bot.jobs.model import Lane
from bot.store import migrate_database
from bot.store.migrations import load
from bot.store.sqlite import SqliteStore
from tests.harness import ROOT

LEGACY_DUMP = ROOT / "tests" / "data" / "legacy" / "main-a817d95.sql"
LATEST = [f"{m.version:04d}_{m.name}" for m in load("sqlite")]


def versions(path: Path) -> list[int]:
    with sqlite3.connect(path) as db:
        return [row[0] for row in db.execute("SELECT version FROM schema_migrations ORDER BY version")]


def test_a_fresh_database_gets_every_migration_once(tmp_path: Path) -> None:
    assert migrate_database(f"sqlite:///{tmp_path / 'fresh.db'}") == LATEST
    assert migrate_database(f"sqlite:///{tmp_path / 'fresh.db'}") == []
    assert versions(tmp_path / "fresh.db") == list(range(1, len(LATEST) + 1))


def test_the_database_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    SqliteStore(str(tmp_path / "private.db")).close()
    assert os.stat(tmp_path / "private.db").st_mode & 0o777 == 0o600


def test_a_database_made_by_the_first_invoicebot_upgrades_with_nothing_lost(tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as db:  # as main at a817d95 left it (sqlite-utils' migrations m001-m003)
        db.executescript(LEGACY_DUMP.read_text())
    store = SqliteStore(str(path))
    try:
        assert versions(path) == list(range(1, len(LATEST) + 1))
        invoice = store.reads(DEFAULT_TENANT).invoices.get("in_legacy1")
        assert invoice is not None and invoice.message_ts == "1700000000.000100" and invoice.rep_user_id == "UREP"
        assert invoice.lines[0].description == "Services" and invoice.total == 123400
        assert (store.reads(DEFAULT_TENANT).invoices.get("in_legacy2") or invoice).currency == "jpy"
        assert store.reads(DEFAULT_TENANT).customers.by_email("jenny@example.com") is not None
        assert [p.stripe_id for p in store.reads(DEFAULT_TENANT).prices.search("gold")] == ["price_legacy1"]
        decided = store.reads(DEFAULT_TENANT).events.get("evt_legacy1")
        assert decided is not None and decided.outcome is not None and decided.processed_at is None
        assert store.reads(DEFAULT_TENANT).audit.for_invoice("in_legacy1")[0].stripe_ids == {
            "invoice": "in_legacy1", "customer": "cus_legacy1"}
        # Everything moved into the one tenant of a single-workspace deployment; another sees none of it.
        assert store.reads("t_other").invoices.get("in_legacy1") is None
        assert store.reads("t_other").customers.by_email("jenny@example.com") is None
        assert store.reads(DEFAULT_TENANT).routes.lookup("customer", "jenny@example.com") == "CVIP"
        assert store.queue.stats().counts == {"done": 1, "pending": 4}
        # Every pending job found its lane; the webhook jobs no longer jump the queue (run_after was 0).
        jobs = {lane.value: store.queue.claim(lane.value, "t", 30, limit=10) for lane in Lane}
        assert {job.tenant_id for claimed in jobs.values() for job in claimed} == {DEFAULT_TENANT}
        claimed = {lane: [job.kind for job in claimed] for lane, claimed in jobs.items()}
        assert claimed == {"replies": [], "interactive": ["create_invoice"],
                           "events": ["stripe_event", "stripe_event"], "own_events": [],
                           "own": [], "bulk": ["channel_notice"],
                           "periodic": []}
        with sqlite3.connect(path) as db:
            assert db.execute("SELECT min(run_after) FROM jobs").fetchone()[0] > 0
    finally:
        store.close()


def test_invoicebot_migrate_needs_only_the_database_url(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    command = [sys.executable, "-m", "bot.cli", "migrate", "--env-file", "/dev/null"]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    assert f"{len(LATEST)} migration(s) applied" in first.stdout and LATEST[-1] in first.stdout
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert again.returncode == 0 and "up to date" in again.stdout
    wrong = subprocess.run(command, env={**env, "DATABASE_URL": "mysql://nope"}, capture_output=True, text=True,
                           timeout=60)
    assert wrong.returncode == 2 and "DATABASE_URL" in wrong.stderr and "Traceback" not in wrong.stderr


def test_processes_migrating_at_once_take_turns(tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT),
           "DATABASE_URL": f"sqlite:///{tmp_path / 'race.db'}"}
    command = [sys.executable, "-m", "bot.cli", "migrate", "--env-file", "/dev/null"]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(4)]
    outputs = [run.communicate(timeout=60) for run in runs]
    assert [run.returncode for run in runs] == [0, 0, 0, 0], outputs
    assert sum(f"{len(LATEST)} migration(s) applied" in out for out, _ in outputs) == 1
    assert versions(tmp_path / "race.db") == list(range(1, len(LATEST) + 1))


class _Recorder:
    """An executor that keeps the statements it is given (to ask SQLite how it would run them)."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, list[object]]] = []

    def execute(self, sql: str, params: object = ()) -> int:
        self.statements.append((sql, list(params)))  # type: ignore[call-overload]
        return 0


def test_pruning_walks_the_indexes_of_0005_never_a_whole_table(tmp_path: Path) -> None:
    from bot.store.repositories import SqlDeliveries, SqlEvents, SqlJobOutbox

    SqliteStore(str(tmp_path / "plans.db")).close()
    recorder = _Recorder()
    SqlJobOutbox(recorder, lambda: 1e9, "default", set()).prune_finished(7 * 86400, 1000)  # type: ignore[arg-type]
    SqlEvents(recorder, lambda: 1e9, "default").prune_decided(30 * 86400, 1000)  # type: ignore[arg-type]
    SqlDeliveries(recorder, lambda: 1e9, "default").prune_sent(30 * 86400, 1000)  # type: ignore[arg-type]
    expected = ["idx_jobs_finished_updated_at", "idx_stripe_events_processed_at", "idx_deliveries_sent_started_at"]
    with sqlite3.connect(tmp_path / "plans.db") as db:
        for (sql, params), index in zip(recorder.statements, expected, strict=True):
            plan = [row[3] for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params)]
            assert any(index in step for step in plan), plan
            assert not any(step.startswith("SCAN") for step in plan), plan  # each chunk costs its own rows only

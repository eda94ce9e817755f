"""`GET /metrics`: Prometheus' text format, parsed by prometheus_client's own parser, and counters
that move as work happens, with the workers inline and in their own process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from bot.jobs.model import Lane
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import BotProcess, RunningBot, bot_settings, create_invoice, open_modal, wait_for

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(http: httpx.Client) -> Samples:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            key = (sample.name, tuple(sorted(sample.labels.items())))
            assert key not in samples, f"{key} twice"
            samples[key] = sample.value
    return samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum over every series of `name` whose labels include `labels`."""
    return sum(v for (sample_name, pairs), v in samples.items()
               if sample_name == name and set(labels.items()) <= set(pairs))


def test_metrics_parse_and_count_the_work_as_it_happens(bot: RunningBot, fake_slack: FakeSlack,
                                                        fake_stripe: FakeStripe) -> None:
    before = scrape(bot.http)
    for lane in Lane:  # every lane is reported, even when empty
        assert ("invoicebot_jobs_waiting", (("lane", lane.value), ("status", "pending"))) in before
        assert ("invoicebot_oldest_due_job_seconds", (("lane", lane.value),)) in before
    assert value(before, "invoicebot_database_up") == 1

    invoice = create_invoice(bot, fake_slack, fake_stripe)  # /invoice, views.open, submit, Stripe calls
    fake_stripe.pay_invoice(invoice["id"])
    fake_stripe.flush_webhooks()
    bot.wait_idle()
    paid = [event for event in fake_stripe.events if event["type"] == "invoice.paid"][-1]
    assert bot.webhook(paid).status_code == 200  # Stripe delivers it again
    bot.wait_idle()

    after = scrape(bot.http)
    grew = {(name, *labels.values()): total(after, name, **labels) - total(before, name, **labels) for name, labels in [
        ("invoicebot_stripe_events_total", {"outcome": "stored"}),
        ("invoicebot_stripe_events_total", {"outcome": "duplicate"}),
        ("invoicebot_stripe_events_decided_total", {}),
        ("invoicebot_slack_calls_total", {"method": "views.open", "outcome": "ok"}),
        ("invoicebot_slack_calls_total", {"method": "chat.postMessage", "outcome": "ok"}),
        ("invoicebot_stripe_calls_total", {"operation": "invoices.create", "outcome": "ok"}),
        ("invoicebot_jobs_finished_total", {"lane": "interactive", "outcome": "done"}),
        ("invoicebot_slack_ack_seconds_count", {"kind": "slash_command"}),
        ("invoicebot_slack_ack_seconds_count", {"kind": "view_submission"}),
    ]}
    assert all(amount >= 1 for amount in grew.values()), grew
    assert grew[("invoicebot_stripe_events_total", "duplicate")] == 1  # the one delivered again
    assert value(after, "invoicebot_stripe_events_decided_total") == value(
        after, "invoicebot_stripe_events_total", outcome="stored")  # every stored event decided, once
    # A histogram's buckets are cumulative and end with the count.
    count = value(after, "invoicebot_slack_ack_seconds_count", kind="slash_command")
    assert value(after, "invoicebot_slack_ack_seconds_bucket", kind="slash_command", le="+Inf") == count


def test_slack_429s_are_counted_per_method_including_the_ones_retried(bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.rate_limit("views.open", retry_after=0, count=1)  # slack_sdk waits it out and retries
    before = scrape(bot.http)
    bot.slash("", trigger_id=fake_slack.new_trigger_id(), response_url=fake_slack.response_url())
    wait_for(lambda: [call for call in fake_slack.calls_to("views.open") if call.ok], 10, "views.open, retried")
    bot.wait_idle()
    after = scrape(bot.http)
    assert value(after, "invoicebot_slack_rate_limited_total", method="views.open") - value(
        before, "invoicebot_slack_rate_limited_total", method="views.open") == 1
    assert value(after, "invoicebot_slack_calls_total", method="views.open", outcome="ok") == 1  # one call, retried


def test_refused_webhooks_are_counted_and_nothing_else_moves(bot: RunningBot) -> None:
    before = scrape(bot.http)
    assert bot.webhook({"id": "evt_1", "type": "invoice.paid"}, secret="whsec_wrong").status_code == 400
    after = scrape(bot.http)
    assert value(after, "invoicebot_stripe_events_total", outcome="refused") - value(
        before, "invoicebot_stripe_events_total", outcome="refused") == 1
    assert value(after, "invoicebot_stripe_events_total", outcome="stored") == value(
        before, "invoicebot_stripe_events_total", outcome="stored")


def test_the_worker_process_counters_reach_the_one_endpoint(tmp_path: Path, fake_slack: FakeSlack,
                                                            fake_stripe: FakeStripe) -> None:
    process = BotProcess(bot_settings(tmp_path / "metrics.db", fake_slack.api_url, fake_stripe.url)).start()
    try:
        open_modal(process, fake_slack)  # views.open is called by the worker process

        def counted() -> Any:
            samples = scrape(process.http)
            opened = value(samples, "invoicebot_slack_calls_total", method="views.open", outcome="ok")
            return samples if opened else None

        samples = wait_for(counted, 10, "the worker process's views.open in /metrics")
        assert total(samples, "invoicebot_jobs_finished_total", lane="replies", outcome="done") >= 1
        assert value(samples, "invoicebot_slack_ack_seconds_count", kind="slash_command") >= 1  # the parent's own
        assert value(samples, "invoicebot_worker_threads_alive") == value(samples, "invoicebot_worker_threads") > 0
    finally:
        process.stop()

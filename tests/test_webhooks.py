"""POST /stripe/webhook and POST /slack/events at the door: signatures, sizes, bad bodies, health."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

from bot.domain.tenants import DEFAULT_TENANT
from tests.fakes.slack_fake import FakeSlack
from tests.harness import SIGNING_SECRET, RunningBot, stripe_signature

EVENT = {
    "id": "evt_test_1", "object": "event", "type": "invoice.paid", "created": 1700000000, "livemode": False,
    "data": {"object": {"id": "in_unknown_1", "object": "invoice", "status": "paid", "currency": "usd",
                        "total": 1000, "amount_paid": 1000, "amount_remaining": 0, "customer": "cus_1"}},
}


def stored_events(bot: RunningBot) -> list[dict]:
    return bot.rows("SELECT id, type FROM stripe_events")


def test_valid_signature_is_stored_once(bot: RunningBot) -> None:
    first = bot.webhook(EVENT)
    again = bot.webhook(EVENT)
    assert first.status_code == 200 and first.json() == {"received": True, "duplicate": False}
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert stored_events(bot) == [{"id": "evt_test_1", "type": "invoice.paid"}]


def test_bad_signatures_get_400_and_store_nothing(bot: RunningBot) -> None:
    raw = json.dumps(EVENT)
    tampered = raw.replace("1000", "9999")
    header = stripe_signature("whsec_test_secret_0123456789", raw)
    cases = {
        "wrong secret": bot.webhook(EVENT, secret="whsec_wrong"),
        "stale": bot.webhook(EVENT, timestamp=int(time.time()) - 301),
        "tampered": bot.http.post("/stripe/webhook", content=tampered,
                                  headers={"Stripe-Signature": header, "Content-Type": "application/json"}),
        "missing": bot.http.post("/stripe/webhook", content=raw, headers={"Content-Type": "application/json"}),
        "garbage header": bot.http.post("/stripe/webhook", content=raw, headers={"Stripe-Signature": "nonsense"}),
    }
    for name, response in cases.items():
        assert response.status_code == 400, name
        assert "error" in response.json(), name
    assert "timestamp" in cases["stale"].json()["error"]
    assert stored_events(bot) == []


def test_malformed_json_and_non_events_are_refused(bot: RunningBot) -> None:
    assert bot.webhook("{not json").status_code == 400
    assert bot.webhook(json.dumps([1, 2, 3])).status_code == 400
    assert bot.webhook(json.dumps({"type": "invoice.paid"})).status_code == 400
    assert stored_events(bot) == []


def test_oversized_bodies_get_413(bot: RunningBot) -> None:
    huge = json.dumps({**EVENT, "padding": "x" * 600_000})
    assert bot.webhook(huge).status_code == 413
    assert bot.post_slack("text=" + "x" * 1_100_000).status_code == 413
    assert stored_events(bot) == []


def test_unknown_event_types_are_recorded_not_errors(bot: RunningBot) -> None:
    event = {**EVENT, "id": "evt_other", "type": "charge.refunded",
             "data": {"object": {"id": "ch_1", "object": "charge"}}}
    assert bot.webhook(event).status_code == 200
    bot.wait_idle()
    row = bot.app.store.reads(DEFAULT_TENANT).events.get("evt_other")
    assert row is not None and row.processed_at


def test_slack_requests_need_a_valid_fresh_signature(bot: RunningBot, fake_slack: FakeSlack) -> None:
    response_url = quote(fake_slack.response_url(), safe="")
    body = ("command=%2Finvoice&text=help&user_id=U1&channel_id=C1&team_id=T1&trigger_id=1.2.3&"
            f"response_url={response_url}")
    assert bot.post_slack(body).status_code == 200
    assert bot.post_slack(body, secret="wrong-secret").status_code == 401
    assert bot.post_slack(body, timestamp=int(time.time()) - 6 * 60).status_code == 401
    unsigned = bot.http.post("/slack/events", content=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert unsigned.status_code == 401
    assert fake_slack.calls_to("views.open") == [] and SIGNING_SECRET not in unsigned.text


def test_healthz_reports_the_database(bot: RunningBot) -> None:
    response = bot.http.get("/healthz")
    assert response.status_code == 200
    assert response.json()["ok"] is True and response.json()["database"] == "ok"

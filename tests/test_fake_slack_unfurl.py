"""The fake Slack's link previews and message shortcuts (tests/fakes/slack_fake/unfurl.py, shortcuts.py):
`link_shared` as Slack sends it, `chat.unfurl` validated as Slack validates it, and the `message_action`
payload with a live trigger."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.slack_fake import FakeSlack, links, message_action

TOKEN = "xoxb-unfurl-test"
HOSTED = "https://invoice.stripe.com/i/acct_1/test_abc?s=ap"
DASHBOARD = "https://dashboard.stripe.com/invoices/in_1"
CARD = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Invoice INV-1* · $10.00"}}]


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN) as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSlack) -> FakeSlack:
    server.reset()
    return server


def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=fake.api_url)


def unfurl(fake: FakeSlack, **args: Any) -> dict[str, Any]:
    return dict(client(fake).api_call("chat.unfurl", json=args).data)  # type: ignore[arg-type]


def error_of(fake: FakeSlack, **args: Any) -> str:
    with pytest.raises(SlackApiError) as raised:
        unfurl(fake, **args)
    return str(raised.value.response["error"])


def test_share_link_posts_the_message_and_answers_slacks_event(fake: FakeSlack) -> None:
    event = links(fake).share_link("CSALES", f"the invoice: <{HOSTED}|pay here> and {DASHBOARD}.", user="U1")
    (message,) = fake.messages("CSALES")
    assert message.user == "U1" and event["message_ts"] == message.ts
    assert event["type"] == "link_shared" and event["channel"] == "CSALES" and event["user"] == "U1"
    assert event["is_bot_user_member"] is True and event["source"] == "conversations_history"
    assert event["unfurl_id"].startswith("U1-") and "thread_ts" not in event
    assert event["links"] == [{"domain": "invoice.stripe.com", "url": HOSTED},
                              {"domain": "dashboard.stripe.com", "url": DASHBOARD}]
    reply = links(fake).share_link("CSALES", HOSTED, user="U1", thread_ts=message.ts)
    assert reply["thread_ts"] == message.ts
    fake.add_channel("COUT", member=False)
    assert links(fake).share_link("COUT", HOSTED, user="U1")["is_bot_user_member"] is False
    envelope = fake.team().event_envelope(event)
    assert envelope["event"] == event and envelope["type"] == "event_callback"


def test_chat_unfurl_keeps_the_cards_and_a_second_call_replaces_them(fake: FakeSlack) -> None:
    event = links(fake).share_link("CSALES", f"{HOSTED} {DASHBOARD}", user="U1")
    ts = event["message_ts"]
    assert unfurl(fake, channel="CSALES", ts=ts, unfurls={HOSTED: {"blocks": CARD}})["ok"] is True
    assert links(fake).unfurls("CSALES", ts) == {HOSTED: {"blocks": CARD}}
    newer = [{"type": "section", "text": {"type": "mrkdwn", "text": "*Invoice INV-1* · paid"}}]
    client(fake).chat_unfurl(channel="CSALES", ts=ts, unfurls={HOSTED: {"blocks": newer}, DASHBOARD: {"text": "x"}})
    assert links(fake).unfurls("CSALES", ts) == {HOSTED: {"blocks": newer}, DASHBOARD: {"text": "x"}}
    assert [call.method for call in fake.calls] == ["chat.unfurl", "chat.unfurl"]


def test_chat_unfurl_refuses_what_slack_refuses(fake: FakeSlack) -> None:
    event = links(fake).share_link("CSALES", f"{HOSTED} and https://example.test/x", user="U1",
                                   urls=[HOSTED])
    ts = event["message_ts"]
    good = {HOSTED: {"blocks": CARD}}
    assert error_of(fake, channel="CSALES", ts=ts) == "missing_unfurls"
    assert error_of(fake, channel="CSALES", ts=ts, unfurls=[1]) == "invalid_unfurls_format"
    assert error_of(fake, channel="CSALES", ts=ts, unfurls="not json") == "invalid_unfurls_format"
    assert error_of(fake, ts=ts, unfurls=good) == "missing_channel"
    assert error_of(fake, channel="CSALES", unfurls=good) == "missing_ts"
    fake.channels.remove("CGONE")
    assert error_of(fake, channel="CGONE", ts=ts, unfurls=good) == "cannot_find_channel"
    assert error_of(fake, channel="CSALES", ts="1.000001", unfurls=good) == "cannot_find_message"
    # In the message, but Slack sent no link_shared for it; not in the message at all.
    assert error_of(fake, channel="CSALES", ts=ts, unfurls={"https://example.test/x": {"text": "x"}}) \
        == "cannot_unfurl_url"
    assert error_of(fake, channel="CSALES", ts=ts, unfurls={DASHBOARD: {"text": "x"}}) == "cannot_unfurl_message"
    assert error_of(fake, channel="CSALES", ts=ts, unfurls={HOSTED: "a card"}) == "cannot_parse_attachment"
    assert error_of(fake, channel="CSALES", ts=ts, unfurls={HOSTED: {"color": "#fff"}}) == "cannot_parse_attachment"
    bad = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as raised:
        unfurl(fake, channel="CSALES", ts=ts, unfurls={HOSTED: {"blocks": bad}})
    assert raised.value.response["error"] == "invalid_blocks"
    assert raised.value.response["response_metadata"]["messages"]
    assert error_of(fake, channel="CSALES", ts=ts, unfurl_id="x", unfurls=good) == "invalid_arguments"
    assert links(fake).unfurls("CSALES", ts) == {}  # nothing refused was kept


def test_form_encoded_and_tokenless_calls(fake: FakeSlack) -> None:
    event = links(fake).share_link("CSALES", HOSTED, user="U1")
    body = {"channel": "CSALES", "ts": event["message_ts"], "unfurls": json.dumps({HOSTED: {"blocks": CARD}})}
    answer = httpx.post(fake.api_url + "chat.unfurl", data={**body, "token": TOKEN}).json()
    assert answer == {"ok": True}
    assert httpx.post(fake.api_url + "chat.unfurl", data=body).json()["error"] == "not_authed"


def test_a_link_in_the_composer_unfurls_by_its_id(fake: FakeSlack) -> None:
    event = links(fake).compose_link("U1", HOSTED)
    assert event["channel"] == "COMPOSER" and event["source"] == "composer" and event["is_bot_user_member"] is False
    assert unfurl(fake, unfurl_id=event["unfurl_id"], source="composer", unfurls={HOSTED: {"text": "x"}})["ok"]
    assert links(fake).unfurls("COMPOSER", event["message_ts"]) == {HOSTED: {"text": "x"}}
    assert error_of(fake, unfurl_id=event["unfurl_id"], source="conversations_history",
                    unfurls={HOSTED: {"text": "x"}}) == "cannot_find_message"
    assert error_of(fake, unfurl_id=event["unfurl_id"], source="elsewhere",
                    unfurls={HOSTED: {"text": "x"}}) == "invalid_arguments"


def test_another_workspace_cannot_unfurl_this_ones_message(fake: FakeSlack) -> None:
    event = links(fake).share_link("CSALES", HOSTED, user="U1")
    other = fake.add_team("T2", "Beta", users=["U2"], channels=["C2"], token="xoxb-beta")
    with pytest.raises(SlackApiError) as raised:
        other.client().chat_unfurl(channel="CSALES", ts=event["message_ts"], unfurls={HOSTED: {"text": "x"}})
    assert raised.value.response["error"] == "cannot_find_channel"


def test_message_action_carries_the_message_and_a_live_trigger(fake: FakeSlack) -> None:
    parent = fake.add_message("CSALES", "Invoice Acme $1,250", user="U1")
    reply = fake.add_message("CSALES", "and $5 more", user="U2", thread_ts=parent.ts)
    payload = message_action(fake, "invoice_this", reply, user="UREP")
    assert payload["type"] == "message_action" and payload["callback_id"] == "invoice_this"
    assert payload["channel"]["id"] == "CSALES" and payload["user"]["id"] == "UREP"
    assert payload["message"] == {"type": "message", "user": "U2", "ts": reply.ts, "text": "and $5 more",
                                  "thread_ts": parent.ts}
    assert payload["message_ts"] == reply.ts and payload["team"]["id"] == fake.team_id
    view = {"type": "modal", "title": {"type": "plain_text", "text": "x"},
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}]}
    assert client(fake).views_open(trigger_id=payload["trigger_id"], view=view)["ok"]
    with pytest.raises(SlackApiError):  # a trigger opens one view
        client(fake).views_open(trigger_id=payload["trigger_id"], view=view)
    assert httpx.post(payload["response_url"], json={"text": "hi"}).status_code == 200
    assert fake.responses[-1]["text"] == "hi"

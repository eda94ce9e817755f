"""The fake Slack Web API, exercised through the real slack_sdk WebClient over HTTP."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import FixedValueRetryIntervalCalculator, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import ServerErrorRetryHandler

from tests.fakes.slack_fake import FakeSlack

TOKEN = "xoxb-test"


class ManualClock:
    """A clock the test moves by hand (for trigger expiry and pacing)."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN, bot_user_id="UBOT", team_id="T123") as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSlack) -> FakeSlack:
    server.reset()
    return server


@pytest.fixture
def client(fake: FakeSlack) -> WebClient:
    return WebClient(token=TOKEN, base_url=fake.api_url, retry_handlers=[])


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def clocked(clock: ManualClock) -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN, clock=clock) as fake:
        yield fake


def error_of(call: Any) -> dict[str, Any]:
    """Run a client call that must fail at the Slack level; return the response body."""
    with pytest.raises(SlackApiError) as caught:
        call()
    assert caught.value.response.status_code == 200
    return dict(caught.value.response.data)


def plain(text: str) -> dict[str, Any]:
    return {"type": "plain_text", "text": text}


def modal(
    title: str = "New invoice", blocks: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    return {"type": "modal", "title": plain(title), "blocks": blocks or [{"type": "divider"}], **extra}


def section(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, **extra}


# ---------------------------------------------------------------------------
# transport and auth


def test_bearer_token_is_required(fake: FakeSlack) -> None:
    assert error_of(WebClient(base_url=fake.api_url).auth_test)["error"] == "not_authed"
    assert error_of(WebClient(token="xoxb-wrong", base_url=fake.api_url).auth_test)["error"] == "invalid_auth"
    assert [c.error for c in fake.calls] == ["not_authed", "invalid_auth"]


def test_auth_test_answers_the_bot_identity(client: WebClient) -> None:
    body = client.auth_test()
    assert (body["user_id"], body["team_id"], body["bot_id"]) == ("UBOT", "T123", "BBOT")


def test_token_may_come_as_a_form_field(fake: FakeSlack) -> None:
    response = httpx.post(fake.api_url + "auth.test", data={"token": TOKEN})
    assert response.status_code == 200 and response.json()["ok"] is True
    assert "token" not in fake.calls[-1].args


def test_unknown_method(client: WebClient) -> None:
    assert error_of(lambda: client.api_call("chat.nope"))["error"] == "unknown_method"


def test_form_and_json_encodings_are_decoded_alike(fake: FakeSlack, client: WebClient) -> None:
    blocks = [section("*Invoice* INV-1")]
    client.api_call(
        "chat.postMessage", params={"channel": "C1", "text": "form", "blocks": json.dumps(blocks)}
    )
    client.chat_postMessage(channel="C1", text="json", blocks=blocks)
    form_call, json_call = fake.calls_to("chat.postMessage")
    assert (form_call.encoding, json_call.encoding) == ("form", "json")
    assert form_call.args["blocks"] == json_call.args["blocks"] == blocks
    assert [m.text for m in fake.messages("C1")] == ["form", "json"]


def test_calls_are_recorded_with_time_and_result(fake: FakeSlack, client: WebClient) -> None:
    before = time.time()
    client.chat_postMessage(channel="C1", text="hi")
    (call,) = fake.calls_to("chat.postMessage")
    assert call.ok and call.status == 200 and call.error is None
    assert before <= call.time <= time.time()
    assert call.args == {"channel": "C1", "text": "hi"}
    assert call.response is not None and call.response["ts"] == fake.messages("C1")[0].ts
    assert call.result is call.response


# ---------------------------------------------------------------------------
# required arguments


@pytest.mark.parametrize(
    ("method", "args", "error"),
    [
        ("chat.postMessage", {"text": "hi"}, "channel_not_found"),
        ("chat.postMessage", {"channel": "C1"}, "no_text"),
        ("chat.update", {"channel": "C1", "text": "x"}, "invalid_arguments"),
        ("chat.update", {"channel": "C1", "ts": "1700000000.000100", "text": "x"}, "message_not_found"),
        ("chat.postEphemeral", {"channel": "C1", "text": "x"}, "invalid_arguments"),
        ("chat.postEphemeral", {"channel": "C1", "user": "U1"}, "no_text"),
        ("chat.getPermalink", {"channel": "C1", "message_ts": "1700000000.000100"}, "message_not_found"),
        ("chat.delete", {"channel": "C1", "ts": "1700000000.000100"}, "message_not_found"),
        ("views.open", {"view": modal()}, "invalid_arguments"),
        ("views.open", {"trigger_id": "1.2.abc"}, "invalid_arguments"),
        ("views.open", {"trigger_id": "1.2.abc", "view": modal()}, "invalid_trigger_id"),
        ("views.push", {"view": modal()}, "invalid_arguments"),
        ("views.update", {"view": modal()}, "invalid_arguments"),
        ("views.update", {"view_id": "VNOPE", "view": modal()}, "not_found"),
        ("views.update", {"view_id": "VNOPE"}, "invalid_arguments"),
        ("views.publish", {"view": {"type": "home", "blocks": [{"type": "divider"}]}}, "invalid_arguments"),
        ("views.publish", {"user_id": "U1"}, "invalid_arguments"),
        ("users.info", {}, "invalid_arguments"),
        ("users.info", {"user": "UNOBODY"}, "user_not_found"),
        ("usergroups.users.list", {}, "invalid_arguments"),
        ("usergroups.users.list", {"usergroup": "SNOPE"}, "no_such_subteam"),
        ("conversations.info", {"channel": "XNOPE"}, "channel_not_found"),
        ("conversations.open", {}, "users_list_not_supplied"),
        ("conversations.open", {"users": "UNOBODY"}, "user_not_found"),
    ],
)
def test_required_arguments(client: WebClient, method: str, args: dict[str, Any], error: str) -> None:
    body = error_of(lambda: client.api_call(method, json=args))
    assert body["error"] == error
    if error == "invalid_arguments":
        assert body["response_metadata"]["messages"][0].startswith("[ERROR] ")


def test_views_update_hash_conflict(fake: FakeSlack, client: WebClient) -> None:
    opened = client.views_open(trigger_id=fake.new_trigger_id("U1"), view=modal())["view"]
    error = error_of(lambda: client.views_update(view_id=opened["id"], hash="0.stale", view=modal("Again")))
    assert error["error"] == "hash_conflict"
    updated = client.views_update(view_id=opened["id"], hash=opened["hash"], view=modal("Again"))["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]


# ---------------------------------------------------------------------------
# Block Kit validation


def test_modal_title_over_24_chars_is_rejected(fake: FakeSlack, client: WebClient) -> None:
    body = error_of(lambda: client.views_open(trigger_id=fake.new_trigger_id(), view=modal("T" * 30)))
    assert body["error"] == "invalid_arguments"
    assert any("title" in m for m in body["response_metadata"]["messages"])


def test_modal_with_101_blocks_is_rejected(fake: FakeSlack, client: WebClient) -> None:
    view = modal(blocks=[{"type": "divider"}] * 101)
    body = error_of(lambda: client.views_open(trigger_id=fake.new_trigger_id(), view=view))
    assert body["error"] == "invalid_arguments"
    assert body["response_metadata"]["messages"] == [
        "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"
    ]


def test_modal_with_100_blocks_is_accepted(fake: FakeSlack, client: WebClient) -> None:
    view = modal(blocks=[section(f"line {i}") for i in range(100)])
    assert client.views_open(trigger_id=fake.new_trigger_id(), view=view)["ok"]


def test_message_with_51_blocks_is_rejected(client: WebClient) -> None:
    body = error_of(
        lambda: client.chat_postMessage(channel="C1", blocks=[{"type": "divider"}] * 51, text="x")
    )
    assert body["error"] == "invalid_blocks"
    assert "no more than 50 items allowed" in body["response_metadata"]["messages"][0]


def test_section_text_over_3000_chars_is_rejected(client: WebClient) -> None:
    body = error_of(lambda: client.chat_postMessage(channel="C1", text="x", blocks=[section("x" * 3001)]))
    assert body["error"] == "invalid_blocks"
    assert "3000" in body["response_metadata"]["messages"][0]


@pytest.mark.parametrize(
    ("blocks", "needle"),
    [
        ([{"type": "sectionx"}], "unsupported block type"),
        ([section("x", textt="typo")], "unsupported property 'textt'"),
        ([{"type": "section", "text": "a bare string"}], "expected an object"),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "H"}}], "plain_text"),
        ([{"type": "divider", "block_id": "b"}, {"type": "divider", "block_id": "b"}], "already used"),
        ([{"type": "divider", "block_id": "b" * 256}], "block_id"),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "text": plain("Pay"), "action_id": "go"},
                        {"type": "button", "text": plain("Void"), "action_id": "go"},
                    ],
                }
            ],
            "action_id 'go'",
        ),
        ([{"type": "input", "element": {"type": "plain_text_input", "action_id": "a"}}], "label"),
        ([{"type": "context", "elements": []}], "must not be empty"),
    ],
)
def test_invalid_blocks_are_rejected(client: WebClient, blocks: list[dict[str, Any]], needle: str) -> None:
    body = error_of(lambda: client.chat_postMessage(channel="C1", text="fallback", blocks=blocks))
    assert body["error"] == "invalid_blocks"
    assert any(needle in m for m in body["response_metadata"]["messages"]), body


def test_unparseable_blocks_are_invalid_blocks_format(client: WebClient) -> None:
    body = error_of(lambda: client.api_call("chat.postMessage", params={"channel": "C1", "blocks": "[{oops"}))
    assert body["error"] == "invalid_blocks_format"


def test_modal_rules_slack_sdk_does_not_check(fake: FakeSlack, client: WebClient) -> None:
    input_block = {
        "type": "input",
        "label": plain("Amount"),
        "element": {"type": "plain_text_input", "action_id": "a"},
    }
    views = [
        {"type": "modal", "blocks": [{"type": "divider"}]},  # no title
        modal(blocks=[input_block]),  # input without submit
        modal(private_metadata="x" * 3001),
        {**modal(), "id": "V1"},  # a returned view passed back as is
    ]
    for view in views:
        body = error_of(lambda v=view: client.views_open(trigger_id=fake.new_trigger_id(), view=v))
        assert body["error"] == "invalid_arguments", view


def sections_totalling(characters: int, count: int) -> list[dict[str, Any]]:
    """`count` sections whose texts add up to `characters`."""
    sizes = [characters // count + (1 if index < characters % count else 0) for index in range(count)]
    return [section("x" * size) for size in sizes]


def test_blocks_past_the_whole_message_cap_are_msg_blocks_too_long(client: WebClient) -> None:
    """Each block within its own limits, the message over the cap on all its blocks together
    (slackapi/bolt-js#2867: 9,597 characters in 50 blocks were taken, 11,341 in 45 refused)."""
    assert client.chat_postMessage(channel="C1", text="x", blocks=sections_totalling(9_597, 50))["ok"]
    refused = error_of(lambda: client.chat_postMessage(channel="C1", text="x", blocks=sections_totalling(11_341, 45)))
    assert refused["error"] == "msg_blocks_too_long"
    posted = client.chat_postMessage(channel="C1", text="x", blocks=[section("short")])
    refused = error_of(lambda: client.chat_update(channel="C1", ts=posted["ts"], text="x",
                                                  blocks=sections_totalling(11_341, 45)))
    assert refused["error"] == "msg_blocks_too_long"
    # Counted in UTF-16 units (the unit of those measurements): an emoji beyond the BMP counts two.
    emoji = [section("\N{GRINNING FACE}" * 1_500) for _ in range(4)]  # 6,000 characters, 12,000 units
    assert error_of(lambda: client.chat_postMessage(channel="C1", text="x", blocks=emoji))["error"] == (
        "msg_blocks_too_long")


def test_a_response_url_post_is_not_held_to_the_whole_message_cap(fake: FakeSlack) -> None:
    """Reported exempt (the same blocks went through `respond()`), so the fake takes them."""
    url = fake.response_url(channel="C1")
    reply = httpx.post(url, json={"response_type": "in_channel", "text": "x", "blocks": sections_totalling(11_341, 45)})
    assert reply.status_code == 200 and reply.json()["ok"]
    assert len(fake.messages("C1")[-1].blocks or []) == 45


def test_message_text_over_40000_chars(client: WebClient) -> None:
    assert (
        error_of(lambda: client.chat_postMessage(channel="C1", text="x" * 40_001))["error"] == "msg_too_long"
    )


# ---------------------------------------------------------------------------
# messages


def test_post_returns_increasing_unique_ts(fake: FakeSlack, client: WebClient) -> None:
    stamps = [client.chat_postMessage(channel="C1", text=str(i))["ts"] for i in range(30)]
    assert len(set(stamps)) == 30
    assert [float(s) for s in stamps] == sorted(float(s) for s in stamps)
    assert all(len(s.split(".")[1]) == 6 for s in stamps)
    assert [m.ts for m in fake.messages("C1")] == stamps


def test_update_edits_in_place_and_keeps_history(fake: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="Invoice draft", blocks=[section("draft")])["ts"]
    client.chat_update(channel="C1", ts=ts, text="Invoice sent")
    (message,) = fake.messages("C1")
    assert message.text == "Invoice sent" and message.edited is not None
    assert message.blocks is not None  # blocks left out of the update are kept
    assert message.blocks[0]["text"]["text"] == "draft"
    assert [v.text for v in message.history] == ["Invoice draft"]
    client.chat_update(channel="C1", ts=ts, text="Paid", blocks=[])
    assert fake.messages("C1")[0].blocks is None and len(fake.messages("C1")[0].history) == 2


def test_update_of_a_users_message_is_refused(fake: FakeSlack, client: WebClient) -> None:
    theirs = fake.add_message("C1", "hello bot", user="U1")
    assert (
        error_of(lambda: client.chat_update(channel="C1", ts=theirs.ts, text="x"))["error"]
        == "cant_update_message"
    )


def test_thread_replies(fake: FakeSlack, client: WebClient) -> None:
    parent = client.chat_postMessage(channel="C1", text="Invoice INV-1")["ts"]
    client.chat_postMessage(channel="C1", text="paid", thread_ts=parent)
    client.chat_postMessage(channel="C1", text="also here", thread_ts=parent, reply_broadcast=True)
    client.chat_postMessage(channel="C1", text="orphan", thread_ts="1600000000.000001")  # Slack accepts it
    assert [m.text for m in fake.thread("C1", parent)] == ["paid", "also here"]
    assert [m.text for m in fake.messages("C1")] == ["Invoice INV-1", "also here"]
    parent_message = fake.messages("C1")[0]
    assert parent_message.reply_count == 2 and parent_message.thread_ts is None
    assert all(reply.thread_ts == parent for reply in fake.thread("C1", parent))
    assert [m.text for m in fake.thread("C1", "1600000000.000001")] == ["orphan"]


def test_delete_and_permalink(fake: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="x")["ts"]
    link = client.chat_getPermalink(channel="C1", message_ts=ts)["permalink"]
    assert link.endswith("/archives/C1/p" + ts.replace(".", ""))
    client.chat_delete(channel="C1", ts=ts)
    assert fake.messages("C1") == []
    assert error_of(lambda: client.chat_delete(channel="C1", ts=ts))["error"] == "message_not_found"


def test_ephemerals_are_recorded(fake: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postEphemeral(channel="C1", user="U1", text="only you")["message_ts"]
    (ephemeral,) = fake.ephemerals
    assert (ephemeral.channel, ephemeral.user, ephemeral.text, ephemeral.message_ts) == (
        "C1",
        "U1",
        "only you",
        ts,
    )
    assert ephemeral.args == {"channel": "C1", "user": "U1", "text": "only you"}
    assert fake.messages("C1") == []


# ---------------------------------------------------------------------------
# channels, users, groups


def test_default_and_configured_channels(fake: FakeSlack, client: WebClient) -> None:
    assert client.chat_postMessage(channel="C9", text="implicit channel")["ok"]
    fake.add_channel("C2", member=False)
    fake.add_channel("C3", archived=True)
    fake.channels.remove("C4")
    assert error_of(lambda: client.chat_postMessage(channel="C2", text="x"))["error"] == "not_in_channel"
    assert error_of(lambda: client.chat_postMessage(channel="C3", text="x"))["error"] == "is_archived"
    assert error_of(lambda: client.chat_postMessage(channel="C4", text="x"))["error"] == "channel_not_found"
    assert error_of(lambda: client.chat_postMessage(channel="nope", text="x"))["error"] == "channel_not_found"
    fake.channels.implicit = False
    assert error_of(lambda: client.chat_postMessage(channel="C5", text="x"))["error"] == "channel_not_found"
    fake.add_channel("C6", name="billing")
    assert client.chat_postMessage(channel="#billing", text="by name")["channel"] == "C6"
    assert client.conversations_info(channel="C2")["channel"]["is_member"] is False


def test_dm_with_a_user(fake: FakeSlack, client: WebClient) -> None:
    fake.add_user("U1")
    dm = client.conversations_open(users="U1")["channel"]["id"]
    assert dm.startswith("D") and dm == fake.dm_channel("U1")
    assert client.conversations_open(users=["U1"])["already_open"] is True
    assert client.chat_postMessage(channel="U1", text="your invoice")["channel"] == dm
    assert [m.text for m in fake.messages(dm)] == [m.text for m in fake.messages("U1")] == ["your invoice"]
    assert client.conversations_info(channel=dm)["channel"]["is_im"] is True


def test_users_info_time_zone(fake: FakeSlack, client: WebClient) -> None:
    fake.add_user("U1", tz="Europe/Paris", is_admin=False, name="marie", real_name="Marie Curie")
    fake.add_user("U2", tz="Asia/Kolkata", is_admin=True)
    user = client.users_info(user="U1")["user"]
    assert (user["tz"], user["name"], user["real_name"], user["is_admin"]) == (
        "Europe/Paris",
        "marie",
        "Marie Curie",
        False,
    )
    assert user["tz_offset"] in (3600, 7200)
    other = client.users_info(user="U2")["user"]
    assert other["tz_offset"] == 19800 and other["is_admin"] is True


def test_usergroups(fake: FakeSlack, client: WebClient) -> None:
    fake.add_usergroup("S1", users=["U1", "U2"])
    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]


# ---------------------------------------------------------------------------
# views and triggers


def test_views_open_update_push_publish(fake: FakeSlack, client: WebClient) -> None:
    view = modal(callback_id="new_invoice", private_metadata='{"channel": "C1"}', external_id="inv-1")
    opened = client.views_open(trigger_id=fake.new_trigger_id("U1"), view=view)["view"]
    assert opened["id"].startswith("V") and opened["hash"] and opened["team_id"] == "T123"
    assert opened["state"] == {"values": {}} and opened["callback_id"] == "new_invoice"
    assert opened["private_metadata"] == '{"channel": "C1"}'
    assert all(block.get("block_id") for block in opened["blocks"])
    assert fake.views[opened["id"]].user_id == "U1"

    updated = client.views_update(external_id="inv-1", view=modal("Step 2", external_id="inv-1"))["view"]
    assert updated["id"] == opened["id"] and updated["hash"] != opened["hash"]
    assert fake.views[opened["id"]]["title"]["text"] == "Step 2"

    pushed = client.views_push(trigger_id=fake.new_trigger_id("U1"), view=modal("Details"))["view"]
    assert pushed["root_view_id"] == opened["id"] and pushed["previous_view_id"] == opened["id"]
    client.views_push(trigger_id=fake.new_trigger_id("U1"), view=modal("More"))
    body = error_of(lambda: client.views_push(trigger_id=fake.new_trigger_id("U1"), view=modal("Too deep")))
    assert body["error"] == "push_limit_reached"

    fake.close_view(opened["id"])
    assert fake.views[opened["id"]].closed and fake.views[pushed["id"]].closed
    assert error_of(lambda: client.views_update(view_id=opened["id"], view=modal()))["error"] == "not_found"
    reopened = client.views_open(trigger_id=fake.new_trigger_id("U1"), view=modal(external_id="inv-1"))
    assert reopened["view"]["external_id"] == "inv-1"  # free again once the first one closed
    duplicate = modal(external_id="inv-1")
    body = error_of(lambda: client.views_push(trigger_id=fake.new_trigger_id("U1"), view=duplicate))
    assert body["error"] == "duplicate_external_id"

    home = {"type": "home", "blocks": [section("Unpaid: 2")]}
    published = client.views_publish(user_id="U1", view=home)["view"]
    assert fake.home("U1") == published and fake.home("U2") is None


def test_trigger_id_is_single_use(fake: FakeSlack, client: WebClient) -> None:
    trigger = fake.new_trigger_id("U1")
    assert client.views_open(trigger_id=trigger, view=modal())["ok"]
    assert (
        error_of(lambda: client.views_open(trigger_id=trigger, view=modal()))["error"]
        == "exchanged_trigger_id"
    )


def test_trigger_id_expires_after_3_seconds(clocked: FakeSlack, clock: ManualClock) -> None:
    client = WebClient(token=TOKEN, base_url=clocked.api_url)
    fresh, stale = clocked.new_trigger_id("U1"), clocked.new_trigger_id("U1")
    clock.advance(2.9)
    assert client.views_open(trigger_id=fresh, view=modal())["ok"]
    clock.advance(0.2)
    assert (
        error_of(lambda: client.views_open(trigger_id=stale, view=modal()))["error"] == "expired_trigger_id"
    )


# ---------------------------------------------------------------------------
# faults


def test_rate_limit_surfaces_as_429_with_retry_after(fake: FakeSlack, client: WebClient) -> None:
    fake.rate_limit("chat.postMessage", retry_after=7, count=1)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C1", text="x")
    response = caught.value.response
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.data == {"ok": False, "error": "ratelimited"}
    assert client.chat_postMessage(channel="C1", text="x")["ok"]  # count exhausted


def test_rate_limit_retry_handler_then_succeeds(fake: FakeSlack) -> None:
    fake.rate_limit("chat.postMessage", retry_after=1, count=1)
    client = WebClient(
        token=TOKEN, base_url=fake.api_url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)]
    )
    started = time.monotonic()
    assert client.chat_postMessage(channel="C1", text="eventually")["ok"]
    assert time.monotonic() - started >= 1.0
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [429, 200]
    assert len(fake.messages("C1")) == 1


def test_http_5xx_switch(fake: FakeSlack, client: WebClient) -> None:
    fake.http_error("chat.postMessage", status=503, count=2)
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C1", text="x")
    assert caught.value.response.status_code == 503
    retrying = WebClient(
        token=TOKEN,
        base_url=fake.api_url,
        retry_handlers=[
            ServerErrorRetryHandler(
                max_retry_count=1, interval_calculator=FixedValueRetryIntervalCalculator(0.01)
            )
        ],
    )
    assert retrying.chat_postMessage(channel="C1", text="x")["ok"]
    assert [c.status for c in fake.calls_to("chat.postMessage")] == [503, 503, 200]


def test_fail_next(fake: FakeSlack, client: WebClient) -> None:
    fake.fail_next("chat.postMessage", error="channel_not_found")
    fake.fail_next("*", error="fatal_error")
    assert error_of(lambda: client.chat_postMessage(channel="C1", text="x"))["error"] == "channel_not_found"
    assert error_of(client.auth_test)["error"] == "fatal_error"
    assert client.chat_postMessage(channel="C1", text="x")["ok"]


def test_pace_allows_a_burst_then_answers_429(clocked: FakeSlack, clock: ManualClock) -> None:
    client = WebClient(token=TOKEN, base_url=clocked.api_url, retry_handlers=[])
    clocked.enforce_pace(posts_per_second=1.0, burst=3)
    for i in range(3):
        client.chat_postMessage(channel="C1", text=f"burst {i}")
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C1", text="too fast")
    assert caught.value.response.status_code == 429
    assert caught.value.response.headers["Retry-After"] == "1"
    assert client.chat_postMessage(channel="C2", text="other channel")["ok"]  # buckets are per channel
    clock.advance(1.0)
    assert client.chat_postMessage(channel="C1", text="after a second")["ok"]


def test_pace_retry_after_is_computed_from_the_bucket(clocked: FakeSlack, clock: ManualClock) -> None:
    client = WebClient(token=TOKEN, base_url=clocked.api_url, retry_handlers=[])
    clocked.enforce_pace(posts_per_second=0.25, burst=1)
    client.chat_postMessage(channel="C1", text="one")
    clock.advance(1.0)  # a quarter of a token back: 3 more seconds to go
    with pytest.raises(SlackApiError) as caught:
        client.chat_postMessage(channel="C1", text="two")
    assert caught.value.response.headers["Retry-After"] == "3"
    clocked.enforce_pace(None)
    assert client.chat_postMessage(channel="C1", text="unpaced")["ok"]


def test_latency(fake: FakeSlack, client: WebClient) -> None:
    fake.latency("auth.test", 0.2)
    started = time.monotonic()
    client.auth_test()
    assert time.monotonic() - started >= 0.2
    fake.latency("auth.test", 0)
    assert fake.calls[-1].duration >= 0.2


# ---------------------------------------------------------------------------
# response_url


def test_response_url_posts_are_recorded(fake: FakeSlack) -> None:
    url = fake.response_url(name="new-invoice")
    assert url.startswith(fake.url)
    reply = httpx.post(url, json={"response_type": "ephemeral", "text": "Creating INV-1…"})
    assert reply.status_code == 200
    (post,) = fake.responses
    assert post == {"response_type": "ephemeral", "text": "Creating INV-1…"}
    assert post.name == "new-invoice" and post.url == url


def test_response_url_replace_original_edits_the_bound_message(fake: FakeSlack, client: WebClient) -> None:
    ts = client.chat_postMessage(channel="C1", text="Approve INV-1?")["ts"]
    url = fake.response_url(name="approve", channel="C1", message_ts=ts)
    httpx.post(url, json={"replace_original": True, "text": "Approved"})
    (message,) = fake.messages("C1")
    assert message.text == "Approved" and message.history[0].text == "Approve INV-1?"
    assert httpx.post(url, json={"text": "x", "blocks": [{"type": "nope"}]}).status_code == 400


def test_response_url_takes_five_posts(fake: FakeSlack) -> None:
    url = fake.response_url()
    assert [httpx.post(url, json={"text": str(i)}).status_code for i in range(6)] == [200] * 5 + [404]


# ---------------------------------------------------------------------------
# housekeeping and load


def test_reset_forgets_everything(fake: FakeSlack, client: WebClient) -> None:
    client.chat_postMessage(channel="C1", text="x")
    fake.add_user("U1")
    fake.fail_next("auth.test")
    fake.reset()
    assert fake.calls == [] and fake.messages("C1") == [] and "U1" not in fake.users
    assert client.auth_test()["ok"]


def test_a_few_hundred_concurrent_requests(fake: FakeSlack) -> None:
    client = WebClient(token=TOKEN, base_url=fake.api_url)

    def post(i: int) -> str:
        return str(client.chat_postMessage(channel=f"C{i % 4}", text=str(i))["ts"])

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        stamps = list(pool.map(post, range(300)))
    elapsed = time.monotonic() - started
    assert len(set(stamps)) == 300
    assert len(fake.calls_to("chat.postMessage")) == 300
    assert sum(len(fake.messages(f"C{i}")) for i in range(4)) == 300
    assert elapsed < 3.0, f"{300 / elapsed:.0f} requests/s"


def test_slack_bolt_app_starts_against_the_fake(fake: FakeSlack) -> None:
    from slack_bolt import App

    app = App(client=fake.client(), signing_secret="secret")  # runs auth.test
    assert app.client.base_url == fake.api_url
    assert fake.calls_to("auth.test")

"""The fake Slack with several workspaces and Slack's OAuth v2 install, through the real slack_sdk over HTTP."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.slack_fake import FakeSlack, Team

TOKEN = "xoxb-test"
CLIENT_ID = "1234567890.0987654321"
CLIENT_SECRET = "s3cr3t-0123456789abcdef"
REDIRECT = "https://invoicebot.example/slack/oauth_redirect"


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def server() -> Iterator[FakeSlack]:
    with FakeSlack(token=TOKEN, bot_user_id="UBOT", team_id="T123") as fake:
        yield fake


@pytest.fixture
def fake(server: FakeSlack) -> FakeSlack:
    server.reset()
    return server


@pytest.fixture
def beta(fake: FakeSlack) -> Team:
    return fake.add_team(
        "T2BETA",
        "Beta Corp",
        users=["U2ANN", {"id": "U2BOB", "name": "bob", "is_admin": True}],
        channels=["C2GENERAL", {"id": "G2SECRET", "private": True}],
        token="xoxb-beta",
    )


@pytest.fixture
def oauth(fake: FakeSlack) -> FakeSlack:
    fake.configure_oauth(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT)
    return fake


def client_for(fake: FakeSlack, token: str | None = None) -> WebClient:
    return WebClient(token=token, base_url=fake.api_url, retry_handlers=[])


def error_of(call: Any) -> str:
    with pytest.raises(SlackApiError) as caught:
        call()
    assert caught.value.response.status_code == 200
    return str(caught.value.response["error"])


def authorize(
    fake: FakeSlack,
    *,
    scope: str = "chat:write,commands",
    user_scope: str = "",
    state: str | None = "st4te",
    redirect_uri: str | None = REDIRECT,
    client_id: str = CLIENT_ID,
    **extra: str,
) -> httpx.Response:
    """What the browser does with the "Add to Slack" link (no redirects followed)."""
    params = {"client_id": client_id, "scope": scope, "user_scope": user_scope, **extra}
    if state is not None:
        params["state"] = state
    if redirect_uri is not None:
        params["redirect_uri"] = redirect_uri
    return httpx.get(fake.authorize_url, params=params, follow_redirects=False)


def redirected(response: httpx.Response) -> tuple[str, dict[str, str]]:
    """(redirect target without query, its query) of a 302."""
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["Location"])
    query = {key: values[0] for key, values in parse_qs(location.query, keep_blank_values=True).items()}
    return f"{location.scheme}://{location.netloc}{location.path}", query


def code_for(fake: FakeSlack, team_id: str | None = None, user_id: str | None = None, **kwargs: Any) -> str:
    fake.next_authorization(team_id, user_id)
    _, query = redirected(authorize(fake, **kwargs))
    return query["code"]


def exchange(fake: FakeSlack, code: str, **kwargs: Any) -> dict[str, Any]:
    kwargs.setdefault("client_id", CLIENT_ID)
    kwargs.setdefault("client_secret", CLIENT_SECRET)
    kwargs.setdefault("redirect_uri", REDIRECT)
    return dict(client_for(fake).oauth_v2_access(code=code, **kwargs).data)


# ---------------------------------------------------------------------------
# teams and tokens


def test_auth_test_answers_per_token(fake: FakeSlack, beta: Team) -> None:
    default = client_for(fake, TOKEN).auth_test()
    assert (default["team_id"], default["team"], default["user_id"], default["bot_id"]) == (
        "T123", "Fake Team", "UBOT", "BBOT"
    )
    assert default["url"] == "https://fake-slack.example/"
    body = client_for(fake, "xoxb-beta").auth_test()
    assert (body["team_id"], body["team"], body["user_id"], body["bot_id"]) == (
        "T2BETA", "Beta Corp", "U2BETABOT", "B2BETABOT"
    )
    assert body["url"] == "https://beta-corp.fake-slack.example/" == beta.url
    assert body["is_enterprise_install"] is False
    assert (beta.bot_user_id, beta.bot_id, beta.token, beta.installed) == ("U2BETABOT", "B2BETABOT", "xoxb-beta", True)
    assert [c.team_id for c in fake.calls_to("auth.test")] == ["T123", "T2BETA"]
    assert [c.method for c in beta.calls] == ["auth.test"]


def test_each_token_sees_only_its_team(fake: FakeSlack, beta: Team) -> None:
    default, other = client_for(fake, TOKEN), beta.client(retry_handlers=[])
    other.chat_postMessage(channel="C2GENERAL", text="beta says hi")
    default.chat_postMessage(channel="C1", text="default says hi")

    assert [m.text for m in beta.messages("C2GENERAL")] == ["beta says hi"]
    assert fake.messages("C2GENERAL") == [] and beta.messages("C1") == []
    assert [m.text for m in fake.messages("C1")] == ["default says hi"]
    # another team's channels do not exist here (not even implicitly), and the reverse
    assert error_of(lambda: default.chat_postMessage(channel="C2GENERAL", text="x")) == "channel_not_found"
    assert error_of(lambda: default.conversations_info(channel="G2SECRET")) == "channel_not_found"
    assert error_of(lambda: other.chat_postMessage(channel="C1", text="x")) == "channel_not_found"
    # users, usergroups
    assert other.users_info(user="U2ANN")["user"]["team_id"] == "T2BETA"
    assert error_of(lambda: default.users_info(user="U2ANN")) == "user_not_found"
    assert error_of(lambda: default.conversations_open(users="U2BOB")) == "user_not_found"
    beta.add_usergroup("S2OPS", ["U2ANN"])
    assert other.usergroups_users_list(usergroup="S2OPS")["users"] == ["U2ANN"]
    assert error_of(lambda: default.usergroups_users_list(usergroup="S2OPS")) == "no_such_subteam"


def test_dms_views_and_triggers_stay_in_their_team(fake: FakeSlack, beta: Team) -> None:
    default, other = client_for(fake, TOKEN), beta.client(retry_handlers=[])
    fake.add_user("UALICE")
    dm_default = default.conversations_open(users="UALICE")["channel"]["id"]
    dm_beta = other.conversations_open(users="U2ANN")["channel"]["id"]
    assert dm_default != dm_beta  # ids are unique across teams
    assert error_of(lambda: default.chat_postMessage(channel=dm_beta, text="x")) == "channel_not_found"
    other.chat_postMessage(channel="U2ANN", text="psst")
    assert [m.text for m in beta.messages("U2ANN")] == ["psst"]

    modal = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": [{"type": "divider"}]}
    assert error_of(lambda: default.views_open(trigger_id=beta.new_trigger_id("U2ANN"), view=modal)) == (
        "invalid_trigger_id"
    )
    view = other.views_open(trigger_id=beta.new_trigger_id("U2ANN"), view=modal)["view"]
    assert view["team_id"] == view["app_installed_team_id"] == "T2BETA" and view["bot_id"] == "B2BETABOT"
    assert error_of(lambda: default.views_update(view_id=view["id"], view=modal)) == "not_found"
    assert view["id"] in beta.views and view["id"] not in fake.views


def test_response_urls_belong_to_their_team(fake: FakeSlack, beta: Team) -> None:
    url = beta.response_url("beta", channel="C2GENERAL")
    assert httpx.post(url, json={"text": "done", "response_type": "in_channel"}).status_code == 200
    assert [p["text"] for p in beta.responses] == ["done"] and fake.responses == []
    assert [m.text for m in beta.messages("C2GENERAL")] == ["done"]


def test_teams_and_their_handles(fake: FakeSlack, beta: Team) -> None:
    assert list(fake.teams) == ["T123", "T2BETA"]
    assert fake.team().team_id == "T123" and fake.team("T2BETA").name == "Beta Corp"
    assert fake.team_of("xoxb-beta").team_id == "T2BETA"
    assert "U2BOB" in beta.users and beta.users["U2BOB"].is_admin and "U2BOB" not in fake.users
    with pytest.raises(ValueError):
        fake.add_team("T2BETA")
    with pytest.raises(ValueError):
        fake.add_team("T3", token=TOKEN)  # a token belongs to one team
    gamma = fake.add_team("T3GAMMA")  # no token: not installed yet
    assert (gamma.token, gamma.installed, gamma.tokens) == (None, False, [])
    with pytest.raises(RuntimeError):
        gamma.client()


def test_reset_goes_back_to_one_team(fake: FakeSlack, beta: Team) -> None:
    fake.configure_oauth(CLIENT_ID, CLIENT_SECRET)
    fake.uninstall("T123")
    fake.reset()
    assert list(fake.teams) == ["T123"]
    assert error_of(lambda: client_for(fake, "xoxb-beta").auth_test()) == "invalid_auth"
    assert client_for(fake, TOKEN).auth_test()["ok"]
    assert authorize(fake).status_code == 400  # OAuth is not configured any more


def test_pace_applies_per_team(fake: FakeSlack, beta: Team) -> None:
    fake.enforce_pace(posts_per_second=0.001, burst=1)
    gamma = fake.add_team("T3GAMMA", channels=["C3"], token="xoxb-gamma")
    for client, channel in ((client_for(fake, TOKEN), "C1"), (beta.client(), "C2GENERAL"), (gamma.client(), "C3")):
        client.retry_handlers = []
        client.chat_postMessage(channel=channel, text="one")  # each team its own bucket
        with pytest.raises(SlackApiError) as caught:
            client.chat_postMessage(channel=channel, text="two")
        assert caught.value.response.status_code == 429


# ---------------------------------------------------------------------------
# the authorize page


def test_authorize_redirects_with_a_code_and_the_state(oauth: FakeSlack, beta: Team) -> None:
    oauth.next_authorization("T2BETA", "U2ANN")
    target, query = redirected(authorize(oauth, state="abc/123 +x"))
    assert target == REDIRECT
    assert query["state"] == "abc/123 +x" and query["code"]
    assert set(query) == {"code", "state"}


def test_authorize_denied_redirects_with_access_denied(oauth: FakeSlack) -> None:
    oauth.next_authorization(approve=False)
    target, query = redirected(authorize(oauth, state="s1"))
    assert (target, query) == (REDIRECT, {"error": "access_denied", "state": "s1"})


def test_authorize_validates_client_redirect_and_scopes(oauth: FakeSlack) -> None:
    def error_page(response: httpx.Response) -> str:
        assert response.status_code == 400 and response.headers["Content-Type"].startswith("text/html")
        return response.text

    assert 'id="error">invalid_client_id<' in error_page(authorize(oauth, client_id="nope"))
    bad = authorize(oauth, redirect_uri="https://evil.example/slack/oauth_redirect")
    assert 'id="error">bad_redirect_uri<' in error_page(bad)
    assert 'id="error">invalid_scope<' in error_page(authorize(oauth, scope="", user_scope=""))
    # a redirect_uri below the configured Redirect URL is fine, as with Slack
    oauth.next_authorization()
    target, _ = redirected(authorize(oauth, redirect_uri=REDIRECT + "/again"))
    assert target == REDIRECT + "/again"
    # no redirect_uri: the configured one
    oauth.next_authorization()
    target, _ = redirected(authorize(oauth, redirect_uri=None))
    assert target == REDIRECT


def test_next_authorization_checks_the_team_and_user(oauth: FakeSlack, beta: Team) -> None:
    with pytest.raises(ValueError):
        oauth.next_authorization("T404")
    with pytest.raises(ValueError):
        oauth.next_authorization("T2BETA", "UNOBODY")


def test_the_html_page_allows_and_cancels_without_javascript(oauth: FakeSlack, beta: Team) -> None:
    page = authorize(oauth, state="s2", team="T2BETA")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert "<script" not in page.text.lower() and "<form" in page.text and "Allow" in page.text
    assert 'value="T2BETA:U2ANN"' in page.text and "T123" not in page.text  # the link's team only
    request_id = html.unescape(page.text.split('name="request" value="', 1)[1].split('"', 1)[0])

    approved = httpx.post(
        oauth.url + "/oauth/v2/authorize/approve",
        data={"request": request_id, "installer": "T2BETA:U2BOB"},
        follow_redirects=False,
    )
    _, query = redirected(approved)
    assert query["state"] == "s2"
    body = exchange(oauth, query["code"])
    assert body["team"] == {"id": "T2BETA", "name": "Beta Corp"} and body["authed_user"]["id"] == "U2BOB"
    # answered once: the same form again is refused
    again = httpx.post(oauth.url + "/oauth/v2/authorize/approve", data={"request": request_id, "installer": "x"})
    assert again.status_code == 400

    page = authorize(oauth, state="s3")
    cancel = html.unescape(page.text.split('id="cancel" href="', 1)[1].split('"', 1)[0])
    _, query = redirected(httpx.get(oauth.url + cancel, follow_redirects=False))
    assert query == {"error": "access_denied", "state": "s3"}


# ---------------------------------------------------------------------------
# oauth.v2.access


def test_oauth_v2_access_installs_and_mints_a_bot_token(oauth: FakeSlack) -> None:
    gamma = oauth.add_team("T3GAMMA", "Gamma", users=["U3ADA"], channels=["C3"])
    code = code_for(oauth, "T3GAMMA", "U3ADA")
    body = exchange(oauth, code)
    token = body.pop("access_token")
    assert token.startswith("xoxb-") and token == gamma.token
    assert body == {
        "ok": True,
        "app_id": "AAPP",
        "authed_user": {"id": "U3ADA"},
        "scope": "chat:write,commands",
        "token_type": "bot",
        "bot_user_id": "U3GAMMABOT",
        "team": {"id": "T3GAMMA", "name": "Gamma"},
        "enterprise": None,
        "is_enterprise_install": False,
    }
    installed = client_for(oauth, token)
    identity = installed.auth_test()
    assert (identity["team_id"], identity["user_id"], identity["bot_id"]) == ("T3GAMMA", "U3GAMMABOT", "B3GAMMABOT")
    assert identity.headers["X-OAuth-Scopes"] == "chat:write,commands"
    installed.chat_postMessage(channel="C3", text="installed!")
    assert [m.text for m in gamma.messages("C3")] == ["installed!"]
    (call,) = oauth.calls_to("oauth.v2.access")
    assert call.ok and call.team_id == "T3GAMMA" and call.args["code"] == code


def test_a_code_is_single_use(oauth: FakeSlack) -> None:
    code = code_for(oauth)
    assert exchange(oauth, code)["team"]["id"] == "T123"
    assert error_of(lambda: exchange(oauth, code)) == "invalid_code"
    assert error_of(lambda: exchange(oauth, "123.456.deadbeef")) == "invalid_code"


def test_a_code_expires_after_ten_minutes() -> None:
    clock = ManualClock()
    with FakeSlack(clock=clock) as fake:
        fake.configure_oauth(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT)
        fresh, stale = code_for(fake), code_for(fake)
        clock.now += 599
        assert exchange(fake, fresh)["ok"]
        clock.now += 2
        assert error_of(lambda: exchange(fake, stale)) == "invalid_code"


def test_client_credentials_are_checked(oauth: FakeSlack) -> None:
    code = code_for(oauth)
    assert error_of(lambda: exchange(oauth, code, client_secret="wrong")) == "bad_client_secret"
    assert error_of(lambda: exchange(oauth, code, client_id="999.999")) == "invalid_client_id"
    # slack_sdk sends HTTP Basic auth; form fields are Slack's other way, and work too
    response = httpx.post(
        oauth.api_url + "oauth.v2.access",
        data={"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "code": code, "redirect_uri": REDIRECT},
    )
    assert response.json()["ok"] is True  # the failed attempts did not use the code up


def test_the_redirect_uri_must_match_the_authorize_request(oauth: FakeSlack) -> None:
    code = code_for(oauth, redirect_uri=REDIRECT + "/sub")
    assert error_of(lambda: exchange(oauth, code)) == "bad_redirect_uri"
    assert error_of(lambda: exchange(oauth, code, redirect_uri=None)) == "bad_redirect_uri"
    assert exchange(oauth, code, redirect_uri=REDIRECT + "/sub")["ok"]
    # the link had none: none, or the configured one, is accepted
    assert exchange(oauth, code_for(oauth, redirect_uri=None), redirect_uri=None)["ok"]
    assert exchange(oauth, code_for(oauth, redirect_uri=None))["ok"]


def test_without_oauth_configured_oauth_v2_access_fails(fake: FakeSlack) -> None:
    assert error_of(lambda: exchange(fake, "1.2.3")) == "invalid_client_id"


def test_user_scopes_give_a_user_token(oauth: FakeSlack, beta: Team) -> None:
    code = code_for(oauth, "T2BETA", "U2ANN", user_scope="search:read")
    body = exchange(oauth, code)
    user = body["authed_user"]
    assert user["id"] == "U2ANN" and user["scope"] == "search:read" and user["token_type"] == "user"
    assert user["access_token"].startswith("xoxp-")
    assert body["access_token"] == "xoxb-beta"  # the app was installed already: its bot token
    as_user = client_for(oauth, user["access_token"])
    identity = as_user.auth_test()
    assert (identity["team_id"], identity["user_id"]) == ("T2BETA", "U2ANN") and "bot_id" not in identity
    assert error_of(lambda: as_user.chat_postMessage(channel="C2GENERAL", text="x")) == "not_allowed_token_type"


def test_user_only_install_has_no_bot_token(oauth: FakeSlack) -> None:
    body = exchange(oauth, code_for(oauth, scope="", user_scope="identity.basic"))
    assert "access_token" not in body and "bot_user_id" not in body
    assert body["authed_user"]["access_token"].startswith("xoxp-")


def test_reinstall_keeps_the_bot_token_and_adds_scopes(oauth: FakeSlack) -> None:
    gamma = oauth.add_team("T3GAMMA", users=["U3ADA"])
    first = exchange(oauth, code_for(oauth, "T3GAMMA", scope="chat:write"))
    second = exchange(oauth, code_for(oauth, "T3GAMMA", scope="commands,chat:write"))
    assert first["access_token"] == second["access_token"] == gamma.token
    assert second["scope"] == "chat:write,commands"


def test_reinstall_can_mint_a_new_token(fake: FakeSlack) -> None:
    fake.configure_oauth(CLIENT_ID, CLIENT_SECRET, redirect_uri=REDIRECT, new_token_on_reinstall=True)
    fake.add_team("T3GAMMA", users=["U3ADA"])
    first = exchange(fake, code_for(fake, "T3GAMMA"))["access_token"]
    second = exchange(fake, code_for(fake, "T3GAMMA"))["access_token"]
    assert first != second
    assert client_for(fake, first).auth_test()["team_id"] == client_for(fake, second).auth_test()["team_id"]
    assert fake.team("T3GAMMA").token == second and fake.team("T3GAMMA").tokens == [first, second]


# ---------------------------------------------------------------------------
# uninstall and revocation


def test_uninstall_revokes_the_teams_tokens(oauth: FakeSlack, beta: Team) -> None:
    user_token = exchange(oauth, code_for(oauth, "T2BETA", "U2ANN", user_scope="search:read"))["authed_user"][
        "access_token"
    ]
    assert sorted(oauth.uninstall("T2BETA")) == sorted(["xoxb-beta", user_token])
    assert error_of(lambda: client_for(oauth, "xoxb-beta").auth_test()) == "account_inactive"
    assert error_of(lambda: client_for(oauth, "xoxb-beta").chat_postMessage(channel="C2GENERAL", text="x")) == (
        "account_inactive"
    )
    assert error_of(lambda: client_for(oauth, user_token).auth_test()) == "token_revoked"
    assert client_for(oauth, TOKEN).auth_test()["ok"]  # other teams are untouched
    assert (beta.token, beta.installed) == (None, False)

    reinstalled = exchange(oauth, code_for(oauth, "T2BETA"))["access_token"]
    assert reinstalled != "xoxb-beta" and client_for(oauth, reinstalled).auth_test()["team_id"] == "T2BETA"
    assert error_of(lambda: client_for(oauth, "xoxb-beta").auth_test()) == "account_inactive"


def test_revoke_tokens(fake: FakeSlack, beta: Team) -> None:
    assert fake.revoke_tokens("T2BETA") == ["xoxb-beta"]
    assert error_of(lambda: client_for(fake, "xoxb-beta").auth_test()) == "token_revoked"
    assert beta.install("chat:write") != "xoxb-beta"
    fake.uninstall("T123")
    assert error_of(lambda: client_for(fake, TOKEN).auth_test()) == "account_inactive"


def test_auth_revoke(fake: FakeSlack, beta: Team) -> None:
    client = beta.client(retry_handlers=[])
    assert client.auth_revoke(test=True)["revoked"] is False
    assert client.auth_test()["ok"]
    assert client.auth_revoke()["revoked"] is True
    assert error_of(client.auth_test) == "token_revoked"


def test_apps_uninstall(oauth: FakeSlack, beta: Team) -> None:
    client = beta.client(retry_handlers=[])
    assert error_of(lambda: client.apps_uninstall(client_id=CLIENT_ID, client_secret="nope")) == (
        "bad_client_secret"
    )
    assert client.apps_uninstall(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)["ok"]
    assert error_of(client.auth_test) == "account_inactive"


def test_event_envelope_names_team_app_and_authorization(beta: Team) -> None:
    body = beta.event_envelope({"type": "app_uninstalled"}, event_id="Ev1", event_time=1700000000)
    assert (body["type"], body["team_id"], body["api_app_id"], body["event_id"]) == (
        "event_callback", "T2BETA", "AAPP", "Ev1"
    )
    assert body["authorizations"] == [
        {
            "enterprise_id": None,
            "team_id": "T2BETA",
            "user_id": "U2BETABOT",
            "is_bot": True,
            "is_enterprise_install": False,
        }
    ]


# ---------------------------------------------------------------------------
# slack_bolt's OAuth flow against the fake


def test_slack_bolt_oauth_flow_installs_into_a_second_team(oauth: FakeSlack, beta: Team, tmp_path: Path) -> None:
    from slack_bolt.oauth.oauth_flow import OAuthFlow
    from slack_bolt.oauth.oauth_settings import OAuthSettings
    from slack_bolt.request import BoltRequest
    from slack_sdk.oauth.installation_store import FileInstallationStore
    from slack_sdk.oauth.state_store import FileOAuthStateStore

    gamma = oauth.add_team("T3GAMMA", "Gamma", users=["U3ADA"], channels=["C3"])
    store = FileInstallationStore(base_dir=str(tmp_path / "installations"), client_id=CLIENT_ID)
    flow = OAuthFlow(
        client=client_for(oauth),
        settings=OAuthSettings(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            scopes=["chat:write", "commands"],
            redirect_uri=REDIRECT,
            authorization_url=oauth.authorize_url,
            install_page_rendering_enabled=False,
            installation_store=store,
            state_store=FileOAuthStateStore(expiration_seconds=600, base_dir=str(tmp_path / "states")),
        ),
    )
    start = flow.handle_installation(BoltRequest(body="", query="", headers={}))
    assert start.status == 302
    location = start.headers["location"][0]
    assert location.startswith(oauth.authorize_url + "?")
    cookie = start.headers["set-cookie"][0].split(";")[0]

    oauth.next_authorization("T3GAMMA", "U3ADA")
    browser = httpx.get(location, follow_redirects=False)
    target, query = redirected(browser)
    assert target == REDIRECT
    callback = flow.handle_callback(
        BoltRequest(body="", query=urlsplit(browser.headers["Location"]).query, headers={"cookie": cookie})
    )
    assert callback.status == 200, callback.body

    bot = store.find_bot(enterprise_id=None, team_id="T3GAMMA")
    assert bot is not None and bot.bot_token == gamma.token
    assert (bot.bot_user_id, bot.bot_id, bot.bot_scopes) == ("U3GAMMABOT", "B3GAMMABOT", ["chat:write", "commands"])
    installation = store.find_installation(enterprise_id=None, team_id="T3GAMMA")
    assert installation is not None and installation.user_id == "U3ADA"
    client_for(oauth, bot.bot_token).chat_postMessage(channel="C3", text="hello gamma")
    assert [m.text for m in gamma.messages("C3")] == ["hello gamma"]
    assert beta.messages("C3") == [] and oauth.messages("C3") == []

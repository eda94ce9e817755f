"""Installing the app in any workspace (SLACK_MODE=oauth): Slack OAuth v2 through Bolt's flow, against
the running bot over HTTP and the fake Slack's authorize page and `oauth.v2.access`.

Clicked through in a real headless Chromium (install -> Slack's Allow -> success), then each way an
install can go wrong driven with httpx, the state cookie carried by hand: every one ends on a page
that says what happened, with nothing stored."""

from __future__ import annotations

import html
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
from pydantic import ValidationError
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from bot.oauth import BOT_SCOPES, INSTALL_PATH, REDIRECT_PATH, WELCOME, authorize_url
from bot.pages import InstallFailure
from bot.secrets import SecretKind
from tests.fakes.slack_fake import FakeSlack, Team
from tests.harness import CLIENT_ID, CLIENT_SECRET, RunningBot, oauth_bot_settings, on_both_databases, wait_for

pytest_plugins = ["tests.browser"]

COOKIE_NAME = "slack-app-oauth-state"



def add_team(fake_slack: FakeSlack, team_id: str, name: str) -> Team:
    """A workspace without the app yet; its admin (`U<code>ADMIN`) is who installs it."""
    code = team_id[1:]
    return fake_slack.add_team(team_id, name, users=[{"id": f"U{code}ADMIN", "is_admin": True}],
                               channels=[f"C{code}SALES"])


def admin_of(team: Team) -> str:
    return f"U{team.team_id[1:]}ADMIN"


def heading(page: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", page, re.S)
    assert found is not None, page
    return html.unescape(found.group(1))


def count(bot: RunningBot, table: str, where: str = "", params: tuple[Any, ...] = ()) -> int:
    return int(bot.rows(f"SELECT count(*) AS n FROM {table} {where}", params)[0]["n"])


def workspaces(bot: RunningBot) -> int:
    """Tenants made by installs (the database always holds the single-workspace tenant, 'default')."""
    return count(bot, "tenants", "WHERE team_id IS NOT NULL")


def assert_nothing_stored(bot: RunningBot) -> None:
    assert count(bot, "installations") == 0 and workspaces(bot) == 0


# --- the install, by hand (httpx, no cookie jar: the state cookie is carried explicitly) -------------------


@dataclass(frozen=True)
class Started:
    """What GET /slack/install gave the browser: the "Add to Slack" link and the state cookie."""

    authorize_url: str
    state: str
    cookie: str  # the Cookie header the browser would send back: "slack-app-oauth-state=<state>"
    set_cookie: str
    page: httpx.Response


def start_install(bot: RunningBot, query: str = "") -> Started:
    page = httpx.get(bot.url + INSTALL_PATH + (f"?{query}" if query else ""))
    assert page.status_code == 200, page.text
    link = re.search(r'<a class="button" href="([^"]+)">Add to Slack</a>', page.text)
    assert link is not None, page.text
    url = html.unescape(link.group(1))
    state = parse_qs(urlsplit(url).query)["state"][0]
    set_cookie = page.headers["set-cookie"]
    return Started(url, state, set_cookie.split(";")[0], set_cookie, page)


def slack_answers(started: Started, fake_slack: FakeSlack, team: Team, *, approve: bool = True) -> str:
    """Slack's authorize page decides at once (no HTML): where it sends the browser back to."""
    fake_slack.next_authorization(team.team_id, admin_of(team), approve=approve)
    answer = httpx.get(started.authorize_url, follow_redirects=False)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


def come_back(bot: RunningBot, location: str, cookie: str | None) -> httpx.Response:
    assert location.startswith(bot.settings.public_url + REDIRECT_PATH + "?"), location
    return httpx.get(location, headers={"Cookie": cookie} if cookie else {})


def with_state(location: str, state: str) -> str:
    parts = urlsplit(location)
    query = {name: values[0] for name, values in parse_qs(parts.query).items()}
    return urlunsplit(parts._replace(query=urlencode({**query, "state": state})))


def install_by_hand(bot: RunningBot, fake_slack: FakeSlack, team: Team) -> httpx.Response:
    started = start_install(bot)
    return come_back(bot, slack_answers(started, fake_slack, team), started.cookie)


# --- what a workspace does once installed -----------------------------------------------------------------


def slash_help(bot: RunningBot, team: Team) -> None:
    code = team.team_id[1:]
    response = bot.slash("help", trigger_id=team.new_trigger_id(), response_url=team.response_url(),
                         team=team.team_id, user=admin_of(team), channel=f"C{code}SALES")
    assert response.status_code == 200 and "catalog" in response.text, response.text


def open_home(bot: RunningBot, fake_slack: FakeSlack, team: Team) -> Any:
    """Open the App Home as the admin: the bot publishes it with the workspace's own token."""
    user = admin_of(team)
    before = len(fake_slack.calls)
    body = team.event_envelope({"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home",
                                "event_ts": f"{time.time():.6f}"})
    assert bot.post_slack(json.dumps(body), content_type="application/json").status_code == 200
    return wait_for(lambda: [call for call in fake_slack.calls[before:] if call.method == "views.publish"
                             and call.args.get("user_id") == user], 10, f"App Home in {team.team_id}")[-1]


def auth_tests(fake_slack: FakeSlack, team: Team) -> int:
    return len([call for call in fake_slack.calls_to("auth.test") if call.team_id == team.team_id])


# --- in a real browser ------------------------------------------------------------------------------------


def install_in_browser(browser: webdriver.Chrome, bot: RunningBot, team: Team) -> None:
    browser.get(bot.url + INSTALL_PATH)
    assert browser.find_element(By.TAG_NAME, "h1").text == "Add invoicebot to Slack"
    browser.find_element(By.LINK_TEXT, "Add to Slack").click()
    WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.ID, "allow"))
    Select(browser.find_element(By.ID, "installer")).select_by_value(f"{team.team_id}:{admin_of(team)}")
    browser.find_element(By.ID, "allow-button").click()
    WebDriverWait(browser, 10).until(lambda b: urlsplit(b.current_url).path == REDIRECT_PATH)


def test_install_in_a_browser_then_both_workspaces_work(browser: webdriver.Chrome, oauth_bot: RunningBot,
                                                        fake_slack: FakeSlack) -> None:
    alpha = add_team(fake_slack, "TALPHA", "Alpha & Sons")
    install_in_browser(browser, oauth_bot, alpha)
    assert browser.find_element(By.TAG_NAME, "h1").text == "invoicebot is installed in Alpha & Sons"
    home_link = browser.find_element(By.PARTIAL_LINK_TEXT, "Home tab").get_attribute("href")
    assert home_link == f"slack://app?team=TALPHA&id={alpha.app_id}&tab=home"
    # The state cookie went with the install.
    assert COOKIE_NAME not in {cookie["name"] for cookie in browser.get_cookies()}

    # The directory has the installation, its token sealed: never in clear text in the database.
    directory, box = oauth_bot.app.store.directory, oauth_bot.app.secret_box
    assert box is not None and alpha.token is not None
    tenant = directory.by_team("TALPHA")
    assert tenant is not None and tenant.active and tenant.team_name == "Alpha & Sons"
    installation = directory.installation(tenant.id)
    assert installation is not None
    assert installation.installer_user_id == admin_of(alpha) and installation.bot_user_id == alpha.bot_user_id
    assert installation.bot_scopes.split(",") == list(BOT_SCOPES)
    assert box.decrypt(tenant.id, SecretKind.SLACK_BOT_TOKEN, installation.bot_token) == alpha.token
    dump = json.dumps([oauth_bot.rows(f"SELECT * FROM {table}") for table in ("tenants", "installations")],
                      default=str)
    assert alpha.token not in dump and "xoxb-" not in dump

    # The installer is welcomed in a DM, with the next step.
    welcome = wait_for(lambda: alpha.messages(alpha.dm_channel(admin_of(alpha))), 5, "the welcome DM")
    assert welcome[0].text == WELCOME and "Connect Stripe" in welcome[0].text

    # Slack's requests from the workspace are answered, with its own new token.
    slash_help(oauth_bot, alpha)
    home = open_home(oauth_bot, fake_slack, alpha)
    assert home.ok and home.team_id == "TALPHA", home.error

    beta = add_team(fake_slack, "TBETA", "Beta")
    install_in_browser(browser, oauth_bot, beta)
    assert browser.find_element(By.TAG_NAME, "h1").text == "invoicebot is installed in Beta"
    assert count(oauth_bot, "installations") == 2 and workspaces(oauth_bot) == 2
    for team in (alpha, beta):
        slash_help(oauth_bot, team)
        home = open_home(oauth_bot, fake_slack, team)
        assert home.ok and home.team_id == team.team_id, home.error


def test_a_reinstall_updates_the_one_row_and_the_new_token_is_used_at_once(
        browser: webdriver.Chrome, oauth_bot: RunningBot, fake_slack: FakeSlack) -> None:
    fake_slack.configure_oauth(CLIENT_ID, CLIENT_SECRET, redirect_uri=oauth_bot.settings.public_url + REDIRECT_PATH,
                               new_token_on_reinstall=True)
    alpha = add_team(fake_slack, "TALPHA", "Alpha")
    install_in_browser(browser, oauth_bot, alpha)
    first_token = alpha.token
    assert open_home(oauth_bot, fake_slack, alpha).ok  # the workspace is built, and kept, with this token

    install_in_browser(browser, oauth_bot, alpha)
    assert browser.find_element(By.TAG_NAME, "h1").text == "invoicebot is installed in Alpha"
    assert alpha.token != first_token
    fake_slack.revoke_token(first_token or "")
    home = open_home(oauth_bot, fake_slack, alpha)
    assert home.ok, home.error
    assert count(oauth_bot, "installations", "WHERE team_id = ?", ("TALPHA",)) == 1
    assert workspaces(oauth_bot) == 1


def test_cancel_on_slacks_page_in_a_browser_ends_on_a_clear_page(browser: webdriver.Chrome, oauth_bot: RunningBot,
                                                                 fake_slack: FakeSlack) -> None:
    add_team(fake_slack, "TALPHA", "Alpha")
    browser.get(oauth_bot.url + INSTALL_PATH)
    browser.find_element(By.LINK_TEXT, "Add to Slack").click()
    WebDriverWait(browser, 10).until(lambda b: b.find_elements(By.ID, "cancel"))
    browser.find_element(By.ID, "cancel").click()
    WebDriverWait(browser, 10).until(lambda b: urlsplit(b.current_url).path == REDIRECT_PATH)
    assert browser.find_element(By.TAG_NAME, "h1").text == InstallFailure.ACCESS_DENIED.title
    browser.find_element(By.LINK_TEXT, "Try again").click()
    assert browser.find_element(By.TAG_NAME, "h1").text == "Add invoicebot to Slack"
    assert_nothing_stored(oauth_bot)


# --- each way an install can fail, by hand ----------------------------------------------------------------


def test_the_install_page_links_to_slack_with_our_scopes_and_a_fresh_one_shot_state(oauth_bot: RunningBot) -> None:
    started = start_install(oauth_bot)
    link = urlsplit(started.authorize_url)
    assert f"{link.scheme}://{link.netloc}{link.path}" == authorize_url(oauth_bot.settings.slack_api_url)
    query = {name: values[0] for name, values in parse_qs(link.query).items()}
    assert query["client_id"] == CLIENT_ID
    assert query["scope"].split(",") == list(BOT_SCOPES)
    assert query["redirect_uri"] == oauth_bot.settings.public_url + REDIRECT_PATH
    assert "user_scope" not in query or not query["user_scope"]
    # The state is stored for ten minutes, and the browser holds it in a cookie only this site reads.
    stored = oauth_bot.rows("SELECT expires_at FROM oauth_states WHERE state = ?", (started.state,))
    assert len(stored) == 1 and 590 < float(stored[0]["expires_at"]) - time.time() <= 600
    assert started.cookie == f"{COOKIE_NAME}={started.state}"
    flags = {flag.strip().lower() for flag in started.set_cookie.split(";")[1:]}
    assert {"httponly", "path=/", "max-age=600"} <= flags
    assert started.page.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in started.page.headers["content-security-policy"]
    assert start_install(oauth_bot).state != started.state
    # Slack's `team` hint is passed on; anything else in it is not.
    assert parse_qs(urlsplit(start_install(oauth_bot, "team=TALPHA").authorize_url).query)["team"] == ["TALPHA"]
    assert "evil" not in start_install(oauth_bot, "team=T1%26redirect_uri%3Devil").authorize_url


def test_access_denied_shows_a_failure_page_and_stores_nothing(oauth_bot: RunningBot, fake_slack: FakeSlack) -> None:
    alpha = add_team(fake_slack, "TALPHA", "Alpha")
    started = start_install(oauth_bot)
    consent = httpx.get(started.authorize_url)  # nothing queued: the HTML page with Allow and Cancel
    cancel = re.search(r'<a id="cancel" href="([^"]+)"', consent.text)
    assert consent.status_code == 200 and cancel is not None
    back = httpx.get(fake_slack.url + html.unescape(cancel.group(1)), follow_redirects=False)
    assert "error=access_denied" in back.headers["location"]
    page = come_back(oauth_bot, back.headers["location"], started.cookie)
    assert page.status_code == 200 and heading(page.text) == InstallFailure.ACCESS_DENIED.title
    assert 'href="/slack/install"' in page.text
    assert_nothing_stored(oauth_bot)
    assert fake_slack.calls_to("oauth.v2.access") == [] and not alpha.installed


@on_both_databases
def test_a_replayed_redirect_is_refused_and_installs_once(oauth_bot: RunningBot, fake_slack: FakeSlack) -> None:
    alpha = add_team(fake_slack, "TALPHA", "Alpha")
    started = start_install(oauth_bot)
    location = slack_answers(started, fake_slack, alpha)
    first = come_back(oauth_bot, location, started.cookie)
    assert first.status_code == 200 and heading(first.text) == "invoicebot is installed in Alpha"
    again = come_back(oauth_bot, location, started.cookie)
    assert again.status_code == 400 and heading(again.text) == InstallFailure.STATE_INVALID.title
    assert count(oauth_bot, "installations") == 1 and workspaces(oauth_bot) == 1
    assert len(fake_slack.calls_to("oauth.v2.access")) == 1  # the code was never tried again


@on_both_databases
def test_an_expired_state_is_refused(oauth_bot: RunningBot, fake_slack: FakeSlack) -> None:
    alpha = add_team(fake_slack, "TALPHA", "Alpha")
    started = start_install(oauth_bot)
    location = slack_answers(started, fake_slack, alpha)
    oauth_bot.execute("UPDATE oauth_states SET expires_at = ? WHERE state = ?", (time.time() - 1, started.state))
    page = come_back(oauth_bot, location, started.cookie)
    assert page.status_code == 400 and heading(page.text) == InstallFailure.STATE_INVALID.title
    assert_nothing_stored(oauth_bot)
    assert fake_slack.calls_to("oauth.v2.access") == []


def test_a_missing_cookie_is_refused_without_spending_the_state(oauth_bot: RunningBot, fake_slack: FakeSlack) -> None:
    alpha = add_team(fake_slack, "TALPHA", "Alpha")
    started = start_install(oauth_bot)
    location = slack_answers(started, fake_slack, alpha)
    page = come_back(oauth_bot, location, None)
    assert page.status_code == 400 and heading(page.text) == InstallFailure.COOKIE_MISSING.title
    assert_nothing_stored(oauth_bot)
    assert fake_slack.calls_to("oauth.v2.access") == []
    # Whoever saw the link without the cookie could not use it up: the browser that started still finishes.
    assert heading(come_back(oauth_bot, location, started.cookie).text) == "invoicebot is installed in Alpha"


def test_a_forged_state_is_refused(oauth_bot: RunningBot, fake_slack: FakeSlack) -> None:
    alpha = add_team(fake_slack, "TALPHA", "Alpha")
    started = start_install(oauth_bot)
    location = slack_answers(started, fake_slack, alpha)
    forged = secrets.token_urlsafe(32)
    # A state never issued, with a cookie to match (the forger's own browser)...
    page = come_back(oauth_bot, with_state(location, forged), f"{COOKIE_NAME}={forged}")
    assert page.status_code == 400 and heading(page.text) == InstallFailure.STATE_INVALID.title
    # ...or sent to a browser whose cookie holds another state.
    page = come_back(oauth_bot, with_state(location, forged), started.cookie)
    assert page.status_code == 400 and heading(page.text) == InstallFailure.STATE_INVALID.title
    assert_nothing_stored(oauth_bot)
    assert fake_slack.calls_to("oauth.v2.access") == []


def test_slack_refusing_the_code_shows_a_failure_page(oauth_bot: RunningBot, fake_slack: FakeSlack,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    alpha = add_team(fake_slack, "TALPHA", "Alpha")
    started = start_install(oauth_bot)
    location = slack_answers(started, fake_slack, alpha)
    code = parse_qs(urlsplit(location).query)["code"][0]
    fake_slack.fail_next("oauth.v2.access", "invalid_code")
    with caplog.at_level(logging.INFO):
        page = come_back(oauth_bot, location, started.cookie)
    assert page.status_code == 400 and heading(page.text) == InstallFailure.SLACK_ERROR.title
    assert_nothing_stored(oauth_bot)
    # Bolt logs the failed exchange; the code (a credential until spent) is not in the bot's log.
    logged = "\n".join(record.getMessage() for record in caplog.records if record.name.startswith("bot"))
    assert "oauth.v2.access" in logged and code not in logged


def test_requests_after_the_install_cost_no_auth_test(oauth_bot: RunningBot, fake_slack: FakeSlack) -> None:
    alpha = add_team(fake_slack, "TALPHA", "Alpha")
    assert heading(install_by_hand(oauth_bot, fake_slack, alpha).text) == "invoicebot is installed in Alpha"
    slash_help(oauth_bot, alpha)
    assert open_home(oauth_bot, fake_slack, alpha).ok
    oauth_bot.wait_idle()
    settled = auth_tests(fake_slack, alpha)
    assert settled <= 2  # the install's own (Bolt asks for the bot's id), and at most one for the built workspace
    for _ in range(3):
        slash_help(oauth_bot, alpha)
        assert open_home(oauth_bot, fake_slack, alpha).ok
    oauth_bot.wait_idle()
    assert auth_tests(fake_slack, alpha) == settled


def test_the_privacy_and_support_pages(oauth_bot: RunningBot) -> None:
    privacy = httpx.get(oauth_bot.url + "/privacy")
    assert privacy.status_code == 200 and heading(privacy.text) == "Privacy note"
    support = httpx.get(oauth_bot.url + "/support")
    assert support.status_code == 200 and heading(support.text) == "Support"
    assert 'href="mailto:support@127.0.0.1"' in support.text  # SUPPORT_CONTACT unset: beside PUBLIC_URL
    install = httpx.get(oauth_bot.url + INSTALL_PATH)
    assert 'href="/privacy"' in install.text and 'href="/support"' in install.text


def test_support_contact_is_an_email_or_a_web_page(tmp_path: Path) -> None:
    def settings(contact: str) -> str:
        return oauth_bot_settings(tmp_path / "s.db", "http://127.0.0.1:1/api/", "http://127.0.0.1:2",
                                  support_contact=contact).support_contact

    assert settings(" help@example.com ") == "help@example.com"
    assert settings("https://example.com/help") == "https://example.com/help"
    for wrong in ("javascript:alert(1)", "help", "ftp://example.com", "mailto:help@example.com"):
        with pytest.raises(ValidationError):
            settings(wrong)


def test_slacks_authorize_page_lives_beside_its_web_api() -> None:
    assert authorize_url("https://slack.com/api/") == "https://slack.com/oauth/v2/authorize"
    assert authorize_url("http://127.0.0.1:8080/api/") == "http://127.0.0.1:8080/oauth/v2/authorize"


def test_a_single_workspace_deployment_serves_no_install_pages(bot: RunningBot) -> None:
    assert httpx.get(bot.url + INSTALL_PATH).status_code == 404
    assert httpx.get(bot.url + REDIRECT_PATH).status_code == 404

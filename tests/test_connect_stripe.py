"""Connecting (and disconnecting) a workspace's own Stripe account (SLACK_MODE=oauth), over HTTP against
the running bot: App Home's button, the one-time link by DM, the key page (in a real browser, and posted
directly for each bad input), the webhook endpoint made on the fake Stripe account, the sealed secrets,
and what the connected account's events then do. The workspace is installed in the directory as the
install flow leaves it, without Stripe (tests/test_workspaces.py starts from both)."""

from __future__ import annotations

import html
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import stripe
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from bot.blocks import ActionId
from bot.domain.tenants import TenantSettings
from bot.pages import CSRF_FIELD, KEY_FIELD, LinkProblem
from bot.secrets import SecretKind
from bot.services.stripe_connect import ENABLED_EVENTS, REQUIRED_PERMISSIONS
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import RunningBot, on_both_databases, stripe_signature, wait_for

if TYPE_CHECKING:  # imported at run time by pytest_plugins, which must come first for pytest to rewrite it
    from tests.browser import Serve  # noqa: F401

pytest_plugins = ["tests.browser"]

# What invoicebot asks for (the page lists the same), and the optional one that shows the account's name.
PERMISSIONS = [permission.code for permission in REQUIRED_PERMISSIONS]
NAME_PERMISSION = "rak_accounts_kyc_basic_read"
LINK = re.compile(r"<(http://[^|>]+/stripe/connect/[A-Za-z0-9_-]+)\|")
CSRF = re.compile(rf'name="{CSRF_FIELD}" value="([0-9a-f]+)"')
KEYS = re.compile(r"\b(rk|sk|pk)_(test|live)_[A-Za-z0-9]+|whsec_[A-Za-z0-9]+")


@dataclass
class Space:
    """A workspace that installed the app and has not connected Stripe yet."""

    team: Any  # the fake Slack's team
    account: Any  # the fake Stripe account its admin will connect
    tenant_id: str
    public_id: str
    admin: str  # invoicing admin because they installed the app (not a Slack workspace admin)
    rep: str


StartBot = Callable[..., RunningBot]




def install(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe, team_id: str = "TCONN",
            name: str = "Connect Co") -> Space:
    """A workspace as the install flow leaves it: its installation sealed in the directory, no Stripe."""
    code = team_id[1:]
    admin, rep, payments = f"U{code}ADMIN", f"U{code}REP", f"C{code}PAY"
    token = f"xoxb-{code.lower()}-token"
    team = fake_slack.add_team(team_id, name, users=[admin, rep], channels=[payments], token=token)
    box = bot.app.secret_box
    assert box is not None
    directory = bot.app.store.directory
    tenant = directory.save_installation(
        team_id=team_id, enterprise_id=None, team_name=name, app_id=team.app_id, bot_user_id=team.bot_user_id,
        bot_id=team.bot_id, bot_scopes="chat:write,commands", installer_user_id=admin,
        seal_token=lambda tenant_id: box.encrypt(tenant_id, SecretKind.SLACK_BOT_TOKEN, token))
    directory.save_settings(tenant.id, TenantSettings(payments_channel=payments))
    return Space(team, fake_stripe.add_account(f"{name} Ltd"), tenant.id, tenant.public_id, admin, rep)


# --- Slack: App Home and its buttons --------------------------------------------------------------------------


def open_home(bot: RunningBot, space: Space, user: str) -> dict[str, Any]:
    """Open App Home as `user`; the view the bot published for them."""
    before = len(space.team.calls_to("views.publish"))
    body = space.team.event_envelope({"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home",
                                      "event_ts": f"{time.time():.6f}"})
    assert bot.post_slack(json.dumps(body), content_type="application/json").status_code == 200
    return wait_home(space, user, before)


def wait_home(space: Space, user: str, before: int) -> dict[str, Any]:
    """The next App Home published for `user` after the first `before` publishes of the team."""
    call = wait_for(lambda: [call for call in space.team.calls_to("views.publish")[before:]
                             if call.args.get("user_id") == user], 10, "App Home")[-1]
    assert call.ok, call.error
    return dict(space.team.home(user))


def home_text(view: dict[str, Any]) -> str:
    return json.dumps(view.get("blocks"))


def action_ids(view: dict[str, Any]) -> set[str]:
    return {element.get("action_id") for block in view.get("blocks", []) if block.get("type") == "actions"
            for element in block.get("elements", [])}


def press(bot: RunningBot, space: Space, action: ActionId, user: str) -> None:
    """Click an App Home button, as Slack posts it (from the home view, no channel, no response_url)."""
    home = space.team.home(user) or open_home(bot, space, user)
    response = bot.block_action(action.value, "", user=user, team=space.team.team_id, view=dict(home),
                                trigger_id=space.team.new_trigger_id(user))
    assert response.status_code == 200, response.text
    bot.wait_idle()


def dms(space: Space, user: str) -> list[str]:
    return [message.text for message in space.team.messages(space.team.dm_channel(user))]


def ask_for_link(bot: RunningBot, space: Space) -> str:
    """The admin clicks "Connect Stripe" in App Home; the link the bot sends them by DM."""
    before = len(dms(space, space.admin))
    press(bot, space, ActionId.CONNECT_STRIPE, space.admin)
    sent = wait_for(lambda: dms(space, space.admin)[before:], 10, "the DM with the link")
    found = LINK.search(sent[-1])
    assert found, sent[-1]
    assert "10 minutes" in sent[-1] and "for you only" in sent[-1]
    return found.group(1)


# --- the page, posted directly ------------------------------------------------------------------------------


def path_of(url: str) -> str:
    return httpx.URL(url).path


def show(bot: RunningBot, link: str) -> httpx.Response:
    return bot.http.get(path_of(link))


def submit(bot: RunningBot, link: str, key: str, *, csrf: str | None = None) -> httpx.Response:
    """Post the form as the browser does, with the page's own csrf token unless one is given."""
    if csrf is None:
        page = show(bot, link)
        assert page.status_code == 200, page.text
        found = CSRF.search(page.text)
        assert found, page.text
        csrf = found.group(1)
    return bot.http.post(path_of(link), data={CSRF_FIELD: csrf, KEY_FIELD: key})


def connect(bot: RunningBot, space: Space, permissions: list[str] | None = None) -> str:
    """Connect the space's account the whole way; returns the key."""
    key = space.account.restricted_key(permissions or PERMISSIONS)
    response = submit(bot, ask_for_link(bot, space), key)
    assert response.status_code == 200 and "Stripe is connected" in response.text, response.text
    bot.wait_idle()  # App Home republished
    return str(key)


def error_of(page: httpx.Response) -> str:
    found = re.search(r'<p id="key-error" class="error" role="alert">(.*?)</p>', page.text, re.S)
    assert found, page.text
    return html.unescape(found.group(1))


def sealed_rows(bot: RunningBot) -> str:
    return json.dumps([bot.rows(f"SELECT * FROM {table}")
                       for table in ("tenants", "installations", "stripe_connections", "one_time_links")], default=str)


def assert_nothing_stored(bot: RunningBot, space: Space) -> None:
    assert bot.app.store.directory.stripe(space.tenant_id) is None
    assert bot.rows("SELECT * FROM stripe_connections") == []
    assert space.account.objects("webhook_endpoint") == []


def endpoints(space: Space) -> list[dict[str, Any]]:
    return list(space.account.objects("webhook_endpoint"))


def pay_an_invoice(fake_stripe: FakeStripe, space: Space) -> str:
    """An invoice made and paid in the account itself (the Dashboard, say); its invoice.paid event's id."""
    client = stripe.StripeClient(space.account.secret_key, base_addresses={"api": fake_stripe.url})
    customer = client.v1.customers.create(params={"name": "Jenny Rosen", "email": "jenny@example.com"})
    invoice = client.v1.invoices.create(params={"customer": customer.id, "collection_method": "send_invoice",
                                                "days_until_due": 30, "currency": "usd"})
    client.v1.invoices.add_lines(invoice.id, params={"lines": [{"amount": 5000, "description": "Services"}]})
    client.v1.invoices.finalize_invoice(invoice.id)
    fake_stripe.pay_invoice(invoice.id)
    fake_stripe.flush_webhooks()
    paid = [event for event in space.account.events() if event["type"] == "invoice.paid"]
    assert len(paid) == 1
    return str(paid[0]["id"])


# --- in a real browser -----------------------------------------------------------------------------------------


def heading(browser: webdriver.Chrome, text: str) -> None:
    WebDriverWait(browser, 5, ignored_exceptions=(WebDriverException,)).until(
        lambda b: b.find_element(By.TAG_NAME, "h1").text == text)


def test_an_admin_connects_stripe_from_app_home_in_a_browser(oauth_bot: RunningBot, fake_slack: FakeSlack,
                                                             fake_stripe: FakeStripe,
                                                             browser: webdriver.Chrome) -> None:
    space = install(oauth_bot, fake_slack, fake_stripe)
    home = open_home(oauth_bot, space, space.admin)
    assert "*Stripe:* not connected" in home_text(home)
    assert ActionId.CONNECT_STRIPE in action_ids(home) and ActionId.DISCONNECT_STRIPE not in action_ids(home)

    link = ask_for_link(oauth_bot, space)
    # The link went to the admin's DM only, and was not unfurled (Slack would fetch it).
    posts = space.team.calls_to("chat.postMessage")
    assert {call.args["channel"] for call in posts} == {space.team.dm_channel(space.admin)}
    assert all(call.args.get("unfurl_links") is False for call in posts)

    browser.get(link)
    heading(browser, "Connect Stripe to invoicebot in Connect Co")
    listed = browser.find_element(By.TAG_NAME, "main").text
    assert all(code in listed for code in PERMISSIONS)
    key = space.account.restricted_key([*PERMISSIONS, NAME_PERMISSION])
    label = browser.find_element(By.XPATH, "//label[normalize-space()='Restricted key']")
    browser.find_element(By.ID, label.get_attribute("for") or "").send_keys(key)
    before = len(space.team.calls_to("views.publish"))
    browser.find_element(By.XPATH, "//button[normalize-space()='Connect Stripe']").click()

    heading(browser, "Stripe is connected")
    assert f"Connect Co Ltd ({space.account.id})" in browser.find_element(By.TAG_NAME, "main").text
    assert "test mode" in browser.find_element(By.TAG_NAME, "main").text
    assert key not in browser.page_source

    # Stored sealed: the key and the endpoint's signing secret open with the box, and appear nowhere in clear.
    connection = oauth_bot.app.store.directory.stripe(space.tenant_id)
    assert connection is not None
    assert (connection.account_id, connection.account_name, connection.livemode, connection.connected_by) == \
        (space.account.id, "Connect Co Ltd", False, space.admin)
    box = oauth_bot.app.secret_box
    assert box is not None
    assert box.decrypt(space.tenant_id, SecretKind.STRIPE_API_KEY, connection.api_key) == key
    assert box.decrypt(space.tenant_id, SecretKind.STRIPE_WEBHOOK_SECRET, connection.webhook_secret).startswith(
        "whsec_")
    assert KEYS.search(sealed_rows(oauth_bot)) is None
    # One endpoint on the account, at the workspace's own address, for the events the bot acts on.
    [endpoint] = endpoints(space)
    assert endpoint["url"] == f"{oauth_bot.url}/stripe/webhook/{space.public_id}"
    assert endpoint["id"] == connection.webhook_endpoint_id and sorted(endpoint["enabled_events"]) == \
        sorted(ENABLED_EVENTS)

    home = wait_home(space, space.admin, before)
    assert "connected to *Connect Co Ltd*" in home_text(home) and "test mode" in home_text(home)
    assert ActionId.DISCONNECT_STRIPE in action_ids(home) and ActionId.CONNECT_STRIPE not in action_ids(home)

    # The account's events now reach the bot, verified with the new secret and stored for this workspace.
    event_id = pay_an_invoice(fake_stripe, space)
    wait_for(lambda: oauth_bot.app.store.reads(space.tenant_id).events.get(event_id), 10, "the paid event")
    assert all(attempt.status == 200 for attempt in fake_stripe.deliveries(endpoint["id"])), \
        fake_stripe.deliveries(endpoint["id"])


def test_a_non_admin_only_sees_the_status_and_gets_no_link(oauth_bot: RunningBot, fake_slack: FakeSlack,
                                                           fake_stripe: FakeStripe) -> None:
    space = install(oauth_bot, fake_slack, fake_stripe)
    home = open_home(oauth_bot, space, space.rep)
    assert "*Stripe:* not connected" in home_text(home)
    assert not action_ids(home) & {ActionId.CONNECT_STRIPE, ActionId.DISCONNECT_STRIPE}

    press(oauth_bot, space, ActionId.CONNECT_STRIPE, space.rep)  # a forged click: the job asks again

    refusal = wait_for(lambda: dms(space, space.rep), 10, "the refusal")
    assert refusal == ["Only invoicing admins can connect Stripe."]
    assert oauth_bot.rows("SELECT * FROM one_time_links") == []
    press(oauth_bot, space, ActionId.DISCONNECT_STRIPE, space.rep)
    wait_for(lambda: len(dms(space, space.rep)) == 2, 10, "the second refusal")
    assert dms(space, space.rep)[-1] == "Only invoicing admins can disconnect Stripe."


def test_bad_keys_are_refused_each_with_its_reason_and_nothing_stored(oauth_bot: RunningBot, fake_slack: FakeSlack,
                                                                      fake_stripe: FakeStripe) -> None:
    space = install(oauth_bot, fake_slack, fake_stripe)
    link = ask_for_link(oauth_bot, space)
    account = space.account
    revoked = account.restricted_key(PERMISSIONS)
    account.revoke(revoked)
    calls_before = len(fake_stripe.requests)
    without_a_call = {
        "": "Paste the restricted key",
        account.secret_key: "That is a secret key (sk_...)",
        "pk_test_51" + secrets.token_hex(20): "That is a publishable key (pk_...)",
        "not a key at all": "That is not a Stripe restricted key",
        "rk_test_abc\r\nX-Injected: 1": "That is not a Stripe restricted key",
        account.restricted_key(PERMISSIONS, livemode=True): "That is a live-mode key, but this invoicebot works in "
                                                            "test mode",
    }
    for key, reason in without_a_call.items():
        page = submit(oauth_bot, link, key)
        assert page.status_code == 400 and reason in error_of(page), (key[:12], page.text)
        assert key.strip() == "" or key.strip() not in page.text
    assert len(fake_stripe.requests) == calls_before  # refused before anything reached Stripe

    asked_stripe = {
        revoked: "Stripe doesn't recognise this key (revoked or mistyped)",
        account.restricted_key([p for p in PERMISSIONS if p != "rak_invoice_write"]):
            "lacks the rak_invoice_write permission (Invoices: Write)",
        account.restricted_key([p for p in PERMISSIONS if p != "rak_customer_write"] + ["rak_customer_read"]):
            "lacks the rak_customer_write permission",
        account.restricted_key([p for p in PERMISSIONS if p != "rak_event_read"]):
            "lacks the rak_event_read permission",
        # Every probe passes; creating the endpoint is what this key may not do.
        account.restricted_key([p for p in PERMISSIONS if p != "rak_webhook_write"]):
            "lacks the rak_webhook_write permission",
    }
    for key, reason in asked_stripe.items():
        page = submit(oauth_bot, link, f"  {key}\n")  # as copied, with spaces around
        assert page.status_code == 400 and reason in error_of(page), page.text
        assert key not in page.text and "Connect Stripe to invoicebot" in page.text
        assert_nothing_stored(oauth_bot, space)
    assert oauth_bot.rows("SELECT used_at FROM one_time_links") == [{"used_at": None}]

    # The same link still works for a good key: a refused one never spends it.
    good = space.account.restricted_key(PERMISSIONS)
    page = submit(oauth_bot, link, good)
    assert page.status_code == 200 and "Stripe is connected" in page.text
    # Without the optional permission the account is known by the id Stripe named in its refusal.
    assert f"<code>{space.account.id}</code>" in page.text
    connection = oauth_bot.app.store.directory.stripe(space.tenant_id)
    assert connection is not None and (connection.account_id, connection.account_name) == (space.account.id, "")
    assert len(endpoints(space)) == 1


def test_a_test_key_is_refused_on_a_live_deployment(make_oauth_bot: StartBot, fake_slack: FakeSlack,
                                                    fake_stripe: FakeStripe) -> None:
    bot = make_oauth_bot(stripe_livemode=True)
    space = install(bot, fake_slack, fake_stripe)
    link = ask_for_link(bot, space)
    assert "rk_live_" in show(bot, link).text and "This is a live key" in show(bot, link).text

    page = submit(bot, link, space.account.restricted_key(PERMISSIONS))
    assert page.status_code == 400
    assert "That is a test-mode key, but this invoicebot works in live mode" in error_of(page)
    assert_nothing_stored(bot, space)

    live_key = space.account.restricted_key(PERMISSIONS, livemode=True)
    page = submit(bot, link, live_key)
    assert page.status_code == 200 and "live mode: invoices are real" in page.text
    connection = bot.app.store.directory.stripe(space.tenant_id)
    assert connection is not None and connection.livemode
    assert len(space.account.objects("webhook_endpoint", livemode=True)) == 1 and endpoints(space) == []


def test_links_that_cannot_be_used(oauth_bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    space = install(oauth_bot, fake_slack, fake_stripe)
    key = space.account.restricted_key(PERMISSIONS)

    # Forged or unknown: nothing says whether such a link ever existed.
    for forged in (secrets.token_urlsafe(32), "abc", "x" * 200):
        page = oauth_bot.http.get(f"/stripe/connect/{forged}")
        assert page.status_code == 404 and "This link does not work" in page.text
        posted = oauth_bot.http.post(f"/stripe/connect/{forged}", data={CSRF_FIELD: "0" * 64, KEY_FIELD: key})
        assert posted.status_code == 404
    assert_nothing_stored(oauth_bot, space)

    # A form not from our page (its csrf token wrong or missing): refused, and the link still usable.
    link = ask_for_link(oauth_bot, space)
    for csrf in ("0" * 64, ""):
        page = submit(oauth_bot, link, key, csrf=csrf)
        assert page.status_code == 403 and "out of date or was not sent from this page" in error_of(page)
    assert_nothing_stored(oauth_bot, space)

    # Expired: ten minutes passed.
    oauth_bot.execute("UPDATE one_time_links SET expires_at = ?", (time.time() - 1,))
    page = show(oauth_bot, link)
    assert page.status_code == 410 and LinkProblem.EXPIRED.title in page.text
    posted = oauth_bot.http.post(path_of(link), data={CSRF_FIELD: "0" * 64, KEY_FIELD: key})
    assert posted.status_code == 410 and LinkProblem.EXPIRED.title in posted.text
    assert_nothing_stored(oauth_bot, space)

    # Used: once connected, the same link shows and takes nothing more.
    link = ask_for_link(oauth_bot, space)
    form = CSRF.search(show(oauth_bot, link).text)
    assert form
    assert submit(oauth_bot, link, key).status_code == 200
    page = show(oauth_bot, link)
    assert page.status_code == 410 and LinkProblem.USED.title in page.text
    again = submit(oauth_bot, link, space.account.restricted_key(PERMISSIONS), csrf=form.group(1))
    assert again.status_code == 410 and LinkProblem.USED.title in again.text
    assert len(endpoints(space)) == 1


def test_a_link_of_an_admin_who_lost_the_role_is_refused(oauth_bot: RunningBot, fake_slack: FakeSlack,
                                                         fake_stripe: FakeStripe) -> None:
    space = install(oauth_bot, fake_slack, fake_stripe)
    link = ask_for_link(oauth_bot, space)
    page = show(oauth_bot, link)
    csrf = CSRF.search(page.text)
    assert page.status_code == 200 and csrf

    # The workspace names its admins, and the installer is not one of them any more.
    directory = oauth_bot.app.store.directory
    directory.save_settings(space.tenant_id, TenantSettings(payments_channel=f"C{space.tenant_id}",
                                                            admins=(space.rep,)))
    oauth_bot.app.workspaces.forget(space.tenant_id)

    page = show(oauth_bot, link)
    assert page.status_code == 403 and LinkProblem.NOT_YOURS.title in page.text
    posted = submit(oauth_bot, link, space.account.restricted_key(PERMISSIONS), csrf=csrf.group(1))
    assert posted.status_code == 403 and LinkProblem.NOT_YOURS.title in posted.text
    assert_nothing_stored(oauth_bot, space)


@on_both_databases
def test_disconnect_deletes_the_endpoint_and_erases_the_secrets(oauth_bot: RunningBot, fake_slack: FakeSlack,
                                                                fake_stripe: FakeStripe) -> None:
    space = install(oauth_bot, fake_slack, fake_stripe)
    connect(oauth_bot, space)
    connection = oauth_bot.app.store.directory.stripe(space.tenant_id)
    assert connection is not None and len(endpoints(space)) == 1

    before = len(space.team.calls_to("views.publish"))
    press(oauth_bot, space, ActionId.DISCONNECT_STRIPE, space.admin)

    assert endpoints(space) == []
    assert oauth_bot.app.store.directory.stripe(space.tenant_id) is None
    assert oauth_bot.rows("SELECT * FROM stripe_connections") == []
    home = wait_home(space, space.admin, before)
    assert "*Stripe:* not connected" in home_text(home) and ActionId.CONNECT_STRIPE in action_ids(home)
    told = wait_for(lambda: [text for text in dms(space, space.admin) if "disconnected" in text], 10, "the DM")
    assert "deleted its webhook endpoint" in told[-1] and "Revoke the restricted key" in told[-1]
    # The old address is no workspace's any more, whatever the event is signed with.
    box = oauth_bot.app.secret_box
    assert box is not None
    secret = box.decrypt(space.tenant_id, SecretKind.STRIPE_WEBHOOK_SECRET, connection.webhook_secret)
    event = json.dumps({"id": "evt_after", "type": "invoice.paid", "created": 1, "data": {"object": {
        "id": "in_after", "object": "invoice", "status": "paid", "currency": "usd", "total": 1}}})
    answer = oauth_bot.webhook(event, secret=secret, path=f"/stripe/webhook/{space.public_id}")
    assert answer.status_code == 404


def test_reconnecting_replaces_the_connection_and_its_endpoint(oauth_bot: RunningBot, fake_slack: FakeSlack,
                                                               fake_stripe: FakeStripe) -> None:
    space = install(oauth_bot, fake_slack, fake_stripe)
    first = connect(oauth_bot, space)
    directory = oauth_bot.app.store.directory
    old = directory.stripe(space.tenant_id)
    assert old is not None

    # Stripe refuses the stored key (it was rolled): invoicing pauses, and App Home says so to the admin.
    space.account.revoke(first)
    assert directory.pause_stripe(space.tenant_id)
    home = open_home(oauth_bot, space, space.admin)
    assert ":warning: *Stripe:*" in home_text(home) and "paused" in home_text(home)
    assert ActionId.CONNECT_STRIPE in action_ids(home)

    connect(oauth_bot, space)  # a new key of the same account
    new = directory.stripe(space.tenant_id)
    assert new is not None and new.paused_at is None
    assert new.webhook_endpoint_id != old.webhook_endpoint_id and new.webhook_secret != old.webhook_secret
    # The old endpoint was deleted with the new key (the old one no longer works): one endpoint, the new one.
    assert [endpoint["id"] for endpoint in endpoints(space)] == [new.webhook_endpoint_id]


def test_an_event_signed_for_one_workspace_is_refused_at_the_others_address(
        oauth_bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    alpha = install(oauth_bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
    beta = install(oauth_bot, fake_slack, fake_stripe, "TBETA", "Beta")
    connect(oauth_bot, alpha)
    connect(oauth_bot, beta)
    box = oauth_bot.app.secret_box
    connection = oauth_bot.app.store.directory.stripe(alpha.tenant_id)
    assert box is not None and connection is not None
    alpha_secret = box.decrypt(alpha.tenant_id, SecretKind.STRIPE_WEBHOOK_SECRET, connection.webhook_secret)
    event = json.dumps({"id": "evt_cross", "type": "invoice.paid", "created": 1, "data": {"object": {
        "id": "in_cross", "object": "invoice", "status": "paid", "currency": "usd", "total": 1}}})

    at_beta = oauth_bot.http.post(f"/stripe/webhook/{beta.public_id}", content=event.encode(), headers={
        "Content-Type": "application/json", "Stripe-Signature": stripe_signature(alpha_secret, event)})
    assert at_beta.status_code == 400
    assert oauth_bot.app.store.reads(beta.tenant_id).events.get("evt_cross") is None
    at_alpha = oauth_bot.http.post(f"/stripe/webhook/{alpha.public_id}", content=event.encode(), headers={
        "Content-Type": "application/json", "Stripe-Signature": stripe_signature(alpha_secret, event)})
    assert at_alpha.status_code == 200


def test_the_pages_keep_the_link_to_themselves(oauth_bot: RunningBot, fake_slack: FakeSlack,
                                               fake_stripe: FakeStripe) -> None:
    space = install(oauth_bot, fake_slack, fake_stripe)
    link = ask_for_link(oauth_bot, space)
    for response in (show(oauth_bot, link), oauth_bot.http.get("/stripe/connect/" + "a" * 43),
                     submit(oauth_bot, link, "sk_test_nope")):
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    # Not our form at all: refused before anything is read into the key field.
    assert oauth_bot.http.post(path_of(link), content=b"{}", headers={"Content-Type": "application/json"}
                               ).status_code == 400
    assert oauth_bot.http.post(path_of(link), data={KEY_FIELD: "x" * 20_000}).status_code == 400
    assert oauth_bot.rows("SELECT used_at FROM one_time_links") == [{"used_at": None}]


def test_app_home_says_nothing_about_connecting_with_the_environments_key(bot: RunningBot,
                                                                         fake_slack: FakeSlack) -> None:
    """SLACK_MODE=env: the one workspace's key comes from STRIPE_API_KEY; App Home is as it always was."""
    before = len(fake_slack.calls_to("views.publish"))
    body = json.dumps({
        "token": "legacy", "team_id": "T123", "api_app_id": "A123", "type": "event_callback",
        "event_id": f"Ev{time.monotonic_ns()}", "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": "UREP", "channel": "D123", "tab": "home",
                  "event_ts": f"{time.time():.6f}"}})
    assert bot.post_slack(body, content_type="application/json").status_code == 200
    call = wait_for(lambda: fake_slack.calls_to("views.publish")[before:], 10, "App Home")[-1]
    assert call.ok, call.error
    assert "Stripe" not in home_text(call.args["view"])
    assert not action_ids(call.args["view"]) & {ActionId.CONNECT_STRIPE, ActionId.DISCONNECT_STRIPE}
    assert bot.http.get("/stripe/connect/" + secrets.token_urlsafe(32)).status_code == 404

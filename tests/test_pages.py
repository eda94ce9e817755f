"""The install and Stripe-key pages (bot/pages.py): each page on its own, then clicked through and
filled in by a real headless Chromium (tests/browser.py) against a throwaway Starlette app."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING

import pytest
from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bot import pages
from bot.pages import CSRF_FIELD, KEY_FIELD, InstallFailure, LinkProblem, StripeMode
from bot.urlencoded import parse_form

if TYPE_CHECKING:  # imported at run time by pytest_plugins, which must come first for pytest to rewrite it
    from tests.browser import Serve

pytest_plugins = ["tests.browser"]

APP = "invoicebot"
HOSTILE = "<script>alert('x')</script> & \"Sons\" <img src=x onerror=alert(1)>"
PERMISSIONS = [("Invoices: Write", "create and send invoices"), ("Webhook Endpoints: Write", "hear when they are paid")]
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    text: str = ""


@dataclass
class Parsed:
    doctype: str = ""
    elements: list[Element] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def all(self, tag: str) -> list[Element]:
        return [element for element in self.elements if element.tag == tag]

    def one(self, tag: str, **attrs: str) -> Element:
        found = [e for e in self.all(tag) if all(e.attrs.get(k.replace("_", "-")) == v for k, v in attrs.items())]
        assert len(found) == 1, f"{len(found)} <{tag} {attrs}>"
        return found[0]

    def by_id(self, element_id: str) -> Element:
        found = [element for element in self.elements if element.attrs.get("id") == element_id]
        assert len(found) == 1, f"{len(found)} elements with id {element_id!r}"
        return found[0]


class Checker(HTMLParser):
    """Tags balance (every non-void element closed, in order), and each element's text, for asserts."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parsed = Parsed()
        self.open: list[Element] = []

    def handle_decl(self, decl: str) -> None:
        self.parsed.doctype = decl

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs})
        self.parsed.elements.append(element)
        if tag not in VOID:
            self.open.append(element)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.parsed.errors.append(f"self-closing <{tag}/>")
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open[-1].tag != tag:
            self.parsed.errors.append(f"</{tag}> closes <{self.open[-1].tag if self.open else 'nothing'}>")
            return
        self.open.pop()

    def handle_data(self, data: str) -> None:
        for element in self.open:
            element.text += data


def parse(document: str) -> Parsed:
    checker = Checker()
    checker.feed(document)
    checker.close()
    checker.parsed.errors += [f"<{element.tag}> never closed" for element in checker.open]
    return checker.parsed


def squash(text: str) -> str:
    return " ".join(text.split())


def every_page(app_name: str = APP, team: str = "Acme", error: str | None = "That key was revoked in Stripe."
               ) -> dict[str, str]:
    failure = InstallFailure.STATE_INVALID
    problem = LinkProblem.NOT_YOURS
    return {
        "install": pages.install_page(app_name=app_name, install_url="/slack/install?go=1&x=2"),
        "success": pages.install_success_page(app_name=app_name, team_name=team,
                                              app_home_url="slack://app?team=T123&id=A123&tab=home"),
        "failure": pages.install_failure_page(app_name=app_name, reason_title=failure.title,
                                              reason_detail=failure.detail, install_url="/slack/install"),
        "stripe_key": pages.stripe_key_page(app_name=app_name, team_name=team, form_action="/stripe/connect?link=abc",
                                            csrf_token="csrf-123", permissions=PERMISSIONS, mode="test"),
        "stripe_key_error": pages.stripe_key_page(app_name=app_name, team_name=team, form_action="/stripe/connect",
                                                  csrf_token="csrf-123", permissions=PERMISSIONS, mode="live",
                                                  error=error),
        "connected": pages.stripe_connected_page(app_name=app_name, team_name=team, account_name=team,
                                                 account_id="acct_123", livemode=False),
        "link_problem": pages.link_problem_page(app_name=app_name, title=problem.title, detail=problem.detail),
        "privacy": pages.privacy_page(app_name=app_name),
        "support": pages.support_page(app_name=app_name, support_contact="help@example.com"),
    }


PAGE_NAMES = list(every_page())


# --- each page on its own ---------------------------------------------------------------------

@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_page_is_a_complete_accessible_document_without_script(name: str) -> None:
    document = every_page()[name]
    parsed = parse(document)

    assert parsed.errors == []
    assert parsed.doctype.lower() == "doctype html"
    assert parsed.one("html").attrs["lang"] == "en"
    assert parsed.one("meta", charset="utf-8")
    assert "width=device-width" in parsed.one("meta", name="viewport").attrs["content"]
    assert APP in parsed.one("title").text and parsed.one("title").text.strip() != APP
    assert len(parsed.all("main")) == 1 and len(parsed.all("h1")) == 1
    assert squash(parsed.one("h1").text)
    # No JavaScript and nothing fetched from elsewhere.
    assert "<script" not in document.lower() and "javascript:" not in document.lower()
    assert not [(e.tag, a) for e in parsed.elements for a in e.attrs if a.startswith("on") or a == "src"]
    assert parsed.all("link") == [] and "url(" not in document and "@import" not in document
    # Links name where they go; the footer's include the privacy note and support.
    assert all(squash(a.text) and a.attrs.get("href") for a in parsed.all("a"))
    footer = document[document.index("<footer>"):]
    assert 'href="/privacy"' in footer and 'href="/support"' in footer
    ids = [e.attrs["id"] for e in parsed.elements if "id" in e.attrs]
    assert len(ids) == len(set(ids))
    # Every field a person fills in has a label that points at it.
    labelled = {label.attrs.get("for") for label in parsed.all("label")}
    assert all(i.attrs.get("id") in labelled for i in parsed.all("input") if i.attrs.get("type") != "hidden")
    assert all(squash(button.text) for button in parsed.all("button"))


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_hostile_names_are_shown_as_text(name: str) -> None:
    document = every_page(app_name=HOSTILE, team=HOSTILE, error=HOSTILE)[name]
    parsed = parse(document)

    assert parsed.errors == []
    assert "<script" not in document.lower() and "<img" not in document.lower()
    assert parsed.all("img") == [] and parsed.all("script") == []
    assert HOSTILE in parsed.one("title").text  # the app's name, as text
    if name in ("success", "stripe_key", "stripe_key_error", "connected"):
        assert HOSTILE in parsed.one("main").text  # the team's name, as text


@pytest.mark.parametrize("url", ["javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)",
                                 "java\tscript:alert(1)", "data:text/html,<p>x</p>", "vbscript:x"])
def test_links_that_could_run_script_are_refused(url: str) -> None:
    with pytest.raises(ValueError):
        pages.install_page(app_name=APP, install_url=url)
    with pytest.raises(ValueError):
        pages.install_success_page(app_name=APP, team_name="Acme", app_home_url=url)
    with pytest.raises(ValueError):
        pages.stripe_key_page(app_name=APP, team_name="Acme", form_action=url, csrf_token="c", permissions=[],
                              mode="test")
    with pytest.raises(ValueError):
        pages.support_page(app_name=APP, support_contact=url)


def test_install_page_says_what_the_app_does_and_links_to_slack() -> None:
    document = every_page()["install"]
    parsed = parse(document)
    text = squash(document)

    assert parsed.one("a", **{"class": "button"}).attrs["href"] == "/slack/install?go=1&x=2"
    assert squash(parsed.one("a", **{"class": "button"}).text) == "Add to Slack"
    assert "Stripe invoices" in text and "paid" in text and "overdue" in text
    assert "/invoice" in text and "channels you invite it to" in text
    assert "admin connects your own Stripe account" in text and "Home tab" in text


def test_install_success_page_names_the_team_and_the_next_step() -> None:
    parsed = parse(every_page(team="Acme & Co")["success"])

    assert squash(parsed.one("h1").text) == "invoicebot is installed in Acme & Co"
    home = parsed.one("a", href="slack://app?team=T123&id=A123&tab=home")
    assert "Home tab" in home.text
    assert "Connect Stripe" in squash(parsed.one("ol").text) and "admins" in parsed.one("ol").text


@pytest.mark.parametrize("reason", list(InstallFailure))
def test_install_failure_page_explains_and_offers_a_retry(reason: InstallFailure) -> None:
    parsed = parse(pages.install_failure_page(app_name=APP, reason_title=reason.title, reason_detail=reason.detail,
                                              install_url="/slack/install"))

    assert squash(parsed.one("h1").text) == reason.title
    assert reason.detail in squash(parsed.one("main").text)
    assert squash(parsed.one("a", href="/slack/install").text) == "Try again"


def test_slack_errors_map_to_install_failures() -> None:
    assert InstallFailure.from_slack_error("access_denied") is InstallFailure.ACCESS_DENIED
    assert InstallFailure.from_slack_error("invalid_team_for_non_distributed_app") is InstallFailure.SLACK_ERROR
    assert InstallFailure.from_slack_error("") is InstallFailure.SLACK_ERROR


def test_stripe_key_form_posts_the_key_and_csrf_token() -> None:
    document = every_page()["stripe_key"]
    parsed = parse(document)
    form = parsed.one("form")
    key = parsed.by_id("key")

    assert form.attrs == {"method": "post", "action": "/stripe/connect?link=abc"}
    assert parsed.one("input", type="hidden").attrs == {"type": "hidden", "name": CSRF_FIELD, "value": "csrf-123"}
    assert key.attrs["type"] == "password" and key.attrs["name"] == KEY_FIELD
    assert key.attrs["autocomplete"] == "off" and "required" in key.attrs and "value" not in key.attrs
    assert key.attrs["placeholder"].startswith("rk_test_")
    assert squash(parsed.one("label", **{"for": "key"}).text) == "Restricted key"
    assert key.attrs["aria-describedby"] == "key-help"
    assert "aria-invalid" not in key.attrs and 'role="alert"' not in document
    assert squash(parsed.one("button", type="submit").text) == "Connect Stripe"
    help_text = squash(parsed.by_id("key-help").text)
    assert "never through Slack" in help_text and "stored encrypted" in help_text
    # Where in Stripe to make the key, and what to allow it.
    text = squash(parsed.one("main").text)
    assert "Developers > API keys" in text and "Create restricted key" in text
    assert "Invoices: Write: create and send invoices" in text and "Webhook Endpoints: Write" in text
    assert parsed.one("a", href="https://dashboard.stripe.com/test/apikeys")


def test_stripe_key_error_is_announced_beside_the_field() -> None:
    parsed = parse(every_page(error="Stripe did not accept that key.")["stripe_key_error"])
    key = parsed.by_id("key")
    alert = parsed.one("p", role="alert")

    assert squash(alert.text) == "Stripe did not accept that key."
    assert key.attrs["aria-invalid"] == "true" and "autofocus" in key.attrs
    assert key.attrs["aria-describedby"].split() == ["key-help", alert.attrs["id"]]
    assert parsed.one("title").text.startswith("Error:")
    assert "value" not in key.attrs  # nothing submitted is written back


def test_stripe_key_field_asks_for_a_restricted_key_of_the_mode() -> None:
    cases: list[tuple[StripeMode, str, str]] = [("test", "rk_test_51AbC", "rk_live_51AbC"),
                                                ("live", "rk_live_51AbC", "rk_test_1")]
    for mode, accepted, refused in cases:
        parsed = parse(pages.stripe_key_page(app_name=APP, team_name="Acme", form_action="/c", csrf_token="c",
                                             permissions=PERMISSIONS, mode=mode))
        # A browser anchors the pattern at both ends, as fullmatch does.
        pattern = re.compile(parsed.by_id("key").attrs["pattern"])
        assert pattern.fullmatch(accepted) and pattern.fullmatch(f" {accepted}\n")
        assert not pattern.fullmatch(refused) and not pattern.fullmatch("sk_live_51AbC")
        assert not pattern.fullmatch(f"rk_{mode}_")
    live = every_page()["stripe_key_error"]
    assert "This is a live key" in live and 'href="https://dashboard.stripe.com/apikeys"' in live


def test_stripe_connected_page_names_the_account() -> None:
    text = squash(parse(every_page(team="Acme")["connected"]).one("main").text)

    assert "Stripe is connected" in text and "Acme (acct_123)" in text and "test mode" in text
    assert "webhook endpoint" in text and "close this tab and go back to Slack" in text
    unnamed = pages.stripe_connected_page(app_name=APP, team_name="Acme", account_name=None, account_id="acct_9",
                                          livemode=True)
    assert "account acct_9, in live mode" in squash(parse(unnamed).one("main").text)


@pytest.mark.parametrize("problem", list(LinkProblem))
def test_link_problem_page(problem: LinkProblem) -> None:
    parsed = parse(pages.link_problem_page(app_name=APP, title=problem.title, detail=problem.detail))

    assert squash(parsed.one("h1").text) == problem.title
    assert problem.detail in squash(parsed.one("main").text)
    assert not re.search(r"\b[45]\d\d\b", parsed.one("main").text)  # no HTTP status: any status may carry it
    assert "only the admin who asked for this link" in LinkProblem.NOT_YOURS.detail.lower()


def test_privacy_note_says_what_is_kept_and_for_how_long() -> None:
    text = squash(parse(every_page()["privacy"]).one("main").text)

    assert "encrypted" in text and "Slack ids" in text and "invoices" in text
    assert "does not sell" in text and "uninstalled" in text and "deleted" in text


def test_support_page_links_an_email_or_a_url() -> None:
    assert parse(every_page()["support"]).one("a", href="mailto:help@example.com").text == "help@example.com"
    by_url = parse(pages.support_page(app_name=APP, support_contact="https://help.example.com/?a=1&b=2"))
    assert by_url.one("a", href="https://help.example.com/?a=1&b=2")


def test_footer_links_can_point_elsewhere() -> None:
    links = pages.Links(privacy="/bot/privacy", support="https://example.com/help")
    footer = parse(pages.privacy_page(app_name=APP, links=links))

    assert footer.one("a", href="/bot/privacy") and footer.one("a", href="https://example.com/help")


# --- in a real browser ------------------------------------------------------------------------

TEAM = 'Acme <Corp> & "Sons"'
GOOD_KEY = "rk_test_51GoodKey0123456789"
REVOKED_KEY = "rk_test_51RevokedKey987654321"
CSRF = "csrf-7f3a"


def html(document: str, status_code: int = 200) -> HTMLResponse:
    return HTMLResponse(document, status_code=status_code)


def install_app() -> Starlette:
    """Install page -> a stand-in for Slack's consent screen (which redirects back, as Slack does)
    -> the OAuth callback's success or failure page."""

    async def install(request: Request) -> Response:
        return html(pages.install_page(app_name=APP, install_url="/slack/authorize?state=s1"))

    async def authorize(request: Request) -> Response:
        state = request.query_params["state"]
        return RedirectResponse(f"/slack/oauth/callback?code=c0de&state={state}", status_code=302)

    async def callback(request: Request) -> Response:
        if "error" in request.query_params:
            reason = InstallFailure.from_slack_error(request.query_params["error"])
        elif request.query_params.get("state") != "s1":
            reason = InstallFailure.STATE_INVALID
        else:
            return html(pages.install_success_page(app_name=APP, team_name=TEAM,
                                                   app_home_url="slack://app?team=T1&id=A1&tab=home"))
        return html(pages.install_failure_page(app_name=APP, reason_title=reason.title, reason_detail=reason.detail,
                                               install_url="/slack/install"), status_code=400)

    return Starlette(routes=[Route("/slack/install", install), Route("/slack/authorize", authorize),
                             Route("/slack/oauth/callback", callback)])


def key_app(received: list[dict[str, str]]) -> Starlette:
    """The Stripe-key form; its POST keeps what arrived and answers as the bot will: connected, or the
    form again with Stripe's refusal."""

    def form(error: str | None = None) -> str:
        return pages.stripe_key_page(app_name=APP, team_name=TEAM, form_action="/stripe/connect?link=l1",
                                     csrf_token=CSRF, permissions=PERMISSIONS, mode="test", error=error)

    async def show(request: Request) -> Response:
        return html(form())

    async def submit(request: Request) -> Response:
        fields = parse_form((await request.body()).decode())
        received.append(fields)
        if fields.get(CSRF_FIELD) != CSRF:
            return html(pages.link_problem_page(app_name=APP, title="Bad form", detail="No token."), 403)
        if fields.get(KEY_FIELD, "").strip() == REVOKED_KEY:
            return html(form(error="Stripe did not accept this key: it has been revoked. Create a new one."), 400)
        return html(pages.stripe_connected_page(app_name=APP, team_name=TEAM, account_name="Acme Payments",
                                                account_id="acct_1Acme", livemode=False))

    return Starlette(routes=[Route("/stripe/connect", show, methods=["GET"]),
                             Route("/stripe/connect", submit, methods=["POST"])])


def wait(browser: webdriver.Chrome) -> WebDriverWait[webdriver.Chrome]:
    # While a page is replaced, an element just found on the old one may be gone before it is read, or
    # ChromeDriver answers "unhandled inspector error" for it: asked again, the new page answers.
    return WebDriverWait(browser, 5, ignored_exceptions=(WebDriverException,))


def heading(browser: webdriver.Chrome, text: str) -> WebElement:
    """The page's <h1>, once it reads `text`."""
    found: WebElement = wait(browser).until(
        lambda b: (h1 := b.find_element(By.TAG_NAME, "h1")).text == text and h1)
    return found


def key_field(browser: webdriver.Chrome) -> WebElement:
    """The field as a person finds it: by its label."""
    label = browser.find_element(By.XPATH, "//label[normalize-space()='Restricted key']")
    return browser.find_element(By.ID, label.get_attribute("for") or "")


def test_browser_clicks_add_to_slack_and_lands_on_success(browser: webdriver.Chrome, serve: Serve) -> None:
    url = serve(install_app())
    browser.get(url + "/slack/install")
    assert browser.title == "Add to Slack – invoicebot"

    browser.find_element(By.LINK_TEXT, "Add to Slack").click()

    assert heading(browser, f"invoicebot is installed in {TEAM}")
    assert browser.current_url.startswith(url + "/slack/oauth/callback?code=c0de")
    home = browser.find_element(By.PARTIAL_LINK_TEXT, "Home tab")
    assert home.get_attribute("href") == "slack://app?team=T1&id=A1&tab=home"
    browser.find_element(By.LINK_TEXT, "Privacy note").click()
    assert browser.current_url == url + "/privacy"  # the footer's link; the test app has no such route


def test_browser_retries_a_cancelled_install(browser: webdriver.Chrome, serve: Serve) -> None:
    url = serve(install_app())
    browser.get(url + "/slack/oauth/callback?error=access_denied&state=s1")
    assert heading(browser, InstallFailure.ACCESS_DENIED.title)

    browser.find_element(By.LINK_TEXT, "Try again").click()

    assert heading(browser, "Add invoicebot to Slack")


def test_browser_fills_in_and_submits_the_stripe_key(browser: webdriver.Chrome, serve: Serve) -> None:
    received: list[dict[str, str]] = []
    url = serve(key_app(received))
    browser.get(url + "/stripe/connect?link=l1")
    assert heading(browser, f"Connect Stripe to invoicebot in {TEAM}")

    key_field(browser).send_keys(GOOD_KEY)
    browser.find_element(By.XPATH, "//button[normalize-space()='Connect Stripe']").click()

    assert heading(browser, "Stripe is connected")
    assert "Acme Payments (acct_1Acme)" in browser.find_element(By.TAG_NAME, "main").text
    assert received == [{CSRF_FIELD: CSRF, KEY_FIELD: GOOD_KEY}]
    assert GOOD_KEY not in browser.page_source


def test_browser_shows_a_refused_key_beside_the_field(browser: webdriver.Chrome, serve: Serve) -> None:
    received: list[dict[str, str]] = []
    url = serve(key_app(received))
    browser.get(url + "/stripe/connect?link=l1")
    key_field(browser).send_keys(REVOKED_KEY + Keys.ENTER)  # as a person submits: the browser validates first

    alert = wait(browser).until(lambda b: b.find_element(By.CSS_SELECTOR, "[role=alert]"))
    assert alert.is_displayed() and "it has been revoked" in alert.text
    assert browser.title.startswith("Error: ")
    field = key_field(browser)
    assert field.get_attribute("aria-invalid") == "true"
    assert alert.get_attribute("id") in (field.get_attribute("aria-describedby") or "").split()
    # The field has the focus, with a visible outline, and is empty again: the key was not sent back.
    assert browser.switch_to.active_element == field
    assert field.value_of_css_property("outline-style") == "solid"
    assert field.get_attribute("value") == "" and REVOKED_KEY not in browser.page_source
    assert [fields[KEY_FIELD] for fields in received] == [REVOKED_KEY]

    field.send_keys(GOOD_KEY + Keys.ENTER)
    assert heading(browser, "Stripe is connected")


def test_browser_will_not_send_a_key_of_the_wrong_kind(browser: webdriver.Chrome, serve: Serve) -> None:
    received: list[dict[str, str]] = []
    url = serve(key_app(received))
    browser.get(url + "/stripe/connect?link=l1")
    field = key_field(browser)
    field.send_keys("sk_live_51SecretKey")

    browser.find_element(By.XPATH, "//button[normalize-space()='Connect Stripe']").click()

    assert browser.execute_script("return arguments[0].validity.patternMismatch", field) is True
    assert heading(browser, f"Connect Stripe to invoicebot in {TEAM}") and received == []


def test_every_page_fits_a_320px_screen(browser: webdriver.Chrome, serve: Serve) -> None:
    documents = every_page(team="Acme Consolidated Holdings International Incorporated_" * 2,
                           error="Stripe did not accept this key: " + "x" * 80)

    async def page(request: Request) -> Response:
        return html(documents[request.path_params["name"]])

    url = serve(Starlette(routes=[Route("/{name}", page)]))
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                            {"width": 320, "height": 640, "deviceScaleFactor": 1, "mobile": True})
    try:
        for name in documents:
            browser.get(f"{url}/{name}")
            width = browser.execute_script("return document.documentElement.scrollWidth")
            assert width <= 320, f"{name} is {width}px wide at 320px"
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


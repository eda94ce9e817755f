"""The few HTML pages the bot serves itself (issue 11): Slack install, its outcome, the form that
connects a workspace's own Stripe account, and the privacy and support notes the others link to.

Pure functions from values to a complete HTML document, so the routes that serve them stay thin and
the pages are tested without a server. Every interpolated value is escaped here, whoever supplied
it: a team's name is whatever its admins typed. URLs are also held to a few schemes, since escaping
keeps a value inside its attribute but would still let `javascript:` run when the link is followed.
No page needs JavaScript and none loads anything from elsewhere (no fonts, images or stylesheets).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Literal
from urllib.parse import urlsplit

StripeMode = Literal["test", "live"]

PRIVACY_PATH = "/privacy"
SUPPORT_PATH = "/support"
# The Stripe-key form's field names, for the route that reads what it posts.
CSRF_FIELD = "csrf_token"
KEY_FIELD = "restricted_key"

SAFE_SCHEMES = frozenset({"", "http", "https", "mailto", "slack"})  # "" is a relative URL
# Browsers drop tabs and newlines anywhere in a URL ("java\tscript:"), so refuse any control or space.
URL_UNSAFE = re.compile(r"[\x00-\x20\x7f]")


@dataclass(frozen=True)
class Links:
    """Where every page's footer points: the bot's own privacy and support pages unless it is
    served under a path prefix or the operator keeps those notes elsewhere."""

    privacy: str = PRIVACY_PATH
    support: str = SUPPORT_PATH


DEFAULT_LINKS = Links()


class InstallFailure(Enum):
    """The standard ways an install ends without a token, worded for the person who was installing."""

    ACCESS_DENIED = (
        "You cancelled the install",
        "Nothing was added to your workspace. You can add the app whenever you are ready.",
    )
    # Expired, replayed or forged: telling these apart would only help someone forging them.
    STATE_INVALID = (
        "This install link expired or was already used",
        "Each install link works once, for a few minutes, so that nobody else can finish your install. "
        "Start again from the install page.",
    )
    COOKIE_MISSING = (
        "The browser lost track of the install",
        "An install has to finish in the browser it started in, with cookies allowed for this site. "
        "Start again from the install page in this browser.",
    )
    SLACK_ERROR = (
        "Slack could not finish the install",
        "Slack did not complete the install. Try again in a minute; if it keeps happening, contact support.",
    )

    def __init__(self, title: str, detail: str) -> None:
        self.title = title
        self.detail = detail

    @classmethod
    def from_slack_error(cls, error: str) -> InstallFailure:
        """The failure for the `error` query parameter Slack redirects back with."""
        # Slack documents access_denied (the user pressed Cancel); any other code is Slack's own trouble.
        return cls.ACCESS_DENIED if error == "access_denied" else cls.SLACK_ERROR


class LinkProblem(Enum):
    """Why a one-time link (the Stripe-key form's) cannot be used, for `link_problem_page`."""

    EXPIRED = (
        "This link has expired",
        "Links to connect Stripe work for a limited time. Ask for a new one: open the app's Home tab in "
        "Slack and click Connect Stripe again.",
    )
    USED = (
        "This link was already used",
        "Each link to connect Stripe works once. If Stripe is not connected yet, open the app's Home tab "
        "in Slack and click Connect Stripe again.",
    )
    NOT_YOURS = (
        "This link is not for you",
        "Only the admin who asked for this link may use it. If you are an admin, open the app's Home tab "
        "in Slack and click Connect Stripe to get a link of your own.",
    )

    def __init__(self, title: str, detail: str) -> None:
        self.title = title
        self.detail = detail


# Contrast: body text 16:1, links 7:1, the button's white on navy 11:1; the focus ring is 4.6:1
# against white and sits outside the element, so it also shows around the navy button.
STYLE = """
*,*::before,*::after{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;font-size:1rem;line-height:1.5;
color:#1a1a1a;background:#fff}
header,main,footer{max-width:40rem;margin:0 auto;padding:0 1rem}
header{padding-top:1rem;font-weight:600;color:#1d3a5f}
main{padding-bottom:1.5rem}
h1{font-size:1.6rem;line-height:1.25;margin:.5rem 0 1rem}
h2{font-size:1.2rem;margin:1.5rem 0 .5rem}
p,li{overflow-wrap:anywhere}
a{color:#0b4fa8}
a:focus-visible,button:focus-visible,input:focus-visible{outline:3px solid #b35c00;outline-offset:2px}
.button{display:inline-block;min-height:44px;padding:.6rem 1.2rem;border:0;border-radius:6px;background:#1d3a5f;
color:#fff;font:inherit;font-weight:600;text-decoration:none;cursor:pointer}
.button:hover{background:#132a45}
label{display:block;font-weight:600;margin-top:1rem}
input[type=password]{display:block;width:100%;min-height:44px;margin:.25rem 0 .5rem;padding:.5rem;font:inherit;
font-family:ui-monospace,Menlo,Consolas,monospace;border:2px solid #555;border-radius:4px}
input[aria-invalid=true]{border-color:#b00020}
.hint{color:#444;margin:.25rem 0}
.error{margin:.5rem 0;padding:.5rem .75rem;border-left:4px solid #b00020;background:#fdecea;color:#7a0016}
.note{padding:.5rem .75rem;border-left:4px solid #1d3a5f;background:#eef3f8}
code{font-family:ui-monospace,Menlo,Consolas,monospace;overflow-wrap:anywhere}
footer{border-top:1px solid #ccc;padding-top:.75rem;padding-bottom:1.5rem;font-size:.95rem}
footer a{margin-right:1.25rem;display:inline-block;min-height:44px;line-height:44px}
"""


def _e(value: str) -> str:
    return html.escape(value, quote=True)


def _url(value: str) -> str:
    """`value` escaped for an href or action, or ValueError if following it could run script."""
    if URL_UNSAFE.search(value) or urlsplit(value).scheme.lower() not in SAFE_SCHEMES:
        raise ValueError(f"refusing to put {value!r} in a link: only http(s), mailto, slack or relative URLs")
    return _e(value)


def _document(*, app_name: str, title: str, body: str, links: Links) -> str:
    """The shared layout: `body` is the inside of <main>, already escaped by its page. No referrer:
    a one-time link's token is in its URL, and the footer's links must not carry it elsewhere."""
    app = _e(app_name)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<meta name="robots" content="noindex">
<title>{_e(title)} – {app}</title>
<style>{STYLE}</style>
</head>
<body>
<header><p>{app}</p></header>
<main>
{body}
</main>
<footer>
<a href="{_url(links.privacy)}">Privacy note</a>
<a href="{_url(links.support)}">Support</a>
</footer>
</body>
</html>
"""


def install_page(*, app_name: str, install_url: str, links: Links = DEFAULT_LINKS) -> str:
    app = _e(app_name)
    body = f"""<h1>Add {app} to Slack</h1>
<p>{app} creates and sends Stripe invoices from Slack, and tells your team when an invoice is paid,
when a payment fails and when an invoice goes overdue.</p>
<h2>What it will be allowed to do</h2>
<ul>
<li>Add the <code>/invoice</code> command to your workspace.</li>
<li>Post in the channels you invite it to, and read its own recent messages there so that it never
posts the same notice twice.</li>
<li>Send a direct message to the person who made an invoice when it cannot post in their channel.</li>
<li>See people's time zones, whether they are admins and which user groups they are in, to decide
who may do what and when invoices fall due.</li>
</ul>
<p><a class="button" href="{_url(install_url)}">Add to Slack</a></p>
<h2>After you install</h2>
<p>A workspace admin connects your own Stripe account from {app}'s Home tab in Slack. Invoices are
created in that account, and {app} never sees card details.</p>"""
    return _document(app_name=app_name, title="Add to Slack", body=body, links=links)


def install_success_page(*, app_name: str, team_name: str, app_home_url: str, links: Links = DEFAULT_LINKS) -> str:
    app = _e(app_name)
    body = f"""<h1>{app} is installed in {_e(team_name)}</h1>
<p>One step is left before anyone can send invoices: connecting your Stripe account.</p>
<ol>
<li><a href="{_url(app_home_url)}">Open {app}'s Home tab in Slack</a>.</li>
<li>Click <strong>Connect Stripe</strong>. Only workspace admins see this button.</li>
</ol>
<p>You can close this tab.</p>"""
    return _document(app_name=app_name, title="Installed", body=body, links=links)


def install_failure_page(*, app_name: str, reason_title: str, reason_detail: str, install_url: str,
                         links: Links = DEFAULT_LINKS) -> str:
    """For a standard reason, pass an `InstallFailure`'s `title` and `detail`."""
    body = f"""<h1>{_e(reason_title)}</h1>
<p>{_e(reason_detail)}</p>
<p><a class="button" href="{_url(install_url)}">Try again</a></p>"""
    return _document(app_name=app_name, title=reason_title, body=body, links=links)


def stripe_key_page(*, app_name: str, team_name: str, form_action: str, csrf_token: str,
                    permissions: Sequence[tuple[str, str]], mode: StripeMode, error: str | None = None,
                    links: Links = DEFAULT_LINKS) -> str:
    """The form an admin pastes a restricted key into. It posts `CSRF_FIELD` and `KEY_FIELD`; the
    key is never written back into the page (not even after an error), so it only ever lives in
    the admin's clipboard, this request and the encrypted store."""
    app = _e(app_name)
    prefix = f"rk_{mode}_"
    dashboard = "https://dashboard.stripe.com/apikeys" if mode == "live" else "https://dashboard.stripe.com/test/apikeys"
    granted = "\n".join(f"<li><strong>{_e(name)}</strong>: {_e(purpose)}</li>" for name, purpose in permissions)
    described_by = "key-help key-error" if error else "key-help"
    # autofocus (an attribute, not a script) puts a keyboard or screen-reader user back on the field to fix.
    invalid = ' aria-invalid="true" autofocus' if error else ""
    alert = f'<p id="key-error" class="error" role="alert">{_e(error)}</p>\n' if error else ""
    live_warning = ('<p class="note"><strong>This is a live key:</strong> invoices will be sent to real '
                    "customers and paid with real money.</p>\n") if mode == "live" else ""
    # Surrounding spaces are allowed, as a copied key often brings them; the route strips them.
    pattern = rf"\s*{prefix}\S+\s*"
    body = f"""<h1>Connect Stripe to {app} in {_e(team_name)}</h1>
<p>{app} creates invoices in your own Stripe account with a <em>restricted key</em>: a key that can
do only what you allow below, and that you can revoke in Stripe at any time.</p>
<h2>1. Create the key in Stripe</h2>
<ol>
<li>In Stripe's Dashboard, open <a href="{_url(dashboard)}" target="_blank" rel="noopener noreferrer">Developers
&gt; API keys (opens in a new tab)</a> and click <strong>Create restricted key</strong>.</li>
<li>Name it {app}, and give it these permissions (leave everything else at None):
<ul>
{granted}
</ul></li>
<li>Create the key and copy it. It starts with <code>{prefix}</code>.</li>
</ol>
<h2>2. Paste it here</h2>
{live_warning}<form method="post" action="{_url(form_action)}">
<input type="hidden" name="{CSRF_FIELD}" value="{_e(csrf_token)}">
<label for="key">Restricted key</label>
<p id="key-help" class="hint">Starts with <code>{prefix}</code>. It goes from this page straight to {app},
never through Slack, and is stored encrypted.</p>
{alert}<input type="password" id="key" name="{KEY_FIELD}" required autocomplete="off" spellcheck="false"
autocapitalize="off" placeholder="{prefix}..." pattern="{_e(pattern)}" title="A restricted key starting with {prefix}"
aria-describedby="{described_by}"{invalid}>
<button class="button" type="submit">Connect Stripe</button>
</form>"""
    title = "Connect Stripe"
    # The title is the first thing a screen reader announces on the reloaded page.
    return _document(app_name=app_name, title=f"Error: {title}" if error else title, body=body, links=links)


def stripe_connected_page(*, app_name: str, team_name: str, account_name: str | None, account_id: str,
                          livemode: bool, links: Links = DEFAULT_LINKS) -> str:
    """`account_name` is None when the Stripe account has no business name set."""
    app = _e(app_name)
    account = f"<code>{_e(account_id)}</code>"
    if account_name:
        account = f"{_e(account_name)} ({account})"
    mode = "live mode: invoices are real" if livemode else "test mode: no real money moves"
    body = f"""<h1>Stripe is connected</h1>
<p>{app} in {_e(team_name)} now creates invoices in the Stripe account {account}, in {mode}.</p>
<p>{app} created a webhook endpoint on this account, so it hears when invoices are paid, when payments
fail and when invoices go overdue.</p>
<p>You can close this tab and go back to Slack.</p>"""
    return _document(app_name=app_name, title="Stripe connected", body=body, links=links)


def link_problem_page(*, app_name: str, title: str, detail: str, links: Links = DEFAULT_LINKS) -> str:
    """For a standard problem, pass a `LinkProblem`'s `title` and `detail`."""
    body = f"""<h1>{_e(title)}</h1>
<p>{_e(detail)}</p>
<p>You can close this tab and go back to Slack.</p>"""
    return _document(app_name=app_name, title=title, body=body, links=links)


def privacy_page(*, app_name: str, links: Links = DEFAULT_LINKS) -> str:
    app = _e(app_name)
    body = f"""<h1>Privacy note</h1>
<p>{app} keeps only what it needs to create invoices and tell your team about them.</p>
<h2>What it stores</h2>
<ul>
<li>Records of the invoices made through it, and the customers' names and email addresses and the
prices they were made with (Stripe keeps the invoices themselves, in your account).</li>
<li>Slack ids: of your workspace, of the people who made or changed invoices, and of the channels it
posts in, with a log of who did what.</li>
<li>Your workspace's Slack token and Stripe restricted key, encrypted.</li>
</ul>
<h2>What it does not do</h2>
<ul>
<li>It never sees card or bank details: customers pay on Stripe's own pages.</li>
<li>It does not sell or share your data, show ads or track you. These pages set no tracking cookies.</li>
</ul>
<h2>When it is deleted</h2>
<p>When {app} is uninstalled from your workspace, what it stored for the workspace is deleted.
You can revoke its Stripe key in Stripe's Dashboard at any time.</p>"""
    return _document(app_name=app_name, title="Privacy note", body=body, links=links)


def support_page(*, app_name: str, support_contact: str, links: Links = DEFAULT_LINKS) -> str:
    """`support_contact` is an email address or a URL (a help desk, a form)."""
    app = _e(app_name)
    is_email = "@" in support_contact and ":" not in support_contact
    href = _url(f"mailto:{support_contact}" if is_email else support_contact)
    how = "Email" if is_email else "Contact"
    body = f"""<h1>Support</h1>
<p>Something not working, or a question about {app}? {how} us at
<a href="{href}">{_e(support_contact)}</a>.</p>
<p>It helps to say which workspace you are in and what you were doing. Never send a Stripe key or
a Slack token: nobody at support will ask for one.</p>"""
    return _document(app_name=app_name, title="Support", body=body, links=links)

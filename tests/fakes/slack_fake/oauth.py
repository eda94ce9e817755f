"""OAuth v2 install records of the fake Slack: the app's credentials, codes, tokens, the consent page.

No HTTP and no locking in here; ``FakeSlack`` serves these under its own lock.

Slack's contract, as the fake keeps it:

* ``GET /oauth/v2/authorize?client_id=&scope=&user_scope=&state=&redirect_uri=&team=`` is where the
  "Add to Slack" link sends the browser.  A client id or redirect_uri Slack cannot trust, or no scope at
  all, shows an error page (no redirect).  Otherwise the user allows (302 to
  ``redirect_uri?code=…&state=…``) or cancels (302 to ``redirect_uri?error=access_denied&state=…``).
* ``oauth.v2.access`` exchanges the code, once, within ten minutes, for the app's bot token of that
  team (and a user token when user scopes were asked).  The client id and secret come as HTTP Basic
  auth (what ``slack_sdk`` sends) or as form fields.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import secrets
import string
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlencode, urlsplit

OAUTH_CODE_TTL = 600.0  # seconds an authorization code can be exchanged (Slack: 10 minutes)
AUTHORIZE_PATH = "/oauth/v2/authorize"
APPROVE_PATH = "/oauth/v2/authorize/approve"
CANCEL_PATH = "/oauth/v2/authorize/cancel"

TokenKind = Literal["bot", "user"]

_ALNUM = string.ascii_letters + string.digits
_SCOPE_SPLIT = re.compile(r"[,\s]+")


@dataclass
class OAuthApp:
    """The app's credentials as the fake knows them (``FakeSlack.configure_oauth``)."""

    client_id: str
    client_secret: str
    redirect_uris: list[str]  # the app's configured Redirect URLs; empty: any redirect_uri is taken
    name: str = "Invoicebot"
    code_ttl: float = OAUTH_CODE_TTL
    new_token_on_reinstall: bool = False  # Slack keeps the bot token of an installed app on reinstall

    def redirect_allowed(self, uri: str) -> bool:
        """Slack's rule: the redirect_uri equals a configured Redirect URL or lies below its path."""
        if not self.redirect_uris:
            return bool(urlsplit(uri).scheme and urlsplit(uri).netloc)
        asked = urlsplit(uri)
        for configured in self.redirect_uris:
            allowed = urlsplit(configured)
            if (asked.scheme, asked.netloc.lower()) != (allowed.scheme, allowed.netloc.lower()):
                continue
            base = allowed.path.rstrip("/")
            if asked.path.rstrip("/") == base or asked.path.startswith(base + "/"):
                return True
        return False


@dataclass(frozen=True)
class Decision:
    """What the (absent) person at the authorize page does next (``FakeSlack.next_authorization``)."""

    team_id: str | None
    user_id: str | None
    approve: bool


@dataclass
class AuthorizationRequest:
    """One visit of the authorize page, waiting for Allow or Cancel (the HTML variant)."""

    id: str
    client_id: str
    scopes: list[str]
    user_scopes: list[str]
    state: str | None  # None: the link had no state parameter
    redirect_uri: str | None  # as sent (None: not sent; the app's first Redirect URL is used)
    target: str  # where the browser goes back to
    team: str | None  # the ``team`` parameter of the link, if any


@dataclass
class AuthCode:
    """An authorization code: single use, ``OAuthApp.code_ttl`` seconds, bound to all of this."""

    code: str
    client_id: str
    team_id: str
    user_id: str
    scopes: list[str]
    user_scopes: list[str]
    redirect_uri: str | None  # as sent to the authorize page
    target: str
    issued_at: float  # clock() value
    used: bool = False


@dataclass
class Token:
    """An access token the fake minted or was configured with; it belongs to exactly one team."""

    token: str
    team_id: str
    kind: TokenKind
    user_id: str  # the bot user (bot token) or the user who authorized (user token)
    scopes: list[str] = field(default_factory=list)
    revoked: str | None = None  # the error calls with it answer once revoked, e.g. "account_inactive"

    @property
    def live(self) -> bool:
        return self.revoked is None


def parse_scopes(value: str | None) -> list[str]:
    """``"chat:write,commands"`` (commas or spaces) -> the scopes, in order, without repeats."""
    seen: list[str] = []
    for scope in _SCOPE_SPLIT.split(value or ""):
        if scope and scope not in seen:
            seen.append(scope)
    return seen


def merge_scopes(old: Sequence[str], new: Iterable[str]) -> list[str]:
    return [*old, *(scope for scope in new if scope not in old)]


def basic_credentials(header: str) -> tuple[str, str] | None:
    """(client_id, client_secret) of an ``Authorization: Basic …`` header."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, client_secret = decoded.partition(":")
    return (client_id, client_secret) if colon else None


def with_query(url: str, params: dict[str, str]) -> str:
    """``url`` with ``params`` appended to its query string."""
    base, _, fragment = url.partition("#")
    joined = base + ("&" if "?" in base else "?") + urlencode(params)
    return joined + ("#" + fragment if fragment else "")


def new_code(team_number: int) -> str:
    """A code shaped like Slack's: ``<digits>.<digits>.<64 hex>``."""
    return f"{team_number}.{secrets.randbelow(10**13)}.{secrets.token_hex(32)}"


def new_token(kind: TokenKind) -> str:
    """``xoxb-<digits>-<digits>-<24 alnum>`` or ``xoxp-<digits>-<digits>-<digits>-<32 hex>``."""
    if kind == "bot":
        tail = "".join(secrets.choice(_ALNUM) for _ in range(24))
        return f"xoxb-{secrets.randbelow(10**13)}-{secrets.randbelow(10**13)}-{tail}"
    return (
        f"xoxp-{secrets.randbelow(10**13)}-{secrets.randbelow(10**13)}-"
        f"{secrets.randbelow(10**13)}-{secrets.token_hex(16)}"
    )


# ----------------------------------------------------------------------
# pages (no JavaScript: a form and a link)


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{html.escape(title)}</title></head>\n<body>\n{body}\n</body></html>\n"
    )


def error_page(error: str, detail: str) -> str:
    """What Slack shows instead of redirecting: the error code is in ``<p id="error">``."""
    return _page(
        "Fake Slack: OAuth error",
        f"<h1>Something went wrong when authorizing this app.</h1>\n"
        f"<p id=\"error\">{html.escape(error)}</p>\n<p>{html.escape(detail)}</p>",
    )


def consent_page(
    request: AuthorizationRequest, app_name: str, installers: list[tuple[str, str]]
) -> str:
    """The "Allow / Cancel" page: ``installers`` are (``"TEAM:USER"`` value, label) choices."""
    options = "\n".join(
        f"<option value=\"{html.escape(value)}\">{html.escape(label)}</option>" for value, label in installers
    )
    scopes = html.escape(", ".join(request.scopes) or "(none)")
    user_scopes = html.escape(", ".join(request.user_scopes) or "(none)")
    rid = html.escape(request.id)
    return _page(
        f"Fake Slack: install {app_name}",
        f"<h1>{html.escape(app_name)} is requesting permission to access a Slack workspace</h1>\n"
        f"<p>Bot scopes: <code id=\"scope\">{scopes}</code></p>\n"
        f"<p>User scopes: <code id=\"user_scope\">{user_scopes}</code></p>\n"
        f"<form id=\"allow\" method=\"post\" action=\"{APPROVE_PATH}\">\n"
        f"<input type=\"hidden\" name=\"request\" value=\"{rid}\">\n"
        f"<label>Install to <select name=\"installer\" id=\"installer\">\n{options}\n</select></label>\n"
        "<button type=\"submit\" id=\"allow-button\">Allow</button>\n</form>\n"
        f"<p><a id=\"cancel\" href=\"{CANCEL_PATH}?{urlencode({'request': request.id})}\">Cancel</a></p>",
    )

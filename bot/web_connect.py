"""SLACK_MODE=oauth: the page where a workspace's admin connects its own Stripe account.

`GET /stripe/connect/<token>` shows the form for a usable one-time link (bot/services/stripe_connect.py
issues them, by DM), `POST` to the same address takes the restricted key. The key arrives here only,
over HTTPS from the admin's browser, and is never written back into a page or a log. The form carries
an HMAC of the link (keyed with the Slack signing secret), so a form posted from elsewhere is refused.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from bot import pages
from bot.bootstrap import Bot
from bot.errors import ExternalFailure
from bot.jobs.registry import UnknownTenant
from bot.pages import CSRF_FIELD, KEY_FIELD, LinkProblem
from bot.services.stripe_connect import (
    CONNECT_PATH,
    OPTIONAL_PERMISSIONS,
    REQUIRED_PERMISSIONS,
    Connected,
    ConnectRefused,
    KeyForm,
    LinkRefusal,
    LinkRefused,
    StripeConnect,
    hash_token,
    link_tenant,
)
from bot.urlencoded import parse_form

APP_NAME = "invoicebot"
MAX_FORM_BYTES = 8 * 1024  # a key and a token: anything larger is not our form
# The pages run no script and load nothing; nobody may frame the key form (clickjacking), nor may a
# token in the URL leave through a Referer, nor a browser or proxy keep a copy of the page.
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}
UNKNOWN_TITLE = "This link does not work"
UNKNOWN_DETAIL = ("It is not a link to connect Stripe, or part of it is missing. Copy the whole link from the "
                  "message invoicebot sent you in Slack, or click Connect Stripe in the app's Home tab again.")
BUSY_TITLE = "Try again in a moment"
BUSY_DETAIL = "invoicebot can't reach Slack or its database right now. Reload this page in a moment."
CSRF_REFUSED = ("This form is out of date or was not sent from this page. Paste the key again below (nothing "
                "was connected).")
# Forms carry an HMAC of the link's hash under a key of their own, derived from the signing secret.
_CSRF_LABEL = b"invoicebot/stripe-connect/csrf"
_PROBLEM_STATUS = {LinkRefusal.EXPIRED: 410, LinkRefusal.USED: 410, LinkRefusal.NOT_YOURS: 403}
_PROBLEM_PAGE = {LinkRefusal.EXPIRED: LinkProblem.EXPIRED, LinkRefusal.USED: LinkProblem.USED,
                 LinkRefusal.NOT_YOURS: LinkProblem.NOT_YOURS}


def connect_routes(bot: Bot) -> list[BaseRoute]:
    settings = bot.settings
    assert settings.slack_signing_secret is not None  # SLACK_MODE=oauth serves HTTP, which requires it
    csrf_key = hmac.new(settings.slack_signing_secret.get_secret_value().encode(), _CSRF_LABEL,
                        hashlib.sha256).digest()
    public_url = settings.public_url

    def csrf_token(token: str) -> str:
        return hmac.new(csrf_key, hash_token(token).encode(), hashlib.sha256).hexdigest()

    def service_for(token: str) -> StripeConnect:
        """The use case of the workspace the link was issued for; `LinkRefused` when there is none."""
        tenant_id = link_tenant(bot.store.directory, token)
        if tenant_id is None:
            raise LinkRefused(LinkRefusal.UNKNOWN)
        try:
            return bot.workspaces.get(tenant_id).stripe_connect
        except UnknownTenant:  # it left since
            raise LinkRefused(LinkRefusal.UNKNOWN) from None

    def form_of(token: str) -> KeyForm:
        return service_for(token).key_form(token)

    def connect(token: str, key: str) -> Connected:
        return service_for(token).check_and_connect(token, key)

    def key_page(token: str, form: KeyForm, error: str | None = None, status: int = 200) -> Response:
        permissions = [(permission.label, f"{permission.purpose} ({permission.code})")
                       for permission in (*REQUIRED_PERMISSIONS, *OPTIONAL_PERMISSIONS)]
        return page(pages.stripe_key_page(
            app_name=APP_NAME, team_name=form.team_name, form_action=f"{public_url}{CONNECT_PATH}/{token}",
            csrf_token=csrf_token(token), permissions=permissions, mode="live" if form.livemode else "test",
            error=error), status)

    async def show(request: Request) -> Response:
        token = str(request.path_params["token"])
        try:
            form = await run_in_threadpool(form_of, token)
        except LinkRefused as refused:
            return problem_page(refused.refusal)
        except ExternalFailure:  # the database, or Slack (asked who is an admin), had a bad moment
            return busy_page()
        return key_page(token, form)

    async def submit(request: Request) -> Response:
        token = str(request.path_params["token"])
        fields = await read_form(request)
        if fields is None:
            return page(pages.link_problem_page(app_name=APP_NAME, title="That was not our form",
                                                detail="Open the link from Slack again and paste the key there."),
                        400)
        try:
            form = await run_in_threadpool(form_of, token)
        except LinkRefused as refused:
            return problem_page(refused.refusal)
        except ExternalFailure:  # the database, or Slack (asked who is an admin), had a bad moment
            return busy_page()
        if not hmac.compare_digest(fields.get(CSRF_FIELD, ""), csrf_token(token)):
            return key_page(token, form, CSRF_REFUSED, 403)
        try:
            connected = await run_in_threadpool(connect, token, fields.get(KEY_FIELD, ""))
        except LinkRefused as refused:
            return problem_page(refused.refusal)
        except ConnectRefused as refused:
            return key_page(token, form, refused.message, refused.status)
        except ExternalFailure:  # the database, or Slack (asked who is an admin), had a bad moment
            return busy_page()
        return page(pages.stripe_connected_page(
            app_name=APP_NAME, team_name=connected.team_name, account_name=connected.account_name or None,
            account_id=connected.account_id, livemode=connected.livemode))

    return [Route(f"{CONNECT_PATH}/{{token}}", show, methods=["GET"]),
            Route(f"{CONNECT_PATH}/{{token}}", submit, methods=["POST"])]


async def read_form(request: Request) -> dict[str, str] | None:
    """The posted form, read no further than our form can be long; None for anything else."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            return None
    try:
        return parse_form(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None


def page(document: str, status: int = 200) -> Response:
    return HTMLResponse(document, status_code=status, headers=HEADERS)


def problem_page(refusal: LinkRefusal) -> Response:
    known = _PROBLEM_PAGE.get(refusal)
    if known is None:
        return page(pages.link_problem_page(app_name=APP_NAME, title=UNKNOWN_TITLE, detail=UNKNOWN_DETAIL), 404)
    return page(pages.link_problem_page(app_name=APP_NAME, title=known.title, detail=known.detail),
                _PROBLEM_STATUS[refusal])


def busy_page() -> Response:
    return page(pages.link_problem_page(app_name=APP_NAME, title=BUSY_TITLE, detail=BUSY_DETAIL), 503)

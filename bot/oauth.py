"""SLACK_MODE=oauth: installing the app in a workspace (Slack OAuth v2), run by Bolt's `OAuthFlow`.

Bolt does the protocol: it issues the state and its browser cookie, builds the authorize URL, checks
Slack's answer (an error, the cookie against the state, the state against the store, the code) and
exchanges the code with `oauth.v2.access`. Ours are where the data lives and what people see: the
one-shot states and the installations are rows of our own database (`Directory`), the bot token
sealed for its tenant (`SecretBox`), and every page is one of `bot.pages`. Slack's requests are
authorized from the directory elsewhere (`bot.bootstrap`), so Bolt's per-request `auth.test` never runs.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode, urljoin

from slack_bolt import BoltRequest, BoltResponse
from slack_bolt.error import BoltError
from slack_bolt.oauth import OAuthFlow
from slack_bolt.oauth.callback_options import CallbackOptions, FailureArgs, SuccessArgs
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.state_store import OAuthStateStore

from bot import pages
from bot.adapters.slack import SlackOut
from bot.config import Settings
from bot.domain.tenants import Tenant
from bot.errors import StoreUnavailable
from bot.pages import InstallFailure
from bot.secrets import SecretBox, SecretKind
from bot.store.ports import Directory

logger = logging.getLogger(__name__)

APP_NAME = "invoicebot"
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# Slack's limit for finishing an install, and Bolt's default: a state (and its cookie) lives 10 minutes.
STATE_TTL_SECONDS = 600
# What the bot asks every workspace for; manifest.yml lists the same (tests/test_manifest.py holds them equal).
BOT_SCOPES: tuple[str, ...] = ("commands", "chat:write", "channels:history", "groups:history", "im:history",
                               "im:write", "users:read", "usergroups:read", "files:write", "links:read",
                               "links:write")
WELCOME = (":wave: Thanks for installing invoicebot! One step is left before anyone can send invoices: "
           "open invoicebot's *Home* tab and click *Connect Stripe* (workspace admins see the button). "
           "Type `/invoice help` to see what it can do.")
# Each page carries everything it needs inline (bot/pages.py): nothing loads from elsewhere, nothing frames it.
PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; "
                               "form-action 'self'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}


def authorize_url(slack_api_url: str) -> str:
    """Slack's "Add to Slack" page, which lives beside its Web API (https://slack.com/api/ ->
    https://slack.com/oauth/v2/authorize); tests point SLACK_API_URL at a fake Slack, and this follows."""
    return urljoin(slack_api_url, "../oauth/v2/authorize")


def app_home_url(team_id: str, app_id: str | None) -> str:
    """A deep link into the app's Home tab in the Slack client; without the app's id, the workspace."""
    if app_id:
        return "slack://app?" + urlencode({"team": team_id, "id": app_id, "tab": "home"})
    return "slack://open?" + urlencode({"team": team_id})


class DirectoryStateStore(OAuthStateStore):
    """Bolt's state store on the directory's `oauth_states`: each state consumed once, within its lifetime."""

    def __init__(self, directory: Directory, clock: Callable[[], float],
                 ttl_seconds: float = STATE_TTL_SECONDS) -> None:
        self._directory = directory
        self._clock = clock
        self._ttl_seconds = ttl_seconds

    @property
    def logger(self) -> logging.Logger:
        return logger

    def issue(self, *args: Any, **kwargs: Any) -> str:
        state = secrets.token_urlsafe(32)
        self._directory.add_state(state, self._clock() + self._ttl_seconds)
        return state

    def consume(self, state: str) -> bool:
        return self._directory.take_state(state)


class DirectoryInstallationStore(InstallationStore):
    """Bolt's installation store on the directory: one row per team, upserted by a reinstall, the bot
    token sealed for the team's tenant. Bot installs only (the app asks for no user scopes).

    Uninstalls are not Bolt's to handle here: the workspace's tenancy erases its installation and its
    Stripe connection together."""

    def __init__(self, directory: Directory, box: SecretBox, on_installed: Callable[[Tenant], None]) -> None:
        self._directory = directory
        self._box = box
        self._on_installed = on_installed

    @property
    def logger(self) -> logging.Logger:
        return logger

    def save(self, installation: Installation) -> None:
        token, team_id = installation.bot_token, installation.team_id
        # Raised as BoltError, Bolt answers with its failure callback and nothing is stored.
        if team_id is None or installation.is_enterprise_install:
            raise BoltError("an organization-wide install: invoicebot is installed one workspace at a time")
        if token is None or installation.bot_user_id is None:
            raise BoltError("the install granted no bot token")
        try:
            tenant = self._directory.save_installation(
                team_id=team_id, enterprise_id=installation.enterprise_id, team_name=installation.team_name or "",
                app_id=installation.app_id, bot_user_id=installation.bot_user_id, bot_id=installation.bot_id,
                bot_scopes=",".join(installation.bot_scopes or ()), installer_user_id=installation.user_id,
                seal_token=lambda tenant_id: self._box.encrypt(tenant_id, SecretKind.SLACK_BOT_TOKEN, token))
        except StoreUnavailable as error:
            raise BoltError(f"the installation could not be stored: {error.message}") from None
        self._on_installed(tenant)

    def find_bot(self, *, enterprise_id: str | None, team_id: str | None,
                 is_enterprise_install: bool | None = False) -> Bot | None:
        found = self._find(team_id)
        if found is None:
            return None
        tenant, installation = found
        return Bot(app_id=installation.app_id, enterprise_id=installation.enterprise_id, team_id=installation.team_id,
                   team_name=tenant.team_name, bot_token=installation.bot_token or "", bot_id=installation.bot_id or "",
                   bot_user_id=installation.bot_user_id or "", bot_scopes=installation.bot_scopes or (),
                   installed_at=installation.installed_at)

    def find_installation(self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None,
                          is_enterprise_install: bool | None = False) -> Installation | None:
        found = self._find(team_id)
        return found[1] if found is not None else None

    def _find(self, team_id: str | None) -> tuple[Tenant, Installation] | None:
        tenant = self._directory.by_team(team_id) if team_id else None
        stored = self._directory.installation(tenant.id) if tenant is not None and tenant.active else None
        if tenant is None or stored is None:
            return None
        token = self._box.decrypt(tenant.id, SecretKind.SLACK_BOT_TOKEN, stored.bot_token)
        return tenant, Installation(
            app_id=stored.app_id, enterprise_id=stored.enterprise_id, team_id=stored.team_id,
            team_name=tenant.team_name, bot_token=token, bot_id=stored.bot_id, bot_user_id=stored.bot_user_id,
            bot_scopes=stored.bot_scopes, user_id=stored.installer_user_id, installed_at=stored.installed_at)


def page(html: str, status: int = 200, *, forget_state: OAuthSettings | None = None) -> BoltResponse:
    """One of our pages as Bolt's response; `forget_state` also deletes the browser's state cookie."""
    headers: dict[str, str | Sequence[str]] = dict(PAGE_HEADERS)
    if forget_state is not None:
        headers["Set-Cookie"] = [forget_state.state_utils.build_set_cookie_for_deletion()]
    return BoltResponse(status=status, body=html, headers=headers)


def failure_page(failure: InstallFailure, status: int, *, forget_state: OAuthSettings | None = None) -> BoltResponse:
    return page(pages.install_failure_page(app_name=APP_NAME, reason_title=failure.title,
                                           reason_detail=failure.detail, install_url=INSTALL_PATH),
                status, forget_state=forget_state)


class HideCodes(logging.Filter):
    """Bolt logs a failed code exchange with the code in it; a code is a credential until it is spent."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "code" in message:
            record.msg, record.args = CODE_IN_MESSAGE.sub(r"\1<hidden>", message), None
        return True


CODE_IN_MESSAGE = re.compile(r"(code[=: ]+)[\w.\-]+")


class InstallFlow(OAuthFlow):
    """Bolt's OAuth flow with our install page, and our success and failure pages as its callbacks.

    After an install it greets the installer in a DM (through `slack_for`, the new workspace's Slack
    client); a failed greeting is logged and the success page shown all the same."""

    def __init__(self, *, settings: OAuthSettings, client: WebClient, directory: Directory,
                 slack_for: Callable[[str], SlackOut]) -> None:
        settings.callback_options = CallbackOptions(success=self._succeeded, failure=self._failed)
        flow_logger = logging.getLogger(f"{__name__}.flow")
        if not any(isinstance(each, HideCodes) for each in flow_logger.filters):
            flow_logger.addFilter(HideCodes())
        super().__init__(client=client, logger=flow_logger, settings=settings)
        self._directory = directory
        self._slack_for = slack_for

    def build_install_page_html(self, url: str, request: BoltRequest) -> str:
        return pages.install_page(app_name=APP_NAME, install_url=url)

    def handle_installation(self, request: BoltRequest) -> BoltResponse:
        response = super().handle_installation(request)
        response.headers.update({name.lower(): [value] for name, value in PAGE_HEADERS.items()})
        return response

    def _succeeded(self, args: SuccessArgs) -> BoltResponse:
        installation = args.installation
        team_id = installation.team_id or ""
        tenant = self._directory.by_team(team_id)
        if tenant is not None:
            self._greet(tenant.id, installation.user_id)
        html = pages.install_success_page(app_name=APP_NAME, team_name=installation.team_name or team_id,
                                          app_home_url=app_home_url(team_id, installation.app_id))
        return page(html, forget_state=self.settings)

    def _greet(self, tenant_id: str, installer: str) -> None:
        try:
            self._slack_for(tenant_id).dm(installer, WELCOME)
        except Exception:
            logger.exception("could not send the welcome DM to the installer in tenant %s", tenant_id)

    def _failed(self, args: FailureArgs) -> BoltResponse:
        failure = failure_reason(args)
        if args.reason == "storage_error":
            logger.error("an install could not be stored: %s", args.error)
            return failure_page(failure, 500, forget_state=self.settings)
        logger.info("an install ended without a token: %s (%r)", failure.name, args.reason[:64])
        return failure_page(failure, 200 if failure is InstallFailure.ACCESS_DENIED else 400,
                            forget_state=self.settings)


def failure_reason(args: FailureArgs) -> InstallFailure:
    """The page for one of Bolt's failure reasons (or Slack's own `error`, which Bolt passes on as one)."""
    if args.request.query.get("error"):
        return InstallFailure.from_slack_error(args.reason)
    if args.reason == "invalid_browser":
        # No cookie at all: another browser, or cookies blocked. A cookie for some other state: the
        # link was not this browser's to finish, as with a forged or stale one.
        cookie_name = args.settings.state_cookie_name
        has_cookie = any(f"{cookie_name}=" in value for value in args.request.headers.get("cookie", []))
        return InstallFailure.STATE_INVALID if has_cookie else InstallFailure.COOKIE_MISSING
    if args.reason == "invalid_state":
        return InstallFailure.STATE_INVALID
    return InstallFailure.SLACK_ERROR  # a missing or refused code, or the installation not stored


def install_flow(settings: Settings, directory: Directory, box: SecretBox, clock: Callable[[], float], *,
                 client: WebClient, on_installed: Callable[[Tenant], None],
                 slack_for: Callable[[str], SlackOut]) -> InstallFlow:
    """The flow `bot.bootstrap` hands Bolt's App. `client` exchanges codes (SLACK_API_URL); `on_installed`
    gets each tenant just installed or reinstalled (its workspace must be built again with the new token)."""
    oauth_settings = OAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=list(BOT_SCOPES),
        user_scopes=[],
        redirect_uri=settings.public_url + REDIRECT_PATH,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        authorization_url=authorize_url(settings.slack_api_url),
        installation_store=DirectoryInstallationStore(directory, box, on_installed),
        installation_store_bot_only=True,
        state_store=DirectoryStateStore(directory, clock),
        state_expiration_seconds=STATE_TTL_SECONDS,
        logger=logger,
    )
    return InstallFlow(settings=oauth_settings, client=client, directory=directory, slack_for=slack_for)

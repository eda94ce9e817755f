"""Settings: every one an environment variable (a `.env` file works too).

A missing or malformed setting stops the bot with one line per problem that names the
variable, says what it should look like and where to get it. Secrets are `SecretStr`, so
they never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.domain.approvals import parse_limits
from bot.domain.tenants import DEFAULT_TENANT
from bot.secrets import MAKE_A_KEY, parse_keys

WHERE_TO_GET = {
    "SLACK_BOT_TOKEN": "Slack app settings > OAuth & Permissions > Bot User OAuth Token",
    "SLACK_SIGNING_SECRET": "Slack app settings > Basic Information > App Credentials > Signing Secret",
    "SLACK_APP_TOKEN": "Slack app settings > Basic Information > App-Level Tokens (scope connections:write)",
    "STRIPE_API_KEY": "Stripe Dashboard > Developers > API keys (secret or restricted key)",
    "STRIPE_WEBHOOK_SECRET": "Stripe Dashboard > Developers > Webhooks > your endpoint > Signing secret, "
    "or the output of `stripe listen`",
    "PAYMENTS_CHANNEL": "right-click the channel in Slack > View channel details > the ID at the bottom",
    "SLACK_CLIENT_ID": "Slack app settings > Basic Information > App Credentials > Client ID",
    "SLACK_CLIENT_SECRET": "Slack app settings > Basic Information > App Credentials > Client Secret",
    "PUBLIC_URL": "the https:// address Slack and browsers reach this bot at (your domain, or a tunnel's)",
    "ENCRYPTION_KEYS": f"the output of `{MAKE_A_KEY}` (keep it safe: without it the stored workspace "
    "credentials cannot be read)",
}


class SlackMode(StrEnum):
    # One workspace, its Slack and Stripe credentials in the environment (the bot as it always was).
    ENV = "env"
    # Any workspace installs the app through Slack OAuth and connects its own Stripe account.
    OAUTH = "oauth"


# The one tenant of SLACK_MODE=env, so both modes keep their data keyed by tenant.
ENV_MODE_TENANT_ID = DEFAULT_TENANT

_ENV_MODE_WANTS = "SLACK_MODE=env (the default) wants SLACK_BOT_TOKEN, STRIPE_API_KEY and STRIPE_WEBHOOK_SECRET"
_OAUTH_MODE_WANTS = ("SLACK_MODE=oauth wants SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, PUBLIC_URL and ENCRYPTION_KEYS "
                     "instead, each workspace bringing its own tokens when it installs the app")
# Why a variable of the other mode must stay unset, said where the mix is reported.
_UNSET_BECAUSE = {
    "slack_bot_token": f"each workspace's bot token comes from its install. {_OAUTH_MODE_WANTS}; {_ENV_MODE_WANTS}",
    "stripe_api_key": f"each workspace connects its own Stripe account. {_OAUTH_MODE_WANTS}; {_ENV_MODE_WANTS}",
    "stripe_webhook_secret": f"each workspace's Stripe account has its own. {_OAUTH_MODE_WANTS}; {_ENV_MODE_WANTS}",
    "slack_app_token": "OAuth installs are served over HTTP at PUBLIC_URL, not Socket Mode. "
    f"{_OAUTH_MODE_WANTS}; {_ENV_MODE_WANTS}",
    "slack_client_id": "Bolt reads SLACK_CLIENT_ID and SLACK_CLIENT_SECRET and quietly drops SLACK_BOT_TOKEN for "
    f"OAuth installs. {_ENV_MODE_WANTS}; {_OAUTH_MODE_WANTS}",
    "slack_client_secret": "Bolt reads SLACK_CLIENT_ID and SLACK_CLIENT_SECRET and quietly drops SLACK_BOT_TOKEN for "
    f"OAuth installs. {_ENV_MODE_WANTS}; {_OAUTH_MODE_WANTS}",
}
_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1"})

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_ID_LIST_ITEM = re.compile(r"^[USW][A-Z0-9]{2,}$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?/?$")
_SLACK_CLIENT_ID = re.compile(r"^\d+\.\d+$")
_EMAIL = re.compile(r"^[^@\s:/]+@[^@\s:/]+\.[^@\s:/]+$")


class ConfigError(Exception):
    """Raised with every settings problem at once, one line each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class DatabaseSettings(BaseSettings):
    """All that `invoicebot migrate` needs, so a schema can be migrated before the rest is set."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        hide_input_in_errors=True,
    )

    database_url: str = "sqlite:///invoicebot.db"
    # PostgreSQL only: connections per replica (the workers' threads, the webhook writer, readers).
    database_pool_size: int = Field(default=16, ge=2, le=200)

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        if value.startswith(("postgresql://", "postgres://")):
            return value
        if not value.startswith("sqlite:///") or value in ("sqlite:///", "sqlite:///:memory:"):
            raise ValueError("must look like sqlite:///path/to/file.db (a file: the bot reads and writes "
                             "on connections of their own) or postgresql://user:password@host:5432/database")
        return value


class Settings(DatabaseSettings):
    # First, so the validators of the fields below see it (a field's validator sees only earlier fields).
    slack_mode: SlackMode = SlackMode.ENV
    # The env-mode credentials: an empty value means unset, so the attributes stay `SecretStr` for the
    # env-mode code that reads them; which mode needs or refuses them is checked below.
    slack_bot_token: SecretStr = SecretStr("")
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    stripe_api_key: SecretStr = SecretStr("")
    stripe_webhook_secret: SecretStr = SecretStr("")
    # SLACK_MODE=oauth only: the Slack app's credentials, where it is reached, and the master keys that
    # encrypt each workspace's tokens at rest (bot/secrets.py), the first one encrypting.
    slack_client_id: str = ""
    slack_client_secret: SecretStr = SecretStr("")
    public_url: str = ""
    encryption_keys: SecretStr = SecretStr("")
    # Where the install pages send people who need help: an email address or an http(s) page.
    # Empty: support@ the host of PUBLIC_URL.
    support_contact: str = ""
    stripe_api_base: str = "https://api.stripe.com"
    # SLACK_MODE=oauth: the Stripe mode workspaces connect in. False: test-mode keys (rk_test_) only; true:
    # live-mode keys (rk_live_) only, so a test key never lands on a live deployment, nor the reverse.
    stripe_livemode: bool = False
    # SLACK_MODE=env: required. SLACK_MODE=oauth: each workspace sets its own (`/invoice settings`).
    payments_channel: str = ""
    host: str = "0.0.0.0"
    port: int = Field(default=3000, ge=1, le=65535)
    default_currency: str = "usd"
    default_days_until_due: int = Field(default=30, ge=1, le=365)
    # Who may do what: Slack user IDs (U.../W...) and user group IDs (S...), comma separated.
    # Empty `invoice_creators` means everyone in the workspace may create invoices.
    invoice_creators: str = ""
    invoice_admins: str = ""
    # Who may see every invoice without being an admin (finance), as IDs like the two above.
    invoice_viewers: str = ""
    # Approval above a limit: per currency, in major units as people write them (`usd:5000,eur:5000`). An
    # invoice above its currency's limit is held as a draft until an approver approves it; currencies not
    # named never wait. Empty: no approvals.
    approval_limits: str = ""
    # Who approves (SLACK_MODE=env): user and user group IDs like INVOICE_ADMINS. Empty: the invoicing
    # admins. Never the invoice's own rep.
    approvers: str = ""
    # Where a slash command's or a button's response_url may point (scheme://host[:port], comma
    # separated): Slack's own hosts; the tests point it at their fake Slack.
    slack_response_origins: str = "https://hooks.slack.com,https://hooks.slack-gov.com"
    announce_foreign_invoices: bool = True
    log_level: str = "INFO"
    worker_threads: int = Field(default=4, ge=1, le=32)
    # How long one Stripe call may take, and how often a job is tried before the rep is told it failed.
    stripe_timeout: float = Field(default=30.0, gt=0, le=300)
    job_max_attempts: int = Field(default=12, ge=1, le=100)
    # A job's lease, renewed every third of it while the job runs; after a crash, the dead process's
    # jobs are taken up again when their leases run out.
    job_lease_seconds: float = Field(default=30.0, ge=0.5, le=600)
    # Days a finished job is kept (its key dedupes a resent request meanwhile); Stripe events are
    # remembered at least 30 days whatever this says (bot/store/retention.py).
    job_retention_days: int = Field(default=7, ge=1, le=3650)
    # A request must arrive whole within this many seconds of its first byte (slow clients are cut off).
    http_request_timeout: float = Field(default=10.0, gt=0, le=300)
    # "process": the workers run in a child process of `invoicebot serve`, so a backlog never slows
    # the HTTP edge; "inline": threads of the same process (tests, tiny deployments).
    worker_mode: Literal["process", "inline"] = "process"
    # For the benchmark's baseline only (bench/month_end.py): "single_fifo" puts every job in one
    # first-in, first-out line, one job per claim, as the queue was before lanes. Not for production.
    worker_lanes: Literal["lanes", "single_fifo"] = "lanes"

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        if _set_in_its_mode(value, info, needed_in=SlackMode.ENV, refused_in=SlackMode.OAUTH) and \
                not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if not _set_in_its_mode(value, info, refused_in=SlackMode.OAUTH):
            return None
        assert value is not None  # set, as just checked
        if not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token starting with xapp-")
        return value

    @field_validator("slack_signing_secret")
    @classmethod
    def _blank_signing_secret_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None
        return value

    @field_validator("stripe_api_key")
    @classmethod
    def _stripe_key_shape(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        if not _set_in_its_mode(value, info, needed_in=SlackMode.ENV, refused_in=SlackMode.OAUTH):
            return value
        key = value.get_secret_value()
        if key.startswith("pk_"):
            raise ValueError(
                "is a publishable key (pk_...); the bot needs a secret key sk_... or a restricted key rk_...")
        if not key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
            raise ValueError("must be a Stripe secret key sk_test_..., sk_live_... or a restricted key rk_...")
        return value

    @field_validator("stripe_webhook_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        if _set_in_its_mode(value, info, needed_in=SlackMode.ENV, refused_in=SlackMode.OAUTH) and \
                not value.get_secret_value().startswith("whsec_"):
            raise ValueError("must be a webhook signing secret starting with whsec_")
        return value

    @field_validator("slack_client_id")
    @classmethod
    def _client_id_shape(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if _set_in_its_mode(value, info, needed_in=SlackMode.OAUTH, refused_in=SlackMode.ENV) and \
                not _SLACK_CLIENT_ID.match(value):
            raise ValueError("must be the app's Client ID, digits like 1234567890.1234567890")
        return value

    @field_validator("slack_client_secret")
    @classmethod
    def _client_secret_for_mode(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        _set_in_its_mode(value, info, needed_in=SlackMode.OAUTH, refused_in=SlackMode.ENV)
        return value

    @field_validator("public_url")
    @classmethod
    def _public_url_shape(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if not _set_in_its_mode(value, info, needed_in=SlackMode.OAUTH):
            return value
        if not _is_public_base_url(value):
            raise ValueError("must be the https:// address Slack and browsers reach the bot at, like "
                             "https://invoicebot.example.com, without ?query or #fragment "
                             "(http:// only for localhost or 127.0.0.1)")
        return value.rstrip("/")

    @field_validator("encryption_keys")
    @classmethod
    def _encryption_keys_shape(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        if _set_in_its_mode(value, info, needed_in=SlackMode.OAUTH):
            parse_keys(value.get_secret_value())  # its ValueError says which key, never what it is
        return value

    @field_validator("support_contact")
    @classmethod
    def _support_contact_shape(cls, value: str) -> str:
        value = value.strip()
        if value and not (_EMAIL.match(value) or _is_web_page(value)):
            raise ValueError("must be an email address like help@example.com or an http(s):// page")
        return value

    @field_validator("slack_api_url", "stripe_api_base")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s):// URL")
        return value

    @field_validator("slack_response_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        for origin in (item.strip() for item in value.split(",") if item.strip()):
            if not _ORIGIN.match(origin):
                raise ValueError(f"{origin!r} is not an origin like https://hooks.slack.com")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("payments_channel")
    @classmethod
    def _channel_id_shape(cls, value: str, info: ValidationInfo) -> str:
        if _set_in_its_mode(value, info, needed_in=SlackMode.ENV) and not _CHANNEL_ID.match(value):
            raise ValueError("must be a channel ID like C0123456789, not a channel name")
        return value

    @field_validator("default_currency")
    @classmethod
    def _supported_currency(cls, value: str) -> str:
        from bot.money import is_supported

        if not is_supported(value):
            raise ValueError("must be a currency Stripe supports, as a 3-letter code like usd")
        return value.lower()

    @field_validator("invoice_creators", "invoice_admins", "invoice_viewers", "approvers")
    @classmethod
    def _id_list(cls, value: str) -> str:
        for item in _split_ids(value):
            if not _ID_LIST_ITEM.match(item):
                raise ValueError(f"{item!r} is not a Slack user ID (U...) or user group ID (S...)")
        return value

    @field_validator("approval_limits")
    @classmethod
    def _approval_limits(cls, value: str) -> str:
        parse_limits(value)  # its ValueError names the item and what is wrong with it
        return value

    @model_validator(mode="after")
    def _signing_secret_for_http_mode(self) -> Settings:
        if self.slack_app_token is None and self.slack_signing_secret is None:
            raise ValueError(
                "SLACK_SIGNING_SECRET is required in HTTP mode (without SLACK_APP_TOKEN); "
                f"get it at {WHERE_TO_GET['SLACK_SIGNING_SECRET']}"
            )
        return self

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None

    @property
    def encryption_master_keys(self) -> tuple[SecretStr, ...]:
        """ENCRYPTION_KEYS parsed for `bot.secrets.SecretBox`, newest first; empty when unset (env mode)."""
        if not self.encryption_keys.get_secret_value().strip():
            return ()
        return parse_keys(self.encryption_keys.get_secret_value())

    @property
    def creator_ids(self) -> frozenset[str]:
        return frozenset(_split_ids(self.invoice_creators))

    @property
    def admin_ids(self) -> frozenset[str]:
        return frozenset(_split_ids(self.invoice_admins))

    @property
    def viewer_ids(self) -> frozenset[str]:
        return frozenset(_split_ids(self.invoice_viewers))

    @property
    def approver_ids(self) -> frozenset[str]:
        return frozenset(_split_ids(self.approvers))

    @property
    def approval_limit_amounts(self) -> dict[str, int]:
        """APPROVAL_LIMITS per currency in minor units (checked when the settings were read)."""
        return parse_limits(self.approval_limits)

    @property
    def response_origins(self) -> frozenset[str]:
        return frozenset(origin.strip().rstrip("/").lower() for origin in self.slack_response_origins.split(",")
                         if origin.strip())


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes another `invoicebot` process read these same settings."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if hasattr(value, "get_secret_value"):
            value = value.get_secret_value()
        if value == "":
            # Unset. Exported empty, SLACK_CLIENT_ID and SLACK_CLIENT_SECRET would still switch Bolt to OAuth.
            continue
        env[name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def _split_ids(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


def _set_in_its_mode(value: SecretStr | str | None, info: ValidationInfo, *, needed_in: SlackMode | None = None,
                     refused_in: SlackMode | None = None) -> bool:
    """Whether a mode-dependent setting is set, after refusing it missing where needed or set where refused."""
    text = value.get_secret_value() if isinstance(value, SecretStr) else value
    is_set = bool(text and text.strip())
    mode = info.data.get("slack_mode")
    if mode is None:  # SLACK_MODE itself is malformed, and reported as such
        return is_set
    if mode is needed_in and not is_set:
        # Reported like a missing field (describe_problems adds where to get it), plus which mode needs it.
        note = "needed with SLACK_MODE=env, the default" if mode is SlackMode.ENV else f"needed with SLACK_MODE={mode}"
        raise PydanticCustomError("missing", "Field required: {needed_because}", {"needed_because": note})
    if mode is refused_in and is_set:
        assert info.field_name is not None  # always named in a field validator
        raise ValueError(f"must not be set with SLACK_MODE={mode}: {_UNSET_BECAUSE[info.field_name]}")
    return is_set


def _is_public_base_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 (raises ValueError for a port out of range or not a number)
    except ValueError:
        return False
    if parts.query or parts.fragment or parts.username or parts.password or not parts.hostname:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in _LOCAL_HOSTS)


def _is_web_page(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in value)


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Build Settings or raise ConfigError listing every problem, secrets never echoed."""
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as error:
        raise ConfigError(describe_problems(error)) from None


def load_database_settings(env_file: str | Path | None = ".env", **overrides: Any) -> DatabaseSettings:
    try:
        return DatabaseSettings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as error:
        raise ConfigError(describe_problems(error)) from None


def describe_problems(error: ValidationError) -> list[str]:
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        if not item["loc"]:
            problems.append(item["msg"].removeprefix("Value error, "))
            continue
        variable = str(item["loc"][0]).upper()
        if item["type"] == "missing":
            hint = WHERE_TO_GET.get(variable)
            needed_because = item.get("ctx", {}).get("needed_because")
            problems.append(f"{variable} is missing" + (f" ({needed_because})" if needed_because else "")
                            + (f": get it at {hint}" if hint else ""))
        else:
            problems.append(f"{variable} {item['msg'].removeprefix('Value error, ')}")
    return problems

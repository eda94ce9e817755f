"""Settings: every one an environment variable (a `.env` file works too).

A missing or malformed setting stops the bot with one line per problem that names the
variable, says what it should look like and where to get it. Secrets are `SecretStr`, so
they never appear in a repr, a log line or an error message.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

WHERE_TO_GET = {
    "SLACK_BOT_TOKEN": "Slack app settings > OAuth & Permissions > Bot User OAuth Token",
    "SLACK_SIGNING_SECRET": "Slack app settings > Basic Information > App Credentials > Signing Secret",
    "SLACK_APP_TOKEN": "Slack app settings > Basic Information > App-Level Tokens (scope connections:write)",
    "STRIPE_API_KEY": "Stripe Dashboard > Developers > API keys (secret or restricted key)",
    "STRIPE_WEBHOOK_SECRET": "Stripe Dashboard > Developers > Webhooks > your endpoint > Signing secret, "
    "or the output of `stripe listen`",
    "PAYMENTS_CHANNEL": "right-click the channel in Slack > View channel details > the ID at the bottom",
}

_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_ID_LIST_ITEM = re.compile(r"^[USW][A-Z0-9]{2,}$")
_ORIGIN = re.compile(r"^https?://[A-Za-z0-9.-]+(:\d{1,5})?/?$")


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
    slack_bot_token: SecretStr
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    stripe_api_key: SecretStr
    stripe_webhook_secret: SecretStr
    stripe_api_base: str = "https://api.stripe.com"
    payments_channel: str
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
    def _bot_token_shape(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token starting with xoxb-")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value():
            return None
        if value is not None and not value.get_secret_value().startswith("xapp-"):
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
    def _stripe_key_shape(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if key.startswith("pk_"):
            raise ValueError(
                "is a publishable key (pk_...); the bot needs a secret key sk_... or a restricted key rk_...")
        if not key.startswith(("sk_test_", "sk_live_", "rk_test_", "rk_live_")):
            raise ValueError("must be a Stripe secret key sk_test_..., sk_live_... or a restricted key rk_...")
        return value

    @field_validator("stripe_webhook_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value().startswith("whsec_"):
            raise ValueError("must be a webhook signing secret starting with whsec_")
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
    def _channel_id_shape(cls, value: str) -> str:
        if not _CHANNEL_ID.match(value):
            raise ValueError("must be a channel ID like C0123456789, not a channel name")
        return value

    @field_validator("default_currency")
    @classmethod
    def _supported_currency(cls, value: str) -> str:
        from bot.money import is_supported

        if not is_supported(value):
            raise ValueError("must be a currency Stripe supports, as a 3-letter code like usd")
        return value.lower()

    @field_validator("invoice_creators", "invoice_admins", "invoice_viewers")
    @classmethod
    def _id_list(cls, value: str) -> str:
        for item in _split_ids(value):
            if not _ID_LIST_ITEM.match(item):
                raise ValueError(f"{item!r} is not a Slack user ID (U...) or user group ID (S...)")
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
    def creator_ids(self) -> frozenset[str]:
        return frozenset(_split_ids(self.invoice_creators))

    @property
    def admin_ids(self) -> frozenset[str]:
        return frozenset(_split_ids(self.invoice_admins))

    @property
    def viewer_ids(self) -> frozenset[str]:
        return frozenset(_split_ids(self.invoice_viewers))

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
        env[name.upper()] = str(value).lower() if isinstance(value, bool) else str(value)
    return env


def _split_ids(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


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
            problems.append(f"{variable} is missing" + (f": get it at {hint}" if hint else ""))
        else:
            problems.append(f"{variable} {item['msg'].removeprefix('Value error, ')}")
    return problems

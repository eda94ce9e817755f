"""Settings: one clear line per missing or malformed variable, secrets never echoed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from bot.config import ENV_MODE_TENANT_ID, ConfigError, SlackMode, load_settings, settings_env

VALID = {
    "SLACK_BOT_TOKEN": "xoxb-1-2-secretbot",
    "SLACK_SIGNING_SECRET": "signing-secret-value",
    "STRIPE_API_KEY": "sk_test_supersecret",
    "STRIPE_WEBHOOK_SECRET": "whsec_supersecret",
    "PAYMENTS_CHANNEL": "C0123456789",
}


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith(("SLACK_", "STRIPE_", "DATABASE_", "PAYMENTS_", "DEFAULT_", "INVOICE_", "PUBLIC_URL",
                            "ENCRYPTION_KEYS")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_valid_settings_and_defaults(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in VALID.items():
        clean_env.setenv(name, value)
    settings = load_settings(None)
    assert settings.port == 3000 and settings.host == "0.0.0.0"
    assert settings.default_currency == "usd" and settings.default_days_until_due == 30
    assert settings.database_url == "sqlite:///invoicebot.db"
    assert settings.slack_api_url == "https://slack.com/api/"
    assert settings.stripe_api_base == "https://api.stripe.com"
    assert not settings.socket_mode
    assert "sk_test_supersecret" not in repr(settings)
    assert "xoxb-1-2-secretbot" not in str(settings.model_dump())


def test_every_missing_variable_is_named_with_where_to_get_it(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(None)
    problems = "\n".join(raised.value.problems)
    for name in ("SLACK_BOT_TOKEN", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "PAYMENTS_CHANNEL"):
        assert f"{name} is missing" in problems
    assert "OAuth & Permissions" in problems


def test_malformed_values_are_explained_without_echoing_secrets(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in VALID.items():
        clean_env.setenv(name, value)
    clean_env.setenv("STRIPE_API_KEY", "pk_test_publishablekey")
    clean_env.setenv("SLACK_BOT_TOKEN", "xoxp-user-token-secret")
    clean_env.setenv("PAYMENTS_CHANNEL", "#payments")
    clean_env.setenv("DEFAULT_CURRENCY", "xyz")
    clean_env.setenv("DEFAULT_DAYS_UNTIL_DUE", "400")
    with pytest.raises(ConfigError) as raised:
        load_settings(None)
    problems = raised.value.problems
    text = "\n".join(problems)
    assert any(p.startswith("STRIPE_API_KEY is a publishable key (pk_...)") for p in problems)
    assert any(p.startswith("SLACK_BOT_TOKEN must be a bot token") for p in problems)
    assert any(p.startswith("PAYMENTS_CHANNEL must be a channel ID") for p in problems)
    assert any(p.startswith("DEFAULT_CURRENCY") for p in problems)
    assert any(p.startswith("DEFAULT_DAYS_UNTIL_DUE") for p in problems)
    assert "pk_test_publishablekey" not in text and "xoxp-user-token-secret" not in text


def test_signing_secret_required_in_http_mode_only(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in VALID.items():
        clean_env.setenv(name, value)
    clean_env.delenv("SLACK_SIGNING_SECRET")
    with pytest.raises(ConfigError) as raised:
        load_settings(None)
    assert "SLACK_SIGNING_SECRET is required in HTTP mode" in raised.value.problems[0]
    clean_env.setenv("SLACK_APP_TOKEN", "xapp-1-socket")
    assert load_settings(None).socket_mode


def test_dotenv_file_is_honoured(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("\n".join(f"{k}={v}" for k, v in VALID.items()) + "\nPORT=4000\n")
    assert load_settings(env_file).port == 4000


def test_serve_without_settings_lists_what_is_missing_and_exits_nonzero(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "serve"], cwd=tmp_path, env={
        **env, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}, capture_output=True, text=True,
        timeout=60)
    assert result.returncode == 2
    assert "SLACK_BOT_TOKEN is missing" in result.stderr
    assert "STRIPE_WEBHOOK_SECRET is missing" in result.stderr
    assert "Traceback" not in result.stderr


def test_job_retention_defaults_to_a_week_and_is_at_least_a_day(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in VALID.items():
        clean_env.setenv(name, value)
    clean_env.delenv("JOB_RETENTION_DAYS", raising=False)
    assert load_settings(None).job_retention_days == 7
    clean_env.setenv("JOB_RETENTION_DAYS", "45")
    assert load_settings(None).job_retention_days == 45
    for malformed in ("0", "-3", "a week", "1.5"):
        clean_env.setenv("JOB_RETENTION_DAYS", malformed)
        with pytest.raises(ConfigError) as raised:
            load_settings(None)
        assert len(raised.value.problems) == 1 and raised.value.problems[0].startswith("JOB_RETENTION_DAYS "), \
            malformed


def test_serve_with_a_retention_under_a_day_names_it_and_exits_nonzero(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(Path(__file__).resolve().parent.parent),
           **VALID, "JOB_RETENTION_DAYS": "0"}
    result = subprocess.run([sys.executable, "-m", "bot.cli", "serve", "--env-file", "/dev/null"], cwd=tmp_path,
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "JOB_RETENTION_DAYS" in result.stderr and "greater than or equal to 1" in result.stderr
    assert "Traceback" not in result.stderr


FIRST_KEY, SECOND_KEY = Fernet.generate_key().decode(), Fernet.generate_key().decode()
VALID_OAUTH = {
    "SLACK_MODE": "oauth",
    "SLACK_CLIENT_ID": "1234567890.9876543210",
    "SLACK_CLIENT_SECRET": "client-secret-value",
    "SLACK_SIGNING_SECRET": "signing-secret-value",
    "PUBLIC_URL": "https://invoicebot.example.com/",
    "ENCRYPTION_KEYS": f"{FIRST_KEY},{SECOND_KEY}",
    "PAYMENTS_CHANNEL": "C0123456789",
}


def set_all(env: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name, value in values.items():
        env.setenv(name, value)


def problems_of(**overrides: str) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_settings(None, **overrides)
    return raised.value.problems


def test_env_mode_is_the_default_and_serves_one_tenant(clean_env: pytest.MonkeyPatch) -> None:
    set_all(clean_env, VALID)
    settings = load_settings(None)
    assert settings.slack_mode is SlackMode.ENV and ENV_MODE_TENANT_ID == "default"
    assert settings.encryption_master_keys == () and settings.slack_client_id == "" and settings.public_url == ""
    assert settings.slack_bot_token.get_secret_value() == "xoxb-1-2-secretbot"


def test_env_mode_names_its_missing_credentials_and_the_mode_that_needs_them(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("PAYMENTS_CHANNEL", "C0123456789")
    clean_env.setenv("SLACK_SIGNING_SECRET", "signing-secret-value")
    problems = problems_of()
    assert len(problems) == 3
    assert problems[0] == ("SLACK_BOT_TOKEN is missing (needed with SLACK_MODE=env, the default): get it at Slack app "
                           "settings > OAuth & Permissions > Bot User OAuth Token")
    assert not any("SLACK_CLIENT_ID" in problem or "ENCRYPTION_KEYS" in problem for problem in problems)


def test_oauth_mode_settings(clean_env: pytest.MonkeyPatch) -> None:
    set_all(clean_env, VALID_OAUTH)
    settings = load_settings(None)
    assert settings.slack_mode is SlackMode.OAUTH and not settings.socket_mode
    assert settings.public_url == "https://invoicebot.example.com"
    assert settings.slack_client_id == "1234567890.9876543210"
    assert settings.slack_client_secret.get_secret_value() == "client-secret-value"
    assert [key.get_secret_value() for key in settings.encryption_master_keys] == [FIRST_KEY, SECOND_KEY]
    assert settings.slack_bot_token.get_secret_value() == "" and settings.stripe_api_key.get_secret_value() == ""
    shown = repr(settings) + str(settings.model_dump())
    assert "client-secret-value" not in shown and FIRST_KEY not in shown


def test_oauth_mode_names_what_it_needs_and_where_to_get_it(clean_env: pytest.MonkeyPatch) -> None:
    set_all(clean_env, {"SLACK_MODE": "oauth", "SLACK_SIGNING_SECRET": "s", "PAYMENTS_CHANNEL": "C0123456789"})
    problems = problems_of()
    assert problems == [
        "SLACK_CLIENT_ID is missing (needed with SLACK_MODE=oauth): get it at Slack app settings > Basic "
        "Information > App Credentials > Client ID",
        "SLACK_CLIENT_SECRET is missing (needed with SLACK_MODE=oauth): get it at Slack app settings > Basic "
        "Information > App Credentials > Client Secret",
        "PUBLIC_URL is missing (needed with SLACK_MODE=oauth): get it at the https:// address Slack and browsers "
        "reach this bot at (your domain, or a tunnel's)",
        "ENCRYPTION_KEYS is missing (needed with SLACK_MODE=oauth): get it at the output of `python -c \"from "
        "cryptography.fernet import Fernet; print(Fernet.generate_key().decode())\"` (keep it safe: without it the "
        "stored workspace credentials cannot be read)",
    ]


def test_oauth_mode_refuses_the_single_workspace_credentials(clean_env: pytest.MonkeyPatch) -> None:
    set_all(clean_env, VALID_OAUTH)
    set_all(clean_env, {"SLACK_BOT_TOKEN": "xoxp-not-even-a-bot-token", "STRIPE_API_KEY": "sk_live_mixedsecret",
                        "STRIPE_WEBHOOK_SECRET": "whsec_mixedsecret", "SLACK_APP_TOKEN": "xapp-1-mixedsecret"})
    problems = problems_of()
    assert [problem.split(" ", 1)[0] for problem in problems] == [
        "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET"]
    for problem in problems:
        assert " must not be set with SLACK_MODE=oauth: " in problem
        assert "SLACK_MODE=oauth wants SLACK_CLIENT_ID" in problem and "SLACK_MODE=env (the default) wants" in problem
    assert "Socket Mode" in problems[1]
    assert "mixed" not in "\n".join(problems) and "xoxp" not in "\n".join(problems)
    clean_env.setenv("SLACK_BOT_TOKEN", "")  # blank is unset, as a commented-out line in .env
    assert len(problems_of()) == 3


def test_env_mode_refuses_oauth_client_credentials(clean_env: pytest.MonkeyPatch) -> None:
    set_all(clean_env, VALID)
    set_all(clean_env, {"SLACK_CLIENT_ID": "1234567890.9876543210", "SLACK_CLIENT_SECRET": "client-secret-value"})
    problems = problems_of()
    assert [problem.split(" ", 1)[0] for problem in problems] == ["SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET"]
    for problem in problems:
        assert " must not be set with SLACK_MODE=env: Bolt reads SLACK_CLIENT_ID and SLACK_CLIENT_SECRET" in problem
        assert "SLACK_MODE=oauth wants" in problem
    assert "client-secret-value" not in "\n".join(problems)


def test_a_malformed_mode_is_named_and_nothing_else_is_blamed(clean_env: pytest.MonkeyPatch) -> None:
    set_all(clean_env, VALID)
    clean_env.setenv("SLACK_MODE", "multi")
    problems = problems_of()
    assert len(problems) == 1 and problems[0].startswith("SLACK_MODE ") and "'oauth'" in problems[0]


@pytest.mark.parametrize(("given", "kept"), [
    ("https://invoicebot.example.com", "https://invoicebot.example.com"),
    ("https://invoicebot.example.com:8443/slack/", "https://invoicebot.example.com:8443/slack"),
    ("http://localhost:3000/", "http://localhost:3000"),
    ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
])
def test_public_url_is_https_or_local_http_without_a_trailing_slash(
        clean_env: pytest.MonkeyPatch, given: str, kept: str) -> None:
    set_all(clean_env, VALID_OAUTH)
    assert load_settings(None, public_url=given).public_url == kept


@pytest.mark.parametrize("malformed", [
    "http://invoicebot.example.com", "invoicebot.example.com", "ftp://invoicebot.example.com",
    "https://invoicebot.example.com/?next=1", "https://invoicebot.example.com/#top", "https://user:pw@example.com",
    "https://invoicebot.example.com:99999", "https://", "http://localhost.example.com",
])
def test_public_url_malformed(clean_env: pytest.MonkeyPatch, malformed: str) -> None:
    set_all(clean_env, VALID_OAUTH)
    problems = problems_of(public_url=malformed)
    assert len(problems) == 1 and problems[0].startswith("PUBLIC_URL must be the https:// address"), malformed


def test_slack_client_id_shape(clean_env: pytest.MonkeyPatch) -> None:
    set_all(clean_env, VALID_OAUTH)
    problems = problems_of(slack_client_id="my-app")
    assert problems == ["SLACK_CLIENT_ID must be the app's Client ID, digits like 1234567890.1234567890"]


def test_encryption_keys_say_which_key_is_malformed_without_echoing_any(clean_env: pytest.MonkeyPatch) -> None:
    set_all(clean_env, VALID_OAUTH)
    clean_env.setenv("ENCRYPTION_KEYS", f"{FIRST_KEY},hunter2-not-a-key")
    problems = problems_of()
    assert len(problems) == 1 and problems[0].startswith("ENCRYPTION_KEYS key 2 of 2 is not a Fernet key")
    assert "Fernet.generate_key()" in problems[0]
    assert "hunter2" not in problems[0] and FIRST_KEY not in problems[0]
    clean_env.setenv("ENCRYPTION_KEYS", f"{FIRST_KEY},{FIRST_KEY}")
    assert problems_of() == ["ENCRYPTION_KEYS key 2 of 2 repeats key 1: list each key once"]


def test_encryption_keys_are_optional_in_env_mode_but_checked_when_set(clean_env: pytest.MonkeyPatch) -> None:
    set_all(clean_env, VALID)
    clean_env.setenv("ENCRYPTION_KEYS", FIRST_KEY)
    assert [key.get_secret_value() for key in load_settings(None).encryption_master_keys] == [FIRST_KEY]
    clean_env.setenv("ENCRYPTION_KEYS", "nope")
    assert problems_of()[0].startswith("ENCRYPTION_KEYS key 1 of 1 is not a Fernet key")


@pytest.mark.parametrize("values", [VALID, VALID_OAUTH], ids=["env", "oauth"])
def test_a_child_process_environment_reads_back_the_same_settings(
        clean_env: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    set_all(clean_env, values)
    settings = load_settings(None)
    for name in values:
        clean_env.delenv(name)
    set_all(clean_env, settings_env(settings))
    assert load_settings(None) == settings

"""Settings: one clear line per missing or malformed variable, secrets never echoed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings

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
        if name.startswith(("SLACK_", "STRIPE_", "DATABASE_", "PAYMENTS_", "DEFAULT_", "INVOICE_")):
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

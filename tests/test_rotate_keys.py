"""`invoicebot rotate-keys`: with a new key first in ENCRYPTION_KEYS and the old one after it, every stored
token, key and signing secret is encrypted anew with the new key, so the old one can go; the bot then runs
on the new key alone. It prints counts, never a value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import SecretStr

from bot.secrets import SecretBox, SecretKind
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import ENCRYPTION_KEY, ROOT, RunningBot, oauth_bot_settings, wait_for
from tests.test_workspaces import create_invoice, join, texts

OLD_KEY = ENCRYPTION_KEY
NEW_KEY = Fernet.generate_key().decode()


def rotate_keys(database_url: str, keys: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "DATABASE_URL": database_url,
           "ENCRYPTION_KEYS": keys}
    return subprocess.run([sys.executable, "-m", "bot.cli", "rotate-keys", "--env-file", "/dev/null"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=60)


def test_rotate_keys_moves_every_secret_to_the_new_key_and_the_bot_runs_on_it(
        tmp_path: Path, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    settings = oauth_bot_settings(tmp_path / "rotate.db", fake_slack.api_url, fake_stripe.url)
    bot = RunningBot(settings).start()
    try:
        alpha = join(bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
        beta = join(bot, fake_slack, fake_stripe, "TBETA", "Beta")
    finally:
        bot.stop()
    secrets = [alpha.team.token, alpha.key, alpha.webhook_secret, beta.team.token, beta.key, beta.webhook_secret]

    # A key that opens nothing: refused, the values named by kind and tenant only, nothing changed.
    stranger = rotate_keys(settings.database_url, Fernet.generate_key().decode())
    assert stranger.returncode == 1, stranger.stderr
    assert "6 unreadable" in stranger.stdout and "stripe_api_key of tenant" in stranger.stderr

    rotated = rotate_keys(settings.database_url, f"{NEW_KEY},{OLD_KEY}")
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.startswith("6 secret(s) re-encrypted with the first key, 0 already were")
    for secret in [*secrets, OLD_KEY, NEW_KEY]:
        assert secret not in rotated.stdout + rotated.stderr
    again = rotate_keys(settings.database_url, f"{NEW_KEY},{OLD_KEY}")
    assert again.returncode == 0 and again.stdout.startswith("0 secret(s) re-encrypted with the first key, 6 already")

    # The new key alone opens every stored value.
    new_only = SecretBox([SecretStr(NEW_KEY)])
    bot = RunningBot(oauth_bot_settings(tmp_path / "rotate.db", fake_slack.api_url, fake_stripe.url,
                                        port=settings.port, encryption_keys=NEW_KEY)).start()
    try:
        sealed = bot.app.store.directory.sealed()
        assert len(sealed) == 6
        opened = {new_only.decrypt(tenant_id, SecretKind(kind), value) for _, _, kind, tenant_id, value in sealed}
        assert opened == set(secrets)
        # ...and the bot runs on it: Slack with the token, Stripe with the key, webhooks with the secret.
        invoice = create_invoice(bot, alpha, "42.00")
        fake_stripe.pay_invoice(invoice["id"])
        fake_stripe.flush_webhooks()
        bot.wait_idle()
        wait_for(lambda: "42.00" in texts(alpha.team, alpha.payments), 10, "the paid notice")
    finally:
        bot.stop()

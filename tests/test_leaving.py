"""A workspace leaves (SLACK_MODE=oauth): `app_uninstalled` and `tokens_revoked`, in either order and
repeated, erase its installation, its Stripe connection (our webhook endpoint deleted on its account when
its key still works) and its pending jobs; the other workspaces never notice, and a reinstall starts clean."""

from __future__ import annotations

import json
import logging
from typing import Any

import httpx
import pytest

from bot.domain.tenants import UNINSTALLED
from bot.jobs.payloads import RefreshCatalog
from bot.secrets import SecretKind
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import RunningBot, on_both_databases, wait_for
from tests.test_workspaces import Workspace, create_invoice, join, texts


def send_event(bot: RunningBot, space: Workspace, event: dict[str, Any]) -> httpx.Response:
    """The event as Slack posts it for that workspace, signed."""
    return bot.post_slack(json.dumps(space.team.event_envelope(event)), content_type="application/json")


def app_uninstalled() -> dict[str, Any]:
    return {"type": "app_uninstalled"}


def bot_token_revoked(space: Workspace) -> dict[str, Any]:
    return {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [space.team.bot_user_id]}}


def park_a_job(bot: RunningBot, space: Workspace) -> None:
    """Work the workspace still had to do when it left: due in an hour, so it is pending then (a periodic
    job, which `wait_idle` does not wait for before it is due)."""
    with bot.app.store.tenant(space.tenant_id).unit_of_work() as uow:
        uow.jobs.add(RefreshCatalog(), key="parked", delay=3600)
        uow.commit()


def parked(bot: RunningBot, space: Workspace) -> int:
    rows = bot.rows("SELECT count(*) AS n FROM jobs WHERE tenant_id = ? AND key = 'parked' AND status = 'pending'",
                    (space.tenant_id,))
    return int(rows[0]["n"])


def pending_jobs(bot: RunningBot, space: Workspace) -> int:
    rows = bot.rows("SELECT count(*) AS n FROM jobs WHERE tenant_id = ? AND status = 'pending'", (space.tenant_id,))
    return int(rows[0]["n"])


def assert_gone(bot: RunningBot, space: Workspace) -> None:
    directory = bot.app.store.directory
    tenant = directory.get(space.tenant_id)
    assert tenant is not None and tenant.status == UNINSTALLED
    assert directory.installation(space.tenant_id) is None
    assert directory.stripe(space.tenant_id) is None
    assert pending_jobs(bot, space) == 0
    # Nothing sealed is left of it (rotate-keys walks the same list).
    assert [row for row in directory.sealed() if row[3] == space.tenant_id] == []


def pay_and_hear(bot: RunningBot, space: Workspace, fake_stripe: FakeStripe, amount: str) -> None:
    invoice = create_invoice(bot, space, amount)
    fake_stripe.pay_invoice(invoice["id"])
    fake_stripe.flush_webhooks()
    bot.wait_idle()

    def paid() -> bool:
        known = bot.app.store.reads(space.tenant_id).invoices.get(invoice["id"])
        return known is not None and known.status == "paid"

    wait_for(paid, 10, "paid")
    wait_for(lambda: amount in texts(space.team, space.payments), 10, "the paid notice")


@on_both_databases
@pytest.mark.parametrize("first", ["app_uninstalled", "tokens_revoked"])
def test_leaving_erases_the_workspace_in_either_order_and_repeated_and_the_other_goes_on(
        oauth_bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe, first: str) -> None:
    alpha = join(oauth_bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
    beta = join(oauth_bot, fake_slack, fake_stripe, "TBETA", "Beta")
    park_a_job(oauth_bot, alpha)
    park_a_job(oauth_bot, beta)
    assert [endpoint["id"] for endpoint in alpha.account.objects("webhook_endpoint")] != []

    alpha.team.uninstall()  # Slack revokes its tokens, then tells us
    events = [app_uninstalled(), bot_token_revoked(alpha)]
    if first == "tokens_revoked":
        events.reverse()
    assert send_event(oauth_bot, alpha, events[0]).status_code == 200
    oauth_bot.wait_idle()
    assert_gone(oauth_bot, alpha)
    assert alpha.account.objects("webhook_endpoint") == []  # deleted with its own key
    # The other event, then both again (Slack redelivers): nothing more happens, every answer a 200.
    for event in [events[1], *events]:
        assert send_event(oauth_bot, alpha, event).status_code == 200
    oauth_bot.wait_idle()
    assert_gone(oauth_bot, alpha)
    leaves = oauth_bot.rows("SELECT count(*) AS n FROM jobs WHERE kind = 'leave_workspace'")
    assert leaves[0]["n"] == 1

    # A command from the workspace that left does nothing.
    before = len(fake_slack.calls)
    response = oauth_bot.slash("", trigger_id=alpha.team.new_trigger_id(), response_url=alpha.team.response_url(),
                               channel=alpha.sales, user=alpha.rep, team=alpha.team.team_id)
    assert response.status_code == 200 and response.text == ""
    assert fake_slack.calls[before:] == []

    # The other workspace kept everything, and still creates an invoice and hears it paid.
    directory = oauth_bot.app.store.directory
    assert directory.installation(beta.tenant_id) is not None and directory.stripe(beta.tenant_id) is not None
    assert parked(oauth_bot, beta) == 1
    assert len(beta.account.objects("webhook_endpoint")) == 1
    pay_and_hear(oauth_bot, beta, fake_stripe, "200.00")


def test_a_revoked_stripe_key_does_not_keep_the_secrets(oauth_bot: RunningBot, fake_slack: FakeSlack,
                                                        fake_stripe: FakeStripe,
                                                        caplog: pytest.LogCaptureFixture) -> None:
    alpha = join(oauth_bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
    alpha.account.revoke(alpha.key)  # the workspace revoked our key as it left
    alpha.team.uninstall()
    with caplog.at_level(logging.WARNING, logger="bot.services.leaving"):
        assert send_event(oauth_bot, alpha, app_uninstalled()).status_code == 200
        oauth_bot.wait_idle()
    assert_gone(oauth_bot, alpha)
    assert len(alpha.account.objects("webhook_endpoint")) == 1  # could not be deleted: left behind, logged
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "was not deleted" in logged and alpha.key not in logged
    # It is refused at our door: its workspace, and its signing secret, are gone.
    event = json.dumps({"id": "evt_late", "type": "invoice.paid", "created": 1, "data": {"object": {
        "id": "in_late", "object": "invoice", "status": "paid", "currency": "usd", "total": 1}}})
    late = oauth_bot.http.post(f"/stripe/webhook/{alpha.public_id}", content=event.encode(),
                               headers={"Content-Type": "application/json"})
    assert late.status_code in (400, 404)


def test_only_user_tokens_revoked_changes_nothing(oauth_bot: RunningBot, fake_slack: FakeSlack,
                                                  fake_stripe: FakeStripe) -> None:
    alpha = join(oauth_bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
    event = {"type": "tokens_revoked", "tokens": {"oauth": [alpha.rep]}}
    assert send_event(oauth_bot, alpha, event).status_code == 200
    oauth_bot.wait_idle()
    directory = oauth_bot.app.store.directory
    assert directory.installation(alpha.tenant_id) is not None and directory.stripe(alpha.tenant_id) is not None
    assert oauth_bot.rows("SELECT count(*) AS n FROM jobs WHERE kind = 'leave_workspace'")[0]["n"] == 0


def test_a_reinstall_starts_clean(oauth_bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    alpha = join(oauth_bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
    alpha.team.uninstall()
    assert send_event(oauth_bot, alpha, app_uninstalled()).status_code == 200
    oauth_bot.wait_idle()
    assert_gone(oauth_bot, alpha)

    token = alpha.team.install()  # a new bot token, as Slack mints on a reinstall
    box = oauth_bot.app.secret_box
    assert box is not None
    directory = oauth_bot.app.store.directory
    tenant = directory.save_installation(
        team_id=alpha.team.team_id, enterprise_id=None, team_name="Alpha", app_id=alpha.team.app_id,
        bot_user_id=alpha.team.bot_user_id, bot_id=alpha.team.bot_id, bot_scopes="chat:write,commands",
        installer_user_id="UALPHAADMIN",
        seal_token=lambda tenant_id: box.encrypt(tenant_id, SecretKind.SLACK_BOT_TOKEN, token))
    assert tenant.id == alpha.tenant_id and tenant.active  # the same tenant: its invoices are still its own
    assert directory.stripe(tenant.id) is None  # no Stripe account until an admin connects one again
    assert oauth_bot.app.workspaces.get(tenant.id).stripe.connected is False
    # Slack works again with the new token: the form opens.
    before = len(alpha.team.calls_to("views.open"))
    oauth_bot.slash("", trigger_id=alpha.team.new_trigger_id(), response_url=alpha.team.response_url(),
                    channel=alpha.sales, user=alpha.rep, team=alpha.team.team_id)
    wait_for(lambda: len(alpha.team.calls_to("views.open")) > before, 5, "the form")
    assert alpha.team.calls_to("views.open")[-1].ok


def test_with_slack_mode_env_an_uninstall_erases_nothing(bot: RunningBot, fake_slack: FakeSlack) -> None:
    """The token and key are the environment's: nothing of ours to erase, and the operator is told in the log."""
    body = json.dumps(fake_slack.team().event_envelope(app_uninstalled()))
    assert bot.post_slack(body, content_type="application/json").status_code == 200
    bot.wait_idle()
    tenant = bot.app.store.directory.get("default")
    assert tenant is not None and tenant.active

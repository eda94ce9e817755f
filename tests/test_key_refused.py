"""A workspace's Stripe key refused (revoked or rolled in its Dashboard): its Stripe work pauses,
its admins hear it once, nothing fails for good, and the work goes on once an admin reconnects.
Other workspaces never notice."""

from __future__ import annotations

import time

from bot.domain.tenants import StripeConnection
from bot.secrets import SecretKind
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import RunningBot, wait_for
from tests.test_workspaces import PERMISSIONS, Workspace, join


def submit_form(bot: RunningBot, space: Workspace, amount: str) -> None:
    team = space.team
    before = len(team.calls_to("views.open"))
    bot.slash("", trigger_id=team.new_trigger_id(), response_url=team.response_url(), channel=space.sales,
              user=space.rep, team=team.team_id)
    wait_for(lambda: len(team.calls_to("views.open")) > before, 5, "views.open")
    call = team.calls_to("views.open")[-1]
    view = {**call.args["view"], "id": call.result["view"]["id"]}
    submitted = bot.submit(view, {"customer_name": "Jenny Rosen", "customer_email": "jenny@example.com",
                                  "currency": "usd", "line_1_description": "Services", "line_1_unit_amount": amount,
                                  "delivery": "send"}, user=space.rep, team=team.team_id)
    assert submitted.status_code == 200


def admin_dms(space: object, admin: str) -> list[str]:
    team = space.team  # type: ignore[attr-defined]
    return [message.text for message in team.messages(team.dm_channel(admin))]


def test_a_refused_key_pauses_the_workspace_tells_its_admins_once_and_resumes_on_reconnect(
        oauth_bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    alpha = join(oauth_bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
    beta = join(oauth_bot, fake_slack, fake_stripe, "TBETA", "Beta")
    alpha.account.revoke(alpha.key)
    admin = "UALPHAADMIN"
    submit_form(oauth_bot, alpha, "10.00")
    wait_for(lambda: oauth_bot.app.store.directory.stripe(alpha.tenant_id).paused_at is not None,  # type: ignore[union-attr]
             10, "the connection paused")
    wait_for(lambda: admin_dms(alpha, admin), 10, "the admins told")
    assert "connect Stripe again" in admin_dms(alpha, admin)[0]
    # Waiting, not failed: the job is pending, its attempts untouched.
    rows = oauth_bot.rows("SELECT status, attempts FROM jobs WHERE tenant_id = ? AND kind = 'create_invoice'",
                          (alpha.tenant_id,))
    assert rows == [{"status": "pending", "attempts": 0}]
    # The other workspace goes on as ever.
    submit_form(oauth_bot, beta, "20.00")
    wait_for(lambda: [i for i in beta.account.objects("invoice") if i["status"] == "open"], 10, "beta's invoice")
    assert beta.account.objects("invoice")[0]["total"] == 2000

    # A second refusal tells nobody again.
    oauth_bot.execute("UPDATE jobs SET run_after = 0 WHERE tenant_id = ? AND status = 'pending' "
                      "AND kind = 'create_invoice'", (alpha.tenant_id,))
    time.sleep(1.0)
    assert len(admin_dms(alpha, admin)) == 1

    # An admin reconnects with a new key: the waiting invoice is created, once.
    box = oauth_bot.app.secret_box
    assert box is not None
    new_key = alpha.account.restricted_key(PERMISSIONS)
    old = oauth_bot.app.store.directory.stripe(alpha.tenant_id)
    assert old is not None
    oauth_bot.app.store.directory.save_stripe(StripeConnection(
        alpha.tenant_id, old.account_id, old.account_name, False,
        box.encrypt(alpha.tenant_id, SecretKind.STRIPE_API_KEY, new_key), old.webhook_endpoint_id,
        old.webhook_secret, admin, time.time()))
    oauth_bot.app.workspaces.forget(alpha.tenant_id)
    oauth_bot.execute("UPDATE jobs SET run_after = 0 WHERE tenant_id = ? AND status = 'pending'", (alpha.tenant_id,))
    oauth_bot.wait_idle()
    assert [invoice["total"] for invoice in alpha.account.objects("invoice")] == [1000]

"""Issue 11's whole story over HTTP, through the flows people use: two workspaces install the app with
Slack OAuth, each admin connects the workspace's own Stripe account from App Home, each creates an
invoice and is paid; every message lands in its own workspace, every Stripe call uses its own key,
every event is verified with its own secret. Then one workspace leaves and the other goes on."""

from __future__ import annotations

import json
from pathlib import Path

from bot.domain.tenants import TenantSettings
from bot.oauth import REDIRECT_PATH
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import (
    CLIENT_ID,
    CLIENT_SECRET,
    BotProcess,
    RunningBot,
    oauth_bot_settings,
    on_both_databases,
    query_database,
    wait_for,
)
from tests.test_connect_stripe import Space, connect
from tests.test_install import heading, install_by_hand
from tests.test_workspaces import Workspace, create_invoice, texts


def install_and_connect(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe, team_id: str,
                        name: str) -> Workspace:
    code = team_id[1:]
    admin, rep, sales, payments = f"U{code}ADMIN", f"U{code}REP", f"C{code}SALES", f"C{code}PAY"
    team = fake_slack.add_team(team_id, name, users=[{"id": admin, "is_admin": True}, rep],
                               channels=[sales, payments])
    page = install_by_hand(bot, fake_slack, team)
    assert page.status_code == 200 and name in heading(page.text), page.text
    tenant = bot.app.store.directory.by_team(team_id)
    assert tenant is not None and team.token is not None
    bot.app.store.directory.save_settings(tenant.id, TenantSettings(payments_channel=payments))
    bot.app.workspaces.forget(tenant.id)
    account = fake_stripe.add_account(f"{name} Ltd")
    key = connect(bot, Space(team, account, tenant.id, tenant.public_id, admin, rep))
    connection = bot.app.store.directory.stripe(tenant.id)
    assert connection is not None and connection.account_id == account.id
    return Workspace(team, account, key, tenant.id, tenant.public_id, "", sales, payments, rep)


@on_both_databases
def test_two_workspaces_install_connect_invoice_get_paid_and_one_leaves(
        oauth_bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    alpha = install_and_connect(oauth_bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
    beta = install_and_connect(oauth_bot, fake_slack, fake_stripe, "TBETA", "Beta")
    assert alpha.public_id != beta.public_id

    alpha_invoice = create_invoice(oauth_bot, alpha, "100.00")
    beta_invoice = create_invoice(oauth_bot, beta, "200.00")
    # Every Stripe request of a workspace's work was made on its own account (its own key).
    invoice_calls = [request for request in fake_stripe.requests if request.path.startswith("/v1/invoices")]
    assert {request.account for request in invoice_calls} == {alpha.account.id, beta.account.id}
    assert alpha_invoice["id"] not in json.dumps(beta.account.objects("invoice"))
    wait_for(lambda: alpha.team.messages(alpha.sales) and beta.team.messages(beta.sales), 5, "invoice messages")
    assert "100.00" in texts(alpha.team, alpha.sales) and "200.00" not in texts(alpha.team, alpha.sales)
    assert "200.00" in texts(beta.team, beta.sales) and "100.00" not in texts(beta.team, beta.sales)

    # Paid: each account's event reaches its own endpoint (made by the connect flow), verified there.
    fake_stripe.pay_invoice(alpha_invoice["id"])
    fake_stripe.pay_invoice(beta_invoice["id"])
    fake_stripe.flush_webhooks()
    wait_for(lambda: alpha.team.messages(alpha.payments) and beta.team.messages(beta.payments), 10, "paid notices")
    assert "100.00" in texts(alpha.team, alpha.payments) and "200.00" not in texts(alpha.team, alpha.payments)
    assert "200.00" in texts(beta.team, beta.payments) and "100.00" not in texts(beta.team, beta.payments)

    # Alpha removes the app: Slack revokes its token and sends both events.
    alpha.team.uninstall()
    for event in ({"type": "app_uninstalled"},
                  {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": [alpha.team.bot_user_id]}}):
        sent = oauth_bot.post_slack(json.dumps(alpha.team.event_envelope(event)), content_type="application/json")
        assert sent.status_code == 200
    oauth_bot.wait_idle()
    directory = oauth_bot.app.store.directory
    assert directory.installation(alpha.tenant_id) is None and directory.stripe(alpha.tenant_id) is None
    assert alpha.account.objects("webhook_endpoint") == []  # our endpoint on its account went too

    # Beta goes on as ever.
    second = create_invoice_again(oauth_bot, beta, "300.00")
    fake_stripe.pay_invoice(second)
    fake_stripe.flush_webhooks()
    wait_for(lambda: "300.00" in texts(beta.team, beta.payments), 10, "beta's second payment heard")


def create_invoice_again(bot: RunningBot, space: Workspace, amount: str) -> str:
    known = {invoice["id"] for invoice in space.account.objects("invoice")}
    team = space.team
    before = len(team.calls_to("views.open"))
    bot.slash("", trigger_id=team.new_trigger_id(), response_url=team.response_url(), channel=space.sales,
              user=space.rep, team=team.team_id)
    wait_for(lambda: len(team.calls_to("views.open")) > before, 5, "views.open")
    call = team.calls_to("views.open")[-1]
    view = {**call.args["view"], "id": call.result["view"]["id"]}
    bot.submit(view, {"customer_name": "Jenny Rosen", "customer_email": "jenny@example.com", "currency": "usd",
                      "line_1_description": "Services", "line_1_unit_amount": amount, "delivery": "send"},
               user=space.rep, team=team.team_id)
    bot.wait_idle()
    created = [invoice["id"] for invoice in space.account.objects("invoice") if invoice["id"] not in known]
    assert len(created) == 1
    return str(created[0])


def test_an_oauth_bot_as_its_own_process_runs_each_workspaces_jobs_in_its_worker_process(
        tmp_path: Path, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    """`invoicebot serve` with SLACK_MODE=oauth and WORKER_MODE=process: the worker child finds each
    workspace in the directory too (its token and key sealed there), not only the serving process."""
    settings = oauth_bot_settings(tmp_path / "process.db", fake_slack.api_url, fake_stripe.url)
    fake_slack.configure_oauth(CLIENT_ID, CLIENT_SECRET, redirect_uri=settings.public_url + REDIRECT_PATH)
    bot = BotProcess(settings).start()
    try:
        team = fake_slack.add_team("TPROC", "Proc", users=[{"id": "UPROCADMIN", "is_admin": True}, "UPROCREP"],
                                   channels=["CPROCSALES"])
        assert install_by_hand(bot, fake_slack, team).status_code == 200  # type: ignore[arg-type]
        tenant = query_database(settings.database_url, "SELECT id, public_id FROM tenants WHERE team_id = ?",
                                ("TPROC",))[0]
        account = fake_stripe.add_account("Proc Ltd")
        connect(bot, Space(team, account, tenant["id"], tenant["public_id"], "UPROCADMIN", "UPROCREP"))  # type: ignore[arg-type]
        space = Workspace(team, account, "", tenant["id"], tenant["public_id"], "", "CPROCSALES", "", "UPROCREP")
        invoice_id = create_invoice_again(bot, space, "42.00")  # type: ignore[arg-type]
        fake_stripe.pay_invoice(invoice_id)
        fake_stripe.flush_webhooks()
        wait_for(lambda: query_database(settings.database_url, "SELECT status FROM invoices WHERE tenant_id = ? "
                                        "AND stripe_id = ?", (tenant["id"], invoice_id)) == [{"status": "paid"}],
                 15, "the payment decided for that workspace")
    finally:
        bot.stop()

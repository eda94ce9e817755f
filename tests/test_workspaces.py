"""Any workspace (SLACK_MODE=oauth): two workspaces, each with its own Slack token and its own Stripe
account, use one bot over HTTP; nothing of one ever reaches the other. The install and connect
flows have tests of their own; here both workspaces are set up in the directory as those flows
leave them (tokens and keys sealed), so this file is about what happens after."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import stripe

from bot.domain.tenants import StripeConnection, TenantSettings
from bot.secrets import SecretKind
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import RunningBot, on_both_databases, stripe_signature, wait_for

# What invoicebot's restricted key needs (the connect page lists the same).
PERMISSIONS = ["rak_customer_write", "rak_product_write", "rak_plan_write", "rak_invoice_write",
               "rak_payment_intent_read", "rak_event_read", "rak_webhook_write"]


@dataclass
class Workspace:
    team: Any  # the fake Slack's team handle
    account: Any  # the fake Stripe's account
    key: str
    tenant_id: str
    public_id: str
    webhook_secret: str
    sales: str
    payments: str
    rep: str



def join(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe, team_id: str, name: str) -> Workspace:
    """A workspace as install + connect leave it: its installation and Stripe connection, sealed."""
    code = team_id[1:]
    sales, payments, rep, admin = f"C{code}SALES", f"C{code}PAY", f"U{code}REP", f"U{code}ADMIN"
    team = fake_slack.add_team(team_id, name, users=[rep, {"id": admin, "is_admin": True}],
                               channels=[sales, payments], token=f"xoxb-{code.lower()}-token")
    account = fake_stripe.add_account(f"{name} Ltd")
    key = account.restricted_key(PERMISSIONS)
    box = bot.app.secret_box
    assert box is not None
    directory = bot.app.store.directory
    tenant = directory.save_installation(
        team_id=team_id, enterprise_id=None, team_name=name, app_id=team.app_id, bot_user_id=team.bot_user_id,
        bot_id=team.bot_id, bot_scopes="chat:write,commands", installer_user_id=admin,
        seal_token=lambda tenant_id: box.encrypt(tenant_id, SecretKind.SLACK_BOT_TOKEN, team.token))
    endpoint = stripe.StripeClient(key, base_addresses={"api": fake_stripe.url}).v1.webhook_endpoints.create(
        params={"url": f"{bot.url}/stripe/webhook/{tenant.public_id}", "enabled_events": ["*"]})
    directory.save_stripe(StripeConnection(
        tenant.id, account.id, account.name, False, box.encrypt(tenant.id, SecretKind.STRIPE_API_KEY, key),
        endpoint.id, box.encrypt(tenant.id, SecretKind.STRIPE_WEBHOOK_SECRET, endpoint.secret), admin, time.time()))
    directory.save_settings(tenant.id, TenantSettings(payments_channel=payments))
    return Workspace(team, account, key, tenant.id, tenant.public_id, endpoint.secret, sales, payments, rep)


def create_invoice(bot: RunningBot, space: Workspace, amount: str) -> dict[str, Any]:
    team = space.team
    before = len(team.calls_to("views.open"))
    response = bot.slash("", trigger_id=team.new_trigger_id(), response_url=team.response_url(),
                         channel=space.sales, user=space.rep, team=team.team_id)
    assert response.status_code == 200, response.text
    wait_for(lambda: len(team.calls_to("views.open")) > before, 5, "views.open")
    call = team.calls_to("views.open")[-1]
    assert call.ok, call.error
    view = {**call.args["view"], "id": call.result["view"]["id"]}
    submitted = bot.submit(view, {"customer_name": "Jenny Rosen", "customer_email": "jenny@example.com",
                                  "currency": "usd", "line_1_description": "Services", "line_1_unit_amount": amount,
                                  "delivery": "send"}, user=space.rep, team=team.team_id)
    assert submitted.status_code == 200 and submitted.json().get("response_action") == "update", submitted.text
    bot.wait_idle()
    invoices = space.account.objects("invoice")
    assert len(invoices) == 1
    return dict(invoices[0])


def texts(team: Any, channel: str) -> str:
    return json.dumps([message.text for message in team.messages(channel)] +
                      [message.blocks for message in team.messages(channel)])


@on_both_databases
def test_two_workspaces_each_with_its_own_stripe_never_cross(oauth_bot: RunningBot, fake_slack: FakeSlack,
                                                             fake_stripe: FakeStripe) -> None:
    alpha = join(oauth_bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
    beta = join(oauth_bot, fake_slack, fake_stripe, "TBETA", "Beta")
    alpha_invoice = create_invoice(oauth_bot, alpha, "100.00")
    beta_invoice = create_invoice(oauth_bot, beta, "200.00")
    # Each invoice went to its own account, through its own key, and is known to its own tenant only.
    assert alpha_invoice["total"] == 10000 and beta_invoice["total"] == 20000
    assert oauth_bot.app.store.reads(alpha.tenant_id).invoices.get(beta_invoice["id"]) is None
    assert oauth_bot.app.store.reads(beta.tenant_id).invoices.get(alpha_invoice["id"]) is None
    # Each message landed in its own workspace's channel, posted with its own token.
    wait_for(lambda: alpha.team.messages(alpha.sales) and beta.team.messages(beta.sales), 5, "invoice messages")
    assert "100.00" in texts(alpha.team, alpha.sales) and "200.00" not in texts(alpha.team, alpha.sales)
    assert "200.00" in texts(beta.team, beta.sales) and "100.00" not in texts(beta.team, beta.sales)
    assert {call.team_id for call in fake_slack.calls if call.method == "chat.postMessage"} <= {"TALPHA", "TBETA"}

    # Paid: each account's event reaches its own endpoint, verified with its own secret.
    fake_stripe.pay_invoice(alpha_invoice["id"])
    fake_stripe.pay_invoice(beta_invoice["id"])
    fake_stripe.flush_webhooks()
    oauth_bot.wait_idle()
    wait_for(lambda: (oauth_bot.app.store.reads(alpha.tenant_id).invoices.get(alpha_invoice["id"]) or
                      alpha_invoice).status == "paid", 10, "alpha paid")  # type: ignore[union-attr]
    wait_for(lambda: (oauth_bot.app.store.reads(beta.tenant_id).invoices.get(beta_invoice["id"]) or
                      beta_invoice).status == "paid", 10, "beta paid")  # type: ignore[union-attr]
    wait_for(lambda: alpha.team.messages(alpha.payments) and beta.team.messages(beta.payments), 10, "paid notices")
    assert "100.00" in texts(alpha.team, alpha.payments) and "200.00" not in texts(alpha.team, alpha.payments)
    assert "200.00" in texts(beta.team, beta.payments) and "100.00" not in texts(beta.team, beta.payments)


@on_both_databases
def test_an_event_signed_for_one_workspace_is_refused_at_the_others_address(
        oauth_bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    alpha = join(oauth_bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
    beta = join(oauth_bot, fake_slack, fake_stripe, "TBETA", "Beta")
    event = json.dumps({"id": "evt_cross", "type": "invoice.paid", "created": 1, "data": {"object": {
        "id": "in_cross", "object": "invoice", "status": "paid", "currency": "usd", "total": 1}}})
    at_beta = oauth_bot.http.post(f"/stripe/webhook/{beta.public_id}", content=event.encode(), headers={
        "Content-Type": "application/json", "Stripe-Signature": stripe_signature(alpha.webhook_secret, event)})
    assert at_beta.status_code == 400 and "signature" in at_beta.json()["error"]
    assert oauth_bot.app.store.reads(beta.tenant_id).events.get("evt_cross") is None
    nowhere = oauth_bot.http.post("/stripe/webhook/not-a-workspace", content=event.encode(), headers={
        "Content-Type": "application/json", "Stripe-Signature": stripe_signature(alpha.webhook_secret, event)})
    assert nowhere.status_code == 404
    # The shared address of a one-workspace deployment does not exist here.
    assert oauth_bot.http.post("/stripe/webhook", content=event.encode()).status_code == 404
    at_alpha = oauth_bot.http.post(f"/stripe/webhook/{alpha.public_id}", content=event.encode(), headers={
        "Content-Type": "application/json", "Stripe-Signature": stripe_signature(alpha.webhook_secret, event)})
    assert at_alpha.status_code == 200
    assert oauth_bot.app.store.reads(alpha.tenant_id).events.get("evt_cross") is not None


def test_a_request_from_a_workspace_without_the_app_does_nothing(oauth_bot: RunningBot, fake_slack: FakeSlack,
                                                                 fake_stripe: FakeStripe) -> None:
    join(oauth_bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
    response = oauth_bot.slash("", trigger_id="1.2.3", response_url=fake_slack.response_url(), team="TNOBODY")
    assert response.status_code in (200, 401)
    assert fake_slack.calls_to("views.open") == []
    assert oauth_bot.app.store.queue.stats().counts.get("pending", 0) == 0


def test_sealed_values_in_the_database_are_never_clear_text(oauth_bot: RunningBot, fake_slack: FakeSlack,
                                                            fake_stripe: FakeStripe) -> None:
    alpha = join(oauth_bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
    dump = json.dumps([oauth_bot.rows(f"SELECT * FROM {table}")
                       for table in ("tenants", "installations", "stripe_connections")], default=str)
    for secret in (alpha.team.token, alpha.key, alpha.webhook_secret):
        assert secret not in dump
    for prefix in ("xoxb-", "rk_", "whsec_"):
        assert prefix not in dump



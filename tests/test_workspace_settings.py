"""`/invoice settings`, over HTTP: admins set their workspace's payments channel, admins, creators and
finance viewers in a modal; everyone else is refused. With SLACK_MODE=env the environment's values are
only the defaults of tenant `default`: what was saved wins, a restart included, and an emptied list falls
back to them. In OAuth mode each workspace sets its own, and never another's."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import pytest

from bot.access import NOT_A_CREATOR
from bot.domain.tenants import DEFAULT_TENANT, TenantSettings
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import TEAM_ID, RunningBot, create_invoice, on_both_databases, wait_for
from tests.test_workspaces import join


@dataclass(frozen=True)
class Answer:
    text: str = ""  # what the person was told
    view: dict[str, Any] | None = None  # the form that opened


def ask(bot: RunningBot, team: Any, user: str, text: str = "settings", team_id: str = TEAM_ID) -> Answer:
    """`/invoice <text>` by `user`: the ephemeral answer, or the form it opened."""
    url, trigger = team.response_url(f"settings-{uuid.uuid4().hex[:8]}"), team.new_trigger_id()
    response = bot.slash(text, trigger_id=trigger, response_url=url, user=user, channel="CSALES", team=team_id)
    assert response.status_code == 200, response.text
    if response.content and response.json().get("text"):
        return Answer(text=response.json()["text"])
    found = wait_for(lambda: [r for r in team.responses if r.url == url]
                     or [c for c in team.calls_to("views.open") if c.args.get("trigger_id") == trigger],
                     10, f"an answer to /invoice {text}")[0]
    if isinstance(found, dict):
        return Answer(text=found.get("text", ""))
    assert found.ok, found.error
    return Answer(view={**found.args["view"], "id": found.result["view"]["id"]})


def submit(bot: RunningBot, view: dict[str, Any], user: str, *, channel: Any, admins: Any = (), creators: Any = (),
           viewers: Any = (), team_id: str = TEAM_ID) -> dict[str, Any]:
    """The settings modal submitted as Slack sends it: the menus' selections in `view.state.values`."""
    def users(block_id: str, picked: Any) -> dict[str, Any]:
        return {block_id: {"type": "multi_users_select",
                           "selected_users": list(picked) if isinstance(picked, tuple | list) else picked}}

    state = {"payments_channel": {"payments_channel": {"type": "conversations_select",
                                                       "selected_conversation": channel}},
             "admins": users("admins", admins), "creators": users("creators", creators),
             "viewers": users("viewers", viewers)}
    response = bot.interactive({
        "type": "view_submission", "team": {"id": team_id, "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": team_id}, "api_app_id": "A123",
        "trigger_id": f"{uuid.uuid4().int % 10**12}.1.x", "view": {**view, "state": {"values": state}},
    })
    assert response.status_code == 200, response.text
    return dict(response.json()) if response.content else {}


def initial(view: dict[str, Any]) -> dict[str, Any]:
    """What the form shows before anyone touches it, by block id."""
    shown: dict[str, Any] = {}
    for block in view["blocks"]:
        element = block.get("element") or {}
        if element.get("type") == "conversations_select":
            shown[block["block_id"]] = element.get("initial_conversation")
        elif element.get("type") == "multi_users_select":
            shown[block["block_id"]] = element.get("initial_users", [])
    return shown


def outcome(team: Any, view_id: str) -> str:
    """What the job put in the modal after the submit."""
    updates = wait_for(lambda: [c for c in team.calls_to("views.update") if c.args.get("view_id") == view_id
                                and "Saving" not in json.dumps(c.args["view"])], 10, "the outcome in the modal")
    return json.dumps(updates[-1].args["view"])


# --- SLACK_MODE=env -------------------------------------------------------------------------------------
@pytest.fixture
def env_bot(make_bot: Any, fake_slack: FakeSlack) -> RunningBot:
    for user in ("UREP", "UOLD", "UBOSS", "UNEW", "UFIN", "UNOBODY"):
        fake_slack.add_user(user)
    fake_slack.add_user("UADMIN", is_admin=False)
    fake_slack.add_user("UGROUPIE")
    fake_slack.add_usergroup("SFINANCE", ["UGROUPIE"])
    bot: RunningBot = make_bot(invoice_admins="UADMIN", invoice_creators="UREP,UOLD", invoice_viewers="SFINANCE")
    return bot


@on_both_databases
def test_an_admin_sets_the_workspace_and_the_environment_is_only_the_default(
        env_bot: RunningBot, make_bot: Any, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    bot = env_bot
    # Not an admin: a clear refusal, no form.
    refused = ask(bot, fake_slack, "UREP")
    assert refused.view is None and "Only invoicing admins can change this workspace's settings" in refused.text

    # The form shows what applies now: the environment's values.
    view = ask(bot, fake_slack, "UADMIN").view
    assert view is not None and view["callback_id"] == "workspace_settings"
    assert initial(view) == {"payments_channel": "CPAYMENTS", "admins": ["UADMIN"], "creators": ["UOLD", "UREP"],
                             "viewers": []}
    assert "<!subteam^SFINANCE>" in json.dumps(view)  # a group the users menu can't show is named, and kept

    # Wrong input lands on the field to fix, and nothing is saved.
    errors = submit(bot, view, "UADMIN", channel=None, admins=["UADMIN", "not a user"])
    assert errors["response_action"] == "errors"
    assert set(errors["errors"]) == {"payments_channel", "admins"}
    assert submit(bot, view, "UADMIN", channel="D0123456")["errors"].keys() == {"payments_channel"}  # a DM
    assert bot.app.store.directory.get(DEFAULT_TENANT).settings == TenantSettings()  # type: ignore[union-attr]

    # Saved: it says what now applies, and it applies at once.
    answer = submit(bot, view, "UADMIN", channel="CNEWPAY", admins=["UADMIN", "UBOSS"], creators=["UNEW"],
                    viewers=["UFIN"])
    assert answer["response_action"] == "update"
    bot.wait_idle()
    shown = outcome(fake_slack, view["id"])
    assert "Settings saved" in shown and "<#CNEWPAY>" in shown and "<@UBOSS>" in shown
    saved = bot.app.store.directory.get(DEFAULT_TENANT).settings  # type: ignore[union-attr]
    assert saved == TenantSettings("CNEWPAY", ("UADMIN", "UBOSS"), ("UNEW",), ("UFIN", "SFINANCE"))
    audit = bot.rows("SELECT actor, detail FROM audit WHERE action = 'settings'")
    assert [row["actor"] for row in audit] == ["UADMIN"] and "CNEWPAY" in audit[0]["detail"]
    assert "No routes yet" in ask(bot, fake_slack, "UBOSS", "route").text  # a new admin may administer
    assert ask(bot, fake_slack, "UREP", "").text.startswith(NOT_A_CREATOR[:20])  # no longer a creator
    # A new creator's invoice, paid: the news goes to the new payments channel.
    invoice = create_invoice(bot, fake_slack, fake_stripe, user="UNEW", channel="CSALES", amount="77.00")
    fake_stripe.pay_invoice(invoice["id"])
    fake_stripe.flush_webhooks()
    bot.wait_idle()
    wait_for(lambda: "77.00" in json.dumps([m.blocks for m in fake_slack.messages("CNEWPAY")]) +
             json.dumps([m.text for m in fake_slack.messages("CNEWPAY")]), 10, "the paid notice in CNEWPAY")
    assert not fake_slack.messages("CPAYMENTS")

    # A restart with the same environment keeps what was saved.
    bot.stop()
    again = make_bot(database_url=bot.settings.database_url, invoice_admins="UADMIN", invoice_creators="UREP,UOLD",
                     invoice_viewers="SFINANCE")
    assert initial(ask(again, fake_slack, "UBOSS").view or {}) == {
        "payments_channel": "CNEWPAY", "admins": ["UADMIN", "UBOSS"], "creators": ["UNEW"], "viewers": ["UFIN"]}

    # Emptied, a list falls back to the environment's.
    view = ask(again, fake_slack, "UADMIN").view
    assert view is not None
    submit(again, view, "UADMIN", channel="CNEWPAY", admins=["UADMIN", "UBOSS"], creators=[], viewers=["UFIN"])
    again.wait_idle()
    assert "everyone" not in outcome(fake_slack, view["id"])
    assert again.app.store.directory.get(DEFAULT_TENANT).settings.creators == ()
    assert ask(again, fake_slack, "UREP", "").view is not None  # a creator by the environment again


def test_a_forged_submission_by_someone_else_saves_nothing(env_bot: RunningBot, fake_slack: FakeSlack) -> None:
    view = ask(env_bot, fake_slack, "UADMIN").view
    assert view is not None
    assert submit(env_bot, view, "UREP", channel="CNEWPAY", admins=["UREP"])["response_action"] == "update"
    env_bot.wait_idle()
    assert "Only invoicing admins" in outcome(fake_slack, view["id"])
    assert env_bot.app.store.directory.get(DEFAULT_TENANT).settings == TenantSettings()  # type: ignore[union-attr]


def test_help_lists_settings(env_bot: RunningBot, fake_slack: FakeSlack) -> None:
    assert "/invoice settings" in ask(env_bot, fake_slack, "UREP", "help").text
    assert "Usage: `/invoice settings`" in ask(env_bot, fake_slack, "UADMIN", "settings now").text


# --- SLACK_MODE=oauth -----------------------------------------------------------------------------------
def test_each_workspace_sets_its_own(oauth_bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    alpha = join(oauth_bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
    beta = join(oauth_bot, fake_slack, fake_stripe, "TBETA", "Beta")
    refused = ask(oauth_bot, alpha.team, alpha.rep, team_id="TALPHA")
    assert refused.view is None and "Only invoicing admins" in refused.text

    # Whoever installed the app administers it until admins are named.
    view = ask(oauth_bot, alpha.team, "UALPHAADMIN", team_id="TALPHA").view
    assert view is not None
    assert initial(view) == {"payments_channel": alpha.payments, "admins": ["UALPHAADMIN"], "creators": [],
                             "viewers": []}
    assert "everyone in the workspace" in json.dumps(view)  # what an empty creators list means here
    submit(oauth_bot, view, "UALPHAADMIN", channel=alpha.sales, admins=["UALPHAADMIN", alpha.rep],
           team_id="TALPHA")
    oauth_bot.wait_idle()
    assert "Settings saved" in outcome(alpha.team, view["id"])
    assert oauth_bot.app.store.directory.get(alpha.tenant_id).settings == TenantSettings(  # type: ignore[union-attr]
        alpha.sales, ("UALPHAADMIN", alpha.rep))
    assert oauth_bot.app.workspaces.get(alpha.tenant_id).notifications.payments_channel == alpha.sales
    now_admin = ask(oauth_bot, alpha.team, alpha.rep, team_id="TALPHA")
    assert now_admin.view is not None and initial(now_admin.view)["admins"] == ["UALPHAADMIN", alpha.rep]

    # The other workspace is as it was.
    assert oauth_bot.app.store.directory.get(beta.tenant_id).settings == TenantSettings(  # type: ignore[union-attr]
        beta.payments)
    assert ask(oauth_bot, beta.team, beta.rep, team_id="TBETA").view is None
    assert oauth_bot.app.workspaces.get(beta.tenant_id).notifications.payments_channel == beta.payments

"""Who may see and do what: every action x every role, over HTTP against the running bot.

The table `ALLOWED` is the README's access table; a row changes only with the README.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.access import NOT_A_CREATOR, NOT_A_MEMBER, NOT_A_VIEWER
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import TEAM_ID, WEBHOOK_SECRET, RunningBot, bot_settings, create_invoice, wait_for

ROLES = {
    "rep": "UREP",  # in INVOICE_CREATORS; made the invoice, in #sales
    "other rep": "UOTHER",  # in INVOICE_CREATORS; not in #sales
    "channel member": "UMEMBER",  # in #sales, in no list
    "viewer": "UVIEW",  # in INVOICE_VIEWERS (finance)
    "admin": "UADMIN",  # in INVOICE_ADMINS
    "workspace admin": "UOWNER",  # a Slack workspace admin, in no list
    "guest": "UGUEST",  # a multi-channel guest, in #sales
    "external": "UEXT",  # from another organisation (Slack Connect), in #sales
    "nobody": "UNOBODY",  # a full member in no list and not in #sales
}
EVERYONE = frozenset(ROLES)
CREATORS = frozenset({"rep", "other rep", "admin", "workspace admin"})
ADMINS = frozenset({"admin", "workspace admin"})
VIEWERS_OF_THE_INVOICE = frozenset({"rep", "channel member", "viewer", "admin", "workspace admin"})
ACTORS_ON_THE_INVOICE = frozenset({"rep", "admin", "workspace admin"})

# action -> the roles allowed; everyone else is refused with a message.
ALLOWED: dict[str, frozenset[str]] = {
    "/invoice help": EVERYONE,
    "/invoice (the form)": CREATORS,
    "/invoice catalog": CREATORS,
    "/invoice catalog add": ADMINS,
    "/invoice list": VIEWERS_OF_THE_INVOICE,  # the invoice shows up in their list
    "/invoice show": VIEWERS_OF_THE_INVOICE,
    "/invoice show in_... (never seen)": ADMINS,
    "/invoice audit": ADMINS,
    "/invoice route (list)": ADMINS,
    "/invoice route (set)": ADMINS,
    "button Send reminder": ACTORS_ON_THE_INVOICE,
    "button Void": ACTORS_ON_THE_INVOICE,
    "button Mark uncollectible": ACTORS_ON_THE_INVOICE,
    "button Send (a draft)": ACTORS_ON_THE_INVOICE,
    "button Open (from a list)": VIEWERS_OF_THE_INVOICE,
    "button Show more": VIEWERS_OF_THE_INVOICE,
    "button Add line (in the form)": CREATORS,
    "button New invoice (App Home)": CREATORS,
    "search customers": CREATORS,
    "search prices": CREATORS,
    "submit the form": CREATORS,
    "App Home totals": VIEWERS_OF_THE_INVOICE,  # the invoice counts in their totals
}


@dataclass
class World:
    bot: RunningBot
    slack: FakeSlack
    stripe: FakeStripe
    invoice: dict[str, Any]  # open, by UREP in #sales: what is looked at
    target: dict[str, Any]  # open, by UREP in #sales: what the buttons act on (it gets voided)
    draft: dict[str, Any]  # a draft, by UREP in #sales
    outside: str  # an invoice made in the Dashboard, never seen by the bot
    view: dict[str, Any]  # an invoice form, as opened by an admin


@pytest.fixture(scope="module")
def world(slack_server: FakeSlack, stripe_server: FakeStripe, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[World]:
    slack_server.reset()
    stripe_server.reset()
    slack = slack_server
    for role, user in ROLES.items():
        slack.add_user(user, is_admin=role == "workspace admin", guest="multi" if role == "guest" else None,
                       home_team="TOTHERORG" if role == "external" else None)
    slack.add_channel("CSALES", name="sales", members=["UREP", "UMEMBER", "UGUEST", "UEXT", "UBOT"])
    database: Path = tmp_path_factory.mktemp("access") / "bot.db"
    settings = bot_settings(database, slack.api_url, stripe_server.url, invoice_creators="UREP,UOTHER",
                            invoice_admins="UADMIN", invoice_viewers="UVIEW")
    bot = RunningBot(settings).start()
    stripe_server.add_webhook_endpoint(bot.url + "/stripe/webhook", WEBHOOK_SECRET)
    try:
        # In a currency of its own, so App Home's totals show whether it counts for the viewer.
        invoice = create_invoice(bot, slack, stripe_server, user="UREP", channel="CSALES", currency="chf")
        target = create_invoice(bot, slack, stripe_server, user="UREP", channel="CSALES", amount="99.00",
                                email="target@example.com")
        draft = create_invoice(bot, slack, stripe_server, user="UREP", channel="CSALES", delivery="draft",
                               email="draft@example.com")
        stripe_server.flush_webhooks()
        bot.wait_idle()
        stripe_server.webhooks.pause()  # the Dashboard invoice below stays unknown to the bot
        import stripe

        client = stripe.StripeClient("sk_test_fake_key", base_addresses={"api": stripe_server.url})
        customer = client.v1.customers.create(params={"name": "Dash Board", "email": "dash@example.com"})
        outside = client.v1.invoices.create(params={"customer": customer.id, "collection_method": "send_invoice",
                                                    "days_until_due": 5})
        view = open_form(bot, slack, "UADMIN")
        assert outside.id is not None
        yield World(bot, slack, stripe_server, invoice, target, draft, outside.id, view)
    finally:
        stripe_server.webhooks.resume()
        bot.stop()


def open_form(bot: RunningBot, slack: FakeSlack, user: str) -> dict[str, Any]:
    trigger = slack.new_trigger_id()
    assert bot.slash("", trigger_id=trigger, response_url=slack.response_url(), user=user).status_code == 200
    call = wait_for(lambda: [c for c in slack.calls_to("views.open") if c.args.get("trigger_id") == trigger], 5,
                    "the form")[0]
    return {**call.args["view"], "id": call.result["view"]["id"]}


# --- how each action is tried, and what its answer says -----------------------------------------------
@dataclass(frozen=True)
class Outcome:
    allowed: bool
    text: str  # what the person was told (a refusal's message)


def slash(w: World, user: str, text: str, allowed: Callable[[str, list[dict[str, Any]]], bool]) -> Outcome:
    tag = uuid.uuid4().hex[:8]
    url, trigger = w.slack.response_url(f"access-{tag}"), w.slack.new_trigger_id()
    response = w.bot.slash(text, trigger_id=trigger, response_url=url, user=user)
    assert response.status_code == 200, response.text
    ack = response.json().get("text", "") if response.content else ""
    if ack:
        return Outcome(allowed(ack, []), ack)
    answers = wait_for(lambda: [r for r in w.slack.responses if r.url == url]
                       or [c for c in w.slack.calls_to("views.open") if c.args.get("trigger_id") == trigger],
                       10, f"an answer to /invoice {text}")
    first = answers[0]  # the listener's own answer (a job it queued may answer after it)
    if not isinstance(first, dict):
        return Outcome(True, "a form opened")
    text_out = first.get("text", "")
    return Outcome(allowed(text_out, first.get("blocks") or []), text_out)


def press(w: World, user: str, action_id: str, value: str, *, view: dict[str, Any] | None = None) -> Outcome:
    url = w.slack.response_url(f"press-{uuid.uuid4().hex[:8]}")
    action_ts = f"{time.time():.6f}"
    payload: dict[str, Any] = {
        "type": "block_actions", "team": {"id": TEAM_ID, "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID}, "api_app_id": "A123",
        "trigger_id": w.slack.new_trigger_id(), "response_url": url,
        "actions": [{"action_id": action_id, "block_id": "b", "value": value, "type": "button",
                     "action_ts": action_ts}],
    }
    if view is not None:
        payload["container"] = {"type": "view", "view_id": view["id"]}
        payload["view"] = {**view, "state": {"values": {}}}
        del payload["response_url"]
    else:
        payload["container"] = {"type": "message", "message_ts": "1.1", "channel_id": "CSALES"}
        payload["channel"] = {"id": "CSALES", "name": "sales"}
        payload["message"] = {"ts": "1.1", "text": ""}
    before = len(w.slack.calls)
    assert w.bot.interactive(payload).status_code == 200
    if view is not None:
        call = wait_for(lambda: [c for c in w.slack.calls[before:] if c.method in ("views.update", "views.open")], 10,
                        "the form's answer")[0]
        shown = json.dumps(call.args.get("view"))
        return Outcome("Not allowed" not in shown, shown)
    if action_id.startswith("invoice_") and action_id not in ("invoice_show",):
        def queued() -> bool:
            return bool(w.bot.rows("SELECT 1 FROM jobs WHERE key LIKE ?", (f"%{action_ts}",)))

        refused = wait_for(lambda: queued() or [r for r in w.slack.responses if r.url == url], 10, "the press")
        if refused is True:
            return Outcome(True, "queued")
        return Outcome(False, refused[-1]["text"])
    answer = wait_for(lambda: [r for r in w.slack.responses if r.url == url], 10, "the answer")[-1]
    return Outcome(w.invoice["number"] in json.dumps(answer), answer.get("text", ""))


def suggest(w: World, user: str, action_id: str, block_id: str) -> Outcome:
    response = w.bot.interactive({
        "type": "block_suggestion", "team": {"id": TEAM_ID, "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": TEAM_ID}, "api_app_id": "A123",
        "action_id": action_id, "block_id": block_id, "value": "",
        "container": {"type": "view", "view_id": w.view["id"]}, "view": w.view,
    })
    assert response.status_code == 200
    options = response.json().get("options") or []
    return Outcome(bool(options), json.dumps(options))


def submit(w: World, user: str) -> Outcome:
    view = open_form(w.bot, w.slack, "UADMIN")  # a form as an admin opened it; submitted by `user`
    before = len(w.slack.calls)
    response = w.bot.submit(view, {"customer_name": "Acc Ess", "customer_email": f"{user.lower()}@example.com",
                                   "line_1_description": "Work", "line_1_unit_amount": "5.00"}, user=user)
    assert response.status_code == 200
    call = wait_for(lambda: [c for c in w.slack.calls[before:] if c.method == "views.update"
                             and c.args.get("view_id") == view["id"]], 15, "the outcome in the form")[-1]
    shown = json.dumps(call.args["view"])
    return Outcome("Invoice created" in shown, shown)


def home(w: World, user: str) -> Outcome:
    before = len(w.slack.calls)
    body = json.dumps({"token": "legacy", "team_id": TEAM_ID, "api_app_id": "A123", "type": "event_callback",
                       "event_id": f"Ev{time.monotonic_ns()}", "event_time": int(time.time()),
                       "event": {"type": "app_home_opened", "user": user, "channel": "D123", "tab": "home",
                                 "event_ts": f"{time.time():.6f}"}})
    assert w.bot.post_slack(body, content_type="application/json").status_code == 200
    call = wait_for(lambda: [c for c in w.slack.calls[before:] if c.method == "views.publish"
                             and c.args.get("user_id") == user], 10, "App Home")[-1]
    shown = json.dumps(call.args["view"])
    return Outcome("*CHF*" in shown, shown)  # the invoice (the only one in CHF) counts in their totals


def has_number(w: World) -> Callable[[str, list[dict[str, Any]]], bool]:
    return lambda text, blocks: w.invoice["number"] in json.dumps(blocks) + text


def tried(w: World, action: str, user: str) -> Outcome:
    invoice_id, number, target = w.invoice["id"], w.invoice["number"], w.target["id"]
    not_refused: Callable[[str, list[dict[str, Any]]], bool] = lambda text, blocks: not any(  # noqa: E731
        marker in text for marker in ("Only ", "isn't yours", "not on the list", "can't use invoicebot",
                                      "can't find"))
    attempts: dict[str, Callable[[], Outcome]] = {
        "/invoice help": lambda: slash(w, user, "help", lambda text, _: "catalog add" in text),
        "/invoice (the form)": lambda: slash(w, user, "", not_refused),
        "/invoice catalog": lambda: slash(w, user, "catalog", not_refused),
        "/invoice catalog add": lambda: slash(w, user, f'catalog add "Item {user}" 1.00 usd',
                                              lambda text, _: text.startswith("Creating")),
        "/invoice list": lambda: slash(w, user, "list", has_number(w)),
        "/invoice show": lambda: slash(w, user, f"show {number}", has_number(w)),
        "/invoice show in_... (never seen)": lambda: slash(w, user, f"show {w.outside}",
                                                          lambda text, blocks: "Dash Board" in json.dumps(blocks)),
        "/invoice audit": lambda: slash(w, user, f"audit {number}", lambda text, _: text == "Audit log"),
        "/invoice route (list)": lambda: slash(w, user, "route", not_refused),
        "/invoice route (set)": lambda: slash(w, user, "route rep <@UREP|rep> <#CREPS|reps>",
                                              lambda text, _: "now goes to" in text),
        "button Send reminder": lambda: press(w, user, "invoice_remind", target),
        "button Void": lambda: press(w, user, "invoice_void", target),
        "button Mark uncollectible": lambda: press(w, user, "invoice_uncollectible", target),
        "button Send (a draft)": lambda: press(w, user, "invoice_send", w.draft["id"]),
        "button Open (from a list)": lambda: press(w, user, "invoice_show", invoice_id),
        "button Show more": lambda: press(w, user, "list_more",
                                          json.dumps({"status": None, "text": None, "offset": 0})),
        "button Add line (in the form)": lambda: press(w, user, "add_line", "2", view=open_form(w.bot, w.slack,
                                                                                                "UADMIN")),
        "button New invoice (App Home)": lambda: press(w, user, "home_new_invoice", "", view=w.view),
        "search customers": lambda: suggest(w, user, "customer_search", "customer"),
        "search prices": lambda: suggest(w, user, "price_search", "line_1_price"),
        "submit the form": lambda: submit(w, user),
        "App Home totals": lambda: home(w, user),
    }
    return attempts[action]()


EXPECTED_REFUSALS = {
    "guest": NOT_A_MEMBER, "external": NOT_A_MEMBER,
}


@pytest.mark.parametrize("role", list(ROLES))
@pytest.mark.parametrize("action", list(ALLOWED))
def test_who_may_do_what(world: World, action: str, role: str) -> None:
    outcome = tried(world, action, ROLES[role])
    expected = role in ALLOWED[action]
    assert outcome.allowed == expected, f"{action} by {role}: {'refused' if expected else 'allowed'}: {outcome.text}"
    if expected or action in ("search customers", "search prices", "App Home totals", "/invoice list",
                              "button Show more", "/invoice show in_... (never seen)"):
        return  # searches answer with no options; lists and totals just leave the invoice out
    assert "Traceback" not in outcome.text and outcome.text, f"{action} by {role} was refused silently"
    if action in ("/invoice (the form)", "submit the form", "button Add line (in the form)",
                  "button New invoice (App Home)", "/invoice catalog"):
        assert (EXPECTED_REFUSALS.get(role) or NOT_A_CREATOR)[:20] in outcome.text, outcome.text
    elif action in ("/invoice show", "button Open (from a list)"):
        assert (EXPECTED_REFUSALS.get(role) or NOT_A_VIEWER)[:20] in outcome.text, outcome.text
    elif action.startswith("button"):
        assert (EXPECTED_REFUSALS.get(role) or "Only the rep who created this invoice")[:20] in outcome.text
    else:
        assert "Only invoicing admins" in outcome.text, outcome.text


def test_the_readme_holds_the_same_table() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    for action, allowed in ALLOWED.items():
        row = next((line for line in readme.splitlines() if line.startswith(f"| {action} |")), None)
        assert row is not None, f"README lacks the row for {action}"
        cells = [cell.strip() for cell in row.strip("|").split("|")][1:]
        assert cells == ["yes" if role in allowed else "no" for role in ROLES], f"README row differs: {row}"

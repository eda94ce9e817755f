"""Link previews end to end over HTTP: a pasted hosted-invoice or Dashboard link, `link_shared` signed as Slack
signs it, the bot's `chat.unfurl` with the invoice's live card; only for people who may see the invoice, only
in channels the bot is in, with the buttons that person may use; a redelivered event unfurls once."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.fakes.slack_fake import FakeSlack, links
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import RunningBot, create_invoice, on_both_databases, wait_for


def send_event(bot: RunningBot, fake_slack: FakeSlack, event: dict[str, Any],
               event_id: str | None = None) -> tuple[httpx.Response, dict[str, Any]]:
    envelope = fake_slack.team().event_envelope(event, event_id=event_id)
    started = time.monotonic()
    response = bot.post_slack(json.dumps(envelope), content_type="application/json")
    assert response.status_code == 200 and time.monotonic() - started < 1.0, response.text
    return response, envelope


def paste(bot: RunningBot, fake_slack: FakeSlack, channel: str, text: str, *, user: str) -> dict[str, Any]:
    """`user` pastes `text` in `channel`; Slack tells the bot; the bot's work is done. The event."""
    event = links(fake_slack).share_link(channel, text, user=user)
    send_event(bot, fake_slack, event)
    bot.wait_idle()
    return event


def card(fake_slack: FakeSlack, event: dict[str, Any], url: str) -> str:
    unfurled = links(fake_slack).unfurls(event["channel"], event["message_ts"])
    assert url in unfurled, unfurled
    return json.dumps(unfurled[url]["blocks"])


def unfurled(fake_slack: FakeSlack, event: dict[str, Any]) -> dict[str, Any]:
    return links(fake_slack).unfurls(event["channel"], event["message_ts"])


def setup_sales(fake_slack: FakeSlack) -> None:
    fake_slack.add_user("UREP")
    fake_slack.add_user("UMEMBER")
    fake_slack.add_user("UNOBODY")
    fake_slack.add_user("UOWNER", is_admin=True)
    fake_slack.add_user("UGUEST", guest="multi")
    fake_slack.add_channel("CSALES", name="sales", members=["UREP", "UMEMBER", "UGUEST", "UBOT"])
    fake_slack.add_channel("CGENERAL", name="general")


@on_both_databases
def test_a_pasted_hosted_link_unfurls_into_the_live_card_once(bot: RunningBot, fake_slack: FakeSlack,
                                                             fake_stripe: FakeStripe) -> None:
    setup_sales(fake_slack)
    invoice = create_invoice(bot, fake_slack, fake_stripe, name="Acme <Corp>", email="ap@acme.test")
    hosted = invoice["hosted_invoice_url"]
    pasted = hosted.replace("?s=ap", "?s=em")  # as the customer's email links it
    event = links(fake_slack).share_link("CGENERAL", f"Has <{pasted}|this> been paid?", user="UREP")
    _, envelope = send_event(bot, fake_slack, event)
    bot.wait_idle()
    shown = card(fake_slack, event, pasted)
    assert "$1,234.00" in shown and "Open" in shown and "Acme &lt;Corp&gt;" in shown and "<Corp>" not in shown
    for action_id in ("invoice_open", "invoice_remind", "invoice_void", "invoice_uncollectible"):
        assert f'"{action_id}"' in shown  # the rep may use them all

    # Slack delivers the event again (no ack seen in time): nothing new.
    assert bot.post_slack(json.dumps(envelope), content_type="application/json").status_code == 200
    bot.wait_idle()
    assert len(fake_slack.calls_to("chat.unfurl")) == 1

    # Live: once paid, a new paste shows it paid, without the buttons that no longer apply.
    fake_stripe.pay_invoice(invoice["id"])
    fake_stripe.flush_webhooks()
    bot.wait_idle()
    wait_for(lambda: bot.invoice(invoice["id"]).status == "paid", 5, "paid")
    later = paste(bot, fake_slack, "CSALES", hosted, user="UREP")
    shown = card(fake_slack, later, hosted)
    assert "Paid" in shown and '"invoice_void"' not in shown and '"invoice_open"' in shown


def test_dashboard_links_in_test_mode_and_with_an_account(bot: RunningBot, fake_slack: FakeSlack,
                                                         fake_stripe: FakeStripe) -> None:
    setup_sales(fake_slack)
    invoice = create_invoice(bot, fake_slack, fake_stripe, amount="99.00")
    urls = [f"https://dashboard.stripe.com/test/invoices/{invoice['id']}",
            f"https://dashboard.stripe.com/acct_123/invoices/{invoice['id']}?tab=payments",
            "https://dashboard.stripe.com/test/invoices/in_neverseen",  # not this workspace's: Slack's own preview
            "https://invoice.stripe.com/i/acct_1/test_unknowntoken"]
    event = paste(bot, fake_slack, "CSALES", " and ".join(urls), user="UREP")
    assert set(unfurled(fake_slack, event)) == set(urls[:2])
    assert "$99.00" in card(fake_slack, event, urls[0])
    assert len(fake_slack.calls_to("chat.unfurl")) == 1  # all of one message in one call


def test_previews_only_for_people_who_may_see_the_invoice_with_their_buttons(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    setup_sales(fake_slack)
    invoice = create_invoice(bot, fake_slack, fake_stripe, user="UREP", channel="CSALES")
    hosted = invoice["hosted_invoice_url"]
    # In #sales, where it was posted: a member sees it, but may not act on it.
    member = paste(bot, fake_slack, "CGENERAL", hosted, user="UMEMBER")
    shown = card(fake_slack, member, hosted)
    assert '"invoice_open"' in shown and '"invoice_void"' not in shown and '"invoice_remind"' not in shown
    # A workspace admin may do everything.
    admin = paste(bot, fake_slack, "CGENERAL", hosted, user="UOWNER")
    assert '"invoice_void"' in card(fake_slack, admin, hosted)
    # Not in #sales and in no list; a guest even in #sales: no preview at all.
    for user in ("UNOBODY", "UGUEST"):
        assert unfurled(fake_slack, paste(bot, fake_slack, "CGENERAL", hosted, user=user)) == {}
    assert len(fake_slack.calls_to("chat.unfurl")) == 2

    # The buttons on a preview are checked again for whoever presses them.
    before = len(fake_slack.ephemerals)
    bot.block_action("invoice_void", invoice["id"], user="UMEMBER", channel="CGENERAL",
                     message_ts=member["message_ts"])
    bot.wait_idle()
    assert fake_stripe.get(invoice["id"])["status"] == "open"
    assert "Only the rep" in " ".join(e.text or "" for e in fake_slack.ephemerals[before:])


def test_no_previews_where_the_bot_is_not_nor_in_the_composer(bot: RunningBot, fake_slack: FakeSlack,
                                                              fake_stripe: FakeStripe) -> None:
    setup_sales(fake_slack)
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    hosted = invoice["hosted_invoice_url"]
    fake_slack.add_channel("COUTSIDE", member=False)
    outside = paste(bot, fake_slack, "COUTSIDE", hosted, user="UREP")
    assert outside["is_bot_user_member"] is False and unfurled(fake_slack, outside) == {}
    send_event(bot, fake_slack, links(fake_slack).compose_link("UREP", hosted))
    paste(bot, fake_slack, "CSALES", "no invoice here: https://example.test/in_1", user="UREP")
    bot.wait_idle()
    assert fake_slack.calls_to("chat.unfurl") == []
    assert bot.job_counts().get("failed", 0) == 0


def test_a_message_deleted_before_its_preview_is_no_failure(bot: RunningBot, fake_slack: FakeSlack,
                                                           fake_stripe: FakeStripe) -> None:
    setup_sales(fake_slack)
    invoice = create_invoice(bot, fake_slack, fake_stripe)
    event = links(fake_slack).share_link("CSALES", invoice["hosted_invoice_url"], user="UREP")
    message = fake_slack.message("CSALES", event["message_ts"])
    assert message is not None
    message.deleted = True
    send_event(bot, fake_slack, event)
    bot.wait_idle()
    (call,) = fake_slack.calls_to("chat.unfurl")
    assert call.error == "cannot_find_message" and bot.job_counts().get("failed", 0) == 0


def test_each_workspace_previews_its_own_invoices_only(oauth_bot: RunningBot, fake_slack: FakeSlack,
                                                       fake_stripe: FakeStripe) -> None:
    from tests.test_workspaces import create_invoice as create_in
    from tests.test_workspaces import join

    alpha = join(oauth_bot, fake_slack, fake_stripe, "TALPHA", "Alpha")
    beta = join(oauth_bot, fake_slack, fake_stripe, "TBETA", "Beta")
    invoice = create_in(oauth_bot, alpha, "100.00")
    pasted = f"{invoice['hosted_invoice_url']} and https://dashboard.stripe.com/test/invoices/{invoice['id']}"
    # Beta's rep pastes Alpha's links in Beta: Beta's store has no such invoice, so Beta shows nothing of it.
    elsewhere = links(beta.team).share_link(beta.sales, pasted, user=beta.rep)
    assert oauth_bot.post_slack(json.dumps(beta.team.event_envelope(elsewhere)),
                                content_type="application/json").status_code == 200
    oauth_bot.wait_idle()
    assert beta.team.calls_to("chat.unfurl") == [] and links(beta.team).unfurls(beta.sales, elsewhere["message_ts"]) \
        == {}
    # In Alpha they unfurl, with Alpha's own token.
    home = links(alpha.team).share_link(alpha.sales, pasted, user=alpha.rep)
    assert oauth_bot.post_slack(json.dumps(alpha.team.event_envelope(home)),
                                content_type="application/json").status_code == 200
    oauth_bot.wait_idle()
    (call,) = alpha.team.calls_to("chat.unfurl")
    assert call.ok and len(links(alpha.team).unfurls(alpha.sales, home["message_ts"])) == 2
    assert "$100.00" in json.dumps(links(alpha.team).unfurls(alpha.sales, home["message_ts"]))

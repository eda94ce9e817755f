"""`make demo`: the whole flow against the local fakes, printed as Slack would show it.

No accounts needed: a fake Slack Web API and a fake Stripe API run on loopback, the bot runs
as in production between them, and each step prints what a person in Slack would see.
"""

from __future__ import annotations

import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WIDTH = 78


def render(blocks: list[dict[str, Any]]) -> str:
    """Block Kit as plain text: enough to see what Slack would show."""
    out: list[str] = []
    for block in blocks:
        kind = block.get("type")
        if kind == "header":
            out.append(f"== {block['text']['text']} ==")
        elif kind == "section":
            if block.get("text"):
                out.append(_mrkdwn(block["text"]["text"]))
            for field in block.get("fields", []):
                out.append("  " + _mrkdwn(field["text"]).replace("\n", ": ", 1).replace("\n", " "))
        elif kind == "context":
            out.extend("  " + _mrkdwn(e.get("text", "")) for e in block.get("elements", []))
        elif kind == "divider":
            out.append("-" * 40)
        elif kind == "actions":
            out.append("  " + "  ".join(f"[{e['text']['text']}]" for e in block.get("elements", [])))
        elif kind == "input":
            element = block["element"]
            value = element.get("initial_value") or (element.get("initial_option") or {}).get("value") or ""
            optional = " (optional)" if block.get("optional") else ""
            out.append(f"  {block['label']['text']}{optional}: [{value:<20}]  ({block['block_id']})")
    return "\n".join(out)


def _mrkdwn(text: str) -> str:
    text = re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", text)
    text = re.sub(r"<(https?://[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").replace("*", "")


def banner(title: str) -> None:
    print("\n" + "#" * WIDTH + f"\n# {title}\n" + "#" * WIDTH)


def run_demo() -> int:
    sys.path.insert(0, str(ROOT))  # the fakes live in the repository's tests/
    from tests.fakes.slack_fake import FakeSlack
    from tests.fakes.stripe_fake import FakeStripe
    from tests.harness import BOT_TOKEN, STRIPE_KEY, WEBHOOK_SECRET, RunningBot, bot_settings

    with FakeSlack(token=BOT_TOKEN).start() as slack, FakeStripe(api_key=STRIPE_KEY).start() as stripe, \
            tempfile.TemporaryDirectory() as tmp:
        slack.reset()  # the workspace's people and channels, as every test starts with them
        slack.add_user("UADMIN", is_admin=True, real_name="Ada Admin")
        bot = RunningBot(bot_settings(Path(tmp) / "demo.db", slack.api_url, stripe.url)).start()
        stripe.add_webhook_endpoint(bot.url + "/stripe/webhook", WEBHOOK_SECRET)
        try:
            banner("1. An admin adds a catalog price: /invoice catalog add \"Gold Special\" 10.00 usd")
            bot.slash('catalog add "Gold Special" 10.00 usd', trigger_id=slack.new_trigger_id(),
                      response_url=slack.response_url(), user="UADMIN")
            bot.wait_idle()
            print(_mrkdwn(slack.responses[-1].get("text", "")))
            price_id = stripe.objects("price")[0]["id"]

            banner("2. The rep types /invoice: the modal opens")
            bot.slash("", trigger_id=slack.new_trigger_id(), response_url=slack.response_url())
            view_call = _wait_for(lambda: slack.calls_to("views.open"))[-1]
            view = {**view_call.args["view"], "id": next(iter(slack.views))}
            print(render(view["blocks"]))

            banner("3. The rep fills it in (new customer, a catalog line and an ad-hoc line) and submits")
            values = {"customer_name": "Jenny Rosen", "customer_email": "jenny@example.com",
                      "line_1_price": price_id, "line_1_quantity": "2", "line_2_description": "Onboarding",
                      "line_2_unit_amount": "1,250.00", "days_until_due": "14", "memo": "Thank you!"}
            bot.block_action("add_line", "2", view=view, values=values)
            _wait_for(lambda: slack.calls_to("views.update"))
            view = {**slack.views[view["id"]], "id": view["id"]}
            answer = bot.submit(view, values).json()
            print(f"Slack got, at once: response_action={answer.get('response_action')}")
            bot.wait_idle()
            message = [m for m in slack.messages("CSALES") if not m.thread_ts][-1]
            print("\nIn #sales:\n" + render(message.blocks or []))

            banner("4. The customer pays; Stripe's webhook updates the message and tells #payments")
            invoice_id = stripe.objects("invoice")[0]["id"]
            stripe.pay_invoice(invoice_id)
            stripe.flush_webhooks()
            time.sleep(0.3)
            bot.wait_idle()
            message = [m for m in slack.messages("CSALES") if not m.thread_ts][-1]
            print("In #sales (updated in place):\n" + render(message.blocks or []))
            for reply in slack.thread("CSALES", message.ts):
                print("  thread> " + _mrkdwn(reply.text or ""))
            for notice in slack.messages("CPAYMENTS"):
                print("\nIn #payments:\n" + render(notice.blocks or []))
        finally:
            bot.stop()
    return 0


def _wait_for(probe: Any, timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := probe()):
        if time.monotonic() > deadline:
            raise RuntimeError("the demo step did not happen in time")
        time.sleep(0.02)
    return result


if __name__ == "__main__":
    raise SystemExit(run_demo())

"""Digests: as many invoices as one Slack message can carry, each named, totals per currency first.

Pure rendering (bot/blocks.py) is checked against slack_sdk's models and the fake Slack's limits;
the posting (bot/services/notifications.py) against the fake Slack, through the real queue: what
does not fit one message waits for the next, every invoice is announced exactly once, and a digest
posted again after an interruption is the very same message.
"""

from __future__ import annotations

import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk import WebClient

from bot import blocks, money
from bot.adapters.courier import Courier
from bot.adapters.slack import SlackOut, build_web_client
from bot.adapters.stripe import StripeGateway
from bot.domain.invoices import Invoice, InvoiceSnapshot
from bot.domain.tenants import DEFAULT_TENANT
from bot.errors import ExternalFailure
from bot.jobs.model import Lane
from bot.jobs.payloads import ChannelNotice
from bot.services.messages import InvoiceMessages
from bot.services.notifications import Notifications
from bot.store.sqlite import SqliteStore
from tests.fakes.slack_fake import FakeSlack, validate_blocks
from tests.fakes.slack_fake.blockkit import MESSAGE_BLOCKS_TEXT_MAX_CHARS, blocks_text_size
from tests.harness import BOT_TOKEN, PAYMENTS_CHANNEL, on_both_databases, query_database, wait_for

KINDS = ("paid", "failed", "processing", "overdue")
# Names as long and as hostile as Stripe or a person may make them: mrkdwn's specials (escaped to
# five characters each), a broadcast, characters beyond the BMP (two UTF-16 units each).
LONG_NAME = "<!channel> & Sons " + "\N{GRINNING FACE}" * 20 + " Wholesale " * 30


def number(n: int) -> str:
    """Unique in its first characters, then far past what a digest line keeps."""
    return f"{n:05d}-" + "X" * 60


def texts(node: Any) -> list[str]:
    """Every `text` string in blocks."""
    if isinstance(node, list):
        return [text for child in node for text in texts(child)]
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            found.extend([value] if key == "text" and isinstance(value, str) else texts(value))
    return found


def named_numbers(message_blocks: list[dict[str, Any]] | None) -> Counter[str]:
    """How often each invoice (by the unique start of its number) is named in the blocks."""
    return Counter(re.findall(r"(?<!\d)(\d{5})-X", "\n".join(texts(message_blocks))))


def item(n: int, kind: str = "paid", currency: str = "usd", total: int = 1000, name: str = LONG_NAME
         ) -> tuple[str, Invoice]:
    return kind, Invoice(stripe_id=f"in_{n:05d}", status="paid", number=number(n), customer_name=name,
                         currency=currency, total=total)


def worst_items(count: int, currencies: tuple[str, ...] = ("xof", "xpf", "xaf", "zmw"), name: str = "W" * 300
                ) -> list[tuple[str, Invoice]]:
    """Every kind in every currency (by default the four whose amounts print longest), names cut
    at the most characters, the largest amounts Stripe takes."""
    return [item(n, KINDS[n % 4], currencies[(n // 4) % len(currencies)], -blocks.STRIPE_MAX_AMOUNT, name)
            for n in range(count)]


def slack_accepts(message_blocks: list[dict[str, Any]]) -> None:
    """What the fake Slack would answer `invalid_blocks` or `msg_blocks_too_long` for."""
    assert validate_blocks(message_blocks) == []  # slack_sdk's models, plus the rules they miss
    assert blocks_text_size(message_blocks) <= MESSAGE_BLOCKS_TEXT_MAX_CHARS
    assert len(message_blocks) <= 50 and all(len(b["text"]["text"]) <= 3000 for b in message_blocks)


# --- rendering ------------------------------------------------------------------------------------
def test_the_capacity_is_the_most_a_worst_case_digest_can_carry() -> None:
    capacity = blocks.digest_capacity()
    assert capacity >= 100  # what Slack's limits allow with worst-case lines (109 when written)
    for name in ("W" * 300, LONG_NAME):
        full = blocks.digest(worst_items(capacity, name=name))
        assert full.named == capacity and blocks.fits_one_message(full.blocks)
        slack_accepts(full.blocks)
    one_more = blocks.digest(worst_items(capacity + 1))
    assert one_more.named == capacity  # the worst case has no room for another invoice
    single_currency = blocks.digest(worst_items(capacity, ("xof",)))
    assert single_currency.named == capacity


def test_a_digest_line_has_a_known_maximum_and_is_cut_visibly() -> None:
    _, invoice = item(7, total=-blocks.STRIPE_MAX_AMOUNT, currency="xof")
    line = blocks.digest_line(invoice)
    amount = blocks.escape(money.format_amount(invoice.total, "xof"))
    assert line.endswith(" · " + amount)  # an amount is never cut
    number_part, customer, _ = line.split(" · ")
    assert number_part.startswith("00007-X") and number_part.endswith("…")
    assert blocks.slack_length(number_part) <= blocks.DIGEST_NUMBER_MAX
    assert customer.startswith("&lt;!channel&gt; &amp; Sons ") and customer.endswith("…")
    assert blocks.slack_length(customer) <= blocks.DIGEST_CUSTOMER_MAX
    assert "<!channel>" not in line and "\n" not in line
    short = Invoice(stripe_id="in_1", status="paid", number="INV-0001", customer_name="Acme", currency="usd",
                    total=1234)
    assert blocks.digest_line(short) == "INV-0001 · Acme · $12.34"


def test_the_largest_digest_of_long_names_names_every_invoice_and_slack_takes_it(fake_slack: FakeSlack) -> None:
    capacity = blocks.digest_capacity()
    currencies = ("usd", "jpy", "kwd", "eur")
    items = [item(n, KINDS[n % 4], currencies[n % 4], total=99_999_999) for n in range(capacity)]
    message = blocks.digest(items)
    assert message.named == capacity
    assert named_numbers(message.blocks) == Counter(f"{n:05d}" for n in range(capacity))
    assert "<!channel>" not in json.dumps(message.blocks) + message.text
    slack_accepts(message.blocks)
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)
    assert client.chat_postMessage(channel=PAYMENTS_CHANNEL, text=message.text, blocks=message.blocks)["ok"]


def test_totals_per_currency_come_first_in_minor_units_of_each_currency() -> None:
    items = [
        item(1, "paid", "usd", 1050, "Ann"), item(2, "paid", "usd", 2500, "Bo"), item(3, "failed", "usd", 999, "Cy"),
        item(4, "paid", "jpy", 1000, "Di"), item(5, "paid", "jpy", 2500, "Ed"), item(6, "overdue", "jpy", 100, "Fa"),
        item(7, "paid", "kwd", 1250, "Gu"), item(8, "processing", "kwd", 10, "Hu"), item(9, "overdue", "kwd", 5, "Io"),
    ]
    message = blocks.digest(items)
    first = message.blocks[0]["text"]["text"].split("\n")
    assert first == [
        "*Invoice digest: 9 invoices*",
        "*JPY*  paid ¥3,500 (2) · overdue ¥100 (1)",  # zero-decimal: 1000 + 2500 yen
        "*KWD*  paid KWD1.250 (1) · processing KWD0.010 (1) · overdue KWD0.005 (1)",  # three decimals
        "*USD*  paid $35.50 (2) · failed $9.99 (1)",
    ]
    headings = [b["text"]["text"].split("\n")[0] for b in message.blocks[1:]]
    assert headings == [":white_check_mark: *Paid* (5)", ":x: *Payment failed* (1)",
                        ":hourglass_flowing_sand: *Payment processing* (1)", ":alarm_clock: *Overdue* (2)"]
    assert message.text == "Invoice digest: 9 invoices (5 paid, 1 failed, 1 processing, 2 overdue)"


def test_the_notification_text_stays_short_whatever_the_digest_holds() -> None:
    message = blocks.digest(worst_items(blocks.digest_capacity(), tuple(money.SUPPORTED_CURRENCIES)))
    assert len(message.text) < 120 and "<" not in message.text


def test_what_does_not_fit_one_message_is_left_for_the_next_never_dropped() -> None:
    """More currencies than the capacity keeps room for: the digest names a prefix, all of it."""
    capacity = blocks.digest_capacity()
    items = worst_items(capacity, tuple(money.SUPPORTED_CURRENCIES[:60]))
    message = blocks.digest(items)
    assert 1 <= message.named < capacity
    assert named_numbers(message.blocks) == Counter(f"{n:05d}" for n in range(message.named))
    slack_accepts(message.blocks)
    assert blocks.digest(items[: message.named]) == message  # the same items, the same message
    promised = blocks.digest(items, fit=False)  # already promised: all named, whatever it costs
    assert promised.named == capacity and not blocks.fits_one_message(promised.blocks)


# --- posting ---------------------------------------------------------------------------------------
@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteStore]:
    opened = SqliteStore(str(tmp_path / "digest.db"))
    yield opened
    opened.close()


def store_url(store: SqliteStore) -> str:
    return f"sqlite:///{store.path}"


def notifications_on(store: SqliteStore, fake_slack: FakeSlack) -> Notifications:
    slack = SlackOut(build_web_client(BOT_TOKEN, fake_slack.api_url))
    scope = store.tenant(DEFAULT_TENANT)
    courier = Courier(scope, slack)
    return Notifications(scope, slack, StripeGateway("sk_test_unused", "http://127.0.0.1:9"),
                         InvoiceMessages(scope, slack, courier), courier, payments_channel=PAYMENTS_CHANNEL,
                         pacer=scope.pace(0.0))


def queue_notices(store: SqliteStore, items: list[tuple[str, Invoice]]) -> None:
    with store.unit_of_work(DEFAULT_TENANT) as uow:
        for kind, invoice in items:
            uow.invoices.apply(InvoiceSnapshot(
                stripe_id=invoice.stripe_id, status="paid", currency=invoice.currency, number=invoice.number,
                total=invoice.total, customer_name=invoice.customer_name), 100)
            uow.jobs.add(ChannelNotice(channel=PAYMENTS_CHANNEL, kind=kind, invoice_id=invoice.stripe_id),
                         f"notice:{invoice.stripe_id}:{kind}", channel=PAYMENTS_CHANNEL)
        uow.commit()


def run_next(store: SqliteStore, notifications: Notifications) -> bool:
    """What a bulk worker does with the next notice: post it (or its digest) and complete it."""
    claimed = store.queue.claim(Lane.BULK.value, "worker", 30.0)
    if not claimed:
        return False
    (job,) = claimed
    try:
        notifications.channel_notice(ChannelNotice.model_validate(job.payload), job)
    except ExternalFailure as failure:
        store.queue.retry(job, 0.0, failure.message)
        raise
    assert store.queue.complete(job)
    return True


def posted(fake_slack: FakeSlack) -> list[Any]:
    return [call for call in fake_slack.calls_to("chat.postMessage") if call.ok]


def test_a_burst_larger_than_a_digest_is_posted_as_several_digests_each_invoice_once(
        store: SqliteStore, fake_slack: FakeSlack) -> None:
    capacity = blocks.digest_capacity()
    # Past the capacity, and in more currencies than it keeps room for: some digests hand notices back.
    items = worst_items(3 * capacity + 7, tuple(money.SUPPORTED_CURRENCIES[:40]))
    queue_notices(store, items)
    notifications = notifications_on(store, fake_slack)
    while run_next(store, notifications):
        pass
    messages = posted(fake_slack)
    assert not [call for call in fake_slack.calls_to("chat.postMessage") if not call.ok]  # Slack refused none
    counts: Counter[str] = Counter()
    for call in messages:
        counts.update(named_numbers(call.args["blocks"]))
        slack_accepts(call.args["blocks"])
        assert len(named_numbers(call.args["blocks"])) <= capacity
    assert counts == Counter(f"{n:05d}" for n in range(len(items)))  # every invoice, exactly once
    assert 4 <= len(messages) <= 8
    assert store.queue.stats().counts == {"done": len(items)}


def test_a_digest_posted_again_after_an_interruption_is_the_same_message(
        store: SqliteStore, fake_slack: FakeSlack) -> None:
    capacity = blocks.digest_capacity()
    items = worst_items(capacity, tuple(money.SUPPORTED_CURRENCIES[:40]))  # more than fits: some wait
    queue_notices(store, items)
    notifications = notifications_on(store, fake_slack)
    fake_slack.fail_next("chat.postMessage", error="internal_error")  # begun, then Slack failed
    with pytest.raises(ExternalFailure):
        run_next(store, notifications)
    (first,) = fake_slack.calls_to("chat.postMessage")
    (leader,) = query_database(store_url(store), "SELECT min(id) AS id FROM jobs")
    bound = store.queue.digest_members(f"digest:{leader['id']}")
    assert len(bound) == len(named_numbers(first.args["blocks"])) < capacity
    waiting = query_database(store_url(store), "SELECT * FROM jobs WHERE digest_key IS NULL")
    assert len(waiting) == capacity - len(bound) and {row["status"] for row in waiting} == {"pending"}
    # The bot comes back to the digest: the very same message, whatever else is waiting by then.
    queue_notices(store, [item(90_000 + n, currency="usd") for n in range(5)])
    while run_next(store, notifications):
        pass
    same_key = [call for call in fake_slack.calls_to("chat.postMessage")
                if call.args["metadata"] == first.args["metadata"]]
    assert [call.ok for call in same_key] == [False, True]
    assert (same_key[1].args["text"], same_key[1].args["blocks"]) == (first.args["text"], first.args["blocks"])
    counts: Counter[str] = Counter()
    for call in posted(fake_slack):
        counts.update(named_numbers(call.args["blocks"]))
    assert counts == Counter([f"{n:05d}" for n in range(capacity)] + [f"{90_000 + n}" for n in range(5)])


def begin_oversized_digest(store: SqliteStore, items: list[tuple[str, Invoice]]) -> str:
    """A digest bound to more than fits one message (as a later build might render it), whose post
    was begun when the process died."""
    queue_notices(store, items)
    leader = store.queue.claim(Lane.BULK.value, "dead-worker", 0.0)[0]  # a lease that runs out at once
    assert len(store.queue.claim_digest(PAYMENTS_CHANNEL, leader, limit=len(items), threshold=3)) == len(items) - 1
    digest_key = f"digest:{leader.id}"
    with store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.deliveries.begin(digest_key, PAYMENTS_CHANNEL, None)
        uow.commit()
    time.sleep(0.01)
    return digest_key


@pytest.mark.parametrize("slack_took_it", [True, False])
def test_a_begun_digest_is_never_split_unless_slack_refused_it(store: SqliteStore, fake_slack: FakeSlack,
                                                               slack_took_it: bool) -> None:
    """Slack may hold the first post: then it is found, and every notice it bound is done with it. If
    Slack refused it whole (`msg_blocks_too_long`), it holds nothing: the digest names fewer."""
    items = worst_items(blocks.digest_capacity(), tuple(money.SUPPORTED_CURRENCIES[:60]))
    digest_key = begin_oversized_digest(store, items)
    client = WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)
    if slack_took_it:
        client.chat_postMessage(channel=PAYMENTS_CHANNEL, text="the first post", metadata={
            "event_type": "invoicebot_delivery", "event_payload": {"key": digest_key}})
    notifications = notifications_on(store, fake_slack)
    while run_next(store, notifications):
        pass
    calls = fake_slack.calls_to("chat.postMessage")[1 if slack_took_it else 0:]
    if slack_took_it:
        assert calls == [] and store.queue.stats().counts == {"done": len(items)}
        return
    assert calls[0].error == "msg_blocks_too_long" and all(call.ok for call in calls[1:])
    counts: Counter[str] = Counter()
    for call in calls[1:]:
        counts.update(named_numbers(call.args["blocks"]))
    assert counts == Counter(f"{n:05d}" for n in range(len(items))) and len(calls) >= 3
    assert calls[1].args["metadata"]["event_payload"]["key"] == digest_key
    assert store.queue.stats().counts == {"done": len(items)}


@on_both_databases
def test_a_running_bot_announces_a_burst_in_digests_each_within_one_message(make_bot: Any,
                                                                            fake_slack: FakeSlack) -> None:
    """End to end: Stripe's webhooks in, paced posts out, long names and three currencies."""
    bot = make_bot()
    fake_slack.enforce_pace(posts_per_second=1.0, burst=3)
    capacity = blocks.digest_capacity()
    total = 2 * capacity + 30
    currencies = ("usd", "jpy", "kwd")
    for n in range(total):
        invoice_id = f"in_burst{n:05d}"
        event = {"id": f"evt_burst{n:05d}", "object": "event", "type": "invoice.paid", "created": int(time.time()),
                 "livemode": False, "data": {"object": {
                     "id": invoice_id, "object": "invoice", "status": "paid", "currency": currencies[n % 3],
                     "total": 1250, "amount_paid": 1250, "amount_remaining": 0, "customer": f"cus_{n}",
                     "customer_name": LONG_NAME, "number": number(n),
                     "hosted_invoice_url": f"https://invoice.stripe.com/i/{invoice_id}"}}}
        assert bot.webhook(event).status_code == 200

    def announced() -> Counter[str]:
        counts: Counter[str] = Counter()
        for message in fake_slack.messages(PAYMENTS_CHANNEL):
            counts.update(named_numbers(message.blocks))
        return counts

    wait_for(lambda: len(announced()) == total, 60, "every payment announced")
    bot.wait_idle(timeout=30)
    assert announced() == Counter(f"{n:05d}" for n in range(total))
    digests = [m for m in fake_slack.messages(PAYMENTS_CHANNEL) if m.text.startswith("Invoice digest")]
    assert len(digests) >= 2
    for message in digests:
        # Shorter lines than the worst case: a digest may name more than `capacity`, never more than fits.
        assert blocks.fits_one_message(message.blocks or [])
        first = (message.blocks or [])[0]["text"]["text"]
        assert first.startswith("*Invoice digest:") and "*JPY*  paid ¥" in first and "*KWD*  paid KWD" in first
    assert all(call.error != "msg_blocks_too_long" for call in fake_slack.calls_to("chat.postMessage"))

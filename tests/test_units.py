"""Pure pieces as plain functions: forms, commands, blocks, signatures."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from slack_sdk.models.views import View
from slack_sdk.signature import SignatureVerifier

from bot import blocks
from bot import slash as commands
from bot.domain.invoices import Invoice, InvoiceLine
from bot.domain.records import Price
from bot.forms import field_errors, parse_invoice_form
from bot.mrkdwn import escape
from tests.harness import slack_signature

SLACK_VECTOR_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SLACK_VECTOR_TS = "1531420618"
SLACK_VECTOR_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&"
    "channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&"
    "response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&"
    "trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SLACK_VECTOR_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_slack_documented_signing_vector() -> None:
    assert slack_signature(SLACK_VECTOR_SECRET, SLACK_VECTOR_TS, SLACK_VECTOR_BODY) == SLACK_VECTOR_SIGNATURE
    verifier = SignatureVerifier(SLACK_VECTOR_SECRET, clock=type("C", (), {"now": lambda self: 1531420618.0})())
    assert verifier.is_valid(SLACK_VECTOR_BODY, SLACK_VECTOR_TS, SLACK_VECTOR_SIGNATURE)
    assert not SignatureVerifier("wrong", clock=verifier.clock).is_valid(
        SLACK_VECTOR_BODY, SLACK_VECTOR_TS, SLACK_VECTOR_SIGNATURE)


# --- forms -------------------------------------------------------------------------------------
def form_values(**overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "customer_name": "Jenny Rosen", "customer_email": "jenny@example.com", "currency": "usd",
        "line_1_description": "Consulting", "line_1_quantity": "2", "line_1_unit_amount": "10.00",
        "days_until_due": "30", "delivery": "send",
    }
    values.update(overrides)
    return values


def errors_for(**overrides: object) -> dict[str, str]:
    with pytest.raises(ValidationError) as raised:
        parse_invoice_form(form_values(**overrides), lambda price_id: None)
    return field_errors(raised.value)


def test_valid_form_parses_money_exactly() -> None:
    form = parse_invoice_form(form_values(), lambda _: None)
    assert form.total() == 2000 and form.due_days == 30
    jpy = parse_invoice_form(form_values(currency="jpy", line_1_unit_amount="1000", line_1_quantity="1"), None)
    assert jpy.parsed_lines[0].unit_amount == 1000
    kwd = parse_invoice_form(form_values(currency="kwd", line_1_unit_amount="1.250", line_1_quantity="1"), None)
    assert kwd.parsed_lines[0].unit_amount == 1250


@pytest.mark.parametrize(
    ("overrides", "block_id"),
    [
        ({"customer_email": "not-an-email"}, "customer_email"),
        ({"customer_email": None, "customer_name": None}, "customer"),
        ({"customer_name": None}, "customer_name"),
        ({"line_1_unit_amount": "0"}, "line_1_unit_amount"),
        ({"line_1_unit_amount": "-5"}, "line_1_unit_amount"),
        ({"line_1_unit_amount": "10.001"}, "line_1_unit_amount"),
        ({"line_1_unit_amount": "123456789"}, "line_1_unit_amount"),
        ({"currency": "jpy", "line_1_unit_amount": "1000.50"}, "line_1_unit_amount"),
        ({"line_1_quantity": "0"}, "line_1_quantity"),
        ({"line_1_quantity": "abc"}, "line_1_quantity"),
        ({"line_1_description": None}, "line_1_description"),
        ({"line_1_description": None, "line_1_unit_amount": None, "line_1_quantity": None}, "line_1_description"),
        ({"days_until_due": "0"}, "days_until_due"),
        ({"days_until_due": "366"}, "days_until_due"),
        ({"days_until_due": "abc"}, "days_until_due"),
        ({"days_until_due": "-1"}, "days_until_due"),
        ({"memo": "x" * 501}, "memo"),
        ({"currency": "xyz"}, "currency"),
        ({"line_2_description": "Extra", "line_2_unit_amount": "NaN"}, "line_2_unit_amount"),
    ],
)
def test_each_rule_lands_on_its_block(overrides: dict[str, object], block_id: str) -> None:
    errors = errors_for(**overrides)
    assert block_id in errors, errors
    assert errors[block_id] and "Traceback" not in errors[block_id]


def test_catalog_price_must_match_currency() -> None:
    prices = {"price_eur": Price("price_eur", "prod_gold", "Gold", 500, "eur")}
    with pytest.raises(ValidationError) as raised:
        parse_invoice_form(form_values(line_1_price="price_eur", line_1_description=None,
                                       line_1_unit_amount=None), prices.get)
    assert "EUR" in field_errors(raised.value)["line_1_price"]
    form = parse_invoice_form(form_values(currency="eur", line_1_price="price_eur", line_1_description=None,
                                          line_1_unit_amount=None, line_1_quantity="3"), prices.get)
    assert form.parsed_lines[0].price_id == "price_eur" and form.total() == 1500


def test_251_lines_are_refused() -> None:
    many = {f"line_{n}_description": "x" for n in range(1, 252)} | {
        f"line_{n}_unit_amount": "1" for n in range(1, 252)}
    errors = errors_for(**many)
    assert any("at most 250" in message for message in errors.values())


# --- commands ----------------------------------------------------------------------------------
def test_command_parsing() -> None:
    assert commands.parse("") == commands.OpenModal()
    assert commands.parse("new jenny@example.com") == commands.OpenModal(email="jenny@example.com")
    assert commands.parse("help") == commands.ShowHelp()
    assert commands.parse("catalog") == commands.ListCatalog()
    assert commands.parse('catalog add "Gold Special" 10.00 usd') == commands.AddCatalogPrice(
        "Gold Special", 1000, "usd")
    assert commands.parse("catalog add Gold 1000 jpy") == commands.AddCatalogPrice("Gold", 1000, "jpy")
    assert isinstance(commands.parse("catalog add Gold 10.5 jpy"), commands.Refuse)
    assert isinstance(commands.parse('catalog add "Gold 10 usd'), commands.Refuse)
    assert isinstance(commands.parse("catalog add Gold 10 xyz"), commands.Refuse)
    assert commands.parse("frobnicate") == commands.ShowHelp(unknown="frobnicate")
    assert "&lt;!channel&gt;" in commands.help_text("<!channel>")


# --- blocks ------------------------------------------------------------------------------------
def test_escape_makes_mentions_inert() -> None:
    assert escape("<!channel> & <@U123>") == "&lt;!channel&gt; &amp; &lt;@U123&gt;"


def sample_invoice(**overrides: Any) -> Invoice:
    invoice: dict[str, Any] = {
        "stripe_id": "in_1", "number": "ABC-0001", "status": "open", "currency": "usd", "total": 123400,
        "amount_paid": 0, "amount_remaining": 123400, "due_date": 1767225600,
        "hosted_url": "https://invoice.stripe.com/i/in_1", "customer_name": "<!channel> & <@U123>",
        "customer_email": "x@example.com",
    }
    invoice.update(overrides)
    return Invoice(**invoice)


def test_invoice_message_is_escaped_and_formatted() -> None:
    text, message = blocks.invoice_message(sample_invoice(lines=(InvoiceLine("<!here>", 1, 123400),)))
    dumped = json.dumps(message) + text
    assert "<!channel>" not in dumped and "<@U123>" not in dumped and "<!here>" not in dumped
    assert "&lt;!channel&gt; &amp; &lt;@U123&gt;" in dumped
    assert "$1,234.00" in dumped
    action_ids = [e["action_id"] for b in message if b["type"] == "actions" for e in b["elements"]]
    assert action_ids == ["invoice_open", "invoice_remind", "invoice_void", "invoice_uncollectible",
                          "invoice_pay_outside", "invoice_credit_note"]
    draft_ids = [e["action_id"] for b in blocks.invoice_message(sample_invoice(status="draft", hosted_url=None))[1]
                 if b["type"] == "actions" for e in b["elements"]]
    assert draft_ids == ["invoice_send"]


def test_modal_respects_slacks_limits_at_its_largest() -> None:
    state = blocks.ModalState(channel_id="C1", default_currency="usd", default_days=30,
                              line_count=blocks.MAX_MODAL_LINES, total_text="$1.00")
    view = blocks.invoice_modal(state)
    assert len(view["blocks"]) <= 100
    View(**view).to_dict()  # slack_sdk's validation of Block Kit limits
    block_ids = [b["block_id"] for b in view["blocks"] if "block_id" in b]
    assert len(block_ids) == len(set(block_ids))
    for expected in ("customer", "customer_name", "customer_email", "currency", "line_1_description",
                     "line_1_quantity", "line_1_unit_amount", "line_1_price", "days_until_due", "memo", "delivery"):
        assert expected in block_ids


def test_digest_names_every_invoice_it_carries_within_limits() -> None:
    items = [("paid", sample_invoice(stripe_id=f"in_{n}", number=f"N-{n:04d}", total=1000)) for n in range(100)]
    items.append(("failed", sample_invoice(stripe_id="in_x", number="N-FAIL", currency="jpy", total=500)))
    digest = blocks.digest(items)
    body = json.dumps(digest.blocks, ensure_ascii=False)
    assert digest.named == 101 and digest.text == "Invoice digest: 101 invoices (100 paid, 1 failed)"
    assert all(f"N-{n:04d}" in body for n in range(100)) and "N-FAIL" in body
    assert "*JPY*  failed ¥500 (1)" in body and "*USD*  paid $1,000.00 (100)" in body
    assert blocks.fits_one_message(digest.blocks) and all(len(b["text"]["text"]) <= 3000 for b in digest.blocks)
    assert "<!channel>" not in body  # the sample's customer name, escaped


def test_what_an_event_means_is_escaped_whatever_stripe_says() -> None:
    from bot.domain.invoices import StateChange
    from bot.domain.notices import decide_invoice_event

    invoice = {"id": "in_1", "number": "<!channel>", "amount_paid": 500}
    finalized = decide_invoice_event("invoice.finalized", invoice, StateChange(True, "draft", "open"),
                                     currency="usd", failure_reason=None, first_overdue=False)
    failed = decide_invoice_event("invoice.payment_failed", invoice, StateChange(False, "open", "open"),
                                  currency="usd", failure_reason="<@U1>_<!here>", first_overdue=False)
    assert finalized.thread_text == "Finalized as &lt;!channel&gt;"
    assert failed.notice == "failed" and failed.thread_text is not None
    assert "&lt;@U1&gt; &lt;!here&gt;" in failed.thread_text and "<" not in failed.thread_text.replace(":x:", "")


def test_log_lines_never_carry_an_email_address() -> None:
    import logging

    from bot.logs import RedactingFormatter

    formatter = RedactingFormatter("%(levelname)s %(message)s")
    try:
        raise ValueError("Stripe: Invalid email address: jenny.rosen+billing@example.co.uk")
    except ValueError:
        import sys

        record = logging.LogRecord("bot", logging.INFO, __file__, 1, "customer %s refused", ("ap@acme.test",),
                                   sys.exc_info())
    line = formatter.format(record)
    assert "jenny" not in line and "acme" not in line and line.count("<email>") >= 2 and "Traceback" in line


# --- form bodies ---------------------------------------------------------------------------------
FORM_TOKENS = list("ab=&%+;\r\n é☃3D0fF\x00zZ") + ["%3D", "%26", "%2B", "%E2%98%83", "%ff", "%e2%98", "%0A"]


@given(st.lists(st.sampled_from(FORM_TOKENS), max_size=60).map("".join))
def test_form_bodies_decode_exactly_as_the_standard_library_does(body: str) -> None:
    from urllib.parse import parse_qsl

    from bot.urlencoded import parse_form

    try:
        expected = dict(parse_qsl(body, keep_blank_values=True))
    except ValueError:
        return  # parse_qsl refuses it (the bot answers 400 either way)
    assert parse_form(body) == expected


def test_a_modal_submission_decodes_fast_and_exactly() -> None:
    from urllib.parse import urlencode

    from bot.urlencoded import parse_form

    view = blocks.invoice_modal(blocks.ModalState(channel_id="C1", default_currency="usd", default_days=30))
    payload = json.dumps({"view": view, "odd": "é ☃ %41 + = & \u202e"})
    assert parse_form(urlencode({"payload": payload, "x": ""})) == {"payload": payload, "x": ""}

"""Tax, discounts and more in the invoice form, end to end over HTTP: the account's tax rates (searched
from the store), automatic tax, a coupon or promotion code, custom fields and a footer; the PDF link in the
invoice's message; bad input as field errors with nothing made in Stripe; the modal within Block Kit's 100
blocks at its most lines (bot/domain/invoice_extras.py, bot/services/invoice_extras.py)."""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from typing import Any

import stripe

from bot import blocks
from bot.domain.invoice_extras import DiscountCode, TaxRate
from bot.jobs.payloads import RefreshCatalog
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.slack_fake.blockkit import validate_view
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import STRIPE_KEY, RunningBot, open_modal, wait_for

JENNY = {"customer_name": "Jenny Rosen", "customer_email": "jenny@example.com", "line_1_description": "Consulting",
         "line_1_unit_amount": "100.00"}


def stripe_client(fake_stripe: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient(STRIPE_KEY, base_addresses={"api": fake_stripe.url}, max_network_retries=0)


def refresh(bot: RunningBot) -> None:
    """What the periodic catalog refresh does, now."""
    bot.app.services.jobs.submit(RefreshCatalog(), f"refresh_catalog:test-{uuid.uuid4().hex[:8]}")
    bot.wait_idle()


def account_extras(fake_stripe: FakeStripe) -> dict[str, Any]:
    """A VAT rate (20%, exclusive), an archived rate, a 10% coupon with a promotion code, a EUR 5 coupon."""
    client = stripe_client(fake_stripe)
    vat = client.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 20, "inclusive": False,
                                             "jurisdiction": "GB"}).to_dict()
    archived = client.v1.tax_rates.create(params={"display_name": "Old VAT", "percentage": 17.5,
                                                  "inclusive": False, "active": False}).to_dict()
    client.v1.coupons.create(params={"percent_off": 10, "id": "TEN", "name": "Ten off"})
    promo = client.v1.promotion_codes.create(params={"promotion": {"type": "coupon", "coupon": "TEN"},
                                                     "code": "SPRING10"}).to_dict()
    client.v1.coupons.create(params={"amount_off": 500, "currency": "eur", "id": "EURO5"})
    return {"vat": vat, "archived": archived, "promo": promo}


def submit(bot: RunningBot, view: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    response = bot.submit(view, values)
    assert response.status_code == 200, response.text
    return response.json() if response.content else {}


def test_tax_rate_promotion_code_custom_fields_and_footer_end_to_end(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    extras = account_extras(fake_stripe)
    refresh(bot)
    view = open_modal(bot, fake_slack)
    block_ids = [block.get("block_id") for block in view["blocks"]]
    for expected in ("tax_rates", "automatic_tax", "discount_code", "custom_fields", "footer"):
        assert expected in block_ids
    assert block_ids.index("memo") < block_ids.index("tax_rates") < block_ids.index("footer") < \
        block_ids.index("delivery")

    # The tax search answers from the store: the active rate, never the archived one.
    answer = bot.suggest("tax_rate_search", "tax_rates", "va", view)
    assert answer.status_code == 200
    options = answer.json()["options"]
    assert [option["value"] for option in options] == [extras["vat"]["id"]]
    assert options[0]["text"]["text"] == "VAT 20% · GB"

    result = submit(bot, view, {**JENNY, "tax_rates": [extras["vat"]["id"]], "discount_code": "spring10",
                                "custom_fields": "PO number: 4711\n\nProject: <!channel> & co",
                                "footer": "Thank you for your business.\nBank: 12-34-56"})
    assert result.get("response_action") == "update", result
    bot.wait_idle()

    (invoice,) = fake_stripe.objects("invoice")
    assert invoice["status"] == "open"
    assert [rate["id"] for rate in invoice["default_tax_rates"]] == [extras["vat"]["id"]]
    assert invoice["custom_fields"] == [{"name": "PO number", "value": "4711"},
                                        {"name": "Project", "value": "<!channel> & co"}]
    assert invoice["footer"] == "Thank you for your business.\nBank: 12-34-56"
    assert invoice["subtotal"] == 10000 and invoice["total"] == 10000 - 1000 + 1800
    (discount,) = fake_stripe.objects("discount")
    assert discount["promotion_code"] == extras["promo"]["id"] and invoice["discounts"] == [discount["id"]]
    create = next(r for r in fake_stripe.requests if r.method == "POST" and r.path == "/v1/invoices")
    assert create.params["discounts"] == [{"promotion_code": extras["promo"]["id"]}]
    assert "automatic_tax" not in create.params

    # The message links the PDF beside the hosted page; the total is Stripe's (tax and discount included).
    stored = bot.invoice(invoice["id"])
    assert stored.pdf_url == invoice["invoice_pdf"] and stored.total == 10800
    message = wait_for(lambda: [m for m in fake_slack.messages("CSALES") if not m.thread_ts], 5, "the message")[0]
    dumped = json.dumps(message.blocks)
    assert invoice["invoice_pdf"] in dumped and invoice["hosted_invoice_url"] in dumped
    assert "Download PDF" in dumped and "$108.00" in dumped
    assert invoice["invoice_pdf"] in json.dumps(fake_slack.views[view["id"]])  # the form's last word links it too


def test_bad_extras_are_field_errors_on_their_blocks_and_nothing_reaches_stripe(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    extras = account_extras(fake_stripe)
    refresh(bot)
    view = open_modal(bot, fake_slack)
    requests_before = len(fake_stripe.requests)
    five = "\n".join(f"Field {number}: value {number}" for number in range(1, 6))
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"discount_code": "NOSUCHCODE"}, "discount_code", "No coupon or promotion code “NOSUCHCODE”"),
        ({"discount_code": "EURO5"}, "discount_code", "this invoice is in USD"),
        ({"custom_fields": five}, "custom_fields", "at most 4 custom fields"),
        ({"custom_fields": "no colon here"}, "custom_fields", "Name: value"),
        ({"custom_fields": "N" * 41 + ": v"}, "custom_fields", "under 41 characters"),
        ({"custom_fields": "PO: " + "v" * 141}, "custom_fields", "under 141 characters"),
        ({"tax_rates": [extras["vat"]["id"]], "automatic_tax": ["on"]}, "automatic_tax", "Stripe Tax"),
        ({"tax_rates": [extras["archived"]["id"]]}, "tax_rates", "no longer active"),
        ({"tax_rates": ["txr_forged"]}, "tax_rates", "no longer active"),
        ({"footer": "Bye\u202e"}, "footer", "invisible character"),
    ]
    for values, block_id, words in cases:
        result = submit(bot, view, {**JENNY, **values})
        assert result.get("response_action") == "errors", (values, result)
        assert set(result["errors"]) == {block_id}, (values, result)
        assert words in result["errors"][block_id], (values, result)
    assert len(fake_stripe.requests) == requests_before  # nothing was asked of Stripe, let alone made
    assert fake_stripe.objects("customer") == [] and fake_stripe.objects("invoice") == []
    assert bot.rows("SELECT count(*) AS n FROM jobs WHERE kind = 'create_invoice'")[0]["n"] == 0


def test_a_coupon_deleted_since_the_refresh_is_refused_before_anything_is_made(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    stripe_client(fake_stripe).v1.coupons.create(params={"percent_off": 5, "id": "GONE"})
    refresh(bot)
    stripe_client(fake_stripe).v1.coupons.delete("GONE")  # the store still has it until the next refresh
    view = open_modal(bot, fake_slack)
    result = submit(bot, view, {**JENNY, "discount_code": "GONE"})
    assert result.get("response_action") == "update"
    bot.wait_idle()
    assert fake_stripe.objects("customer") == [] and fake_stripe.objects("invoice") == []
    closing = json.dumps(fake_slack.views[view["id"]])
    assert "not created" in closing and "coupon GONE no longer exists" in closing
    # The store forgot it: the next form says so on the field.
    again = submit(bot, open_modal(bot, fake_slack), {**JENNY, "discount_code": "GONE"})
    assert again.get("response_action") == "errors" and "discount_code" in again["errors"]


def test_automatic_tax_is_asked_of_stripe_and_its_refusal_shown(
        bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    view = open_modal(bot, fake_slack)
    result = submit(bot, view, {**JENNY, "automatic_tax": ["on"]})
    assert result.get("response_action") == "update"
    bot.wait_idle()
    create = [r for r in fake_stripe.requests if r.method == "POST" and r.path == "/v1/invoices"]
    assert create and create[-1].params["automatic_tax"] == {"enabled": True}
    assert fake_stripe.objects("invoice") == []
    closing = json.dumps(fake_slack.views[view["id"]])
    assert "not created" in closing and "Stripe Tax has not been activated" in closing

    # Where the account has Stripe Tax and the customer an address, it goes through.
    fake_stripe.set_stripe_tax(True)
    customer = stripe_client(fake_stripe).v1.customers.create(params={
        "email": "taxed@example.com", "name": "Taxed Ltd", "address": {"country": "DE"}}).to_dict()
    refresh(bot)
    view = open_modal(bot, fake_slack)
    result = submit(bot, view, {"customer": customer["id"], "line_1_description": "Work",
                                "line_1_unit_amount": "10", "automatic_tax": ["on"]})
    assert result.get("response_action") == "update", result
    bot.wait_idle()
    (invoice,) = fake_stripe.objects("invoice")
    assert invoice["status"] == "open" and invoice["automatic_tax"]["status"] == "complete"


def test_add_line_keeps_the_extras_as_typed(bot: RunningBot, fake_slack: FakeSlack, fake_stripe: FakeStripe) -> None:
    extras = account_extras(fake_stripe)
    refresh(bot)
    view = open_modal(bot, fake_slack)
    typed = {**JENNY, "tax_rates": [extras["vat"]["id"]], "discount_code": "TEN", "custom_fields": "PO: 1",
             "footer": "Bye"}
    assert bot.block_action("add_line", "2", view=view, values=typed).status_code == 200
    wait_for(lambda: fake_slack.calls_to("views.update"), 5, "views.update")
    updated = fake_slack.views[view["id"]]
    by_id = {block.get("block_id"): block for block in updated["blocks"]}
    assert "line_2_description" in by_id
    picked = by_id["tax_rates"]["element"]["initial_options"]
    assert [(option["value"], option["text"]["text"]) for option in picked] == [(extras["vat"]["id"], "VAT 20% · GB")]
    assert by_id["discount_code"]["element"]["initial_value"] == "TEN"
    assert by_id["custom_fields"]["element"]["initial_value"] == "PO: 1"
    assert by_id["footer"]["element"]["initial_value"] == "Bye"


def test_the_modal_at_its_most_lines_stays_within_100_blocks() -> None:
    values: dict[str, Any] = {"customer_name": "J", "customer_email": "j@example.com", "memo": "m",
                              "tax_rates": ["txr_1", "txr_2"], "automatic_tax": ["on"], "discount_code": "X",
                              "custom_fields": "A: b", "footer": "f", "repeat": "month"}
    for number in range(1, blocks.MAX_MODAL_LINES + 1):
        values.update({f"line_{number}_description": "d", f"line_{number}_unit_amount": "1",
                       f"line_{number}_price": "price_1"})
    state = blocks.ModalState(channel_id="C1", default_currency="usd", default_days=30,
                              line_count=blocks.MAX_MODAL_LINES, values=values, total_text="$1.00",
                              price_labels={"price_1": "Gold"}, tax_rate_labels={"txr_1": "VAT 20%"})
    if "notes" in {field.name for field in dataclasses.fields(state)}:  # "Invoice this" pre-fill's notes block
        state = dataclasses.replace(state, notes=("Read from a message",))
    view = blocks.invoice_modal(state)
    assert len(view["blocks"]) <= blocks.MAX_BLOCKS_IN_VIEW
    assert blocks.MAX_MODAL_LINES >= 17
    assert validate_view(view, allowed_types=("modal",)) == []
    ids = [block.get("block_id") for block in view["blocks"]]
    assert len(ids) == len(set(ids))  # each field error has one block to land on
    # One line fewer: the "Add line" button is back, and it still fits.
    shorter = blocks.invoice_modal(blocks.ModalState(channel_id="C1", default_currency="usd", default_days=30,
                                                     line_count=blocks.MAX_MODAL_LINES - 1, values=values,
                                                     total_text="$1.00"))
    assert "line_actions" in [block.get("block_id") for block in shorter["blocks"]]
    assert len(shorter["blocks"]) <= blocks.MAX_BLOCKS_IN_VIEW


def test_the_stores_copies_are_each_tenants_own(bot: RunningBot) -> None:
    store = bot.app.store
    for tenant, percentage in (("tenant_a", "20"), ("tenant_b", "7.5")):
        with store.unit_of_work(tenant) as uow:
            uow.tax_rates.save(TaxRate("txr_same", "VAT", percentage, False, "GB"))
            uow.discount_codes.save(DiscountCode("promo_1", "promotion_code", f"CODE-{tenant}", "TEN",
                                                 percent_off="10"))
            uow.commit()
    a, b = store.reads("tenant_a"), store.reads("tenant_b")
    assert (a.tax_rates.get("txr_same") or TaxRate("", "", "", False)).percentage == "20"
    assert [rate.percentage for rate in b.tax_rates.search("vat")] == ["7.5"]
    assert a.discount_codes.find("code-tenant_a") is not None and a.discount_codes.find("CODE-tenant_b") is None
    with store.unit_of_work("tenant_a") as uow:
        assert uow.tax_rates.retire_unseen(since=time.time() + 60) == 1
        assert uow.discount_codes.forget_unseen(since=time.time() + 60) == 1
        uow.commit()
    assert a.tax_rates.search("vat") == [] and a.discount_codes.find("code-tenant_a") is None
    assert b.tax_rates.search("vat") and b.discount_codes.find("code-tenant_b") is not None

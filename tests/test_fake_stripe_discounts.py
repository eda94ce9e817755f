"""The fake Stripe's tax rates, coupons and promotion codes, and what they do to an invoice, through the real
SDK over HTTP (tests/fakes/stripe_fake/tax_and_discounts.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from tests.fakes.stripe_fake import FakeStripe
from tests.fakes.stripe_fake.fixtures import template

API_KEY = "sk_test_fake_discounts"


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeStripe]:
    with FakeStripe(api_key=API_KEY, seed=77) as running:
        yield running


@pytest.fixture(autouse=True)
def clean_fake(fake: FakeStripe) -> Iterator[None]:
    fake.reset()
    yield
    fake.reset()


@pytest.fixture(scope="module")
def client(fake: FakeStripe) -> stripe.StripeClient:
    return stripe.StripeClient(API_KEY, base_addresses={"api": fake.url}, max_network_retries=0)


def refused(call: Any, *args: Any, **kwargs: Any) -> stripe.StripeError:
    with pytest.raises(stripe.StripeError) as caught:
        call(*args, **kwargs)
    return caught.value


def error_of(error: stripe.StripeError) -> dict[str, Any]:
    body = error.json_body or {}
    return dict(body.get("error") or {})


def draft_with_lines(client: stripe.StripeClient, amounts: list[int], currency: str = "usd",
                     **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    customer = client.v1.customers.create(params={"email": "jenny@example.com", "name": "Jenny"}).to_dict()
    invoice = client.v1.invoices.create(params={"customer": customer["id"], "currency": currency,
                                                "collection_method": "send_invoice", "days_until_due": 30,
                                                **params}).to_dict()
    if amounts:
        invoice = client.v1.invoices.add_lines(invoice["id"], params={"lines": [
            {"amount": amount, "description": f"line {index}"} for index, amount in enumerate(amounts)]}).to_dict()
    return customer, invoice


# -- the objects ----------------------------------------------------------------------------------


def test_tax_rates_are_created_listed_and_updated_shaped_like_stripes(client: stripe.StripeClient) -> None:
    vat = client.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 19, "inclusive": False,
                                             "country": "DE", "jurisdiction": "DE"}).to_dict()
    gst = client.v1.tax_rates.create(params={"display_name": "GST", "percentage": 8.875, "inclusive": True,
                                             "active": False}).to_dict()
    assert set(vat) == set(template("tax_rate")) and vat["id"].startswith("txr_")
    assert vat["percentage"] == 19 and vat["inclusive"] is False and vat["active"] is True
    assert gst["percentage"] == 8.875
    active = client.v1.tax_rates.list(params={"active": True}).to_dict()["data"]
    assert [rate["id"] for rate in active] == [vat["id"]]
    updated = client.v1.tax_rates.update(vat["id"], params={"active": False, "description": "old"}).to_dict()
    assert updated["active"] is False and updated["description"] == "old"
    # The percentage and inclusiveness of a tax rate never change: the SDK's update type has no such fields.
    error = refused(client.v1.tax_rates.update, vat["id"], params={"percentage": 20})
    assert error_of(error)["code"] == "parameter_unknown"
    error = refused(client.v1.tax_rates.create, params={"display_name": "Odd", "percentage": 120, "inclusive": False})
    assert error_of(error)["param"] == "percentage"
    assert refused(client.v1.tax_rates.retrieve, "txr_nope").http_status == 404


def test_coupons_take_one_kind_of_discount_and_can_be_deleted(client: stripe.StripeClient) -> None:
    coupon = client.v1.coupons.create(params={"percent_off": 25.5, "duration": "once", "id": "SPRING",
                                              "name": "Spring"}).to_dict()
    assert set(coupon) == set(template("coupon")) and coupon["valid"] is True and coupon["id"] == "SPRING"
    assert error_of(refused(client.v1.coupons.create, params={"id": "SPRING", "percent_off": 5}))["code"] \
        == "resource_already_exists"
    assert error_of(refused(client.v1.coupons.create, params={"amount_off": 500}))["code"] == "parameter_missing"
    assert "exactly one" in error_of(refused(client.v1.coupons.create, params={}))["message"]
    ten_off = client.v1.coupons.create(params={"amount_off": 1000, "currency": "eur"}).to_dict()
    assert ten_off["currency"] == "eur" and ten_off["percent_off"] is None
    assert {c["id"] for c in client.v1.coupons.list().to_dict()["data"]} == {"SPRING", ten_off["id"]}
    deleted = client.v1.coupons.delete("SPRING").to_dict()
    assert deleted["deleted"] is True
    assert refused(client.v1.coupons.retrieve, "SPRING").http_status == 404


def test_promotion_codes_are_unique_among_active_ones_whatever_the_case(client: stripe.StripeClient) -> None:
    client.v1.coupons.create(params={"percent_off": 10, "id": "TEN"})
    code = client.v1.promotion_codes.create(params={"promotion": {"type": "coupon", "coupon": "TEN"},
                                                    "code": "Summer25"}).to_dict()
    assert set(code) == set(template("promotion_code")) and code["promotion"] == {"coupon": "TEN", "type": "coupon"}
    assert code["active"] is True and code["id"].startswith("promo_")
    error = refused(client.v1.promotion_codes.create, params={"promotion": {"type": "coupon", "coupon": "TEN"},
                                                              "code": "SUMMER25"})
    assert error_of(error)["code"] == "resource_already_exists"
    found = client.v1.promotion_codes.list(params={"code": "summer25"}).to_dict()["data"]
    assert [item["id"] for item in found] == [code["id"]]
    client.v1.promotion_codes.update(code["id"], params={"active": False})
    assert client.v1.promotion_codes.list(params={"active": True}).to_dict()["data"] == []
    error = refused(client.v1.promotion_codes.create, params={"promotion": {"type": "coupon", "coupon": "NOPE"}})
    assert error_of(error)["param"] == "promotion[coupon]"


def test_a_restricted_key_needs_the_tax_rate_permission(fake: FakeStripe) -> None:
    key = fake.default_account.restricted_key(["rak_invoice_write"])
    restricted = stripe.StripeClient(key, base_addresses={"api": fake.url}, max_network_retries=0)
    error = refused(restricted.v1.tax_rates.list)
    assert error.http_status == 403 and "rak_tax_rate_read" in error_of(error)["message"]
    allowed = fake.default_account.restricted_key(["rak_tax_rate_read", "rak_coupon_read", "rak_promotion_code_read"])
    reader = stripe.StripeClient(allowed, base_addresses={"api": fake.url}, max_network_retries=0)
    assert reader.v1.coupons.list().to_dict()["data"] == []
    assert reader.v1.promotion_codes.list().to_dict()["data"] == []


# -- on an invoice ---------------------------------------------------------------------------------


def test_a_coupon_then_an_exclusive_tax_rate_make_the_invoice_total(
        fake: FakeStripe, client: stripe.StripeClient) -> None:
    vat = client.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 20, "inclusive": False}).to_dict()
    client.v1.coupons.create(params={"percent_off": 10, "id": "TEN"})
    _, invoice = draft_with_lines(client, [10000, 5000], default_tax_rates=[vat["id"]], discounts=[{"coupon": "TEN"}],
                                  footer="Thank you", custom_fields=[{"name": "PO", "value": "4711"}])
    assert invoice["subtotal"] == 15000
    (discount_id,) = invoice["discounts"]
    assert discount_id.startswith("di_")
    assert invoice["total_discount_amounts"] == [{"amount": 1500, "discount": discount_id}]
    (tax,) = invoice["total_taxes"]
    assert tax == {"amount": 2700, "tax_behavior": "exclusive", "tax_rate_details": {"tax_rate": vat["id"]},
                   "taxability_reason": "standard_rated", "taxable_amount": 13500, "type": "tax_rate_details"}
    assert invoice["total"] == 15000 - 1500 + 2700 and invoice["total_excluding_tax"] == 13500
    assert invoice["amount_due"] == invoice["total"]
    assert [rate["id"] for rate in invoice["default_tax_rates"]] == [vat["id"]]
    assert invoice["footer"] == "Thank you" and invoice["custom_fields"] == [{"name": "PO", "value": "4711"}]
    first, second = invoice["lines"]["data"]
    assert first["discount_amounts"] == [{"amount": 1000, "discount": discount_id}]
    assert second["discount_amounts"] == [{"amount": 500, "discount": discount_id}]
    assert [t["amount"] for t in first["taxes"]] == [1800] and [t["amount"] for t in second["taxes"]] == [900]
    expanded = client.v1.invoices.retrieve(invoice["id"], params={"expand": ["discounts"]}).to_dict()
    (discount,) = expanded["discounts"]
    assert set(discount) == set(template("discount")) and discount["source"] == {"coupon": "TEN", "type": "coupon"}
    assert discount["invoice"] == invoice["id"]
    finalized = client.v1.invoices.finalize_invoice(invoice["id"]).to_dict()
    assert finalized["total"] == 16200 and finalized["invoice_pdf"].startswith("https://pay.stripe.com/invoice/")
    assert client.v1.coupons.retrieve("TEN").to_dict()["times_redeemed"] == 1


def test_an_inclusive_tax_rate_is_carved_out_of_the_total(client: stripe.StripeClient) -> None:
    included = client.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 20, "inclusive": True}).to_dict()
    _, invoice = draft_with_lines(client, [12000], default_tax_rates=[included["id"]])
    assert invoice["total"] == 12000 and invoice["total_excluding_tax"] == 10000
    assert invoice["total_taxes"][0]["amount"] == 2000 and invoice["total_taxes"][0]["tax_behavior"] == "inclusive"


def test_an_amount_off_promotion_code_never_takes_more_than_the_lines(client: stripe.StripeClient) -> None:
    client.v1.coupons.create(params={"amount_off": 5000, "currency": "usd", "id": "FIFTY"})
    code = client.v1.promotion_codes.create(params={"promotion": {"type": "coupon", "coupon": "FIFTY"},
                                                    "code": "BIG"}).to_dict()
    _, invoice = draft_with_lines(client, [3000], discounts=[{"promotion_code": code["id"]}])
    assert invoice["total"] == 0 and invoice["total_discount_amounts"][0]["amount"] == 3000
    discount = client.v1.invoices.retrieve(invoice["id"], params={"expand": ["discounts"]}).to_dict()["discounts"][0]
    assert discount["promotion_code"] == code["id"]


@pytest.mark.parametrize(("params", "param", "words"), [
    ({"discounts": [{"coupon": "GHOST"}]}, "discounts[0][coupon]", "No such coupon: 'GHOST'"),
    ({"discounts": [{"promotion_code": "promo_ghost"}]}, "discounts[0][promotion_code]", "No such promotion code"),
    ({"default_tax_rates": ["txr_ghost"]}, "default_tax_rates[0]", "No such tax rate"),
    ({"custom_fields": [{"name": f"F{n}", "value": "v"} for n in range(5)]}, "custom_fields", "up to 4"),
    ({"custom_fields": [{"name": "N" * 41, "value": "v"}]}, "custom_fields[0][name]", "at most 40"),
    ({"custom_fields": [{"name": "PO", "value": "v" * 141}]}, "custom_fields[0][value]", "at most 140"),
    ({"automatic_tax": {"enabled": True}}, "automatic_tax[enabled]", "Stripe Tax has not been activated"),
])
def test_bad_references_and_limits_refuse_the_invoice_and_make_nothing(
        fake: FakeStripe, client: stripe.StripeClient, params: dict[str, Any], param: str, words: str) -> None:
    customer = client.v1.customers.create(params={"email": "jenny@example.com"}).to_dict()
    error = refused(client.v1.invoices.create, params={"customer": customer["id"], "collection_method": "send_invoice",
                                                        "days_until_due": 30, **params})
    assert error.http_status == 400 and error_of(error)["param"] == param and words in error_of(error)["message"]
    assert fake.objects("invoice") == [] and fake.objects("discount") == []


def test_codes_that_no_longer_apply_are_refused(client: stripe.StripeClient) -> None:
    inactive = client.v1.tax_rates.create(params={"display_name": "Old", "percentage": 5, "inclusive": False,
                                                  "active": False}).to_dict()
    client.v1.coupons.create(params={"amount_off": 500, "currency": "eur", "id": "EURO"})
    client.v1.coupons.create(params={"percent_off": 5, "id": "ONCE", "max_redemptions": 1})
    other = client.v1.customers.create(params={"email": "other@example.com"}).to_dict()
    mine = client.v1.promotion_codes.create(params={"promotion": {"type": "coupon", "coupon": "ONCE"},
                                                    "customer": other["id"], "code": "OTHERS"}).to_dict()
    customer = client.v1.customers.create(params={"email": "jenny@example.com"}).to_dict()
    base = {"customer": customer["id"], "currency": "usd", "collection_method": "send_invoice", "days_until_due": 30}
    for params, words in (({"default_tax_rates": [inactive["id"]]}, "inactive"),
                          ({"discounts": [{"coupon": "EURO"}]}, "currency (eur)"),
                          ({"discounts": [{"promotion_code": mine["id"]}]}, "cannot be redeemed by this customer")):
        assert words in error_of(refused(client.v1.invoices.create, params={**base, **params}))["message"]
    # Redeemed once (on finalizing), a coupon with max_redemptions=1 is no longer valid.
    _, invoice = draft_with_lines(client, [1000], discounts=[{"coupon": "ONCE"}])
    client.v1.invoices.finalize_invoice(invoice["id"])
    assert client.v1.coupons.retrieve("ONCE").to_dict()["valid"] is False
    assert "no longer valid" in error_of(refused(client.v1.invoices.create, params={
        **base, "discounts": [{"coupon": "ONCE"}]}))["message"]


def test_a_promotion_codes_minimum_is_checked_when_finalizing(client: stripe.StripeClient) -> None:
    client.v1.coupons.create(params={"percent_off": 10, "id": "TEN"})
    code = client.v1.promotion_codes.create(params={
        "promotion": {"type": "coupon", "coupon": "TEN"}, "code": "MIN100",
        "restrictions": {"minimum_amount": 10000, "minimum_amount_currency": "usd"}}).to_dict()
    _, invoice = draft_with_lines(client, [5000], discounts=[{"promotion_code": code["id"]}])
    error = refused(client.v1.invoices.finalize_invoice, invoice["id"])
    assert error_of(error)["code"] == "promotion_code_minimum_amount_not_met"
    assert client.v1.invoices.retrieve(invoice["id"]).to_dict()["status"] == "draft"


def test_automatic_tax_needs_stripe_tax_and_the_customers_location(
        fake: FakeStripe, client: stripe.StripeClient) -> None:
    fake.set_stripe_tax(True)
    vat = client.v1.tax_rates.create(params={"display_name": "VAT", "percentage": 20, "inclusive": False}).to_dict()
    customer = client.v1.customers.create(params={"email": "jenny@example.com"}).to_dict()
    both = refused(client.v1.invoices.create, params={"customer": customer["id"], "automatic_tax": {"enabled": True},
                                                       "default_tax_rates": [vat["id"]]})
    assert error_of(both)["param"] == "default_tax_rates"
    _, invoice = draft_with_lines(client, [1000], automatic_tax={"enabled": True})
    assert invoice["automatic_tax"]["enabled"] is True
    assert invoice["automatic_tax"]["status"] == "requires_location_inputs"
    error = refused(client.v1.invoices.finalize_invoice, invoice["id"])
    assert error_of(error)["code"] == "customer_tax_location_invalid"
    client.v1.customers.update(invoice["customer"], params={"address": {"country": "DE"}})
    finalized = client.v1.invoices.finalize_invoice(invoice["id"]).to_dict()
    assert finalized["automatic_tax"]["status"] == "complete" and finalized["total"] == 1000
    fake.reset()
    customer = client.v1.customers.create(params={"email": "jenny@example.com"}).to_dict()
    assert "Stripe Tax" in error_of(refused(client.v1.invoices.create, params={
        "customer": customer["id"], "automatic_tax": {"enabled": True}}))["message"]

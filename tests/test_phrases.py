""""Invoice this" reads a message (bot/domain/phrases.py): the table of phrases and what each pre-fills.

Each row: the message, the currency it pre-fills (None: the rep picks it), and each amount's text in the form
("" where the amount is left for the rep), with the quantity, words, minor units or customer where they matter.
Every phrase that must not parse is here too, with why. The reader is pure and total: hypothesis throws
anything at it and it never raises, and whatever it fills in reads back exactly through `bot.money`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot import money
from bot.domain.phrases import find_emails, invoice_link, plain_text, read_message
from bot.domain.records import Customer

NBSP = "\u00a0"


@dataclass(frozen=True)
class Row:
    text: str
    currency: str | None
    amounts: tuple[str, ...]
    minors: tuple[int | None, ...] | None = None
    quantities: tuple[int, ...] | None = None
    descriptions: tuple[str, ...] | None = None
    note: str | None = None  # a note that must be there (a piece of it)
    why: str = ""  # for a phrase that must not parse: why not


@dataclass(frozen=True)
class CustomerRow:
    text: str
    customer_id: str | None
    email: str | None = None
    note: str | None = None
    descriptions: tuple[str, ...] | None = None
    extra: dict[str, str] = field(default_factory=dict)


PHRASES: list[Row] = [
    # --- dollars ------------------------------------------------------------------------------------
    Row("$1,250", "usd", ("1250.00",), minors=(125000,), note="read as US dollars"),
    Row("$ 1,250.00", "usd", ("1250.00",), minors=(125000,)),
    Row("1,250 USD", "usd", ("1250.00",), minors=(125000,)),
    Row("usd 20", "usd", ("20.00",), minors=(2000,)),
    Row("US$ 99.99", "usd", ("99.99",), minors=(9999,)),
    Row("*$1,250* for the retainer", "usd", ("1250.00",), descriptions=("retainer",)),
    Row("Total: $1,250.00 (USD)", "usd", ("1250.00",)),
    Row("$1.250", "usd", ("1250.00",), why="three digits after one separator: thousands, USD has two decimals"),
    Row("$.50 per page", "usd", ("0.50",), minors=(50,)),
    Row("CA$1,250", "cad", ("1250.00",), minors=(125000,)),
    Row("$5 CAD", "cad", ("5.00",)),
    Row("All prices in CAD: the retainer is $1,250", "cad", ("1250.00",)),
    Row("A$300", "aud", ("300.00",)),
    Row("NZ$40.5", "nzd", ("40.50",)),
    Row("R$ 1.234,56", "brl", ("1234.56",)),
    # --- euros, pounds, francs --------------------------------------------------------------------------
    Row("EUR 99,90", "eur", ("99.90",), minors=(9990,)),
    Row("99,90 EUR", "eur", ("99.90",)),
    Row("99,90EUR", "eur", ("99.90",)),
    Row("€1.250,00", "eur", ("1250.00",), minors=(125000,)),
    Row("1.250,50 €", "eur", ("1250.50",)),
    Row("€1,5", "eur", ("1.50",)),
    Row("EUR 1,250", "eur", ("1250.00",)),
    Row("€1.000.000", "eur", ("1000000.00",)),
    Row(f"1{NBSP}250,50 €", "eur", ("1250.50",)),
    Row("100 euros for the workshop", "eur", ("100.00",), descriptions=("workshop",)),
    Row("5€ 10€", "eur", ("5.00", "10.00")),
    Row("£12.50", "gbp", ("12.50",)),
    Row("£1,234,567.89", "gbp", ("1234567.89",)),
    Row("CHF 1'250.50", "chf", ("1250.50",)),
    # --- three and zero decimals -------------------------------------------------------------------------
    Row("1.250 KWD", "kwd", ("1.250",), minors=(1250,)),
    Row("KWD 12.5", "kwd", ("12.500",), minors=(12500,)),
    Row("BHD 0.500", "bhd", ("0.500",), minors=(500,)),
    Row("¥1,000 JPY", "jpy", ("1000",), minors=(1000,)),
    Row("JP¥1,000", "jpy", ("1000",)),
    Row("1000円", "jpy", ("1000",)),
    Row("1000 yen", "jpy", ("1000",)),
    Row("JPY 1.000", "jpy", ("1000",), minors=(1000,)),
    Row("CN¥88", "cny", ("88.00",), minors=(8800,)),
    Row("500 ISK", "isk", ("500",), minors=(50000,)),
    Row("₹1,25,000", "inr", ("125000.00",), minors=(12500000,)),
    # --- currency left for the rep ------------------------------------------------------------------------
    Row("¥1000", None, ("1000",), note="could be CNY or JPY"),
    Row("100 kr", None, ("100",), note="“kr” could be"),
    Row("Rs. 500", None, ("500",)),
    Row("¥1.5", None, ("1.50",), why="only CNY has decimals: the number is kept, the rep picks (JPY would refuse it)"),
    # --- quantities and several lines ----------------------------------------------------------------------
    Row("3 x $50", "usd", ("50.00",), quantities=(3,)),
    Row("$50 x 3 seats", "usd", ("50.00",), quantities=(3,)),
    Row("2x €400 laptops", "eur", ("400.00",), quantities=(2,), descriptions=("laptops",)),
    Row("Design $500, hosting $20", "usd", ("500.00", "20.00"), descriptions=("Design", "hosting")),
    Row("2024-03-01 €50", "eur", ("50.00",)),
    Row("Pay 2 invoices of $500", "usd", ("500.00",)),
    # --- must not parse ----------------------------------------------------------------------------------
    Row("1,250", None, (), why="no currency: a bare number is not an amount"),
    Row("Order #1234 ships Tuesday", None, (), why="no currency"),
    Row("Call me at 555-1234", None, (), why="a phone number"),
    Row("20% off", None, (), why="a percentage without a currency"),
    Row("ten dollars", None, (), why="no digits"),
    Row("$5k retainer", "usd", ("",), why="a magnitude: $5k is not $5"),
    Row("$2 million deal", "usd", ("",), why="a magnitude word"),
    Row("£12.5k", "gbp", ("",), why="letters glued to the number"),
    Row("$1e5", "usd", ("",), why="an exponent"),
    Row("$50-100", "usd", ("",), why="a range"),
    Row("-$50 refund", "usd", ("",), why="negative"),
    Row("$0.00", "usd", ("",), why="zero"),
    Row("$123,456,789", "usd", ("",), why="more than 8 whole digits"),
    Row("$1,25,000", "usd", ("",), why="lakh grouping is for rupees"),
    Row("$1,2345", "usd", ("",), why="four decimals"),
    Row("1,250 KWD", "kwd", ("",), why="1250 or 1.250 dinars?"),
    Row("1.255 KWD", "kwd", ("",), why="Stripe needs the last digit of three-decimal amounts to be 0"),
    Row("JPY 1000.5", "jpy", ("",), why="yen have no decimals"),
    Row("12 500 EUR", "eur", ("",), why="a plain space: 12500, or 12 and 500?"),
    Row("€1.000,000", "eur", ("",), why="three decimals in euros"),
    Row("103 EUR 50", "eur", ("", ""), why="the code stands between two numbers"),
    Row("$5 GBP", None, ("",), why="two currencies on one number"),
    Row("$5 and €6", None, ("", ""), note="an invoice has one currency", why="two currencies in one invoice"),
]

KNOWN = [
    Customer("cus_acme", "ap@acme.test", "Acme Corp"),
    Customer("cus_acme2", "billing@acmeco.test", "Acme"),
    Customer("cus_globex", "ar@globex.test", "Globex"),
    Customer("cus_ini1", "a@initech.test", "Initech"),
    Customer("cus_ini2", "b@initech.test", "Initech"),
    Customer("cus_al", "al@example.test", "Al"),
]

CUSTOMERS: list[CustomerRow] = [
    CustomerRow("Bill Acme Corp $500 for onboarding", "cus_acme", descriptions=("onboarding",)),
    CustomerRow("acme: $20", "cus_acme2"),
    CustomerRow("Acmeco $20", None),  # a name only counts as whole words
    CustomerRow("Al's $20", None),  # names under 3 characters never match
    CustomerRow("Initech owes $300", None, note="Several customers match"),
    CustomerRow("Acme and Globex $5", None, note="Several customers match"),
    CustomerRow("ap@acme.test $10", "cus_acme"),
    CustomerRow("<mailto:AP@Acme.test|AP@Acme.test> €10", "cus_acme"),
    CustomerRow("Invoice jenny@example.com $1,250 for the March retainer", None, email="jenny@example.com",
                note="not a customer yet", descriptions=("March retainer",)),
    CustomerRow("a@x.test and b@y.test, $5", None, note="2 email addresses"),
    CustomerRow("<@U123> can you bill Globex $5 &amp; thanks", "cus_globex"),
]


def test_the_table_is_big_enough_and_varied() -> None:
    assert len(PHRASES) + len(CUSTOMERS) >= 40 and len(PHRASES) >= 40
    currencies = {row.currency for row in PHRASES if row.currency}
    assert {"usd", "eur", "gbp", "jpy", "cny", "kwd", "inr", "chf", "cad", "isk"} <= currencies
    assert sum(1 for row in PHRASES if row.why and not any(row.amounts)) >= 15  # must not parse


@pytest.mark.parametrize("row", PHRASES, ids=[row.text for row in PHRASES])
def test_phrase(row: Row) -> None:
    reading = read_message(row.text)
    assert reading.currency == row.currency, reading
    assert reading.amounts == row.amounts, reading
    if row.minors is not None:
        assert tuple(line.minor for line in reading.lines) == row.minors
    if row.quantities is not None:
        assert tuple(line.quantity for line in reading.lines) == row.quantities
    if row.descriptions is not None:
        assert tuple(line.description for line in reading.lines) == row.descriptions
    if row.note is not None:
        assert any(row.note in note for note in reading.notes), reading.notes
    for line in reading.lines:  # what is left empty is said
        if not line.amount and reading.currency:
            assert any(line.written in note for note in reading.notes), reading.notes


@pytest.mark.parametrize("row", CUSTOMERS, ids=[row.text for row in CUSTOMERS])
def test_customer(row: CustomerRow) -> None:
    reading = read_message(row.text, KNOWN)
    assert reading.customer_id == row.customer_id, reading
    assert reading.email == row.email
    if row.note is not None:
        assert any(row.note in note for note in reading.notes), reading.notes
    if row.descriptions is not None:
        assert tuple(line.description for line in reading.lines) == row.descriptions
    if row.customer_id:
        assert reading.customer_label == next(c.label for c in KNOWN if c.stripe_id == row.customer_id)


def test_no_amount_and_long_messages_are_said() -> None:
    assert any("No amount" in note for note in read_message("Can you invoice them?").notes)
    long = read_message("x " * 5000 + "$5")
    assert long.amounts == () and any("first 4,000 characters" in note for note in long.notes)
    many = read_message(" ".join(f"${n}" for n in range(1, 15)))
    assert len(many.lines) == 10 and any("14 amounts" in note for note in many.notes)


def test_slack_markup_is_read_as_people_read_it() -> None:
    text = "<https://example.com/a|the quote> &lt;b&gt; for <!here>: <mailto:x@y.test|x@y.test>"
    assert plain_text(text).split() == ["the", "quote", "<b>", "for", ":", "x@y.test"]
    assert find_emails("Mail A@B.test or a@b.test, and c@d.test.") == ("a@b.test", "c@d.test")
    assert read_message("See https://x.test/pay/$500 and <https://y.test/€5|link>").lines == ()


@pytest.mark.parametrize(("url", "ok"), [
    ("https://invoice.stripe.com/i/acct_1AbC/test_YWNjdF8x?s=ap", True),
    ("https://invoice.stripe.com/i/acct_1AbC/live_YWNj-dF8x", True),
    ("https://dashboard.stripe.com/invoices/in_1AbC", True),
    ("https://dashboard.stripe.com/test/invoices/in_1AbC?x=1", True),
    ("https://dashboard.stripe.com/acct_9/test/invoices/in_1AbC", True),
    ("https://dashboard.stripe.com/customers/cus_1", False),
    ("http://invoice.stripe.com/i/acct_1/test_x", False),
    ("https://invoice.stripe.com.evil.test/i/acct_1/test_x", False),
    ("https://evil.test/?https://dashboard.stripe.com/invoices/in_1", False),
])
def test_invoice_links(url: str, ok: bool) -> None:
    assert invoice_link(url) is ok


TRICKY = st.lists(st.sampled_from(list("0123456789.,'’ \n-−–x×%$€£¥￥₹kr EURJPYKWDusd@a_#:/<>|&;") +
                                   [NBSP, "\u202f", "\u202e", "\x00", "円", "Rs", "CA", "US", "1,250", "1.250"]),
                  max_size=40).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.one_of(TRICKY, st.text(max_size=200)))
def test_the_reader_is_total_and_what_it_fills_in_reads_back(text: str) -> None:
    reading = read_message(text, KNOWN)
    assert len(reading.lines) <= 10
    for line in reading.lines:
        assert 1 <= line.quantity <= 1_000_000 and len(line.description) <= 250
        if line.amount and reading.currency:
            assert money.parse_amount(line.amount, reading.currency) == line.minor
        if line.amount and not reading.currency:
            assert line.minor is None

"""Tests for bot.money: Stripe minor units, what reps type, and what people see."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest
from babel.numbers import get_currency_symbol
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.money import (
    SUPPORTED_CURRENCIES,
    AmountError,
    Money,
    currency_label,
    exponent,
    format_amount,
    format_for_input,
    is_supported,
    minor_step,
    parse_amount,
    to_decimal,
    typed_decimals,
)

# 139 currencies x 2 property tests: a few examples each keeps the suite fast
# while every currency still gets its own run.
PROPERTY_SETTINGS = settings(max_examples=20, deadline=None)


# --------------------------------------------------------------------------
# Currency table
# --------------------------------------------------------------------------


def test_supported_currencies_are_sorted_unique_lowercase() -> None:
    assert list(SUPPORTED_CURRENCIES) == sorted(set(SUPPORTED_CURRENCIES))
    assert all(len(c) == 3 and c.isascii() and c.islower() for c in SUPPORTED_CURRENCIES)
    for code in ("usd", "eur", "gbp", "jpy", "kwd", "isk", "ugx", "huf", "twd", "bhd", "tnd"):
        assert code in SUPPORTED_CURRENCIES


def test_is_supported_is_case_insensitive() -> None:
    assert is_supported("usd") and is_supported("USD") and is_supported("Jpy")
    assert not is_supported("xyz")
    assert not is_supported("")
    assert not is_supported(None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("currency", "api_exponent", "typed", "step"),
    [
        ("usd", 2, 2, 1),
        ("USD", 2, 2, 1),
        ("eur", 2, 2, 1),
        ("jpy", 0, 0, 1),
        ("krw", 0, 0, 1),
        ("xof", 0, 0, 1),
        ("kwd", 3, 3, 10),
        ("bhd", 3, 3, 10),
        ("tnd", 3, 3, 10),
        # Stripe "special cases": ISK/UGX are two-decimal in the API, whole units only.
        ("isk", 2, 0, 100),
        ("ugx", 2, 0, 100),
        # HUF/TWD are zero-decimal for payouts only; charges take two decimals.
        ("huf", 2, 2, 1),
        ("twd", 2, 2, 1),
        # CLDR says 0 digits for these, Stripe says two-decimal: Stripe wins.
        ("all", 2, 2, 1),
        ("lak", 2, 2, 1),
    ],
)
def test_exponents(currency: str, api_exponent: int, typed: int, step: int) -> None:
    assert exponent(currency) == api_exponent
    assert typed_decimals(currency) == typed
    assert minor_step(currency) == step


def test_unknown_currency_is_still_displayed_with_two_decimals() -> None:
    # An invoice made outside the bot may carry a currency newer than our list; its notice must not fail.
    assert format_amount(12345, "xyz") == "123.45 XYZ"


def test_unsupported_currency_is_a_programming_error_not_an_amount_error() -> None:
    for call in (
        lambda: exponent("xyz"),
        lambda: parse_amount("10", "xyz"),
        lambda: Money(100, "xyz"),
    ):
        with pytest.raises(ValueError) as excinfo:
            call()
        assert not isinstance(excinfo.value, AmountError)


@pytest.mark.parametrize("currency", SUPPORTED_CURRENCIES)
def test_currency_label_fits_a_slack_option(currency: str) -> None:
    label = currency_label(currency)
    assert label.startswith(f"{currency.upper()} - ")
    assert len(label) > len("USD - ")
    assert len(label) <= 75


def test_currency_label_uses_babel_names() -> None:
    assert currency_label("usd") == "USD - US Dollar"
    assert currency_label("JPY") == "JPY - Japanese Yen"


# --------------------------------------------------------------------------
# Parsing: examples
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "currency", "expected"),
    [
        ("10.00", "usd", 1000),
        ("10", "usd", 1000),
        ("10.5", "usd", 1050),
        ("0.01", "usd", 1),
        (".5", "usd", 50),
        (" 1 000 ", "usd", 100000),
        ("1\u00a0000", "usd", 100000),
        ("1,000.00", "usd", 100000),
        ("1,234,567.89", "usd", 123456789),
        ("$10", "usd", 1000),
        ("$ 10", "usd", 1000),
        ("10 USD", "usd", 1000),
        ("usd 10", "usd", 1000),
        ("$1,234.00", "usd", 123400),
        ("€1,234.50", "eur", 123450),
        ("CA$10", "cad", 1000),
        ("１０００", "jpy", 1000),  # full-width digits from a Japanese IME
        ("1000", "jpy", 1000),
        ("1,000", "jpy", 1000),
        ("¥1,000", "jpy", 1000),
        ("1.250", "kwd", 1250),
        ("1.25", "kwd", 1250),
        ("KWD1.250", "kwd", 1250),
        ("1,250.000", "kwd", 1250000),
        ("500", "isk", 50000),
        ("ISK500", "isk", 50000),
        ("500", "ugx", 50000),
        ("10.45", "huf", 1045),
        ("NT$800.45", "twd", 80045),
        ("12.34", "all", 1234),
        ("99,999,999.99", "usd", 9999999999),
    ],
)
def test_parse_examples(text: str, currency: str, expected: int) -> None:
    assert parse_amount(text, currency) == expected


@pytest.mark.parametrize(
    ("text", "currency", "message_part"),
    [
        ("", "usd", "Enter an amount"),
        ("   ", "usd", "Enter an amount"),
        ("$", "usd", "Enter an amount"),
        ("0", "usd", "more than zero"),
        ("0.00", "usd", "more than zero"),
        ("-1", "usd", "minus sign"),
        ("-5", "usd", "minus sign"),
        ("-$5.00", "usd", "minus sign"),
        ("\u22125", "usd", "minus sign"),
        ("1e9", "usd", "all the digits"),
        ("1E9", "usd", "all the digits"),
        ("NaN", "usd", "in digits"),
        ("Infinity", "usd", "in digits"),
        ("inf", "usd", "in digits"),
        ("abc", "usd", "isn't an amount"),
        ("1_000", "usd", "isn't an amount"),
        ("+5", "usd", "isn't an amount"),
        ("١٠", "usd", "isn't an amount"),  # Arabic-Indic digits: Decimal() would take them
        ("1,00", "usd", "ambiguous"),
        ("0,50", "usd", "ambiguous"),
        ("0,100", "usd", "ambiguous"),
        ("1,0000", "usd", "ambiguous"),
        ("1000,000", "usd", "ambiguous"),
        ("1.000,50", "usd", "dot for decimals"),
        ("1.000.000", "usd", "one dot"),
        ("1 000,50", "usd", "not both"),
        ("10 00", "usd", "Group digits in threes"),
        ("10.", "usd", "after the dot"),
        ("10.001", "usd", "at most 2 decimals"),
        ("10.000", "usd", "at most 2 decimals"),
        ("123456789", "usd", "at most 8 digits"),
        ("123,456,789.00", "usd", "at most 8 digits"),
        ("1000.50", "jpy", "JPY has no decimals: type 1000, not 1000.50"),
        ("1.000", "jpy", "JPY has no decimals: type 1000, not 1.000"),
        ("500.5", "isk", "ISK has no decimals"),
        ("500.00", "isk", "ISK has no decimals"),
        ("500.00", "ugx", "UGX has no decimals"),
        ("1.255", "kwd", "type 1.250 or 1.260"),
        ("0.005", "kwd", "type 0.010"),
        ("1.2500", "kwd", "at most 3 decimals"),
        ("1,250", "kwd", "ambiguous for KWD"),
        ("€10", "usd", "not EUR"),
        ("10 EUR", "usd", "not EUR"),
        ("$10", "cad", "not USD"),
        ("FCFA 10", "xof", "not XAF"),
        ("10 USD USD", "usd", "isn't an amount"),
    ],
)
def test_parse_rejects_with_a_helpful_message(text: str, currency: str, message_part: str) -> None:
    with pytest.raises(AmountError) as excinfo:
        parse_amount(text, currency)
    message = str(excinfo.value)
    assert message_part in message
    # Shown to a person as-is: a sentence, not a Python repr or traceback.
    assert message[0].isupper() or message[0] == "“"
    assert message.endswith(".")
    assert "Decimal" not in message and "Error" not in message


def test_max_integer_digits_is_adjustable() -> None:
    assert parse_amount("1234567890", "jpy", max_integer_digits=10) == 1234567890
    with pytest.raises(AmountError, match="at most 3 digits"):
        parse_amount("1000", "usd", max_integer_digits=3)
    # Leading zeros are not digits of the amount.
    assert parse_amount("000000000010", "usd") == 1000


def test_parse_refuses_non_text() -> None:
    with pytest.raises(TypeError):
        parse_amount(10.5, "usd")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        parse_amount(Decimal("10.5"), "usd")  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Formatting: examples
# --------------------------------------------------------------------------


def test_format_amount_examples() -> None:
    assert format_amount(123400, "usd") == "$1,234.00"
    assert format_amount(123400, "USD") == "$1,234.00"
    assert format_amount(1000, "jpy") == "¥1,000"
    assert format_amount(1250, "kwd") == "KWD1.250"  # Babel's en_US form, 3 decimals shown
    assert format_amount(50000, "isk") == "ISK500"
    assert format_amount(-500, "usd") == "-$5.00"  # refunds
    assert format_amount(0, "usd") == "$0.00"
    assert format_amount(123450, "eur", "de_DE") == "1.234,50\u00a0€"


def test_format_amount_never_rounds_on_screen() -> None:
    # CLDR shows ALL (Albanian lek) without decimals; Stripe charges it in hundredths.
    assert format_amount(12345, "all") == "ALL123.45"
    # An ISK amount Stripe computed (e.g. after a proration) that isn't whole.
    assert format_amount(12345, "isk") == "ISK123.45"
    assert format_for_input(12345, "isk") == "123.45"


def test_format_for_input_examples() -> None:
    assert format_for_input(123400, "usd") == "1234.00"
    assert format_for_input(1000, "jpy") == "1000"
    assert format_for_input(1250, "kwd") == "1.250"
    assert format_for_input(50000, "isk") == "500"
    assert format_for_input(5, "usd") == "0.05"
    assert format_for_input(-5, "usd") == "-0.05"


def test_to_decimal_is_exact() -> None:
    assert to_decimal(1050, "usd") == Decimal("10.50")
    assert str(to_decimal(1050, "usd")) == "10.50"
    assert to_decimal(1000, "jpy") == Decimal(1000)
    assert str(to_decimal(1250, "kwd")) == "1.250"
    assert to_decimal(50000, "isk") == Decimal(500)
    assert to_decimal(-1, "usd") == Decimal("-0.01")
    # No context precision involved: 41 digits survive intact.
    assert str(to_decimal(10**40 + 1, "usd")) == "1" + "0" * 38 + ".01"


@pytest.mark.parametrize("bad", [10.0, Decimal(10), True, "1000"])
def test_amounts_must_be_ints(bad: object) -> None:
    for call in (format_amount, format_for_input, to_decimal):
        with pytest.raises(TypeError):
            call(bad, "usd")  # type: ignore[operator]
    with pytest.raises(TypeError):
        Money(bad, "usd")  # type: ignore[arg-type]


# --------------------------------------------------------------------------
# Money
# --------------------------------------------------------------------------


def test_money_value_type() -> None:
    price = Money(1000, "USD")
    assert price.currency == "usd"
    assert price == Money(1000, "usd")
    assert price + Money(250, "usd") == Money(1250, "usd")
    assert price.format() == "$10.00"
    assert price.to_decimal() == Decimal("10.00")
    assert Money.parse("$12.50", "usd") == Money(1250, "usd")
    assert Money(-500, "usd").format() == "-$5.00"
    assert sum([Money(1, "eur"), Money(2, "eur")], Money(0, "eur")) == Money(3, "eur")
    with pytest.raises(dataclasses.FrozenInstanceError):
        price.amount = 5  # type: ignore[misc]


def test_money_refuses_to_mix_currencies() -> None:
    with pytest.raises(ValueError, match="can't add"):
        Money(1000, "usd") + Money(1000, "eur")
    with pytest.raises(TypeError):
        Money(1000, "usd") + 5  # type: ignore[operator]


# --------------------------------------------------------------------------
# Properties, run for every supported currency
# --------------------------------------------------------------------------

MAX_INTEGER_DIGITS = 8


def valid_minor_amounts(currency: str) -> st.SearchStrategy[int]:
    """Positive Stripe amounts a rep could type: under 10**8 major units, on the currency's step."""
    step = minor_step(currency)
    largest = 10 ** (MAX_INTEGER_DIGITS + exponent(currency)) - 1
    return st.integers(1, largest // step).map(lambda k: k * step)


@pytest.mark.parametrize("currency", SUPPORTED_CURRENCIES)
def test_round_trip_at_the_boundaries(currency: str) -> None:
    step = minor_step(currency)
    largest = (10 ** (MAX_INTEGER_DIGITS + exponent(currency)) - 1) // step * step
    for minor in (step, largest, 123 * step, 10 ** exponent(currency)):
        assert parse_amount(format_for_input(minor, currency), currency) == minor
        assert parse_amount(format_amount(minor, currency), currency) == minor
    # Display works for what Stripe may send back, too.
    assert format_amount(0, currency)
    assert format_amount(-step, currency).startswith("-")


@pytest.mark.parametrize("currency", SUPPORTED_CURRENCIES)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_round_trip_through_input_text_and_display(currency: str, data: st.DataObject) -> None:
    minor = data.draw(valid_minor_amounts(currency), label="minor")
    as_input = format_for_input(minor, currency)
    shown = format_amount(minor, currency)
    assert parse_amount(as_input, currency) == minor
    assert parse_amount(shown, currency) == minor
    assert parse_amount(shown, currency.upper()) == minor
    assert to_decimal(minor, currency) == Decimal(as_input)
    # Babel's symbol (or the code, where en_US has no symbol) is what people see.
    assert get_currency_symbol(currency.upper(), locale="en_US") in shown


@pytest.mark.parametrize("currency", SUPPORTED_CURRENCIES)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_typed_digits_become_exactly_those_minor_units(currency: str, data: st.DataObject) -> None:
    """Oracle: what Stripe receives is what was typed, times 10**exponent, by Decimal arithmetic."""
    typed = typed_decimals(currency)
    whole = data.draw(st.integers(0, 10 ** (MAX_INTEGER_DIGITS + 1) - 1), label="whole")
    n_decimals = data.draw(st.integers(0, typed + 2), label="decimals")
    frac = data.draw(st.text("0123456789", min_size=n_decimals, max_size=n_decimals), label="frac")
    grouping = data.draw(st.sampled_from(["plain", "commas", "spaces"]), label="grouping")
    around = data.draw(st.sampled_from(["none", "code before", "code after", "symbol before"]))

    int_text = {
        "plain": str(whole),
        "commas": f"{whole:,}",
        "spaces": f"{whole:,}".replace(",", " "),
    }[grouping]
    number = int_text + (f".{frac}" if n_decimals else "")
    code, symbol = currency.upper(), get_currency_symbol(currency.upper(), locale="en_US")
    text = {
        "none": number,
        "code before": f"{code} {number}",
        "code after": f"{number} {code}",
        "symbol before": f"{symbol}{number}",
    }[around]

    expected = Decimal(f"{whole}.{frac or '0'}") * 10 ** exponent(currency)
    should_fail = (
        n_decimals > typed
        or len(str(whole)) > MAX_INTEGER_DIGITS
        or expected == 0
        or expected % minor_step(currency) != 0
        # "1,250" for a three-decimal currency could be 1.250 written with a decimal comma.
        or (typed == 3 and grouping == "commas" and int_text.count(",") == 1 and not n_decimals)
    )
    if should_fail:
        with pytest.raises(AmountError):
            parse_amount(text, currency)
    else:
        result = parse_amount(text, currency)
        assert type(result) is int
        assert result == expected

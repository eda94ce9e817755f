"""Money for invoicebot: integer minor units as Stripe counts them, never floats.

Stripe wants every ``amount`` as an integer in the currency's *minor unit*, and
"minor unit" is Stripe's own notion, which is not always ISO 4217's (ISK and
UGX are the famous ones).  This module owns that mapping, turns what a sales
rep types into such integers, and turns integers back into text for people
(through Babel, so symbols and digit grouping come from CLDR, not from us).

Source for every currency rule below: Stripe, "Supported currencies",
https://docs.stripe.com/currencies (sections "Supported presentment
currencies", "Zero-decimal currencies" and "Special cases"; the
"Three-decimal currencies" section is quoted from the same page as it read
until 2023, see _THREE_DECIMAL).
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from decimal import Decimal, Inexact, Rounded, localcontext
from functools import cache, lru_cache

from babel import Locale
from babel.numbers import NumberPattern, format_currency, get_currency_name, get_currency_symbol

__all__ = [
    "SUPPORTED_CURRENCIES",
    "AmountError",
    "Money",
    "currency_label",
    "exponent",
    "format_amount",
    "format_for_input",
    "is_supported",
    "minor_step",
    "parse_amount",
    "to_decimal",
    "typed_decimals",
]


class AmountError(ValueError):
    """What the rep typed is not a usable amount.

    The message is shown verbatim as a Slack modal field error, so it is plain
    language and says what to type instead.
    """


# Stripe's presentment currencies (docs.stripe.com/currencies, "Supported
# presentment currencies", as listed for a US account) plus the five
# three-decimal currencies that Stripe lists for accounts in e.g. the UAE.
# Which of these a given account may charge in depends on its country; Stripe
# rejects the rest when the invoice is created, so this is the superset.
SUPPORTED_CURRENCIES: tuple[str, ...] = tuple(
    sorted(
        """
        aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd
        bob brl bsd bwp byn bzd cad cdf chf clp cny cop crc cve czk djf dkk dop
        dzd egp etb eur fjd fkp gbp gel gip gmd gnf gtq gyd hkd hnl htg huf idr
        ils inr isk jmd jod jpy kes kgs khr kmf krw kwd kyd kzt lak lbp lkr lrd
        lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn nad ngn nio nok
        npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr
        sek sgd shp sle sos srd std szl thb tjs tnd top try ttd twd tzs uah ugx
        usd uyu uzs vnd vuv wst xaf xcd xof xpf yer zar zmw
        """.split()
    )
)
_SUPPORTED = frozenset(SUPPORTED_CURRENCIES)

# "Zero-decimal currencies": the amount is the number of whole units.  Stripe's
# list also names UGX, but its "Special cases" table (the more specific rule,
# worded exactly like ISK's) says UGX must be sent as a two-decimal value, so
# UGX lives in _WHOLE_UNITS_ONLY instead.
_ZERO_DECIMAL = frozenset("bif clp djf gnf jpy kmf krw mga pyg rwf vnd vuv xaf xof xpf".split())

# "Three-decimal currencies": amounts are in thousandths, but "these API calls
# require the least-significant (last) digit to be 0 ... 5.124 KWD must be
# rounded to 5120 or 5130."  The current page no longer spells this rule out
# (it still lists these currencies and advertises three-decimal support), so we
# keep to it: a rep may type 3 decimals, the last one 0.  We refuse rather than
# round, so the invoice says exactly what the rep typed.
_THREE_DECIMAL = frozenset("bhd jod kwd omr tnd".split())

# "Special cases": "ISK/UGX transitioned to a zero-decimal currency, but
# backwards compatibility requires you to represent it as a two-decimal value,
# where the decimal amount is always 00 ... to charge 5 ISK, provide an amount
# value of 500.  You can't charge fractions of ISK."  So the API exponent is 2
# while a person types whole krónur/shillings only.
#
# HUF and TWD are in the same table, but only for *payouts*: "Stripe treats HUF
# [TWD] as a zero-decimal currency for payouts, even though you can charge
# two-decimal amounts."  Invoices are charges and invoicebot never creates
# payouts, so HUF and TWD are ordinary two-decimal currencies here, typed with
# up to 2 decimals (which is also what CLDR/Babel shows for them).
_WHOLE_UNITS_ONLY = frozenset({"isk", "ugx"})

# Babel's en_US rendering is what parse_amount must read back.
_DISPLAY_LOCALE = "en_US"


def _code(currency: str) -> str:
    """Lowercase code of a supported currency; anything else is a programming error."""
    if not isinstance(currency, str):
        raise TypeError(f"currency must be a str, not {type(currency).__name__}")
    code = currency.lower()
    if code not in _SUPPORTED:
        raise ValueError(f"{currency!r} is not a currency Stripe supports")
    return code


def _check_minor(minor: int) -> None:
    # bool is an int subclass, and a float here means a float crept in upstream.
    if type(minor) is not int:
        raise TypeError(f"amounts are int minor units, not {type(minor).__name__}")


def is_supported(currency: str) -> bool:
    """True if Stripe can invoice in ``currency`` (ISO code, any case)."""
    return isinstance(currency, str) and currency.lower() in _SUPPORTED


def exponent(currency: str) -> int:
    """Decimals in Stripe's API amounts: amount = major units x 10**exponent."""
    code = _code(currency)
    if code in _ZERO_DECIMAL:
        return 0
    if code in _THREE_DECIMAL:
        return 3
    return 2  # "Currencies are two-decimal currencies unless otherwise specified."


def typed_decimals(currency: str) -> int:
    """How many decimals a person may type (and sees) for ``currency``."""
    code = _code(currency)
    if code in _WHOLE_UNITS_ONLY:
        return 0
    return exponent(code)


def minor_step(currency: str) -> int:
    """Granularity of valid Stripe amounts, in minor units.

    100 for ISK/UGX (decimal part always 00), 10 for three-decimal currencies
    (last digit must be 0), 1 otherwise.
    """
    code = _code(currency)
    if code in _THREE_DECIMAL:
        return 10
    return int(10 ** (exponent(code) - typed_decimals(code)))


def to_decimal(minor: int, currency: str) -> Decimal:
    """Exact major units: ``to_decimal(1050, "usd") == Decimal("10.50")``."""
    _check_minor(minor)
    exp = exponent(currency)
    # Built from sign/digits/exponent so no context precision or rounding applies.
    return Decimal((1 if minor < 0 else 0, tuple(int(d) for d in str(abs(minor))), -exp))


def _shown_decimals(minor: int, code: str) -> int:
    """Decimals to show: the typed ones, unless that would hide part of the amount.

    Stripe can hand back amounts we would never accept as input (e.g. an ISK
    amount that is not a multiple of 100 after a proration); showing them in
    full is better than silently rounding on screen.
    """
    exp, typed = exponent(code), typed_decimals(code)
    return typed if minor % 10 ** (exp - typed) == 0 else exp


def _plain(minor: int, code: str) -> str:
    """Ungrouped major-unit text with exactly _shown_decimals decimals."""
    exp = exponent(code)
    shown = _shown_decimals(minor, code)
    whole, frac = divmod(abs(minor), 10**exp)
    sign = "-" if minor < 0 else ""
    if shown == 0:
        return f"{sign}{whole}"
    hidden_zeros = exp - shown  # 0 unless ISK/UGX, whose frac is then 0 anyway
    return f"{sign}{whole}.{frac // 10**hidden_zeros:0{shown}d}"


def format_for_input(minor: int, currency: str) -> str:
    """Plain text a rep could type back: "1234.00", "1000", "1.250"."""
    _check_minor(minor)
    return _plain(minor, _code(currency))


@lru_cache(maxsize=256)
def _pattern(locale: str, decimals: int) -> NumberPattern:
    # The locale's own currency pattern (symbol position, grouping, spacing),
    # with only the number of decimals replaced by Stripe's.  Babel would
    # otherwise use CLDR's digits, which for AFN, ALL, LAK, LBP, MMK, RSD, SOS,
    # STD and YER is 0 although Stripe charges them in hundredths, and would
    # round those amounts on screen.
    pattern: NumberPattern = copy.copy(Locale.parse(locale).currency_formats["standard"])
    pattern.frac_prec = (decimals, decimals)
    return pattern


@lru_cache(maxsize=4096, typed=True)  # typed: True (a bool) must not hit the entry for 1
def format_amount(minor: int, currency: str, locale: str = _DISPLAY_LOCALE) -> str:
    """Human display via Babel: ``format_amount(123400, "usd") == "$1,234.00"``.

    Negative (refunds) and zero amounts are fine here. Cached: Babel takes ~150 us a call, and a
    billing run repeats its plans' amounts thousands of times.
    """
    _check_minor(minor)
    if not is_supported(currency):
        # An invoice made outside the bot may use a currency newer than our list: Stripe's rule is
        # "two decimals unless otherwise specified", so show it that way rather than fail a notice.
        value = Decimal(minor).scaleb(-2)
        return f"{value:,.2f} {str(currency).upper()}"
    code = _code(currency)
    value = to_decimal(minor, code)
    pattern = _pattern(locale, _shown_decimals(minor, code))
    return format_currency(value, code.upper(), format=pattern, locale=locale, currency_digits=False)


def currency_label(currency: str, locale: str = _DISPLAY_LOCALE) -> str:
    """Select-menu text like "USD - US Dollar" (Slack caps option text at 75 chars)."""
    code = _code(currency).upper()
    label = f"{code} - {get_currency_name(code, locale=locale)}"
    return label if len(label) <= 75 else label[:74] + "…"


# --------------------------------------------------------------------------
# Parsing what a rep typed
# --------------------------------------------------------------------------

# Japanese and Chinese IMEs often produce full-width digits; they mean the same.
_FULL_WIDTH = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)}, "，": ",", "．": "."})
_MINUS_SIGNS = "-\u2212\u2013"  # hyphen-minus, minus sign, en dash

# ASCII-only on purpose: str.isdigit() and Decimal() also accept other scripts'
# digits and "1_000", which a rep never means to type.
_NUMBER_CHARS = re.compile(r"[0-9., ]+")
_PLAIN_DIGITS = re.compile(r"[0-9]+")
_COMMA_GROUPS = re.compile(r"[1-9][0-9]{0,2}(?:,[0-9]{3})+")
_SPACE_GROUPS = re.compile(r"[1-9][0-9]{0,2}(?: [0-9]{3})+")
_SCIENTIFIC = re.compile(r"[0-9.,]*[0-9][eE][+-]?[0-9]+")
_LEADING_WORD = re.compile(r"^[^0-9.,]+")
_TRAILING_WORD = re.compile(r"[^0-9.,]+$")


def _spaces(text: str) -> str:
    # Babel puts U+00A0/U+202F inside some symbols ("F CFA"); people paste
    # those, tabs and doubled spaces.  All of them become one plain space.
    return " ".join("".join(" " if ch.isspace() else ch for ch in text).split())


@cache
def _markers(code: str) -> tuple[str, ...]:
    """What may stand next to the number for ``code``: its ISO code and en_US symbol."""
    symbol = _spaces(get_currency_symbol(code.upper(), locale=_DISPLAY_LOCALE))
    return tuple(sorted({code.upper(), symbol}, key=len, reverse=True))


@cache
def _marker_owners() -> dict[str, str]:
    """Casefolded code or en_US symbol -> currency code, to name a wrong currency."""
    owners: dict[str, str] = {}
    for code in SUPPORTED_CURRENCIES:
        for marker in _markers(code):
            owners.setdefault(marker.casefold(), code)
    return owners


def _example(code: str) -> str:
    return {0: "1250", 2: "1250.50", 3: "12.500"}[typed_decimals(code)]


def _strip_sign(text: str) -> tuple[str, bool]:
    if text[:1] and text[0] in _MINUS_SIGNS:
        return text[1:].lstrip(), True
    return text, False


def _strip_markers(text: str, code: str) -> tuple[str, bool]:
    """Remove one own-currency marker before and one after the number, and any minus."""
    text, negative = _strip_sign(text)
    for marker in _markers(code):
        if text[: len(marker)].casefold() == marker.casefold():
            text = text[len(marker) :].lstrip()
            break
    text, negative_after_symbol = _strip_sign(text)  # "$-5", as well as Babel's "-$5"
    for marker in _markers(code):
        if len(text) > len(marker) and text[-len(marker) :].casefold() == marker.casefold():
            text = text[: -len(marker)].rstrip()
            break
    return text, negative or negative_after_symbol


def _not_a_number(body: str, code: str) -> AmountError:
    """The most helpful error for text that has something other than digits in it."""
    example = _example(code)
    if body.casefold() in {"nan", "snan", "inf", "infinity"}:
        return AmountError(f"Type the amount in digits, like {example}.")
    if _SCIENTIFIC.fullmatch(body):
        return AmountError(f"Type all the digits (like 1000000), not “{body}”.")
    for pattern in (_LEADING_WORD, _TRAILING_WORD):
        match = pattern.search(body)
        word = match.group(0).strip() if match else ""
        other = _marker_owners().get(word.casefold())
        if other and other != code:
            named = other.upper() if word.upper() == other.upper() else f"{other.upper()} (“{word}”)"
            return AmountError(
                f"This invoice is in {code.upper()}, not {named}. Type just the number, like {example}."
            )
    return AmountError(f"“{body}” isn't an amount. Type digits only, like {example}.")


def _split_number(body: str, code: str) -> tuple[str, str]:
    """Validate the number's shape; return (integer digits, decimal digits)."""
    typed = typed_decimals(code)
    upper = code.upper()
    if not _NUMBER_CHARS.fullmatch(body):
        raise _not_a_number(body, code)

    int_part, dot, frac = body.partition(".")
    if typed == 0 and dot:
        # "1.000" is one thousand to much of Europe, so no dot is ever read as a
        # decimal point here; the suggestion guesses which reading was meant.
        groups = body.replace(",", "").replace(" ", "").split(".")
        thousands = all(len(g) == 3 for g in groups[1:]) and all(g.isdigit() for g in groups)
        suggestion = "".join(groups) if thousands else groups[0] or "0"
        raise AmountError(f"{upper} has no decimals: type {suggestion}, not {body}.")
    if "." in frac:
        raise AmountError("Use one dot for decimals and commas for thousands, like 1,000,000.50.")
    if dot and not _PLAIN_DIGITS.fullmatch(frac):
        if frac == "":
            raise AmountError(f"Type decimals after the dot (like {_example(code)}) or leave the dot out.")
        raise AmountError("Use a dot for decimals and commas for thousands, like 1,000.50.")

    if int_part == "" and dot:
        int_part = "0"  # ".5" is unambiguous
    if _PLAIN_DIGITS.fullmatch(int_part):
        digits = int_part
    elif _COMMA_GROUPS.fullmatch(int_part):
        if typed == 3 and not dot and int_part.count(",") == 1:
            # For dinars "1,250" is also how 1.250 is written with a decimal comma.
            plain = int_part.replace(",", "")
            raise AmountError(
                f"“{int_part}” is ambiguous for {upper}: type {plain} or {int_part.replace(',', '.')}."
            )
        digits = int_part.replace(",", "")
    elif _SPACE_GROUPS.fullmatch(int_part):
        digits = int_part.replace(" ", "")
    elif "," in int_part and " " in int_part:
        raise AmountError("Separate thousands with commas or with spaces, not both.")
    elif "," in int_part:
        # "1,00", "0,50", "12,5": a decimal comma, or a mistyped thousands group?
        raise AmountError(
            f"“{body}” is ambiguous. Use a dot for decimals (like 1.50)"
            " and commas only between groups of three digits (like 1,000)."
        )
    else:
        raise AmountError(f"Group digits in threes (like 1 000 000) or leave the spaces out, not “{body}”.")
    return digits, frac


def parse_amount(text: str, currency: str, *, max_integer_digits: int = 8) -> int:
    """What a rep typed, in major units, as a positive integer amount for Stripe.

    Accepted: "10", "10.5", "10.00", "1,000.00", " 1 000 ", the currency's ISO
    code or en_US symbol before or after the number ("$10", "10 USD"), and so
    everything ``format_amount(x, currency)`` shows for a positive x within
    ``max_integer_digits``.  Refused,
    with an AmountError saying what to type instead: anything ambiguous ("1,00",
    a dot in a zero-decimal currency), more decimals than
    ``typed_decimals(currency)``, another currency's sign, signs, exponents,
    NaN/Infinity, zero, and more than ``max_integer_digits`` whole digits.
    ``parse_amount("500", "isk") == 50000`` (Stripe's two-decimal ISK).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, not {type(text).__name__}")
    if type(max_integer_digits) is not int or max_integer_digits < 1:
        raise ValueError("max_integer_digits must be a positive int")
    code = _code(currency)
    upper = code.upper()

    body, negative = _strip_markers(_spaces(text.translate(_FULL_WIDTH)), code)
    if negative:
        raise AmountError("Type the amount without a minus sign; it must be more than zero.")
    if not body:
        raise AmountError(f"Enter an amount, like {_example(code)}.")

    digits, frac = _split_number(body, code)

    allowed = typed_decimals(code)
    if len(frac) > allowed:
        # Refused even when the extra digits are zeros: "10.000" is ten
        # thousand in much of Europe.
        raise AmountError(
            f"{upper} amounts have at most {allowed} decimals (like {_example(code)}), not {body}."
        )
    if len(digits.lstrip("0")) > max_integer_digits:
        raise AmountError(f"That's too large: at most {max_integer_digits} digits before the decimal point.")

    # Decimal from validated ASCII digits, scaled by a power of ten.  The
    # Inexact/Rounded traps make any loss of digits an exception instead of a
    # silently different invoice (the context is sized so none can happen).
    with localcontext() as ctx:
        ctx.prec = len(digits) + exponent(code) + 1
        ctx.traps[Inexact] = ctx.traps[Rounded] = True
        minor = int(Decimal(f"{digits}.{frac or '0'}").scaleb(exponent(code)))

    if minor == 0:
        raise AmountError("The amount must be more than zero.")
    step = minor_step(code)
    if minor % step:
        lower = minor - minor % step
        options = [format_for_input(m, code) for m in (lower, lower + step) if m > 0]
        raise AmountError(
            f"Stripe needs {upper} amounts to end in 0: type {' or '.join(options)}, not {body}."
        )
    return minor


# --------------------------------------------------------------------------
# A small value type for callers that carry amount and currency together
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Money:
    """An amount in Stripe minor units with its (lowercase) currency.

    Negative amounts are allowed (refunds, credit notes).  Adding two Money
    values of different currencies raises ValueError rather than guessing a rate.
    """

    amount: int
    currency: str

    def __post_init__(self) -> None:
        _check_minor(self.amount)
        object.__setattr__(self, "currency", _code(self.currency))

    @classmethod
    def parse(cls, text: str, currency: str, *, max_integer_digits: int = 8) -> Money:
        return cls(parse_amount(text, currency, max_integer_digits=max_integer_digits), currency)

    def format(self, locale: str = _DISPLAY_LOCALE) -> str:
        return format_amount(self.amount, self.currency, locale)

    def to_decimal(self) -> Decimal:
        return to_decimal(self.amount, self.currency)

    def __add__(self, other: object) -> Money:
        if not isinstance(other, Money):
            return NotImplemented
        if other.currency != self.currency:
            raise ValueError(
                f"can't add {other.currency.upper()} to {self.currency.upper()}: convert explicitly first"
            )
        return Money(self.amount + other.amount, self.currency)

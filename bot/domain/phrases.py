"""Reading a Slack message for "Invoice this": who to bill and how much, as people write it.

`read_message(text, known)` is pure and total: whatever the text, it returns a `Reading` and never
raises. It fills in only what it reads one way; everything else is left for the rep, with a note
saying why (`Reading.notes`), and a currency is never guessed silently.

- **Amounts** are numbers next to a currency marker: a symbol (`$1,250`, `5€`, `¥1000`, `US$`, `CA$`,
  `CN¥`), an ISO code before or after (`EUR 99,90`, `1.250 KWD`; upper case, or lower case for common
  codes), or a word (`1000 yen`, `100 kr`). A bare number is not an amount (a date, a count, an order).
- **Separators** are read by the currency's decimals (`bot.money`): the last of `.` and `,` is the decimal
  point when both appear; one separator followed by exactly three digits groups thousands unless the
  currency has three decimals (`1.250 KWD` is 1.250 dinars; `1,250 KWD` is ambiguous, as `money` says);
  any other single separator is the decimal point (`EUR 99,90`), which must not carry more decimals than
  the currency has. Groups are of three (`'`, no-break spaces too; lakh grouping for rupees). A plain
  space between digit groups (`12 500 EUR`) is ambiguous: two numbers, or one?
- **Ambiguous markers** (`¥` is JPY or CNY, `kr`, `Rs`) leave the currency empty, unless a currency named
  elsewhere in the message (`¥1,000 JPY`, `prices in JPY`) settles it; the amount is filled in when it
  reads the same in every currency the marker may mean. `$` is read as US dollars (another dollar when
  one is named, `$5 CAD`), and the note says so.
- **Refused**: negative amounts, ranges (`$50-100`), magnitudes (`$5k`, `$2 million`), percentages, zero,
  more than 8 whole digits, another currency's marker on the same number, and anything `money`
  refuses (`1.255 KWD`: Stripe needs the last digit 0).
- **Customer**: the one email address in the message (a known customer's, or a new customer's), or a
  known customer's name (of `known`) found whole in the text; several of either are left for the rep.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal, InvalidOperation

from bot import money
from bot.domain.records import Customer

MAX_TEXT = 4000  # characters of a message read: a Slack message may hold 40,000
MAX_LINES = 10  # amounts filled in as lines
MAX_EMAILS = 5
MAX_DESCRIPTION = 250  # the modal's description field
MAX_QUANTITY = 1_000_000
MIN_NAME = 3  # shorter customer names match too much ("Al", "X")

__all__ = ["DASHBOARD_LINK", "HOSTED_LINK", "Line", "Reading", "find_emails", "invoice_link", "plain_text",
           "read_message"]


@dataclass(frozen=True)
class Line:
    """One amount of the message, as a line of the invoice form."""

    written: str  # as the message has it: "$1,250"
    amount: str = ""  # the unit amount field ("1250.00"); empty when left for the rep
    minor: int | None = None  # in the invoice's currency, when known and read
    quantity: int = 1
    description: str = ""


@dataclass(frozen=True)
class Reading:
    """What the message says, as far as it says it one way."""

    currency: str | None = None  # lowercase ISO code; None: the rep picks it
    lines: tuple[Line, ...] = ()
    customer_id: str | None = None  # a known customer (`known`)
    customer_label: str | None = None
    email: str | None = None  # a new customer's email (no known customer has it)
    notes: tuple[str, ...] = ()  # plain text, for the rep: what was read how, and what was not

    @property
    def amounts(self) -> tuple[str, ...]:
        return tuple(line.amount for line in self.lines)


# --- currency markers --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Marker:
    codes: frozenset[str]
    preferred: str | None = None  # read as this when nothing else in the message says which


def _marker(*codes: str, preferred: str | None = None) -> _Marker:
    supported = frozenset(code for code in codes if money.is_supported(code))
    return _Marker(supported, preferred if preferred in supported else None)


_DOLLARS = _marker("usd", "cad", "aud", "nzd", "hkd", "sgd", "mxn", "twd", "bsd", "bbd", "bmd", "bzd", "fjd",
                   "gyd", "jmd", "kyd", "lrd", "nad", "sbd", "srd", "ttd", "xcd", preferred="usd")
_YEN_OR_YUAN = _marker("jpy", "cny")
_SYMBOLS: dict[str, _Marker] = {
    "$": _DOLLARS, "€": _marker("eur"), "£": _marker("gbp"), "¥": _YEN_OR_YUAN, "￥": _YEN_OR_YUAN,
    "₹": _marker("inr"), "₩": _marker("krw"), "₪": _marker("ils"), "₱": _marker("php"), "₺": _marker("try"),
    "₫": _marker("vnd"), "฿": _marker("thb"), "₦": _marker("ngn"), "₴": _marker("uah"), "₸": _marker("kzt"),
    "₽": _marker("rub"),
}
# Letters written right before a symbol: "US$", "CA$", "CN¥".
_PREFIXED: dict[tuple[str, str], _Marker] = {
    **{(prefix, "$"): _marker(code) for prefix, code in (
        ("US", "usd"), ("CA", "cad"), ("C", "cad"), ("CAD", "cad"), ("A", "aud"), ("AU", "aud"), ("AUD", "aud"),
        ("NZ", "nzd"), ("HK", "hkd"), ("S", "sgd"), ("SG", "sgd"), ("MX", "mxn"), ("R", "brl"), ("NT", "twd"))},
    ("CN", "¥"): _marker("cny"), ("RMB", "¥"): _marker("cny"), ("JP", "¥"): _marker("jpy"),
    ("CN", "￥"): _marker("cny"), ("JP", "￥"): _marker("jpy"),
}
# Words (matched case-insensitively) that name a currency or several.
_WORDS: dict[str, _Marker] = {
    "kr": _marker("sek", "nok", "dkk", "isk"), "rs": _marker("inr", "pkr", "lkr", "npr"),
    "rmb": _marker("cny"), "円": _marker("jpy"), "元": _marker("cny"), "yen": _marker("jpy"),
    "euro": _marker("eur"), "euros": _marker("eur"), "zł": _marker("pln"), "kč": _marker("czk"),
    "dollar": _DOLLARS, "dollars": _DOLLARS,
}
# ISO codes are markers in capitals ("EUR"); these also in lower case ("99 eur").
_LOWER_CASE_CODES = frozenset({"usd", "eur", "gbp", "jpy", "cad", "aud", "chf", "sek", "nok", "dkk", "inr", "sgd",
                               "nzd", "mxn", "brl", "kwd", "cny", "hkd"})
# Capitalised English words that are also ISO codes: "send ALL 3 invoices" is no amount in leks.
_NOT_CODES = frozenset({"all", "top"})
_MAGNITUDES = frozenset({"k", "m", "mm", "mn", "b", "bn", "mil", "mio", "million", "millions", "billion", "billions",
                         "thousand", "thousands", "grand", "lakh", "lakhs", "crore", "crores", "tsd"})
_LAKH = frozenset({"inr", "pkr", "npr"})  # 1,25,000
_SIGNS = frozenset("-−–")
_TIMES = frozenset({"x", "X", "×"})
_NAMES = {"usd": "US dollars", "jpy": "JPY", "cny": "CNY"}


# --- the text -----------------------------------------------------------------------------------------
_FULL_WIDTH = str.maketrans({**{chr(0xFF10 + digit): str(digit) for digit in range(10)}, "，": ",", "．": ".",
                             "＄": "$", "＃": "#"})
_SLACK_REFERENCE = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
_URL = re.compile(r"\b(?:https?|ftp)://\S+", re.IGNORECASE)
_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.[A-Za-z]{2,63}(?![\w-])")


def _reference(match: re.Match[str]) -> str:
    target, label = match.group(1), match.group(2)
    if target.startswith("mailto:"):
        return " " + target.removeprefix("mailto:") + " "
    if target[:1] in ("@", "#", "!"):  # people, channels, @here: nobody to bill
        return " "
    return " " + (label if label else target) + " "


def plain_text(text: str) -> str:
    """A message's text as people read it: Slack's `<mailto:…|…>`, `<https://…|label>`, mentions and
    `&amp;` undone, full-width digits made ASCII, control and format characters made spaces."""
    text = _SLACK_REFERENCE.sub(_reference, text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    text = unicodedata.normalize("NFC", text.translate(_FULL_WIDTH))
    return "".join(char if char in "\n\u00a0\u202f" or unicodedata.category(char) not in ("Cc", "Cf", "Cs", "Zl", "Zp")
                   else "\n" if char in "\r\u2028\u2029" else " " for char in text)


def find_emails(text: str) -> tuple[str, ...]:
    """The distinct email addresses of a message (lower case, in order), at most MAX_EMAILS."""
    return _emails(plain_text(text[:MAX_TEXT]))


def _emails(plain: str) -> tuple[str, ...]:
    found = dict.fromkeys(match.group(0).lower() for match in _EMAIL.finditer(plain))
    return tuple(found)[:MAX_EMAILS]


# --- tokens -------------------------------------------------------------------------------------------
_TOKEN = re.compile(
    r"(?P<number>[0-9](?:[0-9.,'’\u00a0\u202f]|\x20(?=[0-9]{3}(?![0-9])))*[0-9]|[0-9]|(?<![\w.,])[.,][0-9]+)"
    r"|(?P<word>[^\W\d_]+)"
    r"|(?P<space>\s+)"
    r"|(?P<other>.)",
    re.DOTALL,
)


@dataclass
class _Token:
    kind: str  # number, word, other
    text: str
    start: int
    end: int
    gap: str  # what separates it from the token before: "" (glued), " " or "\n"
    marker: _Marker | None = None
    prefix: bool = False  # letters that belong to the symbol after ("US" of "US$")


def _tokens(plain: str) -> list[_Token]:
    tokens: list[_Token] = []
    gap = "\n"
    for match in _TOKEN.finditer(plain):
        kind = match.lastgroup or "other"
        if kind == "space":
            gap = "\n" if "\n" in match.group(0) else (" " if gap != "\n" else gap)
            continue
        tokens.append(_Token(kind, match.group(0), match.start(), match.end(), gap if tokens else "\n"))
        gap = ""
    for index, token in enumerate(tokens):
        if token.kind == "word":
            token.marker = _word_marker(token.text)
        elif token.text in _SYMBOLS:
            token.marker = _SYMBOLS[token.text]
            before = tokens[index - 1] if index else None
            if before is not None and before.kind == "word" and token.gap == "" \
                    and (before.text.upper(), token.text) in _PREFIXED:
                token.marker = _PREFIXED[(before.text.upper(), token.text)]
                before.prefix, before.marker = True, None
    return tokens


def _word_marker(word: str) -> _Marker | None:
    lower = word.lower()
    if lower in _WORDS:
        return _WORDS[lower]
    if lower in _NOT_CODES or not money.is_supported(lower) or len(word) != 3:
        return None
    if word.isupper() or (word.islower() and lower in _LOWER_CASE_CODES):
        return _marker(lower)
    return None


# --- reading numbers ----------------------------------------------------------------------------------
class _Unreadable(Exception):
    """Internal: why a number does not read; always caught in this module."""


_GROUP_CHARS = "'’\u00a0\u202f"


def _grouped(digits: str, separator: str | None, lakh: bool) -> str:
    """Digits grouped by `separator` (None: plain), validated; the bare digits."""
    if separator is None:
        if not digits.isdigit():
            raise _Unreadable("the digits are mixed with other characters")
        return digits
    parts = digits.split(separator)
    if not all(part.isdigit() and part.isascii() for part in parts):
        raise _Unreadable("it mixes two kinds of separators")
    western = re.fullmatch(r"[1-9][0-9]{0,2}", parts[0]) is not None and all(len(part) == 3 for part in parts[1:])
    indian = lakh and separator == "," and re.fullmatch(r"[1-9][0-9]?", parts[0]) is not None \
        and all(len(part) == 2 for part in parts[1:-1]) and len(parts[-1]) == 3
    if not (western or indian):
        raise _Unreadable("its digits are not grouped in threes")
    return "".join(parts)


def _group_separator(text: str) -> str | None:
    found = {"'" if char == "’" else char for char in text if char in _GROUP_CHARS}
    if len(found) > 1:
        raise _Unreadable("it mixes two kinds of separators")
    return next(iter(found), None)


def _split(number: str, decimals: int, lakh: bool) -> tuple[str, str]:
    """(whole digits, decimal digits) of `number` in a currency typed with `decimals` decimals."""
    if " " in number:
        raise _Unreadable("a space between digits could part two numbers")
    dots, commas = number.count("."), number.count(",")
    if dots and commas:
        point = max(number.rfind("."), number.rfind(","))
        decimal, thousands = number[point], "," if number[point] == "." else "."
        if number.count(decimal) != 1 or _group_separator(number[:point]) is not None:
            raise _Unreadable("its separators do not read one way")
        whole, fraction = _grouped(number[:point], thousands, lakh), number[point + 1:]
    elif dots + commas > 1:
        separator = "." if dots else ","
        if _group_separator(number) is not None:
            raise _Unreadable("it mixes two kinds of separators")
        whole, fraction = _grouped(number, separator, lakh), ""
    elif dots + commas == 1:
        separator = "." if dots else ","
        before, _, after = number.partition(separator)
        others = _group_separator(before)
        if before and len(after) == 3 and others is None and decimals != 3:
            whole, fraction = _grouped(number, separator, lakh), ""  # 1,250 or 1.250: thousands
        elif before and len(after) == 3 and others is None and separator == ",":
            raise _Unreadable(f"it could be {before}{after} or {before}.{after}")
        else:
            whole, fraction = (_grouped(before, others, lakh) if before else "0"), after
    else:
        whole, fraction = _grouped(number, _group_separator(number), lakh), ""
    if not fraction.isdigit() and fraction:
        raise _Unreadable("its decimals are not digits")
    if len(fraction) > decimals:
        raise _Unreadable("it has no decimals in this currency" if decimals == 0
                          else f"it has more than {decimals} decimals")
    return whole, fraction


def _in_currency(number: str, code: str) -> tuple[int, str]:
    """(minor units, the text for the amount field) of `number` in `code`, or _Unreadable."""
    whole, fraction = _split(number, money.typed_decimals(code), code in _LAKH)
    typed = f"{whole}.{fraction}" if fraction else whole
    try:
        minor = money.parse_amount(typed, code)
    except money.AmountError as error:
        raise _Unreadable(str(error).rstrip(".")) from None
    return minor, money.format_for_input(minor, code)


def _value(number: str, code: str) -> Decimal:
    """The amount in major units, exactly (a reading of `number` valid in `code`)."""
    minor, _ = _in_currency(number, code)
    return money.to_decimal(minor, code)


# --- amounts in the text ------------------------------------------------------------------------------
@dataclass
class _Amount:
    number: int  # token index of the number
    first: int  # token indexes the expression spans (markers, signs, quantity)
    last: int
    markers: list[int] = field(default_factory=list)
    problem: str | None = None
    quantity: int = 1


def _standalone(tokens: list[_Token], index: int) -> bool:
    """A number that stands on its own, not part of an identifier, a date or a version ("Q3", "INV-0001",
    "2024-03-01", "v1.2", "#12")."""
    if tokens[index].gap or index == 0:
        return True
    before = tokens[index - 1]
    if before.kind == "word":
        return before.marker is not None
    if before.text in "#/:@_\\":
        return False
    if before.text in _SIGNS and index >= 2 and not before.gap:
        earlier = tokens[index - 2]
        return not (earlier.kind in ("word", "number") and earlier.marker is None)
    return True


def _number_near(tokens: list[_Token], marker: int, step: int) -> int | None:
    """The standalone number right before (-1) or after (+1) a marker: glued or one space away, a
    minus glued in between ("$-50")."""
    index = marker + step
    if not 0 <= index < len(tokens):
        return None
    gap = tokens[max(marker, index)].gap
    if gap == "\n":
        return None
    if step == 1 and tokens[marker].kind == "word" and tokens[index].text == "." and gap == "" \
            and index + 1 < len(tokens):  # "Rs. 500", "kr. 100"
        index += 1
        gap = tokens[index].gap
        if gap == "\n":
            return None
    if tokens[index].kind == "other" and tokens[index].text in _SIGNS and gap == "":
        following = index + step
        if 0 <= following < len(tokens) and tokens[max(index, following)].gap == "" \
                and tokens[following].kind == "number":
            index = following
    if tokens[index].kind != "number" or not _standalone(tokens, index):
        return None
    return index


def _bind(tokens: list[_Token]) -> tuple[dict[int, _Amount], set[str]]:
    """Numbers bound to their currency markers; and the codes named by markers bound to no number."""
    amounts: dict[int, _Amount] = {}
    undecided: list[tuple[int, int, int]] = []
    bound_markers: set[int] = set()

    def attach(number: int, marker: int) -> None:
        amount = amounts.setdefault(number, _Amount(number, number, number))
        amount.markers.append(marker)
        amount.first, amount.last = min(amount.first, marker), max(amount.last, marker)
        bound_markers.add(marker)

    for index, token in enumerate(tokens):
        if token.marker is None:
            continue
        after, before = _number_near(tokens, index, +1), _number_near(tokens, index, -1)
        glued_after = after is not None and tokens[index + 1].gap == ""
        glued_before = before is not None and token.gap == ""
        if after is not None and before is not None and glued_after != glued_before:
            attach(after if glued_after else before, index)  # "5€ 10€", "EUR99 and 5": the glued one
        elif token.kind == "other" and after is not None:  # a symbol: the number after it ("$5")...
            attach(after, index)
        elif after is not None and before is not None:
            undecided.append((index, before, after))
        elif after is not None:
            attach(after, index)
        elif before is not None:  # ..., else the one before ("5 €", "99,90 EUR")
            attach(before, index)
    for index, before, after in undecided:  # "103 EUR 50": the side no other marker claimed, else neither
        free = [number for number in (before, after) if number not in amounts]
        if len(free) == 1:
            attach(free[0], index)
        elif len(free) == 2:
            for number in free:
                attach(number, index)
                amounts[number].problem = f"“{tokens[index].text}” stands between two numbers"
    hints = {code for index, token in enumerate(tokens) if token.marker is not None and index not in bound_markers
             and len(token.marker.codes) == 1 for code in token.marker.codes}
    return amounts, hints


def _check_shape(tokens: list[_Token], amount: _Amount) -> None:
    """Signs, magnitudes, ranges, percentages and letters around the number: refused."""
    number = amount.number
    nxt = tokens[number + 1] if number + 1 < len(tokens) else None
    signs = [tokens[i] for i in range(amount.first, amount.last + 1) if tokens[i].text in _SIGNS]
    before = tokens[amount.first - 1] if amount.first > 0 else None
    if signs or (before is not None and before.text in _SIGNS and not tokens[amount.first].gap):
        raise _Unreadable("it is negative")
    if nxt is not None and not nxt.gap:
        if nxt.kind == "word" and nxt.marker is None and nxt.text not in _TIMES:
            raise _Unreadable(f"“{tokens[number].text}{nxt.text}” is not a whole amount")
        if nxt.text == "%":
            raise _Unreadable("it is a percentage")
        if nxt.text in _SIGNS and number + 2 < len(tokens) and not tokens[number + 2].gap \
                and tokens[number + 2].kind == "number":
            raise _Unreadable("it is a range")
    after = tokens[amount.last + 1] if amount.last + 1 < len(tokens) else None
    if after is not None and after.gap != "\n" and after.kind == "word" and after.text.lower() in _MAGNITUDES:
        raise _Unreadable(f"“{after.text}” multiplies it")
    if after is not None and after.gap != "\n" and after.kind == "word" and after.marker is None and not after.gap \
            and after.text not in _TIMES:
        raise _Unreadable("letters are glued to it")


def _whole_number(token: _Token) -> int | None:
    if token.kind != "number" or not token.text.isdigit() or len(token.text) > 7:
        return None
    value = int(token.text)
    return value if 1 <= value <= MAX_QUANTITY else None


def _quantity(tokens: list[_Token], amount: _Amount, amounts: dict[int, _Amount]) -> None:
    """"3 x $50", "3x $50", "$50 x 3": the quantity, taken into the expression."""
    first, last = amount.first, amount.last
    if first >= 2 and tokens[first - 1].text in _TIMES and tokens[first].gap != "\n" \
            and tokens[first - 1].gap != "\n" and first - 2 not in amounts:
        count = _whole_number(tokens[first - 2])
        if count is not None and _standalone(tokens, first - 2):
            amount.quantity, amount.first = count, first - 2
            return
    if last + 2 < len(tokens) and tokens[last + 1].text in _TIMES and tokens[last + 1].gap != "\n" \
            and tokens[last + 2].gap != "\n" and last + 2 not in amounts:
        count = _whole_number(tokens[last + 2])
        following = tokens[last + 3] if last + 3 < len(tokens) else None
        if count is not None and (following is None or following.gap or following.kind == "other"):
            amount.quantity, amount.last = count, last + 2


@dataclass(frozen=True)
class _Read:
    """One amount, read: its currencies, its value in each (None: unreadable), and why not."""

    written: str
    start: int
    end: int
    codes: frozenset[str]
    preferred: str | None
    number: str
    quantity: int
    problem: str | None


def _amounts(plain: str, tokens: list[_Token]) -> tuple[list[_Read], set[str]]:
    bound, hints = _bind(tokens)
    found: list[_Read] = []
    for amount in sorted(bound.values(), key=lambda item: item.number):
        codes: frozenset[str] | None = None
        preferred: str | None = None
        for index in amount.markers:
            marker = tokens[index].marker
            assert marker is not None
            codes = marker.codes if codes is None else codes & marker.codes
            preferred = preferred or marker.preferred
        problem = amount.problem
        preferred = preferred if codes and preferred in codes else None
        if not codes:
            problem = problem or "it names two currencies"
        if problem is None:
            _quantity(tokens, amount, bound)
            try:
                _check_shape(tokens, amount)
            except _Unreadable as why:
                problem = str(why)
        start, end = tokens[amount.first].start, tokens[amount.last].end
        found.append(_Read(plain[start:end].strip(), start, end, codes or frozenset(), preferred,
                           tokens[amount.number].text, amount.quantity, problem))
    return found, hints


def _currency_of(read: _Read, hints: set[str]) -> tuple[str | None, bool]:
    """The one currency an amount is in, and whether a preference decided it ("$" as US dollars)."""
    if len(read.codes) == 1:
        return next(iter(read.codes)), False
    named = read.codes & hints
    if len(named) == 1:
        return next(iter(named)), False
    if read.preferred is not None:
        return read.preferred, True
    return None, False


def _common_reading(number: str, codes: Iterable[str]) -> str | None:
    """The amount field's text when `number` reads the same in every currency it may be in (of those
    where it reads at all): "1,000" -> "1000"."""
    values: set[Decimal] = set()
    for code in sorted(codes):
        try:
            values.add(_value(number, code))
        except _Unreadable:
            continue
    if len(values) != 1:
        return None
    value = values.pop()
    try:
        text = format(value.normalize(), "f")
    except InvalidOperation:
        return None
    return text if "." not in text or len(text.split(".")[1]) != 1 else text + "0"


# --- the customer -------------------------------------------------------------------------------------
def _fold(text: str) -> str:
    return " ".join(text.casefold().split())


def _occurs(name: str, text: str) -> list[tuple[int, int]]:
    """Where `name` occurs in `text` as whole words (both casefolded, spaces collapsed)."""
    spans: list[tuple[int, int]] = []
    start = 0
    while True:
        found = text.find(name, start)
        if found < 0:
            return spans
        end = found + len(name)
        if (found == 0 or not text[found - 1].isalnum()) and (end == len(text) or not text[end].isalnum()):
            spans.append((found, end))
        start = found + 1


@dataclass(frozen=True)
class _Customer:
    customer: Customer | None = None
    email: str | None = None
    note: str | None = None


def _customer(plain: str, emails: Sequence[str], known: Sequence[Customer]) -> _Customer:
    if len(emails) > 1:
        return _Customer(note=f"The message names {len(emails)} email addresses ({', '.join(emails[:3])}): pick "
                              "the customer.")
    if emails:
        email = emails[0]
        match = next((customer for customer in known if customer.email and customer.email.lower() == email), None)
        return _Customer(customer=match) if match else _Customer(email=email)
    text = _fold(plain)
    matches: list[tuple[int, int, Customer]] = []
    for customer in known:
        name = _fold(customer.name or "")
        if len(name) < MIN_NAME or "@" in name:
            continue
        matches += [(start, end, customer) for start, end in _occurs(name, text)]
    whole = [(start, end, customer) for start, end, customer in matches
             if not any(s <= start and end <= e and (e - s) > (end - start) for s, e, _ in matches)]
    chosen = {customer.stripe_id: customer for _, _, customer in whole}
    if len(chosen) == 1:
        return _Customer(customer=next(iter(chosen.values())))
    if len(chosen) > 1:
        names = sorted({customer.name for customer in chosen.values()})[:3]
        return _Customer(note=f"Several customers match ({', '.join(names)}): pick one.")
    return _Customer()


# --- descriptions -------------------------------------------------------------------------------------
_FILLERS = frozenset({"invoice", "invoicing", "bill", "charge", "please", "pls", "kindly", "can", "could", "would",
                      "you", "we", "hi", "hey", "send", "create", "make", "for", "to", "at", "of", "total", "amount",
                      "due", "is", "the", "a", "an", "and", "plus", "+", "@", "=", "cost", "costs", "price", "fee"})
_TRAILING_FILLERS = frozenset({"for", "at", "of", "to", "@", "and", "plus", "+", "=", "is", "the"})
_EDGES = " \t-–—:;,.•·|/=*_~`\"'“”‘’()[]{}!?"


def _clean(text: str, remove: Sequence[str]) -> str:
    text = _EMAIL.sub(" ", text)
    for phrase in remove:
        if phrase:
            text = re.sub(re.escape(phrase), " ", text, flags=re.IGNORECASE)
    words = text.replace("*", " ").replace("_", " ").replace("~", " ").replace("`", " ").split()
    while words and (words[0].strip(_EDGES).lower() in _FILLERS or not words[0].strip(_EDGES)):
        words.pop(0)
    while words and (words[-1].strip(_EDGES).lower() in _TRAILING_FILLERS or not words[-1].strip(_EDGES)):
        words.pop()
    cleaned = " ".join(words).strip(_EDGES)
    return cleaned[:MAX_DESCRIPTION].rstrip()


_BETWEEN = re.compile(r",|;|\band\b|&|\+|/|\s[-–—]\s", re.IGNORECASE)


def _descriptions(plain: str, reads: list[_Read], remove: Sequence[str]) -> list[str]:
    """Each amount's words, from its line: the text before the first amount is the first's, after the last the
    last's; text between two amounts is parted at its last comma, "and", "+"... (the words before it the first
    amount's, after it the second's: "EUR 99 for support, 2x €400 laptops", "design $500, hosting $20"), and
    without one goes to the first when it has no words yet, else to the second."""
    parts: list[list[str]] = [[] for _ in reads]
    for position, read in enumerate(reads):
        line_start = plain.rfind("\n", 0, read.start) + 1
        line_end = plain.find("\n", read.end)
        line_end = len(plain) if line_end < 0 else line_end
        previous = reads[position - 1] if position else None
        if previous is None or previous.end <= line_start:  # the first on its line
            parts[position].append(plain[line_start:read.start])
        else:
            between = plain[previous.end:read.start]
            separators = list(_BETWEEN.finditer(between))
            if separators:
                parts[position - 1].append(between[:separators[-1].start()])
                parts[position].append(between[separators[-1].end():])
            elif not _clean(" ".join(parts[position - 1]), remove):
                parts[position - 1].append(between)
            else:
                parts[position].append(between)
        following = reads[position + 1] if position + 1 < len(reads) else None
        if following is None or following.start >= line_end:  # the last on its line
            parts[position].append(plain[read.end:line_end])
    return [_clean(" ".join(words), remove) for words in parts]


# --- all of it ----------------------------------------------------------------------------------------
def read_message(text: str | None, known: Sequence[Customer] = ()) -> Reading:
    """What a message says about an invoice: its customer (an email, or a name of `known`), its currency
    and amounts as lines (quantity and words with them), and notes for the rep. Never raises."""
    if not isinstance(text, str):
        return Reading(notes=("The message has no text to read.",))
    notes: list[str] = []
    if len(text) > MAX_TEXT:
        notes.append(f"Only the first {MAX_TEXT:,} characters of the message were read.")
    plain = plain_text(text[:MAX_TEXT])
    emails = _emails(plain)
    who = _customer(plain, emails, known)
    tokens = _tokens(_URL.sub(lambda match: " " * len(match.group(0)), _EMAIL.sub(
        lambda match: " " * len(match.group(0)), plain)))
    reads, hints = _amounts(plain, tokens)
    remove = [who.customer.name, who.customer.email] if who.customer is not None else []
    descriptions = _descriptions(plain, reads, [phrase for phrase in remove if phrase])
    if len(reads) > MAX_LINES:
        notes.append(f"The message has {len(reads)} amounts: the first {MAX_LINES} are filled in.")
    reads, descriptions = reads[:MAX_LINES], descriptions[:MAX_LINES]

    currencies: list[str | None] = []
    preferred_used = False
    for read in reads:
        code, by_preference = _currency_of(read, hints)
        currencies.append(code)
        preferred_used = preferred_used or by_preference
    known_codes = {code for code in currencies if code is not None}
    # Amounts whose marker leaves the currency open ("¥"); those naming two currencies at once are refused.
    undecided = [read for read, code in zip(reads, currencies, strict=True) if code is None and read.codes]
    currency: str | None = None
    common: frozenset[str] | None = None  # every amount's currencies, when the marker left it open
    if len(known_codes) > 1:
        notes.append(f"The message has amounts in {', '.join(sorted(c.upper() for c in known_codes))}: an invoice "
                     "has one currency, so the amounts are left for you.")
    elif known_codes and not undecided:
        currency = known_codes.pop()
    elif undecided and not known_codes and len({read.codes for read in undecided}) == 1:
        common = undecided[0].codes
        notes.append(f"“{_symbol_of(undecided[0].written)}” could be {_list(sorted(common))}: pick the currency.")
    elif undecided:
        notes.append("The message's amounts are in currencies that don't read one way: pick the currency.")

    lines: list[Line] = []
    for read, description in zip(reads, descriptions, strict=True):
        amount, minor, problem = "", None, read.problem
        if problem is None and currency is not None:
            try:
                minor, amount = _in_currency(read.number, currency)
            except _Unreadable as why:
                problem = str(why)
        elif problem is None and common is not None and read.codes == common:
            amount = _common_reading(read.number, common) or ""
            if not amount:
                problem = "it reads differently in each of those currencies"
        if problem is not None:
            notes.append(f"Couldn't read “{read.written}”: {problem}.")
        lines.append(Line(read.written, amount, minor, read.quantity, description))
    if currency == "usd" and preferred_used:
        notes.insert(0, "“$” was read as US dollars: change the currency if it meant another dollar.")
    if not reads:
        notes.append("No amount with a currency was found in the message: add the lines yourself.")
    if who.note:
        notes.append(who.note)
    if who.email:
        notes.append(f"{who.email} is not a customer yet: give their name.")
    reading = Reading(currency=currency, lines=tuple(lines), notes=tuple(notes))
    if who.customer is not None:
        return replace(reading, customer_id=who.customer.stripe_id, customer_label=who.customer.label)
    return replace(reading, email=who.email)


def _symbol_of(written: str) -> str:
    """The marker of an amount as written ("¥1,000" -> "¥", "100 kr" -> "kr")."""
    marker = "".join(char for char in written if not (char.isdigit() or char in ".,'’ \u00a0\u202f-−–x×"))
    return marker.strip() or written


def _list(codes: Sequence[str]) -> str:
    names = [code.upper() for code in codes]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


# --- pasted invoice links (link previews, bot/services/unfurls.py) ---------------------------------------------
MAX_LINK = 2000
HOSTED_LINK = re.compile(r"^https://invoice\.stripe\.com/i/[A-Za-z0-9_]+/[A-Za-z0-9_-]+(?:[?#].*)?$")
DASHBOARD_LINK = re.compile(r"^https://dashboard\.stripe\.com/(?:acct_[A-Za-z0-9]+/)?(?:test/)?invoices/"
                            r"(in_[A-Za-z0-9]{1,64})/?(?:[?#].*)?$")


def invoice_link(url: object) -> bool:
    """A Stripe invoice link: its hosted page (`https://invoice.stripe.com/i/acct_.../...`) or the Dashboard's
    (`https://dashboard.stripe.com/[acct_.../][test/]invoices/in_...`)."""
    return isinstance(url, str) and len(url) <= MAX_LINK and bool(HOSTED_LINK.match(url) or DASHBOARD_LINK.match(url))

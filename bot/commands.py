"""`/invoice` text -> a typed command. Pure, so every spelling is tested as a plain function."""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from bot import money
from bot.blocks import escape

HELP = "\n".join([
    "*invoicebot* creates Stripe invoices without leaving Slack.",
    "• `/invoice` or `/invoice new [email]` – open the invoice form (optionally with the customer's email)",
    "• `/invoice catalog` – list the active products and prices",
    "• `/invoice catalog add \"Gold Special\" 10.00 usd` – create a product and its price",
    "• `/invoice help` – this help",
    "Example: `/invoice new jenny@example.com`",
])


@dataclass(frozen=True)
class OpenModal:
    email: str | None = None


@dataclass(frozen=True)
class ShowHelp:
    unknown: str | None = None


@dataclass(frozen=True)
class ListCatalog:
    pass


@dataclass(frozen=True)
class AddCatalogPrice:
    name: str
    unit_amount: int
    currency: str


@dataclass(frozen=True)
class Refuse:
    """The command was understood but its arguments are wrong; `message` says how to fix them."""

    message: str


Command = OpenModal | ShowHelp | ListCatalog | AddCatalogPrice | Refuse


def parse(text: str) -> Command:
    try:
        words = shlex.split(text or "")
    except ValueError:
        return Refuse("I couldn't read that: a quote is not closed. Try `/invoice help`.")
    if not words or words[0].lower() == "new":
        return OpenModal(email=words[1] if len(words) > 1 else None)
    head = words[0].lower()
    if head in ("help", "?"):
        return ShowHelp()
    if head == "catalog":
        if len(words) == 1:
            return ListCatalog()
        if words[1].lower() == "add":
            return _catalog_add(words[2:])
    return ShowHelp(unknown=words[0])


def _catalog_add(args: list[str]) -> Command:
    usage = 'Usage: `/invoice catalog add "Gold Special" 10.00 usd`'
    if len(args) != 3:
        return Refuse(f"I need a name, an amount and a currency. {usage}")
    name, amount_text, currency = args[0].strip(), args[1], args[2].lower()
    if not name or len(name) > 250:
        return Refuse(f"The product name must be 1 to 250 characters. {usage}")
    if not money.is_supported(currency):
        return Refuse(f"`{escape(currency)}` is not a currency Stripe supports. {usage}")
    try:
        unit_amount = money.parse_amount(amount_text, currency)
    except money.AmountError as error:
        return Refuse(f"{escape(str(error))}. {usage}")
    return AddCatalogPrice(name=name, unit_amount=unit_amount, currency=currency)


def help_text(unknown: str | None = None) -> str:
    if unknown:
        return f"I don't know `{escape(unknown[:50])}`.\n" + HELP
    return HELP

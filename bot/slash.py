"""`/invoice` text -> a typed command. Pure, so every spelling is tested as a plain function."""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, replace

from bot import money
from bot.domain.chasing import CadenceError, parse_cadence
from bot.domain.receivables import ScheduleRequest, parse_schedule
from bot.mrkdwn import escape

HELP = "\n".join([
    "*invoicebot* creates Stripe invoices without leaving Slack.",
    "• `/invoice` or `/invoice new [email]` – open the invoice form (optionally with the customer's email)",
    "• `/invoice catalog` – list the active products and prices",
    "• `/invoice catalog add \"Gold Special\" 10.00 usd` – create a product and its price",
    "• `/invoice route customer jenny@example.com #channel` or `/invoice route rep @rep #channel` – "
    "send that customer's or rep's payment news to a channel (admins); `/invoice route` lists routes",
    "• `/invoice list [open|draft|overdue|paid|void] [customer name or email]` – find invoices, newest first",
    "• `/invoice show INV-0001` (or an `in_...` id) – one invoice with its lines, payments and history",
    "• `/invoice audit INV-0001` – who did what to an invoice (admins)",
    "• `/invoice settings` – this workspace's payments channel, admins, creators and finance viewers (admins)",
    "• `/invoice digest weekly mon 09:00 #finance` (or `daily 08:30 #finance`, `off`) – when and where the "
    "receivables digest is posted, in your time zone (admins); `/invoice digest now` – one at once; "
    "`/invoice digest` – the schedule",
    "• `/invoice recurring` – your repeating invoices (admins: everyone's), with Cancel (at period end, or now)",
    "• `/invoice chasing` – when unpaid invoices are chased; `/invoice chasing -3 0 7 14 30` (days from the due "
    "date), `off` or `default` – change it (admins)",
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
class SetRoute:
    kind: str  # "customer" (key: email or cus_ id) or "rep" (key: user ID)
    key: str
    channel_id: str


@dataclass(frozen=True)
class ListRoutes:
    pass


@dataclass(frozen=True)
class ListInvoices:
    status: str | None = None
    text: str | None = None
    offset: int = 0

    def next_page(self, page_size: int) -> ListInvoices:
        return replace(self, offset=self.offset + page_size)

    def encode(self) -> str:
        """The "Show more" button's value."""
        return json.dumps({"status": self.status, "text": self.text, "offset": self.offset})

    @classmethod
    def decode(cls, value: str) -> ListInvoices | None:
        """A "Show more" value back into a query; None when it is not one the bot wrote."""
        try:
            data = json.loads(value or "{}")
            status = data.get("status") if data.get("status") in LIST_STATUSES else None
            text = str(data.get("text") or "")[:MAX_QUERY] or None
            offset = int(data.get("offset") or 0)
        except (ValueError, TypeError, AttributeError):
            return None
        if not 0 <= offset <= MAX_OFFSET:
            return None
        return cls(status, text, offset)


@dataclass(frozen=True)
class ShowInvoice:
    reference: str


@dataclass(frozen=True)
class ShowAudit:
    reference: str


@dataclass(frozen=True)
class OpenSettings:
    pass


@dataclass(frozen=True)
class ShowDigest:
    """`/invoice digest`: when and where the receivables digest is posted."""


@dataclass(frozen=True)
class SetDigest:
    """`/invoice digest weekly mon 09:00 #finance`, `daily ...`; `off` when `schedule` is None."""

    schedule: ScheduleRequest | None


@dataclass(frozen=True)
class DigestNow:
    """`/invoice digest now [#channel]`: one receivables digest at once."""

    channel_id: str | None = None


@dataclass(frozen=True)
class ShowChasing:
    """`/invoice chasing`: the workspace's chasing cadence."""


@dataclass(frozen=True)
class SetChasing:
    """`/invoice chasing -3 0 7 14 30` or `off` (no days); `default` when `days` is None."""

    days: tuple[int, ...] | None


@dataclass(frozen=True)
class ListRecurring:
    """`/invoice recurring`: repeating invoices (bot/services/recurring.py) with their Cancel buttons."""


@dataclass(frozen=True)
class Refuse:
    """The command was understood but its arguments are wrong; `message` says how to fix them."""

    message: str


Command = (ShowChasing | SetChasing | ListRecurring
           | OpenModal | ShowHelp | ListCatalog | AddCatalogPrice | SetRoute | ListRoutes | ListInvoices | ShowInvoice
           | ShowAudit | OpenSettings | ShowDigest | SetDigest | DigestNow | Refuse)
LIST_STATUSES = ("open", "draft", "overdue", "paid", "void", "uncollectible")
MAX_QUERY = 200
MAX_OFFSET = 10_000  # 500 pages of "Show more"; beyond that, narrow the search

# With `should_escape` on, Slack sends mentions and links in the command text as <#C123|name>,
# <@U123|name> and <mailto:a@b.c|a@b.c>.
CHANNEL_REF = re.compile(r"^<#([CG][A-Z0-9]+)(?:\|[^>]*)?>$")
USER_REF = re.compile(r"^<@([UW][A-Z0-9]+)(?:\|[^>]*)?>$")
MAILTO_REF = re.compile(r"^<mailto:([^|>]+)(?:\|[^>]*)?>$")


def plain_email(word: str) -> str:
    match = MAILTO_REF.match(word)
    return match.group(1) if match else word


def parse(text: str) -> Command:
    try:
        words = shlex.split(text or "")
    except ValueError:
        return Refuse("I couldn't read that: a quote is not closed. Try `/invoice help`.")
    if not words or words[0].lower() == "new":
        return OpenModal(email=plain_email(words[1]) if len(words) > 1 else None)
    head = words[0].lower()
    if head in ("help", "?"):
        return ShowHelp()
    if head == "catalog":
        if len(words) == 1:
            return ListCatalog()
        if words[1].lower() == "add":
            return _catalog_add(words[2:])
    if head == "list":
        rest = words[1:]
        status = rest[0].lower() if rest and rest[0].lower() in LIST_STATUSES else None
        query = " ".join(plain_email(word) for word in rest[1 if status else 0:]).strip()[:MAX_QUERY] or None
        return ListInvoices(status=status, text=query)
    if head in ("show", "audit"):
        if len(words) != 2:
            return Refuse(f"Usage: `/invoice {head} INV-0001` (the invoice number, or its in_... id)")
        reference = words[1].strip()[:100]
        return ShowInvoice(reference) if head == "show" else ShowAudit(reference)
    if head == "route":
        return ListRoutes() if len(words) == 1 else _route(words[1:])
    if head == "digest":
        return _digest(words[1:])
    if head == "chasing":
        return _chasing(words[1:])
    if head == "recurring":
        return ListRecurring() if len(words) == 1 else Refuse("Usage: `/invoice recurring` (lists them, with Cancel)")
    if head == "settings":
        return OpenSettings() if len(words) == 1 else Refuse("Usage: `/invoice settings` (it opens a form)")
    return ShowHelp(unknown=words[0])


def _chasing(args: list[str]) -> Command:
    if not args:
        return ShowChasing()
    if len(args) == 1 and args[0].lower() == "default":
        return SetChasing(None)
    try:
        return SetChasing(parse_cadence(" ".join(args)))
    except CadenceError as error:
        return Refuse(f"{escape(str(error))}. Usage: `/invoice chasing -3 0 7 14 30`, `/invoice chasing off` or "
                      "`/invoice chasing default`")


def _digest(args: list[str]) -> Command:
    if not args:
        return ShowDigest()
    verb = args[0].lower()
    if verb == "now":
        if len(args) == 1:
            return DigestNow()
        channel = CHANNEL_REF.match(args[1])
        if len(args) != 2 or channel is None:
            return Refuse("Usage: `/invoice digest now` or `/invoice digest now #channel` (the channel as #channel, "
                          "so Slack links it)")
        return DigestNow(channel.group(1))
    if verb == "off":
        return SetDigest(None) if len(args) == 1 else Refuse("Usage: `/invoice digest off`")
    parsed = parse_schedule(args)
    return Refuse(f"Nothing changed. {parsed}") if isinstance(parsed, str) else SetDigest(parsed)


def _route(args: list[str]) -> Command:
    usage = "Usage: `/invoice route customer jenny@example.com #channel` or `/invoice route rep @rep #channel`"
    if len(args) != 3 or args[0].lower() not in ("customer", "rep"):
        return Refuse(usage)
    kind, target, channel_word = args[0].lower(), args[1], args[2]
    channel = CHANNEL_REF.match(channel_word)
    if not channel:
        return Refuse(f"Name the channel as #channel so Slack links it. {usage}")
    if kind == "rep":
        user = USER_REF.match(target)
        if not user:
            return Refuse(f"Name the rep as @someone so Slack links them. {usage}")
        return SetRoute("rep", user.group(1), channel.group(1))
    target = plain_email(target)
    if target.startswith("cus_") or "@" in target:
        return SetRoute("customer", target.lower() if "@" in target else target, channel.group(1))
    return Refuse(f"Name the customer by email or Stripe id (cus_...). {usage}")


def _catalog_add(args: list[str]) -> Command:
    usage = 'Usage: `/invoice catalog add "Gold Special" 10.00 usd`'
    if len(args) != 3:
        return Refuse(f"I need a name, an amount and a currency. {usage}")
    name, amount_text, currency = args[0].strip(), args[1], args[2].lower()
    if not name or len(name) > 250:
        return Refuse(f"The product name must be 1 to 250 characters. {usage}")
    if not money.is_supported(currency):
        return Refuse(f"`{escape(currency[:10])}` is not a currency Stripe supports. {usage}")
    try:
        unit_amount = money.parse_amount(amount_text, currency)
    except money.AmountError as error:
        return Refuse(f"{escape(str(error))}. {usage}")
    return AddCatalogPrice(name=name, unit_amount=unit_amount, currency=currency)


def help_text(unknown: str | None = None) -> str:
    if unknown:
        return f"I don't know `{escape(unknown[:50])}`.\n" + HELP
    return HELP

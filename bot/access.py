"""Who may see and do what: the one place every listener, job and view asks.

The model (the README has it as a table):
- **Create** invoices (open the form, search customers and prices, submit): people in
  `INVOICE_CREATORS` (everyone when it is empty) and admins.
- **View** an invoice (show it, its history, see it in lists and App Home totals): its rep,
  admins, people in `INVOICE_VIEWERS` (finance), and members of the channel it was posted in.
- **Act** on an invoice (send, remind, void, write off, and its chasing: promise to pay, dispute,
  resolve, skip, snooze, its own cadence; issue a credit note, mark it paid outside Stripe): its rep
  and admins.
- **Administer** (catalog changes, routes, the audit log, invoices the bot never made): people in
  `INVOICE_ADMINS` and workspace admins and owners.
- **Approve** (or reject) an invoice held above `APPROVAL_LIMITS`: people in `APPROVERS`, or the
  admins when it names nobody; never the invoice's rep, nor whoever asked to send it.
- **Guests** (single- and multi-channel) and **people from other organisations** (Slack Connect)
  may do nothing unless their own user ID is in one of the lists: membership of a listed user
  group or of a channel is not enough for them.

Entries in the lists are user IDs (U..., W...) or user group IDs (S...). What Slack says about
people (admin, guest, external), groups and channel members is cached for a minute, so a
revocation takes effect within a minute. When Slack cannot be asked, a retryable
`LookupFailed` is raised: nobody is refused (or let in) because Slack had a bad moment.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from bot.domain.invoices import Invoice
from bot.domain.records import Visibility
from bot.errors import ExternalFailure
from bot.people import LookupFailed, People

logger = logging.getLogger(__name__)

CACHE_SECONDS = 60.0
T = TypeVar("T")


class Action(StrEnum):
    CREATE = "create"
    VIEW = "view"
    SEND = "send"
    REMIND = "remind"
    VOID = "void"
    UNCOLLECTIBLE = "uncollectible"
    ADMINISTER = "administer"
    CHASE = "chase"  # promise to pay, dispute, resolve, an invoice's chasing (bot/services/chasing.py)
    APPROVE = "approve"
    CREDIT = "credit"  # issue a credit note or refund (bot/services/credit_notes.py)
    MARK_PAID = "mark_paid"  # record a payment received outside Stripe (bot/services/credit_notes.py)


ACTS = frozenset({Action.SEND, Action.REMIND, Action.VOID, Action.UNCOLLECTIBLE, Action.CHASE})
ACTS |= {Action.CREDIT, Action.MARK_PAID}  # an invoice's money: its rep and admins, like the other acts
VERBS = {Action.SEND: "send", Action.REMIND: "send a reminder for", Action.VOID: "void",
         Action.UNCOLLECTIBLE: "mark uncollectible", Action.CHASE: "change how the customer is chased for"}
VERBS |= {Action.CREDIT: "issue a credit note for", Action.MARK_PAID: "mark as paid outside Stripe"}

NOT_A_MEMBER = ("Guests and people from other organisations can't use invoicebot unless an invoicing admin "
                "adds them by name.")
NOT_A_CREATOR = "You're not on the list of people who may create or send invoices; ask an invoicing admin."
NOT_A_VIEWER = ("That invoice isn't yours to see: only its rep, invoicing admins, finance viewers and members "
                "of the channel it was posted in can see it.")
NOT_AN_APPROVER = "Only approvers can approve or reject invoices above the approval limit."
NOT_YOUR_OWN_APPROVAL = ("You can't approve or reject an invoice you created or asked to send: another approver "
                         "decides.")
MAX_APPROVERS_ASKED = 25  # people a request for approval goes to, at most (a big user group)


@dataclass(frozen=True)
class AccessLists:
    creators: frozenset[str]  # empty: every full member of the workspace
    admins: frozenset[str]
    viewers: frozenset[str]
    approvers: frozenset[str] = frozenset()  # empty: the admins approve


@dataclass(frozen=True)
class Person:
    user_id: str
    workspace_admin: bool
    guest: bool
    external: bool

    @property
    def full_member(self) -> bool:
        return not (self.guest or self.external)


class _Cache(Generic[T]):
    """A value per key for `seconds`; concurrent misses may both fetch (harmless, rare)."""

    def __init__(self, seconds: float, clock: Callable[[], float]) -> None:
        self.seconds = seconds
        self.clock = clock
        self._values: dict[str, tuple[float, T]] = {}
        self._lock = threading.Lock()

    def get(self, key: str, fetch: Callable[[], T]) -> T:
        with self._lock:
            cached = self._values.get(key)
        if cached is not None and self.clock() - cached[0] < self.seconds:
            return cached[1]
        value = fetch()
        with self._lock:
            self._values[key] = (self.clock(), value)
        return value


class Access:
    def __init__(self, lists: AccessLists, people: People, *, group_members: Callable[[str], list[str]],
                 channel_members: Callable[[str], list[str]], team_id: Callable[[], str],
                 cache_seconds: float = CACHE_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.lists = lists
        self.people = people
        self._group_members = group_members
        self._channel_members = channel_members
        self._team_id = team_id
        self._groups: _Cache[frozenset[str]] = _Cache(cache_seconds, clock)
        self._channels: _Cache[frozenset[str]] = _Cache(cache_seconds, clock)

    # --- who someone is ---------------------------------------------------------------------------
    def person(self, user_id: str) -> Person:
        info = self.people.info(user_id, required=True)
        team = info.get("team_id")
        external = bool(info.get("is_stranger")) or (bool(team) and team != self._team_id())
        return Person(user_id, workspace_admin=bool(info.get("is_admin") or info.get("is_owner")),
                      guest=bool(info.get("is_restricted") or info.get("is_ultra_restricted")), external=external)

    def _listed(self, person: Person, entries: frozenset[str]) -> bool:
        """Named in the list, or (full members only) in a user group named in it."""
        if person.user_id in entries:
            return True
        return person.full_member and any(person.user_id in self._members_of_group(entry) for entry in entries
                                          if entry.startswith("S"))

    def _members_of_group(self, group_id: str) -> frozenset[str]:
        return self._groups.get(group_id, lambda: self._lookup(lambda: self._group_members(group_id),
                                                              f"user group {group_id}"))

    def _members_of_channel(self, channel_id: str) -> frozenset[str]:
        return self._channels.get(channel_id, lambda: self._lookup(lambda: self._channel_members(channel_id),
                                                                  f"the members of {channel_id}"))

    @staticmethod
    def _lookup(fetch: Callable[[], list[str]], what: str) -> frozenset[str]:
        try:
            return frozenset(fetch())
        except ExternalFailure as failure:
            if failure.retryable:
                raise LookupFailed(f"Slack did not list {what} ({failure.message})") from None
            logger.warning("Slack refused to list %s (%s): counted as nobody", what, failure.code or failure.message)
            return frozenset()

    # --- what they may do ---------------------------------------------------------------------------
    def is_admin(self, user_id: str, person: Person | None = None) -> bool:
        if user_id in self.lists.admins:
            return True
        person = person or self.person(user_id)
        return person.full_member and (person.workspace_admin or self._listed(person, self.lists.admins))

    def may_create(self, user_id: str) -> bool:
        return self.refusal(Action.CREATE, user_id) is None

    def sees_everything(self, user_id: str) -> bool:
        """Admins and finance viewers see every invoice; everyone else a part (`visibility`)."""
        if self.is_admin(user_id):
            return True
        return self._listed(self.person(user_id), self.lists.viewers)

    def visibility(self, user_id: str, channels: list[str]) -> Visibility | None:
        """What of the invoices someone may see in lists and totals: None for everything, else their
        own and those posted in channels (of `channels`, the ones invoices were posted in) they are in."""
        if self.sees_everything(user_id):
            return None
        if not self.person(user_id).full_member:
            return Visibility(user_id=user_id, channels=frozenset(), nothing=True)
        # A DM with the bot holds its rep and the bot only: the rep is covered already.
        mine = frozenset(c for c in channels if not c.startswith("D") and user_id in self._members_of_channel(c))
        return Visibility(user_id=user_id, channels=mine)

    def refusal(self, action: Action, user_id: str, invoice: Invoice | None = None, *,
                what: str = "do that") -> str | None:
        """None when allowed, else the message the person sees."""
        if action is Action.ADMINISTER:
            return None if self.is_admin(user_id) else f"Only invoicing admins can {what}."
        if action is Action.APPROVE:
            if invoice is None:
                raise ValueError(f"{action} needs the invoice it is about")
            return self.approval_refusal(user_id, invoice)
        lists = self.lists
        named = user_id in (lists.creators if action is Action.CREATE else lists.viewers if action is Action.VIEW
                            else frozenset())
        if user_id in lists.admins or named:
            return None  # named in a list: no need to ask Slack who they are
        person = self.person(user_id)
        admin = self.is_admin(user_id, person)
        if action is Action.CREATE:
            if admin:
                return None
            if not person.full_member:
                return NOT_A_MEMBER
            if not lists.creators or self._listed(person, lists.creators):
                return None
            return NOT_A_CREATOR
        if invoice is None:
            raise ValueError(f"{action} needs the invoice it is about")
        if action is Action.VIEW:
            if admin or self._listed(person, lists.viewers) or self._own(person, invoice):
                return None
            if not person.full_member:
                return NOT_A_MEMBER
            if invoice.channel_id and not invoice.channel_id.startswith("D") \
                    and user_id in self._members_of_channel(invoice.channel_id):
                return None
            return NOT_A_VIEWER
        if admin or self._own(person, invoice):
            return None
        if not person.full_member:
            return NOT_A_MEMBER
        return f"Only the rep who created this invoice or an invoicing admin can {VERBS[action]} it."

    def approval_refusal(self, user_id: str, invoice: Invoice, requested_by: str | None = None) -> str | None:
        """May `user_id` approve or reject `invoice`, held above the limit after `requested_by` asked to send
        it? People in APPROVERS (guests and outsiders only by their own ID), or the admins when it names
        nobody; never its rep or whoever asked."""
        if user_id in (invoice.rep_user_id, requested_by):
            return NOT_YOUR_OWN_APPROVAL
        approvers = self.lists.approvers
        if user_id in approvers:
            return None
        person = self.person(user_id)
        if self._listed(person, approvers) if approvers else self.is_admin(user_id, person):
            return None
        return NOT_A_MEMBER if not person.full_member else NOT_AN_APPROVER

    def approvers_for(self, invoice: Invoice, requested_by: str | None = None) -> list[str]:
        """Whom to ask to approve `invoice`: those APPROVERS names (user groups by their members), or the
        admins named when it names nobody, each one who may decide (`approval_refusal`); at most
        MAX_APPROVERS_ASKED. Empty when nobody is named (Slack's workspace admins cannot be listed)."""
        entries = self.lists.approvers or self.lists.admins
        candidates: list[str] = []
        for entry in sorted(entries):
            candidates += sorted(self._members_of_group(entry)) if entry.startswith("S") else [entry]
        chosen: list[str] = []
        for user_id in dict.fromkeys(candidates):
            if len(chosen) >= MAX_APPROVERS_ASKED:
                break
            if self.approval_refusal(user_id, invoice, requested_by) is None:
                chosen.append(user_id)
        return chosen

    def _own(self, person: Person, invoice: Invoice) -> bool:
        """The invoice's rep: a full member, or one named in a list (a rep who became a guest is not)."""
        if invoice.rep_user_id != person.user_id:
            return False
        lists = self.lists
        return person.full_member or person.user_id in lists.creators | lists.admins | lists.viewers

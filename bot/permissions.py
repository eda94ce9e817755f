"""Who may do what.

`INVOICE_CREATORS` (empty: everyone) may create and send invoices; voiding and marking
uncollectible belong to the invoice's creator and to admins (`INVOICE_ADMINS` or Slack
workspace admins). Entries are user IDs or user group IDs; group members are looked up in
Slack and cached for a few minutes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from bot.domain.invoices import Invoice
from bot.errors import ExternalFailure
from bot.people import LookupFailed

logger = logging.getLogger(__name__)

GROUP_CACHE_SECONDS = 300
RESTRICTED_ACTIONS = {"void", "uncollectible"}


class Permissions:
    def __init__(self, creators: frozenset[str], admins: frozenset[str],
                 group_members: Callable[[str], list[str]], is_workspace_admin: Callable[[str], bool]) -> None:
        self.creators = creators
        self.admins = admins
        self._group_members = group_members
        self._is_workspace_admin = is_workspace_admin
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def _in(self, user_id: str, entries: frozenset[str]) -> bool:
        if user_id in entries:
            return True
        return any(user_id in self._members(entry) for entry in entries if entry.startswith("S"))

    def _members(self, group_id: str) -> frozenset[str]:
        with self._lock:
            cached = self._cache.get(group_id)
        if cached and time.monotonic() - cached[0] < GROUP_CACHE_SECONDS:
            return cached[1]
        try:
            members = frozenset(self._group_members(group_id))
        except ExternalFailure as failure:
            if not failure.retryable:  # Slack answered: no such group
                logger.warning("user group %s is listed in the settings but Slack says %s", group_id, failure.message)
                members = frozenset()
            else:
                logger.warning("could not read the members of user group %s: %s", group_id, failure.message)
                if cached:
                    return cached[1]
                raise LookupFailed(f"Slack did not list user group {group_id} ({failure.message})") from None
        with self._lock:
            self._cache[group_id] = (time.monotonic(), members)
        return members

    def is_admin(self, user_id: str) -> bool:
        """Raises `LookupFailed` when Slack cannot say: a workspace admin is never told "not allowed"
        because Slack had a bad moment."""
        return self._in(user_id, self.admins) or self._is_workspace_admin(user_id)

    def may_create(self, user_id: str) -> bool:
        return not self.creators or self._in(user_id, self.creators) or self.is_admin(user_id)

    def refusal(self, action: str, user_id: str, invoice: Invoice | None) -> str | None:
        """None when allowed, else the message the user sees."""
        if action in RESTRICTED_ACTIONS:
            if invoice is not None and invoice.rep_user_id == user_id or self.is_admin(user_id):
                return None
            return ("Only the rep who created this invoice or an invoicing admin can "
                    f"{'void' if action == 'void' else 'mark uncollectible'} it.")
        if not self.may_create(user_id):
            return "You're not on the list of people who may create or send invoices; ask an invoicing admin."
        return None

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
from typing import Any

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
        except Exception:
            logger.exception("could not read the members of user group %s", group_id)
            return cached[1] if cached else frozenset()
        with self._lock:
            self._cache[group_id] = (time.monotonic(), members)
        return members

    def is_admin(self, user_id: str) -> bool:
        if self._in(user_id, self.admins):
            return True
        try:
            return self._is_workspace_admin(user_id)
        except Exception:
            logger.exception("could not tell whether %s is a workspace admin", user_id)
            return False

    def may_create(self, user_id: str) -> bool:
        return not self.creators or self._in(user_id, self.creators) or self.is_admin(user_id)

    def refuse(self, action: str, user_id: str, invoice: dict[str, Any] | None) -> str | None:
        """None when allowed, else the message the user sees."""
        if action in RESTRICTED_ACTIONS:
            if invoice and invoice.get("rep_user_id") == user_id or self.is_admin(user_id):
                return None
            return ("Only the rep who created this invoice or an invoicing admin can "
                    f"{'void' if action == 'void' else 'mark uncollectible'} it.")
        if not self.may_create(user_id):
            return "You're not on the list of people who may create or send invoices; ask an invoicing admin."
        return None

"""Who people are in Slack (time zone, admin flag), from `users.info`, cached for a while."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.errors import ExternalFailure

logger = logging.getLogger(__name__)

CACHE_SECONDS = 60  # a change in Slack (admin revoked, guest made) counts within a minute


class People:
    def __init__(self, users_info: Callable[[str], dict[str, Any]]) -> None:
        self._users_info = users_info
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def info(self, user_id: str, *, required: bool = False) -> dict[str, Any]:
        """What Slack says of the user; on a Slack failure the last answer, else {} (or, when the
        answer decides something, `required`, a retryable `LookupFailed`)."""
        with self._lock:
            cached = self._cache.get(user_id)
        if cached and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        try:
            info = dict(self._users_info(user_id))
        except ExternalFailure as failure:
            if not failure.retryable:  # Slack answered: no such user (or not one we may see)
                info = {}
            else:
                logger.warning("users.info failed for %s: %s", user_id, failure.message)
                if cached:
                    return cached[1]
                if required:
                    raise LookupFailed(f"Slack did not say who {user_id} is ({failure.message})") from None
                return {}
        with self._lock:
            self._cache[user_id] = (time.monotonic(), info)
        return info

    def zone(self, user_id: str) -> ZoneInfo:
        """The user's time zone from Slack; UTC only when Slack does not say."""
        name = self.info(user_id).get("tz") or "UTC"
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            logger.warning("unknown time zone %r for %s", name, user_id)
            return ZoneInfo("UTC")


class LookupFailed(ExternalFailure):
    """Slack could not tell who someone is or which groups they are in: try again shortly."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True, retry_after=2.0)

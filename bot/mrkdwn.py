"""Making text safe for Slack's mrkdwn, whichever side it comes from (people or Stripe)."""

from __future__ import annotations

import re

SAFE_URL = re.compile(r"^https://[^\s<>|]{1,1990}$")


def escape(text: str | None) -> str:
    """Make text inert in mrkdwn: no mentions, no links, no `<!channel>`."""
    return (text or "").replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str | None, label: str) -> str | None:
    """A mrkdwn link, only for a plain https URL (a URL carrying `|` or `>` could forge the label)."""
    return f"<{url}|{escape(label)}>" if url and SAFE_URL.match(url) else None


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"

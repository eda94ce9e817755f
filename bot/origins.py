"""Where a URL points, for the places that must only ever call Slack's own hosts."""

from __future__ import annotations

from urllib.parse import urlsplit


def is_slack_origin(url: str, origins: frozenset[str]) -> bool:
    """Does `url` point at one of `origins` (scheme://host[:port])? Anything else is not Slack's."""
    parts = urlsplit(url)
    return bool(parts.scheme and parts.netloc) and f"{parts.scheme}://{parts.netloc}".lower() in origins

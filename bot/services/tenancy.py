"""What one workspace's use cases know about tenancy: who they are, the directory that holds the
workspace's installation and Stripe connection (sealed), the box that seals and opens them, and
how to make every part of this process built for the workspace be built again (after a reconnect,
an uninstall or a change of settings)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.secrets import SecretBox
from bot.store.ports import Directory


@dataclass(frozen=True)
class Tenancy:
    tenant_id: str
    directory: Directory
    box: SecretBox | None  # None with SLACK_MODE=env (nothing is sealed there)
    forget: Callable[[], None]  # this process rebuilds the workspace on its next use
    public_url: str  # where browsers and Stripe reach the bot (SLACK_MODE=oauth), no trailing slash
    oauth: bool  # SLACK_MODE=oauth: the workspace installed the app and connects its own Stripe account

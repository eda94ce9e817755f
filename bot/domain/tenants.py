"""Tenants: each installed Slack workspace is one, and owns its data, tokens and Stripe account.

`DEFAULT_TENANT` is the one tenant of a deployment configured from the environment
(`SLACK_MODE=env`); a single-workspace database from before tenants moved into it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bot.domain.receivables import DigestSchedule

DEFAULT_TENANT = "default"

ACTIVE = "active"
UNINSTALLED = "uninstalled"


@dataclass(frozen=True)
class TenantSettings:
    """What a workspace's admins set from Slack (`/invoice settings`). Empty: the deployment's default
    (with SLACK_MODE=env, the environment's values)."""

    payments_channel: str = ""
    admins: tuple[str, ...] = ()
    creators: tuple[str, ...] = ()
    viewers: tuple[str, ...] = ()
    # The receivables digest's schedule (`/invoice digest weekly mon 09:00 #finance`); None: none.
    digest: DigestSchedule | None = None

    def to_json(self) -> str:
        data: dict[str, Any] = {"payments_channel": self.payments_channel, "admins": list(self.admins),
                                "creators": list(self.creators), "viewers": list(self.viewers)}
        if self.digest is not None:
            data["digest"] = self.digest.to_dict()
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str | None) -> TenantSettings:
        data: dict[str, Any] = json.loads(text or "{}")
        return cls(str(data.get("payments_channel") or ""), tuple(data.get("admins") or ()),
                   tuple(data.get("creators") or ()), tuple(data.get("viewers") or ()),
                   DigestSchedule.from_dict(data.get("digest")))


@dataclass(frozen=True)
class Tenant:
    id: str
    public_id: str  # in the URL of its Stripe webhook endpoint: unguessable, never the team id
    team_id: str | None
    enterprise_id: str | None
    team_name: str
    status: str
    settings: TenantSettings = field(default_factory=TenantSettings)

    @property
    def active(self) -> bool:
        return self.status == ACTIVE


@dataclass(frozen=True)
class Installation:
    """The app's installation in one workspace. `bot_token` is sealed (encrypted for its tenant)."""

    tenant_id: str
    team_id: str
    enterprise_id: str | None
    app_id: str | None
    bot_user_id: str
    bot_id: str | None
    bot_scopes: str
    installer_user_id: str
    bot_token: str
    installed_at: float

    def __repr__(self) -> str:
        return f"Installation({self.tenant_id!r}, team={self.team_id!r}, bot_token=<sealed>)"


@dataclass(frozen=True)
class StripeConnection:
    """A workspace's own Stripe account. `api_key` and `webhook_secret` are sealed."""

    tenant_id: str
    account_id: str
    account_name: str
    livemode: bool
    api_key: str
    webhook_endpoint_id: str
    webhook_secret: str
    connected_by: str
    connected_at: float
    paused_at: float | None = None  # Stripe refused the key (401): jobs wait until an admin reconnects

    def __repr__(self) -> str:
        return f"StripeConnection({self.tenant_id!r}, account={self.account_id!r}, secrets=<sealed>)"


@dataclass(frozen=True)
class OneTimeLink:
    tenant_id: str
    user_id: str
    purpose: str
    expires_at: float
    used_at: float | None

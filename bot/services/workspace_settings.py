"""`/invoice settings`: a workspace's payments channel, admins, creators and finance viewers, set by its
admins from Slack.

What a workspace saved wins field by field over the deployment's defaults, and an emptied field falls back
to them: with SLACK_MODE=env the environment's values (PAYMENTS_CHANNEL, INVOICE_ADMINS, ...) are only the
defaults of tenant `default`; in OAuth mode whoever installed the app administers it until admins are named.
"""

from __future__ import annotations

import logging
from typing import Any

from bot import blocks
from bot.access import Access, AccessLists, Action
from bot.adapters.slack import SlackOut
from bot.domain.tenants import TenantSettings
from bot.jobs.payloads import SaveSettings
from bot.mrkdwn import escape
from bot.services.tenancy import Tenancy
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

LISTS = ("admins", "creators", "viewers")


def with_defaults(saved: TenantSettings, defaults: TenantSettings) -> TenantSettings:
    """The settings that apply: each field as saved, or its default where nothing is saved."""
    return TenantSettings(saved.payments_channel or defaults.payments_channel, saved.admins or defaults.admins,
                          saved.creators or defaults.creators, saved.viewers or defaults.viewers)


def access_lists(settings: TenantSettings) -> AccessLists:
    return AccessLists(frozenset(settings.creators), frozenset(settings.admins), frozenset(settings.viewers))


def user_groups(entries: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(entry for entry in entries if entry.startswith("S"))


class WorkspaceSettings:
    """One workspace's settings: the form that shows them, and saving what an admin submitted."""

    def __init__(self, tenancy: Tenancy, store: TenantScope, slack: SlackOut, access: Access, *,
                 current: TenantSettings, defaults: TenantSettings) -> None:
        self.tenancy = tenancy
        self.store = store
        self.slack = slack
        self.access = access
        self.current = current  # as the workspace was built with them (defaults applied)
        self.defaults = defaults

    def form(self) -> dict[str, Any]:
        return blocks.settings_modal(self.current, self.defaults)

    def save(self, change: SaveSettings) -> None:
        # Asked again here: the modal opens for admins only, but a submission can be forged or outlive a demotion.
        refusal = self.access.refusal(Action.ADMINISTER, change.user_id, what="change this workspace's settings")
        if refusal:
            self.slack.update_view(change.view_id, blocks.status_view("Not allowed", refusal))
            return
        stored = self.tenancy.directory.get(self.tenancy.tenant_id)
        # The form sets these four; what else is saved (the receivables digest's schedule) stays as it is.
        admins, creators, viewers = (self._kept_groups(change, name) for name in LISTS)
        saved = TenantSettings(change.payments_channel, admins, creators, viewers,
                               digest=stored.settings.digest if stored is not None else None)
        self.tenancy.directory.save_settings(self.tenancy.tenant_id, saved)
        with self.store.unit_of_work() as uow:
            uow.audit.add(change.user_id, "settings", None, {}, {
                "payments_channel": saved.payments_channel, "admins": list(saved.admins),
                "creators": list(saved.creators), "viewers": list(saved.viewers)})
            uow.commit()
        self.tenancy.forget()  # this process builds the workspace again, with the new lists and channel
        logger.info("workspace settings of %s changed by %s", self.tenancy.tenant_id, change.user_id)
        text = describe(with_defaults(saved, self.defaults))
        if not self.slack.update_view(change.view_id, blocks.status_view("Settings saved", text)):
            self.slack.dm(change.user_id, text)  # the modal was closed meanwhile

    def _kept_groups(self, change: SaveSettings, name: str) -> tuple[str, ...]:
        """The people picked, and the user groups the list named (a users menu cannot show or drop them).
        Nobody picked: empty, so the list falls back to its default."""
        picked: list[str] = getattr(change, name)
        if not picked:
            return ()
        return tuple(dict.fromkeys([*picked, *user_groups(getattr(self.current, name))]))


def describe(settings: TenantSettings) -> str:
    def names(entries: tuple[str, ...], empty: str) -> str:
        shown = [f"<!subteam^{escape(entry)}>" if entry.startswith("S") else f"<@{escape(entry)}>"
                 for entry in entries]
        return ", ".join(shown) if shown else empty

    channel = f"<#{escape(settings.payments_channel)}>"
    return "\n".join([
        ":white_check_mark: Saved. This workspace's settings are now:",
        f"• *Payments channel:* {channel} (invite me there with `/invite @invoicebot` if I'm not in it yet)",
        f"• *Invoicing admins:* {names(settings.admins, 'nobody named')} and Slack's workspace admins and owners",
        f"• *May create invoices:* {names(settings.creators, 'everyone in the workspace (guests excepted)')}",
        f"• *See every invoice:* {names(settings.viewers, 'nobody named')}",
    ])

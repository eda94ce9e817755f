"""Where payment news goes: a customer's or a rep's own channel instead of the payments channel."""

from __future__ import annotations

from bot.mrkdwn import escape
from bot.store.scope import TenantScope


class Routing:
    def __init__(self, store: TenantScope, payments_channel: str) -> None:
        self.store = store
        self.payments_channel = payments_channel

    def set_route(self, kind: str, key: str, channel_id: str, set_by: str) -> None:
        """The route and its audit entry, in one transaction."""
        with self.store.unit_of_work() as uow:
            uow.routes.set(kind, key, channel_id, set_by)
            uow.audit.add(set_by, "route", None, {}, {"kind": kind, "key": key, "channel": channel_id})
            uow.commit()

    def describe(self) -> str:
        routes = self.store.reads.routes.all()
        default = f"Everything else goes to <#{self.payments_channel}>."
        if not routes:
            return "No routes yet. " + default
        lines = [f"• {route.kind} " + (f"<@{route.key}>" if route.kind == "rep" else f"`{escape(route.key)}`")
                 + f" → <#{route.channel_id}>" for route in routes]
        return "*Routes*\n" + "\n".join(lines) + "\n" + default

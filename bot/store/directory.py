"""The tenant directory: which workspaces installed the bot, with what, and the one-shot tokens of
the install and connect flows. It spans tenants by nature (a request or an event is resolved to its
tenant here), so unlike the repositories it is not scoped to one; it stores sealed secrets only,
never a token in clear (the caller seals with `bot.secrets.SecretBox`)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager

from bot.domain.tenants import (
    ACTIVE,
    UNINSTALLED,
    Installation,
    OneTimeLink,
    StripeConnection,
    Tenant,
    TenantSettings,
)
from bot.store.repositories import SQLITE, Clock, Dialect, Executor, Row

WriteTransaction = Callable[[], AbstractContextManager[Executor]]
# Sealed columns, for `invoicebot rotate-keys`: (table, column, kind of secret).
SEALED_COLUMNS = (("installations", "bot_token", "slack_bot_token"),
                  ("stripe_connections", "api_key", "stripe_api_key"),
                  ("stripe_connections", "webhook_secret", "stripe_webhook_secret"))


def _tenant(row: Row) -> Tenant:
    return Tenant(row["id"], row["public_id"], row["team_id"], row["enterprise_id"], row["team_name"] or "",
                  row["status"], TenantSettings.from_json(row["settings"]))


def _installation(row: Row) -> Installation:
    return Installation(row["tenant_id"], row["team_id"], row["enterprise_id"], row["app_id"], row["bot_user_id"],
                        row["bot_id"], row["bot_scopes"] or "", row["installer_user_id"], row["bot_token"],
                        float(row["installed_at"]))


def _connection(row: Row) -> StripeConnection:
    return StripeConnection(row["tenant_id"], row["account_id"], row["account_name"] or "", bool(row["livemode"]),
                            row["api_key"], row["webhook_endpoint_id"], row["webhook_secret"], row["connected_by"],
                            float(row["connected_at"]),
                            None if row["paused_at"] is None else float(row["paused_at"]))


class SqlDirectory:
    def __init__(self, write: WriteTransaction, read: Executor, clock: Clock, dialect: Dialect = SQLITE) -> None:
        self._write = write
        self._read = read
        self._clock = clock
        self._dialect = dialect

    # --- tenants -----------------------------------------------------------------------------------
    def get(self, tenant_id: str) -> Tenant | None:
        row = self._read.one("SELECT * FROM tenants WHERE id = ?", [tenant_id])
        return _tenant(row) if row else None

    def by_team(self, team_id: str) -> Tenant | None:
        row = self._read.one("SELECT * FROM tenants WHERE team_id = ?", [team_id])
        return _tenant(row) if row else None

    def by_public_id(self, public_id: str) -> Tenant | None:
        row = self._read.one("SELECT * FROM tenants WHERE public_id = ?", [public_id])
        return _tenant(row) if row else None

    def active(self) -> list[str]:
        return [str(row["id"]) for row in self._read.rows(
            "SELECT id FROM tenants WHERE status = ? ORDER BY id", [ACTIVE])]

    def save_settings(self, tenant_id: str, settings: TenantSettings) -> None:
        with self._write() as db:
            db.execute("UPDATE tenants SET settings = ?, updated_at = ? WHERE id = ?",
                       [settings.to_json(), self._clock(), tenant_id])

    # --- Slack installations -----------------------------------------------------------------------
    def save_installation(self, *, team_id: str, enterprise_id: str | None, team_name: str, app_id: str | None,
                          bot_user_id: str, bot_id: str | None, bot_scopes: str, installer_user_id: str,
                          seal_token: Callable[[str], str]) -> Tenant:
        """Record an install (a first one, a reinstall, or one after an uninstall): the team's tenant,
        made on its first install and kept after, active again with this installation. `seal_token`
        gets the tenant's id and returns the sealed bot token (sealing binds the tenant)."""
        now = self._clock()
        with self._write() as db:
            row = db.one(f"SELECT * FROM tenants WHERE team_id = ?{self._dialect.for_update}", [team_id])
            if row is None:
                tenant_id = f"t_{secrets.token_hex(8)}"
                db.execute("INSERT INTO tenants (id, public_id, team_id, enterprise_id, team_name, status, settings, "
                           "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                           [tenant_id, secrets.token_urlsafe(18), team_id, enterprise_id, team_name, ACTIVE,
                            TenantSettings().to_json(), now, now])
            else:
                tenant_id = str(row["id"])
                db.execute("UPDATE tenants SET team_name = ?, enterprise_id = ?, status = ?, updated_at = ? "
                           "WHERE id = ?", [team_name, enterprise_id, ACTIVE, now, tenant_id])
            db.execute(
                "INSERT INTO installations (tenant_id, team_id, enterprise_id, app_id, bot_user_id, bot_id, "
                "bot_scopes, installer_user_id, bot_token, installed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (tenant_id) DO UPDATE SET team_id = excluded.team_id, "
                "enterprise_id = excluded.enterprise_id, "
                "app_id = excluded.app_id, bot_user_id = excluded.bot_user_id, bot_id = excluded.bot_id, "
                "bot_scopes = excluded.bot_scopes, installer_user_id = excluded.installer_user_id, "
                "bot_token = excluded.bot_token, installed_at = excluded.installed_at",
                [tenant_id, team_id, enterprise_id, app_id, bot_user_id, bot_id, bot_scopes, installer_user_id,
                 seal_token(tenant_id), now])
            saved = db.one("SELECT * FROM tenants WHERE id = ?", [tenant_id])
        assert saved is not None
        return _tenant(saved)

    def installation(self, tenant_id: str) -> Installation | None:
        row = self._read.one("SELECT * FROM installations WHERE tenant_id = ?", [tenant_id])
        return _installation(row) if row else None

    def uninstall(self, tenant_id: str) -> StripeConnection | None:
        """The workspace left: its installation and Stripe secrets erased, its pending jobs dropped, its
        data kept (a reinstall finds its invoices). Returns the Stripe connection it had, so its webhook
        endpoint can be deleted. Repeating it changes nothing."""
        with self._write() as db:
            row = db.one(f"SELECT * FROM stripe_connections WHERE tenant_id = ?{self._dialect.for_update}",
                         [tenant_id])
            db.execute("DELETE FROM stripe_connections WHERE tenant_id = ?", [tenant_id])
            db.execute("DELETE FROM installations WHERE tenant_id = ?", [tenant_id])
            db.execute("DELETE FROM one_time_links WHERE tenant_id = ?", [tenant_id])
            db.execute("UPDATE tenants SET status = ?, updated_at = ? WHERE id = ?",
                       [UNINSTALLED, self._clock(), tenant_id])
            # Running jobs finish or fail on their own (their tenant no longer resolves).
            db.execute("DELETE FROM jobs WHERE tenant_id = ? AND status = 'pending'", [tenant_id])
        return _connection(row) if row else None

    # --- Stripe connections ------------------------------------------------------------------------
    def stripe(self, tenant_id: str) -> StripeConnection | None:
        row = self._read.one("SELECT * FROM stripe_connections WHERE tenant_id = ?", [tenant_id])
        return _connection(row) if row else None

    def save_stripe(self, connection: StripeConnection) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO stripe_connections (tenant_id, account_id, account_name, livemode, api_key, "
                "webhook_endpoint_id, webhook_secret, connected_by, connected_at, paused_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (tenant_id) DO UPDATE SET "
                "account_id = excluded.account_id, account_name = excluded.account_name, "
                "livemode = excluded.livemode, api_key = excluded.api_key, "
                "webhook_endpoint_id = excluded.webhook_endpoint_id, webhook_secret = excluded.webhook_secret, "
                "connected_by = excluded.connected_by, connected_at = excluded.connected_at, paused_at = NULL",
                [connection.tenant_id, connection.account_id, connection.account_name, connection.livemode,
                 connection.api_key, connection.webhook_endpoint_id, connection.webhook_secret,
                 connection.connected_by, connection.connected_at])

    def remove_stripe(self, tenant_id: str) -> StripeConnection | None:
        with self._write() as db:
            row = db.one(f"SELECT * FROM stripe_connections WHERE tenant_id = ?{self._dialect.for_update}",
                         [tenant_id])
            db.execute("DELETE FROM stripe_connections WHERE tenant_id = ?", [tenant_id])
        return _connection(row) if row else None

    def pause_stripe(self, tenant_id: str) -> bool:
        """Stripe refused the tenant's key: True only for the first to notice (who tells the admins)."""
        with self._write() as db:
            return db.execute("UPDATE stripe_connections SET paused_at = ? WHERE tenant_id = ? AND paused_at IS NULL",
                              [self._clock(), tenant_id]) == 1

    # --- one-shot tokens ---------------------------------------------------------------------------
    def add_state(self, state: str, expires_at: float) -> None:
        with self._write() as db:
            db.execute("DELETE FROM oauth_states WHERE expires_at < ?", [self._clock()])
            db.execute("INSERT INTO oauth_states (state, expires_at) VALUES (?, ?)", [state, expires_at])

    def take_state(self, state: str) -> bool:
        """True once for a state issued and not expired; any later call (a replay) is False."""
        with self._write() as db:
            rows = db.rows("DELETE FROM oauth_states WHERE state = ? RETURNING expires_at", [state])
        return bool(rows) and float(rows[0]["expires_at"]) > self._clock()

    def add_link(self, token_hash: str, tenant_id: str, user_id: str, purpose: str, expires_at: float) -> None:
        with self._write() as db:
            db.execute("DELETE FROM one_time_links WHERE expires_at < ?", [self._clock() - 86400])
            db.execute("INSERT INTO one_time_links (token_hash, tenant_id, user_id, purpose, expires_at) "
                       "VALUES (?, ?, ?, ?, ?)", [token_hash, tenant_id, user_id, purpose, expires_at])

    def link(self, token_hash: str) -> OneTimeLink | None:
        row = self._read.one("SELECT * FROM one_time_links WHERE token_hash = ?", [token_hash])
        return _link(row) if row else None

    def use_link(self, token_hash: str) -> bool:
        """Spend the link: True once, while it is unexpired and unused."""
        now = self._clock()
        with self._write() as db:
            return db.execute("UPDATE one_time_links SET used_at = ? WHERE token_hash = ? AND used_at IS NULL "
                              "AND expires_at > ?", [now, token_hash, now]) == 1

    # --- for rotate-keys ---------------------------------------------------------------------------
    def sealed(self) -> list[tuple[str, str, str, str, str]]:
        """Every sealed value: (table, column, kind, tenant id, value)."""
        found: list[tuple[str, str, str, str, str]] = []
        for table, column, kind in SEALED_COLUMNS:
            for row in self._read.rows(f"SELECT tenant_id, {column} AS value FROM {table} ORDER BY tenant_id"):
                found.append((table, column, kind, str(row["tenant_id"]), str(row["value"])))
        return found

    def reseal(self, table: str, column: str, tenant_id: str, old: str, new: str) -> bool:
        """Replace a sealed value unless it changed meanwhile (a reconnect); True when replaced."""
        if (table, column) not in {(t, c) for t, c, _ in SEALED_COLUMNS}:
            raise ValueError(f"{table}.{column} holds no sealed value")
        with self._write() as db:
            return db.execute(f"UPDATE {table} SET {column} = ? WHERE tenant_id = ? AND {column} = ?",
                              [new, tenant_id, old]) == 1


def _link(row: Row) -> OneTimeLink:
    return OneTimeLink(row["tenant_id"], row["user_id"], row["purpose"], float(row["expires_at"]),
                       None if row["used_at"] is None else float(row["used_at"]))


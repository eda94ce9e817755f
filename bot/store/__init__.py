"""The store: every SQL statement of the bot lives under this package.

`ports.py` says what the bot needs (a unit of work over repositories, a job queue, reads);
`repositories.py` and `queue.py` say it in SQL both engines accept; each engine package
(`sqlite/`, `postgres/`) supplies connections, transactions and migrations.
"""

from __future__ import annotations

import time

from bot.store.ports import Store
from bot.store.repositories import Clock
from bot.store.sqlite import SqliteStore, apply_migrations

SQLITE_PREFIX = "sqlite:///"
POSTGRES_PREFIXES = ("postgresql://", "postgres://")


def open_store(database_url: str, *, clock: Clock = time.time, migrate: bool = True, pool_size: int = 16) -> Store:
    if database_url.startswith(SQLITE_PREFIX):
        return SqliteStore(database_url.removeprefix(SQLITE_PREFIX), clock=clock, migrate=migrate)
    if database_url.startswith(POSTGRES_PREFIXES):
        # Imported here: an SQLite deployment never loads libpq.
        from bot.store.postgres import PostgresStore

        return PostgresStore(database_url, clock=clock, migrate=migrate, pool_size=pool_size)
    raise ValueError(f"unsupported DATABASE_URL scheme: {database_url.split(':', 1)[0]}")


def migrate_database(database_url: str) -> list[str]:
    """`invoicebot migrate`: the migrations applied now (none when the schema is current)."""
    if database_url.startswith(SQLITE_PREFIX):
        store = SqliteStore(database_url.removeprefix(SQLITE_PREFIX), migrate=False)
        try:
            return apply_migrations(store)
        finally:
            store.close()
    if database_url.startswith(POSTGRES_PREFIXES):
        from bot.store.postgres import PostgresStore
        from bot.store.postgres import apply_migrations as apply_postgres_migrations

        pg_store = PostgresStore(database_url, migrate=False, listen=False)
        try:
            return apply_postgres_migrations(pg_store)
        finally:
            pg_store.close()
    raise ValueError(f"unsupported DATABASE_URL scheme: {database_url.split(':', 1)[0]}")

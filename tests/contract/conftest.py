"""The store under contract: every test here runs against each database the bot supports.

A backend is a factory `(tmp_path, clock) -> Store`; a second engine joins by adding its factory
to `BACKENDS`, and the same tests then hold it to the same behaviour.

PostgreSQL runs when a server answers at `TEST_DATABASE_URL` (default
`postgresql://postgres@127.0.0.1:5432/test`); each test gets a schema of its own, dropped after
it, so runs never see each other's rows. Without a server the postgres tests are skipped, or fail
when `REQUIRE_POSTGRES=1` (CI with a server must not go green by skipping).
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from bot.store.ports import Store
from bot.store.postgres import PostgresStore
from bot.store.sqlite import SqliteStore

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"


class FakeClock:
    """Time that moves only when a test says so (leases, pruning, 'now' in queries)."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


StoreFactory = Callable[[Path, FakeClock], Store]


def sqlite_store(tmp_path: Path, clock: FakeClock) -> Store:
    return SqliteStore(str(tmp_path / "contract.db"), clock=clock)


# --- PostgreSQL: one schema per test ------------------------------------------------------------
@cache
def postgres_unavailable() -> str | None:
    """Why the PostgreSQL tests cannot run (None: a server answers at TEST_DATABASE_URL)."""
    try:
        with psycopg.connect(TEST_DATABASE_URL, connect_timeout=3, autocommit=True) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as error:
        where = conninfo_to_dict(TEST_DATABASE_URL)  # named without its password, if it has one
        server = f"{where.get('host', 'localhost')}:{where.get('port', 5432)}/{where.get('dbname', '')}"
        message = re.sub(r"\s+", " ", str(error))
        return f"no PostgreSQL server answers at TEST_DATABASE_URL ({server}): {message}"
    return None


def require_postgres() -> None:
    """Skip the calling test without a server (fail instead when REQUIRE_POSTGRES=1)."""
    reason = postgres_unavailable()
    if reason is None:
        return
    if REQUIRE_POSTGRES:
        pytest.fail(f"REQUIRE_POSTGRES=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def admin_connection() -> psycopg.Connection[Any]:
    return psycopg.connect(TEST_DATABASE_URL, autocommit=True, connect_timeout=5)


def create_schema() -> str:
    schema = f"contract_{uuid.uuid4().hex[:16]}"
    with admin_connection() as connection:
        connection.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    return schema


def drop_schema(schema: str) -> None:
    """Drop `schema`, first ending any backend still using it: a bot killed mid-test may leave them
    behind (its connections carry the schema's name as application_name, see `schema_url`)."""
    with admin_connection() as connection:
        connection.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = %s "
                           "AND pid <> pg_backend_pid()", [schema])
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def schema_url(schema: str) -> str:
    """TEST_DATABASE_URL with `schema` as the only schema on the search path (and as the connections'
    application_name, so a test can find and terminate its own backends)."""
    options = {"options": f"-c search_path={schema}", "application_name": schema}
    if TEST_DATABASE_URL.startswith(("postgresql://", "postgres://")):  # stays a URL, for open_store()
        return f"{TEST_DATABASE_URL}{'&' if '?' in TEST_DATABASE_URL else '?'}{urlencode(options, quote_via=quote)}"
    return make_conninfo(TEST_DATABASE_URL, **options)


def open_postgres(schema: str, clock: Callable[[], float], **options: Any) -> PostgresStore:
    """A store on `schema`; notifications on a channel of the schema's own (NOTIFY is per database,
    so tests running at once on other schemas would otherwise wake this one's subscribers)."""
    return PostgresStore(schema_url(schema), clock=clock, notify_channel=f"jobs_{schema}", **options)


_schemas: dict[Path, str] = {}  # per test (its tmp_path): stores made by one test share a schema


def postgres_store(tmp_path: Path, clock: FakeClock) -> Store:
    require_postgres()
    if tmp_path not in _schemas:
        _schemas[tmp_path] = create_schema()
    return open_postgres(_schemas[tmp_path], clock)


BACKENDS: dict[str, StoreFactory] = {"sqlite": sqlite_store, "postgres": postgres_store}


def _backend_params() -> list[Any]:
    params: list[Any] = []
    for name in sorted(BACKENDS):
        reason = postgres_unavailable() if name == "postgres" and not REQUIRE_POSTGRES else None
        params.append(pytest.param(name, marks=pytest.mark.skip(reason=reason)) if reason else name)
    return params


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=_backend_params())
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "postgres":
        require_postgres()
    yield str(request.param)
    # After every store of the test is closed (`store` and `make_store` depend on this fixture).
    schema = _schemas.pop(tmp_path, None)
    if schema is not None:
        drop_schema(schema)


@pytest.fixture
def store(backend: str, tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    opened = BACKENDS[backend](tmp_path, clock)
    yield opened
    opened.close()


@pytest.fixture
def make_store(backend: str, tmp_path: Path, clock: FakeClock) -> Iterator[Callable[[], Store]]:
    """A second (third, ...) store on the same database, as another process would open it."""
    opened: list[Store] = []

    def make() -> Store:
        opened.append(BACKENDS[backend](tmp_path, clock))
        return opened[-1]

    yield make
    for each in opened:
        each.close()

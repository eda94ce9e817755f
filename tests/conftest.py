from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.oauth import REDIRECT_PATH
from tests.contract.conftest import create_schema, drop_schema, require_postgres, schema_url
from tests.fakes.slack_fake import FakeSlack
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import (
    BOT_TOKEN,
    CLIENT_ID,
    CLIENT_SECRET,
    STRIPE_KEY,
    WEBHOOK_SECRET,
    RunningBot,
    bot_settings,
    oauth_bot_settings,
)


@pytest.fixture(scope="session")
def slack_server() -> Iterator[FakeSlack]:
    with FakeSlack(token=BOT_TOKEN).start() as fake:
        yield fake


@pytest.fixture(scope="session")
def stripe_server() -> Iterator[FakeStripe]:
    with FakeStripe(api_key=STRIPE_KEY).start() as fake:
        yield fake


@pytest.fixture
def fake_slack(slack_server: FakeSlack) -> FakeSlack:
    slack_server.reset()
    return slack_server


@pytest.fixture
def fake_stripe(stripe_server: FakeStripe) -> FakeStripe:
    stripe_server.reset()
    return stripe_server


@pytest.fixture
def schema() -> Iterator[str]:
    """A PostgreSQL schema of the test's own, dropped after it (skipped without a server, failed
    with REQUIRE_POSTGRES=1)."""
    require_postgres()
    name = create_schema()
    try:
        yield name
    finally:
        drop_schema(name)


@pytest.fixture
def db_backend(request: pytest.FixtureRequest) -> str:
    """The database `make_bot` puts its bots on: SQLite, unless a test asks for both with
    `@on_both_databases` (tests.harness), which parametrizes this fixture."""
    backend = str(getattr(request, "param", "sqlite"))
    if backend == "postgres":
        require_postgres()  # skipped without a server, failed with REQUIRE_POSTGRES=1
    return backend


@pytest.fixture
def make_bot(tmp_path: Path, fake_slack: FakeSlack, fake_stripe: FakeStripe, db_backend: str) -> Iterator[Any]:
    """Start the bot against the fakes; Stripe's webhooks are pointed at it. Each bot gets a
    database of its own: an SQLite file, or on PostgreSQL a schema, dropped after the test."""
    bots: list[RunningBot] = []
    schemas: list[str] = []

    def start(**overrides: Any) -> RunningBot:
        if db_backend == "postgres" and "database_url" not in overrides:
            schemas.append(create_schema())
            overrides["database_url"] = schema_url(schemas[-1])
        settings = bot_settings(tmp_path / f"bot{len(bots)}.db", fake_slack.api_url, fake_stripe.url, **overrides)
        bot = RunningBot(settings).start()
        fake_stripe.add_webhook_endpoint(bot.url + "/stripe/webhook", WEBHOOK_SECRET)
        bots.append(bot)
        return bot

    try:
        yield start
    finally:
        for bot in bots:
            bot.stop()
        for schema in schemas:
            drop_schema(schema)


@pytest.fixture
def bot(make_bot: Any) -> RunningBot:
    return make_bot()


@pytest.fixture
def make_oauth_bot(tmp_path: Path, fake_slack: FakeSlack, fake_stripe: FakeStripe,
                   db_backend: str) -> Iterator[Callable[..., RunningBot]]:
    """`make_oauth_bot(**settings)`: a bot any workspace installs (SLACK_MODE=oauth), started, with the
    fake Slack's OAuth set up as the Slack app's settings page would have it (its Redirect URL)."""
    bots: list[RunningBot] = []
    schemas: list[str] = []

    def start(**overrides: Any) -> RunningBot:
        if db_backend == "postgres" and "database_url" not in overrides:
            schemas.append(create_schema())
            overrides["database_url"] = schema_url(schemas[-1])
        settings = oauth_bot_settings(tmp_path / f"oauth{len(bots)}.db", fake_slack.api_url, fake_stripe.url,
                                      **overrides)
        bot = RunningBot(settings).start()
        bots.append(bot)
        fake_slack.configure_oauth(CLIENT_ID, CLIENT_SECRET, redirect_uri=settings.public_url + REDIRECT_PATH)
        return bot

    try:
        yield start
    finally:
        for bot in bots:
            bot.stop()
        for schema in schemas:
            drop_schema(schema)


@pytest.fixture
def oauth_bot(make_oauth_bot: Callable[..., RunningBot]) -> RunningBot:
    return make_oauth_bot()

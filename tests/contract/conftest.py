"""The store under contract: every test here runs against each database the bot supports.

A backend is a factory `(tmp_path, clock) -> Store`; a second engine joins by adding its factory
to `BACKENDS`, and the same tests then hold it to the same behaviour.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bot.store.ports import Store
from bot.store.sqlite import SqliteStore


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


BACKENDS: dict[str, StoreFactory] = {"sqlite": sqlite_store}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=sorted(BACKENDS))
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


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

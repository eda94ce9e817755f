"""The fakes for benchmarking: fake Slack in a process of its own, fake Stripe in this one.

Fake Slack validates every view and message with Block Kit's rules: a `views.open` costs it about
3 ms of CPU. Served from the benchmark's own process, that work would hold the GIL the latency
client needs to read its answers, and add tens of milliseconds to the bot's measured p99. So it
runs in a child process (a `multiprocessing` manager), driven through `SlackFake`, which proxies
the few methods the benchmarks use. Fake Stripe mostly sleeps (injected latency) and stays here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.managers import BaseManager
from typing import Any

from tests.fakes.slack_fake import Call, FakeSlack, Message
from tests.fakes.stripe_fake import FakeStripe
from tests.harness import BOT_TOKEN, STRIPE_KEY


class _ServedFakeSlack(FakeSlack):
    """FakeSlack with method forms of what a proxy cannot reach (properties, `start()` returning self)."""

    def serve(self) -> str:
        self.start()
        return self.api_url

    def call_count(self) -> int:
        return len(self.calls)

    def calls_since(self, start: int) -> list[Call]:
        return self.calls[start:]

    def add_channels(self, channel_ids: list[str]) -> None:
        for channel_id in channel_ids:
            self.add_channel(channel_id)


class _Manager(BaseManager):
    pass


_Manager.register("FakeSlack", _ServedFakeSlack, exposed=(
    "serve", "stop", "reset", "new_trigger_id", "response_url", "calls_to", "call_count", "calls_since", "messages",
    "enforce_pace", "add_channels"))


class SlackFake:
    """The fake Slack Web API in its own process; the methods mirror `FakeSlack`'s."""

    def __init__(self, proxy: Any) -> None:
        self._proxy = proxy
        self.api_url: str = proxy.serve()

    def reset(self) -> None:
        self._proxy.reset()

    def new_trigger_id(self) -> str:
        return str(self._proxy.new_trigger_id())

    def response_url(self) -> str:
        return str(self._proxy.response_url())

    def calls_to(self, method: str) -> list[Call]:
        return list(self._proxy.calls_to(method))

    def call_count(self) -> int:
        return int(self._proxy.call_count())

    def calls_since(self, start: int) -> list[Call]:
        return list(self._proxy.calls_since(start))

    def messages(self, channel: str) -> list[Message]:
        return list(self._proxy.messages(channel))

    def enforce_pace(self, posts_per_second: float | None = 1.0, burst: int = 3) -> None:
        self._proxy.enforce_pace(posts_per_second, burst)

    def add_channels(self, channel_ids: list[str]) -> None:
        self._proxy.add_channels(channel_ids)


@dataclass
class Fakes:
    slack: SlackFake
    stripe: FakeStripe

    def reset(self) -> None:
        self.slack.reset()
        self.stripe.reset()


@contextlib.contextmanager
def running_fakes() -> Iterator[Fakes]:
    with _Manager() as manager, FakeStripe(api_key=STRIPE_KEY).start() as stripe:
        proxy = manager.FakeSlack(token=BOT_TOKEN)  # type: ignore[attr-defined]
        try:
            yield Fakes(SlackFake(proxy), stripe)
        finally:
            proxy.stop()

"""What every benchmark shares: the fakes, the bot's settings, helper processes, memory, the machine."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import signal
import socketserver
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.fakes import Fakes
from bot.config import Settings
from tests.harness import (
    BOT_TOKEN,
    PAYMENTS_CHANNEL,
    ROOT,
    SIGNING_SECRET,
    STRIPE_KEY,
    WEBHOOK_SECRET,
    BotProcess,
    free_port,
    origin,
)

PYTHON = sys.executable


@dataclass
class Context:
    """What a benchmark gets: the fakes, a scratch directory, and figures other benchmarks left."""

    fakes: Fakes
    workdir: Path
    shared: dict[str, float] = field(default_factory=dict)


def _quiet_disconnects() -> None:
    """The fakes are stdlib servers, which print a traceback whenever a client's connection resets;
    here that only means a bot process was killed mid-call, on purpose. Other errors still print."""
    report = socketserver.BaseServer.handle_error

    def handle_error(self: socketserver.BaseServer, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            report(self, request, client_address)

    socketserver.BaseServer.handle_error = handle_error  # type: ignore[method-assign]


_quiet_disconnects()


def bot_settings(database: Path, fakes: Fakes, **overrides: Any) -> Settings:
    """The bot's settings against the fakes; everything else at `invoicebot serve`'s defaults."""
    values: dict[str, Any] = {
        "slack_bot_token": BOT_TOKEN,
        "slack_signing_secret": SIGNING_SECRET,
        "slack_api_url": fakes.slack.api_url,
        "slack_response_origins": origin(fakes.slack.api_url),
        "stripe_api_key": STRIPE_KEY,
        "stripe_webhook_secret": WEBHOOK_SECRET,
        "stripe_api_base": fakes.stripe.url,
        "database_url": f"sqlite:///{database}",
        "payments_channel": PAYMENTS_CHANNEL,
        "host": "127.0.0.1",
        "port": free_port(),
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextlib.contextmanager
def bot_process(settings: Settings, log: Path | None = None) -> Iterator[BotProcess]:
    """`invoicebot serve` in its own process; SIGKILLed on the way out if still running. `log`:
    where its output goes (required on PostgreSQL, where there is no database file to put it beside)."""
    bot = BotProcess(settings, log=log).start()
    try:
        yield bot
    finally:
        bot.stop()


class ServerProcess:
    """A reference server (`python -m <module> ...`) in its own process, ready once /healthz answers."""

    def __init__(self, module: str, args: list[str], port: int, log: Path) -> None:
        self.module = module
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen([PYTHON, "-m", module, *args], cwd=ROOT, stdout=out,
                                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": str(ROOT)})
        wait_until(self._healthy, timeout=20, what=f"{module} to answer /healthz (log: {log})")

    def _healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"python -m {self.module} exited:\n{self.log.read_text()[-2000:]}")
        try:
            return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


@contextlib.contextmanager
def server_process(module: str, args: list[str], port: int, log: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(module, args, port, log)
    try:
        yield server
    finally:
        server.stop()


def run_sender(url: str, out: Path, *, timeout: float, **options: Any) -> dict[str, Any]:
    """Run `bench.sender` as its own process and return its result; options become `--flags`."""
    args = [PYTHON, "-m", "bench.sender", "--url", url, "--out", str(out)]
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is not None and value is not False:
            args += [flag, str(value)]
    completed = subprocess.run(args, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=timeout,
                               capture_output=True, text=True)
    if completed.returncode != 0 or not out.exists():
        raise RuntimeError(f"the sender failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def wait_until(predicate: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f}s for {what or predicate}")
        time.sleep(interval)


def rss_mb(pid: int) -> float:
    """Resident memory now, in MB (10^6 bytes)."""
    return float(psutil.Process(pid).memory_info().rss) / 1e6


def peak_rss_mb(pid: int) -> float:
    """The process's highest resident memory so far (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024 / 1e6
    return 0.0


def machine() -> dict[str, str]:
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "cpus": str(os.cpu_count()),
        "nproc": str(len(os.sched_getaffinity(0))),
        "cpu": cpu,
        "memory": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "python": platform.python_version(),
        "os": f"{platform.system()} {platform.release()}",
    }

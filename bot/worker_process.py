"""The workers in a process of their own (`WORKER_MODE=process`, the default for `invoicebot serve`).

One CPython process runs one thread of Python at a time. Sharing it, the HTTP edge (acks, the
webhook's checks) and the workers (deciding events, rendering messages) took turns, and a backlog
slowed every ack. `invoicebot serve` therefore starts `invoicebot work` as a child: the parent
serves HTTP, the child runs every lane, each on a core of its own.

- Wake-ups: the parent writes the lanes its commits filled, one per line, to a pipe the child
  reads (PostgreSQL's NOTIFY would do too; the pipe works for SQLite). A lost line only costs a
  poll interval.
- Health: the child writes its `WorkerHealth` as a JSON line every second to a second pipe;
  `/healthz` answers 503 when none came for `STALE_SECONDS` or the child is down. The line carries
  the child's counters too (Slack and Stripe calls, jobs, events decided) for `/metrics`.
- Supervision: a child that exits is started again after a pause (`restarts` counts them). The
  child dies with its parent (`PR_SET_PDEATHSIG`), as the threads did with the process: its
  leases run out and another process takes its jobs up. SIGTERM to the parent reaches the child,
  which drains like the threads did.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable

from bot.config import Settings, settings_env
from bot.jobs.worker import WorkerHealth, Workers
from bot.metrics import RemoteSamples

logger = logging.getLogger(__name__)

HEALTH_SECONDS = 1.0
STALE_SECONDS = 5.0
RESTART_DELAY_SECONDS = 1.0
PR_SET_PDEATHSIG = 1
# When the cores are busy, the kernel gives the HTTP edge (acks: 3 s, but people feel 100 ms) the
# CPU before the workers (whose answers have seconds to spare).
WORKER_NICENESS = 5


class WorkerProcess:
    """The parent's handle on the child that runs the workers."""

    def __init__(self, settings: Settings, *, stop_timeout: float = 30.0) -> None:
        self.settings = settings
        self.stop_timeout = stop_timeout
        self.restarts = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._wake_fd: int | None = None
        self._latest: tuple[float, WorkerHealth] | None = None
        self.metric_samples = RemoteSamples()  # the child's counters, sent with its health
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._supervisor: threading.Thread | None = None

    def start(self) -> None:
        self._stopping.clear()
        self._spawn()
        self._supervisor = threading.Thread(target=self._supervise, name="invoicebot-worker-process", daemon=True)
        self._supervisor.start()

    def _spawn(self) -> None:
        wake_read, wake_write = os.pipe()
        health_read, health_write = os.pipe()
        os.set_blocking(wake_write, False)  # a full pipe drops a wake-up; it never blocks a request
        env = {**os.environ, **settings_env(self.settings)}
        command = [sys.executable, "-m", "bot.cli", "work", "--env-file", "/dev/null",
                   "--wake-fd", str(wake_read), "--health-fd", str(health_write)]
        process = subprocess.Popen(command, env=env, pass_fds=(wake_read, health_write))
        os.close(wake_read)
        os.close(health_write)
        with self._lock:
            old = self._wake_fd
            self._process, self._wake_fd, self._latest = process, wake_write, None
        if old is not None:
            os.close(old)
        threading.Thread(target=self._read_health, args=(health_read,), name="invoicebot-worker-health",
                         daemon=True).start()
        logger.info("started the worker process (pid %d)", process.pid)

    def _read_health(self, fd: int) -> None:
        with os.fdopen(fd, "rb") as lines:
            for line in lines:
                try:
                    data = json.loads(line)
                    health = WorkerHealth(threads=int(data["threads"]), alive=int(data["alive"]),
                                          restarting=list(data["restarting"]), restarts=int(data["restarts"]),
                                          housekeeper_alive=bool(data["housekeeper_alive"]))
                except (ValueError, KeyError, TypeError):
                    logger.warning("unreadable health line from the worker process: %r", line[:200])
                    continue
                with self._lock:
                    self._latest = (time.monotonic(), health)
                if isinstance(data.get("metrics"), list):
                    try:
                        self.metric_samples.update(data["metrics"])
                    except (ValueError, TypeError):
                        logger.warning("unreadable metrics from the worker process")

    def _supervise(self) -> None:
        while not self._stopping.wait(RESTART_DELAY_SECONDS):
            process = self._process
            if process is None or process.poll() is None:
                continue
            if self._stopping.is_set():
                return
            self.restarts += 1
            logger.error("the worker process exited with %s; starting it again", process.returncode)
            self._spawn()

    def wake(self, lanes: Iterable[str]) -> None:
        fd = self._wake_fd
        if fd is None:
            return
        try:
            os.write(fd, "".join(f"{lane}\n" for lane in lanes).encode())
        except (BlockingIOError, BrokenPipeError, OSError):
            pass  # the child polls as well; a lost wake-up costs at most a poll interval

    def health(self) -> WorkerHealth:
        with self._lock:
            latest = self._latest
        process = self._process
        down = process is None or process.poll() is not None
        if down or latest is None or time.monotonic() - latest[0] > STALE_SECONDS:
            return WorkerHealth(threads=0, alive=0, restarting=["worker process"], restarts=self.restarts)
        health = latest[1]
        return WorkerHealth(health.threads, health.alive, health.restarting, health.restarts + self.restarts,
                            health.housekeeper_alive)

    def busy(self) -> int:
        return 0  # the child's own business; tests that need it run the workers inline

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM: the child stops claiming, finishes what it holds (SIGTERM drains) and exits."""
        self._stopping.set()
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                logger.error("the worker process did not stop in time; killing it")
                process.kill()
                process.wait(10)
        if self._wake_fd is not None:
            os.close(self._wake_fd)
            self._wake_fd = None


def die_with_parent() -> None:
    """Linux: the kernel kills this process when its parent dies (a crash takes both, as before)."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        logger.warning("cannot ask to die with the parent process; relying on the wake pipe closing")


def serve_workers(workers: Workers, *, wake_fd: int, health_fd: int) -> None:
    """The child's main loop: run the workers, take wake-ups, report health, stop on SIGTERM or
    when the parent is gone (its end of the wake pipe closes)."""
    die_with_parent()
    os.nice(WORKER_NICENESS)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())

    def read_wakes() -> None:
        with os.fdopen(wake_fd, "rb") as lines:
            for line in lines:
                workers.wake([line.decode(errors="replace").strip()])
        stop.set()  # the parent closed its end: it is gone or stopping

    threading.Thread(target=read_wakes, name="invoicebot-wakes", daemon=True).start()
    workers.start()
    with os.fdopen(health_fd, "wb", buffering=0) as health:
        while not stop.wait(HEALTH_SECONDS):
            try:
                report = {**workers.health().to_dict(), "metrics": workers.metrics.samples()}
                health.write(json.dumps(report).encode() + b"\n")
            except BrokenPipeError:
                break
    workers.stop()

"""What only one process on a database may run at a time (Socket Mode), held through a lease row.

Slack sends each Socket Mode event to one of an app's open connections, so a second instance
on the same database would split Slack's traffic with the first, each acking what the other never
sees. The first instance takes the lease `socket_mode` (`Store.leases`), renews it every
`RENEW_SECONDS` and gives it up on a clean stop; a second one is refused with the holder's name. A
crashed holder stops renewing, and its lease runs out after `LEASE_SECONDS`.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable

from bot.domain.records import Lease
from bot.store.ports import Leases

logger = logging.getLogger(__name__)

SOCKET_MODE = "socket_mode"
LEASE_SECONDS = 30.0
RENEW_SECONDS = 10.0  # a third of the lease: two renewals may fail (a database blip) before it runs out


class AnotherInstance(RuntimeError):
    """The lease is held by another live process: this one must not start."""


def this_process() -> str:
    return f"host {socket.gethostname()}, pid {os.getpid()}"


def _utc(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))


def socket_mode_refusal(lease: Lease) -> str:
    return (f"Socket Mode runs as one instance: another invoicebot ({lease.holder}) holds it since "
            f"{_utc(lease.since)}; stop it, or use HTTP mode (unset SLACK_APP_TOKEN) with "
            f"DATABASE_URL=postgresql://... for replicas. If it crashed, start again after {_utc(lease.expires_at)}, "
            "when its hold runs out.")


class InstanceLease:
    """Holds the lease `name` for this process while it runs: `acquire()` or `AnotherInstance`,
    renewed by a daemon thread, `release()` on stop."""

    def __init__(self, leases: Leases, name: str, *, refusal: Callable[[Lease], str],
                 ttl: float = LEASE_SECONDS, renew_every: float = RENEW_SECONDS, holder: str | None = None) -> None:
        self.leases = leases
        self.name = name
        self.refusal = refusal
        self.ttl = ttl
        self.renew_every = renew_every
        self.holder = holder or this_process()
        self.token = uuid.uuid4().hex
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def held(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def acquire(self, on_lost: Callable[[], None] | None = None) -> None:
        """Take the lease and keep renewing it, or raise `AnotherInstance` naming its holder.
        `on_lost` runs (in the renewing thread) when another process took the lease over: this
        one failed to renew it in time, and must stop doing what the lease is for."""
        if self.held:
            return
        lease = self.leases.acquire(self.name, self.token, self.holder, self.ttl)
        if lease.token != self.token:
            raise AnotherInstance(self.refusal(lease))
        self._stop.clear()
        self._thread = threading.Thread(target=self._keep, args=(on_lost,), name=f"invoicebot-lease-{self.name}",
                                        daemon=True)
        self._thread.start()

    def release(self) -> None:
        if self._thread is None:
            return
        self._stop.set()
        self._thread.join(self.renew_every + 5)
        self._thread = None
        try:
            self.leases.release(self.name, self.token)
        except Exception:  # noqa: BLE001 - shutting down: the lease runs out by itself
            logger.warning("could not release the %s lease; it runs out within %.0f s", self.name, self.ttl,
                           exc_info=True)

    def _keep(self, on_lost: Callable[[], None] | None) -> None:
        while not self._stop.wait(self.renew_every):
            try:
                held = self.leases.renew(self.name, self.token, self.ttl)
            except Exception:  # noqa: BLE001 - the database may be back before the lease runs out
                logger.warning("renewing the %s lease failed; trying again in %.0f s", self.name, self.renew_every,
                               exc_info=True)
                continue
            if not held:
                logger.error("the %s lease was taken over by another process after this one failed to renew it "
                             "for %.0f s; stopping what it is for", self.name, self.ttl)
                if on_lost is not None:
                    on_lost()
                return

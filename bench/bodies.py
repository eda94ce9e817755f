"""6. Oversized bodies: memory while 8 clients each send a 256 MiB body at once.

The bot reads a body in chunks and stops at its door's limit (1 MiB for Slack, 512 KiB for
Stripe), answering 413 and hanging up. The baseline, in the same run on the same stack, reads the
whole body first and checks its size after (`await request.body()`, as the bot did before): its
memory grows with what clients send. Each is measured with a declared Content-Length and with a
chunked body that declares none (the case a Content-Length check alone misses).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from bench.common import Context, bot_process, bot_settings, peak_rss_mb, rss_mb, server_process
from bench.report import Section, Target, fmt
from tests.harness import free_port

CLIENTS = 8
BODY_MIB = 256
CHUNK = 256 * 1024
TARGET_EXTRA_MB = 20.0


def reset_peak(pid: int) -> None:
    """Make VmHWM start again from the current resident set (Linux: `echo 5 > clear_refs`)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def send_body(url: str, path: str, *, chunked: bool) -> tuple[int, str]:
    """Offer BODY_MIB to `path`; returns (bytes the server took before answering or hanging up, status)."""
    host, port = url.removeprefix("http://").split(":")
    sent = 0
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        length = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {BODY_MIB * 1024 * 1024}"
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n{length}\r\n\r\n"
                     .encode())
        piece = (f"{CHUNK:x}\r\n".encode() + b"x" * CHUNK + b"\r\n") if chunked else b"x" * CHUNK
        try:
            for _ in range(BODY_MIB * 1024 * 1024 // CHUNK):
                sock.sendall(piece)
                sent += CHUNK
            if chunked:
                sock.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
        try:
            status = sock.recv(64).split(b"\r\n", 1)[0].decode("latin-1")
        except (ConnectionResetError, TimeoutError):
            status = "(closed)"
    return sent, status


def load(url: str, path: str, pid: int, *, chunked: bool) -> tuple[float, float, int, str]:
    """(resident MB before, peak MB during, MiB the server took from all clients, a status seen)."""
    time.sleep(0.5)
    reset_peak(pid)
    before = rss_mb(pid)
    results: list[tuple[int, str]] = []
    threads = [threading.Thread(target=lambda: results.append(send_body(url, path, chunked=chunked)))
               for _ in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    taken = sum(sent for sent, _ in results) // (1024 * 1024)
    return before, peak_rss_mb(pid), taken, results[0][1] if results else "(none)"


def run(context: Context) -> Section:
    context.fakes.reset()
    rows, extras = [], {}
    with bot_process(bot_settings(context.workdir / "bodies.db", context.fakes)) as bot:
        assert bot.process is not None
        for path in ("/slack/events", "/stripe/webhook"):
            for chunked in (False, True):
                before, peak, taken, status = load(bot.url, path, bot.process.pid, chunked=chunked)
                extras[(path, chunked)] = peak - before
                rows.append(["bot", path, "chunked" if chunked else "Content-Length", fmt(before), fmt(peak),
                             fmt(peak - before), fmt(taken), status])
        assert bot.http.get("/healthz").status_code == 200, "the bot stopped serving"
    port = free_port()
    args = ["whole-body", "--port", str(port)]
    with server_process("bench.refservers", args, port, context.workdir / "whole-body.log") as usual:
        before, peak, taken, status = load(usual.url, "/slack/events", usual.pid, chunked=True)
        baseline = peak - before
        rows.append(["usual: read it all, then check", "/slack/events", "chunked", fmt(before), fmt(peak),
                     fmt(baseline), fmt(taken), status])
    worst = max(extras.values())
    return Section(
        key="bodies",
        title=f"6. Oversized bodies ({CLIENTS} clients x {BODY_MIB} MiB at once)",
        headers=["server", "door", "body", "RSS before MB", "peak MB", "extra MB", "MiB taken", "answer"],
        rows=rows,
        targets=[Target(f"bot's extra peak memory, worst door ({CLIENTS} x {BODY_MIB} MiB)", worst, "<",
                        TARGET_EXTRA_MB, "MB")],
        notes=[
            f"Each of {CLIENTS} clients offers {BODY_MIB} MiB at once; 'MiB taken' is what the server accepted "
            "before it answered or hung up. Peak is VmHWM, reset just before each load.",
            f"The usual way held {fmt(baseline)} MB extra at its peak against the bot's worst {fmt(worst)} MB "
            f"({baseline / max(worst, 0.1):.0f}x).",
        ],
    )

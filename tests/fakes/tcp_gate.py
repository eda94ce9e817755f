"""A TCP gate in front of a server: what a restart or a network cut looks like to its clients.

`close()` drops every connection through the gate and refuses new ones (as a server that went
away); `open()` lets connections through again (as the server back up). Bytes are forwarded
untouched, so the PostgreSQL protocol (or anything else) works through it.

    with TcpGate(("127.0.0.1", 5432)) as gate:
        url = f"postgresql://postgres@127.0.0.1:{gate.port}/test"
        ...
        gate.close()   # the database is unreachable
        gate.open()    # and back
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType


class TcpGate:
    def __init__(self, upstream: tuple[str, int], host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self._listener = socket.create_server((host, 0))
        self.port = int(self._listener.getsockname()[1])
        self._is_open = threading.Event()
        self._is_open.set()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._stopping = False
        self._acceptor = threading.Thread(target=self._accept, name="tcp-gate", daemon=True)
        self._acceptor.start()

    def close(self) -> None:
        """Cut every connection now and refuse new ones until `open()`."""
        self._is_open.clear()
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for each in sockets:
            _shut(each)

    def open(self) -> None:
        self._is_open.set()

    def stop(self) -> None:
        self._stopping = True
        self.close()
        _shut(self._listener)
        self._acceptor.join(timeout=5)

    def __enter__(self) -> TcpGate:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._is_open.is_set():
                _shut(client)  # refused: the client sees its connection closed at once
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                _shut(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
        except OSError:
            pass  # cut by close(), or by either end
        finally:
            for each in (source, target):
                _shut(each)
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(target)


def _shut(each: socket.socket) -> None:
    with contextlib.suppress(OSError):
        each.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        each.close()

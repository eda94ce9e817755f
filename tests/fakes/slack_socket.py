"""A fake of Slack's Socket Mode: `apps.connections.open` hands out a WebSocket URL, and Slack's
envelopes (slash commands, interactivity, events) are pushed over it and acknowledged by
`envelope_id`, as Slack's Socket Mode protocol does.
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve


class FakeSocketMode:
    def __init__(self, app_token: str = "xapp-1-test") -> None:
        self.app_token = app_token
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: list[ServerConnection] = []
        self._acks: dict[str, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.connected = threading.Event()

    def start(self) -> FakeSocketMode:
        self._server = serve(self._handle, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-socket-mode", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(5)

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link/?ticket={uuid.uuid4().hex}"

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self._connections.append(connection)
        connection.send(json.dumps({"type": "hello", "num_connections": 1,
                                    "debug_info": {"host": "fake-socket-mode"}, "connection_info": {"app_id": "A1"}}))
        self.connected.set()
        try:
            for message in connection:
                data = json.loads(message)
                waiting = self._acks.get(str(data.get("envelope_id")))
                if waiting is not None:
                    waiting.put(data)
        except ConnectionClosed:
            pass
        finally:
            with self._lock:
                self._connections.remove(connection)

    def push(self, kind: str, payload: dict[str, Any], timeout: float = 5.0) -> dict[str, Any]:
        """Send one envelope to the app and wait for its acknowledgement (which may carry a response)."""
        if not self.connected.wait(timeout):
            raise AssertionError("the app never connected over Socket Mode")
        envelope_id = str(uuid.uuid4())
        self._acks[envelope_id] = queue.Queue()
        with self._lock:
            connection = self._connections[-1]
        connection.send(json.dumps({"envelope_id": envelope_id, "type": kind, "payload": payload,
                                    "accepts_response_payload": kind != "events_api", "retry_attempt": 0,
                                    "retry_reason": ""}))
        try:
            return self._acks[envelope_id].get(timeout=timeout)
        finally:
            del self._acks[envelope_id]

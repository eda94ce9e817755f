"""The Stripe webhook's hot path: verify, store once, answer.

Only what must happen before the 2xx happens here: size check, signature check on the raw
body (Stripe's scheme, 300 s tolerance), JSON parse, insert-or-ignore by event id together with
its processing job. Building Stripe objects (`construct_event`) and all Slack work come later,
from the queue.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass

from stripe import SignatureVerificationError, WebhookSignature

from bot.store import SqliteStore

logger = logging.getLogger(__name__)

MAX_WEBHOOK_BYTES = 512 * 1024  # Stripe's events are a few KB; anything far larger is not Stripe
SIGNATURE_TOLERANCE = 300
EVENT_JOB = "stripe_event"


@dataclass(frozen=True)
class WebhookResult:
    status: int
    body: dict[str, object]


class WebhookReceiver:
    def __init__(self, store: SqliteStore, secret: str, on_stored: Callable[[], None] | None = None) -> None:
        self._store = store
        self._secret = secret
        self._on_stored = on_stored

    def receive(self, raw: bytes, signature: str | None) -> WebhookResult:
        if len(raw) > MAX_WEBHOOK_BYTES:
            return WebhookResult(413, {"error": f"body larger than {MAX_WEBHOOK_BYTES} bytes"})
        if not signature:
            return WebhookResult(400, {"error": "missing Stripe-Signature header"})
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            return WebhookResult(400, {"error": "body is not UTF-8"})
        try:
            WebhookSignature.verify_header(text, signature, self._secret, SIGNATURE_TOLERANCE)
        except SignatureVerificationError as error:
            return WebhookResult(400, {"error": f"signature verification failed: {_reason(error)}"})
        try:
            event = json.loads(text)
        except ValueError:
            return WebhookResult(400, {"error": "body is not valid JSON"})
        if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not event.get("type"):
            return WebhookResult(400, {"error": "not a Stripe event: id and type are required"})
        stored = self._store.record_event(event, text, EVENT_JOB)
        if stored and self._on_stored:
            self._on_stored()
        return WebhookResult(200, {"received": True, "duplicate": not stored})


def _reason(error: SignatureVerificationError) -> str:
    message = str(error.user_message or error).lower()
    if "tolerance" in message or "timestamp" in message and "outside" in message:
        return "timestamp outside the tolerance zone"
    if "unable to extract" in message:
        return "malformed header"
    return "no signature matches the payload"

"""Logging for `invoicebot serve`: one line per record, with email addresses masked.

Customers' names and emails are never logged on purpose, but a peer's error text can quote what
it was sent ("Invalid email address: jenny@..."), and tracebacks quote arguments. The formatter
masks anything shaped like an email address in the whole formatted record, traceback included.
"""

from __future__ import annotations

import logging
import re

EMAIL_LIKE = re.compile(r"[^\s@<>\"'(),;:]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def redact(text: str) -> str:
    return EMAIL_LIKE.sub("<email>", text)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def configure(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(RedactingFormatter(FORMAT))
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)

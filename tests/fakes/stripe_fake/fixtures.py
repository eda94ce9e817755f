"""Stripe's published object fixtures (``tests/data/stripe/fixtures3.json``, MIT, from stripe-mock's
OpenAPI bundle), used as templates so the fake answers with the same keys and shapes as the API."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

FIXTURES_PATH = Path(__file__).resolve().parents[2] / "data" / "stripe" / "fixtures3.json"


@cache
def _resources() -> dict[str, dict[str, Any]]:
    with FIXTURES_PATH.open(encoding="utf-8") as handle:
        return json.load(handle)["resources"]


def template(kind: str) -> dict[str, Any]:
    """A fresh deep copy of the fixture for ``kind`` (e.g. "invoice", "payment_intent")."""
    return copy.deepcopy(_resources()[kind])


def from_template(kind: str, **values: Any) -> dict[str, Any]:
    """Build an object of ``kind`` with exactly the fixture's top-level keys, all set by the caller.

    Requiring every key keeps the fixture's example values (random amounts, sample ids) from
    leaking into our objects, and rejects keys the real object does not have.
    """
    shape = _resources()[kind]
    unknown = values.keys() - shape.keys()
    missing = shape.keys() - values.keys()
    if unknown or missing:
        raise AssertionError(f"{kind}: unknown keys {sorted(unknown)}, unset keys {sorted(missing)}")
    return {key: values[key] for key in shape}

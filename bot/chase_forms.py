"""The chasing forms' input (Promise to pay, Disputed, Chasing…) as pydantic models.

As with the invoice form (`bot/forms.py`), fields are named after the modals' `block_id`s
(`blocks.promise_modal`, `dispute_modal`, `cadence_modal`), so a `ValidationError` becomes
`response_action: errors` on the field to fix (`bot.forms.field_errors`). Pure: the rep's "today"
comes from the time zone the job that opened the form put in its `private_metadata`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from bot.domain.chasing import MAX_NOTE, MAX_REASON, CadenceError, parse_cadence, promise_refusal
from bot.forms import unsafe_character

MIN_REASON = 3


def _plain(value: str | None) -> str | None:
    if value:
        found = unsafe_character(value, allowed="\n")
        if found:
            raise ValueError(f"Remove the invisible character {found}; type plain text")
    return value or None


class PromiseForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    promised_until: date
    promise_note: str | None = Field(default=None, max_length=MAX_NOTE)

    @field_validator("promised_until", mode="before")
    @classmethod
    def _a_date(cls, value: Any) -> date:
        if not isinstance(value, str):
            raise ValueError("Pick the date the customer promised to pay by")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError("Pick the date the customer promised to pay by") from None

    @field_validator("promised_until")
    @classmethod
    def _from_today(cls, value: date, info: ValidationInfo) -> date:
        today = (info.context or {}).get("today")
        refusal = promise_refusal(value, today) if isinstance(today, date) else None
        if refusal:
            raise ValueError(refusal)
        return value

    @field_validator("promise_note")
    @classmethod
    def _note(cls, value: str | None) -> str | None:
        return _plain(value)


class DisputeForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    dispute_reason: str = Field(max_length=MAX_REASON)

    @field_validator("dispute_reason", mode="before")
    @classmethod
    def _given(cls, value: Any) -> str:
        if not isinstance(value, str) or len(value.strip()) < MIN_REASON:
            raise ValueError("Say in a few words what the customer disputes")
        return value

    @field_validator("dispute_reason")
    @classmethod
    def _reason(cls, value: str) -> str:
        return _plain(value) or ""


class CadenceForm(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    chase_days: str | None = Field(default=None, max_length=60)

    @field_validator("chase_days")
    @classmethod
    def _days(cls, value: str | None) -> str | None:
        if not value:
            return None
        try:
            parse_cadence(value)
        except CadenceError as error:
            raise ValueError(str(error)) from None
        return value

    @property
    def days(self) -> tuple[int, ...] | None:
        """None: the workspace's cadence."""
        return None if self.chase_days is None else parse_cadence(self.chase_days)


@dataclass(frozen=True)
class ChasingFormMetadata:
    """What the job that opened a chasing form put in its `private_metadata`."""

    invoice_id: str
    zone: str  # the person's IANA time zone, from Slack
    channel_id: str  # where the press came from (answers go there)

    def dump(self) -> str:
        return json.dumps({"invoice_id": self.invoice_id, "tz": self.zone, "channel_id": self.channel_id})

    @classmethod
    def read(cls, text: str | None) -> ChasingFormMetadata | None:
        try:
            data = json.loads(text or "{}")
            invoice_id = str(data.get("invoice_id") or "")
        except (ValueError, AttributeError):
            return None
        if not invoice_id.startswith("in_") or len(invoice_id) > 100:
            return None
        return cls(invoice_id, str(data.get("tz") or "UTC")[:64], str(data.get("channel_id") or "")[:40])

    def tz(self) -> tzinfo:
        try:
            return ZoneInfo(self.zone)
        except (ZoneInfoNotFoundError, ValueError):
            return ZoneInfo("UTC")

    def today(self, now: float) -> date:
        return datetime.fromtimestamp(now, self.tz()).date()


def element_values(state_values: dict[str, Any]) -> dict[str, Any]:
    """`view.state.values` -> block_id -> what was typed or picked (a datepicker's `selected_date`)."""
    found: dict[str, Any] = {}
    for block_id, actions in state_values.items():
        if not isinstance(actions, dict):
            continue
        for element in actions.values():
            if isinstance(element, dict):
                found[block_id] = element.get("selected_date") if element.get("type") == "datepicker" \
                    else element.get("value")
    return found


def parse_promise(state_values: dict[str, Any], today: date) -> PromiseForm:
    values = element_values(state_values)
    return PromiseForm.model_validate({"promised_until": values.get("promised_until"),
                                       "promise_note": values.get("promise_note")}, context={"today": today})


def parse_dispute(state_values: dict[str, Any]) -> DisputeForm:
    return DisputeForm.model_validate({"dispute_reason": element_values(state_values).get("dispute_reason")})


def parse_cadence_form(state_values: dict[str, Any]) -> CadenceForm:
    value = element_values(state_values).get("chase_days")
    return CadenceForm.model_validate({"chase_days": value if isinstance(value, str) else None})

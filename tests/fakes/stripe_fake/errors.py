"""Stripe-shaped API errors.

Every failure the fake reports is a :class:`StripeApiError`; the HTTP layer turns it into
``{"error": {...}}`` with the right status, which the SDK maps onto its own exception classes
(400/404 -> ``InvalidRequestError``, 401 -> ``AuthenticationError``, 402 -> ``CardError``,
403 -> ``PermissionError``, 429 -> ``RateLimitError``, 5xx -> ``APIError``).
"""

from __future__ import annotations

from typing import Any


class StripeApiError(Exception):
    """An error response, raised anywhere inside request handling (and by the test helpers).

    ``stored`` says whether an idempotency key remembers this outcome. Stripe only saves the
    result once an endpoint "began executing": parameter validation failures are not saved
    (the caller may fix the request and retry with the same key), business-rule failures are.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        decline_code: str | None = None,
        stored: bool = True,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.decline_code = decline_code
        self.stored = stored
        self.extra = extra or {}

    def body(self, request_id: str | None = None, *, livemode: bool = False) -> dict[str, Any]:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        if self.decline_code:
            error["decline_code"] = self.decline_code
        if request_id:
            mode = "" if livemode else "test/"
            error["request_log_url"] = f"https://dashboard.stripe.com/{mode}logs/{request_id}"
        error.update(self.extra)
        return {"error": error}

    def __repr__(self) -> str:
        return f"StripeApiError({self.status}, {self.type!r}, code={self.code!r}, message={self.message!r})"


class ParamError(StripeApiError):
    """A 400 about the request's parameters themselves: never stored for idempotent replay."""

    def __init__(self, message: str, *, param: str | None = None, code: str | None = None) -> None:
        super().__init__(400, message, code=code, param=param, stored=False)


def unknown_param(param: str) -> ParamError:
    return ParamError(f"Received unknown parameter: {param}", param=param, code="parameter_unknown")


def missing_param(param: str) -> ParamError:
    return ParamError(f"Missing required param: {param}.", param=param, code="parameter_missing")


def exclusive_params(*params: str) -> ParamError:
    return ParamError(
        f"You may only specify one of these parameters: {', '.join(params)}.",
        param=params[-1],
        code="parameters_exclusive",
    )


def invalid_param(param: str, message: str, code: str | None = None) -> ParamError:
    return ParamError(message, param=param, code=code)


def no_such(kind: str, object_id: str, param: str | None = None, *, in_path: bool = False) -> StripeApiError:
    """Unknown id. Stripe answers 404 for ids in the URL and 400 for ids passed as parameters."""
    label = kind.replace("_", " ")
    return StripeApiError(
        404 if in_path else 400,
        f"No such {label}: '{object_id}'",
        code="resource_missing",
        param=param or ("id" if in_path else None),
    )


def invalid_state(message: str, *, code: str | None = None, param: str | None = None) -> StripeApiError:
    """A business-rule violation (wrong invoice status...). Stored for idempotent replay."""
    return StripeApiError(400, message, code=code, param=param)

"""One API request, from raw HTTP pieces to a response: the part of the fake independent of sockets.

Order of checks, like Stripe's: authentication (the key picks the account and mode the request
acts on), the key's permissions, injected faults, idempotency (replay or conflict; keys are per
account and mode), routing, parameter validation, execution. Every request is recorded in
:attr:`ApiCore.requests`.
"""

from __future__ import annotations

import base64
import re
import sys
import threading
import traceback
from dataclasses import dataclass, field
from typing import Any

from . import routes
from .accounts import Accounts, ApiKey, mask_key
from .errors import StripeApiError, invalid_param
from .faults import FaultInjector
from .params import decode_form, validate
from .state import RequestContext, State

_API_VERSION_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[a-z]+)?$")
METADATA_MAX_KEYS = 50
METADATA_KEY_MAX_LENGTH = 40
METADATA_VALUE_MAX_LENGTH = 500


@dataclass(frozen=True)
class RecordedRequest:
    """A request as the fake saw it. ``params`` are the validated (typed) params when validation
    passed, else the raw decoded strings; ``replayed`` is True for idempotent replays."""

    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    status: int
    replayed: bool
    request_id: str
    account: str | None = None  # the account the key belongs to (None: no valid key)
    livemode: bool | None = None


@dataclass
class ApiResponse:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # injected latency: hold the response this long before sending it


@dataclass(frozen=True)
class _StoredOutcome:
    method: str
    path: str
    raw_params: dict[str, Any]
    status: int
    body: dict[str, Any]
    request_id: str


class ApiCore:
    def __init__(self, state: State, accounts: Accounts, faults: FaultInjector) -> None:
        self.state = state  # the default account's: draws request ids; its lock is every State's
        self.accounts = accounts
        self.faults = faults
        self._records_lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        with self.state.lock, self._records_lock:
            self._idempotency: dict[tuple[str, bool, str], _StoredOutcome] = {}  # (account, livemode, key)
            self._requests: list[RecordedRequest] = []

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._records_lock:
            return list(self._requests)

    # ------------------------------------------------------------------------------------------

    def handle(self, method: str, target_path: str, query: str, body: bytes, headers: dict[str, str]) -> ApiResponse:
        """``headers`` must have lowercase names."""
        with self.state.lock:  # the id generator is shared (and seeded): draw from it under the lock
            request_id = self.state.new_id("req", 14)
        idempotency_key = headers.get("idempotency-key") if method == "POST" else None
        stripe_version = headers.get("stripe-version") or self.state.api_version
        response_headers = {"Request-Id": request_id, "Stripe-Version": stripe_version}
        if idempotency_key:
            response_headers["Idempotency-Key"] = idempotency_key
        raw: dict[str, Any] = {}
        recorded_params: dict[str, Any] | None = None
        replayed = False
        delay = 0.0
        key: ApiKey | None = None
        livemode = False
        try:
            raw = self._decode(query, body, headers)
            key = self._authenticate(headers)
            livemode = key.livemode
            self._check_headers(headers, key)
            self._authorize(method, target_path, key)
            fault = self.faults.take(method, target_path)
            if fault is not None:
                delay = fault.latency
                injected = fault.error()
                if injected is not None:
                    raise injected
            with self.state.lock:
                state = self.accounts.state_of(key.account, key.livemode)
                outcome = self._execute_idempotently(state, key, method, target_path, raw, idempotency_key, request_id)
                status, payload, replayed, recorded_params = outcome
            if replayed:
                response_headers["Idempotent-Replayed"] = "true"
                response_headers["Original-Request"] = payload.pop("_original_request")
        except StripeApiError as error:
            status, payload = error.status, error.body(request_id, livemode=livemode)
        except Exception as error:  # a bug in the fake: answer like Stripe's 500s, and say what broke
            traceback.print_exc(file=sys.stderr)
            status = 500
            internal = StripeApiError(500, f"FakeStripe internal error: {error!r}", type="api_error")
            payload = internal.body(request_id, livemode=livemode)
        self._record(
            RecordedRequest(
                method=method,
                path=target_path,
                params=recorded_params if recorded_params is not None else raw,
                idempotency_key=idempotency_key,
                status=status,
                replayed=replayed,
                request_id=request_id,
                account=key.account.id if key else None,
                livemode=key.livemode if key else None,
            )
        )
        return ApiResponse(status, payload, response_headers, delay)

    def _record(self, record: RecordedRequest) -> None:
        with self._records_lock:
            self._requests.append(record)

    # -- steps ---------------------------------------------------------------------------------

    @staticmethod
    def _decode(query: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        params = decode_form(query) if query else {}
        if body:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise StripeApiError(400, "The request body is not valid UTF-8.", stored=False) from None
            if "json" in headers.get("content-type", ""):
                raise StripeApiError(
                    400,
                    "Invalid request: v1 API requests must be form-encoded (application/x-www-form-urlencoded).",
                    stored=False,
                )
            params.update(decode_form(text))
        return params

    def _authenticate(self, headers: dict[str, str]) -> ApiKey:
        authorization = headers.get("authorization", "")
        key = ""
        if authorization.startswith("Bearer "):
            key = authorization.removeprefix("Bearer ").strip()
        elif authorization.startswith("Basic "):  # curl -u sk_test_...:
            try:
                key = base64.b64decode(authorization.removeprefix("Basic ")).decode().split(":", 1)[0]
            except ValueError:
                key = ""
        if not key:
            raise StripeApiError(
                401,
                "You did not provide an API key. You need to provide your API key in the Authorization "
                "header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                "https://stripe.com/docs/api#authentication for details, or we can help at "
                "https://support.stripe.com/.",
                stored=False,
            )
        found = self.accounts.resolve(key)
        if found is None:  # unknown, or revoked
            raise StripeApiError(401, f"Invalid API Key provided: {mask_key(key)}", stored=False)
        return found

    @staticmethod
    def _authorize(method: str, path: str, key: ApiKey) -> None:
        """A restricted key must hold the route's permission (403, naming it, like Stripe)."""
        if not key.restricted:
            return
        try:
            route, _ = routes.match(method, path)
        except StripeApiError:
            return  # an unknown URL: answered later, with Stripe's 404
        if not key.allows(route.permission):
            raise StripeApiError(
                403,
                f"The provided key '{mask_key(key.secret)}' does not have the required permissions for this "
                f"endpoint on account '{key.account.id}'. Having the '{route.permission}' permission would "
                "allow this request to continue.",
                stored=False,
            )

    def _check_headers(self, headers: dict[str, str], key: ApiKey) -> None:
        version = headers.get("stripe-version")
        if version is not None and not _API_VERSION_PATTERN.match(version):
            raise StripeApiError(400, f"Invalid Stripe API version: {version}", stored=False)
        account = headers.get("stripe-account")
        if account:
            raise StripeApiError(
                403,
                f"The provided key '{mask_key(key.secret)}' does not have access to account '{account}' "
                "(or that account does not exist). Application access may have been revoked.",
                stored=False,
            )

    def _execute_idempotently(
        self,
        state: State,
        key: ApiKey,
        method: str,
        path: str,
        raw: dict[str, Any],
        idempotency_key: str | None,
        request_id: str,
    ) -> tuple[int, dict[str, Any], bool, dict[str, Any] | None]:
        """(status, body, replayed, validated params). Runs under the state lock."""
        scoped_key = (key.account.id, key.livemode, idempotency_key or "")
        if idempotency_key:
            stored = self._idempotency.get(scoped_key)
            if stored is not None:
                if stored.method != method or stored.path != path:
                    raise StripeApiError(
                        400,
                        "Keys for idempotent requests can only be used for the same endpoint they were first "
                        f"used for ('{stored.method} {stored.path}' vs '{method} {path}'). Try using a key "
                        f"other than '{idempotency_key}' if you meant to execute a different request.",
                        type="idempotency_error",
                        stored=False,
                    )
                if stored.raw_params != raw:
                    raise StripeApiError(
                        400,
                        "Keys for idempotent requests can only be used with the same parameters they were "
                        f"first used with. Try using a key other than '{idempotency_key}' if you meant to "
                        "execute a different request.",
                        type="idempotency_error",
                        stored=False,
                    )
                replay = dict(stored.body, _original_request=stored.request_id)
                route, _ = routes.match(method, path)
                return stored.status, replay, True, validate(raw, route.params_type)
        route, path_args = routes.match(method, path)
        params = validate(raw, route.params_type)
        check_metadata_limits(params)
        handler_params = {key: value for key, value in params.items() if key != "expand"}
        ctx = RequestContext(request_id=request_id, idempotency_key=idempotency_key)
        try:
            result = route.handler(state, ctx, handler_params, **path_args)
            result = routes.expand(state, result, params.get("expand", []))
            status, body, store = 200, result, True
        except StripeApiError as error:
            status, body, store = error.status, error.body(request_id, livemode=state.livemode), error.stored
        if idempotency_key and store:
            self._idempotency[scoped_key] = _StoredOutcome(method, path, raw, status, body, request_id)
        return status, body, False, params


def check_metadata_limits(params: Any, path: str = "") -> None:
    """Stripe's metadata limits: 50 keys, keys up to 40 characters, values up to 500."""
    if not isinstance(params, dict):
        if isinstance(params, list):
            for index, item in enumerate(params):
                check_metadata_limits(item, f"{path}[{index}]")
        return
    for key, value in params.items():
        name = f"{path}[{key}]" if path else key
        if key in ("metadata", "invoice_metadata") and isinstance(value, dict):
            if len(value) > METADATA_MAX_KEYS:
                raise invalid_param(name, f"Invalid {name}: metadata can have at most {METADATA_MAX_KEYS} keys.")
            for meta_key, meta_value in value.items():
                if len(meta_key) > METADATA_KEY_MAX_LENGTH:
                    raise invalid_param(
                        f"{name}[{meta_key}]",
                        f"Metadata keys can have at most {METADATA_KEY_MAX_LENGTH} characters: {meta_key}",
                    )
                if len(meta_value) > METADATA_VALUE_MAX_LENGTH:
                    raise invalid_param(
                        f"{name}[{meta_key}]",
                        f"Metadata values can have at most {METADATA_VALUE_MAX_LENGTH} characters.",
                    )
        else:
            check_metadata_limits(value, name)

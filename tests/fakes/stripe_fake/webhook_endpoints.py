"""Webhook endpoints (``/v1/webhook_endpoints``) and the key's own account (``GET /v1/account``).

An endpoint's ``secret`` (``whsec_...``) is shown once, in the create response; Stripe never shows
it again and neither does the fake. At most :data:`MAX_WEBHOOK_ENDPOINTS` per account and mode.
Which events reach which endpoint is decided by the fake as each event is emitted
(:func:`subscribed`); ``api_version`` is stored but events keep the fake's one rendering.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from . import objects
from .catalog import unsupported
from .errors import invalid_param, invalid_state
from .listing import list_object
from .state import RequestContext, State

MAX_WEBHOOK_ENDPOINTS = 16


def subscribed(enabled_events: list[str], event_type: str) -> bool:
    """``*`` is every event; otherwise exact event types."""
    return "*" in enabled_events or event_type in enabled_events


def _check_url(url: str) -> None:
    parts = urlsplit(url)
    if not parts.scheme or "://" not in url:
        raise invalid_param("url", "Invalid URL: An explicit scheme (such as https) must be provided.")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid_param("url", f"Invalid URL: {url} is not a valid URL.")


def create_webhook_endpoint(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("connect"):
        raise unsupported("connect")  # Connect endpoints need connected accounts: not modelled
    _check_url(params["url"])
    if len(state.all("webhook_endpoint")) >= MAX_WEBHOOK_ENDPOINTS:
        mode = "" if state.livemode else "test "
        raise invalid_state(f"You have reached the maximum of {MAX_WEBHOOK_ENDPOINTS} {mode}webhook endpoints.")
    endpoint = state.add(objects.build_webhook_endpoint(state, params))
    secret = f"whsec_{state.random_token(32)}"
    state.webhook_endpoint_secrets[endpoint["id"]] = secret
    return dict(state.render(endpoint), secret=secret)


def retrieve_webhook_endpoint(
    state: State, ctx: RequestContext, params: dict[str, Any], webhook_endpoint: str
) -> dict[str, Any]:
    return state.render(state.require("webhook_endpoint", webhook_endpoint, in_path=True))


def update_webhook_endpoint(
    state: State, ctx: RequestContext, params: dict[str, Any], webhook_endpoint: str
) -> dict[str, Any]:
    endpoint = state.require("webhook_endpoint", webhook_endpoint, in_path=True)
    if "url" in params:
        _check_url(params["url"])
        endpoint["url"] = params["url"]
    if "enabled_events" in params:
        endpoint["enabled_events"] = list(params["enabled_events"])
    if "description" in params:
        endpoint["description"] = params["description"] or None
    if "disabled" in params:
        endpoint["status"] = "disabled" if params["disabled"] else "enabled"
    if "metadata" in params:
        endpoint["metadata"] = objects.merge_metadata(endpoint["metadata"], params["metadata"])
    return state.render(endpoint)


def delete_webhook_endpoint(
    state: State, ctx: RequestContext, params: dict[str, Any], webhook_endpoint: str
) -> dict[str, Any]:
    state.require("webhook_endpoint", webhook_endpoint, in_path=True)
    state.webhook_endpoint_secrets.pop(webhook_endpoint, None)
    return state.delete(webhook_endpoint)


def list_webhook_endpoints(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    endpoints = [state.render(endpoint) for endpoint in state.all("webhook_endpoint")]
    return list_object(endpoints, params, "/v1/webhook_endpoints", kind="webhook_endpoint")


def retrieve_account(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return objects.build_account(state.profile)

"""manifest.yml against Slack's own manifest JSON Schema, resolved offline."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml
from referencing import Registry, Resource

from bot.oauth import BOT_SCOPES, REDIRECT_PATH
from handlers.shortcuts.invoice_this import CALLBACK_ID

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = Path(__file__).resolve().parent / "data" / "slack"
PUBLISHED = "https://raw.githubusercontent.com/slackapi/manifest-schema/v0.5.0/schemas/"


def validator() -> jsonschema.Draft7Validator:
    top = json.loads((SCHEMAS / "manifest.schema.json").read_text())
    registry = Registry().with_resources(
        (PUBLISHED + name, Resource.from_contents(json.loads((SCHEMAS / name).read_text())))
        for name in ("manifest.schema.1.0.0.json", "manifest.schema.2.0.0.json")
    )
    return jsonschema.Draft7Validator(top, registry=registry)


def manifest() -> dict:
    return yaml.safe_load((ROOT / "manifest.yml").read_text())


def test_manifest_is_valid_against_slacks_schema() -> None:
    errors = sorted(validator().iter_errors(manifest()), key=str)
    assert errors == []


def test_schema_rejects_a_broken_manifest() -> None:
    broken = manifest()
    broken["features"]["slash_commands"][0]["command"] = "invoice without slash and far too long a name here"
    del broken["display_information"]
    assert list(validator().iter_errors(broken))


def test_manifest_declares_what_the_bot_uses_and_no_more() -> None:
    data = manifest()
    assert [c["command"] for c in data["features"]["slash_commands"]] == ["/invoice"]
    assert data["features"]["app_home"]["home_tab_enabled"] is True
    assert data["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened", "app_uninstalled",
                                                                    "tokens_revoked", "link_shared"]
    interactivity = data["settings"]["interactivity"]
    assert interactivity["is_enabled"] and interactivity["message_menu_options_url"].endswith("/slack/events")
    assert set(data["oauth_config"]["scopes"]["bot"]) == {"commands", "chat:write", "im:write", "users:read",
                                                          "usergroups:read", "channels:history", "groups:history",
                                                          "im:history", "files:write", "links:read",
                                                          "links:write"}


def test_the_install_asks_for_the_manifests_scopes_and_comes_back_to_the_bot() -> None:
    oauth_config = manifest()["oauth_config"]
    assert oauth_config["scopes"]["bot"] == list(BOT_SCOPES)
    assert "user" not in oauth_config["scopes"]  # bot installs only: the flow asks for no user scopes
    assert oauth_config["redirect_urls"] == [f"https://invoicebot.example.com{REDIRECT_PATH}"]


def test_invoice_this_and_link_previews_are_declared_with_their_reasons() -> None:
    """The message shortcut the listener answers; the two domains link_shared comes for; each scope with its
    reason (a comment beside it)."""
    data = manifest()
    assert data["features"]["shortcuts"] == [{
        "name": "Invoice this", "type": "message", "callback_id": CALLBACK_ID,
        "description": "A new invoice filled in from this message (customer, amounts), posted in its thread"}]
    assert data["features"]["unfurl_domains"] == ["invoice.stripe.com", "dashboard.stripe.com"]
    text = (ROOT / "manifest.yml").read_text()
    for scope in ("links:read", "links:write"):
        line = next(line for line in text.splitlines() if line.strip().startswith(f"- {scope} "))
        assert "#" in line and len(line.split("#", 1)[1].strip()) > 20, line

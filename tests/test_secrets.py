"""Secrets at rest: bound to their tenant and kind, rotatable, never readable without the key."""

from __future__ import annotations

import base64

import pytest
from cryptography.fernet import Fernet
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from bot.secrets import (
    MAKE_A_KEY,
    MalformedEncryptionKeys,
    SecretBox,
    SecretKind,
    SecretUnreadable,
    derivation_info,
    parse_keys,
)

STRIPE_KEY = "sk_live_51Hsupersecretvalue"


def new_key() -> SecretStr:
    return SecretStr(Fernet.generate_key().decode("ascii"))


OLD_KEY, NEW_KEY, OTHER_KEY = new_key(), new_key(), new_key()


def test_round_trip_and_the_token_does_not_contain_the_plaintext() -> None:
    box = SecretBox([NEW_KEY])
    token = box.encrypt("T012ABC", SecretKind.STRIPE_API_KEY, STRIPE_KEY)
    assert STRIPE_KEY not in token and "supersecret" not in token
    assert box.decrypt("T012ABC", SecretKind.STRIPE_API_KEY, token) == STRIPE_KEY
    assert box.encrypt("T012ABC", SecretKind.STRIPE_API_KEY, STRIPE_KEY) != token  # fresh IV every time


def test_a_token_copied_to_another_tenant_or_kind_does_not_decrypt() -> None:
    box = SecretBox([NEW_KEY])
    token = box.encrypt("T012ABC", SecretKind.STRIPE_API_KEY, STRIPE_KEY)
    with pytest.raises(SecretUnreadable) as raised:
        box.decrypt("T999XYZ", SecretKind.STRIPE_API_KEY, token)
    assert raised.value.tenant_id == "T999XYZ" and raised.value.kind is SecretKind.STRIPE_API_KEY
    message = str(raised.value)
    assert "T999XYZ" in message and "stripe_api_key" in message
    assert token not in message and STRIPE_KEY not in message
    assert raised.value.__cause__ is None and raised.value.__suppress_context__
    for kind in (SecretKind.SLACK_BOT_TOKEN, SecretKind.STRIPE_WEBHOOK_SECRET):
        with pytest.raises(SecretUnreadable):
            box.decrypt("T012ABC", kind, token)


def test_tenant_ids_cannot_be_spliced_into_kinds() -> None:
    infos = {derivation_info(tenant, kind) for tenant in ("a", "a/stripe_api_key", "a/", "") for kind in SecretKind}
    assert len(infos) == 4 * len(SecretKind)
    assert derivation_info("T1", SecretKind.SLACK_BOT_TOKEN).startswith(b"invoicebot/v1/")


def test_rotation_moves_a_token_to_the_new_key() -> None:
    old_token = SecretBox([OLD_KEY]).encrypt("T1", SecretKind.SLACK_BOT_TOKEN, "xoxb-1-2-three")
    during_rotation = SecretBox([NEW_KEY, OLD_KEY])
    assert during_rotation.decrypt("T1", SecretKind.SLACK_BOT_TOKEN, old_token) == "xoxb-1-2-three"
    assert not during_rotation.is_current("T1", SecretKind.SLACK_BOT_TOKEN, old_token)
    new_token = during_rotation.rotate("T1", SecretKind.SLACK_BOT_TOKEN, old_token)
    assert during_rotation.is_current("T1", SecretKind.SLACK_BOT_TOKEN, new_token)
    assert SecretBox([NEW_KEY]).decrypt("T1", SecretKind.SLACK_BOT_TOKEN, new_token) == "xoxb-1-2-three"
    with pytest.raises(SecretUnreadable):
        SecretBox([NEW_KEY]).decrypt("T1", SecretKind.SLACK_BOT_TOKEN, old_token)
    with pytest.raises(SecretUnreadable):
        during_rotation.rotate("T2", SecretKind.SLACK_BOT_TOKEN, old_token)


def test_a_box_without_the_key_or_a_damaged_token_raises_secret_unreadable() -> None:
    token = SecretBox([OLD_KEY]).encrypt("T1", SecretKind.STRIPE_WEBHOOK_SECRET, "whsec_abc")
    box = SecretBox([OTHER_KEY])
    for unreadable in (token, token[:-4] + "AAAA", "", "not a token", "ünïcode"):
        with pytest.raises(SecretUnreadable):
            box.decrypt("T1", SecretKind.STRIPE_WEBHOOK_SECRET, unreadable)
        with pytest.raises(SecretUnreadable):
            box.is_current("T1", SecretKind.STRIPE_WEBHOOK_SECRET, unreadable)


def test_the_box_never_shows_its_keys_and_refuses_bad_ones() -> None:
    assert OLD_KEY.get_secret_value() not in repr(SecretBox([OLD_KEY]))
    with pytest.raises(MalformedEncryptionKeys):
        SecretBox([])
    with pytest.raises(MalformedEncryptionKeys) as raised:
        SecretBox([SecretStr("hunter2")])
    assert "hunter2" not in str(raised.value)
    with pytest.raises(ValueError):
        SecretBox([OLD_KEY]).encrypt("", SecretKind.SLACK_BOT_TOKEN, "xoxb-1")


@settings(max_examples=50, deadline=None)
@given(tenant_id=st.text(min_size=1, max_size=40), kind=st.sampled_from(SecretKind), plaintext=st.text(max_size=200))
def test_any_text_for_any_tenant_round_trips(tenant_id: str, kind: SecretKind, plaintext: str) -> None:
    box = SecretBox([NEW_KEY, OLD_KEY])
    assert box.decrypt(tenant_id, kind, box.encrypt(tenant_id, kind, plaintext)) == plaintext


def test_parse_keys_accepts_a_comma_separated_list_in_order() -> None:
    keys = parse_keys(f" {NEW_KEY.get_secret_value()} ,{OLD_KEY.get_secret_value()}\n")
    assert [key.get_secret_value() for key in keys] == [NEW_KEY.get_secret_value(), OLD_KEY.get_secret_value()]
    assert NEW_KEY.get_secret_value() not in repr(keys)


@pytest.mark.parametrize(("text", "expected"), [
    ("", "must list at least one Fernet key"),
    (" , ", "must list at least one Fernet key"),
    ("{new},,{old}", "key 2 of 3 is empty"),
    ("{new},not-a-key-at-all", "key 2 of 2 is not a Fernet key"),
    ("{new},{short}", "key 2 of 2 is not a Fernet key"),
    ("{noncanonical}", "key 1 of 1 is not a Fernet key"),
    ("{new},{old},{new}", "key 3 of 3 repeats key 1"),
])
def test_parse_keys_says_which_position_is_wrong_without_echoing_it(text: str, expected: str) -> None:
    new, old = NEW_KEY.get_secret_value(), OLD_KEY.get_secret_value()
    short = base64.urlsafe_b64encode(b"x" * 16).decode("ascii")
    # The same 32 bytes as `new`, spelled with stray bits set in its last base64 character.
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".index(new[-2])
    noncanonical = new[:-2] + "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[last ^ 1] + "="
    with pytest.raises(MalformedEncryptionKeys) as raised:
        parse_keys(text.format(new=new, old=old, short=short, noncanonical=noncanonical))
    message = str(raised.value)
    assert message.startswith(expected)
    assert new not in message and old not in message and "not-a-key-at-all" not in message
    if "Fernet key" in expected:
        assert MAKE_A_KEY in message

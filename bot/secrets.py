"""Workspace secrets at rest: Fernet tokens bound to the tenant and the kind of secret they hold.

Each master key in ENCRYPTION_KEYS is stretched with HKDF-SHA256 into one Fernet key per (tenant, kind),
so a stored token copied into another tenant's row, or into another column, fails to decrypt instead of
handing one workspace's Stripe key to another. The first master key encrypts and every key decrypts, so a
key is rotated by putting a new one first, re-encrypting (`SecretBox.rotate`), then dropping the old one.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Sequence
from enum import StrEnum
from typing import NamedTuple

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

MAKE_A_KEY = 'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'

# Bumped if the derivation ever changes, so tokens from the old scheme cannot be mistaken for new ones.
_INFO_PREFIX = b"invoicebot/v1/"
# Enough for every tenant's three kinds of secret in a busy process; a miss only costs one HKDF per master key.
_DERIVED_CACHE_SIZE = 4096
# A Fernet key is 32 bytes in URL-safe base64 with its padding: 43 characters and "=".
_FERNET_KEY_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}=$")


class SecretKind(StrEnum):
    SLACK_BOT_TOKEN = "slack_bot_token"
    STRIPE_API_KEY = "stripe_api_key"
    STRIPE_WEBHOOK_SECRET = "stripe_webhook_secret"


class SecretUnreadable(Exception):
    """A stored secret that none of the keys opens for this tenant and kind."""

    def __init__(self, tenant_id: str, kind: SecretKind) -> None:
        self.tenant_id = tenant_id
        self.kind = kind
        super().__init__(
            f"the {kind.value} stored for tenant {tenant_id!r} cannot be decrypted: it was encrypted with a key "
            "that is not in ENCRYPTION_KEYS, or it belongs to another tenant or another kind of secret")


class MalformedEncryptionKeys(ValueError):
    """ENCRYPTION_KEYS is not a comma-separated list of distinct Fernet keys (the message never holds a key)."""


def parse_keys(text: str) -> tuple[SecretStr, ...]:
    """The Fernet master keys in `text`, comma separated, newest (the one that encrypts) first."""
    items = [item.strip() for item in text.split(",")]
    if not any(items):
        raise MalformedEncryptionKeys(f"must list at least one Fernet key; make one with {MAKE_A_KEY}")
    positions_by_key: dict[bytes, int] = {}
    for position, item in enumerate(items, start=1):
        where = f"key {position} of {len(items)}"
        if not item:
            raise MalformedEncryptionKeys(f"{where} is empty: separate the keys with single commas")
        key_bytes = _decode_fernet_key(item)
        if key_bytes is None:
            raise MalformedEncryptionKeys(
                f"{where} is not a Fernet key (URL-safe base64 of 32 bytes, 44 characters); make one with "
                f"{MAKE_A_KEY}")
        if key_bytes in positions_by_key:
            raise MalformedEncryptionKeys(f"{where} repeats key {positions_by_key[key_bytes]}: list each key once")
        positions_by_key[key_bytes] = position
    return tuple(SecretStr(item) for item in items)


class _DerivedKeys(NamedTuple):
    current: Fernet
    every: MultiFernet


class SecretBox:
    """Encrypts and decrypts one tenant's secrets of one kind with keys derived from the master keys."""

    def __init__(self, master_keys: Sequence[SecretStr]) -> None:
        if not master_keys:
            raise MalformedEncryptionKeys(f"must list at least one Fernet key; make one with {MAKE_A_KEY}")
        decoded = [_decode_fernet_key(key.get_secret_value()) for key in master_keys]
        if any(key is None for key in decoded):
            raise MalformedEncryptionKeys(
                f"every master key must be a Fernet key (URL-safe base64 of 32 bytes); make one with {MAKE_A_KEY}")
        self._master_keys: tuple[bytes, ...] = tuple(key for key in decoded if key is not None)
        # Per instance rather than on the method, so a discarded box does not stay alive in a class-wide cache.
        self._derived = functools.lru_cache(maxsize=_DERIVED_CACHE_SIZE)(self._derive)

    def __repr__(self) -> str:
        return f"SecretBox(<{len(self._master_keys)} master keys>)"

    def encrypt(self, tenant_id: str, kind: SecretKind, plaintext: str) -> str:
        return self._derived(tenant_id, kind).every.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, tenant_id: str, kind: SecretKind, token: str) -> str:
        derived = self._derived(tenant_id, kind)
        try:
            return derived.every.decrypt(_token_bytes(token)).decode("utf-8")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable(tenant_id, kind) from None

    def rotate(self, tenant_id: str, kind: SecretKind, token: str) -> str:
        """The same secret encrypted with the first master key (the token's timestamp is kept)."""
        derived = self._derived(tenant_id, kind)
        try:
            return derived.every.rotate(_token_bytes(token)).decode("ascii")
        except (InvalidToken, UnicodeError):
            raise SecretUnreadable(tenant_id, kind) from None

    def is_current(self, tenant_id: str, kind: SecretKind, token: str) -> bool:
        """Whether the first master key opens the token, so `rotate` has nothing to do; unreadable raises."""
        derived = self._derived(tenant_id, kind)
        try:
            token_bytes = _token_bytes(token)
        except UnicodeError:
            raise SecretUnreadable(tenant_id, kind) from None
        try:
            derived.current.decrypt(token_bytes)
            return True
        except InvalidToken:
            pass
        try:
            derived.every.decrypt(token_bytes)
        except InvalidToken:
            raise SecretUnreadable(tenant_id, kind) from None
        return False

    def _derive(self, tenant_id: str, kind: SecretKind) -> _DerivedKeys:
        if not tenant_id:
            raise ValueError("a secret must belong to a tenant: tenant_id is empty")
        info = derivation_info(tenant_id, kind)
        fernets = [Fernet(base64.urlsafe_b64encode(_hkdf(master_key, info))) for master_key in self._master_keys]
        return _DerivedKeys(current=fernets[0], every=MultiFernet(fernets))


def derivation_info(tenant_id: str, kind: SecretKind) -> bytes:
    """HKDF info: the tenant is length-prefixed, so no tenant id can end where another tenant's kind begins."""
    tenant_bytes = tenant_id.encode("utf-8")
    return _INFO_PREFIX + len(tenant_bytes).to_bytes(4, "big") + tenant_bytes + b"/" + kind.value.encode("ascii")


def _hkdf(master_key: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(master_key)


def _decode_fernet_key(text: str) -> bytes | None:
    if not _FERNET_KEY_SHAPE.match(text):
        return None
    try:
        key_bytes = base64.urlsafe_b64decode(text)
    except (binascii.Error, ValueError):
        return None
    # A non-canonical spelling (stray bits in the last character) would be a second name for the same key.
    if len(key_bytes) != 32 or base64.urlsafe_b64encode(key_bytes).decode("ascii") != text:
        return None
    return key_bytes


def _token_bytes(token: str) -> bytes:
    # Fernet raises a bare ValueError for non-ASCII text; encoding here turns that into our own error.
    return token.encode("ascii")

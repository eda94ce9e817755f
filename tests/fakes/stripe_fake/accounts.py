"""Accounts and their API keys: which account and mode a request acts on, and what it may do.

Every object belongs to one account and one mode. A key opens exactly one of them: ``sk_test_`` /
``rk_test_`` keys the account's test data, ``sk_live_`` / ``rk_live_`` its live data (objects and
events there say ``livemode: true``). Secret keys may do everything; restricted keys only what
their permissions allow, named as Stripe names them in its 403s (``rak_invoice_write``...).

Permissions per endpoint (``GET`` needs ``_read``, ``POST``/``DELETE`` need ``_write``; a write
permission implies the read one), after Stripe's "API permissions reference":

=====================================================  =====================================
``/v1/customers...`` (incl. search)                     ``rak_customer_read|write``
``/v1/products...``                                     ``rak_product_read|write``
``/v1/prices...`` (Stripe still calls Prices "plan")    ``rak_plan_read|write``
``/v1/invoices...``, ``/v1/invoiceitems...``,           ``rak_invoice_read|write``
``/v1/invoice_payments...``
``/v1/credit_notes...``                                  ``rak_credit_note_read|write``
``/v1/payment_intents...``                              ``rak_payment_intent_read``
``/v1/events...``                                       ``rak_event_read``
``/v1/webhook_endpoints...``                            ``rak_webhook_read|write``
``GET /v1/account``                                     ``rak_accounts_kyc_basic_read`` (or
                                                        ``rak_connected_account_read|write``)
``/v1/tax_rates...``                                    ``rak_tax_rate_read|write``
``/v1/coupons...``                                      ``rak_coupon_read|write``
``/v1/promotion_codes...``                              ``rak_promotion_code_read|write``
=====================================================  =====================================
"""

from __future__ import annotations

import copy
import random
import re
import string
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .state import AccountProfile, State
from .webhooks import WebhookDispatcher

LIVE_KEY_PREFIXES = ("sk_live_", "rk_live_")

# First path segment after /v1/ -> the permission family guarding it.
RESOURCE_PERMISSIONS = {
    "customers": "customer",
    "products": "product",
    "prices": "plan",
    "invoices": "invoice",
    "invoiceitems": "invoice",
    "subscriptions": "subscription",
    "invoice_payments": "invoice",
    "credit_notes": "credit_note",
    "payment_intents": "payment_intent",
    "events": "event",
    "webhook_endpoints": "webhook",
    "account": "accounts_kyc_basic",
    "tax_rates": "tax_rate",
    "coupons": "coupon",
    "promotion_codes": "promotion_code",
}
# Permissions that grant more than their own name says.
EXTRA_GRANTS = {
    "rak_connected_account_read": ("rak_accounts_kyc_basic_read",),
    "rak_connected_account_write": ("rak_accounts_kyc_basic_read", "rak_connected_account_read"),
}
# Names people reach for that Stripe does not use: refused when a test makes a key, so a typo does
# not silently become a key that lacks the permission.
NOT_STRIPE_NAMES = {
    "rak_price": "rak_plan",
    "rak_prices": "rak_plan",
    "rak_invoiceitem": "rak_invoice",
    "rak_invoice_item": "rak_invoice",
    "rak_webhook_endpoint": "rak_webhook",
    "rak_webhook_endpoints": "rak_webhook",
    "rak_account": "rak_accounts_kyc_basic",
    "rak_customers": "rak_customer",
    "rak_products": "rak_product",
    "rak_invoices": "rak_invoice",
    "rak_events": "rak_event",
}
_PERMISSION = re.compile(r"^rak_[a-z0-9_]+_(read|write)$")
_TOKEN_ALPHABET = string.ascii_letters + string.digits


def permission_for(method: str, template: str) -> str:
    """The permission a restricted key needs for ``method`` on a route (path template)."""
    resource = template.split("/")[2]
    return f"rak_{RESOURCE_PERMISSIONS[resource]}_{'read' if method == 'GET' else 'write'}"


def effective_permissions(permissions: Iterable[str]) -> frozenset[str]:
    """What a set of permissions grants: each write also reads, plus :data:`EXTRA_GRANTS`."""
    granted = set(permissions)
    for permission in list(granted):
        if permission.endswith("_write"):
            granted.add(permission.removesuffix("_write") + "_read")
        granted.update(EXTRA_GRANTS.get(permission, ()))
    return frozenset(granted)


def check_permission_name(permission: str) -> None:
    family = permission.rsplit("_", 1)[0]
    if family in NOT_STRIPE_NAMES:
        raise ValueError(
            f"{permission!r} is not a Stripe permission; Stripe names it {NOT_STRIPE_NAMES[family]}_read/_write"
        )
    if not _PERMISSION.match(permission):
        raise ValueError(f"{permission!r} is not a restricted key permission (rak_<resource>_read|write)")


def is_live_key(key: str) -> bool:
    return key.startswith(LIVE_KEY_PREFIXES)


def mask_key(key: str) -> str:
    """Stripe's way of echoing a key: its prefix, stars, its last four characters."""
    return f"{key[:8]}{'*' * max(len(key) - 12, 4)}{key[-4:]}" if len(key) > 12 else "*" * len(key)


@dataclass(eq=False)
class ApiKey:
    """One key: whose it is, which mode it opens, what it may do (``permissions`` None: a secret key)."""

    secret: str
    account: Account
    livemode: bool
    permissions: frozenset[str] | None = None
    revoked: bool = False

    @property
    def restricted(self) -> bool:
        return self.permissions is not None

    def allows(self, permission: str) -> bool:
        return self.permissions is None or permission in effective_permissions(self.permissions)


class Account:
    """A Stripe account of the fake, made by :meth:`FakeStripe.add_account` (or the default one).

    ``secret_key`` (``sk_test_...``) and ``live_secret_key`` (``sk_live_...``) are its secret keys;
    :meth:`restricted_key` makes more keys, :meth:`revoke` kills one. Its test and live data are
    apart: ``objects(kind, livemode=...)``.
    """

    def __init__(self, registry: Accounts, profile: AccountProfile) -> None:
        self._registry = registry
        self.profile = profile
        self._states: dict[bool, State] = {}
        self.secret_key = ""
        self.live_secret_key = ""

    def __repr__(self) -> str:
        return f"Account({self.id!r}, name={self.name!r})"

    # -- profile ---------------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return self.profile.id

    @property
    def name(self) -> str:
        return self.profile.name

    @property
    def email(self) -> str | None:
        return self.profile.email

    @property
    def country(self) -> str:
        return self.profile.country

    @property
    def default_currency(self) -> str:
        return self.profile.default_currency

    @property
    def charges_enabled(self) -> bool:
        return self.profile.charges_enabled

    # -- keys --------------------------------------------------------------------------------------

    def restricted_key(self, permissions: Iterable[str], *, livemode: bool = False) -> str:
        """A new restricted key (``rk_test_...`` / ``rk_live_...``) carrying ``permissions``, e.g.
        ``["rak_invoice_write", "rak_customer_read"]`` (a write permission implies the read one)."""
        if isinstance(permissions, str):
            raise TypeError("permissions must be a list of permission names, not one string")
        chosen = frozenset(permissions)
        for permission in chosen:
            check_permission_name(permission)
        return self._registry.new_key(self, "rk", livemode=livemode, permissions=chosen)

    def secret_key_for(self, *, livemode: bool) -> str:
        return self.live_secret_key if livemode else self.secret_key

    def new_secret_key(self, *, livemode: bool = False) -> str:
        """Another full-access key of this account (e.g. to revoke one and keep the other)."""
        return self._registry.new_key(self, "sk", livemode=livemode, permissions=None)

    def revoke(self, key: str) -> None:
        """From now on ``key`` answers 401 "Invalid API Key provided"."""
        self._registry.revoke(self, key)

    def keys(self) -> list[ApiKey]:
        """Every key of this account, revoked ones included (copies)."""
        return self._registry.keys_of(self)

    # -- data --------------------------------------------------------------------------------------

    def state(self, livemode: bool = False) -> State:
        """This account's data in one mode (made on first use)."""
        return self._registry.state_of(self, livemode)

    def objects(self, kind: str, *, livemode: bool = False) -> list[dict[str, Any]]:
        """Current objects of ``kind`` (as ``FakeStripe.objects``) in this account's test (or live) data."""
        return self._registry.inspect(self, kind, livemode)

    def events(self, *, livemode: bool = False) -> list[dict[str, Any]]:
        return self.objects("event", livemode=livemode)

    def add_webhook_endpoint(self, url: str, secret: str, *, livemode: bool = False) -> None:
        """Like ``FakeStripe.add_webhook_endpoint`` for this account: every event of its test (or
        live) data goes to ``url`` signed with ``secret``. Not an API object (not listed, not
        counted in the 16): think ``stripe listen``."""
        self._registry.webhooks.add_endpoint(url, secret, scope=self._registry.scope(self, livemode))


INSPECTABLE_KINDS = (
    "customer",
    "product",
    "price",
    "invoice",
    "invoiceitem",
    "payment_intent",
    "invoice_payment",
    "credit_note",
    "webhook_endpoint",
    "event",
    "subscription",
    "tax_rate",
    "coupon",
    "promotion_code",
    "discount",
)


class Accounts:
    """Every account of a fake and every key; owned by :class:`FakeStripe`, shared with the API."""

    def __init__(
        self,
        *,
        lock: threading.RLock,
        api_version: str,
        rng: random.Random,
        webhooks: WebhookDispatcher,
        default_state: State,
        default_key: str,
        on_new_state: Callable[[Account, bool, State], None],
    ) -> None:
        self.lock = lock
        self.api_version = api_version
        self.webhooks = webhooks
        self._rng = rng
        self._default_state = default_state
        self._default_key = default_key
        self._on_new_state = on_new_state
        self.reset()

    def reset(self) -> None:
        """Back to one account: the default one (the same :class:`Account` object), with only its
        original keys and no data but its main State (which the fake clears)."""
        with self.lock:
            default = getattr(self, "default", None) or Account(self, self._default_state.profile)
            self.default = default
            self._accounts: dict[str, Account] = {default.id: default}
            self._keys: dict[str, ApiKey] = {}
            default_livemode = self._default_state.livemode
            default._states = {default_livemode: self._default_state}
            self._register(ApiKey(self._default_key, default, default_livemode))
            other_mode_key = default.secret_key_for(livemode=not default_livemode)
            if other_mode_key:  # keys survive a reset, like the account they belong to
                self._register(ApiKey(other_mode_key, default, not default_livemode))
            else:
                self._give_secret_key(default, not default_livemode)
            setattr(default, "live_secret_key" if default_livemode else "secret_key", self._default_key)

    # -- accounts ----------------------------------------------------------------------------------

    def add(
        self,
        name: str,
        *,
        email: str | None,
        country: str,
        default_currency: str,
        charges_enabled: bool,
        account_id: str | None,
    ) -> Account:
        with self.lock:
            account_id = account_id or f"acct_1{self._token(15)}"
            if not account_id.startswith("acct_"):
                raise ValueError(f"account ids start with 'acct_', not {account_id!r}")
            if account_id in self._accounts:
                raise ValueError(f"there is already an account {account_id}")
            if email is None:
                email = f"owner@{re.sub(r'[^a-z0-9]+', '-', name.lower()).strip('-') or 'account'}.example"
            profile = AccountProfile(
                id=account_id,
                name=name,
                email=email,
                country=country.upper(),
                default_currency=default_currency.lower(),
                charges_enabled=charges_enabled,
            )
            account = Account(self, profile)
            self._accounts[account_id] = account
            self._give_secret_key(account, False)
            self._give_secret_key(account, True)
            return account

    def all(self) -> list[Account]:
        with self.lock:
            return list(self._accounts.values())

    def get(self, account_id: str) -> Account:
        with self.lock:
            return self._accounts[account_id]

    def state_of(self, account: Account, livemode: bool) -> State:
        with self.lock:
            state = account._states.get(livemode)
            if state is None:
                state = State(
                    api_version=self.api_version,
                    seed=self._rng.randrange(2**32),
                    lock=self.lock,
                    profile=account.profile,
                    livemode=livemode,
                )
                account._states[livemode] = state
                self._on_new_state(account, livemode, state)
            return state

    def states(self) -> list[tuple[Account, bool, State]]:
        """Every (account, livemode, state) in use, the default account's first."""
        with self.lock:
            return [
                (account, livemode, state)
                for account in self._accounts.values()
                for livemode, state in account._states.items()
            ]

    def scope(self, account: Account, livemode: bool) -> Any:
        """The webhook dispatcher's scope for an account's test-side endpoints (None: the default's)."""
        if account is self.default and livemode == self._default_state.livemode:
            return None
        return (account.id, livemode)

    def inspect(self, account: Account, kind: str, livemode: bool) -> list[dict[str, Any]]:
        if kind not in INSPECTABLE_KINDS:
            raise ValueError(f"kind must be one of {INSPECTABLE_KINDS}, not {kind!r}")
        with self.lock:
            state = account._states.get(livemode)
            if state is None:
                return []
            if kind == "event":
                return copy.deepcopy(state.events)
            return [state.render(obj) for obj in state.all(kind)]

    # -- keys --------------------------------------------------------------------------------------

    def resolve(self, secret: str) -> ApiKey | None:
        """The live (not revoked) key ``secret``, if any."""
        with self.lock:
            key = self._keys.get(secret)
            return key if key is not None and not key.revoked else None

    def new_key(self, account: Account, kind: str, *, livemode: bool, permissions: frozenset[str] | None) -> str:
        with self.lock:
            if self._accounts.get(account.id) is not account:
                raise ValueError(f"{account!r} no longer exists (the fake was reset)")
            mode = "live" if livemode else "test"
            # Real keys embed the account's id: sk_test_51<account id without acct_1><random>.
            secret = f"{kind}_{mode}_51{account.id.removeprefix('acct_1')}{self._token(40)}"
            self._register(ApiKey(secret, account, livemode, permissions))
            return secret

    def revoke(self, account: Account, secret: str) -> None:
        with self.lock:
            key = self._keys.get(secret)
            if key is None or key.account is not account:
                raise ValueError(f"{mask_key(secret)} is not a key of {account!r}")
            key.revoked = True

    def keys_of(self, account: Account) -> list[ApiKey]:
        with self.lock:
            return [copy.copy(key) for key in self._keys.values() if key.account is account]

    def _give_secret_key(self, account: Account, livemode: bool) -> None:
        secret = self.new_key(account, "sk", livemode=livemode, permissions=None)
        setattr(account, "live_secret_key" if livemode else "secret_key", secret)

    def _register(self, key: ApiKey) -> None:
        self._keys[key.secret] = key

    def _token(self, length: int) -> str:
        return "".join(self._rng.choices(_TOKEN_ALPHABET, k=length))

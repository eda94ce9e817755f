"""SLACK_MODE=oauth: a workspace's admin connects (and disconnects) the workspace's own Stripe account.

App Home's "Connect Stripe" sends the admin, by DM, a one-time link (10 minutes, bound to the workspace
and to that admin) to a page of ours that takes a restricted key: a secret never travels through Slack.
The key is checked against the deployment's Stripe mode and against Stripe (the permissions the bot
uses), the bot's webhook endpoint is created on the account through the API, and key and signing secret
are stored sealed. Nothing is half-made: an endpoint created for a connection that then fails is deleted
again, and the link is spent only by a connection that was stored, so a mistyped key can be retried.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from bot.access import Access, Action
from bot.adapters.slack import SlackOut
from bot.adapters.stripe import KeyRefused, StripeFailure, StripeGateway
from bot.blocks import StripeHome
from bot.domain.tenants import OneTimeLink, StripeConnection
from bot.errors import ExternalFailure
from bot.jobs.payloads import PublishHome
from bot.mrkdwn import escape
from bot.secrets import SecretBox, SecretKind, SecretUnreadable
from bot.services.tenancy import Tenancy
from bot.store.ports import Directory
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)

CONNECT_PURPOSE = "connect_stripe"
LINK_SECONDS = 600
CONNECT_PATH = "/stripe/connect"
WEBHOOK_PATH = "/stripe/webhook"
# What `secrets.token_urlsafe(32)` makes; anything else in the URL is not one of our links.
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_-]{43}$")
# Real keys are letters and digits after the prefix; this also keeps a newline out of an HTTP header.
_KEY_SHAPE = re.compile(r"^rk_(test|live)_[A-Za-z0-9]{8,247}$")
_ANY_KEY = re.compile(r"\b[rsp]k_(test|live)_\S*")


@dataclass(frozen=True)
class Permission:
    code: str  # as Stripe names it in a 403
    label: str  # as the Dashboard's restricted-key form shows it
    purpose: str


# What the bot's calls need (bot/adapters/stripe.py), in the Dashboard's order. The connect page lists them.
REQUIRED_PERMISSIONS = (
    Permission("rak_customer_write", "Customers: Write", "find the customer you invoice, or create them"),
    Permission("rak_product_write", "Products: Write", "add products to the catalog (/invoice catalog add)"),
    Permission("rak_plan_write", "Prices: Write", "list the catalog's prices and add new ones"),
    Permission("rak_invoice_write", "Invoices: Write",
               "create, send, void and remind invoices, and see their payments"),
    Permission("rak_payment_intent_read", "PaymentIntents: Read",
               "tell which invoice a bank payment in progress is for, and why a payment failed"),
    Permission("rak_event_read", "Events: Read", "read the invoice events of your account"),
    Permission("rak_credit_note_write", "Credit notes: Write",
               "issue credit notes and refunds from an invoice's message (and preview them first)"),
    Permission("rak_webhook_write", "Webhook Endpoints: Write",
               "create the endpoint that tells it when invoices are paid, fail or go overdue (and delete "
               "it when you disconnect)"),
)
# Not needed: without it the account is shown by its id instead of its name.
OPTIONAL_PERMISSIONS = (
    Permission("rak_accounts_kyc_basic_read", "Account: Read (optional)",
               "show your account's name in Slack rather than only its id"),
    # The invoice form's tax rates and its coupon or promotion code (bot/services/invoice_extras.py).
    Permission("rak_tax_rate_read", "Tax Rates: Read (optional)", "offer your tax rates in the invoice form"),
    Permission("rak_coupon_read", "Coupons: Read (optional)", "apply your coupons from the invoice form"),
    Permission("rak_promotion_code_read", "Promotion Codes: Read (optional)",
               "apply your promotion codes from the invoice form"),
    Permission("rak_subscription_write", "Subscriptions: Write (optional)",
               "repeat an invoice monthly, quarterly or yearly, and cancel it from /invoice recurring"),
)
# The events the bot acts on (bot/services/notifications.py: every invoice.* event about an invoice,
# and payment_intent.processing); Stripe takes no wildcard but "*", which would send far more.
ENABLED_EVENTS = [
    "invoice.created", "invoice.deleted", "invoice.finalized", "invoice.marked_uncollectible", "invoice.overdue",
    "invoice.paid", "invoice.payment_failed", "invoice.payment_succeeded", "invoice.sent", "invoice.updated",
    "invoice.voided", "payment_intent.processing",
]
ENABLED_EVENTS += ["credit_note.created", "credit_note.voided"]  # bot/services/credit_notes.py
# A repeating invoice's subscription ending or changing (bot/services/recurring.py).
ENABLED_EVENTS += ["customer.subscription.updated", "customer.subscription.deleted"]


class LinkRefusal(StrEnum):
    UNKNOWN = "unknown"  # never issued (or forged, or its workspace left)
    EXPIRED = "expired"
    USED = "used"
    NOT_YOURS = "not_yours"  # whoever asked for it is no longer an invoicing admin


class LinkRefused(Exception):
    def __init__(self, refusal: LinkRefusal) -> None:
        super().__init__(refusal.value)
        self.refusal = refusal


class ConnectRefused(Exception):
    """The key was not connected; the page shows `message` again beside the field (the link stays usable).
    `status` is the HTTP status the page answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class KeyForm:
    """What the key page shows for a valid link."""

    team_name: str
    livemode: bool


@dataclass(frozen=True)
class Connected:
    team_name: str
    account_id: str
    account_name: str
    livemode: bool


def hash_token(token: str) -> str:
    """Only this is stored: the database alone never yields a usable link."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def link_tenant(directory: Directory, token: str) -> str | None:
    """The workspace a link was issued for, before any of its use cases is built; None for no link of ours."""
    if not _TOKEN_SHAPE.match(token):
        return None
    link = directory.link(hash_token(token))
    return link.tenant_id if link is not None and link.purpose == CONNECT_PURPOSE else None


def mode_name(livemode: bool) -> str:
    return "live" if livemode else "test"


class StripeConnect:
    def __init__(self, tenancy: Tenancy, scope: TenantScope, access: Access, slack: SlackOut, stripe: StripeGateway,
                 *, livemode: bool, clock: Callable[[], float]) -> None:
        self.tenancy = tenancy
        self.scope = scope
        self.access = access
        self.slack = slack
        self.stripe = stripe  # the workspace's gateway: `with_key` makes one for any other key
        self.livemode = livemode  # the deployment's Stripe mode (STRIPE_LIVEMODE)
        self.clock = clock

    @property
    def directory(self) -> Directory:
        return self.tenancy.directory

    @property
    def box(self) -> SecretBox:
        if self.tenancy.box is None:
            raise RuntimeError("connecting Stripe needs SLACK_MODE=oauth and its ENCRYPTION_KEYS")
        return self.tenancy.box

    # --- App Home ---------------------------------------------------------------------------------------
    def home_status(self, user_id: str) -> StripeHome | None:
        """What App Home shows about Stripe to `user_id`; None with SLACK_MODE=env (the environment's key)."""
        if not self.tenancy.oauth:
            return None
        connection = self.directory.stripe(self.tenancy.tenant_id)
        admin = self.access.is_admin(user_id)
        if connection is None:
            return StripeHome(admin=admin, account_id=None)
        return StripeHome(admin=admin, account_id=connection.account_id, account_name=connection.account_name,
                          livemode=connection.livemode, paused=connection.paused_at is not None)

    def _republish_home(self, user_id: str) -> None:
        """Queued rather than drawn here: the workspace was just forgotten, and the job's is built anew. Only
        a courtesy once the change is stored: failing, it must not make a done change look undone (the
        home is drawn again whenever it is opened)."""
        try:
            with self.scope.unit_of_work() as uow:
                uow.jobs.add(PublishHome(user_id=user_id), key=f"home:stripe:{user_id}:{secrets.token_hex(8)}")
                uow.commit()
        except ExternalFailure as failure:
            logger.warning("App Home of %s not queued after a Stripe change: %s", user_id, failure.message)

    # --- the link -----------------------------------------------------------------------------------------
    def send_link(self, user_id: str) -> None:
        """"Connect Stripe" pressed: an admin gets the link by DM (never in a channel); anyone else a refusal."""
        if not self.tenancy.oauth:
            self.slack.dm(user_id, "This invoicebot uses the Stripe key it was configured with; there is "
                                   "nothing to connect from Slack.")
            return
        refusal = self.access.refusal(Action.ADMINISTER, user_id, what="connect Stripe")
        if refusal:
            self.slack.dm(user_id, refusal)
            return
        url = self.issue_link(user_id)
        self.slack.dm(user_id, f"Here is your link to connect Stripe: <{url}|connect Stripe>\nIt is valid for "
                               f"{LINK_SECONDS // 60} minutes, for you only: don't forward it. You paste the "
                               "restricted key on that page, never in Slack.")

    def issue_link(self, user_id: str) -> str:
        token = secrets.token_urlsafe(32)
        self.directory.add_link(hash_token(token), self.tenancy.tenant_id, user_id, CONNECT_PURPOSE,
                                self.clock() + LINK_SECONDS)
        return f"{self.tenancy.public_url}{CONNECT_PATH}/{token}"

    def key_form(self, token: str) -> KeyForm:
        """What the page needs for a usable link, or `LinkRefused`."""
        self._usable_link(token)
        return KeyForm(self._team_name(), self.livemode)

    def _usable_link(self, token: str) -> OneTimeLink:
        link = self.directory.link(hash_token(token)) if _TOKEN_SHAPE.match(token) else None
        if link is None or link.tenant_id != self.tenancy.tenant_id or link.purpose != CONNECT_PURPOSE:
            raise LinkRefused(LinkRefusal.UNKNOWN)
        if link.used_at is not None:
            raise LinkRefused(LinkRefusal.USED)
        if link.expires_at <= self.clock():
            raise LinkRefused(LinkRefusal.EXPIRED)
        # Asked again at every use: an admin who lost the role since asking may no longer connect.
        if not self.access.is_admin(link.user_id):
            raise LinkRefused(LinkRefusal.NOT_YOURS)
        return link

    def _team_name(self) -> str:
        tenant = self.directory.get(self.tenancy.tenant_id)
        return tenant.team_name if tenant is not None else ""

    # --- connecting -------------------------------------------------------------------------------------
    def check_and_connect(self, token: str, key: str) -> Connected:
        """Connect the account of `key` with the link `token`: `LinkRefused` (the link cannot be used) or
        `ConnectRefused` (the key cannot; the link stays usable) when not."""
        link = self._usable_link(token)
        key = key.strip()
        self._refuse_unfit(key)
        candidate = self.stripe.with_key(key)
        try:
            candidate.prove_permissions()
            account = candidate.own_account()
        except StripeFailure as failure:
            raise ConnectRefused(*self._explain(failure)) from None
        tenant = self.directory.get(self.tenancy.tenant_id)
        if tenant is None:  # left while the admin was typing
            raise LinkRefused(LinkRefusal.UNKNOWN)
        try:
            endpoint = candidate.create_webhook_endpoint(
                url=f"{self.tenancy.public_url}{WEBHOOK_PATH}/{tenant.public_id}", enabled_events=ENABLED_EVENTS,
                description=f"invoicebot for the Slack workspace {tenant.team_name}"[:500],
                # Per attempt: a retry after this one's endpoint was deleted must not be answered with it.
                idempotency_key=f"invoicebot-connect-{secrets.token_hex(16)}")
        except StripeFailure as failure:
            raise ConnectRefused(*self._explain(failure)) from None
        livemode = key.startswith("rk_live_")
        try:
            connection = StripeConnection(
                self.tenancy.tenant_id, account.id, account.name, livemode,
                self.box.encrypt(self.tenancy.tenant_id, SecretKind.STRIPE_API_KEY, key), str(endpoint["id"]),
                self.box.encrypt(self.tenancy.tenant_id, SecretKind.STRIPE_WEBHOOK_SECRET, str(endpoint["secret"])),
                link.user_id, self.clock())
            # Spent only now, by a connection about to be stored; a second submit racing this one loses here.
            if not self.directory.use_link(hash_token(token)):
                spent = self.directory.link(hash_token(token))
                raise LinkRefused(LinkRefusal.USED if spent is not None and spent.used_at is not None
                                  else LinkRefusal.EXPIRED)
            previous = self.directory.stripe(self.tenancy.tenant_id)
            self.directory.save_stripe(connection)
        except BaseException:
            self._delete_endpoint(candidate, str(endpoint["id"]), "a connection that failed")
            raise
        if previous is not None and previous.webhook_endpoint_id != connection.webhook_endpoint_id:
            same_account = bool(account.id) and previous.account_id == account.id
            self._delete_previous(previous, candidate if same_account else None)
        logger.info("tenant %s connected Stripe account %s (%s mode)", self.tenancy.tenant_id, account.id or "?",
                    mode_name(livemode))
        self.tenancy.forget()
        self._republish_home(link.user_id)
        return Connected(tenant.team_name, account.id, account.name, livemode)

    def _refuse_unfit(self, key: str) -> None:
        """Before any call: only a restricted key of the deployment's mode goes to Stripe."""
        wanted = f"rk_{mode_name(self.livemode)}_"
        if not key:
            raise ConnectRefused(f"Paste the restricted key: it starts with {wanted}.")
        if key.startswith(("pk_test_", "pk_live_")):
            raise ConnectRefused(f"That is a publishable key (pk_...), which cannot create invoices. Create a "
                                 f"restricted key ({wanted}...) with the permissions listed below.")
        if key.startswith(("sk_test_", "sk_live_")):
            raise ConnectRefused(f"That is a secret key (sk_...), which can do anything in your Stripe account. "
                                 f"invoicebot takes only a restricted key ({wanted}...), limited to the "
                                 "permissions listed below and revocable on its own.")
        if not _KEY_SHAPE.match(key):
            raise ConnectRefused(f"That is not a Stripe restricted key: it starts with {wanted} followed by "
                                 "letters and digits. Copy it again from Stripe's Dashboard.")
        mode = key[3:7]
        if mode != mode_name(self.livemode):
            raise ConnectRefused(f"That is a {mode}-mode key, but this invoicebot works in "
                                 f"{mode_name(self.livemode)} mode: create a restricted key ({wanted}...) in "
                                 f"Stripe's {mode_name(self.livemode)}-mode Dashboard.")

    @staticmethod
    def _explain(failure: StripeFailure) -> tuple[str, int]:
        if isinstance(failure, KeyRefused):
            if failure.status == 401:
                return f"{failure.message}. Check that you copied all of it, or create a new one.", 400
            needed = {permission.code.rsplit("_", 1)[0]: permission for permission in REQUIRED_PERMISSIONS}
            family = (failure.missing_permission or "").rsplit("_", 1)[0]
            if family in needed:  # Stripe names the read permission for a read: name the one to grant
                wanted = needed[family]
                return (f"This key lacks the {wanted.code} permission ({wanted.label}): edit the key in Stripe's "
                        "Dashboard to grant it, or create a new one with every permission listed below.", 400)
            return f"{failure.message}. Give the key every permission listed below.", 400
        if failure.retryable:
            return "Stripe could not be reached just now. Try again in a minute.", 503
        # Stripe's own words (the endpoint limit, say), with anything like a key masked out.
        return f"Stripe refused: {_ANY_KEY.sub('(the key)', failure.message)}", 400

    def _delete_endpoint(self, gateway: StripeGateway, endpoint_id: str, whose: str) -> bool:
        try:
            gateway.delete_webhook_endpoint(endpoint_id)
            return True
        except StripeFailure as failure:
            logger.warning("could not delete the webhook endpoint %s of %s for tenant %s: %s", endpoint_id, whose,
                           self.tenancy.tenant_id, failure.message)
            return False

    def _delete_previous(self, previous: StripeConnection, same_account: StripeGateway | None) -> None:
        """The connection just replaced: its endpoint would otherwise keep posting to our URL with a secret we
        no longer hold. Deleted with the new key when it is the same account (the old key is often the revoked
        one being replaced), else with the old key, as far as Stripe still takes it."""
        try:
            gateway = same_account or self.stripe.with_key(
                self.box.decrypt(previous.tenant_id, SecretKind.STRIPE_API_KEY, previous.api_key))
        except SecretUnreadable:
            logger.warning("the replaced Stripe key of tenant %s cannot be decrypted; its endpoint %s stays",
                           self.tenancy.tenant_id, previous.webhook_endpoint_id)
            return
        self._delete_endpoint(gateway, previous.webhook_endpoint_id, "the connection it replaced")

    # --- disconnecting ----------------------------------------------------------------------------------
    def disconnect(self, user_id: str) -> None:
        """"Disconnect" pressed: the endpoint deleted in the account, the key and signing secret erased."""
        if not self.tenancy.oauth:
            return
        refusal = self.access.refusal(Action.ADMINISTER, user_id, what="disconnect Stripe")
        if refusal:
            self.slack.dm(user_id, refusal)
            return
        connection = self.directory.stripe(self.tenancy.tenant_id)
        if connection is None:
            self._republish_home(user_id)
            self.slack.dm(user_id, "Stripe was not connected; there was nothing to disconnect.")
            return
        # First, while the key is still at hand: erased, it could never delete the endpoint. Whatever keeps
        # it from being deleted (a revoked key, a key no ENCRYPTION_KEYS opens), the secrets are erased.
        try:
            key = self.box.decrypt(connection.tenant_id, SecretKind.STRIPE_API_KEY, connection.api_key)
            self.stripe.with_key(key).delete_webhook_endpoint(connection.webhook_endpoint_id)
            deleted = True
        except (KeyRefused, SecretUnreadable) as failure:
            logger.warning("tenant %s disconnects without deleting its endpoint %s (%s)", self.tenancy.tenant_id,
                           connection.webhook_endpoint_id, type(failure).__name__)
            deleted = False
        # A retryable failure raises: the job tries again, the connection still whole.
        self.directory.remove_stripe(self.tenancy.tenant_id)
        logger.info("tenant %s disconnected Stripe account %s", self.tenancy.tenant_id, connection.account_id)
        self.tenancy.forget()
        self._republish_home(user_id)
        account = f"`{escape(connection.account_id)}`"
        if connection.account_name:
            account = f"*{escape(connection.account_name)}* ({account})"
        endpoint = ("deleted its webhook endpoint there" if deleted else
                    f"could not delete its webhook endpoint there (`{escape(connection.webhook_endpoint_id)}`: "
                    "Stripe no longer takes the key), so delete it in Stripe's Dashboard")
        self.slack.dm(user_id, f"Stripe is disconnected: invoicebot no longer uses the account {account}, "
                               f"{endpoint}, and erased the key. Revoke the restricted key in Stripe's Dashboard "
                               "too.")

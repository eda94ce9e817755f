"""A stateful fake of the Stripe API (v1 billing subset), served over real HTTP.

Reach it through the real SDK::

    from tests.fakes.stripe_fake import FakeStripe

    with FakeStripe(api_key="sk_test_fake") as fake:          # binds 127.0.0.1 on a free port
        client = stripe.StripeClient("sk_test_fake", base_addresses={"api": fake.url})
        customer = client.v1.customers.create({"email": "ada@example.com"})

Endpoints: customers (CRUD, list, search), products and prices (create, retrieve, update, list,
search; product delete), invoices (CRUD, list, search, finalize, send, void, mark_uncollectible,
pay, add_lines, remove_lines, lines), invoice items (CRUD, list), invoice_payments and
payment_intents (read-only), events (list, retrieve), webhook endpoints (CRUD, list) and the
key's own account (``GET /v1/account``). Parameters are decoded from the SDK's form
encoding and validated against the SDK's own ``stripe.params`` TypedDicts; business rules follow
Stripe's (invoice status machine, collection methods, 250 lines, currencies, idempotency keys).
Objects are shaped after Stripe's published fixtures (``tests/data/stripe/fixtures3.json``).

Public interface
----------------
``FakeStripe(api_key="sk_test_fake", *, port=0, host="127.0.0.1", seed=None, api_version=None)``
    ``start()`` (returns self), ``stop()``, context manager, ``url``, ``reset()``.
    Requests must carry ``Authorization: Bearer <key>`` (or basic auth) with a known, unrevoked
    key, else 401 ``Invalid API Key provided: sk_test_****...abcd``.

Accounts and keys (see :mod:`.accounts`)
    ``api_key`` is the secret key of ``fake.default_account`` (``acct_1FakeStripeTestAcct``).
    ``fake.add_account(name="Acme Ltd", *, email=None, country="US", default_currency="usd",
    charges_enabled=True, id=None) -> Account``; ``fake.accounts``, ``fake.account(id)``.
    Every object, event and webhook endpoint belongs to the account (and mode) of the key that
    made it; other accounts get Stripe's 404 ``resource_missing`` for its ids. An ``Account`` has
    ``id``, ``name``, ``secret_key`` (``sk_test_...``), ``live_secret_key`` (``sk_live_...``: its
    separate live data, ``livemode: true``), ``restricted_key(permissions, *, livemode=False)``
    (``rk_test_...``/``rk_live_...``), ``new_secret_key(*, livemode=False)``, ``revoke(key)``,
    ``keys()``, ``objects(kind, *, livemode=False)``, ``events(*, livemode=False)``,
    ``add_webhook_endpoint(url, secret, *, livemode=False)``. A restricted key lacking the
    route's permission gets 403 (``stripe.PermissionError``): "The provided key 'rk_test_***...'
    does not have the required permissions for this endpoint on account 'acct_...'. Having the
    'rak_invoice_write' permission would allow this request to continue." Idempotency keys are
    per account and mode.

Webhooks
    ``add_webhook_endpoint(url, secret)`` (the default account's events; not an API object);
    endpoints created through ``POST /v1/webhook_endpoints`` (at most 16 per account and mode; the
    ``whsec_`` secret is in the create response only) get their account's events matching their
    ``enabled_events`` (``*``: all), signed with their own secret, until deleted or disabled;
    ``fake.deliveries(endpoint_id)`` lists the attempts to one of them (with ``payload`` and
    ``signature``). ``flush_webhooks(timeout=10.0)`` blocks until every queued delivery was
    attempted (delivered, or its retries exhausted). Switches on ``fake.webhooks``:

    - ``duplicate = k``: deliver each event ``1 + k`` times (same id and body);
    - ``shuffle = True``: hold deliveries and release them in random order
      (``shuffle_window`` seconds after the first, default 0.25, or at once on flush);
    - ``delay = seconds``: wait before the first delivery attempt of each event;
    - ``pause()`` / ``resume()`` / ``paused``: queue deliveries without sending them;
    - ``max_attempts`` (4), ``retry_backoff`` (0.05 s, doubling), ``timeout`` (5 s): retries on
      non-2xx answers and connection errors;
    - ``attempts``: log of every delivery attempt (``DeliveryAttempt``).

    Signatures are Stripe's: ``Stripe-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "t.body")>``.

Faults
    ``inject(method=None, path_prefix="/", latency=0.0, status=None, count=None) -> Fault``:
    ``latency`` delays the response (the request is executed first unless ``status`` is given);
    ``status`` 500/502/503 (``api_error``), 429 (``rate_limit``), 409 (``lock_timeout``) answers an
    error without executing and without storing an idempotent result; ``count=None`` means every
    matching request. ``clear_faults()``.

Test helpers (change state as Stripe would and emit its events; raise ``StripeApiError`` on misuse)
    ``pay_invoice(invoice_id, out_of_band=False)``, ``fail_payment(invoice_id,
    decline_code="card_declined")``, ``start_processing(invoice_id)``, ``make_overdue(invoice_id)``,
    ``advance_subscription(sub_id, finalize=True)`` (alias ``cycle``: the period ends, the next invoice is made,
    or a subscription set to cancel at period end ends), ``finalize_draft(invoice_id)`` (Stripe's own
    finalization of an auto-advancing draft, then ``invoice.sent``).

Subscriptions (see :mod:`.subscriptions`)
    ``POST/GET /v1/subscriptions``, ``GET/POST/DELETE /v1/subscriptions/{id}``: ``send_invoice`` subscriptions
    of recurring prices or ``price_data`` with ``recurring``; the first invoice is finalized and sent at once;
    ``cancel_at_period_end`` and cancel now; ``customer.subscription.created|updated|deleted`` events.

Inspection
    ``objects(kind)`` for kind in customer, product, price, invoice, invoiceitem, payment_intent,
    invoice_payment, webhook_endpoint, event (creation order; the default account's,
    ``account.objects(kind)`` for others); ``get(object_id)`` (any account); ``requests``
    (``RecordedRequest``: method, path, params, idempotency_key, status, replayed, request_id,
    account, livemode); ``events``. The test helpers find the invoice in whichever account has it.

Events emitted
--------------
``customer.created|updated|deleted``, ``product.created|updated|deleted``,
``price.created|updated``, ``invoice.created|updated|deleted``, ``invoice.finalized``,
``invoice.sent``, ``invoice.paid``, ``invoice.payment_succeeded``, ``invoice.payment_failed``,
``invoice.voided``, ``invoice.marked_uncollectible``, ``invoice.overdue``,
``invoiceitem.created|updated|deleted``, ``payment_intent.processing|succeeded|payment_failed|canceled``.
Status changes emit the specific event(s) then ``invoice.updated`` (with ``previous_attributes``).
Finalizing a zero-total invoice pays it at once (``invoice.paid`` + ``invoice.payment_succeeded``).

Test payment methods for ``POST /v1/invoices/{id}/pay``: any ``pm_...`` id succeeds except
``pm_card_chargeDeclined*`` variants (e.g. ``pm_card_chargeDeclinedInsufficientFunds``), which
decline with a 402 ``card_error`` and record the failed attempt.

Standalone: ``python -m tests.fakes.stripe_fake --port 12111 --api-key sk_test_x
[--webhook-url URL --webhook-secret whsec_x]``.
"""

from .accounts import Account, ApiKey
from .api import RecordedRequest
from .errors import StripeApiError
from .fake import FakeStripe
from .faults import Fault
from .webhooks import DeliveryAttempt, WebhookDispatcher, signature_header

__all__ = [
    "Account",
    "ApiKey",
    "DeliveryAttempt",
    "FakeStripe",
    "Fault",
    "RecordedRequest",
    "StripeApiError",
    "WebhookDispatcher",
    "signature_header",
]

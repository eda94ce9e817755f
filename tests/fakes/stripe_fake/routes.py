"""The endpoint table: (method, path template) -> handler and the SDK params type it accepts.

Paths and params types are the ones the SDK's services use (``stripe/_invoice_service.py``
etc.), so every ``client.v1.<service>.<method>(...)`` listed here reaches a handler. Each route
also names the permission a restricted key needs for it (:func:`.accounts.permission_for`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import stripe.params as sdk_params

from . import catalog, credit_notes, invoicing, subscriptions, tax_and_discounts, webhook_endpoints
from .accounts import permission_for
from .errors import StripeApiError, invalid_param, no_such
from .listing import list_object
from .state import RequestContext, State

Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    pattern: re.Pattern[str]
    params_type: type
    handler: Handler
    permission: str  # what a restricted key needs, e.g. "rak_invoice_write"


def _route(method: str, template: str, params_type_name: str, handler: Handler) -> Route:
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)
    return Route(
        method,
        template,
        re.compile(f"^{regex}$"),
        getattr(sdk_params, params_type_name),
        handler,
        permission_for(method, template),
    )


# -- events ------------------------------------------------------------------------------------


def list_events(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    events = list(state.events)
    if "type" in params and "types" in params:
        raise invalid_param("types", "You may only specify one of these parameters: type, types.")
    if "type" in params:
        pattern = params["type"]
        if pattern.endswith("*"):  # `invoice.*` matches every invoice event
            events = [e for e in events if e["type"].startswith(pattern[:-1])]
        else:
            events = [e for e in events if e["type"] == pattern]
    if "types" in params:
        events = [e for e in events if e["type"] in params["types"]]
    return list_object([dict(e) for e in events], params, "/v1/events", kind="event")


def retrieve_event(state: State, ctx: RequestContext, params: dict[str, Any], id: str) -> dict[str, Any]:
    event = state.event(id)
    if event is None:
        raise no_such("event", id, in_path=True)
    return dict(event)


ROUTES: tuple[Route, ...] = (
    # Static paths come before `{id}` ones so `/v1/customers/search` is not read as an id.
    _route("GET", "/v1/customers/search", "CustomerSearchParams", catalog.search_customers),
    _route("POST", "/v1/customers", "CustomerCreateParams", catalog.create_customer),
    _route("GET", "/v1/customers", "CustomerListParams", catalog.list_customers),
    _route("GET", "/v1/customers/{customer}", "CustomerRetrieveParams", catalog.retrieve_customer),
    _route("POST", "/v1/customers/{customer}", "CustomerUpdateParams", catalog.update_customer),
    _route("DELETE", "/v1/customers/{customer}", "CustomerDeleteParams", catalog.delete_customer),
    _route("GET", "/v1/products/search", "ProductSearchParams", catalog.search_products),
    _route("POST", "/v1/products", "ProductCreateParams", catalog.create_product),
    _route("GET", "/v1/products", "ProductListParams", catalog.list_products),
    _route("GET", "/v1/products/{id}", "ProductRetrieveParams", catalog.retrieve_product),
    _route("POST", "/v1/products/{id}", "ProductUpdateParams", catalog.update_product),
    _route("DELETE", "/v1/products/{id}", "ProductDeleteParams", catalog.delete_product),
    _route("GET", "/v1/prices/search", "PriceSearchParams", catalog.search_prices),
    _route("POST", "/v1/prices", "PriceCreateParams", catalog.create_price),
    _route("GET", "/v1/prices", "PriceListParams", catalog.list_prices),
    _route("GET", "/v1/prices/{price}", "PriceRetrieveParams", catalog.retrieve_price),
    _route("POST", "/v1/prices/{price}", "PriceUpdateParams", catalog.update_price),
    _route("GET", "/v1/invoices/search", "InvoiceSearchParams", invoicing.search_invoices),
    _route("POST", "/v1/invoices", "InvoiceCreateParams", invoicing.create_invoice),
    _route("GET", "/v1/invoices", "InvoiceListParams", invoicing.list_invoices),
    _route("GET", "/v1/invoices/{invoice}", "InvoiceRetrieveParams", invoicing.retrieve_invoice),
    _route("POST", "/v1/invoices/{invoice}", "InvoiceUpdateParams", invoicing.update_invoice),
    _route("DELETE", "/v1/invoices/{invoice}", "InvoiceDeleteParams", invoicing.delete_invoice),
    _route("POST", "/v1/invoices/{invoice}/finalize", "InvoiceFinalizeInvoiceParams", invoicing.finalize_invoice),
    _route("POST", "/v1/invoices/{invoice}/send", "InvoiceSendInvoiceParams", invoicing.send_invoice),
    _route("POST", "/v1/invoices/{invoice}/void", "InvoiceVoidInvoiceParams", invoicing.void_invoice),
    _route(
        "POST",
        "/v1/invoices/{invoice}/mark_uncollectible",
        "InvoiceMarkUncollectibleParams",
        invoicing.mark_uncollectible,
    ),
    _route("POST", "/v1/invoices/{invoice}/pay", "InvoicePayParams", invoicing.pay_invoice),
    _route("POST", "/v1/invoices/{invoice}/add_lines", "InvoiceAddLinesParams", invoicing.add_lines),
    _route("POST", "/v1/invoices/{invoice}/remove_lines", "InvoiceRemoveLinesParams", invoicing.remove_lines),
    _route("GET", "/v1/invoices/{invoice}/lines", "InvoiceLineItemListParams", invoicing.list_lines),
    _route("POST", "/v1/invoiceitems", "InvoiceItemCreateParams", invoicing.create_invoice_item),
    _route("GET", "/v1/invoiceitems", "InvoiceItemListParams", invoicing.list_invoice_items),
    _route("GET", "/v1/invoiceitems/{invoiceitem}", "InvoiceItemRetrieveParams", invoicing.retrieve_invoice_item),
    _route("POST", "/v1/invoiceitems/{invoiceitem}", "InvoiceItemUpdateParams", invoicing.update_invoice_item),
    _route("DELETE", "/v1/invoiceitems/{invoiceitem}", "InvoiceItemDeleteParams", invoicing.delete_invoice_item),
    # Credit notes (credit_notes.py): the preview before `{id}`, or "preview" would be read as an id.
    _route("GET", "/v1/credit_notes/preview", "CreditNotePreviewParams", credit_notes.preview_credit_note),
    _route("POST", "/v1/credit_notes", "CreditNoteCreateParams", credit_notes.create_credit_note),
    _route("GET", "/v1/credit_notes", "CreditNoteListParams", credit_notes.list_credit_notes),
    _route("GET", "/v1/credit_notes/{id}", "CreditNoteRetrieveParams", credit_notes.retrieve_credit_note),
    _route("POST", "/v1/credit_notes/{id}", "CreditNoteUpdateParams", credit_notes.update_credit_note),
    _route("POST", "/v1/credit_notes/{id}/void", "CreditNoteVoidCreditNoteParams", credit_notes.void_credit_note),
    _route("GET", "/v1/credit_notes/{credit_note}/lines", "CreditNoteLineItemListParams",
           credit_notes.list_credit_note_lines),
    _route("GET", "/v1/invoice_payments", "InvoicePaymentListParams", invoicing.list_invoice_payments),
    _route(
        "GET",
        "/v1/invoice_payments/{invoice_payment}",
        "InvoicePaymentRetrieveParams",
        invoicing.retrieve_invoice_payment,
    ),
    _route("GET", "/v1/payment_intents", "PaymentIntentListParams", invoicing.list_payment_intents),
    _route(
        "GET",
        "/v1/payment_intents/{intent}",
        "PaymentIntentRetrieveParams",
        invoicing.retrieve_payment_intent,
    ),
    _route("POST", "/v1/subscriptions", "SubscriptionCreateParams", subscriptions.create_subscription),
    _route("GET", "/v1/subscriptions", "SubscriptionListParams", subscriptions.list_subscriptions),
    _route(
        "GET",
        "/v1/subscriptions/{subscription_exposed_id}",
        "SubscriptionRetrieveParams",
        subscriptions.retrieve_subscription,
    ),
    _route(
        "POST",
        "/v1/subscriptions/{subscription_exposed_id}",
        "SubscriptionUpdateParams",
        subscriptions.update_subscription,
    ),
    _route(
        "DELETE",
        "/v1/subscriptions/{subscription_exposed_id}",
        "SubscriptionCancelParams",
        subscriptions.cancel_subscription,
    ),
    _route("GET", "/v1/events", "EventListParams", list_events),
    _route("GET", "/v1/events/{id}", "EventRetrieveParams", retrieve_event),
    _route("POST", "/v1/webhook_endpoints", "WebhookEndpointCreateParams", webhook_endpoints.create_webhook_endpoint),
    _route("GET", "/v1/webhook_endpoints", "WebhookEndpointListParams", webhook_endpoints.list_webhook_endpoints),
    _route(
        "GET",
        "/v1/webhook_endpoints/{webhook_endpoint}",
        "WebhookEndpointRetrieveParams",
        webhook_endpoints.retrieve_webhook_endpoint,
    ),
    _route(
        "POST",
        "/v1/webhook_endpoints/{webhook_endpoint}",
        "WebhookEndpointUpdateParams",
        webhook_endpoints.update_webhook_endpoint,
    ),
    _route(
        "DELETE",
        "/v1/webhook_endpoints/{webhook_endpoint}",
        "WebhookEndpointDeleteParams",
        webhook_endpoints.delete_webhook_endpoint,
    ),
    _route("GET", "/v1/account", "AccountRetrieveCurrentParams", webhook_endpoints.retrieve_account),
    *(_route(*endpoint) for endpoint in tax_and_discounts.ENDPOINTS),
)


def match(method: str, path: str) -> tuple[Route, dict[str, str]]:
    for route in ROUTES:
        if route.method != method:
            continue
        found = route.pattern.match(path)
        if found:
            return route, found.groupdict()
    raise StripeApiError(
        404,
        f"Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at "
        "https://support.stripe.com/.",
        stored=False,
    )


# -- expansion ---------------------------------------------------------------------------------

MAX_EXPAND_DEPTH = 4


def expand(state: State, result: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """Apply ``expand[]`` paths (``customer``, ``data.customer``, ``payments``...) to a response."""
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_EXPAND_DEPTH:
            raise invalid_param(
                "expand",
                f"You cannot expand more than {MAX_EXPAND_DEPTH} levels of a property. Property: {path}",
            )
        _expand(state, result, parts, path)
    return result


def _expand(state: State, node: Any, parts: list[str], path: str) -> None:
    if isinstance(node, list):
        for item in node:
            _expand(state, item, parts, path)
        return
    if not isinstance(node, dict):
        raise _cannot_expand(path)
    key, rest = parts[0], parts[1:]
    if key not in node:
        value = invoicing.includable_fields(state, node, key)
        if value is None:
            raise _cannot_expand(path)
        node[key] = value
    elif isinstance(node[key], dict) and not rest and "id" not in node[key]:
        raise _cannot_expand(path)  # a plain sub-hash (metadata, lines...) is not an expandable reference
    value = node[key]
    if isinstance(value, str):
        expanded = state.render_id(value)
        if expanded is None:
            raise _cannot_expand(path)
        node[key] = value = expanded
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        node[key] = value = [state.render_id(v) or v for v in value]
    if rest and value is not None:
        _expand(state, value, rest, path)


def _cannot_expand(path: str) -> StripeApiError:
    return invalid_param("expand", f"This property cannot be expanded ({path}).")

"""Customers, products and prices."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from . import objects
from .currencies import normalize_currency
from .errors import StripeApiError, exclusive_params, invalid_param, invalid_state, missing_param, no_such
from .listing import list_object, search_object
from .state import RequestContext, State, changed_attributes

# Stripe-side features this fake does not model; rejecting them beats silently ignoring them.
UNMODELED_PRICE_PARAMS = (
    "tiers",
    "tiers_mode",
    "custom_unit_amount",
    "currency_options",
    "transform_quantity",
)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def unsupported(param: str) -> StripeApiError:
    return invalid_param(param, f"FakeStripe does not model `{param}`; remove it or extend the fake.")


def reject_unknown_reference(params: dict[str, Any], param: str, kind: str) -> None:
    """The fake account owns no ``kind`` objects (coupons, tax rates, test clocks...): any id is unknown."""
    value = params.get(param)
    if value not in (None, "", []):
        first = value[0] if isinstance(value, list) else value
        raise no_such(kind, str(first), param)


def emit_update(
    state: State, ctx: RequestContext, event_type: str, before: dict[str, Any], obj: dict[str, Any]
) -> None:
    """Emit ``<kind>.updated`` with previous_attributes, if anything visible changed."""
    previous = changed_attributes(before, state.render(obj))
    if previous:
        state.emit(event_type, obj, ctx, previous)


# -- customers ---------------------------------------------------------------------------------


def _check_email(params: dict[str, Any]) -> None:
    email = params.get("email")
    if email and not _EMAIL.match(email):
        raise invalid_param("email", f"Invalid email address: {email}", code="email_invalid")


def create_customer(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    _check_email(params)
    reject_unknown_reference(params, "test_clock", "test_clock")
    reject_unknown_reference(params, "source", "source")
    customer = state.add(objects.build_customer(state, params))
    state.emit("customer.created", customer, ctx)
    return state.render(customer)


def retrieve_customer(state: State, ctx: RequestContext, params: dict[str, Any], customer: str) -> dict[str, Any]:
    found = state.find(customer, "customer")
    if found is None:
        stub = state.deleted_stub(customer)
        if stub and stub["object"] == "customer":
            return stub  # Stripe answers deleted customers with their tombstone
        raise no_such("customer", customer, in_path=True)
    return state.render(found)


_CUSTOMER_SIMPLE_FIELDS = (
    "balance",
    "description",
    "email",
    "invoice_prefix",
    "name",
    "next_invoice_sequence",
    "phone",
    "preferred_locales",
    "tax_exempt",
)


def update_customer(state: State, ctx: RequestContext, params: dict[str, Any], customer: str) -> dict[str, Any]:
    obj = state.require("customer", customer, in_path=True)
    _check_email(params)
    reject_unknown_reference(params, "source", "source")
    reject_unknown_reference(params, "default_source", "source")
    before = state.render(obj)
    for key in _CUSTOMER_SIMPLE_FIELDS:
        if key in params:
            obj[key] = params[key] if params[key] != "" else None
    if obj["preferred_locales"] is None:
        obj["preferred_locales"] = []
    if "address" in params:
        obj["address"] = objects.address(params["address"] or None)
    if "shipping" in params:
        obj["shipping"] = objects.shipping(params["shipping"] or None)
    if "invoice_settings" in params:
        obj["invoice_settings"] = objects.invoice_settings(obj["invoice_settings"], params["invoice_settings"])
    if "metadata" in params:
        obj["metadata"] = objects.merge_metadata(obj["metadata"], params["metadata"])
    emit_update(state, ctx, "customer.updated", before, obj)
    return state.render(obj)


def delete_customer(state: State, ctx: RequestContext, params: dict[str, Any], customer: str) -> dict[str, Any]:
    obj = state.require("customer", customer, in_path=True)
    snapshot = state.render(obj)
    stub = state.delete(customer)
    state.emit("customer.deleted", snapshot, ctx)
    return stub


def list_customers(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    reject_unknown_reference(params, "test_clock", "test_clock")
    customers = [state.render(c) for c in state.all("customer")]
    if "email" in params:  # case-sensitive, like Stripe's list filter
        customers = [c for c in customers if c["email"] == params["email"]]
    return list_object(customers, params, "/v1/customers", kind="customer")


CUSTOMER_SEARCH_FIELDS = {
    "created": lambda c: c["created"],
    "email": lambda c: c["email"],
    "metadata": lambda c: c["metadata"],
    "name": lambda c: c["name"],
    "phone": lambda c: c["phone"],
}


def search_customers(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    customers = [state.render(c) for c in state.all("customer")]
    return search_object(customers, params, "/v1/customers/search", resource="customers", fields=CUSTOMER_SEARCH_FIELDS)


# -- products ----------------------------------------------------------------------------------


def create_product(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("id") and state.find(params["id"]) is not None:
        raise invalid_state("Product already exists.", code="resource_already_exists", param="id")
    if params.get("tax_code"):
        raise no_such("tax_code", params["tax_code"], "tax_code")
    price_data = params.get("default_price_data")
    if price_data is not None:  # validate before creating anything: requests are all-or-nothing
        for key in ("custom_unit_amount", "currency_options"):
            if key in price_data:
                raise unsupported(f"default_price_data[{key}]")
        normalize_currency(price_data["currency"], "default_price_data[currency]")
        unit_amount_from(price_data, "default_price_data")
    product = state.add(objects.build_product(state, params))
    state.emit("product.created", product, ctx)
    if price_data is not None:
        product["default_price"] = _new_price(state, ctx, product["id"], price_data, "default_price_data")["id"]
    return state.render(product)


def retrieve_product(state: State, ctx: RequestContext, params: dict[str, Any], id: str) -> dict[str, Any]:
    return state.render(state.require("product", id, in_path=True))


_PRODUCT_SIMPLE_FIELDS = (
    "active",
    "description",
    "images",
    "name",
    "package_dimensions",
    "shippable",
    "statement_descriptor",
    "unit_label",
    "url",
)


def update_product(state: State, ctx: RequestContext, params: dict[str, Any], id: str) -> dict[str, Any]:
    product = state.require("product", id, in_path=True)
    before = state.render(product)
    if params.get("tax_code"):
        raise no_such("tax_code", params["tax_code"], "tax_code")
    if params.get("default_price"):
        price = state.require("price", params["default_price"], "default_price")
        if price["product"] != product["id"]:
            raise invalid_param("default_price", "The default price must belong to this product.")
        if not price["active"]:
            raise invalid_param("default_price", "The default price must be active.")
    if "default_price" in params:
        product["default_price"] = params["default_price"] or None
    for key in _PRODUCT_SIMPLE_FIELDS:
        if key in params:
            product[key] = params[key] if params[key] != "" else None
    if product["images"] is None:
        product["images"] = []
    if "marketing_features" in params:
        product["marketing_features"] = [{"name": f["name"]} for f in params["marketing_features"] or []]
    if "metadata" in params:
        product["metadata"] = objects.merge_metadata(product["metadata"], params["metadata"])
    if changed_attributes(before, state.render(product)):
        product["updated"] = state.now()
    emit_update(state, ctx, "product.updated", before, product)
    return state.render(product)


def delete_product(state: State, ctx: RequestContext, params: dict[str, Any], id: str) -> dict[str, Any]:
    product = state.require("product", id, in_path=True)
    if any(price["product"] == id for price in state.all("price")):
        raise invalid_state("This product cannot be deleted because it has one or more user-created prices.")
    snapshot = state.render(product)
    stub = state.delete(id)
    state.emit("product.deleted", snapshot, ctx)
    return stub


def list_products(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    products = [state.render(p) for p in state.all("product")]
    for key in ("active", "shippable", "type", "url"):
        if key in params:
            products = [p for p in products if p[key] == params[key]]
    if "ids" in params:
        products = [p for p in products if p["id"] in params["ids"]]
    return list_object(products, params, "/v1/products", kind="product")


PRODUCT_SEARCH_FIELDS = {
    "active": lambda p: p["active"],
    "created": lambda p: p["created"],
    "description": lambda p: p["description"],
    "metadata": lambda p: p["metadata"],
    "name": lambda p: p["name"],
    "shippable": lambda p: p["shippable"],
    "url": lambda p: p["url"],
}


def search_products(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    products = [state.render(p) for p in state.all("product")]
    return search_object(products, params, "/v1/products/search", resource="products", fields=PRODUCT_SEARCH_FIELDS)


# -- prices ------------------------------------------------------------------------------------


def param_path(prefix: str, key: str) -> str:
    """``lines[0]`` + ``amount`` -> ``lines[0][amount]``; no prefix -> ``amount``."""
    return f"{prefix}[{key}]" if prefix else key


def unit_amount_from(params: dict[str, Any], prefix: str = "") -> Decimal:
    """``unit_amount`` (integer) or ``unit_amount_decimal`` (decimal string): exactly one, not negative."""
    int_param, decimal_param = param_path(prefix, "unit_amount"), param_path(prefix, "unit_amount_decimal")
    has_int, has_decimal = "unit_amount" in params, "unit_amount_decimal" in params
    if has_int and has_decimal:
        raise exclusive_params(int_param, decimal_param)
    if not has_int and not has_decimal:
        raise missing_param(int_param)
    value = Decimal(params["unit_amount"]) if has_int else params["unit_amount_decimal"]
    if value < 0:
        raise invalid_param(int_param if has_int else decimal_param, "This value must be greater than or equal to 0.")
    if has_decimal and -value.as_tuple().exponent > 12:  # type: ignore[operator]
        raise invalid_param(decimal_param, "Decimal amounts can have at most 12 decimal places.")
    return value


def _new_price(
    state: State, ctx: RequestContext, product_id: str, params: dict[str, Any], prefix: str = ""
) -> dict[str, Any]:
    """Create (and announce) a price; ``prefix`` names the parameter holding ``params`` in errors."""
    currency = normalize_currency(params["currency"], param_path(prefix, "currency"))
    amount = unit_amount_from(params, prefix)
    lookup_key = params.get("lookup_key")
    if lookup_key:
        holder = next((p for p in state.all("price") if p["lookup_key"] == lookup_key), None)
        if holder is not None:
            if not params.get("transfer_lookup_key"):
                raise invalid_state(f"A price (`{holder['id']}`) already uses that lookup key.", param="lookup_key")
            holder["lookup_key"] = None
    price = state.add(
        objects.build_price(
            state,
            product_id=product_id,
            currency=currency,
            unit_amount_decimal=amount,
            recurring=params.get("recurring"),
            active=params.get("active", True),
            params=params,
        )
    )
    state.emit("price.created", price, ctx)
    return price


def create_price(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    for key in UNMODELED_PRICE_PARAMS:
        if key in params:
            raise unsupported(key)
    if params.get("billing_scheme") == "tiered":
        raise missing_param("tiers")
    if "product" in params and "product_data" in params:
        raise exclusive_params("product", "product_data")
    if "product" in params:
        product_id = state.require("product", params["product"], "product")["id"]
    elif "product_data" in params:
        data = params["product_data"]
        if data.get("tax_code"):
            raise no_such("tax_code", data["tax_code"], "product_data[tax_code]")
        normalize_currency(params["currency"])  # validate before creating anything
        unit_amount_from(params)
        product = state.add(objects.build_product(state, data))
        state.emit("product.created", product, ctx)
        product_id = product["id"]
    else:
        raise missing_param("product")
    return state.render(_new_price(state, ctx, product_id, params))


def retrieve_price(state: State, ctx: RequestContext, params: dict[str, Any], price: str) -> dict[str, Any]:
    return state.render(state.require("price", price, in_path=True))


def update_price(state: State, ctx: RequestContext, params: dict[str, Any], price: str) -> dict[str, Any]:
    obj = state.require("price", price, in_path=True)
    if "currency_options" in params:
        raise unsupported("currency_options")
    before = state.render(obj)
    if "lookup_key" in params:
        lookup_key = params["lookup_key"] or None
        holder = next((p for p in state.all("price") if lookup_key and p["lookup_key"] == lookup_key), None)
        if holder is not None and holder is not obj:
            if not params.get("transfer_lookup_key"):
                raise invalid_state(f"A price (`{holder['id']}`) already uses that lookup key.", param="lookup_key")
            holder["lookup_key"] = None
        obj["lookup_key"] = lookup_key
    if "tax_behavior" in params:
        if obj["tax_behavior"] not in ("unspecified", params["tax_behavior"]):
            raise invalid_state("The tax_behavior of a price cannot be changed once it is set.", param="tax_behavior")
        obj["tax_behavior"] = params["tax_behavior"]
    for key in ("active", "nickname"):
        if key in params:
            obj[key] = params[key] if params[key] != "" else None
    if "metadata" in params:
        obj["metadata"] = objects.merge_metadata(obj["metadata"], params["metadata"])
    emit_update(state, ctx, "price.updated", before, obj)
    return state.render(obj)


def list_prices(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    prices = [state.render(p) for p in state.all("price")]
    if "currency" in params:
        params = {**params, "currency": params["currency"].lower()}
    for key in ("active", "currency", "product", "type"):
        if key in params:
            prices = [p for p in prices if p[key] == params[key]]
    if "lookup_keys" in params:
        prices = [p for p in prices if p["lookup_key"] in params["lookup_keys"]]
    if "recurring" in params:
        wanted = params["recurring"]
        prices = [
            p
            for p in prices
            if p["recurring"] and all(p["recurring"].get(key) == value for key, value in wanted.items())
        ]
    return list_object(prices, params, "/v1/prices", kind="price")


PRICE_SEARCH_FIELDS = {
    "active": lambda p: p["active"],
    "created": lambda p: p["created"],
    "currency": lambda p: p["currency"],
    "lookup_key": lambda p: p["lookup_key"],
    "metadata": lambda p: p["metadata"],
    "product": lambda p: p["product"],
    "type": lambda p: p["type"],
}


def search_prices(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    prices = [state.render(p) for p in state.all("price")]
    return search_object(prices, params, "/v1/prices/search", resource="prices", fields=PRICE_SEARCH_FIELDS)

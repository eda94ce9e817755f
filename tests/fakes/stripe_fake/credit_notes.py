"""Credit notes: preview, create, void, list, retrieve, update, and their lines.

Stripe's rules, as its API reference states them ("Create a credit note"):

- Only invoices that are ``open`` or ``paid`` take credit notes.
- One of ``amount`` or ``lines`` (or ``shipping_cost``, which this account has no shipping rates for) must be
  given; with both, ``amount`` must be the lines' total.
- A credit note first reduces the invoice's ``amount_remaining`` (and ``amount_due``), never below zero: that
  part is its ``pre_payment_amount`` and adds to the invoice's ``pre_payment_credit_notes_amount``. The rest,
  its ``post_payment_amount``, adds to ``post_payment_credit_notes_amount`` and must be split exactly between
  ``refund_amount``, ``credit_amount`` (the customer's balance) and ``out_of_band_amount``.
- So never more than is still due plus what was paid and not credited already:
  ``amount_remaining + amount_paid - post_payment_credit_notes_amount``; each invoice line at most its amount
  less what earlier credit notes took of it; a refund at most what the invoice's charge received less what was
  refunded already (an invoice paid outside Stripe has no charge to refund).
- An open invoice credited down to nothing due is paid.
- Voiding: only an issued credit note, and only while its invoice is open ("You can only void a credit note if
  the associated invoice is open."); what it took off the invoice comes back.

``GET /v1/credit_notes/preview`` takes the create parameters and answers the credit note that would be made,
changing nothing. Objects are shaped like the fixtures' ``credit_note`` and ``credit_note_line_item``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from . import invoicing, objects
from .catalog import emit_update, param_path, unit_amount_from, unsupported
from .currencies import THREE_DECIMAL, ZERO_DECIMAL
from .errors import ParamError, exclusive_params, invalid_param, invalid_state, missing_param, no_such
from .fixtures import from_template
from .listing import list_object
from .state import RequestContext, State

CREDITABLE_STATUSES = ("open", "paid")
SPLIT_PARAMS = ("credit_amount", "refund_amount", "out_of_band_amount")
SYMBOLS = {"usd": "$", "gbp": "£", "eur": "€", "jpy": "¥"}


def money(amount: int, currency: str) -> str:
    """How Stripe's messages show an amount: ``$1.00``, ``£2.50``, ``¥1000``, ``KWD 1.250``."""
    digits = 0 if currency in ZERO_DECIMAL else 3 if currency in THREE_DECIMAL else 2
    value = Decimal(amount).scaleb(-digits)
    text = f"{value:,.{digits}f}"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{text}" if symbol else f"{currency.upper()} {text}"


@dataclass
class Plan:
    """A credit note worked out from its parameters, before anything changes."""

    invoice: dict[str, Any]
    amount: int
    lines: list[dict[str, Any]]  # credit_note_line_item objects
    pre: int
    post: int
    refund: int
    credit: int
    out_of_band: int


# -- planning (shared by preview and create) ----------------------------------------------------


def _issued_notes(state: State, invoice_id: str) -> list[dict[str, Any]]:
    return [note for note in state.all("credit_note") if note["invoice"] == invoice_id and note["status"] == "issued"]


def _credited_on_line(state: State, invoice_id: str, line_id: str) -> int:
    return sum(line["amount"] for note in _issued_notes(state, invoice_id) for line in note["lines"]["data"]
               if line.get("invoice_line_item") == line_id)


def _refundable(state: State, invoice: dict[str, Any]) -> int | None:
    """What the invoice's charge received and was not refunded yet; None when it has no charge."""
    private = state.invoice_private.get(invoice["id"])
    intent = state.find(private.payment_intent or "", "payment_intent") if private else None
    if intent is None or intent["status"] != "succeeded" or not intent["amount_received"]:
        return None
    notes = [note for note in state.all("credit_note") if note["invoice"] == invoice["id"]]
    refunded = sum(int(refund["amount_refunded"]) for note in notes for refund in note["refunds"])
    return int(intent["amount_received"]) - refunded


def _non_negative(params: dict[str, Any], name: str) -> int:
    value = int(params.get(name, 0))
    if value < 0:
        raise invalid_param(name, "This value must be greater than or equal to 0.")
    return value


def _reject_references(params: dict[str, Any]) -> None:
    for index, refund in enumerate(params.get("refunds") or []):
        if refund.get("refund"):
            raise no_such("refund", refund["refund"], f"refunds[{index}][refund]")
        record = refund.get("payment_record_refund") or {}
        raise no_such("payment_record", record.get("payment_record", ""), f"refunds[{index}][payment_record_refund]")
    shipping = params.get("shipping_cost")
    if shipping is not None:
        if shipping.get("shipping_rate"):
            raise no_such("shipping_rate", shipping["shipping_rate"], "shipping_cost[shipping_rate]")
        raise unsupported("shipping_cost")


def _plan_line(state: State, invoice: dict[str, Any], spec: dict[str, Any], index: int,
               seen: set[str]) -> dict[str, Any]:
    prefix = f"lines[{index}]"
    if spec.get("tax_rates"):
        raise no_such("tax_rate", spec["tax_rates"][0], param_path(prefix, "tax_rates"))
    if spec.get("tax_amounts"):
        raise unsupported(param_path(prefix, "tax_amounts"))
    currency = invoice["currency"]
    if spec["type"] == "invoice_line_item":
        for key in ("description", "unit_amount", "unit_amount_decimal"):
            if key in spec:
                raise invalid_param(param_path(prefix, key),
                                    f"`{key}` is only valid when `type` is `custom_line_item`.")
        if "invoice_line_item" not in spec:
            raise missing_param(param_path(prefix, "invoice_line_item"))
        line_id = spec["invoice_line_item"]
        line = next((found for found in state.invoice_lines.get(invoice["id"], []) if found["id"] == line_id), None)
        if line is None:
            if state.find_line(line_id) is not None:
                raise invalid_param(param_path(prefix, "invoice_line_item"),
                                    f"The invoice line item {line_id} does not belong to invoice {invoice['id']}.")
            raise no_such("invoice line item", line_id, param_path(prefix, "invoice_line_item"))
        if line_id in seen:
            raise invalid_param(param_path(prefix, "invoice_line_item"),
                                f"The invoice line item {line_id} is listed more than once.")
        seen.add(line_id)
        if "amount" in spec and "quantity" in spec:
            raise exclusive_params(param_path(prefix, "amount"), param_path(prefix, "quantity"))
        if "amount" in spec:
            amount, quantity = int(spec["amount"]), line["quantity"]
        elif "quantity" in spec:
            quantity = int(spec["quantity"])
            if quantity > line["quantity"]:
                raise invalid_param(param_path(prefix, "quantity"),
                                    f"You can credit at most {line['quantity']} of line item {line_id}.")
            unit = Decimal((line.get("pricing") or {}).get("unit_amount_decimal") or line["amount"])
            amount = objects.line_total(unit, Decimal(quantity)) if line.get("pricing") else line["amount"]
        else:
            raise missing_param(param_path(prefix, "quantity"))
        if amount <= 0 or quantity <= 0:
            raise invalid_param(param_path(prefix, "amount" if "amount" in spec else "quantity"),
                                "This value must be greater than or equal to 1.")
        left = line["amount"] - _credited_on_line(state, invoice["id"], line_id)
        if amount > left:
            raise invalid_state(
                f"The amount to credit for line item {line_id} ({money(amount, currency)}) is greater than what is "
                f"left to credit on it ({money(left, currency)}).", param=param_path(prefix, "amount"))
        built = _line_object(state, amount=amount, description=line["description"], quantity=quantity,
                             kind="invoice_line_item", metadata=spec.get("metadata"))
        built["invoice_line_item"] = line_id
        return built
    for key in ("amount", "invoice_line_item"):
        if key in spec:
            raise invalid_param(param_path(prefix, key), f"`{key}` is only valid when `type` is `invoice_line_item`.")
    unit = unit_amount_from(spec, prefix)
    quantity = int(spec.get("quantity", 1))
    if quantity <= 0:
        raise invalid_param(param_path(prefix, "quantity"), "This value must be greater than or equal to 1.")
    amount = objects.line_total(unit, Decimal(quantity))
    built = _line_object(state, amount=amount, description=spec.get("description"), quantity=quantity,
                         kind="custom_line_item", metadata=spec.get("metadata"))
    built.update(unit_amount=int(unit) if unit == unit.to_integral_value() else None,
                 unit_amount_decimal=objects.decimal_text(unit))
    del built["invoice_line_item"]  # a custom line names no invoice line (as in Stripe's fixture)
    return built


def _line_object(state: State, *, amount: int, description: str | None, quantity: int, kind: str,
                 metadata: Any) -> dict[str, Any]:
    return from_template(
        "credit_note_line_item",
        amount=amount,
        description=description,
        discount_amount=0,
        discount_amounts=[],
        id=state.new_id("cnli"),
        invoice_line_item=None,
        livemode=state.livemode,
        object="credit_note_line_item",
        quantity=quantity,
        tax_rates=[],
        type=kind,
        unit_amount=None,
        unit_amount_decimal=None,
        pretax_credit_amounts=[],
        taxes=[],
        metadata=objects.metadata_from(metadata),
    )


def plan(state: State, params: dict[str, Any]) -> Plan:
    """Check every rule against the invoice as it stands; raise Stripe's error, or the plan."""
    _reject_references(params)
    if "invoice" not in params:
        raise missing_param("invoice")
    invoice = state.require("invoice", params["invoice"], "invoice")
    currency = invoice["currency"]
    if invoice["status"] not in CREDITABLE_STATUSES:
        raise invalid_state(
            f"Invoice {invoice['id']} is {invoice['status']}: credit notes can only be issued for open or paid "
            "invoices.", param="invoice")
    specs = params.get("lines") or []
    if not specs and "amount" not in params:
        raise ParamError("One of `amount`, `lines`, or `shipping_cost` must be provided.", param="amount",
                         code="parameter_missing")
    seen: set[str] = set()
    lines = [_plan_line(state, invoice, spec, index, seen) for index, spec in enumerate(specs)]
    lines_total = sum(line["amount"] for line in lines)
    if "amount" in params:
        amount = int(params["amount"])
        if amount <= 0:
            raise invalid_param("amount", "This value must be greater than or equal to 1.")
        if lines and amount != lines_total:
            raise invalid_param("amount", f"The credit note amount ({money(amount, currency)}) must equal the sum "
                                          f"of its lines ({money(lines_total, currency)}).")
    else:
        amount = lines_total
    creditable = invoice["amount_remaining"] + invoice["amount_paid"] - invoice["post_payment_credit_notes_amount"]
    if amount > creditable:
        raise invalid_state(
            f"The credit note amount ({money(amount, currency)}) is greater than the amount that can still be "
            f"credited on invoice {invoice['id']} ({money(max(creditable, 0), currency)}).",
            param="amount" if "amount" in params else "lines")
    pre = min(amount, invoice["amount_remaining"])
    post = amount - pre
    refund, credit, out_of_band = (_non_negative(params, name) for name in ("refund_amount", "credit_amount",
                                                                          "out_of_band_amount"))
    split = refund + credit + out_of_band
    if split != post:
        if pre == 0:
            message = (f"The sum of credit amount, refund amount and out of band amount ({money(split, currency)}) "
                       f"must equal the credit note amount ({money(amount, currency)}).")
        else:
            message = (f"The sum of credit amount, refund amount and out of band amount ({money(split, currency)}) "
                       f"must equal the credit note's post payment amount ({money(post, currency)}): the first "
                       f"{money(pre, currency)} reduces what is still due on invoice {invoice['id']}.")
        raise invalid_state(message, param=next((name for name in SPLIT_PARAMS if name in params), "refund_amount"))
    if refund:
        refundable = _refundable(state, invoice)
        if refundable is None:
            raise invalid_state(
                f"Invoice {invoice['id']} has no charge to refund (it was not paid through Stripe). Credit the "
                "customer's balance or the amount outside of Stripe instead.", param="refund_amount")
        if refund > refundable:
            raise invalid_state(f"Refund amount ({money(refund, currency)}) is greater than unrefunded amount on "
                                f"charge ({money(refundable, currency)})", param="refund_amount")
    return Plan(invoice, amount, lines, pre, post, refund, credit, out_of_band)


def build(state: State, chosen: Plan, params: dict[str, Any], *, note_id: str) -> dict[str, Any]:
    invoice = chosen.invoice
    now = state.now()
    numbered = sum(1 for note in state.all("credit_note") if note["invoice"] == invoice["id"])
    kind = "pre_payment" if not chosen.post else "post_payment" if not chosen.pre else "mixed"
    token = f"{'live' if state.livemode else 'test'}_{state.random_token(40)}"
    return from_template(
        "credit_note",
        amount=chosen.amount,
        amount_shipping=0,
        created=now,
        currency=invoice["currency"],
        customer=invoice["customer"],
        customer_balance_transaction=state.new_id("cbtxn") if chosen.credit else None,
        discount_amount=0,
        discount_amounts=[],
        effective_at=params.get("effective_at", now),
        id=note_id,
        invoice=invoice["id"],
        lines={"object": "list", "data": chosen.lines, "has_more": False, "url": f"/v1/credit_notes/{note_id}/lines"},
        livemode=state.livemode,
        memo=params.get("memo"),
        metadata=objects.metadata_from(params.get("metadata")),
        number=f"{invoice['number']}-CN-{numbered + 1:02d}",
        object="credit_note",
        out_of_band_amount=chosen.out_of_band or None,
        pdf=f"https://pay.stripe.com/credit_notes/{state.account_id}/{token}/pdf?s=ap",
        shipping_cost=None,
        status="issued",
        subtotal=chosen.amount,
        subtotal_excluding_tax=chosen.amount,
        total=chosen.amount,
        total_excluding_tax=chosen.amount,
        type=kind,
        voided_at=None,
        pretax_credit_amounts=[],
        total_taxes=[],
        refunds=([{"amount_refunded": chosen.refund, "refund": state.new_id("re"), "payment_record_refund": None,
                   "type": "refund"}] if chosen.refund else []),
        post_payment_amount=chosen.post,
        pre_payment_amount=chosen.pre,
        reason=params.get("reason"),
        customer_account=None,
    )


# -- endpoints ---------------------------------------------------------------------------------


def preview_credit_note(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The credit note these parameters would make; nothing is stored and no event is sent."""
    chosen = plan(state, params)
    return build(state, chosen, params, note_id=state.new_id("cn"))


def create_credit_note(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    chosen = plan(state, params)
    note = state.add(build(state, chosen, params, note_id=state.new_id("cn")))
    invoice = chosen.invoice
    before = state.render(invoice)
    if chosen.pre:
        invoice["amount_due"] -= chosen.pre
        invoice["amount_remaining"] -= chosen.pre
        invoice["pre_payment_credit_notes_amount"] += chosen.pre
    invoice["post_payment_credit_notes_amount"] += chosen.post
    emit_update(state, ctx, "invoice.updated", before, invoice)
    if invoice["status"] == "open" and invoice["amount_remaining"] == 0:
        invoicing.mark_paid(state, ctx, invoice, out_of_band=True)  # credited down to nothing due: paid
    if chosen.credit:
        _adjust_balance(state, ctx, invoice["customer"], -chosen.credit)
    state.emit("credit_note.created", note, ctx)
    return state.render(note)


def _adjust_balance(state: State, ctx: RequestContext, customer_id: str, change: int) -> None:
    customer = state.find(customer_id, "customer")
    if customer is None:
        return
    before = state.render(customer)
    customer["balance"] = (customer["balance"] or 0) + change
    emit_update(state, ctx, "customer.updated", before, customer)


def _require(state: State, note_id: str) -> dict[str, Any]:
    return state.require("credit_note", note_id, in_path=True)


def retrieve_credit_note(state: State, ctx: RequestContext, params: dict[str, Any], id: str) -> dict[str, Any]:  # noqa: A002
    return state.render(_require(state, id))


def update_credit_note(state: State, ctx: RequestContext, params: dict[str, Any], id: str) -> dict[str, Any]:  # noqa: A002
    note = _require(state, id)
    before = state.render(note)
    if "memo" in params:
        note["memo"] = params["memo"] or None
    if "metadata" in params:
        note["metadata"] = objects.merge_metadata(note["metadata"], params["metadata"])
    emit_update(state, ctx, "credit_note.updated", before, note)
    return state.render(note)


def void_credit_note(state: State, ctx: RequestContext, params: dict[str, Any], id: str) -> dict[str, Any]:  # noqa: A002
    note = _require(state, id)
    if note["status"] != "issued":
        raise invalid_state(f"Credit note {note['id']} is already void.")
    invoice = state.require("invoice", note["invoice"])
    if invoice["status"] != "open":
        raise invalid_state("You can only void a credit note if the associated invoice is open.")
    if note["refunds"]:
        raise invalid_state(f"Credit note {note['id']} refunded a charge; a refund can't be undone by voiding.")
    before = state.render(invoice)
    invoice["amount_due"] += note["pre_payment_amount"]
    invoice["amount_remaining"] += note["pre_payment_amount"]
    invoice["pre_payment_credit_notes_amount"] -= note["pre_payment_amount"]
    invoice["post_payment_credit_notes_amount"] -= note["post_payment_amount"]
    note.update(status="void", voided_at=state.now())
    emit_update(state, ctx, "invoice.updated", before, invoice)
    credited = note["post_payment_amount"] - (note["out_of_band_amount"] or 0)
    if note["customer_balance_transaction"] and credited > 0:
        _adjust_balance(state, ctx, note["customer"], credited)
    state.emit("credit_note.voided", note, ctx)
    return state.render(note)


def list_credit_notes(state: State, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if "customer_account" in params:
        raise unsupported("customer_account")
    notes = [state.render(note) for note in state.all("credit_note")]
    for key in ("invoice", "customer"):
        if key in params:
            notes = [note for note in notes if note[key] == params[key]]
    return list_object(notes, params, "/v1/credit_notes", kind="credit_note")


def list_credit_note_lines(state: State, ctx: RequestContext, params: dict[str, Any],
                           credit_note: str) -> dict[str, Any]:
    note = _require(state, credit_note)
    return list_object([dict(line) for line in note["lines"]["data"]], params,
                       f"/v1/credit_notes/{note['id']}/lines", kind="credit_note_line_item", newest_first=False)


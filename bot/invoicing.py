"""Use cases: create and send an invoice from the modal, act on an invoice, manage the catalog.

Runs in the worker, never in a Slack request. Every Stripe write carries an idempotency key
derived from the request (the modal's `view_id` and the step, or the invoice id and the
action), so a retry, a double submit or a crash followed by a restart finishes the same
invoice instead of creating another.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from bot import blocks, money
from bot.delivery import CANNOT_POST_THERE, Courier, SlackFailure, SlackOut
from bot.queue import GiveUp, RetryLater
from bot.store import Store
from bot.stripe_gateway import LineItem, StripeFailure, StripeGateway

logger = logging.getLogger(__name__)

REMINDER_INTERVAL = 24 * 3600


@dataclass(frozen=True)
class Submission:
    """What the worker needs of one modal submission (stored as the job's payload)."""

    view_id: str
    team_id: str
    user_id: str
    channel_id: str
    customer_id: str | None
    customer_name: str | None
    customer_email: str | None
    currency: str
    lines: list[dict[str, Any]]
    days_until_due: int
    memo: str | None
    send_now: bool

    @classmethod
    def from_payload(cls, payload: dict[str, Any]) -> Submission:
        return cls(**payload)


def invoice_row(invoice: dict[str, Any], known: dict[str, Any] | None = None) -> dict[str, Any]:
    """The columns the store keeps of a Stripe invoice object.

    Lines already recorded (`known`) are kept: for the bot's own invoices they hold the rep's
    descriptions, which Stripe's line objects do not repeat for catalog prices.
    """
    customer = invoice.get("customer")
    customer_id = customer.get("id") if isinstance(customer, dict) else customer
    row = {
        "stripe_id": invoice["id"],
        "number": invoice.get("number"),
        "status": invoice.get("status") or "draft",
        "currency": invoice.get("currency") or "usd",
        "total": invoice.get("total") or 0,
        "amount_paid": invoice.get("amount_paid") or 0,
        "amount_remaining": invoice.get("amount_remaining") or 0,
        "due_date": invoice.get("due_date"),
        "hosted_url": invoice.get("hosted_invoice_url"),
        "customer_id": customer_id,
    }
    if invoice.get("customer_name") or invoice.get("customer_email"):
        row["customer_name"] = invoice.get("customer_name")
        row["customer_email"] = invoice.get("customer_email")
    lines = (invoice.get("lines") or {}).get("data")
    if lines is not None and not (known and known.get("lines_json")):
        row["lines_json"] = _lines_json(lines)
    return row


def _lines_json(lines: list[dict[str, Any]]) -> str:
    return json.dumps([
        {"description": line.get("description"), "quantity": line.get("quantity") or 1, "amount": line.get("amount")}
        for line in lines
    ])


def stored_lines(row: dict[str, Any]) -> list[dict[str, Any]]:
    return json.loads(row.get("lines_json") or "[]")


class InvoicingService:
    def __init__(self, store: Store, stripe: StripeGateway, slack: SlackOut) -> None:
        self.store = store
        self.stripe = stripe
        self.slack = slack
        self.courier = Courier(store, slack)

    # --- create -------------------------------------------------------------------------------
    def create_from_submission(self, submission: Submission) -> dict[str, Any]:
        key = submission.view_id
        invoice_id: str | None = None
        existing = self.store.get_invoice_by_view(key)
        if existing:
            invoice_id = existing["stripe_id"]
        try:
            customer = self._customer_for(submission)
            if invoice_id is None:
                invoice = self.stripe.create_invoice(
                    customer_id=customer["id"],
                    currency=submission.currency,
                    days_until_due=submission.days_until_due,
                    description=submission.memo,
                    metadata={"slack_team": submission.team_id, "slack_channel": submission.channel_id,
                              "slack_user": submission.user_id, "created_via": "invoicebot"},
                    idempotency_key=f"{key}:invoice",
                )
                invoice_id = invoice["id"]
                self.store.save_invoice({
                    **invoice_row(invoice),
                    "customer_name": customer.get("name"),
                    "customer_email": customer.get("email"),
                    "channel_id": submission.channel_id,
                    "rep_user_id": submission.user_id,
                    "team_id": submission.team_id,
                    "view_id": key,
                })
                self.store.audit(submission.user_id, "create", invoice_id,
                                 {"invoice": invoice_id, "customer": customer["id"]},
                                 {"currency": submission.currency, "lines": len(submission.lines),
                                  "send_now": submission.send_now})
            line_items = [LineItem(quantity=line["quantity"], price_id=line.get("price_id"),
                                   description=line.get("description"), unit_amount=line.get("unit_amount"))
                          for line in submission.lines]
            invoice = self.stripe.add_lines(invoice_id, line_items, submission.currency, f"{key}:lines")
            if submission.send_now:
                invoice = self.stripe.finalize_invoice(invoice_id, f"{key}:finalize")
                invoice = self.stripe.send_invoice(invoice_id, f"{key}:send")
                self.store.audit(submission.user_id, "send", invoice_id, {"invoice": invoice_id}, {})
        except StripeFailure as failure:
            # The worker retries a retryable failure with the same keys; when it gives up, it calls
            # `abandon`, which removes the half-built draft and tells the rep.
            if failure.retryable:
                raise RetryLater(f"Stripe: {failure.message}") from None
            raise GiveUp(failure.message) from None
        # The rep's own words describe the lines (Stripe leaves a catalog line's description empty).
        fields = {**invoice_row(invoice), "lines_json": json.dumps([
            {"description": line.get("description"), "quantity": line["quantity"],
             "amount": line["unit_amount"] * line["quantity"]} for line in submission.lines])}
        self.store.apply_invoice_state(invoice_id, fields, int(time.time()))
        row = self.store.get_invoice(invoice_id)
        assert row is not None
        self._publish(row, submission)
        return row

    def _customer_for(self, submission: Submission) -> dict[str, Any]:
        if submission.customer_id:
            known = self.store.get_customer(submission.customer_id)
            if known:
                return {"id": known["stripe_id"], "name": known["name"], "email": known["email"]}
            found = self.stripe.get_customer(submission.customer_id)
            self.store.save_customer(found["id"], found.get("email") or "", found.get("name") or "")
            return found
        email = (submission.customer_email or "").lower()
        known = self.store.find_customer_by_email(email)
        if known:
            return {"id": known["stripe_id"], "name": known["name"], "email": known["email"]}
        customer = self.stripe.find_customer_by_email(email)
        if customer is None:
            customer = self.stripe.create_customer(
                name=submission.customer_name or email,
                email=email,
                description=f"Created from Slack by user {submission.user_id}",
                metadata={"slack_user": submission.user_id, "created_via": "invoicebot"},
                idempotency_key=f"{submission.view_id}:customer",
            )
        self.store.save_customer(customer["id"], customer.get("email") or email, customer.get("name") or "")
        return customer

    def abandon(self, submission: Submission, reason: str) -> None:
        """Stripe refused a step for good: delete the half-built draft and tell the rep why."""
        row = self.store.get_invoice_by_view(submission.view_id)
        if row:
            invoice_id = row["stripe_id"]
            if row["status"] == "draft":
                try:
                    self.stripe.delete_draft(invoice_id)
                    self.store.apply_invoice_state(invoice_id, {"status": "deleted"}, int(time.time()))
                except StripeFailure as failure:
                    logger.error("could not delete draft %s: %s", invoice_id, failure.message)
        text = f":x: The invoice was not created: Stripe said “{blocks.escape(reason)}”. Nothing was sent."
        self.slack.update_view(submission.view_id, blocks.status_view("Invoice not created", text))
        self.slack.tell_user(submission.channel_id, submission.user_id, text)

    def _publish(self, row: dict[str, Any], submission: Submission) -> None:
        """Post (once) or refresh the invoice's message, and tell the rep in the modal."""
        self.publish_message(row)
        row = self.store.get_invoice(row["stripe_id"]) or row
        total = money.format_amount(row["total"], row["currency"])
        verb = "sent to" if row["status"] == "open" else "saved as a draft for"
        text = (f":white_check_mark: {blocks.escape(blocks.invoice_title(row))} for {blocks.escape(total)} "
                f"{verb} {blocks.escape(row.get('customer_email') or row.get('customer_name') or 'the customer')}.")
        hosted = blocks.link(row.get("hosted_url"), "Open the hosted invoice")
        if hosted:
            text += f"\n{hosted}"
        self.slack.update_view(submission.view_id, blocks.status_view("Invoice created", text))

    def publish_message(self, row: dict[str, Any]) -> None:
        text, message_blocks = blocks.invoice_message(row, stored_lines(row))
        channel, ts = row.get("channel_id"), row.get("message_ts")
        if channel and ts:
            try:
                self.slack.update(channel, ts, text, message_blocks)
                return
            except SlackFailure as failure:
                if failure.retryable:
                    raise RetryLater(f"Slack: {failure.error}", failure.retry_after) from None
                logger.warning("could not update the message of %s (%s); posting anew", row["stripe_id"], failure.error)
        if not channel:
            if not row.get("rep_user_id"):
                return  # an invoice made outside the bot has no message of its own
            channel = self._open_dm(row["rep_user_id"])  # started from App Home: the rep's DM with the bot
        try:
            ts = self.courier.post_once(f"message:{row['stripe_id']}", channel, text, message_blocks)
        except SlackFailure as failure:
            if failure.retryable:
                raise RetryLater(f"Slack: {failure.error}", failure.retry_after) from None
            if failure.error not in CANNOT_POST_THERE or not row.get("rep_user_id"):
                raise GiveUp(f"Slack refused the invoice message: {failure.error}") from None
            note = (f"I couldn't post in <#{channel}> ({failure.error}); invite me there with "
                    "`/invite @invoicebot` to share invoices with the channel.")
            channel = self._open_dm(row["rep_user_id"])
            ts = self.courier.post_once(f"message:{row['stripe_id']}:dm", channel, text, message_blocks)
            self.courier.post_once(f"message:{row['stripe_id']}:dm-note", channel, note, thread_ts=ts)
        self.store.set_invoice_message(row["stripe_id"], channel, ts)

    def _open_dm(self, user_id: str) -> str:
        try:
            return self.slack.open_dm(user_id)
        except SlackFailure as failure:
            if failure.retryable:
                raise RetryLater(f"Slack: {failure.error}", failure.retry_after) from None
            raise GiveUp(f"cannot open a DM with {user_id}: {failure.error}") from None

    # --- actions on an existing invoice -------------------------------------------------------
    def act(self, action: str, invoice_id: str, user_id: str, channel_id: str | None,
            reply_key: str | None = None) -> dict[str, Any]:
        row = self.store.get_invoice(invoice_id)
        if row is None:
            raise GiveUp(f"unknown invoice {invoice_id}")
        try:
            if action == "send":
                invoice = self.stripe.finalize_invoice(invoice_id, f"{invoice_id}:finalize")
                invoice = self.stripe.send_invoice(invoice_id, f"{invoice_id}:send")
                reply = f"Finalized and sent by <@{user_id}>"
            elif action == "void":
                invoice = self.stripe.void_invoice(invoice_id, f"{invoice_id}:void")
                reply = f"Voided by <@{user_id}>"
            elif action == "uncollectible":
                invoice = self.stripe.mark_uncollectible(invoice_id, f"{invoice_id}:uncollectible")
                reply = f"Marked uncollectible by <@{user_id}>"
            elif action == "remind":
                last = row.get("last_reminded_at") or 0
                if time.time() - last < REMINDER_INTERVAL:
                    self.slack.tell_user(channel_id, user_id,
                                         "A reminder already went out in the last 24 hours; Stripe emails at most "
                                         "one a day from here.")
                    return row
                day = time.strftime("%Y-%m-%d", time.gmtime())
                invoice = self.stripe.send_invoice(invoice_id, f"{invoice_id}:remind:{day}")
                self.store.save_invoice({"stripe_id": invoice_id, "last_reminded_at": time.time()})
                reply = f"Reminder emailed to the customer, sent by <@{user_id}>"
            else:
                raise GiveUp(f"unknown action {action}")
        except StripeFailure as failure:
            if failure.retryable:
                raise RetryLater(f"Stripe: {failure.message}") from None
            self.slack.tell_user(channel_id, user_id,
                                 f":x: Stripe refused to {action} {blocks.escape(blocks.invoice_title(row))}: "
                                 f"{blocks.escape(failure.message)}")
            raise GiveUp(failure.message) from None
        self.store.audit(user_id, action, invoice_id, {"invoice": invoice_id}, {"status": invoice.get("status")})
        self.store.apply_invoice_state(invoice_id, invoice_row(invoice, known=row), int(time.time()))
        row = self.store.get_invoice(invoice_id) or row
        self.publish_message(row)
        if row.get("channel_id") and row.get("message_ts"):
            self.courier.post_once(f"reply:{reply_key or action + ':' + invoice_id}", row["channel_id"], reply,
                                   thread_ts=row["message_ts"])
        return row

    # --- catalog ------------------------------------------------------------------------------
    def add_catalog_price(self, name: str, unit_amount: int, currency: str, key: str,
                          user_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        try:
            product, price = self.stripe.create_product_with_price(
                name=name, unit_amount=unit_amount, currency=currency, idempotency_key=key)
        except StripeFailure as failure:
            if failure.retryable:
                raise RetryLater(f"Stripe: {failure.message}") from None
            raise
        self.store.save_price({"stripe_id": price["id"], "product_id": product["id"], "product_name": name,
                               "unit_amount": unit_amount, "currency": currency, "active": 1})
        self.store.audit(user_id, "catalog_add", None, {"product": product["id"], "price": price["id"]},
                         {"name": name, "unit_amount": unit_amount, "currency": currency})
        return product, price

    def refresh_catalog(self) -> int:
        """Mirror active prices and customers from Stripe so the modal's searches answer locally."""
        count = 0
        for price in self.stripe.iter_active_prices():
            product = price.get("product")
            name = product.get("name") if isinstance(product, dict) else str(product)
            if price.get("unit_amount") is None:
                continue
            self.store.save_price({"stripe_id": price["id"], "product_id": product.get("id") if isinstance(
                product, dict) else product, "product_name": name or price["id"],
                "unit_amount": price["unit_amount"], "currency": price["currency"], "active": 1})
            count += 1
        for customer in self.stripe.iter_customers():
            if customer.get("deleted"):
                continue
            self.store.save_customer(customer["id"], customer.get("email") or "", customer.get("name") or "")
            count += 1
        return count

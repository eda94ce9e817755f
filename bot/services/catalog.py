"""The catalog: prices reps pick in the modal, mirrored from Stripe so searches answer locally."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from bot import money
from bot.adapters.stripe import StripeGateway
from bot.domain.records import Price
from bot.domain.recurring import recurring_text
from bot.jobs.payloads import AddCatalogPrice, Respond
from bot.mrkdwn import escape
from bot.services import invoice_extras
from bot.store.scope import TenantScope

logger = logging.getLogger(__name__)
T = TypeVar("T")


class Catalog:
    def __init__(self, store: TenantScope, stripe: StripeGateway, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.stripe = stripe
        self.clock = clock

    def add_price(self, job: AddCatalogPrice, job_key: str) -> None:
        product, price = self.stripe.create_product_with_price(
            name=job.name, unit_amount=job.unit_amount, currency=job.currency, idempotency_key=job_key)
        with self.store.unit_of_work() as uow:
            uow.prices.save(Price(price["id"], product["id"], job.name, job.unit_amount, job.currency,
                                  recurring=recurring_text(price.get("recurring"))))
            uow.audit.add(job.user_id, "catalog_add", None, {"product": product["id"], "price": price["id"]},
                          {"name": job.name, "unit_amount": job.unit_amount, "currency": job.currency})
            uow.jobs.add(Respond(response_url=job.response_url, text=(
                f":white_check_mark: Created *{escape(job.name)}* at "
                f"{escape(money.format_amount(job.unit_amount, job.currency))}: product `{escape(product['id'])}`, "
                f"price `{escape(price['id'])}`")), key=f"reply:{job_key}")
            uow.commit()

    def refresh(self) -> int:
        """Mirror Stripe's active prices and its customers; what Stripe no longer has goes (a price
        archived there leaves the modal, a deleted customer leaves the search)."""
        started = self.clock()
        prices = []
        for price in self.stripe.iter_active_prices():
            product = price.get("product")
            if price.get("unit_amount") is None:
                continue
            product_id = product.get("id") if isinstance(product, dict) else product
            name = product.get("name") if isinstance(product, dict) else None
            prices.append(Price(price["id"], str(product_id or ""), name or price["id"], int(price["unit_amount"]),
                                price["currency"], recurring=recurring_text(price.get("recurring"))))
        for chunk in _chunks(prices):
            with self.store.unit_of_work() as uow:
                for record in chunk:
                    uow.prices.save(record)
                uow.commit()
        customers = [customer for customer in self.stripe.iter_customers() if not customer.get("deleted")]
        for customer_chunk in _chunks(customers):
            with self.store.unit_of_work() as uow:
                for customer in customer_chunk:
                    uow.customers.save(customer["id"], customer.get("email") or "", customer.get("name") or "")
                uow.commit()
        # Only after both lists were read to the end: a refresh cut short by Stripe retires nothing.
        with self.store.unit_of_work() as uow:
            retired = uow.prices.retire_unseen(since=started)
            forgotten = uow.customers.forget_unseen(since=started)
            uow.commit()
        if retired or forgotten:
            logger.info("catalog refresh: %d price(s) no longer active, %d customer(s) gone from Stripe", retired,
                        forgotten)
        # The form's tax rates and codes too (bot/services/invoice_extras.py), after the prices and customers.
        return len(prices) + len(customers) + invoice_extras.refresh(self.store, self.stripe, self.clock)


def _chunks(items: list[T], size: int = 500) -> list[list[T]]:
    """Short transactions: the write lock is never held for a whole large account."""
    return [items[start : start + size] for start in range(0, len(items), size)]

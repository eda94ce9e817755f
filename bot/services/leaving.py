"""A workspace leaves: Slack sends `app_uninstalled`, and `tokens_revoked` naming the bot's token, in either
order and each maybe more than once. The first to be run erases what the workspace gave us: our webhook
endpoint on its Stripe account goes (when its key still works), then its installation and Stripe connection
(the sealed token, key and signing secret) and its pending jobs; its invoices and settings stay, so a
reinstall finds them, and starts with no Stripe account connected. A repeat finds nothing left to erase.
"""

from __future__ import annotations

import logging

from bot.adapters.stripe import StripeFailure, StripeGateway
from bot.domain.tenants import StripeConnection
from bot.secrets import SecretKind, SecretUnreadable
from bot.services.tenancy import Tenancy

logger = logging.getLogger(__name__)


class Leaving:
    def __init__(self, tenancy: Tenancy, stripe: StripeGateway) -> None:
        self.tenancy = tenancy
        self.stripe = stripe  # the workspace's; its endpoint is deleted through a gateway of the stored key

    def leave(self, reason: str) -> None:
        tenancy = self.tenancy
        if not tenancy.oauth:
            # The token and key come from the environment: nothing of ours to erase, and only an operator can
            # reinstall and set SLACK_BOT_TOKEN again.
            logger.warning("Slack says invoicebot left the workspace (%s): with SLACK_MODE=env, reinstall the app "
                           "and set SLACK_BOT_TOKEN to its new token", reason)
            return
        connection = tenancy.directory.stripe(tenancy.tenant_id)
        if connection is not None:
            self._delete_endpoint(connection)  # first: once the connection is erased, its key is gone with it
        erased = tenancy.directory.uninstall(tenancy.tenant_id)
        if erased is not None and (connection is None or erased.webhook_endpoint_id != connection.webhook_endpoint_id):
            self._delete_endpoint(erased)  # an admin reconnected Stripe in between: that endpoint goes too
        tenancy.forget()
        logger.info("workspace %s left (%s): its installation, Stripe connection and pending jobs are erased",
                    tenancy.tenant_id, reason)

    def _delete_endpoint(self, connection: StripeConnection) -> None:
        """Not being able to is no reason to keep the secrets: an endpoint left behind is refused at our
        door (its workspace is gone, and its signing secret with it) and Stripe disables it in time."""
        tenant_id = self.tenancy.tenant_id
        box = self.tenancy.box
        if box is None:
            return
        try:
            key = box.decrypt(tenant_id, SecretKind.STRIPE_API_KEY, connection.api_key)
            # Not the workspace's own gateway: a refused key there pauses work and tells admins, who are gone.
            self.stripe.with_key(key).delete_webhook_endpoint(connection.webhook_endpoint_id)
        except SecretUnreadable as error:
            logger.warning("the Stripe webhook endpoint %s of workspace %s (account %s) was not deleted: %s",
                           connection.webhook_endpoint_id, tenant_id, connection.account_id, error)
            return
        except StripeFailure as failure:  # the workspace may have revoked our key as it left
            logger.warning("the Stripe webhook endpoint %s of workspace %s (account %s) was not deleted: %s",
                           connection.webhook_endpoint_id, tenant_id, connection.account_id, failure.message)
            return
        logger.info("deleted the Stripe webhook endpoint %s of workspace %s", connection.webhook_endpoint_id,
                    tenant_id)

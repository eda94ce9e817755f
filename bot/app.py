"""The app factory: builds every part from the settings and wires them; nothing global.

`build(settings)` returns the `Services` (store, Stripe gateway, Slack client, use cases,
worker, Bolt app); `asgi_app(services)` puts them behind one Starlette app whose lifespan
starts the workers (and Socket Mode, when configured) and drains them on shutdown.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from slack_bolt import App
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_sdk.signature import SignatureVerifier
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import handlers
from bot import blocks
from bot.browse import Browser
from bot.config import Settings
from bot.delivery import SlackOut, build_web_client
from bot.invoicing import InvoicingService, Submission
from bot.notifications import NotificationService
from bot.people import People
from bot.permissions import Permissions
from bot.queue import GiveUp, Worker
from bot.store import Job, Store, open_store
from bot.stripe_gateway import StripeFailure, StripeGateway
from bot.webhook import EVENT_JOB, MAX_WEBHOOK_BYTES, WebhookReceiver

logger = logging.getLogger(__name__)

MAX_SLACK_BODY_BYTES = 1024 * 1024
CATALOG_REFRESH_SECONDS = 600
OVERDUE_SWEEP_SECONDS = 900


@dataclass
class Services:
    settings: Settings
    store: Store
    stripe: StripeGateway
    slack: SlackOut
    invoicing: InvoicingService
    notifications: NotificationService
    permissions: Permissions
    people: People
    browser: Browser
    worker: Worker
    bolt: App
    webhooks: WebhookReceiver
    extras: dict[str, Any] = field(default_factory=dict)


def build(settings: Settings, *, worker_threads: int | None = None) -> Services:
    store = open_store(settings.database_url)
    stripe = StripeGateway(settings.stripe_api_key.get_secret_value(), settings.stripe_api_base,
                           timeout=settings.stripe_timeout)
    web_client = build_web_client(settings.slack_bot_token.get_secret_value(), settings.slack_api_url)
    slack = SlackOut(web_client)
    invoicing = InvoicingService(store, stripe, slack)
    notifications = NotificationService(store, slack, invoicing, payments_channel=settings.payments_channel,
                                        announce_foreign=settings.announce_foreign_invoices)
    people = People(lambda user: dict(web_client.users_info(user=user)["user"]))
    permissions = Permissions(
        settings.creator_ids, settings.admin_ids,
        group_members=lambda group: list(web_client.usergroups_users_list(usergroup=group)["users"]),
        is_workspace_admin=people.is_admin,
    )
    worker = Worker(store, {}, threads=worker_threads or settings.worker_threads,
                    max_attempts=settings.job_max_attempts)
    bolt = App(
        client=web_client,
        signing_secret=(settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret
                        else "socket-mode-unused"),
        # Bolt's own request verification: 401 for a bad signature or a timestamp over 5 minutes old.
        request_verification_enabled=not settings.socket_mode,
        token_verification_enabled=False,
        process_before_response=False,
    )
    services = Services(settings, store, stripe, slack, invoicing, notifications, permissions, people,
                        Browser(store, stripe, people), worker, bolt,
                        WebhookReceiver(store, settings.stripe_webhook_secret.get_secret_value(), worker.wake))
    worker.handlers.update(job_handlers(services))
    worker.on_give_up = lambda job, reason: report_failed_job(services, job, reason)
    handlers.register(bolt, services)
    return services


def job_handlers(services: Services) -> dict[str, Any]:
    invoicing, notifications = services.invoicing, services.notifications

    def create_invoice(job: Job) -> None:
        submission = Submission.from_payload(job.payload)
        refusal = services.permissions.refuse("create", submission.user_id, None)
        if refusal:  # the modal only opens for people who may create; this catches a forged submission
            services.slack.update_view(submission.view_id, blocks.status_view("Not allowed", refusal))
            raise GiveUp(refusal)
        invoicing.create_from_submission(submission)

    def invoice_action(job: Job) -> None:
        payload = job.payload
        invoicing.act(payload["action"], payload["invoice_id"], payload["user_id"], payload.get("channel_id"),
                      reply_key=job.key)

    def catalog_add(job: Job) -> None:
        payload = job.payload
        try:
            product, price = invoicing.add_catalog_price(payload["name"], payload["unit_amount"],
                                                         payload["currency"], job.key, payload["user_id"])
        except StripeFailure as failure:
            services.slack.respond(payload["response_url"],
                                   f":x: Stripe refused the new price: {blocks.escape(failure.message)}")
            raise GiveUp(failure.message) from None
        services.slack.respond(payload["response_url"],
                               f":white_check_mark: Created *{blocks.escape(payload['name'])}*: product "
                               f"`{product['id']}`, price `{price['id']}`")

    def overdue_sweep(job: Job) -> None:
        notifications.sweep_overdue()
        schedule(services.store, "overdue_sweep", OVERDUE_SWEEP_SECONDS, delay=OVERDUE_SWEEP_SECONDS)

    def refresh_catalog(job: Job) -> None:
        invoicing.refresh_catalog()
        schedule(services.store, "refresh_catalog", CATALOG_REFRESH_SECONDS, delay=CATALOG_REFRESH_SECONDS)

    return {
        "create_invoice": create_invoice,
        "invoice_action": invoice_action,
        "catalog_add": catalog_add,
        "refresh_catalog": refresh_catalog,
        "overdue_sweep": overdue_sweep,
        EVENT_JOB: lambda job: notifications.process_event(job.payload["event_id"]),
        "refresh_message": notifications.refresh_message,
        "thread_reply": notifications.thread_reply,
        "channel_notice": notifications.channel_notice,
    }


def report_failed_job(services: Services, job: Job, reason: str) -> None:
    """A job that will never succeed: make sure a person hears about it."""
    payload = job.payload
    if job.kind == "create_invoice" and "user_id" in payload:
        # Retries ran out on a retryable error: one last pass deletes the draft and tells the rep.
        services.invoicing.abandon(Submission.from_payload(payload), reason)
    elif job.kind == "invoice_action":
        services.slack.tell_user(payload.get("channel_id"), payload["user_id"],
                                 f":x: I couldn't {payload['action']} the invoice: {blocks.escape(reason)}")
    elif job.kind == "catalog_add":
        services.slack.respond(payload["response_url"], f":x: The price was not created: {blocks.escape(reason)}")
    elif job.kind in ("channel_notice", "thread_reply"):
        invoice = services.store.get_invoice(payload.get("invoice_id", "")) or {}
        where = payload.get("channel") or invoice.get("channel_id")
        if invoice.get("rep_user_id"):
            services.slack.dm(invoice["rep_user_id"], f":warning: I couldn't post news of "
                              f"{blocks.escape(blocks.invoice_title(invoice))} in <#{where}>: {blocks.escape(reason)}. "
                              "Please check that I'm still in that channel.")
        else:
            logger.error("a notice for %s could not be posted in %s: %s", payload.get("invoice_id"), where, reason)


def asgi_app(services: Services) -> Starlette:
    settings = services.settings
    # In Socket Mode there is no signing secret and no /slack/events route to verify.
    slack_verifier = (SignatureVerifier(settings.slack_signing_secret.get_secret_value())
                      if settings.slack_signing_secret else None)

    async def slack_events(request: Request) -> Response:
        body = await request.body()
        if len(body) > MAX_SLACK_BODY_BYTES:
            return JSONResponse({"error": "request body too large"}, status_code=413)
        # Check the signature before anything parses the body (Bolt parses first and then verifies,
        # so a broken or hostile body would otherwise end in a 500 rather than a 401 or a 400).
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return JSONResponse({"error": "request body is not UTF-8"}, status_code=400)
        if not signed_by_slack(text, request.headers):
            return JSONResponse({"error": "invalid request"}, status_code=401)
        try:
            bolt_request = to_bolt_request(request, body)
        except (ValueError, TypeError, AttributeError, RecursionError):
            return JSONResponse({"error": "malformed request body"}, status_code=400)
        # Bolt's dispatch is synchronous: run it in a thread so the event loop keeps serving.
        bolt_response = await run_in_threadpool(services.bolt.dispatch, bolt_request)
        return to_starlette_response(bolt_response)

    def signed_by_slack(text: str, headers: Any) -> bool:
        timestamp = headers.get("x-slack-request-timestamp") or ""
        signature = headers.get("x-slack-signature") or ""
        if slack_verifier is None or len(signature) > 200:
            return False
        if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
            return False
        return slack_verifier.is_valid(body=text, timestamp=timestamp, signature=signature)

    async def stripe_webhook(request: Request) -> Response:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > MAX_WEBHOOK_BYTES:
            return JSONResponse({"error": f"body larger than {MAX_WEBHOOK_BYTES} bytes"}, status_code=413)
        raw = await request.body()
        result = await services.webhooks.receive_async(raw, request.headers.get("stripe-signature"))
        return JSONResponse(result.body, status_code=result.status)

    async def healthz(request: Request) -> Response:
        database = await run_in_threadpool(services.store.ping)
        jobs = await run_in_threadpool(services.store.job_counts) if database else {}
        return JSONResponse(
            {"ok": database, "database": "ok" if database else "unreachable", "jobs": jobs,
             "slack_mode": "socket" if settings.socket_mode else "http"},
            status_code=200 if database else 503,
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        start(services)
        try:
            yield
        finally:
            await run_in_threadpool(stop, services)

    routes = [
        Route("/stripe/webhook", stripe_webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
    ]
    if not settings.socket_mode:
        routes.append(Route("/slack/events", slack_events, methods=["POST"]))
    return Starlette(routes=routes, lifespan=lifespan)


def start(services: Services) -> None:
    services.worker.start()
    schedule(services.store, "refresh_catalog", CATALOG_REFRESH_SECONDS, delay=0)
    schedule(services.store, "overdue_sweep", OVERDUE_SWEEP_SECONDS, delay=0)
    if services.settings.socket_mode:
        from slack_bolt.adapter.socket_mode import SocketModeHandler

        assert services.settings.slack_app_token is not None
        handler = SocketModeHandler(services.bolt, services.settings.slack_app_token.get_secret_value())
        handler.connect()
        services.extras["socket_mode"] = handler


def stop(services: Services) -> None:
    handler = services.extras.pop("socket_mode", None)
    if handler is not None:
        handler.close()
    services.worker.stop()
    services.webhooks.close()
    services.store.close()


def schedule(store: Store, kind: str, period: float, delay: float) -> None:
    """A periodic job: one run per period, however many times (or processes) ask for it."""
    window = int((time.time() + delay) // period)
    store.enqueue(kind, f"{kind}:{window}", {}, delay=delay)

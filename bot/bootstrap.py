"""The composition root: builds every part, once, from the settings; nothing global.

`build(settings)` takes its adapters as optional arguments (a store, a Stripe gateway, a Slack
client), so tests and benchmarks can hand in their own and use cases can be run without the
HTTP edge. It returns a `Bot`: the parts, with `start()` and `stop()` for the lifespan.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol, cast

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.authorization.authorize import CallableAuthorize
from slack_sdk import WebClient

import handlers
from bot.access import Access, AccessLists
from bot.adapters.courier import Courier
from bot.adapters.slack import SlackOut, build_web_client
from bot.adapters.stripe import StripeGateway
from bot.config import ConfigError, Settings, SlackMode
from bot.container import JobSubmitter, Services
from bot.domain.tenants import DEFAULT_TENANT, StripeConnection, TenantSettings
from bot.jobs.handlers import JobServices, job_registry
from bot.jobs.model import Lane
from bot.jobs.payloads import ALL_PAYLOADS, ChaseSweep, CheckDigestSchedule, PruneTables, RefreshCatalog, SweepOverdue
from bot.jobs.registry import Registry, UnknownTenant
from bot.jobs.schedule import Periodic, Scheduler
from bot.jobs.worker import LaneConfig, LaneSignals, WorkerHealth, Workers
from bot.metrics import Metrics, Sample
from bot.oauth import InstallFlow, install_flow
from bot.people import People
from bot.secrets import SecretBox, SecretKind
from bot.services.approvals import Approvals
from bot.services.browse import Browser
from bot.services.catalog import Catalog
from bot.services.chasing import Chasing
from bot.services.credit_notes import CreditNotes
from bot.services.invoicing import Invoicing
from bot.services.leaving import Leaving
from bot.services.messages import InvoiceMessages
from bot.services.notifications import POST_INTERVAL, Notifications
from bot.services.promises import Promises
from bot.services.receivables import CHECK_SECONDS as DIGEST_CHECK_SECONDS
from bot.services.receivables import Receivables
from bot.services.recurring import Recurring
from bot.services.replies import ModalDefaults, Replies
from bot.services.routing import Routing
from bot.services.shortcuts import Shortcuts
from bot.services.stripe_connect import StripeConnect
from bot.services.tenancy import Tenancy
from bot.services.unfurls import Unfurls
from bot.services.workspace_settings import WorkspaceSettings, access_lists, with_defaults
from bot.single_instance import SOCKET_MODE, InstanceLease, socket_mode_refusal
from bot.store import open_store
from bot.store.ports import Store
from bot.store.retention import Pruner
from bot.store.scope import TenantScope
from bot.webhook import WebhookReceiver
from bot.worker_process import WorkerProcess

if TYPE_CHECKING:
    from slack_bolt.adapter.socket_mode import SocketModeHandler

logger = logging.getLogger(__name__)

CATALOG_REFRESH_SECONDS = 600
REPLY_THREADS = 4
EVENT_BATCH = 100  # events decided per transaction: ~10 ms of the write lock
OVERDUE_SWEEP_SECONDS = 900
CHASE_SWEEP_SECONDS = 600  # today's reminders, tomorrow's previews, lapsed promises (bot/services/chasing.py)
PRUNE_SECONDS = 3600


@dataclass
class Workspace:
    """One tenant's parts: its Slack client, its Stripe account, its data, and the use cases over them."""

    tenant_id: str
    scope: TenantScope
    stripe: StripeGateway
    slack: SlackOut
    invoicing: Invoicing
    catalog: Catalog
    notifications: Notifications
    access: Access
    services: Services  # what Slack listeners get for a request from this workspace
    registry: Registry  # what runs this workspace's jobs
    tenancy: Tenancy
    stripe_connect: StripeConnect  # SLACK_MODE=oauth: its admins connect its own Stripe account


@dataclass(frozen=True)
class WorkspaceSetup:
    """What differs between workspaces: who they are, which Stripe account, which Slack token, their lists."""

    tenant_id: str
    stripe: StripeGateway
    web_client: WebClient
    lists: AccessLists
    payments_channel: str
    # What `/invoice settings` falls back to where the workspace saved nothing (shown in its form).
    defaults: TenantSettings = field(default_factory=TenantSettings)


class Workspaces:
    """Every tenant's `Workspace`, built the first time one is needed and kept; the workers ask it
    for each job's registry, the listeners for each request's services."""

    def __init__(self, setup: Callable[[str], WorkspaceSetup | None], assemble: Callable[[WorkspaceSetup], Workspace],
                 *, tenant_of_team: Callable[[str | None, str | None], str | None],
                 active: Callable[[], list[str]], ttl: float | None = None,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self._setup = setup
        self._assemble = assemble
        self._tenant_of_team = tenant_of_team
        self.active = active  # the tenants whose periodic jobs run
        # How long a built workspace is kept: another process (a replica, the worker process) may have
        # reconnected its Stripe account or seen it uninstall meanwhile. None: kept for good (env mode).
        self._ttl = ttl
        self._monotonic = monotonic
        self._built: dict[str, tuple[Workspace, float]] = {}
        self._lock = threading.Lock()

    def _fresh(self, tenant_id: str) -> Workspace | None:
        entry = self._built.get(tenant_id)
        if entry is None or (self._ttl is not None and self._monotonic() - entry[1] > self._ttl):
            return None
        return entry[0]

    def get(self, tenant_id: str) -> Workspace:
        built = self._fresh(tenant_id)
        if built is not None:
            return built
        with self._lock:
            built = self._fresh(tenant_id)
            if built is None:
                setup = self._setup(tenant_id)
                if setup is None:
                    self._built.pop(tenant_id, None)
                    raise UnknownTenant(tenant_id)
                built = self._assemble(setup)
                self._built[tenant_id] = (built, self._monotonic())
        return built

    def forget(self, tenant_id: str) -> None:
        """Its token or key changed, or it left: the next job or request builds it again (or finds it gone)."""
        with self._lock:
            self._built.pop(tenant_id, None)

    def for_tenant(self, tenant_id: str) -> Registry:
        return self.get(tenant_id).registry

    def lanes(self) -> set[str]:
        return {payload.LANE.value for payload in ALL_PAYLOADS}

    def services_for(self, team_id: str | None, enterprise_id: str | None) -> Services | None:
        """The services of the workspace a Slack request came from; None when it is not installed."""
        tenant_id = self._tenant_of_team(team_id, enterprise_id)
        if tenant_id is None:
            return None
        try:
            return self.get(tenant_id).services
        except UnknownTenant:
            return None


@dataclass
class Bot:
    settings: Settings
    store: Store
    workspaces: Workspaces
    workers: Workers  # built in every process; run here only with WORKER_MODE=inline
    runner: JobRunner  # what runs the jobs: those workers, or a worker process
    bolt: App
    webhooks: WebhookReceiver
    metrics: Metrics
    remote_samples: Callable[[], list[Sample]]  # the worker process's counters (none when inline)
    socket_mode: SocketModeHandler | None = field(default=None)
    # Socket Mode only: the database's lease on it (Slack would split its events between two
    # instances connected at once).
    socket_mode_lease: InstanceLease | None = field(default=None)
    secret_box: SecretBox | None = field(default=None)  # OAuth mode: seals and opens each workspace's secrets

    # The one workspace of a deployment configured from the environment (SLACK_MODE=env).
    @property
    def default(self) -> Workspace:
        return self.workspaces.get(DEFAULT_TENANT)

    @property
    def stripe(self) -> StripeGateway:
        return self.default.stripe

    @property
    def slack(self) -> SlackOut:
        return self.default.slack

    @property
    def services(self) -> Services:
        return self.default.services

    @property
    def invoicing(self) -> Invoicing:
        return self.default.invoicing

    @property
    def notifications(self) -> Notifications:
        return self.default.notifications

    def hold_socket_mode(self) -> None:
        """In Socket Mode, take the database's Socket Mode lease, or raise `AnotherInstance` naming
        the instance that holds it; nothing has started yet when it refuses. Nothing in HTTP mode."""
        if self.socket_mode_lease is not None:
            self.socket_mode_lease.acquire(on_lost=self._socket_mode_lost)

    def start(self) -> None:
        self.hold_socket_mode()
        try:
            self.runner.start()
            if self.settings.socket_mode:
                from slack_bolt.adapter.socket_mode import SocketModeHandler

                assert self.settings.slack_app_token is not None
                self.socket_mode = SocketModeHandler(self.bolt, self.settings.slack_app_token.get_secret_value())
                self.socket_mode.connect()  # type: ignore[no-untyped-call]
        except BaseException:
            if self.socket_mode_lease is not None:  # a start that failed holds nothing up
                self.socket_mode_lease.release()
            raise

    def _socket_mode_lost(self) -> None:
        """Another instance took the lease over (this one could not renew it): it gets Slack's traffic."""
        handler, self.socket_mode = self.socket_mode, None
        if handler is not None:
            handler.close()  # type: ignore[no-untyped-call]

    def stop(self) -> None:
        handler, self.socket_mode = self.socket_mode, None
        if handler is not None:
            handler.close()  # type: ignore[no-untyped-call]
        if self.socket_mode_lease is not None:  # once disconnected: the next instance may start at once
            self.socket_mode_lease.release()
        self.runner.stop()
        self.webhooks.close()
        self.store.close()


def lanes(settings: Settings) -> list[LaneConfig]:
    """Interactive work (a person waits on Stripe calls of up to seconds each) gets the most threads."""
    return [
        # Forms must open within Slack's 3 s of the trigger: never behind a create waiting on Stripe.
        LaneConfig(Lane.REPLIES, REPLY_THREADS),
        LaneConfig(Lane.INTERACTIVE, settings.worker_threads),
        # Stored events are decided in batches: one transaction, and one claim, for many.
        LaneConfig(Lane.EVENTS, 1, batch=EVENT_BATCH),
        LaneConfig(Lane.OWN_EVENTS, 1, batch=EVENT_BATCH),
        LaneConfig(Lane.OWN, 1),
        LaneConfig(Lane.BULK, 1),
        LaneConfig(Lane.PERIODIC, 1),
    ]


class JobRunner(Protocol):
    def start(self) -> None: ...
    def stop(self, timeout: float = 30.0) -> None: ...
    def wake(self, lanes: Iterable[str]) -> None: ...
    def health(self) -> WorkerHealth: ...


def refuse_accidental_oauth(environ: Mapping[str, str]) -> None:
    """Bolt switches to OAuth (and drops the bot token) whenever both variables exist, even empty."""
    present = [name for name in ("SLACK_CLIENT_ID", "SLACK_CLIENT_SECRET") if name in environ]
    if len(present) == 2:
        raise ConfigError(["SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are in the environment (even empty ones count) "
                           "while SLACK_MODE=env: Slack's Bolt would quietly switch to OAuth installs; unset both, "
                           "or set SLACK_MODE=oauth"])


WORKSPACE_TTL_SECONDS = 30.0


def installed_workspaces(settings: Settings, store: Store, box: SecretBox, metrics: Metrics,
                         clock: Callable[[], float]) -> Workspaces:
    """SLACK_MODE=oauth: every workspace that installed the app, with its own bot token and Stripe key."""
    directory = store.directory

    def tenant_of_team(team_id: str | None, enterprise_id: str | None) -> str | None:
        tenant = directory.by_team(team_id) if team_id else None
        return tenant.id if tenant is not None and tenant.active else None

    def setup(tenant_id: str) -> WorkspaceSetup | None:
        tenant = directory.get(tenant_id)
        installation = directory.installation(tenant_id) if tenant is not None and tenant.active else None
        if tenant is None or installation is None:
            return None
        token = box.decrypt(tenant_id, SecretKind.SLACK_BOT_TOKEN, installation.bot_token)
        web_client = build_web_client(token, settings.slack_api_url, metrics=metrics)
        connection = directory.stripe(tenant_id)
        key = box.decrypt(tenant_id, SecretKind.STRIPE_API_KEY, connection.api_key) if connection else ""
        # Whoever installed the app administers it until the workspace names its admins.
        admins = frozenset(tenant.settings.admins or (installation.installer_user_id,))
        lists = AccessLists(frozenset(tenant.settings.creators), admins, frozenset(tenant.settings.viewers))

        def key_refused() -> None:
            if directory.pause_stripe(tenant_id):
                tell = SlackOut(web_client, settings.response_origins, metrics)
                for admin in sorted(admins):
                    tell.dm(admin, ":warning: Stripe refused invoicebot's key for this workspace (it was revoked or "
                                   "rolled). Invoicing is paused: open invoicebot's App Home and connect Stripe again.")
            workspaces.forget(tenant_id)

        def as_built(current: StripeConnection | None) -> tuple[str, bool] | None:
            return (current.api_key, current.paused_at is not None) if current is not None else None

        def changed() -> bool:
            """Connected, reconnected or resumed elsewhere since this workspace was built: build it again."""
            if as_built(directory.stripe(tenant_id)) == as_built(connection):
                return False
            workspaces.forget(tenant_id)
            return True

        stripe = StripeGateway(key, settings.stripe_api_base, timeout=settings.stripe_timeout, metrics=metrics,
                               on_key_refused=key_refused, changed=changed,
                               paused=connection is not None and connection.paused_at is not None)
        return WorkspaceSetup(tenant_id, stripe, web_client, lists, tenant.settings.payments_channel,
                              defaults=TenantSettings(admins=(installation.installer_user_id,)))

    workspaces = Workspaces(setup, lambda made: assemble_workspace(made, store, settings, metrics, clock, box=box,
                                                                   forget=lambda tenant: workspaces.forget(tenant)),
                            tenant_of_team=tenant_of_team,
                            active=lambda: [tenant for tenant in directory.active() if tenant != DEFAULT_TENANT],
                            ttl=WORKSPACE_TTL_SECONDS)
    return workspaces


def environment_workspace(settings: Settings, store: Store, stripe: StripeGateway,
                          web_client: WebClient) -> Callable[[str], WorkspaceSetup | None]:
    """SLACK_MODE=env: tenant `default`, with the environment's token and key; its lists and payments channel
    as saved with `/invoice settings`, the environment's values where it saved none."""
    defaults = TenantSettings(settings.payments_channel, tuple(sorted(settings.admin_ids)),
                              tuple(sorted(settings.creator_ids)), tuple(sorted(settings.viewer_ids)))

    def setup(tenant_id: str) -> WorkspaceSetup | None:
        if tenant_id != DEFAULT_TENANT:
            return None
        tenant = store.directory.get(DEFAULT_TENANT)
        applied = with_defaults(tenant.settings if tenant is not None else TenantSettings(), defaults)
        # APPROVERS: who approves invoices above APPROVAL_LIMITS (empty: the admins); env mode only, as its IDs
        # are one workspace's.
        lists = replace(access_lists(applied), approvers=settings.approver_ids)
        return WorkspaceSetup(DEFAULT_TENANT, stripe, web_client, lists, applied.payments_channel,
                              defaults=defaults)

    return setup


def _authorize(workspaces: Workspaces) -> Callable[..., AuthorizeResult]:
    def authorize(team_id: str | None, enterprise_id: str | None) -> AuthorizeResult | None:
        """None for a workspace without the app: Bolt answers that it must be installed."""
        services = workspaces.services_for(team_id, enterprise_id)
        if services is None:
            return None
        token = workspaces.get(services.tenant_id).slack.client.token
        return AuthorizeResult(enterprise_id=enterprise_id, team_id=team_id, bot_token=token)

    # Bolt refuses a plain function beside an install flow (bot/oauth.py), not one in its own Authorize.
    wrapped = CallableAuthorize(logger=logger, func=cast(Callable[..., AuthorizeResult], authorize))
    return cast(Callable[..., AuthorizeResult], wrapped)


def assemble_workspace(setup: WorkspaceSetup, store: Store, settings: Settings, metrics: Metrics,
                       clock: Callable[[], float], *, box: SecretBox | None,
                       forget: Callable[[str], None]) -> Workspace:
    """One tenant's use cases, each over that tenant's scope of the store, Slack client and Stripe account."""
    scope = store.tenant(setup.tenant_id)
    tenancy = Tenancy(setup.tenant_id, store.directory, box, lambda: forget(setup.tenant_id),
                      settings.public_url, settings.slack_mode is SlackMode.OAUTH)
    stripe = setup.stripe
    slack = SlackOut(setup.web_client, settings.response_origins, metrics)
    courier = Courier(scope, slack)
    messages = InvoiceMessages(scope, slack, courier)
    invoicing = Invoicing(scope, stripe, slack, messages, clock, limits=settings.approval_limit_amounts)
    catalog = Catalog(scope, stripe, clock)
    # Slack's pace per channel lives in the database: every process and replica posting keeps it.
    notifications = Notifications(scope, slack, stripe, messages, courier, payments_channel=setup.payments_channel,
                                  announce_foreign=settings.announce_foreign_invoices,
                                  pacer=scope.pace(POST_INTERVAL), clock=clock)
    people = People(slack.users_info)
    access = Access(setup.lists, people, group_members=slack.usergroup_members, channel_members=slack.channel_members,
                    team_id=slack.team_id)
    browser = Browser(scope, stripe, people, access, clock)
    stripe_connect = StripeConnect(tenancy, scope, access, slack, stripe, livemode=settings.stripe_livemode,
                                   clock=clock)
    workspace_settings = WorkspaceSettings(
        tenancy, scope, slack, access, defaults=setup.defaults,
        current=TenantSettings(setup.payments_channel, tuple(sorted(setup.lists.admins)),
                               tuple(sorted(setup.lists.creators)), tuple(sorted(setup.lists.viewers))))
    receivables = Receivables(scope, stripe, slack, courier, access, tenancy, clock=clock)
    chasing = Chasing(scope, stripe, slack, access, people, courier, payments_channel=setup.payments_channel,
                      clock=clock)
    recurring = Recurring(scope, stripe, slack, invoicing, access, people, clock)
    defaults = ModalDefaults(settings.default_currency, settings.default_days_until_due)
    replies = Replies(scope, slack, access, browser, Routing(scope, setup.payments_channel), defaults,
                      workspace_settings=workspace_settings,
                      stripe_status=stripe_connect.home_status, receivables=receivables, chasing=chasing.command,
                      recurring=recurring.list_answer)
    registry = job_registry(JobServices(invoicing, catalog, notifications, access, slack, replies,
                                        Pruner(scope, settings.job_retention_days), tenancy,
                                        stripe_connect=stripe_connect, metrics=metrics,
                                        workspace_settings=workspace_settings, leaving=Leaving(tenancy, stripe),
                                        receivables=receivables, chasing=chasing,
                                        promises=Promises(scope, stripe, slack, access, people, chasing, clock=clock),
                                        credit_notes=CreditNotes(scope, stripe, slack, access,
                                                                 route=notifications.route, clock=clock),
                                        recurring=recurring,
                                        shortcuts=Shortcuts(scope, slack, access, defaults),
                                        unfurls=Unfurls(scope, slack, access, clock=clock),
                                        approvals=Approvals(scope, invoicing, access, slack, courier,
                                                            payments_channel=setup.payments_channel)))
    registry.require(ALL_PAYLOADS)
    services = Services(tenant_id=setup.tenant_id, reads=scope.reads, jobs=JobSubmitter(scope), access=access,
                        response_origins=settings.response_origins)
    return Workspace(setup.tenant_id, scope, stripe, slack, invoicing, catalog, notifications, access, services,
                     registry, tenancy, stripe_connect)


def build(settings: Settings, *, store: Store | None = None, stripe: StripeGateway | None = None,
          web_client: WebClient | None = None, clock: Callable[[], float] = time.time) -> Bot:
    if settings.slack_mode is SlackMode.ENV:
        refuse_accidental_oauth(os.environ)
    store = store or open_store(settings.database_url, clock=clock, pool_size=settings.database_pool_size)
    signals = LaneSignals()
    metrics = Metrics()
    box = SecretBox(settings.encryption_master_keys) if settings.encryption_master_keys else None
    oauth_flow: InstallFlow | None = None
    if settings.slack_mode is SlackMode.OAUTH:
        assert box is not None  # the settings refuse OAuth mode without ENCRYPTION_KEYS
        workspaces = installed_workspaces(settings, store, box, metrics, clock)
        # Bolt's install flow over our directory; a reinstall's new token is used from the next request on.
        oauth_flow = install_flow(settings, store.directory, box, clock,
                                  client=build_web_client("", settings.slack_api_url, metrics=metrics),
                                  on_installed=lambda tenant: workspaces.forget(tenant.id),
                                  slack_for=lambda tenant_id: workspaces.get(tenant_id).slack)
    else:
        stripe = stripe or StripeGateway(settings.stripe_api_key.get_secret_value(), settings.stripe_api_base,
                                         timeout=settings.stripe_timeout, metrics=metrics)
        web_client = web_client or build_web_client(settings.slack_bot_token.get_secret_value(),
                                                    settings.slack_api_url, metrics=metrics)
        # SLACK_MODE=env: one workspace, its token and Stripe key from the environment.
        workspaces = Workspaces(environment_workspace(settings, store, stripe, web_client),
                                lambda setup: assemble_workspace(setup, store, settings, metrics, clock, box=box,
                                                                 forget=lambda tenant: workspaces.forget(tenant)),
                                tenant_of_team=lambda team_id, enterprise_id: DEFAULT_TENANT,
                                active=lambda: [DEFAULT_TENANT],
                                # Another process (the workers', a replica) may have saved `/invoice settings`.
                                ttl=WORKSPACE_TTL_SECONDS)
        workspaces.get(DEFAULT_TENANT)  # built now: a wiring mistake stops the start, not the first request
    scheduler = Scheduler(store, [Periodic(RefreshCatalog(), CATALOG_REFRESH_SECONDS),
                                  Periodic(SweepOverdue(), OVERDUE_SWEEP_SECONDS),
                                  Periodic(PruneTables(), PRUNE_SECONDS),
                                  Periodic(ChaseSweep(), CHASE_SWEEP_SECONDS),
                                  Periodic(CheckDigestSchedule(), DIGEST_CHECK_SECONDS)],
                          clock, tenants=workspaces.active)
    workers = Workers(store.queue, workspaces, lanes(settings), signals=signals,
                      lease_seconds=settings.job_lease_seconds, max_attempts=settings.job_max_attempts,
                      scheduler=scheduler, metrics=metrics, single_fifo=settings.worker_lanes == "single_fifo")
    runner: JobRunner = WorkerProcess(settings) if settings.worker_mode == "process" else workers
    # With the workers in a child process, their counters come over its health pipe.
    remote_samples = runner.metric_samples if isinstance(runner, WorkerProcess) else list
    store.on_commit(runner.wake)
    bolt = App(
        client=web_client if settings.slack_mode is SlackMode.ENV else None,
        # OAuth mode: each request's workspace from the directory (its token decrypted once, cached with
        # the workspace), never an auth.test per request.
        authorize=_authorize(workspaces) if settings.slack_mode is SlackMode.OAUTH else None,
        oauth_flow=oauth_flow,
        # In HTTP mode `bot/web.py` verifies every request's signature before Bolt parses it; Socket
        # Mode needs none. Verifying again in Bolt would cost each request a second HMAC.
        signing_secret="verified-by-the-http-edge",
        request_verification_enabled=False,
        token_verification_enabled=False,
        # A listener runs in the request's own thread and its ack goes out as it returns; what comes
        # after the ack is a job (`bot/services/replies.py`). With this off, Bolt would run every
        # listener in a thread of its own and poll for the ack every 10 ms.
        process_before_response=True,
    )
    handlers.register(bolt, workspaces.services_for)
    webhooks = WebhookReceiver(store, settings.stripe_webhook_secret.get_secret_value(), metrics=metrics)
    socket_mode_lease = (InstanceLease(store.leases, SOCKET_MODE, refusal=socket_mode_refusal)
                         if settings.socket_mode else None)
    return Bot(settings, store, workspaces, workers, runner, bolt, webhooks, metrics, remote_samples,
               socket_mode_lease=socket_mode_lease, secret_box=box)

"""The tenant directory on each database: installs, reinstalls, uninstalls, Stripe connections,
one-shot states and links."""

from __future__ import annotations

from bot.domain.tenants import DEFAULT_TENANT, StripeConnection, TenantSettings
from bot.jobs.payloads import RefreshMessage
from bot.store.ports import Store
from tests.contract.conftest import FakeClock


def install(store: Store, team_id: str = "T1", name: str = "Alpha") -> str:
    tenant = store.directory.save_installation(
        team_id=team_id, enterprise_id=None, team_name=name, app_id="A1", bot_user_id="UBOT", bot_id="BBOT",
        bot_scopes="chat:write,commands", installer_user_id="UADMIN",
        seal_token=lambda tenant_id: f"sealed:{tenant_id}")
    return tenant.id


def connection(tenant_id: str, key: str = "sealed-key") -> StripeConnection:
    return StripeConnection(tenant_id, "acct_1", "Acme", False, key, "we_1", "sealed-secret", "UADMIN", 1.0)


def test_the_default_tenant_exists_for_a_deployment_from_the_environment(store: Store) -> None:
    default = store.directory.get(DEFAULT_TENANT)
    assert default is not None and default.active and default.public_id == DEFAULT_TENANT
    assert store.directory.active() == [DEFAULT_TENANT]


def test_an_install_makes_a_tenant_and_a_reinstall_keeps_it(store: Store) -> None:
    first = install(store)
    tenant = store.directory.by_team("T1")
    assert tenant is not None and tenant.id == first and tenant.team_name == "Alpha" and tenant.active
    assert len(tenant.public_id) >= 20 and tenant.public_id != "T1"
    installation = store.directory.installation(first)
    assert installation is not None and installation.bot_token == f"sealed:{first}"  # sealed for its own tenant
    assert "sealed" not in repr(installation).replace("<sealed>", "")
    assert install(store, name="Alpha Renamed") == first
    assert (store.directory.get(first) or tenant).team_name == "Alpha Renamed"
    assert install(store, "T2", "Beta") != first
    assert sorted(store.directory.active()) == sorted([DEFAULT_TENANT, first, store.directory.by_team("T2").id])  # type: ignore[union-attr]


def test_an_uninstall_erases_secrets_drops_pending_jobs_and_keeps_the_data(store: Store) -> None:
    tenant_id = install(store)
    store.directory.save_stripe(connection(tenant_id))
    with store.unit_of_work(tenant_id) as uow:
        uow.jobs.add(RefreshMessage(invoice_id="in_1"), "refresh:1")
        uow.customers.save("cus_1", "a@example.com", "A")
        uow.commit()
    with store.unit_of_work(DEFAULT_TENANT) as uow:
        uow.jobs.add(RefreshMessage(invoice_id="in_1"), "refresh:1")
        uow.commit()
    gone = store.directory.uninstall(tenant_id)
    assert gone is not None and gone.webhook_endpoint_id == "we_1"
    assert store.directory.installation(tenant_id) is None and store.directory.stripe(tenant_id) is None
    assert not (store.directory.get(tenant_id) or connection).active  # type: ignore[union-attr]
    assert tenant_id not in store.directory.active()
    assert store.queue.stats().counts == {"pending": 1}  # the other tenant's job stays
    assert store.reads(tenant_id).customers.get("cus_1") is not None
    assert store.directory.uninstall(tenant_id) is None  # repeated (both events arrive): nothing more
    assert install(store) == tenant_id and (store.directory.get(tenant_id) or connection).active  # type: ignore[union-attr]
    assert store.directory.stripe(tenant_id) is None  # a reinstall starts without the old Stripe secrets


def test_a_stripe_connection_is_replaced_paused_once_and_removed(store: Store) -> None:
    tenant_id = install(store)
    store.directory.save_stripe(connection(tenant_id, "old"))
    store.directory.save_stripe(connection(tenant_id, "new"))
    assert (store.directory.stripe(tenant_id) or connection("")).api_key == "new"
    assert store.directory.pause_stripe(tenant_id) is True
    assert store.directory.pause_stripe(tenant_id) is False
    assert (store.directory.stripe(tenant_id) or connection("")).paused_at is not None
    store.directory.save_stripe(connection(tenant_id, "reconnected"))
    assert (store.directory.stripe(tenant_id) or connection("")).paused_at is None
    assert store.directory.remove_stripe(tenant_id) is not None and store.directory.stripe(tenant_id) is None


def test_an_oauth_state_is_taken_once_and_never_after_it_expires(store: Store, clock: FakeClock) -> None:
    store.directory.add_state("s1", clock() + 600)
    assert store.directory.take_state("s1") is True
    assert store.directory.take_state("s1") is False  # replayed
    assert store.directory.take_state("forged") is False
    store.directory.add_state("s2", clock() + 600)
    clock.advance(601)
    assert store.directory.take_state("s2") is False


def test_a_link_is_spent_once_and_not_after_it_expires(store: Store, clock: FakeClock) -> None:
    tenant_id = install(store)
    store.directory.add_link("h1", tenant_id, "UADMIN", "connect_stripe", clock() + 600)
    link = store.directory.link("h1")
    assert link is not None and link.user_id == "UADMIN" and link.used_at is None
    assert store.directory.use_link("h1") is True and store.directory.use_link("h1") is False
    assert (store.directory.link("h1") or link).used_at is not None
    store.directory.add_link("h2", tenant_id, "UADMIN", "connect_stripe", clock() + 600)
    clock.advance(601)
    assert store.directory.use_link("h2") is False


def test_settings_are_kept_per_tenant(store: Store) -> None:
    tenant_id = install(store)
    store.directory.save_settings(tenant_id, TenantSettings("CPAY", ("UADMIN",), ("U1", "U2"), ()))
    assert (store.directory.get(tenant_id) or connection).settings.creators == ("U1", "U2")  # type: ignore[union-attr]
    assert (store.directory.get(DEFAULT_TENANT) or connection).settings == TenantSettings()  # type: ignore[union-attr]


def test_sealed_values_can_be_listed_and_resealed_unless_changed_meanwhile(store: Store) -> None:
    tenant_id = install(store)
    store.directory.save_stripe(connection(tenant_id))
    sealed = {(table, column): value for table, column, _, tenant, value in store.directory.sealed()
              if tenant == tenant_id}
    assert sealed == {("installations", "bot_token"): f"sealed:{tenant_id}",
                      ("stripe_connections", "api_key"): "sealed-key",
                      ("stripe_connections", "webhook_secret"): "sealed-secret"}
    assert store.directory.reseal("stripe_connections", "api_key", tenant_id, "sealed-key", "resealed") is True
    assert store.directory.reseal("stripe_connections", "api_key", tenant_id, "sealed-key", "again") is False

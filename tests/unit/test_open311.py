"""Open311 operations in the domain: what a race between two POSTs of one external id does."""

from __future__ import annotations

from patrol.api_clients import ApiClientService
from patrol.incidents import IncidentService, NewIncident
from patrol.open311 import Open311Service
from patrol.roles import Principal
from store import open_store
from store.rows import IncidentQuery

P = (30.7552, 120.7601)


def test_a_post_that_loses_the_race_for_its_external_id_answers_with_the_winner(district_sqlite_url):
    store = open_store(district_sqlite_url)
    store.migrate()
    incidents = IncidentService(store)
    clients = ApiClientService(store)
    clients.create(None, "hotline", "command_center")
    client = clients.authenticate(clients.create(None, "hotline2", "command_center")[1])
    svc = Open311Service(incidents, clients)
    winner: list[str] = []
    real_list, real_count, real_known = (
        store.list_incidents,
        store.count_incidents,
        store.existing_external_ids,
    )

    def meanwhile() -> None:  # the other POST commits while this one is between two reads
        if not winner:
            made = incidents.report(
                Principal("api:hotline", "command_center"),
                NewIncident("STREET_VENDING", *P, external_id="RX-RACE"),
            )
            winner.append(made.incident.id)

    def list_then_commit(query: IncidentQuery):  # type: ignore[no-untyped-def]
        before = real_list(query)
        if query.external_ids:
            meanwhile()
        return before

    def count_then_commit(query: IncidentQuery) -> int:
        before = real_count(query)
        if query.external_ids:
            meanwhile()
        return before

    def known_then_commit(district_code: str, ids: list[str]) -> set[str]:
        before = real_known(district_code, ids)
        meanwhile()
        return before

    store.list_incidents = list_then_commit  # type: ignore[method-assign]
    store.count_incidents = count_then_commit  # type: ignore[method-assign]
    store.existing_external_ids = known_then_commit  # type: ignore[method-assign]
    created = svc.create(
        client,
        {"service_code": "STREET_VENDING", "lat": str(P[0]), "long": str(P[1]), "external_id": "RX-RACE"},
    )
    assert (created.incident.id, created.new) == (winner[0], False)
    assert real_count(IncidentQuery(external_ids=("RX-RACE",))) == 1
    store.close()

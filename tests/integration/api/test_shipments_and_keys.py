"""Shipments are versioned (every change a new version, the current one queryable) and API keys
are stored only as hashes, on SQLite and on PostgreSQL."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select, text

from api.db import write_transaction
from api.keys import api_key_for, create_api_key, create_organisation, revoke_api_key
from api.models import ApiKey
from api.shipments import (
    ShipmentExists,
    current_shipment,
    save_shipment,
    set_status,
    shipment_versions,
    shipments_current,
)
from detectors.profiles import ManifestError

pytestmark = pytest.mark.integration

MANIFEST = {
    "shipment_id": "SHP-0001",
    "device_id": "trk-00001",
    "profile": "vaccine_2_8",
    "temp_range_c": [2.0, 8.0],
    "departure": "2026-11-22T06:00:00Z",
    "route": {"type": "LineString", "coordinates": [[39.66, -4.04], [34.27, 0.63], [32.58, 0.31]]},
    "authorised_stops": [{"name": "Malaba border", "lon": 34.27, "lat": 0.63, "radius_m": 500}],
}


@pytest.fixture
def org(sessions):
    with write_transaction(sessions) as session:
        return create_organisation(session, "Acme Cold Chain").id


def test_a_new_shipment_is_version_1_and_current(sessions, org):
    with write_transaction(sessions) as session:
        saved = save_shipment(session, org, MANIFEST, actor="ops@acme")
    assert (saved.version, saved.status, saved.device_id, saved.manifest) == (
        1,
        "planned",
        "trk-00001",
        MANIFEST,
    )
    with sessions() as session:
        assert current_shipment(session, org, "SHP-0001").manifest == MANIFEST


def test_every_change_is_a_new_version_and_the_old_ones_stay_as_they_were(sessions, org):
    rerouted = {**MANIFEST, "corridor_m": 5000}
    with write_transaction(sessions) as session:
        save_shipment(session, org, MANIFEST, actor="ops@acme")
        save_shipment(session, org, rerouted, actor="planner@acme")
        set_status(session, org, "SHP-0001", "in_transit", actor="gate@acme")
    with sessions() as session:
        versions = shipment_versions(session, org, "SHP-0001")
        assert [(v.version, v.status, v.actor, v.manifest.get("corridor_m")) for v in versions] == [
            (1, "planned", "ops@acme", None),
            (2, "planned", "planner@acme", 5000),
            (3, "in_transit", "gate@acme", 5000),
        ]
        assert current_shipment(session, org, "SHP-0001").version == 3
        assert [v.version for v in shipments_current(session, org, status="in_transit")] == [3]
        assert shipments_current(session, org, status="planned") == []


def test_saving_an_unchanged_shipment_adds_no_version(sessions, org):
    with write_transaction(sessions) as session:
        save_shipment(session, org, MANIFEST, actor="ops@acme")
        again = save_shipment(session, org, dict(MANIFEST), actor="someone@acme")
    assert (again.version, again.actor) == (1, "ops@acme")


def test_two_organisations_may_use_the_same_shipment_id(sessions, org):
    with write_transaction(sessions) as session:
        other = create_organisation(session, "Other Freight").id
        save_shipment(session, org, MANIFEST, actor="a")
        save_shipment(session, other, {**MANIFEST, "device_id": "trk-9"}, actor="b")
    with sessions() as session:
        assert current_shipment(session, other, "SHP-0001").device_id == "trk-9"
        assert current_shipment(session, org, "SHP-0001").device_id == "trk-00001"
        assert len(shipments_current(session)) == 2


@pytest.mark.parametrize(
    "manifest, status, error",
    [
        pytest.param(
            {**MANIFEST, "temp_rnage_c": [1, 2]},
            "planned",
            ManifestError,
            id="a manifest with an unknown key is refused",
        ),
        pytest.param(
            {**MANIFEST, "profile": "lukewarm"},
            "planned",
            ManifestError,
            id="a manifest with an unknown profile is refused",
        ),
        pytest.param(MANIFEST, "lost", ValueError, id="an unknown status is refused"),
    ],
)
def test_a_shipment_the_detectors_could_not_use_is_refused_and_nothing_is_stored(
    sessions, org, manifest, status, error
):
    with pytest.raises(error), write_transaction(sessions) as session:
        save_shipment(session, org, manifest, actor="ops", status=status)
    with sessions() as session:
        assert shipments_current(session) == []


def test_concurrent_changes_to_one_shipment_get_distinct_versions(sessions, org):
    with write_transaction(sessions) as session:
        save_shipment(session, org, MANIFEST, actor="ops")
    barrier = threading.Barrier(4)

    def change(n):
        barrier.wait()
        with write_transaction(sessions) as session:
            return save_shipment(
                session, org, {**MANIFEST, "corridor_m": 1000 + n}, actor=f"user{n}"
            ).version

    with ThreadPoolExecutor(4) as pool:
        versions = sorted(pool.map(change, range(4)))
    assert versions == [2, 3, 4, 5]


def test_of_creations_racing_for_one_id_exactly_one_wins_and_the_rest_are_told(sessions, org):
    barrier = threading.Barrier(4)

    def create(n):
        barrier.wait()
        try:
            with write_transaction(sessions) as session:
                save_shipment(
                    session, org, {**MANIFEST, "corridor_m": 1000 + n}, actor=f"u{n}", new=True
                )
        except ShipmentExists:
            return "exists"
        return "created"

    with ThreadPoolExecutor(4) as pool:
        outcomes = sorted(pool.map(create, range(4)))
    assert outcomes == ["created", "exists", "exists", "exists"]
    with sessions() as session:
        assert [v.version for v in shipment_versions(session, org, "SHP-0001")] == [1]


def test_a_created_key_identifies_its_organisation_and_role_and_only_its_hash_is_stored(
    sessions, org
):
    with write_transaction(sessions) as session:
        row, key = create_api_key(session, org, "customs", "risk unit laptop")
    assert key.startswith(f"cw_{row.prefix}_") and len(key) > 40
    with sessions() as session:
        found = api_key_for(session, key)
        assert (found.organisation_id, found.role, found.name) == (
            org,
            "customs",
            "risk unit laptop",
        )
        stored = session.execute(text("SELECT * FROM api_keys")).mappings().one()
        assert key not in [str(v) for v in stored.values()]


@pytest.mark.parametrize(
    "mangle",
    [
        pytest.param(
            lambda key: key[:-1] + ("A" if key[-1] != "A" else "B"),
            id="a key with one character changed is refused",
        ),
        pytest.param(
            lambda key: key.replace("cw_", "xx_", 1), id="a key with the wrong scheme is refused"
        ),
        pytest.param(lambda key: "", id="an empty key is refused"),
        pytest.param(
            lambda key: key.split("_")[0] + "_" + key.split("_")[1],
            id="a key's public prefix alone is refused",
        ),
    ],
)
def test_a_wrong_key_identifies_nobody(sessions, org, mangle):
    with write_transaction(sessions) as session:
        _, key = create_api_key(session, org, "viewer", "x")
    with sessions() as session:
        assert api_key_for(session, mangle(key)) is None


def test_a_revoked_key_identifies_nobody(sessions, org):
    with write_transaction(sessions) as session:
        row, key = create_api_key(session, org, "operator", "old laptop")
        assert revoke_api_key(session, row.prefix)
        assert not revoke_api_key(session, row.prefix)
    with sessions() as session:
        assert api_key_for(session, key) is None
        assert session.scalars(select(ApiKey)).one().revoked_at is not None


def test_a_key_needs_a_known_role(sessions, org):
    with (
        pytest.raises(ValueError, match="role must be one of"),
        write_transaction(sessions) as session,
    ):
        create_api_key(session, org, "superuser", "x")

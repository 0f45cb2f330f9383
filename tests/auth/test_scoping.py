"""Unit scoping: a unit_viewer sees its unit's properties and leases only, enforced in the queries; another
unit's object answers exactly like a missing one (404, same message)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from accounts.access import NO_UNIT, UnitScope
from core.errors import NotFound
from core.models import Unit
from fleet.models import Trip, Vehicle
from property.models import Lease, OfficeProperty, OperatingProperty
from tests.conftest import ClientAs
from tests.factories import make_trip, make_vehicle

API = "/api/v1"


@pytest.fixture
def county(session: Session, unit_a: Unit, unit_b: Unit) -> None:
    for unit, prefix in ((unit_a, "A"), (unit_b, "B")):
        for n in (1, 2):
            session.add(OfficeProperty(code=f"BG-{prefix}{n}", name=f"{unit.name}办公楼{n}", unit_id=unit.id))
        shop = OperatingProperty(code=f"MF-{prefix}1", address=f"{unit.name}街1号", owner_unit_id=unit.id)
        session.add(shop)
        session.flush()
        assert shop.id is not None
        session.add(
            Lease(
                property_id=shop.id, tenant=f"{prefix}商户", annual_rent_fen=1_200_000,
                start_on=date(2024, 1, 1), end_on=date(2026, 12, 31),
            )
        )  # fmt: skip
    session.flush()


@pytest.fixture
def viewer(client_as: ClientAs, unit_a: Unit) -> TestClient:
    return client_as("unit_viewer", unit_id=unit_a.id)


def codes(response: object) -> list[str]:
    body = response.json()  # type: ignore[attr-defined]
    return sorted(item["code"] for item in body["data"])


@pytest.mark.usefixtures("county")
def test_viewer_lists_only_its_units_properties(viewer: TestClient, client: TestClient, unit_b: Unit) -> None:
    r = viewer.get(f"{API}/office-properties")
    assert codes(r) == ["BG-A1", "BG-A2"] and r.json()["count"] == 2
    assert codes(viewer.get(f"{API}/operating-properties")) == ["MF-A1"]
    # asking for the other unit gives nothing, not the other unit's rows
    assert viewer.get(f"{API}/office-properties", params={"unit_id": unit_b.id}).json() == {
        "data": [],
        "count": 0,
    }
    assert codes(viewer.get(f"{API}/operating-properties", params={"owner_unit_id": unit_b.id})) == []
    assert codes(viewer.get(f"{API}/office-properties", params={"q": "BG-B"})) == []
    # the admin sees the county
    assert codes(client.get(f"{API}/office-properties")) == ["BG-A1", "BG-A2", "BG-B1", "BG-B2"]


@pytest.mark.usefixtures("county")
def test_another_units_property_is_404_like_a_missing_one(viewer: TestClient) -> None:
    assert viewer.get(f"{API}/office-properties/BG-A1").status_code == 200
    other, missing = viewer.get(f"{API}/office-properties/BG-B1"), viewer.get(f"{API}/office-properties/NOPE")
    assert other.status_code == missing.status_code == 404
    assert other.json()["detail"] == missing.json()["detail"].replace("NOPE", "BG-B1")
    other, missing = (
        viewer.get(f"{API}/operating-properties/MF-B1"),
        viewer.get(f"{API}/operating-properties/X"),
    )
    assert other.status_code == missing.status_code == 404
    assert other.json()["detail"] == missing.json()["detail"].replace("X", "MF-B1")
    assert viewer.get(f"{API}/operating-properties/MF-A1").status_code == 200


@pytest.mark.usefixtures("county")
def test_viewer_sees_only_leases_of_its_units_property(viewer: TestClient, client: TestClient) -> None:
    tenants = [x["tenant"] for x in viewer.get(f"{API}/leases").json()["data"]]
    assert tenants == ["A商户"]
    assert viewer.get(f"{API}/leases", params={"code": "MF-B1"}).json()["count"] == 0
    assert client.get(f"{API}/leases").json()["count"] == 2


@pytest.mark.usefixtures("county")
def test_viewer_has_no_county_wide_or_write_access(viewer: TestClient) -> None:
    for path in (
        "/reports/certificates",
        "/reports/rent-roll",
        "/auction-batches",
        "/property-alerts",
        "/runs",
    ):
        assert viewer.get(API + path).status_code == 403, path
    r = viewer.put(f"{API}/office-properties/BG-A1/checklist/survey", json={"on": "2024-01-02"})
    assert r.status_code == 403


def test_unit_scope_helper_filters_directly_and_through_a_parent(
    session: Session, unit_a: Unit, unit_b: Unit
) -> None:
    """What fleet and ingest routes use: `scope.apply(stmt, Model.unit_id)` or, through the vehicle,
    `scope.apply(stmt, Trip.vehicle_id, via=(Vehicle.id, Vehicle.unit_id))`."""
    va, vb = make_vehicle(session, unit_a), make_vehicle(session, unit_b)
    start = datetime(2024, 6, 1, 1, 0, tzinfo=UTC)
    ta, tb = make_trip(session, va, start), make_trip(session, vb, start)
    via = (Vehicle.id, Vehicle.unit_id)
    scope_a, county = UnitScope(unit_a.id), UnitScope(None)

    def trips(scope: UnitScope) -> set[int | None]:
        return {t.id for t in session.exec(scope.apply(select(Trip), Trip.vehicle_id, via=via)).all()}

    assert trips(scope_a) == {ta.id}
    assert trips(county) >= {ta.id, tb.id}
    assert trips(UnitScope(NO_UNIT)) == set()
    assert {v.id for v in session.exec(scope_a.apply(select(Vehicle), Vehicle.unit_id)).all()} == {va.id}
    assert scope_a.get(session, Trip, ta.id, Trip.vehicle_id, via=via, missing="x").id == ta.id
    with pytest.raises(NotFound, match="trip 7 not found"):
        scope_a.get(session, Trip, tb.id, Trip.vehicle_id, via=via, missing="trip 7 not found")
    with pytest.raises(NotFound):
        scope_a.ensure(vb.unit_id, "vehicle not found")
    scope_a.ensure(va.unit_id, "vehicle not found")
    assert county.allows(vb.unit_id) and not scope_a.allows(vb.unit_id)

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.factories import make_unit, make_vehicle


def test_health_and_openapi(client: TestClient) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    spec = client.get("/openapi.json").json()
    assert "/api/v1/vehicles" in spec["paths"]
    assert client.get("/docs").status_code == 200


def test_list_filter_and_paginate_vehicles(client: TestClient, session: Session) -> None:
    unit = make_unit(session, name="城关镇", kind="township")
    other = make_unit(session)
    for _ in range(3):
        make_vehicle(session, unit)
    make_vehicle(session, other)
    body = client.get("/api/v1/vehicles", params={"unit_id": unit.id, "limit": 2}).json()
    assert body["count"] == 3
    assert len(body["data"]) == 2
    assert all(v["unit_id"] == unit.id for v in body["data"])
    rest = client.get("/api/v1/vehicles", params={"unit_id": unit.id, "limit": 2, "offset": 2}).json()
    assert len(rest["data"]) == 1


def test_missing_object_is_404_with_detail(client: TestClient) -> None:
    response = client.get("/api/v1/vehicles/999999")
    assert response.status_code == 404
    assert "not found" in response.json()["detail"]

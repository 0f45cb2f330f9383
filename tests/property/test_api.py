from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from property import service
from tests.property.audit_data import BATCH, TODAY, import_register

API = "/api/v1"
ASOF = {"date": TODAY.isoformat()}


@pytest.fixture
def audit_api(client: TestClient, session: Session) -> TestClient:
    import_register(session)
    return client


def get(client: TestClient, path: str, **params: Any) -> Any:
    response = client.get(API + path, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_reports_as_json(audit_api: TestClient) -> None:
    certificates = get(audit_api, "/reports/certificates", **ASOF)
    assert (certificates["properties"], certificates["surveyed"], certificates["certified"]) == (66, 66, 12)
    assert certificates["by_stage"]["surveyed"] == 34
    assert len(certificates["blocked"]) == 54

    auctions = get(audit_api, "/reports/auctions", batch=BATCH)
    [batch] = auctions["batches"]
    assert (batch["lots"], batch["sold"], batch["unsold"], batch["withdrawn"]) == (68, 61, 6, 1)
    assert batch["annual_rent_yuan"] == 649800 and isinstance(batch["annual_rent_yuan"], int)

    operating = get(audit_api, "/reports/operating", **ASOF)
    assert [(t["code"], t["due_on"]) for t in operating["overdue_takeovers"]] == [
        ("JY-03", "2023-12-31"),
        ("JY-04", "2023-12-31"),
    ]
    leases = get(audit_api, "/reports/leases", expiring_within=1, **ASOF)
    assert [(x["code"], x["days_left"], x["lease_end"]) for x in leases["leases"]] == [
        ("JY-06", 1, "2024-09-01")
    ]
    assert leases["annual_rent_yuan"] == 36000

    roll = get(audit_api, "/reports/rent-roll", year=2025)
    assert roll["rent_yuan"] == 649800
    assert audit_api.get(API + "/reports/auctions", params={"batch": "nope"}).status_code == 404


def test_office_properties_filter_and_paginate(audit_api: TestClient) -> None:
    body = get(audit_api, "/office-properties", blocker="missing_fire", limit=10)
    assert body["count"] == 44 and len(body["data"]) == 10
    assert all("missing_fire" in p["blockers"] for p in body["data"])
    rest = get(audit_api, "/office-properties", blocker="missing_fire", limit=10, offset=40)
    assert len(rest["data"]) == 4
    assert get(audit_api, "/office-properties", stage="certified")["count"] == 12
    one = get(audit_api, "/office-properties/BG-066")
    assert (one["stage"], one["blockers"], one["unit"]) == (
        "submitted",
        ["waiting_for_bureau"],
        "审计县教育局",
    )
    assert audit_api.get(API + "/office-properties/BG-999").status_code == 404


def test_record_steps_and_targets(audit_api: TestClient) -> None:
    url = API + "/office-properties/BG-047/checklist"
    refused = audit_api.put(
        f"{url}/certificate", json={"on": "2024-09-01", "certificate_no": "晋(2024)第1号"}
    )
    assert refused.status_code == 422
    assert "消防验收" in refused.json()["detail"]
    done = audit_api.put(f"{url}/fire", json={"on": "2024-08-20", "doc": "消验字[2024]12号"})
    assert done.status_code == 200, done.text
    assert done.json()["blockers"] == ["not_submitted"] and done.json()["fire_doc"] == "消验字[2024]12号"
    assert audit_api.put(f"{url}/paint", json={"on": "2024-08-20"}).status_code == 422

    target = {"step": "seismic", "due_on": "2025-02-28", "note": "全部抗震检测"}
    assert audit_api.put(API + "/certificate-targets", json=target).status_code == 200
    assert get(audit_api, "/certificate-targets") == [
        {"step": "seismic", "code": None, "due_on": "2025-02-28", "note": "全部抗震检测"}
    ]
    overdue = get(audit_api, "/office-properties", overdue=True, date="2025-03-01")
    assert overdue["count"] == 34
    assert overdue["data"][0]["overdue"][0]["step"] == "seismic"
    assert audit_api.delete(API + "/certificate-targets/seismic").status_code == 204
    assert audit_api.delete(API + "/certificate-targets/seismic").status_code == 404


def test_operating_properties_filters(audit_api: TestClient) -> None:
    overdue = get(audit_api, "/operating-properties", takeover_overdue=True, **ASOF)
    assert [p["code"] for p in overdue["data"]] == ["JY-03", "JY-04"]
    assert all(p["takeover_overdue"] and p["vacant"] for p in overdue["data"])
    assert get(audit_api, "/operating-properties", vacant=True, **ASOF)["count"] == 11
    one = get(audit_api, "/operating-properties/MF-001", **ASOF)
    assert (one["vacant"], one["owner_unit"]) == (False, "审计县财政局")


def test_create_lease(audit_api: TestClient) -> None:
    lease = {
        "code": "JY-02",
        "tenant": "某餐饮公司",
        "annual_rent_fen": 4_800_050,
        "start_on": "2024-09-01",
        "end_on": "2027-08-31",
        "deposit_fen": 400_000,
    }
    office = audit_api.post(API + "/leases", json={**lease, "code": "BG-001"})
    assert office.status_code == 422 and "第二十三条" in office.json()["detail"]
    over = audit_api.post(API + "/leases", json={**lease, "end_on": "2030-09-01"})
    assert over.status_code == 422 and "5 年" in over.json()["detail"]
    created = audit_api.post(API + "/leases", json=lease)
    assert created.status_code == 201, created.text
    assert created.json()["code"] == "JY-02" and created.json()["annual_rent_fen"] == 4_800_050
    assert audit_api.post(API + "/leases", json={**lease, "start_on": "2025-01-01"}).status_code == 409
    assert audit_api.post(API + "/leases", json={**lease, "code": "NOPE"}).status_code == 404

    ended = audit_api.post(f"{API}/leases/{created.json()['id']}/terminate", json={"on": "2025-08-31"})
    assert ended.json()["terminated_on"] == "2025-08-31"
    listed = get(audit_api, "/leases", code="JY-02")
    assert listed["count"] == 1
    assert get(audit_api, "/leases", expiring_within=1, **ASOF)["count"] == 1
    assert get(audit_api, "/leases", active=True, limit=5, **ASOF)["count"] == 62


def test_auction_batches_and_alerts(audit_api: TestClient, session: Session) -> None:
    update = {
        "held_on": "2024-02-20",
        "auction_house": "某拍卖有限公司",
        "legal_basis": "县政府常务会议纪要〔2024〕3号",
    }
    assert audit_api.put(f"{API}/auction-batches/{BATCH}", json=update).status_code == 200
    batch = get(audit_api, f"/auction-batches/{BATCH}")
    assert (batch["date"], batch["sold"], batch["annual_rent_yuan"]) == ("2024-02-20", 61, 649800)
    assert get(audit_api, "/auction-batches")["data"][0]["auction_house"] == "某拍卖有限公司"

    service.raise_property_alerts(session, TODAY)
    alerts = get(audit_api, "/property-alerts")
    assert alerts["count"] == 3
    assert {a["kind"] for a in alerts["data"]} == {"lease_ending_30", "takeover_overdue"}
    assert get(audit_api, "/property-alerts", kind="takeover_overdue")["count"] == 2


def test_reports_are_in_the_openapi(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for kind in ("certificates", "auctions", "operating", "leases", "rent-roll"):
        assert f"{API}/reports/{kind}" in paths
    assert f"{API}/office-properties/{{code}}/checklist/{{step}}" in paths

"""The audit log API: filters, pagination, CSV/XLSX export (itself audit-logged), for admin and auditor."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import Session, select

from core import audit
from core.models import AuditLog
from core.timeutil import utcnow
from tests.conftest import ClientAs

API = "/api/v1"


def seed(session: Session) -> None:
    audit.record(session, actor="clerk", action="lease.create", entity="property_lease", entity_id="7")
    audit.record(session, actor="manager", action="flag.review", entity="fleet_flag", entity_id="3",
                 before={"review_status": None}, after={"review_status": "explained"})  # fmt: skip
    audit.record(session, actor="manager", action="flag.review", entity="fleet_flag", entity_id="4",
                 detail="=HYPERLINK(\"http://evil\")")  # fmt: skip
    audit.record(session, actor="anonymous", action="login.failed", entity="core_user")
    session.flush()


def test_filters_and_pagination(client_as: ClientAs, session: Session) -> None:
    seed(session)
    auditor = client_as("auditor")
    body = auditor.get(f"{API}/audit", params={"actor": "manager"}).json()
    assert body["count"] == 2 and [e["entity_id"] for e in body["data"]] == ["4", "3"]  # newest first
    assert body["data"][1]["after"] == {"review_status": "explained"}
    assert auditor.get(f"{API}/audit", params={"action": "login."}).json()["count"] >= 1
    assert (
        auditor.get(f"{API}/audit", params={"action": "login"}).json()["count"] == 0
    )  # exact unless a family
    assert auditor.get(f"{API}/audit", params={"entity": "fleet_flag", "entity_id": "3"}).json()["count"] == 1
    page = auditor.get(f"{API}/audit", params={"actor": "manager", "limit": 1, "offset": 1}).json()
    assert page["count"] == 2 and page["data"][0]["entity_id"] == "3"
    future = (utcnow() + timedelta(hours=1)).isoformat()
    assert auditor.get(f"{API}/audit", params={"since": future}).json()["count"] == 0
    assert auditor.get(f"{API}/audit", params={"until": future, "actor": "clerk"}).json()["count"] == 1
    assert auditor.get(f"{API}/audit", params={"q": "HYPERLINK"}).json()["count"] == 1
    for role in ("vehicle_manager", "property_clerk", "unit_viewer"):
        assert client_as(role).get(f"{API}/audit").status_code == 403


def test_export_csv_and_xlsx(client: TestClient, session: Session) -> None:
    seed(session)
    r = client.get(f"{API}/audit/export", params={"format": "csv", "actor": "manager"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="audit-' in r.headers["content-disposition"]
    assert r.content.startswith("\ufeff".encode())  # Excel on Chinese Windows needs the BOM
    rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert rows[0] == ["id", "at", "actor", "action", "entity", "entity_id", "before", "after", "detail"]
    assert len(rows) == 3
    assert rows[1][8].startswith("'=")  # a formula typed into a field stays text
    x = client.get(f"{API}/audit/export", params={"format": "xlsx", "entity": "fleet_flag"})
    assert x.status_code == 200
    sheet = load_workbook(io.BytesIO(x.content)).active
    assert sheet is not None and sheet.max_row == 3
    assert client.get(f"{API}/audit/export", params={"format": "pdf"}).status_code == 422
    exports = session.exec(select(AuditLog).where(AuditLog.action == "audit.export")).all()
    assert [e.actor for e in exports] == ["test_admin", "test_admin"]

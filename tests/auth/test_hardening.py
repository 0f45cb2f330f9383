"""Smaller holes of the #18 probe: security headers on pages, request bodies with unknown fields refused,
`%` and `_` in search filters matched literally."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlmodel import Session

from tests.auth.conftest import add_user
from tests.factories import make_unit, make_vehicle

API = "/api/v1"


def test_pages_carry_a_content_security_policy_and_every_answer_nosniff(client: TestClient) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    api = client.get(f"{API}/me")
    for r in (page, api, client.get("/static/gongwu.css")):
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["referrer-policy"] == "same-origin"
    assert "content-security-policy" not in api.headers  # JSON is not a document
    docs = client.get("/docs")
    assert "script-src 'self' 'unsafe-inline'" in docs.headers["content-security-policy"]


def test_unknown_fields_in_a_body_are_refused(client: TestClient, session: Session) -> None:
    r = client.put(f"{API}/auction-batches/zz", json={"x": 1})
    assert r.status_code == 422 and "x" in r.text
    assert client.get(f"{API}/auction-batches/zz").status_code == 404  # no empty batch made
    add_user(session, "zhou", "auditor")
    typo = client.patch(f"{API}/users/zhou", json={"is_actve": False})
    assert typo.status_code == 422
    assert client.post(f"{API}/me/tokens", json={"name": "x", "expires": 3}).status_code == 422


def test_percent_and_underscore_in_filters_match_literally(client: TestClient, session: Session) -> None:
    unit = make_unit(session, name="测试镇")
    make_vehicle(session, unit, plate="晋M·A_001", tracker_id="T-1")
    make_vehicle(session, unit, plate="晋M·AB001", tracker_id="T-2")
    hits = client.get(f"{API}/vehicles", params={"plate": "A_0"}).json()
    assert [v["plate"] for v in hits["data"]] == ["晋M·A_001"]
    assert client.get(f"{API}/vehicles", params={"plate": "%"}).json()["count"] == 0
    add_user(session, "wu_1", "auditor")
    add_user(session, "wux1", "auditor")
    users = client.get(f"{API}/users", params={"q": "wu_"}).json()
    assert [u["username"] for u in users["data"]] == ["wu_1"]

"""Passwords and tokens never in clear: not in any table of the database, not in the logs, not in any
answer except the one-time display of a new token."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import Session, select

from accounts.models import User
from core.logs import KeyValueFormatter
from gongwu.models import metadata
from tests.conftest import ClientAs

API = "/api/v1"


def every_value(session: Session) -> list[str]:
    """Every cell of every table, as text."""
    out = []
    for table in metadata.sorted_tables:
        for row in session.execute(text(f"SELECT * FROM {table.name}")).all():
            out.extend(json.dumps(v, default=str, ensure_ascii=False) for v in row)
    return out


def test_no_password_or_token_in_clear(
    app: FastAPI, client: TestClient, client_as: ClientAs, session: Session, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("core", "gongwu", "fleet", "property", "ingest", "scheduler"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    secrets: dict[str, str] = {}

    first, second, third = "Initial-Passw0rd-x", "Second-Passw0rd-y", "Third-Passw0rd-z"
    secrets |= {"first": first, "second": second, "third": third}
    assert (
        client.post(
            f"{API}/users", json={"username": "chen", "password": first, "role": "auditor"}
        ).status_code
        == 201
    )
    anon = client_as(None)
    # failed sign-ins, with the password typed into the username field as people do
    anon.post(f"{API}/auth/token", json={"username": "chen", "password": "Wrong-" + first})
    anon.post(f"{API}/auth/token", json={"username": first, "password": first})
    issued = anon.post(f"{API}/auth/token", json={"username": "chen", "password": first}).json()
    secrets["issued"] = issued["access_token"]
    me = {"Authorization": f"Bearer {issued['access_token']}"}
    created = anon.post(f"{API}/me/tokens", json={"name": "export"}, headers=me).json()
    secrets["created"] = created["token"]
    r = anon.post(f"{API}/me/password", json={"current_password": first, "new_password": second}, headers=me)
    assert r.status_code == 204
    assert client.put(f"{API}/users/chen/password", json={"password": third}).status_code == 204
    # a web sign-in
    web = TestClient(app)
    page = web.get("/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf
    r = web.post(
        "/login",
        data={"username": "chen", "password": third, "csrf_token": csrf.group(1)},
        follow_redirects=False,
    )
    assert r.status_code == 303
    secrets["cookie"] = r.cookies["gongwu_session"]
    # answers after the one-time display carry neither
    answers: list[Any] = [
        anon.get(f"{API}/me", headers=me).text,
        anon.get(f"{API}/me/tokens", headers=me).text,
        client.get(f"{API}/users/chen").text,
        client.get(f"{API}/users/chen/tokens").text,
        client.get(f"{API}/audit", params={"limit": 1000}).text,
        client.get(f"{API}/audit/export", params={"format": "csv"}).text,
    ]
    session.flush()

    cells = every_value(session)
    logs = "\n".join(KeyValueFormatter().format(r) for r in caplog.records)
    assert "sign-in failed" in logs and "signed in" in logs  # the events are logged, the secrets are not
    for what, secret in secrets.items():
        assert not any(secret in c for c in cells), f"{what} in the database"
        assert secret not in logs, f"{what} in the logs"
        assert not any(secret in a for a in answers), f"{what} in an answer"
    user = session.exec(select(User).where(User.username == "chen")).one()
    assert user.password_hash.startswith("$argon2id$")

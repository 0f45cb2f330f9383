"""A small demo county (14 vehicles, 8 days) loaded once into a database of its own — imported as a clerk
would and reconciled by the real nightly run — with one signed-up user per role; and the helpers the page
tests share (sign-in through the login form, CJK detection)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine, make_url
from sqlmodel import Session, select

from accounts import service as auth
from accounts.models import UNIT_ROLES, User
from core.db import build_engine
from core.models import Unit
from core.settings import Settings
from gongwu import migrate
from gongwu.app import create_app

PASSWORD = "web-pages-password-1"
CJK = re.compile(r"[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]")
ROLE_USERS = {
    "admin": "web_admin",
    "vehicle_manager": "web_fleet",
    "property_clerk": "web_property",
    "unit_viewer": "web_unit",
    "unit_staff": "web_staff",
    "unit_approver": "web_approver",
    "driver": "web_driver",
    "auditor": "web_auditor",
}
DRIVER_NAME = "测试驾驶员"  # the driver record the driver user is linked to


@dataclass
class County:
    engine: Engine
    url: str
    unit_id: int  # the unit viewer's unit
    unit_name: str
    other_unit_id: int
    users: dict[str, str] = field(default_factory=dict)  # role -> username


@pytest.fixture(scope="session")
def county(db_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[County]:
    """The demo county in a fresh database (a SQLite file, or a throw-away PostgreSQL database)."""
    from core.timeutil import china_day, utcnow
    from gongwu.demo import import_files, write_files
    from gongwu.demo_data import build
    from scheduler.pipeline import run_nightly

    folder = tmp_path_factory.mktemp("county")
    url = make_url(db_url)
    admin: Engine | None = None
    name = ""
    if url.get_backend_name() == "postgresql":
        name = f"gongwu_web_{uuid.uuid4().hex[:10]}"
        admin = build_engine(url.set(database="postgres").render_as_string(hide_password=False))
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.exec_driver_sql(f'CREATE DATABASE "{name}"')
        county_url = url.set(database=name).render_as_string(hide_password=False)
    else:
        county_url = f"sqlite:///{folder / 'county.db'}"
    engine = build_engine(county_url)
    try:
        migrate.upgrade(engine)
        today = china_day(utcnow())
        demo = build(today, days=8, vehicles=14, seed=11)
        import_files(engine, write_files(demo, folder / "files"))
        outcome = run_nightly(engine, since=demo.days[0], until=today - timedelta(days=1))
        assert outcome.status == "succeeded", outcome.error
        with Session(engine) as s:
            units = {u.name: u for u in s.exec(select(Unit)).all()}
            # the unit viewer's unit and another: those of the two cars that never file an order (vehicles
            # 4 and 5 of the demo), so both have trips, flags and office properties
            mine, other = units[demo.units[4]["name"]], units[demo.units[5]["name"]]
            assert mine.id is not None and other.id is not None
            users = {}
            for role, username in ROLE_USERS.items():
                auth.create_user(
                    s, username=username, password=PASSWORD, role=role, actor="test",
                    unit_id=mine.id if role in UNIT_ROLES else None,
                )  # fmt: skip
                users[role] = username
            from fleet import service as fleet_service

            fleet_service.create_driver(s, name=DRIVER_NAME, unit_id=mine.id, actor="test")
            driver_user = s.exec(select(User).where(User.username == users["driver"])).one()
            fleet_service.link_driver(
                s, user_id=driver_user.id or 0, unit_id=mine.id, name=DRIVER_NAME, actor="test"
            )
            s.commit()
            found = County(engine, county_url, mine.id, mine.name, other.id, users)
        yield found
    finally:
        engine.dispose()
        if admin is not None:
            with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.dispose()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "no CSRF token in the page"
    return found.group(1)


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> str:
    """Sign in through the login form; returns the CSRF token the pages' forms carry."""
    page = client.get("/login")
    r = client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text), "next": "/"},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    home = client.get("/")
    assert home.status_code == 200, home.text
    return csrf_of(home.text)


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def county_app(county: County) -> FastAPI:
    return create_app(Settings(database_url=county.url), engine=county.engine)


@pytest.fixture(scope="module")
def clients(county_app: FastAPI, county: County) -> Iterator[dict[str, TestClient]]:
    """One signed-in browser-like client (session cookie) per role."""
    out = {}
    for role, username in county.users.items():
        c = TestClient(county_app)
        c.__enter__()
        sign_in(c, username)
        out[role] = c
    yield out
    for c in out.values():
        c.__exit__(None, None, None)

"""The morning digest (issue 24): after a nightly run with new flags, one digest per user with the right
counts, a unit's never counting another unit's; once per user and day; `gongwu notify digest --dry-run`
prints it and writes nothing."""

from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import timedelta

import pytest
from sqlmodel import Session, col, func, select
from typer.testing import CliRunner

from accounts import notify
from accounts.models import Notification, User
from core.timeutil import china_day, utcnow
from fleet.models import Flag
from gongwu import cli_db
from gongwu.cli import app
from scheduler.digest import run_digest
from tests.web.conftest import County


def _lines(sent: list, username: str) -> dict[str, int]:  # type: ignore[type-arg]
    for name, lines in sent:
        if name == username:
            return {f"{line.code}:{line.kind}" if line.kind else line.code: line.n for line in lines}
    return {}


def test_each_user_gets_what_needs_them_and_a_unit_only_its_own(county: County) -> None:
    today = china_day(utcnow())
    with Session(county.engine) as s:
        sent = [(u.username, lines) for u, lines in run_digest(s, today, dry_run=True)]
        since_open = select(Flag.kind, func.count()).where(Flag.state == "open").group_by(col(Flag.kind))
        county_open = dict(s.exec(since_open).all())
        unit_open = s.exec(
            select(func.count()).where(
                Flag.state == "open", Flag.kind == "unreported_trip", Flag.unit_id == county.unit_id
            )
        ).one()
        s.rollback()
    manager = _lines(sent, county.users["vehicle_manager"])
    assert manager["new_flag:unreported_trip"] == county_open["unreported_trip"]
    assert manager.get("new_flag:overspeed") == county_open.get("overspeed")
    kinds = [code for code in manager if code.startswith("new_flag:")]
    assert kinds.index("new_flag:overspeed") < kinds.index("new_flag:unreported_trip"), "high severity first"
    viewer = _lines(sent, county.users["unit_viewer"])
    assert viewer == {"to_answer": unit_open} and 0 < unit_open < county_open["unreported_trip"]
    clerk = _lines(sent, county.users["property_clerk"])
    assert clerk and all(not code.startswith("new_flag") for code in clerk), "the clerk hears of property"
    assert "new_flag:unreported_trip" not in _lines(sent, county.users["auditor"])


def test_the_digest_goes_to_the_inbox_once(session: Session, client_as: object) -> None:
    from tests.factories import make_trip, make_unit, make_vehicle

    town = make_unit(session, name="城关镇")
    car = make_vehicle(session, town)
    make_trip(session, car, utcnow() - timedelta(hours=20))
    from fleet import reconcile

    reconcile.reconcile_day(session, china_day(utcnow() - timedelta(hours=20)))
    client_as("vehicle_manager")  # type: ignore[operator]
    today = china_day(utcnow())
    first = run_digest(session, today)
    again = run_digest(session, today)
    assert len(first) == len(again) >= 1
    rows = session.exec(select(Notification).where(Notification.kind == "digest")).all()
    assert len(rows) == len(first), "once per user and day"
    title, body = notify.words("digest", rows[0].params)
    assert today.isoformat() in title and "新预警" in body


def test_notify_digest_dry_run_prints_and_writes_nothing(
    session: Session, client_as: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fleet import reconcile
    from tests.factories import make_trip, make_unit, make_vehicle

    town = make_unit(session, name="城关镇")
    make_trip(session, make_vehicle(session, town), utcnow() - timedelta(hours=20))
    reconcile.reconcile_day(session, china_day(utcnow() - timedelta(hours=20)))
    client_as("vehicle_manager")  # type: ignore[operator]
    manager = session.exec(select(User).where(User.role == "vehicle_manager")).one()
    monkeypatch.setattr(cli_db, "session", lambda: nullcontext(session))
    out = CliRunner().invoke(app, ["notify", "digest", "--dry-run", "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["dry_run"] and any(d["user"] == manager.username for d in data["digests"])
    assert session.exec(select(Notification).where(Notification.kind == "digest")).all() == []

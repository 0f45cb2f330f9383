"""The real nightly pipeline over a small demo county: a re-run of the same days changes nothing."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.models import AuditLog
from core.timeutil import china_day, utcnow
from fleet.models import Flag, Stop, Trip
from gongwu.demo import import_files, write_files
from gongwu.demo_data import build
from scheduler.pipeline import run_nightly


def snapshot(engine: Engine) -> dict[str, Any]:
    with Session(engine) as s:
        return {
            "trips": [t.model_dump() for t in s.exec(select(Trip).order_by(col(Trip.id))).all()],
            "stops": [t.model_dump() for t in s.exec(select(Stop).order_by(col(Stop.id))).all()],
            "flags": [
                f.model_dump(exclude={"detail"}) | {"detail": f.detail}
                for f in s.exec(select(Flag).order_by(col(Flag.id))).all()
            ],
            "audit": len(s.exec(select(AuditLog)).all()),
        }


def test_a_county_night_by_night_and_a_rerun_changes_nothing(fresh_engine: Engine, tmp_path: Path) -> None:
    today = china_day(utcnow())
    county = build(today, days=8, vehicles=14, seed=11)
    import_files(fresh_engine, write_files(county, tmp_path / "files"))
    first = run_nightly(fresh_engine, since=county.days[0], until=today - timedelta(days=1))
    assert first.status == "succeeded", first.error
    before = snapshot(fresh_engine)
    assert before["trips"] and before["flags"]
    kinds = {f["kind"] for f in before["flags"]}
    assert {"unreported_trip", "idle_vehicle"} <= kinds

    again = run_nightly(fresh_engine, since=county.days[0], until=today - timedelta(days=1))
    assert again.status == "succeeded", again.error
    assert snapshot(fresh_engine) == before

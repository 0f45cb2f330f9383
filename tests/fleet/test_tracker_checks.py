"""Tracker upkeep (#20): checks (检修) imported and recorded over the API, every tracker's next check due
six months (GONGWU_TRACKER_CHECK_MONTHS) after its last one or its car's acquisition, overdue first, with
its replacements and silence; a silent_tracker flag's page shows the last check."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from sqlmodel import Session, select

from core.timeutil import china_day, utcnow
from fleet import queries, rules
from fleet.models import Flag, TrackerCheck
from ingest.importer import run_import
from tests.conftest import ClientAs
from tests.factories import make_unit, make_vehicle

API = "/api/v1"


def test_months_and_states() -> None:
    assert rules.add_months(date(2024, 8, 31), 6) == date(2025, 2, 28)
    assert rules.check_due(date(2024, 1, 10), date(2020, 1, 1), 6) == date(2024, 7, 10)
    assert rules.check_due(None, date(2020, 1, 1), 6) == date(2020, 7, 1)
    assert rules.check_due(None, None, 6) is None
    today = date(2024, 7, 1)
    days = (None, date(2024, 6, 30), date(2024, 7, 20), date(2024, 9, 1))
    assert [rules.check_state(d, today) for d in days] == ["overdue", "overdue", "due", "ok"]


def test_checks_imported_and_the_report(session: Session, tmp_path: Path, client_as: ClientAs) -> None:
    unit = make_unit(session, name="城关镇")
    today = china_day(utcnow())
    fresh = make_vehicle(
        session, unit, plate="晋M·A0001", tracker_id="T1", acquired_on=today - timedelta(days=900)
    )
    stale = make_vehicle(
        session, unit, plate="晋M·A0002", tracker_id="T2", acquired_on=today - timedelta(days=900)
    )
    make_vehicle(session, unit, plate="晋M·A0003", tracker_id="T3", acquired_on=today - timedelta(days=30))
    f = tmp_path / "检修.csv"
    recent, old = today - timedelta(days=20), today - timedelta(days=300)
    f.write_text(
        "终端号,检修日期,检修结果,检修人,备注\n"
        f"T1,{old.isoformat()},更换,王工,旧终端进水\n"
        f"T1,{recent.isoformat()},正常,王工,\n"
        f"T2,{old.isoformat()},维修,李工,天线松动\n"
        f"T9,{recent.isoformat()},正常,李工,\n",
        encoding="utf-8",
    )
    bad = run_import(session, "tracker-checks", f)
    assert not bad.committed and [(e.line, e.header) for e in bad.errors] == [(5, "终端号")]
    ok = run_import(session, "tracker-checks", f, skip_bad=True, write_rejects=False)
    assert ok.committed and ok.inserted == 3
    assert run_import(session, "tracker-checks", f, skip_bad=True, write_rejects=False).inserted == 0  # again
    results_only = tmp_path / "结果.csv"
    results_only.write_text(f"终端号,检修日期,检修结果\nT1,{old.isoformat()},更换\n", encoding="utf-8")
    assert run_import(session, "tracker-checks", results_only).committed
    kept = session.exec(select(TrackerCheck).where(TrackerCheck.device_id == "T1")).all()
    assert {c.note for c in kept} == {"旧终端进水", ""}  # a sheet without the column leaves the note
    rows = {r["plate"]: r for r in queries.tracker_report(session, today)}
    assert rows[stale.plate]["state"] == "overdue" and rows[stale.plate]["last_check_result"] == "repaired"
    assert rows[fresh.plate]["state"] == "ok" and rows[fresh.plate]["due_on"] == rules.add_months(recent, 6)
    assert rows[fresh.plate]["replaced_on"] == [old]
    assert rows["晋M·A0003"]["state"] == "ok"  # installed a month ago
    assert queries.tracker_report(session, today)[0]["plate"] == stale.plate  # overdue first

    manager = client_as("vehicle_manager")
    made = manager.post(
        f"{API}/tracker-checks",
        json={"device_id": "T2", "checked_on": today.isoformat(), "result": "正常", "checked_by": "李工"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["result"] == "normal"
    unknown = manager.post(
        f"{API}/tracker-checks", json={"device_id": "T9", "checked_on": today.isoformat(), "result": "正常"}
    )
    assert unknown.status_code == 422 and "T9" in unknown.json()["detail"]
    report = {r["plate"]: r for r in manager.get(f"{API}/reports/trackers").json()}
    assert report[stale.plate]["state"] == "ok"
    assert len(manager.get(f"{API}/tracker-checks", params={"device_id": "T1"}).json()) == 2
    assert client_as("unit_viewer", unit_id=unit.id).get(f"{API}/reports/trackers").status_code == 403

    # a silent tracker's flag page shows its last check
    flag = Flag(kind="silent_tracker", key=f"{stale.id}:1", vehicle_id=stale.id or 0, unit_id=unit.id or 0,
                start_at=utcnow() - timedelta(days=3), detail={})  # fmt: skip
    session.add(flag)
    session.flush()
    page = manager.get(f"/flags/{flag.id}")
    assert page.status_code == 200 and "最近检修" in page.text and "李工" in page.text
    assert session.exec(select(TrackerCheck).where(TrackerCheck.device_id == "T2")).all()

"""Running costs against their paper and the tracks (issue 25, first part): fill-ups and workshop bills come
in as files; the nightly run flags a bill without a reason, or of ¥2,000 or more without a contract or
invoice (cost_without_evidence), and a fill-up on a day the car made no trip, or of more than its tank
holds (fuel_anomaly) — resolved when the paper or the explanation comes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

from sqlmodel import Session, col, select

from fleet import reconcile
from fleet.models import Flag, FuelFill, Maintenance, Place
from fleet.trips import name_stops
from scheduler.imports import import_file
from tests.factories import make_trip, make_unit, make_vehicle

WEDNESDAY = date(2024, 9, 18)


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _flags(session: Session, kind: str) -> list[Flag]:
    return list(session.exec(select(Flag).where(Flag.kind == kind).order_by(col(Flag.id))).all())


def test_a_bill_without_paper_or_reason_is_flagged_and_resolves_when_it_comes(
    session: Session, tmp_path: Path
) -> None:
    unit = make_unit(session, name="县财政局")
    make_vehicle(session, unit, plate="晋M·A0100")
    bills = _file(tmp_path, "维修.csv", (
        "车牌号,日期,维修单位,类别,金额,事由,合同或发票号\n"
        "晋M·A0100,2024-09-18,县定点维修厂,维修,5000,更换变速箱,\n"     # ¥5,000, no invoice
        "晋M·A0100,2024-09-18,洗车店,其他,80,,\n"                        # no reason
        "晋M·A0100,2024-09-18,县定点维修厂,保养,600,常规保养,\n"          # under the threshold: fine
    ))  # fmt: skip
    report = import_file(session, "maintenance", bills)
    assert report.committed and report.inserted == 3, report.errors
    reconcile.reconcile_day(session, WEDNESDAY)
    flagged = {f.detail["amount_yuan"]: f.detail["missing"] for f in _flags(session, "cost_without_evidence")}
    assert flagged == {"5000.00": ["document"], "80.00": ["reason"]}
    # the invoice number arrives in a corrected file: that flag resolves, the other stays
    fixed = _file(tmp_path, "维修2.csv", (
        "车牌号,日期,维修单位,类别,金额,事由,合同或发票号\n"
        "晋M·A0100,2024-09-18,县定点维修厂,维修,5000,更换变速箱,FP-2024-0918\n"
    ))  # fmt: skip
    assert import_file(session, "maintenance", fixed).updated == 1
    reconcile.reconcile_day(session, WEDNESDAY)
    states = {f.detail["amount_yuan"]: f.state for f in _flags(session, "cost_without_evidence")}
    assert states == {"5000.00": "resolved", "80.00": "open"}
    assert len(session.exec(select(Maintenance)).all()) == 3


def test_fill_ups_on_a_day_without_trips_or_over_the_tank(session: Session, tmp_path: Path) -> None:
    unit = make_unit(session, name="城关镇")
    idle = make_vehicle(session, unit, plate="晋M·A0201")
    busy = make_vehicle(session, unit, plate="晋M·A0202")
    busy.tank_l = 60
    session.add(busy)
    make_trip(session, busy, datetime(2024, 9, 18, 1, tzinfo=UTC))  # 09:00 China: busy drove that day
    fills = _file(tmp_path, "加油.csv", (
        "车牌号,加油时间,升数,金额,油卡号,加油站\n"
        "晋M·A0201,2024-09-18 10:00,40,320,YK001,中石化城关站\n"   # a car that did not move
        "晋M·A0202,2024-09-18 11:00,90,720,YK002,中石化城关站\n"   # 90 L into a 60 L tank
        "晋M·A0202,2024-09-18 15:00,30,240,YK002,中石化城关站\n"   # fine
    ))  # fmt: skip
    report = import_file(session, "fuel", fills)
    assert report.committed and report.inserted == 3, report.errors
    reconcile.reconcile_day(session, WEDNESDAY)
    odd = {f.vehicle_id: f.detail["why"] for f in _flags(session, "fuel_anomaly")}
    assert odd == {idle.id: ["no_trip"], busy.id: ["over_tank"]}
    assert all(f.severity == "high" for f in _flags(session, "fuel_anomaly"))
    # running the day again changes nothing; a bad row is refused with its line and column
    again = reconcile.reconcile_day(session, WEDNESDAY)
    assert again.get("fuel_anomaly_raised", 0) == 0 and len(_flags(session, "fuel_anomaly")) == 2
    bad = import_file(
        session, "fuel", _file(tmp_path, "坏.csv", "车牌号,加油时间,升数\n晋M·A0201,2024-09-19 10:00,-5\n")
    )
    assert not bad.committed and bad.errors[0].line == 2 and bad.errors[0].header == "升数"
    assert len(session.exec(select(FuelFill)).all()) == 3


def test_a_stop_at_a_fuel_station_explains_a_fill_up_without_a_trip(session: Session, tmp_path: Path) -> None:
    from datetime import timedelta

    from fleet.models import Stop

    unit = make_unit(session, name="东郭镇")
    car = make_vehicle(session, unit, plate="晋M·A0301")
    session.add(Place(name="中石化东郭站", kind="fuel", lat=35.0, lon=111.0, radius_m=100))
    start = datetime(2024, 9, 18, 2, tzinfo=UTC)
    end = start + timedelta(minutes=10)
    session.add(Stop(vehicle_id=car.id or 0, device_id=car.tracker_id or "", start_at=start, end_at=end,
                     lat=35.0002, lon=111.0, duration_s=600))  # fmt: skip
    session.flush()
    name_stops(session)
    import_file(
        session, "fuel", _file(tmp_path, "加油.csv", "车牌号,加油时间,升数\n晋M·A0301,2024-09-18 10:05,35\n")
    )
    reconcile.reconcile_day(session, WEDNESDAY)
    assert _flags(session, "fuel_anomaly") == []

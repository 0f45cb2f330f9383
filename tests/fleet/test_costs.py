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


def _reconciled(session: Session, first: date, last: date) -> None:
    """As if the nightly run had covered first..last (a cost file then re-judges those days)."""
    from scheduler.models import JobRun

    session.add(JobRun(job="reconcile", status="succeeded", day_from=first, day_to=last))
    session.flush()


def test_a_month_at_35_litres_per_100_km_is_flagged_when_the_statement_comes(
    session: Session, tmp_path: Path
) -> None:
    unit = make_unit(session, name="县水利局")
    thirsty = make_vehicle(session, unit, plate="晋M·A0401")
    normal = make_vehicle(session, unit, plate="晋M·A0402")
    for d in (3, 10, 17, 24):  # 4 trips of 50 km each: 200 km in September
        make_trip(session, thirsty, datetime(2024, 9, d, 1, tzinfo=UTC), 60, distance_m=50_000.0)
        make_trip(session, normal, datetime(2024, 9, d, 1, tzinfo=UTC), 60, distance_m=250_000.0)
    _reconciled(session, date(2024, 9, 1), date(2024, 9, 30))
    # the card statement arrives in October: 70 L for 200 km (35 L/100 km), 80 L for 1,000 km (8)
    statement = _file(tmp_path, "油卡.csv", (
        "车牌号,加油时间,升数,金额\n"
        "晋M·A0401,2024-09-03 08:30,40,320\n晋M·A0401,2024-09-17 08:30,30,240\n"
        "晋M·A0402,2024-09-03 08:30,40,320\n晋M·A0402,2024-09-17 08:30,40,320\n"
    ))  # fmt: skip
    report = import_file(session, "fuel", statement)
    assert report.committed and report.recut["days_judged"] == 30, report.recut
    month = [f for f in _flags(session, "fuel_anomaly") if "month" in f.detail]
    assert [(f.vehicle_id, f.detail["l_per_100km"], f.detail["km"]) for f in month] == [
        (thirsty.id, 35.0, 200.0)
    ]
    assert month[0].key == f"month:{thirsty.id}:2024-09"
    # the day-by-day checks leave both alone: each fill-up was on a day the car drove
    assert all("month" in f.detail for f in _flags(session, "fuel_anomaly"))
    # the trips the tracker missed come in: 450 km more, 70 L / 650 km = 10.8 — the flag resolves
    for d in (5, 12, 19):
        make_trip(session, thirsty, datetime(2024, 9, d, 1, tzinfo=UTC), 60, distance_m=150_000.0)
    reconcile.reconcile_day(session, date(2024, 9, 30))
    assert [f.state for f in _flags(session, "fuel_anomaly")] == ["resolved"]


def test_insurance_and_inspection_reminders_and_trips_without_cover(session: Session, tmp_path: Path) -> None:
    unit = make_unit(session, name="县交通局")
    car = make_vehicle(session, unit, plate="晋M·A0501")
    other = make_vehicle(session, unit, plate="晋M·A0502")  # no papers on file: not judged
    make_trip(session, car, datetime(2024, 10, 8, 1, tzinfo=UTC))  # 10-08: insured, inspected
    make_trip(session, car, datetime(2024, 11, 5, 1, tzinfo=UTC))  # 11-05: policy ended 10-31
    make_trip(session, other, datetime(2024, 11, 5, 1, tzinfo=UTC))
    _reconciled(session, date(2024, 10, 1), date(2024, 11, 30))
    import_file(session, "insurance", _file(tmp_path, "保险.csv", (
        "车牌号,保险公司,保单号,起保日期,终止日期,保费\n"
        "晋M·A0501,中国人保,P2023,2023-11-01,2024-10-31,4200\n"
    )))  # fmt: skip
    import_file(session, "inspections", _file(tmp_path, "年检.csv", (
        "车牌号,检验日期,下次年检日期,检测站,费用\n晋M·A0501,2023-11-20,2024-11-20,县检测站,160\n"
    )))  # fmt: skip
    due = {
        f.kind: f.detail["due_on"]
        for f in _flags(session, "insurance_due") + _flags(session, "inspection_due")
    }
    assert due == {"insurance_due": "2024-10-31", "inspection_due": "2024-11-20"}
    lapsed = _flags(session, "uninsured_trip")
    assert [(f.vehicle_id, f.detail["day"], f.detail["lapsed_on"]) for f in lapsed] == [
        (car.id, "2024-11-05", "2024-10-31")
    ]
    assert lapsed[0].severity == "high" and _flags(session, "uninspected_trip") == []
    # the renewal comes in (from 11-01): the reminder and the trip's flag both resolve
    import_file(session, "insurance", _file(tmp_path, "续保.csv", (
        "车牌号,保险公司,保单号,起保日期,终止日期,保费\n晋M·A0501,中国人保,P2024,2024-11-01,2025-10-31,4300\n"
    )))  # fmt: skip
    assert [f.state for f in _flags(session, "insurance_due")] == ["resolved"]
    assert [f.state for f in _flags(session, "uninsured_trip")] == ["resolved"]
    assert [f.state for f in _flags(session, "inspection_due")] == ["open"]  # still not inspected
    # a trip after the inspection fell due
    make_trip(session, car, datetime(2024, 11, 25, 1, tzinfo=UTC))
    reconcile.reconcile_day(session, date(2024, 11, 25))
    late = _flags(session, "uninspected_trip")
    assert [(f.detail["day"], f.detail["lapsed_on"]) for f in late] == [("2024-11-25", "2024-11-20")]


def test_other_costs_need_a_reason_and_over_the_threshold_a_paper(session: Session, tmp_path: Path) -> None:
    unit = make_unit(session, name="县民政局")
    make_vehicle(session, unit, plate="晋M·A0601")
    costs = _file(tmp_path, "费用.csv", (
        "车牌号,日期,类别,金额,事由,合同或发票号\n"
        "晋M·A0601,2024-09-18,停车费,20,县医院停车,\n"
        "晋M·A0601,2024-09-18,洗车费,30,,\n"                     # no reason
        "晋M·A0601,2024-09-18,驾驶员差旅,2600,赴省城送文件,\n"      # ¥2,600 without paper
    ))  # fmt: skip
    report = import_file(session, "costs", costs)
    assert report.committed and report.inserted == 3, report.errors
    reconcile.reconcile_day(session, WEDNESDAY)
    got = sorted(
        (f.detail["category"], f.detail["missing"]) for f in _flags(session, "cost_without_evidence")
    )
    assert got == [("travel", ["document"]), ("washing", ["reason"])]
    assert import_file(session, "costs", costs).unchanged == 3  # the same file again changes nothing


def test_a_renewal_that_comes_after_a_gap_resolves_its_reminder(session: Session, tmp_path: Path) -> None:
    car = make_vehicle(session, make_unit(session, name="县审计局"), plate="晋M·A0701")
    make_trip(session, car, datetime(2024, 7, 2, 1, tzinfo=UTC))  # in the gap
    _reconciled(session, date(2024, 6, 1), date(2024, 7, 31))
    import_file(session, "insurance", _file(tmp_path, "保险.csv", (
        "车牌号,保单号,起保日期,终止日期\n晋M·A0701,P1,2023-07-01,2024-06-30\n"
    )))  # fmt: skip
    assert [f.state for f in _flags(session, "insurance_due")] == ["open"]
    import_file(session, "insurance", _file(tmp_path, "续保.csv", (
        "车牌号,保单号,起保日期,终止日期\n晋M·A0701,P2,2024-07-03,2025-07-02\n"
    )))  # fmt: skip
    assert [f.state for f in _flags(session, "insurance_due")] == ["resolved"]
    gap = _flags(session, "uninsured_trip")
    assert [(f.detail["day"], f.state) for f in gap] == [("2024-07-02", "open")]  # the gap's trip stays


def test_each_cost_flag_says_what_it_is_in_one_language() -> None:
    from gongwu.web.i18n import I18n, flag_summary

    washing = {"record": "cost:7", "category": "washing", "amount_yuan": "80.00", "missing": ["reason"]}
    bill = {
        "record": "maintenance:3",
        "workshop": "县定点维修厂",
        "amount_yuan": "5000.00",
        "missing": ["document"],
    }
    month = {"month": "2024-09", "litres": 70.0, "km": 200.0, "l_per_100km": 35.0, "band": [4, 20],
             "why": ["consumption"]}  # fmt: skip
    due = {"due_on": "2024-10-31", "what": "insurance"}
    lapsed = {"day": "2024-11-05", "what": "inspection", "trips": 2, "lapsed_on": "2024-11-01"}
    zh, en = I18n("zh"), I18n("en")
    assert flag_summary(zh, "cost_without_evidence", washing) == "洗车费 ¥80.00：无事由"
    assert flag_summary(en, "cost_without_evidence", washing) == "Washing of ¥80.00: no reason"
    assert flag_summary(zh, "cost_without_evidence", bill) == "县定点维修厂账单 ¥5000.00：无合同或发票号"
    assert "35.0 升/百公里" in flag_summary(zh, "fuel_anomaly", month)
    assert "35.0 L/100 km" in flag_summary(en, "fuel_anomaly", month)
    assert flag_summary(zh, "insurance_due", due) == "保险于 2024-10-31 到期，请及时办理"
    assert flag_summary(en, "uninspected_trip", lapsed) == (
        "2 trip(s) on 2024-11-05 without valid inspection (ended 2024-11-01)"
    )

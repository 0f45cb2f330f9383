"""A car's disposal to the end (issue 25): the stages with their paper and days, a transfer that moves the
car to another unit from its day (the unit report and the costs report split at it), and the costs report
per car, unit and county against another year, an order's fuel counted once."""

from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import UTC, date, datetime

import pytest
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from accounts.access import UnitScope
from core.errors import Conflict, ValidationFailed
from core.models import AuditLog
from fleet import queries, service
from fleet.models import FuelFill, Insurance, Maintenance, RunningCost, VehicleUnit
from tests.factories import make_expense, make_order, make_trip, make_unit, make_vehicle


def _at(d: date, hour: int = 1) -> datetime:
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC)


def test_the_stages_of_a_disposal_with_their_paper_and_days(session: Session) -> None:
    unit = make_unit(session, name="县林业局")
    car = make_vehicle(session, unit, plate="晋M·B0001")
    vid = car.id or 0
    service.advance_disposal(session, vid, "clerk", stage="idle_proposed", on=date(2024, 8, 20))
    with pytest.raises(ValidationFailed):  # the application needs its document number
        service.advance_disposal(session, vid, "clerk", stage="disposal_pending", on=date(2024, 8, 28))
    with pytest.raises(Conflict):  # no approval before the application
        service.advance_disposal(session, vid, "clerk", stage="disposal_approved", document_no="X")
    with pytest.raises(ValidationFailed):  # not before the previous step
        service.advance_disposal(
            session,
            vid,
            "clerk",
            stage="disposal_pending",
            on=date(2024, 8, 1),
            document_no="临财〔2024〕88号",
        )
    service.advance_disposal(
        session,
        vid,
        "clerk",
        stage="disposal_pending",
        on=date(2024, 8, 28),
        document_no="临事管〔2024〕31号",
    )
    service.advance_disposal(
        session,
        vid,
        "clerk",
        stage="disposal_approved",
        on=date(2024, 10, 15),
        document_no="临财资〔2024〕102号",
    )
    with pytest.raises(ValidationFailed):  # a method it must have
        service.advance_disposal(session, vid, "clerk", stage="disposed", on=date(2024, 10, 31))
    service.advance_disposal(
        session, vid, "clerk", stage="disposed", on=date(2024, 10, 31), method="拍卖", income_fen=2_300_000
    )
    assert (car.status, car.disposed_on) == ("disposed", date(2024, 10, 31))
    [row] = queries.disposals(session, UnitScope(), date(2024, 12, 1))
    assert (row["stage"], row["method"], row["income_yuan"]) == ("disposed", "拍卖", "23000.00")
    assert (row["days_idle_proposed"], row["days_disposal_pending"], row["days_disposal_approved"]) == (
        8,
        48,
        16,
    )
    assert row["days_total"] == 72 and row["approval_no"] == "临财资〔2024〕102号"
    actions = session.exec(
        select(AuditLog.action).where(AuditLog.entity == "fleet_vehicle").order_by(col(AuditLog.id))
    ).all()
    assert actions == ["vehicle.propose_disposal"] * 3 + ["vehicle.dispose"]
    with pytest.raises(Conflict):
        service.advance_disposal(session, vid, "clerk", stage="in_service")


def test_a_car_in_its_current_stage_counts_days_up_to_today_and_a_withdrawal_starts_afresh(
    session: Session,
) -> None:
    car = make_vehicle(session, make_unit(session, name="县档案局"), plate="晋M·B0002")
    service.advance_disposal(session, car.id or 0, "clerk", stage="idle_proposed", on=date(2024, 9, 1))
    [row] = queries.disposals(session, UnitScope(), date(2024, 9, 11))
    assert (row["stage"], row["days_idle_proposed"]) == ("idle_proposed", 10)
    service.advance_disposal(session, car.id or 0, "clerk", stage="in_service", on=date(2024, 9, 12))
    assert queries.disposals(session, UnitScope(), date(2024, 9, 20)) == []
    # a car judged idle, not yet proposed, is listed where its disposal would begin
    from fleet.models import Flag

    session.add(Flag(kind="idle_vehicle", key=f"{car.id}:x", vehicle_id=car.id or 0, unit_id=car.unit_id,
                     start_at=datetime(2024, 6, 30, 16, tzinfo=UTC)))  # fmt: skip
    session.flush()
    [idle] = queries.disposals(session, UnitScope(), date(2024, 9, 20))
    assert (idle["stage"], idle["idle_since"], idle["days_total"]) == ("in_service", date(2024, 7, 1), None)


def _transferred(session: Session) -> tuple[int, int, int]:
    """A car of 甲局 driven 20 km on 9-10 and 30 km on 9-20, fuelled ¥300 on 9-05 and ¥400 on 9-25, moved
    to 乙镇 on 9-15 (调剂)."""
    old, new = make_unit(session, name="甲局"), make_unit(session, name="乙镇", kind="township")
    car = make_vehicle(session, old, plate="晋M·B0003")
    vid = car.id or 0
    make_trip(session, car, _at(date(2024, 9, 10)), 40, distance_m=20_000.0)
    make_trip(session, car, _at(date(2024, 9, 20)), 60, distance_m=30_000.0)
    for d, fen in ((date(2024, 9, 5), 30_000), (date(2024, 9, 25), 40_000)):
        session.add(FuelFill(vehicle_id=vid, filled_at=_at(d), litres=40, amount_fen=fen))
    day = date(2024, 9, 15)
    for stage, paper in (("idle_proposed", ""), ("disposal_pending", "申-1"), ("disposal_approved", "批-1")):
        service.advance_disposal(session, vid, "clerk", stage=stage, on=day, document_no=paper)
    service.advance_disposal(session, vid, "clerk", stage="disposed", on=day, method="调剂", to_unit="乙镇")
    return vid, old.id or 0, new.id or 0


def test_a_transfer_mid_month_splits_the_unit_report_and_the_costs(session: Session) -> None:
    vid, old, new = _transferred(session)
    car = session.exec(
        select(VehicleUnit).where(VehicleUnit.vehicle_id == vid).order_by(col(VehicleUnit.id))
    ).all()
    assert [(h.unit_id, h.from_on, h.to_on) for h in car] == [
        (old, None, date(2024, 9, 15)), (new, date(2024, 9, 15), None)
    ]  # fmt: skip
    units = {u["unit"]: u for u in queries.unit_report(session, "2024-09")["units"]}
    assert (units["甲局"]["trips"], units["甲局"]["km"], units["甲局"]["vehicles"]) == (1, 20.0, 1)
    assert (units["乙镇"]["trips"], units["乙镇"]["km"], units["乙镇"]["vehicles"]) == (1, 30.0, 1)
    # a month wholly after the transfer is the new unit's alone
    october = {u["unit"]: u["vehicles"] for u in queries.unit_report(session, "2024-10")["units"]}
    assert october == {"乙镇": 1, "甲局": 0}
    costs = {u["unit"]: u for u in queries.costs_year(session, 2024, UnitScope())["units"]}
    assert (costs["甲局"]["fuel_fen"], costs["甲局"]["km"]) == (30_000, 20.0)
    assert (costs["乙镇"]["fuel_fen"], costs["乙镇"]["km"]) == (40_000, 30.0)
    county = queries.costs_year(session, 2024, UnitScope())["county"]
    assert (county["cars"], county["total_fen"], county["per_km_fen"]) == (1, 70_000, 1400)
    # the old unit's staff see only what was theirs
    theirs = queries.costs_year(session, 2024, UnitScope(unit_id=old))
    assert [u["unit"] for u in theirs["units"]] == ["甲局"] and theirs["county"]["total_fen"] == 30_000
    [row] = queries.disposals(session, UnitScope(), date(2024, 9, 30))
    assert (row["method"], row["to_unit"], row["unit"]) == ("调剂", "乙镇", "甲局")  # the giving unit's case
    # each unit's staff see the car's fill-ups of their own days
    amounts = {
        u: [
            f["amount_yuan"]
            for f in queries.vehicle_records(session, vid, 2024, UnitScope(unit_id=u))["fuel"]
        ]
        for u in (old, new)
    }
    assert amounts == {old: ["300.00"], new: ["400.00"]}
    # a bill of the 10th, judged again after the transfer, stays the old unit's flag to answer
    from fleet import reconcile
    from fleet.models import Flag

    session.add(Maintenance(vehicle_id=vid, done_on=date(2024, 9, 10), amount_fen=500_000, reason="换挡"))
    session.flush()
    reconcile.judge_costs(session, date(2024, 9, 1), date(2024, 9, 30))
    [bill] = session.exec(select(Flag).where(Flag.kind == "cost_without_evidence")).all()
    assert bill.unit_id == old
    # and a trip flag of the 10th too
    reconcile.reconcile_day(session, date(2024, 9, 10))
    reconcile.reconcile_day(session, date(2024, 9, 20))
    trips = {
        f.start_at.day: f.unit_id for f in session.exec(select(Flag).where(Flag.kind == "unreported_trip"))
    }
    assert trips == {10: old, 20: new}
    # the month's trends split the same way, for the county and for the old unit's own staff
    first = date(2024, 9, 1)
    trend = queries.trends(session, first, first, UnitScope(), date(2024, 12, 1))
    assert {u["unit"]: u["km"] for u in trend["units"]} == {"甲局": 20.0, "乙镇": 30.0}
    mine = queries.trends(session, first, first, UnitScope(unit_id=old), date(2024, 12, 1))
    assert [(u["unit"], u["trips"]) for u in mine["units"]] == [("甲局", 1)]


def test_the_costs_report_counts_an_orders_fuel_once_and_compares_years(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gongwu import cli_costs, cli_report  # noqa: F401  (registers the commands)
    from gongwu.cli import app

    unit = make_unit(session, name="县城管局")
    old = make_vehicle(session, unit, plate="晋M·B0010", acquired_on=date(2015, 1, 1))
    new = make_vehicle(session, unit, plate="晋M·B0011", acquired_on=date(2024, 3, 1))
    # 2023: the old car alone, ¥1,000 of repairs
    session.add(
        Maintenance(vehicle_id=old.id or 0, done_on=date(2023, 5, 1), amount_fen=100_000, reason="换胎")
    )
    # 2024: an order whose sheet says fuel ¥200, with the slip that is that fuel; another without a slip
    slipped = make_order(session, old, order_no="F-1", planned_start_at=_at(date(2024, 6, 3)),
                         planned_end_at=_at(date(2024, 6, 3), 6))  # fmt: skip
    make_expense(session, slipped, tolls_fen=5_000, meal_allowance_fen=3_000, fuel_fen=20_000)
    session.add(FuelFill(vehicle_id=old.id or 0, filled_at=_at(date(2024, 6, 3), 3), litres=25,
                         amount_fen=20_000, order_id=slipped.id))  # fmt: skip
    plain = make_order(session, new, order_no="F-2", planned_start_at=_at(date(2024, 7, 3)),
                       planned_end_at=_at(date(2024, 7, 3), 6))  # fmt: skip
    make_expense(session, plain, fuel_fen=15_000, other_fen=1_000)
    session.add(Insurance(vehicle_id=new.id or 0, policy_no="P1", start_on=date(2024, 3, 1),
                          end_on=date(2025, 2, 28), premium_fen=400_000))  # fmt: skip
    session.add(RunningCost(vehicle_id=new.id or 0, spent_on=date(2024, 8, 1), category="parking",
                            amount_fen=2_000, reason="停车"))  # fmt: skip
    make_trip(session, old, _at(date(2024, 6, 3)), 120, distance_m=100_000.0)
    session.flush()
    monkeypatch.setattr(cli_report, "open_session", lambda: nullcontext(session))
    out = CliRunner().invoke(
        app, ["report", "costs", "--year", "2024", "--compare", "2023", "--format", "json"]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert set(data) >= {"vehicles", "units", "county", "compare", "change"}
    county = data["county"]
    keys = ("cars", "fuel_fen", "tolls_fen", "meals_fen", "insurance_fen", "other_fen")
    assert {k: county[k] for k in keys} == {
        "cars": 2, "fuel_fen": 35_000, "tolls_fen": 5_000, "meals_fen": 3_000, "insurance_fen": 400_000,
        "other_fen": 3_000,
    }  # fmt: skip
    assert (
        county["total_fen"] == 446_000 and county["per_car_fen"] == 223_000 and county["per_km_fen"] == 4_460
    )
    # the old car: tolls, meals and the slip (its sheet's ¥200 of fuel is that slip); the new one the rest
    totals = {v["plate"]: v["total_fen"] for v in data["vehicles"]}
    assert totals == {"晋M·B0010": 28_000, "晋M·B0011": 418_000}
    assert data["compare"]["county"]["cars"] == 1 and data["compare"]["county"]["total_fen"] == 100_000
    assert data["change"]["county"]["total_pct"] == 346.0
    table = CliRunner().invoke(
        app, ["report", "costs", "--year", "2024", "--compare", "2023"], env={"COLUMNS": "240"}
    )
    assert table.exit_code == 0 and "→" in table.stdout.splitlines()[0]


def test_a_transferred_car_proposed_again_is_a_second_case_of_its_new_unit(session: Session) -> None:
    vid, old, new = _transferred(session)
    service.advance_disposal(session, vid, "clerk", stage="idle_proposed", on=date(2024, 11, 1))
    rows = queries.disposals(session, UnitScope(), date(2024, 11, 11))
    assert [(r["unit"], r["stage"], r["method"], r["days_total"]) for r in rows] == [
        ("甲局", "disposed", "调剂", 0), ("乙镇", "idle_proposed", "", 10)
    ]  # fmt: skip
    assert [r["stage"] for r in queries.disposals(session, UnitScope(unit_id=old), date(2024, 11, 11))] == [
        "disposed"
    ]
    assert [r["stage"] for r in queries.disposals(session, UnitScope(unit_id=new), date(2024, 11, 11))] == [
        "idle_proposed"
    ]

"""Reconciliation on stored trips: the scenario of a county, idempotence, late orders and reviews."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.db import unit_of_work
from core.errors import Conflict, NotFound, ValidationFailed
from core.models import AuditLog, Unit
from core.timeutil import CHINA
from fleet import flags as flag_store
from fleet import reconcile
from fleet import service as fleet_service
from fleet.models import Flag, Trip, TripOrder, Vehicle
from tests.factories import make_fixes, make_order, make_trip, make_unit, make_vehicle

RULES = reconcile.Rules()  # the defaults of DESIGN §3: 30 min, 60 min, 50 %, 30 days, 48 h


def cn(month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """A China wall-clock time in 2024 as aware UTC."""
    return datetime(2024, month, day, hour, minute, tzinfo=CHINA).astimezone(UTC)


def hourly(start: datetime, end: datetime) -> list[datetime]:
    n = int((end - start).total_seconds() // 3600)
    return [start + timedelta(hours=i) for i in range(n + 1)]


def flags(session: Session) -> dict[tuple[str, int], Flag]:
    """Flags other than unreported trips by (kind, vehicle id): one each at most."""
    out = {}
    for f in session.exec(select(Flag).where(Flag.kind != "unreported_trip")).all():
        assert (f.kind, f.vehicle_id) not in out, f"two {f.kind} flags for vehicle {f.vehicle_id}"
        out[(f.kind, f.vehicle_id)] = f
    return out


def run(session: Session, *days: date) -> dict[str, int]:
    total: dict[str, int] = {}
    for d in days:
        for k, v in reconcile.reconcile_day(session, d, rules=RULES).items():
            total[k] = total.get(k, 0) + v
    return total


def snapshot(session: Session) -> list[tuple[object, ...]]:
    session.expire_all()
    rows = session.exec(select(Flag).order_by(col(Flag.id))).all()
    return [
        (
            f.id,
            f.kind,
            f.key,
            f.state,
            f.trip_id,
            f.order_id,
            f.start_at,
            f.end_at,
            f.detail,
            f.resolved_at,
            f.resolved_reason,
            f.review_status,
            f.review_comment,
        )
        for f in rows
    ]


def audit_count(session: Session) -> int:
    return session.exec(select(func.count()).select_from(AuditLog)).one()


@dataclass
class County:
    town: Unit
    edu: Unit
    health: Unit
    filer: Vehicle  # always files
    never: Vehicle  # never files (a rejected order does not help)
    idle: Vehicle  # parked since May
    silent: Vehicle  # tracker silent since 1 June 08:00
    no_trip: Vehicle  # an approved order, the car stays parked
    night: Vehicle  # a trip across midnight (covered) and one at 22:00 (not)
    late: Vehicle  # a trip whose order is filed late (补单)
    pending: Vehicle  # a trip with only a pending order
    orders: dict[str, TripOrder]
    trips: dict[str, Trip]


@pytest.fixture
def county(session: Session) -> County:
    return build_county(session)


def window(day: int, start_h: int, end_h: int) -> dict[str, datetime]:
    """An order's planned window on a June day."""
    return {"planned_start_at": cn(6, day, start_h), "planned_end_at": cn(6, day, end_h)}


def build_county(session: Session) -> County:
    town = make_unit(session, name="城关镇人民政府", kind="township")
    edu = make_unit(session, name="县教育局", kind="department")
    health = make_unit(session, name="县卫生健康委员会", kind="department")
    v = {
        "filer": make_vehicle(session, town, plate="晋M·A0001", tracker_id="T0001"),
        "never": make_vehicle(session, edu, plate="晋M·A0002", tracker_id="T0002"),
        "idle": make_vehicle(session, health, plate="晋M·A0003", tracker_id="T0003"),
        "silent": make_vehicle(session, town, plate="晋M·A0004", tracker_id="T0004"),
        "no_trip": make_vehicle(session, edu, plate="晋M·A0005", tracker_id="T0005"),
        "night": make_vehicle(session, health, plate="晋M·A0006", tracker_id="T0006"),
        "late": make_vehicle(session, town, plate="晋M·A0007", tracker_id="T0007"),
        "pending": make_vehicle(session, edu, plate="晋M·A0008", tracker_id="T0008"),
    }
    # Every tracker reports hourly from 1 May, the silent one stops on 1 June at 08:00; every car but the
    # idle one made a trip in late May (days not reconciled here).
    for name, vehicle in v.items():
        assert vehicle.tracker_id
        end = cn(6, 1, 8) if name == "silent" else cn(6, 5, 23)
        make_fixes(session, vehicle.tracker_id, hourly(cn(5, 1), end))
        if name not in ("idle", "no_trip"):
            make_trip(session, vehicle, cn(5, 25, 10), 20)

    orders = {
        "filer": make_order(
            session, v["filer"], planned_start_at=cn(6, 3, 8, 30), planned_end_at=cn(6, 3, 15)
        ),
        "filer_pending": make_order(
            session, v["filer"], planned_start_at=cn(6, 4, 8), planned_end_at=cn(6, 4, 9), status="pending"
        ),
        "never_rejected": make_order(
            session, v["never"], planned_start_at=cn(6, 3, 10), planned_end_at=cn(6, 3, 11), status="rejected"
        ),
        "silent": make_order(
            session, v["silent"], planned_start_at=cn(6, 2, 10), planned_end_at=cn(6, 2, 12)
        ),
        "no_trip": make_order(
            session, v["no_trip"], planned_start_at=cn(6, 3, 9), planned_end_at=cn(6, 3, 11)
        ),
        "no_trip_cancelled": make_order(session, v["no_trip"], **window(2, 9, 11), status="cancelled"),
        "night": make_order(session, v["night"], planned_start_at=cn(6, 3, 23), planned_end_at=cn(6, 4, 1)),
        "pending": make_order(session, v["pending"], **window(3, 14, 16), status="pending"),
    }
    trips = {
        # out and back under one order
        "filer_out": make_trip(session, v["filer"], cn(6, 3, 9), 60),
        "filer_back": make_trip(session, v["filer"], cn(6, 3, 14), 40),
        "never": make_trip(session, v["never"], cn(6, 3, 10), 60),
        "never_2": make_trip(session, v["never"], cn(6, 1, 16), 45),
        "idle_last": make_trip(session, v["idle"], cn(5, 1, 8), 60),
        "no_trip_may": make_trip(session, v["no_trip"], cn(5, 20, 9), 30),
        "night_cross": make_trip(session, v["night"], cn(6, 3, 23, 30), 90),
        "night_22": make_trip(session, v["night"], cn(6, 3, 22), 30),
        "late": make_trip(session, v["late"], cn(6, 2, 15), 60),
        "pending": make_trip(session, v["pending"], cn(6, 3, 14, 30), 60),
    }
    session.flush()
    return County(town, edu, health, **v, orders=orders, trips=trips)


JUNE_1_3 = (date(2024, 6, 1), date(2024, 6, 2), date(2024, 6, 3))


def test_county_scenario_raises_every_expected_flag_and_no_other(session: Session, county: County) -> None:
    c = county
    counts = run(session, *JUNE_1_3)
    got = flags(session)
    expected = {
        ("unreported_trip", c.never.id): "open",  # 1 June trip
        ("unreported_trip", c.night.id): "open",  # the 22:00 trip
        ("unreported_trip", c.late.id): "open",  # until the late order
        ("unreported_trip", c.pending.id): "open",  # a pending order covers nothing
        ("order_without_track", c.no_trip.id): "open",
        # the same unit's never-filing car drove in that order's window without one (车辆不符, #21)
        ("wrong_vehicle", c.no_trip.id): "open",
        ("idle_vehicle", c.idle.id): "open",
        ("silent_tracker", c.silent.id): "open",
    }
    # The never-filing car has two trips, both flagged: count them apart from the one-per-vehicle map.
    unreported = session.exec(select(Flag).where(Flag.kind == "unreported_trip")).all()
    assert sorted((f.vehicle_id, f.trip_id) for f in unreported) == sorted(
        [
            (c.never.id, c.trips["never"].id),
            (c.never.id, c.trips["never_2"].id),
            (c.night.id, c.trips["night_22"].id),
            (c.late.id, c.trips["late"].id),
            (c.pending.id, c.trips["pending"].id),
        ]
    )
    assert {k: f.state for k, f in got.items()} == {
        k: s for k, s in expected.items() if k[0] != "unreported_trip"
    }
    assert counts["raised"] == 9 and counts["resolved"] == 0
    (wrong,) = session.exec(select(Flag).where(Flag.kind == "wrong_vehicle")).all()
    assert wrong.order_id == c.orders["no_trip"].id and wrong.detail["other_vehicle_id"] in {
        c.never.id,
        c.late.id,
        c.pending.id,
        c.night.id,
    }

    # Covered trips store their order; the trip across midnight belongs to 3 June and is covered.
    session.expire_all()
    stored = {name: session.get(Trip, t.id) for name, t in c.trips.items()}
    assert stored["filer_out"].order_id == c.orders["filer"].id  # type: ignore[union-attr]
    assert stored["filer_back"].order_id == c.orders["filer"].id  # type: ignore[union-attr]
    assert stored["night_cross"].order_id == c.orders["night"].id  # type: ignore[union-attr]
    assert stored["night_cross"].service_day == date(2024, 6, 3)  # type: ignore[union-attr]
    assert stored["never"].order_id is None  # type: ignore[union-attr]
    assert stored["pending"].order_id is None  # type: ignore[union-attr]

    idle = got[("idle_vehicle", c.idle.id)]
    assert idle.detail["days"] == 33  # 1 May 09:00 → 4 June 00:00
    assert idle.start_at == cn(5, 1, 9)
    silent = got[("silent_tracker", c.silent.id)]
    assert silent.start_at == cn(6, 1, 8)
    assert silent.detail["hours"] == 64
    # The order of the silent car is not an order without track: it is listed on the silent flag.
    assert silent.detail["orders"] == [c.orders["silent"].order_no]
    owt = got[("order_without_track", c.no_trip.id)]
    assert owt.order_id == c.orders["no_trip"].id
    assert owt.unit_id == c.edu.id


def test_running_the_same_dates_twice_changes_nothing(session: Session, county: County) -> None:
    run(session, *JUNE_1_3)
    flag = session.exec(select(Flag).where(Flag.kind == "idle_vehicle")).one()
    flag_store.review_flag(session, flag.id, "explained", "在修理厂 at the garage", "manager")  # type: ignore[arg-type]
    before, audits = snapshot(session), audit_count(session)

    again = run(session, *JUNE_1_3)
    states = ("trips", "covered", "out_of_area_rule_off", "calendar_weekends_only", "trips_fixes_read")
    states += ("away_no_home", "away_no_tracker", "away_no_fix", "away_judged")
    assert {k: v for k, v in again.items() if v and k not in states} == {}
    assert again["raised"] == again["resolved"] == again["reopened"] == 0
    assert snapshot(session) == before
    assert audit_count(session) == audits
    # A single day re-run out of order changes nothing either.
    run(session, date(2024, 6, 2))
    assert snapshot(session) == before
    assert audit_count(session) == audits


def test_late_order_resolves_flag_and_keeps_review_and_history(session: Session, county: County) -> None:
    c = county
    run(session, date(2024, 6, 2))
    flag = session.exec(
        select(Flag).where(Flag.kind == "unreported_trip", Flag.vehicle_id == c.late.id)
    ).one()
    assert flag.state == "open"
    flag_store.review_flag(session, flag.id, "violation", "未经审批 no approval", "manager")  # type: ignore[arg-type]

    late = make_order(session, c.late, planned_start_at=cn(6, 2, 14, 45), planned_end_at=cn(6, 2, 16, 30))
    counts = run(session, date(2024, 6, 3))  # the next night sees the late order
    session.expire_all()
    flag = session.get(Flag, flag.id)  # type: ignore[assignment]
    assert flag.state == "resolved"
    assert counts["unreported_trip_resolved"] == 1
    assert late.order_no in flag.resolved_reason
    assert flag.order_id == late.id
    assert (flag.review_status, flag.review_comment, flag.reviewed_by) == (
        "violation",
        "未经审批 no approval",
        "manager",
    )
    assert flag.raised_at is not None and flag.detail["km"] == 30.0
    trip = session.get(Trip, c.trips["late"].id)
    assert trip is not None and trip.order_id == late.id
    actions = session.exec(
        select(AuditLog.action)
        .where(AuditLog.entity == "fleet_flag", AuditLog.entity_id == str(flag.id))
        .order_by(col(AuditLog.id))
    ).all()
    assert list(actions) == ["flag.raise", "flag.review", "flag.resolve"]


def test_late_order_through_recheck_resolves_at_once(session: Session, county: County) -> None:
    c = county
    run(session, date(2024, 6, 2))
    late = make_order(session, c.late, planned_start_at=cn(6, 2, 14, 45), planned_end_at=cn(6, 2, 16, 30))
    counts = reconcile.recheck_orders(session, [late.id], rules=RULES)  # type: ignore[list-item]
    assert counts["unreported_trip_resolved"] == 1
    # Cancelling it brings the flag back, the same flag.
    late.status = "cancelled"
    session.add(late)
    session.flush()
    counts = reconcile.recheck_orders(session, [late.id], rules=RULES)  # type: ignore[list-item]
    assert counts["reopened"] == 1
    flag = session.exec(
        select(Flag).where(Flag.kind == "unreported_trip", Flag.vehicle_id == c.late.id)
    ).one()
    assert flag.state == "open" and flag.order_id is None


def test_cancelled_order_uncovers_its_trip_at_the_next_run(session: Session, county: County) -> None:
    c = county
    run(session, date(2024, 6, 3))
    order = c.orders["filer"]
    order.status = "cancelled"
    session.add(order)
    session.flush()
    counts = run(session, date(2024, 6, 4))
    assert counts["unreported_trip_raised"] == 2
    session.expire_all()
    assert session.get(Trip, c.trips["filer_out"].id).order_id is None  # type: ignore[union-attr]


def test_spells_resolve_when_the_car_moves_and_the_tracker_speaks(session: Session, county: County) -> None:
    c = county
    run(session, *JUNE_1_3)
    make_trip(session, c.idle, cn(6, 4, 10), 30)
    assert c.silent.tracker_id
    make_fixes(session, c.silent.tracker_id, [cn(6, 4, 15), cn(6, 4, 16)])
    counts = run(session, date(2024, 6, 4))
    got = flags(session)
    idle, silent = got[("idle_vehicle", c.idle.id)], got[("silent_tracker", c.silent.id)]
    assert idle.state == "resolved" and idle.end_at == cn(6, 4, 10)
    assert idle.detail["days"] == 34
    assert silent.state == "resolved" and silent.end_at == cn(6, 4, 15)
    assert silent.detail["hours"] == 79
    assert silent.detail["orders"] == [c.orders["silent"].order_no]
    assert counts["idle_vehicle_resolved"] == counts["silent_tracker_resolved"] == 1
    # The 4 June trip of the idle car has no order: a flag of its own.
    assert counts["unreported_trip_raised"] == 1
    # Re-running the whole range does not reopen either spell.
    before = snapshot(session)
    run(session, *JUNE_1_3, date(2024, 6, 4))
    assert snapshot(session) == before


def test_silent_spell_is_one_flag_updated_each_run(session: Session, county: County) -> None:
    c = county
    run(session, date(2024, 6, 3))
    run(session, date(2024, 6, 4))
    run(session, date(2024, 6, 5))
    spells = session.exec(select(Flag).where(Flag.kind == "silent_tracker")).all()
    assert len(spells) == 1
    assert spells[0].detail["hours"] == 112 and spells[0].vehicle_id == c.silent.id
    assert spells[0].detail["as_of"] == "2024-06-06T00:00:00+08:00"


def test_order_in_a_short_quiet_spell_waits_for_the_tracker(session: Session) -> None:
    """The tracker is quiet from 10:00 to 16:00 the next day (30 h, not silent): the order at noon is
    judged only when the tracker speaks again — an order without track, raised the next night."""
    vehicle = make_vehicle(session, tracker_id="Q0001")
    make_fixes(session, "Q0001", hourly(cn(5, 20), cn(6, 1, 10)) + hourly(cn(6, 2, 16), cn(6, 3, 23)))
    make_trip(session, vehicle, cn(5, 30, 9), 20)
    order = make_order(session, vehicle, planned_start_at=cn(6, 1, 12), planned_end_at=cn(6, 1, 13))
    assert run(session, date(2024, 6, 1))["raised"] == 0
    counts = run(session, date(2024, 6, 2))
    assert counts["order_without_track_raised"] == 1
    flag = session.exec(select(Flag).where(Flag.kind == "order_without_track")).one()
    assert flag.order_id == order.id


def test_idle_only_for_in_service_vehicles_and_disposal_proposal(session: Session, county: County) -> None:
    c = county
    run(session, date(2024, 6, 3))
    vehicle = fleet_service.propose_disposal(session, c.idle.id, "manager", comment="闲置两月")  # type: ignore[arg-type]
    assert vehicle.status == "idle_proposed"
    entry = session.exec(select(AuditLog).where(AuditLog.action == "vehicle.propose_disposal")).one()
    assert entry.before == {"status": "in_service"}
    assert entry.after is not None and entry.after["status"] == "idle_proposed"
    assert entry.after["idle_flag_id"] is not None
    counts = run(session, date(2024, 6, 4))
    assert counts["idle_vehicle_resolved"] == 1
    flag = session.exec(select(Flag).where(Flag.kind == "idle_vehicle")).one()
    assert flag.resolved_reason == reconcile.REASON_NOT_IN_SERVICE

    assert fleet_service.propose_disposal(
        session, c.idle.id, "manager", status="disposal_pending"
    ).status == (  # type: ignore[arg-type]
        "disposal_pending"
    )
    with pytest.raises(Conflict, match="待处置"):
        fleet_service.propose_disposal(session, c.idle.id, "manager")  # type: ignore[arg-type]
    with pytest.raises(ValidationFailed, match="可选"):
        fleet_service.propose_disposal(session, c.idle.id, "manager", status="scrapped")  # type: ignore[arg-type]
    with pytest.raises(NotFound, match="999999"):
        fleet_service.propose_disposal(session, 999999, "manager")


def test_tracker_health_check_raises_and_resolves_silent(session: Session, county: County) -> None:
    c = county
    counts = reconcile.check_tracker_health(session, now=cn(6, 3, 12))
    assert counts == {"silent_raised": 1, "silent_resolved": 0, "silent_open": 1}
    flag = session.exec(select(Flag).where(Flag.kind == "silent_tracker")).one()
    assert flag.vehicle_id == c.silent.id and flag.detail["hours"] == 52
    # The nightly run of the day before (as of midnight) keeps the newer figures.
    run(session, date(2024, 6, 2))
    session.refresh(flag)
    assert flag.detail["hours"] == 52
    assert c.silent.tracker_id
    make_fixes(session, c.silent.tracker_id, [cn(6, 3, 13)])
    counts = reconcile.check_tracker_health(session, now=cn(6, 3, 14))
    assert counts == {"silent_raised": 0, "silent_resolved": 1, "silent_open": 0}


# ---------------------------------------------------------------------------------------------- review


def test_review_sets_status_with_audit_and_rejects_unknowns(session: Session, county: County) -> None:
    run(session, date(2024, 6, 3))
    flag = session.exec(select(Flag).where(Flag.kind == "order_without_track")).one()
    assert flag.id is not None
    raised = audit_count(session)  # the nightly run's: a row per raised flag
    flag_store.review_flag(session, flag.id, "false_alarm", "车辆送修 sent for repair", "wang")
    assert (flag.review_status, flag.reviewed_by) == ("false_alarm", "wang")
    assert flag.reviewed_at is not None
    entry = session.exec(select(AuditLog).where(AuditLog.action == "flag.review")).one()
    assert entry.actor == "wang" and entry.entity_id == str(flag.id)
    assert entry.before == {"review_status": None, "review_comment": ""}
    assert entry.after == {"review_status": "false_alarm", "review_comment": "车辆送修 sent for repair"}

    # The same review again is no change and no audit row; a Chinese word works too.
    flag_store.review_flag(session, flag.id, "误报", "车辆送修 sent for repair", "wang")
    assert audit_count(session) == raised + 1

    with pytest.raises(ValidationFailed) as exc:
        flag_store.review_flag(session, flag.id, "approved", "", "wang")
    assert "approved" in exc.value.message
    for allowed in ("violation", "explained", "false_alarm"):
        assert allowed in exc.value.message
    with pytest.raises(NotFound, match="预警不存在：987654"):
        flag_store.review_flag(session, 987654, "violation", "", "wang")

    # Reset to open.
    flag_store.review_flag(session, flag.id, "open", "", "li")
    assert flag.review_status is None and flag.reviewed_by is None
    assert audit_count(session) == raised + 2


def test_bulk_review_is_all_or_nothing(session: Session, county: County) -> None:
    run(session, date(2024, 6, 3))
    ids = [f.id for f in session.exec(select(Flag).where(Flag.kind == "unreported_trip")).all()]
    with pytest.raises(NotFound, match="424242"):
        flag_store.review_flags(session, [*ids, 424242], "violation", "批量", "wang")  # type: ignore[list-item]
    assert all(f.review_status is None for f in session.exec(select(Flag)).all())
    done = flag_store.review_flags(session, ids, "violation", "批量", "wang")  # type: ignore[arg-type]
    assert {f.review_status for f in done} == {"violation"}


def test_reconcile_range_and_bad_range(fresh_engine: Engine) -> None:
    """`gongwu reconcile --since --until` is the pipeline's: one recorded run, a transaction a day."""
    from core.errors import UsageError
    from scheduler import pipeline
    from scheduler.models import JobRun

    with unit_of_work(fresh_engine) as s:
        build_county(s)
    outcome = pipeline.run_reconcile(fresh_engine, date(2024, 6, 1), date(2024, 6, 3))
    assert outcome.status == "succeeded" and outcome.counts["reconcile.raised"] == 9  # with wrong_vehicle
    with unit_of_work(fresh_engine) as s:
        run = s.get(JobRun, outcome.run_id)
        assert run is not None and run.job == "reconcile" and run.counts["reconcile.raised"] == 9
    with pytest.raises(UsageError, match="早于"):
        pipeline.run_reconcile(fresh_engine, date(2024, 6, 3), date(2024, 6, 1))


def test_vehicle_without_tracker_has_no_track_flags(session: Session) -> None:
    """The same order on a car with a tracker that reports but made no trip is flagged: the car without
    a tracker is spared because it has none, not because nothing was judged."""
    vehicle = make_vehicle(session, tracker_id=None)
    control = make_vehicle(session, tracker_id="CTRL1")
    make_fixes(session, "CTRL1", [cn(6, 3, 7), cn(6, 3, 12)])
    make_order(session, vehicle, planned_start_at=cn(6, 3, 9), planned_end_at=cn(6, 3, 10))
    make_order(session, control, planned_start_at=cn(6, 3, 9), planned_end_at=cn(6, 3, 10))
    counts = run(session, date(2024, 6, 3))
    flagged = session.exec(select(Flag.vehicle_id).where(Flag.kind == "order_without_track")).all()
    assert flagged == [control.id]
    assert counts["raised"] == 1


def test_old_open_flags_are_rechecked_within_the_horizon(session: Session) -> None:
    """A late order for a trip 60 days back is seen by the nightly run; one for a trip 100 days back is
    seen when it is entered through the service (recheck_orders), not by every night's run."""
    vehicle = make_vehicle(session, tracker_id="OLD1")
    make_fixes(session, "OLD1", [cn(6, 3, 12)])
    recent = make_trip(session, vehicle, cn(4, 4, 9), 30)  # 60 days before 3 June
    old = make_trip(session, vehicle, cn(2, 24, 9), 30)  # 100 days before
    today = make_trip(session, vehicle, cn(6, 3, 9), 30)
    run(session, date(2024, 4, 4), date(2024, 2, 24))
    assert session.exec(select(func.count()).select_from(Flag).where(Flag.state == "open")).one() == 2
    late_recent = make_order(session, vehicle, planned_start_at=cn(4, 4, 8), planned_end_at=cn(4, 4, 10))
    late_old = make_order(session, vehicle, planned_start_at=cn(2, 24, 8), planned_end_at=cn(2, 24, 10))
    make_order(session, vehicle, planned_start_at=cn(6, 3, 8), planned_end_at=cn(6, 3, 10))
    counts = run(session, date(2024, 6, 3))
    assert counts["unreported_trip_resolved"] == 1 and counts["unreported_trip_raised"] == 0
    by_trip = {f.trip_id: f for f in session.exec(select(Flag)).all()}
    assert by_trip[recent.id].state == "resolved" and by_trip[old.id].state == "open"
    assert today.id not in by_trip
    reconcile.recheck_orders(session, [late_old.id, late_recent.id], rules=RULES)  # type: ignore[list-item]
    session.refresh(by_trip[old.id])
    assert by_trip[old.id].state == "resolved"

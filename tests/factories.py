"""Small typed factory functions: a row with sensible defaults, overridable by keyword."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

import numpy as np
from sqlmodel import Session

from core.models import Unit
from fleet.models import Trip, TripExpense, TripOrder, Vehicle

_seq = count(1)


def make_unit(session: Session, **kw: Any) -> Unit:
    n = next(_seq)
    unit = Unit(**{"name": f"测试单位{n}", "kind": "department", **kw})
    session.add(unit)
    session.flush()
    return unit


def make_vehicle(session: Session, unit: Unit | None = None, **kw: Any) -> Vehicle:
    n = next(_seq)
    unit = unit or make_unit(session)
    assert unit.id is not None
    vehicle = Vehicle(
        **{
            "plate": f"晋M·A{n:04d}",
            "unit_id": unit.id,
            "tracker_id": f"1390000{n:04d}",
            "model": "大众帕萨特",
            **kw,
        }
    )
    session.add(vehicle)
    session.flush()
    return vehicle


def make_order(session: Session, vehicle: Vehicle, **kw: Any) -> TripOrder:
    n = next(_seq)
    start = kw.pop("planned_start_at", datetime(2024, 6, 1, 1, 0, tzinfo=UTC))
    order = TripOrder(
        **{
            "order_no": f"PC{n:06d}",
            "vehicle_id": vehicle.id,
            "unit_id": vehicle.unit_id,
            "applicant": "张三",
            "driver": "李四",
            "purpose": "下乡检查",
            "destination": "城关镇",
            "planned_start_at": start,
            "planned_end_at": kw.pop("planned_end_at", start + timedelta(hours=3)),
            "status": "approved",
            **kw,
        }
    )
    session.add(order)
    session.flush()
    return order


def make_trip(session: Session, vehicle: Vehicle, start: datetime, minutes: float = 30, **kw: Any) -> Trip:
    """A stored trip of `vehicle` (as the trip cutter would store it); km defaults to 1 km per 2 min."""
    from core.timeutil import china_day

    end = kw.pop("end_at", start + timedelta(minutes=minutes))
    trip = Trip(
        **{
            "vehicle_id": vehicle.id,
            "device_id": vehicle.tracker_id or f"dev{vehicle.id}",
            "start_at": start,
            "end_at": end,
            "service_day": china_day(start),
            "start_lat": 37.70,
            "start_lon": 112.70,
            "end_lat": 37.75,
            "end_lon": 112.75,
            "distance_m": minutes * 500.0,
            "duration_s": int((end - start).total_seconds()),
            "max_speed_kmh": 60.0,
            "avg_speed_kmh": 30.0,
            **kw,
        }
    )
    session.add(trip)
    session.flush()
    return trip


def make_fixes(session: Session, device: str, times: Iterable[datetime], **kw: Any) -> int:
    """Parked fixes of `device` at the given times (bulk insert, as the position path writes them)."""
    from sqlalchemy import insert

    from core.timeutil import to_ts
    from fleet.models import Position

    rows = [
        {
            "device_id": device,
            "fix_ts": to_ts(t),
            "lat": 37.7,
            "lon": 112.7,
            "speed_kmh": 0.0,
            "source": 0,
            **kw,
        }
        for t in times
    ]
    if rows:
        from fleet import partitions

        partitions.ensure(session.connection(), partitions.months_of(np.array([r["fix_ts"] for r in rows])))
        session.connection().execute(insert(Position), rows)
    return len(rows)


def make_expense(session: Session, order: TripOrder, **kw: Any) -> TripExpense:
    expense = TripExpense(**{"order_id": order.id, **kw})
    session.add(expense)
    session.flush()
    return expense


def parked_cars(
    session: Session, cars: Iterable[tuple[Unit, str, str]], start: datetime, every_h: int, n: int
) -> list[Vehicle]:
    """Cars given as (unit, plate, tracker id), each with ``n`` parked fixes ``every_h`` hours apart
    from ``start`` and a 10-minute trip seven hours after ``start``."""
    from datetime import timedelta

    made = []
    for unit, plate, tracker in cars:
        v = make_vehicle(session, unit, plate=plate, tracker_id=tracker)
        make_fixes(session, tracker, [start + timedelta(hours=every_h * i) for i in range(n)])
        make_trip(session, v, start + timedelta(hours=7), 10)
        made.append(v)
    return made

"""Small typed factory functions: a row with sensible defaults, overridable by keyword."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from typing import Any

from sqlmodel import Session

from core.models import Unit
from fleet.models import TripOrder, Vehicle

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

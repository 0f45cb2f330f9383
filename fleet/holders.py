"""Which unit held a car when (fleet_vehicle_unit, written by a transfer 调剂): one SQL expression for the
reports' and the nightly run's statements, one read for the code that attributes in Python. A car without
rows has always been its current unit's."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from sqlalchemy import func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col

from fleet.models import Vehicle, VehicleUnit
from fleet.rules import UnitSpan


def _select(*columns: Any) -> Any:
    return sa_select(*columns)


def unit_at(vehicle_id: Any, day: Any, current: Any = None) -> Any:
    """SQL: the unit that held the car on `day` (fleet_vehicle_unit), else its current unit (`current`, when
    the statement joins the vehicle already) — so a transferred car's trips before the transfer stay with
    the old unit."""
    held = (
        _select(VehicleUnit.unit_id)
        .where(
            col(VehicleUnit.vehicle_id) == vehicle_id,
            or_(col(VehicleUnit.from_on).is_(None), col(VehicleUnit.from_on) <= day),
            or_(col(VehicleUnit.to_on).is_(None), col(VehicleUnit.to_on) > day),
        )
        .limit(1)
        .scalar_subquery()
    )
    if current is None:
        current = _select(Vehicle.unit_id).where(col(Vehicle.id) == vehicle_id).scalar_subquery()
    return func.coalesce(held, current)


def unit_history(session: Session) -> dict[int, list[UnitSpan]]:
    """Each transferred car's spans (from, to, unit); a car not in it was always its current unit's."""
    out: dict[int, list[UnitSpan]] = defaultdict(list)
    for vid, lo, hi, unit in session.exec(
        _select(VehicleUnit.vehicle_id, VehicleUnit.from_on, VehicleUnit.to_on, VehicleUnit.unit_id)
    ).all():
        out[vid].append((lo, hi, unit))
    return dict(out)

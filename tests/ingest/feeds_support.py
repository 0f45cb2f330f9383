"""Shared by the live-feed tests: committed vehicles (servers use their own connections, so a test's
rolled-back session is invisible to them) and the cleanup of everything a server wrote for them."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from bench.common import delete_device_rows
from core.models import Unit
from fleet.models import Position, Vehicle
from ingest.models import FeedDevice

MakeVehicle = Callable[..., Vehicle]


def new_tracker_id() -> str:
    return "139" + "".join(secrets.choice("0123456789") for _ in range(8))


@pytest.fixture
def live_vehicles(engine: Engine) -> Iterator[MakeVehicle]:
    """`make(**kw)` commits a unit and a vehicle with a fresh tracker id; all is deleted afterwards,
    with every position, feed row and terminal of those trackers."""
    vehicles: list[Vehicle] = []
    units: list[int] = []

    def make(**kw: Any) -> Vehicle:
        tag = secrets.token_hex(4)
        with Session(engine, expire_on_commit=False) as s:
            unit = Unit(name=f"feeds-test-{tag}", kind="department")
            s.add(unit)
            s.flush()
            assert unit.id is not None
            units.append(unit.id)
            vehicle = Vehicle(
                **{
                    "plate": f"晋M·T{tag[:4].upper()}",
                    "unit_id": unit.id,
                    "tracker_id": new_tracker_id(),
                    **kw,
                }
            )
            s.add(vehicle)
            s.commit()
        vehicles.append(vehicle)
        return vehicle

    yield make
    cleanup(engine, [v.tracker_id for v in vehicles if v.tracker_id], [v.id for v in vehicles if v.id], units)


def cleanup(engine: Engine, devices: list[str], vehicle_ids: list[int], unit_ids: list[int]) -> None:
    with Session(engine) as s:
        delete_device_rows(s, devices)
        s.exec(delete(Vehicle).where(col(Vehicle.id).in_(vehicle_ids)))  # type: ignore[call-overload]
        s.exec(delete(Unit).where(col(Unit.id).in_(unit_ids)))  # type: ignore[call-overload]
        s.commit()


def stored(engine: Engine, device: str) -> list[Position]:
    with Session(engine) as s:
        return list(
            s.exec(select(Position).where(Position.device_id == device).order_by(col(Position.fix_ts))).all()
        )


def feed_row(engine: Engine, source: str, device: str) -> FeedDevice | None:
    with Session(engine) as s:
        return s.exec(
            select(FeedDevice).where(FeedDevice.source == source, FeedDevice.device_id == device)
        ).first()

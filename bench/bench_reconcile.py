"""Reconcile benchmark (issue 10): one province-day — 5,000 vehicles, ~25,000 trips, ~25,000 orders — on a
fresh SQLite file (and PostgreSQL with --db both), timed; then the same day again (a re-run changes
nothing).

    .venv/bin/python -m bench.bench_reconcile                      # SQLite, 5,000 vehicles
    .venv/bin/python -m bench.bench_reconcile --vehicles 500 --db both

The day before is reconciled first (untimed), so the timed run also re-checks a realistic queue of open
flags. Hourly fixes for three days let silent trackers (1 %) and idle cars (1 %) be judged.
"""

from __future__ import annotations

import tempfile
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from bench.common import arg_parser, fresh_db, pg_available
from core.db import unit_of_work
from core.models import Unit
from core.timeutil import CHINA, china_day
from fleet import reconcile
from fleet.models import Flag, Position, Trip, TripOrder, Vehicle

DAY = date(2024, 6, 3)
FIX = {"speed_kmh": 0.0, "source": 0, "valid": True}


def cn(d: date, hour: float) -> datetime:
    return (datetime(d.year, d.month, d.day, tzinfo=CHINA) + timedelta(hours=hour)).astimezone(UTC)


def populate(engine: Engine, vehicles: int, seed: int) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    units = max(vehicles // 25, 1)
    with engine.begin() as conn:
        conn.execute(
            insert(Unit),
            [{"name": f"单位{i:04d}", "kind": "township" if i % 3 else "department"} for i in range(units)],
        )
        unit_ids = [r[0] for r in conn.execute(select(Unit.id).order_by(Unit.id))]
        conn.execute(
            insert(Vehicle),
            [
                {"plate": f"晋M·{i:05d}", "unit_id": unit_ids[i % units], "tracker_id": f"D{i:06d}"}
                for i in range(vehicles)
            ],
        )
        vids = [r[0] for r in conn.execute(select(Vehicle.id).order_by(Vehicle.id))]

    kind = rng.random(vehicles)
    silent = kind < 0.01  # tracker silent since 1 June 08:00
    idle = (kind >= 0.01) & (kind < 0.02)  # parked since May
    never_files = (kind >= 0.02) & (kind < 0.04)
    trips: list[dict[str, Any]] = []
    orders: list[dict[str, Any]] = []
    fixes: list[dict[str, Any]] = []
    n_order = 0

    def add_order(vid: int, uid: int, start: datetime, end: datetime, status: str = "approved") -> None:
        nonlocal n_order
        n_order += 1
        orders.append(
            {
                "order_no": f"PC{n_order:07d}",
                "vehicle_id": vid,
                "unit_id": uid,
                "planned_start_at": start,
                "planned_end_at": end,
                "status": status,
                "driver": "司机",
                "destination": "某乡",
            }
        )

    for i, vid in enumerate(vids):
        uid = unit_ids[i % units]
        device = f"D{i:06d}"
        last_fix = cn(date(2024, 6, 1), 8) if silent[i] else cn(DAY, 23)
        t = cn(date(2024, 6, 1), 0)
        while t <= last_fix:
            fixes.append(
                {"device_id": device, "fix_ts": int(t.timestamp()), "lat": 37.7, "lon": 112.7, **FIX}
            )
            t += timedelta(hours=1)
        if idle[i]:
            trips.append(_trip(vid, device, cn(date(2024, 5, 1), 9), 30))
            continue
        if silent[i]:
            trips.append(_trip(vid, device, cn(date(2024, 5, 31), 9), 30))
            add_order(vid, uid, cn(date(2024, 6, 2), 9), cn(date(2024, 6, 2), 11))  # listed on the spell
            continue
        for d in (DAY - timedelta(days=1), DAY):
            slots = np.array([8.0, 10.5, 13.0, 15.5, 18.0]) + rng.uniform(-0.6, 0.6, 5)
            minutes = rng.integers(10, 60, 5)
            day_trips = [_trip(vid, device, cn(d, h), int(m)) for h, m in zip(slots, minutes, strict=True)]
            trips += day_trips
            if never_files[i]:
                continue
            for trip in day_trips:
                r = rng.random()
                if r < 0.9:
                    add_order(
                        vid,
                        uid,
                        trip["start_at"] - timedelta(minutes=int(rng.integers(0, 20))),
                        trip["end_at"] + timedelta(minutes=int(rng.integers(0, 30))),
                    )
                elif r < 0.93:
                    add_order(vid, uid, trip["start_at"], trip["end_at"], "pending")
            if rng.random() < 0.5:  # an order with no trip: at night, the car stays home
                add_order(vid, uid, cn(d, 21), cn(d, 22))
    with engine.begin() as conn:
        for rows, table in ((orders, TripOrder), (trips, Trip), (fixes, Position)):
            for k in range(0, len(rows), 20_000):
                conn.execute(insert(table), rows[k : k + 20_000])
    return {"vehicles": vehicles, "orders": len(orders), "trips": len(trips), "fixes": len(fixes)}


def _trip(vid: int, device: str, start: datetime, minutes: int) -> dict[str, Any]:
    end = start + timedelta(minutes=minutes)
    return {
        "vehicle_id": vid,
        "device_id": device,
        "start_at": start,
        "end_at": end,
        "service_day": china_day(start),
        "start_lat": 37.7,
        "start_lon": 112.7,
        "end_lat": 37.8,
        "end_lon": 112.8,
        "distance_m": minutes * 600.0,
        "duration_s": minutes * 60,
        "max_speed_kmh": 70.0,
        "avg_speed_kmh": 36.0,
    }


def run(engine: Engine, label: str, vehicles: int, seed: int) -> None:
    t = time.perf_counter()
    sizes = populate(engine, vehicles, seed)
    setup = time.perf_counter() - t
    with unit_of_work(engine) as s:
        day_trips = s.scalar(select(func.count()).select_from(Trip).where(Trip.service_day == DAY))
        day_orders = s.scalar(
            select(func.count())
            .select_from(TripOrder)
            .where(TripOrder.planned_start_at >= cn(DAY, 0), TripOrder.planned_start_at < cn(DAY, 24))
        )
    print(
        f"{label}: {sizes['vehicles']} vehicles, {day_trips} trips and {day_orders} orders on {DAY} "
        f"({sizes['trips']} trips, {sizes['orders']} orders, {sizes['fixes']} fixes stored; "
        f"set-up {setup:.1f} s)"
    )
    rules = reconcile.Rules()
    with unit_of_work(engine) as s:
        t = time.perf_counter()
        before = reconcile.reconcile_day(s, DAY - timedelta(days=1), rules=rules)
        s.commit()
        print(f"  day before (untimed set-up): {time.perf_counter() - t:.2f} s, raised {before['raised']}")
    for attempt in ("reconcile", "re-run  "):
        with unit_of_work(engine) as s:
            t, cpu = time.perf_counter(), time.process_time()
            counts = reconcile.reconcile_day(s, DAY, rules=rules)
            s.commit()
            seconds, cpu = time.perf_counter() - t, time.process_time() - cpu
        print(
            f"  {attempt} {DAY}: {seconds:.2f} s (CPU {cpu:.2f} s) — trips {counts['trips']}, "
            f"covered {counts['covered']}, raised {counts['raised']}, resolved {counts['resolved']}"
        )
    with unit_of_work(engine) as s:
        kinds = Counter(
            k
            for (k,) in s.exec(select(Flag.kind).where(Flag.state == "open")).all()  # type: ignore[call-overload]
        )
    print("  open flags: " + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items())))


def main() -> None:
    ap = arg_parser(__doc__, vehicles=5000, db="sqlite")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    kinds = ["sqlite", "postgresql"] if args.db == "both" else [args.db]
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            if kind == "postgresql" and not pg_available():
                print("PostgreSQL: not reachable, skipped")
                continue
            with fresh_db(kind, Path(tmp)) as db:
                run(db.engine, db.name, args.vehicles, args.seed)


if __name__ == "__main__":
    main()

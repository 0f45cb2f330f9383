"""Compliance rules benchmark (issue 21): what the trip tags and the rule flags add to reconciling a
province-day. N vehicles × 1 day of generated positions go through the ingest path and the re-cut into
two fresh databases; orders cover most trips; a square service area covers the region (--area-km).
Then the day is reconciled in each: once without the compliance rules, once with all of them (calendar,
night window, overspeed and out of area over the fixes of every trip that could break them, and the cars'
night away from their 停放点: one car in ten is given a home 3 km from where it spends the night).

    .venv/bin/python -m bench.bench_rules --vehicles 5000 --db sqlite
    .venv/bin/python -m bench.bench_rules --vehicles 500 --db both           # quick

The issue's bar: at most 30 % more than the reconcile without the rules.
"""

from __future__ import annotations

import json
import tempfile
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import bindparam, insert, select, update

from bench.bench_store import batches
from bench.common import Timer, arg_parser, db_kinds, fresh_db, register_vehicles
from bench.gen import generate
from core.db import unit_of_work
from core.perf import keep_freed_memory
from fleet import reconcile, tags
from fleet.models import Trip, TripOrder, Vehicle
from fleet.positions import ingest_fixes
from fleet.trips import recut_pending

DAY = date(2024, 6, 3)  # a Monday
ROUNDS = 3


def area(center: tuple[float, float], km: float) -> str:
    """A square of `km` around the generated region's center: the farther trips leave it."""
    lat, lon = center
    dlat, dlon = km / 2 / 110.574, km / 2 / (111.32 * np.cos(np.radians(lat)))
    ring = [[lon - dlon, lat - dlat], [lon + dlon, lat - dlat], [lon + dlon, lat + dlat]]
    ring.append([lon - dlon, lat + dlat])
    return json.dumps({"type": "Polygon", "coordinates": [[*ring, ring[0]]]})


def prepare(db, tracks, seed: int, area_km: float = 80) -> int:  # type: ignore[no-untyped-def]
    register_vehicles(db.engine, [(tr.device_id, tr.plate) for tr in tracks])
    with unit_of_work(db.engine) as s:
        for b in batches(tracks, 500_000):
            ingest_fixes(s, b, "import")
        s.commit()
    with unit_of_work(db.engine) as s:
        recut_pending(s)
        tags.import_service_area(s, area((35.03, 111.0), area_km), name="bench", actor="bench")
        s.commit()
    rng = np.random.default_rng(seed)
    with db.engine.begin() as conn:
        # 停放点: where each car is at the day's first fix, a car in ten kept 3 km from it (夜间未归)
        homes = [
            {"p": tr.plate, "lat": float(tr.lat[0]) + (0.027 if k % 10 == 0 else 0), "lon": float(tr.lon[0])}
            for k, tr in enumerate(tracks)
            if len(tr)
        ]
        conn.execute(
            update(Vehicle)
            .where(Vehicle.plate == bindparam("p"))
            .values(home_lat=bindparam("lat"), home_lon=bindparam("lon")),
            homes,
        )
        units = dict(conn.execute(select(Vehicle.id, Vehicle.unit_id)).all())
        rows = conn.execute(select(Trip.vehicle_id, Trip.start_at, Trip.end_at)).all()
        orders = [
            {
                "order_no": f"B{k:07d}", "vehicle_id": vid, "unit_id": units[vid], "status": "approved",
                "planned_start_at": start - timedelta(minutes=10),
                "planned_end_at": end + timedelta(minutes=20),
                "driver": "司机", "destination": "某乡", "out_of_county": bool(rng.random() < 0.05),
            }
            for k, (vid, start, end) in enumerate(rows)
            if rng.random() < 0.85
        ]  # fmt: skip
        for i in range(0, len(orders), 5000):
            conn.execute(insert(TripOrder), orders[i : i + 5000])
    return len(rows)


def main() -> None:
    ap = arg_parser(__doc__, vehicles=5000, db="sqlite")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--area-km", type=float, default=80,
        help="side of the square service area; the cars' bases spread ±25 km (56: a stress case)",
    )  # fmt: skip
    args = ap.parse_args()
    keep_freed_memory()  # as every `gongwu` command runs

    tracks = generate(args.vehicles, 1, seed=args.seed, start=DAY)
    points = sum(len(tr) for tr in tracks)
    print(f"{args.vehicles} vehicles, 1 day ({DAY}), {points:,} points")
    kinds = db_kinds(args.db)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            with fresh_db(kind, Path(tmp)) as without, fresh_db(kind, Path(tmp)) as with_rules:
                trips = prepare(without, tracks, args.seed, args.area_km)
                prepare(with_rules, tracks, args.seed, args.area_km)
                # three rounds, alternating, each rolled back: the machine's minute-to-minute spread is
                # as large as what is measured, so the best of each is compared (and the range shown)
                runs: dict[str, list[float]] = {"without": [], "with": []}
                for _ in range(ROUNDS):
                    for label, db, on in (("without", without, False), ("with", with_rules, True)):
                        with unit_of_work(db.engine) as s, Timer() as t:
                            counts = reconcile.reconcile_day(s, DAY, compliance_rules=on)
                            s.rollback()
                        runs[label].append(t.seconds)
                        if on:
                            names = ("overspeed_raised", "out_of_area_trip_raised", "away_overnight_raised")
                            tagged = {name: int(counts.get(name, 0)) for name in names}
                            retagged = counts.get("trips_retagged", 0)
                            read = counts.get("trips_fixes_read", 0)
                times = {k: min(v) for k, v in runs.items()}
                print(f"{db.name}: {trips:,} trips")
                spread = {k: f"{min(v):.2f}–{max(v):.2f} s" for k, v in runs.items()}
                print(f"  {'reconcile without the rules':34s} {spread['without']}")
                print(f"  {'reconcile with all the rules':34s} {spread['with']}")
                print(f"  {'':34s} ({retagged:,} trips tagged; {tagged})")
                print(f"  {'trips whose fixes were read':34s} {read:6,}")
                added = (times["with"] / times["without"] - 1) * 100
                print(f"  {'the rules add (best of each)':34s} {added:+6.1f} %")


if __name__ == "__main__":
    main()

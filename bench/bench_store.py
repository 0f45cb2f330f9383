"""Cut + store benchmark (issue 3): positions of N vehicles × D days through the one ingest path into a
fresh SQLite file and a fresh PostgreSQL database, then the stored trips re-cut from what was stored.

    .venv/bin/python -m bench.bench_store --vehicles 500 --days 1          # quick
    .venv/bin/python -m bench.bench_store --vehicles 5000 --days 1         # a province-day (~5 M points)

Prints points/s for: cutting alone (arrays in memory), ingest (screen, de-duplicate, insert), re-cut
(read back, cut, store trips and stops), and the whole cut + store, per database; bytes per stored
position on SQLite; the process's peak memory.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from bench.common import Timer, arg_parser, db_kinds, fresh_db, peak_rss_mb, register_vehicles
from bench.gen import concat, generate
from core.db import unit_of_work
from core.perf import keep_freed_memory
from fleet.positions import FixBatch, ingest_fixes
from fleet.tripcut import TripParams, cut_many
from fleet.trips import recut_pending


def batches(tracks: list, size: int):  # type: ignore[no-untyped-def]
    """The generated fixes as FixBatches of about `size` points, whole devices each (as a feed or an
    import would deliver them)."""
    group: list = []
    count = 0
    for tr in tracks:
        group.append(tr)
        count += len(tr)
        if count >= size:
            yield _batch(group)
            group, count = [], 0
    if group:
        yield _batch(group)


def _batch(tracks: list) -> FixBatch:  # type: ignore[type-arg]
    a = concat(tracks)
    n = len(a["t"])
    return FixBatch(
        device_id=np.concatenate([np.full(len(tr), tr.device_id, dtype=object) for tr in tracks]),
        fix_ts=a["t"],
        lat=a["lat"],
        lon=a["lon"],
        speed_kmh=a["speed_kmh"],
        course=a["course"],
        ignition=a["ignition"].astype(np.int8),
        odometer_m=np.full(n, np.nan),
        valid=np.ones(n, dtype=bool),
    )


def main() -> None:
    ap = arg_parser(__doc__, vehicles=500)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=500_000, help="points per ingest batch")
    args = ap.parse_args()
    # as every `gongwu` command runs (gongwu/cli.py): freed NumPy temporaries stay in the heap
    keep_freed_memory()

    with Timer() as t_gen:
        tracks = generate(args.vehicles, args.days, seed=args.seed)
    points = sum(len(tr) for tr in tracks)
    print(
        f"{args.vehicles} vehicles × {args.days} day(s): {points:,} points "
        f"(generated in {t_gen.seconds:.1f} s)"
    )

    a = concat(tracks)
    with Timer() as t_cut:
        results = cut_many(a["t"], a["lat"], a["lon"], a["speed_kmh"], a["starts"], params=TripParams())
    trips = sum(len(r.trips) for r in results)
    print(f"{'cut alone (arrays)':34s} {points / t_cut.seconds:>14,.0f} points/s  {trips:,} trips")

    kinds = db_kinds(args.db)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            with fresh_db(kind, Path(tmp)) as db:
                register_vehicles(db.engine, [(tr.device_id, tr.plate) for tr in tracks])
                with unit_of_work(db.engine) as s, Timer() as t_in:
                    inserted = sum(ingest_fixes(s, b, "import").inserted for b in batches(tracks, args.batch))
                    s.commit()
                with unit_of_work(db.engine) as s, Timer() as t_re:
                    counts = recut_pending(s)
                    s.commit()
                total = t_in.seconds + t_re.seconds
                print(f"{db.name}:")
                print(
                    f"  {'ingest (screen, dedupe, insert)':32s} {points / t_in.seconds:>14,.0f} points/s  "
                    f"{t_in.seconds:6.1f} s  ({inserted:,} stored)"
                )
                print(
                    f"  {'re-cut (read back, cut, store)':32s} {points / t_re.seconds:>14,.0f} points/s  "
                    f"{t_re.seconds:6.1f} s  ({counts.trips_added:,} trips, {counts.stops_added:,} stops)"
                )
                print(f"  {'cut + store, total':32s} {points / total:>14,.0f} points/s  {total:6.1f} s")
                if kind == "sqlite":
                    with db.engine.connect() as c:
                        size = (
                            c.exec_driver_sql(
                                "SELECT sum(pgsize) FROM dbstat WHERE name = 'fleet_position'"
                            ).scalar()
                            or 0
                        )
                    print(f"  {'bytes per stored position':32s} {size / max(inserted, 1):>14.1f}")
    print(f"peak memory of this process: {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()

"""Cut + store with tracker assignment history (issue 20): a province-day of N vehicles through the one
ingest path and the re-cut, once with every car keeping its tracker (the vehicles file's implicit
assignments only) and once with S of them having their tracker swapped at noon (the old tracker's
explicit assignment ends, a new tracker's begins; the afternoon's fixes come from the new tracker).

    .venv/bin/python -m bench.bench_assignments --vehicles 5000 --swaps 300 --db sqlite
    .venv/bin/python -m bench.bench_assignments --vehicles 500 --swaps 30 --runs 1      # quick

The two are run alternately in fresh databases (same points, same machine, same run) and the slowdown of
the history printed: the issue's bar is at most 10 %.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from bench.bench_store import batches
from bench.common import Timer, arg_parser, db_kinds, fresh_db
from bench.gen import Track, generate
from core.db import unit_of_work
from core.models import Unit
from core.perf import keep_freed_memory
from core.timeutil import CHINA
from fleet.models import TrackerAssignment, Vehicle
from fleet.positions import ingest_fixes
from fleet.trips import recut_pending

DAY_START = datetime(2024, 6, 3, tzinfo=CHINA)
NOON = int(datetime(2024, 6, 3, 12, tzinfo=CHINA).timestamp())


def swapped(tracks: list[Track], swaps: int) -> tuple[list[Track], set[str]]:
    """The same fixes with every (N / swaps)-th car's afternoon sent by a new tracker (id + "S")."""
    step = max(1, len(tracks) // max(swaps, 1))
    chosen = {tr.device_id for tr in tracks[::step][:swaps]}
    out = []
    for tr in tracks:
        if tr.device_id not in chosen:
            out.append(tr)
            continue
        am = tr.t < NOON
        for part, device in ((am, tr.device_id), (~am, tr.device_id + "S")):
            fields = {k: getattr(tr, k)[part] for k in ("t", "lat", "lon", "speed_kmh", "course", "ignition")}
            out.append(replace(tr, device_id=device, odometer_m=tr.odometer_m[part], **fields))
    return out, chosen


def register(engine, tracks: list[Track], chosen: set[str]) -> None:  # type: ignore[no-untyped-def]
    """The cars with their implicit assignments (as migration 0010 backfills them); a swapped car's
    history is two explicit rows: the old tracker until noon, the new one since."""
    noon = datetime.fromtimestamp(NOON, UTC)
    since = datetime(2024, 1, 1, tzinfo=CHINA)
    with unit_of_work(engine) as s:
        unit = Unit(name="基准测试单位", kind="department")
        s.add(unit)
        s.flush()
        assert unit.id is not None
        cars = [
            Vehicle(
                plate=tr.plate,
                unit_id=unit.id,
                tracker_id=tr.device_id + ("S" if tr.device_id in chosen else ""),
            )
            for tr in tracks
            if not tr.device_id.endswith("S")
        ]
        s.add_all(cars)
        s.flush()
        rows = []
        for car in cars:
            assert car.tracker_id is not None and car.id is not None
            if car.tracker_id.endswith("S"):
                old = car.tracker_id[:-1]
                rows.append(
                    TrackerAssignment(device_id=old, vehicle_id=car.id, installed_at=since, removed_at=noon)
                )
                rows.append(TrackerAssignment(device_id=car.tracker_id, vehicle_id=car.id, installed_at=noon))
            else:
                rows.append(TrackerAssignment(device_id=car.tracker_id, vehicle_id=car.id, implicit=True))
        s.add_all(rows)
        s.commit()


def run(kind: str, tmp: Path, tracks: list[Track], chosen: set[str], batch: int) -> tuple[float, int, str]:
    with fresh_db(kind, tmp) as db:
        register(db.engine, tracks, chosen)
        with unit_of_work(db.engine) as s, Timer() as t_in:
            for b in batches(tracks, batch):
                ingest_fixes(s, b, "import")
            s.commit()
        with unit_of_work(db.engine) as s, Timer() as t_re:
            counts = recut_pending(s)
            s.commit()
        return t_in.seconds + t_re.seconds, counts.trips_added, db.name


def main() -> None:
    ap = arg_parser(__doc__, vehicles=5000, db="sqlite")
    ap.add_argument("--swaps", type=int, default=300)
    ap.add_argument("--runs", type=int, default=2, help="alternating runs of each")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=500_000, help="points per ingest batch")
    args = ap.parse_args()
    keep_freed_memory()  # as every `gongwu` command runs

    plain = generate(args.vehicles, 1, seed=args.seed, start=DAY_START.date())
    moved, chosen = swapped(plain, args.swaps)
    points = sum(len(tr) for tr in plain)
    assert points == sum(len(tr) for tr in moved)
    print(f"{args.vehicles} vehicles, 1 day, {points:,} points; {len(chosen)} trackers swapped at noon")
    kinds = db_kinds(args.db)
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds:
            times: dict[str, list[float]] = {"none": [], "swaps": []}
            trips: dict[str, int] = {}
            name = kind
            for _ in range(args.runs):
                for label, tracks, which in (("none", plain, set()), ("swaps", moved, chosen)):
                    seconds, trips[label], name = run(kind, Path(tmp), tracks, which, args.batch)
                    times[label].append(seconds)
            best = {k: min(v) for k, v in times.items()}
            print(f"{name}:")
            for label, title in (
                ("none", "no swaps (implicit assignments)"),
                ("swaps", f"{len(chosen)} swaps at noon"),
            ):
                runs = ", ".join(f"{s:.1f}" for s in times[label])
                print(f"  {title:34s} best {best[label]:6.1f} s  ({runs} s; {trips[label]:,} trips)")
            print(f"  {'history slower by':34s} {(best['swaps'] / best['none'] - 1) * 100:+6.1f} %")
            assert np.isfinite(best["swaps"])


if __name__ == "__main__":
    main()

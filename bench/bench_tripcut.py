"""Points per second for trip cutting alone (no database), and MovingPandas' stop detection on the same
points when it is installed (the optional `bench` extra).

    .venv/bin/python -m bench.bench_tripcut --vehicles 500 --days 1

Times are the best of ``--repeat`` runs, wall clock. Cutting is measured the way the nightly job uses it
(`cut_many` over all devices at once, with the drift filter) and, for comparison, with the drift filter
off (Traccar's classic logic) and device by device (`cut` in a loop). MovingPandas is slow (thousands of
fixes a second), so it runs on the first ``--mp-vehicles`` vehicles only.

NumPy's temporaries are a few hundred kB each; glibc hands such blocks back to the kernel as soon as the
top of the heap is free (its trim threshold adapts to only twice the block size), so every new
temporary costs page faults — about a third of the drift filter's time. The rows marked "glibc tuned"
repeat the cutting after raising the trim and mmap thresholds with mallopt(3), which a long-running job
can do the same way or with MALLOC_TRIM_THRESHOLD_=268435456 MALLOC_MMAP_THRESHOLD_=268435456.
"""

from __future__ import annotations

import argparse
import gc
import time
import warnings
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np

from bench.gen import Track, concat, generate
from core.perf import keep_freed_memory
from fleet.tripcut import CutResult, TripParams, cut, cut_many


def best_of(repeat: int, fn: Callable[[], Any]) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def row(name: str, points: int, seconds: float, trips: int, truth: int, note: str = "") -> None:
    rate = points / seconds if seconds > 0 else float("inf")
    print(f"{name:<52} {points:>10,} {seconds:>9.3f} {rate:>14,.0f} {trips:>7} / {truth:<7} {note}")


def movingpandas_row(tracks: list[Track], repeat: int) -> None:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import geopandas as gpd
            import movingpandas as mpd
            import pandas as pd
    except Exception as exc:  # ImportError, or a broken GDAL/PROJ stack
        print(f"{'MovingPandas StopSplitter':<52} skipped: not importable ({type(exc).__name__}: {exc}).")
        print("  install the optional extra: .venv/bin/pip install -e '.[bench]'")
        return
    a = concat(tracks)
    n = len(a["t"])
    ids = np.repeat([tr.device_id for tr in tracks], [len(tr) for tr in tracks])
    df = pd.DataFrame({"device": ids, "time": pd.to_datetime(a["t"], unit="s", utc=True).tz_localize(None)})
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(a["lon"], a["lat"]), crs="EPSG:4326")

    def run() -> int:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tc = mpd.TrajectoryCollection(gdf, traj_id_col="device", t="time")
            moves = mpd.StopSplitter(tc).split(
                max_diameter=100, min_duration=timedelta(seconds=300), min_length=500
            )
        return len(moves.trajectories)

    seconds, trips = best_of(max(1, min(repeat, 2)), run)
    truth = sum(tr.true_trips for tr in tracks)
    note = f"({len(tracks)} vehicles, v{mpd.__version__})"
    row("MovingPandas StopSplitter", n, seconds, trips, truth, note)


def tune_glibc_malloc() -> str | None:
    """Keep freed memory in the heap instead of giving it back: None if done, else why not."""
    return keep_freed_memory()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--vehicles", type=int, default=500)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--mp-vehicles", type=int, default=10, help="vehicles given to MovingPandas (0: skip)")
    ap.add_argument("--no-malloc-tuning", action="store_true", help="skip the glibc-tuned rows")
    a = ap.parse_args()

    t0 = time.perf_counter()
    tracks = generate(a.vehicles, a.days, seed=a.seed)
    arrays = concat(tracks)
    n = len(arrays["t"])
    truth = sum(tr.true_trips for tr in tracks)
    print(
        f"{a.vehicles} vehicles × {a.days} day(s), seed {a.seed}: {n:,} fixes, {truth} trips driven "
        f"(generated in {time.perf_counter() - t0:.1f} s)"
    )
    print(f"{'':<52} {'fixes':>10} {'seconds':>9} {'fixes/s':>14} {'trips / driven'}")

    def batch(params: TripParams) -> Callable[[], list[CutResult]]:
        return lambda: cut_many(
            arrays["t"], arrays["lat"], arrays["lon"], arrays["speed_kmh"], arrays["starts"], params=params
        )

    def one_by_one() -> int:
        return sum(len(cut(tr.t, tr.lat, tr.lon, tr.speed_kmh).trips) for tr in tracks)

    def cutting(tag: str) -> None:
        for name, params in (
            ("cut_many, drift filter", TripParams()),
            ("cut_many, classic (no filter)", TripParams(drift_filter=False)),
        ):
            seconds, results = best_of(a.repeat, batch(params))
            row(f"tripcut {name}{tag}", n, seconds, sum(len(r.trips) for r in results), truth)
        seconds, trips = best_of(a.repeat, one_by_one)
        row(f"tripcut cut per device{tag}", n, seconds, trips, truth)

    cutting("")
    if not a.no_malloc_tuning:
        why_not = tune_glibc_malloc()
        if why_not is None:
            cutting(", glibc tuned")
        else:
            print(f"glibc malloc tuning skipped: {why_not}")

    if a.mp_vehicles > 0:
        movingpandas_row(tracks[: a.mp_vehicles], a.repeat)


if __name__ == "__main__":
    main()

"""Naming stops by the gazetteer (issue 23): N stops against P places over a county (the issue's bar: 10,000
against 20,000 in under a second), through fleet/places.py's STRtree, side by side with the scan it
replaces (every stop against every place, numpy, in blocks) — the same answers, checked.

    .venv/bin/python -m bench.bench_places --stops 10000 --places 20000
    .venv/bin/python -m bench.bench_places --stops 2000 --places 5000 --runs 1      # quick
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fleet.places import EARTH_M, Gazetteer


def county(rng: np.random.Generator, stops: int, places: int) -> tuple[np.ndarray, ...]:
    """A county 60 km across: places clustered in villages and towns, stops mostly near places."""
    centres = 37 + rng.random((200, 2)) * 0.55
    p_at = centres[rng.integers(0, 200, places)] + rng.normal(0, 0.01, (places, 2))
    radius = rng.choice([50.0, 100.0, 300.0, 500.0, 1000.0], places)
    near = p_at[rng.integers(0, places, stops)] + rng.normal(0, 0.002, (stops, 2))
    anywhere = 37 + rng.random((stops, 2)) * 0.55
    s_at = np.where(rng.random((stops, 1)) < 0.8, near, anywhere)
    return p_at[:, 0], p_at[:, 1], radius, s_at[:, 0], s_at[:, 1]


def scan(p_lat, p_lon, radius, s_lat, s_lon, block: int = 500):  # type: ignore[no-untyped-def]
    """The peer: every stop's distance to every place (in blocks, to bound memory)."""
    k = np.pi / 180 * EARTH_M
    c = np.cos(np.radians(p_lat.mean()))
    px, py = p_lon * k * c, p_lat * k
    out_place = np.empty(len(s_lat), dtype=np.int64)
    out_in = np.empty(len(s_lat), dtype=bool)
    for i in range(0, len(s_lat), block):
        sx, sy = s_lon[i : i + block, None] * k * c, s_lat[i : i + block, None] * k
        d = np.hypot(px[None, :] - sx, py[None, :] - sy)
        within = np.where(d <= radius[None, :], d, np.inf)
        at = np.isfinite(within.min(axis=1))
        out_place[i : i + block] = np.where(at, within.argmin(axis=1), d.argmin(axis=1))
        out_in[i : i + block] = at
    return out_place, out_in


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stops", type=int, default=10_000)
    ap.add_argument("--places", type=int, default=20_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=23)
    a = ap.parse_args()
    p_lat, p_lon, radius, s_lat, s_lon = county(np.random.default_rng(a.seed), a.stops, a.places)
    best = {"index": np.inf, "build": np.inf, "name": np.inf, "scan": np.inf}
    for _ in range(a.runs):
        t0 = time.perf_counter()
        g = Gazetteer(p_lat, p_lon, radius)
        t1 = time.perf_counter()
        named = g.name(s_lat, s_lon)
        t2 = time.perf_counter()
        place, inside = scan(p_lat, p_lon, radius, s_lat, s_lon)
        t3 = time.perf_counter()
        best = {
            "index": min(best["index"], t2 - t0), "build": min(best["build"], t1 - t0),
            "name": min(best["name"], t2 - t1), "scan": min(best["scan"], t3 - t2),
        }  # fmt: skip
    same = bool((named.place == place).all() and (named.inside == inside).all())
    print(f"{a.stops:,} stops × {a.places:,} places, best of {a.runs}: answers identical: {same}")
    print(f"  STRtree  {best['index']:.3f} s  (index {best['build']:.3f} s + naming {best['name']:.3f} s)")
    print(f"  scan     {best['scan']:.3f} s  ({best['scan'] / best['index']:.0f}× the STRtree)")
    print(f"  at a place: {int(inside.sum()):,}, named from the nearest: {int((~inside).sum()):,}")


if __name__ == "__main__":
    main()

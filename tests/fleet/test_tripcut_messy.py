"""Trips from movement alone (issue #20): trackers without ACC and without speed, one fix per 30–60 s.

A seeded synthetic ground truth — several cars over many days, city and road trips with traffic-light
stops, parks from minutes to a night with GPS jitter, single-fix spikes and slow multipath wander, short
data gaps — is cut the way production cuts a device (`fleet.trips.cut_arrays`), and the cut trips are
matched one-to-one to the true ones by time overlap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from fleet.tripcut import TripParams
from fleet.trips import cut_arrays

M_PER_DEG = 111_195.0
T0 = 1_717_358_400  # 2024-06-03 04:00 China time: every car starts parked for the night
DAY = 86_400
# The shortest park generated. With one fix per 30–60 s a park of 5 min (min_parking_duration_s) shows
# fewer than 300 s of standing fixes, so even a tracker that reports speed cannot see it as a stop; from
# 5 min + one fix interval on it can. A little slack over that for the displacement window.
MIN_PARK_S = 7 * 60


@dataclass
class Truth:
    """One car's fixes (the arrays `cut_arrays` gets) and its true trips as [start, end) seconds."""

    fixes: dict[str, np.ndarray]
    trips: np.ndarray  # shape (n, 2)


def _trip_profile(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Per second of one trip: speed (m/s) and heading (rad). City trips stop at traffic lights
    (15–110 s, never at the ends); road trips rarely. 5–90 min and 2–60 km."""
    while True:
        duration = int(np.exp(rng.uniform(np.log(300), np.log(5400))))
        city = rng.random() < 0.6
        v: list[np.ndarray] = []
        h: list[np.ndarray] = []
        heading = rng.uniform(0, 2 * np.pi)
        total = 0
        while total < duration:
            length = int(rng.uniform(40, 300) if city else rng.uniform(120, 900))
            kmh = rng.uniform(20, 50) if city else rng.uniform(45, 90)
            heading += rng.choice([0.0, np.pi / 2, -np.pi / 2], p=[0.5, 0.25, 0.25])
            v.append(np.full(length, kmh / 3.6))
            h.append(heading + np.cumsum(rng.normal(0, 0.01, length)))
            total += length
            if rng.random() < (0.6 if city else 0.15) and total < duration - 60:
                stop = int(rng.uniform(15, 110))
                v.append(np.zeros(stop))
                h.append(np.full(stop, h[-1][-1]))
                total += stop
        speed = np.concatenate(v)[:duration]
        kernel = np.ones(15) / 15  # accelerate and brake over ~15 s
        speed = np.convolve(np.concatenate((np.zeros(7), speed, np.zeros(7))), kernel, mode="valid")
        distance = speed.sum()
        if 2000 <= distance <= 60_000:
            return speed, np.concatenate(h)[:duration]
        # scale into range if that keeps the speeds plausible, else draw again
        scale = np.clip(distance, 2000, 60_000) / distance
        if speed.max() * scale * 3.6 <= 120:
            return speed * scale, np.concatenate(h)[:duration]


def _park_seconds(rng: np.random.Generator) -> int:
    u = rng.random()
    if u < 0.5:
        return int(rng.uniform(MIN_PARK_S, 20 * 60))
    if u < 0.85:
        return int(rng.uniform(20 * 60, 2 * 3600))
    return int(rng.uniform(2 * 3600, 5 * 3600))


def make_car(seed: int, days: int, *, speed: float = math.nan) -> Truth:
    """`days` days of one car: nights parked, from about 7:00 to 21:00 trips between parks."""
    rng = np.random.default_rng(seed)
    end = T0 + days * DAY
    # The true track as knots (time, x, y): two per park, one per second of driving.
    kt: list[np.ndarray] = []
    kx: list[np.ndarray] = []
    ky: list[np.ndarray] = []
    parks: list[tuple[int, int, float, float]] = []
    trips: list[tuple[int, int]] = []
    x = y = 0.0
    now = T0
    day_end = T0 + int(rng.uniform(16, 17.5) * 3600)  # 20:00–21:30
    park = int(rng.uniform(2.5, 4) * 3600)  # first departure 6:30–8:00
    while True:
        if now + park >= end - 3600:
            parks.append((now, end, x, y))
            break
        parks.append((now, now + park, x, y))
        now += park
        speed_ms, heading = _trip_profile(rng)
        # Far from home: head back.
        if math.hypot(x, y) > 30_000:
            heading += math.atan2(-x, -y) - heading[0]
        px = x + np.cumsum(speed_ms * np.sin(heading))
        py = y + np.cumsum(speed_ms * np.cos(heading))
        n = len(speed_ms)
        kt.append(now + np.arange(n + 1))
        kx.append(np.concatenate(([x], px)))
        ky.append(np.concatenate(([y], py)))
        trips.append((now, now + n))
        now += n
        x, y = float(px[-1]), float(py[-1])
        if now > day_end:  # the night
            next_morning = day_end - int(16.5 * 3600) + DAY + int(rng.uniform(2.5, 4) * 3600)
            park = max(next_morning - now, 6 * 3600)
            day_end += DAY
        else:
            park = _park_seconds(rng)
    for a, b, px0, py0 in parks:
        kt.append(np.array([a, b]))
        kx.append(np.array([px0, px0]))
        ky.append(np.array([py0, py0]))
    order = np.argsort(np.concatenate([k[:1] for k in kt]), kind="stable")
    kt_all = np.concatenate([kt[i] for i in order])
    kx_all = np.concatenate([kx[i] for i in order])
    ky_all = np.concatenate([ky[i] for i in order])

    # Fix times: every 30–60 s, minus occasional gaps of 2–8 minutes (about one every 6 hours).
    t = T0 + np.cumsum(rng.integers(30, 61, int((end - T0) / 30)))
    t = t[t < end]
    gaps = rng.uniform(T0, end, int((end - T0) / (6 * 3600)))
    lengths = rng.uniform(120, 480, len(gaps))
    lo = np.searchsorted(t, gaps)
    hi = np.searchsorted(t, gaps + lengths)
    in_gap = np.zeros(len(t) + 1, dtype=int)
    np.add.at(in_gap, lo, 1)
    np.add.at(in_gap, hi, -1)
    t = t[in_gap.cumsum()[:-1] == 0]
    n = len(t)
    fx = np.interp(t, kt_all, kx_all)
    fy = np.interp(t, kt_all, ky_all)

    # Noise. Per park: jitter of 5–18 m (σ per axis: typically 10–40 m off) and a slow multipath
    # wander of 10–40 m over 10–60 minutes; while driving a few metres.
    starts = np.array([p[0] for p in parks])
    ends = np.array([p[1] for p in parks])
    which = np.searchsorted(starts, t, side="right") - 1
    parked = t < ends[which]
    sigma = np.where(parked, rng.uniform(5, 18, len(parks))[which], 4.0)
    fx += rng.normal(0, 1, n) * sigma
    fy += rng.normal(0, 1, n) * sigma
    for _ in range(3):
        amp = rng.uniform(10, 40, len(parks))[which] / 3
        period = rng.uniform(600, 3600, len(parks))[which]
        phase = rng.uniform(0, 2 * np.pi, (2, len(parks)))[:, which]
        fx += np.where(parked, amp * np.sin(2 * np.pi * t / period + phase[0]), 0.0)
        fy += np.where(parked, amp * np.sin(2 * np.pi * t / period + phase[1]), 0.0)
    # Single-fix spikes of 100–300 m: 1 % of the fixes parked, 0.3 % driving.
    spike = rng.random(n) < np.where(parked, 0.01, 0.003)
    r = rng.uniform(100, 300, n)
    a = rng.uniform(0, 2 * np.pi, n)
    fx += np.where(spike, r * np.sin(a), 0.0)
    fy += np.where(spike, r * np.cos(a), 0.0)

    lat0 = 35.0 + 0.2 * (seed % 5)
    lon0 = 111.0 + 0.2 * (seed % 7)
    fixes = {
        "t": t.astype(np.int64),
        "lat": lat0 + fy / M_PER_DEG,
        "lon": lon0 + fx / (M_PER_DEG * math.cos(math.radians(lat0))),
        "speed_kmh": np.full(n, speed),
        "ignition": np.full(n, -1, dtype=np.int8),
        "odometer_m": np.full(n, np.nan),
        "valid": np.ones(n, dtype=bool),
    }
    return Truth(fixes, np.array(trips, dtype=np.int64).reshape(-1, 2))


def match(true: np.ndarray, found: np.ndarray) -> int:
    """How many true trips are matched one-to-one by a found one: overlapping in time by at least half of
    the longer of the two (so a found trip spanning two true ones matches neither fully: one at most)."""
    if not len(true) or not len(found):
        return 0
    lo = np.maximum(true[:, None, 0], found[None, :, 0])
    hi = np.minimum(true[:, None, 1], found[None, :, 1])
    overlap = np.maximum(hi - lo, 0)
    longer = np.maximum(true[:, None, 1] - true[:, None, 0], found[None, :, 1] - found[None, :, 0])
    ok = overlap >= 0.5 * longer
    assert (ok.sum(axis=0) <= 1).all() and (ok.sum(axis=1) <= 1).all()  # one-to-one by construction
    return int(ok.sum())


CARS, DAYS = 8, 5


@pytest.fixture(scope="module")
def fleet_truth() -> list[Truth]:
    return [make_car(seed, DAYS) for seed in range(CARS)]


def trips_of(fixes: dict[str, np.ndarray], params: TripParams = TripParams()) -> np.ndarray:
    r = cut_arrays(fixes, params)
    return np.array([(tr.start_ts, tr.end_ts) for tr in r.trips], dtype=np.int64).reshape(-1, 2)


@pytest.mark.parametrize("speed", [math.nan, 0.0], ids=["speed-nan", "speed-zero"])
def test_trips_from_movement_alone_meet_the_quality_bar(fleet_truth: list[Truth], speed: float) -> None:
    n_true = n_found = n_matched = 0
    for car in fleet_truth:
        fixes = dict(car.fixes, speed_kmh=np.full(len(car.fixes["t"]), speed))
        found = trips_of(fixes)
        n_true += len(car.trips)
        n_found += len(found)
        n_matched += match(car.trips, found)
    assert n_true >= 300
    recall, precision = n_matched / n_true, n_matched / max(n_found, 1)
    assert recall >= 0.99, (recall, precision, n_true, n_found)
    assert precision >= 0.995, (recall, precision, n_true, n_found)

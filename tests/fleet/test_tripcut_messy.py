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

from fleet.tripcut import CutResult, TripParams, cut
from fleet.trips import cut_arrays

M_PER_DEG = 111_195.0
T0 = 1_717_358_400  # 2024-06-03 04:00 China time: every car starts parked for the night
DAY = 86_400
# The shortest park generated. With one fix per 30–60 s a park of 5 min (min_parking_duration_s) shows
# fewer than 300 s of standing fixes, so even a tracker that reports speed cannot see it as a stop; only
# from 5 min + one fix interval (6 min) on can it always. 7 min leaves one more interval of slack.
MIN_PARK_S = 7 * 60


@dataclass
class Truth:
    """One car's fixes (the arrays `cut_arrays` gets) and its true trips as [start, end) seconds."""

    fixes: dict[str, np.ndarray]
    trips: np.ndarray  # shape (n, 2)
    distance_m: np.ndarray  # of each true trip
    speed_kmh: np.ndarray  # the true speed at each fix (for the arrays of a tracker that reports it)


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


def make_car(seed: int, days: int, *, drive: bool = True, drift: float = 1.0) -> Truth:
    """`days` days of one car: parked at night, from about 7:00 to 21:00 trips between parks (with
    ``drive=False`` parked all along). ``drift`` scales the parked GPS noise."""
    rng = np.random.default_rng(seed)
    end = T0 + days * DAY
    # The true track as knots (time, x, y, speed): two per park, one per second of driving.
    knots: list[np.ndarray] = []
    parks: list[tuple[int, int]] = []
    trips: list[tuple[int, int]] = []
    distance: list[float] = []
    x = y = 0.0
    now = T0
    day_end = T0 + int(rng.uniform(16, 17.5) * 3600)  # 20:00–21:30
    park = int(rng.uniform(2.5, 4) * 3600)  # first departure 6:30–8:00
    while True:
        if now + park >= end - 3600:
            park = end - now
        knots.append(np.array([[now, x, y, 0.0], [now + park, x, y, 0.0]]))
        parks.append((now, now + park))
        now += park
        if now >= end:
            break
        if not drive:
            park = int(rng.uniform(3600, 6 * 3600))  # a new satellite geometry every few hours
            continue
        speed, heading = _trip_profile(rng)
        if math.hypot(x, y) > 30_000:  # far from home: head back
            heading += math.atan2(-x, -y) - heading[0]
        n = len(speed)
        knots.append(
            np.column_stack(
                (
                    now + np.arange(1, n + 1),
                    x + np.cumsum(speed * np.sin(heading)),
                    y + np.cumsum(speed * np.cos(heading)),
                    speed,
                )
            )
        )
        trips.append((now, now + n))
        distance.append(float(speed.sum()))
        now += n
        x, y = knots[-1][-1, 1:3]
        if now > day_end:  # the night
            park = max(day_end + DAY - int(rng.uniform(12.5, 14.5) * 3600) - now, 6 * 3600)
            day_end += DAY
        else:
            park = _park_seconds(rng)
    track = np.concatenate(knots)

    # Fix times: every 30–60 s, minus occasional gaps of 2–8 minutes (about one every 6 hours), while
    # driving (a tunnel) or parked (a garage) but not hiding where a trip starts or ends: no cutter can
    # place those, so such a gap would judge the data rather than the cutter.
    t = T0 + np.cumsum(rng.integers(30, 61, (end - T0) // 30))
    t = t[t < end]
    gaps = rng.uniform(T0, end, (end - T0) // (6 * 3600))
    lengths = rng.uniform(120, 480, len(gaps))
    edges = np.sort(np.array(trips, dtype=np.int64).ravel())
    clear = edges.searchsorted(gaps - 180) == edges.searchsorted(gaps + lengths + 180)
    starts, stops = np.searchsorted(t, gaps[clear]), np.searchsorted(t, (gaps + lengths)[clear])
    inside = np.zeros(len(t) + 1, dtype=int)
    np.add.at(inside, starts, 1)
    np.add.at(inside, stops, -1)
    t = t[inside.cumsum()[:-1] == 0]
    n = len(t)
    fx, fy, speed_ms = (np.interp(t, track[:, 0], track[:, k]) for k in (1, 2, 3))

    # Noise. Per park: jitter of σ 5–18 m per axis (typically 10–40 m off) and a slow multipath wander of
    # up to 40 m over 10–60 minutes; while driving a few metres.
    park_of = np.searchsorted([a for a, _ in parks], t, side="right") - 1
    parked = t < np.array([b for _, b in parks])[park_of]
    sigma = np.where(parked, drift * rng.uniform(5, 18, len(parks))[park_of], 4.0)
    fx += rng.normal(0, 1, n) * sigma
    fy += rng.normal(0, 1, n) * sigma
    for _ in range(3):
        amp = drift * rng.uniform(10, 40, len(parks))[park_of] / 3
        period = rng.uniform(600, 3600, len(parks))[park_of]
        phase = rng.uniform(0, 2 * np.pi, (2, len(parks)))[:, park_of]
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
        "speed_kmh": np.full(n, np.nan),  # no speed
        "ignition": np.full(n, -1, dtype=np.int8),  # no ACC
        "odometer_m": np.full(n, np.nan),
        "valid": np.ones(n, dtype=bool),
    }
    return Truth(fixes, np.array(trips, dtype=np.int64).reshape(-1, 2), np.array(distance), speed_ms * 3.6)


def match(true: np.ndarray, found: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The true and found trips ([start, end) rows) that match one-to-one: overlapping in time by at least
    half of the longer of the two, so that a found trip spanning two true ones, or one of two pieces of a
    true trip, matches nothing. Returns the indices of the matched pairs."""
    lo = np.maximum(true[:, None, 0], found[None, :, 0])
    hi = np.minimum(true[:, None, 1], found[None, :, 1])
    longer = np.maximum(true[:, None, 1] - true[:, None, 0], found[None, :, 1] - found[None, :, 0])
    ok = np.maximum(hi - lo, 0) >= 0.5 * longer
    assert (ok.sum(axis=0) <= 1).all() and (ok.sum(axis=1) <= 1).all()  # one-to-one by construction
    ti, fi = ok.nonzero()
    return ti, fi


def spans(result: CutResult) -> np.ndarray:
    return np.array([(tr.start_ts, tr.end_ts) for tr in result.trips], dtype=np.int64).reshape(-1, 2)


CARS, DAYS = 16, 5  # 80 car-days, about 870 trips


@pytest.fixture(scope="module")
def fleet_truth() -> list[Truth]:
    return [make_car(seed, DAYS) for seed in range(CARS)]


@pytest.mark.parametrize("speed", [math.nan, 0.0], ids=["speed-nan", "speed-zero"])
def test_trips_from_movement_alone_meet_the_quality_bar(fleet_truth: list[Truth], speed: float) -> None:
    n_true = n_found = n_matched = 0
    ratios = []
    for car in fleet_truth:
        result = cut_arrays(dict(car.fixes, speed_kmh=np.full(len(car.fixes["t"]), speed)), TripParams())
        found = spans(result)
        ti, fi = match(car.trips, found)
        n_true += len(car.trips)
        n_found += len(found)
        n_matched += len(ti)
        ratios.append(np.array([result.trips[i].distance_m for i in fi]) / car.distance_m[ti])
    assert n_true >= 300
    recall, precision = n_matched / n_true, n_matched / n_found
    assert recall >= 0.99, (recall, precision, n_true, n_found)
    assert precision >= 0.995, (recall, precision, n_true, n_found)
    # Distances along 30–60 s fixes cut corners a little; a trip must not lose its start or its end.
    assert 0.97 <= np.median(np.concatenate(ratios)) <= 1.01


@pytest.mark.parametrize("drift", [1.0, 2.0])
def test_parked_drift_alone_makes_no_trips(drift: float) -> None:
    # Three cars parked for ten days each: jitter, multipath wander, spikes, gaps (doubled: up to 36 m σ).
    for seed in (101, 102, 103):
        car = make_car(seed, 10, drive=False, drift=drift)
        assert len(car.trips) == 0 and len(car.fixes["t"]) > 10 * DAY / 60
        result = cut_arrays(car.fixes, TripParams())
        assert result.trips == []
        assert len(result.stops) == 1


def test_cut_arrays_cuts_by_movement_alone_only_without_speed_and_acc(fleet_truth: list[Truth]) -> None:
    car = fleet_truth[0]
    fx = car.fixes
    t, lat, lon = fx["t"], fx["lat"], fx["lon"]
    defaults, by_position = TripParams(), TripParams(motion_from_position=True)
    alone = cut(t, lat, lon, fx["speed_kmh"], params=by_position).trips
    assert len(alone) >= 30
    # Neither speed nor ACC: movement alone, whether the speeds are NaN, 0 or both. (By speed: no trips.)
    mixed = np.where(np.arange(len(t)) % 3 == 0, 0.0, np.nan)
    for speed in (fx["speed_kmh"], np.zeros(len(t)), mixed):
        assert cut_arrays(dict(fx, speed_kmh=speed), defaults).trips == alone
        assert cut(t, lat, lon, speed, params=defaults).trips == []
    # Speeds but no ACC: by speed, as before.
    with_speed = dict(fx, speed_kmh=car.speed_kmh)
    by_speed = cut(t, lat, lon, car.speed_kmh, params=defaults).trips
    assert len(by_speed) >= 30
    assert cut_arrays(with_speed, defaults).trips == by_speed != alone
    # ACC but no speed: not switched, the vehicle's settings stand (with use_ignition the ACC moves it).
    acc = (car.speed_kmh > 0).astype(np.int8)
    for params in (defaults, TripParams(use_ignition=True)):
        assert cut_arrays(dict(fx, ignition=acc), params).trips == (
            cut(t, lat, lon, fx["speed_kmh"], ignition=acc, params=params).trips
        )
    # An explicit motion_from_position is kept even with speeds.
    assert (
        cut_arrays(with_speed, by_position).trips == cut(t, lat, lon, car.speed_kmh, params=by_position).trips
    )
    assert TripParams().for_fixes([0.0, 12.0]) == TripParams()
    assert TripParams().for_fixes([0.0, np.nan], [-1, -1]) == by_position
    assert TripParams().for_fixes([0.0, np.nan], [0, -1]) == TripParams()
    assert by_position.for_fixes([30.0], [1]) == by_position

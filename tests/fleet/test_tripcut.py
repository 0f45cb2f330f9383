"""Trip and stop cutting (fleet/tripcut.py, issue 3).

Conformance with Traccar's classic logic is pinned two ways, with the drift filter off: scenarios written
from Traccar's documented behaviour (traccar.org "Motion, Trips and Stops", `report.trip.*` keys), and a
per-fix reference state machine written from MotionProcessor/ReportUtils that the vectorised cutter must
match on random tracks. The drift filter, gaps, midnight, odometer, geodesic agreement, screening and
per-vehicle overrides follow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from geopy.distance import geodesic

from fleet.tripcut import (
    CHINA_BBOX,
    DROP_REASONS,
    NO_BOUND,
    CutResult,
    InvalidTripParams,
    Stop,
    Trip,
    TripParams,
    cut,
    cut_many,
    haversine_m,
    mark_duplicate_times,
    path_length_m,
    reason_counts,
    screen_fixes,
    screen_fixes_many,
    service_day,
)

CHINA_TZ = ZoneInfo("Asia/Shanghai")
T0 = int(datetime(2024, 6, 3, 8, 0, tzinfo=CHINA_TZ).timestamp())
M_PER_DEG = 111_195.0
CLASSIC = TripParams(drift_filter=False)


@dataclass
class Track:
    """Builds one device's fixes: parked heartbeats, 10-second driving fixes, silences."""

    t0: int = T0
    lat0: float = 35.0
    lon0: float = 111.0
    seed: int = 0
    now: int = field(init=False)
    x: float = field(init=False, default=0.0)  # metres east of the origin
    y: float = field(init=False, default=0.0)  # metres north
    odo: float = field(init=False, default=1.0e7)
    cols: dict[str, list[float]] = field(init=False)

    def __post_init__(self) -> None:
        self.now = self.t0
        self.cols = {k: [] for k in ("t", "lat", "lon", "speed_kmh", "ignition", "odometer_m")}
        self.rng = np.random.default_rng(self.seed)
        self.fix(0.0, acc=0)

    def __len__(self) -> int:
        return len(self.cols["t"])

    def fix(self, speed: float, *, acc: float = math.nan, dx: float = 0.0, dy: float = 0.0) -> int:
        k = M_PER_DEG * math.cos(math.radians(self.lat0))
        c = self.cols
        c["t"].append(self.now)
        c["lat"].append(self.lat0 + (self.y + dy) / M_PER_DEG)
        c["lon"].append(self.lon0 + (self.x + dx) / k)
        c["speed_kmh"].append(speed)
        c["ignition"].append(acc)
        c["odometer_m"].append(self.odo)
        return len(c["t"]) - 1

    def park(
        self, seconds: int, *, every: int = 300, speed: float = 0.0, acc: float = 0, jitter: float = 0.0
    ) -> Track:
        """Heartbeats every `every` s for `seconds`, optionally jittered (metres, normal) and with a speed."""
        end = self.now + seconds
        while self.now + every <= end:
            self.now += every
            dx, dy = self.rng.normal(0.0, jitter, 2) if jitter else (0.0, 0.0)
            self.fix(speed, acc=acc, dx=float(dx), dy=float(dy))
        self.now = end
        return self

    def drive(
        self, seconds: int, *, kmh: float = 36.0, every: int = 10, heading: float = 0.0, acc: float = 1
    ) -> Track:
        """Fixes every `every` s moving at `kmh` towards `heading` (degrees from north)."""
        step = kmh / 3.6 * every
        for _ in range(seconds // every):
            self.now += every
            self.x += step * math.sin(math.radians(heading))
            self.y += step * math.cos(math.radians(heading))
            self.odo += step
            self.fix(kmh, acc=acc)
        return self

    def arrive(self, *, every: int = 10) -> int:
        """The first fix standing still (speed 0, ACC off): where a trip ends."""
        self.now += every
        return self.fix(0.0, acc=0)

    def silence(self, seconds: int, *, move_m: float = 0.0, heading: float = 0.0) -> Track:
        """No fixes for `seconds`; the vehicle covers `move_m` meanwhile (a tunnel) or stays."""
        self.now += seconds
        self.x += move_m * math.sin(math.radians(heading))
        self.y += move_m * math.cos(math.radians(heading))
        self.odo += move_m
        return self

    def arrays(self) -> dict[str, np.ndarray]:
        out = {k: np.array(v, dtype=np.float64) for k, v in self.cols.items()}
        out["t"] = out["t"].astype(np.int64)
        return out

    def cut(self, params: TripParams = TripParams(), **kw: object) -> CutResult:
        a = self.arrays()
        return cut(a["t"], a["lat"], a["lon"], a["speed_kmh"], params=params, **kw)  # type: ignore[arg-type]


def legs_between(a: dict[str, np.ndarray], i: int, j: int) -> float:
    return path_length_m(a["lat"][i : j + 1], a["lon"][i : j + 1])


# --------------------------------------------------------------------------- conformance: documented


@pytest.mark.parametrize("params", [CLASSIC, TripParams()], ids=["classic", "drift"])
def test_a_drive_between_two_parkings_is_one_trip_with_traccars_figures(params: TripParams) -> None:
    tr = Track().park(3600)
    first_moving = len(tr)
    tr.drive(600, kmh=36).drive(300, kmh=72).drive(300, kmh=36)
    end = tr.arrive()
    tr.park(3600)
    a = tr.arrays()
    r = tr.cut(params)
    assert len(r.trips) == 1
    trip = r.trips[0]
    # starts at the first moving fix, ends at the first stopped fix
    assert (trip.start_idx, trip.end_idx) == (first_moving, end)
    assert trip.start_ts == a["t"][first_moving] and trip.end_ts == a["t"][end]
    assert trip.duration_s == a["t"][end] - a["t"][first_moving] == 1200
    assert (trip.start_lat, trip.start_lon) == (a["lat"][first_moving], a["lon"][first_moving])
    assert (trip.end_lat, trip.end_lon) == (a["lat"][end], a["lon"][end])
    assert trip.distance_m == pytest.approx(legs_between(a, first_moving, end), rel=1e-6)
    # 6 + 6 + 3 km driven, less the 100 m to the first moving fix
    assert trip.distance_m == pytest.approx(14_900, rel=1e-3)
    assert trip.avg_speed_kmh == pytest.approx(trip.distance_m / trip.duration_s * 3.6)
    assert trip.max_speed_kmh == 72.0
    assert trip.distance_source == "legs"
    assert not trip.open_start and not trip.open_end
    # stops: before (open at the data's start) and after (open at its end), at their first fix
    assert [(s.start_idx, s.end_idx) for s in r.stops] == [(0, first_moving), (end, len(tr) - 1)]
    assert r.stops[0].open_start and not r.stops[0].open_end
    assert r.stops[1].open_end and not r.stops[1].open_start
    assert (r.stops[1].lat, r.stops[1].lon) == (a["lat"][end], a["lon"][end])
    assert r.stops[1].duration_s == a["t"][-1] - a["t"][end]


@pytest.mark.parametrize(
    ("seconds", "kmh", "trips"),
    [
        # Measured from the first moving fix to a later one: n fixes 10 s apart span (n-1)·10 s.
        (200, 5.4, 0),  # 190 s, 285 m: below both minimums
        (290, 6.0, 0),  # 280 s, 467 m: still below both
        (310, 5.4, 1),  # 300 s exactly: the minimal trip duration
        (100, 19.8, 0),  # 495 m in 90 s: just short of the minimal distance
        (100, 21.6, 1),  # 540 m in 90 s: the minimal trip distance
    ],
)
def test_a_move_becomes_a_trip_at_the_minimal_trip_duration_or_distance(
    seconds: int, kmh: float, trips: int
) -> None:
    tr = Track().park(1800)
    tr.drive(seconds, kmh=kmh)
    tr.arrive()
    tr.park(1800)
    assert len(tr.cut(CLASSIC).trips) == trips


@pytest.mark.parametrize(("stand_s", "trips"), [(240, 1), (290, 1), (300, 2), (600, 2)])
def test_a_stop_splits_the_trip_only_from_the_minimal_parking_duration(stand_s: int, trips: int) -> None:
    tr = Track().park(1800)
    tr.drive(600)
    tr.arrive()
    tr.park(stand_s, every=10)
    tr.drive(600)
    tr.arrive()
    tr.park(1800)
    for params in (CLASSIC, TripParams()):
        r = tr.cut(params)
        assert len(r.trips) == trips
        assert len(r.stops) == trips + 1


def test_only_continuous_periods_switch_the_state() -> None:
    # Stopped for 16 minutes, but a moving fix every 4 minutes resets the pending stop: one trip.
    tr = Track().park(1800)
    tr.drive(600)
    for _ in range(4):
        tr.arrive()
        tr.park(230, every=10)
        tr.drive(10)
    tr.drive(600)
    tr.arrive()
    tr.park(1800)
    assert len(tr.cut(CLASSIC).trips) == 1
    # Parked, a moving fix now and then (each alone): never a trip.
    tr = Track()
    for _ in range(12):
        tr.park(240, every=60)
        tr.drive(10, kmh=30)
    tr.park(1800)
    assert tr.cut(CLASSIC).trips == []


def test_a_silence_of_the_minimal_no_data_duration_ends_the_trip_traccar_style() -> None:
    tr = Track().park(1800)
    start1 = len(tr)
    tr.drive(600)
    before_gap = len(tr) - 1
    tr.silence(2 * 3600, move_m=20_000)
    after_gap = len(tr)
    tr.drive(600)
    end2 = tr.arrive()
    tr.park(1800)
    r = tr.cut(CLASSIC)
    assert [(t.start_idx, t.end_idx) for t in r.trips] == [(start1, before_gap), (after_gap + 1, end2)]
    # Traccar does not look at the fix after the silence; the next trip starts at the one after it.
    assert [(s.start_idx, s.end_idx) for s in r.stops][1] == (before_gap, after_gap + 1)
    # With the drift filter the fix after the silence may start the trip.
    r = tr.cut()
    assert [(t.start_idx, t.end_idx) for t in r.trips] == [(start1, before_gap), (after_gap, end2)]


def test_a_silence_just_under_the_minimal_no_data_duration_does_not_end_a_trip_in_classic_mode() -> None:
    tr = Track().park(1800)
    tr.drive(600)
    tr.silence(3580, move_m=30_000)  # the next fix comes 3590 s after the last
    tr.drive(600)
    tr.arrive()
    tr.park(1800)
    assert len(tr.cut(CLASSIC).trips) == 1


def test_data_starting_while_driving_starts_a_trip_at_the_first_fix() -> None:
    tr = Track()
    tr.cols = {k: [] for k in tr.cols}  # drop the parked first fix
    tr.drive(900)
    end = tr.arrive()
    tr.park(1800)
    for params in (CLASSIC, TripParams()):
        r = tr.cut(params)
        assert [(t.start_idx, t.end_idx) for t in r.trips] == [(0, end)]
        assert r.trips[0].open_start
        assert [(s.start_idx, s.end_idx) for s in r.stops] == [(end, len(tr) - 1)]


def test_data_ending_before_the_stop_is_confirmed_leaves_the_trip_open() -> None:
    tr = Track().park(1800)
    start = len(tr)
    tr.drive(900)
    end = tr.arrive()
    tr.park(120, every=10)  # 2 minutes standing: not yet a stop
    r = tr.cut(CLASSIC)
    # Traccar ends an unfinished trip at the last fix.
    assert [(t.start_idx, t.end_idx, t.open_end) for t in r.trips] == [(start, len(tr) - 1, True)]
    # With the drift filter it ends where the vehicle stopped, still marked open.
    r = tr.cut()
    assert [(t.start_idx, t.end_idx, t.open_end) for t in r.trips] == [(start, end, True)]
    assert [(s.start_idx, s.end_idx) for s in r.stops] == [(0, start)]


def test_max_speed_covers_the_whole_trip() -> None:
    # The peak is in the first minute, before the trip is confirmed at 300 s (Traccar's slow report path
    # would miss it).
    tr = Track().park(1800)
    tr.drive(60, kmh=90).drive(900, kmh=40)
    tr.arrive()
    tr.park(1800)
    for params in (CLASSIC, TripParams()):
        assert tr.cut(params).trips[0].max_speed_kmh == 90.0


def test_use_ignition_ends_the_trip_when_acc_goes_off() -> None:
    tr = Track().park(1800)
    start1 = len(tr)
    tr.drive(600)
    end1 = tr.arrive()
    tr.park(120, every=10, acc=0)  # 2 minutes, engine off: shorter than the minimal parking
    start2 = len(tr)
    tr.drive(600)
    end2 = tr.arrive()
    tr.park(1800)
    acc = tr.arrays()["ignition"]
    for base in (CLASSIC, TripParams()):
        assert len(tr.cut(base, ignition=acc).trips) == 1
        r = tr.cut(replaced(base, use_ignition=True), ignition=acc)
        assert [(t.start_idx, t.end_idx) for t in r.trips] == [(start1, end1), (start2, end2)]


def one_trip() -> tuple[dict[str, np.ndarray], int, int]:
    """Half an hour parked, a 15-minute trip at 40 km/h, half an hour parked: arrays, start, end."""
    tr = Track().park(1800)
    start = len(tr)
    tr.drive(900, kmh=40)
    end = tr.arrive()
    tr.park(1800)
    return tr.arrays(), start, end


def test_use_ignition_makes_trips_for_a_tracker_without_speed() -> None:
    a, start, end = one_trip()
    no_speed = np.zeros(len(a["t"]))
    assert cut(a["t"], a["lat"], a["lon"], no_speed, ignition=a["ignition"]).trips == []
    for base in (CLASSIC, TripParams()):
        p = replaced(base, use_ignition=True)
        r = cut(a["t"], a["lat"], a["lon"], no_speed, ignition=a["ignition"], params=p)
        assert [(t.start_idx, t.end_idx) for t in r.trips] == [(start, end)]
    # ACC as int8 with -1 for unknown falls back to speed on those fixes.
    acc = np.where(np.isnan(a["ignition"]), -1, a["ignition"]).astype(np.int8)
    acc[: start + 20] = -1
    r = cut(a["t"], a["lat"], a["lon"], a["speed_kmh"], ignition=acc, params=TripParams(use_ignition=True))
    assert [(t.start_idx, t.end_idx) for t in r.trips] == [(start, end)]


def test_motion_from_position_makes_trips_without_speed_or_acc() -> None:
    tr = Track(seed=3).park(3600, jitter=15)
    tr.drive(900, kmh=40)
    tr.arrive()
    tr.park(3600, jitter=15)
    a = tr.arrays()
    r = cut(a["t"], a["lat"], a["lon"], np.zeros(len(tr)), params=TripParams(motion_from_position=True))
    assert len(r.trips) == 1
    assert r.trips[0].distance_m == pytest.approx(10_000, rel=0.02)


def test_unknown_speeds_are_no_motion_and_no_maximum() -> None:
    a, start, end = one_trip()
    a["speed_kmh"][start + 30 : start + 33] = np.nan  # a few fixes without speed mid-trip
    a["speed_kmh"][:start] = np.nan  # and none while parked
    for params in (CLASSIC, TripParams()):
        r = cut(a["t"], a["lat"], a["lon"], a["speed_kmh"], params=params)
        assert [(t.start_idx, t.end_idx, t.max_speed_kmh) for t in r.trips] == [(start, end, 40.0)]


# ----------------------------------------------------------------- conformance: reference state machine


def traccar_reference(
    t: np.ndarray, total: np.ndarray, motion: np.ndarray, ign_off: np.ndarray | None, p: TripParams
) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """Traccar's classic per-fix logic, as read from MotionProcessor.updateState and
    ReportUtils.slowTripsAndStops: (start, end) fix indices of trips and of stops."""
    n = len(t)
    streak = state = bool(motion[0])
    pending: int | None = None
    events: list[tuple[bool, int]] = []  # (moving?, fix index)
    for i in range(n):
        if i > 0 and t[i] - t[i - 1] >= p.min_no_data_duration_s and streak:
            streak = state = False
            pending = None
            events.append((False, i - 1))
            continue
        new = bool(motion[i])
        if state == new:
            if pending is not None:
                if new:
                    go = (
                        t[i] - t[pending] >= p.min_trip_duration_s
                        or total[i] - total[pending] >= p.min_trip_distance_m
                    )
                else:
                    off = ign_off is not None and bool(ign_off[i])
                    go = t[i] - t[pending] >= p.min_parking_duration_s or off
                if go:
                    events.append((new, pending))
                    streak = new
                    pending = None
        else:
            state = new
            pending = None if streak == new else i

    def spans(want: bool) -> list[tuple[int, int]]:
        out = []
        start = 0 if bool(motion[0]) == want else None
        for moving, idx in events:
            if moving == want:
                start = idx
            elif start is not None:
                out.append((start, idx))
                start = None
        if start is not None:
            out.append((start, n - 1))
        return out

    return spans(True), spans(False)


def random_track(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 400))
    t = [T0]
    x = [0.0]
    y = [0.0]
    speed = [0.0]
    moving = bool(rng.random() < 0.3)
    left = int(rng.integers(1, 30))
    heading = 0.0
    for _ in range(n - 1):
        if left == 0:
            moving = not moving
            left = int(rng.integers(1, 60 if moving else 40))
        left -= 1
        u = rng.random()
        lo, hi = (1, 30) if u < 0.8 else (30, 700) if u < 0.97 else (3000, 9000)  # some silences ≥ 1 h
        dt = int(rng.integers(lo, hi))
        v = float(rng.uniform(3, 90)) if moving else 0.0
        heading += float(rng.normal(0, 0.3))
        step = min(v / 3.6 * dt, 2000.0)
        t.append(t[-1] + dt)
        x.append(x[-1] + step * math.sin(heading))
        y.append(y[-1] + step * math.cos(heading))
        speed.append(v)
    k = M_PER_DEG * math.cos(math.radians(35.0))
    return {
        "t": np.array(t, dtype=np.int64),
        "lat": 35.0 + np.array(y) / M_PER_DEG,
        "lon": 111.0 + np.array(x) / k,
        "speed_kmh": np.array(speed),
        "acc": (rng.random(n) < 0.9).astype(np.float64),
    }


@pytest.mark.parametrize("seed", range(300))
def test_classic_mode_matches_the_reference_state_machine(seed: int) -> None:
    a = random_track(seed)
    use_ign = seed % 3 == 0
    p = TripParams(drift_filter=False, use_ignition=use_ign)
    legs = np.concatenate(([0.0], haversine_m(a["lat"][:-1], a["lon"][:-1], a["lat"][1:], a["lon"][1:])))
    total = np.cumsum(legs)
    if use_ign:
        motion, ign_off = a["acc"] > 0.5, a["acc"] < 0.5
        r = cut(a["t"], a["lat"], a["lon"], a["speed_kmh"], ignition=a["acc"], params=p)
    else:
        motion, ign_off = a["speed_kmh"] > 0.01 * 1.852, None
        r = cut(a["t"], a["lat"], a["lon"], a["speed_kmh"], params=p)
    trips, stops = traccar_reference(a["t"], total, motion, ign_off, p)
    assert [(tr.start_idx, tr.end_idx) for tr in r.trips] == trips
    assert [(s.start_idx, s.end_idx) for s in r.stops] == stops
    for tr in r.trips:
        assert tr.distance_m == pytest.approx(total[tr.end_idx] - total[tr.start_idx], rel=1e-5, abs=1e-3)
        assert tr.max_speed_kmh == a["speed_kmh"][tr.start_idx : tr.end_idx + 1].max()
        assert tr.duration_s == a["t"][tr.end_idx] - a["t"][tr.start_idx]


# --------------------------------------------------------------------------------------- drift filter


def parked_day(seed: int, *, drift_speed: float = 0.3) -> Track:
    """24 hours parked: 5-minute heartbeats with ~15 m jitter, 3 % spikes of 150–600 m, drift speeds."""
    tr = Track(seed=seed)
    rng = tr.rng
    for _ in range(24 * 12):
        tr.now += 300
        if rng.random() < 0.03:
            ang = rng.uniform(0, 2 * math.pi)
            d = rng.uniform(150, 600)
            dx, dy = d * math.sin(ang), d * math.cos(ang)
        else:
            dx, dy = rng.normal(0, 15, 2)
        speed = float(rng.uniform(1, 9)) if rng.random() < drift_speed else 0.0
        tr.fix(speed, acc=0, dx=float(dx), dy=float(dy))
    return tr


@pytest.mark.parametrize("seed", range(10))
def test_a_parked_day_with_jitter_and_spikes_gives_no_trip_and_no_distance(seed: int) -> None:
    tr = parked_day(seed)
    r = tr.cut()
    assert r.trips == []
    assert sum(t.distance_m for t in r.trips) == 0.0
    assert [(s.start_idx, s.end_idx) for s in r.stops] == [(0, len(tr) - 1)]
    assert r.stops[0].duration_s == 24 * 3600
    assert r.ignored["drift_spike"] > 0


def test_the_parked_day_does_fool_traccars_classic_logic() -> None:
    # The drift test data is nasty enough to matter: without the filter it makes trips.
    assert sum(len(parked_day(seed).cut(CLASSIC).trips) for seed in range(10)) > 0


def test_idling_with_fast_fixes_jitter_and_a_drift_speed_is_no_trip() -> None:
    tr = Track(seed=7).park(1800)
    tr.park(1800, every=10, speed=3.0, acc=1, jitter=12)  # engine on, fixes every 10 s, 3 km/h of drift
    tr.park(1800)
    r = tr.cut()
    assert r.trips == []
    assert len(tr.cut(CLASSIC).trips) == 1


def test_a_spike_during_a_drive_adds_no_distance() -> None:
    tr = Track().park(1800)
    tr.drive(300)
    tr.now += 10
    tr.fix(36.0, acc=1, dx=400.0)  # one fix 400 m off the road
    tr.y += 100.0
    tr.drive(300)
    tr.arrive()
    tr.park(1800)
    true = 600 * 10  # 36 km/h for 610 s, less the 100 m to the first moving fix
    d_drift = tr.cut().trips[0].distance_m
    d_classic = tr.cut(CLASSIC).trips[0].distance_m
    assert d_drift == pytest.approx(true, rel=0.005)
    assert d_classic > true + 400  # Traccar counts the detour
    # The spike is ignored, but the caller's arrays are left as they were.
    a = tr.arrays()
    before = {k: v.copy() for k, v in a.items()}
    r = cut(a["t"], a["lat"], a["lon"], a["speed_kmh"])
    assert r.ignored["drift_spike"] == 1
    assert all(np.array_equal(a[k], before[k]) for k in a)


def test_a_pair_of_spikes_is_ignored_too() -> None:
    tr = parked_day(1, drift_speed=0.0)
    tr.now += 300
    tr.fix(5.0, acc=0, dx=300.0)
    tr.now += 300
    tr.fix(5.0, acc=0, dx=320.0)
    tr.park(3600)
    r = tr.cut()
    assert r.trips == []
    assert r.ignored["drift_spike"] >= 2


@pytest.mark.parametrize("tunnel_s", [120, 240, 360])
@pytest.mark.parametrize("zero_speed_at_edges", [False, True])
def test_a_drive_through_a_tunnel_stays_one_trip(tunnel_s: int, zero_speed_at_edges: bool) -> None:
    tr = Track().park(1800)
    start = len(tr)
    tr.drive(900, kmh=60)
    if zero_speed_at_edges:  # some trackers report 0 km/h when they lose the fix
        tr.now += 10
        tr.fix(0.0, acc=1)
    tr.silence(tunnel_s, move_m=60 / 3.6 * tunnel_s)
    if zero_speed_at_edges:
        tr.fix(0.0, acc=1)
    tr.drive(900, kmh=60)
    end = tr.arrive()
    tr.park(1800)
    r = tr.cut()
    assert [(t.start_idx, t.end_idx) for t in r.trips] == [(start, end)]
    assert r.trips[0].distance_m == pytest.approx(60 / 3.6 * (1800 + tunnel_s), rel=0.01)


@pytest.mark.parametrize("last_fix_moving", [False, True])
def test_a_nine_hour_silence_in_a_car_park_splits(last_fix_moving: bool) -> None:
    tr = Track().park(1800)
    tr.drive(900)
    if last_fix_moving:  # the tracker died with the engine
        arrival = len(tr) - 1
    else:
        arrival = tr.arrive()
        tr.park(60, every=10)
    tr.silence(9 * 3600)
    tr.fix(0.0, acc=0)
    tr.park(600, every=60)
    start2 = len(tr)
    tr.drive(900)
    tr.arrive()
    tr.park(1800)
    for params in (CLASSIC, TripParams()):
        r = tr.cut(params)
        assert len(r.trips) == 2
        assert r.trips[1].start_idx == start2
        # the stop spans the silence
        stop = next(s for s in r.stops if s.end_ts == r.trips[1].start_ts)
        assert stop.duration_s > 9 * 3600
    # With the drift filter the trip ends where the vehicle stopped, not where the tracker went quiet.
    assert tr.cut().trips[0].end_idx == arrival


@pytest.mark.parametrize("every", [10, 200, 300])
def test_a_trip_ends_on_arrival_even_with_wild_parked_jitter(every: int) -> None:
    # Urban canyon: standing fixes wander ~60 m (σ), legs between them often over the drift radius.
    tr = Track(seed=11).park(1800)
    start = len(tr)
    tr.drive(900, kmh=50)
    end = tr.arrive()
    tr.park(7200, every=every, jitter=60)
    tr.drive(900, kmh=50, heading=180)
    tr.arrive()
    tr.park(1800)
    r = tr.cut()
    assert len(r.trips) == 2
    assert (r.trips[0].start_idx, r.trips[0].end_idx) == (start, end)


def test_a_shorter_silence_standing_in_one_place_is_a_stop_with_the_drift_filter() -> None:
    # 50 minutes underground without a fix, moving fixes on both sides: Traccar merges (#3307).
    tr = Track().park(1800)
    tr.drive(900)
    tr.silence(50 * 60)
    tr.fix(20.0, acc=1)  # leaving the garage: the first fix after is where the last one was
    tr.drive(900)
    tr.arrive()
    tr.park(1800)
    assert len(tr.cut(CLASSIC).trips) == 1
    assert len(tr.cut().trips) == 2


def test_a_pending_trip_is_not_confirmed_by_a_silence() -> None:
    # A moving fix, then two hours of silence, then driving: Traccar starts the trip before the silence.
    tr = Track().park(1800)
    lone = len(tr)
    tr.drive(10, kmh=20)
    tr.silence(2 * 3600, move_m=50)
    after = len(tr)
    tr.drive(900)
    tr.arrive()
    tr.park(1800)
    assert tr.cut(CLASSIC).trips[0].start_idx == lone
    assert tr.cut().trips[0].start_idx == after


def test_drift_filter_keeps_a_clean_day_as_traccar_cuts_it() -> None:
    tr = Track().park(3 * 3600)
    for heading in (0, 90, 180):
        tr.drive(1200, kmh=45, heading=heading)
        tr.arrive()
        tr.park(3600)
    a, b = tr.cut(CLASSIC), tr.cut()
    assert [(t.start_idx, t.end_idx) for t in a.trips] == [(t.start_idx, t.end_idx) for t in b.trips]
    assert [t.distance_m for t in a.trips] == pytest.approx([t.distance_m for t in b.trips])
    assert len(b.trips) == 3


# ---------------------------------------------------------------------------- windows, days, batches


def test_cutting_from_a_confirmed_stop_gives_the_same_trips_as_the_whole_history() -> None:
    tr = parked_day(5)
    for heading in (0, 180, 45, 225):
        tr.drive(1500, kmh=50, heading=heading)
        tr.arrive()
        tr.park(5400, jitter=15)
    a = tr.arrays()
    whole = tr.cut()
    assert len(whole.trips) == 4
    for stop in whole.stops[1:]:
        s = stop.start_idx
        part = cut(a["t"][s:], a["lat"][s:], a["lon"][s:], a["speed_kmh"][s:])
        later = [t for t in whole.trips if t.start_idx >= s]
        assert [(t.start_idx, t.end_idx, t.distance_m) for t in part.trips] == [
            (t.start_idx - s, t.end_idx - s, pytest.approx(t.distance_m)) for t in later
        ]


def test_a_trip_across_midnight_is_one_trip_of_the_day_it_starts() -> None:
    t0 = int(datetime(2024, 6, 3, 23, 0, tzinfo=CHINA_TZ).timestamp())
    tr = Track(t0=t0).park(3000)  # 23:50
    tr.drive(1800, kmh=50)  # until 00:20
    tr.arrive()
    tr.park(3600)
    r = tr.cut()
    assert len(r.trips) == 1
    trip = r.trips[0]
    assert datetime.fromtimestamp(trip.start_ts, CHINA_TZ).date() == date(2024, 6, 3)
    assert datetime.fromtimestamp(trip.end_ts, CHINA_TZ).date() == date(2024, 6, 4)
    assert trip.service_day == service_day(trip.start_ts) == date(2024, 6, 3)


def test_service_day_is_the_china_calendar_day() -> None:
    midnight = int(datetime(2024, 6, 4, 0, 0, tzinfo=CHINA_TZ).timestamp())
    assert service_day(midnight - 1) == date(2024, 6, 3)
    assert service_day(midnight) == date(2024, 6, 4)
    assert midnight % 86400 == 16 * 3600  # 16:00 UTC


def test_cut_many_gives_each_device_what_cut_gives_it() -> None:
    tracks = [parked_day(1), Track().park(1800).drive(900).park(1800), Track(), parked_day(2)]
    tracks[1].arrive()
    tracks[1].park(900)
    pieces = [tr.arrays() for tr in tracks]
    starts = np.cumsum([0] + [len(tr) for tr in tracks[:-1]])
    cat = {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]}
    for params in (CLASSIC, TripParams()):
        many = cut_many(cat["t"], cat["lat"], cat["lon"], cat["speed_kmh"], starts, params=params)
        assert len(many) == len(tracks)
        for tr, s, got in zip(tracks, starts, many, strict=True):
            alone = tr.cut(params)
            assert [(t.start_idx - s, t.end_idx - s, t.distance_m) for t in got.trips] == [
                (t.start_idx, t.end_idx, pytest.approx(t.distance_m)) for t in alone.trips
            ]
            spans = [(x.start_idx - s, x.end_idx - s) for x in got.stops]
            assert spans == [(x.start_idx, x.end_idx) for x in alone.stops]
            assert got.ignored == alone.ignored


def test_cut_many_with_an_empty_device() -> None:
    tr = Track().park(1800).drive(900)
    tr.arrive()
    tr.park(900)
    a = tr.arrays()
    n = len(tr)
    cat = {k: np.concatenate([v, v]) for k, v in a.items()}
    cat["t"][n:] += 10**6
    res = cut_many(cat["t"], cat["lat"], cat["lon"], cat["speed_kmh"], [0, n, n, 2 * n])
    assert [len(r.trips) for r in res] == [1, 0, 1, 0]
    assert res[1] == CutResult([], [], 0, {"invalid": 0, "drift_spike": 0})


def test_invalid_fixes_are_left_out_and_indices_still_point_into_the_input() -> None:
    tr = Track().park(1800)
    start = len(tr)
    tr.drive(900)
    end = tr.arrive()
    tr.park(1800)
    a = tr.arrays()
    valid = np.ones(len(tr), dtype=bool)
    valid[start + 5 : start + 9] = False
    a["lat"][start + 20] = np.nan
    r = cut(a["t"], a["lat"], a["lon"], a["speed_kmh"], valid=valid)
    assert [(t.start_idx, t.end_idx) for t in r.trips] == [(start, end)]
    assert r.ignored == {"invalid": 5, "drift_spike": 0}
    assert r.fixes_used == len(tr) - 5


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="time order"):
        cut(np.array([T0, T0 - 1]), [35.0, 35.0], [111.0, 111.0], [0.0, 0.0])
    with pytest.raises(ValueError, match="same length"):
        cut(np.array([T0]), [35.0, 35.0], [111.0], [0.0])
    with pytest.raises(ValueError, match="starts"):
        cut_many(np.array([T0]), [35.0], [111.0], [0.0], [1])


def test_empty_and_single_fix_input() -> None:
    empty = cut(np.zeros(0, np.int64), [], [], [])
    assert empty == CutResult([], [], 0, {"invalid": 0, "drift_spike": 0})
    one = cut(np.array([T0]), [35.0], [111.0], [0.0])
    assert one.trips == []
    assert [tuple(s)[:2] + tuple(s)[-3:] for s in one.stops] == [(0, 0, 0, True, True)]


def test_results_are_plain_records() -> None:
    r = Track().park(600).drive(900).cut()
    assert isinstance(r.trips[0], Trip) and isinstance(r.stops[0], Stop)
    d = r.trips[0]._asdict()
    assert set(d) >= {"start_ts", "end_ts", "distance_m", "duration_s", "max_speed_kmh", "avg_speed_kmh"}
    assert all(type(v) in (int, float, str, bool) for v in d.values())


# ---------------------------------------------------------------------------------------- distance


def test_odometer_is_used_when_present_and_monotonic() -> None:
    tr = Track().park(1800)
    tr.drive(900)
    tr.arrive()
    tr.park(1800)
    a = tr.arrays()
    odo = a["odometer_m"] + 0.0
    odo[len(tr) // 2 :] += 1234.0  # the odometer says a bit more than the legs
    r = cut(a["t"], a["lat"], a["lon"], a["speed_kmh"], odometer_m=odo)
    trip = r.trips[0]
    assert trip.distance_source == "odometer"
    assert trip.distance_m == odo[trip.end_idx] - odo[trip.start_idx]
    legs = legs_between(a, trip.start_idx, trip.end_idx)
    assert trip.distance_m == pytest.approx(legs + 1234.0, rel=1e-6)
    assert trip.avg_speed_kmh == pytest.approx(trip.distance_m / trip.duration_s * 3.6)
    # A gap in the odometer, a reset (going down) or zeros: the legs instead.
    for broken in ("nan", "reset", "zero"):
        o = odo.copy()
        mid = (trip.start_idx + trip.end_idx) // 2
        if broken == "nan":
            o[mid] = np.nan
        elif broken == "reset":
            o[mid:] -= 5e6
        else:
            o[:] = 0.0
        t2 = cut(a["t"], a["lat"], a["lon"], a["speed_kmh"], odometer_m=o).trips[0]
        assert t2.distance_source == "legs"
        assert t2.distance_m == pytest.approx(legs, rel=1e-6)


@pytest.mark.parametrize("lat0", [18.3, 25.0, 35.0, 45.0, 53.0])
@pytest.mark.parametrize("heading", [0.0, 45.0, 90.0, 137.0])
def test_leg_sums_agree_with_the_geodesic_within_half_a_percent(lat0: float, heading: float) -> None:
    rng = np.random.default_rng(int(lat0 * 10 + heading))
    n = 400
    steps = rng.uniform(20, 400, n)
    hd = np.radians(heading + rng.normal(0, 20, n))
    y = np.cumsum(steps * np.cos(hd))
    x = np.cumsum(steps * np.sin(hd))
    lat = lat0 + y / M_PER_DEG
    lon = 110.0 + x / (M_PER_DEG * np.cos(np.radians(lat0)))
    ours = path_length_m(lat, lon)
    ref = sum(geodesic((lat[i], lon[i]), (lat[i + 1], lon[i + 1])).meters for i in range(n - 1))
    assert ours == pytest.approx(ref, rel=0.005)
    # and the trip distance is that same sum
    t = T0 + 10 * np.arange(n)
    trip = cut(t, lat, lon, np.full(n, 50.0), params=CLASSIC).trips[0]
    assert trip.distance_m == pytest.approx(ours, rel=1e-6)


def test_haversine_of_known_distances() -> None:
    # One degree of latitude on the mean sphere; Beijing–Shanghai against the geodesic.
    assert haversine_m(35.0, 111.0, 36.0, 111.0) == pytest.approx(6371008.8 * math.pi / 180, rel=1e-12)
    bj, sh = (39.9042, 116.4074), (31.2304, 121.4737)
    assert float(haversine_m(*bj, *sh)) == pytest.approx(geodesic(bj, sh).meters, rel=0.005)


# ------------------------------------------------------------------------------------------ screening


def screened(
    lat: list[float], lon: list[float], *, dt: int = 10, speed: list[float] | None = None, **kw: object
) -> tuple[np.ndarray, dict[str, int]]:
    n = len(lat)
    t = T0 + dt * np.arange(n)
    kw.setdefault("now_ts", T0 + 10**6)
    return screen_fixes(t, lat, lon, speed if speed is not None else [30.0] * n, **kw)  # type: ignore[arg-type]


def test_screen_fixes_reasons_and_counts() -> None:
    t = T0 + 10 * np.arange(9)
    lat = np.array([0.0, 35.0, 35.0, 35.0, 35.0, 35.0, 35.0, 60.0, np.nan])
    lon = np.array([0.0, 111.0, 111.0, 111.0, 111.0, 111.0, 111.0, 111.0, 111.0])
    speed = np.array([0.0, 0.0, 300.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    t[5] = T0 + 10**7  # in the future
    t[1] = T0 - 10**7  # before the vehicle existed
    keep, dropped = screen_fixes(t, lat, lon, speed, now_ts=T0 + 10**6, not_before_ts=T0 - 100)
    assert list(dropped) == list(DROP_REASONS)
    assert dropped == {
        "zero_position": 1,
        "outside_area": 2,  # 60° N and no coordinates
        "future_time": 1,
        "before_vehicle": 1,
        "speed_too_high": 1,
        "impossible_jump": 0,
    }
    assert keep.tolist() == [False, False, False, True, True, False, True, False, False]
    assert sum(dropped.values()) == int((~keep).sum())


def test_screen_fixes_first_reason_wins() -> None:
    # (0, 0) is also outside the area and fast: counted once, as zero_position.
    _, dropped = screened([0.0], [0.0], speed=[400.0])
    assert dropped["zero_position"] == 1 and sum(dropped.values()) == 1


def test_a_single_spike_is_dropped_not_its_honest_neighbours() -> None:
    lat = [35.0 + i * 0.001 for i in range(10)]
    lon = [111.0] * 10
    lat[5] = 35.3  # ~30 km away for 10 seconds
    keep, dropped = screened(lat, lon)
    assert keep.tolist() == [True] * 5 + [False] + [True] * 4
    assert dropped["impossible_jump"] == 1


def test_two_spikes_and_spikes_at_the_edges() -> None:
    lat = [35.0 + i * 0.001 for i in range(12)]
    lon = [111.0] * 12
    lat[0] = 35.5  # first fix off
    lat[4] = lat[5] = 35.3  # two together
    lat[8] = 34.7  # alone again, with one honest fix between
    lat[11] = 36.0  # last fix off
    keep, dropped = screened(lat, lon)
    assert np.flatnonzero(~keep).tolist() == [0, 4, 5, 8, 11]
    assert dropped["impossible_jump"] == 5


def test_spikes_separated_by_one_honest_fix() -> None:
    lat = [35.0 + i * 0.001 for i in range(9)]
    lon = [111.0] * 9
    lat[3] = lat[5] = 35.4  # the same wrong place twice, an honest fix between
    keep, _ = screened(lat, lon)
    assert np.flatnonzero(~keep).tolist() == [3, 5]


def test_a_jump_between_two_consistent_stretches_is_left_alone() -> None:
    lat = [35.0] * 6 + [35.5] * 6
    keep, dropped = screened(lat, [111.0] * 12)
    assert keep.all() and dropped["impossible_jump"] == 0


def test_fast_but_possible_and_slow_fixes_stay() -> None:
    # 200 km/h on a motorway is fast, not impossible; fixes an hour apart may be far apart.
    step = 200 / 3.6 * 10 / M_PER_DEG
    keep, _ = screened([35.0 + i * step for i in range(10)], [111.0] * 10, speed=[200.0] * 10)
    assert keep.all()
    keep, _ = screened([35.0, 35.5, 36.0], [111.0] * 3, dt=3600)
    assert keep.all()


def test_screen_fixes_custom_area_and_speed_limit() -> None:
    bbox = (34.0, 36.0, 110.0, 112.0)
    keep, dropped = screened([35.0, 37.0, 35.0], [111.0, 111.0, 111.0], dt=3600, bbox=bbox)
    assert keep.tolist() == [True, False, True] and dropped["outside_area"] == 1
    keep, dropped = screened([35.0, 35.0], [111.0, 111.0], speed=[90.0, 130.0], max_speed_kmh=120)
    assert keep.tolist() == [True, False] and dropped["speed_too_high"] == 1
    assert CHINA_BBOX[0] < 18.2 and CHINA_BBOX[1] > 53.5 and CHINA_BBOX[2] < 73.6 and CHINA_BBOX[3] > 134.7


def test_mark_duplicate_times_keeps_the_first_of_each_time() -> None:
    assert np.flatnonzero(mark_duplicate_times([1, 2, 2, 3, 3, 3, 4])).tolist() == [2, 4, 5]
    assert mark_duplicate_times([3, 1, 3, 2, 1]).tolist() == [False, False, True, False, True]
    assert mark_duplicate_times([]).tolist() == []


# ---------------------------------------------------------------------------------------- parameters


def replaced(p: TripParams, **kw: object) -> TripParams:
    """``p`` with some fields changed, through the per-vehicle override path."""
    return p.with_overrides(kw)


def test_defaults_are_traccars() -> None:
    p = TripParams()
    assert (p.speed_threshold_knots, p.min_trip_distance_m, p.min_trip_duration_s) == (0.01, 500, 300)
    assert (p.min_parking_duration_s, p.min_no_data_duration_s) == (300, 3600)
    assert (p.use_ignition, p.drift_filter) == (False, True)


def test_per_vehicle_overrides() -> None:
    p = TripParams().with_overrides({"min_trip_distance_m": 800, "use_ignition": True})
    assert p.min_trip_distance_m == 800 and p.use_ignition is True and p.min_trip_duration_s == 300
    assert TripParams.from_dict({"min_parking_duration_s": 600.0}).min_parking_duration_s == 600
    assert TripParams().with_overrides(None) == TripParams() == TripParams().with_overrides({})
    assert TripParams.from_dict(TripParams(drift_filter=False).as_dict()) == CLASSIC


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_trip_distanse_m": 800}, r"unknown trip parameter.*min_trip_distanse_m.*known: speed_thre"),
        ({"use_ignition": 1}, "use_ignition must be true or false"),
        ({"min_trip_duration_s": "300"}, "min_trip_duration_s must be a number"),
        ({"min_trip_duration_s": True}, "min_trip_duration_s must be a number"),
        ({"min_parking_duration_s": -1}, "must not be negative"),
        ({"min_no_data_duration_s": 10.5}, "whole"),
        ({"speed_threshold_knots": float("nan")}, "must be a number"),
    ],
)
def test_bad_overrides_are_refused_with_a_clear_message(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidTripParams, match=message):
        TripParams().with_overrides(overrides)
    with pytest.raises(ValueError):
        TripParams().with_overrides(overrides)


def test_overrides_change_the_cut() -> None:
    tr = Track().park(1800)
    tr.drive(200, kmh=12.6)  # 700 m in 200 s
    tr.arrive()
    tr.park(1800)
    assert len(tr.cut().trips) == 1
    assert tr.cut(TripParams().with_overrides({"min_trip_distance_m": 800})).trips == []
    tr = Track().park(1800).drive(600)
    tr.arrive()
    tr.park(400, every=10)
    tr.drive(600)
    tr.arrive()
    tr.park(1800)
    assert len(tr.cut().trips) == 2
    assert len(tr.cut(TripParams().with_overrides({"min_parking_duration_s": 600})).trips) == 1


# ----------------------------------------------------------------------------- screening many devices


def _random_devices(rng: np.random.Generator, n_dev: int) -> list[dict[str, np.ndarray]]:
    """Short tracks with every kind of implausible fix: zeros, outside, future, early, fast, spikes
    (single, paired, at the edges), teleports, unsorted and repeated times."""
    devices = []
    for _ in range(n_dev):
        n = int(rng.choice([0, 1, 2, 3, 4, 5, 8, 12, 30]))
        dt = rng.choice([1, 10, 60, 600], size=n)
        t = T0 + np.cumsum(dt)
        lat = 35.0 + np.cumsum(rng.normal(0, 0.002, n))
        lon = 111.0 + np.cumsum(rng.normal(0, 0.002, n))
        speed = rng.uniform(0, 120, n)
        for i in range(n):
            u = rng.random()
            if u < 0.05:
                lat[i] = lon[i] = 0.0
            elif u < 0.08:
                lat[i] = np.nan
            elif u < 0.11:
                lat[i] = 60.0
            elif u < 0.14:
                t[i] += 10**7
            elif u < 0.17:
                t[i] -= 10**7
            elif u < 0.20:
                speed[i] = 300.0
            elif u < 0.35:
                lat[i] += rng.choice([-1, 1]) * rng.uniform(0.05, 0.5)  # a spike
            elif u < 0.38 and i + 1 < n:
                lat[i : i + 2] += 0.3  # a pair
            elif u < 0.40:
                lat[i:] += 0.5  # a teleport: two consistent stretches
        if n > 2 and rng.random() < 0.2:
            t[rng.integers(0, n)] = t[rng.integers(0, n)]  # a repeated or out-of-order time
        if n > 2 and rng.random() < 0.1:
            rng.shuffle(t)
        devices.append({"t": t.astype(np.int64), "lat": lat, "lon": lon, "speed": speed})
    return devices


@pytest.mark.parametrize("seed", range(12))
def test_screen_fixes_many_equals_screen_fixes_device_by_device(seed: int) -> None:
    rng = np.random.default_rng(seed)
    devices = _random_devices(rng, 150)
    now = T0 + 10**6
    bounds = [int(rng.integers(T0 - 10**6, T0 + 100)) if rng.random() < 0.5 else None for _ in devices]
    sizes = [len(d["t"]) for d in devices]
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    cat = {k: np.concatenate([d[k] for d in devices]) for k in ("t", "lat", "lon", "speed")}
    nb = np.array([NO_BOUND if b is None else b for b in bounds], dtype=np.int64)
    keep, reason = screen_fixes_many(
        cat["t"], cat["lat"], cat["lon"], cat["speed"], starts, now_ts=now, not_before_ts=nb
    )
    counts = reason_counts(reason, starts)
    assert int((~keep).sum()) == int(counts.sum())
    jumps_seen = 0
    for i, d in enumerate(devices):
        want_keep, want = screen_fixes(
            d["t"], d["lat"], d["lon"], d["speed"], now_ts=now, not_before_ts=bounds[i]
        )
        part = slice(starts[i], starts[i] + sizes[i])
        assert keep[part].tolist() == want_keep.tolist(), i
        assert dict(zip(DROP_REASONS, counts[i].tolist(), strict=True)) == want, i
        jumps_seen += want["impossible_jump"]
    assert jumps_seen > 10  # the spikes did exercise the jump rounds


def test_screen_fixes_many_neighbours_never_cross_devices() -> None:
    # Device 0 ends in Taiyuan, device 1 starts 500 km away a second later: two honest tracks.
    t = np.array([T0, T0 + 10, T0 + 20, T0 + 21, T0 + 31, T0 + 41], dtype=np.int64)
    lat = np.array([37.87, 37.871, 37.872, 33.0, 33.001, 33.002])
    lon = np.full(6, 112.55)
    keep, reason = screen_fixes_many(t, lat, lon, np.zeros(6), [0, 3], now_ts=T0 + 100)
    assert keep.all() and (reason == -1).all()
    # empty devices and a custom bound per device
    keep, reason = screen_fixes_many(
        t, lat, lon, np.zeros(6), [0, 0, 3, 6], now_ts=T0 + 100, not_before_ts=[0, T0 + 15, NO_BOUND, 0]
    )
    assert keep.tolist() == [False, False, True, True, True, True]
    assert reason_counts(reason, [0, 0, 3, 6])[1, DROP_REASONS.index("before_vehicle")] == 2
    with pytest.raises(ValueError):
        screen_fixes_many(t, lat, lon, np.zeros(6), [1, 3], now_ts=T0)

"""Trips and stops from a vehicle's GPS fixes: pure NumPy, no database (DESIGN §3, issue 3).

The reference is Traccar's classic reporting logic (`session/state/MotionProcessor.java` driven by
`reports/common/ReportUtils.java`, keys `report.trip.*` in `config/Keys.java`). Read from those sources, it
works like this, and with ``drift_filter=False`` this module does the same:

* A fix is *moving* when its speed is above the threshold (``speed > 0.01 kn``, Traccar's `motion`;
  DESIGN §3 says ≥, which makes no difference for any speed a tracker reports).
* The confirmed state (Traccar's *motion streak*) changes only when the opposite state persists: a run of
  moving fixes starting at fix ``a`` confirms a trip at the first later fix of the run that is
  ≥ ``min_trip_duration_s`` after ``a`` or ≥ ``min_trip_distance_m`` along the fixes from ``a``; a run of
  stopped fixes starting at ``a`` confirms the stop at the first later fix ≥ ``min_parking_duration_s``
  after ``a`` (or, with ``use_ignition``, reporting ACC off). A single fix of the other state resets the
  pending change ("only continuous periods can switch the state").
* A trip runs from the first fix of its confirming moving run to the first fix of the confirming stopped
  run; a stop runs from a trip's end fix to the next trip's start fix, at the position of its first fix.
* In a trip, a silence of ≥ ``min_no_data_duration_s`` between two fixes ends the trip at the fix before
  the silence; the fix after it is not looked at (its successor may start a new pending trip).
* The first fix sets the initial state: moving → a trip starts there. At the end of the data an unfinished
  trip ends at the last fix.
* Duration = end − start; distance = the sum of the legs between start and end fix (Traccar's
  `totalDistance`) or the device odometer's difference; average speed = distance / duration; max speed =
  the highest reported speed.

Where this module differs from Traccar even with the drift filter off, and why:

* Max speed is taken over the trip's own fixes. Traccar's slow report path resets its running maximum when
  the trip is *confirmed*, so fixes between the trip's start and its confirmation are missed.
* The odometer is used only when every fix of the trip has one (NaN or ≤ 0 = none) and it never goes
  down; Traccar only checks that both ends are non-zero, so a reset odometer gives negative trips.
* With ``use_ignition`` a fix with ACC known is moving exactly when ACC is on (DESIGN §3: "while ACC is
  on"); fixes without ACC fall back to speed. Traccar only uses ACC off to end a pending stop early, which
  it does here too.
* ``min_no_data_duration_s = 0`` disables the silence rule (in Traccar it would end every trip).
* Distances are haversine on the mean Earth radius (6371008.8 m), not Traccar's equatorial radius: from
  Hainan to Mohe (18°–54° N) this is within 0.5 % of the WGS-84 geodesic (geopy) for any heading (the
  worst case, due north in the far south, is 0.46 %).

The drift filter (``drift_filter=True``, the default) is where this module deliberately departs from
Traccar. Traccar's users' main complaints are fake trips from parked GPS drift (traccar#3231, #5449),
trips merged across coverage gaps (#3307) and results that change with the report window (#4419, #5279).
With the filter on:

1. *Spikes are ignored.* A fix (or two) that leaves and comes back — both legs ≥ ``drift_radius_m`` while
   the fixes either side are within ``drift_radius_m`` of each other and much closer than the excursion —
   takes the position of the fix before it: it moves nothing and adds no distance. A car cannot go out
   and back a hundred metres within one fix interval; a GPS glitch does that all the time. While
   driving, a fix that makes a detour of ≥ 2 ``drift_radius_m`` needing far more speed than the vehicle
   reports around it is treated the same way.
2. *Motion needs displacement.* A fix counts as moving only if its speed (or ACC) says so **and** it lies
   in a time window (a fix up to the first fix ``drift_window_s`` later) over which the vehicle got
   ≥ ``drift_radius_m`` away. Parked jitter of tens of metres, with or without a drift speed on the
   fixes, is therefore standing; so is a traffic jam crawling less than ``drift_radius_m`` in
   ``drift_window_s`` (it ends a trip only if it lasts ``min_parking_duration_s``).
3. *A trip needs fixes.* Besides Traccar's duration/distance rule, a trip is confirmed only once it has
   ``drift_min_trip_fixes`` moving fixes: two stray fixes 5 minutes apart are no trip.
4. *Gaps.* A silence ≥ ``min_no_data_duration_s`` ends a trip at the point where the vehicle stopped
   (the pending stop's first fix, else the last fix before the silence) and resets any pending trip, so
   a pending trip can never be confirmed by the silence itself (Traccar does, #3307). A silence
   ≥ ``min_parking_duration_s`` after which the vehicle is < ``drift_radius_m`` from where it was is a
   stop too: it stood still that long. A gap after which it is far away, faster than walking pace, is
   driving (a tunnel): it never counts as standing, so a drive through a 2–6 minute tunnel stays one trip
   even when the tracker reports 0 km/h at the tunnel's ends.
5. *Window-independence.* The state starts as stopped whatever the first fix says, so a cut that starts
   at a confirmed stop's first fix gives the same trips as a cut of the whole history (with the default
   ``min_parking_duration_s ≥ drift_window_s``); an unfinished trip ends where the vehicle stopped, and
   trips and stops whose end is not confirmed by the data are marked ``open_end`` so that a store can
   re-cut them when later fixes arrive.

Inputs are one device's time-ordered fixes (`cut`), or many devices concatenated (`cut_many`), with
``t`` in int64 epoch seconds UTC and speed in km/h. Indices in the results point into the input arrays.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, NamedTuple

import numpy as np
import numpy.typing as npt

from core.errors import ValidationFailed
from core.settings import CHINA_BBOX
from core.timeutil import local_zone

Array = npt.NDArray[Any]

KNOT_KMH = 1.852
EARTH_RADIUS_M = 6371008.8
DROP_REASONS = (
    "zero_position",
    "outside_area",
    "future_time",
    "before_vehicle",
    "speed_too_high",
    "impossible_jump",
)
# A fix is only good to tens of metres: without this slack ordinary jitter between 1-second fixes would
# read as a 250 km/h jump.
JUMP_SLACK_M = 50.0
WALKING_KMH = 6.0


class InvalidTripParams(ValidationFailed, ValueError):
    """Trip parameters (or a vehicle's overrides) that cannot be used."""


@dataclass(frozen=True, slots=True)
class TripParams:
    """Trip-cutting parameters: Traccar's `report.trip.*` keys plus the drift filter's."""

    speed_threshold_knots: float = 0.01  # event.motion.speedThreshold: moving when speed is above it
    min_trip_distance_m: float = 500.0  # report.trip.minimalTripDistance
    min_trip_duration_s: int = 300  # report.trip.minimalTripDuration
    min_parking_duration_s: int = 300  # report.trip.minimalParkingDuration
    min_no_data_duration_s: int = 3600  # report.trip.minimalNoDataDuration (0 = off)
    use_ignition: bool = False  # report.trip.useIgnition
    drift_filter: bool = True
    drift_radius_m: float = 100.0  # parked jitter stays within this; a spike's legs are at least this
    drift_window_s: int = 120  # how far in time to look for displacement
    drift_min_trip_fixes: int = 3  # moving fixes before a trip can be confirmed
    motion_from_position: bool = False  # moving = displaced, ignoring speed and ACC (trackers without either)

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", bool):
                if not isinstance(value, bool):
                    raise InvalidTripParams(f"trip parameter {f.name} must be true or false, not {value!r}")
            elif isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
                raise InvalidTripParams(f"trip parameter {f.name} must be a number, not {value!r}")
            elif value < 0:
                raise InvalidTripParams(f"trip parameter {f.name} must not be negative, got {value!r}")
            elif f.type in ("int", int) and value != int(value):
                raise InvalidTripParams(f"trip parameter {f.name} must be whole seconds/fixes, not {value!r}")

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in dataclasses.fields(cls))

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> TripParams:
        """These parameters with a vehicle's overrides applied, e.g. ``{"min_trip_distance_m": 800,
        "use_ignition": true}`` as stored in JSON. Unknown keys and wrong types are refused."""
        if not overrides:
            return self
        unknown = sorted(set(overrides) - set(self.names()))
        if unknown:
            raise InvalidTripParams(
                f"unknown trip parameter(s) {', '.join(unknown)}; known: {', '.join(self.names())}"
            )
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            if f.name in overrides:
                value = overrides[f.name]
                if f.type in ("int", int) and isinstance(value, float) and value.is_integer():
                    value = int(value)  # JSON may say 800.0
                changes[f.name] = value
        return dataclasses.replace(self, **changes)

    def for_fixes(self, speed_kmh: npt.ArrayLike, ignition: npt.ArrayLike | None = None) -> TripParams:
        """These parameters for a device's fixes: with ``motion_from_position`` when they carry neither ACC
        (none given, or all NaN/negative) nor speed (all NaN or 0), by which nothing would ever move;
        else unchanged (an explicit ``motion_from_position`` is kept either way)."""
        if self.motion_from_position or np.any(np.asarray(speed_kmh, dtype=np.float64) > 0):
            return self
        if ignition is not None and np.any(np.asarray(ignition, dtype=np.float64) >= 0):
            return self
        return dataclasses.replace(self, motion_from_position=True)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None) -> TripParams:
        return cls().with_overrides(values)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Trip(NamedTuple):
    """A trip; a plain immutable record (``trip._asdict()`` gives a dict)."""

    start_idx: int  # index of its first fix in the input arrays
    end_idx: int
    start_ts: int
    end_ts: int
    start_lat: float
    start_lon: float
    end_lat: float
    end_lon: float
    distance_m: float
    duration_s: int
    max_speed_kmh: float
    avg_speed_kmh: float
    distance_source: Literal["odometer", "legs"]
    open_start: bool  # starts at the first fix given: it may have begun earlier
    open_end: bool  # the data ends before its end was confirmed: later fixes may extend it

    @property
    def service_day(self) -> date:
        return service_day(self.start_ts)


class Stop(NamedTuple):
    """A stop: from the fix where a trip ended to the fix where the next one starts."""

    start_idx: int
    end_idx: int
    start_ts: int
    end_ts: int
    lat: float  # where it began
    lon: float
    duration_s: int
    open_start: bool  # began at the first fix given
    open_end: bool  # still going at the last fix given


@dataclass(frozen=True, slots=True)
class CutResult:
    trips: list[Trip]
    stops: list[Stop]
    fixes_used: int
    # Fixes left out of cutting: "invalid" (valid=False or no coordinates), "drift_spike".
    ignored: dict[str, int]


def service_day(ts: int | float) -> date:
    """The China calendar day of an epoch second: the day a trip belongs to is the day it starts."""
    return datetime.fromtimestamp(int(ts), local_zone()).date()


# --------------------------------------------------------------------------------------------- distance


def haversine_m(lat1: npt.ArrayLike, lon1: npt.ArrayLike, lat2: npt.ArrayLike, lon2: npt.ArrayLike) -> Array:
    """Great-circle distance in metres on the mean Earth radius, elementwise."""
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dlon = np.radians(np.subtract(lon2, lon1))
    a = np.sin((p2 - p1) * 0.5) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon * 0.5) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.minimum(a, 1.0)))


def _legs_m(lat: Array, lon: Array) -> Array:
    """Haversine length of each leg i-1 → i (element 0 is 0). The differences are taken in float64 and the
    trigonometry done in float32: a leg is then still exact to ~1e-7 (0.1 mm a km), and float32 sin/cos
    are an order of magnitude faster in NumPy. In place where possible: big temporaries cost page faults."""
    n = len(lat)
    out = np.zeros(n)
    if n < 2:
        return out
    f32 = np.float32
    half = np.pi / 360.0
    d = out[1:]
    np.subtract(lat[1:], lat[:-1], out=d)
    d *= half
    h = d.astype(f32)
    np.sin(h, out=h)
    h *= h
    np.subtract(lon[1:], lon[:-1], out=d)
    d *= half
    s = d.astype(f32)
    np.sin(s, out=s)
    s *= s
    np.multiply(lat, 2.0 * half, out=out)
    cphi = out.astype(f32)
    np.cos(cphi, out=cphi)
    s *= cphi[:-1]
    s *= cphi[1:]
    h += s
    np.minimum(h, f32(1.0), out=h)
    np.sqrt(h, out=h)
    np.arcsin(h, out=h)
    out[0] = 0.0
    np.multiply(h, 2.0 * EARTH_RADIUS_M, out=out[1:])
    return out


def path_length_m(lat: npt.ArrayLike, lon: npt.ArrayLike) -> float:
    """Length of a polyline along its fixes, in metres."""
    return float(_legs_m(np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)).sum())


# ------------------------------------------------------------------------------------------- screening


def mark_duplicate_times(t: npt.ArrayLike) -> Array:
    """True on every fix whose time repeats an earlier fix's (the first of each time is kept)."""
    t = np.asarray(t)
    dup = np.zeros(len(t), dtype=bool)
    if len(t) < 2:
        return dup
    if np.all(t[1:] >= t[:-1]):
        dup[1:] = t[1:] == t[:-1]
        return dup
    order = np.argsort(t, kind="stable")
    ts = t[order]
    dup[order[1:][ts[1:] == ts[:-1]]] = True
    return dup


def _fix_arrays(t: Any, lat: Any, lon: Any, speed_kmh: Any) -> tuple[Array, Array, Array, Array]:
    arrays = (
        np.asarray(t, dtype=np.int64), np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64),
        np.asarray(speed_kmh, dtype=np.float64),
    )  # fmt: skip
    if len({len(a) for a in arrays}) > 1:
        raise ValueError("t, lat, lon and speed_kmh must have the same length")
    return arrays


def screen_fixes(
    t: npt.ArrayLike,
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    speed_kmh: npt.ArrayLike,
    *,
    now_ts: int,
    bbox: tuple[float, float, float, float] = CHINA_BBOX,
    not_before_ts: int | None = None,
    max_speed_kmh: float = 250.0,
) -> tuple[Array, dict[str, int]]:
    """DESIGN §3's implausible fixes of one device: ``(keep_mask, {reason: count})``.

    Each dropped fix is counted under the first reason that applies, in this order: ``zero_position``
    (0, 0); ``outside_area`` (outside ``bbox`` = (lat_min, lat_max, lon_min, lon_max), or no coordinates);
    ``future_time`` (after ``now_ts``); ``before_vehicle`` (before ``not_before_ts``); ``speed_too_high``
    (reported speed > ``max_speed_kmh``); ``impossible_jump`` (reaching it from its neighbours would take
    more than ``max_speed_kmh``). For jumps the fix that disagrees with its neighbours on both sides — up
    to two fixes away — is dropped, so a spike goes and the honest fixes around it stay; a lone jump
    between two consistent stretches (which one is wrong cannot be told) is left alone. Counts add up to
    the number of fixes dropped. Duplicate times are not judged here: see `mark_duplicate_times`.
    """
    t, la, lo, sp = _fix_arrays(t, lat, lon, speed_kmh)
    n = len(t)
    lat_min, lat_max, lon_min, lon_max = bbox
    keep = np.ones(n, dtype=bool)
    dropped = dict.fromkeys(DROP_REASONS, 0)

    def drop(reason: str, mask: Array) -> None:
        hit = mask & keep
        dropped[reason] += int(hit.sum())
        keep[hit] = False

    drop("zero_position", (la == 0.0) & (lo == 0.0))
    inside = (la >= lat_min) & (la <= lat_max) & (lo >= lon_min) & (lo <= lon_max)  # NaN is outside
    drop("outside_area", ~inside)
    drop("future_time", t > now_ts)
    if not_before_ts is not None:
        drop("before_vehicle", t < not_before_ts)
    with np.errstate(invalid="ignore"):
        drop("speed_too_high", sp > max_speed_kmh)
    jumps = _impossible_jumps(t, la, lo, keep, max_speed_kmh)
    drop("impossible_jump", jumps)
    return keep, dropped


NO_BOUND = np.iinfo(np.int64).min  # a device without a `not_before_ts` in `screen_fixes_many`


def screen_fixes_many(
    t: npt.ArrayLike,
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    speed_kmh: npt.ArrayLike,
    starts: npt.ArrayLike,
    *,
    now_ts: int,
    bbox: tuple[float, float, float, float] = CHINA_BBOX,
    not_before_ts: npt.ArrayLike | None = None,
    max_speed_kmh: float = 250.0,
) -> tuple[Array, Array]:
    """`screen_fixes` of many devices at once, without a Python loop per device (push feeds deliver
    hundreds of devices with one fix each): ``(keep_mask, reason)``, where ``reason`` is the index into
    `DROP_REASONS` of each dropped fix and -1 for a kept one (per-device counts: `reason_counts`).

    The devices' fixes are concatenated; device ``i`` owns ``[starts[i], starts[i + 1])`` (``starts[0]``
    = 0, non-decreasing). ``not_before_ts`` is one bound per device (`NO_BOUND` = none). Device by device
    the result is exactly `screen_fixes`'s: neighbours never cross a device boundary.
    """
    t, la, lo, sp = _fix_arrays(t, lat, lon, speed_kmh)
    n = len(t)
    dev = _device_index(np.asarray(starts, dtype=np.int64), n)
    lat_min, lat_max, lon_min, lon_max = bbox
    reason = np.full(n, -1, dtype=np.int8)

    def drop(code: int, mask: Array) -> None:
        reason[mask & (reason < 0)] = code

    drop(0, (la == 0.0) & (lo == 0.0))
    drop(1, ~((la >= lat_min) & (la <= lat_max) & (lo >= lon_min) & (lo <= lon_max)))  # NaN is outside
    drop(2, t > now_ts)
    if not_before_ts is not None:
        drop(3, t < np.asarray(not_before_ts, dtype=np.int64)[dev])
    with np.errstate(invalid="ignore"):
        drop(4, sp > max_speed_kmh)
    keep = reason < 0
    drop(5, _impossible_jumps_many(t, la, lo, dev, keep, max_speed_kmh))
    return reason < 0, reason


def reason_counts(reason: Array, starts: npt.ArrayLike) -> Array:
    """Per-device counts of `screen_fixes_many`'s reasons: shape (devices, len(DROP_REASONS))."""
    starts = np.asarray(starts, dtype=np.int64)
    dev = _device_index(starts, len(reason))
    hit = reason >= 0
    r = len(DROP_REASONS)
    flat = np.bincount(dev[hit] * r + reason[hit], minlength=len(starts) * r)
    return flat.reshape(len(starts), r)


def _device_index(starts: Array, n: int) -> Array:
    """The device of each fix, from the devices' start offsets."""
    if len(starts) and (starts[0] != 0 or np.any(np.diff(starts) < 0) or starts[-1] > n):
        raise ValueError("starts must begin at 0 and be non-decreasing within the arrays")
    if not len(starts) and n:
        raise ValueError("fixes without a device: starts is empty")
    return np.repeat(np.arange(len(starts)), np.diff(np.append(starts, n)))


def _impossible_jumps_many(
    t: Array, lat: Array, lon: Array, dev: Array, keep: Array, max_kmh: float
) -> Array:
    """`_impossible_jumps` for every device at once. Each device runs its own rounds and stops on its own
    conditions (fewer than 3 fixes, no impossible link, nobody to drop); the rounds of all devices still
    going run together."""
    out = np.zeros(len(t), dtype=bool)
    idx = np.flatnonzero(keep)
    if len(idx) < 3:
        return out
    tk, dk = t[idx], dev[idx]
    if np.any((tk[1:] < tk[:-1]) & (dk[1:] == dk[:-1])):  # sort by time within each device, stably
        idx = idx[np.argsort(tk, kind="stable")]
        idx = idx[np.argsort(dev[idx], kind="stable")]
    max_ms = max_kmh / 3.6
    for _ in range(50):
        idx = idx[_devices_with(dev[idx], 3)]
        k = len(idx)
        if not k:
            break
        tt, la, lo, g = t[idx], lat[idx], lon[idx], dev[idx]
        bad_links = np.zeros(k, dtype=np.int64)
        links = np.zeros(k, dtype=np.int64)
        has_bad = np.zeros(k, dtype=bool)
        for step in (1, 2):
            same = g[step:] == g[:-step]
            d = haversine_m(la[:-step], lo[:-step], la[step:], lo[step:])
            dt = np.maximum(tt[step:] - tt[:-step], 1)
            bad = ((d - JUMP_SLACK_M) > max_ms * dt) & same
            b = bad.astype(np.int64)
            s = same.astype(np.int64)
            bad_links[:-step] += b
            bad_links[step:] += b
            links[:-step] += s
            links[step:] += s
            has_bad[:-step] |= bad
        first = np.ones(k, dtype=bool)
        first[1:] = g[1:] != g[:-1]
        seg = np.flatnonzero(first)
        # per device: any impossible link at all? (else it is done, as `_impossible_jumps` breaks)
        going = np.logical_or.reduceat(has_bad, seg)
        worst = (bad_links == links) & (links >= 2)
        primary = np.logical_or.reduceat(worst, seg)
        # only the devices with no fix breaking all its links fall back to "all but one, and at least
        # as many as the neighbours" (neighbours within the device)
        fallback = (bad_links >= 2) & (bad_links >= links - 1)
        inner = ~first[1:]
        fallback[1:] &= (bad_links[1:] >= bad_links[:-1]) | ~inner
        fallback[:-1] &= (bad_links[:-1] >= bad_links[1:]) | ~inner
        per_dev = np.repeat(np.arange(len(seg)), np.diff(np.append(seg, k)))
        worst = np.where(primary[per_dev], worst, fallback) & going[per_dev]
        going &= np.logical_or.reduceat(worst, seg)
        if not going.any():
            break
        out[idx[worst]] = True
        idx = idx[going[per_dev] & ~worst]
    return out


def _devices_with(g: Array, at_least: int) -> Array:
    """Mask of the entries (grouped by device, `g` sorted) whose device has ≥ `at_least` entries."""
    if not len(g):
        return np.zeros(0, dtype=bool)
    first = np.ones(len(g), dtype=bool)
    first[1:] = g[1:] != g[:-1]
    seg = np.flatnonzero(first)
    sizes = np.diff(np.append(seg, len(g)))
    return np.repeat(sizes >= at_least, sizes)


def _impossible_jumps(t: Array, lat: Array, lon: Array, keep: Array, max_kmh: float) -> Array:
    """Fixes (among ``keep``) that could only be reached from (nearly) all their neighbours faster than
    ``max_kmh``. Each round scores every fix by its impossible links to the fixes one and two away and
    drops the ones that disagree with them; rounds repeat until nothing more goes."""
    out = np.zeros(len(t), dtype=bool)
    idx = np.flatnonzero(keep)
    if len(idx) < 3:
        return out
    idx = idx[np.argsort(t[idx], kind="stable")]
    max_ms = max_kmh / 3.6
    for _ in range(50):
        k = len(idx)
        if k < 3:
            break
        tt, la, lo = t[idx], lat[idx], lon[idx]
        bad_links = np.zeros(k, dtype=np.int64)
        links = np.zeros(k, dtype=np.int64)
        any_bad = False
        for step in (1, 2):
            if k <= step:
                continue
            d = haversine_m(la[:-step], lo[:-step], la[step:], lo[step:])
            dt = np.maximum(tt[step:] - tt[:-step], 1)
            bad = (d - JUMP_SLACK_M) > max_ms * dt
            any_bad |= bool(bad.any())
            b = bad.astype(np.int64)
            bad_links[:-step] += b
            bad_links[step:] += b
            links[:-step] += 1
            links[step:] += 1
        if not any_bad:
            break
        # Four links inside the track: a spike breaks all four, a pair of spikes three each, a fix next to
        # a spike one or two (three when spikes are on both sides of it); at the ends fewer links exist.
        # Drop the fixes that break all their links first; only when there are none, those that break all
        # but one and at least as many as their neighbours.
        worst = (bad_links == links) & (links >= 2)
        if not worst.any():
            worst = (bad_links >= 2) & (bad_links >= links - 1)
            worst[1:] &= bad_links[1:] >= bad_links[:-1]
            worst[:-1] &= bad_links[:-1] >= bad_links[1:]
        if not worst.any():
            break
        out[idx[worst]] = True
        idx = idx[~worst]
    return out


# --------------------------------------------------------------------------------------------- cutting

_B, _G, _S, _E, _D = 0, 1, 2, 3, 4  # event kinds, in the order they act at the same fix
_Spans = tuple[list[int], list[int], list[bool], list[bool]]  # start, end, open_start, open_end


def cut(
    t: npt.ArrayLike,
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    speed_kmh: npt.ArrayLike,
    ignition: npt.ArrayLike | None = None,
    odometer_m: npt.ArrayLike | None = None,
    valid: npt.ArrayLike | None = None,
    params: TripParams = TripParams(),
) -> CutResult:
    """Cut one device's time-ordered fixes into trips and stops.

    ``ignition``: ACC per fix — bool, or numbers with 1 on, 0 off and NaN or a negative value unknown.
    ``odometer_m``: the device odometer in metres, NaN (or ≤ 0) where not reported. ``valid``: fixes with
    False are ignored. Indices in the result point into these arrays."""
    return cut_many(t, lat, lon, speed_kmh, [0], ignition, odometer_m, valid, params)[0]


def cut_many(
    t: npt.ArrayLike,
    lat: npt.ArrayLike,
    lon: npt.ArrayLike,
    speed_kmh: npt.ArrayLike,
    starts: Sequence[int] | npt.ArrayLike,
    ignition: npt.ArrayLike | None = None,
    odometer_m: npt.ArrayLike | None = None,
    valid: npt.ArrayLike | None = None,
    params: TripParams = TripParams(),
) -> list[CutResult]:
    """`cut` for many devices at once: their fixes concatenated, device ``k`` starting at index
    ``starts[k]`` (``starts[0] == 0``). One result per device, indices into the concatenated arrays.
    The same parameters apply to all; group devices by their parameters."""
    tt = np.asarray(t, dtype=np.int64)
    n = len(tt)
    la = np.asarray(lat, dtype=np.float64)
    lo = np.asarray(lon, dtype=np.float64)
    sp = np.asarray(speed_kmh, dtype=np.float64)
    st = np.asarray(starts, dtype=np.int64)
    if not (len(la) == len(lo) == len(sp) == n):
        raise ValueError("t, lat, lon and speed_kmh must have the same length")
    if len(st) == 0 or st[0] != 0 or np.any(st[1:] < st[:-1]) or st[-1] > n:
        raise ValueError("starts must begin with 0 and not decrease")
    optional = {}
    for name, arr in (("ignition", ignition), ("odometer_m", odometer_m), ("valid", valid)):
        if arr is not None:
            col = np.asarray(arr, dtype=bool if name == "valid" else np.float64)
            if len(col) != n:
                raise ValueError(f"{name} must have the same length as t")
            optional[name] = col
    # Whole devices in blocks of about BLOCK fixes: the temporaries stay small (cache-sized, reused by the
    # allocator instead of fresh pages) and memory stays bounded whatever the input's size.
    ends = np.concatenate((st[1:], [n]))
    out: list[CutResult] = []
    d = 0
    while d < len(st):
        e = int(ends.searchsorted(st[d] + BLOCK, side="right"))
        e = max(e, d + 1)
        a, b = int(st[d]), int(ends[e - 1])
        part = {k: v[a:b] for k, v in optional.items()}
        out += _cut_block(a, tt[a:b], la[a:b], lo[a:b], sp[a:b], st[d:e] - a, part, params)
        d = e
    return out


BLOCK = 1 << 15


def _cut_block(
    offset: int,
    tt: Array,
    la: Array,
    lo: Array,
    sp: Array,
    st: Array,
    optional: dict[str, Array],
    params: TripParams,
) -> list[CutResult]:
    n = len(tt)
    keep = np.isfinite(la)
    keep &= np.isfinite(lo)
    if "valid" in optional:
        keep &= optional["valid"]
    bounds = np.concatenate((st, [n]))
    if keep.all():
        idx = np.arange(n)
        kept = bounds[1:] - bounds[:-1]
        c = _Fixes(idx + offset, tt, la, lo, sp, kept)
    else:
        idx = keep.nonzero()[0]
        ck = np.concatenate(([0], keep.cumsum()))
        kept = ck[bounds[1:]] - ck[bounds[:-1]]
        c = _Fixes(idx + offset, tt[idx], la[idx], lo[idx], sp[idx], kept)
        c.owned = True
    invalid = bounds[1:] - bounds[:-1] - kept
    if len(c.t) > 1 and np.any((c.t[1:] < c.t[:-1]) & ~c.devstart[1:]):
        raise ValueError("fixes must be in time order within each device")
    ign = optional["ignition"][idx] if "ignition" in optional else None
    spikes = np.zeros(0, dtype=np.int64)
    if params.drift_filter:
        spikes = _patch_spikes(c, params.drift_radius_m, detours=not params.motion_from_position)
    trips, stops, cd = _cut_fixes(c, ign, spikes, params)
    odo = optional["odometer_m"][idx] if "odometer_m" in optional else None
    ndev = len(st)
    spikes_per_dev = np.bincount(c.dev[spikes], minlength=ndev) if len(spikes) else np.zeros(ndev, np.int64)
    return _assemble(c, trips, stops, cd, odo, invalid, spikes_per_dev)


class _Fixes:
    """The fixes that take part in cutting (the input's fixes with a valid position), all devices end to
    end; ``idx`` maps back to the input."""

    def __init__(self, idx: Array, t: Array, lat: Array, lon: Array, sp: Array, per_dev: Array):
        self.idx, self.t, self.lat, self.lon, self.sp = idx, t, lat, lon, sp
        self.ndev = len(per_dev)
        self.ends = per_dev.cumsum()  # one past each device's last fix
        self.starts = self.ends - per_dev
        nonempty = per_dev > 0
        self.first, self.last = self.starts[nonempty], self.ends[nonempty] - 1
        self.dev = np.repeat(np.arange(self.ndev), per_dev)
        self.devstart = np.zeros(len(t), dtype=bool)
        self.devstart[self.first] = True
        self._xy: tuple[Array, Array] | None = None
        self.owned = False  # lat/lon/sp may be the caller's arrays until written to

    @property
    def x(self) -> Array:
        return self.xy()[0]

    @property
    def y(self) -> Array:
        return self.xy()[1]

    def xy(self) -> tuple[Array, Array]:
        """Local plane coordinates in metres, one cos(lat) per device, in float32 from the block's first
        fix: good to a metre, plenty for ~100 m thresholds, and half the memory traffic of float64."""
        if self._xy is None:
            if len(self.t) == 0:
                self._xy = (np.zeros(0, np.float32), np.zeros(0, np.float32))
                return self._xy
            nonempty = self.ends > self.starts
            ref = np.zeros(self.ndev)
            ref[nonempty] = self.lat[self.first]
            k = np.pi / 180.0 * EARTH_RADIUS_M
            x = self.lon - self.lon[0]
            x *= (k * np.cos(np.radians(ref)))[self.dev]
            y = self.lat - self.lat[0]
            y *= k
            self._xy = (x.astype(np.float32), y.astype(np.float32))
        return self._xy

    def own(self) -> None:
        if not self.owned:
            self.lat, self.lon, self.sp = self.lat.copy(), self.lon.copy(), self.sp.copy()
            self.owned = True


def _patch_spikes(c: _Fixes, radius: float, detours: bool = True) -> Array:
    """Find fixes that leave and come straight back — one fix (or two together) whose legs from the fix
    before and to the fix after are ≥ ``radius`` while those two are within ``radius`` of each other and
    within half the excursion; or, while driving, one fix that makes a detour of ≥ 2 ``radius`` faster
    than the vehicle can go (``detours``: not without speeds, where every turn would look like one) — and
    give them the position of the fix before, so that they move nothing and add no distance. Returns
    their indices; their motion is made their predecessor's later."""
    x, y = c.x, c.y
    n = len(x)
    if n < 3:
        return np.zeros(0, dtype=np.int64)
    r2 = radius * radius

    def dist2(lag: int) -> Array:
        # squared distance from each fix to the one `lag` later
        dx = x[lag:] - x[:-lag]
        dx *= dx
        dy = y[lag:] - y[:-lag]
        dy *= dy
        dx += dy
        return dx

    leg, two = dist2(1), dist2(2)  # leg[j]: j → j+1; two[j]: j → j+2
    excursion = np.minimum(leg[:-1], leg[1:])  # for the fix j+1
    single = excursion >= r2
    single &= two < r2
    two *= 4.0
    single &= two <= excursion
    two *= 0.25
    # While driving the fixes either side are far apart too: there a spike is a detour of ≥ 2 radius that
    # would need a much higher speed than the vehicle reports around it.
    j = (excursion >= r2).nonzero()[0] if detours else np.zeros(0, dtype=np.int64)
    out_back = np.sqrt(leg[j]) + np.sqrt(leg[j + 1])
    detour = out_back - np.sqrt(two[j]) >= 2.0 * radius
    j, out_back = j[detour], out_back[detour]
    needed_kmh = out_back / np.maximum(c.t[j + 2] - c.t[j], 1) * 3.6
    reported = np.fmax(np.fmax(c.sp[j], c.sp[j + 2]), 0.0)  # NaN: unknown, taken as 0
    single[j[needed_kmh >= 1.5 * reported + 20.0]] = True
    cand = single.nonzero()[0] + 1
    spike = np.zeros(n, dtype=bool)
    spike[cand[c.dev[cand - 1] == c.dev[cand + 1]]] = True
    if n >= 4:
        # Pairs (i, i+1) between p = i-1 and q = i+2: only where p and q are close and both outer legs long.
        three = dist2(3)
        i = ((three < r2) & (leg[:-2] >= r2) & (leg[2:] >= r2)).nonzero()[0] + 1
        p, q = i - 1, i + 2
        base = three[p]
        ex = np.minimum(np.minimum(leg[p], two[p]), np.minimum(two[i], leg[i + 1]))
        pair = i[(ex >= r2) & (4.0 * base <= ex) & (c.dev[p] == c.dev[q])]
        spike[pair] = True
        spike[pair + 1] = True
    where = spike.nonzero()[0]
    if len(where) == 0:
        return where
    src = where - 1
    for _ in range(3):  # a spike's source is the last fix before it that is not one
        more = spike[src]
        if not more.any():
            break
        src[more] -= 1
    c.own()
    for arr in (c.lat, c.lon, c.x, c.y, c.sp):
        arr[where] = arr[src]
    return where


def _ends(c: _Fixes, first: Array, last: Array) -> tuple[list[Any], ...]:
    """Of spans from `first` to `last`: their fixes' indices and times, and where they begin."""
    return (
        c.idx[first].tolist(), c.idx[last].tolist(), c.t[first].tolist(), c.t[last].tolist(),
        c.lat[first].tolist(), c.lon[first].tolist(),
    )  # fmt: skip


def _add(spans: _Spans, start: int, end: int, open_start: bool, open_end: bool) -> None:
    spans[0].append(start)
    spans[1].append(end)
    spans[2].append(open_start)
    spans[3].append(open_end)


def _cut_fixes(c: _Fixes, ign: Array | None, spikes: Array, p: TripParams) -> tuple[_Spans, _Spans, Array]:
    """The state machine over runs of equal motion: trips and stops as spans of indices into ``c``, and
    the cumulative leg distance."""
    n = len(c.t)
    if n == 0:
        return ([], [], [], []), ([], [], [], []), np.zeros(0)
    k = _Clock.of(c, p)
    moving, ign_off = _motion(c, k, ign, spikes, p)
    silence, brk = _breaks(c, k, moving, p)
    rs = brk.nonzero()[0]
    re = np.concatenate((rs[1:], [n])) - 1
    walk = _Walk(p, moving, rs, re, k)
    for e, kind, a in _events(c, k, moving, ign_off, silence, rs, re, p):
        walk.step(e, kind, a)
    return walk.trips, walk.stops, k.cd


@dataclass
class _Clock:
    """Legs, cumulative distance, time steps and one increasing clock `tg` over all devices (devices are
    spaced further apart than any time threshold, so that one searchsorted serves every device)."""

    legs: Array
    cd: Array
    dt: Array
    tg: Array
    no_data: int

    @classmethod
    def of(cls, c: _Fixes, p: TripParams) -> _Clock:
        t, devstart = c.t, c.devstart
        n = len(t)
        legs = _legs_m(c.lat, c.lon)
        legs[devstart] = 0.0
        cd = legs.cumsum()  # never decreases, over all devices
        dt = np.empty(n, dtype=np.int64)
        dt[0] = 0
        np.subtract(t[1:], t[:-1], out=dt[1:])
        dt[devstart] = 0
        longest = max(
            p.min_no_data_duration_s, p.min_trip_duration_s, p.min_parking_duration_s, p.drift_window_s
        )
        spacing = 2 * longest + 2
        t0 = int(t.min())
        tg = c.dev * (int(t.max()) - t0 + spacing)
        tg += t
        tg -= t0
        no_data = p.min_no_data_duration_s if p.min_no_data_duration_s > 0 else spacing
        return cls(legs, cd, dt, tg, no_data)


def _motion(
    c: _Fixes, k: _Clock, ign: Array | None, spikes: Array, p: TripParams
) -> tuple[Array, Array | None]:
    """Motion per fix (and where the ignition is known to be off)."""
    moving = c.sp > p.speed_threshold_knots * KNOT_KMH  # NaN speed: not moving
    ign_off: Array | None = None
    if ign is not None and p.use_ignition:
        known = ign >= 0  # NaN and negative: unknown
        moving = np.where(known, ign > 0.5, moving)
        ign_off = known & (ign < 0.5)
        ign_off[spikes] = False
    if p.motion_from_position:
        moving = _away_both_ways(c, k.tg, p.drift_window_s, p.drift_radius_m, k.no_data)
    elif p.drift_filter:
        moving &= _displaced(c, k.tg, moving, p.drift_window_s, p.drift_radius_m, k.no_data)
    if len(spikes):
        moving[spikes] = False
        for _ in range(2):  # a spike moves as its predecessor did (pairs: twice)
            moving[spikes] = moving[spikes - 1] & ~c.devstart[spikes]
    return moving, ign_off


def _breaks(c: _Fixes, k: _Clock, moving: Array, p: TripParams) -> tuple[Array, Array]:
    """Silences, and where runs of equal motion break."""
    devstart, legs, dt = c.devstart, k.legs, k.dt
    silence = dt >= k.no_data
    silence[devstart] = False
    brk = devstart.copy()
    brk[1:] |= moving[1:] != moving[:-1]
    if p.drift_filter:
        near = legs < p.drift_radius_m
        if p.min_parking_duration_s > 0:
            # Stood still through a gap as long as a parking: a stop. (Between two stopped fixes no event
            # is needed: their stopped run confirms itself at the later one.)
            stood = (dt >= p.min_parking_duration_s) & near & ~devstart
            stood[1:] &= moving[1:] | moving[:-1]
            silence |= stood
        brk |= silence
        # Moved far, faster than walking pace, over a gap between two stopped fixes (through a tunnel):
        # that is no stretch of standing. (Parked jitter is slower, or between fixes close in time.)
        far = ~near
        far &= legs >= dt * (WALKING_KMH / 3.6)
        far &= dt >= p.drift_window_s
        far[0] = False
        far[1:] &= ~moving[1:] & ~moving[:-1]
        brk |= far
    brk[0] = True
    return silence, brk


def _events(
    c: _Fixes,
    k: _Clock,
    moving: Array,
    ign_off: Array | None,
    silence: Array,
    rs: Array,
    re: Array,
    p: TripParams,
) -> Iterable[tuple[int, int, int]]:
    """The candidate events (effective fix, kind, fix it acts at), in order: one step per event, not per
    fix."""
    n, tg, cd = len(c.t), k.tg, k.cd
    rm = moving[rs]
    # Trip-start candidates: moving runs that would confirm, and at which fix.
    mr, mre = rs[rm], re[rm]
    by_time = tg.searchsorted(tg[mr] + p.min_trip_duration_s)
    sc = np.maximum(np.minimum(by_time, cd.searchsorted(cd[mr] + p.min_trip_distance_m)), mr + 1)
    if p.drift_filter and len(mr):
        sc = np.maximum(sc, mr + (p.drift_min_trip_fixes - 1))
    s_ok = sc <= mre
    # Stop candidates: stopped runs that would confirm, and at which fix.
    sr, sre = rs[~rm], re[~rm]
    ec = tg.searchsorted(tg[sr] + p.min_parking_duration_s)
    if ign_off is not None and len(sr):
        off = ign_off.nonzero()[0]
        if len(off):
            pos = off.searchsorted(sr + 1)
            ec = np.minimum(ec, np.where(pos < len(off), off[np.minimum(pos, len(off) - 1)], n))
    ec = np.maximum(ec, sr + 1)
    e_ok = ec <= sre
    gi = silence.nonzero()[0]
    first, last = c.first, c.last
    eff = np.concatenate((first, gi, sc[s_ok], ec[e_ok], last))
    kind = np.repeat(np.arange(5), [len(first), len(gi), int(s_ok.sum()), int(e_ok.sum()), len(last)])
    at = np.concatenate((first, gi, mr[s_ok], sr[e_ok], last))
    order = (eff * 5 + kind).argsort(kind="stable")
    return zip(eff[order].tolist(), kind[order].tolist(), at[order].tolist(), strict=True)


class _Walk:
    """The state between events: in a trip or not, where the open trip or stop began."""

    def __init__(self, p: TripParams, moving: Array, rs: Array, re: Array, k: _Clock) -> None:
        self.p, self.drift, self.moving, self.rs, self.re, self.k = p, p.drift_filter, moving, rs, re, k
        self.trips: _Spans = ([], [], [], [])
        self.stops: _Spans = ([], [], [], [])
        self.in_trip = False
        self.t_start = self.s_start = -1
        self.t_open = self.s_open = False
        self.dead_run = self.quiet_until = -1

    def run_of(self, i: int) -> int:
        return int(self.rs.searchsorted(i, side="right")) - 1

    def stopped_at(self, i: int) -> int:
        # With the drift filter a trip ends where the vehicle stopped: the start of a pending stop.
        return int(self.rs[self.run_of(i)]) if self.drift and not self.moving[i] else i

    def step(self, e: int, k: int, a: int) -> None:
        if k == _S:
            self.start(a)
        elif k == _E:
            if self.in_trip:
                _add(self.trips, self.t_start, a, self.t_open, False)
                self.in_trip, self.s_start, self.s_open = False, a, False
        elif k == _G:
            self.gap(e)
        elif k == _B:
            self.dead_run = self.quiet_until = -1
            if not self.drift and self.moving[a]:
                self.in_trip, self.t_start, self.t_open, self.s_start = True, a, True, -1
            else:
                self.in_trip, self.s_start, self.s_open = False, a, True
        else:  # _D
            if self.in_trip:
                _add(self.trips, self.t_start, self.stopped_at(e), self.t_open, True)
            elif self.s_start >= 0:
                _add(self.stops, self.s_start, e, self.s_open, True)
            self.in_trip, self.s_start = False, -1

    def start(self, a: int) -> None:
        if self.in_trip or (self.dead_run >= 0 and self.run_of(a) == self.dead_run):
            return
        if self.s_start >= 0 and a > self.s_start:
            _add(self.stops, self.s_start, a, self.s_open, False)
        self.in_trip, self.t_start, self.t_open = True, a, a == self.s_start and self.s_open

    def gap(self, e: int) -> None:
        if not self.in_trip or e <= self.quiet_until:
            return
        end = self.stopped_at(e - 1)
        _add(self.trips, self.t_start, end, self.t_open, False)
        self.in_trip, self.s_start, self.s_open = False, end, False
        if self.drift or not self.moving[e]:
            return
        # Traccar skips the fix after the silence; the rest of its moving run may start a trip.
        r = self.run_of(e)
        self.dead_run = r
        b = int(self.re[r])
        a2 = e + 1
        if a2 > b:
            return
        cd, tg, p = self.k.cd, self.k.tg, self.p
        by_dist = int(cd.searchsorted(cd[a2] + p.min_trip_distance_m))
        c2 = max(a2 + 1, min(int(tg.searchsorted(tg[a2] + p.min_trip_duration_s)), by_dist))
        if c2 <= b:
            _add(self.stops, self.s_start, a2, False, False)
            self.in_trip, self.t_start, self.t_open = True, a2, False
            self.quiet_until = c2  # silences before its confirmation met a stopped state


def _away_both_ways(c: _Fixes, tg: Array, window: int, radius: float, no_data: int) -> Array:
    """Motion from position alone: True on the fixes ≥ ``radius`` away both from the last fix ``window``
    seconds or more before them and from the first fix ``window`` seconds or more after them (in the same
    device, not across a no-data silence), and on the fix just before such a fix if that one is away from
    its own later fix (where the vehicle left: the trip then keeps its first leg). Parked jitter is away
    from neither side; the first fix parked after a trip only from the fixes before it. So a trip starts
    and ends where the vehicle left and arrived, not a window earlier and later — which would merge trips
    around a park only a little longer than ``min_parking_duration_s`` — while a stop at a traffic light
    is too short to confirm a stop."""
    x, y = c.x, c.y
    n = len(x)
    i = np.arange(n)
    w = max(window, 1)
    away = []
    for other in (tg.searchsorted(tg - w, side="right") - 1, tg.searchsorted(tg + w)):
        has = (other >= 0) & (other < n)
        j = np.where(has, other, i)
        has &= np.abs(tg[j] - tg) < no_data  # devices are further apart on tg than no_data
        has &= np.square(x[j] - x) + np.square(y[j] - y) >= radius * radius
        away.append(has)
    before, after = away
    moving = before & after
    moving[:-1] |= after[:-1] & moving[1:]
    return moving


def _displaced(c: _Fixes, tg: Array, starts: Array, window: int, radius: float, no_data: int) -> Array:
    """True on the fixes of every time window in which the vehicle got ≥ ``radius`` away: from one of
    ``starts`` (windows from standing fixes add nothing a moving fix needs) up to the first fix
    ``window`` seconds later, in the same device and not across a no-data silence. Parked jitter never
    gets that far, so its fixes stay False. (In place where possible: big temporaries cost page faults.)"""
    x, y = c.x, c.y
    n = len(x)
    w = max(window, 1)
    j = starts.nonzero()[0]
    if len(j) == 0:
        return np.zeros(n, dtype=bool)
    tg_j = tg[j]
    # The window of a fix whose next fix is already ≥ w later ends there (heartbeats, gaps): search only
    # for the others.
    fwd = j + 1
    np.minimum(fwd, n - 1, out=fwd)
    span = tg[fwd]
    span -= tg_j
    short = (span < w).nonzero()[0]
    target = tg_j[short]
    target += w
    fwd[short] = tg.searchsorted(target)
    np.minimum(fwd, n - 1, out=fwd)
    np.take(tg, fwd, out=span)
    span -= tg_j
    # Devices are further apart on tg than no_data, so this also keeps each window in its device.
    ok = span < no_data
    ok &= span >= w
    dx = x[fwd]
    dx -= x[j]
    dx *= dx
    dy = y[fwd]
    dy -= y[j]
    dy *= dy
    dx += dy
    ok &= dx >= radius * radius
    # Fix i is in some such window [j, fwd[j]), j ≤ i, iff the furthest end of those windows passes i. (The
    # window's last fix is left out: after a sparse heartbeat it may be the first fix standing.)
    fwd -= 1
    np.copyto(fwd, -1, where=~ok)
    np.maximum.accumulate(fwd, out=fwd)
    ar = np.arange(n)
    last_start = starts.cumsum()  # 1 + the index into j of the last window start at or before each fix
    last_start -= 1
    covered = last_start >= 0
    np.maximum(last_start, 0, out=last_start)
    covered &= fwd[last_start] >= ar
    return covered


def _assemble(
    c: _Fixes,
    trips: _Spans,
    stops: _Spans,
    cd: Array,
    odo: Array | None,
    invalid_per_dev: Array,
    spikes_per_dev: Array,
) -> list[CutResult]:
    """Trip and stop figures, vectorised over all trips; then one result per device."""
    ts, te = np.asarray(trips[0], dtype=np.int64), np.asarray(trips[1], dtype=np.int64)
    dist = cd[te] - cd[ts]
    by_odo = np.zeros(len(ts), dtype=bool)
    if odo is not None and len(ts):
        missing = ~(odo > 0)  # NaN too
        down = np.zeros(len(odo), dtype=bool)
        with np.errstate(invalid="ignore"):
            down[1:] = odo[1:] < odo[:-1]
        cm = np.concatenate(([0], missing.cumsum()))
        cdn = down.cumsum()
        by_odo = (cm[te + 1] - cm[ts] == 0) & (cdn[te] - cdn[ts] == 0)
        dist = np.where(by_odo, odo[te] - odo[ts], dist)
    dur = c.t[te] - c.t[ts]
    avg = dist / np.maximum(dur, 1) * 3.6
    avg[dur <= 0] = 0.0
    if len(ts):
        speeds = np.fmax(np.concatenate((c.sp, [0.0])), 0.0)  # NaN: unknown, taken as 0
        cuts = np.empty(2 * len(ts), dtype=np.int64)
        cuts[0::2], cuts[1::2] = ts, te + 1
        vmax = np.maximum.reduceat(speeds, cuts)[0::2]
    else:
        vmax = np.zeros(0)
    trip_rows = zip(
        *_ends(c, ts, te),
        c.lat[te].tolist(),
        c.lon[te].tolist(),
        dist.tolist(),
        dur.tolist(),
        vmax.tolist(),
        avg.tolist(),
        np.where(by_odo, "odometer", "legs").tolist(),
        trips[2],
        trips[3],
        strict=True,
    )
    all_trips = [Trip._make(row) for row in trip_rows]

    order = np.asarray(stops[0], dtype=np.int64).argsort(kind="stable")
    ss = np.asarray(stops[0], dtype=np.int64)[order]
    se = np.asarray(stops[1], dtype=np.int64)[order]
    stop_rows = zip(
        *_ends(c, ss, se),
        (c.t[se] - c.t[ss]).tolist(),
        np.asarray(stops[2], dtype=bool)[order].tolist(),
        np.asarray(stops[3], dtype=bool)[order].tolist(),
        strict=True,
    )
    all_stops = [Stop._make(row) for row in stop_rows]

    tb = c.dev[ts].searchsorted(np.arange(c.ndev + 1)).tolist() if len(ts) else [0] * (c.ndev + 1)
    sb = c.dev[ss].searchsorted(np.arange(c.ndev + 1)).tolist() if len(ss) else [0] * (c.ndev + 1)
    used = (c.ends - c.starts - spikes_per_dev).tolist()
    inv, spk = invalid_per_dev.tolist(), spikes_per_dev.tolist()
    return [
        CutResult(
            trips=all_trips[tb[d] : tb[d + 1]],
            stops=all_stops[sb[d] : sb[d + 1]],
            fixes_used=used[d],
            ignored={"invalid": inv[d], "drift_spike": spk[d]},
        )
        for d in range(c.ndev)
    ]

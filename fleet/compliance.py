"""The compliance rules (合规规则) as pure functions on arrays: what tags a trip gets — 节假日 (rest_day),
非工作时间 (off_hours), 出县 (out_of_area), 超速 (overspeed) — from its times, its fixes and the rule
settings. No database: fleet/tags.py loads the trips, their fixes, the calendar and the settings, calls
these and stores the tags; reconciliation turns them into flags.

The calendar is the State Council's: statutory holidays and the weekends that are not make-up working days
(调休上班), from the maintained `chinesecalendar` package, with the center's own extra rest or working days
on top; a year the package does not know is weekends only (and the run says so).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from core.i18n import tr
from fleet.tripcut import haversine_m

Array = npt.NDArray[Any]

CHINA_OFFSET_S = 8 * 3600  # China has kept UTC+8 all year since 1991
TAGS = ("rest_day", "off_hours", "out_of_area", "overspeed")
TAG_BITS = {name: 1 << i for i, name in enumerate(TAGS)}


def tag_names(bits: int) -> list[str]:
    return [name for name in TAGS if bits & TAG_BITS[name]]


def tag_bits(names: Iterable[str]) -> int:
    return sum(TAG_BITS[n] for n in set(names))


# ------------------------------------------------------------------------------------------ settings


@dataclass(frozen=True)
class ComplianceRules:
    """Every compliance rule's numbers (the database's rule table overrides these defaults)."""

    night_start: str = "20:00"  # 非工作时间: the night window on a working day, China time
    night_end: str = "06:00"
    night_min_minutes: int = 10  # a trip overlapping the night this long is off_hours
    out_of_area_km: float = 1.0  # 出县: this far outside the service area
    out_of_area_fixes: int = 2  # for this many consecutive fixes (one drift fix is not leaving)
    overspeed_kmh: float = 120.0  # 超速: above this speed
    overspeed_s: int = 30  # continuously for this long
    away_km: float = 1.0  # 夜间未归: the last fix before away_hour this far from home
    away_hour: int = 2  # China time
    away_lookback_h: int = 6  # a fix within this many hours before counts
    sensitive_minutes: int = (
        30  # 敏感场所停留: a stop this long at a sensitive place (GONGWU_SENSITIVE_PLACES)
    )

    @classmethod
    def names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))

    def night_window_s(self) -> tuple[int, int]:
        """(start, end) of the night as seconds after midnight; end < start when it crosses midnight."""
        return _clock_s(self.night_start), _clock_s(self.night_end)


def _clock_s(value: str) -> int:
    h, m = value.split(":")
    return int(h) * 3600 + int(m) * 60


def parse_rule(key: str, value: Any) -> Any:
    """A rule value as typed (`gongwu rules set`, the API) → its stored type, or ValueError saying why."""
    kinds = {f.name: f.type for f in fields(ComplianceRules)}
    if key not in kinds:
        raise ValueError(
            tr(
                f"未知的规则 {key!r}（可选 {', '.join(kinds)}）",
                f"unknown rule {key!r} (one of {', '.join(kinds)})",
            )
        )
    kind = kinds[key]
    text = str(value).strip()
    if kind in ("str", str):
        try:
            h, m = text.split(":")
            if not (0 <= int(h) < 24 and 0 <= int(m) < 60):
                raise ValueError
        except ValueError:
            raise ValueError(
                tr(
                    f"{key} 须为时刻，如 20:00，而不是 {value!r}",
                    f"{key} is a time of day like 20:00, not {value!r}",
                )
            ) from None
        return f"{int(h):02d}:{int(m):02d}"
    try:
        number = float(text)
    except ValueError:
        raise ValueError(
            tr(f"{key} 须为数字，而不是 {value!r}", f"{key} is a number, not {value!r}")
        ) from None
    if not np.isfinite(number) or number < 0:
        raise ValueError(
            tr(f"{key} 须为不小于 0 的数，而不是 {value!r}", f"{key} must be a number ≥ 0, not {value!r}")
        )
    if kind in ("int", int):
        if number != int(number):
            raise ValueError(
                tr(f"{key} 须为整数，而不是 {value!r}", f"{key} is a whole number, not {value!r}")
            )
        if key == "away_hour" and number > 23:
            raise ValueError(tr("away_hour 须为 0–23 点", "away_hour is an hour of the day, 0–23"))
        return int(number)
    return number


# ------------------------------------------------------------------------------------------ calendar


def calendar_years() -> range:
    """The years the `chinesecalendar` package knows."""
    import chinese_calendar

    years = sorted({d.year for d in chinese_calendar.holidays} | {d.year for d in chinese_calendar.workdays})
    return range(years[0], years[-1] + 1)


def is_rest_day(day: date, local: Mapping[date, bool] | None = None) -> bool:
    """A rest day: the center's own entry for the day if any (True rest, False work), else the State
    Council's calendar (holidays, 调休), else — a year it does not know — a weekend."""
    if local and day in local:
        return local[day]
    if day.year in calendar_years():
        import chinese_calendar

        return bool(chinese_calendar.is_holiday(day))
    return day.weekday() >= 5


def rest_days(first: date, last: date, local: Mapping[date, bool] | None = None) -> set[date]:
    """The rest days in [first, last]."""
    days = (first + timedelta(days=i) for i in range((last - first).days + 1))
    return {d for d in days if is_rest_day(d, local)}


# ------------------------------------------------------------------------------- tags from the times


def night_overlap_s(start: Array, end: Array, rules: ComplianceRules) -> Array:
    """Seconds of each [start, end) inside a night window — one each evening from night_start (China
    time) to night_end the next morning (or the same day when the window does not cross midnight)."""
    start = np.asarray(start, dtype=np.int64)
    end = np.asarray(end, dtype=np.int64)
    a, b = rules.night_window_s()
    length = (b - a) % 86400 or 86400
    local0 = start + CHINA_OFFSET_S
    first_day = local0 // 86400 - 1  # the evening before the start may reach into its morning
    days = int(((end - start).max(initial=0) // 86400) + 3)
    total = np.zeros(len(start), dtype=np.int64)
    for k in range(days):
        w0 = (first_day + k) * 86400 + a - CHINA_OFFSET_S
        w1 = w0 + length
        total += np.clip(np.minimum(end, w1) - np.maximum(start, w0), 0, None)
    return total


def time_tags(start: Array, end: Array, rest: Sequence[bool] | Array, rules: ComplianceRules) -> Array:
    """rest_day and off_hours bits per trip: `rest` says whether each trip's start day is a rest day."""
    rest = np.asarray(rest, dtype=bool)
    night = night_overlap_s(start, end, rules) >= rules.night_min_minutes * 60
    bits = np.where(rest, TAG_BITS["rest_day"], 0)
    bits |= np.where(~rest & night, TAG_BITS["off_hours"], 0)
    return bits.astype(np.int64)


# ------------------------------------------------------------------------------- tags from the fixes


def implied_speed_kmh(t: Array, lat: Array, lon: Array, group: Array) -> Array:
    """Speed from distance over time to the previous fix of the same group (the first of a group: 0), for
    trackers that send none."""
    t = np.asarray(t, dtype=np.float64)
    lat, lon = np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)
    dist = haversine_m(lat[:-1], lon[:-1], lat[1:], lon[1:])
    dt = np.diff(t)
    v = np.where(dt > 0, dist / np.where(dt > 0, dt, 1) * 3.6, 0.0)
    out = np.concatenate(([0.0], v))
    same = np.concatenate(([False], np.asarray(group)[1:] == np.asarray(group)[:-1]))
    return np.where(same, out, 0.0)


@dataclass(frozen=True)
class Overspeed:
    """A trip's longest run above the limit: its seconds, the maximum speed and where it was."""

    trip: int  # index into the trips given
    seconds: int
    max_kmh: float
    lat: float
    lon: float


def overspeed(
    trip: Array, t: Array, speed_kmh: Array, lat: Array, lon: Array, rules: ComplianceRules
) -> list[Overspeed]:
    """The trips (fixes given as one concatenation, `trip` the index of each fix's trip, time-ordered
    within a trip) with a run of consecutive fixes above `overspeed_kmh` lasting ≥ `overspeed_s` from its
    first fix to its last. A trip whose fixes carry no speed at all is judged by the speed implied by
    distance over time."""
    trip = np.asarray(trip, dtype=np.int64)
    if not len(trip):
        return []
    speed = np.nan_to_num(np.asarray(speed_kmh, dtype=np.float64))
    has_speed = np.zeros(int(trip.max()) + 1, dtype=bool)
    np.logical_or.at(has_speed, trip, speed > 0)
    implied = implied_speed_kmh(t, lat, lon, trip)
    speed = np.where(has_speed[trip], speed, implied)
    above = speed > rules.overspeed_kmh
    # runs: consecutive above-limit fixes of one trip
    starts = above & ~np.concatenate(([False], above[:-1] & (trip[1:] == trip[:-1])))
    run = np.cumsum(starts) - 1
    idx = np.flatnonzero(above)
    if not len(idx):
        return []
    r = run[idx]
    t = np.asarray(t, dtype=np.int64)
    first_t = np.full(r.max() + 1, np.iinfo(np.int64).max)
    last_t = np.full(r.max() + 1, np.iinfo(np.int64).min)
    np.minimum.at(first_t, r, t[idx])
    np.maximum.at(last_t, r, t[idx])
    seconds = last_t - first_t
    found: dict[int, Overspeed] = {}
    for k in np.flatnonzero(seconds >= rules.overspeed_s):
        members = idx[r == k]
        top = members[int(np.argmax(speed[members]))]
        i = int(trip[top])
        cand = Overspeed(i, int(seconds[k]), round(float(speed[top]), 1), float(lat[top]), float(lon[top]))
        if i not in found or cand.seconds > found[i].seconds:
            found[i] = cand
    return [found[i] for i in sorted(found)]


def outside_runs(trip: Array, outside: Array, min_fixes: int) -> Array:
    """The trips (indices) with at least `min_fixes` consecutive fixes outside."""
    trip = np.asarray(trip, dtype=np.int64)
    outside = np.asarray(outside, dtype=bool)
    if not len(trip) or not outside.any():
        return np.zeros(0, dtype=np.int64)
    starts = outside & ~np.concatenate(([False], outside[:-1] & (trip[1:] == trip[:-1])))
    run = np.cumsum(starts) - 1
    lengths = np.bincount(run[outside])
    run_trip = trip[np.flatnonzero(starts)]
    return np.unique(run_trip[lengths >= max(min_fixes, 1)])


def _local_xy(lat: Array, lon: Array, lat0: float) -> tuple[Array, Array]:
    """Metres on a plane tangent at the county's latitude: exact enough over a county (< 0.5 % at 100 km)."""
    k = np.cos(np.radians(lat0))
    return np.asarray(lon) * 111_320.0 * k, np.asarray(lat) * 110_574.0


class ServiceArea:
    """The service area (a polygon or multipolygon, WGS-84) grown by `margin_m`: a fix outside it is more
    than that far outside the area. shapely 2 tests all fixes at once (vectorised, prepared geometry)."""

    def __init__(self, geometry: Any, margin_m: float) -> None:
        import shapely

        self._shapely = shapely
        _, lat0, _, lat1 = geometry.bounds
        self.lat0 = (lat0 + lat1) / 2
        k = np.cos(np.radians(self.lat0))
        local = shapely.transform(
            geometry, lambda c: np.column_stack((c[:, 0] * 111_320.0 * k, c[:, 1] * 110_574.0))
        )
        self.area = shapely.buffer(local, margin_m) if margin_m > 0 else local
        shapely.prepare(self.area)

    def outside(self, lat: Array, lon: Array) -> Array:
        x, y = _local_xy(lat, lon, self.lat0)
        return ~self._shapely.contains_xy(self.area, x, y)

    def may_leave(self, start: tuple[Array, Array], end: tuple[Array, Array], distance_m: Array) -> Array:
        """Which trips can have left the area at all, from their ends and length alone: a point of a trip
        of length L is within s of its start and L − s of its end, so a trip whose ends are inside can
        only reach the boundary when L ≥ (start's distance to it) + (end's distance to it). The others
        need no fixes read."""
        shapely = self._shapely
        edge = self.area.boundary
        far = np.zeros(len(distance_m))
        out = np.zeros(len(distance_m), dtype=bool)
        for lat, lon in (start, end):
            x, y = _local_xy(lat, lon, self.lat0)
            out |= ~shapely.contains_xy(self.area, x, y)
            far += shapely.distance(edge, shapely.points(x, y))
        return out | (np.asarray(distance_m, dtype=np.float64) >= far)


# ------------------------------------------------------------------------------------- 夜间未归 (away)


def night_instant(day: date, rules: ComplianceRules) -> tuple[int, date]:
    """The moment of the night that falls on China `day` at which a car must be home (epoch seconds), and
    that night's evening: with the default 02:00 the night of the 5th is judged at 02:00 on the 6th, so
    reconciling a day judges the night that ended in it."""
    local = (day - date(1970, 1, 1)).days * 86400 + rules.away_hour * 3600
    evening = day if rules.away_hour >= 12 else day - timedelta(days=1)
    return local - CHINA_OFFSET_S, evening


def away_from_home(
    lat: Array, lon: Array, home_lat: Array, home_lon: Array, covered: Array, rules: ComplianceRules
) -> tuple[Array, Array]:
    """Per car, its last fix before the night's instant against its home: (away, km). A car is away when
    that fix is more than `away_km` from home and no approved order's window contains the instant."""
    km = haversine_m(lat, lon, home_lat, home_lon) / 1000.0
    return (km > rules.away_km) & ~np.asarray(covered, dtype=bool), km

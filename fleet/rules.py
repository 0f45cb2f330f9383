"""The fleet's rules as pure functions and values — no database: the thresholds reconciliation judges by,
what an order's window may be, how long its texts may be. The services, the import specs and the pages
use these, so a rule is stated once; the algorithms on arrays are fleet/tripcut.py and fleet/matching.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from core import normalize as n
from core.i18n import tr
from core.settings import get_settings
from core.timeutil import china_day

# Orders longer than this are refused at entry, which bounds every order look-up by time.
MAX_ORDER_DAYS = 31

TEXT_LIMITS = {
    "applicant": 50,
    "driver": 50,
    "purpose": 500,
    "destination": 200,
    "order_no": 40,
    "model": 100,
    "name": 100,
    "plate": 16,
    "tracker_id": 32,
}


@dataclass(frozen=True)
class Rules:
    """The reconciliation thresholds in seconds (DESIGN §3; from settings unless given)."""

    lead_s: int = 30 * 60  # an order's window opens this much before its planned start
    lag_s: int = 60 * 60  # and closes this much after its planned return
    share: float = 0.5  # the part of a trip inside the window for the order to cover it
    idle_s: int = 30 * 86400
    silent_s: int = 48 * 3600

    @classmethod
    def from_settings(cls) -> Rules:
        s = get_settings()
        return cls(
            lead_s=s.order_lead_min * 60,
            lag_s=s.order_lag_min * 60,
            share=s.order_cover_share,
            idle_s=s.idle_days * 86400,
            silent_s=s.silent_hours * 3600,
        )


def window_problem(start: datetime, end: datetime) -> str | None:
    """Why [start, end] cannot be an order's planned window, or None."""
    if end < start:
        return tr("计划返回早于计划出发", "planned return is before the planned start")
    if end - start > timedelta(days=MAX_ORDER_DAYS):
        return tr(
            f"出行时长超过 {MAX_ORDER_DAYS} 天, 请拆分",
            f"an order may span at most {MAX_ORDER_DAYS} days: split it",
        )
    return None


def text_problem(name: str, value: Any) -> tuple[str, str | None]:
    """The text as stored (stripped) and why it cannot be, or None."""
    s = "" if value is None else str(value).strip()
    limit = TEXT_LIMITS.get(name)
    if limit and len(s) > limit:
        return s, tr(f"{name} 超过 {limit} 字", f"{name} longer than {limit} characters")
    return s, None


# 准驾车型 as clerks write them → the licence class code (fleet.models.LicenceClass labels them)
licence_class = n.EnumMap(
    ("准驾车型", "licence class"),
    {
        "C1": ["C1", "小型汽车", "小车", "C1驾照"],
        "C2": ["C2", "小型自动挡汽车", "自动挡"],
        "B1": ["B1", "中型客车", "中巴"],
        "B2": ["B2", "大型货车"],
        "A1": ["A1", "大型客车", "大客车"],
        "A2": ["A2", "牵引车"],
        "A3": ["A3", "城市公交车"],
    },
)


# --- tracker upkeep ---------------------------------------------------------------------------------------

check_result = n.EnumMap(
    ("检修结果", "check result"),
    {
        "normal": ["正常", "完好", "normal", "ok"],
        "repaired": ["维修", "已维修", "修复", "repaired"],
        "replaced": ["更换", "已更换", "换新", "replaced"],
    },
)


def add_months(day: date, months: int) -> date:
    """The same day `months` later (the month's last day when it has fewer days)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, d)
        except ValueError:
            continue
    raise AssertionError("unreachable")


def check_due(last_check: date | None, installed: date | None, months: int) -> date | None:
    """When a tracker's next check falls: `months` after its last check, else after its installation;
    None when neither is known (never checked: due now)."""
    start = last_check or installed
    return add_months(start, months) if start is not None else None


def check_state(due: date | None, today: date, soon_days: int = 30) -> str:
    """overdue (past due or never checked), due (within `soon_days`) or ok."""
    if due is None or due < today:
        return "overdue"
    return "due" if (due - today).days <= soon_days else "ok"


# --- tracker assignments: which car held a tracker when -------------------------------------------------

OPEN_START = 0  # an assignment "since the first fix"
OPEN_END = 4_102_444_800  # an assignment still in (2100-01-01: "no end" that still fits a datetime)


@dataclass(frozen=True)
class Assignment:
    """A stored assignment as epoch seconds: [start, end), OPEN_START / OPEN_END when not given."""

    id: int
    device: str
    vehicle: int
    start: int
    end: int
    implicit: bool = False


@dataclass(frozen=True)
class Segment:
    """A stretch of time in which `device` was in `vehicle`: [start, end)."""

    device: str
    vehicle: int
    start: int
    end: int
    assignment: int
    implicit: bool = False


def _minus(start: int, end: int, cuts: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """[start, end) without the intervals `cuts` (sorted by start)."""
    out, at = [], start
    for a, b in cuts:
        if b <= at or a >= end:
            continue
        if a > at:
            out.append((at, a))
        at = max(at, b)
        if at >= end:
            break
    if at < end:
        out.append((at, end))
    return out


def effective_segments(rows: Iterable[Assignment]) -> list[Segment]:
    """Who held what when: the explicit assignments as they are, and each implicit one (the vehicles
    file's 终端号) minus every explicit one of the same tracker or the same car — implicit ones give way;
    an explicit one of the same tracker in the same car replaces it. Sorted by device and start."""
    rows = list(rows)
    explicit = [r for r in rows if not r.implicit]
    by_key: dict[tuple[str, Any], list[tuple[int, int]]] = {}
    for r in explicit:
        by_key.setdefault(("d", r.device), []).append((r.start, r.end))
        by_key.setdefault(("v", r.vehicle), []).append((r.start, r.end))
    out = [Segment(r.device, r.vehicle, r.start, r.end, r.id) for r in explicit if r.end > r.start]
    pairs = {(r.device, r.vehicle) for r in explicit}
    for r in rows:
        # an explicit record of the very same installation replaces the implicit one whole: its removal
        # is a removal, not a gap the vehicles file's 终端号 fills again
        if r.implicit and (r.device, r.vehicle) not in pairs:
            cuts = sorted(by_key.get(("d", r.device), []) + by_key.get(("v", r.vehicle), []))
            out += [Segment(r.device, r.vehicle, a, b, r.id, True) for a, b in _minus(r.start, r.end, cuts)]
    return sorted(out, key=lambda s: (s.device, s.start))


def overlap(new: Assignment, rows: Iterable[Assignment]) -> Assignment | None:
    """The first explicit assignment (other than `new` itself) that shares its tracker or its car for a
    moment of [start, end) — such a pair is refused."""
    for r in rows:
        if r.implicit or r.id == new.id or (r.device != new.device and r.vehicle != new.vehicle):
            continue
        if r.start < new.end and new.start < r.end:
            return r
    return None


class Timeline:
    """Effective segments indexed for look-ups by device and time (vectorised over the times)."""

    def __init__(self, segments: Iterable[Segment]) -> None:
        self.by_device: dict[str, list[Segment]] = {}
        self.by_vehicle: dict[int, list[Segment]] = {}
        for seg in sorted(segments, key=lambda s: (s.start, s.device)):
            self.by_device.setdefault(seg.device, []).append(seg)
            self.by_vehicle.setdefault(seg.vehicle, []).append(seg)
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def devices(self) -> list[str]:
        return list(self.by_device)

    def of_device(self, device: str, start: int = OPEN_START, end: int = OPEN_END) -> list[Segment]:
        """The device's segments that overlap [start, end]."""
        return [s for s in self.by_device.get(device, []) if s.start <= end and s.end > start]

    def of_vehicle(self, vehicle: int, start: int = OPEN_START, end: int = OPEN_END) -> list[Segment]:
        """The vehicle's segments that overlap [start, end], oldest first."""
        return [s for s in self.by_vehicle.get(vehicle, []) if s.start <= end and s.end > start]

    def untracked_s(self, vehicle: int, start: int, end: int) -> int:
        """The seconds of [start, end) in which `vehicle` held no tracker (无终端)."""
        held = 0
        for s in self.by_vehicle.get(vehicle, []):
            held += max(0, min(s.end, end) - max(s.start, start))
        return max(0, end - start - held)

    def vehicle_at(self, device: str, ts: np.ndarray) -> np.ndarray:
        """The vehicle id that held `device` at each time (0: none)."""
        if device not in self._arrays:
            segs = self.by_device.get(device, [])
            self._arrays[device] = (
                np.array([s.start for s in segs], dtype=np.int64),
                np.array([s.end for s in segs], dtype=np.int64),
                np.array([s.vehicle for s in segs], dtype=np.int64),
            )
        starts, ends, vehicles = self._arrays[device]
        ts = np.asarray(ts, dtype=np.int64)
        if not len(starts):
            return np.zeros(len(ts), dtype=np.int64)
        i = np.searchsorted(starts, ts, side="right") - 1
        inside = (i >= 0) & (ts < ends[np.maximum(i, 0)])
        return np.where(inside, vehicles[np.maximum(i, 0)], 0)

    def vehicle_segment_at(self, vehicle: int, ts: int) -> Segment | None:
        """The segment in which `vehicle` held a tracker at `ts` (None: no tracker then)."""
        for s in self.by_vehicle.get(vehicle, []):
            if s.start <= ts < s.end:
                return s
        return None


def changed_spans(before: Sequence[Segment], after: Sequence[Segment]) -> dict[str, tuple[int, int]]:
    """Per device, the span [from, to] in which its holder changed between two timelines — what must be
    re-cut and re-reconciled after an assignment change."""

    def holder(segs: Sequence[Segment]) -> dict[str, set[tuple[int, int, int]]]:
        out: dict[str, set[tuple[int, int, int]]] = {}
        for s in segs:
            out.setdefault(s.device, set()).add((s.start, s.end, s.vehicle))
        return out

    old, new = holder(before), holder(after)
    spans: dict[str, tuple[int, int]] = {}
    for device in old.keys() | new.keys():
        diff = old.get(device, set()) ^ new.get(device, set())
        if not diff:
            continue
        # Each holder is constant between consecutive bounds of the changed segments (segments of one
        # device never overlap): probe each stretch at its start, keep the stretches that disagree.
        points = sorted({p for a, b, _ in diff for p in (a, b)})
        probe = np.array(points[:-1], dtype=np.int64)
        t_old = Timeline(s for s in before if s.device == device)
        t_new = Timeline(s for s in after if s.device == device)
        differs = np.flatnonzero(t_old.vehicle_at(device, probe) != t_new.vehicle_at(device, probe))
        if not len(differs):
            continue
        lo, hi = points[int(differs[0])], points[int(differs[-1]) + 1]
        spans[device] = (lo, hi)
    return spans


# --- approvals: who must say yes before an order covers trips -------------------------------------------

CENTER_REASONS = ("out_of_county", "rest_day", "overnight")  # what may call for the center's approval


def is_rest_day(day: date) -> bool:
    """A rest day of the State Council's calendar: holidays and the weekends that are not 调休上班
    (fleet/compliance.py; the center's own days apply to the nightly tags)."""
    from fleet import compliance

    return compliance.is_rest_day(day)


def center_reasons(
    out_of_county: bool, start: datetime, end: datetime, needs: Iterable[str] = CENTER_REASONS
) -> list[str]:
    """Why an order needs the center's approval as well (level 2): which of `needs` apply — out of the
    county (出县), on a rest day, across a night (it returns on a later China day than it leaves)."""
    first, last = china_day(start), china_day(end)
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    found = {
        "out_of_county": out_of_county,
        "rest_day": any(is_rest_day(d) for d in days),
        "overnight": last > first,
    }
    return [r for r in CENTER_REASONS if r in needs and found[r]]


def levels_needed(reasons: Sequence[str]) -> tuple[int, ...]:
    """Level 1 (the unit's approver) always; level 2 (the center) when any reason calls for it."""
    return (1, 2) if reasons else (1,)


def next_level(needed: Sequence[int], approved: Iterable[int]) -> int | None:
    """The first level still to approve, or None when every one has."""
    done = set(approved)
    return next((level for level in needed if level not in done), None)


def awaiting(status: str, level: int | None, late: bool = False) -> str | None:
    """Whom an order waits for: a submitted one `unit` (level 1) or `center` (level 2); an approved one
    `dispatch` (the center sends it out with a car and a driver, those it names or others) — unless it is
    a late order (补报), for a trip made already; else None."""
    if status == "approved":
        return None if late else "dispatch"
    if status != "submitted" or level is None:
        return None
    return "unit" if level == 1 else "center"


# ------------------------------------------------------------------------------- running costs (issue 25)


def cover_end(spans: Sequence[tuple[date, date]], day: date) -> date | None:
    """The last day of the unbroken cover holding `day` (None: no span holds it). Spans are inclusive
    (a policy's start..end, an inspection's day..next due); one that begins by the day after another
    ends continues it, so a renewal moves the end on."""
    ordered = sorted(spans)
    end: date | None = None
    for lo, hi in ordered:
        if lo <= day <= hi:
            end = hi if end is None else max(end, hi)
    if end is None:
        return None
    moved = True
    while moved:
        moved = False
        for lo, hi in ordered:
            if lo <= end + timedelta(days=1) and hi > end:
                end, moved = hi, True
    return end


def a_year_on(day: date) -> date:
    """The same day a year later; 29 February goes to 1 March (a year's cover is a year of days)."""
    return day.replace(year=day.year + 1) if (day.month, day.day) != (2, 29) else date(day.year + 1, 3, 1)


def consumption(litres: float, km: float) -> float | None:
    """升/百公里 of a month's fill-ups over its GPS km (None: the car did not move)."""
    return litres / km * 100 if km > 0 else None


UnitSpan = tuple[date | None, date | None, int]  # from (None: since it came), to (exclusive), unit


def unit_on(spans: Sequence[UnitSpan], day: date, current: int) -> int:
    """The unit that held a car on `day` by its history (fleet_vehicle_unit); without a span holding
    the day, its current unit."""
    for lo, hi, unit in spans:
        if (lo is None or lo <= day) and (hi is None or day < hi):
            return unit
    return current


def units_between(spans: Sequence[UnitSpan], first: date, last: date, current: int) -> set[int]:
    """Every unit that held the car at some day of first..last."""
    held = {u for lo, hi, u in spans if (lo is None or lo <= last) and (hi is None or first < hi)}
    return held or {current}

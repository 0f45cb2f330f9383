"""The fleet's rules as pure functions and values — no database: the thresholds reconciliation judges by,
what an order's window may be, how long its texts may be. The services, the import specs and the pages
use these, so a rule is stated once; the algorithms on arrays are fleet/tripcut.py and fleet/matching.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from core import normalize as n
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
        return "计划返回早于计划出发 planned return is before the planned start"
    if end - start > timedelta(days=MAX_ORDER_DAYS):
        return f"出行时长超过 {MAX_ORDER_DAYS} 天 an order may span at most {MAX_ORDER_DAYS} days: split it"
    return None


def text_problem(name: str, value: Any) -> tuple[str, str | None]:
    """The text as stored (stripped) and why it cannot be, or None."""
    s = "" if value is None else str(value).strip()
    limit = TEXT_LIMITS.get(name)
    if limit and len(s) > limit:
        return s, f"{name} 超过 {limit} 字 longer than {limit} characters"
    return s, None


# 准驾车型 as clerks write them → the licence class code (fleet.models.LicenceClass labels them)
licence_class = n.EnumMap(
    "准驾车型 licence class",
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
    "检修结果 check result",
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


# --- approvals: who must say yes before an order covers trips -------------------------------------------

CENTER_REASONS = ("out_of_county", "rest_day", "overnight")  # what may call for the center's approval


def is_rest_day(day: date) -> bool:
    """A Saturday or a Sunday (the holiday and 调休 calendar is the compliance rules' part)."""
    return day.weekday() >= 5


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

"""Time conventions: store timezone-aware UTC, show Asia/Shanghai; naive input is China time."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as China time."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=CHINA)
    return dt.astimezone(UTC)


def to_china(dt: datetime) -> datetime:
    return as_utc(dt).astimezone(CHINA)


def from_ts(ts: int | float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def to_ts(dt: datetime) -> int:
    return int(as_utc(dt).timestamp())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a China calendar day, in UTC."""
    start = datetime.combine(day, time(0), CHINA)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def china_day(dt: datetime) -> date:
    return to_china(dt).date()


def fmt_china(dt: datetime | None, *, seconds: bool = False) -> str:
    """`2024年6月1日 08:00` — how a clerk reads a time."""
    if dt is None:
        return ""
    d = to_china(dt)
    s = f"{d.year}年{d.month}月{d.day}日 {d:%H:%M}"
    return s + f":{d:%S}" if seconds else s

"""The one module that owns time: store timezone-aware UTC; show, cut days and read zone-less input in the
local zone — `GONGWU_TIMEZONE`, Asia/Shanghai (China time) by default. A file's time without a zone is
local time; a trip belongs to the local day it starts in; reports' months are local months."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

CHINA = ZoneInfo("Asia/Shanghai")  # the default local zone (UTC+8 all year since 1991)


@lru_cache(maxsize=4)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_zone() -> ZoneInfo:
    """The local zone from the settings (validated there)."""
    from core.settings import get_settings

    return _zone(get_settings().timezone)


def is_china_time() -> bool:
    """Whether the local zone is China time (a fixed UTC+8: the fast paths may add 8 hours)."""
    return local_zone().key == CHINA.key


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(dt: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken as China time."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=local_zone())
    return dt.astimezone(UTC)


def to_china(dt: datetime) -> datetime:
    return as_utc(dt).astimezone(local_zone())


def from_ts(ts: int | float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def to_ts(dt: datetime) -> int:
    return int(as_utc(dt).timestamp())


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) of a China calendar day, in UTC."""
    start = datetime.combine(day, time(0), local_zone())
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def china_day(dt: datetime) -> date:
    return to_china(dt).date()


def fmt_china(dt: datetime | None, *, seconds: bool = False) -> str:
    """`2024年6月1日 08:00` — how a clerk reads a time (`2024-06-01 08:00` with GONGWU_LANGUAGE=en)."""
    from core.i18n import language

    if dt is None:
        return ""
    d = to_china(dt)
    s = f"{d:%Y-%m-%d %H:%M}" if language() == "en" else f"{d.year}年{d.month}月{d.day}日 {d:%H:%M}"
    return s + f":{d:%S}" if seconds else s

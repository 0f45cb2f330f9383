"""Feed reads for the pages, the API and the CLI: per tracker what arrived and when, stale devices, and a
device's stored fixes."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from core.i18n import tr
from core.logs import log
from core.timeutil import from_ts, to_china, to_ts, utcnow
from fleet.models import POSITION_SOURCES, Position, Vehicle
from ingest.models import FeedDevice

logger = logging.getLogger(__name__)
POSITION_KEYS = ("fixed_at", "lat", "lon", "speed_kmh", "course", "ignition", "valid", "odometer_m", "source")


def _iso(dt: datetime | None) -> str | None:
    return None if dt is None else to_china(dt).isoformat()


def feeds_status(session: Session) -> dict[str, Any]:
    """Per source and device: last fix, last contact, counts accepted and rejected by reason."""
    rows = session.exec(
        select(FeedDevice, Vehicle.plate)
        .join(Vehicle, col(Vehicle.tracker_id) == col(FeedDevice.device_id), isouter=True)
        .order_by(col(FeedDevice.device_id), col(FeedDevice.source))
    ).all()
    return {
        "devices": [
            {
                "device_id": fd.device_id,
                "plate": plate,
                "source": fd.source,
                "last_fix_at": _iso(fd.last_fix_at),
                "last_contact_at": _iso(fd.last_contact_at),
                "accepted": int(fd.accepted),
                "rejected": {k: int(v) for k, v in sorted((fd.rejected or {}).items())},
            }
            for fd, plate in rows
        ],
        "unassigned": unassigned_trackers(session),
    }


def unassigned_trackers(session: Session) -> list[dict[str, Any]]:
    """Trackers with fixes from a time in which no car held them (removed, not yet installed again): the
    fixes are kept and attributed once the tracker is assigned (`gongwu trackers assign`). Only trackers
    in no car now are looked at: a tracker in a car has its latest fixes in that car."""
    from sqlalchemy import func

    from fleet import trackers

    timeline = trackers.timeline(session)
    now = to_ts(utcnow())
    out = []
    for device in timeline.devices():
        segs = timeline.of_device(device, now, now)
        if segs:
            continue
        last_end = max(s.end for s in timeline.by_device[device])
        latest, count = session.exec(
            select(func.max(Position.fix_ts), func.count()).where(
                Position.device_id == device, col(Position.fix_ts) >= last_end
            )
        ).one()
        if not count:
            continue
        held = max(timeline.by_device[device], key=lambda s: s.end)
        vehicle = session.get(Vehicle, held.vehicle)
        out.append(
            {
                "device_id": device,
                "last_fix_at": _iso(from_ts(latest)),
                "fixes_unassigned": int(count),
                "removed_from": vehicle.plate if vehicle else None,
                "removed_at": _iso(from_ts(last_end)),
            }
        )
    return out


def stale_devices_report(session: Session, now: datetime | None = None) -> dict[str, Any]:
    """Daily check: devices whose last contact, or whose pull watermark, is older than
    GONGWU_FEEDS_STALE_HOURS (default 24). JSON-ready (the job history keeps it)."""
    from ingest.feeds_settings import get_feeds_settings

    now = now or utcnow()
    hours = get_feeds_settings().feeds_stale_hours
    limit = now - timedelta(hours=hours)
    rows = session.exec(
        select(FeedDevice, Vehicle.plate)
        .join(Vehicle, col(Vehicle.tracker_id) == col(FeedDevice.device_id), isouter=True)
        .order_by(col(FeedDevice.device_id), col(FeedDevice.source))
    ).all()
    stale = []
    for fd, plate in rows:
        reasons = []
        if fd.last_contact_at is None or fd.last_contact_at < limit:
            reasons.append("no_contact")
        if fd.watermark_at is not None and fd.watermark_at < limit:
            reasons.append("watermark_behind")
        if reasons:
            known = [d for d in (fd.last_contact_at, fd.watermark_at) if d is not None]
            since = max(known) if known else None
            stale.append(
                {
                    "device_id": fd.device_id,
                    "plate": plate,
                    "source": fd.source,
                    "reasons": reasons,
                    "last_contact_at": _iso(fd.last_contact_at),
                    "watermark_at": _iso(fd.watermark_at),
                    "hours_behind": None if since is None else round((now - since).total_seconds() / 3600, 1),
                }
            )
    log(logger, "feeds check", checked=len(rows), stale=len(stale), threshold_h=hours)
    return {"checked": len(rows), "stale": len(stale), "threshold_hours": hours, "devices": stale}


def resolve_device(session: Session, key: str) -> tuple[str, str | None]:
    """(device id, plate) for a plate (any spelling the importer accepts) or a tracker id; a device that
    is no vehicle's tracker is still found when it has positions (a tracker that looks wrong)."""
    from core import normalize
    from core.errors import NotFound, ValidationFailed

    key = key.strip()
    try:
        plate = normalize.plate(key)
    except (normalize.FieldError, ValueError):
        plate = ""
    if plate:
        vehicle = session.exec(select(Vehicle).where(Vehicle.plate == plate)).first()
        if vehicle is not None:
            if not vehicle.tracker_id:
                raise ValidationFailed(
                    tr(
                        f"车辆 {vehicle.plate} 没有登记终端号",
                        f"vehicle {vehicle.plate} has no tracker recorded",
                    )
                )
            return vehicle.tracker_id, vehicle.plate
    vehicle = session.exec(select(Vehicle).where(Vehicle.tracker_id == key)).first()
    if vehicle is not None:
        return key, vehicle.plate
    if session.exec(select(Position.fix_ts).where(Position.device_id == key).limit(1)).first() is not None:
        return key, None
    raise NotFound(f"no vehicle with plate or tracker id '{key}' and no positions of a device '{key}'")


def list_positions(
    session: Session,
    device: str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """One device's stored fixes in [start, end] by time: (rows with POSITION_KEYS, total count).
    `fixed_at` is an aware datetime in China time."""
    from sqlalchemy import func
    from sqlalchemy import select as sa_select

    conds: list[Any] = [col(Position.device_id) == device]
    if start is not None:
        conds.append(col(Position.fix_ts) >= int(start.timestamp()))
    if end is not None:
        conds.append(col(Position.fix_ts) <= int(end.timestamp()))
    total = session.execute(sa_select(func.count()).select_from(Position).where(*conds)).scalar_one()
    columns = ("fix_ts", "lat", "lon", "speed_kmh", "course", "ignition", "valid", "odometer_m", "source")
    stmt = (
        sa_select(*(col(getattr(Position, c)) for c in columns))
        .where(*conds)
        .order_by(col(Position.fix_ts))
        .offset(offset)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = [
        {
            "fixed_at": to_china(from_ts(ts)),
            "lat": lat,
            "lon": lon,
            "speed_kmh": round(speed, 2),
            "course": course,
            "ignition": None if ign is None else bool(ign),
            "valid": bool(valid),
            "odometer_m": odo,
            "source": POSITION_SOURCES.get(src, str(src)),
        }
        for ts, lat, lon, speed, course, ign, valid, odo, src in session.execute(stmt).all()
    ]
    return rows, int(total)

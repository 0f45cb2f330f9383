"""Trip tags (行程标签) in the nightly run: load a day's trips, their fixes, the calendar, the rule settings
and the service area; tag each trip by the pure rules of fleet/compliance.py; store the tags that changed.
Reconciliation then raises the flags the tags call for (overspeed, out_of_area_trip) and marks an
unreported trip with tags as high severity. Re-running a day re-evaluates every tag (the settings may have
changed) and writes only the difference. The cars' nights (夜间未归) are read here too."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlalchemy import select as sa_select
from sqlalchemy import update
from sqlmodel import Session, col, select

from core import audit
from core.errors import ValidationFailed
from core.i18n import tr
from core.models import Unit
from core.timeutil import from_ts, to_china, utcnow
from fleet import compliance
from fleet.compliance import TAG_BITS, ComplianceRules, Overspeed
from fleet.models import (
    COVERING,
    CalendarDay,
    RuleSetting,
    ServiceArea,
    Trip,
    TripOrder,
    Vehicle,
    VehicleStatus,
)
from fleet.rules import Timeline

# ------------------------------------------------------------------------------------------ settings


def current_rules(session: Session) -> ComplianceRules:
    """The defaults with the rule table's values on top."""
    stored = {r.key: r.value for r in session.exec(select(RuleSetting)).all()}
    values = {}
    for key in ComplianceRules.names():
        if key in stored:
            try:
                values[key] = compliance.parse_rule(key, stored[key])
            except ValueError:
                continue  # a value the code no longer accepts: the default, rather than no night run
    return replace(ComplianceRules(), **values)


def set_rule(session: Session, key: str, value: Any, *, actor: str) -> tuple[Any, Any]:
    """Set one rule (admin); returns (before, after). Audit-logged."""
    try:
        parsed = compliance.parse_rule(key, value)
    except ValueError as exc:
        raise ValidationFailed(str(exc)) from None
    before = getattr(current_rules(session), key)
    row = session.get(RuleSetting, key) or RuleSetting(key=key, value="")
    row.value, row.updated_by, row.updated_at = str(parsed), actor, utcnow()
    session.add(row)
    audit.record(
        session, actor=actor, action="rule.set", entity="fleet_rule", entity_id=key,
        before={key: before}, after={key: parsed}, detail=f"{key} {before} → {parsed}",
    )  # fmt: skip
    return before, parsed


RULE_MEANINGS = {
    "night_start": ("非工作时间开始（北京时间）", "start of the night window (China time)"),
    "night_end": ("非工作时间结束", "end of the night window"),
    "night_min_minutes": (
        "行程与夜间重叠达到此分钟数即为非工作时间用车",
        "minutes of overlap with the night that make a trip off-hours",
    ),
    "out_of_area_km": (
        "超出服务区域此距离（公里）算出县",
        "km outside the service area that count as leaving it",
    ),
    "out_of_area_fixes": (
        "连续多少个定位在区域外才算出县",
        "consecutive fixes outside that make a trip leave",
    ),
    "overspeed_kmh": ("超速限值（公里/小时）", "speed limit (km/h)"),
    "overspeed_s": ("持续超过限值多少秒算超速", "seconds above the limit that make overspeed"),
    "away_km": ("夜间距停放点超过此距离（公里）算未归", "km from home at night that make a car away"),
    "away_hour": ("判定夜间未归的时刻（时，北京时间）", "the hour (China time) a car must be home by"),
    "away_lookback_h": ("该时刻前多少小时内的最后定位有效", "hours before it in which the last fix counts"),
    "sensitive_minutes": (
        "在敏感场所（酒店、餐饮、景区、娱乐场所等）停留达到此分钟数即预警",
        "minutes at a sensitive place (hotel, restaurant, scenic area, entertainment…) that raise a flag",
    ),
}


def rules_table(session: Session) -> list[dict[str, Any]]:
    rules = current_rules(session)
    defaults = ComplianceRules()
    return [
        {
            "key": key,
            "value": getattr(rules, key),
            "default": getattr(defaults, key),
            "meaning": tr(*RULE_MEANINGS[key]),
        }
        for key in ComplianceRules.names()
    ]


# ------------------------------------------------------------------------------------------ calendar


def local_days(session: Session, first: date, last: date) -> dict[date, bool]:
    """The center's own rest (True) and working (False) days in [first, last]."""
    rows = session.exec(
        select(CalendarDay).where(col(CalendarDay.day) >= first, col(CalendarDay.day) <= last)
    ).all()
    return {r.day: r.rest for r in rows}


def set_day(session: Session, day: date, rest: bool, note: str, *, actor: str) -> CalendarDay:
    row = session.get(CalendarDay, day)
    before = None if row is None else {"rest": row.rest, "note": row.note}
    row = row or CalendarDay(day=day, rest=rest)
    row.rest, row.note, row.created_by = rest, note.strip()[:200], actor
    session.add(row)
    audit.record(
        session, actor=actor, action="calendar.set", entity="fleet_calendar_day", entity_id=day.isoformat(),
        before=before, after={"rest": rest, "note": row.note}, detail=f"{day} {'rest' if rest else 'work'}",
    )  # fmt: skip
    return row


def calendar(session: Session, year: int) -> list[dict[str, Any]]:
    """A year's rest days and make-up working days (调休上班), with where each comes from."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    local = local_days(session, first, last)
    known = year in compliance.calendar_years()
    out = []
    for i in range((last - first).days + 1):
        d = first + timedelta(days=i)
        rest = compliance.is_rest_day(d, local)
        weekend = d.weekday() >= 5
        if rest == weekend and d not in local:
            continue  # an ordinary weekday or weekend
        source = "local" if d in local else "state_council" if known else "weekend"
        out.append({"day": d, "rest": rest, "source": source})
    return out


# ------------------------------------------------------------------------------------------ tagging


@dataclass
class DayTags:
    """What tagging a day found: the details the overspeed flags need, and counts for the run record."""

    overspeed: dict[int, Overspeed] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    tags: dict[int, int] = field(default_factory=dict)  # every trip of the day: its tags now


# what tagging reads of each trip, in this order (reconcile reads them with its own and passes them on)
TAG_COLUMNS: tuple[Any, ...] = (
    col(Trip.id), col(Trip.device_id), col(Trip.start_at), col(Trip.end_at), col(Trip.tags),
    col(Trip.max_speed_kmh), col(Trip.distance_m), col(Trip.start_lat), col(Trip.start_lon),
    col(Trip.end_lat), col(Trip.end_lon),
)  # fmt: skip


def service_area(session: Session, rules: ComplianceRules) -> compliance.ServiceArea | None:
    row = session.exec(select(ServiceArea).order_by(col(ServiceArea.id).desc())).first()
    if row is None:
        return None
    import shapely

    return compliance.ServiceArea(shapely.from_geojson(row.geojson), rules.out_of_area_km * 1000)


def tag_day(
    session: Session, day: date, rules: ComplianceRules | None = None, rows: Sequence[Any] | None = None
) -> DayTags:
    """Tag the trips that start on `day` (China time) and store the tags that changed. `rows`: the day's
    trips as TAG_COLUMNS, when the caller has read them already."""
    from fleet.trips import load_points

    rules = rules or current_rules(session)
    out = DayTags()
    if rows is None:
        rows = session.execute(sa_select(*TAG_COLUMNS).where(col(Trip.service_day) == day)).all()
    # the run record says which rules could not run fully
    out.counts["calendar_weekends_only"] = int(day.year not in compliance.calendar_years())
    area = service_area(session, rules)
    out.counts["out_of_area_rule_off"] = int(area is None)
    if not rows:
        return out
    ids = [int(r[0]) for r in rows]
    start = np.array([r[2].timestamp() for r in rows], dtype=np.int64)
    end = np.array([r[3].timestamp() for r in rows], dtype=np.int64)
    local = local_days(session, day, day)
    rest = compliance.is_rest_day(day, local)
    bits = compliance.time_tags(start, end, np.full(len(rows), rest), rules)

    # Only the trips that can break a fix rule have their fixes read (most cannot): faster than the limit
    # (or no speed reported: judged by distance over time), or able to reach the area's edge.
    top = np.array([r[5] for r in rows], dtype=np.float64)
    check = (top > rules.overspeed_kmh) | (top <= 0)
    if area is not None:
        ends = [np.array([r[k] for r in rows], dtype=np.float64) for k in (7, 8, 9, 10)]
        distance = np.array([r[6] for r in rows], dtype=np.float64)
        check |= area.may_leave((ends[0], ends[1]), (ends[2], ends[3]), distance)
    chosen = np.flatnonzero(check).tolist()
    out.counts["trips_fixes_read"] = len(chosen)
    windows = [(int(start[i]), int(end[i])) for i in chosen]
    cat = load_points(session.connection(), [rows[i][1] for i in chosen], windows)
    cat["trip"] = np.array(chosen, dtype=np.int64)[cat["group"]] if chosen else cat["group"]
    cat["speed"] = cat["speed_kmh"]
    for o in compliance.overspeed(cat["trip"], cat["t"], cat["speed"], cat["lat"], cat["lon"], rules):
        bits[o.trip] |= TAG_BITS["overspeed"]
        out.overspeed[ids[o.trip]] = o
    if area is not None and len(cat["t"]):
        outside = area.outside(cat["lat"], cat["lon"])
        for i in compliance.outside_runs(cat["trip"], outside, rules.out_of_area_fixes):
            bits[int(i)] |= TAG_BITS["out_of_area"]

    changed = [
        {"id": ids[i], "tags": int(bits[i])} for i in range(len(ids)) if int(bits[i]) != int(rows[i][4] or 0)
    ]
    if changed:
        session.exec(update(Trip), params=changed)  # type: ignore[call-overload]
        touched = {c["id"] for c in changed}
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Trip) and obj.id in touched:
                session.expire(obj, ["tags"])
    out.counts["trips_retagged"] = len(changed)
    out.tags = dict(zip(ids, bits.tolist(), strict=True))
    return out


# ------------------------------------------------------------------------------------ nights away


@dataclass
class NightAway:
    """A car away from home that night: where its last fix before the hour was."""

    vehicle_id: int
    unit_id: int
    detail: dict[str, Any]


@dataclass
class Nights:
    instant: int  # the moment judged (epoch seconds)
    evening: date
    away: list[NightAway] = field(default_factory=list)
    home: set[int] = field(default_factory=set)  # the cars judged home (or covered by an order)
    counts: dict[str, int] = field(default_factory=dict)


def nights_away(
    session: Session, day: date, timeline: Timeline, rules: ComplianceRules, pad: tuple[int, int]
) -> Nights:
    """夜间未归 for the night that ends on `day`: every car in service with a home base (its 停放点, else
    its unit's location) and a tracker at the hour, its last valid fix in the lookback before it, and the
    approved orders whose window (padded by `pad`: lead, lag) contains the hour. A car without a home
    base, a tracker or a fix then is not judged and is counted."""
    from fleet.trips import last_fixes

    instant, evening = compliance.night_instant(day, rules)
    out = Nights(instant, evening)
    rows = session.execute(
        sa_select(
            col(Vehicle.id), col(Vehicle.unit_id), col(Vehicle.home_lat), col(Vehicle.home_lon),
            col(Unit.lat), col(Unit.lon),
        )
        .join(Unit, col(Unit.id) == col(Vehicle.unit_id))
        .where(col(Vehicle.status) != VehicleStatus.disposed)
    ).all()  # fmt: skip
    homes: dict[int, tuple[int, float, float, str]] = {}
    no_home = no_tracker = 0
    for vid, unit_id, hlat, hlon, ulat, ulon in rows:
        if hlat is not None and hlon is not None:
            homes[int(vid)] = (int(unit_id), hlat, hlon, "vehicle")
        elif ulat is not None and ulon is not None:
            homes[int(vid)] = (int(unit_id), ulat, ulon, "unit")
        else:
            no_home += 1
    device_of: dict[str, int] = {}
    for vid in homes:
        seg = timeline.vehicle_segment_at(vid, instant)
        if seg is None:
            no_tracker += 1
        else:
            device_of[seg.device] = vid
    last = last_fixes(
        session.connection(), sorted(device_of), instant - rules.away_lookback_h * 3600, instant
    )
    out.counts = {
        "away_no_home": no_home, "away_no_tracker": no_tracker, "away_no_fix": len(device_of) - len(last),
    }  # fmt: skip
    if not last:
        out.counts["away_judged"] = 0
        return out
    lead, lag = pad
    covered = set(
        session.exec(
            select(TripOrder.vehicle_id).where(
                col(TripOrder.status).in_(COVERING),
                col(TripOrder.planned_start_at) <= from_ts(instant + lead),
                col(TripOrder.planned_end_at) >= from_ts(instant - lag),
            )
        ).all()
    )
    devices = sorted(last)
    vids = [device_of[d] for d in devices]
    fix = np.array([last[d] for d in devices], dtype=np.float64)
    home = np.array([homes[v][1:3] for v in vids], dtype=np.float64)
    away, km = compliance.away_from_home(
        fix[:, 1], fix[:, 2], home[:, 0], home[:, 1], np.array([v in covered for v in vids]), rules
    )
    out.home = {v for v, a in zip(vids, away.tolist(), strict=True) if not a}
    for i in np.flatnonzero(away).tolist():
        vid = vids[i]
        out.away.append(
            NightAway(vid, homes[vid][0], {
                "evening_date": evening.isoformat(), "km": round(float(km[i]), 2),
                "fix_at": to_china(from_ts(int(fix[i, 0]))).isoformat(),
                "lat": round(float(fix[i, 1]), 6), "lon": round(float(fix[i, 2]), 6), "home": homes[vid][3],
            })
        )  # fmt: skip
    out.counts["away_judged"] = len(vids)
    return out


def import_service_area(
    session: Session, text: str, *, name: str, coord_system: str = "wgs84", actor: str
) -> dict[str, Any]:
    """A GeoJSON polygon or multipolygon (a bare geometry, a Feature, or a FeatureCollection of them,
    united) in `coord_system`, stored as WGS-84; it replaces the one before. Audit-logged."""
    import shapely

    from core.datum import COORD_SYSTEMS, to_wgs84

    if coord_system not in COORD_SYSTEMS:
        raise ValidationFailed(
            tr(f"坐标系须为 {'/'.join(COORD_SYSTEMS)}", f"coord system: one of {', '.join(COORD_SYSTEMS)}")
        )
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        where = tr(f"第 {exc.lineno} 行第 {exc.colno} 列", f"line {exc.lineno}, column {exc.colno}")
        raise ValidationFailed(
            tr(f"不是 GeoJSON：{where}：{exc.msg}", f"not GeoJSON: {where}: {exc.msg}")
        ) from None
    geoms = []
    features = (
        doc.get("features") if isinstance(doc, dict) and doc.get("type") == "FeatureCollection" else [doc]
    )
    for n, feature in enumerate(features or [], start=1):
        geometry = (
            feature.get("geometry")
            if isinstance(feature, dict) and feature.get("type") == "Feature"
            else feature
        )
        try:
            geom = shapely.from_geojson(json.dumps(geometry))
        except Exception:  # shapely raises GEOSException or ValueError for what is no geometry
            geom = None
        if geom is None or geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
            raise ValidationFailed(tr(f"第 {n} 个要素不是多边形（Polygon/MultiPolygon）",
                                      f"feature {n} is no Polygon or MultiPolygon"))  # fmt: skip
        geoms.append(geom)
    if not geoms:
        raise ValidationFailed(tr("文件中没有多边形", "the file holds no polygon"))
    area = shapely.union_all(geoms)
    if coord_system != "wgs84":

        def convert(c: np.ndarray) -> np.ndarray:
            lat, lon = to_wgs84(coord_system, c[:, 1], c[:, 0])
            return np.column_stack((lon, lat))

        area = shapely.transform(area, convert)
    if not area.is_valid:
        area = shapely.make_valid(area)
    lon0, lat0, lon1, lat1 = area.bounds
    if not (-90 <= lat0 <= lat1 <= 90 and -180 <= lon0 <= lon1 <= 180):
        raise ValidationFailed(
            tr("坐标超出经纬度范围：应为 [经度, 纬度]", "coordinates out of range: [lon, lat] expected")
        )
    row = ServiceArea(name=name[:100], geojson=shapely.to_geojson(area), created_by=actor)
    session.add(row)
    session.flush()
    k = np.cos(np.radians((lat0 + lat1) / 2))
    km2 = shapely.area(
        shapely.transform(area, lambda c: np.column_stack((c[:, 0] * 111.32 * k, c[:, 1] * 110.574)))
    )
    audit.record(
        session, actor=actor, action="service_area.import", entity="fleet_service_area", entity_id=row.id,
        before=None, after={"name": row.name, "km2": round(float(km2), 1)}, detail=row.name,
    )  # fmt: skip
    return {"id": row.id, "name": row.name, "km2": round(float(km2), 1), "bounds": [lon0, lat0, lon1, lat1]}

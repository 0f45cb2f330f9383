"""Which car held which tracker when (终端安装记录): the assignment history and what follows from a change.

Positions stay keyed by device; trips, stops and flags belong to the car that held the tracker at the fix
time (fleet/trips.py cuts each assignment's stretch on its own). The rules — implicit rows giving way,
overlaps refused, the span a change touches — are pure functions in fleet/rules.py; this module reads and
writes the rows, keeps `Vehicle.tracker_id` equal to the tracker each car holds now, and marks the changed
spans for re-cutting (the pipeline then re-cuts and re-reconciles them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from core import audit
from core import normalize as n
from core.errors import NotFound, ValidationFailed
from core.i18n import tr
from core.timeutil import CHINA, fmt_china, from_ts, to_ts, utcnow
from fleet.models import RecutRange, TrackerAssignment, Vehicle
from fleet.rules import OPEN_END, OPEN_START, Assignment, Segment, Timeline, changed_spans, effective_segments
from fleet.rules import overlap as first_overlap


def _as_rule(row: TrackerAssignment) -> Assignment:
    assert row.id is not None
    return Assignment(
        row.id,
        row.device_id,
        row.vehicle_id,
        to_ts(row.installed_at) if row.installed_at else OPEN_START,
        to_ts(row.removed_at) if row.removed_at else OPEN_END,
        row.implicit,
    )


def _day_start(day: date | None) -> int:
    return int(datetime.combine(day, time(0), CHINA).timestamp()) if day else OPEN_START


def rows(session: Session) -> list[Assignment]:
    """Every stored assignment, plus one implicit for each car whose 终端号 is set but which has no stored
    history at all (vehicles written before histories existed)."""
    session.flush()
    stored = [_as_rule(r) for r in session.exec(select(TrackerAssignment)).all()]
    devices = {r.device for r in stored}
    vehicles = {r.vehicle for r in stored}
    virtual = -1
    for vid, device, acquired in session.execute(
        sa_select(Vehicle.id, Vehicle.tracker_id, Vehicle.acquired_on).where(  # type: ignore[call-overload]
            col(Vehicle.tracker_id).is_not(None)
        )
    ).all():
        if device and vid is not None and device not in devices and vid not in vehicles:
            stored.append(Assignment(virtual, device, vid, _day_start(acquired), OPEN_END, True))
            virtual -= 1
    return stored


def _materialize(session: Session) -> None:
    """Store the virtual implicit rows before a change: once the change moves a car's 终端号, the row it
    stood for must stay (the car held that tracker until then)."""
    for a in rows(session):
        if a.id < 0:
            start = from_ts(a.start) if a.start != OPEN_START else None
            session.add(
                TrackerAssignment(device_id=a.device, vehicle_id=a.vehicle, implicit=True, installed_at=start)
            )
    session.flush()


def timeline(session: Session) -> Timeline:
    return Timeline(effective_segments(rows(session)))


# ------------------------------------------------------------------------------------------- changes


def _mark(session: Session, spans: dict[str, tuple[int, int]]) -> None:
    now = utcnow()
    for device, (a, b) in spans.items():
        session.add(RecutRange(device_id=device, from_ts=a, to_ts=min(b, OPEN_END), created_at=now))


def sync_current(session: Session, segments: Sequence[Segment] | None = None) -> None:
    """Set each car's `tracker_id` to the tracker it holds now (None: none), in two steps so that a
    tracker moving between two cars never holds the unique column twice."""
    session.flush()
    if segments is None:
        segments = effective_segments(rows(session))
    now = to_ts(utcnow())
    current = {s.vehicle: s.device for s in segments if s.start <= now < s.end}
    vehicles = session.exec(select(Vehicle)).all()
    changed = [v for v in vehicles if v.tracker_id != current.get(v.id or 0)]
    for v in changed:
        v.tracker_id = None
        session.add(v)
    session.flush()
    for v in changed:
        v.tracker_id = current.get(v.id or 0)
        session.add(v)
    session.flush()


def _after_change(session: Session, before: list[Segment]) -> dict[str, tuple[int, int]]:
    after = effective_segments(rows(session))
    spans = changed_spans(before, after)
    _mark(session, spans)
    sync_current(session, after)
    return spans


def _vehicle(session: Session, plate_or_id: str | int) -> Vehicle:
    if isinstance(plate_or_id, int):
        vehicle = session.get(Vehicle, plate_or_id)
    else:
        plate = _plate(plate_or_id)
        vehicle = session.exec(select(Vehicle).where(Vehicle.plate == plate)).first() if plate else None
    if vehicle is None:
        raise NotFound(tr(f"未登记的车辆 {plate_or_id}", f"unknown vehicle {plate_or_id}"))
    return vehicle


def describe(session: Session, a: Assignment) -> str:
    """ "864…01 在 晋M·A1234 2026-03-01 08:00 起至 2026-06-01 12:00" for a refusal."""
    vehicle = session.get(Vehicle, a.vehicle)
    plate = vehicle.plate if vehicle else str(a.vehicle)
    start = fmt_china(from_ts(a.start)) if a.start != OPEN_START else tr("首个定位", "the first fix")
    end = fmt_china(from_ts(a.end)) if a.end != OPEN_END else tr("至今", "now")
    return tr(
        f"终端 {a.device} 装于 {plate}（{start} — {end}）", f"tracker {a.device} in {plate} ({start} – {end})"
    )


def _plate(value: str) -> str | None:
    """The canonical plate, None when `value` is no plate (then it may be a tracker id)."""
    try:
        return n.plate(value)
    except n.FieldError:
        return None


def _check_window(start: datetime, end: datetime | None) -> None:
    if end is not None and end <= start:
        raise ValidationFailed(tr("拆除时间须晚于安装时间", "the removal must come after the installation"))


def assign(
    session: Session,
    device: str,
    vehicle: Vehicle,
    start: datetime,
    end: datetime | None,
    *,
    actor: str,
    note: str = "",
) -> tuple[TrackerAssignment, dict[str, tuple[int, int]]]:
    """Record that `device` went into `vehicle` at `start` (and came out at `end`). An open assignment of
    the same tracker or the same car that began earlier is closed at `start` (the tracker was moved or the
    car got another one); any other overlap with the history is refused, naming both. Returns the row and
    the spans to re-cut (already marked)."""
    device = device.strip()
    if not device or len(device) > 32:
        raise ValidationFailed(tr("终端号须为 1–32 个字符", "a tracker id has 1–32 characters"))
    _check_window(start, end)
    _materialize(session)
    before = effective_segments(rows(session))
    new_rule = Assignment(0, device, vehicle.id or 0, to_ts(start), to_ts(end) if end else OPEN_END)
    stored = session.exec(
        select(TrackerAssignment).where(
            TrackerAssignment.implicit == False,  # noqa: E712
            (col(TrackerAssignment.device_id) == device) | (col(TrackerAssignment.vehicle_id) == vehicle.id),
        )
    ).all()
    for row in stored:
        same_pair = row.device_id == device and row.vehicle_id == vehicle.id
        if same_pair and (_as_rule(row).start == new_rule.start or row.removed_at is None):
            # the same installation again (the same start, or the pair still installed): a correction
            old = {"installed_at": row.installed_at, "removed_at": row.removed_at}
            if (row.installed_at, row.removed_at) != (start, end):
                row.installed_at, row.removed_at = start, end
                _refuse_overlap(session, _as_rule(row), [_as_rule(r) for r in stored if r.id != row.id])
                session.add(row)
                _audit(session, actor, "update", row, old)
            return row, _after_change(session, before)
    for row in stored:
        rule = _as_rule(row)
        if row.removed_at is None and rule.start < new_rule.start:
            row.removed_at = start  # moved: out of the old car / the old tracker out of this car
            session.add(row)
            _audit(session, actor, "update", row, {"removed_at": None})
    _refuse_overlap(session, new_rule, [_as_rule(r) for r in stored])
    row = TrackerAssignment(device_id=device, vehicle_id=vehicle.id or 0, installed_at=start, removed_at=end,
                            note=note.strip()[:200])  # fmt: skip
    session.add(row)
    session.flush()
    _audit(session, actor, "create", row, None)
    return row, _after_change(session, before)


def _refuse_overlap(session: Session, new: Assignment, others: Sequence[Assignment]) -> None:
    hit = first_overlap(new, others)
    if hit is not None:
        raise ValidationFailed(
            tr(
                f"安装记录重叠：{describe(session, new)} 与 {describe(session, hit)}",
                f"overlapping assignments: {describe(session, new)} and {describe(session, hit)}",
            )
        )


def _audit(
    session: Session, actor: str, verb: str, row: TrackerAssignment, before: dict[str, Any] | None
) -> None:
    vehicle = session.get(Vehicle, row.vehicle_id)
    after = {
        "device_id": row.device_id,
        "plate": vehicle.plate if vehicle else row.vehicle_id,
        "installed_at": fmt_china(row.installed_at) if row.installed_at else None,
        "removed_at": fmt_china(row.removed_at) if row.removed_at else None,
        "implicit": row.implicit,
    }
    audit.record(
        session, actor=actor, action=f"tracker_assignment.{verb}", entity="fleet_tracker_assignment",
        entity_id=row.id or "", before={k: fmt_china(v) if isinstance(v, datetime) else v
                                        for k, v in (before or {}).items()} or None,
        after=after, detail=f"{row.device_id} {after['plate']}",
    )  # fmt: skip


def replace_history(
    session: Session, device: str, wanted: Sequence[tuple[Vehicle, datetime, datetime | None]], *, actor: str
) -> tuple[int, int, int]:
    """A file's history of one tracker: its explicit rows become exactly `wanted` (unchanged rows kept).
    The caller has checked the rows against each other and against other trackers' histories. Returns
    (inserted, updated, unchanged); the spans are marked by `finish`."""
    stored = session.exec(
        select(TrackerAssignment).where(
            TrackerAssignment.device_id == device,
            TrackerAssignment.implicit == False,  # noqa: E712
        )
    ).all()
    by_start = {(r.vehicle_id, to_ts(r.installed_at) if r.installed_at else OPEN_START): r for r in stored}
    inserted = updated = unchanged = 0
    for vehicle, start, end in wanted:
        row = by_start.pop((vehicle.id or 0, to_ts(start)), None)
        if row is None:
            row = TrackerAssignment(device_id=device, vehicle_id=vehicle.id or 0, installed_at=start,
                                    removed_at=end)  # fmt: skip
            session.add(row)
            session.flush()
            _audit(session, actor, "create", row, None)
            inserted += 1
        elif row.removed_at != end:
            old = row.removed_at
            row.removed_at = end
            session.add(row)
            _audit(session, actor, "update", row, {"removed_at": old})
            updated += 1
        else:
            unchanged += 1
    for row in by_start.values():
        _audit(session, actor, "delete", row, None)
        session.delete(row)
        updated += 1
    session.flush()
    return inserted, updated, unchanged


def begin(session: Session) -> list[Segment]:
    """The timeline before a batch of changes (give it to `finish`)."""
    _materialize(session)
    return effective_segments(rows(session))


def finish(session: Session, before: list[Segment]) -> dict[str, tuple[int, int]]:
    """After a batch of changes: mark what changed for re-cutting and set the cars' current trackers."""
    return _after_change(session, before)


def set_implicit(session: Session, vehicle: Vehicle, device: str | None, *, actor: str) -> None:
    """The vehicles file says `device` is in `vehicle` now: its implicit assignment (from the acquisition)
    names that tracker — a correction, as the file always was; an explicit history overlapping it wins."""
    stored = session.exec(
        select(TrackerAssignment).where(
            TrackerAssignment.vehicle_id == vehicle.id,
            TrackerAssignment.implicit == True,  # noqa: E712
        )
    ).first()
    start = datetime.combine(vehicle.acquired_on, time(0), CHINA) if vehicle.acquired_on else None
    if device is None:
        if stored is not None:
            _audit(session, actor, "delete", stored, None)
            session.delete(stored)
        return
    if stored is None:
        # another car's implicit row for this tracker goes: a tracker is in one car per the file
        for other in session.exec(
            select(TrackerAssignment).where(
                TrackerAssignment.device_id == device,
                TrackerAssignment.implicit == True,  # noqa: E712
            )
        ).all():
            _audit(session, actor, "delete", other, None)
            session.delete(other)
        row = TrackerAssignment(
            device_id=device, vehicle_id=vehicle.id or 0, installed_at=start, implicit=True
        )
        session.add(row)
        session.flush()
        _audit(session, actor, "create", row, None)
    elif stored.device_id != device or stored.installed_at != start:
        before = {"device_id": stored.device_id, "installed_at": stored.installed_at}
        stored.device_id, stored.installed_at = device, start
        session.add(stored)
        _audit(session, actor, "update", stored, before)


# --------------------------------------------------------------------------------------------- reading


def history(session: Session, plate_or_device: str | None) -> tuple[str, list[dict[str, Any]]]:
    """The assignments of a car (by plate) or of a tracker (by device id) — of all when None — oldest
    first, each with the stretches in which it was in effect. Returns (what was found: "vehicle",
    "device" or "all", rows)."""
    key = (plate_or_device or "").strip()
    plate = _plate(key) if key else None
    vehicle = session.exec(select(Vehicle).where(Vehicle.plate == plate)).first() if plate else None
    segments = effective_segments(rows(session))
    if not key:
        chosen, found = list(segments), "all"
    elif vehicle is not None:
        chosen = [s for s in segments if s.vehicle == vehicle.id]
        found = "vehicle"
    else:
        chosen = [s for s in segments if s.device == key]
        found = "device"
        if (
            not chosen
            and not session.exec(
                select(TrackerAssignment.id).where(TrackerAssignment.device_id == key)
            ).first()
        ):
            raise NotFound(tr(f"没有车牌或终端号为 {key} 的记录", f"no vehicle or tracker {key}"))
    plates = {v.id: v.plate for v in session.exec(select(Vehicle)).all()}
    now = to_ts(utcnow())
    out = [
        {
            "device_id": s.device,
            "plate": plates.get(s.vehicle, ""),
            "vehicle_id": s.vehicle,
            "installed_at": from_ts(s.start) if s.start != OPEN_START else None,
            "removed_at": from_ts(s.end) if s.end != OPEN_END else None,
            "implicit": s.implicit,
            "current": s.start <= now < s.end,
            "assignment_id": s.assignment if s.assignment > 0 else None,
        }
        for s in sorted(chosen, key=lambda s: (s.start, s.device))
    ]
    return found, out


def vehicle_or_404(session: Session, plate_or_id: str | int) -> Vehicle:
    return _vehicle(session, plate_or_id)

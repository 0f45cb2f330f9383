"""The ingest path on batches of many devices (fleet/positions.py): push feeds deliver hundreds of devices
with one or a few fixes each, and `ingest_fixes` handles them as one set of arrays. Whatever the mix, each
device must come out exactly as if it had been ingested on its own, and as the one-device rules
(`screen_fixes` with the last stored fix in front, de-duplication per (device, time)) say."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sqlmodel import Session, col, select

from core.timeutil import CHINA
from fleet.models import Position, RecutRange, Vehicle
from fleet.positions import ARRAY_FIELDS, SOURCE_CODES, DeviceCounts, FixBatch, ingest_fixes
from fleet.tripcut import screen_fixes
from tests.factories import make_unit

DAY = date(2026, 11, 20)
T_DAY = int(datetime(2026, 11, 20, tzinfo=CHINA).timestamp())  # China midnight of DAY
NOW = datetime.fromtimestamp(T_DAY + 86400, UTC)


@dataclass
class Slot:
    """One device's story: what is stored before the batch, what the batch brings, its vehicle."""

    known: bool
    acquired_on: date | None
    stored: dict[str, np.ndarray] = field(default_factory=dict)  # already ingested (with no bound)
    batch: dict[str, np.ndarray] = field(default_factory=dict)


def _fixes(rng: np.random.Generator, t: np.ndarray, lat0: float) -> dict[str, np.ndarray]:
    n = len(t)
    return {
        "t": t.astype(np.int64),
        "lat": lat0 + np.cumsum(rng.normal(0, 0.001, n)),
        "lon": 112.5 + np.cumsum(rng.normal(0, 0.001, n)),
        "speed": rng.uniform(0, 90, n),
    }


def make_slots(seed: int, n: int) -> list[Slot]:
    rng = np.random.default_rng(seed)
    slots = []
    for _ in range(n):
        u = rng.random()
        # acquired the day of the batch: a stored fix of the day before is now "before the vehicle", so
        # the batch is judged without it (the re-screen path)
        acquired = DAY if u < 0.15 else (DAY - timedelta(days=30) if u < 0.4 else None)
        slot = Slot(known=rng.random() > 0.08, acquired_on=acquired)
        lat0 = 37.8 + rng.random()
        k = int(rng.choice([0, 0, 1, 3, 6]))
        if k and slot.known:
            # as the database gives them back: 1e-7 degrees, 0.1 km/h
            stored = _fixes(rng, T_DAY - 3600 * k + 600 * np.arange(k), lat0)
            slot.stored = {
                c: np.rint(v * s) / s
                for c, v, s in zip(stored, stored.values(), (1, 1e7, 1e7, 10), strict=True)
            }
            slot.stored["t"] = stored["t"]
        m = int(rng.choice([1, 1, 1, 2, 3, 5, 9]))
        b = _fixes(rng, T_DAY + 600 + np.cumsum(rng.choice([1, 10, 30], m)), lat0)
        for i in range(m):
            v = rng.random()
            if v < 0.05:
                b["lat"][i] = b["lon"][i] = 0.0
            elif v < 0.09:
                b["lat"][i] = 70.0
            elif v < 0.12:
                b["t"][i] = T_DAY + 10 * 86400  # future
            elif v < 0.15:
                b["speed"][i] = 400.0
            elif v < 0.17:
                b["t"][i] = T_DAY - 7200 - i  # the day before: before a vehicle acquired on DAY
            elif v < 0.3:
                b["lat"][i] += 0.4  # a spike, or a jump away from the stored fix
        if slot.stored and rng.random() < 0.3:  # fixes stored already (a resend, a pull's overlap)
            j = rng.integers(0, k, size=int(rng.integers(1, k + 1)))
            b = {c: np.concatenate([b[c], slot.stored[c][j]]) for c in b}
        if rng.random() < 0.2:  # twice in the batch
            b = {c: np.concatenate([b[c], b[c][:1]]) for c in b}
        perm = rng.permutation(len(b["t"]))
        slot.batch = {c: v[perm] for c, v in b.items()}
        slots.append(slot)
    return slots


def as_batch(devices: list[str], parts: list[dict[str, np.ndarray]]) -> FixBatch:
    sizes = [len(p["t"]) for p in parts]
    n = sum(sizes)
    cat = {
        c: np.concatenate([p[c] for p in parts]) if parts else np.empty(0)
        for c in ("t", "lat", "lon", "speed")
    }
    return FixBatch(
        device_id=np.repeat(np.array(devices, dtype=object), sizes),
        fix_ts=cat["t"].astype(np.int64),
        lat=cat["lat"],
        lon=cat["lon"],
        speed_kmh=cat["speed"],
        course=np.full(n, 90.0),
        ignition=np.ones(n, dtype=np.int8),
        odometer_m=np.full(n, np.nan),
        valid=np.ones(n, dtype=bool),
    )


def setup(session: Session, slots: list[Slot], prefix: str) -> tuple[list[str], dict[str, Vehicle]]:
    """Vehicles for the known slots and their stored fixes (ingested while the vehicle had no
    acquisition date, so that a vehicle acquired on DAY has stored fixes from before it)."""
    unit = make_unit(session)
    assert unit.id is not None
    devices = [f"{prefix}{i:05d}" for i in range(len(slots))]
    vehicles, unbounded = {}, {}
    for d, s in zip(devices, slots, strict=True):
        if s.known:
            v = Vehicle(plate=f"晋{d}", unit_id=unit.id, tracker_id=d, acquired_on=s.acquired_on)
            session.add(v)
            vehicles[d] = v
            unbounded[d] = Vehicle(plate=f"晋{d}", unit_id=unit.id, tracker_id=d)
    session.flush()
    with_stored = [(d, s.stored) for d, s in zip(devices, slots, strict=True) if s.stored]
    if with_stored:
        pre = as_batch([d for d, _ in with_stored], [p for _, p in with_stored])
        assert ingest_fixes(session, pre, "jt808", vehicles=unbounded, now=NOW).inserted == len(pre)
    return devices, vehicles


def expected(slot: Slot, is_pg: bool) -> tuple[DeviceCounts, tuple[int, int] | None]:
    """The one-device rules, written out with `screen_fixes`: the oracle."""
    b = slot.batch
    out = DeviceCounts()
    if not slot.known:
        out.dropped["unknown_device"] = len(b["t"])
        return out, None
    order = np.argsort(b["t"], kind="stable")
    t, lat, lon, sp = (b[c][order] for c in ("t", "lat", "lon", "speed"))
    first = np.ones(len(t), dtype=bool)
    first[1:] = t[1:] != t[:-1]
    out.duplicates = int((~first).sum())
    t, lat, lon, sp = t[first], lat[first], lon[first], sp[first]
    stored = slot.stored or {c: np.empty(0) for c in ("t", "lat", "lon", "speed")}
    kept_stored = set(stored["t"].tolist())
    nb = (
        int(datetime.combine(slot.acquired_on, datetime.min.time(), CHINA).timestamp())
        if slot.acquired_on
        else None
    )
    kw: dict[str, Any] = {"now_ts": int(NOW.timestamp()), "not_before_ts": nb}
    before = np.flatnonzero(stored["t"] < t[0])
    keep = None
    if len(before):
        p = before[-1]
        keep, dropped = screen_fixes(
            *(np.r_[stored[c][p], x] for c, x in zip(stored, (t, lat, lon, sp), strict=True)), **kw
        )
        keep = keep[1:] if keep[0] else None
    if keep is None:
        keep, dropped = screen_fixes(t, lat, lon, sp, **kw)
    out.dropped.update({k: v for k, v in dropped.items() if v})
    kt = t[keep]
    new = [x for x in kt.tolist() if x not in kept_stored]
    out.inserted = len(new)
    out.duplicates += len(kt) - len(new)
    out.last_fix_ts = int(kt[-1]) if len(kt) else None
    if not new:
        return out, None
    return out, (min(new), max(new)) if is_pg else (int(kt[0]), int(kt[-1]))


def stored_rows(session: Session, device: str) -> list[tuple[object, ...]]:
    rows = session.exec(
        select(Position).where(Position.device_id == device).order_by(col(Position.fix_ts))
    ).all()
    return [tuple(v for k, v in sorted(r.model_dump().items()) if k != "device_id") for r in rows]


def pending(session: Session, device: str) -> list[tuple[int, int]]:
    rows = session.exec(select(RecutRange).where(RecutRange.device_id == device)).all()
    return [(r.from_ts, r.to_ts) for r in rows]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_batch_of_many_devices_equals_each_device_on_its_own(session: Session, seed: int) -> None:
    slots = make_slots(seed, 160)
    is_pg = session.connection().dialect.name == "postgresql"
    mixed, vehicles = setup(session, slots, f"7{seed}1")
    alone, vehicles_alone = setup(session, slots, f"7{seed}2")
    batch = as_batch(mixed, [s.batch for s in slots])
    # shuffle the batch: the path sorts it itself
    batch = batch.take(np.random.default_rng(seed).permutation(len(batch)))
    result = ingest_fixes(session, batch, "osmand", vehicles=vehicles, now=NOW)
    one_by_one = [
        ingest_fixes(session, as_batch([d], [s.batch]), "osmand", vehicles=vehicles_alone, now=NOW)
        for d, s in zip(alone, slots, strict=True)
    ]

    assert result.received == len(batch) == sum(r.received for r in one_by_one)
    assert list(result.devices) == sorted(mixed)
    reasons: Counter[str] = Counter()
    for i, (a, b, slot) in enumerate(zip(mixed, alone, slots, strict=True)):
        want, touched = expected(slot, is_pg)
        got, own = result.devices[a], one_by_one[i].devices[b]
        assert (got.inserted, got.duplicates, got.dropped, got.last_fix_ts) == (
            own.inserted,
            own.duplicates,
            own.dropped,
            own.last_fix_ts,
        ), i
        assert (got.inserted, got.duplicates, got.dropped, got.last_fix_ts) == (
            want.inserted,
            want.duplicates,
            want.dropped,
            want.last_fix_ts,
        ), i
        assert result.touched.get(a) == one_by_one[i].touched.get(b) == touched, i
        assert stored_rows(session, a) == stored_rows(session, b), i
        assert len(pending(session, a)) <= 1 and pending(session, a) == pending(session, b), i
        reasons.update(got.dropped)
        reasons["duplicates"] += got.duplicates
    # the mix exercised every way out
    assert {"unknown_device", "zero_position", "outside_area", "future_time", "before_vehicle"} <= set(
        reasons
    )
    assert {"speed_too_high", "impossible_jump", "duplicates"} <= set(reasons)
    assert result.inserted + result.duplicates + sum(result.dropped.values()) == len(batch)

    # the same batch again: all duplicates or dropped the same way, nothing inserted, nothing widened
    ranges = {d: pending(session, d) for d in mixed}
    again = ingest_fixes(session, batch, "osmand", vehicles=vehicles, now=NOW)
    assert again.inserted == 0 and again.touched == {}
    assert again.dropped == result.dropped
    assert again.duplicates == result.duplicates + result.inserted
    assert {d: pending(session, d) for d in mixed} == ranges


def test_single_fix_devices_with_stored_history(session: Session) -> None:
    """The push shape: one fix per device, each judged against its last stored fix."""
    unit = make_unit(session)
    assert unit.id is not None
    devices = [f"88{i:06d}" for i in range(300)]
    vehicles = {}
    for d in devices:
        vehicles[d] = Vehicle(plate=f"晋{d}", unit_id=unit.id, tracker_id=d)
        session.add(vehicles[d])
    session.flush()
    n = len(devices)
    lat = 37.0 + np.arange(n) * 1e-3

    def push(t: int, lat: np.ndarray) -> FixBatch:
        return FixBatch(
            np.array(devices, dtype=object),
            np.full(n, t, dtype=np.int64),
            lat,
            np.full(n, 112.5),
            np.full(n, 40.0),
            np.full(n, np.nan),
            np.full(n, -1, dtype=np.int8),
            np.full(n, np.nan),
            np.ones(n, dtype=bool),
        )

    t0 = T_DAY
    for k in range(3):
        r = ingest_fixes(session, push(t0 + 10 * k, lat + k * 1e-4), "jt808", vehicles=vehicles, now=NOW)
        assert r.inserted == n and set(r.touched) == set(devices)
    # every other device jumps 50 km in 10 s, then comes back: the spike goes, its neighbours stay
    spike = lat + 3e-4 + np.where(np.arange(n) % 2 == 0, 0.45, 0.0)
    r = ingest_fixes(session, push(t0 + 30, spike), "jt808", vehicles=vehicles, now=NOW)
    assert r.inserted == n  # a lone jump at the end cannot be told from a new stretch yet
    # the next batch carries the spike's own fix again (a resend) and the way back: the resent fix now
    # has both neighbours and is judged a spike, the others are plain duplicates
    resend, back = push(t0 + 30, spike), push(t0 + 40, lat + 4e-4)
    arrays: dict[str, Any] = {c: np.concatenate([getattr(resend, c), getattr(back, c)]) for c in ARRAY_FIELDS}
    both = FixBatch(**arrays)
    r = ingest_fixes(session, both, "jt808", vehicles=vehicles, now=NOW)
    jumped = devices[::2]
    assert r.dropped == Counter({"impossible_jump": len(jumped)})
    assert all(r.devices[d].dropped == {"impossible_jump": 1} for d in jumped)
    assert r.inserted == n and r.duplicates == n - len(jumped)
    rows = session.exec(select(RecutRange).where(col(RecutRange.device_id).in_(devices))).all()
    assert len(rows) == n and {(x.from_ts, x.to_ts) for x in rows} == {(t0, t0 + 40)}


def _varied_batch(devices: list[str], per_device: int, t0: int) -> FixBatch:
    """Fixes whose optional fields are known for some and NULL for others, devices whose ids differ in
    length and script: every row shape the bulk writers have to lay out."""
    n = len(devices) * per_device
    k = np.arange(n)
    return FixBatch(
        device_id=np.repeat(np.array(devices, dtype=object), per_device),
        fix_ts=t0 + 30 * (k % per_device).astype(np.int64),
        lat=37.5 + 1e-4 * k + 1.234e-7,
        lon=112.5 - 1e-4 * k,
        speed_kmh=(k % 7) * 3.3,
        course=np.where(k % 3 == 0, np.nan, (k * 37) % 360),
        ignition=np.where(k % 4 == 0, -1, k % 2).astype(np.int8),
        odometer_m=np.where(k % 5 == 0, np.nan, 1_000_000 + 100.0 * k),
        valid=k % 6 != 0,
    )


@pytest.mark.parametrize("all_unknown", [False, True], ids=["some unknown", "all unknown"])
def test_every_row_shape_is_stored_as_given(session: Session, all_unknown: bool) -> None:
    """Also when course, ignition and odometer are unknown in every row (SQLite writes them as literals)."""
    unit = make_unit(session)
    assert unit.id is not None
    devices = ["91", "9100000000000000000000000002", "设备-甲-03", "9100004"]
    vehicles = {d: Vehicle(plate=f"晋G{i}0001", unit_id=unit.id, tracker_id=d) for i, d in enumerate(devices)}
    session.add_all(vehicles.values())
    session.flush()
    batch = _varied_batch(devices, 40, T_DAY + 600)
    if all_unknown:
        batch.course[:], batch.ignition[:], batch.odometer_m[:] = np.nan, -1, np.nan
    result = ingest_fixes(session, batch, "import", vehicles=vehicles, now=NOW)
    assert result.inserted == len(batch) and not result.dropped
    for i, d in enumerate(devices):
        rows = session.exec(
            select(Position).where(Position.device_id == d).order_by(col(Position.fix_ts))
        ).all()
        at = np.arange(i * 40, (i + 1) * 40)
        assert [r.fix_ts for r in rows] == batch.fix_ts[at].tolist()
        for r, j in zip(rows, at.tolist(), strict=True):
            assert (r.lat, r.lon) == pytest.approx((batch.lat[j], batch.lon[j]), abs=1e-7)
            assert r.speed_kmh == pytest.approx(batch.speed_kmh[j], abs=0.05)
            assert r.course == (None if np.isnan(batch.course[j]) else round(batch.course[j]))
            assert r.ignition == (None if batch.ignition[j] < 0 else bool(batch.ignition[j]))
            assert r.odometer_m == (None if np.isnan(batch.odometer_m[j]) else round(batch.odometer_m[j]))
            assert (r.valid, r.source) == (bool(batch.valid[j]), SOURCE_CODES["import"])
        assert result.touched[d] == (int(batch.fix_ts[at[0]]), int(batch.fix_ts[at[-1]]))


def test_a_writer_that_gets_in_first_sends_the_batch_the_careful_way(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL COPYs the fixes of devices with nothing stored in the batch's span straight into the
    table. If the keys were stored after the probe (here: the probe is made blind), the unique violation
    is rolled back and the batch goes through ON CONFLICT: counts and rows as if nothing had happened.
    (SQLite probes under its write lock, so nobody can get in: there the batch takes the usual path.)"""
    import fleet.positions as positions

    unit = make_unit(session)
    assert unit.id is not None
    devices = ["9200001", "9200002"]
    vehicles = {d: Vehicle(plate=f"晋H{i}0001", unit_id=unit.id, tracker_id=d) for i, d in enumerate(devices)}
    session.add_all(vehicles.values())
    session.flush()
    batch = _varied_batch(devices, 20, T_DAY + 600)
    first = batch.take(np.arange(0, 30, 3))  # 7 fixes of the first device, 3 of the second
    assert ingest_fixes(session, first, "import", vehicles=vehicles, now=NOW).inserted == len(first)
    before = {d: stored_rows(session, d) for d in devices}
    if session.connection().dialect.name == "postgresql":
        monkeypatch.setattr(positions, "_stored_in_span", lambda raw, devs, lo, hi: np.zeros(len(devs), bool))
    result = ingest_fixes(session, batch, "import", vehicles=vehicles, now=NOW)
    assert (result.inserted, result.duplicates) == (len(batch) - len(first), len(first))
    assert result.devices["9200001"].duplicates == 7 and result.devices["9200002"].duplicates == 3
    for d in devices:
        rows = stored_rows(session, d)
        assert len(rows) == 20 and set(before[d]) <= set(rows)

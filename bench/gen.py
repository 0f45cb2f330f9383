"""Reproducible synthetic GPS positions for benchmarks and tests (issue 3).

N vehicles × D days around a county seat: parked vehicles send a heartbeat every 5 minutes with GPS jitter
of tens of metres, now and then a spike of a few hundred metres and a drift speed; a couple of outings a
day (out and back, 2–4 trips) send a fix every 10 s, with traffic-light stops. The same seed gives the same
positions, and vehicle k is the same whatever the number of vehicles.

    from bench.gen import generate, concat, write_positions_csv
    tracks = generate(500, 1, seed=0)
    arrays = concat(tracks)          # one set of arrays plus `starts`, for `fleet.tripcut.cut_many`
    write_positions_csv(tracks, "positions.csv")   # the DESIGN §5 positions import format
"""

from __future__ import annotations

import argparse
import math
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

CHINA = ZoneInfo("Asia/Shanghai")
M_PER_DEG_LAT = 111_195.0
HEARTBEAT_S = 300
DRIVE_STEP_S = 10
CSV_HEADERS = ("终端号", "车牌号", "定位时间", "经度", "纬度", "速度", "方向", "ACC")

Array = npt.NDArray[Any]


@dataclass
class Track:
    """One device's fixes, time-ordered, and what really happened."""

    device_id: str
    plate: str
    t: Array  # int64 epoch seconds UTC
    lat: Array
    lon: Array
    speed_kmh: Array
    course: Array
    ignition: Array  # int8: 1 on, 0 off
    odometer_m: Array
    true_trips: int
    true_distance_m: float

    def __len__(self) -> int:
        return len(self.t)


def device_id(k: int) -> str:
    return f"1390000{k:04d}"


def plate(k: int) -> str:
    return f"晋M·{'ABCDEFGHJK'[k // 10000 % 10]}{k % 10000:04d}"


def generate(
    vehicles: int,
    days: int,
    *,
    seed: int = 0,
    start: date = date(2024, 6, 3),
    center: tuple[float, float] = (35.03, 111.0),
    spread_km: float = 25.0,
    jitter_m: float = 12.0,
    spike_rate: float = 0.02,
    drift_speed_rate: float = 0.1,
) -> list[Track]:
    """``vehicles`` × ``days`` of positions starting at China midnight of ``start``."""
    return [
        _vehicle(
            k,
            days,
            seed=seed,
            start=start,
            center=center,
            spread_km=spread_km,
            jitter_m=jitter_m,
            spike_rate=spike_rate,
            drift_speed_rate=drift_speed_rate,
        )
        for k in range(1, vehicles + 1)
    ]


def concat(tracks: list[Track]) -> dict[str, Array]:
    """All tracks' arrays end to end, with ``starts`` (each device's first index) for `cut_many`."""
    lengths = np.array([len(tr) for tr in tracks], dtype=np.int64)
    out: dict[str, Array] = {
        "starts": np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(tracks) else np.zeros(1, np.int64)
    }
    for name in ("t", "lat", "lon", "speed_kmh", "course", "ignition", "odometer_m"):
        out[name] = np.concatenate([getattr(tr, name) for tr in tracks]) if tracks else np.zeros(0)
    return out


def write_positions_csv(
    tracks: list[Track], path: str | Path, *, encoding: str = "utf-8", odometer: bool = False
) -> int:
    """The DESIGN §5 positions template (China local time, ACC 开/关); returns the number of rows."""
    headers = CSV_HEADERS + (("里程",) if odometer else ())
    rows = 0
    with open(path, "w", encoding=encoding, newline="") as f:
        f.write(",".join(headers) + "\r\n")
        for tr in tracks:
            local = np.datetime_as_string((tr.t + 8 * 3600).astype("datetime64[s]"))
            acc = np.where(tr.ignition > 0, "开", "关")
            cols = [
                local,
                np.char.mod("%.6f", tr.lon),
                np.char.mod("%.6f", tr.lat),
                np.char.mod("%.1f", tr.speed_kmh),
                np.char.mod("%d", np.round(tr.course).astype(np.int64)),
                acc,
            ]
            if odometer:
                cols.append(np.char.mod("%.3f", tr.odometer_m / 1000.0))
            prefix = f"{tr.device_id},{tr.plate},"
            f.writelines(
                prefix + str(ts).replace("T", " ") + "," + ",".join(rest) + "\r\n"
                for ts, *rest in zip(*cols, strict=True)
            )
            rows += len(tr)
    return rows


# ----------------------------------------------------------------------------------------------- model


class _Builder:
    def __init__(
        self, rng: np.random.Generator, lat0: float, jitter_m: float, spike_rate: float, drift: float
    ) -> None:
        self.rng = rng
        self.k_lon = M_PER_DEG_LAT * math.cos(math.radians(lat0))
        self.jitter_m, self.spike_rate, self.drift = jitter_m, spike_rate, drift
        self.parts: list[tuple[Array, ...]] = []
        self.odometer = float(rng.uniform(2e7, 1.5e8))  # 20 000 – 150 000 km
        self.trips = 0
        self.distance = 0.0

    def park(self, t_a: int, t_b: int, lat: float, lon: float) -> None:
        """Heartbeats in (t_a, t_b): jitter, occasional spikes and drift speeds; the arrival fix at t_a
        was sent by the drive."""
        t = np.arange(t_a + HEARTBEAT_S, t_b, HEARTBEAT_S, dtype=np.int64)
        n = len(t)
        if n == 0:
            return
        rng = self.rng
        dx, dy = rng.normal(0.0, self.jitter_m, (2, n))
        spike = rng.random(n) < self.spike_rate
        ang = rng.uniform(0, 2 * math.pi, n)
        dist = rng.uniform(150.0, 600.0, n)
        dx = np.where(spike, dist * np.cos(ang), dx)
        dy = np.where(spike, dist * np.sin(ang), dy)
        drifting = (rng.random(n) < self.drift) | (spike & (rng.random(n) < 0.5))
        speed = np.where(drifting, rng.uniform(1, 8, n), 0.0)
        self.parts.append(
            (
                t,
                lat + dy / M_PER_DEG_LAT,
                lon + dx / self.k_lon,
                np.round(speed, 1),
                rng.uniform(0, 360, n).round(),
                np.zeros(n, np.int8),
                np.full(n, self.odometer),
            )
        )

    def drive(self, t_a: int, a: tuple[float, float], b: tuple[float, float]) -> tuple[int, float, float]:
        """10-second fixes from a to b along a wiggly route, departing at t_a; returns the arrival fix's
        time and position (speed 0, ACC off)."""
        rng = self.rng
        # Route in local metres relative to a.
        bx, by = (b[1] - a[1]) * self.k_lon, (b[0] - a[0]) * M_PER_DEG_LAT
        length = math.hypot(bx, by)
        nx, ny = -by / max(length, 1.0), bx / max(length, 1.0)
        frac = np.array([0.0, 0.3, 0.65, 1.0])
        off = np.concatenate(([0.0], rng.normal(0.0, 0.12 * length, 2), [0.0]))
        wx, wy = frac * bx + off * nx, frac * by + off * ny
        seg = np.hypot(np.diff(wx), np.diff(wy))
        s_way = np.concatenate(([0.0], np.cumsum(seg)))
        route = float(s_way[-1])
        # Speeds per 10-s step: cruise with noise, traffic lights of 30–90 s every ~7 minutes.
        cruise = rng.uniform(35.0, 65.0)
        n_max = int(route / (5 / 3.6 * DRIVE_STEP_S)) + 10
        v = np.clip(cruise + rng.normal(0.0, 8.0, n_max), 8.0, 100.0)
        v[:2] = [12.0, 25.0]  # pulling away
        for s0 in np.flatnonzero(rng.random(n_max) < 1 / 40):
            v[s0 : s0 + rng.integers(3, 10)] = 0.0
        v[0] = 12.0
        s = np.cumsum(v / 3.6 * DRIVE_STEP_S)
        n = int(np.searchsorted(s, route))  # steps strictly before arriving
        v, s = v[:n], s[:n]
        x = np.interp(s, s_way, wx) + rng.normal(0.0, 3.0, n)
        y = np.interp(s, s_way, wy) + rng.normal(0.0, 3.0, n)
        t = t_a + DRIVE_STEP_S * np.arange(1, n + 1, dtype=np.int64)
        course = np.degrees(np.arctan2(np.diff(x, prepend=0.0), np.diff(y, prepend=0.0))) % 360
        odo = self.odometer + s
        t_end = int(t[-1]) + DRIVE_STEP_S if n else t_a + DRIVE_STEP_S
        self.parts.append(
            (
                np.append(t, t_end),
                np.append(a[0] + y / M_PER_DEG_LAT, b[0]),
                np.append(a[1] + x / self.k_lon, b[1]),
                np.append(np.round(v, 1), 0.0),
                np.append(course.round(), course[-1].round() if n else 0.0),
                np.append(np.ones(n, np.int8), np.int8(0)),
                np.append(odo, self.odometer + route),
            )
        )
        self.odometer += route
        self.distance += route
        self.trips += 1
        return t_end, b[0], b[1]


def _vehicle(
    k: int,
    days: int,
    *,
    seed: int,
    start: date,
    center: tuple[float, float],
    spread_km: float,
    jitter_m: float,
    spike_rate: float,
    drift_speed_rate: float,
) -> Track:
    rng = np.random.default_rng([seed, k])
    b = _Builder(rng, center[0], jitter_m, spike_rate, drift_speed_rate)

    def somewhere(near: tuple[float, float], km_min: float, km_max: float) -> tuple[float, float]:
        r = rng.uniform(km_min, km_max) * 1000.0
        ang = rng.uniform(0, 2 * math.pi)
        return near[0] + r * math.sin(ang) / M_PER_DEG_LAT, near[1] + r * math.cos(ang) / b.k_lon

    home = somewhere(center, 0.0, spread_km)
    day0 = int(datetime.combine(start, time(0), CHINA).timestamp())
    end = day0 + days * 86400
    # The first fix: parked at home at midnight.
    b.parts.append(
        (
            np.array([day0], np.int64),
            np.array([home[0]]),
            np.array([home[1]]),
            np.zeros(1),
            np.zeros(1),
            np.zeros(1, np.int8),
            np.array([b.odometer]),
        )
    )
    now, here = day0, home
    for d in range(days):
        midnight = day0 + d * 86400
        outings = int(rng.choice([1, 1, 2]))
        for o in range(outings):
            lo_h, hi_h = (7.5, 10.0) if o == 0 else (14.0, 16.0)
            depart = max(now + 1800, midnight + int(rng.uniform(lo_h, hi_h) * 3600))
            if depart > midnight + 20 * 3600:
                break
            b.park(now, depart, *here)
            dest = somewhere(home, 3.0, 30.0)
            now, *pos = b.drive(depart, here, dest)
            here = (pos[0], pos[1])
            back = now + int(rng.uniform(20, 150) * 60)
            b.park(now, back, *here)
            now, *pos = b.drive(back, here, home)
            here = (pos[0], pos[1])
    b.park(now, end, *here)
    cols = [np.concatenate(c) for c in zip(*b.parts, strict=True)]
    order = np.argsort(cols[0], kind="stable")
    t, lat, lon, speed, course, ign, odo = (c[order] for c in cols)
    return Track(
        device_id=device_id(k),
        plate=plate(k),
        t=t.astype(np.int64),
        lat=lat,
        lon=lon,
        speed_kmh=speed.astype(np.float64),
        course=course.astype(np.float64),
        ignition=ign.astype(np.int8),
        odometer_m=odo.astype(np.float64),
        true_trips=b.trips,
        true_distance_m=b.distance,
    )


def main() -> None:
    ap = argparse.ArgumentParser(description="Write synthetic positions in the DESIGN §5 CSV format.")
    ap.add_argument("out", type=Path)
    ap.add_argument("--vehicles", type=int, default=10)
    ap.add_argument("--days", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=date.fromisoformat, default=date(2024, 6, 3))
    ap.add_argument("--encoding", default="utf-8")
    ap.add_argument("--odometer", action="store_true", help="add the optional 里程 (km) column")
    a = ap.parse_args()
    tracks = generate(a.vehicles, a.days, seed=a.seed, start=a.start)
    rows = write_positions_csv(tracks, a.out, encoding=a.encoding, odometer=a.odometer)
    print(f"{rows} positions of {len(tracks)} vehicles written to {a.out}")


if __name__ == "__main__":
    main()

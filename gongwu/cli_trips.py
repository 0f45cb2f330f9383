"""`gongwu trips FILE`: cut a positions file into trips and stops without touching the database."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from core.errors import ValidationFailed
from core.timeutil import CHINA, from_ts
from gongwu.cli_base import app
from gongwu.output import Format, dumps, emit


def _iso(ts: int) -> str:
    return from_ts(ts).astimezone(CHINA).isoformat()


@app.command()
def trips(
    file: Annotated[
        Path, typer.Argument(help="positions file (CSV any encoding, or XLSX)", exists=True, dir_okay=False)
    ],
    fmt: Annotated[Format, typer.Option("--format", help="table, json or csv")] = Format.table,
    min_trip_distance: Annotated[float | None, typer.Option(help="metres (default 500)")] = None,
    min_trip_duration: Annotated[int | None, typer.Option(help="seconds (default 300)")] = None,
    min_parking_duration: Annotated[int | None, typer.Option(help="seconds (default 300)")] = None,
    min_no_data_duration: Annotated[int | None, typer.Option(help="seconds (default 3600)")] = None,
    use_ignition: Annotated[bool, typer.Option("--use-ignition", help="moving while ACC is on")] = False,
    no_drift_filter: Annotated[
        bool, typer.Option("--no-drift-filter", help="Traccar's classic logic")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="stop at the first unreadable row")] = False,
) -> None:
    """Cut each device's fixes into trips and stops (Traccar's rules, drift-proof by default). Unreadable
    rows are reported on stderr with line, column and reason; implausible fixes are dropped and counted."""
    from core.settings import get_settings
    from core.timeutil import utcnow
    from fleet.tripcut import TripParams, cut, mark_duplicate_times, screen_fixes
    from ingest.readers import read_positions_batches

    overrides: dict[str, Any] = {
        k: v
        for k, v in {
            "min_trip_distance_m": min_trip_distance,
            "min_trip_duration_s": min_trip_duration,
            "min_parking_duration_s": min_parking_duration,
            "min_no_data_duration_s": min_no_data_duration,
        }.items()
        if v is not None
    }
    if use_ignition:
        overrides["use_ignition"] = True
    if no_drift_filter:
        overrides["drift_filter"] = False
    params = TripParams().with_overrides(overrides)

    parts: list[dict[str, np.ndarray]] = []
    bad = 0
    for batch in read_positions_batches(file):
        for row in batch.rejects:
            for e in row.errors:
                typer.echo(f"{file.name}: {e}", err=True)
            bad += 1
            if strict:
                raise ValidationFailed(f"{file.name}: stopped at the first unreadable row (--strict)")
        parts.append(
            {
                k: getattr(batch, k)
                for k in ("device_id", "fixed_at", "lat", "lon", "speed_kmh", "ignition", "odometer_m")
            }
        )
    if not parts:
        raise ValidationFailed(f"{file.name}: no positions")
    cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    dev = cols["device_id"].astype(str)
    order = np.lexsort((cols["fixed_at"], dev))
    cols = {k: v[order] for k, v in cols.items()}
    dev = dev[order]
    names, starts = np.unique(dev, return_index=True)
    bounds = [*starts.tolist(), len(dev)]
    now_ts = int(utcnow().timestamp())
    devices = []
    for i, name in enumerate(names.tolist()):
        sl = slice(bounds[i], bounds[i + 1])
        t, lat, lon, spd = cols["fixed_at"][sl], cols["lat"][sl], cols["lon"][sl], cols["speed_kmh"][sl]
        dropped: Counter[str] = Counter()
        dup = mark_duplicate_times(t)
        if dup.any():
            dropped["duplicate_time"] += int(dup.sum())
        keep, reasons = screen_fixes(t, lat, lon, spd, now_ts=now_ts, bbox=get_settings().service_area)
        keep &= ~dup
        dropped.update({k: v for k, v in reasons.items() if v})
        ign = cols["ignition"][sl][keep]
        odo = cols["odometer_m"][sl][keep]
        result = cut(
            t[keep],
            lat[keep],
            lon[keep],
            spd[keep],
            ignition=None if (ign < 0).all() else ign,
            odometer_m=None if np.isnan(odo).all() else odo,
            params=params,
        )
        devices.append(
            {
                "device_id": name,
                "trips": [
                    {
                        "start_at": _iso(tr.start_ts),
                        "end_at": _iso(tr.end_ts),
                        "start_lat": round(tr.start_lat, 6),
                        "start_lon": round(tr.start_lon, 6),
                        "end_lat": round(tr.end_lat, 6),
                        "end_lon": round(tr.end_lon, 6),
                        "distance_km": round(tr.distance_m / 1000, 3),
                        "duration_s": int(tr.duration_s),
                        "max_speed_kmh": round(tr.max_speed_kmh, 1),
                        "avg_speed_kmh": round(tr.avg_speed_kmh, 1),
                    }
                    for tr in result.trips
                ],
                "stops": [
                    {
                        "start_at": _iso(st.start_ts),
                        "end_at": _iso(st.end_ts),
                        "lat": round(st.lat, 6),
                        "lon": round(st.lon, 6),
                        "duration_s": int(st.duration_s),
                    }
                    for st in result.stops
                ],
                "dropped": dict(dropped),
            }
        )
    data = {"devices": devices}
    if fmt is Format.json:
        typer.echo(dumps(data))
        return
    rows = [{"device_id": d["device_id"], **tr} for d in devices for tr in d["trips"]]
    emit(
        data,
        rows,
        fmt,
        title=f"{file.name}: {len(rows)} trips, {bad} unreadable rows",
        columns=[
            "device_id",
            "start_at",
            "end_at",
            "distance_km",
            "duration_s",
            "max_speed_kmh",
            "avg_speed_kmh",
        ],
    )

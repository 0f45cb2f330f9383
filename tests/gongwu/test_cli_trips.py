"""`gongwu trips FILE`: the JSON contract, unreadable rows on stderr, --strict, dropped counts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from bench.gen import generate, write_positions_csv

KEYS_TRIP = {
    "start_at",
    "end_at",
    "start_lat",
    "start_lon",
    "end_lat",
    "end_lon",
    "distance_km",
    "duration_s",
    "max_speed_kmh",
    "avg_speed_kmh",
}


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gongwu", "trips", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=os.environ.copy(),
        timeout=120,
    )


def test_json_per_device_with_trips_stops_and_dropped(tmp_path: Path) -> None:
    tracks = generate(2, 1, seed=5)
    path = tmp_path / "pos.csv"
    write_positions_csv(tracks, path, encoding="gbk")
    with path.open("a", encoding="gbk") as fh:  # a (0,0) fix and an unreadable time
        fh.write(f"{tracks[0].device_id},{tracks[0].plate},2024-06-03 12:00:01,0,0,0,0,关\r\n")
        fh.write(f"{tracks[0].device_id},{tracks[0].plate},2024-06-03 25:00:00,111,35,0,0,关\r\n")
    result = run(str(path), "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert [d["device_id"] for d in body["devices"]] == sorted(tr.device_id for tr in tracks)
    for device, track in zip(body["devices"], sorted(tracks, key=lambda t: t.device_id), strict=True):
        assert len(device["trips"]) == track.true_trips
        assert all(set(t) == KEYS_TRIP for t in device["trips"])
        assert all(t["start_at"].endswith("+08:00") for t in device["trips"])
        assert all(set(s) == {"start_at", "end_at", "lat", "lon", "duration_s"} for s in device["stops"])
    assert body["devices"][0]["dropped"] == {"zero_position": 1}
    bad_line = sum(len(t) for t in tracks) + 3  # header, every fix, the (0,0) line, then this one
    assert f"第 {bad_line} 行, 第 3 列 (定位时间)" in result.stderr
    assert "Traceback" not in result.stderr

    strict = run(str(path), "--strict", cwd=tmp_path)
    assert strict.returncode != 0
    assert "--strict" in strict.stderr

    classic = json.loads(run(str(path), "--format", "json", "--no-drift-filter", cwd=tmp_path).stdout)
    assert sum(len(d["trips"]) for d in classic["devices"]) > sum(len(d["trips"]) for d in body["devices"])

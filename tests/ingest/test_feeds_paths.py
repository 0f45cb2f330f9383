"""The three live paths (Traccar pull, OsmAnd push, JT/T 808) store the same position the same way; the
feed bookkeeping, `gongwu serve`'s listeners, the CLI and the API on top of them."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from core.db import unit_of_work
from fleet.models import Position
from fleet.positions import FixBatch
from ingest import jt808 as j
from ingest.feeds import store_fixes
from ingest.models import FeedDevice
from ingest.queries import feeds_status, stale_devices_report
from ingest.sources import TraccarSource, pull_source
from tests.factories import make_vehicle
from tests.ingest.feeds_support import MakeVehicle, live_vehicles, stored
from tests.ingest.test_jt808_server import Terminal
from tests.ingest.test_traccar import Platform, platform

__all__ = ["live_vehicles", "platform"]

T = datetime(2024, 6, 1, 0, 0, 5, tzinfo=UTC)  # 2024-06-01 08:00:05 China time
LAT, LON, KMH, COURSE, ODO = 37.870001, 112.550002, 63.0, 90.0, 123_400


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def listeners(env_db: str) -> Iterator[dict[str, int]]:
    """`gongwu serve`'s loop in a thread: web app, OsmAnd receiver, JT/T 808 server on free ports."""
    from gongwu.app import create_app
    from gongwu.cli_feeds import _serve_all

    ports = {"web": free_port(), "osmand": free_port(), "jt808": free_port()}
    stop: list[Callable[[], None]] = []
    thread = threading.Thread(
        target=lambda: asyncio.run(
            _serve_all(
                create_app(), "127.0.0.1", ports["web"], ports["osmand"], ports["jt808"], on_ready=stop.append
            )
        ),
        daemon=True,
    )
    thread.start()
    deadline = time.monotonic() + 10
    for port in ports.values():
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"port {port} never opened"
                time.sleep(0.05)
    yield ports
    stop[0]()
    thread.join(15)
    assert not thread.is_alive()


def as_tuple(p: Position) -> tuple[Any, ...]:
    return (
        p.device_id,
        p.fix_ts,
        p.lat,
        p.lon,
        round(p.speed_kmh, 9),
        p.course,
        p.ignition,
        p.odometer_m,
        p.valid,
    )


def test_three_paths_store_the_same_position_the_same_way(
    engine: Engine, live_vehicles: MakeVehicle, listeners: dict[str, int], platform: tuple[Platform, str]
) -> None:
    v = live_vehicles()
    device = v.tracker_id
    assert device
    expected = (device, int(T.timestamp()), LAT, LON, KMH, COURSE, 1, ODO, True)

    def take() -> Position:
        (row,) = stored(engine, device)
        with Session(engine) as s:
            s.exec(delete(Position).where(Position.device_id == device))  # type: ignore[call-overload]
            s.commit()
        return row

    # 1. Traccar pull: knots, metres, ISO UTC times
    p, url = platform
    p.devices.append({"id": 1, "uniqueId": device, "name": v.plate})
    p.positions[1] = [
        {
            "id": 7,
            "deviceId": 1,
            "fixTime": "2024-06-01T00:00:05.000+00:00",
            "valid": True,
            "latitude": LAT,
            "longitude": LON,
            "speed": KMH / 1.852,
            "course": COURSE,
            "altitude": 800.0,
            "attributes": {"ignition": True, "odometer": ODO},
        }
    ]
    with unit_of_work(engine) as s:
        out = pull_source(
            s,
            TraccarSource(url, user="u", password="p"),
            from_=T - timedelta(hours=1),
            to=T + timedelta(hours=1),
        )
    assert out["inserted"] == 1
    traccar = take()

    # 2. OsmAnd push: knots, China wall time without a zone
    r = httpx.get(
        f"http://127.0.0.1:{listeners['osmand']}/",
        params={
            "id": device,
            "lat": str(LAT),
            "lon": str(LON),
            "timestamp": "2024-06-01 08:00:05",
            "speed": str(KMH / 1.852),
            "bearing": "90",
            "ignition": "true",
            "odometer": str(ODO),
        },
    )
    assert r.status_code == 200, r.text
    osmand = take()

    # 3. JT/T 808: 0.1 km/h, BCD GMT+8 time, ACC bit, mileage in 100 m
    t = Terminal(listeners["jt808"], "0" + device)
    t.login()
    loc = j.Location(
        0, j.STATUS_ACC | j.STATUS_FIXED, LAT, LON, 800, KMH, int(COURSE), int(T.timestamp()), ODO
    )
    serial = t.send(j.LOCATION, j.encode_location(loc))
    assert t.ack() == (serial, j.LOCATION, j.ACK_OK)
    t.close()
    jt808 = take()

    assert as_tuple(traccar) == as_tuple(osmand) == as_tuple(jt808) == expected
    assert (traccar.source, osmand.source, jt808.source) == (1, 2, 3)
    with Session(engine) as s:
        sources = {d["source"] for d in feeds_status(s)["devices"] if d["device_id"] == device}
    assert sources == {"traccar", "osmand", "jt808"}


def test_serve_listeners_answer_and_stop_cleanly(listeners: dict[str, int]) -> None:
    assert httpx.get(f"http://127.0.0.1:{listeners['web']}/healthz").json()["status"] == "ok"
    assert httpx.get(f"http://127.0.0.1:{listeners['osmand']}/", params={"id": "nobody"}).status_code == 400


# ---- bookkeeping ------------------------------------------------------------------------------------


def fix(device: str, ts: int, **kw: Any) -> dict[str, Any]:
    return {"device_id": device, "fix_ts": ts, "lat": 37.87, "lon": 112.55, "speed_kmh": 0.0, **kw}


def test_store_fixes_keeps_counts_per_source_and_device(session: Session) -> None:
    v = make_vehicle(session)
    d = v.tracker_id
    assert d
    t0 = int(T.timestamp())
    now = T + timedelta(days=1)
    batch = FixBatch.from_records(
        [fix(d, t0), fix(d, t0 + 10), fix(d, t0 + 20, lat=0.0, lon=0.0), fix(d, t0 + 10)]
    )
    result = store_fixes(session, batch, "jt808", now, rejects={d: {"unauthenticated": 2}})
    assert result.inserted == 2
    store_fixes(session, FixBatch.from_records([fix(d, t0)]), "jt808", now + timedelta(minutes=1))
    store_fixes(session, FixBatch.from_records([fix(d, t0 + 30)]), "traccar", now, touch=False)
    store_fixes(session, FixBatch.from_records([fix(d, t0 + 30)]), "traccar", now)  # a pull's overlap
    status = {r["source"]: r for r in feeds_status(session)["devices"] if r["device_id"] == d}
    jt = status["jt808"]
    assert jt["plate"] == v.plate and jt["accepted"] == 2
    assert jt["rejected"] == {"duplicate": 2, "unauthenticated": 2, "zero_position": 1}
    assert jt["last_fix_at"] == "2024-06-01T08:00:15+08:00"  # the last fix kept: (0, 0) was dropped
    assert jt["last_contact_at"] == "2024-06-02T08:01:05+08:00"
    tr = status["traccar"]
    assert tr["accepted"] == 1 and tr["rejected"] == {}  # overlaps are not held against a pull
    assert tr["last_contact_at"] == "2024-06-02T08:00:05+08:00"


def test_stale_devices_report(session: Session) -> None:
    a, b = make_vehicle(session), make_vehicle(session)
    assert a.tracker_id and b.tracker_id
    now = T + timedelta(days=3)
    store_fixes(session, FixBatch.from_records([fix(a.tracker_id, int(T.timestamp()))]), "jt808", T)
    store_fixes(session, FixBatch.from_records([fix(b.tracker_id, int(T.timestamp()))]), "osmand", now)
    session.add(FeedDevice(source="traccar", device_id=b.tracker_id, last_contact_at=now, watermark_at=T))
    session.flush()
    report = stale_devices_report(session, now)
    mine = {(d["device_id"], d["source"]): d for d in report["devices"]}
    assert mine[(a.tracker_id, "jt808")]["reasons"] == ["no_contact"]
    assert mine[(a.tracker_id, "jt808")]["hours_behind"] == 72.0
    assert mine[(b.tracker_id, "traccar")]["reasons"] == ["watermark_behind"]
    assert (b.tracker_id, "osmand") not in mine
    json.dumps(report)  # the job history stores it


# ---- CLI and API ------------------------------------------------------------------------------------


def seed(engine: Engine, live_vehicles: MakeVehicle) -> tuple[str, str]:
    v = live_vehicles()
    assert v.tracker_id
    t0 = int(T.timestamp())
    records = [
        fix(v.tracker_id, t0 + 60 * i, speed_kmh=30.0, course=45.0, ignition=True, odometer_m=1000 + 500 * i)
        for i in range(5)
    ]
    with unit_of_work(engine) as s:
        store_fixes(s, FixBatch.from_records(records), "osmand", T + timedelta(minutes=5))
    return v.tracker_id, v.plate


runner = CliRunner()


def cli(*args: str) -> Any:
    from gongwu.cli import app

    result = runner.invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def test_cli_positions_and_feeds_status(env_db: str, engine: Engine, live_vehicles: MakeVehicle) -> None:
    device, plate = seed(engine, live_vehicles)
    window = ["--from", "2024-06-01 08:00", "--to", "2024-06-01 08:03"]
    data = json.loads(cli("positions", plate.replace("·", ""), *window, "--format", "json").stdout)
    assert [p["fixed_at"] for p in data["positions"]] == [
        "2024-06-01T08:00:05+08:00",
        "2024-06-01T08:01:05+08:00",
        "2024-06-01T08:02:05+08:00",
    ]
    first = data["positions"][0]
    assert first == {
        "fixed_at": "2024-06-01T08:00:05+08:00",
        "lat": 37.87,
        "lon": 112.55,
        "speed_kmh": 30.0,
        "course": 45.0,
        "ignition": True,
        "valid": True,
        "odometer_m": 1000,
        "source": "osmand",
    }
    csv = cli("positions", device, *window, "--format", "csv").stdout.splitlines()
    assert csv[0] == "fixed_at,lat,lon,speed_kmh,course,ignition,valid,odometer_m,source"
    assert csv[1].startswith("2024-06-01 08:00:05,37.87,112.55,30.0,45.0,True,True,1000,osmand")
    assert plate in cli("positions", device, *window).stdout
    status = json.loads(cli("feeds", "status", "--format", "json").stdout)
    (row,) = [d for d in status["devices"] if d["device_id"] == device]
    assert set(row) == {
        "device_id",
        "plate",
        "source",
        "last_fix_at",
        "last_contact_at",
        "accepted",
        "rejected",
    }
    assert (row["plate"], row["source"], row["accepted"], row["rejected"]) == (plate, "osmand", 5, {})
    assert device in cli("feeds", "status").stdout


def test_cli_errors_are_one_line(env_db: str) -> None:
    from gongwu.cli import app

    result = runner.invoke(app, ["positions", "晋Z·Q0000"])
    assert result.exit_code != 0 and "no vehicle with plate or tracker id" in str(result.exception)
    result = runner.invoke(app, ["pull", "--from", "someday"])
    assert "--from 'someday'" in str(result.exception)


def test_cli_pull_without_a_source(env_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from gongwu.cli import app
    from ingest.feeds_settings import reset_feeds_settings

    monkeypatch.delenv("GONGWU_TRACCAR_URL", raising=False)
    reset_feeds_settings()
    result = runner.invoke(app, ["pull"])
    assert "no pull source is configured: set GONGWU_TRACCAR_URL" in str(result.exception)


def test_cli_pull(env_db: str, engine: Engine, live_vehicles: MakeVehicle, platform: tuple[Platform, str],
                  monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from ingest.feeds_settings import reset_feeds_settings

    p, url = platform
    v = live_vehicles()
    assert v.tracker_id
    p.add_device(5, v.tracker_id, n=20)
    monkeypatch.setenv("GONGWU_TRACCAR_URL", url)
    monkeypatch.setenv("GONGWU_TRACCAR_TOKEN", "tok")
    reset_feeds_settings()
    try:
        args = ["pull", "--source", "traccar", "--from", "2024-06-01 07:00", "--to", "2024-06-01 10:00"]
        report = json.loads(cli(*args, "--format", "json").stdout)
        assert report["sources"][0]["inserted"] == 20
        assert "traccar" in cli(*args).stdout
        assert len(stored(engine, v.tracker_id)) == 20
    finally:
        reset_feeds_settings()


def test_api_feeds_status_and_positions(client: TestClient, session: Session) -> None:
    v = make_vehicle(session)
    assert v.tracker_id
    t0 = int(T.timestamp())
    store_fixes(
        session,
        FixBatch.from_records([fix(v.tracker_id, t0 + 60 * i) for i in range(4)]),
        "jt808",
        T + timedelta(hours=1),
    )
    status = client.get("/api/v1/feeds/status").json()
    (row,) = [d for d in status["devices"] if d["device_id"] == v.tracker_id]
    assert row["accepted"] == 4 and row["source"] == "jt808" and row["plate"] == v.plate
    r = client.get(
        "/api/v1/positions", params={"vehicle_id": v.id, "from": "2024-06-01T08:01:00", "limit": 2}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["count"] == 3 and len(body["data"]) == 2
    assert body["data"][0]["fixed_at"] == "2024-06-01T08:01:05+08:00" and body["data"][0]["source"] == "jt808"
    assert client.get("/api/v1/positions", params={"device": v.tracker_id}).json()["count"] == 4
    assert client.get("/api/v1/positions", params={"plate": v.plate}).json()["count"] == 4
    assert client.get("/api/v1/positions").status_code == 422
    assert client.get("/api/v1/positions", params={"device": "nope"}).status_code == 404
    assert date.fromisoformat(row["last_fix_at"][:10]) == date(2024, 6, 1)

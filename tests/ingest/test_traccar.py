"""The Traccar pull adapter against a real HTTP server on 127.0.0.1 serving Traccar-shaped responses."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from sqlmodel import Session, col, select

from core.errors import GongwuError, NotFound
from core.settings import reset_settings
from fleet.models import Position
from ingest import sources
from ingest.feeds_settings import FeedsSettings, reset_feeds_settings
from ingest.models import FeedDevice
from ingest.sources import FeedError, TraccarSource, pull, pull_source
from tests.factories import make_vehicle

T0 = datetime(2024, 6, 1, 0, 0, tzinfo=UTC)  # 08:00 China time


def traccar_position(pid: int, device: int, at: datetime, i: int) -> dict[str, Any]:
    return {
        "id": pid,
        "deviceId": device,
        "protocol": "h02",
        "serverTime": at.isoformat(timespec="milliseconds"),
        "deviceTime": at.isoformat(timespec="milliseconds"),
        "fixTime": at.isoformat(timespec="milliseconds"),
        "outdated": False,
        "valid": True,
        "latitude": 37.87 + i * 0.001,
        "longitude": 112.55,
        "altitude": 800.0,
        "speed": 20.0,  # knots
        "course": 0.0,
        "address": None,
        "accuracy": 0.0,
        "network": None,
        "attributes": {"ignition": True, "odometer": 100_000 + i * 100, "totalDistance": 5.5, "motion": True},
    }


@dataclass
class Platform:
    """What the fake Traccar serves and how it misbehaves."""

    devices: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)  # status codes to answer with, in turn
    slow_next: list[float] = field(default_factory=list)  # seconds to stall, in turn
    malformed: bool = False
    status: int | None = None  # answer every request with this
    requests: list[tuple[str, dict[str, list[str]], dict[str, str]]] = field(default_factory=list)

    def add_device(self, remote_id: int, unique_id: str, n: int, step_s: int = 60) -> None:
        self.devices.append(
            {"id": remote_id, "name": unique_id, "uniqueId": unique_id, "status": "online", "disabled": False,
             "lastUpdate": (T0 + timedelta(seconds=n * step_s)).isoformat()}
        )  # fmt: skip
        self.positions[remote_id] = [
            traccar_position(remote_id * 10_000 + i, remote_id, T0 + timedelta(seconds=i * step_s), i)
            for i in range(n)
        ]


def _within(fix_time: Any, a: datetime, b: datetime) -> bool:
    try:
        return a <= datetime.fromisoformat(fix_time) <= b
    except (TypeError, ValueError):
        return True  # garbage is served as is


class _Handler(BaseHTTPRequestHandler):
    platform: Platform

    def log_message(self, *args: Any) -> None:
        pass

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        p = self.platform
        url = urlparse(self.path)
        query = parse_qs(url.query)
        p.requests.append((url.path, query, {k.lower(): v for k, v in self.headers.items()}))
        if p.slow_next:
            time.sleep(p.slow_next.pop(0))
        if p.fail_next:
            self._send(p.fail_next.pop(0), b'{"message": "busy"}')
            return
        if p.status is not None:
            self._send(p.status, b"Unauthorized" if p.status == 401 else b"error", "text/plain")
            return
        if p.malformed:
            self._send(200, b"<html>proxy error page</html>", "text/html")
            return
        if url.path == "/api/devices":
            self._send(200, json.dumps(p.devices).encode())
        elif url.path == "/api/positions":
            device = int(query["deviceId"][0])
            if device not in p.positions:
                self._send(400, b"Device not found", "text/plain")
                return
            a = datetime.fromisoformat(query["from"][0])
            b = datetime.fromisoformat(query["to"][0])
            rows = [r for r in p.positions[device] if _within(r.get("fixTime"), a, b)]
            self._send(200, json.dumps(rows).encode())
        else:
            self._send(404, b"not found", "text/plain")


@pytest.fixture
def platform() -> Iterator[tuple[Platform, str]]:
    p = Platform()
    handler = type("Handler", (_Handler,), {"platform": p})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield p, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


SLEEPS: list[float] = []


def source(url: str, **kw: Any) -> TraccarSource:
    opts: dict[str, Any] = {"user": "admin", "password": "s3cret-pw", "timeout": 2.0, "retries": 3}
    opts.update(kw)
    return TraccarSource(url, backoff_s=0.01, sleep=SLEEPS.append, **opts)


def settings(**kw: Any) -> FeedsSettings:
    return FeedsSettings(**{"traccar_window_hours": 6.0, "traccar_overlap_minutes": 60, **kw})


def positions_of(session: Session, device: str) -> list[Position]:
    return list(
        session.exec(
            select(Position).where(Position.device_id == device).order_by(col(Position.fix_ts))
        ).all()
    )


def test_pull_maps_devices_converts_units_and_sets_the_watermark(
    session: Session, platform: tuple[Platform, str]
) -> None:
    p, url = platform
    v = make_vehicle(session)
    assert v.tracker_id
    p.add_device(10, v.tracker_id, n=30)
    p.add_device(11, "860000000000999", n=5)  # on the platform, not one of our vehicles
    end = T0 + timedelta(hours=1)
    out = pull_source(session, source(url), from_=T0, to=end, settings=settings())
    assert (out["devices"], out["received"], out["inserted"]) == (1, 30, 30)
    assert out["not_vehicles"] == ["860000000000999"]
    rows = positions_of(session, v.tracker_id)
    assert len(rows) == 30
    first = rows[0]
    assert first.fix_ts == int(T0.timestamp())
    assert first.speed_kmh == pytest.approx(37.0)  # 20 knots, stored in 0.1 km/h
    assert first.ignition == 1 and first.odometer_m == 100_000 and first.valid
    assert first.source == 1  # traccar
    assert first.attrs and first.attrs["altitude"] == 800.0
    fd = session.exec(select(FeedDevice).where(FeedDevice.device_id == v.tracker_id)).one()
    assert fd.source == "traccar" and fd.accepted == 30 and fd.watermark_at == end
    assert fd.last_contact_at == T0 + timedelta(minutes=30)  # Traccar's lastUpdate
    # basic auth, never the password in the query
    _path, query, headers = p.requests[-1]
    assert headers["authorization"].startswith("Basic ") and "s3cret" not in json.dumps(query)


def test_pagination_by_time_and_idempotence(session: Session, platform: tuple[Platform, str]) -> None:
    p, url = platform
    v = make_vehicle(session)
    assert v.tracker_id
    p.add_device(20, v.tracker_id, n=300, step_s=60)  # five hours
    s = settings(traccar_window_hours=1.0)
    end = T0 + timedelta(hours=5)
    out = pull_source(session, source(url), from_=T0, to=end, settings=s)
    calls = [q for path, q, _ in p.requests if path == "/api/positions"]
    assert len(calls) == 5 and out["windows"] == 5
    for q in calls:
        a, b = datetime.fromisoformat(q["from"][0]), datetime.fromisoformat(q["to"][0])
        assert timedelta(0) < b - a <= timedelta(hours=1)
    assert out["inserted"] == 300 and len(positions_of(session, v.tracker_id)) == 300
    again = pull_source(session, source(url), from_=T0, to=end, settings=s)
    assert again["received"] >= 300 and again["inserted"] == 0
    assert len(positions_of(session, v.tracker_id)) == 300


def test_resumes_from_the_watermark_with_an_overlap(session: Session, platform: tuple[Platform, str]) -> None:
    p, url = platform
    v = make_vehicle(session)
    assert v.tracker_id
    p.add_device(30, v.tracker_id, n=180)
    s = settings(traccar_overlap_minutes=15)
    pull_source(session, source(url), from_=T0, to=T0 + timedelta(hours=1), settings=s)
    p.requests.clear()
    out = pull_source(session, source(url), to=T0 + timedelta(hours=3), settings=s)
    q = next(q for path, q, _ in p.requests if path == "/api/positions")
    assert datetime.fromisoformat(q["from"][0]) == T0 + timedelta(minutes=45)
    assert out["inserted"] == 180 - 61  # the first pull had minutes 0..60 (both ends are inclusive)
    fd = session.exec(select(FeedDevice).where(FeedDevice.device_id == v.tracker_id)).one()
    assert fd.watermark_at == T0 + timedelta(hours=3)


def test_a_500_then_success_is_retried(session: Session, platform: tuple[Platform, str]) -> None:
    p, url = platform
    v = make_vehicle(session)
    assert v.tracker_id
    p.add_device(40, v.tracker_id, n=10)
    p.fail_next = [500, 503]
    SLEEPS.clear()
    out = pull_source(session, source(url), from_=T0, to=T0 + timedelta(hours=1), settings=settings())
    assert out["inserted"] == 10
    assert SLEEPS == [0.01, 0.02]  # exponential backoff


def test_slow_responses(session: Session, platform: tuple[Platform, str]) -> None:
    p, url = platform
    v = make_vehicle(session)
    assert v.tracker_id
    p.add_device(50, v.tracker_id, n=10)
    p.slow_next = [0.3]  # slow but within the timeout: simply waited for
    out = pull_source(
        session, source(url, timeout=2.0), from_=T0, to=T0 + timedelta(hours=1), settings=settings()
    )
    assert out["inserted"] == 10
    p.slow_next = [0, 1.5]  # the positions call times out once, then answers
    n_before = len(p.requests)
    out = pull_source(
        session, source(url, timeout=0.5), from_=T0, to=T0 + timedelta(hours=2), settings=settings()
    )
    assert out["received"] == 10 and len(p.requests) - n_before == 3


def test_gives_up_after_bounded_retries(session: Session, platform: tuple[Platform, str]) -> None:
    p, url = platform
    p.status = 502
    with pytest.raises(FeedError, match=r"did not answer after 3 attempts \(HTTP 502\)"):
        pull_source(
            session, source(url, retries=2), from_=T0, to=T0 + timedelta(hours=1), settings=settings()
        )
    assert len(p.requests) == 3


def test_refused_credentials_are_a_clear_error_without_retry(
    session: Session, platform: tuple[Platform, str], caplog: pytest.LogCaptureFixture
) -> None:
    p, url = platform
    p.status = 401
    caplog.set_level(logging.DEBUG)
    with pytest.raises(FeedError) as err:
        pull_source(session, source(url), from_=T0, to=T0 + timedelta(hours=1), settings=settings())
    assert "refused the credentials" in err.value.message
    assert "GONGWU_TRACCAR_USER" in err.value.message and "s3cret-pw" not in err.value.message
    assert len(p.requests) == 1
    assert "s3cret-pw" not in caplog.text


def test_bearer_token(session: Session, platform: tuple[Platform, str]) -> None:
    p, url = platform
    pull_source(
        session, source(url, user="", password="", token="tok-123"), from_=T0, to=T0 + timedelta(hours=1)
    )
    assert p.requests[0][2]["authorization"] == "Bearer tok-123"


def test_malformed_body_names_the_url(session: Session, platform: tuple[Platform, str]) -> None:
    p, url = platform
    p.malformed = True
    with pytest.raises(FeedError, match=r"127\.0\.0\.1:\d+/api/devices answered a malformed body"):
        pull_source(session, source(url), from_=T0, to=T0 + timedelta(hours=1), settings=settings())
    p.malformed = False
    v = make_vehicle(session)
    assert v.tracker_id
    p.devices.append({"id": 60, "uniqueId": v.tracker_id, "name": "x"})
    p.positions[60] = [{"id": 1, "fixTime": "yesterday", "latitude": 1, "longitude": 2}]
    with pytest.raises(FeedError, match=r"/api/positions answered a malformed body"):
        pull_source(session, source(url), from_=T0, to=T0 + timedelta(hours=1), settings=settings())


def test_a_device_the_platform_does_not_know(session: Session, platform: tuple[Platform, str]) -> None:
    p, url = platform
    v = make_vehicle(session)
    assert v.tracker_id
    p.add_device(70, v.tracker_id, n=3)
    with pytest.raises(NotFound, match="does not know device 13999999999"):
        pull_source(session, source(url), device="13999999999", from_=T0, to=T0 + timedelta(hours=1))
    # listed, but the platform refuses its positions (deleted meanwhile): the others are still pulled
    gone = make_vehicle(session).tracker_id
    assert gone
    p.devices.append({"id": 71, "uniqueId": gone, "name": "gone"})
    out = pull_source(session, source(url), from_=T0, to=T0 + timedelta(hours=1))
    assert out["received"] == 3 and len(out["errors"]) == 1
    assert re.search(r"does not know device \d+ \(HTTP 400\)", out["errors"][0])
    with pytest.raises(NotFound, match=r"does not know device \d+ \(HTTP 400\)"):
        pull_source(session, source(url), device=gone, from_=T0, to=T0 + timedelta(hours=1))
    # only the one asked for
    p.devices.pop()
    p.requests.clear()
    out = pull_source(session, source(url), device=v.tracker_id, from_=T0, to=T0 + timedelta(hours=1))
    assert out["devices"] == 1 and out["received"] == 3
    assert [q["deviceId"] for path, q, _ in p.requests if path == "/api/positions"] == [["70"]]


def test_device_map_and_leading_zeros(session: Session, platform: tuple[Platform, str]) -> None:
    p, url = platform
    a, b = make_vehicle(session), make_vehicle(session)
    assert a.tracker_id and b.tracker_id
    p.add_device(80, "0" + a.tracker_id, n=2)  # a JT/T 808 phone number padded to 12 digits
    p.add_device(81, "IMEI-860000000001", n=2)
    src = source(url, device_map={"IMEI-860000000001": b.tracker_id})
    out = pull_source(session, src, from_=T0, to=T0 + timedelta(hours=1))
    assert out["inserted"] == 4 and out["not_vehicles"] == []
    assert len(positions_of(session, a.tracker_id)) == 2 and len(positions_of(session, b.tracker_id)) == 2


def test_pull_all_is_empty_without_a_source(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GONGWU_TRACCAR_URL", raising=False)
    reset_feeds_settings()
    t = time.perf_counter()
    assert sources.pull_all(session) == {}
    assert time.perf_counter() - t < 0.5


def test_pull_all_from_settings(
    session: Session, platform: tuple[Platform, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    p, url = platform
    v = make_vehicle(session)
    assert v.tracker_id
    now = datetime.now(UTC).replace(microsecond=0)
    p.devices.append({"id": 90, "uniqueId": v.tracker_id, "name": "car"})
    p.positions[90] = [
        traccar_position(i, 90, now - timedelta(hours=2, seconds=-60 * i), i) for i in range(5)
    ]
    monkeypatch.setenv("GONGWU_TRACCAR_URL", url + "/")
    monkeypatch.setenv("GONGWU_TRACCAR_USER", "admin")
    monkeypatch.setenv("GONGWU_TRACCAR_PASSWORD", "s3cret-pw")
    reset_feeds_settings()
    reset_settings()
    try:
        counts = sources.pull_all(session)
        assert counts == {
            "pull_devices": 1,
            "pull_received": 5,
            "pull_inserted": 5,
            "pull_duplicates": 0,
            "pull_dropped": 0,
        }
        report = pull(session, "traccar")
        assert report["sources"][0]["inserted"] == 0
        with pytest.raises(NotFound, match="no pull source 'gps51'"):
            pull(session, "gps51")
    finally:
        reset_feeds_settings()


def test_a_platform_in_gcj02_is_stored_in_wgs84(session: Session, platform: tuple[Platform, str]) -> None:
    """An AMap-based platform (GONGWU_TRACCAR_COORD_SYSTEM=gcj02): its coordinates are shifted back to
    WGS-84 before they are stored; a datum gongwu does not know is refused at start."""
    from core import datum

    p, url = platform
    v = make_vehicle(session)
    assert v.tracker_id
    p.add_device(10, v.tracker_id, n=3)
    sent = [(r["latitude"], r["longitude"]) for r in p.positions[10]]
    for r in p.positions[10]:
        r["latitude"], r["longitude"] = (
            float(x) for x in datum.wgs84_to_gcj02(r["latitude"], r["longitude"])
        )
    pull_source(
        session, source(url, coord_system="gcj02"), from_=T0, to=T0 + timedelta(hours=1), settings=settings()
    )
    got = [(r.lat, r.lon) for r in positions_of(session, v.tracker_id)]
    assert len(got) == 3
    for (a, b), (c, d) in zip(sent, got, strict=True):
        assert abs(a - c) * 111_320 < 0.05 and abs(b - d) * 88_000 < 0.05  # within the storage's 1e-7°
    with pytest.raises(GongwuError, match="COORD_SYSTEM"):
        source(url, coord_system="utm")

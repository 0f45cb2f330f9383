"""The OsmAnd push receiver: query and JSON forms, time formats, unknown devices."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from starlette.testclient import TestClient

from ingest.feeds import BatchWriter
from ingest.osmand import BadRequest, create_osmand_app, parse_timestamp
from tests.ingest.feeds_support import MakeVehicle, feed_row, live_vehicles, stored

__all__ = ["live_vehicles"]

T = int(datetime(2024, 6, 1, 0, 0, 5, tzinfo=UTC).timestamp())  # 08:00:05 China time


@pytest.fixture
def client(writer: BatchWriter) -> Iterator[TestClient]:
    with TestClient(create_osmand_app(writer)) as c:
        yield c


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (str(T), T),
        (str(T * 1000 + 250), T),
        ("2024-06-01T00:00:05Z", T),
        ("2024-06-01T00:00:05.000+00:00", T),
        ("2024-06-01 08:00:05", T),  # no zone: China time
        ("2024-06-01T08:00:05+08:00", T),
        (T, T),
    ],
)
def test_timestamp_forms(value: object, expected: int) -> None:
    assert parse_timestamp(value) == expected


def test_timestamp_garbage() -> None:
    with pytest.raises(BadRequest):
        parse_timestamp("next tuesday")


def test_query_form_with_every_field(client: TestClient, engine: Engine, live_vehicles: MakeVehicle) -> None:
    v = live_vehicles()
    assert v.tracker_id
    r = client.get(
        "/",
        params={
            "id": v.tracker_id,
            "lat": "37.870001",
            "lon": "112.550002",
            "timestamp": str(T),
            "speed": "34.017278617710584",  # knots = 63 km/h
            "bearing": "90.37",  # a tenth of a degree is kept
            "altitude": "812.5",
            "accuracy": "4.0",
            "batt": "87",
            "ignition": "true",
            "odometer": "123400",
            "driverUniqueId": "D-7",
        },
    )
    assert r.status_code == 200, r.text
    (p,) = stored(engine, v.tracker_id)
    assert (p.fix_ts, p.lat, p.lon, p.course, p.ignition, p.odometer_m, p.valid) == (
        T,
        37.870001,
        112.550002,
        90.4,
        1,
        123400,
        True,
    )
    assert p.speed_kmh == pytest.approx(63.0)
    assert p.source == 2  # osmand
    assert p.attrs == {"altitude": 812.5, "accuracy": 4.0, "batt": 87, "driverUniqueId": "D-7"}
    fd = feed_row(engine, "osmand", v.tracker_id)
    assert fd is not None and fd.accepted == 1 and fd.last_fix_at == datetime.fromtimestamp(T, UTC)


def test_post_location_pair_form_body_and_china_time(
    client: TestClient, engine: Engine, live_vehicles: MakeVehicle
) -> None:
    v = live_vehicles()
    assert v.tracker_id
    # Traccar Client's classic request: POST with the query string and an empty body
    r = client.post(f"/?deviceid={v.tracker_id}&location=37.87,112.55&timestamp={T * 1000}&speed=0")
    assert r.status_code == 200
    r = client.post(
        "/",
        content=f"id={v.tracker_id}&lat=37.8701&lon=112.5501&timestamp=2024-06-01 08:01:05".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 200
    rows = stored(engine, v.tracker_id)
    assert [p.fix_ts for p in rows] == [T, T + 60]
    assert rows[0].ignition is None and rows[0].course is None


def test_json_body_of_traccar_client(client: TestClient, engine: Engine, live_vehicles: MakeVehicle) -> None:
    v = live_vehicles()
    assert v.tracker_id
    body = {
        "location": {
            "timestamp": "2024-06-01T00:00:05.000Z",
            "coords": {
                "latitude": 37.87,
                "longitude": 112.55,
                "accuracy": 5,
                "speed": 17.5,  # m/s
                "heading": 270,
                "altitude": 800,
            },
            "is_moving": True,
            "odometer": 5000,
            "event": "motionchange",
            "battery": {"level": 0.62, "is_charging": False},
            "activity": {"type": "in_vehicle"},
        },
        "device_id": v.tracker_id,
    }
    r = client.post("/", content=json.dumps(body), headers={"Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    (p,) = stored(engine, v.tracker_id)
    assert p.fix_ts == T and p.speed_kmh == pytest.approx(63.0) and p.course == 270.0 and p.odometer_m == 5000
    assert p.attrs == {
        "altitude": 800,
        "accuracy": 5,
        "batt": 62.0,
        "charge": False,
        "motion": True,
        "activity": "in_vehicle",
        "event": "motionchange",
    }
    # a list of locations, unknown speed (-1) and heading (-1)
    body["location"] = [
        {
            "timestamp": T + 60 + i,
            "coords": {"latitude": 37.87, "longitude": 112.55, "speed": -1, "heading": -1},
        }
        for i in range(3)
    ]
    r = client.post("/", json=body)
    assert r.status_code == 200
    rows = stored(engine, v.tracker_id)
    assert len(rows) == 4 and rows[-1].speed_kmh == 0.0 and rows[-1].course is None


def test_unknown_or_missing_device_is_400_and_nothing_stored(
    client: TestClient, engine: Engine, live_vehicles: MakeVehicle, writer: BatchWriter
) -> None:
    r = client.get("/", params={"id": "no-such-phone", "lat": "37.87", "lon": "112.55", "timestamp": str(T)})
    assert r.status_code == 400 and "unknown device" in r.text
    assert stored(engine, "no-such-phone") == []
    assert client.get("/", params={"lat": "37.87", "lon": "112.55"}).status_code == 400
    assert client.post("/", json={"location": {"coords": {"latitude": 1, "longitude": 2}}}).status_code == 400
    # a vehicle registered after the receiver started is found without a restart
    v = live_vehicles()
    assert v.tracker_id
    writer.vehicles(refresh=True)
    r = client.get("/", params={"id": v.tracker_id, "lat": "37.87", "lon": "112.55", "timestamp": str(T)})
    assert r.status_code == 200


def test_bad_values_are_400(client: TestClient, live_vehicles: MakeVehicle, engine: Engine) -> None:
    v = live_vehicles()
    assert v.tracker_id
    for params in (
        {"lat": "north", "lon": "112.55"},
        {"location": "37.87"},
        {"lat": "37.87", "lon": "112.55", "timestamp": "soon"},
        {"lat": "nan", "lon": "112.55"},
    ):
        r = client.get("/", params={"id": v.tracker_id, **params})
        assert r.status_code == 400, params
    assert (
        client.post("/", content=b"{not json", headers={"Content-Type": "application/json"}).status_code
        == 400
    )
    assert stored(engine, v.tracker_id) == []


def test_implausible_fix_is_acknowledged_and_counted(
    client: TestClient, engine: Engine, live_vehicles: MakeVehicle
) -> None:
    v = live_vehicles()
    assert v.tracker_id
    # (0, 0) is data, not a bad request: the phone must not resend it forever
    r = client.get("/", params={"id": v.tracker_id, "lat": "0", "lon": "0", "timestamp": str(T)})
    assert r.status_code == 200
    assert stored(engine, v.tracker_id) == []
    fd = feed_row(engine, "osmand", v.tracker_id)
    assert fd is not None and fd.accepted == 0 and sum(fd.rejected.values()) == 1


def test_padded_device_id_and_contact_only(
    client: TestClient, engine: Engine, live_vehicles: MakeVehicle
) -> None:
    v = live_vehicles()
    assert v.tracker_id
    r = client.get(
        "/", params={"id": "0" + v.tracker_id, "lat": "37.87", "lon": "112.55", "timestamp": str(T)}
    )
    assert r.status_code == 200 and len(stored(engine, v.tracker_id)) == 1
    # no coordinates: a sign of life, no fix
    assert client.get("/", params={"id": v.tracker_id, "batt": "50"}).status_code == 200
    assert len(stored(engine, v.tracker_id)) == 1


def test_health_wrong_method_and_an_oversized_body(client: TestClient) -> None:
    r = client.get("/healthz")
    assert (r.status_code, r.text) == (200, "ok")
    r = client.put("/?id=1&lat=1&lon=2")
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    r = client.post("/", content=b"id=1&" + b"x" * (1 << 20), headers={"Content-Type": "text/plain"})
    assert (r.status_code, r.text) == (400, "body too large")


def test_a_fix_out_of_range_or_half_given_is_refused_with_the_reason(
    client: TestClient, engine: Engine, live_vehicles: MakeVehicle
) -> None:
    """Not a 200 for a fix that is then dropped (the phone would think it was stored): a 400 naming
    what is wrong; an id with only its battery stays a sign of life."""
    v = live_vehicles()
    assert v.tracker_id
    for params, reason in (
        ({"lat": "999", "lon": "112.55"}, "lat 999 is out of range"),
        ({"lat": "37.87", "lon": "-181"}, "lon -181 is out of range"),
        ({"lat": "37.87"}, "one of them is missing"),
        ({"timestamp": str(T), "speed": "3"}, "a fix without lat and lon"),
    ):
        r = client.get("/", params={"id": v.tracker_id, **params})
        assert (r.status_code, reason in r.text) == (400, True), (params, r.text)
    bad = {
        "location": {"coords": {"latitude": 95, "longitude": 112}, "timestamp": T},
        "device_id": v.tracker_id,
    }
    r = client.post("/", json=bad)
    assert r.status_code == 400 and "latitude 95 is out of range" in r.text
    assert stored(engine, v.tracker_id) == []
    assert client.get("/", params={"id": v.tracker_id, "batt": "50"}).status_code == 200


def test_a_course_is_an_angle(client: TestClient, engine: Engine, live_vehicles: MakeVehicle) -> None:
    v = live_vehicles()
    assert v.tracker_id
    for i, bearing in enumerate(("365.5", "-90", "1e12")):
        params = {
            "id": v.tracker_id,
            "lat": "37.87",
            "lon": "112.55",
            "timestamp": str(T + i),
            "bearing": bearing,
        }
        assert client.get("/", params=params).status_code == 200
    assert [p.course for p in stored(engine, v.tracker_id)] == [5.5, 270.0, 280.0]  # 1e12 = 360·k + 280

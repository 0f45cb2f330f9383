"""A unit viewer sees its own unit's vehicles, orders, trips, stops and flags — enforced in the queries —
and another unit's object answers exactly like a missing one."""

from __future__ import annotations

from datetime import UTC, datetime

from fastapi.testclient import TestClient
from sqlmodel import Session

from fleet.models import Flag, Stop
from tests.conftest import ClientAs
from tests.factories import make_order, make_trip, make_unit, make_vehicle

API = "/api/v1"
T0 = datetime(2024, 6, 3, 1, 0, tzinfo=UTC)


def test_unit_viewer_sees_only_its_unit(session: Session, client_as: ClientAs, client: TestClient) -> None:
    mine, other = make_unit(session, name="城关镇", kind="township"), make_unit(session, name="县财政局")
    ids: dict[str, dict[str, int]] = {}
    for unit, key in ((mine, "mine"), (other, "other")):
        v = make_vehicle(session, unit)
        o = make_order(session, v, planned_start_at=T0)
        t = make_trip(session, v, T0)
        session.add(
            Stop(
                vehicle_id=v.id, device_id=v.tracker_id, start_at=T0, end_at=T0, lat=35, lon=111, duration_s=0
            )
        )
        f = Flag(
            kind="unreported_trip",
            key=f"k-{key}",
            vehicle_id=v.id,
            unit_id=unit.id,
            trip_id=t.id,
            start_at=T0,
        )
        session.add(f)
        session.flush()
        ids[key] = {"vehicle": v.id, "order": o.id, "trip": t.id, "flag": f.id}  # type: ignore[dict-item]
    viewer = client_as("unit_viewer", unit_id=mine.id)

    for path in ("vehicles", "orders", "trips", "stops", "flags"):
        body = viewer.get(f"{API}/{path}").json()
        assert body["count"] == 1, (path, body)
        everyone = client.get(f"{API}/{path}").json()
        assert everyone["count"] == 2, path
    assert [u["name"] for u in viewer.get(f"{API}/units").json()["data"]] == ["城关镇"]
    # filtering on the other unit does not widen the view
    assert viewer.get(f"{API}/flags", params={"unit_id": other.id}).json()["count"] == 1

    for kind, plural in (("vehicle", "vehicles"), ("order", "orders"), ("trip", "trips"), ("flag", "flags")):
        assert viewer.get(f"{API}/{plural}/{ids['mine'][kind]}").status_code == 200
        theirs = viewer.get(f"{API}/{plural}/{ids['other'][kind]}")
        missing = viewer.get(f"{API}/{plural}/999999")
        assert theirs.status_code == missing.status_code == 404, kind
        assert theirs.json()["detail"].replace(str(ids["other"][kind]), "N") == missing.json()[
            "detail"
        ].replace("999999", "N")
    assert viewer.get(f"{API}/reports/units", params={"month": "2024-06"}).status_code == 403


def test_trips_overlapping_a_range_come_whole(session: Session, client: TestClient) -> None:
    v = make_vehicle(session)
    make_trip(session, v, datetime(2024, 6, 3, 15, 30, tzinfo=UTC), minutes=60)  # 23:30–00:30 China time
    body = client.get(
        f"{API}/trips",
        params={"vehicle_id": v.id, "from": "2024-06-04T00:00:00+08:00", "to": "2024-06-05T00:00:00+08:00"},
    ).json()
    assert body["count"] == 1
    trip = body["data"][0]
    assert trip["start_at"].startswith("2024-06-03T15:30") and trip["duration_s"] == 3600  # not clipped
    assert trip["service_day"] == "2024-06-03"


def test_positions_of_another_units_vehicle_are_404(session: Session, client_as: ClientAs) -> None:
    from tests.factories import make_fixes

    mine, other = make_unit(session), make_unit(session)
    v_mine, v_other = make_vehicle(session, mine), make_vehicle(session, other)
    for v in (v_mine, v_other):
        assert v.tracker_id is not None
        make_fixes(session, v.tracker_id, [T0])
    viewer = client_as("unit_viewer", unit_id=mine.id)
    frm = {"from": "2024-06-01T00:00:00+08:00", "to": "2024-06-05T00:00:00+08:00"}
    assert viewer.get(f"{API}/positions", params={"vehicle_id": v_mine.id, **frm}).json()["count"] == 1
    for params in ({"vehicle_id": v_other.id}, {"device": v_other.tracker_id}, {"plate": v_other.plate}):
        assert viewer.get(f"{API}/positions", params={**params, **frm}).status_code == 404, params

"""Places (issue 23): the gazetteer, each stop named by the place it is at or by its distance and direction
from the nearest one, and 敏感场所停留 — a long stop at a hotel, restaurant, scenic area or entertainment
venue on a rest day, at night, or with no order."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session, col, select

from core.i18n import tr
from fleet import reconcile
from fleet.models import Flag, Place, Stop
from fleet.places import Gazetteer, describe, direction
from fleet.trips import name_stops
from scheduler.imports import import_file
from tests.factories import make_order, make_unit, make_vehicle

WEDNESDAY = date(2024, 9, 18)  # a working day
SATURDAY = date(2024, 9, 21)  # a rest day
M_PER_DEG_LAT = 111_195.0


def _china(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def test_a_stop_is_at_the_nearest_place_whose_radius_holds_it() -> None:
    # a village with a wide radius and a hotel inside it: a stop by the hotel is at the hotel
    g = Gazetteer(np.array([37.0, 37.001]), np.array([112.0, 112.0]), np.array([1000.0, 80.0]))
    lat = np.array([37.0011, 37.0, 37.003, 37.05])
    named = g.name(lat, np.array([112.0, 112.0, 112.0, 112.0]))
    assert named.place.tolist() == [1, 0, 0, 1], "the far stop: the nearest place, the hotel"
    assert named.inside.tolist() == [True, True, True, False]
    assert named.metres[3] == pytest.approx((37.05 - 37.001) * M_PER_DEG_LAT, rel=1e-3)
    assert direction(named.bearing[3]) == "北" and direction(135) == "东南" and direction(350, True) == "N"


def test_describe_says_where_a_stop_is_in_one_language() -> None:
    assert describe("东坡村", 40, 10, True) == "东坡村"
    assert describe("东坡村", 1234, 45, False) == tr("东坡村 东北 1.2 km", "1.2 km NE of 东坡村")
    assert describe("东坡村", 347, 270, False) == tr("东坡村 西 350 m", "350 m W of 东坡村")
    assert describe(None, None, None, False) == ""


def test_the_index_names_as_a_scan_would() -> None:
    """Against a brute-force scan of every place, on random stops and places over a county."""
    rng = np.random.default_rng(7)
    p_lat, p_lon = 37 + rng.random(3000) * 0.5, 112 + rng.random(3000) * 0.5
    radius = rng.choice([50.0, 300.0, 800.0], 3000)
    s_lat, s_lon = 37 + rng.random(800) * 0.5, 112 + rng.random(800) * 0.5
    named = Gazetteer(p_lat, p_lon, radius).name(s_lat, s_lon)
    k = np.cos(np.radians(p_lat.mean()))
    d = np.hypot((s_lon[:, None] - p_lon[None, :]) * k, s_lat[:, None] - p_lat[None, :]) * M_PER_DEG_LAT
    within = np.where(d <= radius[None, :], d, np.inf)
    at = within.min(axis=1) < np.inf
    expected = np.where(at, within.argmin(axis=1), d.argmin(axis=1))
    assert at.sum() > 50 and (~at).sum() > 50, "both cases are exercised"
    assert (named.inside == at).all()
    assert (named.place == expected).all()
    assert np.allclose(named.metres, d[np.arange(len(d)), expected], rtol=1e-3)


def _stop(
    session: Session, vehicle_id: int, device: str, start: datetime, minutes: int, lat: float, lon: float
):
    stop = Stop(
        vehicle_id=vehicle_id, device_id=device, start_at=start, end_at=start + timedelta(minutes=minutes),
        lat=lat, lon=lon, duration_s=minutes * 60,
    )  # fmt: skip
    session.add(stop)
    session.flush()
    return stop


def _places_file(tmp_path: Path, rows: list[str]) -> Path:
    path = tmp_path / "地名库.csv"
    path.write_text("名称,类型,经度,纬度,半径米\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_the_places_import_names_the_stops_and_refuses_bad_rows(session: Session, tmp_path: Path) -> None:
    unit = make_unit(session, name="城关镇", lat=37.70, lon=112.70)
    car = make_vehicle(session, unit)
    assert car.id is not None and car.tracker_id
    office = _stop(session, car.id, car.tracker_id, _china(WEDNESDAY, 9), 20, 37.7001, 112.7001)
    farm = _stop(session, car.id, car.tracker_id, _china(WEDNESDAY, 11), 20, 37.7300, 112.7300)
    assert name_stops(session) == 2
    session.refresh(office), session.refresh(farm)
    assert (office.place_name, office.place_inside) == ("城关镇", True), "a unit's location is a place"
    assert farm.place_name == "城关镇" and not farm.place_inside and farm.place_m and farm.place_m > 3000

    bad = import_file(
        session, "places", _places_file(tmp_path, ["东坡村,村,112.73,,", "某宾馆,洗脚城,112.71,37.71,"])
    )
    assert not bad.committed and bad.rejected == 2
    where = {(e.line, e.header) for e in bad.errors}
    assert (2, "纬度") in where and (3, "类型") in where, bad.errors
    assert session.exec(select(Place)).all() == []

    good = import_file(
        session,
        "places",
        _places_file(tmp_path, ["东坡村,村,112.73,37.73,500", "红星宾馆,宾馆,112.71,37.71,"]),
    )
    assert good.committed and good.inserted == 2 and good.recut["stops_named"] == 2
    session.refresh(farm)
    assert (farm.place_name, farm.place_kind, farm.place_inside) == ("东坡村", "village", True)
    hotel = session.exec(select(Place).where(Place.name == "红星宾馆")).one()
    assert (hotel.kind, hotel.radius_m) == ("hotel", 300)
    again = import_file(
        session,
        "places",
        _places_file(tmp_path, ["东坡村,村,112.73,37.73,500", "红星宾馆,宾馆,112.71,37.71,"]),
    )
    assert again.committed and again.inserted == again.updated == 0 and again.unchanged == 2


def test_a_long_stop_at_a_hotel_is_flagged_off_duty_and_resolves_when_an_order_covers_it(
    session: Session,
) -> None:
    unit = make_unit(session, name="县文旅局", lat=37.60, lon=112.60)
    car = make_vehicle(session, unit)
    assert car.id is not None and car.tracker_id
    session.add(Place(name="红星宾馆", kind="hotel", lat=37.71, lon=112.71, radius_m=200))
    session.add(Place(name="东坡村", kind="village", lat=37.75, lon=112.75, radius_m=500))
    noon = _stop(session, car.id, car.tracker_id, _china(WEDNESDAY, 12), 45, 37.7101, 112.7101)
    _stop(session, car.id, car.tracker_id, _china(WEDNESDAY, 15), 20, 37.7101, 112.7101)  # too short
    _stop(session, car.id, car.tracker_id, _china(WEDNESDAY, 16), 90, 37.7501, 112.7501)  # a village
    name_stops(session)
    reconcile.reconcile_day(session, WEDNESDAY)
    (flag,) = session.exec(select(Flag).where(Flag.kind == "sensitive_stop")).all()
    assert flag.detail["why"] == "no_order" and flag.detail["place"] == "红星宾馆"
    assert flag.detail["minutes"] == 45 and flag.severity == "high" and flag.start_at == noon.start_at
    # running the day again changes nothing; an order that covers the noon resolves the flag
    again = reconcile.reconcile_day(session, WEDNESDAY)
    assert again.get("sensitive_stop_raised", 0) == 0
    make_order(session, car, planned_start_at=_china(WEDNESDAY, 11), planned_end_at=_china(WEDNESDAY, 14))
    reconcile.reconcile_day(session, WEDNESDAY)
    session.refresh(flag)
    assert flag.state == "resolved"


def test_on_a_rest_day_an_order_does_not_excuse_the_hotel(session: Session) -> None:
    unit = make_unit(session, name="县商务局")
    car = make_vehicle(session, unit)
    assert car.id is not None and car.tracker_id
    session.add(Place(name="山水农家乐", kind="restaurant", lat=37.8, lon=112.8, radius_m=150))
    _stop(session, car.id, car.tracker_id, _china(SATURDAY, 12), 60, 37.8002, 112.8)
    make_order(session, car, planned_start_at=_china(SATURDAY, 9), planned_end_at=_china(SATURDAY, 17))
    name_stops(session)
    reconcile.reconcile_day(session, SATURDAY)
    flags = session.exec(select(Flag).where(Flag.kind == "sensitive_stop").order_by(col(Flag.id))).all()
    assert [f.detail["why"] for f in flags] == ["rest_day"]


def test_gongwu_stops_names_a_cars_stops(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    from contextlib import nullcontext

    from typer.testing import CliRunner

    from gongwu import cli_report
    from gongwu.cli import app

    unit = make_unit(session, name="城关镇", lat=37.70, lon=112.70)
    car = make_vehicle(session, unit)
    assert car.id is not None and car.tracker_id
    _stop(session, car.id, car.tracker_id, _china(WEDNESDAY, 9), 20, 37.7001, 112.7001)
    _stop(session, car.id, car.tracker_id, _china(WEDNESDAY, 11), 20, 37.7300, 112.7000)
    name_stops(session)
    monkeypatch.setattr(cli_report, "open_session", lambda: nullcontext(session))
    out = CliRunner().invoke(app, ["stops", car.plate, "--date", WEDNESDAY.isoformat(), "--format", "json"])
    assert out.exit_code == 0, out.output
    places = [s["place"] for s in json.loads(out.stdout)["stops"]]
    assert places == ["城关镇", tr("城关镇 北 3.3 km", "3.3 km N of 城关镇")]

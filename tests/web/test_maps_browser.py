"""The maps in Chromium with no network (issue 23): a trip's map with no basemap — the service area, the
places, a scale, the track by speed, stops by their names — plays back; an MBTiles file the test makes is
served at /tiles and drawn under it; on a GCJ-02 basemap the track is drawn shifted while the API still
answers WGS-84."""

from __future__ import annotations

import sqlite3
import struct
import zlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.geo import wgs84_to_gcj02
from core.settings import Settings
from fleet.models import Place, Stop, Trip
from gongwu.app import create_app
from tests.web.conftest import County, sign_in
from tests.web.test_browser import ARGS, CHROMIUM, SHOTS, _need_browser, serve, sign_in_page

pytestmark = pytest.mark.browser


def _png(rgb: tuple[int, int, int]) -> bytes:
    """A 256×256 PNG of one colour, made here (no imaging library needed)."""
    raw = b"".join(b"\x00" + bytes(rgb) * 256 for _ in range(256))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    head = struct.pack(">IIBBBBB", 256, 256, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def _tile_xy(lat: float, lon: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - np.arcsinh(np.tan(np.radians(lat))) / np.pi) / 2 * n)
    return x, y


def make_mbtiles(path: Path, lat: tuple[float, float], lon: tuple[float, float], tile: bytes) -> int:
    """An MBTiles file (SQLite, TMS rows) with `tile` over the box at zooms 8–17; how many tiles."""
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE metadata (name TEXT, value TEXT)")
        conn.execute(
            "CREATE TABLE tiles (zoom_level INTEGER, tile_column INTEGER, tile_row INTEGER, tile_data BLOB)"
        )
        conn.executemany("INSERT INTO metadata VALUES (?, ?)", [("name", "test"), ("format", "png")])
        rows = []
        for z in range(8, 18):
            x0, y0 = _tile_xy(lat[1], lon[0], z)
            x1, y1 = _tile_xy(lat[0], lon[1], z)
            rows += [(z, x, 2**z - 1 - y, tile) for x in range(x0 - 1, x1 + 2) for y in range(y0 - 1, y1 + 2)]
        conn.executemany("INSERT INTO tiles VALUES (?, ?, ?, ?)", rows)
    return len(rows)


def _named_trip(county: County) -> tuple[Trip, list[Stop]]:
    """A trip of the demo county with stops around it that have names."""
    with Session(county.engine) as s:
        for trip in s.exec(select(Trip).order_by(col(Trip.distance_m).desc())).all():
            stops = s.exec(  # as the trip page lists them
                select(Stop)
                .where(
                    Stop.vehicle_id == trip.vehicle_id,
                    col(Stop.end_at) >= trip.start_at - timedelta(hours=1),
                    col(Stop.start_at) <= trip.end_at + timedelta(hours=1),
                )
                .order_by(col(Stop.start_at))
            ).all()
            if stops and all(x.place_name for x in stops):
                return trip, list(stops)
    raise AssertionError("no trip of the demo county has a named stop near it")


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    _need_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def offline(county: County) -> Iterator[str]:
    with serve(create_app(Settings(database_url=county.url), engine=county.engine)) as url:
        yield url


def _open(
    chromium: Any, server: str, county: County, width: int = 1440, role: str = "vehicle_manager"
) -> tuple[Any, list[str]]:
    page = sign_in_page(chromium, server, county.users[role], width)
    elsewhere: list[str] = []
    page.on("request", lambda r: elsewhere.append(r.url) if not r.url.startswith(server) else None)
    return page, elsewhere


@pytest.mark.parametrize("width", [1440, 390])
def test_the_trip_map_needs_no_network_names_its_stops_and_plays_back(
    chromium: Any, offline: str, county: County, width: int
) -> None:
    trip, stops = _named_trip(county)
    page, elsewhere = _open(chromium, offline, county, width)
    page.goto(f"/trips/{trip.id}")
    page.locator("#trip-map.leaflet-container").wait_for()
    assert page.locator("#trip-map path.track").count() >= 1, "the track, coloured by speed"
    assert page.locator("#trip-map .leaflet-control-scale").count() == 1
    assert page.locator("#trip-map path.leaflet-interactive").count() > 0
    names = page.locator("#trip-map .stop-label").all_inner_texts()
    assert names and all(n.strip() for n in names), "every stop carries its place's name"
    assert {s.place_name for s in stops} & {n.split(" ")[0] for n in names}
    assert page.locator("#trip-map .place-label").count() > 0, "the gazetteer's places are the map"
    table = page.locator("td.place").all_inner_texts()
    assert any(s.place_name and s.place_name in " ".join(table) for s in stops), (
        "named in the stops table too"
    )
    # playback: the head moves along the track, the slider with it
    before = page.evaluate("window.gongwuMaps[0].playhead.getLatLng()")
    page.get_by_role("button", name="播放").click()
    for _ in range(100):  # (wait_for_function evaluates a string: the pages' CSP refuses that, rightly)
        if page.evaluate("Number(document.getElementById('trip-map-at').value)") > 3:
            break
        page.wait_for_timeout(50)
    page.get_by_role("button", name="暂停").click()
    after = page.evaluate("window.gongwuMaps[0].playhead.getLatLng()")
    assert after != before
    assert page.locator("#trip-map-playback output").inner_text().strip()
    # the page is the only origin asked for anything: the map works without the internet
    assert elsewhere == []
    wide = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 0
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"30-trip-map-{width}.png"), full_page=False)
    page.context.close()


def test_an_mbtiles_basemap_is_served_and_drawn(chromium: Any, county: County, tmp_path: Path) -> None:
    trip, _ = _named_trip(county)
    tile = _png((200, 220, 200))
    lat = (min(trip.start_lat, trip.end_lat) - 0.05, max(trip.start_lat, trip.end_lat) + 0.05)
    lon = (min(trip.start_lon, trip.end_lon) - 0.05, max(trip.start_lon, trip.end_lon) + 0.05)
    assert make_mbtiles(tmp_path / "county.mbtiles", lat, lon, tile) > 10
    settings = Settings(database_url=county.url, basemap=f"mbtiles:{tmp_path / 'county.mbtiles'}")
    app = create_app(settings, engine=county.engine)
    with TestClient(app) as c:
        sign_in(c, county.users["vehicle_manager"])
        x, y = _tile_xy(trip.start_lat, trip.start_lon, 12)
        r = c.get(f"/tiles/12/{x}/{y}")
        assert r.status_code == 200 and r.content == tile and r.headers["content-type"] == "image/png"
        assert c.get("/tiles/3/0/0").status_code == 204, "a tile the file has not"
    with serve(app) as server:
        page, elsewhere = _open(chromium, server, county)
        page.goto(f"/trips/{trip.id}")
        page.locator("#trip-map img.leaflet-tile-loaded").first.wait_for()
        assert page.locator("#trip-map img.leaflet-tile-loaded").count() >= 4
        assert elsewhere == []
        page.screenshot(path=str(SHOTS / "31-trip-map-mbtiles.png"), full_page=False)
        page.context.close()


def test_on_a_gcj02_basemap_the_track_is_drawn_shifted_and_the_api_stays_wgs84(
    chromium: Any, county: County
) -> None:
    trip, stops = _named_trip(county)
    settings = Settings(
        database_url=county.url, basemap="/static/none/{z}/{x}/{y}.png", basemap_datum="gcj02"
    )
    app = create_app(settings, engine=county.engine)
    with serve(app) as server:
        page, _ = _open(chromium, server, county)
        page.goto(f"/trips/{trip.id}")
        page.locator("#trip-map.leaflet-container").wait_for()
        first = page.evaluate("window.gongwuMaps[0].tracks[0].first")
        drawn_stop = page.evaluate("window.gongwuMaps[0].stops[0].getLatLng()")
        api = page.evaluate(f"fetch('/api/v1/trips/{trip.id}').then(r => r.json())")
        page.context.close()
    with Session(county.engine) as s:
        from core.timeutil import to_ts
        from fleet.trips import load_fixes

        fixes = load_fixes(s, trip.device_id, to_ts(trip.start_at), to_ts(trip.end_at))
    want_lat, want_lon = wgs84_to_gcj02(fixes["lat"][:1], fixes["lon"][:1])
    assert first == pytest.approx([want_lat[0], want_lon[0]], abs=2e-6)
    shift_m = np.hypot((first[0] - fixes["lat"][0]) * 111_195, (first[1] - fixes["lon"][0]) * 111_195 * 0.82)
    assert 100 < shift_m < 1000, "GCJ-02 is a few hundred metres off WGS-84 in China"
    s_lat, s_lon = wgs84_to_gcj02([stops[0].lat], [stops[0].lon])
    assert [drawn_stop["lat"], drawn_stop["lng"]] == pytest.approx([s_lat[0], s_lon[0]], abs=2e-6)
    assert (api["start_lat"], api["start_lon"]) == pytest.approx((trip.start_lat, trip.start_lon)), (
        "stored WGS-84"
    )


def test_places_table_is_not_empty_in_the_demo(county: County) -> None:
    with Session(county.engine) as s:
        assert len(s.exec(select(Place)).all()) >= 20


def test_the_vehicle_and_property_maps(chromium: Any, offline: str, county: County) -> None:
    """A car's day on one map; office properties coloured by certificate stage, a click opens one;
    shopfronts coloured by status."""
    trip, _ = _named_trip(county)
    page, elsewhere = _open(chromium, offline, county)
    page.goto(f"/vehicles/{trip.vehicle_id}?day={trip.service_day}")
    page.locator("#day-map.leaflet-container").wait_for()
    assert page.locator("#day-map path.track").count() >= 1
    assert page.locator("#day-map .stop-label").count() >= 1
    page.screenshot(path=str(SHOTS / "32-vehicle-day-map.png"), full_page=False)
    assert elsewhere == []
    page.context.close()
    page, elsewhere = _open(chromium, offline, county, role="property_clerk")
    page.goto("/properties/certificates")
    page.locator("#office-map.leaflet-container").wait_for()
    with Session(county.engine) as s:
        from property.models import OfficeProperty

        located = [p for p in s.exec(select(OfficeProperty)).all() if p.lat is not None]
    assert page.locator("#office-map path.point").count() == len(located) > 0
    assert page.locator("#office-map path.g-certified").count() >= 1, "coloured by stage"
    page.locator("#office-map").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "33-office-map.png"), full_page=False)
    page.locator("#office-map path.point").first.click(force=True)
    page.wait_for_url("**/properties/office/**")
    page.goto("/properties/operating")
    page.locator("#operating-map.leaflet-container").wait_for()
    assert page.locator("#operating-map path.point").count() > 0
    assert page.locator("#operating-map path.g-leased, #operating-map path.g-offered").count() > 0
    page.screenshot(path=str(SHOTS / "34-operating-map.png"), full_page=False)
    assert elsewhere == []
    page.context.close()


def test_names_from_files_are_text_on_the_map_never_markup(
    chromium: Any, offline: str, county: County
) -> None:
    trip, _ = _named_trip(county)
    evil = '<b id="injected">坏村</b>'
    with Session(county.engine) as s:
        place = Place(name=evil, kind="village", lat=trip.start_lat, lon=trip.start_lon, radius_m=50)
        s.add(place)
        s.commit()
        place_id = place.id
    try:
        page, _ = _open(chromium, offline, county)
        page.goto(f"/trips/{trip.id}")
        page.locator("#trip-map.leaflet-container").wait_for()
        assert page.evaluate("document.getElementById('injected')") is None
        assert evil in page.locator("#trip-map .place-label").all_inner_texts()
        page.context.close()
    finally:
        with Session(county.engine) as s:
            row = s.get(Place, place_id)
            if row is not None:
                s.delete(row)
                s.commit()

"""The maps of the pages (Leaflet, vendored in static/vendor/leaflet): what a map shows, as the JSON that
static/gongwu-map.js draws — the basemap from the settings, the service area, the places, tracks, stops —
and the MBTiles basemap served at /tiles/{z}/{x}/{y}. Stored data is WGS-84; on a GCJ-02 basemap every
coordinate sent to the page is shifted for display (core/geo.py), never what is stored or the API's."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from fastapi import APIRouter, Request, Response
from sqlmodel import Session, col, select

from core.errors import NotFound
from core.geo import wgs84_to_gcj02
from core.i18n import tr
from core.settings import Settings, get_settings
from core.timeutil import fmt_china, from_ts
from fleet.models import Place, ServiceArea, Stop
from fleet.places import describe
from gongwu.web.i18n import I18n

router = APIRouter()
SPEED_BANDS = (30, 60, 90, 120)  # km/h: the track's colours change at these speeds
TILE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp"}


def settings_of(request: Request) -> Settings:
    return getattr(request.app.state, "settings", None) or get_settings()


def basemap(settings: Settings, t: I18n) -> dict[str, Any]:
    """What the page's map lies on: nothing (the area, places and a scale), the served MBTiles, or a URL."""
    kind = settings.basemap
    if kind == "none":
        return {"kind": "none"}
    url = "/tiles/{z}/{x}/{y}" if kind.startswith("mbtiles:") else kind
    attribution = settings.basemap_attribution or (t("本地底图") if kind.startswith("mbtiles:") else "")
    return {
        "kind": "tiles",
        "url": url,
        "attribution": attribution,
        "datum": settings.basemap_datum,
        "maxZoom": settings.basemap_max_zoom,
        "subdomains": settings.basemap_subdomains or "abc",  # {s}: 天地图 t0–t7 is 01234567
    }


def tile_origin(settings: Settings) -> str:
    """The origin a URL-template basemap loads from, for the pages' content security policy ('' if none)."""
    if settings.basemap.startswith(("http://", "https://")):
        parts = urlsplit(settings.basemap.replace("{s}", "a"))
        host = parts.netloc
        if "{s}" in settings.basemap:  # subdomains a, b, c… of the same host
            host = "*." + host.split(".", 1)[1] if "." in host else host
        return f"{parts.scheme}://{host}"
    return ""


class Shift:
    """Coordinates as the basemap wants them drawn."""

    def __init__(self, settings: Settings) -> None:
        self.gcj = settings.basemap != "none" and settings.basemap_datum == "gcj02"

    def arrays(self, lat: Any, lon: Any) -> tuple[list[float], list[float]]:
        lat, lon = np.asarray(lat, dtype=float), np.asarray(lon, dtype=float)
        if self.gcj and len(lat):
            lat, lon = wgs84_to_gcj02(lat, lon)
        return np.round(lat, 6).tolist(), np.round(lon, 6).tolist()

    def point(self, lat: float, lon: float) -> list[float]:
        a, b = self.arrays([lat], [lon])
        return [a[0], b[0]]


def service_area(session: Session) -> dict[str, Any] | None:
    row = session.exec(select(ServiceArea).order_by(col(ServiceArea.id).desc())).first()
    return json.loads(row.geojson) if row is not None else None


def _shift_geojson(geo: dict[str, Any] | None, shift: Shift) -> dict[str, Any] | None:
    """The area's rings as [[lat, lon], …] lists (what Leaflet's polygon takes), shifted."""
    if geo is None:
        return None
    geometry = geo.get("geometry", geo) if geo.get("type") == "Feature" else geo
    if geo.get("type") == "FeatureCollection":
        geometry = (geo.get("features") or [{}])[0].get("geometry", {})
    polygons = geometry.get("coordinates", [])
    if geometry.get("type") == "Polygon":
        polygons = [polygons]
    out = []
    for polygon in polygons:
        rings = []
        for ring in polygon:
            arr = np.asarray(ring, dtype=float)
            lat, lon = shift.arrays(arr[:, 1], arr[:, 0])
            rings.append([[a, b] for a, b in zip(lat, lon, strict=True)])
        out.append(rings)
    return {"polygons": out}


def places_near(
    session: Session, lat: Sequence[float], lon: Sequence[float], shift: Shift, limit: int = 200
) -> list[dict[str, Any]]:
    """The gazetteer's places in the box around these points (and a margin), for labels."""
    if not len(lat):
        return []
    pad = 0.03
    rows = session.exec(
        select(Place)
        .where(
            col(Place.lat) >= min(lat) - pad, col(Place.lat) <= max(lat) + pad,
            col(Place.lon) >= min(lon) - pad, col(Place.lon) <= max(lon) + pad,
        )
        .order_by(col(Place.radius_m).desc(), col(Place.id))
        .limit(limit)
    ).all()  # fmt: skip
    return [
        {"name": p.name, "kind": p.kind, "at": shift.point(p.lat, p.lon), "radius": p.radius_m} for p in rows
    ]


def stop_name(stop: Stop) -> str:
    return describe(stop.place_name, stop.place_m, stop.place_bearing, stop.place_inside)


def track(t: I18n, fixes: dict[str, np.ndarray], shift: Shift) -> dict[str, Any]:
    """A track as the page draws it: points, each fix's time, speed and ACC for the hover and playback."""
    lat, lon = shift.arrays(fixes["lat"], fixes["lon"])
    speed = np.nan_to_num(fixes["speed_kmh"], nan=0.0)
    ign = fixes["ignition"]
    acc = [t("开") if i == 1 else t("关") if i == 0 else "" for i in ign.tolist()]
    return {
        "lat": lat,
        "lon": lon,
        "speed": np.round(speed, 1).tolist(),
        "band": np.searchsorted(SPEED_BANDS, speed, side="right").tolist(),
        "time": [fmt_china(from_ts(int(x)), seconds=True) for x in fixes["t"].tolist()],
        "acc": acc,
    }


def map_data(
    session: Session,
    request: Request,
    t: I18n,
    *,
    tracks: Sequence[dict[str, Any]] = (),
    stops: Sequence[Stop] = (),
    markers: Sequence[dict[str, Any]] = (),
    points: Sequence[dict[str, Any]] = (),
    groups: Sequence[dict[str, str]] = (),
    playback: bool = False,
    bounds_of: tuple[Sequence[float], Sequence[float]] | None = None,
) -> dict[str, Any]:
    """Everything one map shows. `tracks` come from `track()`, already shifted; stops and markers are
    given in WGS-84 and shifted here. `points` (lat, lon, group, title, href) are things on the map — a
    property — coloured by their `groups` entry (key, label, colour)."""
    settings = settings_of(request)
    shift = Shift(settings)
    lats = [x for tr_ in tracks for x in tr_["lat"]]
    lons = [x for tr_ in tracks for x in tr_["lon"]]
    raw_lat = (
        [s.lat for s in stops] + [m["lat"] for m in (*markers, *points)] + list((bounds_of or ([], []))[0])
    )
    raw_lon = (
        [s.lon for s in stops] + [m["lon"] for m in (*markers, *points)] + list((bounds_of or ([], []))[1])
    )
    around_lat, around_lon = shift.arrays(raw_lat, raw_lon)
    return {
        "basemap": basemap(settings, t),
        "area": _shift_geojson(service_area(session), shift),
        "places": places_near(session, lats + around_lat, lons + around_lon, shift),
        "tracks": list(tracks),
        "stops": [
            {
                "at": shift.point(s.lat, s.lon),
                "n": i,
                "name": stop_name(s) or t("未命名地点"),
                "title": f"{t.dt(s.start_at)} – {t.time(s.end_at)}, {t.duration(s.duration_s)}",
            }
            for i, s in enumerate(stops, start=1)
        ],
        "markers": [{**m, "at": shift.point(m["lat"], m["lon"])} for m in markers],
        "points": [
            {"at": shift.point(p["lat"], p["lon"]), **{k: p[k] for k in ("group", "title", "href")}}
            for p in points
        ],
        "groups": list(groups),
        "playback": playback,
        "labels": {
            "play": t("播放"), "pause": t("暂停"), "speed": t("速度"), "acc": "ACC", "kmh": t("公里/小时"),
            "stop": t("停留点"), "scale": t("比例尺"),
        },
        "datum": "gcj02" if shift.gcj else "wgs84",
    }  # fmt: skip


# --- the MBTiles basemap -----------------------------------------------------------------------------


def _mbtiles_path(settings: Settings) -> Path | None:
    if not settings.basemap.startswith("mbtiles:"):
        return None
    return Path(settings.basemap.removeprefix("mbtiles:")).expanduser()


def read_tile(path: Path, z: int, x: int, y: int) -> tuple[bytes, str] | None:
    """One tile of an MBTiles file (an SQLite file: rows in TMS order, y counted from the south) and its
    media type; None when the file has no such tile."""
    if not (0 <= z <= 22 and 0 <= x < 2**z and 0 <= y < 2**z):
        return None
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        row = conn.execute(
            "SELECT tile_data FROM tiles WHERE zoom_level = ? AND tile_column = ? AND tile_row = ?",
            (z, x, (2**z - 1) - y),
        ).fetchone()
        if row is None:
            return None
        fmt = conn.execute("SELECT value FROM metadata WHERE name = 'format'").fetchone()
    return bytes(row[0]), TILE_TYPES.get((fmt[0] if fmt else "png").lower(), "image/png")


@router.get("/tiles/{z}/{x}/{y}")
def tile(request: Request, z: int, x: int, y: str) -> Response:
    """A basemap tile from GONGWU_BASEMAP=mbtiles:FILE (y may carry an extension: 3.png)."""
    path = _mbtiles_path(settings_of(request))
    if path is None or not path.is_file():
        raise NotFound(
            tr("未配置本地底图（GONGWU_BASEMAP=mbtiles:文件）", "no MBTiles basemap is configured")
        )
    try:
        row = int(y.split(".", 1)[0])
    except ValueError:
        raise NotFound(tr("没有这个瓦片", "no such tile")) from None
    found = read_tile(path, z, x, row)
    if found is None:
        return Response(status_code=204, headers={"Cache-Control": "public, max-age=86400"})
    body, media = found
    return Response(body, media_type=media, headers={"Cache-Control": "public, max-age=86400"})

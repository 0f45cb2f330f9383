"""Naming a stop by the places around it (地名库): pure functions on arrays.

A stop is *at* the nearest place whose radius contains it; otherwise it is described by its distance and
direction from the nearest place ("东坡村 东北 1.2 km"). Coordinates are WGS-84 degrees; distances are
measured on a local plane (equirectangular about the places' mean latitude), which over a county (< 100 km)
is within a few metres of the great circle. Both lookups go through a shapely STRtree: 10,000 stops against
20,000 places take milliseconds, not the seconds of a scan (bench/places_bench.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from core.i18n import tr

EARTH_M = 6_371_008.8
DEFAULT_RADIUS_M = 300
_DIRECTIONS_ZH = ("北", "东北", "东", "东南", "南", "西南", "西", "西北")
_DIRECTIONS_EN = ("N", "NE", "E", "SE", "S", "SW", "W", "NW")


@dataclass(frozen=True)
class Named:
    """Per stop: the index of its place (-1: no place at all), the distance in metres, the bearing from
    the place to the stop in degrees from north, and whether the stop is within the place's radius."""

    place: NDArray[np.int64]
    metres: NDArray[np.float64]
    bearing: NDArray[np.float64]
    inside: NDArray[np.bool_]


class Gazetteer:
    """The places, indexed once, to name many stops."""

    def __init__(self, lat: NDArray[np.float64], lon: NDArray[np.float64], radius_m: NDArray[np.float64]):
        self.lat = np.asarray(lat, dtype=float)
        self.lon = np.asarray(lon, dtype=float)
        self.radius = np.asarray(radius_m, dtype=float)
        self.lat0 = float(np.mean(self.lat)) if len(self.lat) else 0.0
        x, y = self._plane(self.lat, self.lon)
        self.xy = np.column_stack([x, y])
        self.tree = shapely.STRtree(shapely.points(x, y)) if len(x) else None
        self.max_radius = float(self.radius.max()) if len(self.radius) else 0.0

    def _plane(self, lat: NDArray[np.float64], lon: NDArray[np.float64]) -> tuple[NDArray, NDArray]:
        k = np.pi / 180 * EARTH_M
        return np.asarray(lon) * k * np.cos(np.radians(self.lat0)), np.asarray(lat) * k

    def name(self, lat: NDArray[np.float64], lon: NDArray[np.float64]) -> Named:
        n = len(lat)
        place = np.full(n, -1, dtype=np.int64)
        metres = np.full(n, np.nan)
        inside = np.zeros(n, dtype=bool)
        if self.tree is None or n == 0:
            return Named(place, metres, np.full(n, np.nan), inside)
        x, y = self._plane(np.asarray(lat, dtype=float), np.asarray(lon, dtype=float))
        points = shapely.points(x, y)
        # at a place: every place within the largest radius, kept where within its own, nearest first
        stop_i, place_i = self.tree.query(points, predicate="dwithin", distance=self.max_radius)
        if len(stop_i):
            d = np.hypot(self.xy[place_i, 0] - x[stop_i], self.xy[place_i, 1] - y[stop_i])
            ok = d <= self.radius[place_i]
            stop_i, place_i, d = stop_i[ok], place_i[ok], d[ok]
            order = np.lexsort((d, stop_i))  # by stop, then nearest
            stop_i, place_i, d = stop_i[order], place_i[order], d[order]
            first = np.ones(len(stop_i), dtype=bool)
            first[1:] = stop_i[1:] != stop_i[:-1]
            place[stop_i[first]] = place_i[first]
            metres[stop_i[first]] = d[first]
            inside[stop_i[first]] = True
        # elsewhere: the nearest place, whatever its radius
        rest = np.flatnonzero(~inside)
        if len(rest):
            (which, nearest), dist = self.tree.query_nearest(
                points[rest], return_distance=True, all_matches=False
            )
            place[rest[which]] = nearest
            metres[rest[which]] = dist
        dx = x - self.xy[np.maximum(place, 0), 0]
        dy = y - self.xy[np.maximum(place, 0), 1]
        bearing = np.where(place >= 0, np.degrees(np.arctan2(dx, dy)) % 360, np.nan)
        return Named(place, metres, bearing, inside)


def direction(bearing: float, english: bool = False) -> str:
    """Degrees from north → one of the eight directions (东北, NE)."""
    names = _DIRECTIONS_EN if english else _DIRECTIONS_ZH
    return names[int(((bearing % 360) + 22.5) // 45) % 8]


def describe(name: str | None, metres: int | None, bearing: int | None, inside: bool) -> str:
    """A stop as a reader names it: 东坡村, or 东坡村 东北 1.2 km (English: 1.2 km NE of 东坡村)."""
    if not name:
        return ""
    if inside or metres is None or bearing is None:
        return name
    km = f"{metres / 1000:.1f} km" if metres >= 1000 else f"{int(round(metres, -1))} m"
    return tr(f"{name} {direction(bearing)} {km}", f"{km} {direction(bearing, True)} of {name}")

"""China's shifted datums → WGS-84, vectorised: GCJ-02 (国测局, the datum of AMap, Tencent and most
platforms built on them) and BD-09 (Baidu's, a further shift of GCJ-02). gongwu stores WGS-84 only; a
feed or file in another datum is converted once, at ingest.

GCJ-02 is the published obfuscation polynomial on the Krasovsky 1940 ellipsoid (a = 6378245 m,
e² = 0.00669342162296594323), as implemented in the public-domain / MIT references (e.g.
github.com/googollee/eviltransform, wandergis/coordtransform); it is not invertible in closed form, so
`gcj02_to_wgs84` iterates the forward shift to a fixed point (three rounds reach well under a centimetre at
county scale; tests/core/test_datum.py checks the round trip). BD-09 uses Baidu's published constants
(x_pi = π·3000/180); its inverse is refined the same way. Outside mainland China's bounding box GCJ-02
equals WGS-84, as the datum defines.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

A = 6378245.0
EE = 0.00669342162296594323
X_PI = np.pi * 3000.0 / 180.0
COORD_SYSTEMS = ("wgs84", "gcj02", "bd09")


def _in_china(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    return (lon > 72.004) & (lon < 137.8347) & (lat > 0.8293) & (lat < 55.8271)


def _shift(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """GCJ-02's offset (degrees of latitude, longitude) at a WGS-84 point."""
    x, y = lon - 105.0, lat - 35.0
    sq = np.sqrt(np.abs(x))
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sq
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sq
    common = (20.0 * np.sin(6.0 * x * np.pi) + 20.0 * np.sin(2.0 * x * np.pi)) * 2.0 / 3.0
    dlat += common + (20.0 * np.sin(y * np.pi) + 40.0 * np.sin(y / 3.0 * np.pi)) * 2.0 / 3.0
    dlat += (160.0 * np.sin(y / 12.0 * np.pi) + 320.0 * np.sin(y * np.pi / 30.0)) * 2.0 / 3.0
    dlon += common + (20.0 * np.sin(x * np.pi) + 40.0 * np.sin(x / 3.0 * np.pi)) * 2.0 / 3.0
    dlon += (150.0 * np.sin(x / 12.0 * np.pi) + 300.0 * np.sin(x / 30.0 * np.pi)) * 2.0 / 3.0
    rad = lat / 180.0 * np.pi
    magic = 1.0 - EE * np.sin(rad) ** 2
    root = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((A * (1.0 - EE)) / (magic * root) * np.pi)
    dlon = (dlon * 180.0) / (A / root * np.cos(rad) * np.pi)
    inside = _in_china(lat, lon)
    return np.where(inside, dlat, 0.0), np.where(inside, dlon, 0.0)


def _arrays(lat: object, lon: object) -> tuple[np.ndarray, np.ndarray]:
    return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


def wgs84_to_gcj02(lat: object, lon: object) -> tuple[np.ndarray, np.ndarray]:
    la, lo = _arrays(lat, lon)
    dlat, dlon = _shift(la, lo)
    return la + dlat, lo + dlon


def gcj02_to_wgs84(lat: object, lon: object, rounds: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The WGS-84 point whose GCJ-02 image is (lat, lon): the forward shift iterated to a fixed point."""
    la, lo = _arrays(lat, lon)
    wla, wlo = la.copy(), lo.copy()
    for _ in range(rounds):
        gla, glo = wgs84_to_gcj02(wla, wlo)
        wla, wlo = wla + (la - gla), wlo + (lo - glo)
    return wla, wlo


def bd09_to_gcj02(lat: object, lon: object, rounds: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Baidu's published inverse (off by up to ~15 cm), refined against the forward formula."""
    la, lo = _arrays(lat, lon)
    x, y = lo - 0.0065, la - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * X_PI)
    gla, glo = z * np.sin(theta), z * np.cos(theta)
    for _ in range(rounds):
        bla, blo = gcj02_to_bd09(gla, glo)
        gla, glo = gla + (la - bla), glo + (lo - blo)
    return gla, glo


def gcj02_to_bd09(lat: object, lon: object) -> tuple[np.ndarray, np.ndarray]:
    la, lo = _arrays(lat, lon)
    z = np.sqrt(lo * lo + la * la) + 0.00002 * np.sin(la * X_PI)
    theta = np.arctan2(la, lo) + 0.000003 * np.cos(lo * X_PI)
    return z * np.sin(theta) + 0.006, z * np.cos(theta) + 0.0065


def bd09_to_wgs84(lat: object, lon: object) -> tuple[np.ndarray, np.ndarray]:
    return gcj02_to_wgs84(*bd09_to_gcj02(lat, lon))


def wgs84_to_bd09(lat: object, lon: object) -> tuple[np.ndarray, np.ndarray]:
    return gcj02_to_bd09(*wgs84_to_gcj02(lat, lon))


TO_WGS84: dict[str, Callable[[object, object], tuple[np.ndarray, np.ndarray]]] = {
    "gcj02": gcj02_to_wgs84,
    "bd09": bd09_to_wgs84,
}


def to_wgs84(system: str, lat: object, lon: object) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates in `system` (wgs84, gcj02, bd09) as WGS-84."""
    if system == "wgs84":
        return _arrays(lat, lon)
    if system not in TO_WGS84:
        raise ValueError(f"unknown coordinate system {system!r}: one of {', '.join(COORD_SYSTEMS)}")
    return TO_WGS84[system](lat, lon)

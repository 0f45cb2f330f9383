"""China's datums (core/datum.py): the forward shifts agree with the published reference values
(wandergis/coordtransform's README, the same formulas as eviltransform), and GCJ-02 / BD-09 → WGS-84 →
back lands within a centimetre over a county — the issue asks for under 1 m."""

from __future__ import annotations

import numpy as np
import pytest

from core import datum


def test_the_forward_shifts_match_the_reference_values() -> None:
    assert np.allclose(
        datum.wgs84_to_gcj02(39.915, 116.404), (39.91640428150164, 116.41024449916938), atol=1e-12
    )
    assert np.allclose(
        datum.bd09_to_gcj02(39.915, 116.404), (39.90865673957631, 116.39762729119315), atol=1e-12
    )
    assert np.allclose(
        datum.gcj02_to_bd09(39.915, 116.404), (39.92133699351021, 116.41036949371029), atol=1e-12
    )


def _metres(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    k = 111_320.0
    return np.hypot((lat1 - lat2) * k, (lon1 - lon2) * k * np.cos(np.radians(lat1)))


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_a_county_round_trips_within_a_centimetre(system: str) -> None:
    rng = np.random.default_rng(7)
    lat = 37.69 + rng.uniform(-0.3, 0.3, 10_000)  # a county-sized box around 晋中
    lon = 112.73 + rng.uniform(-0.3, 0.3, 10_000)
    shifted = datum.wgs84_to_gcj02(lat, lon) if system == "gcj02" else datum.wgs84_to_bd09(lat, lon)
    assert _metres(lat, lon, *shifted).min() > 100  # the datums are hundreds of metres off
    back = datum.to_wgs84(system, *shifted)
    assert _metres(lat, lon, *back).max() < 0.01


def test_outside_china_gcj02_is_wgs84_and_unknown_systems_are_refused() -> None:
    assert datum.wgs84_to_gcj02(48.8566, 2.3522) == (48.8566, 2.3522)
    with pytest.raises(ValueError, match="gcj02"):
        datum.to_wgs84("utm", 1.0, 2.0)

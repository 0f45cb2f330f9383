"""Compliance rules (#21): the State Council's calendar with 调休, night use, leaving the service area,
overspeed — pure on arrays — then the tags stored by the nightly run, the flags they raise, the rule table,
the center's own calendar days and the service-area import."""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pytest
import shapely

from core.timeutil import CHINA, to_ts
from fleet import compliance
from fleet.compliance import ComplianceRules, ServiceArea, is_rest_day

RULES = ComplianceRules()


def ts(day: date, hh: int, mm: int = 0, ss: int = 0) -> int:
    return to_ts(datetime(day.year, day.month, day.day, hh, mm, ss, tzinfo=CHINA))


def test_the_state_council_calendar_with_make_up_working_days() -> None:
    assert not is_rest_day(date(2024, 9, 14)) and not is_rest_day(date(2024, 10, 12))  # Saturdays, 调休上班
    rest = [date(2024, 9, 16), date(2024, 9, 17)] + [date(2024, 10, d) for d in range(1, 8)]
    assert all(is_rest_day(d) for d in rest)
    assert not is_rest_day(date(2024, 9, 18)) and is_rest_day(date(2024, 9, 21))  # a Wednesday, a Saturday
    # the center's own days win; a year the package does not know is weekends only
    assert is_rest_day(date(2024, 9, 18), {date(2024, 9, 18): True})
    assert not is_rest_day(date(2024, 9, 21), {date(2024, 9, 21): False})
    assert is_rest_day(date(2099, 1, 3)) and not is_rest_day(date(2099, 1, 1))  # Saturday; a Thursday


def test_night_use_on_a_working_day() -> None:
    day = date(2024, 9, 18)  # a Wednesday
    start = np.array([ts(day, 21), ts(day, 19, 45), ts(day, 5, 40), ts(day, 12)])
    end = np.array([ts(day, 21, 30), ts(day, 20, 5), ts(day, 6, 10), ts(day, 13)])
    bits = compliance.time_tags(start, end, [False] * 4, RULES)
    assert [compliance.tag_names(int(b)) for b in bits] == [["off_hours"], [], ["off_hours"], []]
    assert compliance.night_overlap_s(start, end, RULES).tolist() == [1800, 300, 1200, 0]
    # a rest day's trip is rest_day (not also off_hours); a window that does not cross midnight
    assert compliance.tag_names(int(compliance.time_tags(start[:1], end[:1], [True], RULES)[0])) == [
        "rest_day"
    ]
    lunch = ComplianceRules(night_start="12:00", night_end="12:30")
    assert compliance.night_overlap_s(start[3:], end[3:], lunch).tolist() == [1800]


def test_overspeed_needs_thirty_seconds_above_the_limit() -> None:
    t = np.array([0, 15, 30, 100, 115], dtype=np.int64)
    trip = np.array([0, 0, 0, 1, 1])
    speed = np.array([130.0, 131, 129, 140, 140])
    lat = np.full(5, 37.7)
    lon = np.full(5, 112.7)
    found = compliance.overspeed(trip, t, speed, lat, lon, RULES)
    assert [(o.trip, o.seconds, o.max_kmh) for o in found] == [
        (0, 30, 131.0)
    ]  # 3 fixes over 30 s; not 2 over 15
    # without any speed from the tracker: the speed implied by distance over time (≈ 144 km/h here)
    step = 40 * 15 / 111_320  # 40 m/s (144 km/h) for 15 s, in degrees of latitude
    lat2 = 37.7 + step * np.arange(4)
    found = compliance.overspeed(np.zeros(4), np.arange(4) * 15, np.zeros(4), lat2, np.full(4, 112.7), RULES)
    assert len(found) == 1 and found[0].seconds == 30 and 140 < found[0].max_kmh < 150


def test_one_drift_fix_outside_is_not_leaving_two_are() -> None:
    square = shapely.box(112.6, 37.6, 112.8, 37.8)  # about 17.6 × 22 km
    area = ServiceArea(square, margin_m=1000)
    out_lat = 37.8 + 3000 / 110_574  # 3 km north of the boundary
    inside_lat = 37.7
    lat = np.array([inside_lat, out_lat, inside_lat, inside_lat, out_lat, out_lat, inside_lat])
    lon = np.full(7, 112.7)
    trip = np.array([0, 0, 0, 1, 1, 1, 1])
    outside = area.outside(lat, lon)
    assert outside.tolist() == [False, True, False, False, True, True, False]
    assert compliance.outside_runs(trip, outside, RULES.out_of_area_fixes).tolist() == [1]
    assert not area.outside(np.array([37.8 + 500 / 110_574]), np.array([112.7]))[0]  # 500 m out: within 1 km


def test_rule_values_are_checked() -> None:
    assert compliance.parse_rule("night_start", "21:5") == "21:05"
    assert compliance.parse_rule("overspeed_kmh", "100") == 100.0
    assert compliance.parse_rule("overspeed_s", "45") == 45
    for key, value in (
        ("night_start", "25:00"),
        ("overspeed_s", "4.5"),
        ("overspeed_kmh", "-1"),
        ("nope", 1),
    ):
        with pytest.raises(ValueError):
            compliance.parse_rule(key, value)

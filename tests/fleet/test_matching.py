"""The matching sweep, pure: rules of DESIGN §3 and agreement with the brute-force reference."""

from __future__ import annotations

import numpy as np
import pytest

from fleet.matching import NO_ORDER, match, match_brute_force

H = 3600
RULES = {"lead_s": 30 * 60, "lag_s": 60 * 60, "share": 0.5}


def one(trips: list[tuple[int, int, int]], orders: list[tuple[int, int, int]], **kw: float) -> list[int]:
    tv, ts, te = zip(*trips, strict=True) if trips else ((), (), ())
    ov, os_, oe = zip(*orders, strict=True) if orders else ((), (), ())
    result = match(tv, ts, te, ov, os_, oe, **{**RULES, **kw})  # type: ignore[arg-type]
    return result.trip_order.tolist()


def test_trip_inside_the_window_is_covered() -> None:
    assert one([(1, 9 * H, 10 * H)], [(1, 8 * H, 12 * H)]) == [0]


def test_other_vehicle_does_not_cover() -> None:
    assert one([(1, 9 * H, 10 * H)], [(2, 8 * H, 12 * H)]) == [NO_ORDER]


def test_lead_and_lag_pad_the_window() -> None:
    # A trip starting 30 min before the planned start and ending 60 min after the return is inside.
    assert one([(1, 8 * H - 1800, 12 * H + 3600)], [(1, 8 * H, 12 * H)]) == [0]
    # Without the padding it would have 4 h of 5.5 h inside: still covered; shrink the share to see it.
    assert one([(1, 8 * H - 1800, 12 * H + 3600)], [(1, 8 * H, 12 * H)], lead_s=0, lag_s=0, share=0.9) == [
        NO_ORDER
    ]


def test_exactly_half_covers_and_just_under_does_not() -> None:
    # Window [8:30, 11:00] with lead 30 / lag 60 around 9:00–10:00.
    assert one([(1, 10 * H, 12 * H)], [(1, 9 * H, 10 * H)]) == [0]  # 10:00–11:00 of 10:00–12:00 inside
    assert one([(1, 10 * H, 12 * H + 2)], [(1, 9 * H, 10 * H)]) == [NO_ORDER]


def test_zero_duration_trip_inside_closed_window() -> None:
    assert one([(1, 11 * H, 11 * H)], [(1, 9 * H, 10 * H)]) == [0]  # at the window's end
    assert one([(1, 11 * H + 1, 11 * H + 1)], [(1, 9 * H, 10 * H)]) == [NO_ORDER]


def test_best_cover_is_the_largest_overlap() -> None:
    trips = [(1, 9 * H, 11 * H)]
    orders = [(1, 10 * H, 12 * H), (1, 8 * H, 11 * H)]
    assert one(trips, orders) == [1]


def test_tie_goes_to_the_planned_window_then_the_nearest_start() -> None:
    # Both padded windows contain the trip fully; only the second contains it in its planned time.
    trips = [(1, 9 * H, 9 * H + 1200)]
    orders = [(1, 9 * H + 1500, 12 * H), (1, 8 * H, 12 * H)]
    assert one(trips, orders) == [1]
    # Both contain it in their planned time: the nearer planned start wins.
    orders = [(1, 6 * H, 12 * H), (1, 8 * H, 12 * H)]
    assert one(trips, orders) == [1]


def test_one_order_covers_out_and_back() -> None:
    trips = [(1, 9 * H, 10 * H), (1, 14 * H, 15 * H)]
    result = match([1, 1], [9 * H, 14 * H], [10 * H, 15 * H], [1], [8 * H], [15 * H], **RULES)  # type: ignore[arg-type]
    assert result.trip_order.tolist() == [0, 0]
    assert result.order_trips.tolist() == [2]
    assert one(trips, [(1, 8 * H, 15 * H)]) == [0, 0]


def test_orders_without_trip_count_cover_not_choice() -> None:
    # Two orders for the same trip: both cover it, only one is chosen, neither is "without trip".
    result = match(
        [1], [9 * H], [10 * H], [1, 1, 1], [8 * H, 8 * H, 20 * H], [11 * H, 12 * H, 21 * H], **RULES
    )  # type: ignore[arg-type]
    assert result.order_trips.tolist() == [1, 1, 0]
    assert result.orders_without_trip.tolist() == [2]


def test_empty_inputs() -> None:
    r = match([], [], [], [1], [0], [10], **RULES)  # type: ignore[arg-type]
    assert r.trip_order.tolist() == [] and r.orders_without_trip.tolist() == [0]
    r = match([1], [0], [10], [], [], [], **RULES)  # type: ignore[arg-type]
    assert r.trip_order.tolist() == [NO_ORDER]


def test_bad_intervals_are_refused() -> None:
    with pytest.raises(ValueError, match="ends before"):
        match([1], [10], [5], [], [], [], **RULES)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lengths"):
        match([1, 2], [0], [5], [], [], [], **RULES)  # type: ignore[arg-type]


def test_epoch_times_and_large_vehicle_ids() -> None:
    t0 = 1_717_200_000
    r = match([10**9], [t0], [t0 + 600], [10**9, 7], [t0 - 60, t0], [t0 + 900, t0 + 900], **RULES)  # type: ignore[arg-type]
    assert r.trip_order.tolist() == [0]


@pytest.mark.parametrize("seed", range(40))
def test_sweep_agrees_with_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, m, vehicles = int(rng.integers(0, 60)), int(rng.integers(0, 60)), int(rng.integers(1, 6))
    base = 1_717_200_000
    tv = rng.integers(0, vehicles, n)
    ts = base + rng.integers(0, 3 * 86400, n)
    # durations: instants, seconds, typical trips, long ones
    te = ts + rng.choice([0, 1, 300, 1800, 3600, 4 * 3600], n)
    ov = rng.integers(0, vehicles, m)
    os_ = base + rng.integers(0, 3 * 86400, m)
    oe = os_ + rng.choice([0, 600, 3600, 4 * 3600, 86400], m)
    # Duplicated windows make ties; the tie-break must agree too.
    if m > 2:
        os_[1], oe[1], ov[1] = os_[0], oe[0], ov[0]
    rules = {
        "lead_s": int(rng.choice([0, 1800, 3600])),
        "lag_s": int(rng.choice([0, 3600])),
        "share": float(rng.choice([0.0, 0.25, 0.5, 1.0])),
    }
    fast = match(tv, ts, te, ov, os_, oe, **rules)  # type: ignore[arg-type]
    slow = match_brute_force(tv, ts, te, ov, os_, oe, **rules)  # type: ignore[arg-type]
    np.testing.assert_array_equal(fast.trip_order, slow.trip_order)
    np.testing.assert_array_equal(fast.order_trips, slow.order_trips)


def test_sweep_is_fast_on_a_province_day() -> None:
    import time

    rng = np.random.default_rng(7)
    vehicles, n = 5000, 25000
    base = 1_717_200_000
    tv = rng.integers(0, vehicles, n)
    ts = base + rng.integers(0, 86400, n)
    te = ts + rng.integers(300, 7200, n)
    ov = tv.copy()
    os_ = ts - rng.integers(0, 3600, n)
    oe = te + rng.integers(0, 3600, n)
    t = time.perf_counter()
    r = match(tv, ts, te, ov, os_, oe, **RULES)  # type: ignore[arg-type]
    assert time.perf_counter() - t < 2.0
    assert (r.trip_order != NO_ORDER).mean() > 0.9

"""Which approved order covers which trip — pure NumPy, no database.

An order covers a trip of the same vehicle when at least `share` of the trip's duration lies inside the
order's padded window [planned start − lead, planned end + lag] (DESIGN §3). A trip of zero duration (one
instant) is covered when that instant lies inside the closed window. When several orders cover a trip the
best one wins: the largest overlap with the padded window, then with the planned window itself, then the
planned start nearest the trip's start, then the lower index — a total order, so the result is
deterministic.

The sweep: orders sorted by (vehicle, window start); the running maximum of their window ends is then
sorted too. For each trip two binary searches give the slice of orders that can touch it — everything
before `lo` ended before the trip started, everything from `hi` on starts after it ended — so the work is
O((trips + orders) · log orders) plus the candidate pairs, which is the number of orders of a vehicle open
at once (one or two in practice).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NO_ORDER = -1


@dataclass(frozen=True)
class MatchResult:
    trip_order: np.ndarray  # per trip: index of its best covering order, NO_ORDER when none
    order_trips: np.ndarray  # per order: how many trips it covers (chosen as best or not)

    @property
    def orders_without_trip(self) -> np.ndarray:
        """Indices of the orders that cover no trip at all."""
        return np.flatnonzero(self.order_trips == 0)


def _i64(a: object) -> np.ndarray:
    return np.asarray(a, dtype=np.int64).ravel()


def match(
    trip_vehicle: object,
    trip_start: object,
    trip_end: object,
    order_vehicle: object,
    order_start: object,
    order_end: object,
    *,
    lead_s: int,
    lag_s: int,
    share: float,
) -> MatchResult:
    """Match trips to approved orders. Times are integer epoch seconds, vehicles any integer ids; pass
    approved (dispatched, returned) orders only (a submitted or rejected order covers nothing)."""
    tv, ts, te = _i64(trip_vehicle), _i64(trip_start), _i64(trip_end)
    ov, os_, oe = _i64(order_vehicle), _i64(order_start), _i64(order_end)
    n, m = len(tv), len(ov)
    if not (len(ts) == len(te) == n and len(os_) == len(oe) == m):
        raise ValueError("trip and order arrays must have matching lengths")
    if (te < ts).any() or (oe < os_).any():
        raise ValueError("an interval ends before it starts")
    trip_order = np.full(n, NO_ORDER, dtype=np.int64)
    order_trips = np.zeros(m, dtype=np.int64)
    if n == 0 or m == 0:
        return MatchResult(trip_order, order_trips)

    ws, we = os_ - lead_s, oe + lag_s
    # One composite key per (vehicle, time) keeps every vehicle's intervals in their own band of a single
    # sorted array: shift times to start at 0 and give each vehicle a band wider than the whole span.
    base = min(int(ts.min()), int(ws.min()))
    span = max(int(te.max()), int(we.max())) - base + 1
    vehicles, inverse = np.unique(np.concatenate([tv, ov]), return_inverse=True)
    if len(vehicles) * span >= 2**62:
        raise ValueError("time span too wide to match in one call")
    band = inverse.astype(np.int64) * span
    t_band, o_band = band[:n], band[n:]

    order_idx = np.lexsort((ws, o_band))
    key_start = (o_band + ws - base)[order_idx]
    # Running max of window ends: bands increase, so the maximum never leaks into the next vehicle.
    key_end_max = np.maximum.accumulate((o_band + we - base)[order_idx])

    lo = np.searchsorted(key_end_max, t_band + ts - base, side="left")
    hi = np.searchsorted(key_start, t_band + te - base, side="right")
    counts = np.maximum(hi - lo, 0)
    total = int(counts.sum())
    if total == 0:
        return MatchResult(trip_order, order_trips)

    # Expand the candidate pairs (trip i, sorted position k) with lo[i] <= k < hi[i].
    pair_trip = np.repeat(np.arange(n), counts)
    first = np.cumsum(counts) - counts
    pair_pos = np.arange(total) - np.repeat(first, counts) + np.repeat(lo, counts)
    pair_order = order_idx[pair_pos]

    p_ts, p_te = ts[pair_trip], te[pair_trip]
    p_ws, p_we = ws[pair_order], we[pair_order]
    touches = (p_ws <= p_te) & (p_we >= p_ts)
    overlap = np.minimum(p_te, p_we) - np.maximum(p_ts, p_ws)
    duration = p_te - p_ts
    covers = touches & np.where(duration > 0, overlap >= share * duration - 1e-9, True)
    if not covers.any():
        return MatchResult(trip_order, order_trips)

    pair_trip, pair_order = pair_trip[covers], pair_order[covers]
    overlap = np.maximum(overlap[covers], 0)
    p_ts, p_te = p_ts[covers], p_te[covers]
    core = np.maximum(np.minimum(p_te, oe[pair_order]) - np.maximum(p_ts, os_[pair_order]), 0)
    # A zero-duration trip inside the planned window itself beats one inside the slack only.
    core = np.where(p_te == p_ts, (os_[pair_order] <= p_ts) & (p_ts <= oe[pair_order]), core)
    nearness = np.abs(os_[pair_order] - p_ts)

    order_trips = np.bincount(pair_order, minlength=m).astype(np.int64)
    # Best per trip: sort by trip, then by preference; the first pair of each trip wins.
    rank = np.lexsort((pair_order, nearness, -core, -overlap, pair_trip))
    best_trip = pair_trip[rank]
    first_of_trip = np.ones(len(rank), dtype=bool)
    first_of_trip[1:] = best_trip[1:] != best_trip[:-1]
    trip_order[best_trip[first_of_trip]] = pair_order[rank][first_of_trip]
    return MatchResult(trip_order, order_trips)


def match_brute_force(*arrays: object, lead_s: int, lag_s: int, share: float) -> MatchResult:
    """The O(trips · orders) reference the sweep is tested against: the same arrays as `match` (trip
    vehicle, start, end; order vehicle, start, end), the same rules, plain Python."""
    tv, ts, te, ov, os_, oe = (_i64(a) for a in arrays)
    trip_order = np.full(len(tv), NO_ORDER, dtype=np.int64)
    order_trips = np.zeros(len(ov), dtype=np.int64)
    for i in range(len(tv)):
        best: tuple[int, int, int, int] | None = None
        for j in range(len(ov)):
            if ov[j] != tv[i]:
                continue
            a, b = int(os_[j]) - lead_s, int(oe[j]) + lag_s
            s, e = int(ts[i]), int(te[i])
            if a > e or b < s:
                continue
            overlap = min(e, b) - max(s, a)
            if e > s and overlap < share * (e - s) - 1e-9:
                continue
            order_trips[j] += 1
            core = int(os_[j] <= s <= oe[j]) if e == s else max(min(e, int(oe[j])) - max(s, int(os_[j])), 0)
            key = (-max(overlap, 0), -core, abs(int(os_[j]) - s), j)
            if best is None or key < best:
                best = key
        if best is not None:
            trip_order[i] = best[3]
    return MatchResult(trip_order, order_trips)

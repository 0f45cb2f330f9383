"""A deterministic demo county: units, vehicles with trackers, a month of realistic positions (parked
jitter and spikes, tunnel gaps, trips across midnight), orders with the usual share missing, expenses, 66
office properties at mixed certificate stages, shopfronts, a two-round lease auction, leases.

Everything is generated from one seed as rows keyed by the import templates' English field names, so the
demo goes in through the same import path a county uses (see gongwu/demo.py).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import numpy as np

from core.timeutil import CHINA
from fleet.rules import a_year_on

SEAT = (35.026, 111.007)  # the county seat (lat, lon)
TOWNSHIPS = [
    "城关镇",
    "东郭镇",
    "西张镇",
    "南卫乡",
    "北相镇",
    "王村镇",
    "陶村镇",
    "泓芝驿镇",
    "三路里镇",
    "王范乡",
    "解州镇",
    "龙居镇",
]
DEPARTMENTS = [
    "县委办公室",
    "县政府办公室",
    "县财政局",
    "县教育局",
    "县卫生健康局",
    "县自然资源局",
    "县交通运输局",
    "县农业农村局",
    "县水利局",
    "县住建局",
    "县市场监管局",
    "县公安局",
    "县民政局",
    "县应急管理局",
    "县机关事务服务中心",
]
MODELS = [
    "大众帕萨特",
    "丰田凯美瑞",
    "别克GL8",
    "本田雅阁",
    "比亚迪汉EV",
    "长城哈弗H6",
    "五菱宏光",
    "江淮瑞风",
]
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = ["伟", "芳", "军", "洋", "敏", "静", "强", "磊", "涛", "明", "超", "霞", "平", "刚", "杰"]
PLACES = [
    "城关镇政府",
    "县人民医院",
    "市行政审批局",
    "高速口",
    "工业园区",
    "南卫乡中学",
    "黄河湿地",
    "盐湖区会议中心",
    "解州关帝庙",
    "龙居水库",
    "西张村委会",
    "王村镇卫生院",
]
# the destinations' types in the gazetteer; a meeting centre with rooms is a hotel, a place a long stop
# off duty is flagged at (敏感场所)
PLACE_KINDS = {
    "城关镇政府": "unit", "县人民医院": "unit", "市行政审批局": "unit", "高速口": "other",
    "工业园区": "other", "南卫乡中学": "unit", "黄河湿地": "scenic", "盐湖区会议中心": "hotel",
    "解州关帝庙": "scenic", "龙居水库": "scenic", "西张村委会": "village", "王村镇卫生院": "unit",
}  # fmt: skip
VILLAGES = [
    "东坡村", "西岭村", "南庄村", "北垣村", "柳树湾", "杏花村", "石门村", "上王村", "下王村", "马家庄",
    "李家堡", "赵村", "孙家岭", "周庄", "吴村", "郑家河", "沟东村", "坡底村", "中社村", "槐树坪",
]  # fmt: skip
EXTRAS = [
    ("中石化城关加油站", "fuel", 800, -600), ("县公务用车定点维修厂", "repair", -900, 1200),
    ("福源农家乐", "restaurant", 2500, 3100), ("金色年华KTV", "entertainment", -1800, -2200),
]  # fmt: skip
PURPOSES = ["下乡督导检查", "参加会议", "送达文件", "防汛检查", "项目现场调研", "接待考察", "安全生产检查"]


@dataclass
class DemoCounty:
    today: date
    days: list[date]
    units: list[dict[str, Any]] = field(default_factory=list)
    vehicles: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    expenses: list[dict[str, Any]] = field(default_factory=list)
    drivers: list[dict[str, Any]] = field(default_factory=list)
    positions: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # device -> arrays
    properties: list[dict[str, Any]] = field(default_factory=list)
    operating: list[dict[str, Any]] = field(default_factory=list)
    auctions: list[dict[str, Any]] = field(default_factory=list)
    leases: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # which plates were made idle/silent/...
    service_area: dict[str, Any] = field(default_factory=dict)  # GeoJSON, WGS-84
    places: list[dict[str, Any]] = field(default_factory=list)  # the gazetteer (地名库)
    # running costs (issue 25): two whole years before this one, and a few of this month's to flag
    fuel: list[dict[str, Any]] = field(default_factory=list)
    maintenance: list[dict[str, Any]] = field(default_factory=list)
    insurance: list[dict[str, Any]] = field(default_factory=list)
    inspections: list[dict[str, Any]] = field(default_factory=list)
    costs: list[dict[str, Any]] = field(default_factory=list)
    disposals: list[dict[str, Any]] = field(default_factory=list)  # steps, applied after the imports
    far_place: str = ""  # the destination outside the service area


def _gazetteer(destinations: list[tuple[float, float]], rng: random.Random) -> list[dict[str, Any]]:
    """地名库: every destination by its type, villages about the county, a fuel station, the repair shop and
    a few places a long stop off duty is flagged at (a farm restaurant, a KTV)."""
    rows = [
        {"name": name, "kind": PLACE_KINDS.get(name, "other"), "lat": round(lat, 6), "lon": round(lon, 6),
         "radius_m": 300}
        for name, (lat, lon) in zip(PLACES, destinations, strict=True)
    ]  # fmt: skip
    for name in VILLAGES:
        lat, lon = _offset(*SEAT, rng.uniform(-24000, 24000), rng.uniform(-24000, 24000))
        rows.append(
            {"name": name, "kind": "village", "lat": round(lat, 6), "lon": round(lon, 6), "radius_m": 600}
        )
    for name, kind, north, east in EXTRAS:
        lat, lon = _offset(*SEAT, north, east)
        rows.append({"name": name, "kind": kind, "lat": round(lat, 6), "lon": round(lon, 6), "radius_m": 150})
    return rows


def _service_area(destinations: list[tuple[float, float]]) -> dict[str, Any]:
    """The county around the seat, 56 km across, its north-east corner cut off 3 km short of the farthest
    destination that way: the trips there leave the county (出县)."""
    lat0, lon0 = SEAT
    k = np.cos(np.radians(lat0))
    reach = max((lon - lon0) * 111.32 * k + (lat - lat0) * 110.574 for lat, lon in destinations) - 3
    ring = [(-28, -28), (28, -28), (28, reach - 28), (reach - 28, 28), (-28, 28), (-28, -28)]
    coords = [[round(lon0 + e / (111.32 * k), 6), round(lat0 + n / 110.574, 6)] for e, n in ring]
    polygon = {"type": "Polygon", "coordinates": [coords]}
    feature = {"type": "Feature", "properties": {"name": "示范县"}, "geometry": polygon}
    return {"type": "FeatureCollection", "features": [feature]}


def _plant_overspeed(arrays: dict[str, np.ndarray]) -> bool:
    """Make one drive of this car report 128 km/h for a minute and a half (超速): the first run of 7 fast
    fixes on the open road."""
    fast = arrays["speed_kmh"] > 30
    run = np.convolve(fast.astype(int), np.ones(7, dtype=int), mode="valid")
    at = np.flatnonzero(run == 7)
    if not len(at):
        return False
    arrays["speed_kmh"][at[0] : at[0] + 7] = 128.0
    return True


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def _offset(lat: float, lon: float, north_m: float, east_m: float) -> tuple[float, float]:
    return lat + north_m / 111_320.0, lon + east_m / (111_320.0 * math.cos(math.radians(lat)))


def _ts(day: date, seconds: float) -> int:
    return int(datetime.combine(day, time(0), CHINA).timestamp() + seconds)


class _Track:
    """Accumulates one tracker's fixes as arrays."""

    def __init__(self, rng: np.random.Generator, lat: float, lon: float) -> None:
        self.rng, self.lat, self.lon = rng, lat, lon
        self.parts: list[tuple[np.ndarray, ...]] = []
        self.odometer = float(rng.integers(5_000_000, 90_000_000))

    def park(self, t0: int, t1: int, every: int = 300) -> None:
        """Heartbeats while parked: jitter of metres to tens of metres, now and then a spike of hundreds,
        sometimes with a small speed reported (the GPS drift the trip cutter must not turn into trips)."""
        t = np.arange(t0, t1, every, dtype=np.int64)
        if not len(t):
            return
        n = len(t)
        north, east = self.rng.normal(0, 8, n), self.rng.normal(0, 8, n)
        spikes = self.rng.random(n) < 0.004
        north[spikes] += self.rng.choice([-1, 1], spikes.sum()) * self.rng.uniform(150, 400, spikes.sum())
        speed = np.where(self.rng.random(n) < 0.05, self.rng.uniform(0.5, 4.0, n), 0.0)
        lat = self.lat + north / 111_320.0
        lon = self.lon + east / (111_320.0 * math.cos(math.radians(self.lat)))
        self.parts.append((t, lat, lon, speed, np.zeros(n, np.int8), np.full(n, self.odometer)))

    def drive(self, t0: int, dest: tuple[float, float], *, tunnel: bool = False) -> int:
        """Drive to `dest` with 10 s fixes; returns the arrival time."""
        (la0, lo0), (la1, lo1) = (self.lat, self.lon), dest
        dist = math.hypot((la1 - la0) * 111_320, (lo1 - lo0) * 111_320 * math.cos(math.radians(la0)))
        cruise = float(self.rng.uniform(38, 62))  # km/h
        duration = max(60.0, dist / (cruise / 3.6) * 1.25)
        n = int(duration // 10) + 1
        frac = np.linspace(0.0, 1.0, n)
        wobble = np.sin(frac * math.pi) * self.rng.normal(0, 0.004)  # roads are not straight lines
        lat = la0 + (la1 - la0) * frac + wobble
        lon = lo0 + (lo1 - lo0) * frac - wobble
        speed = np.clip(self.rng.normal(cruise, 8, n), 5, 110)
        speed[0] = speed[-1] = 0.0
        t = t0 + (frac * duration).astype(np.int64)
        legs = np.hypot(np.diff(lat) * 111_320, np.diff(lon) * 111_320 * math.cos(math.radians(la0)))
        odo = self.odometer + np.concatenate(([0.0], np.cumsum(legs)))
        keep = np.ones(n, dtype=bool)
        if tunnel and n > 60:  # a 2–6 minute coverage gap in the middle of the drive
            a = n // 2
            keep[a : a + int(self.rng.integers(12, 36))] = False
        self.parts.append(
            (t[keep], lat[keep], lon[keep], speed[keep], np.ones(keep.sum(), np.int8), odo[keep])
        )
        self.lat, self.lon, self.odometer = la1, lo1, float(odo[-1])
        return int(t[-1])

    def arrays(self) -> dict[str, np.ndarray]:
        cols = list(zip(*self.parts, strict=True)) if self.parts else [()] * 6
        t = np.concatenate(cols[0]) if self.parts else np.empty(0, np.int64)
        order = np.argsort(t, kind="stable")
        out = {"t": t[order]}
        for name, col in zip(("lat", "lon", "speed_kmh", "ignition", "odometer_m"), cols[1:], strict=True):
            out[name] = np.concatenate(col)[order] if self.parts else np.empty(0)
        _, first = np.unique(out["t"], return_index=True)
        return {k: v[first] for k, v in out.items()}


def _outing(
    track: _Track, clock: int, at: int, dest: tuple[float, float], stay_s: float, home: tuple[float, float]
) -> int:
    """A planted outing: parked until `at` (or half an hour after the last), to `dest`, `stay_s` there,
    home again; returns the time back."""
    depart = max(at, clock + 1800)
    track.park(clock, depart)
    arrive = track.drive(depart, dest)
    track.park(arrive, int(arrive + stay_s))
    return track.drive(int(arrive + stay_s), home)


@dataclass(frozen=True)
class _Plan:
    """The planted cases: a car away overnight (car, day) and a wrong car (order's car, other car, day)."""

    away: tuple[int, date | None]
    wrong: tuple[int, int, date | None]
    dest: tuple[float, float]


def _planted(
    county: DemoCounty, plan: _Plan, track: _Track, car: tuple[int, str, date, tuple[float, float]],
    clock: int, *, evening: bool,
) -> tuple[int, bool]:  # fmt: skip
    """Drive the planted cases of one car's day: (the clock after them, whether its usual outings are off)."""
    i, plate, d, home = car
    order_car, wrong_car, wrong_day = plan.wrong
    if evening and (i, d) == plan.away:  # to a driver's home 6 km away at 19:00, back at 07:30
        county.notes.setdefault("away_overnight", []).append(plate)
        return _outing(track, clock, _ts(d, 19 * 3600), _offset(*home, 6000, 0), 12.5 * 3600, home), False
    if evening or d != wrong_day or wrong_car < 0 or i not in (order_car, wrong_car):
        return clock, False
    if i == wrong_car:  # the order's car stays; this one drives in its window, unreported
        county.notes.setdefault("wrong_vehicle", []).append(plate)
        clock = _outing(track, clock, _ts(d, 15 * 3600), plan.dest, 1800, home)
    return clock, True


def build(today: date, *, days: int = 30, vehicles: int = 40, seed: int = 2024) -> DemoCounty:
    rng = random.Random(seed)
    nrng = np.random.default_rng(seed)
    day_list = [today - timedelta(days=days - i) for i in range(days)]
    county = DemoCounty(today=today, days=day_list)
    units: list[dict[str, Any]] = [{"name": n, "kind": "township"} for n in TOWNSHIPS]
    county.units = units + [{"name": n, "kind": "department"} for n in DEPARTMENTS]
    unit_names = [u["name"] for u in county.units]
    bases = {u: _offset(*SEAT, rng.uniform(-4000, 4000), rng.uniform(-4000, 4000)) for u in unit_names}
    for u in county.units:  # 办公地点: where a unit's cars without a 停放点 of their own spend the night
        u["lat"], u["lon"] = (round(x, 6) for x in bases[u["name"]])
    destinations = [_offset(*SEAT, rng.uniform(-25000, 25000), rng.uniform(-25000, 25000)) for _ in PLACES]
    county.far_place = PLACES[max(range(len(PLACES)), key=lambda j: sum(destinations[j]))]

    # Roles: a few cars never move (idle), one tracker goes silent, two cars never file an order; car 12
    # is kept in a garage of its own (停放点), car 13 spends a night at a driver's home (夜间未归), and car
    # 8's approved order of day -3 is driven by its unit's other car (车辆不符).
    idle = set(range(3))
    silent = {3}
    never_file = {4, 5}
    garage = 12
    plan = _Plan(
        away=(13, day_list[-4] if days >= 4 else None),
        wrong=(
            8,
            8 + len(unit_names) if 8 + len(unit_names) < vehicles else -1,
            day_list[-3] if days >= 3 else None,
        ),
        dest=destinations[0],
    )
    order_seq = 0
    for i in range(vehicles):
        unit = unit_names[i % len(unit_names)]
        home = _offset(*bases[unit], 1500, -1500) if i == garage else bases[unit]
        # every seventh car is a new-energy one (8-character plate)
        plate = f"晋M·D{10001 + i:05d}" if i % 7 == 6 else f"晋M·A{1001 + i * 37 % 9000:04d}"
        device = f"0139{i + 1:08d}"
        county.vehicles.append(
            {
                "plate": plate,
                "unit": unit,
                "model": MODELS[i % len(MODELS)],
                "tracker_id": device,
                "status": "in_service",
                "acquired_on": date(2016 + i % 8, 1 + i % 12, 1 + i % 27),
            }
        )
        if i == garage:
            county.vehicles[-1] |= {"home_lat": round(home[0], 6), "home_lon": round(home[1], 6)}
            county.notes.setdefault("garage", []).append(plate)
        track = _Track(nrng, *home)
        # idle cars have been parked since well before the demo month
        clock = _ts(day_list[0] - timedelta(days=40 if i in idle else 0), 0)
        silent_from = _ts(day_list[-5], 9 * 3600) if i in silent else None
        for d in day_list:
            outings = (
                0
                if i in idle
                else (rng.choice((0, 1, 1, 2)) if d.weekday() < 5 else rng.choice((0, 0, 0, 1)))
            )
            clock, quiet = _planted(county, plan, track, (i, plate, d, home), clock, evening=False)
            for _ in range(0 if quiet else outings):
                depart = max(_ts(d, rng.uniform(7.5, 15.5) * 3600), clock + 1800)
                track.park(clock, depart)
                dest = rng.choice(range(len(PLACES)))
                arrive = track.drive(depart, destinations[dest], tunnel=rng.random() < 0.15)
                # Late outings sometimes run past midnight.
                stay = rng.uniform(20, 120) * 60 if rng.random() > 0.05 else rng.uniform(7, 9) * 3600
                leave = int(arrive + stay)
                track.park(arrive, leave)
                back = track.drive(leave, home)
                clock = back
                order_seq += 1
                _maybe_order(county, rng, i, plate, unit, depart, back, PLACES[dest], order_seq, never_file)
            clock, _ = _planted(county, plan, track, (i, plate, d, home), clock, evening=True)
            clock_end = _ts(d + timedelta(days=1), 0)
            if clock < clock_end:
                track.park(clock, clock_end)
                clock = clock_end
        arrays = track.arrays()
        if i == 7 and _plant_overspeed(arrays):
            county.notes.setdefault("overspeed", []).append(plate)
        if silent_from is not None:
            keep = arrays["t"] < silent_from
            arrays = {k: v[keep] for k, v in arrays.items()}
        county.positions[device] = arrays
        for role, cars in (("idle", idle), ("silent", silent), ("never_file", never_file)):
            if i in cars:
                county.notes.setdefault(role, []).append(plate)

    # Approved orders whose car never went (有订单无轨迹).
    for k in range(4):
        if 8 + k >= vehicles or 3 + 2 * k > days:
            break
        v = county.vehicles[8 + k]
        d = day_list[-3 - 2 * k]
        order_seq += 1
        start = _ts(d, 14 * 3600 + 1800)
        county.orders.append(
            _order_row(
                rng, order_seq, v["plate"], v["unit"], start, start + 3 * 3600, "approved", rng.choice(PLACES)
            )
        )
    county.service_area = _service_area(destinations)
    county.places = _gazetteer(destinations, random.Random(seed + 2))
    _property_data(county, rng)
    _locate_properties(county, random.Random(seed + 3))
    _drivers(county, random.Random(seed + 1))  # a generator of its own: the rest stays as it was
    if vehicles >= COSTS_FROM_VEHICLES:
        _running_costs(county, random.Random(seed + 4))
    return county


COSTS_FROM_VEHICLES = 32  # the small demos of the tests keep to trips and flags
# the audit's two years: 31 cars ¥340,000, then 32 cars ¥491,000 (repairs paid without contract or reason)
AUDIT_YEARS = ((31, 34_000_000), (32, 49_100_000))
WORKSHOPS = ("县定点维修厂", "城关汽修", "顺达汽车服务")


def _running_costs(county: DemoCounty, rng: random.Random) -> None:
    """Two whole years of running costs for the cars the audit counted — 31 the first year, 32 the second
    (car 31 bought mid-year; the rest came this year) — totalling ¥340,000 and ¥491,000, the second with
    big repairs without an invoice or a reason; each car's insurance and inspection up to today, car 11's
    policy not renewed and car 10 past its inspection; this month a fill-up of an idle car, 95 L into car
    7's 60 L tank, a ¥5,000 repair without an invoice. Car 2 (idle) is proposed for disposal."""
    today = county.today
    # the two whole years before this one, or before last year when the demo's days begin in it (a
    # January demo): the demo's own orders and fill-ups never fall in the audit's years
    first_year = today.year - (2 if county.days[0].year == today.year else 3)
    cars = county.vehicles
    for i, v in enumerate(cars):
        if i < AUDIT_YEARS[0][0] and v["acquired_on"] >= date(first_year, 1, 1):
            v["acquired_on"] = v["acquired_on"].replace(year=first_year - 1)  # held all the first year
        elif i == AUDIT_YEARS[0][0]:
            v["acquired_on"] = date(first_year + 1, 6, 18)
        elif i > AUDIT_YEARS[0][0]:  # bought this year (the year the demo's days begin), before them
            v["acquired_on"] = max(county.days[0] - timedelta(days=60), date(county.days[0].year, 1, 1))
    cars[7]["tank_l"] = 60
    for k, (held, target_fen) in enumerate(AUDIT_YEARS):
        year = first_year + k
        spent = 0
        price = Decimal("7.60") + Decimal("0.45") * k  # 92# petrol, yuan a litre
        for i in range(min(held, len(cars))):
            plate = cars[i]["plate"]
            start = max(date(year, 1, 1), cars[i]["acquired_on"])
            for month in range(start.month, 13):
                litres = Decimal(rng.randint(38, 52))
                when = datetime(year, month, rng.randint(2, 26), rng.randint(8, 17), rng.choice((0, 30)),
                                tzinfo=CHINA)  # fmt: skip
                amount = (litres * price).quantize(Decimal("0.01"))
                county.fuel.append({
                    "plate": plate, "filled_at": when, "litres": float(litres), "amount": amount,
                    "card_no": f"YK{1000 + i}", "station": "中石化城关站",
                })  # fmt: skip
                spent += int(amount * 100)
            months = list(range(start.month, 13))
            for month in sorted(rng.sample(months, min(len(months), 1 + k + rng.randint(0, 1)))):
                amount = Decimal(rng.randint(300, 1800))
                day = date(year, month, rng.randint(1, 27))
                county.maintenance.append({
                    "plate": plate, "done_on": day, "workshop": rng.choice(WORKSHOPS), "kind": "service",
                    "amount": amount, "reason": "常规保养", "document_no": f"FP{year}{i:02d}{day:%m%d}",
                })  # fmt: skip
                spent += int(amount * 100)
            for item, lo, hi in (("parking", 60, 240), ("washing", 80, 200), ("tolls", 100, 500)):
                amount = Decimal(rng.randint(lo, hi))
                county.costs.append({"plate": plate, "spent_on": date(year, 12, rng.randint(1, 20)),
                                     "category": item, "amount": amount, "reason": "全年汇总"})  # fmt: skip
                spent += int(amount * 100)
        # the second year's repairs: big ones without an invoice, two without a reason
        if k == 1:
            for n in range(9):
                i = 14 + n * 2
                if i >= len(cars):
                    break
                amount = Decimal(rng.randint(4800, 14500))
                county.maintenance.append({
                    "plate": cars[i]["plate"], "done_on": date(year, 3 + n, 12), "workshop": WORKSHOPS[n % 3],
                    "kind": "repair", "amount": amount, "reason": "" if n in (2, 5) else "发动机维修",
                    "document_no": "",
                })  # fmt: skip
                spent += int(amount * 100)
        spent += _papers(county, rng, year, held)
        # the year's last bill makes the audit's figure
        if spent >= target_fen:
            raise AssertionError(f"demo costs of {year} already {spent} fen, over {target_fen}")
        county.maintenance.append({
            "plate": cars[held - 1]["plate"], "done_on": date(year, 12, 28), "workshop": WORKSHOPS[0],
            "kind": "repair", "amount": Decimal(target_fen - spent) / 100, "reason": "年度维修结算",
            "document_no": f"HT{year}-JS",
        })  # fmt: skip
    for year in range(first_year + len(AUDIT_YEARS), today.year + 1):  # the papers since, up to today
        _papers(county, rng, year, len(cars))
    _this_month(county)


def _papers(county: DemoCounty, rng: random.Random, year: int, held: int) -> int:
    """Each car's policy (from its month: car i's from month 1 + i % 12) and inspection of `year` that has
    begun by today; the premiums and fees, in fen, for the year's total."""
    today, spent = county.today, 0
    for i, v in enumerate(county.vehicles[:held]):
        start = max(date(year, 1 + i % 12, 1), v["acquired_on"])
        renewed = not (i == 11 and year == today.year)  # car 11's policy is not renewed this year
        if start.year == year and start <= today and renewed:
            premium = Decimal(rng.randint(3200, 4600))
            county.insurance.append({
                "plate": v["plate"], "insurer": rng.choice(("中国人保", "平安保险", "太平洋保险")),
                "policy_no": f"PDAA{year}{i:04d}", "start_on": start,
                "end_on": a_year_on(start) - timedelta(days=1), "premium": premium,
            })  # fmt: skip
            spent += int(premium * 100)
            if year == today.year - 1 and i == 11:  # so that its cover ends within the demo's days
                county.insurance[-1]["end_on"] = max(start, county.days[-6])
        inspected = date(year, 1 + (i + 5) % 12, 15)
        if inspected < v["acquired_on"] or inspected > today or (i == 10 and year == today.year):
            continue  # (car 10 was not inspected this year)
        due = date(year + 1, inspected.month, 14)
        if i == 10 and year == today.year - 1:  # car 10 fell due a week ago
            due = max(inspected + timedelta(days=1), today - timedelta(days=8))
        county.inspections.append({"plate": v["plate"], "inspected_on": inspected, "next_due_on": due,
                                   "station": "县机动车检测站", "amount": Decimal(160)})  # fmt: skip
        spent += 16_000
    return spent


def _this_month(county: DemoCounty) -> None:
    """A few of this month's records the nightly run flags, and car 2 (idle) on its way to disposal."""
    days, cars = county.days, county.vehicles
    idle = cars[0]["plate"]
    for plate, day, litres, amount in (
        (idle, days[-4], 45.0, "369.00"),
        (cars[7]["plate"], days[-3], 95.0, "779.00"),
    ):
        county.fuel.append({
            "plate": plate, "filled_at": datetime.combine(day, time(18, 30), CHINA), "litres": litres,
            "amount": Decimal(amount), "card_no": "YK1000", "station": "中石化城关站",
        })  # fmt: skip
    county.maintenance.append({
        "plate": cars[9]["plate"], "done_on": days[-5], "workshop": WORKSHOPS[1], "kind": "repair",
        "amount": Decimal(5000), "reason": "更换变速箱", "document_no": "",
    })  # fmt: skip
    county.costs.append({"plate": cars[9]["plate"], "spent_on": days[-5], "category": "washing",
                         "amount": Decimal(80), "reason": ""})  # fmt: skip
    county.disposals += [
        {"plate": cars[2]["plate"], "stage": "idle_proposed", "on": days[0], "document_no": ""},
        {
            "plate": cars[2]["plate"],
            "stage": "disposal_pending",
            "on": days[-10],
            "document_no": f"县机关事务〔{county.today.year}〕12号",
        },
    ]
    county.notes["fuel_anomaly"] = [idle, cars[7]["plate"]]
    county.notes["uninsured"] = [cars[11]["plate"]]
    county.notes["uninspected"] = [cars[10]["plate"]]


def _drivers(county: DemoCounty, rng: random.Random) -> None:
    """One driver per unit with cars, three for the center (its pool is dispatched to every unit)."""
    with_cars = sorted({v["unit"] for v in county.vehicles}, key=[u["name"] for u in county.units].index)
    center = "县机关事务服务中心"
    taken: set[str] = set()
    for unit in [*with_cars, *([center] * 3)]:
        name = _name(rng)
        while name in taken:
            name = _name(rng)
        taken.add(name)
        county.drivers.append(
            {"name": name, "unit": unit, "phone": f"139{rng.randrange(10**8):08d}", "licence_class": "C1"}
        )


def _order_row(
    rng: random.Random, seq: int, plate: str, unit: str, start: int, end: int, status: str, dest: str
) -> dict[str, Any]:
    return {
        "order_no": f"PC{seq:06d}",
        "plate": plate,
        "unit": unit,
        "applicant": _name(rng),
        "driver": _name(rng),
        "purpose": rng.choice(PURPOSES),
        "destination": dest,
        "planned_start": datetime.fromtimestamp(start, CHINA).replace(second=0),
        "planned_end": datetime.fromtimestamp(end, CHINA).replace(second=0),
        "status": status,
    }


def _maybe_order(
    county: DemoCounty,
    rng: random.Random,
    i: int,
    plate: str,
    unit: str,
    depart: int,
    back: int,
    dest: str,
    seq: int,
    never_file: set[int],
) -> None:
    if i in never_file:
        return
    roll = rng.random()
    if roll < 0.06:  # no order at all: the unreported trips the audit found
        return
    status = "approved" if roll < 0.90 else ("submitted" if roll < 0.95 else "rejected")
    start = depart - int(rng.uniform(0, 20)) * 60
    end = back + int(rng.uniform(-10, 30)) * 60
    county.orders.append(_order_row(rng, seq, plate, unit, start, end, status, dest))
    if dest == county.far_place:  # out of the county: three orders in four say so (是否出县), one forgets
        county.orders[-1]["out_of_county"] = "no" if seq % 4 == 0 else "yes"
    if status == "approved" and rng.random() < 0.7:
        county.expenses.append(
            {
                "order_no": f"PC{seq:06d}",
                "tolls": Decimal(rng.choice((0, 0, 15, 25, 35))),
                "meal_allowance": Decimal(rng.choice((0, 0, 30, 60))),
                "fuel": Decimal(rng.randint(4000, 20000)) / 100,
                "other": Decimal(rng.choice((0, 0, 0, 10))),
            }
        )


def _locate_properties(county: DemoCounty, rng: random.Random) -> None:
    """Where the properties are (a generator of their own: the audit's figures stay as they were): the
    office buildings about the seat, the shopfronts along 商贸街; a few without, for `gongwu geocode`."""
    for k, row in enumerate(county.properties):
        if k % 11 != 10:
            lat, lon = _offset(*SEAT, rng.uniform(-3000, 3000), rng.uniform(-3000, 3000))
            row["lat"], row["lon"] = round(lat, 6), round(lon, 6)
    for k, row in enumerate(county.operating):
        if k % 17 != 16:
            lat, lon = _offset(*SEAT, -600 + 4 * k, -1500 + 35 * k)  # one side of the street, 35 m apart
            row["lat"], row["lon"] = round(lat, 6), round(lon, 6)


def _property_data(county: DemoCounty, rng: random.Random) -> None:
    """The audit's figures: 66 office properties, 12 certified; 68 shopfronts auctioned → 61 sold, 6 unsold,
    1 withdrawn for 649,800 yuan a year; two takeovers overdue since the end of 2023."""
    units = [u["name"] for u in county.units]
    for k in range(66):
        base = date(2019, 3, 1) + timedelta(days=11 * k)
        row: dict[str, Any] = {
            "code": f"BG{k + 1:03d}",
            "name": units[k % len(units)]
            + ("办公楼" if k % 3 else "综合楼")
            + ("", "二号", "三号")[k // len(units)],
            "unit": units[k % len(units)],
            "address": rng.choice(["府前街", "解放路", "中山路", "建设路", "人民路"])
            + f"{rng.randint(1, 300)}号",
            "floor_area_m2": Decimal(rng.randint(800, 9000)),
            "surveyed_on": base,
        }
        # stage mix: 12 certified, the rest blocked at safety/seismic, fire, submission or the bureau
        stage = 5 if k < 12 else (1 if k < 38 else (2 if k < 52 else (3 if k < 60 else 4)))
        if stage >= 2 or (stage == 1 and k % 2):
            row["safety_appraised_on"] = base + timedelta(days=60)
        if stage >= 2:
            row["seismic_tested_on"] = base + timedelta(days=90)
        if stage >= 3:
            row["fire_accepted_on"] = base + timedelta(days=150)
        if stage >= 4:
            row["submitted_on"] = base + timedelta(days=200)
        if stage == 5:
            row["certificate_no"] = f"晋(2023)临猗县不动产权第{1000 + k:07d}号"
            row["certified_on"] = base + timedelta(days=260)
        county.properties.append(row)

    prices = _prices_summing(rng, 61, 649_800)
    sold_idx = 0
    batch = "2024年第1批"
    for k in range(68):
        code = f"MF{k + 1:03d}"
        county.operating.append(
            {
                "code": code,
                "address": f"商贸街{k + 1}号门面",
                "owner_unit": units[k % len(units)],
                "area_m2": Decimal(rng.randint(25, 160)),
                "status": "offered",
            }
        )
        reserve = Decimal(rng.randint(50, 120) * 100)
        rounds: list[tuple[str, Decimal | None]]
        if k < 61:
            rounds = [("unsold", None)] if k % 10 == 3 else []  # some sold only in round 2
            rounds.append(("sold", prices[sold_idx]))
            sold_idx += 1
        elif k < 67:
            rounds = [("unsold", None)]
        else:
            rounds = [("withdrawn", None)]
        for r, (_, price) in enumerate(rounds, start=1):  # never sold below the reserve price
            if price is not None:
                ceiling = price / (Decimal("0.8") if r == 2 else 1)
                reserve = min(reserve, (ceiling // 100) * 100)
        for r, (result, price) in enumerate(rounds, start=1):
            county.auctions.append(
                {
                    "batch": batch,
                    "lot": code,
                    "round": r,
                    "reserve_yuan": reserve * (Decimal("0.8") if r == 2 else 1),
                    "result": result,
                    "price_yuan": price,
                    "tenant": _name(rng) if result == "sold" else None,
                    "lease_start": date(2024, 7, 1) if result == "sold" else None,
                    "lease_end": date(2027, 6, 30) if result == "sold" else None,
                }
            )
    extra = [
        ("MF101", "self_used", None),
        ("MF102", "idle", None),
        ("MF103", "not_taken_over", date(2023, 12, 31)),
        ("MF104", "not_taken_over", date(2023, 12, 31)),
        ("MF105", "leased", None),
        ("MF106", "leased", None),
    ]
    for code, status, due in extra:
        county.operating.append(
            {
                "code": code,
                "address": f"鼓楼巷{code[-1]}号",
                "owner_unit": "县机关事务服务中心",
                "area_m2": Decimal(rng.randint(30, 90)),
                "status": status,
                "takeover_due_on": due,
            }
        )
    # two older leases: one ending within 30 days, one within 90
    for code, days_left in (("MF105", 20), ("MF106", 75)):
        end = county.today + timedelta(days=days_left)
        county.leases.append(
            {
                "code": code,
                "tenant": _name(rng),
                "annual_rent_yuan": Decimal(rng.randint(60, 150) * 100),
                "lease_start": end - timedelta(days=3 * 365),
                "lease_end": end,
                "deposit_yuan": Decimal(5000),
            }
        )


def _prices_summing(rng: random.Random, n: int, total_yuan: int) -> list[Decimal]:
    """n annual rents (whole hundreds of yuan) that add up to exactly total_yuan."""
    weights = [rng.uniform(0.6, 1.6) for _ in range(n)]
    scale = total_yuan / 100 / sum(weights)
    hundreds = [max(1, int(w * scale)) for w in weights]
    hundreds[-1] += total_yuan // 100 - sum(hundreds)
    return [Decimal(h * 100) for h in hundreds]

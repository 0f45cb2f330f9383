"""The audit's figures as import rows (the values the readers hand to the appliers): 66 office properties
of which 12 certified, 68 auction lots → 61 sold / 6 unsold / 1 withdrawn for 649,800 yuan a year, two
takeovers overdue since the end of 2023, and a few other shopfronts."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from core.importing import Row
from core.models import Unit

TODAY = date(2024, 8, 31)  # eight months after the takeovers fell due
CENTER, TOWN, EDU, FIN = "审计县机关事务服务中心", "审计县城关镇人民政府", "审计县教育局", "审计县财政局"
BATCH = "2024年门面房租赁权第一批"
LEASE_START, LEASE_END = date(2024, 3, 1), date(2029, 2, 28)
ANNUAL_RENT_FEN = 64_980_000  # 649,800 yuan

# (count, steps present) for the 66 office properties, in code order
OFFICE_GROUPS = [
    (12, ("survey", "safety", "seismic", "fire", "submission", "certificate")),
    (20, ("survey",)),
    (14, ("survey", "safety")),
    (10, ("survey", "safety", "seismic")),
    (6, ("survey", "safety", "seismic", "fire")),
    (4, ("survey", "safety", "seismic", "fire", "submission")),
]
STEP_DATES = {
    "survey": ("surveyed_on", date(2022, 5, 10)),
    "safety": ("safety_appraised_on", date(2023, 3, 1)),
    "seismic": ("seismic_tested_on", date(2023, 6, 1)),
    "fire": ("fire_accepted_on", date(2023, 9, 1)),
    "submission": ("submitted_on", date(2023, 11, 1)),
    "certificate": ("certified_on", date(2024, 1, 15)),
}


def make_units(session: Session) -> dict[str, Unit]:
    units = {}
    for name, kind in ((CENTER, "department"), (TOWN, "township"), (EDU, "department"), (FIN, "department")):
        unit = Unit(name=name, kind=kind)
        session.add(unit)
        units[name] = unit
    session.flush()
    return units


def as_rows(values: Iterable[Mapping[str, Any]]) -> list[Row]:
    """Rows as a file's lines: the header is line 1."""
    return [Row(line, dict(v)) for line, v in enumerate(values, start=2)]


def office_values() -> list[dict[str, Any]]:
    out = []
    n = 0
    for count, steps in OFFICE_GROUPS:
        for _ in range(count):
            n += 1
            v: dict[str, Any] = {
                "code": f"BG-{n:03d}",
                "name": f"办公楼{n}号",
                "unit": (CENTER, TOWN, EDU, FIN)[n % 4],
                "address": f"审计县城关镇府前街{n}号",
                "floor_area_m2": Decimal("1200.50") + n,
                "certificate_no": None,
            }
            for step, (name, day) in STEP_DATES.items():
                v[name] = day if step in steps else None
            if "certificate" in steps:
                v["certificate_no"] = f"晋(2024)审计县不动产权第{n:07d}号"
            out.append(v)
    return out


def operating_values() -> list[dict[str, Any]]:
    shopfronts = [
        {
            "code": f"MF-{n:03d}",
            "address": f"审计县解放路{n}号门面",
            "owner_unit": (CENTER, FIN)[n % 2],
            "area_m2": Decimal("45.60"),
            "status": "offered",
            "takeover_due_on": None,
        }
        for n in range(1, 69)
    ]
    others = [
        ("JY-01", "self_used", None),
        ("JY-02", "idle", None),
        ("JY-03", "not_taken_over", date(2023, 12, 31)),
        ("JY-04", "not_taken_over", date(2023, 12, 31)),
        ("JY-05", "not_taken_over", date(2024, 12, 31)),  # not yet due
        ("JY-06", "leased", None),
    ]
    return shopfronts + [
        {
            "code": code,
            "address": f"审计县北关街{code}",
            "owner_unit": CENTER,
            "area_m2": Decimal("120"),
            "status": status,
            "takeover_due_on": due,
        }
        for code, status, due in others
    ]


def sold_prices() -> list[int]:
    """61 annual prices in fen, some with jiao/fen, summing exactly to 649,800 yuan."""
    prices = [900_000 + 5_000 * k + (50 if k % 2 else 0) for k in range(60)]
    prices.append(ANNUAL_RENT_FEN - sum(prices))
    assert prices[-1] > 0
    return prices


def auction_values() -> list[dict[str, Any]]:
    prices = iter(sold_prices())
    out: list[dict[str, Any]] = []

    def rnd(n: int, round_no: int, result: str) -> dict[str, Any]:
        sold = result == "sold"
        return {
            "batch": BATCH,
            "lot": f"MF-{n:03d}",
            "round": round_no,
            "reserve_fen": 800_000 if round_no == 1 else 700_000,
            "result": result,
            "price_fen": next(prices) if sold else None,
            "tenant": f"承租人{n}" if sold else None,
            "lease_start": LEASE_START if sold else None,
            "lease_end": LEASE_END if sold else None,
        }

    for n in range(1, 59):  # 58 sold in round 1
        out.append(rnd(n, 1, "sold"))
    for n in range(59, 62):  # 3 unsold in round 1, sold in round 2
        out.append(rnd(n, 1, "unsold"))
    for n in range(62, 67):  # 5 unsold
        out.append(rnd(n, 1, "unsold"))
    out.append(rnd(67, 1, "unsold"))  # unsold twice
    out.append(rnd(68, 1, "withdrawn"))
    for n in range(59, 62):
        out.append(rnd(n, 2, "sold"))
    out.append(rnd(67, 2, "unsold"))
    return out


def lease_values() -> list[dict[str, Any]]:
    return [
        {
            "code": "JY-06",
            "tenant": "审计县便民超市",
            "annual_rent_fen": 3_600_000,
            "lease_start": date(2021, 9, 2),
            "lease_end": date(2024, 9, 1),  # ends tomorrow
            "deposit_fen": 300_000,
        }
    ]


def import_register(session: Any, actor: str = "clerk") -> None:
    """The audit's register in `session`, imported kind by kind as the pipeline would (no bad row)."""
    from property import imports as property_imports

    make_units(session)
    for apply, values in (
        (property_imports.apply_properties, office_values()),
        (property_imports.apply_operating_properties, operating_values()),
        (property_imports.apply_auctions, auction_values()),
        (property_imports.apply_leases, lease_values()),
    ):
        result = apply(session, as_rows(values), actor)
        assert result.issues == [], result.issues

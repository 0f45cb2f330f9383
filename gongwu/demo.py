"""`gongwu demo`: the demo county as a clerk would bring it — Excel and CSV files with Chinese headers
(one in GBK) — imported through the real import path, then the nightly run over every day."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.engine import Engine

from core import normalize
from core.timeutil import CHINA
from gongwu.demo_data import DemoCounty
from ingest.kinds import SPECS, get_kind

# (kind, file name, encoding for CSV); the order is the order of their dependencies
FILES = [
    ("units", "单位.xlsx", None),
    ("places", "地名库.xlsx", None),  # the gazetteer: stops named, sensitive places known
    ("vehicles", "车辆登记表.xlsx", None),
    ("drivers", "驾驶员名录.xlsx", None),
    ("orders", "派车单.csv", "gbk"),  # exports from the old approval system are GBK
    ("expenses", "出行费用.xlsx", None),
    ("positions", "定位数据.csv", "utf-8"),
    ("properties", "办公用房.xlsx", None),
    ("operating-properties", "经营性用房.xlsx", None),
    ("auctions", "门面房拍卖.xlsx", None),
    ("leases", "租赁合同.xlsx", None),
    # running costs (the default county only): the fuel card's statement, the workshops', the papers
    ("fuel", "加油记录.xlsx", None),
    ("maintenance", "维修保养.xlsx", None),
    ("insurance", "车辆保险.xlsx", None),
    ("inspections", "车辆年检.xlsx", None),
    ("costs", "其他费用.csv", "gbk"),
    ("service-area", "服务区域.geojson", "utf-8"),  # the county boundary: the out-of-area rule's
]


def _zh_words() -> dict[str, str]:
    """English enum codes → the Chinese word a clerk writes (the first word of each column's enum map)."""
    words: dict[str, str] = {}
    for spec in SPECS.values():
        for c in spec.columns:
            m = c.parse
            if isinstance(m, normalize.EnumMap):
                for code, zh in zip(m.codes, m.choices.split("/"), strict=True):
                    words.setdefault(f"{m.label}:{code}", zh)
    return words


def _cell(value: Any, enum_label: tuple[str, str] | None, words: dict[str, str]) -> Any:
    if value is None:
        return None
    if enum_label is not None:
        return words[f"{enum_label}:{value}"]
    if isinstance(value, datetime):
        return value.astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    return value


def _records(county: DemoCounty, kind: str) -> list[dict[str, Any]]:
    return {
        "units": county.units,
        "places": county.places,
        "vehicles": county.vehicles,
        "orders": county.orders,
        "expenses": county.expenses,
        "drivers": county.drivers,
        "properties": county.properties,
        "operating-properties": county.operating,
        "auctions": county.auctions,
        "leases": county.leases,
        "fuel": county.fuel,
        "maintenance": county.maintenance,
        "insurance": county.insurance,
        "inspections": county.inspections,
        "costs": county.costs,
    }[kind]


OPTIONAL = ("fuel", "maintenance", "insurance", "inspections", "costs")  # written when the county has them


def write_files(county: DemoCounty, folder: Path) -> list[tuple[str, Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    words = _zh_words()
    out = []
    for kind, name, encoding in FILES:
        if kind in OPTIONAL and not _records(county, kind):
            continue
        path = folder / name
        if kind == "positions":
            _write_positions(county, path)
        elif kind == "service-area":
            path.write_text(json.dumps(county.service_area, ensure_ascii=False), encoding="utf-8")
        else:
            t = get_kind(kind)
            fields = [f for f in t.columns if any(f.name in r for r in _records(county, kind))]
            labels = [f.parse.label if isinstance(f.parse, normalize.EnumMap) else None for f in fields]
            rows = [
                [_cell(r.get(f.name), lab, words) for f, lab in zip(fields, labels, strict=True)]
                for r in _records(county, kind)
            ]
            header = [f.header for f in fields]
            if encoding:
                with path.open("w", newline="", encoding=encoding) as fh:
                    w = csv.writer(fh)
                    w.writerow(header)
                    w.writerows(rows)
            else:
                _write_xlsx(path, t.title, header, rows)
        out.append((kind, path))
    return out


def _write_xlsx(path: Path, title: str, header: list[str], rows: list[list[Any]]) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31]
    ws.append([title])  # a merged title row above the header, as clerks make them
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(1, len(header)))
    ws.append(header)
    for row in rows:
        ws.append(row)
    wb.save(path)


def _write_positions(county: DemoCounty, path: Path) -> None:
    t = get_kind("positions")
    header = [t.column(n).header for n in ("device_id", "fixed_at", "lon", "lat", "speed_kmh", "course")]
    header += [t.column("ignition").header, "里程(m)"]
    with path.open("w", encoding="utf-8", newline="") as fh:
        fh.write(",".join(header) + "\n")
        for device, a in county.positions.items():
            local = np.datetime_as_string((a["t"] + 8 * 3600).astype("datetime64[s]"), unit="s")
            acc = np.where(a["ignition"] > 0, "开", "关")
            lines = [
                f"{device},{ts.replace('T', ' ')},{lo:.6f},{la:.6f},{sp:.1f},,{ig},{od:.0f}\n"
                for ts, lo, la, sp, ig, od in zip(
                    local.tolist(),
                    a["lon"].tolist(),
                    a["lat"].tolist(),
                    a["speed_kmh"].tolist(),
                    acc.tolist(),
                    a["odometer_m"].tolist(),
                    strict=True,
                )
            ]
            fh.writelines(lines)


def import_files(
    engine: Engine, files: list[tuple[str, Path]], *, on_file: Callable[[str, Any], None] | None = None
) -> None:
    """Each file in its own transaction, all-or-nothing, exactly as `gongwu import` does."""
    from core.db import unit_of_work
    from core.errors import ValidationFailed
    from scheduler.imports import import_file

    for kind, path in files:
        if kind == "service-area":
            from fleet import tags

            with unit_of_work(engine) as s:
                tags.import_service_area(s, path.read_text(encoding="utf-8"), name="示范县", actor="demo")
            continue
        with unit_of_work(engine) as s:
            # positions are cut by the nightly run the demo runs next
            report = import_file(s, kind, path, actor="demo", recut=False)
            if not report.committed:
                first = "; ".join(str(e) for e in report.errors[:3])
                raise ValidationFailed(f"demo file {path.name} did not import: {first}")
        if on_file is not None:
            on_file(kind, report)


def play_orders(engine: Engine, unit_name: str, today: date) -> dict[str, Any]:
    """The order life made in gongwu, on top of the imported county, as its people would leave it one
    morning: a request waiting for the unit's approver, one for the center, one for dispatch, one out
    with the driver, one back with its expenses; and the unit's answers to three of its flags — late
    orders (补报), two approved (their flags resolve as `late_order`), one still waiting. A step that the
    imported orders make impossible (a car already out then) is left out and counted."""
    from datetime import timedelta

    from sqlmodel import col, select

    from core.db import unit_of_work
    from core.errors import GongwuError
    from core.models import Unit
    from core.timeutil import as_utc
    from fleet import service
    from fleet.models import Driver, Flag, TripOrder, Vehicle

    staff, approver, manager = "demo_staff", "demo_approver", "demo_fleet"
    done: dict[str, Any] = {"orders": 0, "late_orders": 0, "skipped": 0, "driver": ""}

    def at(days: int, hour: int) -> datetime:
        return as_utc(datetime.combine(today + timedelta(days=days), datetime.min.time()).replace(hour=hour))

    with unit_of_work(engine) as s:
        unit = s.exec(select(Unit).where(Unit.name == unit_name)).one()
        cars = s.exec(
            select(Vehicle)
            .where(Vehicle.unit_id == unit.id, Vehicle.status == "in_service")
            .order_by(col(Vehicle.id))
        ).all()
        driver = s.exec(select(Driver).where(Driver.unit_id == unit.id).order_by(col(Driver.id))).first()
        if not cars or driver is None:
            return done
        done["driver"] = driver.name

        def approve_all(order: TripOrder) -> None:
            while (level := service.pending_level(s, order)) is not None:
                who, role = (approver, "unit_approver") if level == 1 else (manager, "vehicle_manager")
                if level == 1 and order.unit_id != unit.id:
                    who = "demo"  # another unit's approver
                service.decide_order(
                    s, order.id or 0, "approved", actor=who, role=role, unit_id=order.unit_id, comment="同意"
                )

        def step(purpose: str, destination: str, start: datetime, end: datetime, **kw: Any) -> None:
            stage = kw.pop("stage")
            try:
                with s.begin_nested():
                    order = service.create_order(
                        s, unit_id=unit.id, purpose=purpose, destination=destination, planned_start_at=start,
                        planned_end_at=end, applicant=staff, requested_by=staff, status="submitted",
                        actor=staff, **kw,
                    )  # fmt: skip
                    if stage == "center":
                        service.decide_order(
                            s, order.id or 0, "approved", actor=approver, role="unit_approver",
                            unit_id=unit.id, comment="同意，请中心审批",
                        )  # fmt: skip
                    if stage in ("dispatch", "out", "back"):
                        approve_all(order)
                    if stage in ("out", "back"):
                        service.dispatch_order(s, order.id or 0, driver_id=driver.id, actor=manager)
                    if stage == "back":
                        service.return_order(
                            s, order.id or 0, returned_at=end + timedelta(minutes=20), odometer_km=48,
                            expenses={"tolls_fen": 3000, "fuel_fen": 9650, "meal_allowance_fen": 0,
                                      "other_fen": 0}, actor=manager,
                        )  # fmt: skip
                done["orders"] += 1
            except GongwuError:
                done["skipped"] += 1

        car = cars[0].id
        step("到东坡村调研", "东坡村", at(1, 9), at(1, 11), stage="unit")
        step(
            "赴市里参加工作会议",
            "市政府",
            at(2, 8),
            at(2, 18),
            out_of_county=True,
            passengers=3,
            stage="center",
        )
        step("防汛物资检查", "县水库", at(1, 14), at(1, 16), vehicle_id=car, stage="dispatch")
        step("送文件到各乡镇", "各乡镇", at(0, 13), at(0, 17), vehicle_id=car, stage="out")
        step("下乡督导", "西张镇", at(-1, 9), at(-1, 12), vehicle_id=cars[-1].id, stage="back")

        # units answer three unreported trips with late orders (this unit's first); two get approved
        flags = s.exec(
            select(Flag)
            .where(Flag.kind == "unreported_trip", Flag.state == "open")
            .order_by(col(Flag.unit_id) != unit.id, col(Flag.start_at).desc())
            .limit(3)
        ).all()
        for i, flag in enumerate(flags):
            who = staff if flag.unit_id == unit.id else "demo"
            try:
                with s.begin_nested():
                    reply = service.reply_to_flag(
                        s, flag.id or 0, text="临时下乡检查，当时未及时申请，现补报",
                        late_order={"purpose": "临时下乡检查", "destination": "东坡村"}, actor=who,
                    )  # fmt: skip
                    late = s.get(TripOrder, reply.order_id)
                    if late is not None and i < 2:
                        approve_all(late)
                done["late_orders"] += 1
            except GongwuError:
                done["skipped"] += 1
    return done


def apply_disposals(engine: Engine, county: DemoCounty) -> int:
    """The demo's disposal steps, as the clerk records them (`gongwu dispose`)."""
    from sqlmodel import select

    from core.db import unit_of_work
    from fleet import service
    from fleet.models import Vehicle

    with unit_of_work(engine) as s:
        for step in county.disposals:
            car = s.exec(select(Vehicle).where(Vehicle.plate == step["plate"])).one()
            service.advance_disposal(
                s, car.id or 0, "demo", stage=step["stage"], on=step["on"], document_no=step["document_no"]
            )
    return len(county.disposals)

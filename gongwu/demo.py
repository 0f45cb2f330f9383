"""`gongwu demo`: the demo county as a clerk would bring it — Excel and CSV files with Chinese headers
(one in GBK) — imported through the real import path, then the nightly run over every day."""

from __future__ import annotations

import csv
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
    ("vehicles", "车辆登记表.xlsx", None),
    ("orders", "派车单.csv", "gbk"),  # exports from the old approval system are GBK
    ("expenses", "出行费用.xlsx", None),
    ("positions", "定位数据.csv", "utf-8"),
    ("properties", "办公用房.xlsx", None),
    ("operating-properties", "经营性用房.xlsx", None),
    ("auctions", "门面房拍卖.xlsx", None),
    ("leases", "租赁合同.xlsx", None),
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


def _cell(value: Any, enum_label: str | None, words: dict[str, str]) -> Any:
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
        "vehicles": county.vehicles,
        "orders": county.orders,
        "expenses": county.expenses,
        "properties": county.properties,
        "operating-properties": county.operating,
        "auctions": county.auctions,
        "leases": county.leases,
    }[kind]


def write_files(county: DemoCounty, folder: Path) -> list[tuple[str, Path]]:
    folder.mkdir(parents=True, exist_ok=True)
    words = _zh_words()
    out = []
    for kind, name, encoding in FILES:
        path = folder / name
        if kind == "positions":
            _write_positions(county, path)
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
        with unit_of_work(engine) as s:
            # positions are cut by the nightly run the demo runs next
            report = import_file(s, kind, path, actor="demo", recut=False)
            if not report.committed:
                first = "; ".join(str(e) for e in report.errors[:3])
                raise ValidationFailed(f"demo file {path.name} did not import: {first}")
        if on_file is not None:
            on_file(kind, report)

"""The `units` import kind (单位名录): the county's townships and departments, by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlmodel import Session

from core import normalize as n
from core.importing import ApplyResult, Column, ImportSpec, Row, by_column, keyed_rows, upsert
from core.models import Unit, UnitKind

unit_kind = n.EnumMap(
    ("单位类型", "unit kind"),
    {
        UnitKind.township: ["乡镇", "乡", "镇", "街道", "乡镇街道", "乡(镇)"],
        UnitKind.department: ["县直", "县直单位", "县直部门", "部门", "县直机关", "dept"],
    },
)


def apply_units(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Units by name: kind township | department (needed for a new unit), location (办公地点)."""
    result = ApplyResult()
    existing = by_column(session, Unit, Unit.name, [r.values.get("name") for r in rows])
    for r, name in keyed_rows(UNITS, rows, result, "name", Unit):
        unit = existing.get(name)
        values: dict[str, Any] = {}
        if r.has("kind") or unit is None:
            kind = r.choice("kind", UnitKind.codes(), required=True)
            if kind is None:
                continue
            values["kind"] = kind
        values |= r.point("lat", "lon")
        if not r.ok:
            continue
        existing[name], _ = upsert(
            session, result, model=Unit, obj=unit, values=values, actor=actor, key=name, init={"name": name}
        )
    return result


UNITS = ImportSpec(
    "units",
    "单位名录",
    (
        Column(
            "name",
            "单位名称",
            n.text,
            required=True,
            aliases=("单位", "名称", "单位全称", "unit", "unit name"),
            example="城关镇人民政府",
            hint="文字",
        ),
        Column(
            "kind",
            "类型",
            unit_kind,
            required=True,
            aliases=("单位类型", "类别", "单位性质", "type"),
            example="乡镇",
            hint=f"填 {unit_kind.choices}",
        ),
        Column(
            "lon",
            "经度",
            n.longitude,
            aliases=("办公地点经度", "lng", "longitude"),
            example=112.7342,
            hint="办公地点, WGS-84 度: 没有停放点的车辆夜间应停在这里",
        ),
        Column(
            "lat", "纬度", n.latitude, aliases=("办公地点纬度", "latitude"), example=37.6871, hint="WGS-84 度"
        ),
    ),
    key=("name",),
    apply=apply_units,
)
KINDS = (UNITS,)

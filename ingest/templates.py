"""The import templates of DESIGN §5 as data: per kind, its fields with Chinese and English headers, aliases,
whether required, and the normaliser of each; header matching; the downloadable XLSX template."""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import cached_property
from typing import Any

from ingest import normalize as n

Parse = Callable[[object], Any]
# A row rule that needs several fields (return before start…): parsed values → [(field, reason)].
Check = Callable[[Mapping[str, Any]], list[tuple[str, str]]]


@dataclass(frozen=True)
class Field:
    name: str  # the English header and the key of a parsed row
    zh: str  # the Chinese header of the template
    parse: Parse
    required: bool = False
    aliases: tuple[str, ...] = ()  # other headers clerks and platforms use, most specific first
    example: object = None
    unit: str = ""  # shown in brackets in the template header
    # A unit written in brackets in a file's header → factor applied to the parsed value, e.g. 里程(m).
    scales: Mapping[str, int | float] = field(default_factory=dict)
    hint: str = ""

    @property
    def header(self) -> str:
        return f"{self.zh}({self.unit})" if self.unit else self.zh


@dataclass(frozen=True)
class Template:
    kind: str
    title: str  # 车辆登记表
    fields: tuple[Field, ...]
    key: tuple[str, ...]  # the natural key an import updates by
    checks: tuple[Check, ...] = ()
    # At least one of these columns must be in a file besides the required ones (an expense sheet
    # without a single amount column says nothing).
    one_of: tuple[str, ...] = ()

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    @property
    def required(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.required)

    @cached_property
    def _keys(self) -> dict[str, tuple[Field, int]]:
        """Header key → (field, rank): 0 for the template's own headers, i for the i-th alias. Two fields
        never share a key (a test holds the templates to it)."""
        keys: dict[str, tuple[Field, int]] = {}
        for f in self.fields:
            for rank, h in reversed(list(enumerate((f.zh, *f.aliases)))):
                keys[header_key(h)[0]] = (f, rank)
            keys[header_key(f.name)[0]] = (f, 0)
        return keys

    def fields_in(self, headers: Sequence[object]) -> set[str]:
        """The fields these headers give."""
        return {m.field.name for h in headers if (m := self.match(h))}

    def match(self, header: object) -> HeaderMatch | None:
        """The field a file's header names, or None. Tolerates a unit in (full-width) brackets, a
        required-mark `*`, surrounding spaces and case."""
        key, unit = header_key(header)
        found = self._keys.get(key) if key else None
        if found is None:
            return None
        f, rank = found
        return HeaderMatch(f, rank, f.scales.get(_unit_key(unit), 1) if unit else 1)


@dataclass(frozen=True)
class HeaderMatch:
    field: Field
    rank: int  # 0 for the template's own header, higher for a later alias; the lowest wins a tie
    scale: int | float = 1


_BRACKETS = re.compile(r"[(\[【〔<《][^)\]】〕>》]*[)\]】〕>》]")
_MARKS = re.compile(r"^[*※#\s]+|[*※:\s]+$")


def header_key(header: object) -> tuple[str, str]:
    """A header → (comparison key, unit written in brackets). `速度（km/h）` → ('速度', 'km/h')."""
    s = n.clean(header)
    if not s:
        return "", ""
    units = [m.group(0)[1:-1].strip() for m in _BRACKETS.finditer(s)]
    s = _BRACKETS.sub("", s)
    s = _MARKS.sub("", s)
    key = re.sub(r"[\s_\-./]+", "", s.casefold())
    unit = next((u for u in units if u and u not in ("必填", "选填", "可选", "required", "optional")), "")
    return key, unit


def _unit_key(unit: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", unit).casefold())


# -------------------------------------------------------------------------------------------- fields

_SPEED = {
    "km/h": 1,
    "kmh": 1,
    "kph": 1,
    "公里/小时": 1,
    "千米/小时": 1,
    "千米/时": 1,
    "公里/时": 1,
    "m/s": 3.6,
    "米/秒": 3.6,
    "kn": 1.852,
    "knot": 1.852,
    "knots": 1.852,
    "节": 1.852,
    "mph": 1.609344,
}
_KM = {"km": 1, "公里": 1, "千米": 1, "m": 0.001, "米": 0.001}
_YUAN = {"元": 1, "元/年": 1, "人民币元": 1, "万元": 10000, "万元/年": 10000}
_DATE_HINT = "日期, 如 2024-06-01 / 2024年6月1日"
_TIME_HINT = "北京时间, 如 2024-06-01 08:00:00"
_MONEY_HINT = "金额(元), 最多两位小数"


def _text(
    name: str,
    zh: str,
    *,
    required: bool = False,
    aliases: tuple[str, ...] = (),
    example: object = None,
    hint: str = "",
) -> Field:
    return Field(name, zh, n.text, required, aliases, example, hint=hint or "文字")


def _date(name: str, zh: str, *aliases: str, required: bool = False, example: object = None) -> Field:
    return Field(name, zh, n.date_, required, aliases, example, hint=_DATE_HINT)


def _money(
    name: str, zh: str, *aliases: str, required: bool = False, example: object = None, per_year: bool = False
) -> Field:
    unit = "元/年" if per_year else "元"
    return Field(name, zh, n.money_fen, required, aliases, example, unit, _YUAN, _MONEY_HINT)


def _enum(name: str, zh: str, parse: n.EnumMap, *aliases: str, required: bool = False) -> Field:
    return Field(name, zh, parse, required, aliases, parse.choices.split("/")[0], hint=f"填 {parse.choices}")


def _plate(required: bool = True) -> Field:
    return Field(
        "plate",
        "车牌号",
        n.plate,
        required,
        ("车牌", "车牌号码", "号牌号码", "号牌", "车号", "plate no", "plate number", "license plate"),
        "晋M·A1234",
        hint="如 晋M·A1234",
    )


def _order_no(example: str = "CC20240601001") -> Field:
    return _text(
        "order_no",
        "申请单号",
        required=True,
        aliases=("单号", "派车单号", "出车单号", "订单号", "申请编号", "order number", "order"),
        example=example,
    )


def _after(start: str, end: str, reason: str) -> Check:
    def check(row: Mapping[str, Any]) -> list[tuple[str, str]]:
        a, b = row.get(start), row.get(end)
        return [(end, reason)] if a is not None and b is not None and b < a else []

    return check


def _sold_lot(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    if row.get("result") != "sold":
        return []
    needed = {"price_yuan": "成交价 price", "tenant": "承租人 tenant"}
    return [
        (name, f"成交须填{label.split()[0]} a sold lot needs its {label.split()[1]}")
        for name, label in needed.items()
        if row.get(name) is None
    ]


TEMPLATES: dict[str, Template] = {}


def _add(t: Template) -> None:
    TEMPLATES[t.kind] = t


_add(
    Template(
        "units",
        "单位名录",
        (
            _text(
                "name",
                "单位名称",
                required=True,
                aliases=("单位", "名称", "单位全称", "unit", "unit name"),
                example="城关镇人民政府",
            ),
            _enum("kind", "类型", n.unit_kind, "单位类型", "类别", "单位性质", "type", required=True),
        ),
        key=("name",),
    )
)

_add(
    Template(
        "vehicles",
        "公务用车登记表",
        (
            _plate(),
            _text(
                "unit",
                "单位",
                required=True,
                aliases=("使用单位", "所属单位", "单位名称", "用车单位", "unit name"),
                example="县机关事务服务中心",
            ),
            _text(
                "model",
                "品牌型号",
                aliases=("车型", "品牌", "厂牌型号", "车辆型号", "型号", "brand"),
                example="大众帕萨特",
            ),
            _text(
                "tracker_id",
                "终端号",
                aliases=(
                    "北斗终端号",
                    "设备号",
                    "终端ID",
                    "终端编号",
                    "设备ID",
                    "设备编号",
                    "IMEI",
                    "device id",
                    "device",
                    "tracker",
                ),
                example="864000000000001",
                hint="北斗终端的设备号",
            ),
            _enum("status", "状态", n.vehicle_status, "车辆状态", "使用状态", "vehicle status"),
            _date(
                "acquired_on",
                "购置日期",
                "购买日期",
                "购车日期",
                "购入日期",
                "acquired",
                "purchase date",
                example=date(2020, 5, 1),
            ),
        ),
        key=("plate",),
    )
)

_add(
    Template(
        "orders",
        "出行申请(派车单)",
        (
            _order_no(),
            _plate(),
            _text(
                "unit",
                "单位",
                aliases=("申请单位", "用车单位", "所属单位", "单位名称"),
                example="县机关事务服务中心",
            ),
            _text("applicant", "申请人", aliases=("申请人员", "经办人"), example="张三"),
            _text("driver", "驾驶员", aliases=("司机", "驾驶人", "驾驶员姓名"), example="李四"),
            _text(
                "purpose", "事由", aliases=("用车事由", "出行事由", "出车事由", "事项"), example="下乡检查"
            ),
            _text(
                "destination",
                "目的地",
                aliases=("出行地点", "去往地点", "目的地点", "地点"),
                example="城关镇",
            ),
            Field(
                "planned_start",
                "计划出发",
                n.datetime_china,
                True,
                ("计划出发时间", "出发时间", "用车时间", "开始时间", "start", "planned start time"),
                datetime(2024, 6, 1, 8, 0),
                hint=_TIME_HINT,
            ),
            Field(
                "planned_end",
                "计划返回",
                n.datetime_china,
                True,
                (
                    "计划返回时间",
                    "返回时间",
                    "结束时间",
                    "还车时间",
                    "end",
                    "planned return",
                    "planned end time",
                ),
                datetime(2024, 6, 1, 17, 30),
                hint=_TIME_HINT,
            ),
            _enum("status", "审批状态", n.order_status, "状态", "审批结果", "order status", required=True),
        ),
        key=("order_no",),
        checks=(_after("planned_start", "planned_end", "返回早于出发 planned return before start"),),
    )
)

_add(
    Template(
        "positions",
        "公务用车定位数据",
        (
            _text(
                "device_id",
                "终端号",
                required=True,
                aliases=(
                    "设备号",
                    "终端ID",
                    "终端编号",
                    "设备ID",
                    "设备编号",
                    "终端号码",
                    "终端手机号",
                    "设备IMEI",
                    "IMEI",
                    "device",
                    "deviceid",
                    "terminal id",
                    "uniqueid",
                    "tracker id",
                ),
                example="864000000000001",
            ),
            _plate(required=False),
            Field(
                "fixed_at",
                "定位时间",
                n.datetime_china,
                True,
                (
                    "GPS时间",
                    "时间",
                    "定位时刻",
                    "卫星时间",
                    "设备时间",
                    "采集时间",
                    "fixtime",
                    "gps time",
                    "devicetime",
                    "time",
                    "timestamp",
                ),
                datetime(2024, 6, 1, 8, 0, 0),
                hint=_TIME_HINT + " (带时区的按其时区)",
            ),
            Field("lon", "经度", n.longitude, True, ("lng", "longitude", "东经"), 112.7342, hint="WGS-84 度"),
            Field("lat", "纬度", n.latitude, True, ("latitude", "北纬"), 37.6871, hint="WGS-84 度"),
            Field(
                "speed_kmh",
                "速度",
                n.non_negative_float,
                True,
                ("GPS速度", "车速", "speed"),
                42.5,
                "km/h",
                _SPEED,
                "km/h",
            ),
            Field(
                "course",
                "方向",
                n.float_,
                False,
                ("方向角", "航向", "航向角", "方位角", "heading", "direction", "bearing"),
                90,
                hint="0-360 度, 正北为 0",
            ),
            Field(
                "ignition",
                "ACC",
                n.boolean,
                False,
                ("ACC状态", "点火状态", "点火", "acc status", "acc state"),
                "开",
                hint="开/关",
            ),
            Field(
                "odometer_km",
                "里程",
                n.non_negative_float,
                False,
                ("总里程", "累计里程", "里程数", "odometer", "mileage", "total mileage"),
                12345.6,
                "km",
                _KM,
                "累计里程 km",
            ),
        ),
        key=("device_id", "fixed_at"),
    )
)

_add(
    Template(
        "expenses",
        "出行费用单",
        (
            _order_no(),
            _money("tolls", "过路费", "通行费", "路桥费", "过路过桥费", "toll", example="35.00"),
            _money(
                "meal_allowance", "伙食补助", "伙食费", "餐补", "误餐补助", "meal", "meals", example="60.00"
            ),
            _money("fuel", "燃油费", "油费", "加油费", "fuel cost", example="120.50"),
            _money("other", "其他", "其他费用", "其它", "停车费", "other cost", example="0"),
        ),
        key=("order_no",),
        one_of=("tolls", "meal_allowance", "fuel", "other"),
    )
)

_add(
    Template(
        "properties",
        "办公用房登记表",
        (
            _text(
                "code",
                "编号",
                required=True,
                aliases=("房产编号", "资产编号", "用房编号", "code no"),
                example="BG-001",
            ),
            _text(
                "name",
                "名称",
                required=True,
                aliases=("房产名称", "用房名称", "办公用房名称", "楼名"),
                example="县政府办公楼",
            ),
            _text(
                "unit",
                "使用单位",
                required=True,
                aliases=("单位", "使用单位名称", "所属单位", "unit name"),
                example="县政府办公室",
            ),
            _text(
                "address", "地址", aliases=("坐落", "坐落位置", "详细地址", "位置"), example="城关镇解放路1号"
            ),
            Field(
                "floor_area_m2",
                "建筑面积",
                n.non_negative_decimal,
                False,
                ("面积", "房屋面积", "floor area", "area"),
                "2350.5",
                "㎡",
                hint="平方米",
            ),
            Field("lon", "经度", n.longitude, False, ("lng", "longitude"), 112.7342, hint="WGS-84 度"),
            Field("lat", "纬度", n.latitude, False, ("latitude",), 37.6871, hint="WGS-84 度"),
            _date(
                "surveyed_on",
                "测绘完成日期",
                "测绘日期",
                "权属登记测绘日期",
                "权属测绘日期",
                "surveyed",
                example=date(2024, 3, 1),
            ),
            _date("safety_appraised_on", "房屋安全鉴定日期", "安全鉴定日期", "鉴定日期", "safety appraised"),
            _date("seismic_tested_on", "抗震检测日期", "抗震鉴定日期", "seismic tested"),
            _date("fire_accepted_on", "消防验收日期", "消防日期", "fire accepted"),
            _date("submitted_on", "提交审批日期", "报批日期", "提交日期", "submitted"),
            _text(
                "certificate_no",
                "不动产权证号",
                aliases=(
                    "不动产权证书号",
                    "产权证号",
                    "不动产证号",
                    "权证号",
                    "证号",
                    "certificate",
                    "certificate number",
                ),
            ),
            _date("certified_on", "发证日期", "登簿日期", "领证日期", "certified"),
        ),
        key=("code",),
    )
)

_add(
    Template(
        "operating-properties",
        "经营性用房(门面房)登记表",
        (
            _text(
                "code",
                "编号",
                required=True,
                aliases=("房产编号", "资产编号", "门面编号", "code no"),
                example="MM-001",
            ),
            _text(
                "address",
                "坐落",
                required=True,
                aliases=("地址", "坐落位置", "位置", "详细地址"),
                example="城关镇解放路12号",
            ),
            _text(
                "owner_unit",
                "权属单位",
                aliases=("产权单位", "所属单位", "管理单位", "单位", "owner"),
                example="县机关事务服务中心",
            ),
            Field(
                "area_m2",
                "面积",
                n.non_negative_decimal,
                False,
                ("建筑面积", "房屋面积", "area"),
                "85.3",
                "㎡",
                hint="平方米",
            ),
            _enum("status", "现状", n.operating_status, "状态", "使用现状", "使用状态", required=True),
            _date(
                "takeover_due_on",
                "应接管日期",
                "接管期限",
                "接管日期",
                "takeover due",
                example=date(2024, 12, 31),
            ),
        ),
        key=("code",),
    )
)

_add(
    Template(
        "auctions",
        "门面房租赁拍卖",
        (
            _text(
                "batch", "批次", required=True, aliases=("拍卖批次", "批次号", "batch no"), example="2024-1"
            ),
            _text(
                "lot",
                "标的编号",
                required=True,
                aliases=("标的", "标的物编号", "房产编号", "编号", "lot no"),
                example="MM-001",
                hint="门面房编号",
            ),
            Field(
                "round",
                "轮次",
                n.round_no,
                False,
                ("拍卖轮次", "第几轮", "round no"),
                1,
                hint="1, 2…; 空则为 1",
            ),
            _money(
                "reserve_yuan",
                "起拍价",
                "起拍价格",
                "底价",
                "reserve",
                "reserve price",
                example="36000",
                per_year=True,
            ),
            _enum("result", "结果", n.auction_result, "拍卖结果", "成交结果", required=True),
            _money("price_yuan", "成交价", "成交价格", "成交租金", "price", example="42000", per_year=True),
            _text("tenant", "承租人", aliases=("竞得人", "买受人", "竞买人", "承租方"), example="王五"),
            _date(
                "lease_start",
                "租期起",
                "租赁起始日期",
                "起租日期",
                "租期开始",
                "开始日期",
                "start",
                example=date(2024, 7, 1),
            ),
            _date(
                "lease_end",
                "租期止",
                "租赁截止日期",
                "到期日期",
                "租期结束",
                "结束日期",
                "end",
                example=date(2027, 6, 30),
            ),
        ),
        key=("batch", "lot", "round"),
        checks=(
            _sold_lot,
            _after("lease_start", "lease_end", "租期止早于租期起 lease ends before it starts"),
        ),
    )
)

_add(
    Template(
        "leases",
        "租赁合同",
        (
            _text(
                "code",
                "编号",
                required=True,
                aliases=("房产编号", "门面编号", "标的编号", "code no"),
                example="MM-001",
                hint="门面房编号",
            ),
            _text("tenant", "承租人", required=True, aliases=("承租方", "租户", "乙方"), example="王五"),
            _money(
                "annual_rent_yuan",
                "年租金",
                "租金",
                "年租金额",
                "annual rent",
                "rent",
                required=True,
                example="42000",
                per_year=True,
            ),
            _date(
                "lease_start",
                "租期起",
                "租赁起始日期",
                "起租日期",
                "租期开始",
                "开始日期",
                "start",
                required=True,
                example=date(2024, 7, 1),
            ),
            _date(
                "lease_end",
                "租期止",
                "租赁截止日期",
                "到期日期",
                "租期结束",
                "结束日期",
                "end",
                required=True,
                example=date(2027, 6, 30),
            ),
            _money("deposit_yuan", "押金", "保证金", "履约保证金", "deposit", example="10000"),
        ),
        key=("code", "lease_start"),
        checks=(_after("lease_start", "lease_end", "租期止早于租期起 lease ends before it starts"),),
    )
)

KINDS: tuple[str, ...] = tuple(TEMPLATES)
_KIND_ALIASES = {"shopfronts": "operating-properties", "shopfront": "operating-properties"}


def better_kind(headers: Sequence[object], kind: str) -> tuple[Template, set[str]] | None:
    """Another template these headers fit better than `kind`'s: all its required columns present and more
    of its fields given. A vehicles import of an orders file (which has 车牌号 and 单位 too) is refused
    with the kind it is, instead of creating vehicles from two of its columns."""
    mine = len(TEMPLATES[kind].fields_in(headers))
    best: tuple[Template, set[str]] | None = None
    for other in TEMPLATES.values():
        if other.kind == kind:
            continue
        given = other.fields_in(headers)
        if not all(f.name in given for f in other.required) or len(given) <= mine:
            continue
        if best is None or len(given) > len(best[1]):
            best = (other, given)
    return best


def get_template(kind: str) -> Template:
    """The template of a kind; `operating_properties` and `shopfronts` name the same one."""
    k = kind.strip().casefold().replace("_", "-")
    k = _KIND_ALIASES.get(k, k)
    if k not in TEMPLATES:
        raise KeyError(f"未知的导入类型 unknown import kind {kind!r} (可选 one of {', '.join(KINDS)})")
    return TEMPLATES[k]


# ----------------------------------------------------------------------------------- the XLSX template


def _display_width(value: object) -> int:
    s = value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else str(value or "")
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def template_xlsx(kind: str) -> bytes:
    """The downloadable template of a kind: Chinese headers (required ones in red), one example row to
    overwrite, drop-down lists for the status words, and a second sheet explaining every column."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    t = get_template(kind)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = t.title[:31]
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    for col, f in enumerate(t.fields, start=1):
        letter = get_column_letter(col)
        cell = ws.cell(row=1, column=col, value=f.header)
        cell.font = Font(bold=True, color="C00000" if f.required else "000000")
        cell.fill = header_fill
        cell.alignment = Alignment(horizontal="center", vertical="center")
        example = ws.cell(row=2, column=col, value=f.example)  # type: ignore[call-overload]
        example.font = Font(italic=True, color="808080")
        if isinstance(f.example, datetime):
            example.number_format = "yyyy-mm-dd hh:mm:ss"
        elif isinstance(f.example, date):
            example.number_format = "yyyy-mm-dd"
        elif isinstance(f.example, str):
            example.number_format = "@"  # keep codes and amounts as typed, e.g. a leading zero
        width = max(_display_width(f.header), _display_width(f.example), 8) + 4
        ws.column_dimensions[letter].width = min(width, 40)
        if isinstance(f.parse, n.EnumMap):
            dv = DataValidation(
                type="list", formula1=f'"{",".join(f.parse.choices.split("/"))}"', allow_blank=not f.required
            )
            dv.add(f"{letter}2:{letter}5000")
            ws.add_data_validation(dv)
    ws.freeze_panes = "A2"

    notes = wb.create_sheet("填写说明")
    notes.append([f"{t.title} 填写说明 ({t.kind})"])
    notes["A1"].font = Font(bold=True, size=12)
    notes.append(
        ["第 2 行为示例, 请用实际数据覆盖或删除; 红色列为必填。Row 2 is an example: overwrite or delete it."]
    )
    notes.append([])
    notes.append(["列名", "English", "必填 required", "说明 how to fill"])
    for c in notes[4]:
        c.font = Font(bold=True)
    for f in t.fields:
        notes.append([f.header, f.name, "是" if f.required else "", f.hint])
    for letter, width in zip("ABCD", (22, 20, 14, 48), strict=True):
        notes.column_dimensions[letter].width = width

    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

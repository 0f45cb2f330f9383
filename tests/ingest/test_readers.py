"""Readers: real-looking CSV and XLSX files as county clerks and tracking platforms make them — every
encoding, both header languages, title rows, units in headers, bad rows with their exact line and column."""

from __future__ import annotations

import csv
import gc
import io
import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from openpyxl import Workbook, load_workbook

from core.importing import header_key
from core.timeutil import CHINA
from ingest import readers
from ingest.kinds import KINDS, SPECS, get_kind
from ingest.readers import (
    MISSING,
    BadRow,
    ParsedRow,
    Row,
    RowError,
    TableError,
    open_table,
    parse_rows,
    read_positions_batches,
)
from ingest.templates import template_xlsx


def csv_bytes(
    rows: list[list[Any]],
    *,
    encoding: str = "utf-8",
    delimiter: str = ",",
    newline: str = "\r\n",
    quoting: int = csv.QUOTE_MINIMAL,
) -> bytes:
    buf = io.StringIO()
    csv.writer(buf, delimiter=delimiter, lineterminator=newline, quoting=quoting).writerows(rows)
    return buf.getvalue().encode(encoding)


Outcome = tuple[list[tuple[int, dict[str, Any]]], list[tuple[int, str, str, str]]]


def outcomes(kind: str, source: Any, **kw: Any) -> Outcome:
    """(good rows as (line, values), every error as (line, column, header, reason)) of a file."""
    good, bad = [], []
    with open_table(source, kind=kind, **kw) as table:
        for item in parse_rows(kind, table):
            if isinstance(item, ParsedRow):
                good.append((item.line, item.values))
            else:
                assert isinstance(item, BadRow) and item.errors
                bad.extend((e.line, e.column, e.header, e.reason) for e in item.errors)
    return good, bad


# ------------------------------------------------------------------------------- vehicles, every encoding

ZH_HEADER = ["车牌号", "单位", "品牌型号", "终端号", "状态", "购置日期"]
EN_HEADER = ["Plate", "Unit", "Model", "Tracker ID", "Status", "Acquired On"]
VEHICLES = [
    ["晋M·A1234", "县机关事务服务中心", "大众帕萨特", "864001", "在用", "2020-05-01"],
    ["晋MA1235", " 城关镇人民政府 ", "丰田凯美瑞", "864002", "闲置", "2020/5/1"],
    ["晋M A1236", "县教育局", "", "", "待处置", "2020年5月1日"],
    ["晋m·a1237", "县卫健委", "别克GL8", "864004", "已处置", "43952"],  # an Excel serial saved as text
    [
        "晋ＭＡ１２３８",
        "县公安局\u3000",
        "",
        "８６４００５",
        "",
        "20200501",
    ],  # full-width, as typed on a phone
]
MAY_1 = date(2020, 5, 1)
EXPECTED_VEHICLES = [
    (2, {"plate": "晋M·A1234", "unit": "县机关事务服务中心", "model": "大众帕萨特", "tracker_id": "864001",
         "status": "in_service", "acquired_on": MAY_1}),
    (3, {"plate": "晋M·A1235", "unit": "城关镇人民政府", "model": "丰田凯美瑞", "tracker_id": "864002",
         "status": "idle_proposed", "acquired_on": MAY_1}),
    (4, {"plate": "晋M·A1236", "unit": "县教育局", "model": None, "tracker_id": None,
         "status": "disposal_pending", "acquired_on": MAY_1}),
    (5, {"plate": "晋M·A1237", "unit": "县卫健委", "model": "别克GL8", "tracker_id": "864004",
         "status": "disposed", "acquired_on": MAY_1}),
    (6, {"plate": "晋M·A1238", "unit": "县公安局", "model": None, "tracker_id": "864005", "status": None,
         "acquired_on": MAY_1}),
]  # fmt: skip
EXPECTED_VEHICLES = [
    (line, v | {"home_lon": None, "home_lat": None, "tank_l": None}) for line, v in EXPECTED_VEHICLES
]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gbk", "gb18030"])
@pytest.mark.parametrize("delimiter", [",", "\t"])
@pytest.mark.parametrize("header", [ZH_HEADER, EN_HEADER], ids=["zh", "en"])
def test_vehicles_in_every_encoding_delimiter_and_header_language(
    tmp_path: Path, encoding: str, delimiter: str, header: list[str]
) -> None:
    path = tmp_path / "车辆.csv"
    path.write_bytes(csv_bytes([header, *VEHICLES], encoding=encoding, delimiter=delimiter))
    with open_table(path, kind="vehicles") as table:
        assert table.encoding == {"gbk": "gb18030"}.get(encoding, encoding)
        assert table.delimiter == delimiter
        assert table.header_line == 1
        assert table.ignored == []
    assert outcomes("vehicles", path) == (EXPECTED_VEHICLES, [])


def test_gbk_and_utf8_files_give_identical_rows(tmp_path: Path) -> None:
    rows = [ZH_HEADER, *VEHICLES, ["晋M·B0001", "县财政局", "红旗H5", "864009", "在用", "2021年3月8日"]]
    (tmp_path / "gbk.csv").write_bytes(csv_bytes(rows, encoding="gbk"))
    (tmp_path / "utf8.csv").write_bytes(csv_bytes(rows, encoding="utf-8"))
    from_gbk = outcomes("vehicles", tmp_path / "gbk.csv")
    assert from_gbk == outcomes("vehicles", tmp_path / "utf8.csv")
    assert len(from_gbk[0]) == 6


def test_gb18030_only_character(tmp_path: Path) -> None:
    rows = [["单位名称", "类型"], ["𠮷城镇人民政府", "乡镇"]]  # 𠮷 is outside GBK
    (tmp_path / "u.csv").write_bytes(csv_bytes(rows, encoding="gb18030"))
    assert outcomes("units", tmp_path / "u.csv") == (
        [(2, {"name": "𠮷城镇人民政府", "kind": "township", "lon": None, "lat": None})],
        [],
    )


def test_excel_unicode_text_is_utf16_with_tabs(tmp_path: Path) -> None:
    (tmp_path / "v.txt").write_bytes(csv_bytes([ZH_HEADER, *VEHICLES], encoding="utf-16", delimiter="\t"))
    with open_table(tmp_path / "v.txt", kind="vehicles") as table:
        assert (table.encoding, table.delimiter) == ("utf-16", "\t")
    assert outcomes("vehicles", tmp_path / "v.txt") == (EXPECTED_VEHICLES, [])


def test_gbk_character_first_seen_past_the_first_chunk(tmp_path: Path) -> None:
    # A platform export: English header, a megabyte of ASCII, then the first Chinese plate, in GBK.
    header = ["device_id", "fixed_at", "lon", "lat", "speed_kmh", "plate"]
    rows: list[list[Any]] = [header]
    rows += [
        ["864001", f"2024-06-01 08:{i // 60 % 60:02d}:{i % 60:02d}", "112.5", "37.8", "0", ""]
        for i in range(26000)
    ]
    rows.append(["864001", "2024-06-01 09:00:00", "112.5", "37.8", "0", "晋M·A1234"])
    data = csv_bytes(rows, encoding="gbk")
    assert data.index("晋".encode("gbk")) > readers.CHUNK_BYTES
    with open_table(data, kind="positions") as table:
        assert table.encoding == "utf-8"  # all it has seen is ASCII
        batches = list(read_positions_batches(table))
        assert table.encoding == "gb18030"
    plates = np.concatenate([b.plate for b in batches])
    assert plates[-1] == "晋M·A1234"
    assert sum(len(b) for b in batches) == 26001
    assert all(not b.rejects for b in batches)


def test_file_mixing_utf8_and_gbk_is_refused_with_its_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(readers, "CHUNK_BYTES", 64)
    data = csv_bytes([ZH_HEADER, *VEHICLES[:2]]) + csv_bytes([VEHICLES[2]], encoding="gbk")
    with pytest.raises(TableError) as e, open_table(data, kind="vehicles") as table:
        list(table)
    assert "第 4 行无法按 utf-8 解码" in str(e.value)
    assert "文件混用了多种编码" in str(e.value)


def test_undecodable_bytes_are_refused() -> None:
    with pytest.raises(TableError, match="无法识别文件编码"):
        open_table(b"plate,unit\r\n\x80\x80\x80\xff\xfe\x81,x\r\n", kind="vehicles")


@pytest.mark.parametrize("newline", ["\r\n", "\n", "\r"])
def test_line_endings(newline: str) -> None:
    data = csv_bytes([ZH_HEADER, *VEHICLES], newline=newline)
    assert outcomes("vehicles", data) == (EXPECTED_VEHICLES, [])


@pytest.mark.parametrize("chunk", [5, 7, 13, 64])
def test_chunk_boundaries_change_nothing(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    # Tiny chunks cut GBK characters, \r\n pairs and quoted line breaks in two.
    rows = [
        ["标题: 公务用车登记"],
        [],
        ZH_HEADER,
        *VEHICLES,
        ["晋M·B0002", "县\r\n财政局", "", "", "在用", ""],
    ]
    data = csv_bytes(rows, encoding="gbk")
    expected = outcomes("vehicles", data)
    last = {"plate": "晋M·B0002", "unit": "县\r\n财政局", "model": None, "tracker_id": None}
    home = {"home_lon": None, "home_lat": None, "tank_l": None}
    assert expected[0][-1] == (9, {**last, "status": "in_service", "acquired_on": None, **home})
    monkeypatch.setattr(readers, "CHUNK_BYTES", chunk)
    assert outcomes("vehicles", data) == expected


# ------------------------------------------------------------------------------------------ the header


def test_header_under_title_rows_and_blank_lines() -> None:
    rows = [
        ["2024年公务用车登记表", "", "", "", "", ""],
        ["填报单位: 县机关事务服务中心"],
        [],
        ZH_HEADER,
        VEHICLES[0],
    ]
    with open_table(csv_bytes(rows), kind="vehicles") as table:
        assert table.header_line == 4
        assert [row.line for row in table] == [5]


def test_header_forms_units_marks_case_and_aliases() -> None:
    header = ["*车牌号码", " 使用单位 ", "车型", "设备号", "车辆状态", "购置日期（年月日）", "备注", "联系人"]
    row = ["晋M·A1234", "县教育局", "大众", "864001", "在用", "2020-05-01", "新车", "张三"]
    with open_table(csv_bytes([header, row]), kind="vehicles") as table:
        assert table.columns == {
            "plate": 0,
            "unit": 1,
            "model": 2,
            "tracker_id": 3,
            "status": 4,
            "acquired_on": 5,
        }
        assert table.ignored == ["备注", "联系人"]
    good, bad = outcomes("vehicles", csv_bytes([header, row]))
    assert bad == []
    assert good[0][1]["tracker_id"] == "864001"


def test_the_template_header_beats_an_alias() -> None:
    header = ["车牌号码", "车牌号", "单位"]
    with open_table(csv_bytes([header, ["晋M·A1234", "晋M·A9999", "县教育局"]]), kind="vehicles") as table:
        assert table.columns["plate"] == 1
        assert table.ignored == ["车牌号码"]


def test_two_columns_for_one_field_are_refused() -> None:
    with pytest.raises(TableError) as e:
        open_table(
            csv_bytes([["车牌号", "单位", "车牌号"], ["晋M·A1234", "县教育局", "晋M·A1234"]]), kind="vehicles"
        )
    assert "列重复: 1 (车牌号) 和 3 (车牌号) 都是车牌号" in str(e.value)


def test_missing_required_columns_are_named() -> None:
    data = csv_bytes([["终端号", "车牌号", "速度(km/h)"], ["864001", "晋M·A1234", "0"]])
    with pytest.raises(TableError) as e:
        open_table(data, kind="positions")
    message = str(e.value)
    assert "缺少必需的列: 定位时间 (fixed_at), 经度 (lon), 纬度 (lat)" in message
    assert "第 1 行的表头: 终端号, 车牌号, 速度(km/h)" in message


def test_no_header_at_all() -> None:
    with pytest.raises(TableError, match="找不到表头 \\(前 2 行"):
        open_table(csv_bytes([["a", "b"], ["1", "2"]]), kind="vehicles")


def test_without_a_kind_values_are_keyed_by_header() -> None:
    rows = [["某某报表"], [], ["名称", "数量", ""], ["甲", "1", ""], ["乙", "2", ""]]
    with open_table(csv_bytes(rows)) as table:
        assert table.kind is None
        assert table.header_line == 3
        assert [(r.line, r.values) for r in table] == [
            (4, {"名称": "甲", "数量": "1"}),
            (5, {"名称": "乙", "数量": "2"}),
        ]


def test_units_in_headers_scale_values() -> None:
    header = ["终端号", "定位时间", "经度", "纬度", "速度(m/s)", "里程（米）"]
    rows = [header, ["864001", "2024-06-01 08:00:00", "112.5", "37.8", "10", "1500"]]
    good, bad = outcomes("positions", csv_bytes(rows))
    assert bad == []
    assert good[0][1]["speed_kmh"] == pytest.approx(36.0)
    assert good[0][1]["odometer_km"] == pytest.approx(1.5)
    (batch,) = read_positions_batches(csv_bytes(rows))
    assert batch.speed_kmh.tolist() == pytest.approx([36.0])
    assert batch.odometer_m.tolist() == pytest.approx([1500.0])
    lease = [
        ["编号", "承租人", "年租金(万元)", "租期起", "租期止"],
        ["MM-001", "王五", "4.2", "2024-07-01", "2027-06-30"],
    ]
    good, bad = outcomes("leases", csv_bytes(lease))
    assert good[0][1]["annual_rent_yuan"] == 4_200_000  # fen


# ----------------------------------------------------------------------------------------- bad rows

POSITIONS_CORPUS = (
    "2024年6月公务用车定位数据,,,,,,,,,\r\n"  # 1: a title
    "\r\n"  # 2
    "终端号,车牌号,定位时间,经度,纬度,速度(km/h),方向,ACC,里程(km),备注\r\n"  # 3: the header
    "864001,晋M·A1234,2024-06-01 08:00:00,112.5,37.8,0,90,开,100.5,\r\n"  # 4
    "864001,晋MA1234,2024/6/1 8:00:30,112.501,37.801,12.5,,关,,\r\n"  # 5: no course, no odometer
    "864001,晋M·A1234,2024-13-01 08:00:00,112.5,37.8,0,90,开,100.5,\r\n"  # 6: bad date
    ",晋M·A1234,2024-06-01 08:01:00,112.5,37.8,0,90,开,100.5,\r\n"  # 7: no device
    # 8: full-width, as typed on a phone
    "８６４００１,晋M·A1234,２０２４－０６－０１ ０８：０２：００,１１２．５,３７．８,０,90,开,100.5,\r\n"
    # 9-10: a line break inside quotes
    '864001,晋M·A1234,2024-06-01 08:03:00,112.5,37.8,0,90,开,100.5,"第一行\r\n第二行"\r\n'
    "864001,晋M·A1234,2024-06-01 08:04:00,200.5,37.8,0,90,开,100.5,\r\n"  # 11
    "864001,晋M·A1234,2024-06-01 08:05:00,112.5,37.8,-5,90,开,100.5,\r\n"  # 12
    "864001,晋M·A1234,2024-06-01 08:06:00,112.5,37.8,1O,90,开,100.5,\r\n"  # 13
    "864001,晋M·A1234,2024-06-01 08:07:00,112.5,37.8,0,90,半开,100.5,\r\n"  # 14
    "864001,晋M·A123,2024-06-01 08:07:30,112.5,37.8,0,90,开,100.5,多了一列,x\r\n"  # 15: a cell too many
    ",,,,,,,,,\r\n"  # 16: an empty row Excel leaves behind
    "   \r\n"  # 17
    "864001,晋M·A1234,2024-06-01 08:08:0"  # 18: cut off
)
CORPUS_ERRORS = [
    (6, "3", "定位时间", "无法识别的日期 '2024-13-01 08:00:00'"),
    (7, "1", "终端号", "缺少必填项"),
    (11, "4", "经度", "经度超出范围 '200.5'"),
    (12, "6", "速度(km/h)", "不能为负 '-5'"),
    (13, "6", "速度(km/h)", "不是数字 '1O'"),
    (14, "8", "ACC", "无法识别的开关值 '半开' (应为 开/关, 是/否, 1/0)"),
    (
        15,
        "11",
        "",
        "该行多出 1 列 (值里有未加引号的分隔符?)",
    ),
    (18, "4", "经度", "该行不完整: 只有 3 列, 表头有 10 列 (被截断?)"),
]
T0 = datetime(2024, 6, 1, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_bad_rows_each_with_line_column_and_reason(encoding: str) -> None:
    good, bad = outcomes("positions", POSITIONS_CORPUS.encode(encoding))
    assert bad == CORPUS_ERRORS
    assert [line for line, _ in good] == [4, 5, 8, 9]
    assert good[1][1] == {
        "device_id": "864001", "plate": "晋M·A1234", "fixed_at": T0.replace(second=30), "lon": 112.501,
        "lat": 37.801, "speed_kmh": 12.5, "course": None, "ignition": False, "odometer_km": None,
    }  # fmt: skip
    assert good[2][1]["device_id"] == "864001"  # full-width digits read as digits
    assert good[2][1]["fixed_at"] == T0.replace(minute=2)
    assert good[2][1]["lon"] == 112.5


def test_a_row_can_have_several_errors() -> None:
    rows = [["车牌号", "单位", "状态", "购置日期"], ["晋M·A12", "", "报废了", "2020-02-30"]]
    assert outcomes("vehicles", csv_bytes(rows))[1] == [
        (2, "1", "车牌号", "车牌号格式不对 '晋M·A12', 例 晋M·A1234"),
        (2, "2", "单位", "缺少必填项"),
        (
            2,
            "3",
            "状态",
            "无法识别的车辆状态 '报废了' (应为 在用/闲置/待处置/已处置)",
        ),
        (2, "4", "购置日期", "日期不存在 '2020-02-30'"),
    ]


def test_trailing_empty_cells_are_not_extra_columns() -> None:
    rows = [["单位名称", "类型"], ["县教育局", "县直", "", ""], ["城关镇", "乡镇", " "]]
    good, bad = outcomes("units", csv_bytes(rows))
    assert bad == []
    assert [v for _, v in good] == [
        {"name": "县教育局", "kind": "department", "lon": None, "lat": None},
        {"name": "城关镇", "kind": "township", "lon": None, "lat": None},
    ]


def test_rows_give_missing_for_cells_a_short_line_lacks() -> None:
    with open_table(csv_bytes([["单位名称", "类型"], ["县教育局"]]), kind="units") as table:
        (row,) = list(table)
    assert row == Row(2, {"name": "县教育局", "kind": MISSING}, ["县教育局"])


def test_row_rules_across_fields() -> None:
    orders = [
        ["申请单号", "车牌号", "计划出发", "计划返回", "审批状态"],
        ["CC001", "晋M·A1234", "2024-06-01 08:00", "2024-06-01 17:00", "已批准"],
        ["CC002", "晋M·A1234", "2024-06-01 18:00", "2024-06-01 17:00", "已批准"],
    ]
    good, bad = outcomes("orders", csv_bytes(orders))
    assert [line for line, _ in good] == [2]
    assert good[0][1]["planned_end"] == datetime(2024, 6, 1, 9, 0, tzinfo=UTC)
    assert bad == [(3, "4", "计划返回", "返回早于出发")]
    auctions = [
        ["批次", "标的编号", "轮次", "起拍价(元/年)", "结果", "成交价(元/年)", "承租人", "租期起", "租期止"],
        ["2024-1", "MM-001", "第1轮", "36,000", "成交", "42000", "王五", "2024-07-01", "2027-06-30"],
        ["2024-1", "MM-002", "1", "30000", "成交", "", "", "", ""],
        ["2024-1", "MM-003", "2", "30000", "流拍", "", "", "", ""],
        ["2024-1", "MM-004", "1", "30000", "撤拍", "", "", "2024-07-01", "2024-06-30"],
    ]
    good, bad = outcomes("auctions", csv_bytes(auctions))
    assert [(line, v["lot"], v["round"], v["result"]) for line, v in good] == [
        (2, "MM-001", 1, "sold"),
        (4, "MM-003", 2, "unsold"),
    ]
    assert good[0][1]["reserve_yuan"] == 3_600_000 and good[0][1]["price_yuan"] == 4_200_000
    assert bad == [
        (3, "6", "成交价(元/年)", "成交须填成交价"),
        (3, "7", "承租人", "成交须填承租人"),
        (5, "9", "租期止", "租期止早于租期起"),
    ]


def test_parse_rows_without_a_table_names_fields() -> None:
    rows = [Row(7, {"name": "县教育局", "kind": "什么"}, ["县教育局", "什么"])]
    (item,) = parse_rows("units", rows)
    assert isinstance(item, BadRow)
    assert item.errors == [
        RowError(
            7,
            "kind",
            "类型",
            "无法识别的单位类型 '什么' (应为 乡镇/县直)",
            "kind",
        )
    ]
    assert str(item.errors[0]) == ("第 7 行, kind 列 (类型): 无法识别的单位类型 '什么' (应为 乡镇/县直)")
    assert str(RowError(3, "", "", "坏行")) == "第 3 行: 坏行"
    assert str(RowError(3, "11", "", "多一列")) == "第 3 行, 第 11 列: 多一列"


def test_parse_rows_refuses_a_table_of_another_kind() -> None:
    with open_table(csv_bytes([["单位名称", "类型"]]), kind="units") as table, pytest.raises(ValueError):
        list(parse_rows("vehicles", table))


# ----------------------------------------------------------------------------------------------- XLSX


def positions_workbook(path: Path) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "定位数据"
    ws["A1"] = "2024年6月公务用车定位数据"
    ws.merge_cells("A1:H1")
    ws.append([])  # row 2 stays blank
    ws.append(["终端号", "车牌号", "GPS时间", "经度", "纬度", "速度（km/h）", "ACC状态", "里程(km)"])  # row 3
    ws.append([864001, "晋M·A1234", datetime(2024, 6, 1, 8, 0, 0), 112.5, 37.8, 0, "开", 100.5])  # 4
    ws.append([864001, "晋M·A1234", 45444 + 8 / 24 + 30 / 86400, 112.5, 37.8, 12, "关", None])  # 5: a serial
    ws["C5"].number_format = "0.000000"
    ws.append(["864001", "晋MA1234", "2024/6/1 8:01", "112.5", "37.8", "0", 1, "100.6"])  # 6: text
    ws.append([864001, "晋M·A1234", "昨天", 112.5, 37.8, None, "开", None])  # 7
    ws.append([None] * 8)  # 8: empty
    ws.append([864001, "晋M·A1234", datetime(2024, 6, 1, 8, 2), 112.5, 95.0, 0, "开", None])  # 9
    wb.create_sheet("说明").append(["本表由平台导出"])
    wb.save(path)


def test_xlsx_with_merged_title_rows_and_excel_serials(tmp_path: Path) -> None:
    positions_workbook(tmp_path / "定位.xlsx")
    with open_table(tmp_path / "定位.xlsx", kind="positions") as table:
        assert (table.format, table.sheet, table.header_line) == ("xlsx", "定位数据", 3)
        assert table.encoding is None
    good, bad = outcomes("positions", tmp_path / "定位.xlsx")
    assert [(line, v["fixed_at"]) for line, v in good] == [
        (4, T0),
        (5, T0.replace(second=30)),
        (6, T0.replace(minute=1)),
    ]
    assert good[0][1]["device_id"] == "864001"
    assert good[1][1]["ignition"] is False and good[2][1]["ignition"] is True
    assert good[2][1]["plate"] == "晋M·A1234"
    assert bad == [
        (7, "C", "GPS时间", "无法识别的时间 '昨天'"),
        (7, "F", "速度(km/h)", "缺少必填项"),
        (9, "E", "纬度", "纬度超出范围 '95' (经纬度是否填反?)"),
    ]


def test_xlsx_positions_in_batches(tmp_path: Path) -> None:
    positions_workbook(tmp_path / "p.xlsx")
    batches = list(read_positions_batches(tmp_path / "p.xlsx", batch_size=2))
    line = np.concatenate([b.line for b in batches])
    assert line.tolist() == [4, 5, 6]
    assert np.concatenate([b.fixed_at for b in batches]).tolist() == [1717200000, 1717200030, 1717200060]
    assert np.concatenate([b.ignition for b in batches]).tolist() == [1, 0, 1]
    odometer = np.concatenate([b.odometer_m for b in batches])
    assert odometer[0] == 100500 and math.isnan(odometer[1]) and odometer[2] == pytest.approx(100600)
    errors = [(e.line, e.column, e.header) for b in batches for r in b.rejects for e in r.errors]
    assert errors == [(7, "C", "GPS时间"), (7, "F", "速度(km/h)"), (9, "E", "纬度")]


def test_xlsx_sheet_by_name_or_position(tmp_path: Path) -> None:
    wb = Workbook()
    first = wb.active
    assert first is not None
    first.title = "封面"
    first.append(["县机关事务服务中心"])
    ws = wb.create_sheet("车辆")
    ws.append(ZH_HEADER)
    ws.append(["晋M·A1234", "县教育局", "大众", 864001, "在用", 43952])  # a serial in a number cell
    ws.append(["晋M·A1235", "县教育局", None, None, "在用", datetime(2020, 5, 1)])
    wb.save(tmp_path / "v.xlsx")
    for sheet in ("车辆", 2, "2"):
        good, bad = outcomes("vehicles", tmp_path / "v.xlsx", sheet=sheet)
        assert bad == []
        assert [(line, v["acquired_on"], v["tracker_id"]) for line, v in good] == [
            (2, MAY_1, "864001"),
            (3, MAY_1, None),
        ]
    with pytest.raises(TableError, match=r"没有工作表 '车队'（有：封面、车辆）"):
        open_table(tmp_path / "v.xlsx", kind="vehicles", sheet="车队")
    with pytest.raises(TableError, match="找不到表头"):
        open_table(tmp_path / "v.xlsx", kind="vehicles")  # the first sheet is a cover page


# ------------------------------------------------------------------------------------ positions batches


def batch_outcomes(source: Any, **kw: Any) -> Outcome:
    good, bad = [], []
    for b in read_positions_batches(source, **kw):
        for i in range(len(b)):
            good.append(
                (int(b.line[i]), {
                    "device_id": b.device_id[i], "plate": b.plate[i], "fixed_at": int(b.fixed_at[i]),
                    "lon": b.lon[i], "lat": b.lat[i], "speed_kmh": b.speed_kmh[i],
                    "course": None if math.isnan(b.course[i]) else b.course[i],
                    "ignition": {-1: None, 0: False, 1: True}[int(b.ignition[i])],
                    "odometer_m": None if math.isnan(b.odometer_m[i]) else round(b.odometer_m[i], 6),
                })
            )  # fmt: skip
        for r in b.rejects:
            assert r.errors and r.cells
            bad.extend((e.line, e.column, e.header, e.reason) for e in r.errors)
    return good, bad


def as_batch_values(good: list[tuple[int, dict[str, Any]]]) -> list[tuple[int, dict[str, Any]]]:
    out = []
    for line, v in good:
        v = dict(v)
        v["fixed_at"] = int(v["fixed_at"].timestamp())
        km = v.pop("odometer_km")
        v["odometer_m"] = None if km is None else round(km * 1000, 6)
        out.append((line, v))
    return out


def generated_positions(
    n: int, *, gaps: bool = False, notes: dict[int, str] | None = None
) -> list[list[str]]:
    rows = [["终端号", "车牌号", "定位时间", "经度", "纬度", "速度(km/h)", "方向", "ACC", "里程(km)"]]
    if notes is not None:
        rows[0].append("备注")
    for i in range(n):
        t = datetime.fromtimestamp(1717200000 + i * 7, CHINA).strftime("%Y-%m-%d %H:%M:%S")
        rows.append([
            f"86400{i % 5}", f"晋M·A{1230 + i % 5}", t,
            f"{112.5 + i % 97 * 1e-4:.6f}", f"{37.8 + i % 89 * 1e-4:.6f}",
            f"{i * 7 % 90}.5", "" if gaps and i % 10 == 3 else str(i * 13 % 360), "开关"[i % 2],
            "" if gaps and i % 10 == 5 else f"{10000 + i * 0.01:.2f}",
        ])  # fmt: skip
        if notes is not None:
            rows[-1].append(notes.get(i, ""))
    return rows


LONG_NOTE = "\r\n".join(["一行很长的备注, 带逗号"] * 600)  # 599 line breaks, longer than a test chunk
VARIANTS: dict[str, dict[str, Any]] = {
    # name: generated_positions arguments, csv_bytes arguments, expected path
    "plain": {"fast": True},
    "gaps": {"gen": {"gaps": True}, "fast": False},
    "quoted": {"csv": {"quoting": csv.QUOTE_ALL}, "fast": True},
    "quoted gaps": {"gen": {"gaps": True}, "csv": {"quoting": csv.QUOTE_ALL}, "fast": False},
    "some quotes": {"gen": {"notes": {i: "甲,乙" for i in range(1000, 1100)}}, "fast": True},
    "spanning": {"gen": {"notes": {2500: LONG_NOTE}}, "fast": True, "csv module": True},
    "tabs": {"csv": {"delimiter": "\t"}, "fast": True},
    "gbk": {"csv": {"encoding": "gbk"}, "fast": True},
    "widths": {"fast": True},
    "long ids": {"fast": False},
    "corpus": {},
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_batches_agree_with_parse_rows(variant: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # The fast path (NumPy's reader), the cell-by-cell fallback and the csv module all give what the
    # general normalisers give.
    fast_blocks: list[bool] = []
    csv_module: list[bool] = []
    real_loadtxt, real_quoted = readers._loadtxt, readers._CsvBlocks._quoted

    def spy(table: Any, blk: Any) -> Any:
        out = real_loadtxt(table, blk)
        fast_blocks.append(out is not None)
        return out

    def spy_quoted(self: Any, *args: Any) -> Any:
        csv_module.append(True)
        return real_quoted(self, *args)

    monkeypatch.setattr(readers, "_loadtxt", spy)
    monkeypatch.setattr(readers._CsvBlocks, "_quoted", spy_quoted)
    monkeypatch.setattr(readers, "CHUNK_BYTES", 16_000)  # several blocks after the header's
    spec = VARIANTS[variant]
    assert len(LONG_NOTE.encode()) > readers.CHUNK_BYTES  # so the spanning note does span chunks
    rows = generated_positions(5000, **spec.get("gen", {}))
    if variant == "widths":  # lines of another width amid clean ones
        rows[101] = rows[101][:4]
        rows[202] = [*rows[202], "多余"]
        rows[303] = []
        rows[404] = [*rows[404], ""]
    if variant == "long ids":  # longer than the fixed-width text NumPy would cut them to
        for r in rows[1::3]:
            r[0] = "86" * 20
    data = POSITIONS_CORPUS.encode() if variant == "corpus" else csv_bytes(rows, **spec.get("csv", {}))

    expected_good, expected_bad = outcomes("positions", data)
    good, bad = batch_outcomes(data, batch_size=1234)
    assert bad == expected_bad
    assert good == as_batch_values(expected_good)
    # Which way the blocks went: the test would prove nothing if every variant took the same one.
    if "fast" in spec:
        assert any(fast_blocks) is spec["fast"]
    assert bool(csv_module) is spec.get("csv module", False)
    if variant == "corpus":
        assert bad == CORPUS_ERRORS
    elif variant == "widths":
        assert True in fast_blocks and False in fast_blocks
        assert [(line, col) for line, col, _, _ in bad] == [(102, "5"), (203, "10")]
        assert len(good) == 4997
    else:
        assert bad == []
        assert len(good) == 5000
        shift = 599 if variant == "spanning" else 0  # the lines inside the long note
        assert [line for line, _ in good] == [i + 2 + (shift if i > 2500 else 0) for i in range(5000)]


def test_batches_have_the_documented_arrays() -> None:
    data = csv_bytes(generated_positions(10))
    (b,) = read_positions_batches(data)
    assert len(b) == 10
    assert b.line.tolist() == list(range(2, 12))
    assert (b.line.dtype, b.fixed_at.dtype, b.ignition.dtype) == (np.int64, np.int64, np.int8)
    for name in ("lat", "lon", "speed_kmh", "course", "odometer_m"):
        assert getattr(b, name).dtype == np.float64
    assert b.device_id.dtype == object and b.device_id[0] == "864000"
    assert b.fixed_at[:2].tolist() == [1717200000, 1717200007]
    assert b.ignition[:2].tolist() == [1, 0]
    assert b.odometer_m[1] == pytest.approx(10000010)
    assert b.rejects == []


def test_batch_sizes_and_missing_optional_columns() -> None:
    rows = [["终端号", "定位时间", "经度", "纬度", "速度"]]
    rows += [["864001", f"2024-06-01 08:00:{i:02d}", "112.5", "37.8", "1"] for i in range(25)]
    sizes = [len(b) for b in read_positions_batches(csv_bytes(rows), batch_size=10)]
    assert sizes == [10, 10, 5]
    (b,) = read_positions_batches(csv_bytes(rows))
    assert np.isnan(b.course).all() and np.isnan(b.odometer_m).all()
    assert (b.ignition == -1).all()
    assert b.plate.tolist() == [None] * 25
    with pytest.raises(ValueError):
        list(read_positions_batches(csv_bytes(rows), batch_size=0))


def test_reading_leaves_the_garbage_collector_on() -> None:
    assert gc.isenabled()
    for _ in read_positions_batches(csv_bytes(generated_positions(100)), batch_size=30):
        assert gc.isenabled()
    assert gc.isenabled()


# ----------------------------------------------------------------------------------- sources and format


def test_sources_path_bytes_and_streams(tmp_path: Path) -> None:
    data = csv_bytes([ZH_HEADER, *VEHICLES])
    (tmp_path / "v.csv").write_bytes(data)

    class Pipe(io.RawIOBase):  # an upload that cannot seek
        def __init__(self, payload: bytes) -> None:
            self._buf = io.BytesIO(payload)

        def readable(self) -> bool:
            return True

        def readinto(self, b: Any) -> int:
            chunk = self._buf.read(len(b))
            b[: len(chunk)] = chunk
            return len(chunk)

    for source in (
        tmp_path / "v.csv",
        str(tmp_path / "v.csv"),
        data,
        bytearray(data),
        io.BytesIO(data),
        Pipe(data),
    ):
        assert outcomes("vehicles", source) == (EXPECTED_VEHICLES, [])


def test_progress_counts_bytes_or_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(readers, "CHUNK_BYTES", 1000)
    data = csv_bytes(generated_positions(200))
    for source in (data, io.BytesIO(data)):
        with open_table(source, kind="positions") as table:
            done, total = table.progress()
            assert total == len(data) and 0 < done < total
            list(table)
            assert table.progress() == (len(data), len(data))
    positions_workbook(tmp_path / "p.xlsx")
    with open_table(tmp_path / "p.xlsx", kind="positions") as table:
        assert table.progress()[1] == 9
        list(table)
        assert table.progress() == (9, 9)


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(TableError, match="文件不存在"):
        open_table(tmp_path / "nope.csv", kind="units")
    with pytest.raises(TableError, match="文件是空的"):
        open_table(b"", kind="units")
    with pytest.raises(TableError, match="文件是空的"):
        open_table(b"\r\n,,\r\n  \r\n", kind="units")
    with pytest.raises(TableError, match=r"旧版 Excel \(.xls\) 不支持"):
        open_table(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, kind="units")
    with pytest.raises(TableError, match="无法打开 Excel 文件"):
        open_table(b"PK\x03\x04 not really a zip", kind="units")
    with pytest.raises(KeyError, match="未知的导入类型 'cars'"):
        open_table(b"a,b", kind="cars")
    assert issubclass(TableError, ValueError)


# ------------------------------------------------------------------------------------------ templates


def test_the_eighteen_kinds() -> None:
    assert KINDS == (
        "units", "vehicles", "drivers", "orders", "positions", "expenses", "tracker-checks",
        "tracker-assignments", "places", "fuel", "maintenance", "insurance", "inspections", "costs",
        "properties", "operating-properties", "auctions", "leases",
    )  # fmt: skip
    assert get_kind("operating_properties") is get_kind("shopfronts") is SPECS["operating-properties"]


@pytest.mark.parametrize("kind", list(SPECS))
def test_headers_are_unambiguous_within_a_kind(kind: str) -> None:
    t = SPECS[kind]
    owners: dict[str, set[str]] = {}
    for f in t.columns:
        for h in (f.zh, f.name, *f.aliases):
            owners.setdefault(header_key(h)[0], set()).add(f.name)
    assert {k: v for k, v in owners.items() if len(v) > 1} == {}
    for f in t.columns:
        assert t.match(f.zh).column is f and t.match(f.name.upper()).column is f  # type: ignore[union-attr]
        assert t.match(f" {f.header} ").column is f  # type: ignore[union-attr]


def test_header_key() -> None:
    assert header_key("速度（km/h）") == ("速度", "km/h")
    assert header_key(" *车牌号 ") == ("车牌号", "")
    assert header_key("起拍价(元/年)") == ("起拍价", "元/年")
    assert header_key("建筑面积[㎡]") == ("建筑面积", "m2")
    assert header_key("车牌号(必填)") == ("车牌号", "")
    assert header_key("Fixed_At") == ("fixedat", "")
    assert header_key(None) == ("", "")


@pytest.mark.parametrize("kind", list(SPECS))
def test_downloadable_template_reads_back(kind: str) -> None:
    data = template_xlsx(kind)
    t = get_kind(kind)
    wb = load_workbook(io.BytesIO(data))
    ws = wb.worksheets[0]
    headers = [c.value for c in ws[1]]
    assert headers == [f.header for f in t.columns]
    assert all(c.font.bold for c in ws[1])
    assert [c.font.color.rgb[-6:] == "C00000" for c in ws[1]] == [f.required for f in t.columns]
    assert ws.freeze_panes == "A2"
    # Columns sized to what they hold: a Chinese character takes two places.
    widths = [ws.column_dimensions[c.column_letter].width for c in ws[1]]
    shown = [sum(2 if ord(ch) > 0x2E80 else 1 for ch in str(c.value)) for c in ws[1]]
    assert all(w >= n + 2 for w, n in zip(widths, shown, strict=True))
    assert len(set(widths)) > 1
    assert wb.sheetnames[1] == "填写说明"
    enum_columns = {str(dv.sqref).split(":")[0] for dv in ws.data_validations.dataValidation}
    assert len(enum_columns) == sum(hasattr(f.parse, "choices") for f in t.columns)
    # The example row is itself a valid row, and every column maps back onto its field.
    with open_table(data, kind=kind) as table:
        assert table.header_line == 1 and table.ignored == []
        assert list(table.columns) == list(t.names)
    good, bad = outcomes(kind, data)
    assert bad == []
    assert len(good) == 1 and good[0][0] == 2
    assert all(good[0][1][f.name] is not None for f in t.columns if f.example is not None)

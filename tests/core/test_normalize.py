"""The normalisers: every form a clerk's file uses reads to one value; anything else fails with a reason."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from accounts import imports as accounts_imports
from core import normalize as n
from core.normalize import FieldError
from core.timeutil import CHINA
from fleet import imports as fleet_imports
from property import imports as property_imports

JUNE_1_8AM_CHINA = datetime(2024, 6, 1, 0, 0, tzinfo=UTC)


def reason(fn, value, **kw) -> str:
    with pytest.raises(FieldError) as e:
        fn(value, **kw)
    assert isinstance(e.value, ValueError)
    return e.value.reason


# ---------------------------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  城关镇人民政府 ", "城关镇人民政府"),
        ("\u3000县教育局\u3000", "县教育局"),  # ideographic spaces
        ("８６４００１", "864001"),
        ("ＡＢＣ－１２３", "ABC-123"),
        ("晋M·A1234", "晋M·A1234"),  # the middle dot survives
        ("解放路１号。", "解放路1号。"),
        ("\ufeff864001\u200b", "864001"),
        (864000000000001, "864000000000001"),
        (8.64000000000001e14, "864000000000001"),  # a device id Excel stored as a float
        (12.5, "12.5"),
        (None, ""),
        (True, "1"),
    ],
)
def test_clean(raw: object, clean: str) -> None:
    assert n.clean(raw) == clean


def test_text_requires_a_value() -> None:
    assert n.text(" x ") == "x"
    assert reason(n.text, "  \u3000") == "缺少必填项"


# --------------------------------------------------------------------------------------------- plates


@pytest.mark.parametrize(
    "raw",
    [
        "晋M·A1234",
        "晋MA1234",
        "晋M A1234",
        "晋m·a1234",
        "晋ＭＡ１２３４",
        "晋M.A1234",
        "晋M-A1234",
        "晋M・A1234",
        " 晋M•A1234 ",
        "晋Ｍ　Ａ１２３４",
    ],
)
def test_plate_forms_are_one_plate(raw: str) -> None:
    assert n.plate(raw) == "晋M·A1234"


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("晋MD12345", "晋M·D12345"),
        ("晋m·fa1234", "晋M·FA1234"),
        ("晋M12345D", "晋M·12345D"),
        ("晋M·A123学", "晋M·A123学"),
        ("京A·12345", "京A·12345"),
    ],
)
def test_plate_new_energy_and_special(raw: str, canonical: str) -> None:
    assert n.plate(raw) == canonical


@pytest.mark.parametrize(
    "raw", ["xx", "晋M·A123", "晋M·A1234567", "M·A1234", "美M·A1234", "晋1·A1234", "晋M·A12#4"]
)
def test_plate_rejects_garbage(raw: str) -> None:
    assert reason(n.plate, raw).startswith(f"车牌号格式不对 '{raw.strip()}'")


def test_plate_explains_i_and_o() -> None:
    assert "I/O" in reason(n.plate, "晋M·A12O4")


# ---------------------------------------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "raw",
    [
        "2024-06-01",
        "2024/6/1",
        "2024.6.1",
        "2024年6月1日",
        "2024年06月01日",
        " 2024 年 6 月 1 日 ",
        "20240601",
        "２０２４－０６－０１",
        45444,
        45444.0,
        "45444",
        "45444.75",
        20240601,
        datetime(2024, 6, 1, 8, 30),
        date(2024, 6, 1),
        "2024-06-01 08:00:00",
        "2024/6/1 8:00",
    ],
)
def test_date_forms(raw: object) -> None:
    assert n.date_(raw) == date(2024, 6, 1)


def test_excel_serials_match_excel() -> None:
    # Excel shows serial 43952 as 2020-05-01 and 36526 as 2000-01-01 (the 1900 leap-year bug included).
    assert n.date_(43952) == date(2020, 5, 1)
    assert n.date_("36526") == date(2000, 1, 1)


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("2024-13-01", "无法识别的日期 '2024-13-01'"),
        ("2024-02-30", "日期不存在 '2024-02-30'"),
        ("2023-02-29", "日期不存在 '2023-02-29'"),
        ("6/1/2024", "无法识别的日期 '6/1/2024'"),
        ("昨天", "无法识别的日期 '昨天'"),
        (123, "无法识别的日期 '123'"),
        ("", "缺少日期"),
    ],
)
def test_date_errors(raw: object, why: str) -> None:
    assert reason(n.date_, raw) == why


@pytest.mark.parametrize(
    "raw",
    [
        "2024-06-01 08:00:00",
        "2024-06-01 08:00",
        "2024/6/1 8:00",
        "2024/06/01 08:00:00",
        "2024-06-01T08:00:00",
        "2024年6月1日 8时0分",
        "2024年6月1日8时0分0秒",
        "2024年6月1日 8点",
        "2024-06-01T08:00:00+08:00",
        "2024-06-01T00:00:00Z",
        "2024-06-01 00:00:00 UTC",
        "2024-05-31T19:00:00-05:00",
        "2024-06-01 08:00:00+0800",
        "20240601080000",
        "2024/6/1 上午 8:00",
        "2024/6/1 8:00 AM",
        "２０２４－０６－０１　０８：００：００",
        45444 + 8 / 24,
        "45444.3333333333",
        1717200000,
        "1717200000",
        1717200000000,
        "1717200000000",
        datetime(2024, 6, 1, 8, 0),
        datetime(2024, 6, 1, 0, 0, tzinfo=UTC),
        datetime(2024, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=9))),
    ],
)
def test_datetime_china_forms(raw: object) -> None:
    got = n.datetime_china(raw)
    assert got == JUNE_1_8AM_CHINA
    assert got.utcoffset() == timedelta(0)


def test_datetime_china_afternoon_fractions_and_dates() -> None:
    assert n.datetime_china("2024/6/1 下午 3:30") == datetime(2024, 6, 1, 7, 30, tzinfo=UTC)
    assert n.datetime_china("2024/6/1 12:15 AM") == datetime(2024, 5, 31, 16, 15, tzinfo=UTC)
    assert n.datetime_china("2024-06-01 08:00:00.250") == datetime(2024, 6, 1, 0, 0, 0, 250000, tzinfo=UTC)
    assert n.datetime_china(45444.5) == datetime(2024, 6, 1, 4, 0, tzinfo=UTC)  # noon in China
    assert n.datetime_china("2024-06-01") == datetime(2024, 5, 31, 16, 0, tzinfo=UTC)  # midnight in China
    assert n.datetime_china(date(2024, 6, 1)) == datetime(2024, 5, 31, 16, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("parse", "raw", "why"),
    [
        (n.datetime_china, "2024-13-01 08:00:00", "无法识别的日期 '2024-13-01 08:00:00'"),
        (n.datetime_china, "2024-06-31 08:00", "日期不存在 '2024-06-31 08:00'"),
        (n.datetime_china, "2024-06-01 25:00", "时刻不存在 '2024-06-01 25:00'"),
        (n.datetime_china, "2024-06-01 08:61:00", "时刻不存在 '2024-06-01 08:61:00'"),
        (
            n.datetime_china,
            "2024-06-01 08:00:00+25:00",
            "无法识别的时区 '2024-06-01 08:00:00+25:00'",
        ),
        (n.datetime_china, "早上八点", "无法识别的时间 '早上八点'"),
        (n.datetime_china, "", "缺少时间"),
        (n.datetime_china, float("nan"), "无法识别的时间 'nan'"),
        (n.money_fen, "12.345", "金额最多两位小数 '12.345'"),
        (n.money_fen, 0.001, "金额最多两位小数 '0.001'"),
        (n.money_fen, "-5", "金额不能为负 '-5'"),
        (n.money_fen, "1,2345", "无法识别的金额 '1,2345'"),
        (n.money_fen, "十元", "无法识别的金额 '十元'"),
        (n.money_fen, "元", "无法识别的金额 '元'"),
        (n.money_fen, "", "无法识别的金额 ''"),
        (n.money_fen, float("inf"), "无法识别的金额 'inf'"),
    ],
)
def test_errors_say_what_is_wrong(parse: Any, raw: object, why: str) -> None:
    assert reason(parse, raw) == why


def test_epochs_china_fast_path_agrees_with_the_general_parser() -> None:
    rng = random.Random(4)
    start = datetime(1992, 1, 1, tzinfo=UTC).timestamp()
    stamps = [int(start + rng.random() * 3.4e9) for _ in range(3000)]
    stamps += [
        int(datetime(y, 2, 29, 23, 59, 59, tzinfo=CHINA).timestamp()) for y in (1996, 2000, 2024, 2096)
    ]
    texts = [datetime.fromtimestamp(s, CHINA).strftime("%Y-%m-%d %H:%M:%S") for s in stamps]
    texts[::7] = [t.replace("-", "/") for t in texts[::7]]
    texts[::11] = [t.replace(" ", "T") for t in texts[::11]]
    epochs, errors = n.epochs_china(texts)
    assert errors == {}
    assert epochs.dtype == np.int64
    assert epochs.tolist() == stamps
    assert epochs.tolist() == [int(n.datetime_china(t).timestamp()) for t in texts]


def test_epochs_china_falls_back_and_reports_per_cell() -> None:
    values = [
        "2024-06-01 08:00:00",
        "2024/6/1 8:00",
        "2023-02-29 08:00:00",
        "2024-06-01 24:00:00",
        "",
        "2024-06-01 08:00:00Z",
        45444 + 8 / 24,
        datetime(2024, 6, 1, 8),
        None,
        "1991-06-01 08:00:00",
        "x",
    ]
    epochs, errors = n.epochs_china(values)
    t = 1717200000
    assert epochs[[0, 1, 6, 7]].tolist() == [t, t, t, t]
    assert epochs[5] == t + 8 * 3600
    # China kept summer time until 1991 (UTC+9 that June): the fast path leaves those years to the zone
    # database rather than assume UTC+8.
    assert epochs[9] == int(n.datetime_china("1991-06-01 08:00:00").timestamp()) == 675734400 - 3600
    assert errors == {
        2: "日期不存在 '2023-02-29 08:00:00'",
        3: "时刻不存在 '2024-06-01 24:00:00'",
        4: "缺少必填项",
        8: "缺少必填项",
        10: "无法识别的时间 'x'",
    }


# ------------------------------------------------------------------------------------------- booleans


@pytest.mark.parametrize(
    "raw", ["开", "1", "是", "true", "TRUE", "on", "ON", "ACC开", "acc 开", "ACC:ON", "点火", 1, True, 1.0]
)
def test_boolean_true(raw: object) -> None:
    assert n.boolean(raw) is True


@pytest.mark.parametrize(
    "raw", ["关", "0", "否", "false", "off", "ACC关", "ACC OFF", "熄火", " 关 ", 0, False]
)
def test_boolean_false(raw: object) -> None:
    assert n.boolean(raw) is False


def test_boolean_error() -> None:
    assert reason(n.boolean, "半开") == "无法识别的开关值 '半开' (应为 开/关, 是/否, 1/0)"
    assert reason(n.boolean, 2).startswith("无法识别的开关值")


# -------------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("raw", "fen"),
    [
        ("1234.5", 123450),
        ("1,234.50", 123450),
        ("￥1234.5", 123450),
        ("¥ 1,234.50", 123450),
        ("1234.5元", 123450),
        ("人民币1234.50元", 123450),
        ("１２３４．５", 123450),
        ("0.01", 1),
        ("35", 3500),
        (35, 3500),
        (1234.56, 123456),
        (1234.5600000000002, 123456),
        (Decimal("0.10"), 10),
        ("1.5万元", 1500000),
        ("4.2万", 4200000),
        ("1234.500", 123450),
        ("0", 0),
    ],
)
def test_money_fen(raw: object, fen: int) -> None:
    got = n.money_fen(raw)
    assert got == fen
    assert type(got) is int


def test_money_negative_when_allowed() -> None:
    assert n.money_fen("-12.30", allow_negative=True) == -1230


def test_decimal_integer_float() -> None:
    assert n.decimal_("2,350.50") == Decimal("2350.50")
    assert n.decimal_(85.3) == Decimal("85.3")
    assert n.decimal_("８５．３") == Decimal("85.3")
    assert n.integer("3") == 3
    assert n.integer(3.0) == 3
    assert n.integer("1,200") == 1200
    assert n.float_(" 112.5 ") == 112.5
    assert n.float_("-0.5") == -0.5
    assert reason(n.integer, "3.5") == "不是整数 '3.5'"
    assert reason(n.decimal_, "abc") == "不是数字 'abc'"
    assert reason(n.float_, "nan") == "不是数字 'nan'"
    assert reason(n.float_, "1O") == "不是数字 '1O'"
    assert reason(n.decimal_, "Infinity") == "不是数字 'Infinity'"


def test_coordinates_and_non_negative() -> None:
    assert n.latitude("37.8") == 37.8
    assert n.longitude("-112.5") == -112.5
    assert reason(n.latitude, "112.5").startswith("纬度超出范围 '112.5'")
    assert reason(n.longitude, "200") == "经度超出范围 '200'"
    assert reason(n.non_negative_float, "-5") == "不能为负 '-5'"
    assert reason(n.non_negative_decimal, "-0.1") == "不能为负 '-0.1'"


def test_long_values_are_cut_in_messages() -> None:
    why = reason(n.date_, "x" * 500)
    assert len(why) < 80
    assert "..." in why


# ------------------------------------------------------------------------------------------ enum words


@pytest.mark.parametrize(
    ("fn", "word", "code"),
    [
        (fleet_imports.vehicle_status, "在用", "in_service"),
        (fleet_imports.vehicle_status, "闲置", "idle_proposed"),
        (fleet_imports.vehicle_status, "待处置", "disposal_pending"),
        (fleet_imports.vehicle_status, "已处置", "disposed"),
        (fleet_imports.vehicle_status, "In Service", "in_service"),
        (fleet_imports.vehicle_status, "disposal-pending", "disposal_pending"),
        (fleet_imports.order_status, "已批准", "approved"),
        (fleet_imports.order_status, "待审批", "submitted"),
        (fleet_imports.order_status, "pending", "submitted"),  # another platform's export in English
        (fleet_imports.order_status, "已还车", "returned"),
        (fleet_imports.order_status, "已驳回", "rejected"),
        (fleet_imports.order_status, "已取消", "cancelled"),
        (fleet_imports.order_status, "APPROVED", "approved"),
        (accounts_imports.unit_kind, "乡镇", "township"),
        (accounts_imports.unit_kind, "县直", "department"),
        (accounts_imports.unit_kind, "县直单位", "department"),
        (accounts_imports.unit_kind, "department", "department"),
        (property_imports.operating_status, "出租", "leased"),
        (property_imports.operating_status, "自用", "self_used"),
        (property_imports.operating_status, "闲置", "idle"),
        (property_imports.operating_status, "招租", "offered"),
        (property_imports.operating_status, "未接管", "not_taken_over"),
        (property_imports.operating_status, "self used", "self_used"),
        (property_imports.auction_result, "成交", "sold"),
        (property_imports.auction_result, "流拍", "unsold"),
        (property_imports.auction_result, "撤拍", "withdrawn"),
        (property_imports.auction_result, " Sold ", "sold"),
        (property_imports.auction_result, "ｗｉｔｈｄｒａｗｎ", "withdrawn"),
    ],
)
def test_enum_words(fn: n.EnumMap, word: str, code: str) -> None:
    assert fn(word) == code
    assert code in fn.codes


def test_enum_error_lists_the_choices() -> None:
    assert reason(fleet_imports.vehicle_status, "坏了") == (
        "无法识别的车辆状态 '坏了' (应为 在用/闲置/待处置/已处置)"
    )
    assert reason(fleet_imports.order_status, "ok").endswith(
        "(应为 已批准/待审批/已派车/已还车/已驳回/已取消)"
    )
    status = property_imports.operating_status
    assert reason(status, "出售").endswith("(应为 出租/自用/闲置/招租/未接管)")


@pytest.mark.parametrize(("raw", "k"), [("1", 1), (2, 2), ("第2轮", 2), ("第三轮", 3), ("二", 2), ("３", 3)])
def test_round_no(raw: object, k: int) -> None:
    assert n.round_no(raw) == k


def test_round_no_errors() -> None:
    assert reason(n.round_no, "0") == "轮次从 1 开始 '0'"
    assert reason(n.round_no, "首轮") == "无法识别的轮次 '首轮'"

"""Normalisers: one raw cell (text from a CSV, or whatever openpyxl gives) → one clean value.

Each raises `FieldError(reason)`, a `ValueError` whose message a county clerk can act on, in Chinese or
English (GONGWU_LANGUAGE, through core.i18n). They are pure: no database. Empty cells are the caller's
business (a required field is checked before its normaliser runs), so a normaliser given an empty value
raises too.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal, InvalidOperation

import numpy as np

from core.i18n import tr
from core.timeutil import is_china_time, local_zone

_CHINA_OFFSET_S = 8 * 3600  # fixed since 1991; the fast path only takes years ≥ 1992

# Excel's day 0 is 1899-12-30 for every serial ≥ 61 (Excel counts a 1900-02-29 that never was).
_EXCEL_EPOCH = date(1899, 12, 30)
# Serials a clerk's date can plausibly be: 1930-01-01 .. 2099-12-31. Outside that a number is not a date.
_SERIAL_MIN, _SERIAL_MAX = 10959, 73050


class FieldError(ValueError):
    """A cell that cannot be read; `reason` is shown to the clerk as is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------------------------------------- text

_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def _show(value: object) -> str:
    """The value as quoted in an error message, cut so one bad cell cannot flood a report."""
    s = (
        value
        if isinstance(value, str)
        else _number_text(value)
        if isinstance(value, int | float)
        else str(value)
    )
    s = s.strip()
    return repr(s if len(s) <= 40 else s[:37] + "...")


def _number_text(value: int | float) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e16:
        return str(int(value))  # a device id or order number Excel stored as 8.6e14 reads back whole
    return str(value) if isinstance(value, int) else repr(value)


def clean(value: object) -> str:
    """Full-width → half-width (NFKC), invisible characters dropped, surrounding space stripped.

    NFKC maps `ＡＢ１２` and the ideographic space to ASCII and leaves `·` and Chinese full stops alone, so
    plates and addresses keep their punctuation. Numbers from a spreadsheet become their plain text.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        if value.isascii():
            return value.strip()
        return unicodedata.normalize("NFKC", value).translate(_INVISIBLE).strip()
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float):
        return _number_text(value)
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    return clean(str(value))


def text(value: object) -> str:
    """A required text field: cleaned, non-empty."""
    s = clean(value)
    if not s:
        raise FieldError(tr("缺少必填项", "required value missing"))
    return s


def is_blank(value: object) -> bool:
    return value is None or (isinstance(value, str) and not clean(value))


# --------------------------------------------------------------------------------------------- phones

_MOBILE = re.compile(r"1[3-9]\d{9}")
_LANDLINE = re.compile(r"0\d{2,3}-?\d{7,8}")


def phone(value: object) -> str:
    """A mainland mobile (13812345678, +86 138 1234 5678) or a landline with its area code (0359-2123456):
    a mobile as its 11 digits, a landline as written (its area code's length cannot be told apart)."""
    s = unicodedata.normalize("NFKC", clean(value))
    digits = re.sub(r"[\s()（）]", "", s)
    digits = re.sub(r"^(\+?86|0086)-?(?=1)", "", digits)
    if _MOBILE.fullmatch(digits.replace("-", "")):
        return digits.replace("-", "")
    if _LANDLINE.fullmatch(digits):
        return digits
    raise FieldError(
        tr(f"不是手机号或带区号的电话 {_show(value)}", f"not a mobile or landline number {_show(value)}")
    )


# --------------------------------------------------------------------------------------------- plates

_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_SEPARATORS = re.compile(r"[\s·・•‧∙⋅.\-_·]+")
_PLATE = re.compile(
    rf"""^(?P<prov>[{_PROVINCES}])(?P<auth>[A-Z])
    (?P<tail>
        [A-HJ-NP-Z0-9]{{5}}                       # ordinary: 5 letters/digits, never I or O
      | [A-HJ-NP-Z0-9]{{4}}[学警挂领试超港澳]      # a Chinese last character
      | [A-HJ-K][A-HJ-NP-Z0-9][0-9]{{4}}          # new energy, small: D/F (…) then 5
      | [0-9]{{5}}[A-HJ-K]                        # new energy, large: 5 digits then D/F (…)
    )$""",
    re.VERBOSE,
)


def plate(value: object) -> str:
    """A licence plate in its canonical form `晋M·A1234` (new energy `晋M·D12345`).

    Accepts `晋MA1234`, `晋M A1234`, `晋m·a1234`, full-width letters and digits, and any middle dot.
    """
    raw = clean(value)
    if not raw:
        raise FieldError(tr("缺少车牌号", "plate missing"))
    s = _SEPARATORS.sub("", raw).upper()
    m = _PLATE.match(s)
    if m is None:
        hint = tr(" (字母 I/O 不用于车牌)", " (plates never use I or O)") if re.search("[IO]", s[2:]) else ""
        raise FieldError(
            tr(
                f"车牌号格式不对 {_show(raw)}, 例 晋M·A1234{hint}",
                f"invalid plate {_show(raw)}, e.g. 晋M·A1234{hint}",
            )
        )
    return f"{m['prov']}{m['auth']}·{m['tail']}"


# ---------------------------------------------------------------------------------------- dates, times

_DATE_TEXT = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_DATE_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
_SERIAL_TEXT = re.compile(r"^\d{5}(?:\.\d+)?$")
_DATETIME_TEXT = re.compile(
    r"""^(?P<y>\d{4})\s*[-/.年]\s*(?P<mo>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?
    (?:(?:\s*[T\s]\s*|(?<=日))
       (?P<ampm>上午|下午|凌晨|晚上|中午)?\s*
       (?P<h>\d{1,2})\s*(?::|时|点)\s*(?:(?P<mi>\d{1,2})\s*(?::|分)?\s*
       (?:(?P<s>\d{1,2})(?:\.(?P<frac>\d{1,9}))?\s*秒?)?)?
       \s*(?P<ap>AM|PM|am|pm)?
    )?
    \s*(?P<tz>Z|z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)?$""",
    re.VERBOSE,
)
_DATETIME_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})[T\s]?(\d{2})(\d{2})(\d{2})$")


def _make_date(y: int, m: int, d: int, shown: str) -> date:
    if not 1 <= m <= 12 or not 1 <= d <= 31:
        raise FieldError(tr(f"无法识别的日期 {shown}", f"unreadable date {shown}"))
    try:
        return date(y, m, d)
    except ValueError:
        raise FieldError(tr(f"日期不存在 {shown}", f"no such date {shown}")) from None


def _serial_date(serial: float, shown: str) -> date:
    if not _SERIAL_MIN <= serial <= _SERIAL_MAX:
        raise FieldError(tr(f"无法识别的日期 {shown}", f"unreadable date {shown}"))
    return _EXCEL_EPOCH + timedelta(days=math.floor(serial))


def _number_date(value: int | float, shown: str) -> date:
    if isinstance(value, float) and not math.isfinite(value):
        raise FieldError(tr(f"无法识别的日期 {shown}", f"unreadable date {shown}"))
    if value == int(value) and 19000101 <= value <= 29991231:  # 20240601 typed into a number cell
        n = int(value)
        return _make_date(n // 10000, n // 100 % 100, n % 100, shown)
    return _serial_date(value, shown)


def date_(value: object) -> date:
    """A calendar date: `2024-06-01`, `2024/6/1`, `2024.6.1`, `2024年6月1日`, `20240601`, an Excel serial
    (45444 or '45444'), or a date/datetime from openpyxl. A time of day, if written, is dropped."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    shown = _show(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number_date(value, shown)
    s = clean(value)
    if not s:
        raise FieldError(tr("缺少日期", "date missing"))
    if m := _DATE_TEXT.match(s) or _DATE_COMPACT.match(s):
        return _make_date(int(m[1]), int(m[2]), int(m[3]), shown)
    if _SERIAL_TEXT.match(s):
        return _number_date(float(s), shown)
    if _DATETIME_TEXT.match(s) or _DATETIME_COMPACT.match(s):  # `2024-06-01 08:00` in a date column
        return _local_datetime(s, shown)[0].date()
    raise FieldError(tr(f"无法识别的日期 {shown}", f"unreadable date {shown}"))


def _tz_of(tz: str) -> timezone | None:
    if tz in ("Z", "z", "UTC", "GMT"):
        return UTC
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
    if hours > 14 or minutes > 59:
        raise ValueError(tz)
    return timezone(sign * timedelta(hours=hours, minutes=minutes))


def _local_datetime(s: str, shown: str) -> tuple[datetime, timezone | None]:
    """A written date-time → (naive wall time, its zone if written)."""
    m = _DATETIME_COMPACT.match(s)
    if m:
        y, mo, d, h, mi, sec = map(int, m.groups())
        frac, tz = 0, None
    else:
        m = _DATETIME_TEXT.match(s)
        if m is None:
            raise FieldError(tr(f"无法识别的时间 {shown}", f"unreadable date/time {shown}"))
        y, mo, d = int(m["y"]), int(m["mo"]), int(m["d"])
        h, mi, sec = int(m["h"] or 0), int(m["mi"] or 0), int(m["s"] or 0)
        frac = int((m["frac"] or "0").ljust(6, "0")[:6])
        ampm = m["ampm"] or (m["ap"] or "").upper()
        if ampm and h > 12:
            raise FieldError(tr(f"无法识别的时间 {shown}", f"unreadable date/time {shown}"))
        if ampm in ("下午", "晚上", "PM") and h < 12:
            h += 12
        elif ampm in ("凌晨", "上午", "AM") and h == 12:
            h = 0
        try:
            tz = _tz_of(m["tz"]) if m["tz"] else None
        except ValueError:
            raise FieldError(tr(f"无法识别的时区 {shown}", f"unreadable time zone in {shown}")) from None
    day = _make_date(y, mo, d, shown)
    try:
        return datetime.combine(day, time(h, mi, sec, frac)), tz
    except ValueError:
        raise FieldError(tr(f"时刻不存在 {shown}", f"no such time of day {shown}")) from None


def _from_epoch(seconds: float, shown: str) -> datetime:
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise FieldError(tr(f"无法识别的时间 {shown}", f"unreadable date/time {shown}")) from None


def _number_datetime(value: float, shown: str) -> datetime:
    if not math.isfinite(value):
        raise FieldError(tr(f"无法识别的时间 {shown}", f"unreadable date/time {shown}"))
    if value >= 1e12:  # epoch milliseconds, as tracking platforms export them: UTC by definition
        return _from_epoch(value / 1000, shown)
    if value >= 1e9:
        return _from_epoch(value, shown)
    if 19000101 <= value <= 29991231 and value == int(value):
        return _china_midnight(_number_date(value, shown))
    day = _serial_date(value, shown)
    # Excel stores 08:00:00 as 0.3333…; round to the second so float noise does not shift a fix.
    seconds = round((value - math.floor(value)) * 86400)
    local = datetime.combine(day, time()) + timedelta(seconds=seconds)
    return local.replace(tzinfo=local_zone()).astimezone(UTC)


def _china_midnight(day: date) -> datetime:
    return datetime.combine(day, time(), local_zone()).astimezone(UTC)


def datetime_china(value: object) -> datetime:
    """A moment as an aware UTC datetime. Text or a spreadsheet value without a zone is China time.

    Accepts `2024-06-01 08:00:00`, `2024/6/1 8:00`, `2024年6月1日 8时0分`, ISO with an offset or `Z`,
    `20240601080000`, an Excel serial with a fraction of a day, epoch seconds or milliseconds (UTC), and
    openpyxl datetimes; a bare date is its midnight in China.
    """
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=local_zone())
        return value.astimezone(UTC)
    if isinstance(value, date):
        return _china_midnight(value)
    shown = _show(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _number_datetime(float(value), shown)
    s = clean(value)
    if not s:
        raise FieldError(tr("缺少时间", "date/time missing"))
    if re.fullmatch(r"\d{5}(?:\.\d+)?|\d{10}(?:\.\d+)?|\d{13}", s):
        return _number_datetime(float(s), shown)
    if _DATE_COMPACT.match(s):
        return _china_midnight(date_(s))
    local, tz = _local_datetime(s, shown)
    return local.replace(tzinfo=tz or local_zone()).astimezone(UTC)


# Positions of the digits and separators in 'YYYY-MM-DD HH:MM:SS'.
_DIGIT_AT = np.array([0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18])
_SEP_AT = np.array([4, 7, 10, 13, 16])


def _fast_epochs(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised `YYYY-MM-DD HH:MM:SS` (or `/` between date parts, or `T`) as China time → epoch seconds.

    Returns (epochs, ok); rows not ok (any other format, an impossible date) need the general parser.
    """
    n = len(values)
    arr = np.ascontiguousarray(values, dtype=str)  # a field of a structured array is strided
    width = arr.dtype.itemsize // 4
    if n == 0 or width < 19:
        return np.zeros(n, np.int64), np.zeros(n, bool)
    codes = arr.view(np.uint32).reshape(n, width)
    ok = codes[:, 18] != 0
    if width > 19:
        ok &= ~codes[:, 19:].any(axis=1)
    digits = codes[:, _DIGIT_AT].astype(np.int64) - 48
    ok &= ((digits >= 0) & (digits <= 9)).all(axis=1)
    sep = codes[:, _SEP_AT]
    ok &= ((sep[:, 0] == 45) & (sep[:, 1] == 45)) | ((sep[:, 0] == 47) & (sep[:, 1] == 47))  # - or /
    ok &= (sep[:, 2] == 32) | (sep[:, 2] == 84)  # space or T
    ok &= (sep[:, 3] == 58) & (sep[:, 4] == 58)  # :
    y = digits[:, 0] * 1000 + digits[:, 1] * 100 + digits[:, 2] * 10 + digits[:, 3]
    mo = digits[:, 4] * 10 + digits[:, 5]
    d = digits[:, 6] * 10 + digits[:, 7]
    h = digits[:, 8] * 10 + digits[:, 9]
    mi = digits[:, 10] * 10 + digits[:, 11]
    s = digits[:, 12] * 10 + digits[:, 13]
    leap = (y % 4 == 0) & ((y % 100 != 0) | (y % 400 == 0))
    month_days = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])[np.clip(mo, 0, 12)]
    month_days = month_days + ((mo == 2) & leap)
    ok &= (y >= 1992) & (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= month_days)
    ok &= (h <= 23) & (mi <= 59) & (s <= 59)
    # Days from 1970-01-01 (H. Hinnant's days_from_civil), vectorised.
    yy = y - (mo <= 2)
    era = yy // 400
    yoe = yy - era * 400
    doy = (153 * (mo + np.where(mo > 2, -3, 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    epochs = days * 86400 + h * 3600 + mi * 60 + s - _CHINA_OFFSET_S
    return np.where(ok, epochs, 0), ok


def epochs_china(values: Sequence[object]) -> tuple[np.ndarray, dict[int, str]]:
    """Many times at once → (int64 epoch seconds UTC, {index: reason} for the unreadable ones).

    The common export format goes through a vectorised path; every other cell through `datetime_china`.
    Rows in the error dict hold 0.
    """
    # Non-text cells become their str() here and simply miss the fast format (China time only: UTC+8).
    if is_china_time():
        epochs, ok = _fast_epochs(values)  # type: ignore[arg-type]
    else:
        epochs, ok = np.zeros(len(values), np.int64), np.zeros(len(values), bool)
    errors: dict[int, str] = {}
    for i in np.flatnonzero(~ok).tolist():
        v = values[i]
        if is_blank(v):
            errors[i] = tr("缺少必填项", "required value missing")
            continue
        try:
            epochs[i] = math.floor(datetime_china(v).timestamp())
        except FieldError as e:
            errors[i] = e.reason
    return epochs, errors


# ------------------------------------------------------------------------------------------- booleans

_TRUE = {"1", "是", "开", "开启", "打开", "点火", "on", "true", "yes", "y", "t", "有", "启动"}
_FALSE = {"0", "否", "关", "关闭", "熄火", "off", "false", "no", "n", "f", "无", "停止"}


def boolean(value: object) -> bool:
    """开/关, 是/否, 1/0, true/false, on/off, yes/no, ACC开/ACC关, 点火/熄火."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    s = clean(value).casefold()
    key = re.sub(r"^acc[\s:_\-]*|[\s:_\-]+|状态$", "", s)
    if key in _TRUE:
        return True
    if key in _FALSE:
        return False
    raise FieldError(
        tr(
            f"无法识别的开关值 {_show(value)} (应为 开/关, 是/否, 1/0)",
            f"unreadable on/off value {_show(value)} (should be on/off, yes/no, 1/0)",
        )
    )


# -------------------------------------------------------------------------------------------- numbers

_GROUPED = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d*)?$")


def _number_text_of(value: object) -> str:
    """Clean numeric text: thousands separators removed only where they group correctly."""
    s = clean(value)
    if not s:
        raise FieldError(tr("缺少数值", "value missing"))
    if "," in s:
        if not _GROUPED.match(s):
            raise FieldError(tr(f"无法识别的数字 {_show(value)}", f"unreadable number {_show(value)}"))
        s = s.replace(",", "")
    return s


def decimal_(value: object) -> Decimal:
    """An exact decimal (areas, amounts): `1,234.50`, full-width digits, a spreadsheet number."""
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FieldError(tr(f"不是数字 {_show(value)}", f"not a number {_show(value)}"))
        return Decimal(repr(value))  # the shortest text that round-trips, not the binary expansion
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    s = _number_text_of(value)
    try:
        d = Decimal(s)
    except InvalidOperation:
        raise FieldError(tr(f"不是数字 {_show(value)}", f"not a number {_show(value)}")) from None
    if not d.is_finite():
        raise FieldError(tr(f"不是数字 {_show(value)}", f"not a number {_show(value)}"))
    return d


def integer(value: object) -> int:
    """A whole number: `3`, `3.0`, `1,200`."""
    if isinstance(value, bool):
        raise FieldError(tr(f"不是整数 {_show(value)}", f"not a whole number {_show(value)}"))
    d = decimal_(value)
    if d != d.to_integral_value():
        raise FieldError(tr(f"不是整数 {_show(value)}", f"not a whole number {_show(value)}"))
    return int(d)


def float_(value: object) -> float:
    """A measurement (coordinates, speed): finite float."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        f = float(value)
    else:
        s = _number_text_of(value)
        try:
            f = float(s)
        except ValueError:
            raise FieldError(tr(f"不是数字 {_show(value)}", f"not a number {_show(value)}")) from None
    if not math.isfinite(f):
        raise FieldError(tr(f"不是数字 {_show(value)}", f"not a number {_show(value)}"))
    return f


def latitude(value: object) -> float:
    f = float_(value)
    if not -90 <= f <= 90:
        raise FieldError(
            tr(
                f"纬度超出范围 {_show(value)} (经纬度是否填反?)",
                f"latitude {_show(value)} not in -90..90 (lat/lon swapped?)",
            )
        )
    return f


def longitude(value: object) -> float:
    f = float_(value)
    if not -180 <= f <= 180:
        raise FieldError(tr(f"经度超出范围 {_show(value)}", f"longitude {_show(value)} not in -180..180"))
    return f


def non_negative_float(value: object) -> float:
    f = float_(value)
    if f < 0:
        raise FieldError(tr(f"不能为负 {_show(value)}", f"must not be negative {_show(value)}"))
    return f


def non_negative_decimal(value: object) -> Decimal:
    d = decimal_(value)
    if d < 0:
        raise FieldError(tr(f"不能为负 {_show(value)}", f"must not be negative {_show(value)}"))
    return d


_MONEY_AFFIXES = re.compile(r"^(?:人民币|RMB|CNY|[￥¥])\s*|\s*(?:元整?|圆整?|RMB|CNY)$", re.IGNORECASE)


def money_fen(value: object, *, allow_negative: bool = False) -> int:
    """Yuan → integer fen, exactly: `1234.5`, `1,234.50`, `￥1234.5`, `1234.5元`, `1.5万元`.

    More than two decimals (a fraction of a fen) is refused, not rounded, as is a negative amount unless
    allowed. A spreadsheet float is read through its shortest text, so 1234.56 is 123456 fen.
    """
    shown = _show(value)
    if isinstance(value, bool):
        raise FieldError(tr(f"无法识别的金额 {shown}", f"unreadable amount {shown}"))
    if isinstance(value, float):
        if not math.isfinite(value):
            raise FieldError(tr(f"无法识别的金额 {shown}", f"unreadable amount {shown}"))
        yuan = Decimal(repr(value))
        if (yuan * 100) % 1 and abs(value * 100 - round(value * 100)) < 1e-6:
            yuan = yuan.quantize(Decimal("0.01"))  # float noise from a formula, e.g. 1234.5600000000002
    elif isinstance(value, int):
        yuan = Decimal(value)
    else:
        s = clean(value).replace(" ", "")
        s = _MONEY_AFFIXES.sub("", _MONEY_AFFIXES.sub("", s))
        scale = 1
        if s.endswith("万"):
            s, scale = s[:-1], 10000
        if not s or not re.fullmatch(r"[+-]?[\d,]*\.?\d*", s) or not re.search(r"\d", s):
            raise FieldError(tr(f"无法识别的金额 {shown}", f"unreadable amount {shown}"))
        try:
            yuan = decimal_(s) * scale
        except FieldError:
            raise FieldError(tr(f"无法识别的金额 {shown}", f"unreadable amount {shown}")) from None
    fen = yuan * 100
    if fen != fen.to_integral_value():
        raise FieldError(tr(f"金额最多两位小数 {shown}", f"amount has more than 2 decimals {shown}"))
    if fen < 0 and not allow_negative:
        raise FieldError(tr(f"金额不能为负 {shown}", f"amount must not be negative {shown}"))
    return int(fen)


# ------------------------------------------------------------------------------------------ enum words


def _key(word: str) -> str:
    return re.sub(r"[\s_\-]+", "", word.casefold())


class EnumMap:
    """Chinese (and English) words → one code. Calling it normalises a cell. `label` is the field's name in
    both languages, `("车辆状态", "vehicle status")`."""

    def __init__(self, label: tuple[str, str], words: Mapping[str, Sequence[str]]) -> None:
        self.label = label
        self.codes = tuple(words)
        self.choices = "/".join(ws[0] for ws in words.values())  # the first word of each is the Chinese
        self._lookup: dict[str, str] = {}
        for code, ws in words.items():
            for w in (code, *ws):
                self._lookup[_key(w)] = code

    def __call__(self, value: object) -> str:
        s = clean(value)
        code = self._lookup.get(_key(s))
        if code is None:
            zh, en = self.label
            shown = _show(value)
            raise FieldError(
                tr(
                    f"无法识别的{zh} {shown} (应为 {self.choices})",
                    f"unknown {en} {shown} (should be {'/'.join(self.codes)})",
                )
            )
        return code


_CN_DIGITS = {
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}


def round_no(value: object) -> int:
    """An auction round: `2`, `第2轮`, `第二轮`, `二`."""
    s = clean(value)
    core = re.sub(r"^第|[轮次]$", "", s)
    n = _CN_DIGITS.get(core)
    if n is None:
        try:
            n = integer(core)
        except FieldError:
            raise FieldError(
                tr(f"无法识别的轮次 {_show(value)}", f"unreadable round {_show(value)}")
            ) from None
    if n < 1:
        raise FieldError(tr(f"轮次从 1 开始 {_show(value)}", f"round must be 1 or more {_show(value)}"))
    return n

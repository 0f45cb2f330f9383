"""The one writer of the CSV and Excel files people open: CLI exports, page downloads, the audit export and
an import's rejected rows all go through here, so every one of them is safe to open.

Safe means: a text that starts like a formula (`=`, `+`, `-`, `@`, a tab or a carriage return) stays text,
so a tenant named `=cmd|' /C calc'!A0` stays a name in Excel and WPS instead of running (OWASP's
CSV-injection advice): in a CSV with a leading apostrophe, in an XLSX as a string cell with Excel's quote
prefix. Numbers stay numbers; times are China time; dicts and lists JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.timeutil import to_china, utcnow

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
XLSX_MEDIA = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_SHEET_FORBIDDEN = str.maketrans({c: " " for c in "[]:*?/\\"})


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_china(value).isoformat()
    if isinstance(value, date | Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def safe_text(text: str) -> str:
    """A text a spreadsheet shows as text, never evaluates."""
    return "'" + text if text.startswith(FORMULA_START) else text


def cell(value: Any) -> Any:
    """A value as a cell: China time for instants, JSON for structures, safe text for strings."""
    if isinstance(value, datetime):
        return to_china(value).strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)
    if isinstance(value, str):
        return safe_text(value)
    return value


def sheet_title(title: str) -> str:
    """A title Excel accepts as a sheet name: none of []:*?/\\, not blank, not quoted at either end,
    at most 31 characters."""
    name = " ".join((title or "").translate(_SHEET_FORBIDDEN).split()).strip("'")
    return (name or "gongwu")[:31].strip() or "gongwu"


def csv_text(header: Sequence[Any], rows: Iterable[Sequence[Any]], *, crlf: bool = False) -> str:
    """CSV of safe cells (without a BOM: `csv_bytes` adds it for a download)."""
    buf = io.StringIO()
    write_csv(buf, header, rows, crlf=crlf)
    return buf.getvalue()


def write_csv(fh: Any, header: Sequence[Any], rows: Iterable[Sequence[Any]], *, crlf: bool = False) -> None:
    writer = csv.writer(fh, lineterminator="\r\n" if crlf else "\n")
    writer.writerow([cell(h) for h in header])
    for row in rows:
        writer.writerow([cell(v) for v in row])


def csv_bytes(header: Sequence[Any], rows: Iterable[Sequence[Any]]) -> bytes:
    """UTF-8 with a BOM and CRLF: what Excel opens as UTF-8 on a Chinese Windows."""
    return ("\ufeff" + csv_text(header, rows, crlf=True)).encode()


@dataclass(frozen=True)
class Col:
    """A column of an Excel sheet: its header, how its numbers look and whether the totals row adds it up.

    `fmt`: "" (as the value's type says), "int", "km" and "area" (one decimal), "yuan" (¥ with two decimals),
    "percent" (a fraction shown as 0.0 %), "date", "datetime", "text"."""

    header: str
    fmt: str = ""
    total: bool = False


NUMBER_FORMATS = {
    "int": "#,##0",
    "km": "#,##0.0",
    "area": "#,##0.0",
    "yuan": '"¥"#,##0.00',
    "percent": "0.0%",
    "date": "yyyy-mm-dd",
    "datetime": "yyyy-mm-dd hh:mm",
    "text": "@",
}


@dataclass(frozen=True)
class Sheet:
    """What a clerk files: a title row (what, for which period, when exported), the header frozen under
    it, formatted columns and a totals row; `notes` become a sheet of their own (the bulletin's text)."""

    columns: Sequence[Col | str]
    rows: Sequence[Sequence[Any]]
    title: str = ""
    period: str = ""
    exported_at: datetime | None = None
    total_label: str = "合计"
    notes: Sequence[str] = ()
    notes_title: str = "说明"
    banner: bool = True


def _xlsx_value(value: Any) -> Any:
    """A value as openpyxl stores it: China wall time for instants (Excel has no zones), JSON for
    structures; text stays text (the caller marks it as a string, never a formula)."""
    if isinstance(value, datetime):
        return to_china(value).replace(tzinfo=None, microsecond=0)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, default=_json_default)
    if isinstance(value, Decimal):
        return float(value)
    return value


def _as_text(c: Any) -> None:
    """A string cell is a string: openpyxl would take `=…` for a formula; quotePrefix makes Excel and WPS
    keep it text when the cell is edited too."""
    if isinstance(c.value, str):
        c.data_type = "s"
        if c.value.startswith(FORMULA_START):
            c.quotePrefix = True


def xlsx_sheet_bytes(sheet: Sheet) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment
    from openpyxl.utils import get_column_letter

    cols = [c if isinstance(c, Col) else Col(str(c)) for c in sheet.columns]
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet_title(sheet.title)
    header_row = _banner(ws, sheet, len(cols)) + 1
    _header(ws, header_row, cols)
    widths = [_shown_width(c.header, "") for c in cols]
    sums = _body(ws, header_row, cols, sheet.rows, widths)
    if any(v is not None for v in sums):
        _totals(ws, header_row + len(sheet.rows) + 1, cols, sums, sheet.total_label)
    ws.freeze_panes = f"A{header_row + 1}"
    if sheet.rows:
        ws.auto_filter.ref = f"A{header_row}:{get_column_letter(len(cols))}{header_row + len(sheet.rows)}"
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min(w + 3, 60)
    if sheet.notes:
        notes = wb.create_sheet(sheet_title(sheet.notes_title))
        notes.column_dimensions["A"].width = 100
        for r, text in enumerate(sheet.notes, start=1):
            para = notes.cell(row=r, column=1, value=text)
            para.alignment = Alignment(wrap_text=True, vertical="top")
            _as_text(para)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _banner(ws: Any, sheet: Sheet, width: int) -> int:
    """The title row (what, for which period, exported when) across the columns; the rows it took."""
    from openpyxl.styles import Font

    if not sheet.banner:
        return 0
    words = [sheet.title, sheet.period]
    if sheet.exported_at is not None:
        words.append(to_china(sheet.exported_at).strftime("%Y-%m-%d %H:%M"))
    head = ws.cell(row=1, column=1, value=" · ".join(w for w in words if w))
    head.font = Font(bold=True, size=13)
    _as_text(head)
    if width > 1:
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=width)
    return 1


def _header(ws: Any, row: int, cols: Sequence[Col]) -> None:
    from openpyxl.styles import Alignment, Font, PatternFill

    fill = PatternFill("solid", fgColor="F3F4F6")
    for i, c in enumerate(cols, start=1):
        h = ws.cell(row=row, column=i, value=c.header)
        h.font, h.fill = Font(bold=True), fill
        h.alignment = Alignment(wrap_text=True, vertical="top")
        _as_text(h)


def _body(
    ws: Any, header_row: int, cols: Sequence[Col], rows: Sequence[Sequence[Any]], widths: list[int]
) -> list[float | None]:
    """The data rows, formatted; the sums of the columns that have a total (None for the others)."""
    sums: list[float | None] = [0 if c.total else None for c in cols]
    for n, row in enumerate(rows):
        for i, (c, raw) in enumerate(zip(cols, row, strict=False)):
            value = _xlsx_value(raw)
            if c.fmt == "text" and value is not None and not isinstance(value, str):
                value = str(value)
            cellobj = ws.cell(row=header_row + 1 + n, column=i + 1, value=value)
            _as_text(cellobj)
            fmt = NUMBER_FORMATS.get(c.fmt) or _type_format(value)
            if fmt:
                cellobj.number_format = fmt
            if c.total and isinstance(value, int | float) and not isinstance(value, bool):
                sums[i] = (sums[i] or 0) + value
            if n < 500:
                widths[i] = max(widths[i], _shown_width(value, c.fmt))
    return sums


def _totals(ws: Any, row: int, cols: Sequence[Col], sums: Sequence[float | None], label: str) -> None:
    """The totals row: values, not formulas (the file stays what it said when it was exported)."""
    from openpyxl.styles import Font

    for i, (c, total) in enumerate(zip(cols, sums, strict=True)):
        value: Any = label if i == 0 and total is None else total
        if isinstance(value, float):
            value = round(value, 2)
        cellobj = ws.cell(row=row, column=i + 1, value=value)
        cellobj.font = Font(bold=True)
        _as_text(cellobj)
        if c.fmt in NUMBER_FORMATS and total is not None:
            cellobj.number_format = NUMBER_FORMATS[c.fmt]


def _type_format(value: Any) -> str:
    if isinstance(value, datetime):
        return NUMBER_FORMATS["datetime"]
    if isinstance(value, date):
        return NUMBER_FORMATS["date"]
    return ""


def _shown_width(value: Any, fmt: str) -> int:
    """About how many character widths a value takes (a CJK character counts two)."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 16
    if isinstance(value, date):
        return 10
    if isinstance(value, float) or fmt in ("yuan", "percent", "km", "area"):
        return len(f"{value:,.2f}") + 2 if isinstance(value, int | float) else len(str(value))
    text = str(value)
    return len(text) + (len(text.encode()) - len(text)) // 2


def xlsx_bytes(
    header: Sequence[Col | str],
    rows: Iterable[Sequence[Any]],
    *,
    title: str = "",
    period: str = "",
    exported_at: datetime | None = None,
    notes: Sequence[str] = (),
    notes_title: str = "",
    total_label: str = "",
    banner: bool = True,
) -> bytes:
    """One sheet a clerk can file (see `Sheet`); `banner=False` leaves the header in the first row, for a
    file meant to be imported again."""
    from core.i18n import tr

    return xlsx_sheet_bytes(
        Sheet(
            columns=header, rows=list(rows), title=title, period=period,
            exported_at=exported_at if exported_at is not None else (utcnow() if banner else None),
            total_label=total_label or tr("合计", "Total"), notes=notes,
            notes_title=notes_title or tr("说明", "Notes"),
            banner=banner,
        )
    )  # fmt: skip


def write_xlsx(
    path: Path, header: Sequence[Col | str], rows: Iterable[Sequence[Any]], *, title: str = "", **kw: Any
) -> None:
    path.write_bytes(xlsx_bytes(header, rows, title=title, **kw))

"""The downloadable XLSX template of an import kind (`gongwu template KIND`), made from the kind's spec."""

from __future__ import annotations

import io
import unicodedata
from datetime import date, datetime

from core import normalize as n
from core.i18n import tr
from ingest.kinds import get_kind

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

    t = get_kind(kind)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = t.title[:31]
    header_fill = PatternFill("solid", fgColor="DDEBF7")
    for col, f in enumerate(t.columns, start=1):
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
        [
            tr(
                "第 2 行为示例, 请用实际数据覆盖或删除; 红色列为必填。",
                "Row 2 is an example: overwrite or delete it; the red columns are required.",
            )
        ]
    )
    notes.append([])
    notes.append(
        [tr("列名", "Header"), tr("字段", "Field"), tr("必填", "Required"), tr("说明", "How to fill")]
    )
    for c in notes[4]:
        c.font = Font(bold=True)
    for f in t.columns:
        notes.append([f.header, f.name, tr("是", "yes") if f.required else "", f.hint])
    for letter, width in zip("ABCD", (22, 20, 14, 48), strict=True):
        notes.column_dimensions[letter].width = width

    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()

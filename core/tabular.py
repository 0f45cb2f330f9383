"""The one writer of the CSV and Excel files people open: CLI exports, page downloads, the audit export and
an import's rejected rows all go through here, so every one of them is safe to open.

Safe means: a text that starts like a formula (`=`, `+`, `-`, `@`, a tab or a carriage return) is written
with a leading apostrophe, so a tenant named `=cmd|' /C calc'!A0` stays a name in Excel and WPS instead of
running (OWASP's CSV-injection advice). Numbers stay numbers; times are China time; dicts and lists JSON.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from core.timeutil import to_china

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


def xlsx_bytes(header: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str = "") -> bytes:
    """One sheet: a bold header row, safe cells, columns as wide as their first 200 values."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet_title(title)
    ws.append([cell(h) for h in header])
    for c in ws[1]:
        c.font = Font(bold=True)
    widths = [len(str(h)) for h in header]
    for n, row in enumerate(rows):
        values = [cell(v) for v in row]
        ws.append(values)
        if n < 200:
            widths = [max(w, len(str(v or ""))) for w, v in zip(widths, values, strict=False)]
    for i, w in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(i)].width = min((w + 2) * 1.3, 60)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_xlsx(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]], *, title: str = "") -> None:
    path.write_bytes(xlsx_bytes(header, rows, title=title))

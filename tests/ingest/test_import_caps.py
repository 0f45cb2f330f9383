"""Caps that keep one file from taking the server down (#18 finding 4): a workbook's uncompressed size is
checked before any of it is parsed, records past the row cap are refused, a report lists at most
GONGWU_IMPORT_MAX_ERRORS errors (and reading stops there unless bad rows are skipped), and a damaged
workbook is a clear 422, never a 500."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func
from sqlmodel import Session, select

from core.models import Unit
from fleet.models import Position
from ingest.importer import run_import
from ingest.readers import TableError


def xlsx(rows: list[list[object]]) -> bytes:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    for r in rows:
        ws.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def units(n: int, *, bad_every: int = 0) -> list[list[object]]:
    rows: list[list[object]] = [["单位名称", "类型"]]
    for i in range(n):
        kind = "不知道" if bad_every and i % bad_every == 0 else "乡镇"
        rows.append([f"第{i}乡", kind])
    return rows


def with_sheet(book: bytes, change: Callable[[bytes], bytes]) -> bytes:
    """The workbook with its first sheet's XML changed."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(book)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, change(data) if item.filename == "xl/worksheets/sheet1.xml" else data)
    return out.getvalue()


def bomb(size: int) -> bytes:
    """A valid workbook whose sheet holds `size` bytes of (highly compressible) padding."""
    return with_sheet(xlsx(units(2)), lambda d: d.replace(b"<sheetData>", b"<sheetData>" + b" " * size))


def test_a_zip_bomb_is_refused_before_parsing(
    session: Session, settings_env: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    settings_env(import_max_xlsx_mb=1)
    body = bomb(3_000_000)
    assert len(body) < 100_000  # small on the wire, 3 MB unpacked

    def never(*a: Any, **kw: Any) -> Any:
        raise AssertionError("the workbook was parsed")

    monkeypatch.setattr("openpyxl.load_workbook", never)
    with pytest.raises(TableError, match=r"解压后有 3 MB，超过上限 1 MB（GONGWU_IMPORT_MAX_XLSX_MB）"):
        run_import(session, "units", body, filename="u.xlsx")
    monkeypatch.undo()
    settings_env(import_max_xlsx_mb=10)  # under the cap the same file imports
    assert run_import(session, "units", body, filename="u.xlsx").inserted == 2


def truncated_workbook() -> bytes:
    return with_sheet(xlsx(units(200)), lambda d: d[: len(d) // 2])  # cut mid-row, as a failed download does


def test_a_truncated_sheet_is_a_clear_error(session: Session) -> None:
    with pytest.raises(TableError, match=r"无法打开工作簿，第 \d+ 行之后的内容已损坏"):
        run_import(session, "units", truncated_workbook(), filename="u.xlsx")
    assert session.exec(select(func.count()).select_from(Unit)).one() == 0


def test_a_truncated_sheet_over_the_api_is_422(client: Any, session: Session) -> None:
    files = {"file": ("单位.xlsx", truncated_workbook(), "application/octet-stream")}
    r = client.post("/api/v1/imports/units?wait=true", files=files)
    assert r.status_code == 422, r.text
    assert "无法打开工作簿" in r.json()["detail"]
    assert session.exec(select(func.count()).select_from(Unit)).one() == 0


def test_rows_past_the_cap_are_refused(session: Session, settings_env: Callable[..., None]) -> None:
    settings_env(import_max_rows=50)
    body = "\n".join(",".join(map(str, r)) for r in units(51)).encode()
    with pytest.raises(TableError, match=r"超过 50 行（GONGWU_IMPORT_MAX_ROWS）"):
        run_import(session, "units", body, filename="u.csv")
    assert session.exec(select(func.count()).select_from(Unit)).one() == 0
    assert run_import(session, "units", body[: body.rindex(b"\n")], filename="u.csv").inserted == 50


def test_positions_past_the_row_cap_are_refused(session: Session, settings_env: Callable[..., None]) -> None:
    settings_env(import_max_rows=10)
    lines = ["终端号,定位时间,经度,纬度,速度"]
    lines += [f"999,2024-06-01 08:{i:02d}:00,111.5,35.5,30" for i in range(11)]
    with pytest.raises(TableError, match="GONGWU_IMPORT_MAX_ROWS"):
        run_import(session, "positions", "\n".join(lines).encode(), filename="p.csv")
    assert session.exec(select(func.count()).select_from(Position)).one() == 0


def test_errors_are_listed_up_to_the_cap_and_reading_stops(
    session: Session, settings_env: Callable[..., None], tmp_path: Path
) -> None:
    settings_env(import_max_errors=5)
    body = "\n".join(",".join(map(str, r)) for r in units(1000, bad_every=2)).encode()
    report = run_import(session, "units", body, filename="u.csv")
    assert not report.committed
    assert len(report.errors) == 5 and report.errors_not_listed == 1
    assert report.stopped_at == 12  # the sixth bad row: line 2 is the first record, every other one bad
    assert report.read < 20
    assert report.to_json()["stopped_at_line"] == 12
    # skipping bad rows reads everything: all bad rows counted (and written out), the first five listed
    kept = run_import(session, "units", body, filename="u.csv", skip_bad=True, reject_file=tmp_path / "r.csv")
    assert kept.committed and kept.inserted == 500 and kept.rejected == 500
    assert len(kept.errors) == 5 and kept.errors_not_listed == 495 and kept.stopped_at is None
    assert len((tmp_path / "r.csv").read_text(encoding="utf-8-sig").splitlines()) == 501


def test_position_errors_stop_reading_too(session: Session, settings_env: Callable[..., None]) -> None:
    settings_env(import_max_errors=3)
    lines = ["终端号,定位时间,经度,纬度,速度"]
    lines += [f"999,2024-06-01 08:{i:02d}:00,511.5,35.5,30" for i in range(50)]  # longitude out of range
    report = run_import(session, "positions", "\n".join(lines).encode(), filename="p.csv")
    assert not report.committed
    assert len(report.errors) == 3 and report.rejected >= 4
    assert report.stopped_at is not None

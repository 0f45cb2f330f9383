"""The import pipeline end to end: files in both header languages and encodings, the bad-row corpus with
line, column and reason, all-or-nothing, --skip-bad and its reject file, idempotence, positions."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlalchemy import func
from sqlmodel import Session, col, select

from core.models import AuditLog, Unit
from core.settings import get_settings
from core.timeutil import CHINA
from fleet.models import Position, TripOrder, Vehicle
from ingest.importer import run_import
from scheduler.models import ImportJob

UNITS_ZH = [["单位名称", "类型"], ["城关镇", "乡镇"], ["县财政局", "县直单位"], ["县教育局", "县直"]]


def write_csv(path: Path, rows: list[list[object]], encoding: str = "utf-8") -> Path:
    with path.open("w", newline="", encoding=encoding) as fh:
        csv.writer(fh).writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list[object]], title: str | None = None) -> Path:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    if title:
        ws.append([title])
        ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(rows[0]))
    for r in rows:
        ws.append(r)
    wb.save(path)
    return path


def county(session: Session, tmp_path: Path) -> None:
    """Units (GBK CSV, Chinese headers) and vehicles (XLSX, English headers under a merged title row)."""
    assert run_import(session, "units", write_csv(tmp_path / "units.csv", UNITS_ZH, "gbk")).committed
    vehicles = [
        ["plate", "unit", "model", "tracker_id", "status", "acquired_on"],
        ["晋MA1234", "城关镇", "帕萨特", "013900000001", "在用", 43466],  # Excel serial date: 2019-01-01
        ["晋M A5678", "县财政局", "凯美瑞", "013900000002", "in service", "2020/3/1"],
        ["晋M·D12345", "县教育局", "比亚迪", "013900000003", "在用", "2021年5月6日"],
    ]
    report = run_import(
        session, "vehicles", write_xlsx(tmp_path / "vehicles.xlsx", vehicles, "公务用车登记表")
    )
    assert report.committed, report.errors


def test_registers_import_and_a_second_import_changes_nothing(session: Session, tmp_path: Path) -> None:
    county(session, tmp_path)
    plates = sorted(session.exec(select(Vehicle.plate)).all())
    assert plates == ["晋M·A1234", "晋M·A5678", "晋M·D12345"]
    v = session.exec(select(Vehicle).where(Vehicle.plate == "晋M·A1234")).one()
    assert str(v.acquired_on) == "2019-01-01"
    again = run_import(session, "vehicles", tmp_path / "vehicles.xlsx")
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 3)
    units_again = run_import(session, "units", tmp_path / "units.csv")
    assert (units_again.inserted, units_again.unchanged) == (0, 3)


def test_gbk_and_utf8_files_give_identical_rows(session: Session, tmp_path: Path) -> None:
    rows = [*UNITS_ZH, ["南卫乡", "乡镇"]]
    run_import(session, "units", write_csv(tmp_path / "gbk.csv", rows, "gbk"))
    first = sorted((u.name, u.kind) for u in session.exec(select(Unit)).all())
    utf8 = run_import(session, "units", write_csv(tmp_path / "utf8.csv", rows, "utf-8-sig"))
    assert utf8.inserted == 0 and utf8.unchanged == len(rows) - 1
    assert sorted((u.name, u.kind) for u in session.exec(select(Unit)).all()) == first


ORDERS_HEADER = [
    "申请单号",
    "车牌号",
    "单位",
    "申请人",
    "驾驶员",
    "事由",
    "目的地",
    "计划出发",
    "计划返回",
    "审批状态",
]


def orders_file(tmp_path: Path) -> Path:
    """Six orders, four of them bad: an unknown plate, month 13, a conflicting repeat, a cut-off line."""
    trip = ["城关镇", "张三", "李四", "检查", "南卫乡", "2024-06-01 08:00", "2024-06-01 12:00", "已批准"]
    meeting = ["县财政局", "王五", "赵六", "开会", "市里", "2024-06-02 09:00", "2024-06-02 17:00", "待审批"]
    rows = [
        ORDERS_HEADER,
        ["PC001", "晋MA1234", *trip],
        ["PC002", "晋M·A9999", *trip],
        ["PC003", "晋MA1234", *trip[:5], "2024-13-01 08:00", *trip[6:]],
        ["PC004", "晋MA5678", *meeting],
        ["PC004", "晋MA5678", *meeting[:4], "省里", *meeting[5:]],
        ["PC005", "晋MA5678", *meeting[:5], "2024-06-03 09:00"],
    ]
    return write_csv(tmp_path / "orders.csv", rows, "gbk")


def test_bad_rows_are_listed_with_line_column_and_reason_and_nothing_is_committed(
    session: Session, tmp_path: Path
) -> None:
    county(session, tmp_path)
    report = run_import(session, "orders", orders_file(tmp_path))
    assert not report.committed
    assert session.exec(select(func.count()).select_from(TripOrder)).one() == 0
    by_line = {e.line: e for e in report.errors}
    assert set(by_line) == {3, 4, 6, 7}
    assert (by_line[3].column, by_line[3].header) == ("2", "车牌号")  # unknown plate
    assert "晋M·A9999" in by_line[3].reason
    assert (by_line[4].column, by_line[4].header) == ("8", "计划出发")  # month 13
    assert by_line[6].column == "1" and "第 5 行" in by_line[6].reason  # same order no, other content
    assert by_line[7].column == "9"  # truncated last line: ends before 计划返回
    assert report.to_json()["rejected"] == 4
    assert str(by_line[4]).startswith("第 4 行, 第 8 列 (计划出发): ")


def test_skip_bad_keeps_the_good_rows_and_writes_the_bad_ones(session: Session, tmp_path: Path) -> None:
    county(session, tmp_path)
    rejects = tmp_path / "rejects.csv"
    report = run_import(session, "orders", orders_file(tmp_path), skip_bad=True, reject_file=rejects)
    assert report.committed and report.inserted == 2
    assert sorted(session.exec(select(TripOrder.order_no)).all()) == ["PC001", "PC004"]
    with rejects.open(encoding="utf-8-sig") as fh:
        rows = list(csv.reader(fh))
    assert rows[0][0].startswith("行号") and rows[0][-1].startswith("原因")
    assert [r[0] for r in rows[1:]] == ["3", "4", "6", "7"]
    assert rows[1][1:3] == ["PC002", "晋M·A9999"]  # the row as it was in the file
    assert "晋M·A9999" in rows[1][-1]


def test_a_file_of_another_kind_is_refused_before_any_row(session: Session, tmp_path: Path) -> None:
    """An orders file has 车牌号 and 单位, all a vehicles import requires, and 申请单号, all an expense
    sheet requires: it is refused with the kind it is, and nothing is written."""
    from ingest.readers import TableError

    county(session, tmp_path)
    before = session.exec(select(func.count()).select_from(Vehicle)).one()
    for kind in ("vehicles", "expenses"):
        with pytest.raises(TableError, match=r"gongwu import orders"):
            run_import(session, kind, orders_file(tmp_path))
    assert session.exec(select(func.count()).select_from(Vehicle)).one() == before
    # an expense sheet without one amount column says nothing: refused, naming the columns it needs
    only_numbers = write_csv(tmp_path / "e.csv", [["申请单号", "备注"], ["PC001", "x"]])
    with pytest.raises(TableError, match="过路费"):
        run_import(session, "expenses", only_numbers)
    # the file's own kind still imports it (its bad rows as before)
    assert run_import(session, "orders", orders_file(tmp_path), skip_bad=True, write_rejects=False).committed


def test_unknown_columns_are_reported(session: Session, tmp_path: Path) -> None:
    rows: list[list[object]] = [["序号", "单位名称", "类型", "备注"], [1, "南卫乡", "乡镇", "新设"]]
    path = write_csv(tmp_path / "u.csv", rows)
    report = run_import(session, "units", path)
    assert report.committed and report.inserted == 1
    assert report.ignored_columns == ["序号", "备注"]
    assert report.to_json()["ignored_columns"] == ["序号", "备注"]


def test_not_an_excel_file_and_a_sheet_of_a_csv(session: Session, tmp_path: Path) -> None:
    from ingest.readers import TableError

    fake = tmp_path / "units.xlsx"
    fake.write_bytes(os.urandom(4096))
    with pytest.raises(TableError, match="不是 Excel 文件"):
        run_import(session, "units", fake)
    real = write_csv(tmp_path / "units.csv", UNITS_ZH)
    with pytest.raises(TableError, match="--sheet"):
        run_import(session, "units", real, sheet="Sheet1")


def test_positions_drop_implausible_fixes_and_count_duplicates(session: Session, tmp_path: Path) -> None:
    county(session, tmp_path)
    now = datetime.now(UTC).astimezone(CHINA)  # a file's times are China time
    t0 = (now - timedelta(days=1)).replace(microsecond=0)
    fmt = "%Y-%m-%d %H:%M:%S"
    rows: list[list[object]] = [["终端号", "定位时间", "经度", "纬度", "速度(km/h)", "方向", "ACC"]]
    for i in range(5):
        rows.append(["013900000001", (t0 + timedelta(minutes=5 * i)).strftime(fmt), 111.0, 35.0, 0, 90, "关"])
    rows.append(rows[1])  # the same row twice: stored once
    rows.append(["013900000001", (t0 + timedelta(minutes=31)).strftime(fmt), 0, 0, 0, 0, "关"])
    rows.append(["013900000001", (now + timedelta(days=2)).strftime(fmt), 111.0, 35.0, 0, 0, "关"])
    path = write_csv(tmp_path / "pos.csv", rows)
    report = run_import(session, "positions", path)
    assert report.committed, report.errors
    assert report.inserted == 5
    assert report.duplicates == 1
    assert dict(report.dropped) == {"zero_position": 1, "future_time": 1}
    assert report.read == 8
    again = run_import(session, "positions", path)
    assert again.inserted == 0 and again.duplicates == 6


def test_an_unknown_tracker_is_a_bad_row(session: Session, tmp_path: Path) -> None:
    county(session, tmp_path)
    rows = [["终端号", "定位时间", "经度", "纬度", "速度"], ["999", "2024-06-01 08:00:00", 111, 35, 0]]
    report = run_import(session, "positions", write_csv(tmp_path / "p.csv", rows))
    assert not report.committed
    assert [(e.line, e.column, e.header) for e in report.errors] == [(2, "1", "终端号")]
    assert session.exec(select(func.count()).select_from(Position)).one() == 0


def gongwu(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gongwu", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        cwd=cwd,
        timeout=300,
    )


def test_cli_json_report_and_exit_code(tmp_path: Path) -> None:
    env = {"GONGWU_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}"}
    assert gongwu("init", env=env, cwd=tmp_path).returncode == 0
    write_csv(tmp_path / "units.csv", UNITS_ZH, "gbk")
    ok = gongwu("import", "units", "units.csv", "--format", "json", env=env, cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    body = json.loads(ok.stdout)
    assert {k: body[k] for k in ("kind", "read", "inserted", "rejected")} == {
        "kind": "units",
        "read": 3,
        "inserted": 3,
        "rejected": 0,
    }
    orders_file(tmp_path)
    bad = gongwu("import", "orders", "orders.csv", env=env, cwd=tmp_path)
    assert bad.returncode == 1
    assert "第 3 行, 第 2 列 (车牌号)" in bad.stderr
    assert "未提交任何数据" in bad.stdout
    assert "Traceback" not in bad.stderr
    # README's exit codes: 3 = done, but some rows were rejected
    write_csv(tmp_path / "vehicles.csv", [["plate", "unit"], ["晋MA1234", "城关镇"]])
    assert gongwu("import", "vehicles", "vehicles.csv", env=env, cwd=tmp_path).returncode == 0
    partly = gongwu("import", "orders", "orders.csv", "--skip-bad", env=env, cwd=tmp_path)
    assert partly.returncode == 3, partly.stderr
    assert "已提交" in partly.stdout and (tmp_path / "orders.rejects.csv").exists()
    # a file of another kind: one line naming the kind, exit 1
    wrong = gongwu("import", "vehicles", "orders.csv", env=env, cwd=tmp_path)
    assert wrong.returncode == 1
    lines = [ln for ln in wrong.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "gongwu import orders" in lines[0]


def test_an_import_killed_half_way_leaves_the_database_as_before(tmp_path: Path) -> None:
    from bench.gen import generate, write_positions_csv

    env = {"GONGWU_DATABASE_URL": f"sqlite:///{tmp_path / 'kill.db'}"}
    assert gongwu("init", env=env, cwd=tmp_path).returncode == 0
    tracks = generate(150, 2, seed=3)
    write_csv(tmp_path / "units.csv", [["name", "kind"], ["测试单位", "department"]])
    write_csv(
        tmp_path / "vehicles.csv",
        [["plate", "unit", "tracker_id"]] + [[tr.plate, "测试单位", tr.device_id] for tr in tracks],
    )
    for kind in ("units", "vehicles"):
        assert gongwu("import", kind, f"{kind}.csv", env=env, cwd=tmp_path).returncode == 0
    rows = write_positions_csv(tracks, tmp_path / "pos.csv")

    # A dry run does all the work and commits nothing: its duration tells when "half-way" is.
    started = time.monotonic()
    assert gongwu("import", "positions", "pos.csv", "--dry-run", env=env, cwd=tmp_path).returncode == 0
    full = time.monotonic() - started
    wal = tmp_path / "kill.db-wal"
    assert not wal.exists()  # the last connection's close checkpointed and removed it
    proc = subprocess.Popen(
        [sys.executable, "-m", "gongwu", "import", "positions", "pos.csv"],
        cwd=tmp_path,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Killed once it has written (uncommitted pages spill into the write-ahead log) and before it ends:
    # not merely after a while, which on a slow machine could be before the first insert.
    deadline = time.monotonic() + 10 * full + 30
    while (not wal.exists() or wal.stat().st_size < 1 << 20) and proc.poll() is None:
        assert time.monotonic() < deadline, "the import wrote nothing"
        time.sleep(0.01)
    assert proc.poll() is None, "the import finished before it could be killed"
    assert wal.stat().st_size >= 1 << 20
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)

    from core.db import build_engine

    engine = build_engine(env["GONGWU_DATABASE_URL"])
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Position)).one() == 0
    done = gongwu("import", "positions", "pos.csv", "--format", "json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["inserted"] == rows
    with Session(engine) as s:
        assert s.exec(select(func.count()).select_from(Position)).one() == rows
    engine.dispose()


def test_import_over_the_api_and_the_template(
    app: Any, client: Any, client_as: Any, session: Session, tmp_path: Path
) -> None:
    files = {"file": ("单位.csv", "\n".join(",".join(r) for r in UNITS_ZH).encode("gbk"), "text/csv")}
    queued = client.post("/api/v1/imports/units", files=files)
    assert queued.status_code == 202, queued.text  # answered at once: the worker imports it
    job = queued.json()
    assert queued.headers["location"] == job["url"] and job["kind"] == "units"
    assert app.state.import_worker.drain(30)
    done = client.get(job["url"]).json()
    assert done["status"] == "done" and done["report"]["inserted"] == 3 and done["progress"]["read"] == 3
    assert done["sha256"] == hashlib.sha256(files["file"][1]).hexdigest()
    assert client.get("/api/v1/imports").json()["data"][0]["id"] == job["id"]
    # the rows and the import's summary row are the real user's, not "api" or "import"
    entities = col(AuditLog.entity).in_(["core_unit", "import"])
    actors = set(session.exec(select(AuditLog.actor).where(entities)).all())
    assert actors == {"test_admin"}
    # another user (even one who may import units) does not see the job
    assert client_as("vehicle_manager").get(job["url"]).status_code == 404
    stored = session.get(ImportJob, job["id"])
    assert stored is not None and not Path(stored.stored_as).exists()  # the upload is gone once imported
    assert Path(stored.stored_as).parent == Path(get_settings().import_upload_dir)
    # waiting answers the report itself, as an import always did
    bad_rows = [["单位名称", "类型"], ["南卫乡", "乡镇"], ["某某局", "不知道"]]
    body = "\n".join(",".join(r) for r in bad_rows).encode("utf-8")
    bad = client.post("/api/v1/imports/units?wait=true", files={"file": ("u.csv", body, "text/csv")})
    assert bad.status_code == 422
    report = bad.json()
    assert report["errors"] == [{"line": 3, "column": "2", "reason": report["errors"][0]["reason"]}]
    assert "类型" in report["errors"][0]["reason"]
    assert client.get(f"/api/v1/imports/{report['job']}").json()["status"] == "rejected"
    assert session.exec(select(Unit).where(Unit.name == "南卫乡")).first() is None  # all or nothing
    template = client.get("/api/v1/imports/vehicles/template")
    assert template.status_code == 200
    import io

    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(template.content)).active
    assert ws is not None
    assert [c.value for c in ws[1]][:2] == ["车牌号", "单位"]
    assert client.get("/api/v1/imports/nonsense/template").status_code == 422


def test_prefetch_keeps_order_hands_over_errors_and_stops_when_left() -> None:
    import threading
    from contextlib import closing

    from ingest.importer import _prefetch

    def numbers(fail_at: int | None = None):  # type: ignore[no-untyped-def]
        for i in range(10):
            if i == fail_at:
                raise ValueError(f"line {i}")
            yield i

    assert list(_prefetch(numbers())) == list(range(10))
    got = []
    with pytest.raises(ValueError, match="line 4"):
        for i in _prefetch(numbers(fail_at=4)):
            got.append(i)
    assert got == [0, 1, 2, 3]  # everything before the error, in order

    produced = []

    def endless():  # type: ignore[no-untyped-def]
        i = 0
        while True:
            produced.append(i)
            yield i
            i += 1

    with closing(_prefetch(endless(), depth=2)) as items:
        assert next(items) == 0
    assert not any(t.name == "gongwu-import-reader" for t in threading.enumerate())
    assert len(produced) <= 4  # at most `depth` ahead, then stopped


def generated_positions(session: Session, tmp_path: Path, vehicles: int) -> tuple[Path, int]:
    """Generated tracks' vehicles registered and their positions file, with a bad time and an unknown
    tracker appended; (file, good rows)."""
    from bench.gen import generate, write_positions_csv

    tracks = generate(vehicles, 1, seed=5)
    unit = Unit(name="测试单位", kind="department")
    session.add(unit)
    session.flush()
    assert unit.id is not None
    session.add_all(Vehicle(plate=tr.plate, unit_id=unit.id, tracker_id=tr.device_id) for tr in tracks)
    session.flush()
    path = tmp_path / "pos.csv"
    good = write_positions_csv(tracks, path)
    with path.open("a", encoding="utf-8", newline="") as f:
        f.write(f"{tracks[0].device_id},{tracks[0].plate},2024-13-45 08:00:00,111.5,35.5,0,0,开\r\n")
        f.write("999999,,2024-06-01 08:00:00,111.5,35.5,0,0,开\r\n")
    return path, good


def test_a_big_file_is_read_by_a_child_process_with_the_same_report(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingest.importer as importer

    path, good = generated_positions(session, tmp_path, 40)  # more than one batch: the first is 20,000
    assert good > 25_000
    kw: dict[str, Any] = {"skip_bad": True}
    by_thread = run_import(session, "positions", path, dry_run=True, reject_file=tmp_path / "r1.csv", **kw)

    started: list[object] = []

    class Spy(importer._ReaderProcess):
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            started.append(self)

    monkeypatch.setattr(importer, "_ReaderProcess", Spy)
    monkeypatch.setattr(importer, "PROCESS_READER_MIN_BYTES", 0)
    monkeypatch.setattr(importer, "_cores", lambda: 8)  # on 2, a PostgreSQL import reads on a thread
    seen: list[tuple[int, int | None]] = []
    by_child = run_import(
        session, "positions", path, reject_file=tmp_path / "r2.csv", progress=lambda *p: seen.append(p), **kw
    )
    assert len(started) == 1
    monkeypatch.setattr(importer, "_cores", lambda: 1)
    assert run_import(session, "positions", path, dry_run=True, **kw).inserted == 0  # all stored already
    assert len(started) == 1  # no core to spare: read on a thread
    assert by_child.committed and not by_thread.committed
    for report in (by_thread, by_child):
        assert (report.read, report.inserted, report.duplicates) == (good + 2, good, 0)
    assert [(e.line, e.column, e.reason) for e in by_child.errors] == [
        (e.line, e.column, e.reason) for e in by_thread.errors
    ]
    assert [e.line for e in by_child.errors] == [good + 2, good + 3]  # after the header, in file order
    assert session.exec(select(func.count()).select_from(Position)).one() == good
    assert (tmp_path / "r1.csv").read_bytes() == (tmp_path / "r2.csv").read_bytes()
    size = path.stat().st_size
    assert len(seen) >= 2 and seen == sorted(seen) and seen[-1] == (size, size)


def test_the_reader_process_hands_over_its_error_and_stops_when_left(
    session: Session, tmp_path: Path
) -> None:
    import multiprocessing
    from contextlib import closing

    from ingest.importer import _ReaderProcess
    from ingest.readers import TableError

    missing = _ReaderProcess(str(tmp_path / "missing.csv"), None)
    with closing(missing), pytest.raises(TableError, match="文件不存在"):
        list(missing)

    path, _ = generated_positions(session, tmp_path, 40)
    reader = _ReaderProcess(str(path), None)
    batches = iter(reader)
    batch, _ = next(batches)
    assert len(batch) == 20_000
    reader.close()
    assert not any(p.name == "gongwu-import-reader" for p in multiprocessing.active_children())


def test_the_reader_process_ends_when_its_parent_is_killed(session: Session, tmp_path: Path) -> None:
    path, _ = generated_positions(session, tmp_path, 40)  # more than the pipe holds: the child must wait
    script = (
        "import sys, time\n"
        "from ingest.importer import _ReaderProcess\n"
        "if __name__ == '__main__':\n"
        "    reader = _ReaderProcess(sys.argv[1], None)\n"
        "    next(iter(reader))\n"
        "    print(reader._child.pid, flush=True)\n"
        "    time.sleep(60)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", script, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.send_signal(signal.SIGKILL)
    parent.wait(10)

    def running(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            return False
        return state != "Z"  # a zombie has ended; reaping it is its new parent's business

    deadline = time.monotonic() + 20
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not running(child)


def _stored(session: Session, device: str) -> list[tuple[int, float, float]]:
    rows = session.exec(
        select(Position.fix_ts, Position.lat, Position.lon)
        .where(Position.device_id == device)
        .order_by(col(Position.fix_ts))
    ).all()
    return [(int(t), float(a), float(b)) for t, a, b in rows]


@pytest.mark.parametrize("system", ["gcj02", "bd09"])
def test_a_file_in_a_shifted_datum_is_stored_in_wgs84(session: Session, tmp_path: Path, system: str) -> None:
    """Known WGS-84 points written as an AMap (GCJ-02) or Baidu (BD-09) platform exports them come back
    within 1 m; read as WGS-84 they would be hundreds of metres off."""
    import numpy as np

    from core import datum

    county(session, tmp_path)
    lat = np.array([37.6871, 37.6902, 37.7013])
    lon = np.array([112.7342, 112.7411, 112.7530])
    shift = datum.wgs84_to_gcj02 if system == "gcj02" else datum.wgs84_to_bd09
    slat, slon = shift(lat, lon)
    t0 = datetime.now(UTC).astimezone(CHINA).replace(microsecond=0) - timedelta(days=1)
    rows: list[list[object]] = [["终端号", "定位时间", "经度", "纬度", "速度"]]
    for i in range(3):
        when = (t0 + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S")
        rows.append(["013900000001", when, f"{slon[i]:.7f}", f"{slat[i]:.7f}", 30])
    path = write_csv(tmp_path / f"{system}.csv", rows)
    assert run_import(session, "positions", path, coord_system=system).committed
    stored = _stored(session, "013900000001")
    k = 111_320.0
    off = [
        np.hypot((a - lat[i]) * k, (b - lon[i]) * k * np.cos(np.radians(a)))
        for i, (_, a, b) in enumerate(stored)
    ]
    assert len(off) == 3 and max(off) < 1.0
    with pytest.raises(Exception, match="utm"):
        run_import(session, "positions", path, coord_system="utm")


def test_an_epoch_millisecond_file_imports_as_its_china_time_twin(session: Session, tmp_path: Path) -> None:
    county(session, tmp_path)
    t0 = datetime.now(UTC).astimezone(CHINA).replace(microsecond=0) - timedelta(days=1)
    head = ["终端号", "定位时间", "经度", "纬度", "速度"]
    china = [head] + [
        [
            "013900000001",
            (t0 + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S"),
            112.73,
            37.68 + i / 1e3,
            30,
        ]
        for i in range(4)
    ]
    epoch_ms = [head] + [
        ["013900000002", int((t0 + timedelta(minutes=i)).timestamp() * 1000), 112.73, 37.68 + i / 1e3, 30]
        for i in range(4)
    ]
    offset = [head] + [
        ["013900000003", (t0 + timedelta(minutes=i)).astimezone(UTC).isoformat().replace("+00:00", "Z"),
         112.73, 37.68 + i / 1e3, 30]
        for i in range(4)
    ]  # fmt: skip
    for name, rows in (("china", china), ("ms", epoch_ms), ("z", offset)):
        assert run_import(session, "positions", write_csv(tmp_path / f"{name}.csv", rows)).committed
    assert (
        _stored(session, "013900000001")
        == _stored(session, "013900000002")
        == _stored(session, "013900000003")
    )
    assert len(_stored(session, "013900000001")) == 4


def test_a_plate_that_contradicts_the_tracker_never_reattributes_a_fix(
    session: Session, tmp_path: Path
) -> None:
    """Platforms keep a swapped tracker's old plate: the row is kept as the tracker's car's, counted and
    reported — it is not a bad row."""
    county(session, tmp_path)
    t0 = datetime.now(UTC).astimezone(CHINA).replace(microsecond=0) - timedelta(days=1)
    rows: list[list[object]] = [["终端号", "车牌号", "定位时间", "经度", "纬度", "速度"]]
    for i, plate in enumerate(["晋MA1234", "晋M·A5678", "晋MA1234"]):
        rows.append(
            [
                "013900000001",
                plate,
                (t0 + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S"),
                112.73,
                37.68,
                30,
            ]
        )
    report = run_import(session, "positions", write_csv(tmp_path / "plates.csv", rows))
    assert report.committed and report.errors == [] and report.inserted == 3
    assert report.plate_mismatches == 1 and [w.line for w in report.warnings] == [3]
    assert "晋M·A1234" in report.to_json()["warnings"][0]["reason"]
    assert len(_stored(session, "013900000001")) == 3

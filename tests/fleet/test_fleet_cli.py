"""`gongwu reconcile`, `gongwu flags`, `gongwu review-flags`, `gongwu report units|bulletin|expenses`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook
from sqlalchemy.engine import Engine
from sqlmodel import Session, select
from typer.testing import CliRunner

from core.db import unit_of_work
from core.models import AuditLog
from core.timeutil import CHINA
from gongwu import cli_db, cli_fleet, cli_report  # noqa: F401  (cli_fleet registers its commands)
from gongwu.cli import app
from tests.factories import make_expense, make_order, make_trip, make_unit, parked_cars

GONGWU = [sys.executable, "-c", "from gongwu.cli import main; main()"]


def cn(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2024, 6, day, hour, minute, tzinfo=CHINA).astimezone(UTC)


@pytest.fixture
def cli(fresh_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The CLI in-process on a database of its own with a small county (`gongwu reconcile` runs the
    pipeline, whose days commit)."""
    with unit_of_work(fresh_engine) as session:
        county(session)
    monkeypatch.setattr(cli_db, "database", lambda: fresh_engine)
    monkeypatch.setattr(cli_report, "open_session", lambda: unit_of_work(fresh_engine))
    yield CliRunner()


def county(session: Session) -> None:
    town = make_unit(session, name="戊镇", kind="township")
    bureau = make_unit(session, name="己局", kind="department")
    cars = [(town, "晋M·K0001", "K1"), (bureau, "晋M·K0002", "K2")]
    a, b = parked_cars(session, cars, cn(1), 2, 12 * 6)
    order = make_order(session, a, order_no="K-1", planned_start_at=cn(3, 8), planned_end_at=cn(3, 12))
    make_expense(session, order, tolls_fen=1234, fuel_fen=5000)
    make_trip(session, a, cn(3, 9), 60)
    make_trip(session, b, cn(3, 23, 30), 60)  # across midnight, no order


def invoke(runner: CliRunner, *args: str) -> Any:
    result = runner.invoke(app, list(args), env={"COLUMNS": "240"})  # tables unwrapped
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result


def test_reconcile_then_flags_json_shape(cli: CliRunner) -> None:
    out = invoke(cli, "reconcile", "--date", "2024-06-03", "--format", "json")
    data = json.loads(out.stdout)
    assert data["counts"]["trips"] == 2 and data["counts"]["raised"] == 1
    again = json.loads(invoke(cli, "reconcile", "--date", "2024-06-03", "--format", "json").stdout)
    assert again["counts"]["raised"] == again["counts"]["resolved"] == 0

    flags = json.loads(invoke(cli, "flags", "--format", "json").stdout)
    assert flags["total"] == 1
    [flag] = flags["flags"]
    assert list(flag) == [
        "id",
        "kind",
        "vehicle",
        "plate",
        "unit",
        "start_at",
        "end_at",
        "trip_km",
        "order_no",
        "status",
        "detail",
    ]
    assert flag["kind"] == "unreported_trip" and flag["plate"] == "晋M·K0002" and flag["unit"] == "己局"
    assert flag["start_at"] == "2024-06-03T23:30:00+08:00"
    assert flag["end_at"] == "2024-06-04T00:30:00+08:00"
    assert flag["trip_km"] == 30.0 and flag["order_no"] is None and flag["status"] == "open"

    for args in (
        ["--kind", "idle_vehicle"],
        ["--unit", "戊镇"],
        ["--from", "2024-06-04"],
        ["--status", "violation"],
    ):
        assert json.loads(invoke(cli, "flags", "--format", "json", *args).stdout)["total"] == 0
    assert json.loads(invoke(cli, "flags", "--format", "json", "--to", "2024-06-03").stdout)["total"] == 1


def test_review_flags_command_and_errors(cli: CliRunner, fresh_engine: Engine) -> None:
    invoke(cli, "reconcile", "--since", "2024-06-03", "--until", "2024-06-03")
    flag_id = json.loads(invoke(cli, "flags", "--format", "json").stdout)["flags"][0]["id"]
    out = invoke(
        cli, "review-flags", str(flag_id), "--status", "violation", "--comment", "未报备", "--by", "wang"
    )
    assert "violation" in out.stdout
    with unit_of_work(fresh_engine) as session:
        entry = session.exec(select(AuditLog).where(AuditLog.action == "flag.review")).one()
    assert entry.actor == "wang"
    flags = json.loads(invoke(cli, "flags", "--format", "json", "--status", "violation").stdout)
    assert flags["total"] == 1 and flags["flags"][0]["status"] == "violation"

    bad = cli.invoke(app, ["review-flags", str(flag_id), "--status", "nonsense"])
    assert bad.exit_code != 0 and "nonsense" in str(bad.exception)
    missing = cli.invoke(app, ["review-flags", "99999", "--status", "violation"])
    assert missing.exit_code != 0 and "99999" in str(missing.exception)


def test_flags_table_csv_and_xlsx(cli: CliRunner, tmp_path: Path) -> None:
    invoke(cli, "reconcile", "--date", "2024-06-03")
    table = invoke(cli, "flags").stdout
    assert "晋M·K0002" in table and "unreported_trip" in table
    csv_text = invoke(cli, "flags", "--format", "csv").stdout
    assert (
        csv_text.splitlines()[0]
        == "id,kind,vehicle,plate,unit,start_at,end_at,trip_km,order_no,status,detail"
    )
    path = tmp_path / "flags.xlsx"
    invoke(cli, "flags", "--out", str(path))
    sheet = load_workbook(path).active
    assert sheet is not None and sheet.max_row == 2


def test_report_units_bulletin_and_expenses(cli: CliRunner, tmp_path: Path) -> None:
    invoke(cli, "reconcile", "--date", "2024-06-03")
    units = json.loads(invoke(cli, "report", "units", "--month", "2024-06", "--format", "json").stdout)
    assert units["month"] == "2024-06"
    assert [u["unit"] for u in units["units"]] == ["戊镇", "己局"]
    town = units["units"][0]
    keys = (
        "unit vehicles trips km covered_trips late_reported_trips unreported_trips reporting_rate"
        " idle_vehicles silent_trackers untracked_vehicles"
        " rest_day_trips rest_day_unreported off_hours_trips off_hours_unreported"
        " out_of_area_trips out_of_area_unreported overspeed_trips overspeed_unreported nights_away"
        " reviewed_violation reviewed_explained reviewed_false_alarm not_reviewed"
    )
    assert set(town) == {*keys.split(), "expenses_yuan"}
    assert (town["trips"], town["covered_trips"], town["reporting_rate"], town["expenses_yuan"]) == (
        2,
        1,
        0.5,
        "62.34",
    )
    assert "50.00%" in invoke(cli, "report", "units", "--month", "2024-06").stdout

    bulletin = json.loads(invoke(cli, "report", "bulletin", "--month", "2024-06", "--format", "json").stdout)
    assert [u["unit"] for u in bulletin["units"]] == ["己局", "戊镇"]

    sheet = json.loads(invoke(cli, "report", "expenses", "--year", "2024", "--format", "json").stdout)
    assert sheet["orders"][0]["order_no"] == "K-1" and sheet["orders"][0]["total"] == "62.34"
    assert sheet["orders"][0]["track_km"] == 30.0
    path = tmp_path / "expenses.xlsx"
    invoke(cli, "report", "expenses", "--year", "2024", "--vehicles", "--out", str(path))
    ws = load_workbook(path).active
    assert ws is not None and [c.value for c in ws[1]][:3] == ["vehicle", "unit", "orders"]

    bad = cli.invoke(app, ["report", "units", "--month", "2024/06"])
    assert bad.exit_code != 0


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GONGWU, *args], capture_output=True, text=True, env=dict(os.environ), cwd=cwd, timeout=120
    )


def test_commands_against_the_configured_database(engine: Engine, env_db: str, tmp_path: Path) -> None:
    """The installed command on the test database (read-only here: nothing is committed to it)."""
    result = _run("flags", "--format", "json", "--from", "1999-01-01", "--to", "1999-01-01", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"flags": [], "total": 0}
    result = _run("report", "units", "--month", "1999-01", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["month"] == "1999-01"
    bad = _run("reconcile", "--since", "2024-06-03", "--until", "2024-06-01", cwd=tmp_path)
    lines = [ln for ln in bad.stderr.splitlines() if ln.strip()]
    assert bad.returncode != 0 and len(lines) == 1 and "晚于" in lines[0]
    bad = _run("flags", "--status", "closed", cwd=tmp_path)
    assert bad.returncode != 0 and "可选" in bad.stderr and "Traceback" not in bad.stderr

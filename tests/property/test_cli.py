from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session
from typer.testing import CliRunner

from core.errors import NotFound
from gongwu import cli_report
from gongwu.cli import app
from tests.property.audit_data import BATCH, TODAY, import_register

# `python -m gongwu.cli` would run cli.py as __main__, a second copy of the module that the command
# modules (`from gongwu.cli import app`) do not register on; the installed `gongwu` script calls main().
GONGWU = [sys.executable, "-c", "from gongwu.cli import main; main()"]
ASOF = ["--date", TODAY.isoformat()]


@pytest.fixture
def cli(session: Session, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """The CLI in-process, on the test's session with the audit's register (rolled back afterwards)."""
    import_register(session)
    monkeypatch.setattr(cli_report, "open_session", lambda: nullcontext(session))
    yield CliRunner()


def run_json(runner: CliRunner, *args: str) -> Any:
    result = runner.invoke(app, ["report", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_certificates_json_is_the_issue_shape(cli: CliRunner) -> None:
    data = run_json(cli, "certificates", *ASOF)
    assert set(data) == {"properties", "surveyed", "certified", "by_stage", "blocked", "overdue"}
    assert (data["properties"], data["surveyed"], data["certified"]) == (66, 66, 12)
    assert sum(data["by_stage"].values()) == 66
    assert len(data["blocked"]) == 54
    assert set(data["blocked"][0]) == {"code", "name", "unit", "stage", "blockers"}
    assert data["overdue"] == []


def test_auctions_json(cli: CliRunner) -> None:
    data = run_json(cli, "auctions", "--batch", BATCH)
    [batch] = data["batches"]
    assert set(batch) == {
        "batch",
        "date",
        "lots",
        "sold",
        "unsold",
        "withdrawn",
        "annual_rent_yuan",
        "lots_detail",
    }
    assert (batch["lots"], batch["sold"], batch["unsold"], batch["withdrawn"]) == (68, 61, 6, 1)
    assert batch["annual_rent_yuan"] == 649800  # a JSON number, exact
    assert '"annual_rent_yuan": 649800,' in cli.invoke(app, ["report", "auctions", "--format", "json"]).stdout
    result = cli.invoke(app, ["report", "auctions", "--batch", "no such batch"])
    assert isinstance(result.exception, NotFound)


def test_operating_and_leases_json(cli: CliRunner) -> None:
    data = run_json(cli, "operating", *ASOF)
    assert set(data) == {"by_status", "overdue_takeovers", "vacant"}
    assert data["overdue_takeovers"] == [
        {
            "code": "JY-03",
            "address": "审计县北关街JY-03",
            "owner_unit": "审计县机关事务服务中心",
            "due_on": "2023-12-31",
        },
        {
            "code": "JY-04",
            "address": "审计县北关街JY-04",
            "owner_unit": "审计县机关事务服务中心",
            "due_on": "2023-12-31",
        },
    ]
    leases = run_json(cli, "leases", "--expiring-within", "1", *ASOF)
    assert set(leases) == {"leases", "annual_rent_yuan"}
    assert [(x["code"], x["days_left"]) for x in leases["leases"]] == [("JY-06", 1)]
    assert leases["annual_rent_yuan"] == 36000
    everything = run_json(cli, "leases", *ASOF)
    assert len(everything["leases"]) == 62 and everything["annual_rent_yuan"] == 649800 + 36000
    assert run_json(cli, "rent-roll", "--year", "2025")["rent_yuan"] == 649800


def test_table_csv_and_xlsx(cli: CliRunner, tmp_path: Path) -> None:
    table = cli.invoke(app, ["report", "certificates", *ASOF], terminal_width=200)
    assert table.exit_code == 0, table.output
    assert "已发证 12" in table.stdout and "BG-013" in table.stdout and "BG-001" not in table.stdout

    csv_out = cli.invoke(app, ["report", "auctions", "--format", "csv"])
    lines = csv_out.stdout.splitlines()
    assert lines[0].startswith("batch,lot,address,rounds,result")
    assert len(lines) == 1 + 68

    xlsx = tmp_path / "operating.xlsx"
    result = cli.invoke(app, ["report", "operating", *ASOF, "--out", str(xlsx)])  # format from the suffix
    assert result.exit_code == 0, result.output
    from openpyxl import load_workbook

    sheet = load_workbook(xlsx).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == ("issue", "code", "address", "owner_unit", "status", "due_on")
    assert len(rows) == 1 + 2 + 11  # two overdue takeovers, eleven vacant

    out = tmp_path / "leases.json"
    assert cli.invoke(app, ["report", "leases", *ASOF, "--out", str(out)]).exit_code == 0
    assert json.loads(out.read_text(encoding="utf-8"))["annual_rent_yuan"] == 685800

    bad = cli.invoke(app, ["report", "leases", "--out", str(tmp_path / "leases.txt")])
    assert bad.exit_code != 0


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GONGWU, *args], capture_output=True, text=True, env=dict(os.environ), cwd=cwd, timeout=120
    )


def test_report_commands_against_the_configured_database(engine: Engine, env_db: str, tmp_path: Path) -> None:
    help_text = _run("report", "--help", cwd=tmp_path)
    assert help_text.returncode == 0, help_text.stderr
    for kind in ("certificates", "auctions", "operating", "leases"):
        assert kind in help_text.stdout
    result = _run("report", "certificates", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert set(json.loads(result.stdout)) == {
        "properties",
        "surveyed",
        "certified",
        "by_stage",
        "blocked",
        "overdue",
    }
    missing = _run("report", "auctions", "--batch", "没有这个批次", cwd=tmp_path)
    assert missing.returncode != 0
    lines = [ln for ln in missing.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "不存在" in lines[0] and "Traceback" not in missing.stderr
    negative = _run("report", "leases", "--expiring-within", "-1", cwd=tmp_path)
    assert negative.returncode == 2, negative.stderr  # a usage error, not a crash
    lines = [ln for ln in negative.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--expiring-within" in lines[0] and "Traceback" not in negative.stderr


EVIL = "=cmd|' /C calc'!A0"


def test_exports_never_carry_a_live_formula(cli: CliRunner, session: Session, tmp_path: Path) -> None:
    """A tenant named like a formula stays text in the Excel and CSV exports (a quote prefix, an apostrophe
    first in CSV)."""
    from openpyxl import load_workbook
    from sqlmodel import select

    from property.models import Lease

    lease = session.exec(select(Lease)).first()
    assert lease is not None
    lease.tenant = EVIL
    session.add(lease)
    session.flush()

    xlsx = tmp_path / "leases.xlsx"
    assert cli.invoke(app, ["report", "leases", *ASOF, "--out", str(xlsx)]).exit_code == 0
    sheet = load_workbook(xlsx).active
    assert sheet is not None
    cells = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str) and "calc" in c.value]
    # a string cell with Excel's quote prefix: shown as typed, never evaluated
    assert [(c.value, c.data_type, c.quotePrefix) for c in cells] == [(EVIL, "s", True)]

    csv_out = cli.invoke(app, ["report", "leases", *ASOF, "--format", "csv"])
    assert csv_out.exit_code == 0
    assert "'" + EVIL in csv_out.stdout
    assert not any(field.startswith("=") for line in csv_out.stdout.splitlines() for field in line.split(","))

"""The first hour (issue 16), through the installed `gongwu` executable as a newcomer types it: usage
errors and a database without a schema are one line and the README's exit code, never a traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from sqlalchemy.engine import Engine

from gongwu.cli import app

EXE = Path(sys.executable).parent / "gongwu"  # the console script the install put beside python

# Every command that needs a database, with minimal valid arguments ({units} is a valid units file).
NEEDS_DATABASE: dict[str, list[str]] = {
    "serve": ["serve", "--no-scheduler", "--port", "{port}", "--osmand-port", "0"],
    "pull": ["pull"],
    "positions": ["positions", "晋M·A0001"],
    "reconcile": ["reconcile", "--date", "2024-06-01"],
    "flags": ["flags"],
    "review-flags": ["review-flags", "1", "--status", "violation"],
    "import": ["import", "units", "{units}"],
    "nightly": ["nightly", "--date", "2024-06-01"],
    "feeds status": ["feeds", "status"],
    "trackers assign": ["trackers", "assign", "T1", "晋M·A0001", "--from", "2024-06-01 12:00"],
    "trackers history": ["trackers", "history", "晋M·A0001"],
    "rules show": ["rules", "show"],
    "rules set": ["rules", "set", "overspeed_kmh", "100"],
    "calendar add": ["calendar", "add", "2024-06-03", "--rest"],
    "calendar show": ["calendar", "show", "--year", "2024"],
    "report certificates": ["report", "certificates"],
    "report auctions": ["report", "auctions"],
    "report operating": ["report", "operating"],
    "report trackers": ["report", "trackers"],
    "report leases": ["report", "leases"],
    "report rent-roll": ["report", "rent-roll", "--year", "2024"],
    "report arrears": ["report", "arrears", "--date", "2024-12-31"],
    "geocode": ["geocode"],
    "notify digest": ["notify", "digest", "--dry-run"],
    "notify status": ["notify", "status"],
    "notify send": ["notify", "send"],
    "notify channel": ["notify", "channel", "admin", "mailto:a@b.gov.cn"],
    "stops": ["stops", "晋M·A0001", "--date", "2024-06-01"],
    "report units": ["report", "units", "--month", "2024-06"],
    "report bulletin": ["report", "bulletin", "--month", "2024-06"],
    "report expenses": ["report", "expenses", "--year", "2024"],
    "report costs": ["report", "costs", "--year", "2024", "--compare", "2023"],
    "report disposals": ["report", "disposals"],
    "dispose": ["dispose", "晋M·A0001", "--stage", "idle_proposed"],
    "archive positions": ["archive", "positions", "--before", "2024-01"],
    "scheduler run": ["scheduler", "run", "nightly"],
    "scheduler start": ["scheduler", "start"],
    "user add": ["user", "add", "admin", "--role", "admin", "--password-stdin"],
    "user list": ["user", "list"],
    "user disable": ["user", "disable", "someone"],
    "user enable": ["user", "enable", "someone"],
    "user unlock": ["user", "unlock", "someone"],
    "user set-password": ["user", "set-password", "someone", "--password-stdin"],
    "user token create": ["user", "token", "create", "someone"],
    "user token list": ["user", "token", "list", "someone"],
    "user token revoke": ["user", "token", "revoke", "1"],
    "audit verify": ["audit", "verify"],
    "orders list": ["orders", "list"],
    "orders approve": ["orders", "approve", "1", "--by", "someone"],
    "orders reject": ["orders", "reject", "1", "--by", "someone"],
    "orders dispatch": ["orders", "dispatch", "1", "--driver", "1"],
    "orders return": ["orders", "return", "1", "--at", "2024-06-04 12:20"],
}
# Commands that work without a database (each has its own tests).
NO_DATABASE = {"init", "demo", "trips", "template", "scheduler list", "notify test"}


def gongwu(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("GONGWU_")}
    return subprocess.run(
        [str(EXE), *args],
        capture_output=True,
        text=True,
        input=stdin,
        cwd=cwd,
        env={**base, **(env or {})},
        timeout=120,
    )


def one_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


def command_paths() -> set[str]:
    """Every leaf command of the CLI, as `group sub`."""
    found: set[str] = set()

    def walk(cmd: object, prefix: str) -> None:
        subs = getattr(cmd, "commands", None)
        if not subs:
            found.add(prefix)
            return
        for name, sub in subs.items():
            walk(sub, f"{prefix} {name}".strip())

    walk(typer.main.get_command(app), "")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_installed_executable_is_there() -> None:
    assert EXE.is_file(), f"{EXE}: the test command installs the project (pip install -e .)"


def test_every_command_is_listed_here() -> None:
    """A new command must say here whether it needs the database (and so get the test below)."""
    assert command_paths() == set(NEEDS_DATABASE) | NO_DATABASE


@pytest.mark.parametrize("name", sorted(NEEDS_DATABASE))
def test_every_command_on_an_empty_database_says_init(name: str, tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")  # a file with no schema: what the before-stop hook tries too
    units = tmp_path / "units.csv"
    units.write_text("单位名称,类型\n城关镇,乡镇\n", encoding="utf-8")
    args = [a.format(units=units, port=free_port()) for a in NEEDS_DATABASE[name]]
    result = gongwu(
        *args, cwd=tmp_path, env={"GONGWU_DATABASE_URL": f"sqlite:///{empty}"}, stdin="a-Str0ng-pass\n"
    )
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    line = one_line(result)
    assert "数据库未初始化，请先运行 gongwu init" in line
    assert empty.stat().st_size == 0  # nothing was created in it


def test_a_read_command_on_a_missing_file_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "nothing-here.db"
    result = gongwu("flags", cwd=tmp_path, env={"GONGWU_DATABASE_URL": f"sqlite:///{target}"})
    assert result.returncode == 1
    assert "gongwu init" in one_line(result)
    assert list(tmp_path.iterdir()) == []  # no stray file, no -wal


def test_a_database_in_a_missing_folder_is_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'no' / 'such' / 'g.db'}"
    for args in (["init"], ["flags"]):
        result = gongwu(*args, cwd=tmp_path, env={"GONGWU_DATABASE_URL": url})
        assert result.returncode == 1
        line = one_line(result)
        assert "GONGWU_DATABASE_URL" in line and str(tmp_path / "no" / "such") in line
    assert not (tmp_path / "no").exists()


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["nosuch"], ["没有命令 nosuch"]),
        (["flags", "--bogus"], ["没有选项 --bogus", "gongwu flags --help"]),
        (["import"], ["缺少参数 KIND"]),
        (["report", "units"], ["缺少选项 --month"]),
        (["report", "leases", "--expiring-within", "abc"], ["--expiring-within", "'abc'", "整数"]),
        (["flags", "--from", "2026-13-01"], ["--from", "'2026-13-01'", "日期"]),
        (["import", "orders", "missing.csv"], ["missing.csv", "不存在"]),
        (["flags", "--format", "bogus"], ["--format", "table, json, csv, xlsx"]),
        (["reconcile", "--date", "2024-06-01", "--since", "2024-06-01"], ["--date"]),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(args: list[str], words: list[str], tmp_path: Path) -> None:
    result = gongwu(*args, cwd=tmp_path, env={"GONGWU_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"})
    assert result.returncode == 2, (result.returncode, result.stderr)
    line = one_line(result)
    for word in words:
        assert word in line, line


def test_usage_errors_in_english(tmp_path: Path) -> None:
    env = {"GONGWU_LANGUAGE": "en"}
    line = one_line(gongwu("flags", "--bogus", cwd=tmp_path, env=env))
    assert line.startswith("error: no such option --bogus") and "see gongwu flags --help" in line
    line = one_line(gongwu("report", "units", cwd=tmp_path, env=env))
    assert "missing option --month" in line
    assert not any("\u4e00" <= c <= "\u9fff" for c in line)


def test_help_lists_every_command_and_exits_0(tmp_path: Path) -> None:
    result = gongwu("--help", cwd=tmp_path)
    assert result.returncode == 0
    top = {path.split()[0] for path in command_paths()}
    assert all(name in result.stdout for name in top), result.stdout
    assert gongwu(cwd=tmp_path).returncode == 0  # `gongwu` alone prints the help


def test_serve_refuses_a_busy_port_in_one_line(engine: Engine, env_db: str, tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = gongwu(
            "serve", "--no-scheduler", "--port", str(port), "--osmand-port", "0", cwd=tmp_path,
            env={"GONGWU_DATABASE_URL": env_db},
        )  # fmt: skip
    assert result.returncode == 1
    line = one_line(result)
    assert f"端口 {port} 已被占用" in line and "--port" in line


def test_docs_page_needs_no_internet(client: object) -> None:
    from fastapi.testclient import TestClient

    assert isinstance(client, TestClient)
    page = client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "https://" not in page.text.split("<body>")[0]
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css"):
        assert f"/docs-assets/{asset}" in page.text
        served = client.get(f"/docs-assets/{asset}")
        assert served.status_code == 200 and len(served.content) > 10_000


def test_demo_data_is_not_tracked_by_git() -> None:
    root = Path(__file__).resolve().parents[2]
    paths = ["demo-data/units.csv", "gongwu-demo.db", "gongwu-demo.db-wal"]
    ignored = subprocess.run(
        ["git", "check-ignore", *paths], cwd=root, check=False, capture_output=True, text=True
    )
    assert ignored.stdout.split() == paths


def test_the_quick_start_then_the_next_commands(tmp_path: Path) -> None:
    """README: `tasks.py demo` (here its `gongwu demo`, small and not served), then `gongwu flags` and
    `gongwu report units --month …` in the same folder, with nothing configured."""
    import json

    demo = gongwu("demo", "--days", "7", "--vehicles", "12", "--no-serve", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    month = next(ln.split("--month ")[1].strip() for ln in demo.stdout.splitlines() if "--month" in ln)
    flags = gongwu("flags", "--format", "json", cwd=tmp_path)
    assert flags.returncode == 0, flags.stderr
    assert json.loads(flags.stdout)["total"] > 0
    assert "gongwu-demo.db" in flags.stderr  # it says which database it took
    units = gongwu("report", "units", "--month", month, "--format", "json", cwd=tmp_path)
    assert units.returncode == 0, units.stderr
    assert sum(u["trips"] for u in json.loads(units.stdout)["units"]) > 0
    import sqlite3

    with sqlite3.connect(tmp_path / "gongwu-demo.db") as db:  # two late orders approved: their flags
        late = db.execute("SELECT count(*) FROM fleet_flag WHERE resolved_reason = 'late_order'").fetchone()
    assert late == (2,)
    assert not (tmp_path / "gongwu.db").exists()

    # The order life made in gongwu: something waits for each role, one is out, one is back.
    orders = json.loads(gongwu("orders", "list", "--format", "json", cwd=tmp_path).stdout)["orders"]
    mine = {(o["status"], o["awaiting"]) for o in orders if o["requested_by"] == "demo_staff"}
    assert {("submitted", "unit"), ("submitted", "center"), ("approved", "dispatch")} <= mine
    assert {("dispatched", ""), ("returned", "")} <= mine
    assert "demo_driver" in demo.stdout

    # One status of a shopfront on a day: the operating report and the lease list agree.
    operating = json.loads(gongwu("report", "operating", "--format", "json", cwd=tmp_path).stdout)
    leases = json.loads(gongwu("report", "leases", "--format", "json", cwd=tmp_path).stdout)["leases"]
    active = {lease["code"] for lease in leases if lease["state"] == "active"}
    assert operating["by_status"]["leased"] == len(active) > 0
    assert not active & {v["code"] for v in operating["vacant"]}

    # The bulletin's title (with a colon) is a valid sheet name.
    out = tmp_path / "b.xlsx"
    bulletin = gongwu("report", "bulletin", "--month", month, "--out", str(out), cwd=tmp_path)
    assert bulletin.returncode == 0, bulletin.stderr
    from openpyxl import load_workbook

    assert load_workbook(out).sheetnames[0].startswith("通报")

    # `gongwu init` makes the folder's own database, which is used from then on.
    assert gongwu("init", cwd=tmp_path).returncode == 0
    assert (tmp_path / "gongwu.db").exists()
    after = gongwu("flags", "--format", "json", cwd=tmp_path)
    assert after.returncode == 0 and json.loads(after.stdout)["total"] == 0
    assert "gongwu-demo.db" not in after.stderr


def test_tasks_demo_passes_sigterm_to_the_server(tmp_path: Path) -> None:
    """`python3 tasks.py demo` runs the server as a child: a SIGTERM (or Ctrl+C) to it ends the server too."""
    import signal
    import time
    import urllib.request

    root = Path(__file__).resolve().parents[2]
    port = free_port()
    cmd = [
        str(EXE), "demo", "--days", "7", "--vehicles", "12", "--port", str(port),
        "--db", str(tmp_path / "d.db"), "--data-dir", str(tmp_path / "data"),
    ]  # fmt: skip
    code = f"import sys, tasks; sys.exit(tasks.run_forwarding({cmd!r}))"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGWU_")}
    wrapper = subprocess.Popen(
        [sys.executable, "-c", code], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert wrapper.poll() is None, "the demo ended before serving"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the demo never served"
                time.sleep(0.2)
        wrapper.send_signal(signal.SIGTERM)
        assert wrapper.wait(60) == 0
        with pytest.raises(OSError):  # nobody listens any more
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1).close()
    finally:
        if wrapper.poll() is None:
            wrapper.kill()

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

GONGWU = [sys.executable, "-m", "gongwu"]


def run(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [*GONGWU, *args], capture_output=True, text=True, env=full_env, cwd=cwd, timeout=120
    )


def test_help_lists_the_commands() -> None:
    """Every command of the README's table is in the help, with its own summary line."""
    result = run("--help", env={"COLUMNS": "200"})
    assert result.returncode == 0
    rows = [line.split() for line in result.stdout.splitlines() if line.startswith("│ ")]
    listed = {row[1] for row in rows if len(row) > 2}
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    documented = {m.split()[1] for m in re.findall(r"^\| `(gongwu [a-z-]+)", readme, flags=re.M)}
    assert documented and documented <= listed, documented - listed


def test_init_twice_on_the_same_database(env_db: str, tmp_path: Path) -> None:
    first = run("init", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = run("init", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout


def test_init_creates_the_default_sqlite_file(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GONGWU_DATABASE_URL"}
    result = subprocess.run(
        [*GONGWU, "init"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "gongwu.db").exists()
    assert "upgraded from empty" in result.stdout


def test_bad_database_url_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    for url in ("garbage", "mysql://x@localhost/db", "postgresql+psycopg://nobody@127.0.0.1:1/none"):
        result = run("init", env={"GONGWU_DATABASE_URL": url}, cwd=tmp_path)
        assert result.returncode != 0
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1, result.stderr
        assert "GONGWU_DATABASE_URL" in lines[0]
        assert "Traceback" not in result.stderr

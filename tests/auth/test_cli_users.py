"""`gongwu user ...` and `gongwu init` on a fresh SQLite file: no default user or password, weak passwords
refused, tokens printed once and stored hashed, every change audit-logged."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select
from typer.testing import CliRunner

from accounts.models import User
from accounts.service import principal_for_token, verify_password
from core.db import dispose_engines, get_engine
from core.errors import GongwuError
from core.models import AuditLog
from core.settings import reset_settings
from gongwu.cli import app

runner = CliRunner()
GOOD = "Hua-shan-2024-x"


@pytest.fixture
def fresh_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'users.db'}"
    monkeypatch.setenv("GONGWU_DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    reset_settings()
    yield url
    dispose_engines()
    reset_settings()


def gongwu(*args: str, input: str | None = None) -> str:
    result = runner.invoke(app, list(args), input=input)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert result.exit_code == 0, result.output
    return result.stdout


def test_init_creates_no_user_and_says_how_to_make_the_first_admin(fresh_db: str) -> None:
    out = gongwu("init")
    assert "gongwu user add admin --role admin" in out
    with Session(get_engine()) as s:
        assert s.exec(select(User)).all() == []
        assert s.execute(text("SELECT count(*) FROM core_secret")).scalar() == 1


def test_user_lifecycle(fresh_db: str) -> None:
    gongwu("init")
    with pytest.raises(GongwuError, match="10"):
        gongwu("user", "add", "admin", "--role", "admin", "--password-stdin", input="short\n")
    with pytest.raises(GongwuError, match="--password-stdin"):
        gongwu("user", "add", "admin", "--role", "admin")  # no terminal to prompt on
    with pytest.raises(GongwuError, match="unit"):
        gongwu("user", "add", "viewer", "--role", "unit_viewer", "--password-stdin", input=GOOD + "\n")
    assert "created" in gongwu(
        "user", "add", "admin", "--role", "admin", "--password-stdin", input=GOOD + "\n"
    )
    assert "gongwu user add" not in gongwu("init")  # an admin exists now
    listed = gongwu("user", "list", "--format", "json")
    assert '"username": "admin"' in listed and GOOD not in listed and "argon2" not in listed

    token = gongwu("user", "token", "create", "admin", "--name", "backup").strip()
    assert token.startswith("gw_") and "\n" not in token
    with Session(get_engine()) as s:
        principal = principal_for_token(s, token, kind="api")
        assert principal is not None and principal.username == "admin"
        s.commit()
    tokens = gongwu("user", "token", "list", "admin", "--format", "json")
    assert '"name": "backup"' in tokens and token not in tokens
    gongwu("user", "token", "revoke", str(principal.token_id))
    gongwu("user", "set-password", "admin", "--password-stdin", input="Another-good-1\n")
    with pytest.raises(GongwuError, match="唯一的管理员"):
        gongwu("user", "disable", "admin")
    gongwu("user", "add", "admin2", "--role", "admin", "--password-stdin", input=GOOD + "\n")
    gongwu("user", "disable", "admin")
    with Session(get_engine()) as s:
        assert principal_for_token(s, token, kind="api") is None
        user = s.exec(select(User).where(User.username == "admin")).one()
        assert not user.is_active and verify_password(user.password_hash, "Another-good-1")
        logged = [(a.action, a.actor) for a in s.exec(select(AuditLog).order_by(AuditLog.id)).all()]  # type: ignore[arg-type]
        assert [a for a, _ in logged] == [
            "user.create", "token.create", "token.revoke", "user.set_password", "user.create", "user.disable",
        ]  # fmt: skip
        assert all(actor.startswith("cli") for _, actor in logged)
        cells = " ".join(str(v) for row in s.execute(text("SELECT * FROM core_user")).all() for v in row)
        cells += " ".join(
            str(v) for row in s.execute(text("SELECT * FROM core_api_token")).all() for v in row
        )
        assert GOOD not in cells and "Another-good-1" not in cells and token not in cells


def test_errors_are_one_line_with_a_nonzero_exit(fresh_db: str, tmp_path: Path) -> None:
    gongwu("init")
    result = subprocess.run(
        [sys.executable, "-m", "gongwu", "user", "add", "x1", "--role", "root", "--password-stdin"],
        input=GOOD + "\n", capture_output=True, text=True, env={**os.environ}, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "role" in lines[0] and "Traceback" not in result.stderr


def test_a_driver_account_is_linked_to_the_units_driver_record(fresh_db: str) -> None:
    from core.models import Unit
    from fleet.models import Driver

    gongwu("init")
    with Session(get_engine()) as s:
        unit = Unit(name="县机关事务服务中心", kind="department")
        s.add(unit)
        s.flush()
        s.add(Driver(name="李四", unit_id=unit.id or 0))
        s.commit()
    base = ("user", "add", "lisi", "--role", "driver", "--unit", "县机关事务服务中心", "--password-stdin")
    with pytest.raises(GongwuError, match="--display-name"):
        gongwu(*base, input=GOOD + "\n")
    with pytest.raises(GongwuError, match="王五"):  # no such driver: no account either
        gongwu(*base, "--display-name", "王五", input=GOOD + "\n")
    gongwu(*base, "--display-name", "李四", input=GOOD + "\n")
    with Session(get_engine()) as s:
        user = s.exec(select(User).where(User.username == "lisi")).one()
        assert s.exec(select(Driver).where(Driver.name == "李四")).one().user_id == user.id
        assert s.exec(select(User).where(User.username == "lisi")).all() == [user]

"""The audit log is tamper-evident (#18 finding 7): rows are chained when their transaction commits, an
insert onto an existing id (SQLite's INSERT OR REPLACE) and any change of a sealed row are refused, and
`gongwu audit verify` recomputes the chain on either database and names the first bad row."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlmodel import Session, col, select
from typer.testing import CliRunner

from core import audit
from core.db import unit_of_work
from core.models import AuditLog
from gongwu import cli_db
from gongwu.cli import app


def write(engine: Engine, n: int, actor: str = "tester") -> None:
    with unit_of_work(engine) as session:
        for i in range(n):
            audit.record(session, actor=actor, action="test.write", entity="t", entity_id=i, after={"i": i})


@pytest.fixture
def verify(fresh_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setattr(cli_db, "database", lambda: fresh_engine)

    def run() -> tuple[int, dict[str, Any]]:
        result = CliRunner().invoke(app, ["audit", "verify", "--format", "json"])
        return result.exit_code, json.loads(result.stdout)

    yield run


def test_commits_chain_their_rows(fresh_engine: Engine, verify: Any) -> None:
    write(fresh_engine, 3)
    write(fresh_engine, 2, actor="other")
    with Session(fresh_engine) as s:
        rows = s.exec(select(AuditLog).order_by(col(AuditLog.id))).all()
    assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
    assert rows[0].prev_hash == audit.GENESIS
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(rows))
    code, out = verify()
    assert code == 0 and out["ok"] and out["rows_checked"] == 5 and out["last_hash"] == rows[-1].hash
    # a rolled-back transaction leaves no row and no gap
    with pytest.raises(RuntimeError), unit_of_work(fresh_engine) as session:
        audit.record(session, actor="x", action="test.write", entity="t")
        session.flush()
        raise RuntimeError
    write(fresh_engine, 1)
    assert verify()[1]["rows_checked"] == 6


def test_a_sealed_row_cannot_be_changed_replaced_or_deleted(fresh_engine: Engine) -> None:
    write(fresh_engine, 2)
    sqlite = fresh_engine.dialect.name == "sqlite"
    attacks = [
        "UPDATE core_audit_log SET actor = 'nobody' WHERE id = 1",
        "UPDATE core_audit_log SET seq = NULL, hash = NULL WHERE id = 1",  # unseal, to seal it anew
        "DELETE FROM core_audit_log WHERE id = 1",
        "INSERT INTO core_audit_log (id, at, actor, action, entity, entity_id, detail, seq, prev_hash, hash) "
        "VALUES (99, '2024-01-01', 'x', 'y', 'z', '', '', 3, 'a', 'b')",  # a forged sealed row
    ]
    if sqlite:
        attacks.append(
            "INSERT OR REPLACE INTO core_audit_log (id, at, actor, action, entity, entity_id, detail) "
            "VALUES (1, '2024-01-01 00:00:00', 'nobody', 'login.succeeded', 'core_user', 'admin', '')"
        )
    else:
        attacks.append("TRUNCATE core_audit_log")
    for sql in attacks:
        with pytest.raises(DBAPIError, match="append-only"), fresh_engine.begin() as conn:
            conn.execute(text(sql))
    with Session(fresh_engine) as s:
        first = s.get(AuditLog, 1)
        assert first is not None and first.actor == "tester" and first.seq == 1


def _without_triggers(engine: Engine, sql: str) -> None:
    """What someone with the database's owner rights can still do: drop the guard, then edit."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            triggers = conn.execute(
                text(
                    "SELECT name, sql FROM sqlite_master "
                    "WHERE type = 'trigger' AND tbl_name = 'core_audit_log'"
                )
            ).all()
            for name, _ in triggers:
                conn.execute(text(f"DROP TRIGGER {name}"))
            conn.execute(text(sql))
            for _, create in triggers:
                conn.execute(text(create))
        else:
            conn.execute(text("ALTER TABLE core_audit_log DISABLE TRIGGER USER"))
            conn.execute(text(sql))
            conn.execute(text("ALTER TABLE core_audit_log ENABLE TRIGGER USER"))


@pytest.mark.parametrize(
    ("tamper", "bad_id", "reason"),
    [
        ("UPDATE core_audit_log SET detail = 'nothing to see' WHERE id = 3", 3, "content does not match"),
        ("DELETE FROM core_audit_log WHERE id = 2", 3, "where 2 was due"),
        ("UPDATE core_audit_log SET prev_hash = hash WHERE id = 4", 4, "does not point"),
    ],
)
def test_verify_names_the_first_bad_row(
    fresh_engine: Engine, verify: Any, tamper: str, bad_id: int, reason: str, settings_env: Any
) -> None:
    settings_env(language="en")
    write(fresh_engine, 5)
    assert verify()[0] == 0
    _without_triggers(fresh_engine, tamper)
    code, out = verify()
    assert code == 1 and not out["ok"]
    assert out["first_bad_row"]["id"] == bad_id and reason in out["first_bad_row"]["reason"]


def test_verify_says_it_in_words(fresh_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_db, "database", lambda: fresh_engine)
    write(fresh_engine, 2)
    ok = CliRunner().invoke(app, ["audit", "verify"])
    assert ok.exit_code == 0 and "审计日志完好：2 行" in ok.stdout
    _without_triggers(fresh_engine, "UPDATE core_audit_log SET actor = 'x' WHERE id = 2")
    bad = CliRunner().invoke(app, ["audit", "verify"])
    assert bad.exit_code == 1 and "第 2 行（id 2）" in bad.stderr and "Traceback" not in bad.output

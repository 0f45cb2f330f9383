"""`gongwu orders list | approve | reject | dispatch | return` on a database of its own (#19)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from typer.testing import CliRunner

from accounts import service as accounts
from core.db import unit_of_work
from core.errors import Conflict, UsageError
from core.timeutil import CHINA
from fleet import service
from fleet.models import Driver
from gongwu import cli_db
from gongwu.cli import app
from tests.factories import make_unit, make_vehicle


@pytest.fixture
def county(fresh_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, int]]:
    with unit_of_work(fresh_engine) as s:
        town = make_unit(s, name="城关镇")
        car = make_vehicle(s, town, plate="晋M·A0001", tracker_id="T1")
        accounts.create_user(
            s, username="appr", password="Correct-horse-2024", role="unit_approver", unit_id=town.id,
            actor="t",
        )  # fmt: skip
        driver = Driver(name="李四", unit_id=town.id or 0)
        s.add(driver)
        s.flush()
        start, end = datetime(2024, 6, 4, 8, tzinfo=CHINA), datetime(2024, 6, 4, 12, tzinfo=CHINA)
        order = service.create_order(
            s, order_no="CLI-1", vehicle_id=car.id or 0, planned_start_at=start.astimezone(UTC),
            planned_end_at=end.astimezone(UTC), status="submitted", actor="t",
        )  # fmt: skip
        ids = {"order": order.id or 0, "driver": driver.id or 0}
    monkeypatch.setattr(cli_db, "database", lambda: fresh_engine)
    yield ids


def run(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.stdout


def test_the_order_life_from_the_command_line(county: dict[str, int]) -> None:
    order = str(county["order"])
    waiting = json.loads(run("orders", "list", "--awaiting", "unit", "--format", "json"))
    assert [o["order_no"] for o in waiting["orders"]] == ["CLI-1"]
    refused = CliRunner().invoke(app, ["orders", "dispatch", order, "--driver", str(county["driver"])])
    assert isinstance(refused.exception, Conflict) and "尚未批准" in refused.exception.message
    assert "approved" in run("orders", "approve", order, "--by", "appr", "--comment", "同意")
    assert json.loads(run("orders", "list", "--awaiting", "dispatch", "--format", "json"))["count"] == 1
    assert "dispatched" in run("orders", "dispatch", order, "--driver", str(county["driver"]))
    assert "returned" in run(
        "orders", "return", order, "--at", "2024-06-04 12:30", "--tolls", "35", "--fuel", "120.5"
    )
    done = json.loads(run("orders", "list", "--status", "returned", "--format", "json"))["orders"][0]
    assert done["driver"] == "李四" and done["awaiting"] == ""
    bad = CliRunner().invoke(app, ["orders", "list", "--awaiting", "nobody"])
    assert isinstance(bad.exception, UsageError) and "--awaiting" in bad.exception.message

"""Rent collection (收租): the instalments a lease falls due in, payments covering them oldest first, arrears
(欠租) by lease, tenant and property, the overdue reminder, the rent roll's received vs due, renewal; the
API and `gongwu report arrears` say the same."""

from __future__ import annotations

import json
from contextlib import nullcontext
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select
from typer.testing import CliRunner

from core.errors import Conflict, ValidationFailed
from core.models import AuditLog
from gongwu import cli_report
from gongwu.cli import app
from property import queries, rules, service
from property.models import Lease, PropertyAlert
from tests.property.audit_data import TODAY, import_register

API = "/api/v1"
ACTOR = "clerk"


def test_a_schedule_adds_up_to_the_annual_rent_and_prorates_a_short_end() -> None:
    quarters = rules.rent_schedule(1_000_001, date(2024, 3, 1), date(2026, 2, 28), 4)
    assert [d.due_on for d in quarters[:4]] == [date(2024, 3, 1), date(2024, 6, 1), date(2024, 9, 1),
                                                date(2024, 12, 1)]  # fmt: skip
    assert sum(d.amount_fen for d in quarters) == 2_000_002  # two years, not a fen lost
    assert quarters[0].period_end == date(2024, 5, 31)
    short = rules.rent_schedule(1_200_000, date(2024, 1, 1), date(2024, 7, 15), 2)
    assert [d.amount_fen for d in short] == [600_000, round(600_000 * 15 / 184)]
    with pytest.raises(ValueError):
        rules.rent_schedule(1_200_000, date(2024, 1, 1), date(2024, 12, 31), 3)


def test_payments_cover_the_oldest_instalment_first() -> None:
    schedule = rules.rent_schedule(1_200_000, date(2024, 1, 1), date(2025, 12, 31), 4)
    status = rules.rent_status(schedule, 550_000, date(2024, 8, 31))
    assert (status.due_fen, status.arrears_fen, status.overdue_since, status.days_overdue) == (
        900_000, 350_000, date(2024, 4, 1), 152,
    )  # fmt: skip
    assert rules.rent_status(schedule, 900_000, date(2024, 8, 31)).overdue_since is None
    ahead = rules.rent_status(schedule, 1_200_000, date(2024, 8, 31))  # paid ahead: no arrears
    assert (ahead.arrears_fen, ahead.days_overdue) == (0, 0)
    later = rules.rent_status(schedule, 0, date(2024, 8, 31), tracked_from=date(2024, 6, 1))
    assert (later.due_fen, later.overdue_since) == (300_000, date(2024, 7, 1))


@pytest.fixture
def register(session: Session) -> Session:
    import_register(session, ACTOR)
    return session


def _new_lease(session: Session) -> Lease:
    """A lease entered in gongwu on a shopfront that never found a tenant at the auction."""
    return service.create_lease(
        session, code="MF-062", tenant="赵六", annual_rent_fen=1_200_000, start_on=date(2024, 1, 1),
        end_on=date(2025, 12, 31), actor=ACTOR, instalments=4,
    )  # fmt: skip


def test_record_payments_arrears_and_the_reminder(register: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    s = register
    lease = _new_lease(s)
    assert lease.id is not None
    service.record_payment(s, lease.id, paid_on=date(2024, 1, 5), amount_fen=300_000, receipt_no="R1",
                           actor=ACTOR)  # fmt: skip
    service.record_payment(s, lease.id, paid_on=date(2024, 4, 10), amount_fen=250_000, receipt_no="R2",
                           note="部分缴纳", actor=ACTOR)  # fmt: skip
    with pytest.raises(Conflict, match="R1"):
        service.record_payment(
            s, lease.id, paid_on=date(2024, 5, 1), amount_fen=1, receipt_no="R1", actor=ACTOR
        )
    with pytest.raises(ValidationFailed):
        service.record_payment(s, lease.id, paid_on=date(2024, 5, 1), amount_fen=0, actor=ACTOR)
    with pytest.raises(ValidationFailed):
        service.record_payment(s, lease.id, paid_on=date(2099, 1, 1), amount_fen=5, actor=ACTOR)
    logged = s.exec(select(AuditLog).where(AuditLog.entity == "property_rent_payment")).all()
    assert len(logged) == 2 and {a.actor for a in logged} == {ACTOR}

    report = queries.arrears(s, TODAY)
    assert [
        (r["code"], r["tenant"], str(r["arrears_yuan"]), r["days_overdue"]) for r in report["leases"]
    ] == [
        ("MF-062", "赵六", "3500", 152)
    ]  # the imported leases' earlier rent was settled before gongwu: never arrears
    assert report["by_tenant"] == [
        {"tenant": "赵六", "leases": 1, "arrears_yuan": rules.fen_to_yuan(350_000)}
    ]
    assert report["by_property"][0]["code"] == "MF-062"

    monkeypatch.setenv("GONGWU_RENT_OVERDUE_DAYS", "200")
    from core.settings import reset_settings

    reset_settings()
    assert service.raise_property_alerts(s, TODAY)["rent_overdue"] == 0  # 152 days < 200
    monkeypatch.setenv("GONGWU_RENT_OVERDUE_DAYS", "15")
    reset_settings()
    assert service.raise_property_alerts(s, TODAY)["rent_overdue"] == 1
    alert = s.exec(select(PropertyAlert).where(PropertyAlert.kind == "rent_overdue")).one()
    assert alert.due_on == date(2024, 4, 1) and "欠租 3500.00 元" in alert.message
    assert service.raise_property_alerts(s, TODAY)["rent_overdue"] == 0  # a re-run raises nothing new
    service.record_payment(s, lease.id, paid_on=date(2024, 8, 30), amount_fen=350_000, actor=ACTOR)
    assert service.raise_property_alerts(s, TODAY)["resolved"] == 1
    assert queries.arrears(s, TODAY)["leases"] == []

    roll = queries.rent_roll(s, 2024)
    assert roll["received_yuan"] == rules.fen_to_yuan(900_000)
    assert sum(u["received_yuan"] for u in roll["units"]) == roll["received_yuan"]


def test_renewal_starts_the_day_after(register: Session) -> None:
    lease = _new_lease(register)
    assert lease.id is not None
    renewed = service.renew_lease(register, lease.id, end_on=date(2027, 12, 31), actor=ACTOR)
    assert (renewed.start_on, renewed.tenant, renewed.annual_rent_fen, renewed.instalments) == (
        date(2026, 1, 1), "赵六", 1_200_000, 4,
    )  # fmt: skip
    with pytest.raises(Conflict):  # the same renewal twice overlaps the first
        service.renew_lease(register, lease.id, end_on=date(2027, 12, 31), actor=ACTOR)
    with pytest.raises(ValidationFailed):
        service.create_lease(
            register, code="MF-063", tenant="钱七", annual_rent_fen=1, start_on=date(2024, 1, 1),
            end_on=date(2024, 12, 31), actor=ACTOR, instalments=3,
        )  # fmt: skip


def test_the_api_and_the_cli_say_the_same(
    register: Session, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    lease = _new_lease(register)
    r = client.post(f"{API}/leases/{lease.id}/payments",
                    json={"paid_on": "2024-01-05", "amount_fen": 300_000, "receipt_no": "R1"})  # fmt: skip
    assert r.status_code == 201, r.text
    again = client.post(f"{API}/leases/{lease.id}/payments",
                        json={"paid_on": "2024-01-06", "amount_fen": 1, "receipt_no": "R1"})  # fmt: skip
    assert again.status_code == 409
    listed = client.get(f"{API}/leases/{lease.id}/payments").json()
    assert listed["count"] == 1 and listed["data"][0]["receipt_no"] == "R1"
    api: dict[str, Any] = client.get(f"{API}/reports/arrears", params={"date": TODAY.isoformat()}).json()
    assert [x["code"] for x in api["leases"]] == ["MF-062"] and float(api["arrears_yuan"]) == 6000
    monkeypatch.setattr(cli_report, "open_session", lambda: nullcontext(register))
    out = CliRunner().invoke(app, ["report", "arrears", "--date", TODAY.isoformat(), "--format", "json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.stdout) == api
    table = CliRunner().invoke(app, ["report", "arrears", "--date", TODAY.isoformat()])
    assert "欠租 1 份，合计 6000.00 元" in table.stdout

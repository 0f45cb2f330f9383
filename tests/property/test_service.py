from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import Session, col, select

from core.errors import Conflict, NotFound, ValidationFailed
from core.importing import ApplyResult, Row
from core.models import AuditLog
from core.settings import reset_settings
from property import imports as property_imports
from property import queries as property_queries
from property import service
from property.models import AuctionRound, Lease, OfficeProperty, OperatingProperty, PropertyAlert
from tests.property.audit_data import (
    BATCH,
    CENTER,
    FIN,
    LEASE_END,
    LEASE_START,
    TODAY,
    as_rows,
    auction_values,
    import_register,
    lease_values,
    make_units,
    office_values,
    operating_values,
)

ACTOR = "clerk"


def audit_count(session: Session) -> int:
    stmt = select(func.count()).select_from(AuditLog).where(col(AuditLog.entity).like("property_%"))
    return int(session.exec(stmt).one())


def clean(result: ApplyResult) -> ApplyResult:
    assert result.issues == [], result.issues
    return result


@pytest.fixture
def audit_db(session: Session) -> Session:
    """The audit's register, imported kind by kind as the pipeline would."""
    import_register(session, ACTOR)
    return session


# --- the audit's figures ------------------------------------------------------------------------------


def test_66_office_properties_12_certified_with_the_right_blockers(audit_db: Session) -> None:
    report = property_queries.certificates_report(audit_db, TODAY)
    assert report["properties"] == 66
    assert report["surveyed"] == 66
    assert report["certified"] == 12
    assert report["by_stage"] == {
        "not_surveyed": 0,
        "surveyed": 34,
        "appraised": 10,
        "fire_accepted": 6,
        "submitted": 4,
        "certified": 12,
    }
    blocked = {b["code"]: b for b in report["blocked"]}
    assert len(blocked) == 54
    assert set(blocked["BG-013"]) == {"code", "name", "unit", "stage", "blockers"}
    assert blocked["BG-013"]["blockers"] == ["missing_safety", "missing_seismic", "missing_fire"]
    assert blocked["BG-033"]["blockers"] == ["missing_seismic", "missing_fire"]
    assert blocked["BG-047"] == {
        "code": "BG-047",
        "name": "办公楼47号",
        "unit": "审计县财政局",
        "stage": "appraised",
        "blockers": ["missing_fire"],
    }
    assert blocked["BG-057"]["blockers"] == ["not_submitted"]
    assert blocked["BG-066"]["blockers"] == ["waiting_for_bureau"]
    assert "BG-001" not in blocked
    counts: dict[str, int] = {}
    for b in report["blocked"]:
        for name in b["blockers"]:
            counts[name] = counts.get(name, 0) + 1
    assert counts == {
        "missing_safety": 20,
        "missing_seismic": 34,
        "missing_fire": 44,
        "not_submitted": 6,
        "waiting_for_bureau": 4,
    }
    assert report["overdue"] == []  # no targets yet


def test_68_lots_61_sold_6_unsold_1_withdrawn_649800_yuan(audit_db: Session) -> None:
    report = property_queries.auctions_report(audit_db)
    assert len(report["batches"]) == 1
    batch = report["batches"][0]
    assert {k: batch[k] for k in ("batch", "lots", "sold", "unsold", "withdrawn", "annual_rent_yuan")} == {
        "batch": BATCH,
        "lots": 68,
        "sold": 61,
        "unsold": 6,
        "withdrawn": 1,
        "annual_rent_yuan": Decimal("649800"),
    }
    assert isinstance(batch["annual_rent_yuan"], Decimal)  # exact, never float
    detail = {d["lot"]: d for d in batch["lots_detail"]}
    assert len(detail) == 68
    assert detail["MF-059"]["rounds"] == 2 and detail["MF-059"]["result"] == "sold"  # unsold, then sold
    assert detail["MF-067"]["rounds"] == 2 and detail["MF-067"]["result"] == "unsold"
    assert detail["MF-068"]["result"] == "withdrawn"
    assert property_queries.auctions_report(audit_db, batch=BATCH) == report
    with pytest.raises(NotFound):
        property_queries.auctions_report(audit_db, batch="no such batch")


def test_each_sold_lot_created_its_lease(audit_db: Session) -> None:
    leases = audit_db.exec(select(Lease).where(col(Lease.lot_id).is_not(None))).all()
    assert len(leases) == 61
    assert sum(lease.annual_rent_fen for lease in leases) == 64_980_000
    assert {(lease.start_on, lease.end_on) for lease in leases} == {(LEASE_START, LEASE_END)}
    report = property_queries.leases_report(audit_db, TODAY)
    assert len(report["leases"]) == 62  # 61 from the auction + JY-06
    assert report["annual_rent_yuan"] == Decimal("649800") + Decimal("36000")


def test_two_overdue_takeovers_and_vacancy(audit_db: Session) -> None:
    report = property_queries.operating_report(audit_db, TODAY)
    assert report["overdue_takeovers"] == [
        {"code": "JY-03", "address": "审计县北关街JY-03", "owner_unit": CENTER, "due_on": date(2023, 12, 31)},
        {"code": "JY-04", "address": "审计县北关街JY-04", "owner_unit": CENTER, "due_on": date(2023, 12, 31)},
    ]
    # Status on the day: the 61 lots sold at auction and JY-06 are leased (the register says 招租 for the
    # lots), so the counts agree with the lease list (issue 16, defect 7).
    assert report["by_status"] == {
        "leased": 62,
        "self_used": 1,
        "idle": 1,
        "offered": 7,
        "not_taken_over": 3,
    }
    leases = property_queries.leases_report(audit_db, TODAY)["leases"]
    active = [lease for lease in leases if lease["state"] == "active"]
    assert report["by_status"]["leased"] == len(active) == len({lease["code"] for lease in active})
    vacant = {v["code"] for v in report["vacant"]}
    # the 7 lots not sold, the idle one and the three not taken over; not JY-01 (self-used), not JY-06
    assert vacant == {f"MF-{n:03d}" for n in range(62, 69)} | {"JY-02", "JY-03", "JY-04", "JY-05"}
    # the day after JY-06's lease ends, it is vacant although the register still says leased
    later = property_queries.operating_report(audit_db, date(2024, 9, 2))
    assert "JY-06" in {v["code"] for v in later["vacant"]}
    jy06 = next(v for v in later["vacant"] if v["code"] == "JY-06")
    assert (jy06["status"], jy06["registered_status"]) == ("idle", "leased")


def test_reapplying_the_same_rows_changes_nothing(audit_db: Session) -> None:
    before = audit_count(audit_db)
    leases = audit_db.exec(select(func.count()).select_from(Lease)).one()
    for apply, values in (
        (property_imports.apply_properties, office_values()),
        (property_imports.apply_operating_properties, operating_values()),
        (property_imports.apply_auctions, auction_values()),
        (property_imports.apply_leases, lease_values()),
    ):
        result = clean(apply(audit_db, as_rows(values), ACTOR))
        assert (result.inserted, result.updated, result.unchanged) == (0, 0, len(values))
        assert result.changes == []
    assert audit_count(audit_db) == before
    assert audit_db.exec(select(func.count()).select_from(Lease)).one() == leases


def test_every_change_is_audited(audit_db: Session) -> None:
    # 66 + 74 inserts, 72 rounds + 1 batch + 68 lots + 61 leases, 1 lease
    assert audit_count(audit_db) == 66 + 74 + 72 + 1 + 68 + 61 + 1


# --- updates ------------------------------------------------------------------------------------------


def test_update_is_reported_and_audited(audit_db: Session) -> None:
    values = office_values()
    values[50]["fire_accepted_on"] = date(2024, 8, 1)  # BG-051 gets its fire report
    values[50]["unit"] = CENTER
    before = audit_count(audit_db)
    result = clean(property_imports.apply_properties(audit_db, as_rows(values), ACTOR))
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 65)
    assert len(result.changes) == 1
    line = result.changes[0]
    assert (
        line.startswith("BG-051: ")
        and "fire_accepted_on — → 2024-08-01" in line
        and f"unit {FIN} → {CENTER}" in line
    )
    assert audit_count(audit_db) == before + 1
    entry = audit_db.exec(select(AuditLog).order_by(col(AuditLog.id).desc())).first()
    assert entry is not None
    assert entry.action == "office_property.update" and entry.entity_id == "BG-051" and entry.actor == ACTOR
    assert entry.after is not None and entry.after["fire_accepted_on"] == "2024-08-01"
    prop = property_queries.get_office_property(audit_db, "BG-051")
    assert property_queries.office_view(prop, {}, {}, TODAY)["blockers"] == ["not_submitted"]


def test_a_field_absent_from_the_rows_is_left_alone(audit_db: Session) -> None:
    rows = [Row(2, {"code": "BG-001", "name": "新名称"})]
    result = clean(property_imports.apply_properties(audit_db, rows, ACTOR))
    assert result.updated == 1
    prop = property_queries.get_office_property(audit_db, "BG-001")
    assert (
        prop.name == "新名称" and prop.certificate_no is not None and prop.floor_area_m2 == Decimal("1201.50")
    )


def test_auction_round_changes_update_the_lease(audit_db: Session) -> None:
    values = auction_values()
    values[0]["price_fen"] += 100  # MF-001's price corrected by one yuan
    result = clean(property_imports.apply_auctions(audit_db, as_rows(values), ACTOR))
    assert (result.updated, result.unchanged) == (1, 71)
    assert any(c.startswith("lease MF-001:") and "annual_rent_fen" in c for c in result.changes)
    report = property_queries.auctions_report(audit_db)
    assert report["batches"][0]["annual_rent_yuan"] == Decimal("649801")


# --- the edge cases -----------------------------------------------------------------------------------


def test_certificate_without_a_fire_report_is_rejected(session: Session) -> None:
    make_units(session)
    row = office_values()[0]  # certified
    row["fire_accepted_on"] = None
    result = property_imports.apply_properties(session, as_rows([row]), ACTOR)
    assert result.inserted == 0
    [issue] = result.issues
    assert (issue.line, issue.field) == (2, "certificate_no")
    assert "消防验收" in issue.reason
    assert session.exec(select(OfficeProperty)).first() is None


def test_lease_of_an_office_property_is_rejected_with_the_reason(audit_db: Session) -> None:
    row = {
        **lease_values()[0],
        "code": "BG-001",
        "lease_start": date(2024, 9, 1),
        "lease_end": date(2025, 8, 31),
    }
    result = property_imports.apply_leases(audit_db, as_rows([row]), ACTOR)
    [issue] = result.issues
    assert issue.field == "code"
    assert "办公用房不得出租" in issue.reason and "第二十三条" in issue.reason
    # through an auction lot too, and through the service
    lot = {**auction_values()[0], "batch": "第二批", "lot": "BG-002"}
    [issue] = property_imports.apply_auctions(audit_db, as_rows([lot]), ACTOR).issues
    assert issue.field == "lot" and "第二十三条" in issue.reason
    with pytest.raises(ValidationFailed, match="第二十三条"):
        service.create_lease(
            audit_db, code="BG-003", tenant="某公司", annual_rent_fen=100, start_on=TODAY,
            end_on=TODAY + timedelta(days=365), actor=ACTOR,
        )  # fmt: skip


def test_lease_over_the_cap_is_rejected(audit_db: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    row = {**lease_values()[0], "lease_start": date(2024, 9, 2), "lease_end": date(2030, 9, 1)}
    [issue] = property_imports.apply_leases(audit_db, as_rows([row]), ACTOR).issues
    assert issue.field == "lease_end"
    assert "超过 5 年上限" in issue.reason
    # the cap is a setting
    monkeypatch.setenv("GONGWU_LEASE_TERM_CAP_YEARS", "10")
    reset_settings()
    try:
        result = clean(property_imports.apply_leases(audit_db, as_rows([row]), ACTOR))
        assert result.inserted == 1
    finally:
        monkeypatch.delenv("GONGWU_LEASE_TERM_CAP_YEARS")
        reset_settings()


def test_lease_ending_tomorrow(audit_db: Session) -> None:
    expiring = property_queries.leases_report(audit_db, TODAY, expiring_within=1)
    assert [(x["code"], x["days_left"]) for x in expiring["leases"]] == [("JY-06", 1)]
    assert expiring["annual_rent_yuan"] == Decimal("36000")
    assert property_queries.leases_report(audit_db, TODAY, expiring_within=0)["leases"] == []

    counts = service.raise_property_alerts(audit_db, TODAY)
    assert counts == {
        "lease_ending_90": 0,
        "lease_ending_30": 1,
        "certificate_overdue": 0,
        "takeover_overdue": 2,
        "rent_overdue": 0,  # the imported leases' rent before gongwu was settled outside it
        "resolved": 0,
    }
    alert = audit_db.exec(select(PropertyAlert).where(PropertyAlert.kind == "lease_ending_30")).one()
    assert alert.key == "JY-06:2021-09-02" and alert.due_on == date(2024, 9, 1)
    # a re-run raises nothing new
    assert sum(service.raise_property_alerts(audit_db, TODAY).values()) == 0
    # once the lease has ended its reminder is resolved; the takeovers stay open
    counts = service.raise_property_alerts(audit_db, date(2024, 9, 2))
    assert counts["resolved"] == 1 and counts["takeover_overdue"] == 0
    assert (
        audit_db.exec(select(PropertyAlert).where(PropertyAlert.kind == "lease_ending_30")).one().resolved_at
    )


def test_reminders_at_90_then_30_days(audit_db: Session) -> None:
    service.raise_property_alerts(audit_db, TODAY)
    end = LEASE_END
    first = service.raise_property_alerts(audit_db, end - timedelta(days=90))
    assert first["lease_ending_90"] == 61
    second = service.raise_property_alerts(audit_db, end - timedelta(days=30))
    assert second["lease_ending_30"] == 61 and second["resolved"] == 61
    open_alerts = audit_db.exec(property_queries.alert_query(kind="lease_ending_30")).all()
    assert len(open_alerts) == 61


def test_an_unknown_unit_is_a_row_issue(session: Session) -> None:
    make_units(session)
    row = {**office_values()[0], "unit": "不存在的单位"}
    [issue] = property_imports.apply_properties(session, as_rows([row]), ACTOR).issues
    assert issue.field == "unit" and "不存在的单位" in issue.reason
    op = {**operating_values()[0], "owner_unit": "不存在的单位"}
    [issue] = property_imports.apply_operating_properties(session, as_rows([op]), ACTOR).issues
    assert issue.field == "owner_unit"


def test_conflicting_duplicates_and_bad_values(session: Session) -> None:
    make_units(session)
    a, b = office_values()[13], office_values()[13]
    b["name"] = "另一个名称"
    result = property_imports.apply_properties(session, as_rows([a, a, b]), ACTOR)
    assert (result.inserted, result.unchanged) == (1, 1)
    [issue] = result.issues
    assert issue.line == 4 and "第 2 行" in issue.reason
    bad = {"code": "X-1", "address": "某处", "status": "rented out", "area_m2": "abc"}
    result = property_imports.apply_operating_properties(session, as_rows([bad]), ACTOR)
    fields = {i.field for i in result.issues}
    assert fields == {"status", "area_m2"}
    missing = property_imports.apply_operating_properties(session, as_rows([{"code": "X-2"}]), ACTOR)
    assert [i.field for i in missing.issues] == ["status"]  # a shopfront's status is never guessed


def test_auction_rows_are_checked(audit_db: Session) -> None:
    base = {**auction_values()[0], "batch": "第二批", "lot": "MF-062"}
    sold_without_price = {**base, "price_fen": None, "tenant": None}
    result = property_imports.apply_auctions(audit_db, as_rows([sold_without_price]), ACTOR)
    fields = {i.field for i in result.issues}
    assert fields == {"price_fen", "tenant"}
    after_sale = {**base, "round": 2, "result": "unsold", "price_fen": None, "tenant": None}
    [issue] = property_imports.apply_auctions(audit_db, as_rows([base, after_sale]), ACTOR).issues
    assert issue.line == 3 and issue.field == "round" and "第 1 轮成交" in issue.reason
    unknown = {**base, "lot": "NOPE"}
    [issue] = property_imports.apply_auctions(audit_db, as_rows([unknown]), ACTOR).issues
    assert issue.field == "lot"
    # the sold round's lease would overlap MF-001's lease from the first batch
    overlap = {**base, "lot": "MF-001", "lease_start": date(2025, 3, 1), "lease_end": date(2026, 2, 28)}
    [issue] = property_imports.apply_auctions(audit_db, as_rows([overlap]), ACTOR).issues
    assert issue.field == "lease_start" and "重叠" in issue.reason
    unsold_with_price = {**base, "result": "unsold"}
    [issue] = property_imports.apply_auctions(audit_db, as_rows([unsold_with_price]), ACTOR).issues
    assert issue.field == "price_fen"


def test_a_lot_no_longer_sold_keeps_its_lease_and_says_so(audit_db: Session) -> None:
    values = auction_values()
    values[0].update(result="withdrawn", price_fen=None, tenant=None, lease_start=None, lease_end=None)
    result = clean(property_imports.apply_auctions(audit_db, as_rows(values), ACTOR))
    assert result.updated == 1
    assert any(c.startswith("MF-001: 标的结果已不是成交") for c in result.changes)
    assert property_queries.auctions_report(audit_db)["batches"][0]["withdrawn"] == 2
    assert audit_db.exec(select(func.count()).select_from(Lease)).one() == 62
    again = clean(property_imports.apply_auctions(audit_db, as_rows(values), ACTOR))
    assert again.changes == []


def test_round_counts_are_per_round(session: Session) -> None:
    make_units(session)
    clean(property_imports.apply_operating_properties(session, as_rows(operating_values()), ACTOR))
    values = auction_values()
    result = clean(property_imports.apply_auctions(session, as_rows(values[:60]), ACTOR))
    assert result.inserted == 60
    result = clean(property_imports.apply_auctions(session, as_rows(values), ACTOR))
    assert (result.inserted, result.unchanged) == (12, 60)
    assert session.exec(select(func.count()).select_from(AuctionRound)).one() == 72


# --- checklist steps and targets ----------------------------------------------------------------------


def test_record_certificate_step(audit_db: Session) -> None:
    with pytest.raises(ValidationFailed, match="消防验收"):
        service.record_certificate_step(
            audit_db, "BG-047", "certificate", on=TODAY, certificate_no="晋(2024)第1号", actor=ACTOR
        )
    before = audit_count(audit_db)
    prop = service.record_certificate_step(
        audit_db, "BG-047", "fire", on=TODAY, doc="消验字[2024]12号", actor=ACTOR
    )
    assert prop.fire_accepted_on == TODAY and prop.fire_doc == "消验字[2024]12号"
    assert audit_count(audit_db) == before + 1
    service.record_certificate_step(audit_db, "BG-047", "submission", on=TODAY, actor=ACTOR)
    prop = service.record_certificate_step(
        audit_db, "BG-047", "certificate", on=TODAY, certificate_no="晋(2024)第1号", actor=ACTOR
    )
    assert prop.certificate_no == "晋(2024)第1号"
    assert property_queries.certificates_report(audit_db, TODAY)["certified"] == 13
    # a prerequisite of a certified property cannot be cleared
    with pytest.raises(ValidationFailed, match="抗震检测"):
        service.record_certificate_step(audit_db, "BG-047", "seismic", on=None, actor=ACTOR)
    with pytest.raises(ValidationFailed, match="未知步骤"):
        service.record_certificate_step(audit_db, "BG-047", "paint", on=TODAY, actor=ACTOR)
    with pytest.raises(NotFound):
        service.record_certificate_step(audit_db, "BG-999", "fire", on=TODAY, actor=ACTOR)


def test_programme_and_property_targets_flag_overdue_steps(audit_db: Session) -> None:
    service.set_target(audit_db, step="seismic", due_on=date(2025, 2, 28), actor=ACTOR, note="抗震检测专项")
    # setting it again updates it: one programme-wide target per step
    service.set_target(audit_db, step="seismic", due_on=date(2025, 2, 28), actor=ACTOR)
    service.set_target(audit_db, step="fire", due_on=date(2024, 6, 30), code="BG-047", actor=ACTOR)
    assert len(property_queries.list_targets(audit_db)) == 2

    report = property_queries.certificates_report(audit_db, TODAY)
    assert report["overdue"] == [
        {
            "code": "BG-047",
            "name": "办公楼47号",
            "unit": "审计县财政局",
            "step": "fire",
            "due_on": date(2024, 6, 30),
            "days_overdue": 62,
        }
    ]
    later = property_queries.certificates_report(audit_db, date(2025, 3, 1))
    seismic = [o for o in later["overdue"] if o["step"] == "seismic"]
    assert len(seismic) == 34  # all still waiting for a seismic test
    counts = service.raise_property_alerts(audit_db, date(2025, 3, 1))
    assert counts["certificate_overdue"] == 35
    service.remove_target(audit_db, step="seismic", actor=ACTOR)
    counts = service.raise_property_alerts(audit_db, date(2025, 3, 1))
    assert counts["resolved"] == 34
    views = property_queries.office_views(audit_db, date(2025, 3, 1), overdue=True)
    assert [v["code"] for v in views] == ["BG-047"]


# --- leases, rent roll --------------------------------------------------------------------------------


def test_create_lease_checks(audit_db: Session) -> None:
    def create(**kw: Any) -> Lease:
        args: dict[str, Any] = {
            "code": "JY-02",
            "tenant": "某公司",
            "annual_rent_fen": 1_234_56,
            "start_on": date(2024, 9, 1),
            "end_on": date(2027, 8, 31),
            "actor": ACTOR,
        }
        return service.create_lease(audit_db, **{**args, **kw})

    lease = create()
    assert lease.id is not None and lease.annual_rent_fen == 123_456
    with pytest.raises(Conflict, match="重叠"):
        create(start_on=date(2025, 1, 1), end_on=date(2025, 12, 31))
    with pytest.raises(ValidationFailed, match="5 年"):
        create(code="JY-01", end_on=date(2030, 1, 1))
    with pytest.raises(NotFound):
        create(code="NOPE")
    assert "JY-02" not in {
        v["code"] for v in property_queries.operating_report(audit_db, date(2024, 9, 1))["vacant"]
    }


def test_rent_roll_per_owning_unit(audit_db: Session) -> None:
    roll = property_queries.rent_roll(audit_db, 2025)
    by_unit = {u["owner_unit"]: u for u in roll["units"]}
    assert set(by_unit) == {CENTER, FIN}
    # whole year 2025 inside every auction lease: the roll is the auction's annual rent
    assert roll["rent_yuan"] == Decimal("649800")
    assert by_unit[CENTER]["rent_yuan"] + by_unit[FIN]["rent_yuan"] == Decimal("649800")


def test_geocoding_with_a_fake_geocoder(audit_db: Session) -> None:
    class Fake:
        calls: list[str] = []

        def geocode(self, address: str) -> tuple[float, float] | None:
            self.calls.append(address)
            return None if address.endswith("2号") else (36.1, 113.1)

    fake = Fake()
    counts = service.geocode_office_properties(audit_db, fake, actor=ACTOR, codes=["BG-001", "BG-002"])
    assert counts == {"located": 1, "not_found": 1, "skipped": 0, "cached": 0}
    prop = property_queries.get_office_property(audit_db, "BG-001")
    assert (prop.lat, prop.lon) == (36.1, 113.1)
    # already located: not asked again
    service.geocode_office_properties(audit_db, fake, actor=ACTOR, codes=["BG-001"])
    assert fake.calls.count("审计县城关镇府前街1号") == 1
    # not found: cached, not asked again unless retried
    again = service.geocode_office_properties(audit_db, fake, actor=ACTOR, codes=["BG-002"])
    assert again["cached"] == 1 and len(fake.calls) == 2
    service.geocode_office_properties(audit_db, fake, actor=ACTOR, codes=["BG-002"], retry=True)
    assert len(fake.calls) == 3


def test_geocoder_is_off_by_default() -> None:
    from property.geocode import GeopyGeocoder, build_geocoder

    assert build_geocoder(None) is None
    assert build_geocoder("") is None

    class Location:
        latitude, longitude = 36.2, 113.2

    class Client:
        def geocode(self, query: str) -> Location:
            assert query == "山西省审计县府前街1号"
            return Location()

    geocoder = GeopyGeocoder(client=Client(), prefix="山西省", min_delay_seconds=0)
    assert geocoder.geocode("审计县府前街1号") == (36.2, 113.2)


def test_operating_query_filters(audit_db: Session) -> None:
    def codes(**kw: Any) -> list[str]:
        return [p.code for p in audit_db.exec(property_queries.operating_query(TODAY, **kw)).all()]

    assert codes(takeover_overdue=True) == ["JY-03", "JY-04"]
    assert len(codes(vacant=True)) == 11
    assert codes(status="self_used") == ["JY-01"]
    assert codes(q="JY-0", vacant=False) == ["JY-01", "JY-06"]
    assert len(audit_db.exec(property_queries.lease_query(TODAY, expiring_within=1)).all()) == 1
    assert [
        lease.tenant for lease in audit_db.exec(property_queries.lease_query(TODAY, code="MF-059")).all()
    ] == ["承租人59"]
    assert (
        audit_db.exec(select(OperatingProperty).where(OperatingProperty.code == "MF-001")).one().status
        == "offered"
    )


def test_auction_prices_are_checked_against_the_reserve_and_the_increment(audit_db: Session) -> None:
    base = {**auction_values()[0], "batch": "第二批", "lot": "MF-062", "reserve_fen": 800_000}
    below = {**base, "price_fen": 799_900}
    [issue] = property_imports.apply_auctions(audit_db, as_rows([below]), ACTOR).issues
    assert issue.field == "price_fen" and "低于起拍价 8000.00 元" in issue.reason
    off_step = {**base, "price_fen": 830_000, "increment_fen": 20_000}  # 8000 + 1.5 × 200
    [issue] = property_imports.apply_auctions(audit_db, as_rows([off_step]), ACTOR).issues
    assert issue.field == "price_fen" and "加价幅度" in issue.reason
    zero = {**base, "increment_fen": 0}
    assert [i.field for i in property_imports.apply_auctions(audit_db, as_rows([zero]), ACTOR).issues] == [
        "increment_fen"
    ]
    two_dates = [
        {**base, "held_on": date(2025, 3, 1), "price_fen": 840_000, "increment_fen": 20_000},
        {**base, "lot": "MF-063", "held_on": date(2025, 3, 2), "price_fen": 840_000},
    ]
    [issue] = property_imports.apply_auctions(audit_db, as_rows(two_dates), ACTOR).issues
    assert issue.line == 3 and issue.field == "held_on"  # the first row is good: written (the file's
    # importer keeps nothing of a file with a bad row)
    batch = next(b for b in property_queries.auctions_report(audit_db)["batches"] if b["batch"] == "第二批")
    assert batch["date"] == date(2025, 3, 1)
    stored = audit_db.exec(select(AuctionRound).where(AuctionRound.increment_fen == 20_000)).one()
    assert stored.price_fen == 840_000

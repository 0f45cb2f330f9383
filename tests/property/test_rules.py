from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from property import rules
from property.rules import Checklist, RoundResult

D = date(2024, 1, 10)
ALL_BUT_CERTIFICATE: dict[str, Any] = dict(
    surveyed_on=D, safety_appraised_on=D, seismic_tested_on=D, fire_accepted_on=D, submitted_on=D
)


@pytest.mark.parametrize(
    ("checklist", "stage", "blockers"),
    [
        (
            Checklist(),
            "not_surveyed",
            ["missing_survey", "missing_safety", "missing_seismic", "missing_fire"],
        ),
        (Checklist(surveyed_on=D), "surveyed", ["missing_safety", "missing_seismic", "missing_fire"]),
        (Checklist(surveyed_on=D, safety_appraised_on=D), "surveyed", ["missing_seismic", "missing_fire"]),
        (Checklist(surveyed_on=D, safety_appraised_on=D, seismic_tested_on=D), "appraised", ["missing_fire"]),
        (
            Checklist(surveyed_on=D, safety_appraised_on=D, seismic_tested_on=D, fire_accepted_on=D),
            "fire_accepted",
            ["not_submitted"],
        ),
        (Checklist(**ALL_BUT_CERTIFICATE), "submitted", ["waiting_for_bureau"]),
        (
            Checklist(**ALL_BUT_CERTIFICATE, certificate_no="晋(2024)X不动产权第1号", certified_on=D),
            "certified",
            [],
        ),
        # fire acceptance without the appraisals: the stage stops at the first gap
        (Checklist(surveyed_on=D, fire_accepted_on=D), "surveyed", ["missing_safety", "missing_seismic"]),
    ],
)
def test_stage_and_blockers(checklist: Checklist, stage: str, blockers: list[str]) -> None:
    assert rules.stage(checklist) == stage
    assert rules.blockers(checklist) == blockers
    assert stage in rules.STAGES
    assert set(blockers) <= set(rules.BLOCKERS)


def test_certificate_without_fire_report_says_which_step_is_missing() -> None:
    c = Checklist(**{**ALL_BUT_CERTIFICATE, "fire_accepted_on": None}, certificate_no="X1", certified_on=D)
    message = rules.check_certificate(c)
    assert message is not None
    assert "消防验收" in message
    assert "抗震" not in message
    assert rules.missing_prerequisites(c) == ["fire"]


def test_certificate_needs_number_and_date() -> None:
    assert rules.check_certificate(Checklist(**ALL_BUT_CERTIFICATE, certificate_no="X1")) is not None
    assert rules.check_certificate(Checklist(**ALL_BUT_CERTIFICATE, certified_on=D)) is not None
    assert (
        rules.check_certificate(Checklist(**ALL_BUT_CERTIFICATE, certificate_no="X1", certified_on=D)) is None
    )
    assert rules.check_certificate(Checklist()) is None  # nothing claimed, nothing wrong


def test_overdue_steps_against_targets() -> None:
    programme = {"seismic": date(2025, 2, 28), "fire": date(2025, 6, 30)}
    own = {"fire": date(2024, 12, 31)}
    targets = rules.effective_targets(programme, own)
    assert targets == {"seismic": date(2025, 2, 28), "fire": date(2024, 12, 31)}
    c = Checklist(surveyed_on=D, safety_appraised_on=D)
    assert rules.overdue_steps(c, targets, date(2025, 2, 28)) == [
        rules.OverdueStep("fire", date(2024, 12, 31), 59)
    ]
    assert [o.step for o in rules.overdue_steps(c, targets, date(2025, 3, 1))] == ["seismic", "fire"]
    done = Checklist(surveyed_on=D, safety_appraised_on=D, seismic_tested_on=D, fire_accepted_on=D)
    assert rules.overdue_steps(done, targets, date(2026, 1, 1)) == []


def test_lot_outcome_is_the_last_round() -> None:
    unsold_then_sold = [RoundResult(2, "sold", 1_000_000, "张三"), RoundResult(1, "unsold")]
    assert rules.lot_outcome(unsold_then_sold) == RoundResult(2, "sold", 1_000_000, "张三")
    assert rules.lot_outcome([RoundResult(1, "unsold"), RoundResult(2, "withdrawn")]) == RoundResult(
        2, "withdrawn"
    )
    assert rules.lot_outcome([]) is None
    assert rules.rounds_after_sale([RoundResult(1, "sold", 1), RoundResult(2, "unsold")]) == [2]
    assert rules.rounds_after_sale(unsold_then_sold) == []


def test_batch_summary_counts_each_lot_once_and_sums_fen_exactly() -> None:
    outcomes = [
        rules.lot_outcome([RoundResult(1, "unsold"), RoundResult(2, "sold", 10_000_10)]),
        rules.lot_outcome([RoundResult(1, "sold", 20_000_20)]),
        rules.lot_outcome([RoundResult(1, "unsold")]),
        rules.lot_outcome([RoundResult(1, "withdrawn")]),
        None,  # a lot with no round yet
    ]
    assert rules.batch_summary(outcomes) == rules.BatchSummary(5, 2, 1, 1, 30_000_30)
    assert rules.fen_to_yuan(30_000_30) == Decimal("30000.30")
    assert rules.fen_to_yuan(64_980_000) == Decimal("649800")
    assert str(rules.fen_to_yuan(64_980_000)) == "649800"
    assert rules.fen_to_yuan(1) == Decimal("0.01")


def test_lease_term_cap() -> None:
    assert rules.check_lease_term(date(2024, 3, 1), date(2029, 2, 28), 5) is None
    assert rules.check_lease_term(date(2024, 3, 1), date(2029, 3, 1), 5) is None  # "至 2029-03-01"
    over = rules.check_lease_term(date(2024, 3, 1), date(2029, 3, 2), 5)
    assert over is not None and "5 年" in over
    assert rules.check_lease_term(date(2024, 3, 1), date(2027, 3, 2), 3) is not None  # configurable
    assert rules.check_lease_term(date(2024, 3, 1), date(2024, 3, 1), 5) is not None  # end after start
    assert rules.check_lease_term(date(2024, 2, 29), date(2029, 2, 28), 5) is None
    assert rules.add_years(date(2024, 2, 29), 1) == date(2025, 2, 28)


def test_lease_reminders_at_90_and_30_days() -> None:
    end = date(2024, 12, 31)
    assert rules.lease_reminder(end, date(2024, 10, 1)) is None  # 91 days left
    assert rules.lease_reminder(end, date(2024, 10, 2)) == 90
    assert rules.lease_reminder(end, date(2024, 12, 1)) == 30
    assert rules.lease_reminder(end, date(2024, 12, 30)) == 30  # ending tomorrow
    assert rules.lease_reminder(end, end) == 30
    assert rules.lease_reminder(end, date(2025, 1, 1)) is None  # over
    assert rules.lease_reminder(end, date(2024, 12, 30), terminated_on=date(2024, 11, 1)) is None


def test_active_and_vacancy() -> None:
    assert rules.lease_active(date(2024, 1, 1), date(2024, 12, 31), None, date(2024, 12, 31))
    assert not rules.lease_active(date(2024, 1, 1), date(2024, 12, 31), None, date(2025, 1, 1))
    assert not rules.lease_active(date(2024, 1, 1), date(2024, 12, 31), date(2024, 6, 30), date(2024, 7, 1))
    assert rules.is_vacant("idle", has_active_lease=False)
    assert rules.is_vacant("leased", has_active_lease=False)  # the register says leased, no lease runs
    assert not rules.is_vacant("self_used", has_active_lease=False)
    assert not rules.is_vacant("offered", has_active_lease=True)


def test_takeover_overdue() -> None:
    assert rules.takeover_overdue("not_taken_over", date(2023, 12, 31), date(2024, 8, 31))
    assert not rules.takeover_overdue("not_taken_over", date(2023, 12, 31), date(2023, 12, 31))
    assert not rules.takeover_overdue("idle", date(2023, 12, 31), date(2024, 8, 31))
    assert not rules.takeover_overdue("not_taken_over", None, date(2024, 8, 31))


def test_rent_in_year_is_exact_fen() -> None:
    assert rules.rent_in_year(1_200_000, date(2024, 1, 1), date(2028, 12, 31), 2024) == 1_200_000
    # 2023-07-01 .. 2023-12-31 is 184 of 365 days: 1,200,000 × 184 / 365 = 604,931.5 → 604,932
    assert rules.rent_in_year(1_200_000, date(2023, 7, 1), date(2028, 6, 30), 2023) == 604_932
    assert rules.rent_in_year(1_200_000, date(2023, 7, 1), date(2028, 6, 30), 2030) == 0

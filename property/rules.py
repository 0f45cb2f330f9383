"""Pure property rules (DESIGN §4): certificate stage and blockers, certificate prerequisites, overdue
steps, auction outcomes and batch summaries, lease checks, reminders and vacancy. Plain values in, plain
values out; no database. Money is integer fen throughout; yuan appear only at the edge (`fen_to_yuan`).

Certificate checklist, in order (step names as in `property.models.CERTIFICATE_STEPS`):

    survey 测绘 → safety 安全鉴定 + seismic 抗震检测 → fire 消防验收 → submission 提交审批
        → certificate 发证

Stages (`STAGES`), the furthest point reached with every earlier step present:

    not_surveyed  no ownership survey yet                      未测绘
    surveyed      surveyed; safety and/or seismic missing      已测绘
    appraised     safety and seismic done; fire missing        已鉴定
    fire_accepted fire acceptance done; not yet submitted      已消防验收
    submitted     submitted to the bureau; no certificate yet  已提交审批
    certified     certificate number and date recorded         已发证

Blockers (`BLOCKERS`) say what to do next: every missing prerequisite (`missing_survey`,
`missing_safety`, `missing_seismic`, `missing_fire`); when all are in but nothing was submitted,
`not_submitted`; when submitted, `waiting_for_bureau`. A certified property has none. `not_submitted` is
not listed while a prerequisite is missing: the missing prerequisite is the reason it was not submitted.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from core.i18n import tr

STEPS = ("survey", "safety", "seismic", "fire", "submission", "certificate")
STEP_FIELDS = {
    "survey": "surveyed_on",
    "safety": "safety_appraised_on",
    "seismic": "seismic_tested_on",
    "fire": "fire_accepted_on",
    "submission": "submitted_on",
    "certificate": "certified_on",
}
STEP_DOC_FIELDS = {
    "survey": "survey_doc",
    "safety": "safety_doc",
    "seismic": "seismic_doc",
    "fire": "fire_doc",
    "submission": "submission_doc",
    "certificate": "certificate_no",
}
STEP_LABELS = {  # (Chinese, English)
    "survey": ("权属登记测绘", "ownership survey"),
    "safety": ("房屋安全鉴定", "safety appraisal"),
    "seismic": ("抗震检测", "seismic test"),
    "fire": ("消防验收", "fire acceptance"),
    "submission": ("提交审批", "submission"),
    "certificate": ("不动产权证", "certificate"),
}
PREREQUISITES = ("survey", "safety", "seismic", "fire", "submission")

STAGES = ("not_surveyed", "surveyed", "appraised", "fire_accepted", "submitted", "certified")
BLOCKERS = (
    "missing_survey",
    "missing_safety",
    "missing_seismic",
    "missing_fire",
    "not_submitted",
    "waiting_for_bureau",
)
_MISSING = {
    "survey": "missing_survey",
    "safety": "missing_safety",
    "seismic": "missing_seismic",
    "fire": "missing_fire",
}


@dataclass(frozen=True)
class Checklist:
    """The dates of the title-certificate checklist of one office property."""

    surveyed_on: date | None = None
    safety_appraised_on: date | None = None
    seismic_tested_on: date | None = None
    fire_accepted_on: date | None = None
    submitted_on: date | None = None
    certificate_no: str | None = None
    certified_on: date | None = None

    @classmethod
    def of(cls, obj: Any) -> Checklist:
        """From anything carrying the checklist attributes (an OfficeProperty, a schema)."""
        return cls(**{f: getattr(obj, f, None) for f in cls.__dataclass_fields__})

    def done(self, step: str) -> bool:
        if step == "certificate":
            return bool(self.certificate_no) or self.certified_on is not None
        return getattr(self, STEP_FIELDS[step]) is not None


def stage(c: Checklist) -> str:
    if c.done("certificate"):
        return "certified"
    if not c.done("survey"):
        return "not_surveyed"
    if not (c.done("safety") and c.done("seismic")):
        return "surveyed"
    if not c.done("fire"):
        return "appraised"
    if not c.done("submission"):
        return "fire_accepted"
    return "submitted"


def blockers(c: Checklist) -> list[str]:
    if c.done("certificate"):
        return []
    missing = [_MISSING[s] for s in ("survey", "safety", "seismic", "fire") if not c.done(s)]
    if missing:
        return missing
    return ["waiting_for_bureau"] if c.done("submission") else ["not_submitted"]


def missing_prerequisites(c: Checklist) -> list[str]:
    """Steps a certificate needs that are not recorded (empty when no certificate is recorded)."""
    if not c.done("certificate"):
        return []
    return [s for s in PREREQUISITES if not c.done(s)]


def check_certificate(c: Checklist) -> str | None:
    """Why this checklist cannot stand, or None. A certificate needs its number, its date and every
    prerequisite step."""
    if not c.done("certificate"):
        return None
    if not c.certificate_no or c.certified_on is None:
        return tr("不动产权证须同时填写证号和发证日期", "a certificate needs both its number and its date")
    missing = missing_prerequisites(c)
    if missing:
        zh = "、".join(STEP_LABELS[s][0] for s in missing)
        en = ", ".join(STEP_LABELS[s][1] for s in missing)
        return tr(f"发证缺少前置步骤：{zh}", f"certificate recorded without its prerequisites: {en}")
    return None


@dataclass(frozen=True)
class OverdueStep:
    step: str
    due_on: date
    days_overdue: int


def effective_targets(programme: Mapping[str, date], own: Mapping[str, date]) -> dict[str, date]:
    """A property's own target for a step wins over the programme-wide one."""
    return {**programme, **own}


def overdue_steps(c: Checklist, targets: Mapping[str, date], today: date) -> list[OverdueStep]:
    """Steps still missing after their target date (a step due today is not yet overdue)."""
    if c.done("certificate"):
        return []
    out = []
    for step in STEPS:
        due = targets.get(step)
        if due is not None and due < today and not c.done(step):
            out.append(OverdueStep(step, due, (today - due).days))
    return out


# --- auctions -----------------------------------------------------------------------------------------

RESULTS = ("sold", "unsold", "withdrawn")


@dataclass(frozen=True)
class RoundResult:
    round_no: int
    result: str  # sold | unsold | withdrawn
    price_fen: int | None = None  # annual rent when sold
    tenant: str = ""
    lease_start: date | None = None
    lease_end: date | None = None


def lot_outcome(rounds: Iterable[RoundResult]) -> RoundResult | None:
    """A lot's outcome is its last round (by round number); None when it has no round yet."""
    return max(rounds, key=lambda r: r.round_no, default=None)


def rounds_after_sale(rounds: Iterable[RoundResult]) -> list[int]:
    """Round numbers that follow a sold round of the same lot: a sold lot is off the market."""
    ordered = sorted(rounds, key=lambda r: r.round_no)
    sold = next((r.round_no for r in ordered if r.result == "sold"), None)
    return [] if sold is None else [r.round_no for r in ordered if r.round_no > sold]


@dataclass(frozen=True)
class BatchSummary:
    lots: int
    sold: int
    unsold: int
    withdrawn: int
    annual_rent_fen: int


def batch_summary(outcomes: Iterable[RoundResult | None]) -> BatchSummary:
    """Each lot counts once, by its outcome; the annual rent is the sum of sold prices, in fen."""
    lots = sold = unsold = withdrawn = rent = 0
    for o in outcomes:
        lots += 1
        if o is None:
            continue
        if o.result == "sold":
            sold += 1
            rent += o.price_fen or 0
        elif o.result == "unsold":
            unsold += 1
        elif o.result == "withdrawn":
            withdrawn += 1
    return BatchSummary(lots, sold, unsold, withdrawn, rent)


# --- leases -------------------------------------------------------------------------------------------

REMINDER_DAYS = (90, 30)


def office_lease_reason() -> str:
    """Why an office property is never leased, in the configured language."""
    return tr(
        "办公用房不得出租（《机关事务管理条例》第二十三条）",
        "office property can never be leased (Regulations on the Administration of Government Offices, "
        "art. 23)",
    )


def add_years(d: date, years: int) -> date:
    """The same day `years` later; 29 February becomes 28 February."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def check_lease_term(start: date, end: date, cap_years: int) -> str | None:
    """Why this term is not allowed, or None. The end date is the last day of the lease. A term written
    the common way, "2024-03-01 至 2029-03-01", is tolerated as exactly `cap_years`."""
    if end <= start:
        return tr(
            f"租期止 {end} 须晚于租期起 {start}", f"the lease must end ({end}) after it starts ({start})"
        )
    if end > add_years(start, cap_years):
        latest = add_years(start, cap_years)
        return tr(
            f"租期 {start} 至 {end} 超过 {cap_years} 年上限 (GONGWU_LEASE_TERM_CAP_YEARS); "
            f"最晚应于 {latest} 止",
            f"lease term {start} – {end} exceeds the cap of {cap_years} years (GONGWU_LEASE_TERM_CAP_YEARS); "
            f"the latest end is {latest}",
        )
    return None


def check_auction_price(price_fen: int, reserve_fen: int | None, increment_fen: int | None) -> str | None:
    """Why a sold round's price cannot be, or None: never below the reserve price, and a whole number of
    bidding increments above it when the increment is given (from zero when the reserve is not)."""
    from core.i18n import tr

    if reserve_fen is not None and price_fen < reserve_fen:
        return tr(
            f"成交价 {fen_to_yuan(price_fen):.2f} 元低于起拍价 {fen_to_yuan(reserve_fen):.2f} 元",
            f"the price {fen_to_yuan(price_fen):.2f} yuan is below the reserve price "
            f"{fen_to_yuan(reserve_fen):.2f} yuan",
        )
    if increment_fen:
        base = reserve_fen or 0
        if (price_fen - base) % increment_fen:
            return tr(
                f"成交价 {fen_to_yuan(price_fen):.2f} 元不是起拍价加整数个加价幅度"
                f"（{fen_to_yuan(increment_fen):.2f} 元）",
                f"the price {fen_to_yuan(price_fen):.2f} yuan is not the reserve price plus a whole number "
                f"of bidding increments ({fen_to_yuan(increment_fen):.2f} yuan)",
            )
    return None


def lease_active(start: date, end: date, terminated_on: date | None, on: date) -> bool:
    """In force on `on`; start, end and an early termination date are inclusive last days."""
    last = end if terminated_on is None else min(end, terminated_on)
    return start <= on <= last


def lease_reminder(end: date, today: date, terminated_on: date | None = None) -> int | None:
    """The tightest reminder due for a lease ending on `end`: 30 within 30 days, 90 within 90 days, None
    otherwise (also once it has ended or was terminated). A missed night still gets the right one."""
    if terminated_on is not None and terminated_on < end:
        return None
    days_left = (end - today).days
    if days_left < 0:
        return None
    for lead in sorted(REMINDER_DAYS):
        if days_left <= lead:
            return lead
    return None


def overlaps(a_start: date, a_end: date, b_start: date, b_end: date) -> bool:
    return a_start <= b_end and b_start <= a_end


def status_on(registered: str, has_active_lease: bool) -> str:
    """A shopfront's status on a day — the one every report, list and page shows: leased when a lease is
    in force that day, whatever the register says; idle when the register says leased but no lease is in
    force (it ended, or was never recorded); else what the register says."""
    if has_active_lease:
        return "leased"
    return "idle" if registered == "leased" else registered


def is_vacant(status: str, has_active_lease: bool) -> bool:
    """Vacant = not self-used and no lease in force, whatever else the register says."""
    return status_on(status, has_active_lease) not in ("leased", "self_used")


def takeover_overdue(status: str, due_on: date | None, today: date) -> bool:
    return status == "not_taken_over" and due_on is not None and due_on < today


def rent_in_year(annual_rent_fen: int, start: date, end: date, year: int) -> int:
    """Rent falling in a calendar year: the annual rent pro rata by days of the lease in that year
    (end inclusive), rounded half up to the fen. A lease covering the whole year gives the annual rent."""
    first, last = max(start, date(year, 1, 1)), min(end, date(year, 12, 31))
    if last < first:
        return 0
    days = (last - first).days + 1
    year_days = 366 if calendar.isleap(year) else 365
    return int((Decimal(annual_rent_fen) * days / year_days).quantize(Decimal(1), ROUND_HALF_UP))


# --- money --------------------------------------------------------------------------------------------


def fen_to_yuan(fen: int) -> Decimal:
    """Exact yuan: Decimal('649800') for 64980000 fen, Decimal('1234.56') for 123456 fen."""
    return Decimal(fen // 100) if fen % 100 == 0 else Decimal(fen).scaleb(-2)


def sum_fen(values: Iterable[int | None]) -> int:
    return sum(v or 0 for v in values)


# --- rent collection (收租) ----------------------------------------------------------------------------

INSTALMENTS = (1, 2, 4, 12)  # a year's rent at once, by half-years, quarters or months


@dataclass(frozen=True)
class RentDue:
    """One instalment: the period it pays for (end inclusive), the day it falls due (the period's first
    day: rent is paid in advance) and its amount."""

    due_on: date
    period_start: date
    period_end: date
    amount_fen: int


def add_months(d: date, months: int) -> date:
    """The same day `months` later, or the month's last day when it has no such day."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


def rent_schedule(annual_rent_fen: int, start: date, end: date, instalments: int = 1) -> list[RentDue]:
    """The instalments of a lease from `start` to `end` (inclusive, the earlier of its end and its
    termination): full periods of 12/`instalments` months at annual/`instalments` (the fen spread so a
    full year adds up to the annual rent exactly), a last short period pro rata by its days."""
    if instalments not in INSTALMENTS:
        raise ValueError(f"instalments must be one of {INSTALMENTS}, not {instalments}")
    step = 12 // instalments
    out: list[RentDue] = []
    k = 0
    while True:
        p_start = add_months(start, k * step)
        if p_start > end:
            break
        full_end = add_months(start, (k + 1) * step) - timedelta(days=1)
        # the k-th instalment of the year: the fen of a year spread over its instalments, never lost
        j = k % instalments
        share = (annual_rent_fen * (j + 1)) // instalments - (annual_rent_fen * j) // instalments
        if full_end <= end:
            out.append(RentDue(p_start, p_start, full_end, share))
        else:
            days, full = (end - p_start).days + 1, (full_end - p_start).days + 1
            part = int((Decimal(share) * days / full).quantize(Decimal(1), rounding=ROUND_HALF_UP))
            out.append(RentDue(p_start, p_start, end, part))
            break
        k += 1
    return out


@dataclass(frozen=True)
class RentStatus:
    """A lease's rent on a day: what fell due by then, what was paid, the arrears (欠租) and since when the
    oldest instalment not covered by the payments has been due."""

    due_fen: int
    paid_fen: int
    arrears_fen: int
    overdue_since: date | None
    days_overdue: int


def rent_status(
    schedule: Iterable[RentDue], paid_fen: int, on: date, tracked_from: date | None = None
) -> RentStatus:
    """Payments cover the instalments oldest first; the first one not fully covered, when already due on
    `on`, is the one overdue. Instalments due before `tracked_from` were settled outside and count
    nowhere."""
    due = [d for d in schedule if d.due_on <= on and (tracked_from is None or d.due_on >= tracked_from)]
    due_fen = sum(d.amount_fen for d in due)
    left = paid_fen
    since: date | None = None
    for d in due:
        if left >= d.amount_fen:
            left -= d.amount_fen
            continue
        since = d.due_on
        break
    arrears = max(0, due_fen - paid_fen)
    if arrears == 0:
        since = None
    return RentStatus(due_fen, paid_fen, arrears, since, (on - since).days if since else 0)

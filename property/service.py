"""Property use-cases: the import appliers, certificate steps and targets, leases, reports and the
nightly alerts. The session is passed in first and never committed here: the caller (request, command,
job, import pipeline) owns the transaction. Every change to the register is written to the audit log.

Import semantics (the appliers of `core.importing`): rows are upserted by natural key — office property
and operating property by `code`, auction round by (batch, lot, round), lease by (property, start). A
field present in a row's values is the file's truth (None clears it); a field absent is left alone.
Re-applying the same rows changes nothing and writes no audit row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, TypeVar

from sqlalchemy import and_, case, or_
from sqlmodel import Session, SQLModel, col, select

from core import audit
from core.errors import Conflict, NotFound, ValidationFailed
from core.importing import ApplyResult, Row, diff
from core.models import Unit
from core.settings import get_settings
from core.timeutil import china_day, utcnow
from property import rules
from property.geocode import Geocoder
from property.models import (
    OPERATING_STATUSES,
    AuctionBatch,
    AuctionLot,
    AuctionRound,
    CertificateTarget,
    Lease,
    OfficeProperty,
    OperatingProperty,
    PropertyAlert,
)

T = TypeVar("T", bound=SQLModel)

ALERT_KINDS = ("lease_ending_90", "lease_ending_30", "certificate_overdue", "takeover_overdue")

# Chinese labels of the template fields, for row messages.
FIELD_ZH = {
    "code": "编号",
    "name": "名称",
    "unit": "使用单位",
    "address": "地址",
    "floor_area_m2": "建筑面积",
    "surveyed_on": "测绘完成日期",
    "safety_appraised_on": "房屋安全鉴定日期",
    "seismic_tested_on": "抗震检测日期",
    "fire_accepted_on": "消防验收日期",
    "submitted_on": "提交审批日期",
    "certificate_no": "不动产权证号",
    "certified_on": "发证日期",
    "owner_unit": "权属单位",
    "area_m2": "面积",
    "status": "现状",
    "takeover_due_on": "应接管日期",
    "batch": "批次",
    "lot": "标的编号",
    "round": "轮次",
    "reserve_fen": "起拍价",
    "result": "结果",
    "price_fen": "成交价",
    "tenant": "承租人",
    "lease_start": "租期起",
    "lease_end": "租期止",
    "annual_rent_fen": "年租金",
    "deposit_fen": "押金",
}
CHECKLIST_DATES = (
    "surveyed_on",
    "safety_appraised_on",
    "seismic_tested_on",
    "fire_accepted_on",
    "submitted_on",
    "certified_on",
)


def china_today() -> date:
    return china_day(utcnow())


def lease_term_cap_years() -> int:
    return get_settings().lease_term_cap_years


# --- small helpers ------------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """A value as the audit log's JSON keeps it."""
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _plain_dict(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _plain(v) for k, v in values.items()}


def _show(value: Any) -> str:
    return "—" if value is None or value == "" else str(_plain(value))


def _unit_ids(session: Session) -> dict[str, int]:
    return {u.name: u.id for u in session.exec(select(Unit)).all() if u.id is not None}


def _unit_names(session: Session) -> dict[int, str]:
    return {u.id: u.name for u in session.exec(select(Unit)).all() if u.id is not None}


def _quantize_area(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"), ROUND_HALF_UP)


class _Reader:
    """Reads one row's values with the applier's checks; every problem becomes a RowIssue."""

    def __init__(self, row: Row, result: ApplyResult) -> None:
        self.row, self.result, self.ok = row, result, True

    def bad(self, name: str, reason: str) -> None:
        self.result.issue(self.row, name, reason)
        self.ok = False

    def has(self, name: str) -> bool:
        return name in self.row.values

    def _missing(self, name: str) -> None:
        self.bad(name, f"缺少{FIELD_ZH.get(name, name)} missing {name}")

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.row.values.get(name)
        text = None if value is None else str(value).strip() or None
        if text is None and required:
            self._missing(name)
        return text

    def day(self, name: str, *, required: bool = False) -> date | None:
        value = self.row.values.get(name)
        if isinstance(value, datetime):
            value = value.date()
        elif isinstance(value, str) and value.strip():
            try:
                value = date.fromisoformat(value.strip())
            except ValueError:
                self.bad(name, f"无法识别的日期 unreadable date {value!r}")
                return None
        elif isinstance(value, str):
            value = None
        if value is None:
            if required:
                self._missing(name)
            return None
        if not isinstance(value, date):
            self.bad(name, f"无法识别的日期 unreadable date {value!r}")
            return None
        return value

    def fen(self, name: str, *, required: bool = False) -> int | None:
        value = self.row.values.get(name)
        if value is None:
            if required:
                self._missing(name)
            return None
        if isinstance(value, Decimal) and value == value.to_integral_value():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad(name, f"金额须为整数分 amount must be integer fen, got {value!r}")
            return None
        if value < 0:
            self.bad(name, f"金额不能为负 amount cannot be negative: {value}")
            return None
        return value

    def area(self, name: str) -> Decimal | None:
        value = self.row.values.get(name)
        if value is None or value == "":
            return None
        try:
            area = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
        except InvalidOperation:
            self.bad(name, f"无法识别的面积 unreadable area {value!r}")
            return None
        if area < 0:
            self.bad(name, f"面积不能为负 area cannot be negative: {area}")
            return None
        return _quantize_area(area)

    def integer(self, name: str) -> int | None:
        value = self.row.values.get(name)
        if value is None:
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            self.bad(name, f"须为整数 must be a whole number, got {value!r}")
            return None
        if number < 1:
            self.bad(name, f"须大于 0 must be 1 or more, got {number}")
            return None
        return number

    def choice(self, name: str, allowed: Sequence[str], *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        if value is not None and value not in allowed:
            self.bad(name, f"无法识别的{FIELD_ZH.get(name, name)} {value!r}: one of {', '.join(allowed)}")
            return None
        return value

    def unit(self, name: str, units: Mapping[str, int]) -> int | None:
        value = self.text(name)
        if value is None:
            return None
        if value not in units:
            self.bad(name, f"未知单位「{value}」unknown unit {value!r}: 请先登记该单位 register it first")
            return None
        return units[value]


Seen = dict[Any, tuple[int, dict[str, Any]]]


def _duplicate(result: ApplyResult, row: Row, key: Any, values: dict[str, Any], seen: Seen) -> bool:
    """True when this row repeats an earlier row of the same import (counted unchanged, or an issue
    when the two disagree)."""
    if key not in seen:
        seen[key] = (row.line, values)
        return False
    line, earlier = seen[key]
    if earlier != values:
        result.issue(row, "", f"与第 {line} 行重复且内容不同 conflicting duplicate of line {line}")
    else:
        result.unchanged += 1
    return True


def _change_line(key: str, changes: Mapping[str, tuple[Any, Any]], units: Mapping[int, str]) -> str:
    parts = []
    for name, (before, after) in changes.items():
        if name.endswith("unit_id"):
            before, after = units.get(before, before), units.get(after, after)
            name = name.removesuffix("_id")
        parts.append(f"{name} {_show(before)} → {_show(after)}")
    return f"{key}: " + "; ".join(parts)


def _save(
    session: Session,
    result: ApplyResult | None,
    *,
    actor: str,
    entity: str,
    key: str,
    obj: T | None,
    values: dict[str, Any],
    model: type[T] | None = None,
    init: Mapping[str, Any] | None = None,
    units: Mapping[int, str] | None = None,
    detail: str = "import",
) -> tuple[T, dict[str, tuple[Any, Any]] | None]:
    """Insert `model(**init, **values)` or update `obj` with `values`, and audit it; returns the row and
    its changes (None when inserted)."""
    if obj is None:
        assert model is not None
        created = model(**(init or {}), **values)
        session.add(created)
        session.flush()
        audit.record(
            session, actor=actor, action="create", entity=entity, entity_id=key,
            after=_plain_dict(values), detail=detail,
        )  # fmt: skip
        if result is not None:
            result.inserted += 1
        return created, None
    changes = diff(obj, values)
    if not changes:
        if result is not None:
            result.unchanged += 1
        return obj, {}
    for name, (_, after) in changes.items():
        setattr(obj, name, after)
    if hasattr(obj, "updated_at"):
        obj.updated_at = utcnow()
    session.add(obj)
    audit.record(
        session, actor=actor, action="update", entity=entity, entity_id=key,
        before={k: _plain(b) for k, (b, _) in changes.items()},
        after={k: _plain(a) for k, (_, a) in changes.items()},
        detail=detail,
    )  # fmt: skip
    if result is not None:
        result.updated += 1
        result.changes.append(_change_line(key, changes, units or {}))
    return obj, changes


# --- appliers -----------------------------------------------------------------------------------------


def apply_properties(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Office properties (办公用房) and their certificate checklist, by code."""
    result = ApplyResult()
    units = _unit_ids(session)
    names = {v: k for k, v in units.items()}
    existing = {p.code: p for p in session.exec(select(OfficeProperty)).all()}
    operating = set(session.exec(select(OperatingProperty.code)).all())
    seen: Seen = {}
    for row in rows:
        r = _Reader(row, result)
        code = r.text("code", required=True)
        values: dict[str, Any] = {}
        if r.has("name") or code not in existing:
            values["name"] = r.text("name", required=True)
        if r.has("unit"):
            values["unit_id"] = r.unit("unit", units)
        if r.has("address"):
            values["address"] = r.text("address") or ""
        if r.has("floor_area_m2"):
            values["floor_area_m2"] = r.area("floor_area_m2")
        for name in CHECKLIST_DATES:
            if r.has(name):
                values[name] = r.day(name)
        if r.has("certificate_no"):
            values["certificate_no"] = r.text("certificate_no")
        if code in operating:
            r.bad("code", f"编号 {code} 已登记为经营性用房 code {code} is already an operating property")
        if not r.ok or code is None or _duplicate(result, row, code, values, seen):
            continue
        prop = existing.get(code)
        merged = _checklist(prop, values)
        problem = rules.check_certificate(merged)
        if problem:
            r.bad("certified_on" if merged.certified_on is None else "certificate_no", problem)
            continue
        saved, _ = _save(
            session, result, actor=actor, entity="property_office", key=code, obj=prop, values=values,
            model=OfficeProperty, init={"code": code}, units=names,
        )  # fmt: skip
        existing[code] = saved
    session.flush()
    return result


def apply_operating_properties(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Operating properties and shopfronts (经营性用房, 门面房), by code."""
    result = ApplyResult()
    units = _unit_ids(session)
    names = {v: k for k, v in units.items()}
    existing = {p.code: p for p in session.exec(select(OperatingProperty)).all()}
    office = set(session.exec(select(OfficeProperty.code)).all())
    seen: Seen = {}
    for row in rows:
        r = _Reader(row, result)
        code = r.text("code", required=True)
        values: dict[str, Any] = {}
        if r.has("address"):
            values["address"] = r.text("address") or ""
        if r.has("owner_unit"):
            values["owner_unit_id"] = r.unit("owner_unit", units)
        if r.has("area_m2"):
            values["area_m2"] = r.area("area_m2")
        if r.has("status") or code not in existing:
            # No default: a shopfront whose status nobody knows is exactly what the register must end.
            values["status"] = r.choice("status", OPERATING_STATUSES, required=True)
        if r.has("takeover_due_on"):
            values["takeover_due_on"] = r.day("takeover_due_on")
        if code in office:
            r.bad("code", f"编号 {code} 是办公用房，不能登记为经营性用房 code {code} is an office property")
        if not r.ok or code is None or _duplicate(result, row, code, values, seen):
            continue
        saved, _ = _save(
            session, result, actor=actor, entity="property_operating", key=code, obj=existing.get(code),
            values=values, model=OperatingProperty, init={"code": code}, units=names,
        )  # fmt: skip
        existing[code] = saved
    session.flush()
    return result


def _lease_conflicts(
    session: Session,
    property_id: int,
    start: date,
    end: date,
    *,
    same: Callable[[Lease], bool],
) -> list[str]:
    """Reasons another lease of the property overlaps [start, end] (leases for which `same` holds are the
    one being written)."""
    out = []
    for other in session.exec(select(Lease).where(Lease.property_id == property_id)).all():
        if same(other):
            continue
        other_end = other.end_on if other.terminated_on is None else min(other.end_on, other.terminated_on)
        if rules.overlaps(start, end, other.start_on, other_end):
            out.append(
                f"与承租人 {other.tenant} 的租赁 {other.start_on} 至 {other_end} 重叠 "
                f"overlaps the lease of {other.tenant} ({other.start_on} – {other_end})"
            )
    return out


def _office_or_unknown(code: str, office: set[str]) -> str:
    if code in office:
        return f"{code}: {rules.OFFICE_LEASE_REASON}"
    return f"未登记的经营性用房 {code} unknown operating property {code}: import operating-properties first"


def apply_leases(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Leases (租赁) of operating properties, by (property code, start date)."""
    result = ApplyResult()
    cap = lease_term_cap_years()
    props = {p.code: p for p in session.exec(select(OperatingProperty)).all()}
    office = set(session.exec(select(OfficeProperty.code)).all())
    seen: Seen = {}
    for row in rows:
        r = _Reader(row, result)
        code = r.text("code", required=True)
        tenant = r.text("tenant", required=True)
        rent = r.fen("annual_rent_fen", required=True)
        start = r.day("lease_start", required=True)
        end = r.day("lease_end", required=True)
        deposit = r.fen("deposit_fen") if r.has("deposit_fen") else None
        prop = props.get(code) if code else None
        if code and prop is None:
            r.bad("code", _office_or_unknown(code, office))
        if start and end:
            problem = rules.check_lease_term(start, end, cap)
            if problem:
                r.bad("lease_end", problem)
        if not r.ok or prop is None or prop.id is None or start is None or end is None:
            continue
        values: dict[str, Any] = {"tenant": tenant, "annual_rent_fen": rent, "end_on": end}
        if r.has("deposit_fen"):
            values["deposit_fen"] = deposit or 0
        if _duplicate(result, row, (code, start), values, seen):
            continue
        pid = prop.id
        for reason in _lease_conflicts(session, pid, start, end, same=_same_lease(start, None)):
            r.bad("lease_start", reason)
        if not r.ok:
            continue
        lease = session.exec(select(Lease).where(Lease.property_id == pid, Lease.start_on == start)).first()
        _save(
            session, result, actor=actor, entity="property_lease", key=f"{code}:{start}", obj=lease,
            values=values, model=Lease, init={"property_id": pid, "start_on": start},
        )  # fmt: skip
        session.flush()
    return result


def _round_result(r: AuctionRound) -> rules.RoundResult:
    return rules.RoundResult(r.round_no, r.result, r.price_fen, r.tenant, r.lease_start_on, r.lease_end_on)


def apply_auctions(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Lease auctions: batch → lot (one operating property) → round, by (batch, lot, round). A lot whose
    last round is sold gets its lease (created once, updated if the round changes)."""
    result = ApplyResult()
    cap = lease_term_cap_years()
    props = {p.code: p for p in session.exec(select(OperatingProperty)).all()}
    office = set(session.exec(select(OfficeProperty.code)).all())
    batches = {b.name: b for b in session.exec(select(AuctionBatch)).all()}
    lots = {(lot.batch_id, lot.property_id): lot for lot in session.exec(select(AuctionLot)).all()}
    stored: dict[int, dict[int, AuctionRound]] = defaultdict(dict)
    for rnd in session.exec(select(AuctionRound)).all():
        stored[rnd.lot_id][rnd.round_no] = rnd

    def existing_lot(batch: str, prop: OperatingProperty) -> AuctionLot | None:
        b = batches.get(batch)
        return None if b is None else lots.get((b.id or 0, prop.id or 0))

    # 1. read and check each row on its own
    good: list[tuple[_Reader, str, OperatingProperty, int, dict[str, Any]]] = []
    seen: Seen = {}
    for row in rows:
        r = _Reader(row, result)
        batch = r.text("batch", required=True)
        code = r.text("lot", required=True)
        round_no = r.integer("round") or 1  # an empty round cell is the first round
        outcome = r.choice("result", rules.RESULTS, required=True)
        reserve = r.fen("reserve_fen")
        price = r.fen("price_fen")
        tenant = r.text("tenant")
        start, end = r.day("lease_start"), r.day("lease_end")
        prop = props.get(code) if code else None
        if code and prop is None:
            r.bad("lot", _office_or_unknown(code, office))
        if outcome == "sold":
            if not price:
                r.bad("price_fen", "成交须填成交价 a sold lot needs its annual price")
            if tenant is None:
                r.bad("tenant", "成交须填承租人 a sold lot needs its tenant")
            if start is None:
                r.bad("lease_start", "成交须填租期起 a sold lot needs its lease start")
            if end is None:
                r.bad("lease_end", "成交须填租期止 a sold lot needs its lease end")
            if start and end:
                problem = rules.check_lease_term(start, end, cap)
                if problem:
                    r.bad("lease_end", problem)
        elif outcome is not None and price:
            r.bad("price_fen", "流拍或撤拍的轮次不应有成交价 only a sold round has a price")
        if not r.ok or batch is None or prop is None:
            continue
        sold = outcome == "sold"
        values: dict[str, Any] = {
            "reserve_fen": reserve,
            "result": outcome,
            "price_fen": price if sold else None,
            "tenant": (tenant or "") if sold else "",
            "lease_start_on": start if sold else None,
            "lease_end_on": end if sold else None,
        }
        if _duplicate(result, row, (batch, code, round_no), values, seen):
            continue
        good.append((r, batch, prop, round_no, values))

    # 2. per lot: no round may follow a sold one (file rounds over the stored ones)
    by_lot: dict[tuple[str, str], list[tuple[_Reader, int, dict[str, Any]]]] = defaultdict(list)
    for r, batch, prop, round_no, values in good:
        by_lot[(batch, prop.code)].append((r, round_no, values))
    for (batch, code), items in by_lot.items():
        lot = existing_lot(batch, props[code])
        merged = {n: _round_result(x) for n, x in stored.get(lot.id or 0, {}).items()} if lot else {}
        for _, round_no, values in items:
            merged[round_no] = rules.RoundResult(
                round_no, values["result"], values["price_fen"], values["tenant"],
                values["lease_start_on"], values["lease_end_on"],
            )  # fmt: skip
        late = rules.rounds_after_sale(merged.values())
        if late:
            sold_no = next(n for n, x in sorted(merged.items()) if x.result == "sold")
            in_file = {n for _, n, _ in items}
            for r, round_no, values in items:
                if round_no in late:
                    r.bad("round", f"标的已在第 {sold_no} 轮成交，不应再有第 {round_no} 轮 lot already sold "
                          f"in round {sold_no}")  # fmt: skip
                elif values["result"] == "sold" and any(n not in in_file for n in late):
                    r.bad("result", f"该标的已登记第 {max(late)} 轮 the lot has a later round {max(late)}")
        # the sold round's lease must not overlap another lease of the shopfront
        lot_id = lot.id if lot else None
        for r, _, values in items:
            if r.ok and values["result"] == "sold":
                start = values["lease_start_on"]
                end = values["lease_end_on"]
                pid = props[code].id or 0
                for reason in _lease_conflicts(session, pid, start, end, same=_same_lease(start, lot_id)):
                    r.bad("lease_start", reason)

    # 3. write batches, lots and rounds; then the lease of every touched lot that ends sold
    touched: dict[int, tuple[AuctionLot, OperatingProperty, str]] = {}
    changed: set[int] = set()  # lots with a round inserted or updated by these rows
    for r, batch_name, prop, round_no, values in good:
        if not r.ok:
            continue
        batch_row = batches.get(batch_name)
        if batch_row is None:
            batch_row, _ = _save(
                session, None, actor=actor, entity="property_auction_batch", key=batch_name, obj=None,
                values={"name": batch_name}, model=AuctionBatch,
            )  # fmt: skip
            batches[batch_name] = batch_row
        bid, pid = batch_row.id or 0, prop.id or 0
        lot_row = lots.get((bid, pid))
        if lot_row is None:
            lot_row, _ = _save(
                session, None, actor=actor, entity="property_auction_lot", key=f"{batch_name}/{prop.code}",
                obj=None, values={"batch_id": bid, "property_id": pid}, model=AuctionLot,
            )  # fmt: skip
            lots[(bid, pid)] = lot_row
        lot_id = lot_row.id or 0
        rnd, round_changes = _save(
            session, result, actor=actor, entity="property_auction_round",
            key=f"{batch_name}/{prop.code}/{round_no}", obj=stored.get(lot_id, {}).get(round_no),
            values=values, model=AuctionRound, init={"lot_id": lot_id, "round_no": round_no},
        )  # fmt: skip
        stored[lot_id][round_no] = rnd
        touched[lot_id] = (lot_row, prop, batch_name)
        if round_changes is None or round_changes:
            changed.add(lot_id)
    session.flush()
    for lot_id, (lot_row, prop, batch_name) in touched.items():
        last = rules.lot_outcome(_round_result(x) for x in stored[lot_id].values())
        if last is not None and last.result == "sold":
            _lease_from_lot(session, result, actor, lot_row, prop, batch_name, last)
        elif lot_id in changed and session.exec(select(Lease.id).where(Lease.lot_id == lot_id)).first():
            # A lease is a contract: it is never deleted behind the clerk's back, only pointed out.
            result.changes.append(
                f"{prop.code}: 标的结果已不是成交，原拍卖租赁仍在，如需请终止 the lot is no longer sold but "
                "its lease remains; terminate it if it was never signed"
            )
    session.flush()
    return result


def _same_lease(start: date, lot_id: int | None) -> Callable[[Lease], bool]:
    """The lease a sold round writes: the one of its lot, or the one with its start date."""
    return lambda lease: lease.start_on == start or (lot_id is not None and lease.lot_id == lot_id)


def _lease_from_lot(
    session: Session,
    result: ApplyResult,
    actor: str,
    lot: AuctionLot,
    prop: OperatingProperty,
    batch: str,
    outcome: rules.RoundResult,
) -> Lease:
    """A sold lot's lease: found by its lot, else by (property, start); created or brought in line."""
    assert outcome.lease_start is not None and outcome.lease_end is not None and prop.id is not None
    lease = (
        session.exec(select(Lease).where(Lease.lot_id == lot.id)).first()
        or session.exec(
            select(Lease).where(Lease.property_id == prop.id, Lease.start_on == outcome.lease_start)
        ).first()
    )
    values: dict[str, Any] = {
        "tenant": outcome.tenant,
        "annual_rent_fen": outcome.price_fen or 0,
        "start_on": outcome.lease_start,
        "end_on": outcome.lease_end,
        "lot_id": lot.id,
    }
    key = f"{prop.code}:{outcome.lease_start}"
    saved, changes = _save(
        session, None, actor=actor, entity="property_lease", key=key, obj=lease, values=values,
        model=Lease, init={"property_id": prop.id}, detail=f"auction {batch} round {outcome.round_no}",
    )  # fmt: skip
    if changes is None:
        result.changes.append(
            f"{prop.code}: 拍卖成交生成租赁 lease created from auction {batch} — {outcome.tenant}, "
            f"{outcome.lease_start} 至 {outcome.lease_end}, {rules.fen_to_yuan(outcome.price_fen or 0)} 元/年"
        )
    elif changes:
        result.changes.append("lease " + _change_line(key, changes, {}))
    return saved


# --- office properties: checklist, targets --------------------------------------------------------------


def _checklist(prop: OfficeProperty | None, values: Mapping[str, Any]) -> rules.Checklist:
    """The checklist as it would be once `values` are written over `prop`."""
    fields = rules.Checklist.__dataclass_fields__
    return rules.Checklist(**{f: values[f] if f in values else getattr(prop, f, None) for f in fields})


def get_office_property(session: Session, code: str) -> OfficeProperty:
    prop = session.exec(select(OfficeProperty).where(OfficeProperty.code == code)).first()
    if prop is None:
        raise NotFound(f"办公用房 {code} 不存在 office property {code} not found")
    return prop


def record_certificate_step(
    session: Session,
    code: str,
    step: str,
    *,
    on: date | None,
    actor: str,
    doc: str | None = None,
    certificate_no: str | None = None,
) -> OfficeProperty:
    """Record (or, with on=None, clear) one checklist step with its document reference. For the step
    `certificate` the reference is the certificate number. Refused when the result would be a certificate
    without its prerequisites."""
    if step not in rules.STEPS:
        raise ValidationFailed(f"未知步骤 {step!r} unknown step: one of {', '.join(rules.STEPS)}")
    prop = get_office_property(session, code)
    values: dict[str, Any] = {rules.STEP_FIELDS[step]: on}
    if step == "certificate":
        number = (certificate_no or doc or "").strip() or None
        values["certificate_no"] = number if on is not None else None
    else:
        values[rules.STEP_DOC_FIELDS[step]] = (doc or "").strip() if on is not None else ""
    problem = rules.check_certificate(_checklist(prop, values))
    if problem:
        raise ValidationFailed(f"{code}: {problem}")
    _save(
        session, None, actor=actor, entity="property_office", key=code, obj=prop, values=values,
        detail=f"checklist step {step}",
    )  # fmt: skip
    session.flush()
    return prop


def set_target(
    session: Session, *, step: str, due_on: date, actor: str, code: str | None = None, note: str = ""
) -> CertificateTarget:
    """A target date for a step: for one property (code) or programme-wide (code None)."""
    if step not in rules.STEPS:
        raise ValidationFailed(f"未知步骤 {step!r} unknown step: one of {', '.join(rules.STEPS)}")
    pid = get_office_property(session, code).id if code else None
    target = _find_target(session, step, pid)
    key = f"{code or '*'}:{step}"
    saved, _ = _save(
        session, None, actor=actor, entity="property_certificate_target", key=key, obj=target,
        values={"due_on": due_on, "note": note}, detail="target",
        model=CertificateTarget, init={"step": step, "property_id": pid},
    )  # fmt: skip
    session.flush()
    return saved


def _find_target(session: Session, step: str, pid: int | None) -> CertificateTarget | None:
    # NULL never equals NULL in a unique constraint, so programme-wide targets are looked up explicitly.
    prop_col = col(CertificateTarget.property_id)
    cond = prop_col.is_(None) if pid is None else prop_col == pid
    return session.exec(select(CertificateTarget).where(CertificateTarget.step == step, cond)).first()


def remove_target(session: Session, *, step: str, actor: str, code: str | None = None) -> None:
    pid = get_office_property(session, code).id if code else None
    target = _find_target(session, step, pid)
    if target is None:
        raise NotFound(f"没有 {code or '全部房产'} 的 {step} 目标日期 no target for step {step}")
    audit.record(
        session, actor=actor, action="delete", entity="property_certificate_target",
        entity_id=f"{code or '*'}:{step}", before={"due_on": target.due_on.isoformat(), "note": target.note},
    )  # fmt: skip
    session.delete(target)
    session.flush()


def list_targets(session: Session) -> list[dict[str, Any]]:
    codes = {p.id: p.code for p in session.exec(select(OfficeProperty)).all()}
    out = []
    for t in session.exec(select(CertificateTarget).order_by(col(CertificateTarget.due_on))).all():
        code = codes.get(t.property_id) if t.property_id is not None else None
        out.append({"step": t.step, "code": code, "due_on": t.due_on, "note": t.note})
    return out


def _targets(session: Session) -> tuple[dict[str, date], dict[int, dict[str, date]]]:
    programme: dict[str, date] = {}
    own: dict[int, dict[str, date]] = defaultdict(dict)
    for t in session.exec(select(CertificateTarget)).all():
        if t.property_id is None:
            programme[t.step] = t.due_on
        else:
            own[t.property_id][t.step] = t.due_on
    return programme, own


def office_views(
    session: Session,
    today: date,
    *,
    unit_id: int | None = None,
    stage: str | None = None,
    blocker: str | None = None,
    overdue: bool | None = None,
    q: str | None = None,
) -> list[dict[str, Any]]:
    """Office properties with their derived stage, blockers and overdue steps, filtered."""
    stmt = select(OfficeProperty).order_by(col(OfficeProperty.code))
    if unit_id is not None:
        stmt = stmt.where(OfficeProperty.unit_id == unit_id)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(col(OfficeProperty.code).like(like), col(OfficeProperty.name).like(like)))
    units = _unit_names(session)
    programme, own = _targets(session)
    out = []
    for p in session.exec(stmt).all():
        view = office_view(p, units, rules.effective_targets(programme, own.get(p.id or 0, {})), today)
        if stage and view["stage"] != stage:
            continue
        if blocker and blocker not in view["blockers"]:
            continue
        if overdue is not None and bool(view["overdue"]) != overdue:
            continue
        out.append(view)
    return out


def office_property_view(session: Session, code: str, today: date) -> dict[str, Any]:
    prop = get_office_property(session, code)
    programme, own = _targets(session)
    targets = rules.effective_targets(programme, own.get(prop.id or 0, {}))
    return office_view(prop, _unit_names(session), targets, today)


def office_view(
    p: OfficeProperty, units: Mapping[int, str], targets: Mapping[str, date], today: date
) -> dict[str, Any]:
    c = rules.Checklist.of(p)
    view = {k: getattr(p, k) for k in OfficeProperty.model_fields}
    view.update(
        unit=units.get(p.unit_id) if p.unit_id is not None else None,
        stage=rules.stage(c),
        blockers=rules.blockers(c),
        overdue=[
            {"step": o.step, "due_on": o.due_on, "days_overdue": o.days_overdue}
            for o in rules.overdue_steps(c, targets, today)
        ],
    )
    return view


# --- leases -------------------------------------------------------------------------------------------


def get_operating_property(session: Session, code: str) -> OperatingProperty:
    prop = session.exec(select(OperatingProperty).where(OperatingProperty.code == code)).first()
    if prop is None:
        raise NotFound(f"经营性用房 {code} 不存在 operating property {code} not found")
    return prop


def create_lease(
    session: Session,
    *,
    code: str,
    tenant: str,
    annual_rent_fen: int,
    start_on: date,
    end_on: date,
    actor: str,
    deposit_fen: int = 0,
) -> Lease:
    """One lease, checked like an imported one: never an office property, within the term cap, not
    overlapping another lease of the property."""
    if session.exec(select(OfficeProperty.id).where(OfficeProperty.code == code)).first() is not None:
        raise ValidationFailed(f"{code}: {rules.OFFICE_LEASE_REASON}")
    prop = get_operating_property(session, code)
    assert prop.id is not None
    tenant = tenant.strip()
    if not tenant:
        raise ValidationFailed("缺少承租人 missing tenant")
    if annual_rent_fen < 0 or deposit_fen < 0:
        raise ValidationFailed("金额不能为负 amounts cannot be negative")
    problem = rules.check_lease_term(start_on, end_on, lease_term_cap_years())
    if problem:
        raise ValidationFailed(problem)
    conflicts = _lease_conflicts(session, prop.id, start_on, end_on, same=lambda _lease: False)
    if conflicts:
        raise Conflict(f"{code}: {conflicts[0]}")
    values: dict[str, Any] = {
        "tenant": tenant,
        "annual_rent_fen": annual_rent_fen,
        "start_on": start_on,
        "end_on": end_on,
        "deposit_fen": deposit_fen,
    }
    lease, _ = _save(
        session, None, actor=actor, entity="property_lease", key=f"{code}:{start_on}", obj=None,
        values=values, model=Lease, init={"property_id": prop.id}, detail="created",
    )  # fmt: skip
    return lease


def terminate_lease(session: Session, lease_id: int, *, on: date, actor: str) -> Lease:
    lease = session.get(Lease, lease_id)
    if lease is None:
        raise NotFound(f"租赁 {lease_id} 不存在 lease {lease_id} not found")
    if on < lease.start_on:
        raise ValidationFailed(f"终止日期 {on} 早于租期起 {lease.start_on} termination before the start")
    _save(
        session, None, actor=actor, entity="property_lease", key=f"{lease_id}", obj=lease,
        values={"terminated_on": on}, detail="terminated",
    )  # fmt: skip
    session.flush()
    return lease


def _active_lease_filter(on: date) -> Any:
    return and_(
        col(Lease.start_on) <= on,
        col(Lease.end_on) >= on,
        or_(col(Lease.terminated_on).is_(None), col(Lease.terminated_on) >= on),
    )


def active_lease_property_ids(session: Session, on: date) -> set[int]:
    return set(session.exec(select(Lease.property_id).where(_active_lease_filter(on))).all())


def status_on_expr(on: date) -> Any:
    """`rules.status_on` as SQL, for filtering and counting in the database."""
    leased = select(Lease.property_id).where(_active_lease_filter(on))
    return case(
        (col(OperatingProperty.id).in_(leased), "leased"),
        (col(OperatingProperty.status) == "leased", "idle"),
        else_=col(OperatingProperty.status),
    )


def operating_query(
    today: date,
    *,
    status: str | None = None,
    owner_unit_id: int | None = None,
    vacant: bool | None = None,
    takeover_overdue: bool | None = None,
    q: str | None = None,
) -> Any:
    """The filtered query of operating properties (SQL, so the API can paginate it)."""
    stmt = select(OperatingProperty).order_by(col(OperatingProperty.code))
    if status:
        stmt = stmt.where(status_on_expr(today) == status)
    if owner_unit_id is not None:
        stmt = stmt.where(OperatingProperty.owner_unit_id == owner_unit_id)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(
            or_(col(OperatingProperty.code).like(like), col(OperatingProperty.address).like(like))
        )
    if vacant is not None:
        leased = select(Lease.property_id).where(_active_lease_filter(today))
        cond = and_(col(OperatingProperty.status) != "self_used", col(OperatingProperty.id).not_in(leased))
        stmt = stmt.where(cond if vacant else ~cond)
    if takeover_overdue is not None:
        cond = and_(
            col(OperatingProperty.status) == "not_taken_over", col(OperatingProperty.takeover_due_on) < today
        )
        stmt = stmt.where(cond if takeover_overdue else ~cond)
    return stmt


def lease_query(
    today: date,
    *,
    code: str | None = None,
    tenant: str | None = None,
    active: bool | None = None,
    expiring_within: int | None = None,
) -> Any:
    stmt = select(Lease).order_by(col(Lease.end_on), col(Lease.id))
    if code:
        stmt = stmt.join(OperatingProperty, col(OperatingProperty.id) == col(Lease.property_id)).where(
            OperatingProperty.code == code
        )
    if tenant:
        stmt = stmt.where(col(Lease.tenant).like(f"%{tenant}%"))
    if active is not None:
        stmt = stmt.where(_active_lease_filter(today) if active else ~_active_lease_filter(today))
    if expiring_within is not None:
        last = today + timedelta(days=expiring_within)
        stmt = stmt.where(_active_lease_filter(today), col(Lease.end_on) <= last)
    return stmt


def update_batch(
    session: Session,
    name: str,
    *,
    actor: str,
    held_on: date | None = None,
    auction_house: str | None = None,
    legal_basis: str | None = None,
) -> AuctionBatch:
    """Create a batch or set its date, auction house and legal basis (fields left None are kept)."""
    batch = session.exec(select(AuctionBatch).where(AuctionBatch.name == name)).first()
    values: dict[str, Any] = {}
    if held_on is not None:
        values["held_on"] = held_on
    if auction_house is not None:
        values["auction_house"] = auction_house
    if legal_basis is not None:
        values["legal_basis"] = legal_basis
    saved, _ = _save(
        session, None, actor=actor, entity="property_auction_batch", key=name, obj=batch, values=values,
        model=AuctionBatch, init={"name": name}, detail="batch",
    )  # fmt: skip
    session.flush()
    return saved


# --- reports ------------------------------------------------------------------------------------------


def certificates_report(session: Session, today: date) -> dict[str, Any]:
    """`{"properties", "surveyed", "certified", "by_stage", "blocked", "overdue"}` (issue 6)."""
    views = office_views(session, today)
    by_stage = dict.fromkeys(rules.STAGES, 0)
    for v in views:
        by_stage[v["stage"]] += 1
    return {
        "properties": len(views),
        "surveyed": sum(1 for v in views if v["surveyed_on"] is not None),
        "certified": by_stage["certified"],
        "by_stage": by_stage,
        "blocked": [
            {k: v[k] for k in ("code", "name", "unit", "stage", "blockers")} for v in views if v["blockers"]
        ],
        "overdue": [
            {"code": v["code"], "name": v["name"], "unit": v["unit"], **o}
            for v in views
            for o in v["overdue"]
        ],
    }


def auction_batches(session: Session, batch: str | None = None) -> list[AuctionBatch]:
    stmt = select(AuctionBatch).order_by(col(AuctionBatch.held_on), col(AuctionBatch.name))
    if batch is not None:
        stmt = stmt.where(AuctionBatch.name == batch)
    batches = list(session.exec(stmt).all())
    if batch is not None and not batches:
        raise NotFound(f"拍卖批次 {batch} 不存在 auction batch {batch} not found")
    return batches


def auctions_report(session: Session, batch: str | None = None) -> dict[str, Any]:
    """`{"batches": [{"batch", "date", "lots", "sold", "unsold", "withdrawn", "annual_rent_yuan",
    "lots_detail"}]}` (issue 6); each lot counts once, by its last round."""
    props = {p.id: p for p in session.exec(select(OperatingProperty)).all()}
    out = []
    for b in auction_batches(session, batch):
        lots = session.exec(select(AuctionLot).where(AuctionLot.batch_id == b.id)).all()
        rounds: dict[int, list[AuctionRound]] = defaultdict(list)
        lot_ids = [lot.id for lot in lots]
        for rnd in session.exec(select(AuctionRound).where(col(AuctionRound.lot_id).in_(lot_ids))).all():
            rounds[rnd.lot_id].append(rnd)
        detail, outcomes = [], []
        for lot in sorted(lots, key=lambda x: props[x.property_id].code):
            lot_rounds = sorted(rounds.get(lot.id or 0, []), key=lambda x: x.round_no)
            outcome = rules.lot_outcome(_round_result(x) for x in lot_rounds)
            outcomes.append(outcome)
            last = lot_rounds[-1] if lot_rounds else None
            prop = props[lot.property_id]
            detail.append(
                {
                    "lot": prop.code,
                    "address": prop.address,
                    "rounds": len(lot_rounds),
                    "result": outcome.result if outcome else None,
                    "reserve_yuan": _yuan(last.reserve_fen) if last else None,
                    "price_yuan": _yuan(outcome.price_fen) if outcome else None,
                    "tenant": outcome.tenant or None if outcome else None,
                    "lease_start": outcome.lease_start if outcome else None,
                    "lease_end": outcome.lease_end if outcome else None,
                }
            )
        summary = rules.batch_summary(outcomes)
        out.append(
            {
                "batch": b.name,
                "date": b.held_on,
                "lots": summary.lots,
                "sold": summary.sold,
                "unsold": summary.unsold,
                "withdrawn": summary.withdrawn,
                "annual_rent_yuan": rules.fen_to_yuan(summary.annual_rent_fen),
                "lots_detail": detail,
            }
        )
    return {"batches": out}


def _yuan(fen: int | None) -> Decimal | None:
    return None if fen is None else rules.fen_to_yuan(fen)


def operating_report(session: Session, today: date) -> dict[str, Any]:
    """`{"by_status", "overdue_takeovers": [{"code", "address", "owner_unit", "due_on"}], "vacant"}`; a
    status is the one on `today` (`rules.status_on`: a lease in force makes it leased)."""
    units = _unit_names(session)
    props = session.exec(select(OperatingProperty).order_by(col(OperatingProperty.code))).all()
    leased = active_lease_property_ids(session, today)
    by_status = dict.fromkeys(OPERATING_STATUSES, 0)
    overdue, vacant = [], []
    for p in props:
        now = rules.status_on(p.status, p.id in leased)
        by_status[now] = by_status.get(now, 0) + 1
        owner = units.get(p.owner_unit_id) if p.owner_unit_id is not None else None
        if rules.takeover_overdue(p.status, p.takeover_due_on, today):
            overdue.append(
                {"code": p.code, "address": p.address, "owner_unit": owner, "due_on": p.takeover_due_on}
            )
        if rules.is_vacant(p.status, p.id in leased):
            vacant.append(
                {
                    "code": p.code,
                    "address": p.address,
                    "owner_unit": owner,
                    "status": rules.status_on(p.status, p.id in leased),
                    "registered_status": p.status,
                    "area_m2": p.area_m2,
                }
            )
    return {"by_status": by_status, "overdue_takeovers": overdue, "vacant": vacant}


def leases_report(session: Session, today: date, expiring_within: int | None = None) -> dict[str, Any]:
    """`{"leases": [...], "annual_rent_yuan": n}`: leases in force or still to start on `today` (with
    `expiring_within`, only those in force that end within that many days), and their annual rent."""
    units = _unit_names(session)
    props = {p.id: p for p in session.exec(select(OperatingProperty)).all()}
    stmt = select(Lease).order_by(col(Lease.end_on), col(Lease.id))
    rows = []
    total = 0
    for lease in session.exec(stmt).all():
        active = rules.lease_active(lease.start_on, lease.end_on, lease.terminated_on, today)
        upcoming = lease.start_on > today and lease.terminated_on is None
        days_left = (lease.end_on - today).days
        if expiring_within is not None:
            if not active or days_left > expiring_within:
                continue
        elif not (active or upcoming):
            continue
        prop = props[lease.property_id]
        total += lease.annual_rent_fen
        rows.append(
            {
                "code": prop.code,
                "address": prop.address,
                "owner_unit": units.get(prop.owner_unit_id) if prop.owner_unit_id is not None else None,
                "tenant": lease.tenant,
                "annual_rent_yuan": rules.fen_to_yuan(lease.annual_rent_fen),
                "deposit_yuan": rules.fen_to_yuan(lease.deposit_fen),
                "lease_start": lease.start_on,
                "lease_end": lease.end_on,
                "days_left": days_left,
                "state": "active" if active else "upcoming",
                "from_auction": lease.lot_id is not None,
            }
        )
    return {"leases": rows, "annual_rent_yuan": rules.fen_to_yuan(total)}


def rent_roll(session: Session, year: int) -> dict[str, Any]:
    """Rent falling due in a calendar year per owning unit: each lease's annual rent pro rata by its days
    in that year (to the fen), up to an early termination."""
    units = _unit_names(session)
    props = {p.id: p for p in session.exec(select(OperatingProperty)).all()}
    per_unit: dict[str, list[int]] = defaultdict(list)
    for lease in session.exec(select(Lease)).all():
        end = lease.end_on if lease.terminated_on is None else min(lease.end_on, lease.terminated_on)
        fen = rules.rent_in_year(lease.annual_rent_fen, lease.start_on, end, year)
        if fen or (lease.start_on.year <= year <= end.year):
            owner_id = props[lease.property_id].owner_unit_id
            per_unit[units.get(owner_id, "—") if owner_id is not None else "—"].append(fen)
    rows = [
        {"owner_unit": unit, "leases": len(fens), "rent_yuan": rules.fen_to_yuan(sum(fens))}
        for unit, fens in sorted(per_unit.items())
    ]
    total = sum(sum(fens) for fens in per_unit.values())
    return {"year": year, "units": rows, "rent_yuan": rules.fen_to_yuan(total)}


# --- nightly alerts -----------------------------------------------------------------------------------


def _wanted_alerts(session: Session, today: date) -> dict[tuple[str, str], tuple[date, str]]:
    wanted: dict[tuple[str, str], tuple[date, str]] = {}
    props = {p.id: p for p in session.exec(select(OperatingProperty)).all()}
    for lease in session.exec(select(Lease)).all():
        lead = rules.lease_reminder(lease.end_on, today, lease.terminated_on)
        if lead is not None:
            code = props[lease.property_id].code
            days = (lease.end_on - today).days
            wanted[(f"lease_ending_{lead}", f"{code}:{lease.start_on}")] = (
                lease.end_on,
                f"{code} 承租人 {lease.tenant} 的租赁将于 {lease.end_on} 到期（剩 {days} 天）"
                f" lease of {lease.tenant} ends on {lease.end_on}, in {days} days",
            )
    for p in props.values():
        if rules.takeover_overdue(p.status, p.takeover_due_on, today):
            assert p.takeover_due_on is not None
            wanted[("takeover_overdue", p.code)] = (
                p.takeover_due_on,
                f"{p.code}（{p.address}）应于 {p.takeover_due_on} 接管，至今未接管"
                f" due to be taken over on {p.takeover_due_on}, still not taken over",
            )
    for v in office_views(session, today):
        for o in v["overdue"]:
            label = rules.STEP_LABELS[o["step"]]
            wanted[("certificate_overdue", f"{v['code']}:{o['step']}")] = (
                o["due_on"],
                f"{v['code']} {v['name']}：{label} 目标 {o['due_on']}，已逾期 {o['days_overdue']} 天"
                f" overdue by {o['days_overdue']} days",
            )
    return wanted


def raise_property_alerts(session: Session, today: date) -> dict[str, int]:
    """The nightly property reminders: leases ending within 90 / 30 days, checklist steps past their
    target, takeovers past their due date. One alert per (kind, key), so a re-run raises nothing new;
    alerts that no longer apply are resolved, and one that applies again is reopened. Returns the counts
    of alerts newly raised per kind and of alerts resolved."""
    wanted = _wanted_alerts(session, today)
    counts = dict.fromkeys(ALERT_KINDS, 0)
    counts["resolved"] = 0
    now = utcnow()
    existing = {(a.kind, a.key): a for a in session.exec(select(PropertyAlert)).all()}
    for (kind, key), (due_on, message) in wanted.items():
        alert = existing.get((kind, key))
        if alert is None:
            session.add(PropertyAlert(kind=kind, key=key, due_on=due_on, message=message[:500]))
            counts[kind] += 1
            continue
        if alert.resolved_at is not None:
            alert.resolved_at = None
            alert.raised_at = now
            counts[kind] += 1
        alert.due_on, alert.message = due_on, message[:500]
        session.add(alert)
    for (kind, _key), alert in existing.items():
        if kind in ALERT_KINDS and alert.resolved_at is None and (kind, _key) not in wanted:
            alert.resolved_at = now
            session.add(alert)
            counts["resolved"] += 1
    session.flush()
    return counts


def alert_query(*, kind: str | None = None, open_only: bool = True) -> Any:
    stmt = select(PropertyAlert).order_by(col(PropertyAlert.due_on), col(PropertyAlert.id))
    if kind:
        stmt = stmt.where(PropertyAlert.kind == kind)
    if open_only:
        stmt = stmt.where(col(PropertyAlert.resolved_at).is_(None))
    return stmt


# --- geocoding ----------------------------------------------------------------------------------------


def geocode_office_properties(
    session: Session,
    geocoder: Geocoder,
    *,
    actor: str,
    only_missing: bool = True,
    codes: Iterable[str] | None = None,
) -> dict[str, int]:
    """Fill coordinates from the addresses through `geocoder`; returns counts located / not found /
    skipped (no address)."""
    stmt = select(OfficeProperty).order_by(col(OfficeProperty.code))
    if codes is not None:
        stmt = stmt.where(col(OfficeProperty.code).in_(list(codes)))
    counts = {"located": 0, "not_found": 0, "skipped": 0}
    for p in session.exec(stmt).all():
        if only_missing and p.lat is not None and p.lon is not None:
            continue
        if not p.address:
            counts["skipped"] += 1
            continue
        point = geocoder.geocode(p.address)
        if point is None:
            counts["not_found"] += 1
            continue
        _save(
            session, None, actor=actor, entity="property_office", key=p.code, obj=p,
            values={"lat": point[0], "lon": point[1]}, detail="geocoded",
        )  # fmt: skip
        counts["located"] += 1
    session.flush()
    return counts

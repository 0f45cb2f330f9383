"""The property register's import kinds, each declared once (core/importing.py): office properties and
their certificate checklist (办公用房登记表), operating property and shopfronts (门面房), lease auctions
(batch → lot → round) and leases.

Rows are upserted by natural key — office and operating property by `code`, auction round by (batch, lot,
round), lease by (property, start). A field present in a row's values is the file's truth (None clears
it); a field absent is left alone. Re-applying the same rows changes nothing and writes no audit row.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlmodel import Session, select

from core import normalize as n
from core.i18n import tr
from core.importing import ApplyResult, Column, ImportSpec, Row, RowReader, Seen, after, change_line, upsert
from core.models import Unit
from property import queries as property_queries
from property import rules
from property import service as property_service
from property.models import (
    AuctionBatch,
    AuctionLot,
    AuctionResult,
    AuctionRound,
    Lease,
    OfficeProperty,
    OperatingProperty,
    OperatingStatus,
)

operating_status = n.EnumMap(
    ("现状", "property status"),
    {
        OperatingStatus.leased: ["出租", "已出租", "在租", "lease"],
        OperatingStatus.self_used: ["自用", "self used", "self-used", "own use"],
        OperatingStatus.idle: ["闲置", "空置"],
        OperatingStatus.offered: ["招租", "招租中", "待租", "offered for lease", "to let"],
        OperatingStatus.not_taken_over: ["未接管", "待接管", "not taken over"],
    },
)
auction_result = n.EnumMap(
    ("拍卖结果", "auction result"),
    {
        AuctionResult.sold: ["成交", "已成交"],
        AuctionResult.unsold: ["流拍", "未成交"],
        AuctionResult.withdrawn: ["撤拍", "撤回", "中止"],
    },
)

CHECKLIST_DATES = (
    "surveyed_on",
    "safety_appraised_on",
    "seismic_tested_on",
    "fire_accepted_on",
    "submitted_on",
    "certified_on",
)
UNKNOWN_UNIT = ("未知单位「{key}」: 请先登记该单位", "unknown unit '{key}': register it first")


def _units(session: Session) -> tuple[dict[str, Unit], dict[int, str]]:
    units = {u.name: u for u in session.exec(select(Unit)).all() if u.id is not None}
    return units, {u.id: name for name, u in units.items() if u.id is not None}


def _unit_id(r: RowReader, name: str, units: Mapping[str, Unit]) -> int | None:
    unit = r.reference(name, units, tr(*UNKNOWN_UNIT), required=False)
    return unit.id if unit is not None else None


# ------------------------------------------------------------------------------------ office property


def _office_values(r: RowReader, code: str, known: bool, units: Mapping[str, Unit]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if r.has("name") or not known:
        values["name"] = r.text("name", required=True)
    if r.has("unit"):
        values["unit_id"] = _unit_id(r, "unit", units)
    if r.has("address"):
        values["address"] = r.text("address") or ""
    if r.has("floor_area_m2"):
        values["floor_area_m2"] = r.area("floor_area_m2")
    for name in (*CHECKLIST_DATES, "lat", "lon"):
        if r.has(name):
            values[name] = r.day(name) if name in CHECKLIST_DATES else r.row.values[name]
    if r.has("certificate_no"):
        values["certificate_no"] = r.text("certificate_no")
    return values


def apply_properties(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Office properties (办公用房) and their certificate checklist, by code."""
    result = ApplyResult()
    units, names = _units(session)
    existing = {p.code: p for p in session.exec(select(OfficeProperty)).all()}
    operating = set(session.exec(select(OperatingProperty.code)).all())
    seen = Seen(result)
    for row in rows:
        r = RowReader(OFFICE, row, result)
        code = r.text("code", required=True)
        values = _office_values(r, code or "", code in existing, units)
        if code in operating:
            r.bad(
                "code", tr(f"编号 {code} 已登记为经营性用房", f"code {code} is already an operating property")
            )
        if not r.ok or code is None or seen.duplicate(row, code, values):
            continue
        prop = existing.get(code)
        merged = property_service.checklist(prop, values)
        problem = rules.check_certificate(merged)
        if problem:
            r.bad("certified_on" if merged.certified_on is None else "certificate_no", problem)
            continue
        existing[code], _ = upsert(
            session, result, model=OfficeProperty, obj=prop, values=values, actor=actor, key=code,
            init={"code": code}, names=names, audit_id=code,
        )  # fmt: skip
    session.flush()
    return result


def apply_operating_properties(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Operating properties and shopfronts (经营性用房, 门面房), by code."""
    result = ApplyResult()
    units, names = _units(session)
    existing = {p.code: p for p in session.exec(select(OperatingProperty)).all()}
    office = set(session.exec(select(OfficeProperty.code)).all())
    seen = Seen(result)
    for row in rows:
        r = RowReader(OPERATING, row, result)
        code = r.text("code", required=True)
        values: dict[str, Any] = {}
        if r.has("address"):
            values["address"] = r.text("address") or ""
        if r.has("owner_unit"):
            values["owner_unit_id"] = _unit_id(r, "owner_unit", units)
        if r.has("area_m2"):
            values["area_m2"] = r.area("area_m2")
        if r.has("status") or code not in existing:
            # No default: a shopfront whose status nobody knows is exactly what the register must end.
            values["status"] = r.choice("status", OperatingStatus.codes(), required=True)
        if r.has("takeover_due_on"):
            values["takeover_due_on"] = r.day("takeover_due_on")
        values |= r.point("lat", "lon")
        if code in office:
            r.bad(
                "code",
                tr(f"编号 {code} 是办公用房，不能登记为经营性用房", f"code {code} is an office property"),
            )
        if not r.ok or code is None or seen.duplicate(row, code, values):
            continue
        existing[code], _ = upsert(
            session, result, model=OperatingProperty, obj=existing.get(code), values=values, actor=actor,
            key=code, init={"code": code}, names=names, audit_id=code,
        )  # fmt: skip
    session.flush()
    return result


# ------------------------------------------------------------------------------------------------ leases


def _office_or_unknown(code: str, office: set[str]) -> str:
    if code in office:
        return f"{code}: {rules.office_lease_reason()}"
    return tr(
        f"未登记的经营性用房 {code}", f"unknown operating property {code}: import operating-properties first"
    )


def apply_leases(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Leases (租赁) of operating properties, by (property code, start date)."""
    result = ApplyResult()
    cap = property_service.lease_term_cap_years()
    props = {p.code: p for p in session.exec(select(OperatingProperty)).all()}
    office = set(session.exec(select(OfficeProperty.code)).all())
    seen = Seen(result)
    for row in rows:
        r = RowReader(LEASES, row, result)
        code = r.text("code", required=True)
        tenant = r.text("tenant", required=True)
        rent = r.fen("annual_rent_fen", required=True)
        start, end = r.day("lease_start", required=True), r.day("lease_end", required=True)
        prop = props.get(code) if code else None
        if code and prop is None:
            r.bad("code", _office_or_unknown(code, office))
        if start and end and (problem := rules.check_lease_term(start, end, cap)):
            r.bad("lease_end", problem)
        if not r.ok or prop is None or prop.id is None or start is None or end is None:
            continue
        values: dict[str, Any] = {"tenant": tenant, "annual_rent_fen": rent, "end_on": end}
        if r.has("deposit_fen"):
            values["deposit_fen"] = r.fen("deposit_fen") or 0
        if seen.duplicate(row, (code, start), values):
            continue
        same = property_service.same_lease(start, None)
        for reason in property_service.lease_conflicts(session, prop.id, start, end, same=same):
            r.bad("lease_start", reason)
        if not r.ok:
            continue
        lease = session.exec(
            select(Lease).where(Lease.property_id == prop.id, Lease.start_on == start)
        ).first()
        upsert(
            session, result, model=Lease, obj=lease, values=values, actor=actor, key=f"{code}:{start}",
            init={"property_id": prop.id, "start_on": start}, audit_id=f"{code}:{start}",
        )  # fmt: skip
        session.flush()
    return result


# ---------------------------------------------------------------------------------------------- auctions


@dataclass
class _Round:
    """One file row of an auction, read and checked on its own."""

    r: RowReader
    batch: str
    prop: OperatingProperty
    round_no: int
    values: dict[str, Any]
    held_on: date | None = None  # the batch's auction date (拍卖日期), when the file gives it


@dataclass
class _Stored:
    """The auction register as stored: batches, lots and rounds, indexed for one import."""

    batches: dict[str, AuctionBatch]
    lots: dict[tuple[int, int], AuctionLot]
    rounds: dict[int, dict[int, AuctionRound]] = field(default_factory=lambda: defaultdict(dict))

    @classmethod
    def load(cls, session: Session) -> _Stored:
        stored = cls(
            {b.name: b for b in session.exec(select(AuctionBatch)).all()},
            {(lot.batch_id, lot.property_id): lot for lot in session.exec(select(AuctionLot)).all()},
        )
        for rnd in session.exec(select(AuctionRound)).all():
            stored.rounds[rnd.lot_id][rnd.round_no] = rnd
        return stored

    def lot(self, batch: str, prop: OperatingProperty) -> AuctionLot | None:
        b = self.batches.get(batch)
        return None if b is None else self.lots.get((b.id or 0, prop.id or 0))


def _check_sold(
    r: RowReader,
    outcome: str | None,
    price: int | None,
    tenant: str | None,
    start: date | None,
    end: date | None,
    cap: int,
) -> None:
    if outcome == AuctionResult.sold:
        needed = {
            "price_fen": (not price, tr("成交须填成交价", "a sold lot needs its annual price")),
            "tenant": (tenant is None, tr("成交须填承租人", "a sold lot needs its tenant")),
            "lease_start": (start is None, tr("成交须填租期起", "a sold lot needs its lease start")),
            "lease_end": (end is None, tr("成交须填租期止", "a sold lot needs its lease end")),
        }
        for name, (missing, reason) in needed.items():
            if missing:
                r.bad(name, reason)
        if start and end and (problem := rules.check_lease_term(start, end, cap)):
            r.bad("lease_end", problem)
    elif outcome is not None and price:
        r.bad("price_fen", tr("流拍或撤拍的轮次不应有成交价", "only a sold round has a price"))


def _read_round(
    r: RowReader, props: Mapping[str, OperatingProperty], office: set[str], cap: int
) -> _Round | None:
    batch = r.text("batch", required=True)
    code = r.text("lot", required=True)
    round_no = r.integer("round") or 1  # an empty round cell is the first round
    outcome = r.choice("result", AuctionResult.codes(), required=True)
    reserve, price, increment = r.fen("reserve_fen"), r.fen("price_fen"), r.fen("increment_fen")
    tenant, start, end = r.text("tenant"), r.day("lease_start"), r.day("lease_end")
    held_on = r.day("held_on")
    if increment == 0:
        r.bad("increment_fen", tr("加价幅度须大于 0", "the bidding increment must be more than 0"))
    elif (
        outcome == AuctionResult.sold
        and price
        and (problem := rules.check_auction_price(price, reserve, increment))
    ):
        r.bad("price_fen", problem)
    prop = props.get(code) if code else None
    if code and prop is None:
        r.bad("lot", _office_or_unknown(code, office))
    _check_sold(r, outcome, price, tenant, start, end, cap)
    if not r.ok or batch is None or prop is None:
        return None
    sold = outcome == AuctionResult.sold
    values: dict[str, Any] = {
        "reserve_fen": reserve,
        "increment_fen": increment,
        "result": outcome,
        "price_fen": price if sold else None,
        "tenant": (tenant or "") if sold else "",
        "lease_start_on": start if sold else None,
        "lease_end_on": end if sold else None,
    }
    return _Round(r, batch, prop, round_no, values, held_on)


def _as_result(round_no: int, values: Mapping[str, Any]) -> rules.RoundResult:
    return rules.RoundResult(
        round_no, values["result"], values["price_fen"], values["tenant"],
        values["lease_start_on"], values["lease_end_on"],
    )  # fmt: skip


def _check_lot(session: Session, stored: _Stored, items: list[_Round]) -> None:
    """No round may follow a sold one (the file's rounds over the stored ones), and a sold round's lease
    must not overlap another lease of the shopfront."""
    prop = items[0].prop
    lot = stored.lot(items[0].batch, prop)
    merged = (
        {n_: property_queries.round_result(x) for n_, x in stored.rounds.get(lot.id or 0, {}).items()}
        if lot
        else {}
    )
    merged |= {it.round_no: _as_result(it.round_no, it.values) for it in items}
    late = rules.rounds_after_sale(merged.values())
    if late:
        sold_no = next(k for k, x in sorted(merged.items()) if x.result == AuctionResult.sold)
        in_file = {it.round_no for it in items}
        for it in items:
            if it.round_no in late:
                reason = tr(
                    f"标的已在第 {sold_no} 轮成交，不应再有第 {it.round_no} 轮",
                    f"lot already sold in round {sold_no}: no round {it.round_no}",
                )
                it.r.bad("round", reason)
            elif it.values["result"] == AuctionResult.sold and any(k not in in_file for k in late):
                it.r.bad(
                    "result", tr(f"该标的已登记第 {max(late)} 轮", f"the lot has a later round {max(late)}")
                )
    lot_id = lot.id if lot else None
    for it in items:
        if it.r.ok and it.values["result"] == AuctionResult.sold:
            start, end = it.values["lease_start_on"], it.values["lease_end_on"]
            same = property_service.same_lease(start, lot_id)
            for reason in property_service.lease_conflicts(session, prop.id or 0, start, end, same=same):
                it.r.bad("lease_start", reason)


def _write_round(
    session: Session, result: ApplyResult, stored: _Stored, it: _Round, actor: str
) -> tuple[AuctionLot, bool]:
    """The round's batch and lot (created when new) and the round itself; whether the round changed."""
    batch = stored.batches.get(it.batch)
    if batch is None or (it.held_on is not None and batch.held_on != it.held_on):
        values: dict[str, Any] = {"name": it.batch}
        if it.held_on is not None:
            values["held_on"] = it.held_on
        batch, _ = upsert(
            session, None, model=AuctionBatch, obj=batch, values=values, actor=actor, key=it.batch,
            audit_id=it.batch,
        )  # fmt: skip
        stored.batches[it.batch] = batch
    bid, pid = batch.id or 0, it.prop.id or 0
    lot = stored.lots.get((bid, pid))
    if lot is None:
        key = f"{it.batch}/{it.prop.code}"
        lot, _ = upsert(
            session, None, model=AuctionLot, obj=None, values={"batch_id": bid, "property_id": pid},
            actor=actor, key=key, audit_id=key,
        )  # fmt: skip
        stored.lots[(bid, pid)] = lot
    lot_id = lot.id or 0
    key = f"{it.batch}/{it.prop.code}/{it.round_no}"
    rnd, changes = upsert(
        session, result, model=AuctionRound, obj=stored.rounds.get(lot_id, {}).get(it.round_no),
        values=it.values, actor=actor, key=key, init={"lot_id": lot_id, "round_no": it.round_no},
        audit_id=key,
    )  # fmt: skip
    stored.rounds[lot_id][it.round_no] = rnd
    return lot, changes is None or bool(changes)


def apply_auctions(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult:
    """Lease auctions: batch → lot (one operating property) → round, by (batch, lot, round). A lot whose
    last round is sold gets its lease (created once, updated if the round changes)."""
    result = ApplyResult()
    cap = property_service.lease_term_cap_years()
    props = {p.code: p for p in session.exec(select(OperatingProperty)).all()}
    office = set(session.exec(select(OfficeProperty.code)).all())
    stored = _Stored.load(session)
    seen = Seen(result)
    good: list[_Round] = []
    for row in rows:  # 1. each row on its own
        it = _read_round(RowReader(AUCTIONS, row, result), props, office, cap)
        if it is not None and not seen.duplicate(row, (it.batch, it.prop.code, it.round_no), it.values):
            good.append(it)
    dates: dict[str, date] = {}
    for it in good:  # one auction date per batch
        if it.held_on is None:
            continue
        first = dates.setdefault(it.batch, it.held_on)
        if first != it.held_on:
            it.r.bad("held_on", tr(
                f"批次 {it.batch} 的拍卖日期不一致：{first} 与 {it.held_on}",
                f"batch {it.batch} has two auction dates: {first} and {it.held_on}",
            ))  # fmt: skip
    by_lot: dict[tuple[str, str], list[_Round]] = defaultdict(list)
    for it in good:  # 2. per lot, against its stored rounds
        by_lot[(it.batch, it.prop.code)].append(it)
    for items in by_lot.values():
        _check_lot(session, stored, items)
    touched: dict[int, tuple[AuctionLot, OperatingProperty, str]] = {}
    changed: set[int] = set()  # lots with a round inserted or updated by these rows
    for it in good:  # 3. write, then the lease of every touched lot that ends sold
        if it.r.ok:
            lot, round_changed = _write_round(session, result, stored, it, actor)
            touched[lot.id or 0] = (lot, it.prop, it.batch)
            if round_changed:
                changed.add(lot.id or 0)
    session.flush()
    for lot_id, (lot, prop, batch) in touched.items():
        _settle_lease(session, result, actor, stored, lot, prop, batch, lot_id in changed)
    session.flush()
    return result


def _settle_lease(
    session: Session,
    result: ApplyResult,
    actor: str,
    stored: _Stored,
    lot: AuctionLot,
    prop: OperatingProperty,
    batch: str,
    changed: bool,
) -> None:
    last = rules.lot_outcome(property_queries.round_result(x) for x in stored.rounds[lot.id or 0].values())
    if last is not None and last.result == AuctionResult.sold:
        _lease_from_lot(session, result, actor, lot, prop, batch, last)
    elif changed and session.exec(select(Lease.id).where(Lease.lot_id == lot.id)).first():
        # A lease is a contract: it is never deleted behind the clerk's back, only pointed out.
        result.changes.append(
            tr(
                f"{prop.code}: 标的结果已不是成交，原拍卖租赁仍在，如需请终止",
                f"{prop.code}: the lot is no longer sold but its lease remains; terminate it if it was never "
                "signed",
            )
        )


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
    saved, changes = upsert(
        session, None, model=Lease, obj=lease, values=values, actor=actor, key=key,
        init={"property_id": prop.id}, detail=f"auction {batch} round {outcome.round_no}", audit_id=key,
    )  # fmt: skip
    if changes is None:
        yuan = rules.fen_to_yuan(outcome.price_fen or 0)
        result.changes.append(
            tr(
                f"{prop.code}: 拍卖成交生成租赁 ({batch}) — {outcome.tenant}, "
                f"{outcome.lease_start} 至 {outcome.lease_end}, {yuan} 元/年",
                f"{prop.code}: lease created from auction {batch} — {outcome.tenant}, "
                f"{outcome.lease_start} to {outcome.lease_end}, {yuan} yuan a year",
            )
        )
    elif changes:
        result.changes.append("lease " + change_line(key, changes, None))
    return saved


# ------------------------------------------------------------------------------------------------- specs

_DATE_HINT = "日期, 如 2024-06-01 / 2024年6月1日"
_MONEY_HINT = "金额(元), 最多两位小数"
_YUAN = {"元": 1, "元/年": 1, "人民币元": 1, "万元": 10000, "万元/年": 10000}


def text(name: str, zh: str, *aliases: str, required: bool = False, **kw: Any) -> Column:
    return Column(name, zh, n.text, required, aliases, kw.get("example"), hint=kw.get("hint") or "文字")


def day(name: str, zh: str, *aliases: str, required: bool = False, example: object = None) -> Column:
    return Column(name, zh, n.date_, required, aliases, example, hint=_DATE_HINT)


def money(
    name: str,
    zh: str,
    *aliases: str,
    target: str,
    required: bool = False,
    example: object = None,
    unit: str = "元/年",
) -> Column:
    return Column(name, zh, n.money_fen, required, aliases, example, unit, _YUAN, _MONEY_HINT, target=target)


def enum(name: str, zh: str, parse: n.EnumMap, *aliases: str, required: bool = False) -> Column:
    return Column(name, zh, parse, required, aliases, parse.choices.split("/")[0], hint=f"填 {parse.choices}")


LEASE_START = ("租赁起始日期", "起租日期", "租期开始", "开始日期", "start")
LEASE_END = ("租赁截止日期", "到期日期", "租期结束", "结束日期", "end")

OFFICE = ImportSpec(
    "properties",
    "办公用房登记表",
    (
        text("code", "编号", "房产编号", "资产编号", "用房编号", "code no", required=True, example="BG-001"),
        text(
            "name",
            "名称",
            "房产名称",
            "用房名称",
            "办公用房名称",
            "楼名",
            required=True,
            example="县政府办公楼",
        ),
        text(
            "unit",
            "使用单位",
            "单位",
            "使用单位名称",
            "所属单位",
            "unit name",
            required=True,
            example="县政府办公室",
        ),
        text("address", "地址", "坐落", "坐落位置", "详细地址", "位置", example="城关镇解放路1号"),
        Column(
            "floor_area_m2",
            "建筑面积",
            n.non_negative_decimal,
            False,
            ("面积", "房屋面积", "floor area", "area"),
            "2350.5",
            "㎡",
            hint="平方米",
        ),
        Column("lon", "经度", n.longitude, False, ("lng", "longitude"), 112.7342, hint="WGS-84 度"),
        Column("lat", "纬度", n.latitude, False, ("latitude",), 37.6871, hint="WGS-84 度"),
        day(
            "surveyed_on",
            "测绘完成日期",
            "测绘日期",
            "权属登记测绘日期",
            "权属测绘日期",
            "surveyed",
            example=date(2024, 3, 1),
        ),
        day("safety_appraised_on", "房屋安全鉴定日期", "安全鉴定日期", "鉴定日期", "safety appraised"),
        day("seismic_tested_on", "抗震检测日期", "抗震鉴定日期", "seismic tested"),
        day("fire_accepted_on", "消防验收日期", "消防日期", "fire accepted"),
        day("submitted_on", "提交审批日期", "报批日期", "提交日期", "submitted"),
        text(
            "certificate_no",
            "不动产权证号",
            "不动产权证书号",
            "产权证号",
            "不动产证号",
            "权证号",
            "证号",
            "certificate",
            "certificate number",
        ),
        day("certified_on", "发证日期", "登簿日期", "领证日期", "certified"),
    ),
    key=("code",),
    apply=apply_properties,
)

OPERATING = ImportSpec(
    "operating-properties",
    "经营性用房(门面房)登记表",
    (
        text("code", "编号", "房产编号", "资产编号", "门面编号", "code no", required=True, example="MM-001"),
        text(
            "address",
            "坐落",
            "地址",
            "坐落位置",
            "位置",
            "详细地址",
            required=True,
            example="城关镇解放路12号",
        ),
        text(
            "owner_unit",
            "权属单位",
            "产权单位",
            "所属单位",
            "管理单位",
            "单位",
            "owner",
            example="县机关事务服务中心",
        ),
        Column(
            "area_m2",
            "面积",
            n.non_negative_decimal,
            False,
            ("建筑面积", "房屋面积", "area"),
            "85.3",
            "㎡",
            hint="平方米",
        ),
        enum("status", "现状", operating_status, "状态", "使用现状", "使用状态", required=True),
        day(
            "takeover_due_on",
            "应接管日期",
            "接管期限",
            "接管日期",
            "takeover due",
            example=date(2024, 12, 31),
        ),
        Column("lon", "经度", n.longitude, False, ("lng", "longitude"), 112.7342, hint="WGS-84 度"),
        Column("lat", "纬度", n.latitude, False, ("latitude",), 37.6871, hint="WGS-84 度"),
    ),
    key=("code",),
    apply=apply_operating_properties,
)


def _sold_lot(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    if row.get("result") != "sold":
        return []
    needed = {"price_yuan": ("成交价", "price"), "tenant": ("承租人", "tenant")}
    return [
        (name, tr(f"成交须填{zh}", f"a sold lot needs its {en}"))
        for name, (zh, en) in needed.items()
        if row.get(name) is None
    ]


AUCTIONS = ImportSpec(
    "auctions",
    "门面房租赁拍卖",
    (
        text("batch", "批次", "拍卖批次", "批次号", "batch no", required=True, example="2024-1"),
        day("held_on", "拍卖日期", "拍卖时间", "拍卖会日期", "auction date", example=date(2024, 6, 20)),
        text(
            "lot",
            "标的编号",
            "标的",
            "标的物编号",
            "房产编号",
            "编号",
            "lot no",
            required=True,
            example="MM-001",
            hint="门面房编号",
        ),
        Column(
            "round", "轮次", n.round_no, False, ("拍卖轮次", "第几轮", "round no"), 1, hint="1, 2…; 空则为 1"
        ),
        money(
            "reserve_yuan",
            "起拍价",
            "起拍价格",
            "底价",
            "reserve",
            "reserve price",
            target="reserve_fen",
            example="36000",
        ),
        money(
            "increment_yuan",
            "加价幅度",
            "竞价阶梯",
            "增价幅度",
            "每次加价",
            "bid increment",
            target="increment_fen",
            example="500",
            unit="元",
        ),
        enum("result", "结果", auction_result, "拍卖结果", "成交结果", required=True),
        money("price_yuan", "成交价", "成交价格", "成交租金", "price", target="price_fen", example="42000"),
        text("tenant", "承租人", "竞得人", "买受人", "竞买人", "承租方", example="王五"),
        day("lease_start", "租期起", *LEASE_START, example=date(2024, 7, 1)),
        day("lease_end", "租期止", *LEASE_END, example=date(2027, 6, 30)),
    ),
    key=("batch", "lot", "round"),
    checks=(
        _sold_lot,
        after("lease_start", "lease_end", ("租期止早于租期起", "lease ends before it starts")),
    ),
    apply=apply_auctions,
)

LEASES = ImportSpec(
    "leases",
    "租赁合同",
    (
        text(
            "code",
            "编号",
            "房产编号",
            "门面编号",
            "标的编号",
            "code no",
            required=True,
            example="MM-001",
            hint="门面房编号",
        ),
        text("tenant", "承租人", "承租方", "租户", "乙方", required=True, example="王五"),
        money(
            "annual_rent_yuan",
            "年租金",
            "租金",
            "年租金额",
            "annual rent",
            "rent",
            target="annual_rent_fen",
            required=True,
            example="42000",
        ),
        day("lease_start", "租期起", *LEASE_START, required=True, example=date(2024, 7, 1)),
        day("lease_end", "租期止", *LEASE_END, required=True, example=date(2027, 6, 30)),
        money(
            "deposit_yuan",
            "押金",
            "保证金",
            "履约保证金",
            "deposit",
            target="deposit_fen",
            example="10000",
            unit="元",
        ),
    ),
    key=("code", "lease_start"),
    checks=(after("lease_start", "lease_end", ("租期止早于租期起", "lease ends before it starts")),),
    apply=apply_leases,
)

KINDS = (OFFICE, OPERATING, AUCTIONS, LEASES)

"""Import kinds, declared once: one `ImportSpec` per kind in its domain's `imports.py`, registered
explicitly in `ingest/kinds.py`.

A spec lists the kind's columns — code name, Chinese header and the other headers clerks and platforms
use, how a cell is read (a parser of `core.normalize`, whose enum maps carry the allowed values and their
Chinese synonyms), whether it is required, its example and hint — its natural key, its row-level checks and
its applier. From that one declaration come the XLSX template (`gongwu template KIND`), the header
matching and cell parsing of the reader (ingest/readers.py), the row messages (a column's Chinese header
names it) and the audited upsert.

An applier gets the rows whose cells parsed (`Row`: line and values by column target) and writes them:

    def apply(session: Session, rows: Sequence[Row], actor: str) -> ApplyResult

It checks what needs the database (unknown references, conflicting duplicates, a certificate without its
prerequisites…) with a `RowReader` per row, and writes with `upsert`, which audits every insert and every
change and counts inserted / updated / unchanged. It never commits: the import pipeline runs it in a
savepoint and keeps or rolls back the whole (all-or-nothing by default; `--skip-bad` drops the bad lines
and applies the rest again).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cached_property
from typing import Any, TypeVar

from sqlmodel import Session, SQLModel, col, select

from core import audit
from core import normalize as n
from core.i18n import tr
from core.timeutil import to_china, utcnow

Parse = Callable[[object], Any]
# A row rule that needs several fields (return before start…): parsed values → [(field, reason)].
Check = Callable[[Mapping[str, Any]], list[tuple[str, str]]]
T = TypeVar("T", bound=SQLModel)


# ------------------------------------------------------------------------------------------- the spec


@dataclass(frozen=True)
class Column:
    name: str  # the English header and the key of a parsed row
    zh: str  # the Chinese header of the template
    parse: Parse
    required: bool = False
    aliases: tuple[str, ...] = ()  # other headers clerks and platforms use, most specific first
    example: object = None
    unit: str = ""  # shown in brackets in the template header
    # A unit written in brackets in a file's header → factor applied to the parsed value, e.g. 里程(m).
    scales: Mapping[str, int | float] = field(default_factory=dict)
    hint: str = ""
    target: str = ""  # the key the applier reads the value by, when not `name` (年租金 → annual_rent_fen)

    @property
    def header(self) -> str:
        return f"{self.zh}({self.unit})" if self.unit else self.zh

    @property
    def key(self) -> str:
        return self.target or self.name


@dataclass(frozen=True)
class ImportSpec:
    kind: str
    title: str  # 车辆登记表
    columns: tuple[Column, ...]
    key: tuple[str, ...]  # the natural key an import updates by
    apply: Applier | None  # None: the positions' bulk path (fleet.positions)
    checks: tuple[Check, ...] = ()
    # At least one of these columns must be in a file besides the required ones (an expense sheet
    # without a single amount column says nothing).
    one_of: tuple[str, ...] = ()

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name or c.target == name:
                return c
        raise KeyError(name)

    def label(self, name: str) -> str:
        """A column's Chinese header, by its name or target: how a row message names it."""
        try:
            return self.column(name).zh
        except KeyError:
            return name

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def required(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.required)

    @property
    def renames(self) -> dict[str, str]:
        """Column name → the applier's key, where they differ."""
        return {c.name: c.target for c in self.columns if c.target and c.target != c.name}

    @cached_property
    def _keys(self) -> dict[str, tuple[Column, int]]:
        """Header key → (column, rank): 0 for the template's own headers, i for the i-th alias. Two
        columns never share a key (a test holds every spec to it)."""
        keys: dict[str, tuple[Column, int]] = {}
        for c in self.columns:
            for rank, h in reversed(list(enumerate((c.zh, *c.aliases)))):
                keys[header_key(h)[0]] = (c, rank)
            keys[header_key(c.name)[0]] = (c, 0)
        return keys

    def match(self, header: object) -> HeaderMatch | None:
        """The column a file's header names, or None. Tolerates a unit in (full-width) brackets, a
        required-mark `*`, surrounding spaces and case."""
        key, unit = header_key(header)
        found = self._keys.get(key) if key else None
        if found is None:
            return None
        c, rank = found
        return HeaderMatch(c, rank, c.scales.get(_unit_key(unit), 1) if unit else 1)

    def fields_in(self, headers: Sequence[object]) -> set[str]:
        """The columns these headers give."""
        return {m.column.name for h in headers if (m := self.match(h))}


@dataclass(frozen=True)
class HeaderMatch:
    column: Column
    rank: int  # 0 for the template's own header, higher for a later alias; the lowest wins a tie
    scale: int | float = 1


_BRACKETS = re.compile(r"[(\[【〔<《][^)\]】〕>》]*[)\]】〕>》]")
_MARKS = re.compile(r"^[*※#\s]+|[*※:\s]+$")


def header_key(header: object) -> tuple[str, str]:
    """A header → (comparison key, unit written in brackets). `速度（km/h）` → ('速度', 'km/h')."""
    s = n.clean(header)
    if not s:
        return "", ""
    units = [m.group(0)[1:-1].strip() for m in _BRACKETS.finditer(s)]
    s = _BRACKETS.sub("", s)
    s = _MARKS.sub("", s)
    key = re.sub(r"[\s_\-./]+", "", s.casefold())
    unit = next((u for u in units if u and u not in ("必填", "选填", "可选", "required", "optional")), "")
    return key, unit


def _unit_key(unit: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", unit).casefold())


def after(start: str, end: str, reason: tuple[str, str]) -> Check:
    """A row check: `end` is not before `start` (when both are given); `reason` in Chinese and English,
    said in the language of the moment the row is checked."""

    def check(row: Mapping[str, Any]) -> list[tuple[str, str]]:
        a, b = row.get(start), row.get(end)
        return [(end, tr(*reason))] if a is not None and b is not None and b < a else []

    return check


# ------------------------------------------------------------------------------------------ applying


@dataclass(frozen=True)
class Row:
    line: int  # physical line (CSV) or row number (XLSX) in the file
    values: dict[str, Any]  # column target → normalised value (None when the cell is empty)


@dataclass(frozen=True)
class RowIssue:
    line: int
    field: str  # column target; "" when the row as a whole is at fault
    reason: str


@dataclass
class ApplyResult:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    issues: list[RowIssue] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)  # "晋M·A1234: status 在用 → 闲置", for the summary
    dropped: dict[str, int] = field(default_factory=dict)  # positions: implausible fixes by reason

    def issue(self, row: Row, field_name: str, reason: str) -> None:
        self.issues.append(RowIssue(row.line, field_name, reason))


Applier = Callable[[Session, Sequence[Row], str], ApplyResult]


def diff(obj: Any, values: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Fields whose value would change, as {field: (before, after)}."""
    return {k: (getattr(obj, k), v) for k, v in values.items() if getattr(obj, k) != v}


def plain(value: Any) -> Any:
    """A value as the audit log's JSON keeps it (times in China time)."""
    if isinstance(value, datetime):
        return to_china(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def _show(value: Any) -> str:
    return "—" if value is None or value == "" else str(plain(value))


def change_line(key: str, changes: Mapping[str, tuple[Any, Any]], names: Mapping[int, str] | None) -> str:
    """`BG-051: unit 县财政局 → 县机关事务服务中心; fire_accepted_on — → 2024-08-01`: a reference id is shown
    by the name `names` gives it."""
    parts = []
    for name, (before, after_) in changes.items():
        if name.endswith("_id") and names:
            before, after_ = names.get(before, before), names.get(after_, after_)
            name = name.removesuffix("_id")
        parts.append(f"{name} {_show(before)} → {_show(after_)}")
    return f"{key}: " + "; ".join(parts)


def audit_object(model: type[SQLModel]) -> str:
    """The object of an audit action (actions are `<object>.<verb>`): the model's `__audit_object__`, else
    its table name without the domain prefix (fleet_vehicle → vehicle, property_lease → lease)."""
    named = getattr(model, "__audit_object__", None)
    if isinstance(named, str):
        return named
    table = str(model.__tablename__)  # type: ignore[attr-defined]
    return table.split("_", 1)[1] if "_" in table else table


def upsert(
    session: Session,
    result: ApplyResult | None,
    *,
    model: type[T] | None = None,
    obj: T | None,
    values: Mapping[str, Any],
    actor: str,
    key: str,
    init: Mapping[str, Any] | None = None,
    names: Mapping[int, str] | None = None,
    detail: str = "import",
    audit_id: str | None = None,
    verb: str = "update",
) -> tuple[T, dict[str, tuple[Any, Any]] | None]:
    """Insert `model(**init, **values)`, or update `obj` with what differs in `values`; audit either as
    `<object>.create` / `<object>.<verb>` (update, cancel…; entity: the table; id: `audit_id`, else the
    row's id) and count it in `result`. Returns the row and its changes (None when inserted, {} when
    unchanged)."""
    if model is None:
        assert obj is not None, "an insert names its model"
        model = type(obj)
    action, entity = audit_object(model), str(model.__tablename__)  # type: ignore[attr-defined]
    if obj is None:
        created = model(**(init or {}), **values)
        session.add(created)
        session.flush()
        audit.record(
            session, actor=actor, action=f"{action}.create", entity=entity,
            entity_id=audit_id or getattr(created, "id", key),
            after={k: plain(v) for k, v in {**(init or {}), **values}.items()}, detail=f"{detail} {key}",
        )  # fmt: skip
        if result is not None:
            result.inserted += 1
        return created, None
    changes = diff(obj, values)
    if not changes:
        if result is not None:
            result.unchanged += 1
        return obj, {}
    for name, (_, new) in changes.items():
        setattr(obj, name, new)
    if hasattr(obj, "updated_at"):
        obj.updated_at = utcnow()  # type: ignore[attr-defined]
    session.add(obj)
    audit.record(
        session, actor=actor, action=f"{action}.{verb}", entity=entity,
        entity_id=audit_id or getattr(obj, "id", key),
        before={k: plain(b) for k, (b, _) in changes.items()},
        after={k: plain(a) for k, (_, a) in changes.items()},
        detail=f"{detail} {key}",
    )  # fmt: skip
    if result is not None:
        result.updated += 1
        result.changes.append(change_line(key, changes, names))
    return obj, changes


def by_column(session: Session, model: type[T], column: Any, keys: Sequence[Any], chunk: int = 500) -> dict:
    """Rows of `model` whose `column` is one of `keys`, by that column (chunked IN: an import names a few
    hundred of the thousands stored)."""
    found: dict[Any, T] = {}
    wanted = sorted({k for k in keys if k is not None})
    for i in range(0, len(wanted), chunk):
        for obj in session.exec(select(model).where(col(column).in_(wanted[i : i + chunk]))).all():
            found[getattr(obj, column.key)] = obj
    return found


class Seen:
    """The same key twice in one import: identical content is taken once (counted unchanged), other
    content is an issue of the later line."""

    def __init__(self, result: ApplyResult, key_field: str = "") -> None:
        self.result, self.key_field = result, key_field
        self.first: dict[Any, tuple[int, Any]] = {}

    def duplicate(self, row: Row, key: Any, content: Any = None) -> bool:
        content = row.values if content is None else content
        if key not in self.first:
            self.first[key] = (row.line, content)
            return False
        line, earlier = self.first[key]
        if earlier != content:
            self.result.issue(
                row,
                self.key_field,
                tr(f"与第 {line} 行重复但内容不同", f"same key as line {line} with other values"),
            )
        else:
            self.result.unchanged += 1
        return True


def keyed_rows(
    spec: ImportSpec, rows: Sequence[Row], result: ApplyResult, key: str, model: type[SQLModel]
) -> Iterator[tuple[RowReader, str]]:
    """Each row with its natural key (one text column): a row without it, with one too long for `model`'s
    column or repeating an earlier row is an issue or counted unchanged (`Seen`), and skipped."""
    seen = Seen(result, key)
    for row in rows:
        r = RowReader(spec, row, result)
        value = r.text(key, required=True)
        if value is None or not r.fits(model, {key: value}) or seen.duplicate(row, value):
            continue
        yield r, value


class RowReader:
    """One row's values as the applier takes them, with the checks that need no database; every problem
    becomes a RowIssue of the row naming the column (by its Chinese header, from the spec)."""

    def __init__(self, spec: ImportSpec, row: Row, result: ApplyResult) -> None:
        self.spec, self.row, self.result, self.ok = spec, row, result, True

    def bad(self, name: str, reason: str) -> None:
        self.result.issue(self.row, name, reason)
        self.ok = False

    def has(self, name: str) -> bool:
        return name in self.row.values

    def missing(self, name: str) -> None:
        label = self.spec.label(name)
        self.bad(name, tr(f"缺少{label}", f"{name} missing"))

    def point(self, lat: str, lon: str) -> dict[str, float | None]:
        """A location from its two columns, both filled or both blank; {} when the file has neither."""
        if not (self.has(lat) or self.has(lon)):
            return {}
        values = {lat: self.row.values.get(lat), lon: self.row.values.get(lon)}
        if (values[lat] is None) != (values[lon] is None):
            blank = lat if values[lat] is None else lon
            a, b = self.spec.label(lat), self.spec.label(lon)
            self.bad(
                blank, tr(f"{a}和{b}须同时填写", f"{lat} and {lon} go together: fill in both or neither")
            )
            return {}
        return values

    def text(self, name: str, *, required: bool = False, limit: int | None = None) -> str | None:
        value = self.row.values.get(name)
        text = None if value is None else str(value).strip() or None
        if text is None:
            if required:
                self.missing(name)
            return None
        if limit is not None and len(text) > limit:
            self.bad(name, tr(f"超过 {limit} 字", f"longer than {limit} characters"))
            return None
        return text

    def day(self, name: str, *, required: bool = False) -> date | None:
        value = self.row.values.get(name)
        if isinstance(value, datetime):
            value = value.date()
        elif isinstance(value, str):
            try:
                value = date.fromisoformat(value.strip()) if value.strip() else None
            except ValueError:
                self.bad(name, tr(f"无法识别的日期 {value!r}", f"unreadable date {value!r}"))
                return None
        if value is None:
            if required:
                self.missing(name)
            return None
        if not isinstance(value, date):
            self.bad(name, tr(f"无法识别的日期 {value!r}", f"unreadable date {value!r}"))
            return None
        return value

    def when(self, name: str, *, required: bool = False) -> datetime | None:
        """An aware datetime (the reader makes a zone-less time China time)."""
        value = self.row.values.get(name)
        if value is None:
            if required:
                self.missing(name)
            return None
        if not isinstance(value, datetime) or value.tzinfo is None:
            self.bad(name, tr("须为带时区的时间", "must be an aware datetime"))
            return None
        return value

    def fen(self, name: str, *, required: bool = False) -> int | None:
        value = self.row.values.get(name)
        if value is None:
            if required:
                self.missing(name)
            return None
        if isinstance(value, Decimal) and value == value.to_integral_value():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            self.bad(name, tr(f"金额须为整数分，不是 {value!r}", f"amount must be integer fen: {value!r}"))
            return None
        if value < 0:
            self.bad(name, tr(f"金额不能为负：{value}", f"amount cannot be negative: {value}"))
            return None
        return value

    def area(self, name: str) -> Decimal | None:
        value = self.row.values.get(name)
        if value is None or value == "":
            return None
        try:
            area = Decimal(repr(value)) if isinstance(value, float) else Decimal(str(value))
        except InvalidOperation:
            self.bad(name, tr(f"无法识别的面积 {value!r}", f"unreadable area {value!r}"))
            return None
        if area < 0:
            self.bad(name, tr(f"面积不能为负：{area}", f"area cannot be negative: {area}"))
            return None
        return area.quantize(Decimal("0.01"), ROUND_HALF_UP)

    def integer(self, name: str) -> int | None:
        value = self.row.values.get(name)
        if value is None:
            return None
        try:
            number = int(value)
        except (TypeError, ValueError):
            self.bad(name, tr(f"须为整数，不是 {value!r}", f"must be a whole number, got {value!r}"))
            return None
        if number < 1:
            self.bad(name, tr(f"须大于 0，不是 {number}", f"must be 1 or more, got {number}"))
            return None
        return number

    def choice(self, name: str, allowed: Sequence[str], *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        if value is not None and value not in allowed:
            label = self.spec.label(name)
            shown = ", ".join(allowed)
            self.bad(name, tr(f"无法识别的{label} {value!r}（可选：{shown}）", f"{value!r}: one of {shown}"))
            return None
        return value

    def fits(self, model: type[SQLModel], values: Mapping[str, Any]) -> bool:
        """Text no longer than its column of `model` (a row issue, not a database error)."""
        columns = model.__table__.columns  # type: ignore[attr-defined]
        for name, value in values.items():
            length = getattr(getattr(columns.get(name), "type", None), "length", None)
            if isinstance(value, str) and length and len(value) > length:
                self.bad(name, tr(f"超过 {length} 字", f"longer than {length} characters"))
        return self.ok

    def reference(
        self, name: str, known: Mapping[Any, T], unknown: str, *, required: bool = True
    ) -> T | None:
        """A reference (unit, plate…) looked up among the known ones by the cell's text; missing (when
        required) or unknown is an issue of the row (`unknown` is said, with {key} the value)."""
        key = self.text(name, required=required)
        if key is None:
            return None
        found = known.get(key)
        if found is None:
            self.bad(name, unknown.format(key=key))
        return found

"""Writing to the append-only audit log, and the hash chain that makes it tamper-evident.

Rows are written without their place in the chain; when a transaction commits, `seal` (a `before_commit`
hook on every Session) numbers its rows after the last sealed one and hashes each over the previous hash
and its own content. Sealing at commit, not at insert, keeps the chain's lock (PostgreSQL: an advisory
transaction lock) to the moment of the commit, so a long import or night does not hold every other writer
up; rows committed outside a Session are sealed by the next commit that seals. Triggers (migration 0003)
let a row be sealed once and never changed, deleted or replaced afterwards."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, event, select, text, update
from sqlmodel import Session

from core.i18n import tr
from core.models import AuditLog

GENESIS = "0" * 64  # the previous hash of the first row
_LOCK_KEY = 7_305_118_402  # pg_advisory_xact_lock key of the chain (any constant of our own)
_T = AuditLog.__table__  # type: ignore[attr-defined]
CONTENT = ("id", "at", "actor", "action", "entity", "entity_id", "before", "after", "detail")


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    entity: str,
    entity_id: Any = "",
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    detail: str = "",
) -> AuditLog:
    row = AuditLog(
        actor=actor,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        before=before,
        after=after,
        detail=detail[:2000],
    )
    session.add(row)
    return row


# --- the chain (pure) -----------------------------------------------------------------------------------


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="microseconds")


def row_hash(prev_hash: str, seq: int, row: Any) -> str:
    """SHA-256 over the previous row's hash, this row's number and its content, in a canonical form (keys
    sorted, UTC times to the microsecond) that both databases give back identically."""
    content = {name: getattr(row, name) for name in CONTENT}
    content["at"] = _iso(content["at"])
    content["seq"] = seq
    blob = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{prev_hash}\n{blob}".encode()).hexdigest()


@dataclass(frozen=True)
class Break:
    """The first row where the chain does not hold, and why."""

    id: int
    seq: int | None
    reason: str


def check_chain(rows: Iterable[Any]) -> tuple[int, str, Break | None]:
    """Rows in `seq` order → (rows checked, the last good hash, the first break or None)."""
    prev, expected, n = GENESIS, 1, 0
    for row in rows:
        if row.seq != expected:
            return (
                n,
                prev,
                Break(row.id, row.seq, f"row number {row.seq} where {expected} was due (a row removed?)"),
            )
        if row.prev_hash != prev:
            why = tr(
                "没有指向前一行（行被调换？）", "it does not point at the row before it (rows reordered?)"
            )
            return n, prev, Break(row.id, row.seq, why)
        if row.hash != row_hash(prev, row.seq, row):
            return (
                n,
                prev,
                Break(row.id, row.seq, "its content does not match its hash (the row was changed)"),
            )
        prev, expected, n = row.hash, expected + 1, n + 1
    return n, prev, None


# --- sealing -------------------------------------------------------------------------------------------


def seal(conn: Connection) -> int:
    """Chain every unsealed row after the last sealed one, in id order; the number sealed."""
    if conn.execute(select(_T.c.id).where(_T.c.seq.is_(None)).limit(1)).first() is None:
        return 0
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK_KEY})  # held until commit
    last = conn.execute(
        select(_T.c.seq, _T.c.hash).where(_T.c.seq.is_not(None)).order_by(_T.c.seq.desc()).limit(1)
    ).first()
    seq, prev = (last.seq, last.hash) if last else (0, GENESIS)
    pending = conn.execute(
        select(*[_T.c[n] for n in CONTENT]).where(_T.c.seq.is_(None)).order_by(_T.c.id)
    ).all()
    sealed: list[dict[str, Any]] = []
    for row in pending:
        seq += 1
        digest = row_hash(prev, seq, row)
        sealed.append({"b_id": row.id, "seq": seq, "prev_hash": prev, "hash": digest})
        prev = digest
    stmt = (
        update(_T)
        .where(_T.c.id == bindparam("b_id"))
        .values(seq=bindparam("seq"), prev_hash=bindparam("prev_hash"), hash=bindparam("hash"))
    )
    for at in range(0, len(sealed), 5000):
        conn.execute(stmt, sealed[at : at + 5000])
    return len(sealed)


def chain_rows(conn: Connection, *, batch: int = 5000) -> Iterator[Any]:
    """The sealed rows in `seq` order, read in batches (a county's log has millions)."""
    cols = [*[_T.c[n] for n in CONTENT], _T.c.seq, _T.c.prev_hash, _T.c.hash]
    after = 0
    while True:
        rows = conn.execute(select(*cols).where(_T.c.seq > after).order_by(_T.c.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].seq


def unsealed(conn: Connection) -> int:
    from sqlalchemy import func

    return int(conn.execute(select(func.count()).select_from(_T).where(_T.c.seq.is_(None))).scalar_one())


@event.listens_for(Session, "before_commit")
def _seal_on_commit(session: Session) -> None:
    session.flush()  # rows added but not flushed yet are part of this commit
    seal(session.connection())

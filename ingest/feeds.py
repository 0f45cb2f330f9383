"""Feed bookkeeping on top of the one position-ingest path (`fleet.positions.ingest_fixes`): per source and
device the last fix, the last contact and the counts accepted / rejected by reason; the status report and
the daily stale-device check; and the batching writer the push listeners (OsmAnd, JT/T 808) share.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, or_
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from core.db import is_postgres, unit_of_work
from core.logs import log
from core.timeutil import from_ts, utcnow
from fleet.models import Vehicle
from fleet.positions import FixBatch, IngestResult, ingest_fixes, known_devices
from ingest.models import FeedDevice

logger = logging.getLogger(__name__)

PUSH_SOURCES = ("osmand", "jt808")


def match_tracker(raw_id: str, vehicles: Mapping[str, Vehicle]) -> str | None:
    """Our tracker id for a device id as a platform or a terminal spells it: exact, or equal but for
    leading zeros (JT/T 808 pads a phone number to 12 or 20 BCD digits)."""
    if raw_id in vehicles:
        return raw_id
    bare = raw_id.lstrip("0")
    if not bare:
        return None
    for tracker in vehicles:
        if tracker.lstrip("0") == bare:
            return tracker
    return None


# ---- bookkeeping ------------------------------------------------------------------------------------


def store_fixes(
    session: Session,
    batch: FixBatch,
    source: str,
    now: datetime | None = None,
    *,
    vehicles: dict[str, Vehicle] | None = None,
    contacts: Mapping[str, datetime] | None = None,
    rejects: Mapping[str, Mapping[str, int]] | None = None,
    touch: bool = True,
) -> IngestResult:
    """Store `batch` through `ingest_fixes` and keep the feed counts, in the caller's transaction.

    `contacts` are devices that spoke without a fix (heartbeats) or, for a pull source, when the device
    last reached its platform; with `touch` every device in the batch counts as heard `now`. `rejects`
    are fixes refused before the ingest path (e.g. JT/T 808 locations before authentication). A push
    source's duplicates count as rejected `duplicate` (the terminal resent); a pull's do not, because a
    pull re-reads an overlap on purpose.
    """
    now = now or utcnow()
    result = (
        ingest_fixes(session, batch, source, vehicles=vehicles, now=now) if len(batch) else IngestResult()
    )
    rows: dict[str, dict[str, Any]] = {}

    def row(device: str) -> dict[str, Any]:
        if device not in rows:
            rows[device] = {
                "accepted": 0,
                "rejected": Counter(),
                "last_fix_at": None,
                "last_contact_at": None,
            }
        return rows[device]

    for device, counts in result.devices.items():
        r = row(device)
        r["accepted"] += counts.inserted
        r["rejected"].update(counts.dropped)
        if counts.duplicates and source in PUSH_SOURCES:
            r["rejected"]["duplicate"] += counts.duplicates
        if counts.last_fix_ts is not None:
            r["last_fix_at"] = from_ts(counts.last_fix_ts)
        if touch:
            r["last_contact_at"] = now
    for device, reasons in (rejects or {}).items():
        r = row(device)
        r["rejected"].update({k: v for k, v in reasons.items() if v})
        r["last_contact_at"] = now
    for device, when in (contacts or {}).items():
        r = row(device)
        r["last_contact_at"] = max(r["last_contact_at"] or when, when)
    if rows:
        _bump(session, source, rows)
    return result


def _bump(session: Session, source: str, rows: dict[str, dict[str, Any]]) -> None:
    """One upsert row per device: counters add, times only move forward, rejected reasons merge."""
    table = FeedDevice.__table__  # type: ignore[attr-defined]
    pg = is_postgres(session)
    with_rejects = sorted(d for d, r in rows.items() if r["rejected"])
    if with_rejects:
        # JSON has no "add per key" in SQL: read, merge, write back — row-locked on PostgreSQL.
        stmt = select(FeedDevice.device_id, FeedDevice.rejected).where(
            FeedDevice.source == source, col(FeedDevice.device_id).in_(with_rejects)
        )
        if pg:
            stmt = stmt.with_for_update()
        for device, old in session.exec(stmt).all():
            rows[device]["rejected"].update(old or {})

    if pg:
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    ins = insert(table)
    ex = ins.excluded

    def later(column: str) -> Any:
        mine, theirs = table.c[column], ex[column]
        return case((or_(mine.is_(None), mine < theirs), theirs), else_=mine)

    set_ = {
        "accepted": table.c.accepted + ex.accepted,
        "last_fix_at": later("last_fix_at"),
        "last_contact_at": later("last_contact_at"),
    }
    plain = ins.on_conflict_do_update(index_elements=["source", "device_id"], set_=set_)
    merged = ins.on_conflict_do_update(
        index_elements=["source", "device_id"], set_={**set_, "rejected": ex.rejected}
    )
    params: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for device in sorted(rows):  # a fixed order, so concurrent writers lock rows alike
        r = rows[device]
        params[bool(r["rejected"])].append(
            {
                "source": source,
                "device_id": device,
                "accepted": r["accepted"],
                "rejected": dict(r["rejected"]),
                "last_fix_at": r["last_fix_at"],
                "last_contact_at": r["last_contact_at"],
                "watermark_at": None,
            }
        )
    session.flush()  # the ingest path's pending rows go first
    if params[False]:
        session.execute(plain, params[False])
    if params[True]:
        session.execute(merged, params[True])


def touch_contacts(
    session: Session, source: str, devices: Iterable[str], now: datetime | None = None
) -> None:
    """Devices that spoke without a fix (heartbeats, registration, authentication)."""
    now = now or utcnow()
    store_fixes(session, FixBatch.empty(), source, now, contacts={d: now for d in devices})


# ---- reports ----------------------------------------------------------------------------------------


# ---- the push listeners' batching writer -----------------------------------------------------------


@dataclass
class _Item:
    source: str
    records: list[dict[str, Any]]
    contacts: dict[str, datetime]
    rejects: dict[str, dict[str, int]]
    future: Future[None] | asyncio.Future[None]
    loop: asyncio.AbstractEventLoop | None = None  # the loop of an asyncio future


def _settle(futures: list[asyncio.Future[None]], exc: BaseException | None) -> None:
    for f in futures:
        if f.done():  # cancelled: its connection went away
            continue
        if exc is None:
            f.set_result(None)
        else:
            f.set_exception(exc)


_STOP = object()


def _current_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class BatchWriter:
    """Gathers what the push listeners receive and writes it in one transaction per batch, on its own
    thread (never on the event loop). Group commit: while one batch commits, the next one gathers, so a
    busy feed makes bigger batches instead of a longer queue. An item's future resolves only after its
    batch committed — a listener acknowledges a fix only then, so nothing acknowledged is lost. A batch
    that fails is retried item by item, so one bad item fails alone.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_batch: int = 5000,
        max_wait_ms: float = 2.0,
        vehicles_ttl_s: float = 60.0,
    ) -> None:
        self.engine = engine
        self.max_batch = max_batch
        self.max_wait_s = max_wait_ms / 1000
        self.vehicles_ttl_s = vehicles_ttl_s
        self._q: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._vehicles: dict[str, Vehicle] = {}
        self._bare: dict[str, str] = {}
        self._loaded_at = 0.0
        self._lock = threading.Lock()
        self.stats: Counter[str] = Counter()
        self.log_every_s = 60.0
        self._logged_at = time.monotonic()

    # -- devices -------------------------------------------------------------------------------------

    def vehicles(self, *, refresh: bool = False, min_age_s: float = 0.0) -> dict[str, Vehicle]:
        """Tracker id → vehicle, cached; reloaded when older than the TTL or on request (at most once per
        `min_age_s`, so a client hammering with an unknown id cannot hammer the database)."""

        def due() -> bool:
            age = time.monotonic() - self._loaded_at
            return age > self.vehicles_ttl_s or (refresh and age > min_age_s)

        if due():
            with self._lock:
                if due():  # not if another thread reloaded while this one waited for the lock
                    with unit_of_work(self.engine) as s:
                        vehicles = known_devices(s)
                    self._bare = {t.lstrip("0"): t for t in vehicles}
                    self._vehicles = vehicles
                    self._loaded_at = time.monotonic()
        return self._vehicles

    def lookup(self, raw_id: str) -> str | None:
        """The tracker id for a device id as sent, from the cache only (safe on the event loop); None
        when the cache does not know it — then ask `resolve` off the loop. An old cache still answers:
        the writer reloads it when its batch finds it old, and drops the fixes of a tracker that is no
        longer a vehicle's (were every listener to reload it, thousands of requests would at once)."""
        if raw_id in self._vehicles:
            return raw_id
        return self._bare.get(raw_id.lstrip("0")) if raw_id.lstrip("0") else None

    def resolve(self, raw_id: str, *, min_age_s: float = 1.0) -> str | None:
        """`lookup`, reloading the vehicles first if the cache may be out of date (blocking)."""
        found = self.lookup(raw_id)
        if found is None:
            self.vehicles(refresh=True, min_age_s=min_age_s)
            found = self.lookup(raw_id)
        return found

    # -- life cycle ----------------------------------------------------------------------------------

    def start(self) -> BatchWriter:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="gongwu-feed-writer", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Write what is queued, then stop."""
        if self._thread is not None:
            self._q.put(_STOP)
            self._thread.join(timeout)
            self._thread = None

    def submit(
        self,
        source: str,
        records: list[dict[str, Any]],
        *,
        contacts: dict[str, datetime] | None = None,
        rejects: dict[str, dict[str, int]] | None = None,
    ) -> Future[None]:
        """Queue fixes (and contacts, rejects) for the next batch; the future resolves once committed."""
        future: Future[None] = Future()
        self._put(_Item(source, records, contacts or {}, rejects or {}, future))
        return future

    def committed(
        self,
        source: str,
        records: list[dict[str, Any]],
        *,
        contacts: dict[str, datetime] | None = None,
        rejects: dict[str, dict[str, int]] | None = None,
    ) -> asyncio.Future[None]:
        """`submit` from an event loop: a future of that loop. The writer wakes the loop once per batch for
        all of them, not once per item (at thousands of messages a second that was a tenth of the loop)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._put(_Item(source, records, contacts or {}, rejects or {}, future, loop))
        return future

    def _put(self, item: _Item) -> None:
        if self._thread is None:
            self._resolve([item], RuntimeError("the feed writer is not running"))
        else:
            self._q.put(item)

    @staticmethod
    def _resolve(items: list[_Item], exc: BaseException | None = None) -> None:
        on_loops: dict[asyncio.AbstractEventLoop, list[asyncio.Future[None]]] = {}
        for item in items:
            if item.loop is not None:
                on_loops.setdefault(item.loop, []).append(item.future)  # type: ignore[arg-type]
            elif exc is None:
                item.future.set_result(None)
            else:
                item.future.set_exception(exc)
        for loop, futures in on_loops.items():
            if _current_loop() is loop:  # not running: refused on the loop itself
                _settle(futures, exc)
            else:
                with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                    loop.call_soon_threadsafe(_settle, futures, exc)

    @property
    def backlog(self) -> int:
        return self._q.qsize()

    # -- the thread ----------------------------------------------------------------------------------

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._q.get()
            if first is _STOP:
                break
            items: list[_Item] = [first]
            n = len(first.records)
            deadline = time.monotonic() + self.max_wait_s
            while n < self.max_batch:
                try:
                    wait = deadline - time.monotonic()
                    nxt = self._q.get(timeout=wait) if wait > 0 else self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stopping = True
                    break
                items.append(nxt)
                n += len(nxt.records)
            self._write(items)
            if time.monotonic() - self._logged_at >= self.log_every_s:
                self._logged_at = time.monotonic()
                log(logger, "feed writer", backlog=self.backlog, **dict(self.stats))

    def _write(self, items: list[_Item]) -> None:
        try:
            self._commit(items)
        except Exception as exc:
            if len(items) == 1:
                self.stats["failed_items"] += 1
                logger.warning("feed write failed", exc_info=True, extra={"kv": {"source": items[0].source}})
                self._resolve(items, exc)
                return
            for item in items:
                self._write([item])
            return
        self._resolve(items)

    def _commit(self, items: list[_Item]) -> None:
        t0 = time.perf_counter()
        vehicles = self.vehicles()
        if any(r["device_id"] not in vehicles for it in items for r in it.records):
            vehicles = self.vehicles(refresh=True, min_age_s=5.0)
        by_source: dict[str, list[_Item]] = {}
        for it in items:
            by_source.setdefault(it.source, []).append(it)
        now = utcnow()
        inserted = 0
        with unit_of_work(self.engine) as session:
            for source, group in by_source.items():
                records = [r for it in group for r in it.records]
                contacts: dict[str, datetime] = {}
                rejects: dict[str, Counter[str]] = {}
                for it in group:
                    contacts.update(it.contacts)
                    for dev, reasons in it.rejects.items():
                        rejects.setdefault(dev, Counter()).update(reasons)
                result = store_fixes(
                    session,
                    FixBatch.from_records(records),
                    source,
                    now,
                    vehicles=vehicles,
                    contacts=contacts,
                    rejects=rejects,
                )
                inserted += result.inserted
                self.stats[f"{source}_received"] += len(records)
                self.stats[f"{source}_inserted"] += result.inserted
        self.stats["batches"] += 1
        self.stats["last_batch_ms"] = round((time.perf_counter() - t0) * 1000)
        self.stats["last_batch_items"] = len(items)

"""One run at a time across processes: a PostgreSQL advisory lock, or a lock row on SQLite.

The lock lives outside the run's own transaction (its own connection), so a run that fails and rolls
back still releases it. A killed process cannot release anything, so a lock is taken over when its holder
is gone: PostgreSQL frees a session's advisory lock when its connection dies; the SQLite lock row names
its holder (host and pid) and is renewed by a heartbeat while the run works, so a row whose process is
gone (same host) or whose heartbeat stopped (GONGWU_LOCK_STALE_MINUTES) is taken over. Only the holder
releases its row."""

from __future__ import annotations

import logging
import os
import socket
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import delete, text, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import col

from core.db import unit_of_work
from core.logs import log
from core.settings import get_settings
from core.timeutil import utcnow
from scheduler.models import RunLock

logger = logging.getLogger(__name__)


class Busy(Exception):
    def __init__(self, holder: str) -> None:
        super().__init__(f"another run holds the lock: {holder}")
        self.holder = holder


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def holder_gone(holder: str) -> bool:
    """True when `holder` (host:pid) is a process of this host that no longer runs."""
    host, _, pid = holder.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another host: only its heartbeat can tell
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


@contextmanager
def run_lock(engine: Engine, name: str) -> Iterator[None]:
    """Hold `name` for the block or raise Busy at once (never wait: a second run has nothing to add)."""
    if engine.dialect.name == "postgresql":
        key = zlib.crc32(f"gongwu:{name}".encode())
        with engine.connect() as conn:
            got = conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
            conn.commit()
            if not got:
                raise Busy("a PostgreSQL session (advisory lock)")
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                conn.commit()
        return

    me = _holder()
    stale = timedelta(minutes=get_settings().lock_stale_minutes)
    _acquire(engine, name, me, stale)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(engine, name, me, stale, stop), daemon=True)
    beat.start()
    try:
        yield
    finally:
        stop.set()
        beat.join()
        with unit_of_work(engine) as s:  # only our own row: a taken-over lock is not ours to free
            s.exec(delete(RunLock).where(col(RunLock.name) == name, col(RunLock.holder) == me))  # type: ignore[call-overload]


def _acquire(engine: Engine, name: str, me: str, stale: timedelta) -> None:
    now = utcnow()
    with unit_of_work(engine) as s:
        row = s.get(RunLock, name)
        if row is not None:
            if row.expires_at > now and not holder_gone(row.holder):
                raise Busy(row.holder)
            log(logger, "lock taken over", lock=name, holder=row.holder, heartbeat_until=row.expires_at)
            s.delete(row)
            s.flush()
        s.add(RunLock(name=name, holder=me, acquired_at=now, expires_at=now + stale))
        try:
            s.flush()
        except IntegrityError:  # another process took it between our read and our insert
            raise Busy("another process, just now") from None


def _heartbeat(engine: Engine, name: str, me: str, stale: timedelta, stop: threading.Event) -> None:
    """Push the row's expiry on while the run works (a few times per stale window)."""
    every = max(stale.total_seconds() / 5, 0.05)
    while not stop.wait(every):
        try:
            with unit_of_work(engine) as s:
                s.exec(  # type: ignore[call-overload]
                    update(RunLock)
                    .where(col(RunLock.name) == name, col(RunLock.holder) == me)
                    .values(expires_at=utcnow() + stale)
                )
        except OperationalError as e:  # the database busy for a moment: the next beat tries again
            log(logger, "lock heartbeat missed", lock=name, error=str(e).splitlines()[0])

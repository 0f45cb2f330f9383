"""One run at a time across processes: a PostgreSQL advisory lock, or a lock row on SQLite.

The lock lives outside the run's own transaction (its own connection), so a run that fails and rolls
back still releases it; a lock row left by a killed process expires."""

from __future__ import annotations

import os
import socket
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import delete, text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from core.db import unit_of_work
from core.timeutil import utcnow
from scheduler.models import RunLock


class Busy(Exception):
    def __init__(self, holder: str) -> None:
        super().__init__(f"another run holds the lock: {holder}")
        self.holder = holder


def _holder() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@contextmanager
def run_lock(engine: Engine, name: str, *, ttl: timedelta = timedelta(hours=6)) -> Iterator[None]:
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

    now = utcnow()
    try:
        with unit_of_work(engine) as s:
            s.exec(delete(RunLock).where(col(RunLock.name) == name, col(RunLock.expires_at) < now))  # type: ignore[call-overload]
            s.add(RunLock(name=name, holder=_holder(), acquired_at=now, expires_at=now + ttl))
    except IntegrityError:
        with unit_of_work(engine) as s:
            row = s.get(RunLock, name)
            raise Busy(row.holder if row else "unknown") from None
    try:
        yield
    finally:
        with unit_of_work(engine) as s:
            s.exec(delete(RunLock).where(col(RunLock.name) == name))  # type: ignore[call-overload]

"""Shared set-up for the database benchmarks: a fresh SQLite file or PostgreSQL database, migrated, with
the generated vehicles registered."""

from __future__ import annotations

import os
import resource
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy.engine import Engine

from core.db import build_engine, unit_of_work
from core.models import Unit
from fleet.models import Vehicle
from gongwu import migrate

PG_ADMIN = os.environ.get("GONGWU_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


@dataclass
class Db:
    name: str
    engine: Engine


@contextmanager
def fresh_db(kind: str, workdir: Path) -> Iterator[Db]:
    if kind == "sqlite":
        path = workdir / f"bench-{uuid.uuid4().hex[:8]}.db"
        engine = build_engine(f"sqlite:///{path}")
        try:
            migrate.upgrade(engine)
            yield Db("SQLite", engine)
        finally:
            engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    name = f"gongwu_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    engine = build_engine(f"{base}/{name}")
    try:
        migrate.upgrade(engine)
        yield Db("PostgreSQL", engine)
    finally:
        engine.dispose()
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_available() -> bool:
    try:
        with psycopg.connect(PG_ADMIN, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def register_vehicles(engine: Engine, devices: list[tuple[str, str]]) -> None:
    """(device id, plate) pairs as in-service vehicles of one unit."""
    with unit_of_work(engine) as s:
        unit = Unit(name="基准测试单位", kind="department")
        s.add(unit)
        s.flush()
        assert unit.id is not None
        s.add_all(Vehicle(plate=p, unit_id=unit.id, tracker_id=d) for d, p in devices)
        s.commit()


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Timer:
    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.start

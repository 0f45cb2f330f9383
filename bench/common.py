"""Shared set-up for the database benchmarks: a fresh SQLite file or PostgreSQL database, migrated, with
the generated vehicles registered."""

from __future__ import annotations

import argparse
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
from sqlmodel import Session

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
    """A new, migrated database of `kind` (sqlite or postgresql), removed afterwards."""
    tag = uuid.uuid4().hex[:8]
    path, name = workdir / f"bench-{tag}.db", f"gongwu_bench_{tag}"
    if kind == "sqlite":
        url = f"sqlite:///{path}"
    else:
        with psycopg.connect(PG_ADMIN, autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"
    engine = build_engine(url)
    try:
        migrate.upgrade(engine)
        yield Db("SQLite" if kind == "sqlite" else "PostgreSQL", engine)
    finally:
        engine.dispose()
        if kind == "sqlite":
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        else:
            with psycopg.connect(PG_ADMIN, autocommit=True) as c:
                c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def db_kinds(choice: str) -> list[str]:
    """The databases `--db` names, PostgreSQL left out (and said) when it is not reachable."""
    kinds = ["sqlite", "postgresql"] if choice == "both" else [choice]
    if "postgresql" in kinds and not pg_available():
        print("PostgreSQL not reachable: skipped")
        kinds.remove("postgresql")
    return kinds


def arg_parser(doc: str | None, *, vehicles: int, db: str = "both") -> argparse.ArgumentParser:
    """The options every benchmark shares: --vehicles and --db."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vehicles", type=int, default=vehicles)
    ap.add_argument("--db", choices=["sqlite", "postgresql", "both"], default=db)
    return ap


def delete_device_rows(session: Session, devices: list[str]) -> None:
    """Everything stored of these trackers (benchmarks and tests that share a database clean up after)."""
    from sqlalchemy import delete
    from sqlmodel import col

    from fleet.models import Position, RecutRange, Stop, Trip
    from ingest.models import FeedDevice, Jt808Terminal

    for lo in range(0, len(devices), 500):
        chunk = devices[lo : lo + 500]
        for table, column in (
            (Position, Position.device_id),
            (RecutRange, RecutRange.device_id),
            (FeedDevice, FeedDevice.device_id),
            (Jt808Terminal, Jt808Terminal.device_id),
            (Stop, Stop.device_id),
            (Trip, Trip.device_id),
        ):
            session.exec(delete(table).where(col(column).in_(chunk)))  # type: ignore[call-overload]


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

"""Server time of every page over the demo county (the issue asks for under 300 ms each).

    gongwu demo --no-serve                      # builds ./gongwu-demo.db (40 vehicles, 30 days)
    .venv/bin/python bench/bench_web.py gongwu-demo.db

Signs in once per role through the login form (into a copy of the database, so the demo file is left as
it was) and times each page in-process: the median and the slowest of N requests, measured around the
ASGI call (routing, authorisation, queries, templates), without a network in between.
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlmodel import col, select

from accounts import service as auth
from accounts.models import User
from accounts.permissions import PAGES, TABLE
from core.db import build_engine, unit_of_work
from core.models import Unit
from core.settings import Settings
from fleet.models import Flag, Trip, Vehicle
from gongwu.app import create_app

PASSWORD = "bench-web-password-1"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
ROLES = ("vehicle_manager", "property_clerk", "unit_viewer", "admin")


def _csrf(html: str) -> str:
    found = CSRF.search(html)
    assert found, "no CSRF token on the login page"
    return found.group(1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("db", type=Path, help="a demo SQLite file (gongwu demo --no-serve)")
    ap.add_argument("-n", type=int, default=15, help="requests per page")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "bench.db"
        shutil.copy(args.db, copy)
        run(f"sqlite:///{copy}", args.n)


def run(url: str, n: int) -> None:
    engine = build_engine(url)
    with unit_of_work(engine) as s:
        busiest = s.exec(
            select(Vehicle.unit_id)
            .join(Flag, col(Flag.vehicle_id) == col(Vehicle.id))
            .group_by(col(Vehicle.unit_id))
        ).first()
        unit_id = busiest or s.exec(select(Unit.id)).first()
        for role in ROLES:
            if s.exec(select(User).where(User.username == f"bench_{role}")).first() is None:
                auth.create_user(
                    s, username=f"bench_{role}", password=PASSWORD, role=role, actor="bench",
                    unit_id=unit_id if role == "unit_viewer" else None,
                )  # fmt: skip
        s.commit()
        vehicle = s.exec(
            select(Vehicle.id)
            .join(Trip, col(Trip.vehicle_id) == col(Vehicle.id))
            .where(Vehicle.unit_id == unit_id)
        ).first()
        trip = s.exec(
            select(Trip.id).where(Trip.vehicle_id == vehicle).order_by(col(Trip.distance_m).desc())
        ).first()
        flag = s.exec(select(Flag.id).where(Flag.unit_id == unit_id)).first()
    ids = {"vehicle_id": vehicle, "trip_id": trip, "flag_id": flag, "code": "BG001"}
    app = create_app(Settings(database_url=url), engine=engine)
    print(f"{'page':<34} {'role':<16} {'median ms':>10} {'max ms':>8}")
    worst = 0.0
    for role in ROLES:
        with TestClient(app) as c:
            page = c.get("/login")
            c.post(
                "/login",
                data={"username": f"bench_{role}", "password": PASSWORD, "csrf_token": _csrf(page.text)},
            )
            for (method, template), permission in PAGES.items():
                if method != "GET" or not TABLE.allows(role, permission):
                    continue
                path = template.format(**ids)
                c.get(path)  # warm
                times = []
                for _ in range(n):
                    t0 = time.perf_counter()
                    r = c.get(path)
                    times.append((time.perf_counter() - t0) * 1000)
                    assert r.status_code == 200, f"{path} as {role}: {r.status_code}"
                worst = max(worst, statistics.median(times))
                print(f"{path:<34} {role:<16} {statistics.median(times):>10.1f} {max(times):>8.1f}")
    print(f"slowest median: {worst:.1f} ms")
    sys.exit(0 if worst < 300 else 1)


if __name__ == "__main__":
    main()

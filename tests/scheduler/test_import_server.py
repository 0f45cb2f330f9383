"""Imports off the event loop, through the real server (#18 finding 2): `gongwu serve` answers an upload at
once with its job, imports it in its worker while /healthz and the OsmAnd listener keep answering (p99 of
/healthz under 200 ms), shows progress on the job and finally its report; a job whose server was killed
is imported when the server comes back."""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from core.db import unit_of_work
from fleet.models import Position
from ingest.importer import run_import
from scheduler.models import ImportJob
from tests.conftest import make_token

EXE = Path(sys.executable).parent / "gongwu"  # the console script the install put beside python


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(engine: Engine, tmp_path: Path) -> Iterator[tuple[str, int, subprocess.Popen[bytes]]]:
    port, osmand = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("GONGWU_")}
    env |= {
        "GONGWU_DATABASE_URL": engine.url.render_as_string(hide_password=False),
        "GONGWU_IMPORT_UPLOAD_DIR": str(tmp_path / "uploads"),
    }
    proc = subprocess.Popen(
        [str(EXE), "serve", "--no-scheduler", "--port", str(port), "--osmand-port", str(osmand)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "server.log").open("wb"),  # read when a test fails
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, "the server stopped"
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "the server never answered"
        time.sleep(0.1)
    try:
        yield base, osmand, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def hand_in(base: str, csv: Path, auth: dict[str, str]) -> httpx.Response:
    """Upload the positions export as the API's client would."""
    with csv.open("rb") as fh:
        files = {"file": ("轨迹.csv", fh)}
        return httpx.post(f"{base}/api/v1/imports/positions", files=files, headers=auth, timeout=60)


@pytest.fixture
def county(fresh_engine: Engine, tmp_path: Path) -> tuple[str, Path, int, str]:
    """A county of 80 cars and a positions export of theirs (~110,000 rows, two days); an admin token."""
    from bench.gen import generate, write_positions_csv

    tracks = generate(80, 2, seed=3)
    units = "单位名称,类型\n测试单位,县直单位\n".encode()
    vehicles = "车牌号,单位,终端号\n" + "".join(f"{t.plate},测试单位,{t.device_id}\n" for t in tracks)
    with unit_of_work(fresh_engine) as s:
        assert run_import(s, "units", units, filename="u.csv").committed
        assert run_import(s, "vehicles", vehicles.encode(), filename="v.csv").committed
        token = make_token(s, "admin", username="server_admin")
    rows = write_positions_csv(tracks, tmp_path / "pos.csv")
    return token, tmp_path / "pos.csv", rows, tracks[0].device_id


def test_an_upload_is_a_job_and_the_server_keeps_answering(
    fresh_engine: Engine, tmp_path: Path, county: tuple[str, Path, int, str]
) -> None:
    token, csv, rows, device = county
    auth = {"Authorization": f"Bearer {token}"}
    with served(fresh_engine, tmp_path) as (base, osmand, _):
        started = time.monotonic()
        r = hand_in(base, csv, auth)
        assert r.status_code == 202, r.text
        job = r.json()
        url = base + job["url"]
        latencies: list[float] = []
        seen: list[dict[str, Any]] = []
        listener: list[int] = []

        def push() -> None:  # a tracker reporting meanwhile (on SQLite it waits for the import's commit)
            fix = {"id": device, "lat": 35.0, "lon": 111.0, "timestamp": int(time.time())}
            listener.append(httpx.get(f"http://127.0.0.1:{osmand}/", params=fix, timeout=60).status_code)

        def sample() -> None:  # someone opening the server's pages meanwhile
            with httpx.Client(timeout=10) as c:
                while not finished.is_set():
                    t0 = time.perf_counter()
                    assert c.get(f"{base}/healthz").status_code == 200
                    latencies.append(time.perf_counter() - t0)
                    time.sleep(0.001)

        finished = threading.Event()
        threads = [threading.Thread(target=push), threading.Thread(target=sample)]
        for t in threads:
            t.start()
        while True:
            state = httpx.get(url, headers=auth, timeout=30).json()
            seen.append(state)
            if state["status"] not in ("queued", "running"):
                break
            assert time.monotonic() - started < 300, "the import never finished"
            time.sleep(0.05)
        finished.set()
        for t in threads:
            t.join(60)
    final = seen[-1]
    assert final["status"] == "done", final
    assert final["report"]["inserted"] == rows and final["progress"]["read"] == rows
    assert any(s["status"] == "running" and s["progress"]["read"] > 0 for s in seen), [
        (s["status"], s["progress"]) for s in seen
    ]
    assert listener == [200]
    # p99 allows one slow answer in a hundred; with fewer samples (~80 in this import) that is the
    # second slowest — the slowest alone made the bar a coin toss on a busy 2-core CI machine
    ranked = sorted(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98] if len(latencies) >= 100 else ranked[-2]
    print(f"healthz during the import: {len(latencies)} requests, p99 {p99 * 1000:.0f} ms")
    assert p99 < 0.2, f"p99 of /healthz {p99 * 1000:.0f} ms during the import"
    assert ranked[-1] < 1.0, f"one /healthz waited {ranked[-1]:.1f} s: the import blocked the server"
    with Session(fresh_engine) as s:
        assert s.exec(select(func.count()).select_from(Position).where(Position.source != 2)).one() == rows


def test_a_job_acknowledged_before_a_kill_is_imported_after_the_restart(
    fresh_engine: Engine, tmp_path: Path, county: tuple[str, Path, int, str]
) -> None:
    token, csv, rows, _ = county
    auth = {"Authorization": f"Bearer {token}"}
    with served(fresh_engine, tmp_path) as (base, _, proc):
        r = hand_in(base, csv, auth)
        assert r.status_code == 202
        job_id = r.json()["id"]
        proc.send_signal(signal.SIGKILL)  # mid-import, or before it began: either way nothing is in
        proc.wait(20)
    with Session(fresh_engine) as s:
        job = s.get(ImportJob, job_id)
        assert job is not None and job.status in ("queued", "running")
        assert s.exec(select(func.count()).select_from(Position)).one() == 0
    with served(fresh_engine, tmp_path) as (base, _, _):
        deadline = time.monotonic() + 300
        while (state := httpx.get(f"{base}/api/v1/imports/{job_id}", headers=auth).json())["status"] in (
            "queued",
            "running",
        ):
            assert time.monotonic() < deadline
            time.sleep(0.2)
    assert state["status"] == "done" and state["report"]["inserted"] == rows


def test_the_probes_findings_through_the_server(fresh_engine: Engine, tmp_path: Path) -> None:
    """What the probe found through the running server, asked again of it: per-kind import permissions,
    tokens that outlived a password, pages without security headers, bodies with invented fields."""
    from tests.auth.conftest import PASSWORD, add_user

    with unit_of_work(fresh_engine) as s:
        clerk = make_token(s, "property_clerk", username="srv_clerk")
        manager = make_token(s, "vehicle_manager", username="srv_manager")
        admin = make_token(s, "admin", username="srv_admin")
        add_user(s, "srv_wang", "auditor")
    order = "派车单号,车牌号,计划出发时间,计划返回时间\nX-1,晋M·A0001,2024-06-01 08:00,2024-06-01 12:00\n"
    with served(fresh_engine, tmp_path) as (base, _, _):
        c = httpx.Client(base_url=base, timeout=30)

        def upload(token: str, kind: str) -> int:
            files = {"file": ("x.csv", order.encode())}
            return c.post(
                f"/api/v1/imports/{kind}", files=files, headers={"Authorization": f"Bearer {token}"}
            ).status_code

        assert upload(clerk, "orders") == 403 and upload(clerk, "positions") == 403
        assert upload(manager, "properties") == 403
        assert upload(manager, "orders") == 202
        # a token made before a password change is dead after it
        got = c.post("/api/v1/auth/token", json={"username": "srv_wang", "password": PASSWORD}).json()
        old = {"Authorization": f"Bearer {got['access_token']}"}
        made = c.post("/api/v1/me/tokens", json={"name": "script", "days": 30}, headers=old)
        assert made.status_code == 201, made.text
        bearer = {"Authorization": f"Bearer {made.json()['token']}"}
        change = {"current_password": PASSWORD, "new_password": "Brand-new-pass-1"}
        assert c.post("/api/v1/me/password", json=change, headers=old).status_code == 204
        assert c.get("/api/v1/me", headers=bearer).status_code == 401
        assert c.post("/api/v1/me/tokens", json={"days": 0}, headers=old).status_code == 422
        # headers, and a body with an invented field
        login = c.get("/login")
        assert "script-src 'self'" in login.headers["content-security-policy"]
        assert login.headers["x-content-type-options"] == "nosniff"
        auth = {"Authorization": f"Bearer {admin}"}
        assert c.put("/api/v1/auction-batches/zz", json={"x": 1}, headers=auth).status_code == 422
        assert c.get("/api/v1/auction-batches/zz", headers=auth).status_code == 404

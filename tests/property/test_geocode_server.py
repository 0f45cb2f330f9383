"""`gongwu geocode` against a real (local) Nominatim-style server (issue 23): properties located from their
addresses with the configured prefix, each address asked once, rate-limited, the stops renamed after."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlmodel import Session, select
from typer.testing import CliRunner

from fleet.models import Stop
from gongwu import cli_db
from gongwu.cli import app
from property.models import OfficeProperty, OperatingProperty
from tests.factories import make_unit, make_vehicle

KNOWN = {"山西省示范县府前街1号": (35.031, 111.012), "山西省示范县商贸街3号门面": (35.02, 111.0)}


@pytest.fixture
def nominatim() -> Iterator[list[str]]:
    """A local server answering /search as Nominatim does; the queries it was asked."""
    asked: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            q = parse_qs(urlsplit(self.path).query).get("q", [""])[0]
            asked.append(q)
            hit = KNOWN.get(q)
            body = [] if hit is None else [{"lat": str(hit[0]), "lon": str(hit[1]), "display_name": q}]
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    asked.append(f"127.0.0.1:{server.server_address[1]}")  # the first entry: where it listens
    yield asked
    server.shutdown()


def test_gongwu_geocode_locates_asks_once_and_renames_the_stops(
    session: Session,
    nominatim: list[str],
    settings_env: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    where = nominatim.pop(0)
    settings_env(
        geocoder="nominatim", geocoder_domain=where, geocoder_scheme="http", geocoder_prefix="山西省示范县",
        geocoder_delay_s=0,
    )  # fmt: skip
    monkeypatch.setattr(cli_db, "session", lambda: nullcontext(session))
    unit = make_unit(session, name="县财政局")
    session.add(OfficeProperty(code="BG-9", name="财政局办公楼", unit_id=unit.id, address="府前街1号"))
    session.add(OperatingProperty(code="MF-3", address="商贸街3号门面", status="idle"))
    session.add(OperatingProperty(code="MF-4", address="无此地址", status="idle"))
    car = make_vehicle(session, unit)
    start = datetime(2024, 9, 18, 2, tzinfo=UTC)
    stop = Stop(vehicle_id=car.id or 0, device_id=car.tracker_id or "", start_at=start, end_at=start,
                lat=35.0311, lon=111.0121, duration_s=3600)  # fmt: skip
    session.add(stop)
    session.flush()
    runner = CliRunner()
    out = runner.invoke(app, ["geocode"])
    assert out.exit_code == 0, out.output
    assert "已定位 2" in out.output and "未找到 1" in out.output
    office = session.exec(select(OfficeProperty).where(OfficeProperty.code == "BG-9")).one()
    assert (office.lat, office.lon) == KNOWN["山西省示范县府前街1号"]
    assert sorted(nominatim) == sorted(
        ["山西省示范县府前街1号", "山西省示范县商贸街3号门面", "山西省示范县无此地址"]
    )
    session.refresh(stop)
    assert stop.place_name == "财政局办公楼" and stop.place_inside, "a located property names the stops at it"
    # again: the located ones are skipped, the one not found comes from the cache — nothing asked
    asked = len(nominatim)
    again = runner.invoke(app, ["geocode"])
    assert again.exit_code == 0 and "1 个来自缓存" in again.output and len(nominatim) == asked
    retried = runner.invoke(app, ["geocode", "--retry"])
    assert retried.exit_code == 0 and len(nominatim) == asked + 1


def test_geocode_without_a_provider_says_what_to_set(
    session: Session,
    settings_env: Callable[..., None],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from gongwu.cli import run

    settings_env(geocoder="")
    monkeypatch.setattr(cli_db, "session", lambda: nullcontext(session))
    code = run(["geocode"])
    err = capsys.readouterr().err
    assert code != 0 and "GONGWU_GEOCODER" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, "one line: what was wrong and what to set"

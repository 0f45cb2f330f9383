"""Positions archived by month (issue 26): archive, then re-import, gives the same trips; trips, stops and
flags stay while the month is archived; a re-cut that reaches it leaves it alone and says so."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

from sqlalchemy import text
from sqlmodel import Session, col, select

from bench.gen import generate, write_positions_csv
from fleet import archive, partitions
from fleet.models import PositionArchive, RecutRange, Stop, Trip
from fleet.trips import recut_pending
from scheduler.imports import import_file


def _trips(session: Session) -> list[tuple[str, str, str, float]]:
    rows = session.exec(select(Trip).order_by(col(Trip.device_id), col(Trip.start_at))).all()
    return [(t.device_id, t.start_at.isoformat(), t.end_at.isoformat(), round(t.distance_m, 1)) for t in rows]


def _fixes(session: Session) -> int:
    return int(session.connection().execute(text("SELECT count(*) FROM fleet_position")).scalar() or 0)


def test_archive_then_reimport_gives_the_same_trips(session: Session, tmp_path: Path) -> None:
    tracks = generate(3, 2, seed=5, start=date(2024, 6, 28))  # 06-28 and 06-29: June's
    (tmp_path / "units.csv").write_text("单位名称,类型\n测试单位,县直单位\n", encoding="utf-8")
    (tmp_path / "vehicles.csv").write_text(
        "车牌号,单位,终端号\n" + "".join(f"{t.plate},测试单位,{t.device_id}\n" for t in tracks),
        encoding="utf-8",
    )
    for kind in ("units", "vehicles"):
        assert import_file(session, kind, tmp_path / f"{kind}.csv").committed
    write_positions_csv(tracks, tmp_path / "pos.csv")
    assert import_file(session, "positions", tmp_path / "pos.csv").committed
    trips, stops, stored = _trips(session), session.exec(select(Stop)).all(), _fixes(session)
    assert trips and stored > 1000

    folder = tmp_path / "archive"
    done = archive.archive_before(session, (2024, 7), folder, "clerk", date(2026, 12, 8))
    assert [(a.month, a.rows) for a in done] == [("2024-06", stored)]
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["2024-06"]["rows"] == stored and len(manifest["2024-06"]["sha256"]) == 64
    assert _fixes(session) == 0 and _trips(session) == trips  # the trips stay
    if session.connection().dialect.name == "postgresql":  # its partition is gone
        assert (2024, 6) not in partitions.existing(session.connection()).values()
    # again: nothing more to do
    assert archive.archive_before(session, (2024, 7), folder, "clerk", date(2026, 12, 8)) == []

    # a re-cut marked inside the archived month leaves its trips alone and says so
    june = partitions.month_start((2024, 6))
    session.add(RecutRange(device_id=tracks[0].device_id, from_ts=june + 86400 * 27, to_ts=june + 86400 * 29))
    counts = recut_pending(session)
    assert counts.archived == ["2024-06"] and counts.trips_removed == 0 and _trips(session) == trips

    # the file comes back: the same fixes, the same trips, the month no longer archived
    back = import_file(session, "positions", folder / "positions-2024-06.parquet")
    assert back.committed and back.inserted == stored, back
    assert _fixes(session) == stored and _trips(session) == trips
    assert len(session.exec(select(Stop)).all()) == len(stops)
    assert session.exec(select(PositionArchive)).all() == []
    # and once more changes nothing
    assert import_file(session, "positions", folder / "positions-2024-06.parquet").inserted == 0


def test_only_months_that_are_over_can_be_archived(session: Session, tmp_path: Path) -> None:
    import pytest

    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="2027-01"):
        archive.archive_before(session, (2027, 1), tmp_path, "clerk", date(2026, 12, 8))

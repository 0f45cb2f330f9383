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
    tracks = generate(3, 2, seed=5, start=date(2024, 6, 30))  # 06-30 and 07-01: a night across the months
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
    [june] = done
    assert june.month == "2024-06" and 0 < june.rows < stored
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["2024-06"]["rows"] == june.rows and len(manifest["2024-06"]["sha256"]) == 64
    assert _fixes(session) == stored - june.rows and _trips(session) == trips  # the trips stay
    stops_then = sorted((s.device_id, s.start_at, s.end_at) for s in session.exec(select(Stop)).all())
    if session.connection().dialect.name == "postgresql":  # its partition is gone
        assert (2024, 6) not in partitions.existing(session.connection()).values()
    # again: nothing more to do
    assert archive.archive_before(session, (2024, 7), folder, "clerk", date(2026, 12, 8)) == []

    # a re-cut marked inside the archived month, or across it into July, leaves June alone and says so
    start = partitions.month_start((2024, 6))
    for device in (t.device_id for t in tracks):
        session.add(RecutRange(device_id=device, from_ts=start + 86400 * 28, to_ts=start + 86400 * 29))
        session.add(RecutRange(device_id=device, from_ts=start, to_ts=start + 86400 * 32))
        counts = recut_pending(session)
        assert counts.archived == ["2024-06"] and counts.trips_removed == 0, counts
    assert _trips(session) == trips
    assert sorted((s.device_id, s.start_at, s.end_at) for s in session.exec(select(Stop)).all()) == stops_then

    # the file comes back: the same fixes, the same trips, the month no longer archived
    back = import_file(session, "positions", folder / "positions-2024-06.parquet")
    assert back.committed and back.inserted == june.rows, back
    assert _fixes(session) == stored and _trips(session) == trips
    assert len(session.exec(select(Stop)).all()) == len(stops)
    assert session.exec(select(PositionArchive)).all() == []
    # and once more changes nothing
    assert import_file(session, "positions", folder / "positions-2024-06.parquet").inserted == 0
    # archiving June again never writes over its file: that may be the only copy
    import pytest

    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match=r"positions-2024-06\.parquet"):
        archive.archive_before(session, (2024, 7), folder, "clerk", date(2026, 12, 8))
    assert _fixes(session) == stored
    # a file that is not an archive of gongwu is refused in one line
    (tmp_path / "other.parquet").write_bytes(b"PAR1 not really")
    bad = tmp_path / "other.parquet"
    with pytest.raises(ValidationFailed, match=r"other\.parquet"):
        import_file(session, "positions", bad)


def test_only_months_that_are_over_can_be_archived(session: Session, tmp_path: Path) -> None:
    import pytest

    from core.errors import ValidationFailed

    with pytest.raises(ValidationFailed, match="2027-01"):
        archive.archive_before(session, (2027, 1), tmp_path, "clerk", date(2026, 12, 8))

"""Positions import benchmark (issue 4): a clean positions CSV end to end — read, validate, screen,
insert (then, timed apart, the re-cut of the trips it touched) — through `gongwu import`'s pipeline,
beside a naive ORM import (`session.add` per row) of the same rows, on SQLite and PostgreSQL.

    .venv/bin/python -m bench.bench_import --vehicles 500 --days 1     # ~350 k rows
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from bench.common import Timer, arg_parser, db_kinds, fresh_db, peak_rss_mb, register_vehicles
from bench.gen import generate, write_positions_csv
from core.db import unit_of_work
from core.perf import keep_freed_memory
from fleet.models import Position
from fleet.trips import recut_pending
from ingest.importer import run_import
from ingest.readers import read_positions_batches

NAIVE_ROWS = 20_000  # the ORM path is measured on a sample: it is two orders of magnitude slower


def naive_orm(engine, csv_path: Path) -> tuple[int, float]:  # type: ignore[no-untyped-def]
    """What a first version would do: parse, then one ORM object per fix, flushed in the end."""
    with unit_of_work(engine) as s, Timer() as t:
        n = 0
        for batch in read_positions_batches(csv_path, batch_size=NAIVE_ROWS):
            for i in range(min(len(batch), NAIVE_ROWS - n)):
                s.add(
                    Position(
                        device_id=str(batch.device_id[i]),
                        fix_ts=int(batch.fixed_at[i]),
                        lat=float(batch.lat[i]),
                        lon=float(batch.lon[i]),
                        speed_kmh=float(batch.speed_kmh[i]),
                        ignition=int(batch.ignition[i]),
                    )
                )
                n += 1
            if n >= NAIVE_ROWS:
                break
        s.commit()
    return n, t.seconds


def main() -> None:
    ap = arg_parser(__doc__, vehicles=500)
    ap.add_argument("--days", type=int, default=1)
    args = ap.parse_args()
    keep_freed_memory()  # as every `gongwu` command runs (gongwu/cli.py)
    tracks = generate(args.vehicles, args.days)
    kinds = db_kinds(args.db)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "positions.csv"
        rows = write_positions_csv(tracks, csv_path)
        size_mb = csv_path.stat().st_size / 1e6
        print(f"{rows:,} rows, {size_mb:.0f} MB CSV ({args.vehicles} vehicles × {args.days} day(s))")
        with Timer() as t_read:
            read = sum(len(b) for b in read_positions_batches(csv_path))
        print(f"{'read + parse only':40s} {read / t_read.seconds:>12,.0f} rows/s")
        for kind in kinds:
            for label in ("gongwu import (bulk path)", "naive ORM session.add"):
                with fresh_db(kind, Path(tmp)) as db:
                    register_vehicles(db.engine, [(tr.device_id, tr.plate) for tr in tracks])
                    if label.startswith("gongwu"):
                        with unit_of_work(db.engine) as s, Timer() as t:
                            report = run_import(s, "positions", csv_path)
                            s.commit()
                        assert report.committed and not report.errors, report.errors[:3]
                        with unit_of_work(db.engine) as s, Timer() as t_cut:
                            trips = recut_pending(s).trips_added
                            s.commit()
                        n, seconds = report.inserted, t.seconds
                        extra = (
                            f"(inserted {n:,}; then the re-cut: {t_cut.seconds:.1f} s, {trips:,} trips, "
                            f"{n / (seconds + t_cut.seconds):,.0f} rows/s with it)"
                        )
                    else:
                        n, seconds = naive_orm(db.engine, csv_path)
                        extra = f"(sample of {n:,} rows, no screening, no re-cut)"
                    print(
                        f"{db.name + ': ' + label:40s} {n / seconds:>12,.0f} rows/s  {seconds:6.1f} s  "
                        f"{extra}"
                    )
    print(f"peak memory of this process: {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()

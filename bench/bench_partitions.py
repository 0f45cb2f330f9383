"""Positions by month on PostgreSQL (issue 26): N vehicles × D days loaded through the ingest path (binary
COPY into the partitioned fleet_position, its months made as they come), then one vehicle-day read back —
from the partitioned table and, side by side, from the same rows in one plain table — and a month archived
to Parquet.

    .venv/bin/python -m bench.bench_partitions --vehicles 500 --days 7          # quick
    .venv/bin/python -m bench.bench_partitions --vehicles 5000 --days 7         # a province-week

Prints points/s of the load, the read's median, p95 and worst in ms over --reads random vehicle-days, the
archive's rows/s and bytes a row, and the process's peak memory.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from datetime import date, datetime
from pathlib import Path

from sqlalchemy import text

from bench.bench_store import batches
from bench.common import Timer, arg_parser, fresh_db, peak_rss_mb, pg_available, register_vehicles
from bench.gen import generate
from core.db import unit_of_work
from core.perf import keep_freed_memory
from core.timeutil import CHINA
from fleet import archive, partitions
from fleet.positions import ingest_fixes

READ = (
    "SELECT fix_ts, lat, lon, speed_kmh FROM {table} WHERE device_id = %s AND fix_ts >= %s AND fix_ts < %s "
)


def _reads(raw, table: str, picks: list[tuple[str, int]]) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    with raw.cursor() as cur:
        for device, lo in picks:
            t0 = time.perf_counter()
            cur.execute(READ.format(table=table) + "ORDER BY fix_ts", (device, lo, lo + 86400), prepare=True)
            cur.fetchall()
            out.append((time.perf_counter() - t0) * 1000)
    return out


def _line(name: str, ms: list[float]) -> str:
    ms = sorted(ms)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return f"{name:28s} median {statistics.median(ms):6.2f} ms   p95 {p95:6.2f} ms   worst {ms[-1]:6.2f} ms"


def main() -> None:
    ap = arg_parser(__doc__, vehicles=500, db="postgresql")
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--reads", type=int, default=200)
    ap.add_argument("--start", type=date.fromisoformat, default=date(2026, 5, 28), help="the first day")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    keep_freed_memory()
    if not pg_available():
        raise SystemExit("PostgreSQL is not reachable: this benchmark is PostgreSQL's")
    with Timer() as t_gen:
        tracks = generate(args.vehicles, args.days, seed=args.seed, start=args.start)
    points = sum(len(tr) for tr in tracks)
    print(f"{args.vehicles} vehicles × {args.days} days from {args.start}: {points:,} points "
          f"(generated in {t_gen.seconds:.1f} s)")  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, fresh_db("postgresql", Path(tmp)) as db:
        register_vehicles(db.engine, [(tr.device_id, tr.plate) for tr in tracks])
        with Timer() as t_load:
            for batch in batches(tracks, 500_000):
                with unit_of_work(db.engine) as s:
                    ingest_fixes(s, batch, "import")
        with db.engine.connect() as conn:
            stored = conn.execute(text("SELECT count(*) FROM fleet_position")).scalar() or 0
            months = sorted(partitions.existing(conn).values())
            size = sum(
                conn.execute(text(f"SELECT pg_total_relation_size('\"{name}\"')")).scalar() or 0
                for name in partitions.existing(conn)
            )
        rate = stored / t_load.seconds
        print(f"{'load (screen, COPY)':28s} {rate:>12,.0f} points/s   {stored:,} stored in "
              f"{t_load.seconds:.1f} s, {len(months)} partitions, {size / max(stored, 1):.1f} bytes a row "
              "with its key")  # fmt: skip
        with Timer() as t_copy, db.engine.begin() as conn:
            conn.execute(text("CREATE TABLE bench_single (LIKE fleet_position INCLUDING DEFAULTS)"))
            conn.execute(text("INSERT INTO bench_single SELECT * FROM fleet_position"))
            conn.execute(text("ALTER TABLE bench_single ADD PRIMARY KEY (device_id, fix_ts)"))
            conn.execute(text("ANALYZE fleet_position; ANALYZE bench_single"))
        print(f"{'(the plain peer table made)':28s} in {t_copy.seconds:.1f} s")
        rng = random.Random(1)
        first = int(datetime.combine(args.start, datetime.min.time(), CHINA).timestamp())
        picks = [
            (rng.choice(tracks).device_id, first + 86400 * rng.randrange(args.days))
            for _ in range(args.reads)
        ]
        with db.engine.connect() as conn:
            raw = conn.connection.driver_connection
            _reads(raw, "fleet_position", picks[:20])  # warm both the same way
            _reads(raw, "bench_single", picks[:20])
            print(_line("vehicle-day, by month", _reads(raw, "fleet_position", picks)))
            print(_line("vehicle-day, one table", _reads(raw, "bench_single", picks)))
        folder = Path(tmp) / "archive"
        oldest = months[0]
        with Timer() as t_arch, unit_of_work(db.engine) as s:
            done = archive.archive_before(s, partitions.next_month(oldest), folder, "bench", date.today())
        rows = sum(a.rows for a in done)
        written = sum(Path(a.file).stat().st_size for a in done)
        if rows:
            print(f"{'archive ' + archive.label(oldest):28s} {rows / t_arch.seconds:>12,.0f} rows/s   "
                  f"{rows:,} rows, {written / rows:.1f} bytes a row in Parquet")  # fmt: skip
    print(f"peak memory {peak_rss_mb():,.0f} MB")


if __name__ == "__main__":
    main()

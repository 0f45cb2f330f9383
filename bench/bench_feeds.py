"""Load generator for the live position feeds, against a running `gongwu serve` on 127.0.0.1 only.

N JT/T 808 terminals (default 2,000) register, authenticate and send one 0x0200 every `--interval` s,
plus bursts of 0x0704 blind-area batches; M OsmAnd clients push one fix every `--osmand-interval` s.
Terminals behave like real ones: an unacknowledged message is resent after a reconnect, so the server can
be restarted during a run. At the end the database is checked: every acknowledged fix must be stored.

    gongwu serve --no-scheduler --jt808-port 5015 &          # same GONGWU_DATABASE_URL as below
    python bench/bench_feeds.py --seconds 30

Prints positions/s acknowledged (an ack is sent only after the commit), frames/s, the send → ack
latency (= end-to-end latency to the database) p50/p99, and loss/duplicates from the database check.
The bench owns its devices (trackers 1880…, 1881…, unit `bench-feeds`) and clears their data first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import delete_device_rows
from ingest import jt808 as j

HOST = "127.0.0.1"  # loopback only, by design
JT_PREFIX, OSM_PREFIX = "1880", "1881"
BASE_LAT, BASE_LON = 37.87, 112.55  # a county seat in Shanxi


@dataclass
class Stats:
    acked_positions: int = 0
    acked_frames: int = 0
    latencies: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)
    acked_keys: set[tuple[str, int]] = field(default_factory=set)
    sent_keys: set[tuple[str, int]] = field(default_factory=set)
    per_second: Counter[int] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)

    def ack(self, keys: list[tuple[str, int]], latency: float, t0: float, kind: str) -> None:
        self.by_kind[kind] += len(keys)
        self.acked_positions += len(keys)
        self.acked_frames += 1
        self.latencies.append(latency)
        self.acked_keys.update(keys)
        self.per_second[int(time.monotonic() - t0)] += len(keys)


# ---- database setup and check ----------------------------------------------------------------------


def setup_devices(n_jt: int, n_osm: int) -> tuple[list[str], list[str]]:
    """Bench vehicles exist, their old positions, feed rows and terminals are gone."""
    from sqlmodel import select

    from core.db import check_connection, get_engine, unit_of_work
    from core.models import Unit
    from fleet.models import Vehicle

    jt = [f"{JT_PREFIX}{i:07d}" for i in range(n_jt)]
    osm = [f"{OSM_PREFIX}{i:07d}" for i in range(n_osm)]
    engine = get_engine()
    check_connection(engine)
    with unit_of_work(engine) as s:
        unit = s.exec(select(Unit).where(Unit.name == "bench-feeds")).first()
        if unit is None:
            unit = Unit(name="bench-feeds", kind="department")
            s.add(unit)
            s.flush()
        have = set(s.exec(select(Vehicle.tracker_id).where(Vehicle.unit_id == unit.id)).all())
        for i, tracker in enumerate(jt + osm):
            if tracker not in have:
                s.add(Vehicle(plate=f"BENCH-{tracker[3]}{i:05d}", unit_id=unit.id, tracker_id=tracker))
        s.commit()
        delete_device_rows(s, jt + osm)
        s.commit()
    return jt, osm


def stored_keys(devices: list[str]) -> tuple[set[tuple[str, int]], int]:
    """(distinct (device, time) stored, row count) for the bench devices."""
    from sqlalchemy import text

    from core.db import get_engine

    keys: set[tuple[str, int]] = set()
    rows = 0
    with get_engine().connect() as conn:
        for lo in range(0, len(devices), 500):
            chunk = devices[lo : lo + 500]
            params = {f"d{i}": d for i, d in enumerate(chunk)}
            names = ", ".join(f":d{i}" for i in range(len(chunk)))
            result = conn.execute(
                text(f"SELECT device_id, fix_ts FROM fleet_position WHERE device_id IN ({names})"), params
            )
            for device, ts in result:
                keys.add((device, int(ts)))
                rows += 1
    return keys, rows


def rss_kb(pid: int | None) -> int | None:
    if not pid:
        return None
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


# ---- JT/T 808 terminals -----------------------------------------------------------------------------


class Terminal:
    def __init__(self, tracker: str, args: argparse.Namespace, stats: Stats, t0: float, run_start: int):
        self.tracker = tracker
        self.bcd = "0" + tracker  # 12 BCD digits, as a 2013 terminal sends its phone number
        self.args = args
        self.stats = stats
        self.t0 = t0
        self.serial = 0
        self.code = ""
        self.last_ts = 0
        self.past_ts = run_start - 6 * 3600  # blind-area fixes: the past, one second apart
        self.rng = random.Random(tracker)
        # serial -> (sent at, msg id, body, keys); resent after a reconnect until acknowledged
        self.pending: dict[int, tuple[float, int, bytes, list[tuple[str, int]]]] = {}
        self.control: asyncio.Future[j.Message] | None = None
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()

    def fix(self, ts: int, i: int = 0) -> j.Location:
        jitter = self.rng.uniform(-2e-5, 2e-5)
        return j.Location(
            0,
            j.STATUS_ACC | j.STATUS_FIXED,
            BASE_LAT + jitter,
            BASE_LON + jitter,
            800,
            round(self.rng.uniform(0, 40), 1),
            self.rng.randrange(360),
            ts,
            100_000 + i * 10,
        )

    def send(self, msg_id: int, body: bytes) -> int:
        assert self.writer is not None
        self.serial = (self.serial + 1) & 0xFFFF
        self.writer.write(j.encode_frame(msg_id, self.bcd, self.serial, body))
        return self.serial

    async def reader_loop(self, reader: asyncio.StreamReader) -> None:
        splitter = j.FrameSplitter()
        while True:
            data = await reader.read(65536)
            if not data:
                raise ConnectionResetError("closed by the server")
            for seg in splitter.feed(data):
                msg = j.decode_frame(seg)
                if msg.header.msg_id == j.PLATFORM_ACK:
                    serial = int.from_bytes(msg.body[0:2], "big")
                    answered = int.from_bytes(msg.body[2:4], "big")
                    result = msg.body[4]
                    if answered in (j.LOCATION, j.LOCATION_BATCH):
                        sent = self.pending.pop(serial, None)
                        if sent is None:
                            continue
                        if result == j.ACK_OK:
                            kind = "0x0200" if answered == j.LOCATION else "0x0704"
                            self.stats.ack(sent[3], time.monotonic() - sent[0], self.t0, kind)
                        else:
                            self.stats.failures[f"jt808_ack_result_{result}"] += 1
                            self.pending[serial] = sent  # resent on the next connection
                        continue
                if self.control is not None and not self.control.done():
                    self.control.set_result(msg)

    async def request(self, msg_id: int, body: bytes, timeout: float = 30) -> j.Message:
        self.control = asyncio.get_running_loop().create_future()
        self.send(msg_id, body)
        return await asyncio.wait_for(self.control, timeout)

    async def connection(self) -> None:
        """Connect, log in, resend what was not acknowledged, then keep the link; returns when it drops."""
        reader, writer = await asyncio.open_connection(HOST, self.args.jt808_port)
        self.writer = writer
        reading = asyncio.create_task(self.reader_loop(reader))
        try:
            if not self.code:
                body = bytes(4) + b"BENCH" + b"BD".ljust(20, b"\0") + b"0000001" + b"\x01" + b"BENCH"
                reply = await self.request(j.REGISTER, body)
                if reply.body[2] != j.REG_OK:
                    raise RuntimeError(f"registration refused: {reply.body[2]}")
                self.code = reply.body[3:].decode()
            reply = await self.request(j.AUTHENTICATE, self.code.encode())
            if reply.body[4] != j.ACK_OK:
                self.code = ""
                raise RuntimeError("authentication refused")
            old, self.pending = self.pending, {}
            for _, msg_id, body, keys in old.values():
                self.pending[self.send(msg_id, body)] = (time.monotonic(), msg_id, body, keys)
            self.connected.set()
            await reading
        finally:
            self.connected.clear()
            reading.cancel()
            writer.close()

    async def keep_connected(self, stop: asyncio.Event) -> None:
        delay = 0.5
        while not stop.is_set() or self.pending:
            try:
                await self.connection()
            except (OSError, RuntimeError, TimeoutError, asyncio.IncompleteReadError, j.FrameError) as exc:
                self.stats.failures[f"jt808_{type(exc).__name__}"] += 1
            if stop.is_set() and not self.pending:
                return
            await asyncio.sleep(delay * (0.5 + self.rng.random()))
            delay = min(delay * 2, 5.0)

    def report(self, msg_id: int, locations: list[j.Location]) -> None:
        body = (
            j.encode_location(locations[0])
            if msg_id == j.LOCATION
            else j.encode_location_batch(locations, kind=1)
        )
        keys = [(self.tracker, loc.fix_ts) for loc in locations]
        self.stats.sent_keys.update(keys)
        sent_at = time.monotonic()
        if self.connected.is_set():
            self.pending[self.send(msg_id, body)] = (sent_at, msg_id, body, keys)
        else:  # offline: kept until the next connection, as a terminal's blind-area store
            self.pending[-len(self.pending) - 1] = (sent_at, msg_id, body, keys)

    async def drive(self, stop: asyncio.Event) -> None:
        args = self.args
        await asyncio.sleep(self.rng.uniform(0, args.interval))  # spread the terminals over the interval
        next_burst = time.monotonic() + self.rng.uniform(0, args.burst_every)
        while not stop.is_set():
            now = int(time.time())
            if now > self.last_ts:
                self.last_ts = now
                self.report(j.LOCATION, [self.fix(now)])
            if args.burst_size and time.monotonic() >= next_burst:
                if self.rng.random() < args.burst_share:
                    fixes = [self.fix(self.past_ts + k, k) for k in range(args.burst_size)]
                    self.past_ts += args.burst_size
                    self.report(j.LOCATION_BATCH, fixes)
                next_burst += args.burst_every
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), args.interval)


# ---- OsmAnd clients ---------------------------------------------------------------------------------


async def osmand_client(
    tracker: str, args: argparse.Namespace, stats: Stats, t0: float, stop: asyncio.Event
) -> None:
    rng = random.Random(tracker)
    await asyncio.sleep(rng.uniform(0, args.osmand_interval))
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    last_ts = 0
    while not stop.is_set():
        ts = int(time.time())
        if ts <= last_ts:
            await asyncio.sleep(0.05)
            continue
        last_ts = ts
        lat, lon = BASE_LAT + rng.uniform(-2e-5, 2e-5), BASE_LON + rng.uniform(-2e-5, 2e-5)
        speed = rng.uniform(0, 20)
        query = f"id={tracker}&lat={lat:.6f}&lon={lon:.6f}&timestamp={ts}&speed={speed:.1f}&bearing=90"
        request = f"GET /?{query} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode()
        stats.sent_keys.add((tracker, ts))
        sent_at = time.monotonic()
        while True:  # a fix is retried until the receiver acknowledges it
            try:
                if writer is None or reader is None:
                    reader, writer = await asyncio.open_connection(HOST, args.osmand_port)
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head.split(b" ", 2)[1])
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await reader.readexactly(length)
                if status == 200:
                    stats.ack([(tracker, ts)], time.monotonic() - sent_at, t0, "osmand")
                    break
                stats.failures[f"osmand_http_{status}"] += 1
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
                stats.failures[f"osmand_{type(exc).__name__}"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
            await asyncio.sleep(0.5)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.osmand_interval)
    if writer is not None:
        writer.close()


# ---- the run ----------------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def run(args: argparse.Namespace) -> int:
    jt_devices, osm_devices = setup_devices(args.terminals, args.osmand_clients)
    stats = Stats()
    stop = asyncio.Event()
    run_start = int(time.time())
    rss_start = rss_kb(args.server_pid)
    terminals = [Terminal(d, args, stats, time.monotonic(), run_start) for d in jt_devices]
    tasks: list[asyncio.Task[Any]] = []
    # Log in first (register + authenticate, as a new fleet does), then measure the steady load.
    t_login = time.monotonic()
    for i, term in enumerate(terminals):
        tasks.append(asyncio.create_task(term.keep_connected(stop)))
        if i % 200 == 199:
            await asyncio.sleep(0.05)
    while sum(t.connected.is_set() for t in terminals) < len(terminals):
        if time.monotonic() - t_login > args.login_timeout:
            print(f"only {sum(t.connected.is_set() for t in terminals)} terminals logged in, going on")
            break
        await asyncio.sleep(0.2)
    print(f"{len(terminals)} terminals registered and authenticated in {time.monotonic() - t_login:.1f} s")
    t0 = time.monotonic()
    for term in terminals:
        term.t0 = t0
    drivers = [asyncio.create_task(term.drive(stop)) for term in terminals]
    drivers += [asyncio.create_task(osmand_client(d, args, stats, t0, stop)) for d in osm_devices]
    rss_samples = [rss_start] if rss_start else []
    last = 0
    while time.monotonic() - t0 < args.seconds:
        await asyncio.sleep(1)
        second = int(time.monotonic() - t0)
        if second - last >= 10:
            last = second
            rss = rss_kb(args.server_pid)
            if rss:
                rss_samples.append(rss)
            recent = sum(stats.per_second[s] for s in range(second - 10, second)) / 10
            connected = sum(t.connected.is_set() for t in terminals)
            print(
                f"  t={second:4d}s  {recent:7.0f} positions/s  connected={connected}/{len(terminals)}"
                + (f"  server RSS={rss // 1024} MiB" if rss else ""),
                flush=True,
            )
    sending = time.monotonic() - t0
    stop.set()
    await asyncio.gather(*drivers, return_exceptions=True)
    # wait for the last acknowledgements (and resends)
    deadline = time.monotonic() + args.drain
    while any(t.pending for t in terminals) and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    unacked = sum(len(t.pending) for t in terminals)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    keys, rows = stored_keys(jt_devices + osm_devices)
    lost = stats.acked_keys - keys
    unexpected = keys - stats.sent_keys
    lat = stats.latencies
    # the steady part: the first interval is the terminals' staggered start
    steady = [stats.per_second[s] for s in range(int(args.interval), int(sending))]
    mean_steady = statistics.mean(steady) if steady else stats.acked_positions / sending
    p50, p99 = percentile(lat, 0.5) * 1000, percentile(lat, 0.99) * 1000
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(stats.by_kind.items()))
    print()
    print(f"run: {len(jt_devices)} JT/T 808 terminals, {len(osm_devices)} OsmAnd clients, {sending:.0f} s")
    print(f"positions acknowledged: {stats.acked_positions} in {stats.acked_frames} messages ({kinds})")
    print(
        f"  {stats.acked_positions / sending:,.0f} positions/s overall, {mean_steady:,.0f}/s after the start"
    )
    print(f"  {stats.acked_frames / sending:,.0f} messages/s")
    print(f"send -> ack (= committed) latency: p50 {p50:.0f} ms, p99 {p99:.0f} ms")
    print(f"database: {rows} rows for the bench devices, {len(keys)} distinct (device, time)")
    print(f"  acknowledged but not stored (loss): {len(lost)}")
    print(f"  duplicate rows: {rows - len(keys)}; rows never sent: {len(unexpected)}")
    never = len(stats.sent_keys - stats.acked_keys)
    print(f"  sent but never acknowledged: {never} ({unacked} messages still pending)")
    if stats.failures:
        print(f"failures/retries: {dict(stats.failures)}")
    if rss_samples:
        mib = [r // 1024 for r in rss_samples]
        print(f"server RSS: start {mib[0]} MiB, max {max(mib)} MiB, end {mib[-1]} MiB")
    return 1 if lost or rows != len(keys) or unexpected else 0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--jt808-port", type=int, default=5015)
    p.add_argument("--osmand-port", type=int, default=5055)
    p.add_argument("--terminals", type=int, default=2000, help="JT/T 808 connections (max 20000)")
    p.add_argument("--interval", type=float, default=10.0, help="seconds between a terminal's 0x0200")
    p.add_argument("--burst-every", type=float, default=10.0, help="seconds between burst chances")
    p.add_argument("--burst-share", type=float, default=0.8, help="share of terminals bursting each time")
    p.add_argument("--burst-size", type=int, default=25, help="positions per 0x0704 (0 = no bursts)")
    p.add_argument("--osmand-clients", type=int, default=200, help="OsmAnd clients (max 5000)")
    p.add_argument("--osmand-interval", type=float, default=1.0, help="seconds between a client's fixes")
    p.add_argument("--seconds", type=float, default=60.0, help="sending time (max 3600)")
    p.add_argument("--drain", type=float, default=30.0, help="seconds to wait for the last acks")
    p.add_argument("--login-timeout", type=float, default=180.0, help="seconds to wait for all logins")
    p.add_argument("--server-pid", type=int, default=None, help="report the server's memory (Linux)")
    args = p.parse_args()
    if not (0 < args.terminals <= 20000 and 0 <= args.osmand_clients <= 5000 and 0 < args.seconds <= 3600):
        p.error("bounded: --terminals 1..20000, --osmand-clients 0..5000, --seconds up to 3600")
    if not 0 <= args.burst_size <= 28:
        p.error("--burst-size 0..28 (a 0x0704 body holds at most 1023 bytes)")
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = args.terminals + args.osmand_clients + 100
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    sys.exit(asyncio.run(run(args)))


if __name__ == "__main__":
    main()

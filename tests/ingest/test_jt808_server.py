"""The JT/T 808 server over real TCP connections on 127.0.0.1."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from ingest import jt808 as j
from ingest.feeds import BatchWriter
from ingest.feeds_settings import FeedsSettings
from ingest.jt808_server import Jt808Server, verify_code
from ingest.models import Jt808Terminal
from tests.ingest.feeds_support import MakeVehicle, feed_row, live_vehicles, stored

__all__ = ["live_vehicles"]

NOW = int(time.time()) - 3600


@pytest.fixture
def server(engine: Engine, writer: BatchWriter) -> Iterator[Jt808Server]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    settings = FeedsSettings(jt808_idle_timeout_s=1.0, jt808_max_garbage=65536)
    srv = Jt808Server(writer, engine, settings)
    asyncio.run_coroutine_threadsafe(srv.start("127.0.0.1", 0), loop).result(5)
    yield srv
    asyncio.run_coroutine_threadsafe(srv.close(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


class Terminal:
    """A blocking test terminal."""

    def __init__(self, port: int, terminal: str, version: int | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        self.terminal = terminal
        self.version = version
        self.serial = 0
        self.splitter = j.FrameSplitter()
        self.inbox: list[j.Message] = []

    def send(self, msg_id: int, body: bytes = b"") -> int:
        self.serial += 1
        self.sock.sendall(j.encode_frame(msg_id, self.terminal, self.serial, body, version=self.version))
        return self.serial

    def recv(self, timeout: float = 5.0) -> j.Message:
        self.sock.settimeout(timeout)
        while not self.inbox:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by the server")
            self.inbox += [j.decode_frame(f) for f in self.splitter.feed(data)]
        return self.inbox.pop(0)

    def ack(self, timeout: float = 5.0) -> tuple[int, int, int]:
        """(answered serial, answered msg id, result) of the next 0x8001."""
        msg = self.recv(timeout)
        assert msg.header.msg_id == j.PLATFORM_ACK, hex(msg.header.msg_id)
        b = msg.body
        return int.from_bytes(b[0:2], "big"), int.from_bytes(b[2:4], "big"), b[4]

    def register(self) -> tuple[int, str]:
        body = (
            bytes(4) + b"GONGW" + b"BD-T1".ljust(20, b"\0") + b"0000001" + b"\x01" + "晋MA0001".encode("gbk")
        )
        if self.version is not None:
            body = (
                bytes(4)
                + b"GONGWU".ljust(11, b"\0")
                + b"BD".ljust(30, b"\0")
                + b"1".ljust(30, b"\0")
                + b"\x01"
            )
        serial = self.send(j.REGISTER, body)
        msg = self.recv()
        assert msg.header.msg_id == j.REGISTER_ACK
        assert int.from_bytes(msg.body[0:2], "big") == serial
        return msg.body[2], msg.body[3:].decode("ascii")

    def authenticate(self, code: str) -> int:
        if self.version is not None:
            body = bytes([len(code)]) + code.encode() + b"860000000000001" + b"1.0".ljust(20, b"\0")
        else:
            body = code.encode()
        serial = self.send(j.AUTHENTICATE, body)
        got_serial, msg_id, result = self.ack()
        assert (got_serial, msg_id) == (serial, j.AUTHENTICATE)
        return result

    def login(self) -> None:
        result, code = self.register()
        assert result == j.REG_OK and code
        assert self.authenticate(code) == j.ACK_OK

    def close(self) -> None:
        self.sock.close()


def loc(ts: int, i: int = 0, **kw: object) -> j.Location:
    fields: dict[str, object] = {
        "alarm": 0,
        "status": j.STATUS_ACC | j.STATUS_FIXED,
        "lat": 37.87 + i * 0.0005,
        "lon": 112.55,
        "altitude_m": 800,
        "speed_kmh": 36.0,
        "course": 0,
        "fix_ts": ts,
        "odometer_m": 100_000 + i * 100,
    }
    fields.update(kw)
    return j.Location(**fields)  # type: ignore[arg-type]


def wrong_checksum(frame: bytes) -> bytes:
    """The frame with another checksum byte that is neither the delimiter nor the escape (the tracker id
    decides the checksum: a plain XOR could make it 0x7e and cut the frame in two, then no header is
    readable and nothing is answered)."""
    escaped = frame[-3] == 0x7D  # the checksum itself was 0x7e or 0x7d, sent as two bytes
    body, true = (frame[:-3], 0x7E if frame[-2] == 0x02 else 0x7D) if escaped else (frame[:-2], frame[-2])
    wrong = next(b for b in (true ^ 0x55, true ^ 0x33, true ^ 0x0F) if b not in (0x7D, 0x7E))
    return body + bytes([wrong, 0x7E])


def wait_for(predicate: object, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def car(live_vehicles: MakeVehicle) -> tuple[str, str]:
    """A car's tracker id and the terminal phone number its JT/T 808 terminal sends (one 0 more)."""
    v = live_vehicles()
    assert v.tracker_id
    return v.tracker_id, "0" + v.tracker_id


def test_register_authenticate_locate_stored(
    server: Jt808Server, engine: Engine, car: tuple[str, str]
) -> None:
    tracker, phone = car
    t = Terminal(server.port, phone)
    result, code = t.register()
    assert result == j.REG_OK and len(code) >= 16
    with Session(engine) as s:
        row = s.exec(select(Jt808Terminal).where(Jt808Terminal.terminal_id == phone)).one()
    assert row.device_id == tracker and code not in row.auth_hash and verify_code(code, row.auth_hash)
    assert t.authenticate(code) == j.ACK_OK

    serial = t.send(j.LOCATION, j.encode_location(loc(NOW)))
    assert t.ack() == (serial, j.LOCATION, j.ACK_OK)
    # acknowledged means committed: it is there the moment the ack arrives
    (p,) = stored(engine, tracker)
    assert (p.fix_ts, p.lat, p.lon, p.speed_kmh, p.ignition, p.valid, p.odometer_m, p.source) == (
        NOW,
        37.87,
        112.55,
        36.0,
        1,
        True,
        100_000,
        3,
    )
    batch = j.encode_location_batch([loc(NOW - 600 + 10 * i, i) for i in range(25)])
    serial = t.send(j.LOCATION_BATCH, batch)
    assert t.ack() == (serial, j.LOCATION_BATCH, j.ACK_OK)
    assert len(stored(engine, tracker)) == 26
    # a resend (the ack was lost) is acknowledged again and stored once
    serial = t.send(j.LOCATION_BATCH, batch)
    assert t.ack() == (serial, j.LOCATION_BATCH, j.ACK_OK)
    assert len(stored(engine, tracker)) == 26
    serial = t.send(j.HEARTBEAT)
    assert t.ack() == (serial, j.HEARTBEAT, j.ACK_OK)
    fd = feed_row(engine, "jt808", tracker)
    assert fd is not None and fd.accepted == 26 and fd.rejected == {"duplicate": 25}
    assert fd.last_fix_at == datetime.fromtimestamp(NOW, UTC)
    t.close()


def test_location_before_authentication_is_refused_and_counted(
    server: Jt808Server,
    engine: Engine,
    live_vehicles: MakeVehicle,
    writer: BatchWriter,
    car: tuple[str, str],
) -> None:
    tracker, phone = car
    writer.vehicles(refresh=True)
    t = Terminal(server.port, phone)
    serial = t.send(j.LOCATION, j.encode_location(loc(NOW)))
    assert t.ack() == (serial, j.LOCATION, j.ACK_FAIL)
    serial = t.send(j.LOCATION_BATCH, j.encode_location_batch([loc(NOW + 1), loc(NOW + 2)]))
    assert t.ack() == (serial, j.LOCATION_BATCH, j.ACK_FAIL)
    assert stored(engine, tracker) == []

    def counted() -> bool:
        fd = feed_row(engine, "jt808", tracker)
        return fd is not None and fd.rejected.get("unauthenticated") == 3

    assert wait_for(counted)
    assert server.stats["unauthenticated_positions"] >= 3
    # a wrong code does not authenticate either
    result, code = t.register()
    assert result == j.REG_OK
    assert t.authenticate(code[::-1]) == j.ACK_FAIL
    serial = t.send(j.LOCATION, j.encode_location(loc(NOW)))
    assert t.ack() == (serial, j.LOCATION, j.ACK_FAIL)
    # and an authenticated connection cannot report for another terminal
    assert t.authenticate(code) == j.ACK_OK
    other = live_vehicles()
    assert other.tracker_id
    t.terminal = "0" + other.tracker_id
    serial = t.send(j.LOCATION, j.encode_location(loc(NOW)))
    assert t.ack() == (serial, j.LOCATION, j.ACK_FAIL)
    assert stored(engine, other.tracker_id) == [] and stored(engine, tracker) == []
    t.close()


def test_only_a_vehicles_tracker_may_register(server: Jt808Server, engine: Engine) -> None:
    t = Terminal(server.port, "013511221122")
    result, code = t.register()
    assert result == j.REG_NO_TERMINAL and code == ""
    with Session(engine) as s:
        assert (
            s.exec(select(Jt808Terminal).where(Jt808Terminal.terminal_id == "013511221122")).first() is None
        )
    # Traccar's published authentication frame of that terminal: refused, connection alive
    t.sock.sendall(bytes.fromhex("7E0102000E013511221122000661757468656E7469636174696F6E3F7E"))
    assert t.ack() == (6, j.AUTHENTICATE, j.ACK_FAIL)
    t.close()


def test_2019_terminal(server: Jt808Server, engine: Engine, car: tuple[str, str]) -> None:
    tracker, _ = car
    t = Terminal(server.port, tracker.zfill(20), version=1)
    t.login()
    serial = t.send(j.LOCATION, j.encode_location(loc(NOW, lat=31.234567, lon=121.987654)))
    ack = t.recv()
    assert ack.header.version == 1 and ack.header.terminal == tracker.zfill(20)
    assert ack.body[:2] == serial.to_bytes(2, "big") and ack.body[4] == j.ACK_OK
    (p,) = stored(engine, tracker)
    assert (p.lat, p.lon) == (31.234567, 121.987654)
    t.close()


def test_garbage_never_crashes_the_server_nor_blocks_others(
    server: Jt808Server, engine: Engine, car: tuple[str, str]
) -> None:
    tracker, phone = car
    good = Terminal(server.port, phone)
    good.login()
    n = 0

    def report() -> float:
        nonlocal n
        n += 1
        t0 = time.perf_counter()
        serial = good.send(j.LOCATION, j.encode_location(loc(NOW + n, n % 5)))
        assert good.ack() == (serial, j.LOCATION, j.ACK_OK)
        return time.perf_counter() - t0

    # random bytes
    noisy = socket.create_connection(("127.0.0.1", server.port))
    noisy.sendall(os.urandom(20_000))
    assert report() < 1.0
    # a bad checksum under a readable header: answered "message error" (0x8001 result 2) so the terminal
    # does not resend it forever, counted, dropped; that connection lives on
    bad = Terminal(server.port, phone)
    frame = wrong_checksum(j.encode_frame(j.HEARTBEAT, bad.terminal, 1))
    before = server.stats["bad_frames"]
    bad.sock.sendall(bytes(frame))
    assert bad.ack() == (1, j.HEARTBEAT, j.ACK_BAD_MESSAGE)
    serial = bad.send(j.HEARTBEAT)
    assert bad.ack() == (serial, j.HEARTBEAT, j.ACK_OK)
    assert server.stats["bad_frames"] == before + 1
    # half a frame, then silence: the idle timeout closes it
    half = socket.create_connection(("127.0.0.1", server.port))
    half.sendall(j.encode_frame(j.LOCATION, phone, 9, j.encode_location(loc(NOW)))[:20])
    assert report() < 1.0
    # 10 MB without a delimiter, sent from a thread while the good terminal keeps reporting
    flood = socket.create_connection(("127.0.0.1", server.port))
    sent = 0

    def blast() -> None:
        nonlocal sent
        chunk = b"\x55" * 65536
        try:
            for _ in range(160):
                flood.sendall(chunk)
                sent += len(chunk)
        except OSError:
            pass  # cut off by the server

    blaster = threading.Thread(target=blast)
    blaster.start()
    latencies = [report() for _ in range(10)]
    blaster.join(10)
    assert max(latencies) < 1.0
    assert server.stats["cut_off_garbage"] >= 1
    flood.settimeout(2)
    with pytest.raises(OSError):  # the server closed it
        for _ in range(100):
            flood.sendall(b"\x55" * 65536)
            if flood.recv(1) == b"":
                raise ConnectionResetError
    # the half frame connection timed out (idle timeout 1 s)
    half.settimeout(3)
    assert half.recv(10) == b""
    assert wait_for(lambda: server.stats["idle_timeouts"] >= 1)
    # still serving, new connections too
    assert report() < 1.0
    late = Terminal(server.port, phone)
    late.login()
    for s in (noisy, half, flood):
        s.close()
    for term in (good, bad, late):
        term.close()
    assert len(stored(engine, tracker)) == n


def test_sub_packaged_batch(server: Jt808Server, engine: Engine, live_vehicles: MakeVehicle) -> None:
    v = live_vehicles()
    assert v.tracker_id
    t = Terminal(server.port, "0" + v.tracker_id)
    t.login()
    body = j.encode_location_batch([loc(NOW - 1000 + 10 * i, i) for i in range(50)])  # > 1023 bytes
    parts = [body[:1000], body[1000:]]
    for index, part in enumerate(parts, start=1):
        t.serial += 1
        t.sock.sendall(j.encode_frame(j.LOCATION_BATCH, t.terminal, t.serial, part, packet=(2, index)))
        assert t.ack() == (t.serial, j.LOCATION_BATCH, j.ACK_OK)
    assert len(stored(engine, v.tracker_id)) == 50
    t.close()


def test_idle_connection_times_out(server: Jt808Server) -> None:
    s = socket.create_connection(("127.0.0.1", server.port))
    s.settimeout(3)
    t0 = time.monotonic()
    assert s.recv(10) == b""
    assert 0.8 < time.monotonic() - t0 < 2.5
    s.close()


def test_unsupported_and_bad_messages_get_answers(server: Jt808Server, live_vehicles: MakeVehicle) -> None:
    v = live_vehicles()
    assert v.tracker_id
    t = Terminal(server.port, "0" + v.tracker_id)
    t.login()
    serial = t.send(0x0900, b"\x01abc")  # data uplink: not ours
    assert t.ack() == (serial, 0x0900, j.ACK_UNSUPPORTED)
    serial = t.send(j.LOCATION, b"\x00" * 10)  # too short for a location
    assert t.ack() == (serial, j.LOCATION, j.ACK_BAD_MESSAGE)
    t.send(j.QUERY_TIME)
    assert t.recv().header.msg_id == j.TIME_REPLY
    t.close()

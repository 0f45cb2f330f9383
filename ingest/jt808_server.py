"""The JT/T 808 TCP server (asyncio): registration, authentication, heartbeats and positions.

- Only a terminal whose id is a vehicle's tracker may register (0x0100 → 0x8100 with an auth code, kept
  only as a scrypt hash in `ingest_jt808_terminal`).
- Positions (0x0200, 0x0704) are accepted only on a connection that authenticated (0x0102); before that a
  location gets 0x8001 "failure" and is counted against the device, not stored.
- Positions go to the shared BatchWriter (a thread; the event loop never touches the database for them)
  and the 0x8001 acknowledgement is sent only after their batch committed, so nothing acknowledged is
  lost: a terminal that got no answer resends, and the resend is a duplicate the ingest path ignores.
- A bad frame is counted and dropped and the connection lives; a peer that sends only garbage (more than
  GONGWU_JT808_MAX_GARBAGE bytes without a usable frame) is cut off; an idle connection times out.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import os
import secrets
from collections import Counter
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from core.logs import log
from core.timeutil import utcnow
from ingest import jt808 as j
from ingest.feeds import BatchWriter
from ingest.feeds_settings import FeedsSettings, get_feeds_settings
from ingest.models import Jt808Terminal

logger = logging.getLogger(__name__)

# scrypt cost: the codes are 96-bit random tokens, so the hash only has to make a leaked table useless
# for replay; a cheap setting keeps 2,000 terminals reconnecting at once from stalling the pool.
_SCRYPT = {"n": 2**10, "r": 8, "p": 1}


def hash_code(code: str) -> str:
    salt = os.urandom(16)
    digest = hashlib.scrypt(code.encode(), salt=salt, dklen=32, **_SCRYPT)
    b64 = base64.b64encode
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${b64(salt).decode()}${b64(digest).decode()}"


def verify_code(code: str, stored: str) -> bool:
    try:
        kind, n, r, p, salt, digest = stored.split("$")
        if kind != "scrypt":
            return False
        want = base64.b64decode(digest)
        got = hashlib.scrypt(
            code.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p), dklen=len(want)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def new_auth_code() -> str:
    return secrets.token_hex(12)  # 24 ASCII characters, as terminals store them


class Registry:
    """Terminal registration and authentication against the database (blocking: run off the loop)."""

    def __init__(self, engine: Engine, writer: BatchWriter) -> None:
        self.engine = engine
        self.writer = writer

    def register(self, terminal: str) -> tuple[str | None, str | None]:
        """(device id, auth code) — (None, None) when the terminal is no vehicle's tracker. Registering
        again (a reset terminal) issues a new code."""
        device = self.writer.resolve(terminal)
        if device is None:
            return None, None
        code = new_auth_code()
        values = {"device_id": device, "auth_hash": hash_code(code), "registered_at": utcnow()}
        table = Jt808Terminal.__table__  # type: ignore[attr-defined]
        # Plain statements, not ORM objects: two connections of one terminal may race here.
        for _ in range(2):
            with self.engine.begin() as conn:
                done = conn.execute(
                    update(table).where(table.c.terminal_id == terminal).values(**values)
                ).rowcount
                if not done:
                    try:
                        with conn.begin_nested():
                            conn.execute(insert(table).values(terminal_id=terminal, **values))
                    except IntegrityError:
                        continue
            return device, code
        return None, None

    def authenticate(self, terminal: str, code: str) -> str | None:
        """The device id when `code` is the one issued at the terminal's registration and the terminal is
        still a vehicle's tracker."""
        table = Jt808Terminal.__table__  # type: ignore[attr-defined]
        with self.engine.connect() as conn:
            row = conn.execute(
                select(table.c.id, table.c.device_id, table.c.auth_hash).where(
                    table.c.terminal_id == terminal
                )
            ).first()
        if row is None or not verify_code(code, row.auth_hash):
            return None
        device = self.writer.resolve(terminal)
        if device != row.device_id:
            return None
        with self.engine.begin() as conn:
            conn.execute(update(table).where(table.c.id == row.id).values(last_auth_at=utcnow()))
        return device


def location_record(device: str, loc: j.Location) -> dict[str, Any]:
    attrs: dict[str, Any] = {"altitude": loc.altitude_m}
    if loc.alarm:
        attrs["alarm"] = loc.alarm
    return {
        "device_id": device,
        "fix_ts": loc.fix_ts,
        "lat": loc.lat,
        "lon": loc.lon,
        "speed_kmh": loc.speed_kmh,
        "course": float(loc.course),
        "ignition": loc.acc,
        "odometer_m": loc.odometer_m,
        "valid": loc.valid,
        "attrs": attrs,
    }


@dataclass(frozen=True, slots=True)
class _AfterCommit:
    """An acknowledgement that waits for the positions' batch to commit."""

    future: asyncio.Future[None]
    header: j.Header
    serial: int


Reply = bytes | _AfterCommit


class Jt808Server:
    def __init__(
        self,
        writer: BatchWriter,
        engine: Engine | None = None,
        settings: FeedsSettings | None = None,
    ) -> None:
        self.writer = writer
        self.settings = settings or get_feeds_settings()
        self.registry = Registry(engine or writer.engine, writer)
        self.stats: Counter[str] = Counter()
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="gongwu-jt808")
        self._server: asyncio.Server | None = None
        self._conns: set[_Connection] = set()
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 5015) -> Jt808Server:
        self._server = await asyncio.start_server(self._accept, host, port, limit=1 << 16, backlog=4096)
        self.port = self._server.sockets[0].getsockname()[1]
        log(logger, "jt808 listening", host=host, port=self.port)
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for conn in list(self._conns):
                conn.close()
            await self._server.wait_closed()
            self._server = None
        self._pool.shutdown(wait=False, cancel_futures=True)
        log(logger, "jt808 stopped", **dict(self.stats))

    @property
    def connections(self) -> int:
        return len(self._conns)

    def off_loop(self, fn: Any, *args: Any) -> Awaitable[Any]:
        return asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.stats["connections"] += 1
        if len(self._conns) >= self.settings.jt808_max_connections:
            self.stats["refused_connections"] += 1
            writer.close()
            return
        conn = _Connection(self, reader, writer)
        self._conns.add(conn)
        try:
            await conn.run()
        finally:
            self._conns.discard(conn)


class _Connection:
    def __init__(self, server: Jt808Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.server = server
        self.stats = server.stats
        self.reader = reader
        self.writer = writer
        self.splitter = j.FrameSplitter(server.settings.jt808_max_frame)
        self.terminal: str | None = None  # authenticated terminal id (BCD digits)
        self.device: str | None = None  # its tracker id
        self.serial = 0
        self.parts: dict[tuple[int, int], dict[int, bytes]] = {}
        self.issued: tuple[str, str, str] | None = None  # (terminal, device, code) registered just now

    def close(self) -> None:
        if not self.writer.is_closing():
            self.writer.close()

    def next_serial(self) -> int:
        self.serial = (self.serial + 1) & 0xFFFF
        return self.serial

    async def run(self) -> None:
        s = self.server.settings
        try:
            while True:
                try:
                    async with asyncio.timeout(s.jt808_idle_timeout_s):
                        data = await self.reader.read(1 << 16)
                except TimeoutError:
                    self.stats["idle_timeouts"] += 1
                    break
                if not data:
                    break
                frames = self.splitter.feed(data)
                replies: list[Reply] = []
                for segment in frames:
                    await self.on_frame(segment, replies)
                for reply in replies:
                    self.writer.write(reply if isinstance(reply, bytes) else await self.after_commit(reply))
                if replies:
                    await self.writer.drain()
                if self.splitter.garbage > s.jt808_max_garbage:
                    self.stats["cut_off_garbage"] += 1
                    break
        except (ConnectionError, OSError):
            self.stats["connection_errors"] += 1
        finally:
            self.close()

    async def after_commit(self, pending: _AfterCommit) -> bytes:
        try:
            await pending.future
        except Exception:
            self.stats["write_failures"] += 1
            return j.platform_ack(pending.header, pending.serial, j.ACK_FAIL)
        return j.platform_ack(pending.header, pending.serial)

    async def on_frame(self, segment: bytes, replies: list[Reply]) -> None:
        try:
            msg = j.decode_frame(segment)
        except j.FrameError as exc:
            self.stats["bad_frames"] += 1
            self.stats[f"bad_frame_{exc.reason}"] += 1
            if exc.header is not None:  # readable header, broken checksum or length: "message error"
                replies.append(j.platform_ack(exc.header, self.next_serial(), j.ACK_BAD_MESSAGE))
            return
        self.stats["frames"] += 1
        h = msg.header
        if h.packet is not None:
            joined = self.reassemble(msg)
            if joined is None:
                replies.append(j.platform_ack(h, self.next_serial()))
                return
            msg = joined
        try:
            await self.dispatch(msg, replies)
        except j.FrameError as exc:
            self.stats["bad_messages"] += 1
            self.stats[f"bad_message_{exc.reason}"] += 1
            replies.append(j.platform_ack(h, self.next_serial(), j.ACK_BAD_MESSAGE))
        except Exception:  # e.g. the database is down during a registration: fail the message, not the server
            self.stats["errors"] += 1
            logger.warning("jt808 message failed", exc_info=True, extra={"kv": {"msg_id": hex(h.msg_id)}})
            replies.append(j.platform_ack(h, self.next_serial(), j.ACK_FAIL))

    def reassemble(self, msg: j.Message) -> j.Message | None:
        """Sub-packages of one long message: kept until all arrived (bounded), then joined."""
        h = msg.header
        assert h.packet is not None
        total, index = h.packet
        if not 1 <= index <= total <= 256:
            raise j.FrameError("packet", f"{index}/{total}")
        key = (h.msg_id, total)
        if len(self.parts) > 4 and key not in self.parts:
            self.parts.clear()
        got = self.parts.setdefault(key, {})
        got[index] = msg.body
        if len(got) < total:
            return None
        del self.parts[key]
        body = b"".join(got[i] for i in range(1, total + 1))
        return j.Message(j.Header(h.msg_id, h.terminal, h.serial, h.version, h.encryption, None), body)

    async def dispatch(self, msg: j.Message, replies: list[Reply]) -> None:
        h = msg.header
        mid = h.msg_id
        if h.encryption:
            replies.append(j.platform_ack(h, self.next_serial(), j.ACK_UNSUPPORTED))
        elif mid in (j.LOCATION, j.LOCATION_BATCH):
            self.on_locations(msg, replies)
        elif mid == j.HEARTBEAT:
            self.stats["heartbeats"] += 1
            if self.device is not None and h.terminal == self.terminal:
                self.server.writer.submit("jt808", [], contacts={self.device: utcnow()})
            replies.append(j.platform_ack(h, self.next_serial()))
        elif mid == j.REGISTER:
            replies.append(await self.on_register(msg))
        elif mid == j.AUTHENTICATE:
            replies.append(await self.on_authenticate(msg))
        elif mid == j.LOGOUT:
            self.terminal = self.device = None
            replies.append(j.platform_ack(h, self.next_serial()))
        elif mid == j.QUERY_TIME:
            replies.append(j.time_reply(h, self.next_serial(), int(utcnow().timestamp())))
        elif mid == j.TERMINAL_ACK:
            pass  # answers to our commands; we send none yet
        else:
            self.stats["unsupported"] += 1
            replies.append(j.platform_ack(h, self.next_serial(), j.ACK_UNSUPPORTED))

    async def on_register(self, msg: j.Message) -> bytes:
        h = msg.header
        j.decode_registration(msg.body, h.version)  # a malformed body is a bad message
        device, code = await self.server.off_loop(self.server.registry.register, h.terminal)
        if device is None or code is None:
            self.stats["register_refused"] += 1
            log(logger, "jt808 registration refused: not a vehicle's tracker", terminal=h.terminal)
            return j.register_ack(h, self.next_serial(), j.REG_NO_TERMINAL)
        self.stats["registered"] += 1
        self.issued = (h.terminal, device, code)
        log(logger, "jt808 terminal registered", terminal=h.terminal, device=device)
        return j.register_ack(h, self.next_serial(), j.REG_OK, code)

    async def on_authenticate(self, msg: j.Message) -> bytes:
        h = msg.header
        code = j.decode_auth_code(msg.body, h.version)
        issued = self.issued
        if issued is not None and issued[0] == h.terminal and hmac.compare_digest(issued[2], code):
            # The code this connection was just given: no need to ask the database and scrypt again.
            device: str | None = issued[1]
        else:
            device = await self.server.off_loop(self.server.registry.authenticate, h.terminal, code)
        self.issued = None
        if device is None:
            self.stats["auth_failed"] += 1
            log(logger, "jt808 authentication failed", terminal=h.terminal)
            return j.platform_ack(h, self.next_serial(), j.ACK_FAIL)
        self.terminal, self.device = h.terminal, device
        self.stats["authenticated"] += 1
        self.server.writer.submit("jt808", [], contacts={device: utcnow()})
        return j.platform_ack(h, self.next_serial())

    def on_locations(self, msg: j.Message, replies: list[Reply]) -> None:
        h = msg.header
        if h.msg_id == j.LOCATION:
            locations = [j.decode_location(msg.body)]
        else:
            locations = j.decode_location_batch(msg.body)[1]
        if self.device is None or h.terminal != self.terminal:
            self.stats["unauthenticated_positions"] += len(locations)
            known = self.server.writer.lookup(h.terminal)
            if known is not None:  # counted against the device, so feeds status shows it
                self.server.writer.submit("jt808", [], rejects={known: {"unauthenticated": len(locations)}})
            replies.append(j.platform_ack(h, self.next_serial(), j.ACK_FAIL))
            return
        device = self.device
        records = [location_record(device, loc) for loc in locations]
        future = self.server.writer.committed("jt808", records)
        self.stats["positions"] += len(records)
        replies.append(_AfterCommit(future, h, self.next_serial()))

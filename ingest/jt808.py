"""JT/T 808 codec (2011/2013 and 2019 headers): framing, escapes, checksum, the messages a position feed
needs, and the platform's replies. Pure bytes in, values out — no I/O, no database.

A frame on the wire is `7E | header | body | xor | 7E` with 7E → 7D 02 and 7D → 7D 01 inside.
"""

from __future__ import annotations

import calendar
import functools
import time
from dataclasses import dataclass, field
from datetime import datetime

FLAG = 0x7E
ESC = 0x7D

# Message ids (terminal → platform).
TERMINAL_ACK = 0x0001
HEARTBEAT = 0x0002
LOGOUT = 0x0003
QUERY_TIME = 0x0004
REGISTER = 0x0100
AUTHENTICATE = 0x0102
LOCATION = 0x0200
LOCATION_BATCH = 0x0704
# Platform → terminal.
PLATFORM_ACK = 0x8001
TIME_REPLY = 0x8004
REGISTER_ACK = 0x8100

# 0x8001 results.
ACK_OK = 0
ACK_FAIL = 1
ACK_BAD_MESSAGE = 2
ACK_UNSUPPORTED = 3
# 0x8100 results.
REG_OK = 0
REG_NO_VEHICLE = 2
REG_NO_TERMINAL = 4

# Status bits of a location.
STATUS_ACC = 1 << 0
STATUS_FIXED = 1 << 1
STATUS_SOUTH = 1 << 2
STATUS_WEST = 1 << 3

_CHINA_OFFSET_S = 8 * 3600  # terminal clocks are GMT+8; China has had no DST since 1991
MAX_BODY = 0x3FF  # the length field has 10 bits


class FrameError(ValueError):
    """A frame that cannot be used; `reason` is a short code the server counts by; `header`: what of it
    could be read (a wrong checksum or length under a readable header), so it can be answered."""

    def __init__(self, reason: str, detail: str = "", header: Header | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.header = header


@dataclass(frozen=True, slots=True)
class Header:
    msg_id: int
    terminal: str  # the BCD digits as sent: 12 (2013) or 20 (2019)
    serial: int
    version: int | None = None  # the 2019 protocol version byte; None for 2011/2013 headers
    encryption: int = 0
    packet: tuple[int, int] | None = None  # (total, index from 1) of a sub-packaged message


@dataclass(frozen=True, slots=True)
class Message:
    header: Header
    body: bytes


@dataclass(slots=True)
class Location:
    alarm: int
    status: int
    lat: float
    lon: float
    altitude_m: int
    speed_kmh: float
    course: int
    fix_ts: int  # epoch seconds, UTC
    odometer_m: int | None = None
    extras: dict[int, bytes] = field(default_factory=dict)

    @property
    def acc(self) -> bool:
        return bool(self.status & STATUS_ACC)

    @property
    def valid(self) -> bool:
        return bool(self.status & STATUS_FIXED)


@dataclass(frozen=True, slots=True)
class Registration:
    province: int
    city: int
    maker: str
    model: str
    terminal_model_id: str
    plate_color: int
    plate: str


# ---- framing ----------------------------------------------------------------------------------------


def unescape(data: bytes) -> bytes:
    if ESC not in data:
        return data
    # Every 7D in an escaped stream starts a pair, so 7D 02 must be undone first (see module doc).
    out = data.replace(b"\x7d\x02", b"\x7e").replace(b"\x7d\x01", b"\x7d")
    if data.count(b"\x7d") != data.count(b"\x7d\x01") + data.count(b"\x7d\x02"):
        raise FrameError("escape", "7D not followed by 01 or 02")
    return out


def escape(data: bytes) -> bytes:
    return data.replace(b"\x7d", b"\x7d\x01").replace(b"\x7e", b"\x7d\x02")


def checksum(data: bytes) -> int:
    x = 0
    for b in data:
        x ^= b
    return x


def bcd_digits(raw: bytes) -> str:
    digits = raw.hex()
    if not digits.isdigit():
        raise FrameError("bcd", f"not BCD: {digits}")
    return digits


def decode_frame(segment: bytes) -> Message:
    """One frame's bytes between the 7E markers → header and body; raises FrameError on any defect."""
    data = unescape(segment)
    if len(data) < 13:
        raise FrameError("short", f"{len(data)} bytes")
    msg_id = int.from_bytes(data[0:2], "big")
    props = int.from_bytes(data[2:4], "big")
    length = props & MAX_BODY
    encryption = (props >> 10) & 0x7
    sub = bool(props & (1 << 13))
    if props & (1 << 14):  # 2019: a protocol version byte, then 10 BCD bytes
        version: int | None = data[4]
        terminal_raw, pos = data[5:15], 15
    else:
        version, terminal_raw, pos = None, data[4:10], 10
    serial = int.from_bytes(data[pos : pos + 2], "big")
    pos += 2
    packet = None
    if sub:
        packet = (int.from_bytes(data[pos : pos + 2], "big"), int.from_bytes(data[pos + 2 : pos + 4], "big"))
        pos += 4
    body = data[pos:-1]
    header = Header(msg_id, bcd_digits(terminal_raw), serial, version, encryption, packet)
    # Checked after the header is read: the terminal is told (0x8001 result 2) instead of resending forever.
    if checksum(data[:-1]) != data[-1]:
        raise FrameError("checksum", header=header)
    if len(body) != length:
        raise FrameError("length", f"header says {length} bytes, body has {len(body)}", header=header)
    return Message(header, body)


def encode_frame(
    msg_id: int,
    terminal: str,
    serial: int,
    body: bytes = b"",
    *,
    version: int | None = None,
    packet: tuple[int, int] | None = None,
) -> bytes:
    """A complete frame with markers. `terminal` is padded with leading zeros to 12 or 20 digits;
    `packet` = (total, index) marks one sub-package of a long message."""
    if len(body) > MAX_BODY:
        raise ValueError(f"body of {len(body)} bytes needs sub-packages")
    props = len(body)
    if packet is not None:
        props |= 1 << 13
    if version is not None:
        props |= 1 << 14
        head = msg_id.to_bytes(2, "big") + props.to_bytes(2, "big") + bytes([version])
        head += bytes.fromhex(terminal.zfill(20))
    else:
        head = msg_id.to_bytes(2, "big") + props.to_bytes(2, "big") + bytes.fromhex(terminal.zfill(12))
    data = head + (serial & 0xFFFF).to_bytes(2, "big")
    if packet is not None:
        data += packet[0].to_bytes(2, "big") + packet[1].to_bytes(2, "big")
    data += body
    return b"\x7e" + escape(data + bytes([checksum(data)])) + b"\x7e"


class FrameSplitter:
    """Cuts a TCP byte stream into candidate frames (the bytes between two 7E markers).

    Robust to garbage: bytes before the first marker are dropped, an empty pair `7E 7E` (one frame's end
    and the next one's start) is skipped, and a run longer than `max_frame` without a marker is discarded
    at once, so memory stays bounded whatever a peer sends. `garbage` counts discarded bytes since the
    last candidate frame (the server cuts a peer that sends too much of it).
    """

    def __init__(self, max_frame: int = 4096) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()
        self._synced = False  # a 7E has been seen, so _buf holds the start of a frame
        self.garbage = 0
        self.overflows = 0

    def feed(self, data: bytes) -> list[bytes]:
        frames: list[bytes] = []
        buf = self._buf
        buf += data
        start = 0
        while True:
            idx = buf.find(FLAG, start)
            if idx < 0:
                break
            if self._synced and idx > start:
                frames.append(bytes(buf[start:idx]))
                self.garbage = 0
            elif not self._synced:
                self.garbage += idx - start
            self._synced = True
            start = idx + 1
        del buf[:start]
        if not self._synced:
            self.garbage += len(buf)
            buf.clear()
        elif len(buf) > self.max_frame:
            # No frame is this long: the marker we saw was not a start; wait for a fresh one.
            self.garbage += len(buf)
            self.overflows += 1
            buf.clear()
            self._synced = False
        return frames

    @property
    def pending(self) -> int:
        return len(self._buf)


# ---- message bodies ---------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)  # thousands of terminals report the same few seconds
def _china_bcd_time(raw: bytes) -> int:
    digits = raw.hex()
    if not digits.isdigit():
        raise FrameError("time", f"not BCD: {digits}")
    y, mo, d, h, mi, s = (int(digits[i : i + 2]) for i in range(0, 12, 2))
    try:
        datetime(2000 + y, mo, d, h, mi, s)  # validates the calendar (30 February, hour 24 ...)
    except ValueError:
        raise FrameError("time", digits) from None
    return calendar.timegm((2000 + y, mo, d, h, mi, s, 0, 0, 0)) - _CHINA_OFFSET_S


def decode_location(body: bytes) -> Location:
    """0x0200 body (also each item of 0x0704): 28 fixed bytes then TLV extras."""
    if len(body) < 28:
        raise FrameError("location", f"{len(body)} bytes")
    alarm = int.from_bytes(body[0:4], "big")
    status = int.from_bytes(body[4:8], "big")
    lat = int.from_bytes(body[8:12], "big") / 1e6
    lon = int.from_bytes(body[12:16], "big") / 1e6
    if status & STATUS_SOUTH:
        lat = -lat
    if status & STATUS_WEST:
        lon = -lon
    loc = Location(
        alarm=alarm,
        status=status,
        lat=lat,
        lon=lon,
        altitude_m=int.from_bytes(body[16:18], "big"),
        speed_kmh=int.from_bytes(body[18:20], "big") / 10.0,
        course=int.from_bytes(body[20:22], "big"),
        fix_ts=_china_bcd_time(body[22:28]),
    )
    pos = 28
    n = len(body)
    while pos + 2 <= n:
        tag, size = body[pos], body[pos + 1]
        value = body[pos + 2 : pos + 2 + size]
        if len(value) < size:
            break  # a truncated trailing extra: keep what was readable, as the public decoders do
        pos += 2 + size
        if tag == 0x01 and size == 4:
            loc.odometer_m = int.from_bytes(value, "big") * 100  # 1/10 km
        else:
            loc.extras[tag] = value
    return loc


def decode_location_batch(body: bytes) -> tuple[int, list[Location]]:
    """0x0704: count, type (0 regular batch, 1 blind-area backfill), then length-prefixed locations."""
    if len(body) < 3:
        raise FrameError("batch", f"{len(body)} bytes")
    count, kind = int.from_bytes(body[0:2], "big"), body[2]
    pos = 3
    items: list[Location] = []
    for _ in range(count):
        size = int.from_bytes(body[pos : pos + 2], "big")
        item = body[pos + 2 : pos + 2 + size]
        if size == 0 or len(item) < size:
            raise FrameError("batch", f"item {len(items) + 1} of {count} truncated")
        items.append(decode_location(item))
        pos += 2 + size
    return kind, items


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("gbk", errors="replace").strip()


def decode_registration(body: bytes, version: int | None) -> Registration:
    """0x0100. Field widths: 2011 (model 8), 2013 (model 20, id 7), 2019 (maker 11, model 30, id 30)."""
    if version is not None:
        widths = (11, 30, 30)
    elif len(body) >= 37:
        widths = (5, 20, 7)
    else:
        widths = (5, 8, 7)
    fixed = 4 + sum(widths) + 1
    if len(body) < fixed:
        raise FrameError("register", f"{len(body)} bytes")
    a, b = 4 + widths[0], 4 + widths[0] + widths[1]
    c = b + widths[2]
    return Registration(
        province=int.from_bytes(body[0:2], "big"),
        city=int.from_bytes(body[2:4], "big"),
        maker=_text(body[4:a]),
        model=_text(body[a:b]),
        terminal_model_id=_text(body[b:c]),
        plate_color=body[c],
        plate=_text(body[c + 1 :]),
    )


def decode_auth_code(body: bytes, version: int | None) -> str:
    """0x0102: the whole body is the code (2013); 2019 prefixes its length and appends IMEI and version."""
    if version is not None and body:
        size = body[0]
        return body[1 : 1 + size].decode("ascii", errors="replace")
    return body.split(b"\x00", 1)[0].decode("ascii", errors="replace")


def encode_location(loc: Location) -> bytes:
    """The inverse of `decode_location` (test terminals and the benchmark speak through it)."""
    status = loc.status & ~(STATUS_SOUTH | STATUS_WEST)
    if loc.lat < 0:
        status |= STATUS_SOUTH
    if loc.lon < 0:
        status |= STATUS_WEST
    china = _utc_tuple(loc.fix_ts + _CHINA_OFFSET_S)
    when = bytes.fromhex("".join(f"{v % 100:02d}" for v in china[:6]))
    out = (
        loc.alarm.to_bytes(4, "big")
        + status.to_bytes(4, "big")
        + round(abs(loc.lat) * 1e6).to_bytes(4, "big")
        + round(abs(loc.lon) * 1e6).to_bytes(4, "big")
        + loc.altitude_m.to_bytes(2, "big")
        + round(loc.speed_kmh * 10).to_bytes(2, "big")
        + loc.course.to_bytes(2, "big")
        + when
    )
    if loc.odometer_m is not None:
        out += b"\x01\x04" + (loc.odometer_m // 100).to_bytes(4, "big")
    for tag, value in loc.extras.items():
        out += bytes([tag, len(value)]) + value
    return out


def _utc_tuple(ts: int) -> tuple[int, int, int, int, int, int]:
    t = time.gmtime(ts)
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


def encode_location_batch(locations: list[Location], kind: int = 1) -> bytes:
    out = len(locations).to_bytes(2, "big") + bytes([kind])
    for loc in locations:
        item = encode_location(loc)
        out += len(item).to_bytes(2, "big") + item
    return out


# ---- platform replies -------------------------------------------------------------------------------


def platform_ack(header: Header, serial: int, result: int = ACK_OK) -> bytes:
    """0x8001 answering `header`'s message, in the terminal's own header version."""
    body = header.serial.to_bytes(2, "big") + header.msg_id.to_bytes(2, "big") + bytes([result])
    return encode_frame(PLATFORM_ACK, header.terminal, serial, body, version=header.version)


def register_ack(header: Header, serial: int, result: int, auth_code: str = "") -> bytes:
    body = header.serial.to_bytes(2, "big") + bytes([result])
    if result == REG_OK:
        body += auth_code.encode("ascii")
    return encode_frame(REGISTER_ACK, header.terminal, serial, body, version=header.version)


def time_reply(header: Header, serial: int, now_ts: int) -> bytes:
    """0x8004 (2019): the platform's time, BCD, GMT+8."""
    t = _utc_tuple(now_ts + _CHINA_OFFSET_S)
    body = bytes.fromhex("".join(f"{v % 100:02d}" for v in t))
    return encode_frame(TIME_REPLY, header.terminal, serial, body, version=header.version)

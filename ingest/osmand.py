"""The OsmAnd push receiver (the protocol of Traccar Client and many simple trackers), a bare ASGI app
served on its own port (GONGWU_OSMAND_PORT, default 5055).

Two forms, as Traccar accepts them:
- query parameters (GET, or POST with a query string or a form body): `id`/`deviceid`, `lat` + `lon` or
  `location=lat,lon`, `timestamp` (epoch s or ms, ISO-8601, `yyyy-MM-dd HH:mm:ss` = China time),
  `speed` (knots), `bearing`/`heading`, `altitude`, `accuracy`, `batt`; `ignition` and `odometer`
  (metres) when sent; any other key is kept as an attribute;
- a JSON body (Traccar Client's): `{"device_id", "location": {"timestamp", "coords": {"latitude",
  "longitude", "speed" (m/s), "heading", "altitude", "accuracy"}, "battery", "is_moving", ...}}`,
  where `location` may also be a list.

An unknown or missing device is a 400 and nothing is stored. A 200 means the fix is committed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from core.timeutil import CHINA, utcnow
from ingest.feeds import BatchWriter

logger = logging.getLogger(__name__)

KNOT_KMH = 1.852
MAX_BODY = 1 << 20
_ID_KEYS = ("id", "deviceid")
_HANDLED = {
    "id",
    "deviceid",
    "lat",
    "lon",
    "location",
    "timestamp",
    "speed",
    "bearing",
    "heading",
    "ignition",
    "odometer",
    "valid",
}


class BadRequest(ValueError):
    pass


def parse_timestamp(value: Any, now: datetime | None = None) -> int:
    """Epoch seconds (UTC) from what OsmAnd clients send; a time without a zone is China time."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return int((now or utcnow()).timestamp())
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        s = str(value).strip()
        try:
            number = float(s)
        except ValueError:
            try:
                dt = datetime.fromisoformat(s)
            except ValueError:
                raise BadRequest(f"unreadable timestamp {s[:40]!r}") from None
            if dt.tzinfo is None:
                dt = dt.replace(tzinfo=CHINA)
            return int(dt.astimezone(UTC).timestamp())
    if not math.isfinite(number) or number < 0:
        raise BadRequest(f"unreadable timestamp {value!r}")
    return int(number / 1000 if number >= 1e12 else number)


def _number(value: Any, what: str) -> float:
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{what} is not a number: {str(value)[:40]!r}") from None
    if not math.isfinite(x):
        raise BadRequest(f"{what} is not a number: {value!r}")
    return x


def _coordinate(value: Any, what: str, limit: float) -> float:
    """A latitude (limit 90) or longitude (180): out of range is the client's error, said as such —
    not a 200 for a fix that is then dropped."""
    x = _number(value, what)
    if abs(x) > limit:
        raise BadRequest(f"{what} {x:g} is out of range (-{limit:g}..{limit:g})")
    return x


def _flag(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on")


def _scalar(value: str) -> Any:
    """Other parameters keep their value, as a number or a boolean when they look like one."""
    low = value.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        n = float(value)
    except ValueError:
        return value
    return int(n) if n.is_integer() and "." not in value else n


def from_params(params: Mapping[str, str], now: datetime | None = None) -> tuple[str, dict[str, Any] | None]:
    """(device id as sent, fix record or None when the request carries no position)."""
    device = next((params[k] for k in _ID_KEYS if params.get(k)), "").strip()
    if not device:
        raise BadRequest("missing device id (id or deviceid)")
    lat, lon = params.get("lat"), params.get("lon")
    if (lat is None or lon is None) and params.get("location"):
        parts = params["location"].split(",")
        if len(parts) != 2:
            raise BadRequest("location must be 'lat,lon'")
        lat, lon = parts
    if (lat is None) != (lon is None):
        raise BadRequest("lat and lon come together: one of them is missing")
    if lat is None or lon is None:
        if any(params.get(k) for k in ("timestamp", "speed", "bearing", "heading", "altitude")):
            raise BadRequest("a fix without lat and lon")
        return device, None  # id (and battery, …) only: a sign of life
    attrs = {k: _scalar(v) for k, v in params.items() if k not in _HANDLED}
    course = params.get("bearing", params.get("heading"))
    record = {
        "device_id": device,
        "fix_ts": parse_timestamp(params.get("timestamp"), now),
        "lat": _coordinate(lat, "lat", 90),
        "lon": _coordinate(lon, "lon", 180),
        "speed_kmh": _number(params["speed"], "speed") * KNOT_KMH if params.get("speed") else 0.0,
        "course": _number(course, "bearing") if course not in (None, "") else None,
        "ignition": _flag(params["ignition"]) if params.get("ignition") else None,
        "odometer_m": _number(params["odometer"], "odometer") if params.get("odometer") else None,
        "valid": _flag(params["valid"]) if params.get("valid") else True,
        "attrs": attrs or None,
    }
    return device, record


def from_json(data: Any, now: datetime | None = None) -> tuple[str, list[dict[str, Any]]]:
    """Traccar Client's JSON body: one location or a list of them."""
    if not isinstance(data, dict):
        raise BadRequest("JSON body must be an object")
    device = str(data.get("device_id") or data.get("id") or data.get("deviceid") or "").strip()
    if not device:
        raise BadRequest("missing device id (device_id)")
    locations = data.get("location")
    if locations is None:
        return device, []
    if isinstance(locations, dict):
        locations = [locations]
    if not isinstance(locations, list):
        raise BadRequest("location must be an object or a list")
    return device, [_json_location(device, loc, now) for loc in locations]


def _json_attrs(c: dict[str, Any], loc: dict[str, Any]) -> dict[str, Any]:
    attrs: dict[str, Any] = {key: c[key] for key in ("altitude", "accuracy") if c.get(key) is not None}
    battery = loc.get("battery")
    if isinstance(battery, dict):
        if battery.get("level") is not None:
            attrs["batt"] = round(_number(battery["level"], "battery level") * 100, 1)
        if battery.get("is_charging") is not None:
            attrs["charge"] = bool(battery["is_charging"])
    if loc.get("is_moving") is not None:
        attrs["motion"] = bool(loc["is_moving"])
    if isinstance(loc.get("activity"), dict) and loc["activity"].get("type"):
        attrs["activity"] = str(loc["activity"]["type"])
    if loc.get("event"):
        attrs["event"] = str(loc["event"])
    return attrs


def _json_location(device: str, loc: Any, now: datetime | None) -> dict[str, Any]:
    if not isinstance(loc, dict) or not isinstance(loc.get("coords"), dict):
        raise BadRequest("location without coords")
    c = loc["coords"]
    if c.get("latitude") is None or c.get("longitude") is None:
        raise BadRequest("coords without latitude/longitude")
    speed = _number(c["speed"], "speed") if c.get("speed") is not None else 0.0
    heading = _number(c["heading"], "heading") if c.get("heading") is not None else -1.0
    odometer = loc.get("odometer")
    return {
        "device_id": device,
        "fix_ts": parse_timestamp(loc.get("timestamp"), now),
        "lat": _coordinate(c["latitude"], "latitude", 90),
        "lon": _coordinate(c["longitude"], "longitude", 180),
        "speed_kmh": max(speed, 0.0) * 3.6,  # m/s; -1 means unknown
        "course": heading if heading >= 0 else None,
        "ignition": None,
        "odometer_m": _number(odometer, "odometer") if odometer is not None else None,
        "valid": True,
        "attrs": _json_attrs(c, loc) or None,
    }


Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


async def _read_body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise BadRequest("the client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise BadRequest("body too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _parse(scope: Scope, receive: Receive) -> tuple[str, list[dict[str, Any]]]:
    # as Starlette reads a query string: latin-1 bytes, percent-escapes as UTF-8
    params = dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))
    if scope["method"] == "POST":
        body = await _read_body(receive)
        ctype = next((v for k, v in scope["headers"] if k == b"content-type"), b"").decode("latin-1")
        stripped = body.lstrip()
        if "json" in ctype or stripped[:1] in (b"{", b"["):
            try:
                data = json.loads(body)
            except ValueError:
                raise BadRequest("malformed JSON body") from None
            return from_json(data)
        if body:
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest("body is not UTF-8") from None
            params.update(parse_qsl(text.strip(), keep_blank_values=True))
    device, record = from_params(params)
    return device, [record] if record else []


async def _respond(
    send: Send, status: int, text: str = "", headers: Sequence[tuple[bytes, bytes]] = ()
) -> None:
    body = text.encode()
    head = [(b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": [*head, *headers]})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def create_osmand_app(writer: BatchWriter) -> Callable[[Scope, Receive, Send], Awaitable[None]]:
    """The receiver as a bare ASGI app: a phone's fix is one small request, and a framework's routing,
    middleware and request objects cost more than the rest of its handling (measured: half the event
    loop's time at 2,000 requests/s)."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] not in ("GET", "POST"):
            await _respond(send, 405, "use GET or POST", [(b"allow", b"GET, POST")])
        elif scope["path"] == "/healthz" and scope["method"] == "GET":
            await _respond(send, 200, "ok")
        else:
            try:
                await _receive_fixes(scope, receive, send)
            except Exception:  # a bug, not the client's fault: logged, and a plain 500
                logger.exception("osmand request failed")
                await _respond(send, 500, "internal error")

    async def _receive_fixes(scope: Scope, receive: Receive, send: Send) -> None:
        try:
            raw_id, records = await _parse(scope, receive)
        except BadRequest as exc:
            await _respond(send, 400, str(exc))
            return
        device = writer.lookup(raw_id)
        if device is None:
            device = await asyncio.to_thread(writer.resolve, raw_id)
        if device is None:
            # As Traccar does: an unknown device is refused, so a misconfigured phone shows it.
            writer.stats["osmand_unknown_device"] += 1
            await _respond(send, 400, "unknown device")
            return
        for r in records:
            r["device_id"] = device
        try:
            await writer.committed("osmand", records, contacts={device: utcnow()})
        except Exception:
            logger.warning("osmand write failed", exc_info=True, extra={"kv": {"device": device}})
            await _respond(send, 503, "not stored, try again")
            return
        await _respond(send, 200)

    return app

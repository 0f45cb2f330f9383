"""Pull sources: tracking platforms gongwu reads positions from over HTTP, Traccar's REST API first.

A source lists its devices and returns one device's fixes for a time window; the driver here maps devices
onto vehicles by tracker id, walks each device from its watermark (`FeedDevice.watermark_at`, minus an
overlap for fixes that reach the platform late) to the end in bounded windows, and stores every window
through the one ingest path. Pulling a window twice stores nothing new.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import Session, select

from core import datum
from core.errors import GongwuError, NotFound
from core.http import make_client
from core.logs import log, redact
from core.timeutil import day_bounds, utcnow
from fleet.models import Vehicle
from fleet.positions import FixBatch, known_devices
from ingest.feeds import match_tracker, store_fixes
from ingest.feeds_settings import FeedsSettings, get_feeds_settings
from ingest.models import FeedDevice

logger = logging.getLogger(__name__)

KNOT_KMH = 1.852


class FeedError(GongwuError):
    """The platform failed us (unreachable, refused, answered nonsense): a gateway problem."""

    status_code = 502


@dataclass(frozen=True)
class RemoteDevice:
    remote_id: int | str  # the platform's own id
    unique_id: str  # what the device reports as its id (Traccar `uniqueId`)
    name: str = ""
    last_update: datetime | None = None  # when the device last reached the platform


class PullSource(ABC):
    name: str

    @property
    @abstractmethod
    def where(self) -> str:
        """Where the source is, for messages (never with credentials)."""

    @abstractmethod
    def devices(self) -> list[RemoteDevice]: ...

    @abstractmethod
    def positions(self, device: RemoteDevice, start: datetime, end: datetime) -> FixBatch:
        """The device's fixes with start <= fix time <= end, as a FixBatch with our device id unset
        (the driver fills it)."""

    def tracker_of(self, device: RemoteDevice, vehicles: dict[str, Vehicle]) -> str | None:
        return match_tracker(device.unique_id, vehicles)

    def close(self) -> None:  # noqa: B027 - optional hook
        pass


# ---- Traccar ----------------------------------------------------------------------------------------


def _iso_z(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"time {value!r}")
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:  # Traccar always writes an offset; a bare time from a proxy is UTC by its API
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


_KEEP_ATTRIBUTES = ("alarm", "batteryLevel", "power", "sat", "rssi", "motion", "event")


class TraccarSource(PullSource):
    """Traccar's REST API: `GET /api/devices`, `GET /api/positions?deviceId=&from=&to=` (speed in knots,
    `attributes.odometer`/`totalDistance` in metres). Basic auth or a bearer token."""

    name = "traccar"

    def __init__(
        self,
        url: str,
        *,
        user: str = "",
        password: str = "",
        token: str = "",
        device_map: dict[str, str] | None = None,
        timeout: float = 30.0,
        retries: int = 4,
        backoff_s: float = 1.0,
        backoff_max_s: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
        coord_system: str = "wgs84",
    ) -> None:
        if not url:
            raise GongwuError(
                "GONGWU_TRACCAR_URL is empty: set it to the Traccar server, e.g. http://host:8082"
            )
        if coord_system not in datum.COORD_SYSTEMS:
            raise GongwuError(
                f"GONGWU_TRACCAR_COORD_SYSTEM={coord_system}: use one of {', '.join(datum.COORD_SYSTEMS)}"
            )
        self.coord_system = coord_system  # the platform's datum; fixes are stored WGS-84
        self.url = url.rstrip("/")
        self.device_map = dict(device_map or {})
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self._sleep = sleep
        headers = {"Accept": "application/json"}
        auth: tuple[str, str] | None = None
        if token:
            headers["Authorization"] = f"Bearer {token}"
        elif user:
            auth = (user, password)
        self._client = make_client(self.url, timeout=timeout, auth=auth, headers=headers, transport=transport)
        self.requests = 0

    @classmethod
    def from_settings(cls, s: FeedsSettings, **kw: Any) -> TraccarSource:
        return cls(
            s.traccar_url,
            user=s.traccar_user,
            password=s.traccar_password.get_secret_value(),
            token=s.traccar_token.get_secret_value(),
            device_map=s.traccar_device_map,
            timeout=s.traccar_timeout_s,
            retries=s.traccar_retries,
            backoff_s=s.traccar_backoff_s,
            backoff_max_s=s.traccar_backoff_max_s,
            coord_system=s.traccar_coord_system,
            **kw,
        )

    @property
    def where(self) -> str:
        return redact(self.url)

    def close(self) -> None:
        self._client.close()

    def tracker_of(self, device: RemoteDevice, vehicles: dict[str, Vehicle]) -> str | None:
        mapped = self.device_map.get(device.unique_id)
        if mapped is not None:
            return mapped if mapped in vehicles else None
        return match_tracker(device.unique_id, vehicles)

    def _get(self, path: str, params: dict[str, Any] | None = None, *, device: str = "") -> Any:
        url = f"{self.where}{path}"
        reason = ""
        for attempt in range(self.retries + 1):
            if attempt:
                delay = min(self.backoff_s * 2 ** (attempt - 1), self.backoff_max_s)
                log(logger, "traccar retry", url=url, attempt=attempt, wait_s=delay, reason=reason)
                self._sleep(delay)
            self.requests += 1
            try:
                resp = self._client.get(path, params=params)
            except httpx.TimeoutException:
                reason = "timed out"
                continue
            except httpx.TransportError as exc:
                reason = f"connection failed: {type(exc).__name__}"
                continue
            status = resp.status_code
            if status in (401, 403):
                raise FeedError(
                    f"Traccar at {self.where} refused the credentials (HTTP {status}): check "
                    "GONGWU_TRACCAR_USER/GONGWU_TRACCAR_PASSWORD or GONGWU_TRACCAR_TOKEN"
                )
            if status >= 500 or status == 429:
                reason = f"HTTP {status}"
                continue
            if device and status in (400, 404):
                raise NotFound(
                    f"Traccar at {self.where} does not know device {device} (HTTP {status}): "
                    "check the device list in Traccar or GONGWU_TRACCAR_DEVICE_MAP"
                )
            if status >= 400:
                raise FeedError(f"Traccar at {url} answered HTTP {status}: {resp.text[:200]}")
            try:
                return resp.json()
            except ValueError:
                raise FeedError(
                    f"Traccar at {url} answered a malformed body (not JSON): {resp.text[:80]!r}"
                ) from None
        raise FeedError(f"Traccar at {url} did not answer after {self.retries + 1} attempts ({reason})")

    def devices(self) -> list[RemoteDevice]:
        data = self._get("/api/devices")
        try:
            return [
                RemoteDevice(
                    remote_id=int(d["id"]),
                    unique_id=str(d["uniqueId"]),
                    name=str(d.get("name") or ""),
                    last_update=_parse_time(d["lastUpdate"]) if d.get("lastUpdate") else None,
                )
                for d in data
                if not d.get("disabled")
            ]
        except (TypeError, KeyError, ValueError) as exc:
            raise FeedError(
                f"Traccar at {self.where}/api/devices answered a malformed body ({type(exc).__name__}: {exc})"
            ) from None

    def positions(self, device: RemoteDevice, start: datetime, end: datetime) -> FixBatch:
        params = {"deviceId": device.remote_id, "from": _iso_z(start), "to": _iso_z(end)}
        data = self._get("/api/positions", params, device=device.unique_id)
        try:
            records = [self._record(p) for p in data]
        except (TypeError, KeyError, ValueError, AttributeError) as exc:
            raise FeedError(
                f"Traccar at {self.where}/api/positions answered a malformed body "
                f"({type(exc).__name__}: {exc})"
            ) from None
        batch = FixBatch.from_records(records)
        if self.coord_system != "wgs84":
            batch.lat, batch.lon = datum.to_wgs84(self.coord_system, batch.lat, batch.lon)
        return batch

    @staticmethod
    def _record(p: dict[str, Any]) -> dict[str, Any]:
        attributes = p.get("attributes") or {}
        odometer = attributes.get("odometer", attributes.get("totalDistance"))
        ignition = attributes.get("ignition")
        lat, lon = float(p["latitude"]), float(p["longitude"])
        course = p.get("course")
        attrs: dict[str, Any] = {"traccar_id": p.get("id")}
        if p.get("altitude") is not None:
            attrs["altitude"] = p["altitude"]
        if p.get("accuracy"):
            attrs["accuracy"] = p["accuracy"]
        attrs.update({k: attributes[k] for k in _KEEP_ATTRIBUTES if k in attributes})
        return {
            "device_id": "",
            "fix_ts": int(_parse_time(p["fixTime"]).timestamp()),
            "lat": lat,
            "lon": lon,
            "speed_kmh": float(p.get("speed") or 0.0) * KNOT_KMH,
            "course": None if course is None else float(course),
            "ignition": None if ignition is None else bool(ignition),
            "odometer_m": None if odometer is None else float(odometer),
            "valid": bool(p.get("valid", True)),
            "attrs": attrs,
        }


# ---- the driver -------------------------------------------------------------------------------------


def configured_sources(settings: FeedsSettings | None = None, **kw: Any) -> dict[str, PullSource]:
    """The pull sources the settings name (none when GONGWU_TRACCAR_URL is empty)."""
    s = settings or get_feeds_settings()
    sources: dict[str, PullSource] = {}
    if s.traccar_url:
        sources["traccar"] = TraccarSource.from_settings(s, **kw)
    return sources


def windows(start: datetime, end: datetime, size: timedelta) -> Iterator[tuple[datetime, datetime]]:
    a = start
    while a < end:
        b = min(a + size, end)
        yield a, b
        a = b


def _watermarks(session: Session, source: str) -> dict[str, FeedDevice]:
    rows = session.exec(select(FeedDevice).where(FeedDevice.source == source)).all()
    return {r.device_id: r for r in rows}


def _advance(session: Session, row: FeedDevice | None, source: str, device: str, to: datetime) -> None:
    if row is None:
        row = session.exec(
            select(FeedDevice).where(FeedDevice.source == source, FeedDevice.device_id == device)
        ).first() or FeedDevice(source=source, device_id=device)
    if row.watermark_at is None or row.watermark_at < to:
        row.watermark_at = to
        session.add(row)
        session.flush()


def pull_source(
    session: Session,
    source: PullSource,
    *,
    from_: datetime | None = None,
    to: datetime | None = None,
    device: str | None = None,
    now: datetime | None = None,
    settings: FeedsSettings | None = None,
) -> dict[str, Any]:
    """Pull one source into the caller's transaction. Without `from_`, each device resumes at its
    watermark minus the overlap (a device never pulled starts GONGWU_TRACCAR_FIRST_PULL_HOURS back);
    the watermark moves to `to` unless an explicit window left a gap behind it."""
    s = settings or get_feeds_settings()
    now = now or utcnow()
    to = min(to or now, now)
    if from_ is not None and from_ >= to:
        raise GongwuError(f"--from {from_.isoformat()} is not before --to {to.isoformat()}")
    remote = source.devices()
    vehicles = known_devices(session)
    pairs = [(d, source.tracker_of(d, vehicles)) for d in remote]
    if device is not None:
        wanted = match_tracker(device, {t: vehicles[t] for _, t in pairs if t}) or device
        pairs = [(d, t) for d, t in pairs if t == wanted or d.unique_id == device]
        if not pairs:
            raise NotFound(f"{source.name} at {source.where} does not know device {device}")
        if pairs[0][1] is None:
            raise NotFound(f"device {device} is on {source.name} but is no vehicle's tracker in gongwu")
    marks = _watermarks(session, source.name)
    size = timedelta(hours=s.traccar_window_hours)
    out: dict[str, Any] = {
        "source": source.name,
        "url": source.where,
        "devices": 0,
        "windows": 0,
        "received": 0,
        "inserted": 0,
        "duplicates": 0,
        "dropped": Counter(),
        "not_vehicles": sorted(d.unique_id for d, t in pairs if t is None),
        "errors": [],
    }
    for dev, tracker in pairs:
        if tracker is None:
            continue
        row = marks.get(tracker)
        mark = row.watermark_at if row else None
        if from_ is not None:
            start = from_
        elif mark is not None:
            start = mark - timedelta(minutes=s.traccar_overlap_minutes)
        else:
            start = to - timedelta(hours=s.traccar_first_pull_hours)
        if start >= to:
            continue
        out["devices"] += 1
        try:
            for a, b in windows(start, to, size):
                batch = source.positions(dev, a, b)
                batch.device_id[:] = tracker
                contacts = {tracker: dev.last_update} if dev.last_update else None
                result = store_fixes(
                    session, batch, source.name, now, vehicles=vehicles, contacts=contacts, touch=False
                )
                out["windows"] += 1
                out["received"] += result.received
                out["inserted"] += result.inserted
                out["duplicates"] += result.duplicates
                out["dropped"].update(result.dropped)
        except NotFound as exc:
            if device is not None:
                raise
            # Removed from the platform since it was listed: the others still get pulled, and the
            # watermark stays, so the next pull retries it.
            out["errors"].append(exc.message)
            logger.warning("pull skipped a device", extra={"kv": {"source": source.name, "device": tracker}})
            continue
        if mark is None or start <= mark:
            _advance(session, row, source.name, tracker, to)
    out["dropped"] = dict(out["dropped"])
    log(
        logger,
        "pulled",
        source=source.name,
        url=source.where,
        devices=out["devices"],
        windows=out["windows"],
        received=out["received"],
        inserted=out["inserted"],
    )
    return out


def pull(
    session: Session,
    source_name: str | None = None,
    from_: datetime | None = None,
    to: datetime | None = None,
    *,
    device: str | None = None,
    sources: dict[str, PullSource] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """Pull every configured source (or the one named) into the caller's transaction:
    `{"sources": [{"source", "url", "devices", "windows", "received", "inserted", "duplicates",
    "dropped": {reason: n}, "not_vehicles": [...], "errors": [...]}]}`."""
    own = sources is None
    sources = configured_sources() if sources is None else sources
    try:
        if source_name is not None:
            if source_name not in sources:
                known = ", ".join(sorted(sources)) or "none (set GONGWU_TRACCAR_URL)"
                raise NotFound(f"no pull source '{source_name}': configured sources are {known}")
            chosen = [sources[source_name]]
        else:
            chosen = list(sources.values())
        if not chosen:
            raise GongwuError("no pull source is configured: set GONGWU_TRACCAR_URL (and its credentials)")
        return {
            "sources": [
                pull_source(session, src, from_=from_, to=to, device=device, now=now) for src in chosen
            ]
        }
    finally:
        if own:
            for src in sources.values():
                src.close()


def pull_all(session: Session, until_day: date | None = None) -> dict[str, int]:
    """The nightly step: every configured source up to the end of `until_day` (China day) or now.
    `{}` at once when no source is configured."""
    sources = configured_sources()
    if not sources:
        return {}
    to = min(day_bounds(until_day)[1], utcnow()) if until_day else None
    try:
        report = pull(session, to=to, sources=sources)
    finally:
        for src in sources.values():
            src.close()
    totals: Counter[str] = Counter()
    for r in report["sources"]:
        totals["pull_devices"] += r["devices"]
        totals["pull_received"] += r["received"]
        totals["pull_inserted"] += r["inserted"]
        totals["pull_duplicates"] += r["duplicates"]
        totals["pull_dropped"] += sum(r["dropped"].values())
    return dict(totals)

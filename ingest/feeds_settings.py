"""Settings of the live position feeds (`GONGWU_*`, environment or `.env`): the Traccar pull source and
the push listeners' limits. Secrets are `SecretStr` so they never print in a repr or a log line."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class FeedsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GONGWU_", env_file=".env", extra="ignore")

    # Traccar pull source (off while the URL is empty). Basic auth (user + password) or a bearer token.
    traccar_url: str = ""
    traccar_user: str = ""
    traccar_password: SecretStr = SecretStr("")
    traccar_token: SecretStr = SecretStr("")
    # Traccar uniqueId → our tracker id, when the platform names a device differently (JSON object);
    # otherwise a device whose uniqueId is a vehicle's tracker id is that vehicle's.
    traccar_device_map: dict[str, str] = Field(default_factory=dict)
    traccar_coord_system: str = "wgs84"  # the platform's datum: wgs84, gcj02 (AMap-based) or bd09 (Baidu)
    traccar_window_hours: float = 6.0  # one request covers at most this much time
    traccar_overlap_minutes: int = 60  # re-read before the watermark: fixes that reach the platform late
    traccar_first_pull_hours: float = 48.0  # how far back a device with no watermark starts
    traccar_timeout_s: float = 30.0
    traccar_retries: int = 4  # further attempts after a timeout, a connection error or a 5xx
    traccar_backoff_s: float = 1.0  # first wait; doubles per attempt
    traccar_backoff_max_s: float = 30.0

    # JT/T 808 listener
    jt808_idle_timeout_s: float = 600.0  # terminals heartbeat every 30-60 s by default
    jt808_max_frame: int = 4096  # a frame is at most ~2 KiB escaped
    jt808_max_garbage: int = 65536  # bytes without one usable frame before a peer is cut off
    jt808_max_connections: int = 20000

    # the batching writer shared by the push listeners
    writer_max_batch: int = 5000
    writer_max_wait_ms: float = 20.0

    # feeds_check: a device is stale when nothing came for this long
    feeds_stale_hours: float = 24.0

    @field_validator("traccar_device_map", mode="before")
    @classmethod
    def _json_map(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = json.loads(v) if v.strip() else {}
        return {str(k): str(val) for k, val in dict(v).items()}

    @field_validator("traccar_url")
    @classmethod
    def _strip_slash(cls, v: str) -> str:
        return v.strip().rstrip("/")


@lru_cache
def get_feeds_settings() -> FeedsSettings:
    from pydantic import ValidationError

    from core.errors import ConfigError

    try:
        return FeedsSettings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "GONGWU_" + str(first["loc"][0]).upper() if first["loc"] else "feeds settings"
        raise ConfigError(f"{name}: {first['msg'].removeprefix('Value error, ')}") from None


def reset_feeds_settings() -> None:
    get_feeds_settings.cache_clear()

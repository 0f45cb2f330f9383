"""Typed settings from the environment (`GONGWU_*`) or a `.env` file.

Built on demand (`get_settings()`), never at import time, so tests and the CLI can point at another
database by changing the environment first.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# China's bounding box (lat_min, lat_max, lon_min, lon_max), Zengmu Ansha to Mohe, Pamirs to Fuyuan: the
# default service area, which the position screening and `gongwu trips` both read from here.
CHINA_BBOX = (3.8, 53.6, 73.4, 135.1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GONGWU_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./gongwu.db"
    sql_echo: bool = False
    timezone: str = "Asia/Shanghai"
    language: str = "zh"
    secret_key: str = Field(
        default="", description="signs CSRF tokens; when empty, one is generated and kept in the database"
    )

    # sign-in (issue 9)
    login_max_failures: int = 5  # wrong passwords from one address before that address is refused the user
    login_account_max_failures: int = 50  # from anywhere, before the account itself is locked
    login_lock_minutes: int = 15
    token_days: int = 90  # default lifetime of an API token (0: no expiry)
    token_max_days: int = 365  # the longest a user may make their own token live (admins' tokens too)
    session_hours: int = 12  # web sign-in and /auth/token tokens: absolute lifetime
    session_idle_minutes: int = 120  # web sign-in: idle timeout
    cookie_secure: bool | None = None  # Secure cookies; None: when the request came over https

    # service area for position screening: lat_min, lat_max, lon_min, lon_max
    service_area: tuple[float, float, float, float] = CHINA_BBOX

    # reconciliation (DESIGN §3)
    order_lead_min: int = 30
    order_lag_min: int = 60
    order_cover_share: float = 0.5
    idle_days: int = 30
    silent_hours: int = 48
    tracker_check_months: int = 6  # a tracker is due for its check (检修) this long after the last one
    bulletin_threshold: float = 0.9

    # orders made in gongwu: what else calls for the center's (second-level) approval
    order_center_approval: list[str] = ["out_of_county", "rest_day", "overnight"]
    center_unit: str = (
        "县机关事务服务中心"  # the unit whose cars are the center's pool (dispatched to any unit)
    )

    # 敏感场所: the place types (fleet PlaceKind codes) where a long stop off duty is flagged
    sensitive_places: str = "hotel,restaurant,scenic,entertainment"

    # maps (issue 23): the basemap under tracks and places. "none" draws the service area, the places and a
    # scale (works with no network); "mbtiles:/path/county.mbtiles" is served by gongwu at /tiles/z/x/y; a
    # URL template (https://…/{z}/{x}/{y}.png) is loaded by the browser. Its datum: wgs84 (天地图) or gcj02
    # (AMap, Tencent — drawn data is shifted for display only).
    basemap: str = "none"
    basemap_attribution: str = ""
    basemap_datum: str = "wgs84"
    basemap_max_zoom: int = 18
    # geocoding properties' addresses (`gongwu geocode`, never at page time): off unless a provider is named
    geocoder: str = ""  # nominatim or arcgis (geopy)
    geocoder_prefix: str = (
        ""  # the province and county, e.g. 山西省运城市临猗县: a county's streets are ambiguous
    )
    geocoder_delay_s: float = 1.0  # between two requests, as public services require
    geocoder_domain: str = ""  # a self-hosted Nominatim (host:port) on the government network
    geocoder_scheme: str = "https"

    # running costs (issue 25): a bill at or above this without a contract or invoice no. is flagged
    evidence_threshold_yuan: int = 2000
    tank_litres: float = 70.0  # a car's tank when the vehicle record does not say
    fuel_l100km_min: float = 4.0  # a month's fill-ups over its GPS km outside this range is flagged
    fuel_l100km_max: float = 20.0
    due_reminder_days: int = 30  # insurance and inspection reminders this many days ahead

    # leases
    lease_term_cap_years: int = 5
    rent_overdue_days: int = 15  # a reminder when an instalment of rent is this many days overdue

    # imports: refused before (size) or while (rows) reading, so a small file cannot blow up the server
    import_max_upload_mb: int = 512  # an upload through the API or the page
    import_upload_dir: str = "gongwu-uploads"  # where uploads wait for their import (removed after)
    import_max_xlsx_mb: int = 200  # a workbook's uncompressed size
    import_max_rows: int = 6_000_000  # records in one file (a province-day of positions is ~5 M)
    import_max_errors: int = 1000  # bad rows listed; reading stops past this unless bad rows are skipped

    # the nightly run's lock (SQLite): a holder whose heartbeat stopped this long ago is taken over
    lock_stale_minutes: float = 10

    # listeners
    osmand_port: int = 5055
    jt808_port: int = 0

    # nightly run
    nightly_hour: int = 2
    nightly_minute: int = 0
    # the morning digest (issue 24), after the nightly run, and how notifications leave
    digest_hour: int = 7
    digest_minute: int = 30
    public_url: str = "http://127.0.0.1:8000"  # the pages' address, for the links in e-mail and robots
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_from: str = "gongwu@localhost"
    smtp_starttls: bool = False
    # the hosts a DingTalk or WeCom robot's webhook may be on (a county's own gateway may be added)
    notify_robot_hosts: list[str] = ["oapi.dingtalk.com", "qyapi.weixin.qq.com"]
    basemap_subdomains: str = ""  # what {s} in a tile URL stands for, e.g. 01234567 (天地图), 1234 (AMap)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(v)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (e.g. Asia/Shanghai)") from None
        return v

    @field_validator("basemap")
    @classmethod
    def _known_basemap(cls, v: str) -> str:
        v = v.strip() or "none"
        if v == "none" or v.startswith("mbtiles:"):
            return v
        if v.startswith(("http://", "https://", "/")) and "{z}" in v and "{x}" in v and "{y}" in v:
            return v
        raise ValueError(
            "GONGWU_BASEMAP is none, mbtiles:/path/file.mbtiles, or a tile URL with {z}, {x} and {y}"
        )

    @field_validator("basemap_datum")
    @classmethod
    def _known_datum(cls, v: str) -> str:
        if v.strip().lower() not in ("wgs84", "gcj02"):
            raise ValueError("GONGWU_BASEMAP_DATUM is wgs84 or gcj02")
        return v.strip().lower()

    @field_validator("database_url")
    @classmethod
    def _known_driver(cls, v: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(v)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("only sqlite:/// and postgresql+psycopg:// URLs are supported")
        return v


@lru_cache
def get_settings() -> Settings:
    from pydantic import ValidationError

    from core.errors import ConfigError

    try:
        return Settings()
    except ValidationError as exc:
        # One line naming the setting, e.g. "GONGWU_DATABASE_URL: not a database URL: ..."
        first = exc.errors()[0]
        name = "GONGWU_" + str(first["loc"][0]).upper() if first["loc"] else "settings"
        raise ConfigError(f"{name}: {first['msg'].removeprefix('Value error, ')}") from None


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()

"""Coordinates from addresses, behind a small interface so nothing needs the network by default.

Geocoding is off unless a geocoder is built explicitly (`build_geocoder("nominatim", ...)`) and passed to
`property.service.geocode_office_properties`; tests pass a fake object with a `geocode` method. geopy's
provider failures are mapped onto one `GeocodeError` with a one-line reason.
"""

from __future__ import annotations

from typing import Any, Protocol

from core.errors import ConfigError, GongwuError
from core.i18n import tr

# A county's addresses are ambiguous without their province and county; callers may give a prefix.
PROVIDERS = ("nominatim", "arcgis")


class GeocodeError(GongwuError):
    status_code = 502


class Geocoder(Protocol):
    def geocode(self, address: str) -> tuple[float, float] | None:
        """(lat, lon) in WGS-84, or None when the address is not found."""
        ...


class GeopyGeocoder:
    """A geopy geocoder (Nominatim by default), rate-limited as the public services require."""

    def __init__(
        self,
        provider: str = "nominatim",
        *,
        user_agent: str = "gongwu",
        prefix: str = "",
        timeout: float = 10,
        min_delay_seconds: float = 1.0,
        client: Any = None,
        options: dict[str, Any] | None = None,
    ) -> None:
        if client is None:
            from geopy.geocoders import get_geocoder_for_service

            try:
                cls = get_geocoder_for_service(provider)
            except Exception as exc:  # geopy raises GeocoderNotFound
                raise ConfigError(f"unknown geocoder {provider!r}: {exc}") from None
            # e.g. domain and scheme of a county's own Nominatim on the government network
            client = cls(user_agent=user_agent, timeout=timeout, **(options or {}))
        from geopy.extra.rate_limiter import RateLimiter

        self._geocode = RateLimiter(
            client.geocode, min_delay_seconds=min_delay_seconds, swallow_exceptions=False
        )
        self.prefix = prefix

    def geocode(self, address: str) -> tuple[float, float] | None:
        from geopy.exc import GeopyError

        query = f"{self.prefix}{address}" if self.prefix and not address.startswith(self.prefix) else address
        try:
            location = self._geocode(query)
        except GeopyError as exc:
            reason = f"{type(exc).__name__}: {exc}"
            raise GeocodeError(
                tr(f"地理编码失败 {query!r}: {reason}", f"geocoding {query!r} failed: {reason}")
            ) from None
        if location is None:
            return None
        return float(location.latitude), float(location.longitude)


def from_settings() -> Geocoder | None:
    """The geocoder GONGWU_GEOCODER names (None: geocoding off), with its prefix, delay and server."""
    from core.settings import get_settings

    s = get_settings()
    options: dict[str, Any] = {}
    if s.geocoder_domain:
        options["domain"] = s.geocoder_domain
        options["scheme"] = s.geocoder_scheme
    return build_geocoder(
        s.geocoder or None, prefix=s.geocoder_prefix, min_delay_seconds=s.geocoder_delay_s, options=options
    )


def build_geocoder(provider: str | None, **kwargs: Any) -> Geocoder | None:
    """None (geocoding off) unless a provider is named."""
    if not provider:
        return None
    if provider not in PROVIDERS:
        raise ConfigError(f"unknown geocoder {provider!r}: one of {', '.join(PROVIDERS)}")
    return GeopyGeocoder(provider, **kwargs)

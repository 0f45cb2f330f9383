"""HTTP client factory: every outbound call goes through here so tests can pass a transport."""

from __future__ import annotations

import httpx


def make_client(
    base_url: str = "",
    *,
    timeout: float = 30.0,
    auth: httpx.Auth | tuple[str, str] | None = None,
    headers: dict[str, str] | None = None,
    transport: httpx.BaseTransport | None = None,
) -> httpx.Client:
    return httpx.Client(
        base_url=base_url,
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
        auth=auth,
        headers={"User-Agent": "gongwu/0.1", **(headers or {})},
        transport=transport,
        follow_redirects=True,
    )

"""The push listeners' batching writer, as an event loop uses it."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from ingest.feeds import BatchWriter
from tests.ingest.feeds_support import MakeVehicle, live_vehicles, stored

__all__ = ["live_vehicles"]

T0 = int(time.time()) - 3600


def record(device: str, ts: int) -> dict[str, Any]:
    return {"device_id": device, "fix_ts": ts, "lat": 37.87, "lon": 112.55, "speed_kmh": 0.0, "valid": True}


def test_an_event_loop_is_woken_once_per_batch_and_only_after_the_commit(
    engine: Engine, live_vehicles: MakeVehicle
) -> None:
    device = live_vehicles().tracker_id
    assert device
    writer = BatchWriter(engine, max_wait_ms=200).start()  # a long gathering window: one or two batches
    try:

        async def main() -> tuple[int, list[Any], BaseException | None]:
            loop = asyncio.get_running_loop()
            wakeups = 0
            plain = loop.call_soon_threadsafe

            def counting(*args: Any, **kw: Any) -> Any:
                nonlocal wakeups
                wakeups += 1
                return plain(*args, **kw)

            loop.call_soon_threadsafe = counting  # type: ignore[method-assign]
            futures = [writer.committed("osmand", [record(device, T0 + i)]) for i in range(40)]
            results = await asyncio.gather(*futures)
            assert [p.fix_ts for p in stored(engine, device)] == [T0 + i for i in range(40)]
            try:
                await writer.committed("osmand", [{"fix_ts": T0}])  # no device
            except KeyError as exc:
                return wakeups, results, exc
            return wakeups, results, None

        before = writer.stats["batches"]
        wakeups, results, failed = asyncio.run(main())
        batches = writer.stats["batches"] - before
    finally:
        writer.stop()
    assert results == [None] * 40
    assert isinstance(failed, KeyError)
    assert wakeups == batches + 1 and batches <= 3  # 40 items in a batch or two, then the failed one


def test_a_writer_that_is_not_running_refuses_at_once(engine: Engine) -> None:
    async def main() -> None:
        await BatchWriter(engine).committed("osmand", [record("1", T0)])

    with pytest.raises(RuntimeError, match="not running"):
        asyncio.run(main())

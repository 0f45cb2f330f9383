"""Structured logs: one line per event, `key=value` pairs, our packages at INFO and libraries at WARNING.
Nothing that logs may pass a password or a token; `redact` masks URLs that carry one."""

from __future__ import annotations

import logging
import re
import sys

OUR_PACKAGES = ("core", "accounts", "fleet", "property", "ingest", "scheduler", "gongwu")
_SECRET_IN_URL = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


def redact(text: str) -> str:
    return _SECRET_IN_URL.sub(r"\1***@", text)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S%z"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        fields.update({k: v for k, v in getattr(record, "kv", {}).items()})
        line = " ".join(f"{k}={_quote(v)}" for k, v in fields.items())
        if record.exc_info:
            line += " exc=" + _quote(redact(self.formatException(record.exc_info)))
        return line


def _quote(value: object) -> str:
    s = str(value)
    return f'"{s}"' if (" " in s or "=" in s or not s) else s


def setup_logging(level: int | str | None = None) -> None:
    """Our packages at `level` (default: GONGWU_LOG_LEVEL, else WARNING so that a command's own output
    is not buried; `gongwu serve` raises it to INFO), libraries at WARNING."""
    import os

    if level is None:
        level = os.environ.get("GONGWU_LOG_LEVEL", "WARNING").upper()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(KeyValueFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)
    for name in OUR_PACKAGES:
        logging.getLogger(name).setLevel(level)


def log(logger: logging.Logger, msg: str, **kv: object) -> None:
    """`log(logger, "nightly run done", days=3, trips=120)` → one structured line."""
    logger.info(msg, extra={"kv": kv})

"""Stored codes and their labels — one catalogue for the CLI, the pages, Excel and the messages.

Each domain declares its statuses and kinds as a `Coded` enum in its own `models.py`:

    class VehicleStatus(Coded):
        in_service = "in_service", "在用", "In service"

A member is the code itself (a `str`, stored as is), and carries its Chinese and English label. Every
`Coded` enum registers itself in `CATALOGUE` when its module is imported, so `label_of("in_service")` or
`VehicleStatus.in_service.label` give the label in the configured language (GONGWU_LANGUAGE).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from core.i18n import tr

CATALOGUE: dict[str, type[Coded]] = {}  # enum name → enum, every Coded enum of the code base


class Coded(StrEnum):
    """A code with its labels. Members: `name = "code", "中文", "English"`."""

    zh: str
    en: str

    def __new__(cls, value: str, zh: str = "", en: str = "") -> Coded:
        member = str.__new__(cls, value)
        member._value_ = value
        member.zh = zh or value
        member.en = en or value.replace("_", " ")
        return member

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        CATALOGUE[cls.__name__] = cls

    @property
    def label(self) -> str:
        return tr(self.zh, self.en)

    @classmethod
    def codes(cls) -> tuple[str, ...]:
        return tuple(m.value for m in cls)

    @classmethod
    def labels(cls) -> dict[str, str]:
        """code → label in the configured language (what a select or a legend lists)."""
        return {m.value: m.label for m in cls}

    @classmethod
    def by_word(cls, word: str) -> Coded | None:
        """The member a code, a Chinese label or an English label names (case-insensitive)."""
        w = (word or "").strip()
        for m in cls:
            if w in (m.value, m.zh) or w.casefold() in (m.value.casefold(), m.en.casefold()):
                return m
        return None


def label_of(enum: type[Coded] | str, code: str | None) -> str:
    """The label of `code` in the enum (by class or name); the code itself when unknown."""
    cls = CATALOGUE[enum] if isinstance(enum, str) else enum
    if code is None:
        return ""
    try:
        return cls(code).label
    except ValueError:
        return str(code)

"""One language at a time: Chinese by default, English with GONGWU_LANGUAGE=en.

A message is written once, in both languages, where it is raised: `tr("数据库未初始化", "database not
initialised")`. The pages' and reports' labels of stored codes live in the catalogue of their domain.
"""

from __future__ import annotations

import os

LANGUAGES = ("zh", "en")


def language() -> str:
    """`zh` or `en`, from the settings (environment or .env); `zh` when they cannot be read (a message
    about broken settings must still be said)."""
    try:
        from core.settings import get_settings

        lang = get_settings().language
    except Exception:
        lang = os.environ.get("GONGWU_LANGUAGE", "zh")
    return "en" if str(lang).strip().lower().startswith("en") else "zh"


def tr(zh: str, en: str) -> str:
    """The message in the configured language."""
    return en if language() == "en" else zh

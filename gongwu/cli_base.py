"""The `gongwu` Typer app that every command module registers on, and how a command says it failed.
Nothing here imports a command module, so any of them can be imported first."""

from __future__ import annotations

import typer
from rich.console import Console

from core.i18n import tr

app = typer.Typer(
    name="gongwu",
    help=tr(
        "gongwu 公务 — 县机关事务服务中心的公务用车核对与房产登记。",
        "gongwu — fleet reconciliation and property register of a county office-affairs center.",
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True)


def say_error(message: str) -> None:
    """One line on stderr: what was wrong and what to do."""
    err.print(f"[red]{tr('错误：', 'error: ')}[/red]{message}", markup=True, highlight=False, soft_wrap=True)

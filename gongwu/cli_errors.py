"""How the `gongwu` command says that it was called wrong: one line, in the configured language, naming
the option or argument at fault and where the help is — never a traceback, never click's usage block.

Typer (pinned in pyproject.toml) raises its own copy of click's exceptions and converts values with
pydantic; the messages are built from what those carry (the parameter, pydantic's error type and input),
so they do not depend on the English wording of either library.
"""

from __future__ import annotations

import re
from typing import Any

from core.i18n import tr

_QUOTED = re.compile(r"'([^']*)'")


def _param_name(param: Any) -> str:
    opts = list(getattr(param, "opts", None) or [])
    option = next((o for o in opts if o.startswith("-")), None)
    if option:
        return option
    name = getattr(param, "name", None) or (opts[0] if opts else "?")
    return str(name).upper()


def _is_option(param: Any) -> bool:
    return any(str(o).startswith("-") for o in getattr(param, "opts", None) or [])


def _pydantic_reason(cause: Any) -> str | None:
    """The reason of a value pydantic refused, from its error type (not its English text)."""
    errors = getattr(cause, "errors", None)
    if not callable(errors):
        return None
    try:
        first = errors()[0]
    except Exception:
        return None
    kind, ctx = str(first.get("type", "")), first.get("ctx") or {}
    value = first.get("input")
    shown = f"'{value}'" if value is not None else ""
    if kind.startswith("int"):
        return tr(f"{shown} 不是整数", f"{shown} is not a whole number")
    if kind.startswith("float") or kind.startswith("decimal"):
        return tr(f"{shown} 不是数字", f"{shown} is not a number")
    if kind.startswith("date") or kind.startswith("datetime"):
        return tr(f"{shown} 不是有效日期（格式 YYYY-MM-DD）", f"{shown} is not a valid date (YYYY-MM-DD)")
    bounds = {
        "less_than_equal": ("le", "不能大于", "must be at most"),
        "less_than": ("lt", "须小于", "must be less than"),
        "greater_than_equal": ("ge", "不能小于", "must be at least"),
        "greater_than": ("gt", "须大于", "must be greater than"),
    }
    if kind in bounds:
        key, zh, en = bounds[kind]
        limit = ctx.get(key)
        return tr(f"{shown} {zh} {limit}", f"{shown} {en} {limit}")
    if kind == "value_error":
        text = str(ctx.get("error", first.get("msg", "")))
        if "is not one of" in text:
            choices = ", ".join(_QUOTED.findall(text)[1:])
            return tr(f"{shown} 不是可选值（可选：{choices}）", f"{shown} is not one of: {choices}")
    if kind in ("bool_parsing",):
        return tr(f"{shown} 不是 true/false", f"{shown} is not true or false")
    return None


def _bad_value_reason(exc: Any) -> str:
    reason = _pydantic_reason(exc.__cause__)
    if reason:
        return reason
    message = str(getattr(exc, "message", "") or exc)
    quoted = _QUOTED.findall(message)
    if "does not exist" in message and quoted:
        return tr(f"文件 {quoted[0]} 不存在", f"file {quoted[0]} does not exist")
    if "is a directory" in message and quoted:
        return tr(f"{quoted[0]} 是文件夹，不是文件", f"{quoted[0]} is a folder, not a file")
    if "is not readable" in message and quoted:
        return tr(f"文件 {quoted[0]} 无法读取", f"file {quoted[0]} cannot be read")
    return tr(f"值无效（{message}）", message)


def usage_message(exc: Any) -> str:
    """One line for a usage error raised while parsing the command line."""
    kind = type(exc).__name__
    param = getattr(exc, "param", None)
    message = str(getattr(exc, "message", "") or "")
    if kind == "NoSuchOption":
        option = getattr(exc, "option_name", "") or (_QUOTED.findall(message) or [""])[0]
        near = list(getattr(exc, "possibilities", None) or [])
        hint = tr(f"（是不是 {', '.join(near)}？）", f" (did you mean {', '.join(near)}?)") if near else ""
        return tr(f"没有选项 {option}{hint}", f"no such option {option}{hint}")
    if kind == "MissingParameter" and param is not None:
        name = _param_name(param)
        if _is_option(param):
            return tr(f"缺少选项 {name}", f"missing option {name}")
        return tr(f"缺少参数 {name}", f"missing argument {name}")
    if kind == "BadParameter" and param is not None:
        name = _param_name(param)
        what = tr("选项", "option") if _is_option(param) else tr("参数", "argument")
        return tr(f"{what} {name} 的值无效：", f"{what} {name}: ") + _bad_value_reason(exc)
    if "No such command" in message:
        name = (_QUOTED.findall(message) or [""])[0]
        return tr(f"没有命令 {name}", f"no such command {name}")
    if kind == "BadOptionUsage" and "requires an argument" in message:
        option = (_QUOTED.findall(message) or [""])[0]
        return tr(f"选项 {option} 需要一个值", f"option {option} needs a value")
    if "Got unexpected extra argument" in message:
        extra = message.split("(", 1)[-1].rstrip(")") if "(" in message else ""
        return tr(f"多余的参数 {extra}", f"unexpected extra argument {extra}")
    return message or kind


def help_hint(exc: Any) -> str:
    """Where the help of the command that was called lies."""
    ctx = getattr(exc, "ctx", None)
    path = getattr(ctx, "command_path", None) or "gongwu"
    return tr(f"（{path} --help 查看用法）", f" (see {path} --help)")

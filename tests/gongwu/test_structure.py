"""The house rules of the code base that a linter does not check (CONTRIBUTING.md, docs/architecture.md):
kinds registered explicitly, sessions opened in one place, flags written by one module, labels for every
code. Each test reads the source (ast) or the registries, so a change that breaks a rule fails here."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path

import pytest

from core import labels
from core.importing import ImportSpec

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("core", "accounts", "fleet", "property", "ingest", "scheduler", "gongwu", "bench")


def sources(packages: tuple[str, ...] = PACKAGES) -> Iterator[tuple[str, ast.Module]]:
    for pkg in packages:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            rel = path.relative_to(ROOT).as_posix()
            yield rel, ast.parse(path.read_text(encoding="utf-8"), rel)
    yield "tasks.py", ast.parse((ROOT / "tasks.py").read_text(encoding="utf-8"))


def calls(tree: ast.AST) -> Iterator[tuple[str, ast.Call]]:
    """Every call with the last name of what is called: ``Session(...)`` and ``sqlmodel.Session(...)``
    are both "Session"."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
            yield name, node


def test_no_import_by_name() -> None:
    found = [
        f"{path}:{node.lineno}"
        for path, tree in sources((*PACKAGES, "tests"))
        for name, node in calls(tree)
        if name in {"import_module", "__import__"}
    ]
    assert found == []


def test_sessions_are_opened_only_by_the_unit_of_work() -> None:
    found = [
        f"{path}:{node.lineno}" for path, tree in sources() for name, node in calls(tree) if name == "Session"
    ]
    assert len(found) == 1 and found[0].startswith("core/db.py:"), found


def test_only_fleet_flags_writes_flag_rows() -> None:
    """No other module constructs a Flag, inserts/updates/deletes the table or assigns a flag's fields."""
    tables = {"Flag", "FlagReview"}
    found = []
    for path, tree in sources():
        if path == "fleet/flags.py":
            continue
        for name, node in calls(tree):
            first = node.args[0] if node.args else None
            if name in tables or (
                name in {"insert", "update", "delete"} and isinstance(first, ast.Name) and first.id in tables
            ):
                found.append(f"{path}:{node.lineno}")
        for node in ast.walk(tree):
            targets = (
                node.targets
                if isinstance(node, ast.Assign)
                else [node.target]
                if isinstance(node, ast.AugAssign)
                else []
            )
            for t in targets:
                if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name) and t.value.id == "flag":
                    found.append(f"{path}:{node.lineno}")
    assert found == []


ACTION = re.compile(r"^[a-z_]+\.[a-z_]+$")


def test_audit_actions_are_object_dot_verb() -> None:
    """Every literal action given to the audit log follows ``<object>.<verb>`` (CONTRIBUTING.md); the
    composed ones (the importer's, the flags') are checked on real rows: tests/web/test_county_records.py."""
    literals = []
    for path, tree in sources():
        for name, node in calls(tree):
            if name != "record":
                continue
            for kw in node.keywords:
                if (
                    kw.arg == "action"
                    and isinstance(kw.value, ast.Constant)
                    and isinstance(kw.value.value, str)
                ):
                    literals.append((f"{path}:{node.lineno}", kw.value.value))
    assert len(literals) >= 10  # the scan sees them
    assert [(where, a) for where, a in literals if not ACTION.match(a)] == []


def test_every_code_has_both_labels() -> None:
    assert labels.CATALOGUE, "no coded enum registered"
    for enum in labels.CATALOGUE.values():
        assert issubclass(enum, StrEnum)
        for member in enum:
            zh, en = member.zh, member.en
            assert zh and en and zh != member.value, (enum.__name__, member)
            assert re.search(r"[\u4e00-\u9fff]", zh) and not re.search(r"[\u4e00-\u9fff]", en), (zh, en)


def test_import_kinds_are_registered_explicitly_and_complete() -> None:
    from ingest import kinds

    assert tuple(kinds.SPECS) == kinds.KINDS and all(k == s.kind for k, s in kinds.SPECS.items())
    for spec in kinds.SPECS.values():
        assert isinstance(spec, ImportSpec)
        assert spec.title and spec.key, spec.kind
        assert set(spec.key) <= {c.key for c in spec.columns} | {c.name for c in spec.columns}, spec.kind
        for c in spec.columns:
            assert c.zh and c.name, (spec.kind, c)


@pytest.mark.parametrize(
    "module", ["fleet/rules.py", "property/rules.py", "accounts/rules.py", "fleet/tripcut.py"]
)
def test_rules_touch_no_database(module: str) -> None:
    tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
    imported = {
        (n.module or "") if isinstance(n, ast.ImportFrom) else a.name
        for n in ast.walk(tree)
        if isinstance(n, ast.Import | ast.ImportFrom)
        for a in n.names
    }
    assert not {m for m in imported if m.split(".")[0] in {"sqlmodel", "sqlalchemy"} or m.endswith(".models")}

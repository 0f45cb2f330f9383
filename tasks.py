#!/usr/bin/env python3
"""The two front-door commands, needing nothing but Python ≥ 3.11:

    python3 tasks.py demo   # venv + install, build the demo county in SQLite, nightly run, serve :8000
    python3 tasks.py test   # venv + install, lint, type-check, tests on SQLite, then on PostgreSQL

and the one that refreshes the pinned versions both install (requirements.lock):

    python3 tasks.py lock   # a fresh venv with the newest releases pyproject.toml allows, frozen

and the one that refreshes the vendored map library (gongwu/web/static/vendor/leaflet, served by gongwu
itself: the pages use no CDN):

    python3 tasks.py vendor-leaflet 1.9.4   # npm pack leaflet@VERSION, its dist and LICENSE copied in

The PostgreSQL run uses a throw-away database on GONGWU_TEST_PG_ADMIN_URL (default: the local server as
user postgres). Outside CI an unreachable server skips that run with a message; with CI=true it fails.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PY = BIN / "python"
LOCK = ROOT / "requirements.lock"  # every package version the venv gets, refreshed by `tasks.py lock`
# type-checked; tests run instead
PACKAGES = ("core", "accounts", "fleet", "property", "ingest", "scheduler", "gongwu")
PG_ADMIN_URL = os.environ.get("GONGWU_TEST_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def sh(*args: str | Path, env: dict[str, str] | None = None, check: bool = True) -> int:
    print("+", " ".join(str(a) for a in args), flush=True)
    rc = subprocess.call([str(a) for a in args], cwd=ROOT, env={**os.environ, **(env or {})})
    if check and rc != 0:
        sys.exit(rc)
    return rc


def ensure_env(extras: str = "dev") -> None:
    """Create .venv and install the project at the locked versions; re-install only when pyproject.toml
    or the lock changed."""
    if sys.version_info < (3, 11):  # noqa: UP036 (this file runs before the venv exists)
        sys.exit(f"gongwu needs Python ≥ 3.11, this is {sys.version.split()[0]}")
    if not PY.exists():
        sh(sys.executable, "-m", "venv", VENV)
    lock = LOCK.read_bytes() if LOCK.exists() else b""
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + lock + extras.encode()).hexdigest()
    stamp = VENV / ".gongwu-installed"
    if stamp.exists() and stamp.read_text() == digest:
        return
    sh(PY, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
    constraints = ["-c", str(LOCK)] if LOCK.exists() else []
    sh(PY, "-m", "pip", "install", "--quiet", *constraints, "-e", f".[{extras}]")
    stamp.write_text(digest)


def lock(_args: list[str]) -> None:
    """Resolve the newest versions pyproject.toml allows in a throw-away venv and write them to the lock."""
    with tempfile.TemporaryDirectory(prefix="gongwu-lock-") as tmp:
        venv = Path(tmp) / "venv"
        sh(sys.executable, "-m", "venv", venv)
        py = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
        sh(py, "-m", "pip", "install", "--quiet", "--upgrade", "pip")
        sh(py, "-m", "pip", "install", "--quiet", f"{ROOT}[dev]")
        freeze = [str(py), "-m", "pip", "freeze", "--exclude", "gongwu"]
        frozen = subprocess.run(freeze, check=True, capture_output=True, text=True).stdout
    header = (
        "# Every package version `python3 tasks.py demo|test` (and CI) installs, as constraints.\n"
        "# Refresh with `python3 tasks.py lock` after changing the dependencies in pyproject.toml.\n"
    )
    LOCK.write_text(header + frozen)
    print(f"wrote {LOCK.name}: {len(frozen.splitlines())} packages")


def demo(args: list[str]) -> None:
    """The demo county in ./gongwu-demo.db: its files imported, the nightly run, then the app served.
    Ctrl+C or a SIGTERM to this process reaches the server too."""
    ensure_env()
    sys.exit(run_forwarding([str(BIN / "gongwu"), "demo", *args]))


def run_forwarding(cmd: list[str]) -> int:
    """Run `cmd` until it ends, passing this process's SIGINT and SIGTERM on to it; its exit code."""
    print("+", " ".join(cmd), flush=True)
    # Its own session: a terminal's Ctrl+C reaches the server once, through here, like a SIGTERM does.
    child = subprocess.Popen(cmd, cwd=ROOT, start_new_session=True)

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, forward)
    rc = child.wait()
    return 128 - rc if rc < 0 else rc


def _pg(sql: str) -> bool:
    code = (
        "import sys, psycopg\n"
        "with psycopg.connect(sys.argv[1], autocommit=True, connect_timeout=5) as c: c.execute(sys.argv[2])\n"
    )
    return subprocess.call([str(PY), "-c", code, PG_ADMIN_URL, sql], stderr=subprocess.DEVNULL) == 0


def test(args: list[str]) -> None:
    ensure_env()
    sh(BIN / "ruff", "check", ".")
    sh(BIN / "ruff", "format", "--check", ".")
    sh(BIN / "lint-imports")
    sh(BIN / "mypy", *PACKAGES)
    print("\n=== tests on SQLite ===", flush=True)
    sh(PY, "-m", "pytest", *args, env={"GONGWU_TEST_DATABASE_URL": ""})

    print("\n=== tests on PostgreSQL ===", flush=True)
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    if not _pg("SELECT 1"):
        msg = f"PostgreSQL is not reachable at {PG_ADMIN_URL}"
        if ci:
            sys.exit(f"{msg}: CI=true, so this is a failure")
        print(f"{msg}: skipped the PostgreSQL run (CI=true makes this a failure)")
        return
    name = f"gongwu_test_{uuid.uuid4().hex[:10]}"
    if not _pg(f'CREATE DATABASE "{name}"'):
        sys.exit(f"cannot create the throw-away database {name} on {PG_ADMIN_URL}")
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    try:
        sh(PY, "-m", "pytest", *args, env={"GONGWU_TEST_DATABASE_URL": f"{base}/{name}"})
    finally:
        _pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


LEAFLET = ROOT / "gongwu" / "web" / "static" / "vendor" / "leaflet"


def vendor_leaflet(args: list[str]) -> None:
    """Fetch leaflet@VERSION from the npm registry (`npm pack`), check it, and replace the vendored copy;
    VERSION records what was taken and the archive's SHA-256. Review the diff, run the tests, commit."""
    import shutil
    import tarfile

    if len(args) != 1:
        sys.exit("usage: python3 tasks.py vendor-leaflet VERSION   (e.g. 1.9.4)")
    version = args[0]
    with tempfile.TemporaryDirectory() as tmp:
        sh("npm", "pack", f"leaflet@{version}", "--pack-destination", tmp)
        archive = Path(tmp) / f"leaflet-{version}.tgz"
        digest = hashlib.sha256(archive.read_bytes()).hexdigest()
        with tarfile.open(archive) as tar:
            tar.extractall(tmp, filter="data")
        dist = Path(tmp) / "package" / "dist"
        shutil.rmtree(LEAFLET, ignore_errors=True)
        (LEAFLET / "images").mkdir(parents=True)
        for name in ("leaflet.js", "leaflet.css"):
            shutil.copy(dist / name, LEAFLET / name)
        for image in (dist / "images").glob("*.png"):
            shutil.copy(image, LEAFLET / "images" / image.name)
        shutil.copy(Path(tmp) / "package" / "LICENSE", LEAFLET / "LICENSE")
    (LEAFLET / "VERSION").write_text(
        f"leaflet {version} (BSD-2-Clause, see LICENSE)\nfrom: npm pack leaflet@{version}\n"
        f"sha256 of leaflet-{version}.tgz: {digest}\n"
        "files: dist/leaflet.js dist/leaflet.css dist/images/*.png LICENSE\n"
        "update: python3 tasks.py vendor-leaflet VERSION\n",
        encoding="utf-8",
    )
    print(f"leaflet {version} vendored in {LEAFLET.relative_to(ROOT)} (sha256 {digest[:16]}…)")


def main() -> None:
    commands = {"demo": demo, "test": test, "lock": lock, "vendor-leaflet": vendor_leaflet}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        sys.exit(__doc__)
    os.chdir(ROOT)
    commands[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()

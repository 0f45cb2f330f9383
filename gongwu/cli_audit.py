"""`gongwu audit verify`: check the audit log's hash chain (core/audit.py) on either database."""

from __future__ import annotations

from typing import Annotated

import typer

from core.i18n import tr
from gongwu.cli_base import app
from gongwu.output import Format, emit

audit_app = typer.Typer(
    help="The audit log: check that no row was changed, removed or replaced.", no_args_is_help=True
)
app.add_typer(audit_app, name="audit")


@audit_app.command("verify")
def verify(
    fmt: Annotated[Format, typer.Option("--format", help="table | json")] = Format.table,
) -> None:
    """Recompute the chain from the first row; exit 1 naming the first row that breaks it. Prints the last
    row's number and hash: write them down (or let the nightly report keep them) to notice a cut tail."""
    from core import audit
    from gongwu import cli_db

    engine = cli_db.database()
    with engine.connect() as conn:
        checked, last_hash, broken = audit.check_chain(audit.chain_rows(conn))
        pending = audit.unsealed(conn)
    data = {
        "ok": broken is None,
        "rows_checked": checked,
        "last_hash": last_hash,
        "rows_not_sealed_yet": pending,
        "first_bad_row": None
        if broken is None
        else {"id": broken.id, "seq": broken.seq, "reason": broken.reason},
    }
    if fmt is Format.json:
        emit(data, [], fmt)
    elif broken is None:
        typer.echo(
            tr(
                f"审计日志完好：{checked:,} 行，链尾哈希 {last_hash}",
                f"the audit log holds: {checked:,} rows, last hash {last_hash}",
            )
        )
    else:
        typer.echo(
            tr(
                f"审计日志被改动：第 {checked + 1} 行（id {broken.id}）处链断开：{broken.reason}",
                f"the audit log was tampered with: the chain breaks at row {checked + 1} (id {broken.id}): "
                f"{broken.reason}",
            ),
            err=True,
        )
    if broken is not None:
        raise typer.Exit(1)

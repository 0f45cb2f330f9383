"""`gongwu report certificates | auctions | operating | leases | rent-roll | arrears`: the property clerk's
reports.
The JSON is exactly the API's `/api/v1/reports/...`; table, CSV and XLSX list the rows behind it."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

from core.i18n import tr
from core.labels import label_of
from gongwu import cli_report
from gongwu.cli_base import app
from gongwu.cli_report import FormatOpt, OutOpt, report_app
from gongwu.output import Format
from property import queries as property_queries
from property import service as property_service
from property.models import AuctionResult, Blocker, OperatingStatus, Stage

DateOpt = Annotated[
    date | None,
    typer.Option("--date", formats=["%Y-%m-%d"], help="as of this day (default: today, China time)"),
]


def _today(day: date | None) -> date:
    return day or property_service.china_today()


def _yuan(value: Any) -> str:
    return "" if value is None else f"{value}"


@report_app.command("certificates")
def certificates(fmt: FormatOpt = Format.table, out: OutOpt = None, day: DateOpt = None) -> None:
    """不动产权证: how many are certified, each property's stage and what blocks it, overdue steps."""
    with cli_report.open_session() as session:
        data = property_queries.certificates_report(session, _today(day))
    overdue: dict[str, list[str]] = {}
    for o in data["overdue"]:
        overdue.setdefault(o["code"], []).append(f"{o['step']} {o['due_on']} (+{o['days_overdue']}d)")
    rows = [
        {
            "code": b["code"],
            "name": b["name"],
            "unit": b["unit"],
            "stage": f"{Stage(b['stage']).label} {b['stage']}",
            "blockers": ", ".join(f"{Blocker(x).label} {x}" for x in b["blockers"]),
            "overdue": "; ".join(overdue.get(b["code"], [])),
        }
        for b in data["blocked"]
    ]
    stages = ", ".join(f"{Stage(k).label} {v}" for k, v in data["by_stage"].items() if v)
    title = (
        f"办公用房 {data['properties']} 处：已测绘 {data['surveyed']}，已发证 {data['certified']}"
        f"（{stages}）；逾期事项 {len(data['overdue'])}"
    )
    cli_report.show(
        data, rows, fmt, out, title=title, columns=["code", "name", "unit", "stage", "blockers", "overdue"]
    )


@report_app.command("auctions")
def auctions(
    fmt: FormatOpt = Format.table,
    out: OutOpt = None,
    batch: Annotated[str | None, typer.Option("--batch", help="one batch (default: all)")] = None,
) -> None:
    """拍卖: per batch the lots, sold / unsold / withdrawn (by each lot's last round) and the annual rent."""
    with cli_report.open_session() as session:
        data = property_queries.auctions_report(session, batch=batch)
    rows = [
        {
            "batch": b["batch"],
            "lot": d["lot"],
            "address": d["address"],
            "rounds": d["rounds"],
            "result": f"{AuctionResult(d['result']).label} {d['result']}" if d["result"] else "",
            "reserve_yuan": _yuan(d["reserve_yuan"]),
            "price_yuan": _yuan(d["price_yuan"]),
            "tenant": d["tenant"],
            "lease_start": d["lease_start"],
            "lease_end": d["lease_end"],
        }
        for b in data["batches"]
        for d in b["lots_detail"]
    ]
    title = "；".join(
        f"{b['batch']}：标的 {b['lots']}，成交 {b['sold']}，流拍 {b['unsold']}，撤拍 {b['withdrawn']}，"
        f"年租金 {b['annual_rent_yuan']} 元"
        for b in data["batches"]
    )
    cli_report.show(data, rows, fmt, out, title=title or tr("没有拍卖批次", "no auction batch"))


@report_app.command("operating")
def operating(fmt: FormatOpt = Format.table, out: OutOpt = None, day: DateOpt = None) -> None:
    """经营性用房: counts by status, takeovers past their due date, and vacant property."""
    with cli_report.open_session() as session:
        data = property_queries.operating_report(session, _today(day))
    rows = [
        {
            "issue": tr("逾期未接管", "overdue takeover"),
            "code": t["code"],
            "address": t["address"],
            "owner_unit": t["owner_unit"],
            "status": f"{OperatingStatus.not_taken_over.label} not_taken_over",
            "due_on": t["due_on"],
        }
        for t in data["overdue_takeovers"]
    ] + [
        {
            "issue": tr("空置", "vacant"),
            "code": v["code"],
            "address": v["address"],
            "owner_unit": v["owner_unit"],
            "status": f"{label_of(OperatingStatus, v['status'])} {v['status']}",
            "due_on": None,
        }
        for v in data["vacant"]
    ]
    counts = ", ".join(f"{label_of(OperatingStatus, k)} {v}" for k, v in data["by_status"].items())
    title = f"经营性用房（{counts}）；逾期未接管 {len(data['overdue_takeovers'])}，空置 {len(data['vacant'])}"
    cli_report.show(
        data,
        rows,
        fmt,
        out,
        title=title,
        columns=["issue", "code", "address", "owner_unit", "status", "due_on"],
    )


@report_app.command("leases")
def leases(
    fmt: FormatOpt = Format.table,
    out: OutOpt = None,
    day: DateOpt = None,
    expiring_within: Annotated[
        int | None,
        typer.Option("--expiring-within", min=0, metavar="DAYS", help="only leases ending within DAYS days"),
    ] = None,
) -> None:
    """租赁: leases in force or still to start, with days left and the annual rent total."""
    with cli_report.open_session() as session:
        data = property_queries.leases_report(session, _today(day), expiring_within=expiring_within)
    rows = [
        {
            **{k: x[k] for k in ("code", "address", "owner_unit", "tenant")},
            "annual_rent_yuan": _yuan(x["annual_rent_yuan"]),
            "lease_start": x["lease_start"],
            "lease_end": x["lease_end"],
            "days_left": x["days_left"],
            "state": x["state"],
        }
        for x in data["leases"]
    ]
    within = f"{expiring_within} 天内到期的" if expiring_within is not None else ""
    title = f"{within}租赁 {len(rows)} 份，年租金合计 {data['annual_rent_yuan']} 元"
    cli_report.show(data, rows, fmt, out, title=title)


@report_app.command("rent-roll")
def rent_roll(
    fmt: FormatOpt = Format.table,
    out: OutOpt = None,
    year: Annotated[int | None, typer.Option("--year", help="calendar year (default: this year)")] = None,
) -> None:
    """租金台账: rent falling due per owning unit in a year (pro rata by days, to the fen)."""
    year = year or property_service.china_today().year
    with cli_report.open_session() as session:
        data = property_queries.rent_roll(session, year)
    rows = [
        {**u, "rent_yuan": _yuan(u["rent_yuan"]), "received_yuan": _yuan(u["received_yuan"])}
        for u in data["units"]
    ]
    title = tr(
        f"{year} 年应收租金 {data['rent_yuan']} 元，已收 {data['received_yuan']} 元",
        f"{year}: rent due {data['rent_yuan']} yuan, received {data['received_yuan']} yuan",
    )
    cli_report.show(data, rows, fmt, out, title=title)


@report_app.command("arrears")
def arrears(fmt: FormatOpt = Format.table, out: OutOpt = None, day: DateOpt = None) -> None:
    """欠租: leases whose rent fallen due is not paid in full, most overdue first, with the totals by
    tenant and by property in the JSON."""
    with cli_report.open_session() as session:
        data = property_queries.arrears(session, _today(day))
    rows = [
        {
            **{k: x[k] for k in ("code", "address", "owner", "tenant")},
            "due_yuan": _yuan(x["due_yuan"]), "paid_yuan": _yuan(x["paid_yuan"]),
            "arrears_yuan": _yuan(x["arrears_yuan"]), "overdue_since": x["overdue_since"],
            "days_overdue": x["days_overdue"],
        }
        for x in data["leases"]
    ]  # fmt: skip
    title = tr(
        f"截至 {data['as_of']} 欠租 {len(rows)} 份，合计 {data['arrears_yuan']:.2f} 元",
        f"as of {data['as_of']}: {len(rows)} leases in arrears, {data['arrears_yuan']:.2f} yuan in all",
    )
    cli_report.show(data, rows, fmt, out, title=title)


@app.command("geocode")
def geocode(
    code: Annotated[
        list[str] | None, typer.Option("--code", help="only this property (repeat for more); default: all")
    ] = None,
    retry: Annotated[bool, typer.Option("--retry", help="ask again for addresses not found before")] = False,
    everything: Annotated[bool, typer.Option("--all", help="also those that have coordinates")] = False,
) -> None:
    """Locate office properties and shopfronts from their addresses (GONGWU_GEOCODER, e.g. nominatim, with
    GONGWU_GEOCODER_PREFIX 省市县 and GONGWU_GEOCODER_DOMAIN for a county's own server): for their maps and
    for naming stops. Rate-limited (GONGWU_GEOCODER_DELAY_S), each address asked once; never at page time."""
    from core.errors import ConfigError
    from core.settings import get_settings
    from gongwu import cli_db
    from gongwu.cli_users import cli_actor
    from property import geocode as geocoding
    from scheduler import pipeline

    with cli_db.session() as session:  # an uninitialised database says so first
        geocoder = geocoding.from_settings()
        if geocoder is None:
            raise ConfigError(
                tr(
                    "未配置地理编码服务：设置 GONGWU_GEOCODER（nominatim 或 arcgis），"
                    "政务外网可设 GONGWU_GEOCODER_DOMAIN",
                    "no geocoder: set GONGWU_GEOCODER (nominatim or arcgis), "
                    "and GONGWU_GEOCODER_DOMAIN for your own",
                )
            )
        counts = property_service.geocode_office_properties(
            session, geocoder, actor=cli_actor(), only_missing=not everything, codes=code,
            provider=get_settings().geocoder, retry=retry,
        )  # fmt: skip
        if counts["located"]:
            pipeline.rename_stops(session)  # a property located is a place stops may be named by
    located, missing, cached, skipped = (counts[k] for k in ("located", "not_found", "cached", "skipped"))
    typer.echo(
        tr(
            f"已定位 {located}，未找到 {missing}（其中 {cached} 个来自缓存），无地址 {skipped}",
            f"located {located}, not found {missing} ({cached} from the cache), without an address {skipped}",
        )
    )

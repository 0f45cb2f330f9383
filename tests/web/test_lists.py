"""Lists as daily tools (issue 22): every column sorts the list (a second click turns it round), long lists
have page numbers and a jump box, leases, operating property, auctions and vehicles have a search, and an
export is the list as filtered, searched and sorted."""

from __future__ import annotations

import io
import re
from datetime import datetime
from html.parser import HTMLParser
from urllib.parse import parse_qs, urlsplit

import openpyxl
from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from core.models import Unit
from fleet.models import Flag, Vehicle
from property.models import Lease
from tests.web.conftest import County


class _Table(HTMLParser):
    """The first `table.grid` of a page (or the one after `after`): its headers' aria-sort and sort links,
    and its body rows as cell texts."""

    def __init__(self, after: str = "") -> None:
        super().__init__()
        self.after, self.armed = after, not after
        self.depth = 0  # inside the table
        self.part = ""
        self.heads: list[dict[str, str]] = []
        self.rows: list[list[str]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if not self.armed and a.get("id") == self.after:
            self.armed = True
        if (
            tag == "table"
            and self.armed
            and "grid" in a.get("class", "")
            and not self.depth
            and not self.heads
        ):
            self.depth = 1
            return
        if not self.depth:
            return
        if tag in {"thead", "tbody", "tfoot"}:
            self.part = tag
        elif tag == "th" and self.part == "thead":
            self.heads.append({"aria-sort": a.get("aria-sort", ""), "href": ""})
        elif tag == "a" and self.part == "thead" and self.heads and "sort" in a.get("class", ""):
            self.heads[-1]["href"] = a.get("href", "")
        elif tag == "tr" and self.part == "tbody":
            self.rows.append([])
        elif tag in {"td", "th"} and self.part == "tbody":
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if not self.depth:
            return
        if tag in {"td", "th"} and self.cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "table":
            self.depth = 0
            self.armed = False

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def table(html: str, after: str = "") -> _Table:
    p = _Table(after)
    p.feed(html)
    assert p.heads, "no table.grid on the page"
    return p


def _get(c: TestClient, url: str) -> str:
    r = c.get(url)
    assert r.status_code == 200, (url, r.text[:300])
    return r.text


def _number(text: str) -> float:
    return float(re.sub(r"[^\d.]", "", text) or 0)


def test_every_vehicle_column_sorts_both_ways_and_the_export_follows(
    county: County, clients: dict[str, TestClient]
) -> None:
    c = clients["vehicle_manager"]
    plain = table(_get(c, "/vehicles"))
    assert len(plain.rows) >= 14
    plates = [r[0] for r in plain.rows]
    assert plates == sorted(plates, key=str.casefold), "by plate until a column is clicked"
    assert plain.heads[0]["aria-sort"] == "ascending"
    # the unit column: a click sorts by it, the link on the sorted header turns it round
    by_unit = table(_get(c, plain.heads[1]["href"]))
    units = [r[1] for r in by_unit.rows]
    assert units == sorted(units, key=str.casefold) and by_unit.heads[1]["aria-sort"] == "ascending"
    assert by_unit.heads[0]["aria-sort"] == "none"
    down = table(_get(c, by_unit.heads[1]["href"]))
    assert [r[1] for r in down.rows] == sorted(units, key=str.casefold, reverse=True)
    assert down.heads[1]["aria-sort"] == "descending"
    # every header is a sort link, and each gives the same cars in a different order
    for head in plain.heads:
        assert head["href"], head
        rows = table(_get(c, head["href"])).rows
        assert sorted(r[0] for r in rows) == sorted(plates)
    flags_desc = table(_get(c, "/vehicles?sort=open_flags&dir=desc")).rows
    counts = [int(r[6]) for r in flags_desc]
    assert counts == sorted(counts, reverse=True) and counts[0] > 0
    # the export is the list as sorted
    r = c.get("/vehicles.xlsx?sort=open_flags&dir=desc")
    sheet = openpyxl.load_workbook(io.BytesIO(r.content)).active
    assert sheet is not None
    exported = [row[0] for row in sheet.iter_rows(min_row=3, values_only=True) if row[0]]
    assert exported[: len(flags_desc)] == [row[0] for row in flags_desc]
    # an unknown column falls back to the plate order, not an error
    assert [r[0] for r in table(_get(c, "/vehicles?sort=nope&dir=desc")).rows] == plates


def test_the_vehicle_search_finds_by_unit_model_or_plate(
    county: County, clients: dict[str, TestClient]
) -> None:
    c = clients["vehicle_manager"]
    with Session(county.engine) as s:
        mine = s.exec(select(Vehicle).where(Vehicle.unit_id == county.unit_id)).all()
        unit = s.get(Unit, county.unit_id)
        assert unit is not None and mine
    found = table(_get(c, f"/vehicles?q={unit.name}")).rows
    assert sorted(r[0] for r in found) == sorted(v.plate for v in mine)
    tail = mine[0].plate[-4:]
    assert any(r[0] == mine[0].plate for r in table(_get(c, f"/vehicles?q={tail}")).rows)
    nothing = _get(c, "/vehicles?q=没有这样的车")
    assert "没有符合条件的车辆" in nothing


def _flag_starts(county: County, html: str) -> list[datetime]:
    ids = [int(i) for i in re.findall(r'data-flag-id="(\d+)"', html)]
    with Session(county.engine) as s:
        start = dict(s.exec(select(Flag.id, Flag.start_at).where(col(Flag.id).in_(ids))).all())
    return [start[i] for i in ids]


def test_the_queue_sorts_by_its_columns_and_has_page_numbers_and_a_jump(
    county: County, clients: dict[str, TestClient]
) -> None:
    c = clients["vehicle_manager"]
    first = _get(c, "/flags?status=all")
    total = int(re.search(r'id="queue-total">(\d+)<', first).group(1))  # type: ignore[union-attr]
    assert total > 50, "the demo county has more than a page of flags"
    pages = -(-total // 50)
    assert 'aria-current="page">1<' in first
    assert f'name="page" type="number" min="1" max="{pages}"' in first, "the jump box"
    assert '<input type="hidden" name="status" value="all">' in first, "a jump keeps the filter"
    # the last page by number, and a jump past the end lands on the last page
    last = _get(c, f"/flags?status=all&page={pages}")
    assert f'aria-current="page">{pages}<' in last
    assert f'aria-current="page">{pages}<' in _get(c, "/flags?status=all&page=9999")
    # no column is marked sorted by default (high severity first, then newest)
    assert all(h["aria-sort"] == "none" for h in table(first).heads if h["href"])
    when = _flag_starts(county, _get(c, "/flags?status=all&sort=time&dir=asc"))
    assert len(when) == 50 and when == sorted(when), "oldest first"
    newest = _flag_starts(county, _get(c, "/flags?status=all&sort=time&dir=desc"))
    assert newest == sorted(newest, reverse=True) and newest[0] > when[-1]
    # the sort survives the page links
    later = _flag_starts(county, _get(c, "/flags?status=all&sort=time&dir=asc&page=2"))
    assert min(later) >= max(when)
    # by plate: the plates as the database orders them, the same cars either way round
    up = [r[2] for r in table(_get(c, "/flags?status=all&sort=plate&dir=asc")).rows]
    down = [r[2] for r in table(_get(c, "/flags?status=all&sort=plate&dir=desc")).rows]
    assert up[0] != down[0]
    link = re.search(r'href="([^"]+)" rel="next"', first)
    assert link and parse_qs(urlsplit(link.group(1).replace("&amp;", "&")).query)["status"] == ["all"]


def test_trips_sort_by_distance(clients: dict[str, TestClient]) -> None:
    c = clients["vehicle_manager"]
    rows = table(_get(c, "/trips?sort=km&dir=desc")).rows  # yesterday's
    km = [_number(r[3]) for r in rows]
    assert km == sorted(km, reverse=True) and len(km) > 1
    up = [_number(r[3]) for r in table(_get(c, "/trips?sort=km&dir=asc")).rows]
    assert up == sorted(up)
    assert "合计" in _get(c, "/trips")


def test_leases_operating_and_auctions_search_and_sort(
    county: County, clients: dict[str, TestClient]
) -> None:
    c = clients["property_clerk"]
    with Session(county.engine) as s:
        leases = s.exec(select(Lease).order_by(col(Lease.id))).all()
    assert leases
    page = _get(c, "/properties/leases")
    every = table(page, after="all-leases")
    assert every.rows
    tenant = leases[0].tenant
    found = table(_get(c, f"/properties/leases?q={tenant}"), after="all-leases").rows
    assert found and all(tenant in r[3] for r in found)
    rent = table(_get(c, "/properties/leases?sort=rent&dir=desc"), after="all-leases").rows
    amounts = [_number(r[4]) for r in rent]
    assert amounts == sorted(amounts, reverse=True)

    ops = table(_get(c, "/properties/operating?sort=area&dir=desc"), after="all-operating").rows
    areas = [_number(r[3]) for r in ops if r[3]]
    assert areas == sorted(areas, reverse=True) and len(areas) > 1
    code = ops[0][0]
    hit = table(_get(c, f"/properties/operating?q={code}"), after="all-operating").rows
    assert [r[0] for r in hit] == [code]

    auctions = _get(c, "/properties/auctions")
    batches = table(auctions).rows
    assert batches
    lot = re.search(r'<tr class="r-\w+"><td>([^<]+)</td>', auctions)
    assert lot
    narrowed = _get(c, f"/properties/auctions?q={lot.group(1)}")
    assert lot.group(1) in narrowed and "匹配" in narrowed
    assert "没有符合条件的拍卖批次" in _get(c, "/properties/auctions?q=没有这样的标的")


def test_trends_show_the_county_and_a_unit_by_month_and_each_cars_utilisation(
    county: County, clients: dict[str, TestClient]
) -> None:
    c = clients["vehicle_manager"]
    html = _get(c, "/reports/trends")
    assert html.count("<svg") >= 2, "km and cost bars"
    months = table(html, after="trend-head").rows
    assert len(months) == 12, "the last twelve months by default"
    assert sum(_number(r[2]) for r in months) > 0, "the demo county drove"
    used = table(html, after="use-head")
    rates = [_number(r[3]) for r in used.rows]
    assert rates == sorted(rates), "the least used cars first"
    assert used.heads[3]["aria-sort"] == "ascending"
    # one unit's chart: its own km only
    unit_km = table(_get(c, f"/reports/trends?unit={county.unit_id}"), after="trend-head").rows
    assert 0 < sum(_number(r[2]) for r in unit_km) < sum(_number(r[2]) for r in months)
    assert county.unit_name in _get(c, f"/reports/trends?unit={county.unit_id}")
    # a unit's own staff see their unit's cars only
    viewer = _get(clients["unit_viewer"], "/reports/trends")
    with Session(county.engine) as s:
        theirs = {v.plate for v in s.exec(select(Vehicle).where(Vehicle.unit_id == county.unit_id))}
    assert {r[0] for r in table(viewer, after="use-head").rows} == theirs
    # the exports: the months of every unit, and utilisation as a percentage
    book = openpyxl.load_workbook(io.BytesIO(c.get("/reports/trends.xlsx").content))
    sheet = book.active
    assert sheet is not None and "趋势" in str(sheet["A1"].value)
    book = openpyxl.load_workbook(io.BytesIO(c.get("/reports/utilisation.xlsx").content))
    sheet = book.active
    assert sheet is not None and sheet.cell(3, 5).number_format == "0.0%"
    assert c.get("/reports/trends?from=2026-13").status_code == 422


def test_trackers_sort_and_search(clients: dict[str, TestClient]) -> None:
    c = clients["vehicle_manager"]
    plain = _get(c, "/reports/trackers")
    plates = re.findall(r'<span class="plate">([^<]+)</span>', plain)
    assert len(plates) >= 14
    by_plate = re.findall(
        r'<span class="plate">([^<]+)</span>', _get(c, "/reports/trackers?sort=plate&dir=desc")
    )
    assert by_plate == sorted(plates, key=str.casefold, reverse=True)
    one = re.findall(r'<span class="plate">([^<]+)</span>', _get(c, f"/reports/trackers?q={plates[0]}"))
    assert one == [plates[0]]


def test_stop_names_on_the_flag_page_and_in_the_trips_export(
    county: County, clients: dict[str, TestClient]
) -> None:
    from datetime import timedelta

    from fleet.models import Stop, Trip
    from fleet.places import describe

    c = clients["vehicle_manager"]
    with Session(county.engine) as s:
        for flag in s.exec(select(Flag).where(col(Flag.trip_id).is_not(None)).order_by(col(Flag.id))).all():
            trip = s.get(Trip, flag.trip_id)
            assert trip is not None
            stop = s.exec(
                select(Stop).where(
                    Stop.device_id == trip.device_id,
                    col(Stop.start_at) >= trip.end_at - timedelta(minutes=2),
                    col(Stop.start_at) <= trip.end_at + timedelta(minutes=15),
                )
            ).first()
            if stop is not None and stop.place_name:
                break
        else:
            raise AssertionError("no flagged trip ends at a named stop in the demo county")
        name = describe(stop.place_name, stop.place_m, stop.place_bearing, stop.place_inside)
    page = _get(c, f"/flags/{flag.id}")
    assert "到达地点" in page and name in page
    sheet = openpyxl.load_workbook(io.BytesIO(c.get("/trips.xlsx?day=&plate=&tag=").content)).active
    assert sheet is not None
    header = [x.value for x in sheet[2]]
    column = header.index("到达地点")
    assert any(row[column] for row in sheet.iter_rows(min_row=3, values_only=True))

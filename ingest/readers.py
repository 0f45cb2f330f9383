"""Streaming readers for the county's files: CSV (UTF-8, UTF-8 with BOM, GBK/GB18030, UTF-16; comma, tab,
semicolon) and XLSX. A table finds its header row under any title rows, maps the headers onto the fields of
an import template, and yields rows with the line a clerk sees in the file, so every error can say
`line N, column C (header): reason`. Nothing here touches a database.

    with open_table("定位.csv", kind="positions") as table:
        for item in parse_rows("positions", table):
            ...  # ParsedRow(line, values, cells) or BadRow(line, cells, errors)

Positions have a batch path (`read_positions_batches`) that turns a 2 GB export into NumPy columns.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple

import numpy as np

from core.errors import ValidationFailed
from ingest import normalize as n
from ingest.templates import Template, get_template

Source = str | os.PathLike[str] | bytes | bytearray | BinaryIO

HEADER_SCAN_ROWS = 30  # title rows, notes and blank rows a clerk puts above the header
CHUNK_BYTES = 1 << 20


class TableError(ValidationFailed, ValueError):
    """The file as a whole cannot be read: its encoding, its format, its header."""


class _Missing:
    """The value of a field whose cell a short CSV line does not have (not the same as an empty cell)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


class Row(NamedTuple):
    line: int  # physical line of a CSV (1-based, where the record starts) or the Excel row number
    values: dict[str, object]  # field → raw cell (MISSING when a short line lacks it)
    cells: list[object]  # the whole record as read, for a reject file


@dataclass(frozen=True)
class RowError:
    line: int
    column: str  # Excel column letter, or the 1-based column number in a CSV; "" for the whole row
    header: str  # the header as written in the file
    reason: str
    field: str | None = None

    def __str__(self) -> str:
        if not self.column:
            return f"line {self.line}: {self.reason}"
        return f"line {self.line}, column {self.column} ({self.header}): {self.reason}"


@dataclass
class ParsedRow:
    line: int
    values: dict[str, Any]  # every field of the template; None where the file leaves it empty
    cells: list[object]


@dataclass
class BadRow:
    line: int
    cells: list[object]
    errors: list[RowError]


# ------------------------------------------------------------------------------------------ decoding

_UTF16 = {codecs.BOM_UTF16_LE: "utf-16", codecs.BOM_UTF16_BE: "utf-16"}


class _Lines:
    """Physical lines of a byte stream, decoded chunk by chunk in constant memory.

    The encoding is guessed from the first chunk. A file that starts in plain ASCII is read as UTF-8 until
    its first non-ASCII byte; if that byte is not UTF-8 the file is GBK/GB18030 (the ASCII before it reads
    the same in both), so a platform export whose first Chinese character comes a gigabyte in still
    decodes right, without reading it twice.
    """

    def __init__(self, raw: BinaryIO, name: str) -> None:
        self.raw, self.name = raw, name
        self.bytes_read = 0
        self.lines_emitted = 0
        first = raw.read(CHUNK_BYTES)
        self._first = first
        self._ascii_so_far = False
        self.encoding = self._detect(first)
        self._decoder = codecs.getincrementaldecoder(self.encoding)()

    def _detect(self, first: bytes) -> str:
        if first.startswith(codecs.BOM_UTF8):
            return "utf-8-sig"
        if first[:2] in _UTF16:
            return "utf-16"
        head = first[:4096]
        if head.count(0) > len(head) // 4:  # Excel's "Unicode text" without its BOM
            return "utf-16-le" if head[1::2].count(0) > head[0::2].count(0) else "utf-16-be"
        for encoding in ("utf-8", "gb18030"):
            try:
                codecs.getincrementaldecoder(encoding)().decode(first, final=len(first) < CHUNK_BYTES)
            except UnicodeDecodeError:
                continue
            self._ascii_so_far = encoding == "utf-8" and first.isascii()
            return encoding
        raise TableError(
            f"{self.name}: 无法识别文件编码 unreadable encoding: 既不是 UTF-8 也不是 GBK/GB18030 "
            "(neither UTF-8 nor GBK); 请在 Excel/WPS 中另存为 'CSV UTF-8' save it as CSV UTF-8"
        )

    def _decode(self, chunk: bytes, final: bool) -> str:
        try:
            text = self._decoder.decode(chunk, final)
        except UnicodeDecodeError as e:
            if self.encoding != "utf-8" or not self._ascii_so_far:
                raise self._undecodable(e) from None
            self.encoding = "gb18030"
            self._decoder = codecs.getincrementaldecoder("gb18030")()
            try:
                text = self._decoder.decode(chunk, final)
            except UnicodeDecodeError as e2:
                raise self._undecodable(e2) from None
        if self._ascii_so_far and not chunk.isascii():
            self._ascii_so_far = False
        return text

    def _undecodable(self, e: UnicodeDecodeError) -> TableError:
        line = self.lines_emitted + 1 + bytes(e.object[: e.start]).count(b"\n")
        mixed = "文件混用了多种编码 the file mixes encodings; " if self.encoding.startswith("utf-8") else ""
        return TableError(
            f"{self.name}: 第 {line} 行无法按 {self.encoding} 解码 line {line} cannot be decoded as "
            f"{self.encoding}; {mixed}请统一另存为 UTF-8 save the whole file as UTF-8"
        )

    def _chunks(self) -> Iterator[list[str]]:
        carry = ""
        chunk, self._first = self._first, b""
        while chunk:
            text = carry + self._decode(chunk, final=False)
            self.bytes_read += len(chunk)
            # StringIO with newline="" splits on \n, \r\n and \r like the csv module, and nothing else.
            lines = io.StringIO(text, newline="").readlines()
            # A line cut by the chunk (or a \r that may be half of \r\n) waits for the next chunk.
            carry = lines.pop() if lines and not lines[-1].endswith("\n") else ""
            self.lines_emitted += len(lines)
            yield lines
            chunk = self.raw.read(CHUNK_BYTES)
        rest = carry + self._decode(b"", final=True)
        if rest:
            lines = io.StringIO(rest, newline="").readlines()
            self.lines_emitted += len(lines)
            yield lines

    def __iter__(self) -> Iterator[str]:
        return chain.from_iterable(self._chunks())


def _sniff_delimiter(sample: list[str]) -> str:
    """The delimiter that splits most sample lines into the same number (> 1) of cells; ties go to more
    cells, so a tab file with `1,234.50` amounts is still a tab file."""
    best, best_score = ",", (0, 0)
    for d in (",", "\t", ";", "|"):
        counts: dict[int, int] = {}
        try:
            for rec in csv.reader(sample, delimiter=d):
                if any(c.strip() for c in rec) and len(rec) > 1:
                    counts[len(rec)] = counts.get(len(rec), 0) + 1
        except csv.Error:
            continue
        if counts:
            width, freq = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
            if (freq, width) > best_score:
                best, best_score = d, (freq, width)
    return best


# --------------------------------------------------------------------------------------------- table


def _column_letter(index: int) -> str:
    s = ""
    index += 1
    while index:
        index, r = divmod(index - 1, 26)
        s = chr(65 + r) + s
    return s


def _blank_record(cells: Iterable[object]) -> bool:
    return all(n.is_blank(c) for c in cells)


class Table:
    """An open CSV or XLSX file positioned after its header row. Iterate it for `Row`s."""

    kind: str | None
    template: Template | None
    format: Literal["csv", "xlsx"]
    name: str
    encoding: str | None  # CSV only: utf-8, utf-8-sig, gb18030, utf-16…
    delimiter: str | None  # CSV only
    sheet: str | None  # XLSX only
    header_line: int
    headers: list[str]  # the header row as written (cleaned), in file order
    columns: dict[str, int]  # field (or header, without a kind) → 0-based column index
    scales: dict[str, int | float]  # field → factor from a unit in its header, e.g. 里程(m) → 0.001
    ignored: list[str]  # headers that map to no field
    width: int  # cells a complete record has: up to the last non-empty header

    def __init__(self, source: Source, *, sheet: str | int | None = None, kind: str | None = None) -> None:
        self.template = get_template(kind) if kind else None
        self.kind = self.template.kind if self.template else None
        self.name, raw, self._owned = _open_binary(source)
        self._closers: list[Callable[[], object]] = [raw.close] if self._owned else []
        self.encoding = self.delimiter = self.sheet = None
        self._lines: _Lines | None = None
        self._total_rows: int | None = None
        try:
            magic = raw.read(8)
            raw.seek(0)
            if magic.startswith(b"PK\x03\x04"):
                self.format = "xlsx"
                records = self._open_xlsx(raw, sheet)
            elif magic.startswith(b"\xd0\xcf\x11\xe0"):
                raise TableError(
                    f"{self.name}: 旧版 Excel (.xls) 不支持 old .xls files are not supported; "
                    "请另存为 .xlsx save it as .xlsx"
                )
            else:
                self.format = "csv"
                records = self._open_csv(raw)
            self._find_header(records)
        except BaseException:
            self.close()
            raise

    # -- opening

    def _open_csv(self, raw: BinaryIO) -> Iterator[tuple[int, list[Any]]]:
        self._lines = lines = _Lines(raw, self.name)
        self.encoding = lines.encoding
        it = iter(lines)
        sample: list[str] = []
        for line in it:
            sample.append(line)
            if len(sample) >= 50:
                break
        self.delimiter = _sniff_delimiter(sample)
        return self._csv_records(csv.reader(chain(sample, it), delimiter=self.delimiter))

    def _csv_records(self, reader: Any) -> Iterator[tuple[int, list[Any]]]:
        prev = 0  # line_num after the previous record: a record starts on the next physical line
        try:
            for rec in reader:
                start, prev = prev + 1, reader.line_num
                if any(rec):  # whitespace-only lines are dropped later, only where they fail to parse
                    yield start, rec
        except csv.Error as e:
            raise TableError(
                f"{self.name}: 第 {prev + 1} 行起无法解析 cannot parse from line {prev + 1}: {e} "
                "(引号不配对? unbalanced quote?)"
            ) from None

    def _open_xlsx(self, raw: BinaryIO, sheet: str | int | None) -> Iterator[tuple[int, list[Any]]]:
        from openpyxl import load_workbook

        try:
            wb = load_workbook(raw, read_only=True, data_only=True)
        except Exception as e:  # a damaged zip, a password-protected book…
            raise TableError(f"{self.name}: 无法打开 Excel 文件 cannot open the workbook ({e})") from None
        self._closers.append(wb.close)
        names = wb.sheetnames
        if sheet is None or sheet == "":
            ws = wb.worksheets[0]
        elif isinstance(sheet, str) and sheet.strip() in names:
            ws = wb[sheet.strip()]
        elif str(sheet).strip().isdigit() and 1 <= int(str(sheet).strip()) <= len(names):
            ws = wb.worksheets[int(str(sheet).strip()) - 1]  # a clerk's "sheet 1" is the first
        else:
            raise TableError(f"{self.name}: 没有工作表 no sheet {sheet!r} (有 sheets: {', '.join(names)})")
        self.sheet = ws.title
        self._total_rows = getattr(ws, "max_row", None)
        if hasattr(ws, "reset_dimensions"):
            ws.reset_dimensions()  # some writers store a wrong sheet size; read what is really there
        return self._xlsx_records(ws)

    @staticmethod
    def _xlsx_records(ws: Any) -> Iterator[tuple[int, list[Any]]]:
        for cells in ws.iter_rows():
            values = [c.value for c in cells]
            if _blank_record(values):
                continue
            line = next(c.row for c in cells if getattr(c, "row", None))
            yield line, values

    def _find_header(self, records: Iterator[tuple[int, list[Any]]]) -> None:
        head: list[tuple[int, list[Any]]] = []
        for rec in records:
            head.append(rec)
            if len(head) >= HEADER_SCAN_ROWS:
                break
        if not head:
            raise TableError(f"{self.name}: 文件是空的 the file has no data")
        at = self._header_index(head)
        self.header_line, header = head[at]
        self.headers = [n.clean(h) for h in header]
        self.width = max((i + 1 for i, h in enumerate(self.headers) if h), default=0)
        self._map_headers()
        self._records: Iterator[tuple[int, list[Any]]] = chain(head[at + 1 :], records)

    def _header_index(self, head: list[tuple[int, list[Any]]]) -> int:
        t = self.template
        if t is None:  # no kind: the first row as wide as the widest (title rows have one cell)
            widths = [sum(not n.is_blank(c) for c in rec) for _, rec in head]
            return next(i for i, w in enumerate(widths) if w >= max(2, max(widths) // 2) or w == max(widths))
        scores = [len({m.field.name for c in rec if (m := t.match(c))}) for _, rec in head]
        best = max(scores)
        if best == 0:
            expected = ", ".join(f.header for f in t.required)
            raise TableError(
                f"{self.name}: 找不到表头 no header row in the first {len(head)} rows "
                f"(应有 expected: {expected})"
            )
        return scores.index(best)

    def _map_headers(self) -> None:
        self.columns, self.scales, self.ignored = {}, {}, []
        t = self.template
        if t is None:
            for i, h in enumerate(self.headers):
                if h and h not in self.columns:
                    self.columns[h] = i
            return
        ranks: dict[str, int] = {}
        for i, h in enumerate(self.headers):
            m = t.match(h)
            if m is None:
                if h:
                    self.ignored.append(h)
                continue
            name = m.field.name
            if name in self.columns and ranks[name] == m.rank:
                j = self.columns[name]
                raise TableError(
                    f"{self.name}: 列重复 columns {self.column_label(j)} ({self.headers[j]}) and "
                    f"{self.column_label(i)} ({h}) both give {m.field.zh} ({name}); 请删除其一 delete one"
                )
            if name not in self.columns or m.rank < ranks[name]:
                if name in self.columns:
                    self.ignored.append(self.headers[self.columns[name]])
                self.columns[name], ranks[name], self.scales[name] = i, m.rank, m.scale
            else:
                self.ignored.append(h)
        missing = [f for f in t.required if f.name not in self.columns]
        if missing:
            names = ", ".join(f"{f.zh} ({f.name})" for f in missing)
            found = ", ".join(filter(None, self.headers))
            raise TableError(
                f"{self.name}: 缺少必需的列 missing required columns: {names}; "
                f"第 {self.header_line} 行的表头 header on line {self.header_line}: {found}"
            )

    # -- reading

    def column_label(self, index: int) -> str:
        return _column_letter(index) if self.format == "xlsx" else str(index + 1)

    def locate(self, field: str) -> tuple[str, str]:
        """(column label, header as written) of a field, for an error message."""
        i = self.columns[field]
        return self.column_label(i), self.headers[i]

    def records(self) -> Iterator[tuple[int, list[Any]]]:
        """(line, cells) of every non-blank record after the header."""
        return self._records

    def __iter__(self) -> Iterator[Row]:
        columns = list(self.columns.items())
        short = MISSING if self.format == "csv" else None  # an XLSX row simply ends at its last value
        for line, cells in self._records:
            if short is MISSING and _blank_record(cells):
                continue
            k = len(cells)
            yield Row(line, {f: cells[i] if i < k else short for f, i in columns}, cells)

    @property
    def progress(self) -> tuple[int, int | None]:
        """(done, total) for a progress bar: bytes of a CSV, or rows of an XLSX (total as the file says)."""
        if self._lines is not None:
            return self._lines.bytes_read, self._size
        return 0, self._total_rows

    @property
    def _size(self) -> int | None:
        raw = self._lines.raw if self._lines else None
        try:
            return os.fstat(raw.fileno()).st_size if raw is not None else None
        except (OSError, AttributeError, io.UnsupportedOperation):
            return None

    def close(self) -> None:
        while self._closers:
            self._closers.pop()()

    def __enter__(self) -> Table:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _open_binary(source: Source) -> tuple[str, BinaryIO, bool]:
    """(name for messages, binary stream, whether we opened it and so close it)."""
    if isinstance(source, bytes | bytearray):
        return "上传文件", io.BytesIO(source), True
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            return path.name, path.open("rb"), True
        except FileNotFoundError:
            raise TableError(f"文件不存在 no such file: {path}") from None
        except IsADirectoryError:
            raise TableError(f"这是目录不是文件 not a file: {path}") from None
    stream = source
    if not stream.seekable():  # a pipe: the header sniff needs to look twice at the start
        stream = io.BytesIO(stream.read())
    return getattr(source, "name", None) or "上传文件", stream, False


def open_table(source: Source, *, sheet: str | int | None = None, kind: str | None = None) -> Table:
    """Open a CSV or XLSX file (path, bytes or binary stream) positioned after its header row.

    With a kind, headers map onto that template's fields, and missing required columns raise a
    `TableError` naming them; without, values are keyed by the header as written. `sheet` is a sheet name
    or its 1-based position; the first sheet by default.
    """
    return Table(source, sheet=sheet, kind=kind)


# ----------------------------------------------------------------------------------------- parse_rows


def _structure_errors(table: Table, line: int, cells: list[Any]) -> list[RowError]:
    """A CSV line with fewer cells than the header was cut off; one with extra non-empty cells has a
    comma too many. Either way its values are in the wrong place, so the row is refused whole."""
    if table.format != "csv":
        return []
    k, w = len(cells), table.width
    if k < w:
        return [
            RowError(
                line,
                table.column_label(k),
                table.headers[k],
                f"该行不完整 line has {k} of {w} columns (被截断? truncated?)",
            )
        ]
    if k > w and not _blank_record(cells[w:]):
        return [
            RowError(
                line,
                table.column_label(w),
                "",
                f"该行多出 {k - w} 列 line has {k} cells, the header {w} "
                "(值里有未加引号的分隔符? an unquoted comma?)",
            )
        ]
    return []


def parse_rows(kind: str, rows: Table | Iterable[Row]) -> Iterator[ParsedRow | BadRow]:
    """Apply the template's normalisers and row rules: each row comes out as a `ParsedRow` (all fields, None
    where empty, units scaled) or a `BadRow` with every `RowError` found in it.

    Given a `Table`, errors name the file's column and header; given bare rows, the field name.
    """
    t = get_template(kind)
    table = rows if isinstance(rows, Table) else None
    if table is not None and table.kind != t.kind:
        raise ValueError(f"table was opened as {table.kind!r}, not {t.kind!r}")
    where: dict[str, tuple[str, str]] = {}
    for f in t.fields:
        where[f.name] = table.locate(f.name) if table and f.name in table.columns else (f.name, f.zh)
    scales = table.scales if table else {}

    for line, raw, cells in rows:
        if table is not None and (errors := _structure_errors(table, line, cells)):
            yield BadRow(line, cells, errors)
            continue
        errors = []
        values: dict[str, Any] = {}
        for f in t.fields:
            v = raw.get(f.name)
            values[f.name] = None
            col, header = where[f.name]
            if v is MISSING:
                errors.append(
                    RowError(line, col, header, "该行在此列前结束 line ends before this column", f.name)
                )
            elif n.is_blank(v):
                if f.required:
                    errors.append(RowError(line, col, header, "缺少必填项 required value missing", f.name))
            else:
                try:
                    parsed = f.parse(v)
                except n.FieldError as e:
                    errors.append(RowError(line, col, header, e.reason, f.name))
                    continue
                scale = scales.get(f.name, 1)
                values[f.name] = parsed * scale if scale != 1 else parsed
        if not errors:
            for check in t.checks:
                for name, reason in check(values):
                    col, header = where[name]
                    errors.append(RowError(line, col, header, reason, name))
        yield BadRow(line, cells, errors) if errors else ParsedRow(line, values, cells)


# --------------------------------------------------------------------------------- positions, batched


@dataclass
class PositionBatch:
    """Up to `batch_size` good fixes as columns, and the bad rows read alongside them."""

    line: np.ndarray  # int64
    device_id: np.ndarray  # object (str)
    plate: np.ndarray  # object (canonical plate str, or None)
    fixed_at: np.ndarray  # int64 epoch seconds, UTC
    lat: np.ndarray  # float64
    lon: np.ndarray  # float64
    speed_kmh: np.ndarray  # float64
    course: np.ndarray  # float64, NaN where unknown
    ignition: np.ndarray  # int8: -1 unknown, 0 off, 1 on
    odometer_m: np.ndarray  # float64, NaN where unknown
    rejects: list[BadRow]

    def __len__(self) -> int:
        return len(self.line)


class _Bad:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


def _map_unique(col: Sequence[Any], parse: Callable[[object], Any], blank: object) -> tuple[list[Any], bool]:
    """Normalise a column with few distinct values (devices, plates, ACC) once per distinct value.
    Returns the values, with a `_Bad` for each unreadable cell, and whether there is any."""
    lookup: dict[Any, Any] = {}
    for v in set(col):
        if n.is_blank(v):
            lookup[v] = blank
            continue
        try:
            lookup[v] = parse(v)
        except n.FieldError as e:
            lookup[v] = _Bad(e.reason)
    any_bad = any(isinstance(v, _Bad) for v in lookup.values())
    return list(map(lookup.__getitem__, col)), any_bad


# Vectorised plausibility of a parsed column; cells failing it get their normaliser's message.
_VALID: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "lat": lambda a: np.abs(a) <= 90,
    "lon": lambda a: np.abs(a) <= 180,
    "speed_kmh": lambda a: a >= 0,
    "odometer_km": lambda a: a >= 0,
    "course": lambda a: np.ones(len(a), bool),
}


def _float_column(
    col: Sequence[Any], parse: Callable[[object], float], name: str, required: bool, fast: bool
) -> tuple[np.ndarray, dict[int, str]]:
    size = len(col)
    errors: dict[int, str] = {}
    arr: np.ndarray | None = None
    if fast:
        try:
            arr = np.array(col, dtype=np.float64)  # C parsing of plain decimal text
        except ValueError:
            arr = None
    if arr is not None:
        valid = np.isfinite(arr) & _VALID[name](arr)
        for i in np.flatnonzero(~valid).tolist():
            try:
                parse(col[i])
                errors[i] = "不是数字 not a number"
            except n.FieldError as e:
                errors[i] = e.reason
        return arr, errors
    arr = np.empty(size, np.float64)
    for i, v in enumerate(col):
        if n.is_blank(v):
            arr[i] = np.nan
            if required:
                errors[i] = "缺少必填项 required value missing"
            continue
        try:
            arr[i] = parse(v)
        except n.FieldError as e:
            arr[i] = np.nan
            errors[i] = e.reason
    return arr, errors


def _position_batch(table: Table, lines: list[int], recs: list[list[Any]]) -> PositionBatch:
    t = table.template
    assert t is not None
    size = len(recs)
    idx = table.columns
    bad: dict[int, list[RowError]] = {}

    def err(i: int, name: str, reason: str) -> None:
        col, header = table.locate(name)
        bad.setdefault(i, []).append(RowError(lines[i], col, header, reason, name))

    need = max(idx.values()) + 1
    if table.format == "csv":
        for i in np.flatnonzero(np.fromiter(map(len, recs), np.int64, size) != table.width).tolist():
            if problems := _structure_errors(table, lines[i], recs[i]):
                bad[i] = problems
    if table.format == "xlsx" or bad:  # rows of unequal length: pad so the columns line up
        for i, rec in enumerate(recs):
            if len(rec) < need:
                recs[i] = rec + [None] * (need - len(rec))
    columns = list(zip(*recs, strict=False)) if recs else [()] * need

    def column(name: str) -> Sequence[Any]:
        return columns[idx[name]] if name in idx else [None] * size

    device, any_bad = _map_unique(column("device_id"), n.text, _Bad("缺少必填项 required value missing"))
    if any_bad:
        for i, d in enumerate(device):
            if isinstance(d, _Bad):
                err(i, "device_id", d.reason)
    plates: list[Any] = [None] * size
    if "plate" in idx:
        plates, any_bad = _map_unique(column("plate"), n.plate, None)
        for i, p in enumerate(plates) if any_bad else ():
            if isinstance(p, _Bad):
                err(i, "plate", p.reason)
    ignition = np.full(size, -1, np.int8)
    if "ignition" in idx:
        flags, any_bad = _map_unique(column("ignition"), lambda v: int(n.boolean(v)), -1)
        for i, v in enumerate(flags) if any_bad else ():
            if isinstance(v, _Bad):
                err(i, "ignition", v.reason)
                flags[i] = -1
        ignition = np.array(flags, dtype=np.int8)
    epochs, time_errors = n.epochs_china(column("fixed_at"))
    for i, reason in time_errors.items():
        err(i, "fixed_at", reason)

    fast = table.format == "csv"
    floats: dict[str, np.ndarray] = {}
    for name in ("lat", "lon", "speed_kmh", "course", "odometer_km"):
        f = t.field(name)
        if name not in idx:
            floats[name] = np.full(size, np.nan)
            continue
        arr, errs = _float_column(column(name), f.parse, name, f.required, fast)
        for i, reason in errs.items():
            err(i, name, reason)
        scale = table.scales.get(name, 1)
        floats[name] = arr * scale if scale != 1 else arr

    rejects: list[BadRow] = []
    keep = np.ones(size, bool)
    for i in sorted(bad):
        keep[i] = False
        if not _blank_record(recs[i]):  # a line of spaces is no row, and no error either
            errors = sorted(bad[i], key=lambda e: idx.get(e.field or "", -1))
            rejects.append(BadRow(lines[i], recs[i], errors))
    return PositionBatch(
        line=np.array(lines, np.int64)[keep],
        device_id=np.array(device, dtype=object)[keep],
        plate=np.array(plates, dtype=object)[keep],
        fixed_at=epochs[keep],
        lat=floats["lat"][keep],
        lon=floats["lon"][keep],
        speed_kmh=floats["speed_kmh"][keep],
        course=floats["course"][keep],
        ignition=ignition[keep],
        odometer_m=(floats["odometer_km"] * 1000)[keep],
        rejects=rejects,
    )


def read_positions_batches(
    source: Source | Table, batch_size: int = 100_000, *, sheet: str | int | None = None
) -> Iterator[PositionBatch]:
    """A positions file (CSV or XLSX) as batches of NumPy columns, in constant memory.

    Rows that cannot be read come back in each batch's `rejects`, with their line, column and reason;
    plausibility (0,0, the future, jumps) is the caller's business.
    """
    table = source if isinstance(source, Table) else open_table(source, kind="positions", sheet=sheet)
    try:
        if table.kind != "positions":
            raise ValueError(f"table was opened as {table.kind!r}, not 'positions'")
        lines: list[int] = []
        recs: list[list[Any]] = []
        for line, rec in table.records():
            lines.append(line)
            recs.append(rec)
            if len(recs) >= batch_size:
                yield _position_batch(table, lines, recs)
                lines, recs = [], []
        if recs:
            yield _position_batch(table, lines, recs)
    finally:
        if table is not source:
            table.close()

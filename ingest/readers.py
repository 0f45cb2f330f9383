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
import zipfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from functools import partial
from itertools import chain, islice
from operator import methodcaller
from pathlib import Path
from typing import Any, BinaryIO, Literal, NamedTuple
from xml.etree.ElementTree import ParseError

import numpy as np

from core import normalize as n
from core.errors import ValidationFailed
from core.i18n import tr
from core.importing import ImportSpec
from core.perf import gc_paused
from core.settings import get_settings
from ingest.kinds import better_kind, get_kind

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
        header = f" ({self.header})" if self.header else ""
        if self.column:
            column = f"第 {self.column} 列" if self.column.isdigit() else f"{self.column} 列"  # 第 2 列, B 列
            where = tr(
                f"第 {self.line} 行, {column}{header}",
                f"line {self.line}, column {self.column}{header}",
            )
        else:
            where = tr(f"第 {self.line} 行", f"line {self.line}")
        return f"{where}: {self.reason}"


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
            tr(
                f"{self.name}: 无法识别文件编码: 既不是 UTF-8 也不是 GBK/GB18030; "
                "请在 Excel/WPS 中另存为 'CSV UTF-8'",
                f"{self.name}: unreadable encoding (neither UTF-8 nor GBK): save it as 'CSV UTF-8'",
            )
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
        mixed = self.encoding.startswith("utf-8")
        return TableError(
            tr(
                f"{self.name}: 第 {line} 行无法按 {self.encoding} 解码; "
                f"{'文件混用了多种编码; ' if mixed else ''}请统一另存为 UTF-8",
                f"{self.name}: line {line} cannot be decoded as {self.encoding}; "
                f"{'the file mixes encodings; ' if mixed else ''}save the whole file as UTF-8",
            )
        )

    def chunks(self) -> Iterator[tuple[bool, list[str]]]:
        """(whether any `"` is in it, its complete lines) per chunk of about CHUNK_BYTES."""
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
            yield '"' in text, lines
            chunk = self.raw.read(CHUNK_BYTES)
        rest = carry + self._decode(b"", final=True)
        if rest:
            lines = io.StringIO(rest, newline="").readlines()
            self.lines_emitted += len(lines)
            yield '"' in rest, lines


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


# ------------------------------------------------------------------------------------ blocks of records


class _Block:
    """Records from one stretch of a file, held as columns, or for a plain CSV chunk as its lines, split
    only when asked (NumPy's reader may take the lines as they are)."""

    def __init__(
        self,
        lines: np.ndarray,
        columns: list[Sequence[Any]] | None,
        raw: dict[int, list[Any]] | None = None,
        text: tuple[list[str], str, int] | None = None,
    ) -> None:
        self.lines = lines  # int64: the line (or Excel row) of each record
        self._columns = columns  # one per file column, each as long as `lines`
        self._raw = raw or {}  # the records of another length than the header, as read
        self.text = text  # (lines without their line break, delimiter, cells the header has)
        self.uniform = text is None  # every line of `text` is known to have the header's cell count

    def __len__(self) -> int:
        return len(self.lines)

    def _check(self) -> None:
        """Count the cells of each line once; lines of another width go the record-by-record way."""
        if self.uniform or self.text is None:
            return
        stripped, d, ncells = self.text
        counts = np.fromiter(map(methodcaller("count", d), stripped), np.int64, len(stripped))
        if not (counts == ncells - 1).all():
            blk = _block(self.lines, [s.split(d) for s in stripped], ncells, "")
            self._columns, self._raw, self.text = blk._columns, blk._raw, None
        self.uniform = True

    @property
    def raw(self) -> dict[int, list[Any]]:
        self._check()
        return self._raw

    @property
    def columns(self) -> list[Sequence[Any]]:
        self._check()
        if self._columns is None:
            assert self.text is not None
            stripped, d, ncells = self.text
            flat = d.join(stripped).split(d)  # a join and a split in C, then every ncells-th cell
            self._columns = [flat[j::ncells] for j in range(ncells)]
        return self._columns

    def record(self, i: int) -> list[Any]:
        if self.text is not None:
            return self.text[0][i].split(self.text[1])  # the line as read, whatever its width
        r = self._raw.get(i)
        return r if r is not None else [c[i] for c in self.columns]

    def slice(self, a: int, b: int) -> _Block:
        if self.text is not None:
            stripped, d, ncells = self.text
            part = _Block(self.lines[a:b], None, None, (stripped[a:b], d, ncells))
            part.uniform = self.uniform
            return part
        raw = {i - a: r for i, r in self._raw.items() if a <= i < b}
        return _Block(self.lines[a:b], [c[a:b] for c in self.columns], raw)


def _block(
    lines: Sequence[int] | np.ndarray, recs: list[list[Any]], ncells: int | None, fill: object
) -> _Block:
    """Records of any length → a block of `ncells` columns (the widest record's count if None)."""
    raw: dict[int, list[Any]] = {}
    if recs:
        lens = np.fromiter(map(len, recs), np.int64, len(recs))
        width = ncells if ncells is not None else int(lens.max())
        for i in np.flatnonzero(lens != width).tolist():
            rec = raw[i] = recs[i]
            recs[i] = rec + [fill] * (width - len(rec)) if len(rec) < width else rec[:width]
        columns: list[Sequence[Any]] = list(zip(*recs, strict=True))
    else:
        columns = [() for _ in range(ncells or 0)]
    return _Block(np.asarray(lines, np.int64), columns, raw)


_strip_eol = methodcaller("rstrip", "\r\n")


class _CsvBlocks:
    """The records of a decoded CSV, block by block, with the physical line each starts on.

    A chunk without any `"` cannot quote a delimiter or a line break, so once the header's width is known
    its lines are cells separated by the delimiter, nothing more: NumPy's reader or one split in C takes
    them. So are those of a chunk that quotes every cell and nothing else. Other chunks with quotes go
    through the csv module one by one, and, from the first whose quotes run on past its end, all the rest.
    """

    QUOTED_BLOCK = 8192

    def __init__(self, lines: _Lines, name: str) -> None:
        self.name = name
        self.ncells: int | None = None  # set by the table once it has found the header
        self._chunks = lines.chunks()
        first = next(self._chunks, None)
        self._first = first
        self.delimiter = _sniff_delimiter(first[1][:50]) if first else ","

    def __iter__(self) -> Iterator[_Block]:
        line_no = 0
        chunks = chain([self._first], self._chunks) if self._first else iter(())
        for has_quote, lines in chunks:
            if not has_quote:
                blk: _Block | None = self._plain(lines, line_no)
            else:
                blk = self._all_quoted(lines, line_no) or self._csv_chunk(lines, line_no)
            if blk is None:  # a quoted cell may span chunks: the csv module reads on from here
                rest = chain(lines, chain.from_iterable(ls for _, ls in chunks))
                yield from self._quoted(rest, line_no)
                return
            yield blk
            line_no += len(lines)

    def _all_quoted(self, lines: list[str], line_no: int) -> _Block | None:
        """A chunk of an export that quotes every field (`"a","b"`) as plain lines without the quotes, or
        None unless that is exactly what it is: every line `"f1","f2",…,"fn"`, no field holding a quote,
        the delimiter or a line break (so no record spans lines and dropping the quotes changes nothing)."""
        d, ncells = self.delimiter, self.ncells
        if not ncells or not lines:
            return None
        text = "\n".join(map(_strip_eol, lines))
        k = len(lines)
        sep = f'"{d}"'
        if (
            '""' in text  # an escaped quote, or an empty field: the csv module's business
            or ("\n" + text).count('\n"') != k  # every line starts with a quote…
            or (text + "\n").count('"\n') != k  # …and ends with one
            or text.count(sep) != k * (ncells - 1)  # with a quote-delimiter-quote between every two cells
            or text.count(d) != k * (ncells - 1)  # and no delimiter inside a cell
        ):
            return None
        quotes = np.fromiter(map(methodcaller("count", '"'), text.split("\n")), np.int64, k)
        if not (quotes == 2 * ncells).all():  # no other quote anywhere, so each line is one record
            return None
        starts = np.arange(line_no + 1, line_no + 1 + k, dtype=np.int64)
        blk = _Block(starts, None, text=(text.replace('"', "").split("\n"), d, ncells))
        blk.uniform = True
        return blk

    def _plain(self, lines: list[str], line_no: int) -> _Block:
        d, ncells = self.delimiter, self.ncells
        stripped = list(map(_strip_eol, lines))
        starts = np.arange(line_no + 1, line_no + 1 + len(stripped), dtype=np.int64)
        if ncells:
            return _Block(starts, None, text=(stripped, d, ncells))
        with gc_paused():
            return _block(starts, [s.split(d) for s in stripped], None, "")

    def _csv_chunk(self, lines: list[str], line_no: int) -> _Block | None:
        """A chunk with quotes, through the csv module, or None if a quoted cell may run on into the next
        chunk (strict mode fails at the chunk's end inside quotes, or on any odd quoting)."""
        reader = csv.reader(lines, delimiter=self.delimiter, strict=True)
        try:
            with gc_paused():
                recs = list(reader)
        except csv.Error:
            return None
        return _block(_starts(recs, line_no + 1, reader.line_num), recs, self.ncells, "")

    def _quoted(self, lines: Iterator[str], line_no: int) -> Iterator[_Block]:
        reader = csv.reader(lines, delimiter=self.delimiter)
        prev = 0  # reader.line_num after the previous block
        while True:
            try:
                with gc_paused():
                    recs = list(islice(reader, self.QUOTED_BLOCK))
            except csv.Error as e:
                at = line_no + reader.line_num
                raise TableError(
                    tr(
                        f"{self.name}: 第 {at} 行附近无法解析: {e} (引号不配对?)",
                        f"{self.name}: cannot parse near line {at}: {e} (unbalanced quote?)",
                    )
                ) from None
            if not recs:
                return
            yield _block(_starts(recs, line_no + prev + 1, reader.line_num - prev), recs, self.ncells, "")
            prev = reader.line_num


def _starts(recs: list[list[str]], first: int, lines: int) -> list[int] | range:
    """The line each record starts on, given the first's and how many lines they took in all."""
    if lines == len(recs):  # no record spans lines: they follow one another
        return range(first, first + lines)
    starts, at = [], first
    for rec in recs:
        starts.append(at)
        at += 1 + sum(c.count("\n") + c.count("\r") - c.count("\r\n") for c in rec)
    return starts


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
    template: ImportSpec | None
    format: Literal["csv", "xlsx"]
    name: str
    delimiter: str | None  # CSV only
    sheet: str | None  # XLSX only
    header_line: int
    headers: list[str]  # the header row as written (cleaned), in file order
    columns: dict[str, int]  # field (or header, without a kind) → 0-based column index
    scales: dict[str, int | float]  # field → factor from a unit in its header, e.g. 里程(m) → 0.001
    ignored: list[str]  # headers that map to no field
    width: int  # cells a complete record has: up to the last non-empty header

    def __init__(self, source: Source, *, sheet: str | int | None = None, kind: str | None = None) -> None:
        self.template = get_kind(kind) if kind else None
        self.kind = self.template.kind if self.template else None
        self.name, raw, owned = _open_binary(source)
        self._size = _size_of(raw)
        self._rows_read = 0
        self._closers: list[Callable[[], object]] = [raw.close] if owned else []
        self.delimiter = self.sheet = None
        self._lines: _Lines | None = None
        self._csv: _CsvBlocks | None = None
        self._total_rows: int | None = None
        self._loadtxt_misses = 0
        try:
            magic = raw.read(8)
            raw.seek(0)
            if magic.startswith(b"PK\x03\x04"):
                self.format = "xlsx"
                blocks = self._open_xlsx(raw, sheet)
            elif magic.startswith(b"\xd0\xcf\x11\xe0"):
                raise TableError(
                    tr(
                        f"{self.name}: 旧版 Excel (.xls) 不支持; 请另存为 .xlsx",
                        f"{self.name}: old .xls files are not supported; save it as .xlsx",
                    )
                )
            elif Path(self.name).suffix.lower() in (".xlsx", ".xlsm"):
                raise TableError(
                    tr(
                        f"{self.name}：不是 Excel 文件（内容不是 .xlsx 工作簿），请用 Excel 重新另存为 .xlsx",
                        f"{self.name}: not an Excel file (its content is no .xlsx workbook): save it again "
                        "as .xlsx",
                    )
                )
            else:
                if sheet is not None and str(sheet).strip():
                    raise TableError(
                        tr(
                            f"{self.name} 是 CSV 文件，没有工作表：--sheet 只用于 Excel 文件",
                            f"{self.name} is a CSV file, which has no sheets: --sheet is for Excel files",
                        )
                    )
                self.format = "csv"
                self._lines = _Lines(raw, self.name)
                self._csv = _CsvBlocks(self._lines, self.name)
                self.delimiter = self._csv.delimiter
                blocks = iter(self._csv)
            self._find_header(blocks)
        except BaseException:
            self.close()
            raise

    # -- opening

    def _open_xlsx(self, raw: BinaryIO, sheet: str | int | None) -> Iterator[_Block]:
        from openpyxl import load_workbook

        self._check_unpacked_size(raw)
        try:
            wb = load_workbook(raw, read_only=True, data_only=True)
        except Exception as e:  # a damaged zip, a password-protected book…
            raise TableError(self._unopenable(e)) from None
        self._closers.append(wb.close)
        names = wb.sheetnames
        wanted = str(sheet).strip() if sheet is not None else ""
        if not wanted:
            ws = wb.worksheets[0]
        elif wanted in names:
            ws = wb[wanted]
        elif wanted.isdigit() and 1 <= int(wanted) <= len(names):
            ws = wb.worksheets[int(wanted) - 1]  # a clerk's "sheet 1" is the first
        else:
            raise TableError(
                tr(
                    f"{self.name}：没有工作表 {sheet!r}（有：{'、'.join(names)}）",
                    f"{self.name}: no sheet {sheet!r} (there are: {', '.join(names)})",
                )
            )
        self.sheet = ws.title
        self._total_rows = getattr(ws, "max_row", None)
        if hasattr(ws, "reset_dimensions"):
            ws.reset_dimensions()  # some writers store a wrong sheet size; read what is really there
        return self._xlsx_blocks(ws)

    def _unopenable(self, e: Exception) -> str:
        return tr(
            f"{self.name}：无法打开 Excel 文件（{e}）；请用 Excel 重新保存，或另存为 CSV",
            f"{self.name}: cannot open the workbook ({e}): save it again in Excel, or as CSV",
        )

    def _check_unpacked_size(self, raw: BinaryIO) -> None:
        """Refuse a workbook that unpacks to more than GONGWU_IMPORT_MAX_XLSX_MB before parsing any of it
        (a 488 KB file can hold 142 MB of sheet XML). The sizes are the zip's own: a member claiming less
        than it holds is cut at its claim when read, and fails its checksum."""
        limit = get_settings().import_max_xlsx_mb
        try:
            with zipfile.ZipFile(raw) as z:
                unpacked = sum(i.file_size for i in z.infolist())
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            raise TableError(self._unopenable(e)) from None
        finally:
            raw.seek(0)
        if unpacked > limit * 1_000_000:
            raise TableError(
                tr(
                    f"{self.name}：工作簿解压后有 {unpacked / 1e6:,.0f} MB，超过上限 {limit} MB"
                    "（GONGWU_IMPORT_MAX_XLSX_MB）；请拆分文件或另存为 CSV",
                    f"{self.name}: the workbook unpacks to {unpacked / 1e6:,.0f} MB, more than the limit of "
                    f"{limit} MB (GONGWU_IMPORT_MAX_XLSX_MB): split it or save it as CSV",
                )
            )

    def _xlsx_blocks(self, ws: Any) -> Iterator[_Block]:
        lines: list[int] = []
        recs: list[list[Any]] = []
        rows = ws.iter_rows()
        while True:
            try:
                cells = next(rows, None)
            except (
                ParseError,
                SyntaxError,
                zipfile.BadZipFile,
                EOFError,
                OSError,
                KeyError,
                ValueError,
            ) as e:
                # a truncated or damaged sheet: say so, with how far it could be read
                raise TableError(
                    tr(
                        f"{self.name}：无法打开工作簿，第 {self._rows_read} 行之后的内容已损坏"
                        f"（{type(e).__name__}）；请用 Excel 重新保存",
                        f"{self.name}: cannot open the workbook: it is damaged after line {self._rows_read} "
                        f"({type(e).__name__}); save it again in Excel",
                    )
                ) from None
            if cells is None:
                break
            values = [c.value for c in cells]
            if _blank_record(values):
                continue
            lines.append(next(c.row for c in cells if getattr(c, "row", None)))
            recs.append(values)
            self._rows_read = lines[-1]
            if len(recs) >= 4096:
                yield _block(lines, recs, self._ncells, None)
                lines, recs = [], []
        if recs:
            yield _block(lines, recs, self._ncells, None)

    @property
    def _ncells(self) -> int | None:
        return len(self.headers) if hasattr(self, "headers") else None

    def _find_header(self, blocks: Iterator[_Block]) -> None:
        found: list[tuple[int, list[Any]]] = []  # whole blocks, until HEADER_SCAN_ROWS non-blank records
        head: list[int] = []  # their indexes in found
        for blk in blocks:
            start = len(found)
            found.extend((int(blk.lines[i]), blk.record(i)) for i in range(len(blk)))
            for k in range(start, len(found)):
                if len(head) < HEADER_SCAN_ROWS and not _blank_record(found[k][1]):
                    head.append(k)
            if len(head) >= HEADER_SCAN_ROWS:
                break
        if not head:
            raise TableError(tr(f"{self.name}: 文件是空的", f"{self.name}: the file has no data"))
        at = head[self._header_index([found[k][1] for k in head])]
        self.header_line, header = found[at]
        self.headers = [n.clean(h) for h in header]
        self.width = max((i + 1 for i, h in enumerate(self.headers) if h), default=0)
        if self._csv is not None:
            self._csv.ncells = len(self.headers)
        self._map_headers()
        rest = found[at + 1 :]
        fill = "" if self.format == "csv" else None
        pending = _block([ln for ln, _ in rest], [list(r) for _, r in rest], len(self.headers), fill)
        self._blocks: Iterator[_Block] = self._capped(chain([pending], blocks))

    def _capped(self, blocks: Iterator[_Block]) -> Iterator[_Block]:
        """The blocks, refused once the records pass GONGWU_IMPORT_MAX_ROWS (counted by line number)."""
        most = get_settings().import_max_rows
        for blk in blocks:
            if len(blk) and int(blk.lines[-1]) - self.header_line > most:
                raise TableError(
                    tr(
                        f"{self.name}：超过 {most:,} 行（GONGWU_IMPORT_MAX_ROWS），请拆分文件",
                        f"{self.name}: more than {most:,} rows (GONGWU_IMPORT_MAX_ROWS): split the file",
                    )
                )
            yield blk

    def _header_index(self, head: list[list[Any]]) -> int:
        t = self.template
        if t is None:  # no kind: the first row about as wide as the widest (a title row has one cell)
            widths = [sum(not n.is_blank(c) for c in rec) for rec in head]
            return next(i for i, w in enumerate(widths) if w >= max(2, max(widths) // 2) or w == max(widths))
        scores = [len({m.column.name for c in rec if (m := t.match(c))}) for rec in head]
        best = max(scores)
        if best == 0:
            expected = ", ".join(f.header for f in t.required)
            raise TableError(
                tr(
                    f"{self.name}: 找不到表头 (前 {len(head)} 行; 应有: {expected})",
                    f"{self.name}: no header row in the first {len(head)} rows (expected: {expected})",
                )
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
            name = m.column.name
            if name in self.columns and ranks[name] == m.rank:
                j = self.columns[name]
                first, second = f"{self.column_label(j)} ({self.headers[j]})", f"{self.column_label(i)} ({h})"
                raise TableError(
                    tr(
                        f"{self.name}: 列重复: {first} 和 {second} 都是{m.column.zh}; 请删除其一",
                        f"{self.name}: columns {first} and {second} both give {name}: delete one",
                    )
                )
            if name not in self.columns or m.rank < ranks[name]:
                if name in self.columns:
                    self.ignored.append(self.headers[self.columns[name]])
                self.columns[name], ranks[name], self.scales[name] = i, m.rank, m.scale
            else:
                self.ignored.append(h)
        other = better_kind(self.headers, t.kind)
        if other is not None:
            fits, given = other
            shown = "、".join(f.zh for f in fits.columns if f.name in given)
            raise TableError(
                tr(
                    f"{self.name}：这是“{fits.title}”（{fits.kind}）的文件（有 {shown} 列），"
                    f"不是“{t.title}”：请用 gongwu import {fits.kind}",
                    f"{self.name}: this is a {fits.kind} file (it has {', '.join(sorted(given))}), "
                    f"not {t.kind}: use gongwu import {fits.kind}",
                )
            )
        missing = [f for f in t.required if f.name not in self.columns]
        if missing:
            names = ", ".join(f"{f.zh} ({f.name})" for f in missing)
            found = ", ".join(filter(None, self.headers))
            expected = ", ".join(f.header for f in t.columns)
            raise TableError(
                tr(
                    f"{self.name}: 缺少必需的列: {names}; 第 {self.header_line} 行的表头: {found}; "
                    f"{t.kind} 的列: {expected}",
                    f"{self.name}: missing required columns: {names}; header on line {self.header_line}: "
                    f"{found}; columns of {t.kind}: {expected}",
                )
            )
        if t.one_of and not any(name in self.columns for name in t.one_of):
            wanted = "、".join(t.column(name).header for name in t.one_of)
            raise TableError(
                tr(
                    f"{self.name}：{t.kind} 文件至少要有 {wanted} 中的一列",
                    f"{self.name}: a {t.kind} file needs at least one of the columns " + ", ".join(t.one_of),
                )
            )

    # -- reading

    @property
    def encoding(self) -> str | None:
        """CSV only: utf-8, utf-8-sig, gb18030, utf-16…; a file read as UTF-8 while it was all ASCII becomes
        gb18030 at its first GBK character."""
        return self._lines.encoding if self._lines else None

    def column_label(self, index: int) -> str:
        return _column_letter(index) if self.format == "xlsx" else str(index + 1)

    def locate(self, field: str) -> tuple[str, str]:
        """(column label, header as written) of a field, for an error message."""
        i = self.columns[field]
        return self.column_label(i), self.headers[i]

    def blocks(self) -> Iterator[_Block]:
        return self._blocks

    def records(self) -> Iterator[tuple[int, list[Any]]]:
        """(line, cells as read) of every non-blank record after the header."""
        for blk in self._blocks:
            for i in range(len(blk)):
                rec = blk.record(i)
                if not _blank_record(rec):
                    yield int(blk.lines[i]), rec

    def __iter__(self) -> Iterator[Row]:
        columns = list(self.columns.items())
        short = MISSING if self.format == "csv" else None  # an XLSX row simply ends at its last value
        for line, cells in self.records():
            k = len(cells)
            yield Row(line, {f: cells[i] if i < k else short for f, i in columns}, cells)

    def progress(self) -> tuple[int, int | None]:
        """(done, total) for a progress bar: bytes of a CSV, or rows of an XLSX; the total is None when
        unknown (a pipe, a workbook that does not say its size)."""
        if self._lines is None:
            return self._rows_read, self._total_rows
        return self._lines.bytes_read, self._size

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
            raise TableError(tr(f"文件不存在: {path}", f"no such file: {path}")) from None
        except IsADirectoryError:
            raise TableError(tr(f"这是目录不是文件: {path}", f"not a file: {path}")) from None
    stream = source
    if not stream.seekable():  # a pipe: the format sniff needs to look at the start twice
        stream = io.BytesIO(stream.read())
    name = getattr(source, "name", None)  # a temporary file's name may be its descriptor number
    return Path(name).name if isinstance(name, str) and name else tr("上传文件", "upload"), stream, False


def _size_of(raw: BinaryIO) -> int | None:
    try:
        at = raw.tell()
        size = raw.seek(0, io.SEEK_END)
        raw.seek(at)
        return size - at
    except (OSError, ValueError):
        return None


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
    delimiter too many. Either way its values are in the wrong place, so the row is refused whole."""
    if table.format != "csv":
        return []
    k, w = len(cells), table.width
    if k < w:
        return [
            RowError(
                line,
                table.column_label(k),
                table.headers[k],
                tr(
                    f"该行不完整: 只有 {k} 列, 表头有 {w} 列 (被截断?)",
                    f"line has {k} of {w} columns (truncated?)",
                ),
            )
        ]
    if k > w and not _blank_record(cells[w:]):
        reason = tr(
            f"该行多出 {k - w} 列 (值里有未加引号的分隔符?)",
            f"line has {k} cells, the header {w} (an unquoted comma?)",
        )
        return [RowError(line, table.column_label(w), "", reason)]
    return []


def parse_rows(kind: str, rows: Table | Iterable[Row]) -> Iterator[ParsedRow | BadRow]:
    """Apply the template's normalisers and row rules: each row comes out as a `ParsedRow` (every field,
    None where empty, units scaled) or a `BadRow` with every `RowError` found in it.

    Given a `Table`, errors name the file's column and header; given bare rows, the field and its
    Chinese header.
    """
    t = get_kind(kind)
    table = rows if isinstance(rows, Table) else None
    if table is not None and table.kind != t.kind:
        raise ValueError(f"table was opened as {table.kind!r}, not {t.kind!r}")
    where: dict[str, tuple[str, str]] = {}
    for f in t.columns:
        where[f.name] = table.locate(f.name) if table and f.name in table.columns else (f.name, f.zh)
    scales = table.scales if table else {}

    for line, raw, cells in rows:
        if table is not None and (errors := _structure_errors(table, line, cells)):
            yield BadRow(line, cells, errors)
            continue
        errors = []
        values: dict[str, Any] = {}
        for f in t.columns:
            v = raw.get(f.name)
            values[f.name] = None
            col, header = where[f.name]
            if v is MISSING:
                reason = tr("该行在此列前结束", "line ends before this column")
                errors.append(RowError(line, col, header, reason, f.name))
            elif n.is_blank(v):
                if f.required:
                    errors.append(
                        RowError(line, col, header, tr("缺少必填项", "required value missing"), f.name)
                    )
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
    """Good fixes as columns, and the bad rows read alongside them."""

    line: np.ndarray  # int64
    device_id: np.ndarray  # object (str)
    plate: np.ndarray  # object (canonical plate, or None)
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


_ARRAYS = tuple(f.name for f in fields(PositionBatch) if f.name != "rejects")


def _concat(parts: list[PositionBatch]) -> PositionBatch:
    if len(parts) == 1:
        return parts[0]
    arrays = {k: np.concatenate([getattr(p, k) for p in parts]) for k in _ARRAYS}
    return PositionBatch(**arrays, rejects=[r for p in parts for r in p.rejects])


class _Bad:
    __slots__ = ("reason",)

    def __init__(self, reason: str) -> None:
        self.reason = reason


_HASH_WEIGHTS = np.random.default_rng(808).integers(1, 2**62, 64, dtype=np.int64) | 1


def _factorize(col: Sequence[Any] | np.ndarray) -> tuple[list[Any], np.ndarray]:
    """(distinct values, index of each cell's value among them). Devices, plates and ACC words repeat
    endlessly, so they are normalised once per distinct value."""
    if isinstance(col, np.ndarray) and col.dtype.kind == "U":
        u = np.ascontiguousarray(col)
        codes = u.view(np.uint32).reshape(len(u), u.dtype.itemsize // 4)
        if codes.shape[1] > len(_HASH_WEIGHTS):
            return _factorize(u.tolist())
        # Hash each fixed-width cell to one int64 (wrapping arithmetic), group by hash, then check that
        # every cell equals its group's first, so a collision cannot merge two values.
        hashes = codes.astype(np.int64) @ _HASH_WEIGHTS[: codes.shape[1]]
        _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        if (codes == codes[first[inverse]]).all():
            return u[first].tolist(), inverse.astype(np.intp)
        col = u.tolist()
    index: dict[Any, int] = {}
    for v in col:
        index.setdefault(v, len(index))
    return list(index), np.fromiter(map(index.__getitem__, col), np.intp, len(col))


def _normalized(
    col: Sequence[Any] | np.ndarray, parse: Callable[[object], Any], blank: object
) -> tuple[list[Any], np.ndarray, dict[int, str]]:
    """(normalised distinct values, index per cell, {row: reason} for unreadable cells)."""
    uniques, inverse = _factorize(col)
    values: list[Any] = []
    bad: list[tuple[int, str]] = []
    for k, v in enumerate(uniques):
        if n.is_blank(v):
            values.append(blank)
            if isinstance(blank, _Bad):
                bad.append((k, blank.reason))
            continue
        try:
            values.append(parse(v))
        except n.FieldError as e:
            values.append(None)
            bad.append((k, e.reason))
    errors: dict[int, str] = {}
    for k, reason in bad:
        for i in np.flatnonzero(inverse == k).tolist():
            errors[i] = reason
    return values, inverse, errors


def _object_column(values: list[Any], inverse: np.ndarray) -> np.ndarray:
    arr = np.empty(len(values), dtype=object)
    arr[:] = values
    return arr[inverse]


# Vectorised plausibility of a parsed column; a cell failing it gets its normaliser's message.
_VALID: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "lat": lambda a: np.abs(a) <= 90,
    "lon": lambda a: np.abs(a) <= 180,
    "speed_kmh": lambda a: a >= 0,
    "odometer_km": lambda a: a >= 0,
    "course": lambda a: np.ones(len(a), bool),
}
_FLOATS = tuple(_VALID)


_TEXT_WIDTHS = {"device_id": 32, "plate": 16, "fixed_at": 32, "ignition": 16}


def _loadtxt(table: Table, blk: _Block) -> dict[str, np.ndarray] | None:
    """A plain CSV block parsed by NumPy's C reader into one contiguous array per mapped column, or None
    when it cannot (a line of another width, an empty or unusual number): then it goes cell by cell."""
    if blk.text is None or table._loadtxt_misses >= 3:  # three misses: this file's numbers need care
        return None
    stripped, d, ncells = blk.text
    names = {i: f for f, i in table.columns.items()}
    # Every column is in the dtype, so NumPy refuses a line of another width; unused ones as 1 char.
    kinds = {f: "f8" if f in _FLOATS else f"U{_TEXT_WIDTHS[f]}" for f in table.columns}
    dtype = np.dtype([(names[i], kinds[names[i]]) if i in names else (f"_{i}", "U1") for i in range(ncells)])
    try:
        a = np.loadtxt(stripped, delimiter=d, dtype=dtype, comments=None, quotechar=None, ndmin=1)
    except ValueError:
        table._loadtxt_misses += 1
        return None
    if len(a) != len(blk):  # NumPy skips blank lines
        return None
    out = {f: np.ascontiguousarray(a[f]) for f in table.columns}
    for f in table.columns:
        if f not in _FLOATS and out[f].view(np.uint32).reshape(len(a), _TEXT_WIDTHS[f])[:, -1].any():
            return None  # a text cell fills its width: it may have been cut
    blk.uniform = True
    table._loadtxt_misses = 0
    return out


def _float_column(
    col: Sequence[Any] | np.ndarray,
    parse: Callable[[object], float],
    name: str,
    required: bool,
    cell: Callable[[int], object],
    text: bool,
) -> tuple[np.ndarray, dict[int, str]]:
    """A column of numbers → float64 array and {row: reason}. Parsed in C where the text allows; `text`
    says every cell is a str (a CSV), since NumPy would silently read a None as NaN."""
    errors: dict[int, str] = {}
    arr: np.ndarray | None = None
    if isinstance(col, np.ndarray) and col.dtype == np.float64:
        arr = col
    elif text:
        try:
            arr = np.array(col, dtype=np.float64)  # plain decimal text
        except (ValueError, TypeError):
            arr = None  # an empty, full-width or `1,234.5` cell somewhere: cell by cell below
    if arr is not None:
        for i in np.flatnonzero(~(np.isfinite(arr) & _VALID[name](arr))).tolist():
            try:
                parse(cell(i))
                errors[i] = tr("不是数字", "not a number")
            except n.FieldError as e:
                errors[i] = e.reason
        return arr, errors
    arr = np.empty(len(col), np.float64)
    for i, v in enumerate(col):
        arr[i] = np.nan
        if n.is_blank(v):
            if required:
                errors[i] = tr("缺少必填项", "required value missing")
            continue
        try:
            arr[i] = parse(v)
        except n.FieldError as e:
            errors[i] = e.reason
    return arr, errors


def _cell(blk: _Block, j: int, i: int) -> object:
    rec = blk.record(i)
    return rec[j] if j < len(rec) else None


def _position_part(table: Table, blk: _Block) -> PositionBatch:
    t = table.template
    assert t is not None
    size = len(blk)
    idx = table.columns
    lines = blk.lines
    bad: dict[int, list[RowError]] = {}
    for i, rec in blk.raw.items():
        if problems := _structure_errors(table, int(lines[i]), rec):
            bad[i] = problems
    structural = set(bad)

    def report(name: str, errors: dict[int, str]) -> None:
        col, header = table.locate(name)
        for i, reason in errors.items():
            if i not in structural:  # a cut-off line's cells are not worth a message each
                bad.setdefault(i, []).append(RowError(int(lines[i]), col, header, reason, name))

    parsed = _loadtxt(table, blk)

    def column(name: str) -> Any:
        return blk.columns[idx[name]] if parsed is None else parsed[name]

    values, inverse, errors = _normalized(
        column("device_id"), n.text, _Bad(tr("缺少必填项", "required value missing"))
    )
    report("device_id", errors)
    device = _object_column(values, inverse)
    plate = np.full(size, None, dtype=object)
    if "plate" in idx:
        values, inverse, errors = _normalized(column("plate"), n.plate, None)
        report("plate", errors)
        plate = _object_column(values, inverse)
    ignition = np.full(size, -1, np.int8)
    if "ignition" in idx:
        values, inverse, errors = _normalized(column("ignition"), n.boolean, None)
        report("ignition", errors)
        ignition = np.array([-1 if v is None else int(v) for v in values], np.int8)[inverse]
    epochs, errors = n.epochs_china(column("fixed_at"))
    report("fixed_at", errors)

    floats: dict[str, np.ndarray] = {}
    for name in _FLOATS:
        f = t.column(name)
        if name not in idx:
            floats[name] = np.full(size, np.nan)
            continue
        cell = partial(_cell, blk, idx[name])
        arr, errors = _float_column(column(name), f.parse, name, f.required, cell, table.format == "csv")
        report(name, errors)
        scale = table.scales.get(name, 1)
        floats[name] = arr * scale if scale != 1 else arr

    rejects: list[BadRow] = []
    keep = np.ones(size, bool)
    for i in sorted(bad):
        keep[i] = False
        rec = blk.record(i)
        if not _blank_record(rec):  # a line of only commas or spaces is no row, and no error either
            row_errors = sorted(bad[i], key=lambda e: idx.get(e.field or "", -1))
            rejects.append(BadRow(int(lines[i]), rec, row_errors))
    return PositionBatch(
        line=lines[keep],
        device_id=device[keep],
        plate=plate[keep],
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
    source: Source | Table,
    batch_size: int = 100_000,
    *,
    sheet: str | int | None = None,
    first: int | None = None,
) -> Iterator[PositionBatch]:
    """A positions file (CSV or XLSX) as batches of NumPy columns, in constant memory.

    Each batch covers `batch_size` records of the file (the last fewer; the first `first` if given, so
    that a consumer waiting for it starts sooner); its good fixes are the arrays, its unreadable rows are
    `rejects` with line, column and reason. Plausibility ((0,0), the future, jumps) is the caller's
    business.
    """
    if batch_size < 1 or (first is not None and first < 1):
        raise ValueError("batch sizes must be positive")
    table = source if isinstance(source, Table) else open_table(source, kind="positions", sheet=sheet)
    try:
        if table.kind != "positions":
            raise ValueError(f"table was opened as {table.kind!r}, not 'positions'")
        parts: list[PositionBatch] = []
        room = first or batch_size
        for blk in table.blocks():
            at = 0
            while at < len(blk):
                take = min(room, len(blk) - at)
                part = blk if take == len(blk) else blk.slice(at, at + take)
                parts.append(_position_part(table, part))
                at += take
                room -= take
                if room == 0:
                    yield _concat(parts)
                    parts, room = [], batch_size
        if parts:
            yield _concat(parts)
    finally:
        if table is not source:
            table.close()

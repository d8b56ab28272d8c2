"""Stream items from JSONL or CSV/TSV files (built-in splits and users' ``--data``).

Files are read line by line and never loaded whole, so a 1 GB file works in constant
memory (plus the sample, when ``limit`` is given). Gzipped files (``.gz``) are read the
same way.

Sampling: with ``limit=N`` the N items whose seeded hash of the item id is smallest are
kept, in file order. The sample is nested (the 100-item sample is part of the 300-item
sample for the same seed) and does not depend on file order, which matters for files
sorted by label. Every line is still parsed, so a malformed line anywhere is reported.

Every problem raises :class:`lmscape.errors.DataError` with one line naming the file,
the line and the fix.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import heapq
import io
import json
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from lmscape.errors import DataError
from lmscape.tasks.base import Item

JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
CSV_SUFFIXES = {".csv": ",", ".tsv": "\t"}


@dataclass(frozen=True)
class Record:
    """One row of a data file: its 1-based line number and its fields."""

    path: str
    line: int
    data: dict[str, Any]

    def fail(self, message: str, hint: str) -> DataError:
        """A DataError located at this record."""
        return DataError(f"{self.path}, line {self.line}: {message}", hint=hint)


def _open_text(path: Path) -> TextIO:
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return open(path, encoding="utf-8", newline="")


def _format_of(path: Path) -> str:
    name = path.name.lower().removesuffix(".gz")
    suffix = Path(name).suffix
    if suffix in JSONL_SUFFIXES:
        return "jsonl"
    if suffix in CSV_SUFFIXES:
        return suffix[1:]
    with _open_text(path) as fh:  # unknown suffix: sniff the first non-blank character
        for line in fh:
            if line.strip():
                return "jsonl" if line.lstrip().startswith("{") else "csv"
    return "jsonl"


def _jsonl_records(path: Path, fh: TextIO) -> Iterator[Record]:
    for line_no, line in enumerate(fh, 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                f"{path}, line {line_no}: malformed JSON ({exc.msg} at column {exc.colno})",
                hint=f"make line {line_no} one JSON object, or delete it",
            ) from None
        if not isinstance(data, dict):
            raise DataError(
                f"{path}, line {line_no}: expected a JSON object, got {type(data).__name__}",
                hint='write one object per line, e.g. {"text": "...", "label": "..."}',
            )
        yield Record(str(path), line_no, data)


def _csv_records(path: Path, fh: TextIO, delimiter: str) -> Iterator[Record]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.DictReader(fh, delimiter=delimiter)
    if not reader.fieldnames:
        return
    width = len(reader.fieldnames)
    try:
        for row in reader:
            if None in row:  # more cells than header columns
                raise DataError(
                    f"{path}, line {reader.line_num}: {width + len(row[None])} cells "
                    f"but the header has {width}",
                    hint="quote cells that contain the delimiter, or fix the row",
                )
            if all(v in (None, "") for v in row.values()):
                continue
            yield Record(str(path), reader.line_num, dict(row))
    except csv.Error as exc:
        raise DataError(
            f"{path}, line {reader.line_num}: malformed CSV ({exc})",
            hint="check the quoting on that line",
        ) from None


def iter_records(path: str | Path) -> Iterator[Record]:
    """Stream the records of a JSONL / CSV / TSV file (optionally gzipped)."""
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"data file {path} does not exist", hint="check the --data path")
    if path.is_dir():
        raise DataError(f"{path} is a directory", hint="pass a .jsonl or .csv file to --data")
    fmt = _format_of(path)
    n = 0
    try:
        with _open_text(path) as fh:
            records = (
                _jsonl_records(path, fh)
                if fmt == "jsonl"
                else _csv_records(path, fh, CSV_SUFFIXES["." + fmt])
            )
            for record in records:
                n += 1
                yield record
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{path}: not UTF-8 text (byte {exc.start} of a line after record {n})",
            hint="re-save the file as UTF-8",
        ) from None
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot be read ({exc})", hint="check the file") from None
    if n == 0:
        raise DataError(
            f"data file {path} has no items",
            hint="add one JSON object per line (JSONL) or a header row plus rows (CSV)",
        )


def require_column(record: Record, column: str, flag: str) -> Any:
    """The value of ``column`` in ``record``, or a DataError naming the columns present."""
    if column not in record.data:
        present = ", ".join(sorted(record.data)) or "none"
        raise record.fail(
            f"no column {column!r} (columns: {present})",
            hint=f"name the right column with {flag} COLUMN",
        )
    value = record.data[column]
    if value is None or (isinstance(value, str) and not value.strip()):
        raise record.fail(f"column {column!r} is empty", hint="fill it in or drop the row")
    return value


def _sample_key(seed: int, item_id: str) -> bytes:
    return hashlib.blake2b(f"{seed}\x00{item_id}".encode(), digest_size=8).digest()


def stream_items(
    path: str | Path,
    make_item: Callable[[Record], Item],
    *,
    limit: int | None = None,
    seed: int = 7,
) -> Iterator[Item]:
    """Items of a file, converted by ``make_item``; a seeded nested sample if ``limit``."""
    if limit is not None and limit < 1:
        raise DataError(f"limit must be at least 1, not {limit}", hint="pass --limit N with N >= 1")
    records = iter_records(path)
    if limit is None:
        for record in records:
            yield make_item(record)
        return
    heap: list[tuple[bytes, int, Item]] = []  # max-heap on key via negated bytes order
    seen_ids: dict[str, int] = {}
    for record in records:
        item = make_item(record)
        key = _sample_key(seed, item.id)
        entry = (bytes(255 - b for b in key), record.line, item)
        if len(heap) < limit:
            heapq.heappush(heap, entry)
        elif entry[0] > heap[0][0]:
            heapq.heapreplace(heap, entry)
    kept = sorted(heap, key=lambda e: e[1])
    for _, line, item in kept:
        if item.id in seen_ids:
            raise DataError(
                f"{path}: item id {item.id!r} appears on lines {seen_ids[item.id]} and {line}",
                hint="make the id column unique, or drop it so line numbers are used",
            )
        seen_ids[item.id] = line
    for _, _, item in kept:
        yield item

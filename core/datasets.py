"""Reading example records from files: JSONL, JSON, CSV and TSV, with line numbers.

Every record comes back with the place it came from (``file line N`` or ``file record N``) so a
bad one can be named exactly. Data files are untrusted and read within limits, each refused in
one line naming the file (and the line where there is one):

- a file of at most :data:`MAX_DATA_BYTES` (64 MiB, a few hundred MiB once parsed) and
  :data:`MAX_RECORDS` examples: prompt tuning scores every example with a model call, so a larger
  set is a mistake or wants sampling first;
- a line (a JSONL record, a CSV row) of at most :data:`MAX_RECORD_BYTES`: a runaway 50 MB line is
  refused with its line number instead of being parsed;
- JSON nested at most 100 levels deep (:mod:`core.jsonio`).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import TaskError
from .jsonio import load_json

MAX_RECORD_BYTES = 1 << 20  # one example larger than 1 MiB is a mistake, not data
MAX_DATA_BYTES = 64 << 20
MAX_RECORDS = 100_000
FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json", ".csv": "csv", ".tsv": "tsv"}


@dataclass(frozen=True)
class Record:
    data: Any
    where: str


def is_file(path: Path) -> bool:
    """Whether ``path`` names a regular file. A name the system cannot even look up (too long, a
    NUL byte, no permission on a folder on the way) is not a file: ``Path.is_file`` raises for
    some of those instead of answering."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False


def data_format(path: Path) -> str:
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise TaskError(f"{path}: unknown data format '{path.suffix or '(no extension)'}'",
                        "use .jsonl, .json, .csv or .tsv")
    return fmt


def read_records(path: Path) -> list[Record]:
    """All records of a data file; raises TaskError naming the file and line of the first bad one."""
    if not is_file(path):
        raise TaskError(f"data file not found: {path}",
                        "check the path (it is relative to the task file)")
    fmt = data_format(path)
    size = path.stat().st_size
    if size == 0:
        raise TaskError(f"{path}: the file is empty", "add one example per record")
    if size > MAX_DATA_BYTES:
        raise TaskError(f"{path}: the data file is larger than {MAX_DATA_BYTES >> 20} MiB",
                        f"keep a sample of at most {MAX_RECORDS:,} examples")
    reader = {"jsonl": _jsonl, "json": _json, "csv": _csv, "tsv": _tsv}[fmt]
    records: list[Record] = []
    for record in reader(path):
        if len(records) == MAX_RECORDS:
            raise TaskError(f"{record.where}: more than {MAX_RECORDS:,} examples in the file",
                            "keep a sample (prompt tuning scores every example with a model call)")
        records.append(record)
    if not records:
        raise TaskError(f"{path}: no examples in the file", "add one example per record")
    return records


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """Decoded lines with their numbers; a line over the cap is an error, not a memory spike."""
    with path.open("rb") as fh:
        lineno = 0
        while True:
            raw = fh.readline(MAX_RECORD_BYTES + 1)
            if not raw:
                return
            lineno += 1
            if len(raw) > MAX_RECORD_BYTES and not raw.endswith(b"\n"):
                raise TaskError(f"{path} line {lineno}: the line is longer than "
                                f"{MAX_RECORD_BYTES // 1024} KiB",
                                "split it into smaller records, or check that the file is text")
            try:
                yield lineno, raw.decode("utf-8")
            except UnicodeDecodeError:
                raise TaskError(f"{path} line {lineno}: not UTF-8 text",
                                "save the file as UTF-8") from None


def _jsonl(path: Path) -> Iterator[Record]:
    for lineno, line in _lines(path):
        if not line.strip():
            continue
        try:
            data = load_json(line)
        except json.JSONDecodeError as exc:
            raise TaskError(f"{path} line {lineno}: not valid JSON ({exc.msg[:60]})",
                            "write one JSON object per line") from None
        yield Record(data, f"{path} line {lineno}")


def _json(path: Path) -> Iterator[Record]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise TaskError(f"{path} line {line}: not UTF-8 text", "save the file as UTF-8") from None
    del raw
    try:
        data = load_json(text)
    except json.JSONDecodeError as exc:
        raise TaskError(f"{path} line {exc.lineno}: not valid JSON: {exc.msg}",
                        "fix the syntax") from None
    if isinstance(data, dict) and isinstance(data.get("examples"), list):
        data = data["examples"]
    if not isinstance(data, list):
        raise TaskError(f"{path}: expected a list of examples (or {{\"examples\": [...]}})",
                        "write a JSON array of objects")
    for i, item in enumerate(data):
        yield Record(item, f"{path} record {i + 1}")


def _csv(path: Path) -> Iterator[Record]:
    yield from _delimited(path, ",")


def _tsv(path: Path) -> Iterator[Record]:
    yield from _delimited(path, "\t")


def _delimited(path: Path, delimiter: str) -> Iterator[Record]:
    # Lines are read through the capped reader; csv handles quoting (incl. newlines in quotes).
    text = io.StringIO("".join(line for _, line in _lines(path)))
    reader = csv.reader(text, delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise TaskError(f"{path} line 1: {exc}", "fix the header row") from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    if not all(header) or len(set(header)) != len(header):
        raise TaskError(f"{path} line 1: the header needs distinct, non-empty column names",
                        "name every column once")
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise TaskError(f"{path} line {start}: {exc}", "fix the quoting") from None
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise TaskError(f"{path} line {start}: {len(row)} columns, the header has {len(header)}",
                            f"give every row the columns {', '.join(header)}")
        yield Record(dict(zip(header, row, strict=True)), f"{path} line {start}")

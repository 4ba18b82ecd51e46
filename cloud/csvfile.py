"""What the cloud's CSV directories share (``cloud.psap``'s answering points, ``cloud.services``' local
services): the file's text, its header, its rows and their numbers, each refusal a UsageError naming the
line it is on.

A file is UTF-8 (a leading byte-order mark, as spreadsheets write one, is allowed). Rows are read as the
csv module reads a file opened with ``newline=""``: a quoted field may hold a line break, and a CR, LF or
CRLF ends a row. Cells are stripped; blank rows are skipped.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from typing import TypeVar

from roamline.cloud.errors import UsageError

T = TypeVar("T")


def text_of(data: bytes, where: str) -> str:
    """A file's bytes as text; UsageError ``WHERE: not UTF-8 text`` otherwise."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UsageError(f"{where}: not UTF-8 text") from None


def number(text: str, lo: float, hi: float, what: str) -> float:
    """``text`` as a finite number in [lo, hi]; UsageError naming ``what`` otherwise."""
    try:
        v = float(text)
    except ValueError:
        raise UsageError(f"{what} {text[:20]!r} is not a number") from None
    if not (math.isfinite(v) and lo <= v <= hi):
        raise UsageError(f"{what} {text[:20]!r} is outside [{lo:g}, {hi:g}]")
    return v


def parse_rows(text: str, columns: tuple[str, ...], header: str, max_rows: int, too_many: str,
               row: Callable[[list[str]], T], *, optional: int = 0) -> list[T]:
    """``row`` of each row's stripped cells, in order, after a header of ``columns`` (compared without
    case or surrounding spaces; ``header`` is how the refusal spells it). UsageError ``line N: …`` on the
    first bad row, N the line it starts on (a UsageError from ``row`` gets its line too); ``too_many``
    past ``max_rows`` rows. ``optional``: how many of the last columns a file may leave out (in its
    header and then in every row); ``row`` still gets every column, the left-out ones empty."""
    reader = csv.reader(io.StringIO(text, newline=""))
    out: list[T] = []
    try:
        first = next(reader, None)
        names = tuple(h.strip().lower() for h in first) if first is not None else None
        if names is None or names not in {columns[:len(columns) - k] for k in range(optional + 1)}:
            raise UsageError(f"line 1: the header must be {header}")
        width = len(names)
        start = reader.line_num + 1  # where the next row starts (a quoted line break spans lines)
        for cells in reader:
            line, start = start, reader.line_num + 1
            if all(not c.strip() for c in cells):
                continue
            if len(out) >= max_rows:
                raise UsageError(too_many)
            if len(cells) != width:
                raise UsageError(f"line {line}: expected {width} columns, got {len(cells)}")
            try:
                out.append(row([c.strip() for c in cells] + [""] * (len(columns) - width)))
            except UsageError as exc:
                raise UsageError(f"line {line}: {exc}") from None
    except csv.Error as exc:  # a field over csv's size limit
        raise UsageError(f"line {max(reader.line_num, 1)}: {exc}") from None
    return out


__all__ = ["number", "parse_rows", "text_of"]

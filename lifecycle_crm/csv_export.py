"""CSV cells safe to open in a spreadsheet, for every export (contact list, rejected import rows, chart data).

Why: names come from users (a campaign called `=HYPERLINK(…)`, a stage, a company), and a
spreadsheet runs a cell that starts with = + - @ (or a tab / carriage return before one)
as a formula. Each export writes through `csv_cell`/`SafeCsvWriter` so none can forget it.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# A signed number written as text (a chart's "-12.5") is a number to a spreadsheet, not a formula.
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?")


def csv_cell(value: Any) -> str:
    """One cell: text that a spreadsheet would run as a formula is prefixed with a quote; numbers stay numbers."""
    if value is None:
        return ""
    if not isinstance(value, str):
        return str(value)  # numbers (a negative revenue) are not formulas
    if value[:1] in FORMULA_STARTS and not _NUMBER.fullmatch(value):
        return "'" + value
    return value


class SafeCsvWriter:
    """A csv.writer whose every text cell goes through `csv_cell`; `writerow` returns what the stream returned."""

    def __init__(self, stream: Any, **kwargs: Any):
        self._writer = csv.writer(stream, **kwargs)

    def writerow(self, row: Iterable[Any]) -> Any:
        return self._writer.writerow([csv_cell(value) for value in row])

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        for row in rows:
            self.writerow(row)

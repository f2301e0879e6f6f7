"""CSV cells that a spreadsheet will not execute (CSV / formula injection, OWASP).

AIS names, destinations and call signs are typed by whoever runs the transponder; a name such
as ``=HYPERLINK("http://x", "click")`` becomes a live formula when an analyst opens the CSV in
Excel or LibreOffice. Every CSV the product writes goes through ``safe_cell``: a text cell
starting with a formula trigger gets a leading apostrophe (shown as text, not evaluated), and
every cell is quoted. ``unguard`` reverses it on import so a round trip keeps the data.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any

# Spreadsheet formula triggers (ASCII and the full-width forms some spreadsheets accept), and
# tab / carriage return, which can shift a payload into a cell of its own.
TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
_PLAIN_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def safe_cell(value: Any) -> str:
    """The text to write for one value: numbers as they are, risky text neutralised."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    text = str(value)
    if _PLAIN_NUMBER.match(text):  # "-12.5" is a number, not a formula
        return text
    if text.lstrip(" ").startswith(TRIGGERS):
        return "'" + text
    return text


def unguard(text: str) -> str:
    """Undo ``safe_cell`` on a cell read back from a CSV this product wrote."""
    if text.startswith("'") and text[1:].lstrip(" ").startswith(TRIGGERS):
        return text[1:]
    return text


def write_csv(
    target: str | Path | IO[str],
    fieldnames: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
) -> int:
    """Write rows (dicts) as a quoted, formula-safe CSV; returns the number of data rows."""
    if isinstance(target, str | Path):
        path = Path(target)
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", newline="", encoding="utf-8") as fh:
            return write_csv(fh, fieldnames, rows)
    writer = csv.writer(target, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerow([safe_cell(f) for f in fieldnames])
    n = 0
    for row in rows:
        writer.writerow([safe_cell(row.get(f)) for f in fieldnames])
        n += 1
    return n


def csv_text(fieldnames: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> str:
    """The same CSV as a string (for web downloads)."""
    buf = io.StringIO()
    write_csv(buf, fieldnames, rows)
    return buf.getvalue()

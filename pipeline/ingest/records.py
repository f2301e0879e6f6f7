"""Record files kept by people (port calls, incident reports): CSV read as text, stripped,
and a per-row rule tracker, shared by their readers."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from pipeline.errors import UserError
from pipeline.ingest import rules
from pipeline.ingest.ais import FileSummary
from pipeline.ingest.csv_ais import raw_lines
from pipeline.ingest.merge import merge_into_lake
from pipeline.ingest.sources import SourceFile, open_sources
from pipeline.lake import Lake
from pipeline.schemas import QUARANTINE


def read_text_csv(source: SourceFile, columns: Sequence[str], required: Sequence[str],
                  what: str, readme_section: str) -> pd.DataFrame:
    """Every known column as stripped text (missing columns and empty cells: None); the
    header is matched case-insensitively and a missing required column is one clear error."""
    data = source.data
    header = [h.strip().lower() for h in
              data[:65536].split(b"\n", 1)[0].decode("utf-8", "replace").lstrip("\ufeff")
              .rstrip("\r").split(",")]
    missing = [c for c in required if c not in header]
    if missing:
        raise UserError(
            f"{source.name}: line 1: {what} file lacks column(s) {missing}; expected the "
            f"columns {', '.join(columns)} (see README, '{readme_section}')"
        )
    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(column_names=header, skip_rows=1),
            convert_options=pacsv.ConvertOptions(
                include_columns=[c for c in columns if c in header],
                column_types=dict.fromkeys(header, pa.string()),
                strings_can_be_null=True,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise UserError(f"{source.name}: {exc}; fix the file's structure") from exc
    df = table.to_pandas()
    for c in columns:
        if c not in df:
            df[c] = None
        text = df[c].astype(object).where(df[c].notna(), None)
        df[c] = text.map(lambda v: v.strip() if isinstance(v, str) else v).replace("", None)
    return df


class RowRules:
    """The first failing rule of every row, with the detail that explains it."""

    def __init__(self, n: int) -> None:
        self.reason = pd.Series([None] * n, dtype=object)
        self.detail = pd.Series([None] * n, dtype=object)

    def flag(self, mask: pd.Series, rule: str, text: pd.Series | str) -> None:
        """Rows where ``mask`` holds fail ``rule`` unless an earlier rule failed them."""
        m = mask & self.reason.isna()
        self.reason[m] = rule
        self.detail[m] = text[m] if isinstance(text, pd.Series) else text

    @property
    def bad(self) -> np.ndarray:
        return self.reason.notna().to_numpy()

    def quarantine(self, source: SourceFile, table: str, lines: np.ndarray, max_raw_chars: int,
                   **columns: object) -> pd.DataFrame:
        """Quarantine rows of the failing rows: file, line, rule, detail, the raw line (cut
        at ``max_raw_chars``) and any extra columns (already restricted to failing rows)."""
        bad = self.bad
        return pd.DataFrame({
            "table": table, "source_file": source.name, "source_id": source.source_id,
            "source_line": lines[bad], "rule": self.reason[bad].astype(str).to_numpy(),
            "detail": self.detail[bad].astype(str).to_numpy(),
            "raw": [text[:max_raw_chars] for text in raw_lines(source.data, lines[bad])],
            **columns,
        })


class Parsed(Protocol):
    """What a record reader returns for one file."""

    quarantine: pd.DataFrame
    records: int


P = TypeVar("P", bound=Parsed)


def read_record_files(
    paths: Iterable[str | Path], fmt: str, read: Callable[[SourceFile], P]
) -> tuple[list[FileSummary], list[tuple[SourceFile, P, FileSummary]]]:
    """Run ``read`` on every input (zip members included); a file that cannot be read is
    reported by name in its summary and the others go on."""
    summaries: list[FileSummary] = []
    parsed: list[tuple[SourceFile, P, FileSummary]] = []
    for path in paths:
        try:
            sources = list(open_sources(path))
        except UserError as exc:
            summaries.append(FileSummary(file=Path(str(path)).name, error=str(exc)))
            continue
        for source in sources:
            s = FileSummary(file=source.name, format=fmt)
            summaries.append(s)
            try:
                p = read(source)
            except UserError as exc:
                s.error = str(exc)
                continue
            s.read = p.records
            s.quarantined = rules.count_by_rule(p.quarantine)
            parsed.append((source, p, s))
    return summaries, parsed


def merge_quarantine(
    lake: Lake, files: Sequence[tuple[pd.DataFrame, date | None]], time_column: str,
    replace_sources: set[str],
) -> list[str]:
    """File each quarantine row under the day of its own ``time_column``, or its file's
    ``home`` day when that time is unusable, and merge them into lake/quarantine."""
    tables: list[pa.Table] = []
    days: list[date | None] = []
    for q, home in files:
        when = pd.to_datetime(q[time_column])
        day = when.dt.date.astype(object).where(when.notna(), home)
        for d in pd.unique(day):
            part = q[(day == d).to_numpy()]
            cols = [f.name for f in QUARANTINE if f.name in part.columns]
            tables.append(pa.Table.from_pandas(part[cols], preserve_index=False))
            days.append(d)
    return merge_into_lake(lake, "quarantine", tables, replace_sources, None, days).days

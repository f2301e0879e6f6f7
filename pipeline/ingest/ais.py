"""``ingest ais``: landed AIS files (NMEA, decoded CSV, Parquet) → validated lake partitions.

Per file: sniff the format, decode, validate every row against the named rules, send failures
to quarantine. Then, per UTC day touched, merge with what the lake already holds: rows that came
from the same file content before are replaced (re-ingest is idempotent), exact duplicates are
removed keeping the row with the smallest (source_id, source_line), so the content of a day does
not depend on the order in which its files arrived.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.errors import UserError
from pipeline.ingest import rules
from pipeline.ingest.csv_ais import (
    CsvLayout,
    detect_layout,
    parse_header,
    read_csv,
    static_rows,
)
from pipeline.ingest.decoded import Decoded
from pipeline.ingest.merge import merge_into_lake
from pipeline.ingest.parquet_ais import read_parquet
from pipeline.ingest.sources import MAGIC_PARQUET, SourceFile, looks_like_nmea, open_sources
from pipeline.lake import Lake
from pipeline.schemas import POSITIONS, QUARANTINE, VESSEL_STATIC

MAX_RAW_CHARS = 2000


@dataclass
class FileSummary:
    """What happened to one input file; ``read == accepted + other_types + quarantined +
    duplicates`` always holds (see ``balanced``)."""

    file: str
    format: str = ""
    read: int = 0
    accepted: int = 0
    positions: int = 0
    static: int = 0
    other_types: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)
    duplicates: int = 0
    vessels: int = 0
    start: datetime | None = None
    end: datetime | None = None
    error: str | None = None

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())

    @property
    def balanced(self) -> bool:
        total = self.accepted + self.other_types + self.quarantined_total + self.duplicates
        return self.error is not None or self.read == total

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "format": self.format, "read": self.read,
            "accepted": self.accepted, "positions": self.positions, "static": self.static,
            "other_types": self.other_types, "quarantined": dict(sorted(self.quarantined.items())),
            "quarantined_total": self.quarantined_total, "duplicates": self.duplicates,
            "vessels": self.vessels,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "error": self.error,
        }


@dataclass
class IngestSummary:
    files: list[FileSummary]
    partitions: dict[str, list[str]]  # table -> dates written

    @property
    def failed(self) -> list[FileSummary]:
        return [f for f in self.files if f.error]

    def as_dict(self) -> dict[str, Any]:
        totals = {
            k: sum(getattr(f, k) for f in self.files)
            for k in ("read", "accepted", "positions", "static", "other_types", "duplicates")
        }
        totals["quarantined"] = sum(f.quarantined_total for f in self.files)
        return {
            "files": [f.as_dict() for f in self.files],
            "totals": totals,
            "partitions": self.partitions,
        }


@dataclass
class _Batch:
    """Validated rows of one file, waiting to be merged into the lake."""

    summary: FileSummary
    source: SourceFile
    positions: pd.DataFrame
    static: pd.DataFrame
    quarantine: pd.DataFrame
    home_date: date | None


def decode_source(
    source: SourceFile,
    default_date: date | None,
    layouts: tuple[CsvLayout, ...] = (),
) -> Decoded:
    """Sniff the format of one input and run its reader."""
    data = source.data
    if data.startswith(MAGIC_PARQUET):
        return read_parquet(data, source.name)
    if looks_like_nmea(data):
        from pipeline.ingest.nmea import decode_nmea

        nm = decode_nmea(data, default_date=default_date)
        return Decoded(
            positions=nm.positions, static=nm.static, rejects=nm.rejects,
            records=nm.messages, other_types=dict(nm.other_types),
            header_lines=nm.header_lines, layout="nmea",
        )
    header = parse_header(data)
    layout = detect_layout(header, layouts)
    if layout is None:
        shown = ", ".join(header[:12]) if any(header) else "(empty)"
        raise UserError(
            f"{source.name}: line 1: unrecognised file format (header: {shown}). Expected raw "
            "NMEA (!AIVDM…), Parquet with the lake's columns, or CSV in the MarineCadastre or "
            "DMA layout; for another CSV layout add a mapping under ingest.csv_mappings in "
            "config/settings.yaml"
        )
    return read_csv(data, layout, source.name)


def _quarantine_frame(
    source: SourceFile, table: str, rejected: pd.DataFrame, raw: Sequence[str]
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "table": table,
            "source_file": source.name,
            "source_id": source.source_id,
            "source_line": rejected["source_line"].to_numpy(dtype=np.int64),
            "rule": rejected["rule"].astype(str).to_numpy(),
            "detail": rejected["detail"].astype(str).to_numpy(),
            "raw": [str(r)[:MAX_RAW_CHARS] for r in raw],
            "timestamp": rejected["timestamp"].to_numpy()
            if "timestamp" in rejected
            else pd.NaT,
        }
    )


def _detail(frame: pd.DataFrame) -> pd.Series:
    """Field and offending value for each rejected row, for the quarantine record."""
    rule = frame["rule"]
    text = pd.Series("", index=frame.index, dtype=object)
    for name, cols in (
        ("mmsi", ["mmsi"]), ("position", ["lat", "lon"]), ("lat", ["lat"]), ("lon", ["lon"]),
        ("timestamp", ["timestamp"]),
    ):
        present = [c for c in cols if c in frame]
        if not present:
            continue
        mask = rule.str.startswith(name) | (
            (name == "position") & rule.eq("position_unavailable")
        ) | ((name == "timestamp") & rule.isin(["no_timestamp", "timestamp_after_file_span"]))
        if mask.any():
            parts = [c + "=" + frame.loc[mask, c].astype(str) for c in present]
            joined = parts[0]
            for p in parts[1:]:
                joined = joined + " " + p
            text[mask] = joined
    return text


def validate(
    decoded: Decoded, source: SourceFile, tolerance_h: float
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Apply the rules; return accepted positions, accepted static rows, quarantine rows."""
    quarantine = []
    if len(decoded.rejects):
        quarantine.append(
            _quarantine_frame(source, "nmea" if decoded.layout == "nmea" else "positions",
                              decoded.rejects, decoded.rejects["raw"].tolist())
        )

    def check(frame: pd.DataFrame | None, table: str, with_position: bool) -> pd.DataFrame:
        if frame is None or frame.empty:
            return pd.DataFrame({"mmsi": pd.Series([], dtype="int64")})
        frame = frame.reset_index(drop=True)
        ts = frame["timestamp"]
        reasons = [rules.mmsi_reason(frame["mmsi"])]
        if with_position:
            reasons.append(rules.position_reason(frame["lat"], frame["lon"]))
        reasons.append(rules.label(ts.isna().to_numpy(), "no_timestamp", frame.index))
        late = rules.timestamp_after_span(ts, tolerance_h).to_numpy()
        reasons.append(rules.label(late, "timestamp_after_file_span", frame.index))
        reason = rules.first_reason(*reasons)
        split = rules.split_by_reason(frame, reason, _detail)
        if len(split.rejected):
            rej = split.rejected
            if "raw" in rej:
                raw = rej["raw"].tolist()
            elif decoded.raw_of is not None:
                raw = decoded.raw_of(rej["source_line"].to_numpy())
            else:
                raw = [""] * len(rej)
            quarantine.append(_quarantine_frame(source, table, rej, raw))
        return split.accepted

    positions = check(decoded.positions, "positions", True)
    positions = rules.null_unavailable(positions.copy()) if len(positions) else positions
    positions = positions.assign(source_id=source.source_id)
    if decoded.static_from_positions:
        static = static_rows(positions)
    else:
        static = check(decoded.static, "vessel_static", False)
        static = static.assign(source_id=source.source_id)
    q = pd.concat(quarantine, ignore_index=True) if quarantine else _quarantine_frame(
        source, "positions", pd.DataFrame({"source_line": [], "rule": [], "detail": []}), []
    )
    return positions, static, q


def _home_date(positions: pd.DataFrame, default_date: date | None) -> date | None:
    """The day a file's undated quarantine rows are filed under: its most common day."""
    if len(positions):
        days = positions["timestamp"].dt.date.value_counts()
        top: date = days.sort_index().idxmax()
        return top
    return default_date


def ingest_ais(
    paths: Iterable[str | Path],
    lake: Lake,
    *,
    default_date: date | None = None,
    tolerance_h: float = 6.0,
    layouts: tuple[CsvLayout, ...] = (),
    progress: Callable[[str], None] | None = None,
) -> IngestSummary:
    """Ingest AIS files into the lake and return the per-file run summary."""
    batches: list[_Batch] = []
    summaries: list[FileSummary] = []
    for path in paths:
        try:
            sources = list(open_sources(path))
        except UserError as exc:
            summaries.append(FileSummary(file=Path(str(path)).name, error=str(exc)))
            continue
        for source in sources:
            if progress:
                progress(source.name)
            summary = FileSummary(file=source.name)
            summaries.append(summary)
            try:
                decoded = decode_source(source, default_date, layouts)
            except UserError as exc:
                summary.error = str(exc)
                continue
            positions, static, quarantine = validate(decoded, source, tolerance_h)
            summary.format = decoded.layout
            summary.read = decoded.records
            summary.other_types = sum(decoded.other_types.values())
            summary.quarantined = rules.count_by_rule(quarantine)
            batches.append(
                _Batch(summary, source, positions, static, quarantine,
                       _home_date(positions, default_date))
            )
    written = _merge_into_lake(lake, batches)
    for b in batches:
        s = b.summary
        s.positions = len(b.positions) - int(b.positions.attrs.get("duplicates", 0))
        s.static = len(b.static) - int(b.static.attrs.get("duplicates", 0))
        # CSV/Parquet static rows are derived from positions and are not records of their own
        s.accepted = s.positions + (0 if s.format not in ("nmea",) else s.static)
        if len(b.positions):
            kept = b.positions
            s.vessels = int(kept["mmsi"].nunique())
            s.start = kept["timestamp"].min().to_pydatetime()
            s.end = kept["timestamp"].max().to_pydatetime()
        s.duplicates = s.read - s.accepted - s.other_types - s.quarantined_total
    return IngestSummary(summaries, written)


def _merge_into_lake(lake: Lake, batches: list[_Batch]) -> dict[str, list[str]]:
    """Merge each batch's rows into the partitions of the days they touch."""
    written: dict[str, list[str]] = {}
    ids = {b.source.source_id for b in batches}
    for table, schema, attr in (
        ("positions", POSITIONS, "positions"),
        ("vessel_static", VESSEL_STATIC, "static"),
    ):
        frames = [_to_arrow(getattr(b, attr), schema) for b in batches]
        result = merge_into_lake(lake, table, frames, ids, "timestamp")
        if result.days:
            written[table] = result.days
        for i, b in enumerate(batches):
            getattr(b, attr).attrs["duplicates"] = int(result.duplicates[i])
    quarantine = []
    homes = []
    for b in batches:
        q = b.quarantine
        ts = pd.to_datetime(q["timestamp"], utc=True)
        # a row whose own time is bogus is filed under the file's day, not its claimed day
        trusted = (ts.notna() & (q["rule"] != "timestamp_after_file_span")).to_numpy()
        for sel, home in ((trusted, "row"), (~trusted, b.home_date)):
            part = q[sel]
            if home == "row":
                for d, sub in part.groupby(ts[sel].dt.date, sort=True):
                    quarantine.append(_to_arrow(sub, QUARANTINE))
                    homes.append(d)
            elif len(part):
                quarantine.append(_to_arrow(part, QUARANTINE))
                homes.append(home)
    result = merge_into_lake(lake, "quarantine", quarantine, ids, None, homes)
    if result.days:
        written["quarantine"] = result.days
    return written


def _to_arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """The schema's columns of a frame as an Arrow table (the lake casts to the schema)."""
    cols = [f.name for f in schema if f.name in frame.columns]
    return pa.Table.from_pandas(frame[cols], preserve_index=False)

"""``ingest ais``: landed AIS files (NMEA, decoded CSV, Parquet) → validated lake partitions.

Per file: sniff the format, decode, validate every row against the named rules, send failures
to quarantine. Then, per UTC day touched, merge with what the lake already holds: rows that came
from the same file content before are replaced (re-ingest is idempotent), exact duplicates are
removed keeping the row with the smallest (source_id, source_line), so the content of a day does
not depend on the order in which its files arrived.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.errors import UserError
from pipeline.ingest import rules
from pipeline.ingest.columns import filter_rows, take_rows
from pipeline.ingest.csv_ais import (
    STATIC_COLUMNS,
    CsvLayout,
    detect_layout,
    parse_header,
    raw_lines,
    read_csv,
    static_rows,
)
from pipeline.ingest.decoded import Decoded
from pipeline.ingest.merge import RECORD, MergeResult, day_counts, merge_into_lake, sort_order
from pipeline.ingest.parquet_ais import read_parquet
from pipeline.ingest.sources import MAGIC_PARQUET, SourceFile, looks_like_nmea, open_sources
from pipeline.ingest.threads import pool
from pipeline.lake import Lake
from pipeline.schemas import DATE_ONLY, POSITIONS, QUARANTINE, VESSEL_STATIC, real_time

DEFAULT_MAX_RAW_CHARS = 2000  # settings: ingest.max_raw_chars


@dataclass(frozen=True)
class ZdaClock:
    """When an NMEA message without a time of its own may take the receiver's $--ZDA clock
    (settings ``ingest.nmea_zda_clock_max_gap_s`` / ``nmea_zda_clock_max_lines``; see
    ``pipeline.ingest.nmea._zda_clock``). Without one the clock is not used."""

    max_gap_s: float | None
    max_lines: int | None = None


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
    # accepted positions whose time is only a date (time_source date_only: --date at 00:00
    # UTC): kept in the lake, left out of tracks
    date_only: int = 0
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

    @property
    def warnings(self) -> list[str]:
        """What the operator must know about the file's rows: most positions without a time."""
        if self.date_only * 2 <= self.positions:
            return []
        return [
            f"{self.file}: {self.date_only:,} of {self.positions:,} positions carry "
            "only the date (--date, 00:00 UTC; no tag block, $PGHP, trailing epoch, $--VSI or "
            "dense $--ZDA clock gives their time); their times are unknown, they are kept out "
            "of tracks, events and time-based features"
        ]

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file, "format": self.format, "read": self.read,
            "accepted": self.accepted, "positions": self.positions, "static": self.static,
            "other_types": self.other_types, "quarantined": dict(sorted(self.quarantined.items())),
            "quarantined_total": self.quarantined_total, "duplicates": self.duplicates,
            "vessels": self.vessels, "date_only_positions": self.date_only,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "warnings": self.warnings,
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
        totals["date_only_positions"] = sum(f.date_only for f in self.files)
        return {
            "files": [f.as_dict() for f in self.files],
            "totals": totals,
            "partitions": self.partitions,
        }


@dataclass
class _Batch:
    """Validated rows of one file, waiting to be merged into the lake."""

    summary: FileSummary
    source_id: str  # not the SourceFile: its bytes must not outlive decoding
    positions: pa.Table
    # identity rows derived from decoded-CSV positions are grouped on the pool while the
    # positions are already being merged: the merge of the static table waits for them
    static: pa.Table | Future[pa.Table]
    quarantine: pd.DataFrame
    home_date: date | None
    duplicates: dict[str, int] = field(default_factory=dict)
    # the original text of quarantined lines that still lack it (None: none do)
    raw_of: Callable[[np.ndarray], list[str]] | None = None
    max_raw_chars: int = DEFAULT_MAX_RAW_CHARS

    def fill_raw(self) -> None:
        """Cut the original text of the quarantined lines that lack it from the file. It
        takes a scan of the whole file, left until the positions are being written, when
        a core is free."""
        missing = self.quarantine["raw"].isna().to_numpy()
        if missing.any() and self.raw_of is not None:
            texts = self.raw_of(self.quarantine["source_line"].to_numpy()[missing])
            self.quarantine.loc[missing, "raw"] = [t[: self.max_raw_chars] for t in texts]
        self.raw_of = None
        self.quarantine["raw"] = self.quarantine["raw"].fillna("")


def decode_source(
    source: SourceFile,
    default_date: date | None,
    layouts: tuple[CsvLayout, ...] = (),
    zda_clock: ZdaClock | None = None,
) -> Decoded:
    """Sniff the format of one input and run its reader."""
    buffer = source.buffer
    if buffer[: len(MAGIC_PARQUET)] == MAGIC_PARQUET:
        source.hash_in_background()
        return read_parquet(buffer, source.name)
    header = parse_header(buffer)
    layout = detect_layout(header, layouts)
    if layout is not None:
        # pyarrow parses CSV on every core: hash afterwards, while the rows are validated
        decoded = read_csv(buffer, layout, source.name)
        source.hash_in_background()
        return decoded
    if looks_like_nmea(buffer):
        from pipeline.ingest.nmea import decode_nmea

        source.hash_in_background()
        data = source.buffer  # a memory-mapped file is parsed in place, never copied
        clock = zda_clock or ZdaClock(None)
        nm = decode_nmea(data, default_date=default_date, single_raw=False,
                         zda_clock_max_gap_s=clock.max_gap_s,
                         zda_clock_max_lines=clock.max_lines)
        return Decoded(
            positions=nm.positions, static=nm.static, rejects=nm.rejects,
            records=nm.messages, other_types=dict(nm.other_types),
            header_lines=nm.header_lines, layout="nmea",
            raw_of=lambda lines: raw_lines(data, lines),
        )
    shown = ", ".join(header[:12]) if any(header) else "(empty)"
    raise UserError(
        f"{source.name}: line 1: unrecognised file format (header: {shown}). Expected raw "
        "NMEA (!AIVDM…), Parquet with the lake's columns, or CSV in the MarineCadastre or "
        "DMA layout; for another CSV layout add a mapping under ingest.csv_mappings in "
        "config/settings.yaml"
    )


def _quarantine_frame(
    source: SourceFile, table: str, rejected: pd.DataFrame, raw: Sequence[object],
    max_raw_chars: int = DEFAULT_MAX_RAW_CHARS,
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "table": table,
            "source_file": source.name,
            "source_id": source.source_id,
            "source_line": rejected["source_line"].to_numpy(dtype=np.int64),
            "rule": rejected["rule"].astype(str).to_numpy(),
            "detail": rejected["detail"].astype(str).to_numpy(),
            "raw": [None if r is None else str(r)[:max_raw_chars] for r in raw],
            "timestamp": rejected["timestamp"].to_numpy()
            if "timestamp" in rejected
            else pd.NaT,
        }
    )


DETAIL_FIELDS = {
    "mmsi_missing": ("mmsi",), "mmsi_placeholder": ("mmsi",), "mmsi_not_ship": ("mmsi",),
    "position_unavailable": ("lat", "lon"), "lat_out_of_range": ("lat",),
    "lon_out_of_range": ("lon",), "no_timestamp": ("timestamp",),
    "timestamp_after_file_span": ("timestamp",),
}


# what a quarantine record shows of a rejected row: its line, its time, the checked fields
QUARANTINE_FIELDS = {"source_line", "timestamp", *(f for fs in DETAIL_FIELDS.values() for f in fs)}


def _detail(rejected: pd.DataFrame) -> pd.Series:
    """Field and offending value for each rejected row, for the quarantine record."""
    text = pd.Series("", index=rejected.index, dtype=object)
    for rule, fields in DETAIL_FIELDS.items():
        mask = (rejected["rule"] == rule).to_numpy()
        if not mask.any():
            continue
        parts = [f + "=" + rejected.loc[mask, f].astype(str) for f in fields if f in rejected]
        joined = parts[0]
        for p in parts[1:]:
            joined = joined + " " + p
        text[mask] = joined
    return text


def _numbers(table: pa.Table, name: str) -> np.ndarray:
    """A numeric column as float64 with NaN for nulls."""
    col = table.column(name)
    if col.null_count:
        col = pc.fill_null(pc.cast(col, pa.float64()), np.nan)
    return np.asarray(col.to_numpy(zero_copy_only=False), dtype="float64")


def _times_us(frame: pd.DataFrame | pa.Table | None) -> np.ndarray:
    if frame is None or len(frame) == 0:
        return np.zeros(0, dtype=np.int64)
    col = frame.column("timestamp") if isinstance(frame, pa.Table) else pa.array(
        frame["timestamp"])
    col = pc.drop_null(pc.cast(col, pa.timestamp("us", tz="UTC")))
    return np.asarray(pc.cast(col, pa.int64()).to_numpy(zero_copy_only=False), dtype=np.int64)


def _span_limit(decoded: Decoded, tolerance_h: float) -> int:
    """Latest acceptable time (µs since epoch) for every row of one file, from the times of
    all its rows (positions and static reports together)."""
    times = np.concatenate([_times_us(decoded.positions), _times_us(decoded.static)])
    late = rules.timestamp_after_span(times, np.ones(len(times), dtype=bool), tolerance_h)
    return int(times[~late].max()) if late.any() else np.iinfo(np.int64).max


def validate(
    decoded: Decoded, source: SourceFile, tolerance_h: float,
    max_raw_chars: int = DEFAULT_MAX_RAW_CHARS,
) -> tuple[pa.Table, pa.Table | Future[pa.Table], pd.DataFrame]:
    """Apply the rules to whole columns; return accepted positions and static rows (Arrow,
    lake columns; static rows derived from positions may still be in the making) and the
    quarantine rows. Only rejected rows are ever copied row-wise."""
    quarantine: list[pd.DataFrame | Future[pd.DataFrame]] = []
    if len(decoded.rejects):
        quarantine.append(
            _quarantine_frame(source, "nmea" if decoded.layout == "nmea" else "positions",
                              decoded.rejects, decoded.rejects["raw"].tolist(), max_raw_chars)
        )

    def rejected(rows: pa.Table, failed: np.ndarray, raw: list[object] | None,
                 table_name: str) -> pd.DataFrame:
        """Quarantine records of rejected rows, with their rule, detail and original text
        (None where the text must still be cut from the file: see ``fill_raw``)."""
        rej = rows.to_pandas()
        rej["rule"] = rules.names(failed)
        rej["detail"] = _detail(rej).to_numpy()
        lacking = None if decoded.raw_of is not None else ""
        raw = [r if isinstance(r, str) else lacking for r in raw or [None] * len(rej)]
        return _quarantine_frame(source, table_name, rej, raw, max_raw_chars)

    def check(attr: str, table_name: str) -> pa.Table:
        schema = POSITIONS if table_name == "positions" else VESSEL_STATIC
        # take the decoded frame out of ``decoded`` so it is freed once converted
        frame = getattr(decoded, attr)
        setattr(decoded, attr, None)
        if frame is None or len(frame) == 0:
            return schema.empty_table()
        raw_text = None
        if isinstance(frame, pa.Table):
            table = frame
        else:  # the raw sentence text is needed only for the few rejected rows
            raw_text = frame["raw"] if "raw" in frame.columns else None
            table = pa.Table.from_pandas(
                frame.drop(columns=["raw"], errors="ignore"), preserve_index=False
            )
        del frame
        ts_col = pc.cast(table.column("timestamp"), pa.timestamp("us", tz="UTC"))
        ts_valid = ts_col.is_valid().to_numpy(zero_copy_only=False)
        # the columns the rules read, as numpy; the sort below takes them over
        known = {"mmsi": _numbers(table, "mmsi"),
                 "timestamp": pc.fill_null(pc.cast(ts_col, pa.int64()), 0).to_numpy()}
        del ts_col
        codes = [rules.mmsi_codes(known["mmsi"])]
        if table_name == "positions":
            known.update(lat=_numbers(table, "lat"), lon=_numbers(table, "lon"))
            codes.append(rules.position_codes(known["lat"], known["lon"]))
        codes.append(np.where(ts_valid, rules.OK, rules.code("no_timestamp")).astype(np.int8))
        late = ts_valid & (known["timestamp"] > span_limit)
        codes.append(np.where(late, rules.code("timestamp_after_file_span"), rules.OK)
                     .astype(np.int8))
        failed = rules.first_failure(*codes)
        del codes, late
        bad = failed != rules.OK
        if table_name == "vessel_static" and "msg_type" in table.column_names:
            # the static half of a type 19 message is not a record of its own: its position
            # half carries the message in the summary and, when rejected, in quarantine
            half = pc.equal(table.column("msg_type"), 19).to_numpy(zero_copy_only=False)
            record = ~half
            bad_record = bad & record
        else:
            record = np.ones(table.num_rows, dtype=bool)
            bad_record = bad
        if bad_record.any():
            # the quarantine records are built on a side thread while the accepted rows go on
            shown = [c for c in table.column_names if c in QUARANTINE_FIELDS]
            quarantine.append(side.submit(
                rejected, table.select(shown).filter(pa.array(bad_record)), failed[bad_record],
                None if raw_text is None else raw_text.to_numpy()[bad_record].tolist(),
                table_name,
            ))
        if table_name == "positions" and decoded.static_from_positions:
            # identity rows of the accepted positions, grouped on the pool while the positions
            # are cleaned (one file: no need to group on its source_id); the identity columns
            # are then not needed in the positions, so they are never filtered
            accepted = None if not bad.any() else ~bad
            derived_static.append(pool().submit(
                lambda t: _with_source(static_rows(t, accepted), source.source_id), table))
            table = table.select([c for c in table.column_names if c in schema.names])
        if table_name == "positions":
            # the accepted rows in the lake's order without the file's own exact duplicates
            # (counted in the summary as read - accepted - quarantined): one copy filters,
            # sorts and de-duplicates them, and the merge of the day only checks the order
            rows = sort_order(table, "positions", np.flatnonzero(~bad) if bad.any() else None,
                              unique=True, known=known)
            if len(rows) < table.num_rows or np.any(rows[1:] < rows[:-1]):
                table = take_rows(table, rows)
                record = record[rows]
        elif bad.any():
            table = filter_rows(table, ~bad)
            record = record[~bad]
        if table_name == "positions":
            names = [n for n in ("sog_kn", "cog_deg", "heading_deg", "nav_status")
                     if n in table.column_names]
            decoded_rows = table
            cleaned = list(pool().map(  # column by column on the pool (Arrow releases the GIL)
                lambda n: rules.null_unavailable(n, decoded_rows.column(n)), names))
            for name, col in zip(names, cleaned, strict=True):
                table = table.set_column(table.column_names.index(name), name, col)
        keep = [c for c in table.column_names
                if (c in schema.names or c in STATIC_COLUMNS) and c != "source_id"]
        table = table.select(keep)
        if not record.all():
            table = table.append_column(RECORD, pa.array(record))
        return table

    span_limit = _span_limit(decoded, tolerance_h)
    derived_static: list[Future[pa.Table]] = []
    static: pa.Table | Future[pa.Table]
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="quarantine") as side:
        positions = check("positions", "positions")
        if decoded.static_from_positions:
            static = derived_static[0] if derived_static else _with_source(
                VESSEL_STATIC.empty_table(), source.source_id)
        else:
            static = _with_source(check("static", "vessel_static"), source.source_id)
        positions = positions.select([c for c in positions.column_names if c in POSITIONS.names])
        positions = _with_source(positions, source.source_id)
        frames = [q.result() if isinstance(q, Future) else q for q in quarantine]
    q = pd.concat(frames, ignore_index=True) if frames else _quarantine_frame(
        source, "positions", pd.DataFrame({"source_line": [], "rule": [], "detail": []}), []
    )
    return positions, static, q


def _with_source(table: pa.Table, source_id: str) -> pa.Table:
    """The table with every row's ``source_id`` set to the file's content hash."""
    if "source_id" in table.column_names:
        table = table.drop_columns(["source_id"])
    return table.append_column(
        "source_id", pa.repeat(pa.scalar(source_id, pa.string()), table.num_rows)
    )


def _home_date(positions: pa.Table, default_date: date | None) -> date | None:
    """The day a file's undated quarantine rows are filed under: its most common day."""
    times = positions.column("timestamp")
    if len(times):
        us = pc.cast(times, pa.int64()).to_numpy()
        days, counts = day_counts(us // 86_400_000_000)
        return date(1970, 1, 1) + timedelta(days=int(days[np.argmax(counts)]))
    return default_date


def _ingest_one(
    source: SourceFile,
    summary: FileSummary,
    default_date: date | None,
    tolerance_h: float,
    layouts: tuple[CsvLayout, ...],
    max_raw_chars: int,
    zda_clock: ZdaClock | None = None,
) -> _Batch:
    """Decode and validate one input; only the validated Arrow tables are kept."""
    decoded = decode_source(source, default_date, layouts, zda_clock)
    positions, static, quarantine = validate(decoded, source, tolerance_h, max_raw_chars)
    summary.format = decoded.layout
    summary.read = decoded.records
    summary.other_types = sum(decoded.other_types.values())
    summary.quarantined = rules.count_by_rule(quarantine)
    return _Batch(summary, source.source_id, positions, static, quarantine,
                  _home_date(positions, default_date), raw_of=decoded.raw_of,
                  max_raw_chars=max_raw_chars)


def ingest_ais(
    paths: Iterable[str | Path],
    lake: Lake,
    *,
    default_date: date | None = None,
    tolerance_h: float = 6.0,
    layouts: tuple[CsvLayout, ...] = (),
    max_raw_chars: int = DEFAULT_MAX_RAW_CHARS,
    progress: Callable[[str], None] | None = None,
    zda_clock: ZdaClock | None = None,
) -> IngestSummary:
    """Ingest AIS files into the lake and return the per-file run summary. ``zda_clock``:
    the settings under which raw NMEA may take the receiver's $--ZDA clock (None: never)."""
    batches: list[_Batch] = []
    summaries: list[FileSummary] = []
    for path in paths:
        try:
            for source in open_sources(path):
                if progress:
                    progress(source.name)
                summary = FileSummary(file=source.name)
                summaries.append(summary)
                try:
                    batches.append(
                        _ingest_one(source, summary, default_date, tolerance_h, layouts,
                                    max_raw_chars, zda_clock)
                    )
                except UserError as exc:
                    summary.error = str(exc)
                del source  # the file's bytes are not needed past decoding
        except UserError as exc:
            summaries.append(FileSummary(file=Path(str(path)).name, error=str(exc)))
    written = _merge_into_lake(lake, batches)
    for b in batches:
        s = b.summary
        accepted = b.positions
        s.positions = accepted.num_rows - b.duplicates["positions"]
        if "time_source" in accepted.column_names:
            validated = int(pc.sum(pc.fill_null(
                pc.equal(accepted.column("time_source"), DATE_ONLY), False)).as_py() or 0)
            s.date_only = validated - b.duplicates["positions_date_only"]
        assert isinstance(b.static, pa.Table)  # resolved by the merge
        s.static = _records(b.static) - b.duplicates["vessel_static"]
        # CSV/Parquet static rows are derived from positions and are not records of their own
        s.accepted = s.positions + (s.static if s.format == "nmea" else 0)
        if accepted.num_rows:
            s.vessels = int(pc.count_distinct(accepted.column("mmsi")).as_py())
            times = accepted.column("timestamp")
            timed = real_time(accepted)  # the span of the real times when there are any
            if timed is not None and pc.any(timed).as_py():
                times = times.filter(timed)
            span = pc.min_max(times).as_py()
            s.start, s.end = span["min"], span["max"]
        s.duplicates = s.read - s.accepted - s.other_types - s.quarantined_total
    return IngestSummary(summaries, written)


def _records(table: pa.Table) -> int:
    """Rows of a batch that count as records of their own in the run summary."""
    if RECORD not in table.column_names:
        return table.num_rows
    return int(pc.sum(table.column(RECORD)).as_py() or 0)


def _merge_into_lake(lake: Lake, batches: list[_Batch]) -> dict[str, list[str]]:
    """Merge each batch's rows into the partitions of the days they touch. The positions
    (by far the most rows) merge on a thread of their own while the static reports and
    the quarantine are merged (Arrow, numpy and the Parquet writer release the GIL)."""
    ids = {b.source_id for b in batches}
    results: dict[str, MergeResult] = {}
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="positions") as side:
        positions = side.submit(
            merge_into_lake, lake, "positions", [b.positions for b in batches], ids, "timestamp"
        )
        for b in batches:
            if isinstance(b.static, Future):
                b.static = b.static.result()
        results["vessel_static"] = merge_into_lake(
            lake, "vessel_static", [b.static for b in batches], ids, "timestamp"
        )
        results["quarantine"] = _merge_quarantine(lake, batches, ids)
        results["positions"] = positions.result()
    written: dict[str, list[str]] = {}
    for table in ("positions", "vessel_static", "quarantine"):
        if results[table].days:
            written[table] = results[table].days
        if table != "quarantine":
            date_only = results[table].date_only_duplicates
            for i, b in enumerate(batches):
                b.duplicates[table] = int(results[table].duplicates[i])
                b.duplicates[f"{table}_date_only"] = int(date_only[i]) if date_only is not None else 0
    return written


def _merge_quarantine(lake: Lake, batches: list[_Batch], ids: set[str]) -> MergeResult:
    """Each file's quarantine rows, filed by day, into lake/quarantine."""
    quarantine = []
    homes = []
    for b in batches:
        b.fill_raw()
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
    return merge_into_lake(lake, "quarantine", quarantine, ids, None, homes)


def _to_arrow(frame: pd.DataFrame, schema: pa.Schema) -> pa.Table:
    """The schema's columns of a frame as an Arrow table (the lake casts to the schema)."""
    cols = [f.name for f in schema if f.name in frame.columns]
    return pa.Table.from_pandas(frame[cols], preserve_index=False)

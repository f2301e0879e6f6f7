"""What the lake knows about one vessel, for the alert and vessel pages: its events in a time
window, declared port calls, incident reports linked to it and the identities it broadcast.

The lake stays the source of these facts (the store holds only decisions). Each helper reads
the day partitions it needs and filters them by MMSI with Arrow compute, never row by row.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.alerts.history import incidents_of, port_calls_of
from pipeline.lake import Lake
from pipeline.schemas import EVENTS


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    return table.to_pylist()


def _for_mmsi(table: pa.Table, mmsi: int) -> pa.Table:
    return table.filter(pc.equal(table["mmsi"], pa.scalar(mmsi, pa.int64())))


def events_in_window(lake: Lake, mmsi: int, start: datetime, end: datetime) -> list[dict[str, Any]]:
    """The vessel's events overlapping [start, end], oldest first, one row per event id (the
    same reading as the map's: pipeline.alerts.evidence.read_events)."""
    from pipeline.alerts.evidence import read_events

    frame = read_events(lake, [mmsi], start, end)
    if frame.empty:
        return []
    # back to the lake's types: nullable integers came back from pandas as floats
    return _rows(pa.Table.from_pandas(frame[EVENTS.names], schema=EVENTS, preserve_index=False))


def port_calls_for(lake: Lake, mmsi: int, imo: int | None, end: date, days: int
                   ) -> list[dict[str, Any]]:
    """Declared port calls of the vessel (by MMSI, or IMO when known) in the last ``days``
    days up to ``end``, newest first (the report's reader: pipeline.alerts.history)."""
    return port_calls_of(lake, [(mmsi, imo)], end, days)[mmsi]


def incidents_for(lake: Lake, mmsi: int, end: date, days: int) -> list[dict[str, Any]]:
    """Incident reports linked to the vessel (lake/incident_matches), newest first, with how
    they were linked and how confident the link is."""
    return incidents_of(lake, [mmsi], end, days)[mmsi]


def identities_for(lake: Lake, mmsi: int, days: list[date]) -> list[dict[str, Any]]:
    """Distinct (name, call sign, IMO, destination, ship type) the MMSI broadcast on the
    given days, with first and last time seen: a changing identity is itself a signal."""
    parts = []
    cols = ["mmsi", "timestamp", "name", "call_sign", "imo", "destination", "ship_type"]
    for day in sorted(set(days)):
        t = _for_mmsi(lake.read_partition("vessel_static", day, cols), mmsi)
        if t.num_rows:
            parts.append(t)
    if not parts:
        return []
    table = pa.concat_tables(parts)
    keys = ["name", "call_sign", "imo", "destination", "ship_type"]
    grouped = table.group_by(keys, use_threads=False).aggregate(
        [("timestamp", "min"), ("timestamp", "max"), ("timestamp", "count")]
    )
    rows = _rows(grouped)
    rows.sort(key=lambda r: r["timestamp_max"], reverse=True)
    return rows


def rows_per_day(lake: Lake, table: str, days: list[date]) -> dict[date, int]:
    """Rows of each day's partition from the Parquet footer (no data read): positions per
    day is the first thing to look at when the queue is empty."""
    import pyarrow.parquet as pq

    out: dict[date, int] = {}
    for day in days:
        if lake.has_partition(table, day):
            with lake.fs.open_input_file(lake.partition_path(table, day)) as fh:
                out[day] = pq.ParquetFile(fh).metadata.num_rows
        else:
            out[day] = 0
    return out


def quarantine_by_rule(lake: Lake, days: list[date]) -> dict[date, dict[str, int]]:
    """Quarantined rows per day and validation rule (lake/quarantine)."""
    out: dict[date, dict[str, int]] = {}
    for day in days:
        t = lake.read_partition("quarantine", day, ["rule"])
        if t.num_rows == 0:
            out[day] = {}
            continue
        counts = pc.value_counts(t["rule"]).to_pylist()
        out[day] = {c["values"]: c["counts"] for c in sorted(
            counts, key=lambda c: (-c["counts"], c["values"]))}
    return out

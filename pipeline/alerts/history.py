"""What the lake records of a set of vessels before a day: declared port calls (by MMSI, or
IMO when known) and incident reports linked to them. One reader for the daily report (all
alerted vessels at once) and the review app (one vessel): each table is read once and
filtered with Arrow compute, never row by row.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from pipeline.lake import Lake


def filter_ids(table: pa.Table, column: str, ids: Sequence[int]) -> pa.Table:
    """Rows whose ``column`` is one of ``ids`` (nulls never match)."""
    if table.num_rows == 0 or not ids:
        return table.slice(0, 0)
    mask = pc.fill_null(pc.is_in(table[column], pa.array(sorted(set(ids)), pa.int64())), False)
    return table.filter(mask)


def port_calls_of(lake: Lake, vessels: Sequence[tuple[int, int | None]], end: date, days: int
                  ) -> dict[int, list[dict[str, Any]]]:
    """Declared port calls in the ``days`` before and on ``end`` of each (mmsi, imo), matched
    by MMSI or by IMO when known, newest first, by MMSI."""
    table = lake.read("port_calls", end - timedelta(days=days), end)
    by_mmsi = filter_ids(table, "mmsi", [m for m, _ in vessels]).to_pylist()
    by_imo = filter_ids(table, "imo", [i for _, i in vessels if i]).to_pylist()
    out: dict[int, list[dict[str, Any]]] = {}
    for mmsi, imo in vessels:
        rows = {r["call_id"]: r for r in by_mmsi if r["mmsi"] == mmsi}
        if imo:
            rows.update({r["call_id"]: r for r in by_imo if r["imo"] == imo})
        out[mmsi] = sorted(rows.values(), key=lambda r: r["arrival_time"], reverse=True)
    return out


def incidents_of(lake: Lake, mmsis: Sequence[int], end: date, days: int
                 ) -> dict[int, list[dict[str, Any]]]:
    """Incident reports linked to each vessel (lake/incident_matches) in the ``days`` before
    and on ``end``, newest and most confident first, by MMSI."""
    rows = filter_ids(lake.read("incident_matches", end - timedelta(days=days), end), "mmsi",
                      mmsis).to_pylist()
    return {m: sorted((r for r in rows if r["mmsi"] == m),
                      key=lambda r: (r["incident_date"], r["confidence"]), reverse=True)
            for m in mmsis}

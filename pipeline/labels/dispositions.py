"""Analysts' dispositions as labels: what the reviewed alerts turned out to be.

A closed alert says "this vessel-day was confirmed / suspicious / benign / a false positive";
the label builder joins these to the features of the same vessel-day. An alert decided twice
(reopened and closed again) counts with its latest decision only.
"""

from __future__ import annotations

from datetime import date

import pyarrow as pa
from sqlalchemy import Engine, select

from pipeline.alerts.store import Disposition, session_scope
from pipeline.schemas import TS

PROVENANCE = "analyst_review"

DISPOSITION_LABELS = pa.schema([
    pa.field("mmsi", pa.int64(), nullable=False),
    pa.field("date", pa.date32(), nullable=False),
    pa.field("disposition", pa.string(), nullable=False),
    pa.field("analyst", pa.string(), nullable=False),
    pa.field("decided_at", TS, nullable=False),
    pa.field("alert_id", pa.string(), nullable=False),
    pa.field("provenance", pa.string(), nullable=False),
])


def read_dispositions(engine: Engine, start: date, end: date) -> pa.Table:
    """Latest disposition of every alert dated ``start``..``end`` (inclusive), one row each,
    ordered by date and MMSI."""
    if end < start:
        raise ValueError(f"end date {end} is before start date {start}")
    with session_scope(engine) as s:
        rows = s.execute(
            select(Disposition.alert_id, Disposition.mmsi, Disposition.date,
                   Disposition.disposition, Disposition.analyst, Disposition.decided_at)
            .where(Disposition.date >= start, Disposition.date <= end)
            .order_by(Disposition.alert_id, Disposition.decided_at, Disposition.id)
        ).all()
    latest = {r.alert_id: r for r in rows}  # later rows of an alert replace earlier ones
    ordered = sorted(latest.values(), key=lambda r: (r.date, r.mmsi, r.alert_id))
    return pa.table({
        "mmsi": pa.array([int(r.mmsi) for r in ordered], pa.int64()),
        "date": pa.array([r.date for r in ordered], pa.date32()),
        "disposition": pa.array([r.disposition for r in ordered], pa.string()),
        "analyst": pa.array([r.analyst for r in ordered], pa.string()),
        "decided_at": pa.array([r.decided_at for r in ordered], TS),
        "alert_id": pa.array([r.alert_id for r in ordered], pa.string()),
        "provenance": pa.array([PROVENANCE] * len(ordered), pa.string()),
    }, schema=DISPOSITION_LABELS)

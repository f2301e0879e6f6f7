"""``ingest incidents``: incident reports (CSV, format in the README) → ``lake/incidents``.

Reports are the labels a PIU receives, late and incomplete, so only what makes a report
unusable sends it to quarantine: dates that do not parse, a report dated before its
incident, a position off the globe, an unknown outcome, or neither a place nor a position.
Vessel identifiers are kept as reported (a placeholder MMSI is evidence too); the matcher
decides what they can be linked to. Partitions are the UTC day of ``incident_date``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.ingest.ais import DEFAULT_MAX_RAW_CHARS, IngestSummary, _to_arrow
from pipeline.ingest.merge import merge_into_lake
from pipeline.ingest.records import (
    RowRules,
    merge_quarantine,
    read_record_files,
    read_text_csv,
)
from pipeline.ingest.sources import SourceFile
from pipeline.lake import Lake
from pipeline.schemas import INCIDENTS

COLUMNS = [
    "report_date", "incident_date", "place", "lat", "lon", "mmsi", "imo", "name",
    "call_sign", "outcome", "reporting_agency",
]
REQUIRED = ["incident_date", "outcome"]
OUTCOMES = ("intercepted", "landed", "turned_back", "rescued", "disrupted")


@dataclass
class _Parsed:
    reports: pd.DataFrame
    quarantine: pd.DataFrame
    records: int


def _dates(values: pd.Series) -> pd.Series:
    """YYYY-MM-DD text as datetime64 (NaT when empty or not a date)."""
    return pd.to_datetime(values, format="%Y-%m-%d", errors="coerce")


def _read(source: SourceFile, max_raw_chars: int) -> _Parsed:
    df = read_text_csv(source, COLUMNS, REQUIRED, "incident", "Incident reports")
    n = len(df)
    lines = np.arange(2, n + 2, dtype=np.int64)
    checks = RowRules(n)
    flag = checks.flag

    def show(col: str) -> pd.Series:
        return col + "=" + df[col].astype(str)

    incident = _dates(df["incident_date"])
    report = _dates(df["report_date"])
    flag(df["incident_date"].isna(), "missing_field", "incident_date is empty")
    flag(df["incident_date"].notna() & incident.isna(), "date_unparsable", show("incident_date"))
    flag(df["report_date"].notna() & report.isna(), "date_unparsable", show("report_date"))
    flag(report.notna() & incident.notna() & (report < incident), "report_before_incident",
         show("report_date") + " " + show("incident_date"))
    numbers = {c: pd.to_numeric(df[c], errors="coerce") for c in ("lat", "lon", "mmsi", "imo")}
    for c, v in numbers.items():
        flag(df[c].notna() & v.isna(), "bad_number", show(c))
    lat, lon = numbers["lat"], numbers["lon"]
    flag((lat < -90) | (lat > 90), "lat_out_of_range", show("lat"))
    flag((lon < -180) | (lon > 180), "lon_out_of_range", show("lon"))
    outcome = df["outcome"].str.lower().str.replace(r"[\s-]+", "_", regex=True)
    flag(~outcome.isin(OUTCOMES), "unknown_outcome", show("outcome"))
    flag(df["place"].isna() & (lat.isna() | lon.isna()), "no_place_or_position",
         "place is empty and lat/lon are incomplete")

    bad = checks.bad
    quarantine = checks.quarantine(source, "incidents", lines, max_raw_chars,
                                   incident_date=incident[bad].array)
    ok = ~bad
    reports = pd.DataFrame(
        {
            "report_date": report[ok].dt.date, "incident_date": incident[ok].dt.date,
            "place": df["place"][ok], "lat": lat[ok], "lon": lon[ok],
            "mmsi": numbers["mmsi"][ok].astype("Int64"),
            "imo": numbers["imo"][ok].astype("Int64"),
            "name": df["name"][ok], "call_sign": df["call_sign"][ok],
            "outcome": outcome[ok], "reporting_agency": df["reporting_agency"][ok],
            "source_file": source.name, "source_id": source.source_id, "source_line": lines[ok],
        }
    ).reset_index(drop=True)
    reports["report_date"] = reports["report_date"].astype(object).where(
        reports["report_date"].notna(), None)
    reports["incident_id"] = incident_ids(reports)
    return _Parsed(reports, quarantine, n)


def _text(values: pd.Series) -> pd.Series:
    """Values as plain text with empty strings for nulls (for hashing)."""
    return values.astype(object).where(values.notna(), "").astype(str)


def incident_ids(reports: pd.DataFrame) -> list[str]:
    """Deterministic id per report: hash of its content (not of its file or line), so the same
    report delivered twice, or in another file, is one incident."""
    key = _text(reports["report_date"])
    for c in ("incident_date", "place", "lat", "lon", "mmsi", "imo"):
        key = key + "|" + _text(reports[c])
    for c in ("name", "call_sign"):
        key = key + "|" + _text(reports[c]).str.upper()
    key = key + "|" + _text(reports["outcome"]) + "|" + _text(reports["reporting_agency"])
    return [hashlib.sha256(k.encode()).hexdigest()[:16] for k in key.tolist()]


def ingest_incidents(
    paths: Iterable[str | Path], lake: Lake, max_raw_chars: int = DEFAULT_MAX_RAW_CHARS,
) -> IngestSummary:
    """Ingest incident-report files; re-ingesting a file replaces its earlier rows."""
    summaries, parsed = read_record_files(paths, "incidents", lambda src: _read(src, max_raw_chars))
    ids = {src.source_id for src, _, _ in parsed}
    written: dict[str, list[str]] = {}
    # incident_date is a date, not a timestamp: one batch per (file, day)
    batches: list[pa.Table] = []
    days: list[date | None] = []
    owner: list[int] = []
    for i, (_, p, _) in enumerate(parsed):
        day = p.reports["incident_date"]
        for d in sorted(pd.unique(day)):
            batches.append(_to_arrow(p.reports[(day == d).to_numpy()], INCIDENTS))
            days.append(d)
            owner.append(i)
    result = merge_into_lake(lake, "incidents", batches, ids, None, days)
    if result.days:
        written["incidents"] = result.days
    # quarantine rows are filed under their incident day, or the file's first incident day
    qdays = merge_quarantine(
        lake, [(p.quarantine, p.reports["incident_date"].min() if len(p.reports) else None) for _, p, _ in parsed], "incident_date", ids
    )
    if qdays:
        written["quarantine"] = qdays
    dups = np.bincount(np.asarray(owner, dtype=np.int64), weights=result.duplicates,
                       minlength=len(parsed)) if owner else np.zeros(len(parsed))
    for i, (_, p, s) in enumerate(parsed):
        s.duplicates = int(dups[i])
        s.accepted = len(p.reports) - s.duplicates
        r = p.reports
        if len(r):
            s.vessels = int(r[["mmsi", "imo", "name", "call_sign"]].astype(str)
                            .drop_duplicates().shape[0])
            s.start = pd.Timestamp(r["incident_date"].min(), tz="UTC").to_pydatetime()
            s.end = pd.Timestamp(r["incident_date"].max(), tz="UTC").to_pydatetime()
    return IngestSummary(summaries, written)

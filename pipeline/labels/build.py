"""One label table from every source, each row with its provenance and the day it became known.

Sources (``source`` column):
- ``incident``: a report linked to a vessel (``lake/incident_matches``). The vessel-days from
  ``incident_days_before`` days before the incident up to the incident date are labelled 1
  (the voyage the report ends), weighted by the match confidence. A PIU learns it on the
  report date, so ``known_from`` = report_date (incident date when the report has none).
- ``disposition``: an analyst's verdict on an alert (``read_dispositions`` of the alert
  store): confirmed/suspicious → 1, benign/false_positive → 0; known from the decision day;
  the latest decision on a vessel-day wins.
- ``simulator``: simulator ground truth (pipeline.labels.ground_truth), only for the shipped
  baseline model and for evaluation.

``resolve_labels`` keeps one label per vessel-day, using only rows known by an ``as_of`` day
(no label from the future leaks into a training window) and the source priority of the
settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa

from pipeline.schemas import _f

SOURCE_INCIDENT = "incident"
SOURCE_DISPOSITION = "disposition"
SOURCE_SIMULATOR = "simulator"
SOURCES = (SOURCE_DISPOSITION, SOURCE_INCIDENT, SOURCE_SIMULATOR)
POSITIVE_DISPOSITIONS = ("confirmed", "suspicious")
NEGATIVE_DISPOSITIONS = ("benign", "false_positive")

LABELS = pa.schema([
    _f("mmsi", pa.int64(), "The vessel.", False),
    _f("date", pa.date32(), "The UTC vessel-day labelled (joins lake/features).", False),
    _f("label", pa.int8(), "1 = took part in smuggling that day, 0 = did not.", False),
    _f("weight", pa.float64(), "Trust in the label 0..1 (incident: match confidence).", False),
    _f("source", pa.string(), "incident, disposition or simulator.", False),
    _f("known_from", pa.date32(), "First day a PIU had this label (report date, decision day).", False),
    _f("provenance", pa.string(), "Where the label came from: incident id + file/line, alert id + analyst, ground-truth file.", False),
])


def _table(frame: pd.DataFrame) -> pa.Table:
    if frame.empty:
        return LABELS.empty_table()
    return pa.Table.from_pandas(frame[[f.name for f in LABELS]].reset_index(drop=True),
                                schema=LABELS, preserve_index=False)


def labels_from_incidents(matches: pa.Table, days_before: int, min_confidence: float
                          ) -> pa.Table:
    """Positive vessel-days of the matched incident reports (unmatched reports give none)."""
    m = matches.to_pandas()
    m = m[m["mmsi"].notna() & (m["confidence"] >= min_confidence)]
    if m.empty:
        return LABELS.empty_table()
    n = days_before + 1
    rep = m.loc[m.index.repeat(n)].copy()
    offset = np.tile(np.arange(-days_before, 1), len(m))
    rep["date"] = [d + timedelta(days=int(o)) for d, o in zip(rep["incident_date"], offset,
                                                               strict=True)]
    known = rep["report_date"].where(rep["report_date"].notna(), rep["incident_date"])
    rep = rep.assign(
        mmsi=rep["mmsi"].astype("int64"), label=np.int8(1), weight=rep["confidence"],
        source=SOURCE_INCIDENT, known_from=known,
        provenance=("incident " + rep["incident_id"] + " (" + rep["outcome"] + ", "
                    + rep["source_file"] + " line " + rep["source_line"].astype(str)
                    + ", matched by " + rep["match_method"] + ")"))
    # one vessel-day named by several reports: the most confident one
    rep = rep.sort_values(["mmsi", "date", "weight", "provenance"],
                          ascending=[True, True, False, True])
    return _table(rep.drop_duplicates(["mmsi", "date"]))


def labels_from_dispositions(dispositions: pa.Table) -> pa.Table:
    """Analyst verdicts (the pyarrow shape of ``read_dispositions``) as label rows: the latest
    decision per vessel-day; dispositions that say nothing (unknown values) are skipped."""
    d = dispositions.to_pandas()
    d = d[d["disposition"].isin(POSITIVE_DISPOSITIONS + NEGATIVE_DISPOSITIONS)]
    if d.empty:
        return LABELS.empty_table()
    d = d.sort_values(["mmsi", "date", "decided_at", "alert_id"]).drop_duplicates(
        ["mmsi", "date"], keep="last")
    decided = pd.to_datetime(d["decided_at"], utc=True).dt.date
    out = d.assign(
        label=d["disposition"].isin(POSITIVE_DISPOSITIONS).astype("int8"),
        weight=np.where(d["disposition"] == "suspicious", 0.5, 1.0),
        source=SOURCE_DISPOSITION, known_from=decided,
        provenance=("alert " + d["alert_id"].astype(str) + ": " + d["disposition"] + " by "
                    + d["analyst"].fillna("?").astype(str) + " ("
                    + d["provenance"].fillna("").astype(str) + ")"))
    return _table(out)


def combine_labels(tables: Sequence[pa.Table]) -> pa.Table:
    """All label rows of every source, sorted (mmsi, date, source)."""
    parts = [t for t in tables if t.num_rows]
    if not parts:
        return LABELS.empty_table()
    out = pa.concat_tables([t.cast(LABELS) for t in parts])
    return out.sort_by([("mmsi", "ascending"), ("date", "ascending"), ("source", "ascending")])


def resolve_labels(labels: pa.Table, as_of: date | None, priority: Sequence[str] = SOURCES
                   ) -> pd.DataFrame:
    """One label per vessel-day: rows known by ``as_of`` (all when None), the source
    earliest in ``priority`` winning (sources not listed are dropped)."""
    frame = labels.to_pandas()
    if as_of is not None:
        frame = frame[frame["known_from"] <= as_of]
    rank = {s: i for i, s in enumerate(priority)}
    frame = frame[frame["source"].isin(list(rank))]
    frame = frame.assign(_rank=frame["source"].map(rank))
    frame = frame.sort_values(["mmsi", "date", "_rank"]).drop_duplicates(["mmsi", "date"])
    return frame.drop(columns="_rank").reset_index(drop=True)


def build_labels(
    *, matches: pa.Table | None = None, dispositions: pa.Table | None = None,
    ground_truth: pa.Table | None = None, incident_days_before: int = 3,
    min_match_confidence: float = 0.5, start: date | None = None, end: date | None = None,
) -> pa.Table:
    """The label table of the given sources, restricted to vessel-days in [start, end]."""
    tables = []
    if matches is not None:
        tables.append(labels_from_incidents(matches, incident_days_before,
                                            min_match_confidence))
    if dispositions is not None:
        tables.append(labels_from_dispositions(dispositions))
    if ground_truth is not None:
        tables.append(ground_truth)
    out = combine_labels(tables)
    if out.num_rows and (start or end):
        days = out.column("date").to_pandas()
        keep = np.ones(len(days), bool)
        if start:
            keep &= (days >= start).to_numpy()
        if end:
            keep &= (days <= end).to_numpy()
        out = out.filter(pa.array(keep))
    return out

"""``ingest port-calls``: port-authority call records (CSV) → ``lake/port_calls``.

The format (documented in the README) is one row per call with the columns in
``COLUMNS``; only ``port`` and ``arrival_time`` and at least one vessel identifier are
required. Ports are resolved against the configured port list (UN/LOCODE or exact name).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.ingest import rules
from pipeline.ingest.ais import DEFAULT_MAX_RAW_CHARS, IngestSummary, _to_arrow
from pipeline.ingest.csv_ais import parse_timestamps
from pipeline.ingest.merge import merge_into_lake
from pipeline.ingest.records import (
    RowRules,
    merge_quarantine,
    read_record_files,
    read_text_csv,
)
from pipeline.ingest.sources import SourceFile
from pipeline.lake import Lake
from pipeline.schemas import PORT_CALLS

COLUMNS = [
    "mmsi", "imo", "name", "call_sign", "flag", "port", "arrival_time", "departure_time",
    "previous_port", "next_port", "persons_on_board",
]
REQUIRED = ["port", "arrival_time"]

# (locode, port name) for a port text, or None when the port is not configured
PortResolver = Callable[[str], tuple[str, str] | None]


@dataclass
class _Parsed:
    calls: pd.DataFrame
    quarantine: pd.DataFrame
    records: int


def _read(source: SourceFile, resolve: PortResolver, max_raw_chars: int) -> _Parsed:
    df = read_text_csv(source, COLUMNS, REQUIRED, "port-call", "Port-call records")
    n = len(df)
    lines = np.arange(2, n + 2, dtype=np.int64)
    checks = RowRules(n)
    flag = checks.flag

    ident = df[["mmsi", "imo", "name", "call_sign"]].notna().any(axis=1)
    flag(~ident, "no_vessel_identifier", "mmsi, imo, name and call_sign are all empty")
    mmsi_num = pd.to_numeric(df["mmsi"], errors="coerce")
    flag(df["mmsi"].notna() & mmsi_num.isna(), "bad_number", "mmsi=" + df["mmsi"].astype(str))
    bad_mmsi = rules.mmsi_codes(mmsi_num.to_numpy(dtype="float64", na_value=np.nan)) != rules.OK
    flag(df["mmsi"].notna() & bad_mmsi, "mmsi_not_ship", "mmsi=" + df["mmsi"].astype(str))
    imo_text = df["imo"].astype(str).str.upper().str.replace("IMO", "", regex=False).str.strip()
    imo_num = pd.to_numeric(imo_text.where(df["imo"].notna()), errors="coerce")
    flag(df["imo"].notna() & ~rules.imo_valid(imo_num), "imo_invalid",
         "imo=" + df["imo"].astype(str))
    flag(df["port"].isna(), "missing_field", "port is empty")
    flag(df["arrival_time"].isna(), "missing_field", "arrival_time is empty")
    arrival = parse_timestamps(df["arrival_time"], None)
    departure = parse_timestamps(df["departure_time"], None)
    flag(df["arrival_time"].notna() & arrival.isna(), "timestamp_unparsable",
         "arrival_time=" + df["arrival_time"].astype(str))
    flag(df["departure_time"].notna() & departure.isna(), "timestamp_unparsable",
         "departure_time=" + df["departure_time"].astype(str))
    flag(departure.notna() & arrival.notna() & (departure < arrival), "departure_before_arrival",
         "arrival_time=" + df["arrival_time"].astype(str) + " departure_time="
         + df["departure_time"].astype(str))
    pon = pd.to_numeric(df["persons_on_board"], errors="coerce")
    flag(df["persons_on_board"].notna() & (pon.isna() | (pon < 0)), "bad_number",
         "persons_on_board=" + df["persons_on_board"].astype(str))
    # resolve each distinct port text once
    locodes: dict[str, str] = {}
    names: dict[str, str] = {}
    for text in df["port"].dropna().unique():  # distinct port texts, a handful per file
        hit = resolve(str(text))
        if hit is not None:
            locodes[text], names[text] = hit
    locode = df["port"].map(locodes)
    pname = df["port"].map(names)
    flag(df["port"].notna() & locode.isna(), "unknown_port",
         "port=" + df["port"].astype(str) + " is not in config/ports.csv")

    bad = checks.bad
    quarantine = checks.quarantine(source, "port_calls", lines, max_raw_chars,
                                   arrival_time=arrival[bad].array)
    ok = ~bad
    calls = pd.DataFrame(
        {
            "mmsi": mmsi_num[ok].astype("Int64"),
            "imo": imo_num[ok].astype("Int64"),
            "name": df["name"][ok], "call_sign": df["call_sign"][ok],
            "flag": df["flag"][ok].map(lambda v: v.upper() if isinstance(v, str) else v),
            "port_locode": locode[ok], "port_name": pname[ok],
            "arrival_time": arrival[ok], "departure_time": departure[ok],
            "previous_port": df["previous_port"][ok], "next_port": df["next_port"][ok],
            "persons_on_board": pon[ok].astype("Int32"),
            "source_id": source.source_id, "source_line": lines[ok],
        }
    ).reset_index(drop=True)
    calls["call_id"] = call_ids(calls)
    return _Parsed(calls, quarantine, n)


def _text(values: pd.Series) -> pd.Series:
    """Values as plain text with empty strings for nulls (for hashing)."""
    return values.astype(object).where(values.notna(), "").astype(str)


def call_ids(calls: pd.DataFrame) -> list[str]:
    """Deterministic id per call: hash of identifiers, port and arrival time."""
    key = (
        _text(calls["mmsi"]) + "|" + _text(calls["imo"]) + "|"
        + _text(calls["name"]).str.upper() + "|" + _text(calls["call_sign"]).str.upper()
        + "|" + _text(calls["port_locode"]) + "|"
        + calls["arrival_time"].dt.strftime("%Y-%m-%dT%H:%M:%S")
    )
    return [hashlib.sha256(k.encode()).hexdigest()[:16] for k in key.tolist()]


def ingest_port_calls(
    paths: Iterable[str | Path], lake: Lake, resolve: PortResolver,
    max_raw_chars: int = DEFAULT_MAX_RAW_CHARS,
) -> IngestSummary:
    """Ingest port-call files; re-ingesting a file replaces its earlier rows."""
    summaries, parsed = read_record_files(paths, "port_calls", lambda src: _read(src, resolve, max_raw_chars))
    ids = {src.source_id for src, _, _ in parsed}
    written: dict[str, list[str]] = {}
    result = merge_into_lake(
        lake, "port_calls", [_to_arrow(p.calls, PORT_CALLS) for _, p, _ in parsed], ids,
        "arrival_time",
    )
    if result.days:
        written["port_calls"] = result.days
    # quarantine rows are filed under their arrival day, or the file's first arrival day
    qdays = merge_quarantine(
        lake, [(p.quarantine, p.calls["arrival_time"].min().date() if len(p.calls) else None) for _, p, _ in parsed], "arrival_time", ids
    )
    if qdays:
        written["quarantine"] = qdays
    for i, (_, p, s) in enumerate(parsed):
        s.duplicates = int(result.duplicates[i])
        s.accepted = s.positions = len(p.calls) - s.duplicates
        if len(p.calls):
            s.vessels = int(p.calls[["mmsi", "imo", "name"]].astype(str).drop_duplicates().shape[0])
            s.start = p.calls["arrival_time"].min().to_pydatetime()
            s.end = p.calls["arrival_time"].max().to_pydatetime()
    return IngestSummary(summaries, written)

"""Linking incident reports to vessels: the labels that a PIU itself would have.

A report names its vessel as well as the reporting agency knew it: maybe an MMSI (sometimes
a placeholder or a later identity), rarely an IMO number, often a misspelled name, now and
then a call sign. Each identifier is looked up among the identities the lake saw in a time
window around the incident (``vessel_static`` broadcasts, declared ``port_calls`` and, for
the MMSI, ``positions``): a smuggling voyage is seen days before the landing or interception
it ends in, and a report's date may be a day off. Several vessels sharing an identifier share
its weight; several identifiers agreeing on one vessel combine like independent evidence
(1 - prod(1 - w)). When the report has a position, the vessel's closest approach to it in
the window is measured, and a vessel seen within ``place_km`` gains confidence (a vessel
that was never near is not dropped: the report may place the landing it never reached in
the AIS record). Reports no identifier links stay in the output as ``unmatched`` rows, so
they can be listed and followed up. All joins are vectorised over whole tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import LabelSettings, Settings
from pipeline.geo import haversine_m
from pipeline.ingest import rules
from pipeline.lake import Lake
from pipeline.schemas import INCIDENT_MATCHES

# Strongest first: the order decides ``match_method`` when several identifiers agree.
METHODS = ("mmsi", "imo", "call_sign", "name")
# Words a reporter or a registry puts before a name: Indonesian (KM, KMN, KLM, KMP), Thai
# and Bangladeshi fishing-boat (FB, FV) and English (MV, MT, MS, SV, TB) prefixes.
NAME_PREFIXES = ("KM", "KMN", "KLM", "KMP", "MV", "MT", "MS", "SV", "FB", "FV", "TB")
_PREFIX_RE = r"^(?:" + "|".join(NAME_PREFIXES) + r")\s+"


@dataclass(frozen=True)
class MatchWindow:
    """Where and when a reported vessel is looked for, and how much each identifier counts
    (from the ``labels`` section of the settings)."""

    days_before: int
    days_after: int
    place_km: float
    weights: tuple[tuple[str, float], ...]
    near_weight: float  # evidence of having been within place_km of the position

    @classmethod
    def from_settings(cls, labels: LabelSettings) -> MatchWindow:
        return cls(
            labels.match_days_before, labels.match_days_after, labels.match_place_km,
            (("mmsi", labels.weight_mmsi), ("imo", labels.weight_imo),
             ("call_sign", labels.weight_call_sign), ("name", labels.weight_name)),
            labels.weight_near_position,
        )


def normalise_name(names: pd.Series) -> pd.Series:
    """Upper case, dots/slashes/apostrophes dropped (M.V. → MV), other punctuation to
    spaces, one leading prefix such as KM or MV stripped; empty → null."""
    s = names.astype("string").str.upper()
    s = s.str.replace(r"[./']", "", regex=True).str.replace(r"[^0-9A-Z]+", " ", regex=True)
    s = s.str.strip().str.replace(_PREFIX_RE, "", regex=True).str.strip()
    return s.where(s.str.len() > 0)


def normalise_call_sign(values: pd.Series) -> pd.Series:
    """Upper case without spaces or punctuation; empty → null."""
    s = values.astype("string").str.upper().str.replace(r"[^0-9A-Z]", "", regex=True)
    return s.where(s.str.len() > 0)


def _day_us(values: pd.Series) -> np.ndarray:
    """Dates or timestamps as UTC day numbers."""
    ts = pd.to_datetime(values, utc=True)
    epoch = pd.Timestamp(0, tz="UTC")
    return np.asarray((ts - epoch) // pd.Timedelta(days=1), dtype=np.int64)


def _identities(lake: Lake, d0: date, d1: date) -> pd.DataFrame:
    """(mmsi, day, imo, call_sign, name) as seen per day in static reports and port calls."""
    cols = ["mmsi", "imo", "name", "call_sign"]
    static = lake.read("vessel_static", d0, d1, [*cols, "timestamp"]).to_pandas()
    calls = lake.read("port_calls", d0, d1, [*cols, "arrival_time"]).to_pandas()
    static["day"] = _day_us(static["timestamp"]) if len(static) else np.zeros(0, np.int64)
    calls["day"] = _day_us(calls["arrival_time"]) if len(calls) else np.zeros(0, np.int64)
    ids = pd.concat([static[[*cols, "day"]], calls[[*cols, "day"]]], ignore_index=True)
    ids = ids[ids["mmsi"].notna()]
    ids = ids.assign(name=normalise_name(ids["name"]),
                     call_sign=normalise_call_sign(ids["call_sign"]))
    return ids.drop_duplicates().reset_index(drop=True)


def _positions(lake: Lake, d0: date, d1: date, mmsis: np.ndarray) -> pd.DataFrame:
    """Positions of the given vessels only, day by day (a day of the whole fleet is large)."""
    wanted = pa.array(np.unique(mmsis).astype(np.int64))
    parts = []
    d = d0
    while d <= d1:
        t = lake.read_partition("positions", d, ["mmsi", "timestamp", "lat", "lon"])
        if t.num_rows and len(wanted):
            parts.append(t.filter(pc.is_in(t.column("mmsi"), wanted)).to_pandas())
        d += timedelta(days=1)
    if not parts:
        return pd.DataFrame({"mmsi": pd.Series(dtype="int64"), "day": pd.Series(dtype="int64"),
                             "lat": pd.Series(dtype="float64"),
                             "lon": pd.Series(dtype="float64")})
    pos = pd.concat(parts, ignore_index=True)
    pos["day"] = _day_us(pos["timestamp"])
    return pos[["mmsi", "day", "lat", "lon"]]


def _report_keys(reports: pd.DataFrame) -> pd.DataFrame:
    """The identifiers of each report that can be looked up (nulls where they cannot)."""
    mmsi = pd.to_numeric(reports["mmsi"], errors="coerce").astype("float64")
    usable = rules.mmsi_codes(mmsi.to_numpy(dtype="float64", na_value=np.nan)) == rules.OK
    imo = reports["imo"].astype("Int64")
    return pd.DataFrame({
        "incident_id": reports["incident_id"],
        "mmsi": reports["mmsi"].astype("Int64").where(usable),
        "imo": imo.where(rules.imo_valid(imo).to_numpy()),
        "call_sign": normalise_call_sign(reports["call_sign"]),
        "name": normalise_name(reports["name"]),
    })


def _candidates(keys: pd.DataFrame, seen: pd.DataFrame, method: str) -> pd.DataFrame:
    """(incident_id, mmsi, method) where the report's identifier was seen in its window."""
    k = keys[["incident_id", "lo", "hi", method]].dropna(subset=[method])
    s = seen[[method, "day"]] if method == "mmsi" else seen[[method, "mmsi", "day"]]
    s = s.dropna(subset=[method])
    if method in ("mmsi", "imo"):
        k = k.astype({method: "int64"})
        s = s.astype({method: "int64"})
    else:
        k = k.astype({method: str})
        s = s.astype({method: str})
    m = k.merge(s, on=method, how="inner")
    m = m[(m["day"] >= m["lo"]) & (m["day"] <= m["hi"])]
    out = m[["incident_id", method]].rename(columns={method: "mmsi"}) if method == "mmsi" else (
        m[["incident_id", "mmsi"]])
    out = out.drop_duplicates().astype({"mmsi": "int64"})
    return out.assign(method=method)


def match_incidents(
    lake: Lake, settings: Settings, start: date, end: date, window: MatchWindow | None = None,
) -> pa.Table:
    """Link every report with an incident_date in [start, end] to the vessels its
    identifiers name (``INCIDENT_MATCHES`` rows; unmatched reports kept). The window and
    weights come from ``settings.labels`` unless ``window`` is given."""
    w = window or MatchWindow.from_settings(settings.labels)
    reports = lake.read("incidents", start, end).to_pandas()
    if reports.empty:
        return INCIDENT_MATCHES.empty_table()
    reports["day"] = _day_us(reports["incident_date"])
    d0 = start - timedelta(days=w.days_before)
    d1 = end + timedelta(days=w.days_after)
    keys = _report_keys(reports)
    keys["lo"] = reports["day"] - w.days_before
    keys["hi"] = reports["day"] + w.days_after
    ids = _identities(lake, d0, d1)
    found = [_candidates(keys, ids, m) for m in ("imo", "call_sign", "name")]
    wanted = np.concatenate([keys["mmsi"].dropna().to_numpy(dtype=np.int64),
                             *(f["mmsi"].to_numpy(dtype=np.int64) for f in found)])
    pos = _positions(lake, d0, d1, wanted)
    seen_mmsi = pd.concat([ids[["mmsi", "day"]], pos[["mmsi", "day"]].drop_duplicates()],
                          ignore_index=True)
    found.insert(0, _candidates(keys, seen_mmsi, "mmsi"))
    cand = pd.concat(found, ignore_index=True)

    # weight per method, shared among the vessels one identifier points to
    weight = dict(w.weights)
    share = cand.groupby(["incident_id", "method"])["mmsi"].transform("nunique")
    cand["w"] = cand["method"].map(weight).astype("float64") / share.astype("float64")
    cand["log_miss"] = np.log1p(-cand["w"])
    cand["rank"] = cand["method"].map({m: i for i, m in enumerate(METHODS)})
    cand = cand.sort_values(["incident_id", "mmsi", "rank"])
    g = cand.groupby(["incident_id", "mmsi"], sort=False)
    links = pd.DataFrame({
        "miss": np.exp(g["log_miss"].sum()),
        "match_method": g["method"].first(),
        "methods": g["method"].agg("+".join),
    }).reset_index()

    # closest approach to the reported position within the window
    links = links.merge(reports[["incident_id", "lat", "lon", "day"]], on="incident_id")
    with_pos = links[links["lat"].notna() & links["lon"].notna()]
    near = with_pos[["incident_id", "mmsi", "lat", "lon", "day"]].merge(
        pos.rename(columns={"lat": "plat", "lon": "plon", "day": "pday"}), on="mmsi")
    near = near[(near["pday"] >= near["day"] - w.days_before)
                & (near["pday"] <= near["day"] + w.days_after)]
    near = near.assign(distance_km=haversine_m(near["lat"], near["lon"], near["plat"],
                                               near["plon"]) / 1000.0)
    dist = near.groupby(["incident_id", "mmsi"])["distance_km"].min().reset_index()
    links = links.merge(dist, on=["incident_id", "mmsi"], how="left")
    close = (links["distance_km"] <= w.place_km).to_numpy()
    miss = links["miss"].to_numpy() * np.where(close, 1.0 - w.near_weight, 1.0)
    links["confidence"] = np.round(1.0 - miss, 4)

    meta = ["incident_id", "incident_date", "report_date", "outcome", "place",
            "reporting_agency", "source_file", "source_id", "source_line"]
    matched = reports[meta].merge(
        links[["incident_id", "mmsi", "match_method", "confidence", "methods", "distance_km"]],
        on="incident_id", how="inner")
    lonely = reports.loc[~reports["incident_id"].isin(links["incident_id"]), meta].assign(
        mmsi=pd.NA, match_method="unmatched", confidence=0.0, methods=None,
        distance_km=np.nan)
    out = pd.concat([matched, lonely], ignore_index=True)
    out["mmsi"] = out["mmsi"].astype("Int64")
    out = out.sort_values(["incident_date", "incident_id", "confidence", "mmsi"],
                          ascending=[True, True, False, True]).reset_index(drop=True)
    cols = [f.name for f in INCIDENT_MATCHES]
    return pa.Table.from_pandas(out[cols], schema=INCIDENT_MATCHES, preserve_index=False)


def write_matches(lake: Lake, matches: pa.Table, start: date, end: date) -> list[str]:
    """Replace the ``incident_matches`` partitions of [start, end] with ``matches`` (a day
    without reports loses its old matches). Returns the days written."""
    days = pc.cast(matches.column("incident_date"), pa.int32()).to_numpy(zero_copy_only=False)
    written = []
    d = start
    while d <= end:
        mask = days == (d - date(1970, 1, 1)).days
        lake.write_partition("incident_matches", d, matches.filter(pa.array(mask)))
        if mask.any():
            written.append(d.isoformat())
        d += timedelta(days=1)
    return written

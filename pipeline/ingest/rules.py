"""Validation rules for incoming rows. Every rule has a name; a row that fails one goes to
quarantine with that name, never silently away.

Rules are vectorised: each takes whole columns and returns a boolean mask of failing rows.
The first failing rule (in the order listed) is the one recorded for a row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

# Rule names, with the sentence that explains them to a data engineer.
RULES: dict[str, str] = {
    "no_timestamp": "no receive time in the line (no tag block, $PGHP header or epoch) and no --date given",
    "timestamp_unparsable": "the timestamp could not be parsed",
    "timestamp_after_file_span": "timestamp lies after the file's own time span by more than the tolerance",
    "mmsi_missing": "no MMSI",
    "mmsi_placeholder": "placeholder MMSI (e.g. 123456789, 111111111, 000000000)",
    "mmsi_not_ship": "not a 9-digit ship MMSI with MID 201-775 (coast station, SAR, AtoN, handheld or junk)",
    "position_unavailable": "latitude 91 / longitude 181: the transponder sent 'not available'",
    "lat_out_of_range": "latitude outside -90..90",
    "lon_out_of_range": "longitude outside -180..180",
    "bad_number": "a numeric field holds text that is not a number",
    "nmea_checksum": "NMEA checksum does not match",
    "nmea_malformed": "not a well-formed AIVDM/AIVDO sentence",
    "nmea_payload_invalid": "payload too short or invalid for its message type",
    "nmea_fragment_incomplete": "fragment of a multi-sentence message that never completed",
    "not_ais": "line is neither an AIS sentence nor a recognised time header",
    "no_vessel_identifier": "port call has no MMSI, IMO, name or call sign",
    "imo_invalid": "IMO number fails its check digit",
    "unknown_port": "port is neither a UN/LOCODE nor a name in config/ports.csv",
    "departure_before_arrival": "departure time is before arrival time",
    "missing_field": "a required field is empty",
}

PLACEHOLDER_MMSIS = frozenset(
    [123456789, 987654321, 12345678, 1234567, 0]
    + [int(str(d) * 9) for d in range(1, 10)]
)
SHIP_MID_MIN, SHIP_MID_MAX = 201, 775


def mmsi_reason(mmsi: pd.Series) -> pd.Series:
    """Rule name per row for the MMSI column (None where the MMSI is a valid ship MMSI)."""
    values = pd.to_numeric(mmsi, errors="coerce")
    arr = values.to_numpy(dtype="float64", na_value=np.nan)
    missing = np.isnan(arr)
    safe = np.where(missing, 0, arr).astype(np.int64)
    placeholder = np.isin(safe, list(PLACEHOLDER_MMSIS)) & ~missing
    mid = safe // 1_000_000
    not_ship = ~missing & ~placeholder & (
        (safe < 100_000_000) | (safe > 999_999_999) | (mid < SHIP_MID_MIN) | (mid > SHIP_MID_MAX)
    )
    out = np.full(len(arr), None, dtype=object)
    out[not_ship] = "mmsi_not_ship"
    out[placeholder] = "mmsi_placeholder"
    out[missing] = "mmsi_missing"
    return pd.Series(out, index=mmsi.index)


def position_reason(lat: pd.Series, lon: pd.Series) -> pd.Series:
    """Rule name per row for the position (91/181 sentinels first, then ranges)."""
    la = lat.to_numpy(dtype="float64", na_value=np.nan)
    lo = lon.to_numpy(dtype="float64", na_value=np.nan)
    out = np.full(len(la), None, dtype=object)
    out[(lo < -180) | (lo > 180) | np.isnan(lo)] = "lon_out_of_range"
    out[(la < -90) | (la > 90) | np.isnan(la)] = "lat_out_of_range"
    out[(la == 91) | (lo == 181)] = "position_unavailable"
    return pd.Series(out, index=lat.index)


def timestamp_after_span(ts: pd.Series, tolerance_h: float) -> pd.Series:
    """Rows stamped after the file's own time span by more than a tolerance.

    The span runs to the end of the UTC day of the file's 99th-percentile time (the median
    for files under 100 rows): AIS files are delivered per day or per hour, so a row days
    or years later is a receiver clock error, while a daily file whose traffic thins out
    towards midnight keeps every row.
    """
    valid = ts.dropna()
    if valid.empty:
        return pd.Series(False, index=ts.index)
    anchor = valid.quantile(0.99) if len(valid) >= 100 else valid.median()
    limit = anchor.normalize() + pd.Timedelta(days=1) + pd.Timedelta(hours=tolerance_h)
    return (ts > limit).fillna(False).astype(bool)


def null_unavailable(
    df: pd.DataFrame,
) -> pd.DataFrame:
    """Turn AIS 'not available' values into nulls: SOG 102.3 (and out of range), COG 360
    (and out of range), heading 511 (and out of range), nav status outside 0..15."""
    out = df
    if "sog_kn" in out:
        sog = out["sog_kn"].astype("float64")
        out["sog_kn"] = sog.where((sog >= 0) & (sog < 102.25))
    if "cog_deg" in out:
        cog = out["cog_deg"].astype("float64")
        out["cog_deg"] = cog.where((cog >= 0) & (cog < 360))
    if "heading_deg" in out:
        hdg = out["heading_deg"].astype("float64")
        out["heading_deg"] = hdg.where((hdg >= 0) & (hdg < 360))
    if "nav_status" in out:
        ns = pd.to_numeric(out["nav_status"], errors="coerce")
        out["nav_status"] = ns.where((ns >= 0) & (ns <= 15)).astype("Int8")
    return out


def label(mask: np.ndarray, rule: str, index: pd.Index) -> pd.Series:
    """A per-row rule column: ``rule`` where ``mask`` holds, None elsewhere."""
    out = np.full(len(mask), None, dtype=object)
    out[mask] = rule
    return pd.Series(out, index=index)


def count_by_rule(quarantine: pd.DataFrame) -> dict[str, int]:
    """Quarantined rows per rule name, for run summaries."""
    counts = quarantine["rule"].value_counts().sort_index()
    return {str(k): int(v) for k, v in counts.items()}


def first_reason(*reasons: pd.Series) -> pd.Series:
    """Combine per-rule results: the first non-null rule name per row wins."""
    result = reasons[0].copy()
    for r in reasons[1:]:
        result = result.where(result.notna(), r)
    return result


@dataclass
class Split:
    """Rows that passed, and rows rejected with the rule that rejected them."""

    accepted: pd.DataFrame
    rejected: pd.DataFrame  # same columns plus 'rule' and 'detail'


def split_by_reason(
    df: pd.DataFrame, reason: pd.Series, detail: Callable[[pd.DataFrame], pd.Series]
) -> Split:
    """Separate failing rows; ``detail`` describes each failing row for the quarantine."""
    bad = reason.notna().to_numpy()
    rejected = df.loc[bad].copy()
    rejected["rule"] = reason[bad].astype(str)
    rejected["detail"] = detail(rejected) if len(rejected) else pd.Series([], dtype=str)
    return Split(df.loc[~bad], rejected)


def imo_valid(imo: pd.Series) -> pd.Series:
    """IMO check digit: the 7th digit equals the weighted sum of the first six (7..2) mod 10."""
    vals = pd.to_numeric(imo, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    ok = ~np.isnan(vals) & (vals >= 1_000_000) & (vals <= 9_999_999)
    v = np.where(ok, vals, 0).astype(np.int64)
    digits = np.stack([(v // 10**p) % 10 for p in range(6, -1, -1)], axis=1)
    weights = np.array([7, 6, 5, 4, 3, 2])
    check = (digits[:, :6] * weights).sum(axis=1) % 10
    return pd.Series(ok & (check == digits[:, 6]), index=imo.index)

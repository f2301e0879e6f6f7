"""Validation rules for incoming rows. Every rule has a name; a row that fails one goes to
quarantine with that name, never silently away.

Rules are vectorised: each takes whole columns and returns a boolean mask of failing rows.
The first failing rule (in the order listed) is the one recorded for a row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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
    "nmea_malformed": "sentence structure broken (fields, fragment numbers, tag block, $PGHP)",
    "nmea_payload_invalid": "payload empty, too short for its type or not 6-bit armour",
    "nmea_fragment_incomplete": "fragment of a multi-sentence message that never completed",
    "not_ais": "line is neither an AIS sentence nor a recognised time header",
    "no_vessel_identifier": "port call has no MMSI, IMO, name or call sign",
    "imo_invalid": "IMO number fails its check digit",
    "unknown_port": "port is neither a UN/LOCODE nor a name in config/ports.csv",
    "departure_before_arrival": "departure time is before arrival time",
    "missing_field": "a required field is empty",
    "date_unparsable": "a date field is not a calendar date written YYYY-MM-DD",
    "report_before_incident": "incident report reached the PIU (report_date) before the incident_date",
    "unknown_outcome": "incident outcome is not intercepted, landed, turned_back, rescued or disrupted",
    "no_place_or_position": "incident report has neither a place name nor a position (lat and lon)",
}

PLACEHOLDER_MMSIS = np.array(
    sorted({123456789, 987654321, 12345678, 1234567, 0} | {int(str(d) * 9) for d in range(1, 10)}),
    dtype=np.int64,
)
SHIP_MID_MIN, SHIP_MID_MAX = 201, 775

# Rules are evaluated as small integer codes (0 = passes) so that whole columns are checked
# with numpy; names are looked up only for the rows that fail.
RULE_NAMES: tuple[str, ...] = tuple(RULES)
OK = 0


def code(rule: str) -> int:
    """The integer code of a rule name (1-based; 0 means the row passes)."""
    return RULE_NAMES.index(rule) + 1


def names(codes: np.ndarray) -> np.ndarray:
    """Rule names for an array of non-zero codes."""
    lookup = np.array(("", *RULE_NAMES), dtype=object)
    return lookup[codes]


def mmsi_codes(mmsi: np.ndarray) -> np.ndarray:
    """Per-row code for the MMSI (float array, NaN = missing)."""
    values = np.asarray(mmsi, dtype="float64")
    missing = np.isnan(values)
    safe = np.where(missing, 0, values).astype(np.int64)
    placeholder = np.isin(safe, PLACEHOLDER_MMSIS) & ~missing
    mid = safe // 1_000_000
    not_ship = ~missing & ~placeholder & (
        (safe < 100_000_000) | (safe > 999_999_999) | (mid < SHIP_MID_MIN) | (mid > SHIP_MID_MAX)
    )
    out = np.zeros(len(values), dtype=np.int8)
    out[not_ship] = code("mmsi_not_ship")
    out[placeholder] = code("mmsi_placeholder")
    out[missing] = code("mmsi_missing")
    return out


def position_codes(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Per-row code for the position (91/181 sentinels first, then ranges)."""
    la = np.asarray(lat, dtype="float64")
    lo = np.asarray(lon, dtype="float64")
    out = np.zeros(len(la), dtype=np.int8)
    with np.errstate(invalid="ignore"):
        out[(lo < -180) | (lo > 180) | np.isnan(lo)] = code("lon_out_of_range")
        out[(la < -90) | (la > 90) | np.isnan(la)] = code("lat_out_of_range")
        out[(la == 91) | (lo == 181)] = code("position_unavailable")
    return out


def timestamp_after_span(ts_us: np.ndarray, valid: np.ndarray, tolerance_h: float) -> np.ndarray:
    """Rows stamped after the file's own time span by more than a tolerance.

    ``ts_us`` holds microseconds since the epoch (anything where ``valid`` is False). The
    span runs to the end of the UTC day of the file's 99th-percentile time (the median for
    files under 100 rows): AIS files are delivered per day or per hour, so a row days or
    years later is a receiver clock error, while a daily file whose traffic thins out
    towards midnight keeps every row.
    """
    times = ts_us[valid]
    if times.size == 0:
        return np.zeros(len(ts_us), dtype=bool)
    anchor = np.quantile(times, 0.99 if times.size >= 100 else 0.5, method="lower")
    day_us = 86_400_000_000
    limit = (anchor // day_us + 1) * day_us + int(tolerance_h * 3_600_000_000)
    return valid & (ts_us > limit)


def first_failure(*codes: np.ndarray) -> np.ndarray:
    """Combine per-rule codes: the first non-zero code per row wins (0 = passes)."""
    out = codes[0].copy()
    for c in codes[1:]:
        np.copyto(out, c, where=out == OK)
    return out


# Upper bound (exclusive) of each kinematic field's valid range; at or above it the value is
# AIS "not available" (SOG 102.3, COG 360, heading 511) or out of range (nav status 16+).
UNAVAILABLE_AT: dict[str, float] = {
    "sog_kn": 102.25, "cog_deg": 360.0, "heading_deg": 360.0, "nav_status": 16.0,
}


def null_unavailable(name: str, values: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """AIS 'not available' and out-of-range values (negative, NaN, ``UNAVAILABLE_AT`` and
    above) as nulls, not rejections. Arrow kernels on the column as it is: no copy to numpy
    and back for millions of rows."""
    valid = pc.and_(pc.greater_equal(values, 0), pc.less(values, UNAVAILABLE_AT[name]))
    return pc.if_else(valid, values, pa.scalar(None, values.type))


def count_by_rule(quarantine: pd.DataFrame) -> dict[str, int]:
    """Quarantined rows per rule name, for run summaries."""
    counts = quarantine["rule"].value_counts().sort_index()
    return {str(k): int(v) for k, v in counts.items()}


def imo_valid(imo: pd.Series) -> pd.Series:
    """IMO check digit: the 7th digit equals the weighted sum of the first six (7..2) mod 10."""
    vals = pd.to_numeric(imo, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    ok = ~np.isnan(vals) & (vals >= 1_000_000) & (vals <= 9_999_999)
    v = np.where(ok, vals, 0).astype(np.int64)
    digits = np.stack([(v // 10**p) % 10 for p in range(6, -1, -1)], axis=1)
    weights = np.array([7, 6, 5, 4, 3, 2])
    check = (digits[:, :6] * weights).sum(axis=1) % 10
    return pd.Series(ok & (check == digits[:, 6]), index=imo.index)

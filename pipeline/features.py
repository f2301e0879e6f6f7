"""``vessel-risk features --date D``: one row per vessel active on D → ``lake/features``.

The row sums up the day's evidence for the scorer and for the analyst: event counts and
durations (in total and at night), closest approach to a departure point, the longest dark gap
and where it began, encounter partners, port-call mismatches, identity flags, what the
vessel says it is, and how today compares with the vessel's own previous 30 days.
Every column is documented in ``pipeline.schemas.FEATURES``.

Positions whose time is only a date (``time_source`` date_only) say where a vessel was on the
day but not when: they count for presence (the vessel has a row, ``positions``, the days seen,
region, transceiver class, top speed, closest approach to a departure point) and are left out
of everything that needs a time (first/last seen, glitches, night share, night hours in
departure areas; the events come from tracks that never hold them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import shapely
from scipy.spatial import cKDTree

from pipeline.config import Settings, Zone
from pipeline.geo import distance_to_geometry_m, points_in
from pipeline.lake import Lake
from pipeline.night import is_night
from pipeline.schemas import FEATURES, HISTORY_DAYS, TRENDED_FEATURES, real_time
from pipeline.tracks import glitch_mask, sort_order

F64 = npt.NDArray[np.float64]
EARTH_M = 6_371_008.8
SAMPLE_US = 600 * 1_000_000  # closest approach is measured on one fix per vessel per 10 min
# a position stands for the vessel's whereabouts until the next one, for at most this long
# (longer silences are dark gaps, with events of their own)
POSITION_HOLDS_H = 1.0
# positions with only a date are sampled one in this many for the closest approach and region
SAMPLE_DATE_ONLY = 60


@dataclass
class FeatureSummary:
    day: date
    vessels: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "vessels": self.vessels,
                "seconds": round(self.seconds, 3)}


def min_distance_to_zones_m(zones: list[Zone], lat: F64, lon: F64) -> F64:
    """Distance (m, 0 inside) from each point to the nearest zone area. Point zones: nearest
    centres from a k-d tree on the unit sphere minus their radius; drawn polygons: exact."""
    out = np.full(len(lat), np.inf)
    if len(lat) == 0:
        return out
    circles = [z for z in zones if z.radius_km is not None]
    polygons = [z for z in zones if z.radius_km is None]
    if circles:
        c_lat = np.radians([z.centre[0] for z in circles])
        c_lon = np.radians([z.centre[1] for z in circles])
        radius = np.array([(z.radius_km or 0.0) * 1000 for z in circles])
        xyz = np.c_[np.cos(c_lat) * np.cos(c_lon), np.cos(c_lat) * np.sin(c_lon), np.sin(c_lat)]
        la, lo = np.radians(lat), np.radians(lon)
        pts = np.c_[np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)]
        k = min(8, len(circles))
        chord, idx = cKDTree(xyz).query(pts, k=k)
        chord, idx = chord.reshape(len(pts), k), idx.reshape(len(pts), k)
        arc = 2 * EARTH_M * np.arcsin(np.clip(chord / 2, 0, 1))
        out = np.minimum(out, np.maximum(arc - radius[idx], 0).min(axis=1))
    if polygons:
        union = shapely.union_all([z.area for z in polygons])
        out = np.minimum(out, distance_to_geometry_m(union, lat, lon))
    return out


def _inside_any(zones: list[Zone], lat: F64, lon: F64) -> np.ndarray:
    """True where a position lies inside the area of one of the zones (bounding-box
    prefilter, then one vectorised containment test against their union)."""
    out = np.zeros(len(lat), dtype=bool)
    if not zones or not len(lat):
        return out
    union = shapely.union_all([z.area for z in zones])
    minx, miny, maxx, maxy = union.bounds
    near = np.flatnonzero((lon >= minx) & (lon <= maxx) & (lat >= miny) & (lat <= maxy))
    shapely.prepare(union)
    out[near] = points_in(union, lat[near], lon[near])
    return out


def _per_vessel_positions(pos: dict[str, np.ndarray], settings: Settings) -> pd.DataFrame:
    """Position-derived columns, one row per vessel (pos sorted by mmsi, t). ``pos["timed"]``
    (optional) is False for positions with only a date: presence, not time (module doc)."""
    mmsi, t, lat, lon = pos["mmsi"], pos["t"], pos["lat"], pos["lon"]
    starts = np.flatnonzero(np.r_[True, mmsi[1:] != mmsi[:-1]])
    ids = mmsi[starts]
    counts = np.diff(np.r_[starts, len(mmsi)])
    timed = pos.get("timed")
    if timed is not None and timed.all():
        timed = None
    sog = pos["sog_kn"]
    # closest approach to departure points and holding areas on a 10-min sample per vessel
    zones = [z for r in settings.regions.values()
             for z in (*r.departure_points, *r.zones_by_role("holding_area"))]
    key = mmsi.astype(np.int64) * 1_000_000 + (t // SAMPLE_US) % 1_000_000
    if timed is not None:
        # date-only rows share one instant: one in SAMPLE_DATE_ONLY of them instead (about
        # what ten minutes of a vessel under way holds), keyed apart from the timed ones
        rank = np.cumsum(~timed) // SAMPLE_DATE_ONLY
        key = np.where(timed, key, -(mmsi.astype(np.int64) * 1_000_000 + rank % 1_000_000) - 1)
    sample = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    d = min_distance_to_zones_m(zones, lat[sample], lon[sample])
    s_starts = np.searchsorted(sample, starts)
    min_dep = np.minimum.reduceat(d, s_starts) if len(d) else np.zeros(0)
    # region holding most of the vessel's positions (on the 10-min sample)
    region = np.full(len(ids), None, dtype=object)
    best = np.zeros(len(ids))
    for rid, r in settings.regions.items():  # a handful of regions
        inside = points_in(r.aor, lat[sample], lon[sample]).astype(np.float64)
        share = np.add.reduceat(inside, s_starts) if len(inside) else np.zeros(0)
        better = share > best
        region[better], best[better] = rid, share[better]
    # the time-based columns from the positions with a real time only
    vessel = np.cumsum(np.r_[True, mmsi[1:] != mmsi[:-1]]) - 1
    rows = np.arange(len(mmsi)) if timed is None else np.flatnonzero(timed)
    tm, tt, tlat, tlon, tv = mmsi[rows], t[rows], lat[rows], lon[rows], vessel[rows]
    n_timed = np.bincount(tv, minlength=len(ids))
    night = is_night(tt, tlat, tlon, settings.events.night_sun_elevation_deg)
    glitch = glitch_mask(tm, tt, tlat, tlon, settings.events.max_implied_speed_kn)
    first_seen = np.full(len(ids), np.nan)
    last_seen = np.full(len(ids), np.nan)
    if len(rows):  # sorted by (mmsi, t): a vessel's first and last timed rows
        last_of = np.r_[tv[1:] != tv[:-1], True]
        first_of = np.r_[True, tv[1:] != tv[:-1]]
        first_seen[tv[first_of]] = tt[first_of]
        last_seen[tv[last_of]] = tt[last_of]
    # hours inside a departure point or holding area at night, from the day's own positions
    # (the dwell events may overlap between neighbouring zones and span two days)
    in_zone = _inside_any(zones, tlat, tlon)
    dt_next = np.r_[(tt[1:] - tt[:-1]) / 3.6e9, 0.0]
    dt_next[np.r_[tv[1:] != tv[:-1], True]] = 0.0  # a vessel's last position of the day
    dt_next = np.minimum(dt_next, POSITION_HOLDS_H)
    zone_night_h = np.bincount(tv, np.where(in_zone & night, dt_next, 0.0), minlength=len(ids))
    with np.errstate(invalid="ignore", divide="ignore"):
        night_share = np.bincount(tv, night.astype(np.float64), minlength=len(ids)) / n_timed
    n_a = np.add.reduceat(pos["class_a"].astype(np.int64), starts)
    n_b = np.add.reduceat(pos["class_b"].astype(np.int64), starts)
    cls_mode = np.full(len(starts), None, dtype=object)
    cls_mode[n_a + n_b > 0] = "B"
    cls_mode[(n_a >= n_b) & (n_a > 0)] = "A"
    out = pd.DataFrame({
        "mmsi": ids,
        "positions": counts,
        "first_seen": first_seen,
        "last_seen": last_seen,
        "glitches": np.bincount(tv, glitch.astype(np.int64), minlength=len(ids)).astype(np.int64),
        "night_share": night_share,
        "max_sog_kn": np.fmax.reduceat(sog, starts),
        "min_distance_to_departure_m": np.where(np.isfinite(min_dep), min_dep, np.nan),
        "departure_zone_night_h": zone_night_h,
        "region": region,
        "transceiver_class": cls_mode,
    })
    return out


def _per_vessel_events(events: pd.DataFrame) -> pd.DataFrame:
    """Event-derived columns, one row per vessel with events."""
    if events.empty:
        return pd.DataFrame({"mmsi": pd.Series([], dtype="int64")})
    ev = events.assign(night_h=events["night_h"].fillna(0.0))
    g = ev.groupby(["mmsi", "event_type"])
    wide = pd.concat(
        {"count": g.size(), "h": g["duration_h"].sum(), "night_h": g["night_h"].sum()}, axis=1
    ).unstack("event_type", fill_value=0)
    wide.columns = [f"{kind}_{stat}" for stat, kind in wide.columns]
    wide = wide.reset_index()
    gaps = ev[ev["event_type"] == "dark_gap"].sort_values(["mmsi", "duration_h", "start_time"],
                                                         ascending=[True, False, True])
    longest = gaps.drop_duplicates("mmsi")[
        ["mmsi", "duration_h", "lat", "lon", "reception_ratio"]
    ].rename(columns={"duration_h": "dark_gap_max_h", "lat": "dark_gap_max_lat",
                      "lon": "dark_gap_max_lon", "reception_ratio": "dark_gap_max_reception_ratio"})
    near = gaps[gaps["zone_id"].notna()].groupby("mmsi").size().rename("dark_gap_near_departure")
    enc = ev[ev["event_type"] == "encounter"]
    partners = enc.groupby("mmsi")["partner_mmsi"].nunique().rename("encounter_partners")
    visits = ev[ev["event_type"] == "port_visit"]
    detail = visits["detail"].fillna("")
    undeclared = visits[detail.str.startswith("undeclared")].groupby("mmsi").size()
    no_ais = visits[detail.str.contains("without AIS")].groupby("mmsi").size()
    out = wide.merge(longest, on="mmsi", how="left")
    for s, name in ((near, "dark_gap_near_departure"), (partners, "encounter_partners"),
                    (undeclared.rename("undeclared_port_visits"), "undeclared_port_visits"),
                    (no_ais.rename("calls_without_ais"), "calls_without_ais")):
        out = out.merge(s.rename(name).reset_index(), on="mmsi", how="left")
    return out


def _add_silent_vessels(out: pd.DataFrame, events: pa.Table, settings: Settings) -> pd.DataFrame:
    """Rows for vessels silent all day but with an event ending on it (an open dark gap):
    the evidence must reach the scorer on the days the vessel stays dark."""
    if events.num_rows == 0:
        return out
    ev = events.select(["mmsi", "lat", "lon"]).to_pandas().drop_duplicates("mmsi")
    silent = ev[~ev["mmsi"].isin(out["mmsi"])]
    if silent.empty:
        return out
    region = np.full(len(silent), None, dtype=object)
    for rid, r in settings.regions.items():
        region[points_in(r.aor, silent["lat"].to_numpy(), silent["lon"].to_numpy())] = rid
    zones = [z for r in settings.regions.values()
             for z in (*r.departure_points, *r.zones_by_role("holding_area"))]
    rows = pd.DataFrame({
        "mmsi": silent["mmsi"].to_numpy(), "positions": 0, "glitches": 0,
        "first_seen": np.nan, "last_seen": np.nan, "night_share": np.nan,
        "max_sog_kn": np.nan, "region": region, "transceiver_class": None,
        "min_distance_to_departure_m": min_distance_to_zones_m(
            zones, silent["lat"].to_numpy(), silent["lon"].to_numpy()),
    })
    return pd.concat([out, rows], ignore_index=True).sort_values("mmsi", kind="stable")


def _latest_static(static: pa.Table) -> pd.DataFrame:
    if static.num_rows == 0:
        return pd.DataFrame({"mmsi": pd.Series([], dtype="int64"),
                             "has_static": pd.Series([], dtype=bool)})
    frame = static.select(
        ["mmsi", "timestamp", "name", "call_sign", "imo", "ship_type", "length_m"]
    ).to_pandas()
    frame = frame.sort_values(["mmsi", "timestamp"])
    # latest non-empty value of each field
    latest = frame.groupby("mmsi")[["name", "call_sign", "imo", "ship_type", "length_m"]].last()
    return latest.reset_index().assign(has_static=True)


def build_features(
    positions: pa.Table, events: pa.Table, static: pa.Table, history: pa.Table,
    settings: Settings, day: date,
) -> pa.Table:
    """The features of ``day`` from its positions, its events, the static reports of the
    look-back window and the feature rows of the previous 30 days."""
    if positions.num_rows == 0:
        return FEATURES.empty_table()
    mmsi = positions.column("mmsi").to_numpy()
    t = pc.cast(positions.column("timestamp"), pa.int64()).to_numpy()
    order = sort_order(mmsi, t)
    cls = positions.column("transceiver_class")

    def flag(values: pa.ChunkedArray) -> np.ndarray:
        return np.asarray(pc.fill_null(values, False).to_numpy(zero_copy_only=False), bool)

    pos = {
        "mmsi": mmsi[order], "t": t[order],
        "lat": positions.column("lat").to_numpy()[order],
        "lon": positions.column("lon").to_numpy()[order],
        "sog_kn": np.asarray(pc.fill_null(pc.cast(positions.column("sog_kn"), pa.float64()),
                                          np.nan).to_numpy(zero_copy_only=False))[order],
        "class_a": flag(pc.equal(cls, "A"))[order],
        "class_b": flag(pc.equal(cls, "B"))[order],
    }
    timed = real_time(positions)
    if timed is not None:
        pos["timed"] = flag(timed)[order]
    out = _per_vessel_positions(pos, settings)
    out = _add_silent_vessels(out, events, settings)
    out = out.merge(_per_vessel_events(events.to_pandas()), on="mmsi", how="left")
    out = out.merge(_latest_static(static), on="mmsi", how="left")
    out["has_static"] = out["has_static"].astype("boolean").fillna(False).astype(bool)
    for f in FEATURES:  # nullable columns no input provided (e.g. no static data at all)
        if f.nullable and f.name not in out.columns:
            out[f.name] = None
    zero_cols = [f.name for f in FEATURES if not f.nullable and f.name not in out.columns]
    for name in zero_cols:
        out[name] = 0
    for f in FEATURES:
        if not f.nullable and f.name in out.columns and out[f.name].isna().any():
            out[f.name] = out[f.name].fillna(0)
    out["date"] = day
    out = _with_history(out, history, day)
    for col in ("first_seen", "last_seen"):
        out[col] = pd.to_datetime(out[col], unit="us", utc=True)
    table = pa.Table.from_pandas(out[[f.name for f in FEATURES]], preserve_index=False)
    return table.cast(FEATURES)


def _with_history(out: pd.DataFrame, history: pa.Table, day: date) -> pd.DataFrame:
    """Days seen and change against the vessel's own previous 30 days."""
    if history.num_rows == 0:
        out["days_seen_30d"] = 1
        for name in TRENDED_FEATURES:
            out[f"{name}_change_30d"] = np.nan
        return out
    hist = history.select(["mmsi", "date", *TRENDED_FEATURES]).to_pandas()
    agg = hist.groupby("mmsi").agg(
        days=("date", "nunique"), **{f"mean_{n}": (n, "mean") for n in TRENDED_FEATURES}
    ).reset_index()
    out = out.merge(agg, on="mmsi", how="left")
    out["days_seen_30d"] = out["days"].fillna(0).astype(np.int64) + 1
    for name in TRENDED_FEATURES:
        out[f"{name}_change_30d"] = out[name] - out[f"mean_{name}"]
    return out.drop(columns=["days", *(f"mean_{n}" for n in TRENDED_FEATURES)])


def features_day(lake: Lake, settings: Settings, day: date) -> FeatureSummary:
    """Build and write the features partition of one day (replaced atomically)."""
    import time

    t0 = time.perf_counter()
    positions = lake.read(
        "positions", day, columns=["mmsi", "timestamp", "lat", "lon", "sog_kn",
                                   "transceiver_class", "time_source"],
    )
    events = lake.read("events", day)
    start = day - timedelta(days=settings.events.lookback_days)
    static = lake.read("vessel_static", start, day)
    history = lake.read("features", day - timedelta(days=HISTORY_DAYS - 1), day - timedelta(days=1))
    table = build_features(positions, events, static, history, settings, day)
    lake.write_partition("features", day, table)
    return FeatureSummary(day, table.num_rows, time.perf_counter() - t0)

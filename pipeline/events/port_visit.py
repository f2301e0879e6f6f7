"""``port_visit``: AIS visits to configured ports and anchorages, reconciled with declared calls.

A visit starts at the first position within ``port_enter_km`` of a port or anchorage point
and ends at the last position before the vessel is beyond ``port_exit_km`` of every such
point (hysteresis, as Global Fishing Watch does, so that a ship swinging at anchor on the
edge of the circle does not make many visits); a visit never spans two track segments.
``zone_id`` is the place of closest approach: the port's UN/LOCODE (its name when it has
none) or the anchorage's label (its id when unlabelled).

Reconciliation with the declared port calls (``ctx.port_calls``): a call matches a visit when
the MMSI is the same, the declared stay [arrival, departure] overlaps the visit once widened
by ``port_call_match_tolerance_h`` on both sides (a call still in port has no departure and is
open-ended), and the declared port lies within ``port_call_match_km`` of the visited port or
anchorage (anchorages have no LOCODE; a port and its anchorages lie a few km apart). A visit
matched by several calls takes the one with the largest overlap. Visits without a call are
"undeclared visit"; calls with a departure time that match no visit come out as port_visit
events "declared call without AIS presence" at the port's position, but only for vessels the
track holds (a vessel absent from AIS is not covered, and per-MMSI shards stay exact).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.spatial import cKDTree

from pipeline.config import Settings
from pipeline.events.base import (
    F64,
    I64,
    DetectContext,
    make_events,
    median_position,
    run_night_hours,
    run_rows,
    runs,
)
from pipeline.geo import (
    EARTH_RADIUS_M,
    haversine_m,
)
from pipeline.tracks import US_PER_S, Track

EVENT = "port_visit"
UNDECLARED = "undeclared visit"
NO_AIS = "declared call without AIS presence"


NEAR_CHUNK = 1 << 20  # rows per block of the grid test (small temporaries are cheaper)
NEAR_MAX_CELLS = 4096  # per axis: a coarser grid stays exact, only keeps more rows


@dataclass(frozen=True)
class Places:
    """Ports and anchorages as points, with a KD-tree on unit vectors for nearest queries."""

    lat: F64
    lon: F64
    zone_id: npt.NDArray[np.object_]  # LOCODE (or port name) / anchorage label (or id)
    tree: Any  # scipy cKDTree over 3-D points on the sphere (metres)
    _grids: dict[float, Any] = field(default_factory=dict, repr=False, compare=False)

    def nearest_m(self, lat: F64, lon: F64, max_m: float = np.inf
                  ) -> tuple[F64, npt.NDArray[np.int64]]:
        """(great-circle distance to the nearest place, its index); inf / -1 beyond max_m.
        With a finite max_m only the rows a grid test keeps go to the tree (most of a day's
        positions are at sea, far from every place)."""
        n = len(lat)
        if n == 0 or len(self.lat) == 0:
            return np.full(n, np.inf), np.full(n, -1, np.int64)
        lat, lon = np.asarray(lat, float), np.asarray(lon, float)
        rows = self.maybe_near(lat, lon, max_m)
        if rows is None:
            return self._query(lat, lon, max_m)
        d, idx = np.full(n, np.inf), np.full(n, -1, np.int64)
        if len(rows):
            d[rows], idx[rows] = self._query(lat[rows], lon[rows], max_m)
        return d, idx

    def _query(self, lat: F64, lon: F64, max_m: float) -> tuple[F64, npt.NDArray[np.int64]]:
        ub = _chord(max_m) if np.isfinite(max_m) else np.inf
        chord, idx = self.tree.query(_xyz(lat, lon), k=1, distance_upper_bound=ub)
        found = np.isfinite(chord)
        d = np.full(len(lat), np.inf)
        d[found] = 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(chord[found] / (2 * EARTH_RADIUS_M),
                                                              1.0))
        return d, np.where(found, idx, -1).astype(np.int64)

    def maybe_near(self, lat: F64, lon: F64, max_m: float) -> I64 | None:
        """Rows that may lie within ``max_m`` of a place (a superset; None: no cheap test, or
        already few rows): rows in or next to a grid cell holding a place, cells at least
        ``max_m`` wide in latitude and longitude. Rows with a non-finite position are kept
        (the tree decides, as before)."""
        grid = self._grid(max_m) if len(lat) > NEAR_CHUNK // 16 else None
        if grid is None:
            return None
        lat0, lon0, cy, cx, mask = grid
        ny, nx = mask.shape
        out = []
        for a in range(0, len(lat), NEAR_CHUNK):
            la, lo = lat[a:a + NEAR_CHUNK], lon[a:a + NEAR_CHUNK]
            iy = np.floor((la - lat0) / cy)
            ix = np.floor(((lo - lon0) % 360.0) / cx)
            k = np.flatnonzero((iy >= 0) & (iy < ny) & (ix < nx))  # ix >= 0 (or NaN) by the %
            keep = k[mask[iy[k].astype(np.intp), ix[k].astype(np.intp)]]
            odd = np.flatnonzero(~(np.isfinite(la) & np.isfinite(lo)))
            out.append((np.union1d(keep, odd) if len(odd) else keep) + a)
        return np.concatenate(out)

    def _grid(self, max_m: float) -> Any:
        """(lat0, lon0, cell height deg, cell width deg, occupied-or-neighbour mask) for
        ``max_m``, cached; None when no such grid helps (infinite distance, polar places,
        places all around the globe). A point within max_m of a place differs from it by at
        most max_m / R in latitude (radians) and, since sin²(d/2R) >= cos φ1 cos φ2 sin²(Δλ/2),
        by at most 2 asin(sin(max_m / 2R) / cos φmax) in longitude."""
        if max_m in self._grids:
            return self._grids[max_m]
        grid = None
        if np.isfinite(max_m) and max_m >= 0:
            dlat = float(np.degrees(max_m / EARTH_RADIUS_M))
            phi_max = float(np.max(np.abs(self.lat))) + dlat
            s = np.sin(max_m / (2 * EARTH_RADIUS_M)) / np.cos(np.radians(min(phi_max, 90.0)))
            if phi_max < 89.0 and s < 1.0:
                dlon = float(np.degrees(2 * np.arcsin(s)))
                cy, cx = dlat * 1.01 + 1e-9, dlon * 1.01 + 1e-9  # slack for rounding
                ext_y = float(np.max(self.lat) - np.min(self.lat))
                ext_x = float(np.max(self.lon) - np.min(self.lon))
                cy = max(cy, (ext_y + 4 * cy) / NEAR_MAX_CELLS)
                cx = max(cx, (ext_x + 4 * cx) / NEAR_MAX_CELLS)
                lat0, lon0 = float(np.min(self.lat)) - 2 * cy, float(np.min(self.lon)) - 2 * cx
                span_y, span_x = ext_y + 4 * cy, ext_x + 4 * cx
                if span_x + 4 * cx < 360.0:  # else a row could wrap into the grid
                    ny, nx = int(span_y / cy) + 3, int(span_x / cx) + 3
                    mask = np.zeros((ny, nx), dtype=bool)
                    py = np.floor((self.lat - lat0) / cy).astype(np.intp)
                    px = np.floor(((self.lon - lon0) % 360.0) / cx).astype(np.intp)
                    for dy in (-1, 0, 1):
                        for dx in (-1, 0, 1):
                            mask[py + dy, px + dx] = True
                    grid = (lat0, lon0, cy, cx, mask)
        self._grids[max_m] = grid
        return grid


def _xyz(lat: F64, lon: F64) -> F64:
    p, la = np.radians(np.asarray(lat, float)), np.radians(np.asarray(lon, float))
    return np.c_[np.cos(p) * np.cos(la), np.cos(p) * np.sin(la), np.sin(p)] * EARTH_RADIUS_M


def _chord(arc_m: float) -> float:
    return float(2 * EARTH_RADIUS_M * np.sin(min(arc_m / (2 * EARTH_RADIUS_M), np.pi / 2)))


def _text(col: pd.Series, fallback: pd.Series) -> list[str]:
    vals = col.where(col.notna() & (col.astype(str).str.strip() != ""), fallback)
    return [str(v).strip() for v in vals.tolist()]


def places(settings: Settings) -> Places:
    """Every configured port and anchorage as one point set (built once per settings)."""
    cache: dict[str, Any] = settings._cache
    if "event-places" not in cache:
        ports, anch = settings.ports, settings.anchorages
        key = "s2id" if "s2id" in anch.columns else "id"
        label = anch["label"] if "label" in anch.columns else anch[key]
        ids = _text(ports["locode"], ports["name"]) + _text(label, anch[key].astype(str))
        lat = np.r_[ports["lat"].to_numpy(float), anch["lat"].to_numpy(float)]
        lon = np.r_[ports["lon"].to_numpy(float), anch["lon"].to_numpy(float)]
        cache["event-places"] = Places(lat, lon, np.asarray(ids, dtype=object),
                                       cKDTree(_xyz(lat, lon)))
    out: Places = cache["event-places"]
    return out


def in_port(track: Track, enter_m: float, exit_m: float, pl: Places
            ) -> tuple[npt.NDArray[np.bool_], F64, I64]:
    """Hysteresis state per row: True from a position within ``enter_m`` of a place until the
    first position beyond ``exit_m`` of every place; reset at every segment start."""
    d, near = pl.nearest_m(track.lat, track.lon, exit_m)
    val = np.where(d <= enter_m, 1, np.where(d > exit_m, 0, -1))
    val[track.new_segment & (val < 0)] = 0  # a segment starting in the ring is not in port
    n = len(val)
    last = np.maximum.accumulate(np.where(val >= 0, np.arange(n), 0)) if n else val
    return val[last] == 1, d, near


def detect_port_visit(track: Track, ctx: DetectContext) -> pa.Table:
    """AIS port visits (declared or undeclared) plus declared calls without AIS presence."""
    es = ctx.events
    pl = places(ctx.settings)
    inside, d, near = in_port(track, es.port_enter_km * 1000, es.port_exit_km * 1000, pl)
    first, last = runs(track.segment, inside)
    # place of closest approach of each visit
    rows, run_of = run_rows(first, last)
    if len(first):
        order = np.lexsort((d[rows], run_of))
        best = rows[order][np.r_[True, np.diff(run_of[order]) != 0]]
    else:
        best = np.zeros(0, np.int64)
    v_place = near[best]
    v_mmsi = track.mmsi[first]
    v_start, v_end = track.t[first], track.t[last]
    detail, call_lat, call_lon, calls = _reconcile(ctx, pl, v_mmsi, v_start, v_end, v_place,
                                                   set(track.mmsi[track.vessel_starts].tolist()))
    lat, lon = median_position(track, first, last)
    visits = _rows(ctx, v_mmsi, v_start, v_end, lat, lon, pl.zone_id[v_place],
                   run_night_hours(track, ctx, first, last), last - first + 1, detail)
    if calls.empty:
        return visits
    c_start = calls["arrival_us"].to_numpy(np.int64)
    c_end = calls["departure_us"].to_numpy(np.int64)
    c_mmsi = calls["mmsi"].to_numpy(np.int64)
    # night hours of an unseen call: sampled at the port every 10 minutes of the declared stay
    step = 600 * US_PER_S
    n_s = np.maximum((c_end - c_start) // step, 0) + 1
    owner = np.repeat(np.arange(len(calls)), n_s)
    ts = np.repeat(c_start, n_s) + (np.arange(n_s.sum()) - np.repeat(np.cumsum(n_s) - n_s, n_s)
                                    ) * step
    is_night = ctx.night(ts, call_lat[owner], call_lon[owner])
    night_h = np.bincount(owner, weights=is_night * (step / US_PER_S / 3600), minlength=len(calls))
    night_h = np.minimum(night_h, (c_end - c_start) / US_PER_S / 3600)
    unseen = _rows(ctx, c_mmsi, c_start, c_end, call_lat, call_lon,
                   calls["port_locode"].to_numpy(object), night_h,
                   np.zeros(len(calls), np.int64), [NO_AIS] * len(calls),
                   np.asarray([f"call:{c}" for c in calls["call_id"]], dtype=object))
    return pa.concat_tables([visits, unseen])


def _rows(ctx: DetectContext, mmsi: I64, start: I64, end: I64, lat: F64, lon: F64,
          zone: npt.NDArray[np.object_], night_h: F64, positions: I64, detail: list[str],
          id_extra: npt.NDArray[np.object_] | None = None) -> pa.Table:
    _, dep = ctx.nearest_zone("departure", lat, lon)
    return make_events(EVENT, mmsi, start, end, {
        "lat": lat, "lon": lon, "zone_id": zone, "night_h": night_h, "positions": positions,
        "distance_to_shore_m": ctx.distance_to_shore_m(lat, lon),
        "distance_to_departure_m": np.where(np.isfinite(dep), dep, np.nan),
        "detail": detail,
    }, id_extra=zone if id_extra is None else id_extra)


def _calls_frame(ctx: DetectContext, seen: set[int]) -> pd.DataFrame:
    """Declared calls of vessels the track holds, with times in µs and the port's position."""
    pcs = ctx.port_calls
    cols = ["call_id", "mmsi", "port_locode", "arrival_time", "departure_time"]
    if pcs.num_rows == 0 or "mmsi" not in pcs.column_names:
        return pd.DataFrame(columns=[*cols[:3], "arrival_us", "departure_us", "plat", "plon"])
    t = pcs.select(cols)
    t = t.filter(pc.is_in(t.column("mmsi"), pa.array(sorted(seen), pa.int64())))
    f = pd.DataFrame({
        "call_id": t.column("call_id").to_pylist(),
        "mmsi": t.column("mmsi").to_numpy(zero_copy_only=False),
        "port_locode": t.column("port_locode").to_pylist(),
        "arrival_us": pc.cast(t.column("arrival_time"), pa.int64()).to_numpy(zero_copy_only=False),
        "departure_us": pc.fill_null(pc.cast(t.column("departure_time"), pa.int64()), -1)
        .to_numpy(zero_copy_only=False),
    })
    ports = ctx.settings.port_by_locode
    f["plat"] = [ports[c].lat if c in ports else np.nan for c in f["port_locode"]]
    f["plon"] = [ports[c].lon if c in ports else np.nan for c in f["port_locode"]]
    return f.sort_values(["mmsi", "arrival_us", "call_id"], kind="stable").reset_index(drop=True)


def _reconcile(ctx: DetectContext, pl: Places, mmsi: I64, start: I64, end: I64, place: I64,
               seen: set[int]) -> tuple[list[str], F64, F64, pd.DataFrame]:
    """Detail of every visit, plus the declared calls (ended, port known) that match none."""
    es = ctx.events
    calls = _calls_frame(ctx, seen)
    detail = [UNDECLARED] * len(mmsi)
    if calls.empty:
        return detail, np.zeros(0), np.zeros(0), calls
    tol = int(es.port_call_match_tolerance_h * 3600 * US_PER_S)
    visits = pd.DataFrame({"v": np.arange(len(mmsi)), "mmsi": mmsi, "vs": start, "ve": end,
                           "vlat": pl.lat[place], "vlon": pl.lon[place]})
    m = visits.merge(calls.reset_index(names="c"), on="mmsi")  # a vessel's visits x its calls
    dep = np.where(m["departure_us"].to_numpy() < 0, np.iinfo(np.int64).max // 2,
                   m["departure_us"].to_numpy())
    a0, a1 = m["arrival_us"].to_numpy() - tol, dep + tol
    overlap = np.minimum(a1, m["ve"].to_numpy()) - np.maximum(a0, m["vs"].to_numpy())
    near = haversine_m(m["vlat"].to_numpy(), m["vlon"].to_numpy(), m["plat"].to_numpy(),
                       m["plon"].to_numpy()) <= es.port_call_match_km * 1000
    m = m.assign(overlap=overlap)[(overlap >= 0) & near]
    m = m.sort_values(["v", "overlap", "call_id"], ascending=[True, False, True], kind="stable")
    best = m.drop_duplicates("v")
    for v, cid in zip(best["v"].tolist(), best["call_id"].tolist(), strict=True):
        detail[v] = f"declared call {cid}"  # one per visit
    unseen = calls[~calls.index.isin(m["c"]) & (calls["departure_us"] >= 0)
                   & calls["plat"].notna()].reset_index(drop=True)
    return detail, unseen["plat"].to_numpy(float), unseen["plon"].to_numpy(float), unseen

"""Vectorised geometry helpers shared by all stages.

Positions stay as float lat/lon arrays in the lake, so these helpers take numpy arrays (or
scalars) and never loop over points in Python. Distances are on a sphere of the mean Earth
radius (IUGG R1 = 6,371,008.8 m): within 0.5 % of the WGS84 ellipsoid, which is far below
AIS position noise and the uncertainty of the configured zones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry.base import BaseGeometry

EARTH_RADIUS_M = 6_371_008.8
NM_M = 1852.0

ArrayLike = npt.ArrayLike
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _f64(a: ArrayLike) -> FloatArray:
    return np.asarray(a, dtype=np.float64)


_CHUNK = 1 << 20


def haversine_m(lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike) -> FloatArray:
    """Great-circle distance in metres (broadcasts like numpy). Long 1-D inputs are done a
    million rows at a time: a dozen whole-array temporaries of a 10 M-row day cost more in
    fresh memory pages than the arithmetic."""
    arrays = [_f64(a) for a in (lat1, lon1, lat2, lon2)]
    if all(a.ndim == 1 and a.size == arrays[0].size for a in arrays) and arrays[0].size > _CHUNK:
        out = np.empty(arrays[0].size)
        for k in range(0, out.size, _CHUNK):
            out[k : k + _CHUNK] = _haversine(*(a[k : k + _CHUNK] for a in arrays))
        return out
    return _haversine(*arrays)


def _haversine(lat1: FloatArray, lon1: FloatArray, lat2: FloatArray, lon2: FloatArray
               ) -> FloatArray:
    p1, p2 = np.radians(_f64(lat1)), np.radians(_f64(lat2))
    dphi = p2 - p1
    dlam = np.radians(_f64(lon2) - _f64(lon1))
    a = np.sin(dphi / 2.0) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlam / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def initial_bearing_deg(
    lat1: ArrayLike, lon1: ArrayLike, lat2: ArrayLike, lon2: ArrayLike
) -> FloatArray:
    """Initial great-circle bearing from point 1 to point 2, degrees true in [0, 360)."""
    p1, p2 = np.radians(_f64(lat1)), np.radians(_f64(lat2))
    dlam = np.radians(_f64(lon2) - _f64(lon1))
    y = np.sin(dlam) * np.cos(p2)
    x = np.cos(p1) * np.sin(p2) - np.sin(p1) * np.cos(p2) * np.cos(dlam)
    return np.mod(np.degrees(np.arctan2(y, x)), 360.0)


def destination_point(
    lat: ArrayLike, lon: ArrayLike, bearing_deg: ArrayLike, distance_m: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Point reached from (lat, lon) along a great circle: (lat, lon) arrays, broadcasting."""
    p1, l1 = np.radians(_f64(lat)), np.radians(_f64(lon))
    theta = np.radians(_f64(bearing_deg))
    delta = _f64(distance_m) / EARTH_RADIUS_M
    p2 = np.arcsin(np.sin(p1) * np.cos(delta) + np.cos(p1) * np.sin(delta) * np.cos(theta))
    l2 = l1 + np.arctan2(
        np.sin(theta) * np.sin(delta) * np.cos(p1), np.cos(delta) - np.sin(p1) * np.sin(p2)
    )
    lon2 = np.mod(np.degrees(l2) + 540.0, 360.0) - 180.0
    return np.degrees(p2), lon2


def buffer_point_km(lat: ArrayLike, lon: ArrayLike, km: ArrayLike, n_vertices: int = 72) -> Any:
    """Geodesic circle(s) of radius ``km`` around points, as lon/lat polygons.

    The vertices are exact great-circle destinations (a planar lon/lat buffer would be an
    ellipse squashed by cos(lat)). Returns one Polygon for scalar input, else an object array
    of Polygons. Not meant for circles crossing the antimeridian or a pole.
    """
    lat_a, lon_a, km_a = np.broadcast_arrays(_f64(lat), _f64(lon), _f64(km))
    scalar = lat_a.ndim == 0
    lat_a, lon_a, km_a = (np.atleast_1d(a).ravel() for a in (lat_a, lon_a, km_a))
    if np.any(km_a <= 0) or not np.all(np.isfinite(km_a)):
        raise ValueError("buffer radius must be a finite number of km > 0")
    bearings = np.linspace(0.0, 360.0, n_vertices, endpoint=False)
    plat, plon = destination_point(
        lat_a[:, None], lon_a[:, None], bearings[None, :], km_a[:, None] * 1000.0
    )
    ring = np.stack([plon, plat], axis=-1)
    ring = np.concatenate([ring, ring[:, :1, :]], axis=1)  # close the rings
    polys = shapely.polygons(ring)
    return polys[0] if scalar else polys


def points_in(geometry: BaseGeometry, lat: ArrayLike, lon: ArrayLike) -> BoolArray:
    """True where (lat, lon) lies inside ``geometry`` (boundary excluded), vectorised."""
    shapely.prepare(geometry)
    return np.asarray(shapely.contains_xy(geometry, _f64(lon), _f64(lat)), dtype=bool)


@dataclass(frozen=True)
class DistanceIndex:
    """A geometry cut into short boundary pieces in an STRtree, for fast nearest queries.

    Build once per geometry (e.g. the land mask) and pass to ``distance_to_geometry_m``:
    a big coastline polygon is then searched through its index instead of vertex by vertex.
    """

    geometry: BaseGeometry
    pieces: npt.NDArray[np.object_]  # LineStrings/Points in lon/lat, <= max_vertices each
    polygonal: bool


def build_distance_index(geometry: BaseGeometry, max_vertices: int = 32) -> DistanceIndex:
    """Split the boundary of ``geometry`` into pieces of at most ``max_vertices`` vertices."""
    parts = shapely.get_parts(geometry)
    polygonal = bool(np.any(np.isin(shapely.get_type_id(parts), [3, 6])))
    polys = parts[np.isin(shapely.get_type_id(parts), [3])]
    lines = list(parts[np.isin(shapely.get_type_id(parts), [1, 2])])
    points = list(parts[shapely.get_type_id(parts) == 0])
    if len(polys):
        lines.extend(shapely.get_rings(polys))
    pieces: list[Any] = list(points)
    step = max_vertices - 1
    if lines:
        coords, idx = shapely.get_coordinates(np.asarray(lines, dtype=object), return_index=True)
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
        ends = np.r_[starts[1:], len(idx)]
        # Chunk k of a line covers vertices [s + k*step, s + k*step + max_vertices): consecutive
        # chunks share one vertex so that no segment is lost.
        seg_start: list[npt.NDArray[np.int64]] = []
        seg_len: list[npt.NDArray[np.int64]] = []
        for s, e in zip(starts, ends, strict=True):  # loop over lines, not points
            ks = np.arange(s, max(e - 1, s + 1), step)
            seg_start.append(ks)
            seg_len.append(np.minimum(ks + max_vertices, e) - ks)
        cs, cl = np.concatenate(seg_start), np.concatenate(seg_len)
        cl = np.maximum(cl, 1)
        take = np.repeat(cs, cl) + (np.arange(cl.sum()) - np.repeat(np.cumsum(cl) - cl, cl))
        chunk_id = np.repeat(np.arange(len(cs)), cl)
        single = cl == 1
        line_pts = coords[take]
        if np.any(single):
            pieces.extend(shapely.points(coords[cs[single]]))
            keep = ~single[chunk_id]
            line_pts, chunk_id = line_pts[keep], chunk_id[keep]
            _, chunk_id = np.unique(chunk_id, return_inverse=True)
        if len(line_pts):
            pieces.extend(shapely.linestrings(line_pts, indices=chunk_id))
    return DistanceIndex(geometry, np.asarray(pieces, dtype=object), polygonal)


_BAND_DEG = 5.0


def distance_to_geometry_m(
    geometry: BaseGeometry | DistanceIndex, lat: ArrayLike, lon: ArrayLike
) -> FloatArray:
    """Approximate distance in metres from each point to ``geometry`` (0 inside polygons).

    Method: points are grouped into 5° latitude bands; in each band the geometry pieces are
    projected to a local equirectangular plane (x = lon·cos(band latitude)), the nearest piece
    is found with an STRtree and the nearest point on it with ``shapely.shortest_line``; the
    reported distance is the haversine distance to that point. So the value is a true
    great-circle distance to a point of the geometry (never an underestimate) and it exceeds
    the exact minimum only when the plane's ≤ 2.5° latitude distortion picks a slightly
    farther point: in practice < 1 % for distances up to a few hundred km in the tropics.
    Pass a prebuilt ``DistanceIndex`` for repeated queries against a large geometry.
    """
    index = geometry if isinstance(geometry, DistanceIndex) else build_distance_index(geometry)
    lat_b, lon_b = np.broadcast_arrays(_f64(lat), _f64(lon))
    shape = lat_b.shape
    lat_a, lon_a = lat_b.ravel(), lon_b.ravel()
    out = np.full(lat_a.shape, np.nan)
    valid = np.isfinite(lat_a) & np.isfinite(lon_a)
    if not len(index.pieces) or not valid.any():
        return out.reshape(shape)
    band = np.floor(lat_a / _BAND_DEG)
    for b in np.unique(band[valid]):  # loop over latitude bands, not points
        sel = valid & (band == b)
        k = np.cos(np.radians((b + 0.5) * _BAND_DEG))
        pieces = shapely.transform(index.pieces, lambda c, k=k: c * np.array([k, 1.0]))
        tree = shapely.STRtree(pieces)
        pts = shapely.points(lon_a[sel] * k, lat_a[sel])
        qi, ti = tree.query_nearest(pts, all_matches=False)
        nearest = shapely.get_coordinates(
            shapely.get_point(shapely.shortest_line(pts[qi], pieces[ti]), 1)
        )
        d = np.full(pts.shape, np.nan)
        d[qi] = haversine_m(lat_a[sel][qi], lon_a[sel][qi], nearest[:, 1], nearest[:, 0] / k)
        out[sel] = d
    if index.polygonal:
        inside = valid.copy()
        inside[valid] = points_in(index.geometry, lat_a[valid], lon_a[valid])
        out[inside] = 0.0
    return out.reshape(shape)

"""The sea as the simulator sees it: land checks, distance to shore, harbours and sea routes.

Why: no simulated vessel may cross land. Tracks are piecewise linear in lon/lat between
knots, and every leg the generators create is either checked here against the configured
land polygons (``clear``) or lies inside a disc that is known to be at sea. Long voyages are
routed over a graph of sea nodes (a regular grid away from the coast, the shipping-lane
vertices and harbour points) whose edges were all checked once, then straightened.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import cKDTree
from shapely.geometry.base import BaseGeometry

from pipeline import geo
from pipeline.config import Region, Settings

F64 = npt.NDArray[np.float64]
B = npt.NDArray[np.bool_]

CLEARANCE_DEG = 0.003  # ~330 m: legs keep at least this far from land (noise stays at sea)
RASTER_DEG = 0.1
GRID_DEG = 0.25
LANE_WEIGHT = 0.8  # lanes are cheaper: merchant routes follow them

_CACHE: dict[tuple[str, str], SeaMap] = {}


@dataclass
class Harbour:
    """A port of the configuration and the sea point where its vessels berth or wait."""

    name: str
    locode: str | None
    lat: float
    lon: float
    size: str
    gateway: bool = False  # a point on the region's edge: traffic enters/leaves the feed
    component: int = -1  # connected sea area (routes exist only within one)


@dataclass
class SeaMap:
    region: Region
    land: BaseGeometry
    raster: Any  # float32 distance to shore (m), rows = lat
    rx0: float
    ry0: float
    node_lat: F64
    node_lon: F64
    edges: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], F64]
    harbours: list[Harbour] = field(default_factory=list)
    gateways: list[Harbour] = field(default_factory=list)
    land_index: Any = None
    _tree: Any = None
    _routes: dict[tuple[float, ...], tuple[F64, F64] | None] = field(default_factory=dict)

    # -- geometry queries --------------------------------------------------------------------
    def shore_m(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> F64:
        """Distance to shore from the 0.1° raster (nearest cell; far outside = 1000 km)."""
        la, lo = np.asarray(lat, float), np.asarray(lon, float)
        iy = np.floor((la - self.ry0) / RASTER_DEG).astype(np.int64)
        ix = np.floor((lo - self.rx0) / RASTER_DEG).astype(np.int64)
        ny, nx = self.raster.shape
        ok = (iy >= 0) & (iy < ny) & (ix >= 0) & (ix < nx)
        out = np.full(la.shape, 1e6)
        out[ok] = self.raster[iy[ok], ix[ok]]
        return out

    def on_land(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> B:
        return geo.points_in(self.land, lat, lon)

    def exact_shore_m(self, lat: npt.ArrayLike, lon: npt.ArrayLike) -> F64:
        index = self.land_index if self.land_index is not None else self.land
        return geo.distance_to_geometry_m(index, lat, lon)

    def clear(
        self, lat0: npt.ArrayLike, lon0: npt.ArrayLike, lat1: npt.ArrayLike,
        lon1: npt.ArrayLike, clearance_deg: float = CLEARANCE_DEG,
    ) -> B:
        """True where the straight lon/lat leg keeps ``clearance_deg`` away from land."""
        la0, lo0, la1, lo1 = (
            np.ravel(x) for x in np.broadcast_arrays(*(np.asarray(v, float) for v in
                                                        (lat0, lon0, lat1, lon1)))
        )
        a = np.c_[lo0, la0]
        b = np.c_[lo1, la1]
        if len(a) == 0:
            return np.zeros(0, dtype=bool)
        same = np.all(np.abs(a - b) < 1e-12, axis=1)
        b = np.where(same[:, None], b + 1e-9, b)
        lines = shapely.linestrings(np.stack([a, b], axis=1))
        return np.asarray(~shapely.dwithin(lines, self.land, clearance_deg), dtype=bool)

    def sea_point_near(
        self, lat: float, lon: float, min_km: float = 0.3, clearance_deg: float = CLEARANCE_DEG,
        max_km: float = 40.0,
    ) -> tuple[float, float] | None:
        """The nearest point (rings of 24 bearings) that is at least ``clearance_deg`` at sea."""
        if min_km <= 0 and not shapely.dwithin(shapely.points(lon, lat), self.land, clearance_deg):
            return lat, lon
        rings = np.array([r for r in (0.3, 0.6, 1, 1.5, 2, 3, 4, 6, 8, 12, 16, 20, 30, 40)
                          if min_km <= r <= max_km])
        bearings = np.arange(0, 360, 15.0)
        for r in rings:
            plat, plon = geo.destination_point(lat, lon, bearings, r * 1000.0)
            ok = ~shapely.dwithin(shapely.points(plon, plat), self.land, clearance_deg)
            if ok.any():
                i = int(np.flatnonzero(ok)[0])
                return float(plat[i]), float(plon[i])
        return None

    # -- routing -----------------------------------------------------------------------------
    def _kd(self) -> Any:
        if self._tree is None:
            k = np.cos(np.radians(np.mean(self.node_lat) if len(self.node_lat) else 0.0))
            self._tree = (cKDTree(np.c_[self.node_lon * k, self.node_lat]), k)
        return self._tree

    def _connect(self, lat: float, lon: float, k: int = 12) -> tuple[npt.NDArray[np.int64], F64]:
        if len(self.node_lat) == 0:
            return np.zeros(0, np.int64), np.zeros(0)
        tree, ks = self._kd()
        for kk in (k, 48):
            kk = min(kk, len(self.node_lat))
            _, idx = tree.query([lon * ks, lat], k=kk)
            idx = np.atleast_1d(idx)
            ok = self.clear(lat, lon, self.node_lat[idx], self.node_lon[idx])
            if ok.any():
                sel = idx[ok]
                return sel, geo.haversine_m(lat, lon, self.node_lat[sel], self.node_lon[sel])
        return np.zeros(0, np.int64), np.zeros(0)

    def route(self, lat0: float, lon0: float, lat1: float, lon1: float) -> tuple[F64, F64] | None:
        """Sea waypoints (lat, lon arrays, endpoints included) or None when unreachable."""
        key = (round(lat0, 5), round(lon0, 5), round(lat1, 5), round(lon1, 5))
        if key in self._routes:
            return self._routes[key]
        result: tuple[F64, F64] | None
        if self.clear(lat0, lon0, lat1, lon1)[0]:
            result = (np.array([lat0, lat1]), np.array([lon0, lon1]))
        else:
            result = self._graph_route(lat0, lon0, lat1, lon1)
        self._routes[key] = result
        return result

    def _graph_route(self, lat0: float, lon0: float, lat1: float, lon1: float
                     ) -> tuple[F64, F64] | None:
        a_idx, a_d = self._connect(lat0, lon0)
        b_idx, b_d = self._connect(lat1, lon1)
        if not len(a_idx) or not len(b_idx):
            return None
        n = len(self.node_lat)
        r, c, w = self.edges
        rows = np.concatenate([r, np.full(len(a_idx), n), np.full(len(b_idx), n + 1)])
        cols = np.concatenate([c, a_idx, b_idx])
        data = np.concatenate([w, a_d, b_d]) + 1e-3
        g = csr_matrix((data, (rows, cols)), shape=(n + 2, n + 2))
        dist, pred = dijkstra(g, directed=False, indices=n, return_predecessors=True)
        if not np.isfinite(dist[n + 1]):
            return None
        path = [n + 1]
        while path[-1] != n:
            path.append(int(pred[path[-1]]))
        path.reverse()
        lat_all = np.concatenate([self.node_lat, [lat0, lat1]])
        lon_all = np.concatenate([self.node_lon, [lon0, lon1]])
        plat, plon = lat_all[path], lon_all[path]
        return self._straighten(plat, plon)

    def _straighten(self, lat: F64, lon: F64) -> tuple[F64, F64]:
        """String pulling: from each kept waypoint jump to the farthest one in clear view."""
        keep = [0]
        i, n = 0, len(lat)
        while i < n - 1:
            cand = np.arange(i + 1, n)
            ok = self.clear(lat[i], lon[i], lat[cand], lon[cand])
            ok[0] = True  # graph edges were checked already
            j = int(cand[np.flatnonzero(ok)[-1]])
            keep.append(j)
            i = j
        return lat[keep], lon[keep]


def seamap_for(settings: Settings, region: Region) -> SeaMap:
    """The region's sea map, built once per config directory and region (~1 s)."""
    key = (str(settings.config_dir), region.id)
    if key not in _CACHE:
        _CACHE[key] = _build(settings, region)
    return _CACHE[key]


def _build(settings: Settings, region: Region) -> SeaMap:
    land = settings.land()
    x0, y0, x1, y1 = region.aor.bounds
    rx0, ry0 = np.floor(x0) - 1.0, np.floor(y0) - 1.0
    xs = np.arange(rx0, np.ceil(x1) + 1.0, RASTER_DEG) + RASTER_DEG / 2
    ys = np.arange(ry0, np.ceil(y1) + 1.0, RASTER_DEG) + RASTER_DEG / 2
    gx, gy = np.meshgrid(xs, ys)
    raster = geo.distance_to_geometry_m(settings.land_index(), gy.ravel(), gx.ravel())
    raster = np.nan_to_num(raster, nan=1e6).reshape(gy.shape).astype(np.float32)
    sm = SeaMap(region, land, raster, float(rx0), float(ry0), np.zeros(0), np.zeros(0),
                (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0)),
                land_index=settings.land_index())
    # grid nodes well away from the coast
    area = region.aor.buffer(0.5)
    gxs = np.arange(np.floor(x0) - 0.5, np.ceil(x1) + 0.5, GRID_DEG)
    gys = np.arange(np.floor(y0) - 0.5, np.ceil(y1) + 0.5, GRID_DEG)
    GX, GY = np.meshgrid(gxs, gys)
    inside = shapely.contains_xy(area, GX, GY)
    sea = inside & ~np.asarray(shapely.dwithin(shapely.points(GX, GY), land, 0.03))
    ids = np.full(GX.shape, -1, dtype=np.int64)
    ids[sea] = np.arange(int(sea.sum()))
    lat_n, lon_n = list(GY[sea]), list(GX[sea])
    er: list[npt.NDArray[np.int64]] = []
    ec: list[npt.NDArray[np.int64]] = []
    ew: list[F64] = []
    glat, glon = GY[sea], GX[sea]
    iy, ix = np.nonzero(sea)
    ny, nx = sea.shape
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        jy, jx = iy + dy, ix + dx
        m = (jy >= 0) & (jy < ny) & (jx >= 0) & (jx < nx)
        m[m] &= sea[jy[m], jx[m]]
        ia, ib = ids[iy[m], ix[m]], ids[jy[m], jx[m]]
        ok = sm.clear(glat[ia], glon[ia], glat[ib], glon[ib])
        er.append(ia[ok])
        ec.append(ib[ok])
        ew.append(geo.haversine_m(glat[ia[ok]], glon[ia[ok]], glat[ib[ok]], glon[ib[ok]]))
    n_grid = len(lat_n)
    # shipping-lane vertices and legs
    extra_lat: list[float] = []
    extra_lon: list[float] = []
    try:
        lanes = settings.lanes()
        geoms = np.asarray(lanes.geometry.values, dtype=object)
        geoms = geoms[shapely.intersects(geoms, area)]
    except Exception:  # no lanes file content: grid routing only
        geoms = np.zeros(0, dtype=object)
    if len(geoms):
        coords, li = shapely.get_coordinates(geoms, return_index=True)
        keep = shapely.contains_xy(area.buffer(0.5), coords[:, 0], coords[:, 1]) & ~np.asarray(
            shapely.dwithin(shapely.points(coords), land, CLEARANCE_DEG)
        )
        vid = np.full(len(coords), -1, dtype=np.int64)
        vid[keep] = np.arange(int(keep.sum())) + n_grid
        lat_n += list(coords[keep, 1])
        lon_n += list(coords[keep, 0])
        extra_lat += list(coords[keep, 1])
        extra_lon += list(coords[keep, 0])
        same = li[1:] == li[:-1]
        a, b = vid[:-1][same], vid[1:][same]
        m = (a >= 0) & (b >= 0)
        ca, cb = coords[:-1][same][m], coords[1:][same][m]
        ok = sm.clear(ca[:, 1], ca[:, 0], cb[:, 1], cb[:, 0])
        er.append(a[m][ok])
        ec.append(b[m][ok])
        ew.append(geo.haversine_m(ca[ok, 1], ca[ok, 0], cb[ok, 1], cb[ok, 0]) * LANE_WEIGHT)
    # harbours
    ports = settings.ports
    near = shapely.contains_xy(region.aor.buffer(0.3), ports["lon"], ports["lat"])
    for r in ports[near].itertuples(index=False):
        p = sm.sea_point_near(float(r.lat), float(r.lon), min_km=0.3)
        if p is None:
            continue
        sm.harbours.append(Harbour(str(r.name), r.locode if isinstance(r.locode, str) else None,
                                   p[0], p[1], str(r.harbor_size or "")))
        lat_n.append(p[0])
        lon_n.append(p[1])
        extra_lat.append(p[0])
        extra_lon.append(p[1])
    sm.node_lat, sm.node_lon = np.asarray(lat_n, float), np.asarray(lon_n, float)
    if n_grid:
        sm.node_lat, sm.node_lon = np.asarray(lat_n, float), np.asarray(lon_n, float)
        # connect lane vertices and harbours to their nearest neighbours
        sub = SeaMap(region, land, raster, sm.rx0, sm.ry0, sm.node_lat, sm.node_lon, sm.edges)
        for j, (la, lo) in enumerate(zip(extra_lat, extra_lon, strict=True)):
            idx, d = sub._connect(la, lo, k=8)
            er.append(np.full(len(idx), n_grid + j))
            ec.append(idx)
            ew.append(d)
    sm.edges = (
        np.concatenate(er) if er else np.zeros(0, np.int64),
        np.concatenate(ec) if ec else np.zeros(0, np.int64),
        np.concatenate(ew) if ew else np.zeros(0),
    )
    from scipy.sparse.csgraph import connected_components

    n = len(sm.node_lat)
    r, c, _ = sm.edges
    _, labels = connected_components(
        csr_matrix((np.ones(len(r)), (r, c)), shape=(n, n)), directed=False
    )
    # gateways: sea points on the region's edge, where through traffic enters and leaves
    ring = shapely.get_exterior_ring(shapely.get_parts(region.aor)[0])
    pts = shapely.line_interpolate_point(ring, np.linspace(0, 1, 33)[:-1], normalized=True)
    for p in pts:
        x, y = float(shapely.get_x(p)), float(shapely.get_y(p))
        if not shapely.dwithin(p, land, 0.1):
            sm.gateways.append(Harbour(f"edge {y:.1f},{x:.1f}", None, y, x, "", gateway=True))
    for h in [*sm.harbours, *sm.gateways]:
        idx, _ = sm._connect(h.lat, h.lon, k=8)
        h.component = int(np.bincount(labels[idx]).argmax()) if len(idx) else -1
    return sm

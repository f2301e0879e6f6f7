"""An alert's evidence map as one self-contained inline SVG (no tiles, fonts or scripts).

PIU networks may be offline and reports are printed, so the daily report draws its maps
itself: the coastline from ``settings.land()`` clipped to the view, the region's zones, the
track split at silences, thinned positions (darker at night), the events and the partner
vessels of encounters, from the FeatureCollection of pipeline/alerts/evidence.py.
Equirectangular projection with x scaled by cos(latitude) at the centre of the view: true
shapes at the scale of a 48 h track. Every text that reaches the SVG is XML-escaped here.
"""

from __future__ import annotations

import html
import math
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt
import shapely
from shapely.geometry import shape
from shapely.geometry.base import BaseGeometry

from pipeline.config import Settings

F64 = npt.NDArray[np.float64]
KM_PER_DEG = 111.32
MIN_SPAN_KM = 30.0  # a vessel that stayed put still gets its coast and zones around it
PAD_SHARE = 0.12  # margin around the evidence, share of the span
MARGIN_PX = 4

# kind -> (legend label, style). One place for the map's visual language.
ZONE_STYLE = {
    "departure": ("departure point", "fill:#d7301f;fill-opacity:.09;stroke:#d7301f"),
    "holding_area": ("offshore holding area", "fill:#fc8d59;fill-opacity:.15;stroke:#e6550d"),
    "destination": ("destination area", "fill:#3182bd;fill-opacity:.12;stroke:#3182bd"),
    "landing": ("landing place", "fill:#756bb1;fill-opacity:.12;stroke:#756bb1"),
}
EVENT_LABEL = {
    "loiter": "loitering",
    "zone_dwell": "inside a departure or holding zone",
    "dark_gap_vanish": "AIS vanished",
    "dark_gap_reappear": "AIS reappeared",
    "gap_link": "dark gap (straight line, not the route)",
    "encounter": "encounter",
    "partner_track": "other vessel during encounter",
    "port_visit": "port visit",
    "identity_conflict": "identity conflict",
    "heading_to_destination": "heading to a destination",
}
MARKER = {  # point symbols: path around (0, 0), style
    "zone_dwell": ("M0,-5 L4.5,3.5 L-4.5,3.5 Z", "fill:#d7301f;stroke:#fff;stroke-width:1"),
    "dark_gap_vanish": ("M-4.5,0 a4.5,4.5 0 1,0 9,0 a4.5,4.5 0 1,0 -9,0",
                        "fill:#fff;stroke:#000;stroke-width:2"),
    "dark_gap_reappear": ("M-4.5,0 a4.5,4.5 0 1,0 9,0 a4.5,4.5 0 1,0 -9,0",
                          "fill:#000;stroke:#fff;stroke-width:1"),
    "encounter": ("M0,-6 L6,0 L0,6 L-6,0 Z", "fill:#e6550d;stroke:#fff;stroke-width:1"),
    "port_visit": ("M-4,-4 h8 v8 h-8 Z", "fill:#31a354;stroke:#fff;stroke-width:1"),
    "identity_conflict": ("M-4,-4 L4,4 M4,-4 L-4,4", "fill:none;stroke:#c51b8a;stroke-width:2.5"),
    "loiter": ("M-3.5,0 a3.5,3.5 0 1,0 7,0 a3.5,3.5 0 1,0 -7,0",
               "fill:#fdae6b;stroke:#a63603;stroke-width:1"),
    "heading_to_destination": ("M0,-5 L4,4 L0,2 L-4,4 Z", "fill:#3182bd;stroke:#fff;stroke-width:1"),
}
LINE_STYLE = {
    "track": "fill:none;stroke:#08306b;stroke-width:2;stroke-linejoin:round;stroke-linecap:round",
    "partner_track": "fill:none;stroke:#e6550d;stroke-width:1.5;stroke-opacity:.85",
    "gap_link": "fill:none;stroke:#000;stroke-width:1.5;stroke-dasharray:5 4",
    "heading_to_destination": "fill:none;stroke:#3182bd;stroke-width:1.5;stroke-dasharray:2 3",
}
LOITER_AREA = "fill:#fdae6b;fill-opacity:.45;stroke:#a63603;stroke-width:1"
LAND = "fill:#e8e4d8;stroke:#9c9683;stroke-width:.7"
SEA = "#f4f8fb"


def esc(value: Any) -> str:
    """XML-escape any value for SVG text or attributes (quotes included)."""
    return html.escape("" if value is None else str(value), quote=True)


class View:
    """The map window in lon/lat and its projection to pixels."""

    def __init__(self, bbox: tuple[float, float, float, float], width: int, height: int) -> None:
        minx, miny, maxx, maxy = bbox
        lat0 = (miny + maxy) / 2
        self.kx = max(math.cos(math.radians(lat0)), 0.05)
        # grow the box to at least MIN_SPAN_KM, pad it, then match the pixel aspect
        span_x = max((maxx - minx) * self.kx, MIN_SPAN_KM / KM_PER_DEG)
        span_y = max(maxy - miny, MIN_SPAN_KM / KM_PER_DEG)
        span_x, span_y = span_x * (1 + 2 * PAD_SHARE), span_y * (1 + 2 * PAD_SHARE)
        inner_w, inner_h = width - 2 * MARGIN_PX, height - 2 * MARGIN_PX
        if span_x / span_y < inner_w / inner_h:
            span_x = span_y * inner_w / inner_h
        else:
            span_y = span_x * inner_h / inner_w
        cx, cy = (minx + maxx) / 2, (miny + maxy) / 2
        self.minx, self.maxx = cx - span_x / self.kx / 2, cx + span_x / self.kx / 2
        self.miny, self.maxy = cy - span_y / 2, cy + span_y / 2
        self.scale = inner_w / span_x  # px per degree of latitude
        self.width, self.height = width, height

    def xy(self, lon: F64, lat: F64) -> tuple[F64, F64]:
        x = MARGIN_PX + (np.asarray(lon) - self.minx) * self.kx * self.scale
        y = MARGIN_PX + (self.maxy - np.asarray(lat)) * self.scale
        return np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)

    @property
    def box(self) -> tuple[float, float, float, float]:
        return self.minx, self.miny, self.maxx, self.maxy

    @property
    def km_per_px(self) -> float:
        return KM_PER_DEG / self.scale


def _pairs(x: F64, y: F64) -> list[str]:
    """'x,y' strings for many points at once (numpy string ops, no Python loop)."""
    xs = np.round(x, 1).astype(str)
    ys = np.round(y, 1).astype(str)
    return list(np.char.add(np.char.add(xs, ","), ys))


def _ring_path(view: View, coords: F64, close: bool) -> str:
    pairs = _pairs(*view.xy(coords[:, 0], coords[:, 1]))
    if not pairs:
        return ""
    return "M" + " ".join(pairs) + (" Z" if close else "")


def _geom_path(view: View, geom: BaseGeometry) -> str:
    """SVG path data of any (multi)polygon or (multi)linestring (one loop per ring/part)."""
    parts: list[str] = []
    for part in shapely.get_parts(geom):
        if part.geom_type == "Polygon":
            for ring in [part.exterior, *part.interiors]:
                parts.append(_ring_path(view, shapely.get_coordinates(ring), True))
        elif part.geom_type in ("LineString", "LinearRing"):
            parts.append(_ring_path(view, shapely.get_coordinates(part), False))
        elif part.geom_type.startswith("Multi") or part.geom_type == "GeometryCollection":
            parts.append(_geom_path(view, part))
    return " ".join(p for p in parts if p)


def _nice(value: float) -> float:
    """1, 2 or 5 times a power of ten, not above ``value``."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for m in (5, 2, 1):
        if m * power <= value:
            return m * power
    return power


def _short_time(iso: str | None) -> str:
    if not iso:
        return ""
    t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return t.strftime("%d %b %H:%MZ")


def _tooltip(props: dict[str, Any]) -> str:
    """Hover text of a feature (the browser shows <title>; printed maps use the legend)."""
    bits = [EVENT_LABEL.get(props.get("kind", ""), props.get("kind", ""))]
    if props.get("start"):
        bits.append(f"{_short_time(props.get('start'))} – {_short_time(props.get('end'))}")
    if props.get("duration_h") is not None:
        bits.append(f"{props['duration_h']:.1f} h")
    if props.get("partner_mmsi"):
        bits.append(f"with MMSI {props['partner_mmsi']}")
    if props.get("zone_name") or props.get("zone_id"):
        bits.append(str(props.get("zone_name") or props.get("zone_id")))
    if props.get("detail"):
        bits.append(str(props["detail"]))
    return " · ".join(bits)


def _graticule(view: View) -> list[str]:
    """Light lat/lon lines with degree labels on the frame: positions can be read off."""
    out = []
    span = view.maxy - view.miny
    step = _nice(span / 3)
    if step >= span:
        step = _nice(step / 2)
    lab = "font-size:9px;fill:#6b7a89"
    for kind, lo, hi in (("lat", view.miny, view.maxy), ("lon", view.minx, view.maxx)):
        k0 = math.ceil(lo / step)
        for k in range(k0, k0 + 12):
            v = k * step
            if v > hi:
                break
            digits = max(0, -math.floor(math.log10(step))) if step < 1 else 0
            if kind == "lat":
                _, y = view.xy(np.array([view.minx]), np.array([v]))
                text = f"{abs(v):.{digits}f}°{'S' if v < 0 else 'N'}"
                out.append(f'<line x1="0" x2="{view.width}" y1="{y[0]:.1f}" y2="{y[0]:.1f}" '
                           'class="grat"/>')
                if 20 < y[0] < view.height - 34:  # clear of the top labels and the scale bar
                    out.append(f'<text x="3" y="{y[0] - 2:.1f}" style="{lab}">{esc(text)}</text>')
            else:
                x, _ = view.xy(np.array([v]), np.array([view.miny]))
                if x[0] > view.width - 50:  # the north arrow's corner
                    continue
                text = f"{abs(v):.{digits}f}°{'W' if v < 0 else 'E'}"
                out.append(f'<line y1="0" y2="{view.height}" x1="{x[0]:.1f}" x2="{x[0]:.1f}" '
                           'class="grat"/>')
                out.append(f'<text x="{x[0] + 2:.1f}" y="10" '
                           f'style="{lab}">{esc(text)}</text>')
    return out


def _scale_bar(view: View) -> str:
    km = _nice(view.km_per_px * view.width / 4)
    px = km / view.km_per_px
    x0, y0 = 10, view.height - 22
    label = f"{km:g} km"
    return (f'<g class="scale"><rect x="{x0 - 4}" y="{y0 - 13}" width="{px + 8:.1f}" height="20" '
            'rx="2" style="fill:#fff;fill-opacity:.75"/>'
            f'<path d="M{x0},{y0 - 4} v5 h{px:.1f} v-5" style="fill:none;stroke:#222;'
            'stroke-width:1.5"/>'
            f'<text x="{x0 + px / 2:.1f}" y="{y0 - 5}" text-anchor="middle" '
            f'style="font-size:10px;fill:#222">{esc(label)}</text></g>')


def _north_arrow(view: View) -> str:
    x, y = view.width - 18, 30
    return (f'<g class="north" transform="translate({x},{y})">'
            '<circle r="12" style="fill:#fff;fill-opacity:.75"/>'
            '<path d="M0,-9 L5,6 L0,3 L-5,6 Z" style="fill:#222"/>'
            '<text y="-12" text-anchor="middle" style="font-size:9px;font-weight:bold;'
            'fill:#222">N</text></g>')


def _legend_svg(entries: list[tuple[str, str]], width: int) -> tuple[str, int]:
    """A legend strip under the map: (svg, height). entries = (symbol svg, label)."""
    row_h = 16
    cols = max(1, width // 175)
    col_w = width // cols
    rows = math.ceil(len(entries) / cols)
    out = []
    for i, (symbol, label) in enumerate(entries):
        cx, cy = 8 + (i % cols) * col_w, 10 + (i // cols) * row_h
        out.append(f'<g transform="translate({cx},{cy})">{symbol}'
                   f'<text x="16" y="4" style="font-size:10px;fill:#222">{esc(label)}</text></g>')
    return "".join(out), rows * row_h + 6


def render_svg(
    collection: dict[str, Any],
    settings: Settings,
    width: int = 560,
    height: int = 360,
    title: str | None = None,
) -> str:
    """The evidence map as an ``<svg>`` element string (all text escaped)."""
    features = collection.get("features", [])
    bbox = collection.get("bbox")
    legend: list[tuple[str, str]] = []
    if not bbox:
        msg = "no AIS positions or events in the window"
        return (f'<svg xmlns="http://www.w3.org/2000/svg" class="evidence-map" width="{width}" '
                f'height="60" viewBox="0 0 {width} 60" role="img" aria-label="{esc(msg)}">'
                f'<rect width="{width}" height="60" style="fill:{SEA};stroke:#999"/>'
                f'<text x="{width / 2}" y="34" text-anchor="middle" style="font-size:12px">'
                f'{esc(msg)}</text></svg>')
    minx, miny, maxx, maxy = (float(v) for v in bbox)
    view = View((minx, miny, maxx, maxy), width, height)
    body: list[str] = [f'<rect width="{width}" height="{height}" style="fill:{SEA}"/>']
    frame = shapely.box(*view.box)

    # coastline: simplified at half a pixel, clipped to the view (shapely 2)
    land = shapely.clip_by_rect(settings.land(), *view.box)
    if not land.is_empty:
        land = shapely.simplify(land, 0.5 / view.scale, preserve_topology=True)
        body.append(f'<path class="land" d="{_geom_path(view, land)}" style="{LAND}"/>')
    body += _graticule(view)

    # zones of the region that reach into the view
    zone_roles_seen: list[str] = []
    for f in features:
        p = f["properties"]
        if p["kind"] != "zone":
            continue
        g = shape(f["geometry"])
        if not g.intersects(frame):
            continue
        label, style = ZONE_STYLE.get(p.get("role"), ("zone", "fill:#999;fill-opacity:.1;"
                                                              "stroke:#666"))
        if p.get("role") not in zone_roles_seen:
            zone_roles_seen.append(p.get("role"))
            legend.append((f'<rect x="0" y="-5" width="12" height="10" style="{style}"/>', label))
        clipped = shapely.clip_by_rect(g, *view.box)
        body.append(f'<path class="zone" d="{_geom_path(view, clipped)}" '
                    f'style="{style};stroke-width:1;stroke-dasharray:4 2">'
                    f'<title>{esc(p.get("zone_id"))} {esc(p.get("name"))} ({esc(label)})</title>'
                    '</path>')
        c = g.representative_point()
        if frame.contains(c):
            lx, ly = view.xy(np.array([c.x]), np.array([c.y]))
            body.append(f'<text x="{lx[0]:.1f}" y="{ly[0]:.1f}" text-anchor="middle" '
                        'class="zlabel">'
                        f'{esc(p.get("zone_id"))}</text>')

    by_kind: dict[str, list[dict[str, Any]]] = {}
    for f in features:
        by_kind.setdefault(f["properties"]["kind"], []).append(f)

    def line_layer(kind: str) -> None:
        items = [f for f in by_kind.get(kind, []) if f["geometry"]]
        if not items:
            return
        for f in items:
            d = _geom_path(view, shape(f["geometry"]))
            body.append(f'<path class="{kind}" d="{d}" style="{LINE_STYLE[kind]}">'
                        f'<title>{esc(_tooltip(f["properties"]))}</title></path>')

    # loiter areas under everything that moves
    loiters = [f for f in by_kind.get("loiter", []) if f["geometry"]]
    for f in loiters:
        g = shape(f["geometry"])
        if g.geom_type == "Polygon":
            body.append(f'<path class="loiter" d="{_geom_path(view, g)}" style="{LOITER_AREA}">'
                        f'<title>{esc(_tooltip(f["properties"]))}</title></path>')
    if loiters:
        legend.append((f'<rect x="0" y="-5" width="12" height="10" style="{LOITER_AREA}"/>',
                       EVENT_LABEL["loiter"]))

    line_layer("partner_track")
    if by_kind.get("partner_track"):
        legend.append((f'<path d="M0,0 h12" style="{LINE_STYLE["partner_track"]}"/>',
                       EVENT_LABEL["partner_track"]))
    line_layer("track")
    if by_kind.get("track") or by_kind.get("position"):
        legend.append((f'<path d="M0,0 h12" style="{LINE_STYLE["track"]}"/>',
                       "track (split at silences)"))
    line_layer("gap_link")
    if by_kind.get("gap_link"):
        legend.append((f'<path d="M0,0 h12" style="{LINE_STYLE["gap_link"]}"/>',
                       EVENT_LABEL["gap_link"]))
    line_layer("heading_to_destination")

    # thinned positions: one path of zero-length strokes (dots), night darker
    pos = by_kind.get("position", [])
    if pos:
        coords = np.array([f["geometry"]["coordinates"] for f in pos], dtype=np.float64)
        night = np.array([bool(f["properties"].get("night")) for f in pos])
        x, y = view.xy(coords[:, 0], coords[:, 1])
        for mask, color, label in ((~night, "#6baed6", "position (day)"),
                                   (night, "#08306b", "position (night)")):
            if mask.any():
                d = "M" + " h0 M".join(_pairs(x[mask], y[mask])) + " h0"
                body.append(f'<path class="positions" d="{d}" style="stroke:{color};'
                            'stroke-width:4;stroke-linecap:round;fill:none"/>')
                legend.append((f'<path d="M6,0 h0" style="stroke:{color};stroke-width:5;'
                               'stroke-linecap:round"/>', label))

    # event point symbols
    for kind in ("zone_dwell", "loiter", "encounter", "port_visit", "identity_conflict",
                 "heading_to_destination", "dark_gap_vanish", "dark_gap_reappear"):
        items = [f for f in by_kind.get(kind, []) if f["geometry"]]
        pts = []
        for f in items:
            g = shape(f["geometry"])
            if kind == "loiter" and g.geom_type != "Point":
                continue
            if kind == "heading_to_destination":
                g = shapely.get_point(g, -1) if g.geom_type == "LineString" else g
            pts.append((g, f["properties"]))
        if not pts:
            continue
        sym, style = MARKER[kind]
        for g, props in pts:
            x, y = view.xy(np.array([g.x]), np.array([g.y]))
            body.append(f'<path class="ev-{kind}" transform="translate({x[0]:.1f},{y[0]:.1f})" '
                        f'd="{sym}" style="{style}"><title>{esc(_tooltip(props))}</title></path>')
        if kind != "loiter" or not loiters:
            legend.append((f'<path transform="translate(6,0)" d="{sym}" style="{style}"/>',
                           EVENT_LABEL[kind]))

    # first and last position with their times
    for kind, label, fill in (("track_start", "start", "#fff"), ("track_end", "end", "#08306b")):
        for f in by_kind.get(kind, []):
            lon, lat = f["geometry"]["coordinates"]
            x, y = view.xy(np.array([lon]), np.array([lat]))
            t = _short_time(f["properties"].get("time"))
            anchor = "start" if x[0] < width * 0.7 else "end"
            dx = 8 if anchor == "start" else -8
            body.append(f'<circle class="{kind}" cx="{x[0]:.1f}" cy="{y[0]:.1f}" r="5" '
                        f'style="fill:{fill};stroke:#08306b;stroke-width:2"/>'
                        f'<text class="tlabel" x="{x[0] + dx:.1f}" y="{y[0] - 7:.1f}" '
                        f'text-anchor="{anchor}">{esc(label)} {esc(t)}</text>')
    if by_kind.get("track_start"):
        legend.append(('<circle cx="6" r="4" style="fill:#fff;stroke:#08306b;stroke-width:2"/>',
                       "first position in window"))
        legend.append(('<circle cx="6" r="4" style="fill:#08306b;stroke:#08306b;'
                       'stroke-width:2"/>', "last position"))

    body.append(_scale_bar(view))
    body.append(_north_arrow(view))
    body.append(f'<rect width="{width}" height="{height}" style="fill:none;stroke:#8a96a3"/>')

    legend_svg, legend_h = _legend_svg(legend, width)
    total_h = height + legend_h
    window = collection.get("window", {})
    aria = title or f"evidence map, MMSI {window.get('mmsi', '')}"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="evidence-map" width="{width}" '
        f'height="{total_h}" viewBox="0 0 {width} {total_h}" role="img" '
        f'aria-label="{esc(aria)}" style="font-family:sans-serif">'
        '<style>.grat{stroke:#c9d3dd;stroke-width:.5}'
        '.zlabel{font-size:9px;fill:#7f2704;font-weight:bold}'
        '.tlabel{font-size:10px;fill:#08306b;font-weight:bold;paint-order:stroke;'
        'stroke:#fff;stroke-width:3px}</style>'
        f'<title>{esc(aria)}</title>'
        f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'overflow="hidden">{"".join(body)}</svg>'
        f'<g transform="translate(0,{height})">{legend_svg}</g></svg>'
    )


"""The inline SVG evidence map: well-formed, every text escaped, coastline clipped to the
view, a true scale bar, and a readable map even for a vessel that never moved."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np
import pytest

from pipeline.alerts.evidence import alert_evidence_geojson
from pipeline.alerts.svgmap import MIN_SPAN_KM, View, render_svg
from pipeline.geo import haversine_m
from tests.alerts.conftest import Scored

SVG = "{http://www.w3.org/2000/svg}"
PAYLOAD = '<script>window.__pwned=1</script>" onload="x'


@pytest.fixture(scope="module")
def collection(scored_home: Scored) -> dict[str, Any]:
    day = scored_home.days[-1]
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
    mmsi = int(scored_home.lake.read("scores", day).sort_by("rank")["mmsi"][0].as_py())
    return alert_evidence_geojson(scored_home.lake, scored_home.settings, mmsi, end)


def _numbers(d: str) -> np.ndarray:
    return np.array([float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)])


def test_map_is_well_formed_and_escapes_every_text(scored_home: Scored,
                                                   collection: dict[str, Any]) -> None:
    hostile = copy.deepcopy(collection)
    events = [f for f in hostile["features"] if "event_id" in f["properties"]]
    assert events, "the top vessel has events"
    for f in hostile["features"]:
        if "event_id" in f["properties"]:
            f["properties"]["detail"] = PAYLOAD
            f["properties"]["zone_name"] = PAYLOAD
        if f["properties"]["kind"] == "zone":
            f["properties"]["name"] = PAYLOAD
    svg = render_svg(hostile, scored_home.settings, title=PAYLOAD)
    root = ET.fromstring(svg)  # raises on anything unescaped that breaks the markup
    tags = {el.tag.replace(SVG, "") for el in root.iter()}
    assert "script" not in tags and "foreignObject" not in tags
    assert not [a for el in root.iter() for a in el.attrib if a.lower().startswith("on")]
    titles = [el.text or "" for el in root.iter(f"{SVG}title")]
    assert any(PAYLOAD in t for t in titles)  # shown to the analyst as the text it is
    assert root.get("aria-label") == PAYLOAD


def test_coastline_is_clipped_to_the_view_and_the_track_is_drawn(
        scored_home: Scored, collection: dict[str, Any]) -> None:
    width, height = 500, 320
    svg = render_svg(collection, scored_home.settings, width, height)
    root = ET.fromstring(svg)
    paths = {p.get("class"): p for p in root.iter(f"{SVG}path")}
    assert "track" in paths and "land" in paths
    xy = _numbers(paths["land"].get("d", "")).reshape(-1, 2)
    assert xy[:, 0].min() >= -1 and xy[:, 0].max() <= width + 1
    assert xy[:, 1].min() >= -1 and xy[:, 1].max() <= height + 1
    texts = " ".join(t.text or "" for t in root.iter(f"{SVG}text"))
    assert re.search(r"start \d\d \w{3} \d\d:\d\dZ", texts)
    assert re.search(r"end \d\d \w{3} \d\d:\d\dZ", texts)
    assert "N" in texts and re.search(r"\b\d+ km\b", texts)


def test_scale_bar_is_true_to_the_ground(scored_home: Scored,
                                         collection: dict[str, Any]) -> None:
    width, height = 560, 340
    minx, miny, maxx, maxy = collection["bbox"]
    view = View((minx, miny, maxx, maxy), width, height)
    lat = (view.miny + view.maxy) / 2
    # east-west across the whole view at its centre latitude: pixels vs the sphere
    x, _ = view.xy(np.array([view.minx, view.maxx]), np.array([lat, lat]))
    km = haversine_m(lat, view.minx, lat, view.maxx) / 1000
    assert (x[1] - x[0]) * view.km_per_px == pytest.approx(km, rel=0.01)
    # and north-south
    _, y = view.xy(np.array([view.minx, view.minx]), np.array([view.miny, view.maxy]))
    km_ns = haversine_m(view.miny, view.minx, view.maxy, view.minx) / 1000
    assert (y[0] - y[1]) * view.km_per_px == pytest.approx(km_ns, rel=0.01)
    assert km_ns >= MIN_SPAN_KM
    # the drawn bar: its length in pixels times km per pixel is its label
    svg = render_svg(collection, scored_home.settings, width, height)
    bar = re.search(r'<g class="scale">.*?d="M[\d.]+,[\d.]+ v5 h([\d.]+) v-5".*?>([\d.]+) km<',
                    svg)
    assert bar is not None
    assert float(bar.group(1)) * view.km_per_px == pytest.approx(float(bar.group(2)), rel=0.01)


def test_a_vessel_that_never_moved_still_gets_a_readable_map(scored_home: Scored) -> None:
    fc = {"type": "FeatureCollection", "bbox": [92.5, 20.1, 92.5, 20.1],
          "window": {"mmsi": 1}, "features": [
              {"type": "Feature", "geometry": {"type": "Point", "coordinates": [92.5, 20.1]},
               "properties": {"kind": "track_end", "time": "2024-11-22T10:00:00Z"}}]}
    svg = render_svg(fc, scored_home.settings, 400, 300)
    view = View((92.5, 20.1, 92.5, 20.1), 400, 300)
    width_km = haversine_m(20.1, view.minx, 20.1, view.maxx) / 1000
    assert width_km >= MIN_SPAN_KM
    assert 'class="track_end"' in svg and 'class="land"' in svg  # the coast near Sittwe


def test_no_positions_gives_a_message_not_an_empty_frame(scored_home: Scored) -> None:
    svg = render_svg({"type": "FeatureCollection", "bbox": None, "features": []},
                     scored_home.settings)
    assert "no AIS positions" in svg
    ET.fromstring(svg)

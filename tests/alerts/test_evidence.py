"""The evidence GeoJSON of alerts on real pipeline output (simulated Andaman Sea days): the
track splits where AIS went dark, the gap is joined by a gap_link between the vanish and
reappear points, encounters carry the partner's own positions, and the window is honoured."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from shapely.geometry import shape

from pipeline.alerts.evidence import (
    FEATURE_KINDS,
    alert_evidence_geojson,
    evidence_collections,
    read_events,
    read_positions,
)
from tests.alerts.conftest import Scored


def _end_of(day: Any) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)


def _kind(fc: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [f for f in fc["features"] if f["properties"]["kind"] == kind]


@pytest.fixture(scope="module")
def window(scored_home: Scored) -> tuple[Scored, datetime, datetime, pd.DataFrame]:
    end = _end_of(scored_home.days[-1])
    start = end - timedelta(hours=48)
    events = scored_home.lake.read("events", scored_home.days[-2], scored_home.days[-1])
    # an event open at the end of a day is stored again, whole, on the day it ends: keep that
    return scored_home, start, end, events.to_pandas().drop_duplicates("event_id", keep="last")


def test_track_splits_at_dark_gaps_and_links_vanish_to_reappear(window: Any) -> None:
    sc, start, end, events = window
    gaps = events[(events["event_type"] == "dark_gap") & events["end_lat"].notna()
                  & (events["start_time"] >= start) & (events["end_time"] < end)]
    assert len(gaps) > 0, "the simulated days have closed dark gaps"
    for gap in gaps.head(5).itertuples():
        fc = alert_evidence_geojson(sc.lake, sc.settings, gap.mmsi, end)
        links = [f for f in _kind(fc, "gap_link") if f["properties"]["event_id"] == gap.event_id]
        assert len(links) == 1
        (a, b) = links[0]["geometry"]["coordinates"]
        assert a == pytest.approx([gap.lon, gap.lat], abs=1e-5)
        assert b == pytest.approx([gap.end_lon, gap.end_lat], abs=1e-5)
        vanish = [f for f in _kind(fc, "dark_gap_vanish")
                  if f["properties"]["event_id"] == gap.event_id]
        assert vanish and vanish[0]["geometry"]["coordinates"] == links[0]["geometry"][
            "coordinates"][0]
        # no track line runs through the silence
        g0, g1 = gap.start_time.isoformat(), gap.end_time.isoformat()
        for t in _kind(fc, "track"):
            s, e = t["properties"]["start"], t["properties"]["end"]
            assert not (s <= g0.replace("+00:00", "Z") and e >= g1.replace("+00:00", "Z"))


def test_track_lines_and_markers_match_the_lake(window: Any) -> None:
    sc, start, end, _events = window
    mmsi = int(sc.lake.read("scores", sc.days[-1]).sort_by("rank")["mmsi"][0].as_py())
    fc = alert_evidence_geojson(sc.lake, sc.settings, mmsi, end)
    pos = read_positions(sc.lake, [mmsi], start, end)
    t = pc.cast(pos["timestamp"], "int64").to_numpy()
    assert pos.num_rows > 0 and np.all(np.diff(t) >= 0)
    first = _kind(fc, "track_start")[0]["properties"]["time"]
    last = _kind(fc, "track_end")[0]["properties"]["time"]
    iso = [pos["timestamp"][i].as_py().isoformat().replace("+00:00", "Z") for i in (0, -1)]
    assert [first, last] == iso
    tracks = _kind(fc, "track")
    # the stretches together hold every position that is not alone in its stretch
    assert 0 < sum(f["properties"]["positions"] for f in tracks) <= pos.num_rows
    markers = _kind(fc, "position")
    assert 0 < len(markers) <= min(pos.num_rows, 400)
    assert all(isinstance(f["properties"]["night"], bool) for f in markers)
    zones = _kind(fc, "zone")
    assert zones and {f["properties"]["region"] for f in zones} == {fc["window"]["region"]}
    assert fc["window"]["region"] == "andaman-sea"


def test_thinning_keeps_first_and_last_and_spreads_in_time(window: Any) -> None:
    sc, _start, end, _ = window
    counts = sc.lake.read("positions", sc.days[-1], columns=["mmsi"]).group_by("mmsi").aggregate(
        [("mmsi", "count")]).sort_by([("mmsi_count", "descending")])
    busy = int(counts["mmsi"][0].as_py())
    fc = evidence_collections(sc.lake, sc.settings, [busy], end, max_positions=50)[busy]
    markers = _kind(fc, "position")
    assert 2 <= len(markers) <= 50
    times = [f["properties"]["time"] for f in markers]
    assert times == sorted(times)
    assert times[0] == _kind(fc, "track_start")[0]["properties"]["time"]
    assert times[-1] == _kind(fc, "track_end")[0]["properties"]["time"]


def test_encounters_carry_the_partner_positions_of_the_interval(window: Any) -> None:
    sc, start, end, events = window
    enc = events[(events["event_type"] == "encounter") & (events["start_time"] >= start)]
    assert len(enc) > 0, "the simulated days have encounters"
    row = enc.iloc[0]
    fc = alert_evidence_geojson(sc.lake, sc.settings, int(row["mmsi"]), end)
    partner = [f for f in _kind(fc, "partner_track")
               if f["properties"]["event_id"] == row["event_id"]]
    assert len(partner) == 1 and partner[0]["properties"]["partner_mmsi"] == row["partner_mmsi"]
    pos = read_positions(sc.lake, [int(row["partner_mmsi"])], row["start_time"],
                         row["end_time"] + timedelta(microseconds=1)).to_pandas()
    coords = np.array(partner[0]["geometry"]["coordinates"])
    assert len(coords) == len(pos)
    assert np.allclose(coords, pos[["lon", "lat"]].to_numpy(), atol=1e-5)


def test_window_never_reads_a_later_day(window: Any) -> None:
    sc, _, _, _ = window
    end = _end_of(sc.days[0])
    mmsi = int(sc.lake.read("scores", sc.days[1]).sort_by("rank")["mmsi"][0].as_py())
    fc = alert_evidence_geojson(sc.lake, sc.settings, mmsi, end, hours=24)
    assert fc["window"]["start"] == sc.days[0].isoformat() + "T00:00:00Z"
    limit = end.isoformat().replace("+00:00", "Z")
    for f in fc["features"]:
        p = f["properties"]
        for key in ("time", "start"):
            if p.get(key):
                assert p[key] < limit, (p["kind"], p[key])
    ev = read_events(sc.lake, [mmsi], end - timedelta(hours=24), end)
    assert {e["properties"]["event_id"] for e in fc["features"] if "event_id"
            in e["properties"]} == set(ev["event_id"])


def test_every_feature_is_valid_geojson(window: Any) -> None:
    sc, _, end, _ = window
    top = sc.lake.read("scores", sc.days[-1]).sort_by("rank")["mmsi"].to_pylist()[:8]
    collections = evidence_collections(sc.lake, sc.settings, top, end)
    assert list(collections) == top
    for fc in collections.values():
        text = json.dumps(fc, allow_nan=False)  # no NaN anywhere
        assert json.loads(text)["type"] == "FeatureCollection"
        for f in fc["features"]:
            assert f["type"] == "Feature" and f["properties"]["kind"] in FEATURE_KINDS
            if f["geometry"] is not None:
                g = shape(f["geometry"])
                assert g.is_valid and not g.is_empty
        minx, miny, maxx, maxy = fc["bbox"]
        assert minx <= maxx and miny <= maxy


def test_hours_must_be_positive(window: Any) -> None:
    sc, _, end, _ = window
    with pytest.raises(ValueError, match="hours"):
        alert_evidence_geojson(sc.lake, sc.settings, 1, end, hours=0)


def test_position_glitches_are_left_out_as_the_detectors_do(window: Any) -> None:
    sc, start, end, _ = window
    feats = sc.lake.read("features", sc.days[-1], columns=["mmsi", "glitches"])
    glitchy = feats.filter(pc.greater(feats["glitches"], 0))["mmsi"].to_pylist()
    assert glitchy, "the simulator sends some impossible jumps"
    mmsi = int(glitchy[0])
    fc = alert_evidence_geojson(sc.lake, sc.settings, mmsi, end)
    assert fc["window"]["glitches_removed"] > 0
    pos = read_positions(sc.lake, [mmsi], start, end)
    drawn = sum(f["properties"]["positions"] for f in _kind(fc, "track"))
    singles = len(_kind(fc, "track")) == 0
    assert singles or drawn <= pos.num_rows - fc["window"]["glitches_removed"]
    # no drawn vertex implies a jump faster than the detectors accept
    from pipeline.geo import haversine_m

    for f in _kind(fc, "track"):
        c = np.array(f["geometry"]["coordinates"])
        hours = (pd.Timestamp(f["properties"]["end"]) - pd.Timestamp(f["properties"]["start"])
                 ).total_seconds() / 3600
        path_km = haversine_m(c[:-1, 1], c[:-1, 0], c[1:, 1], c[1:, 0]).sum() / 1000
        assert path_km / 1.852 <= sc.settings.events.max_implied_speed_kn * max(hours, 0.1)


def test_date_only_positions_stay_off_the_map(tmp_path: Any) -> None:
    """A position whose time is only its date (NMEA without a readable receive time) is not
    drawn: at 00:00 it would pull the track back to midnight."""
    from pipeline.lake import Lake
    from pipeline.schemas import TIME_SOURCES, time_source_array

    lake = Lake(tmp_path / "lake")
    day = datetime(2012, 1, 27, tzinfo=UTC)
    times = [day, day + timedelta(hours=6), day + timedelta(hours=7), day]
    sources = ["zda_clock", "zda_clock", "vsi", "date_only"]
    lake.write_partition("positions", day.date(), pa.table({
        "mmsi": pa.array([503000001] * 4, pa.int64()),
        "timestamp": pa.array(times, pa.timestamp("us", tz="UTC")),
        "lat": [-12.0, -12.1, -12.2, -30.0], "lon": [130.0, 130.1, 130.2, 150.0],
        "source_id": ["f"] * 4, "source_line": pa.array([1, 2, 3, 4], pa.int64()),
        "time_source": time_source_array(
            np.array([TIME_SOURCES.index(s) for s in sources], np.int8)),
    }))
    pos = read_positions(lake, [503000001], day, day + timedelta(days=1))
    assert pos["lat"].to_pylist() == [-12.0, -12.1, -12.2]
    assert pos.column_names == read_positions(lake, [1], day, day).column_names

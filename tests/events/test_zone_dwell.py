"""zone_dwell: exact answers on hand-built tracks and the simulated Bay of Bengal (waiting
mother ships dwell at their zone; background fishing at night never dwells where it was not)."""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pytest

from pipeline import geo
from pipeline.config import Settings, load_settings
from pipeline.events.zone_dwell import detect_zone_dwell
from pipeline.schemas import EVENTS
from pipeline.tracks import Track, track_from_table
from tests.events.test_loiter import DAY, context, every, positions, ts

D01_CENTRE = (-7.0, 106.53)  # SI-D01 Pelabuhan Ratu, 12 km radius; SI-D02 (5 km) inside it
D02_CENTRE = (-6.98, 106.51)
OUTSIDE_D01 = (-7.13, 106.53)  # 14.5 km from SI-D01's centre: 2.5 km outside, at sea


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(env={})


def detect(settings: Settings, rows: list[Any], day: date = DAY) -> pd.DataFrame:
    track = track_from_table(positions(rows), day, settings.events)
    table = detect_zone_dwell(track, context(settings, day))
    assert table.schema.equals(EVENTS)
    return table.to_pandas().sort_values(["mmsi", "start_time", "zone_id"]).reset_index(
        drop=True)


def test_enter_stay_leave(settings: Settings) -> None:
    la, lo = D01_CENTRE
    lat_in = la - 0.03  # inside SI-D01 only (SI-D02 is 5.6 km away, radius 5 km)
    rows = [(1, "2024-11-02T12:40:00", OUTSIDE_D01[0], lo, 6.0)]
    rows += every(1, "2024-11-02T13:00:00", 10, 13, lat_in, lo, 0.3)  # 20:06-22:06 local
    rows += [(1, "2024-11-02T15:10:00", OUTSIDE_D01[0], lo, 6.0)]
    ev = detect(settings, rows)
    assert len(ev) == 1
    e = ev.iloc[0]
    assert e["zone_id"] == "SI-D01"
    assert e["start_time"] == ts("2024-11-02T13:00:00")
    assert e["end_time"] == ts("2024-11-02T15:00:00")
    assert e["duration_h"] == 2.0 and e["positions"] == 13 and e["night_h"] == 2.0
    assert (e["lat"], e["lon"]) == (lat_in, lo)
    assert e["distance_to_departure_m"] == 0.0
    assert e["distance_to_shore_m"] == pytest.approx(
        context(settings).distance_to_shore_m(np.array([lat_in]), np.array([lo]))[0])
    assert "Palabuhanratu" in e["detail"] and "radius 12 km" in e["detail"]


def test_dwell_across_midnight_and_in_daylight(settings: Settings) -> None:
    la, lo = D01_CENTRE
    lat_in = la - 0.03
    rows = every(2, "2024-11-01T20:00:00", 30, 13, lat_in, lo, 0.0)  # 03:06-09:06 local
    rows += every(3, "2024-11-02T02:00:00", 30, 5, lat_in, lo, 0.0)  # 09:06-11:06 local
    ev = detect(settings, rows)
    assert ev["mmsi"].tolist() == [2, 3]
    cross = ev.iloc[0]
    assert cross["start_time"] == ts("2024-11-01T20:00:00")
    assert cross["end_time"] == ts("2024-11-02T02:00:00")
    assert cross["duration_h"] == 6.0
    t = pd.date_range("2024-11-01T20:00Z", periods=12, freq="30min").as_unit("us").asi8
    from pipeline.night import is_night
    assert cross["night_h"] == 0.5 * is_night(t, np.full(12, lat_in), np.full(12, lo)).sum()
    assert cross["night_h"] == 2.5  # civil dawn ~05:05 local (22:00 UTC): fixes 20:00-22:00
    assert ev.iloc[1]["night_h"] == 0.0


def test_overlapping_zones_each_get_a_dwell(settings: Settings) -> None:
    rows = every(4, "2024-11-02T03:00:00", 10, 7, *D02_CENTRE, 0.0)
    ev = detect(settings, rows)
    assert ev["zone_id"].tolist() == ["SI-D01", "SI-D02"]
    assert ev["start_time"].nunique() == 1 and ev["event_id"].nunique() == 2
    assert (ev["duration_h"] == 1.0).all()


def test_passages_segments_and_single_points(settings: Settings) -> None:
    la, lo = D01_CENTRE
    lat_in = la - 0.03
    # exactly the minimum (15 min) counts; 10 min is a passage
    rows = every(5, "2024-11-02T03:00:00", 5, 4, lat_in, lo, 6.0)
    rows += every(6, "2024-11-02T03:00:00", 5, 3, lat_in, lo, 6.0)
    # a 7 h silence inside the zone splits the stay into two dwells
    rows += every(7, "2024-11-02T00:00:00", 10, 4, lat_in, lo, 0.0)
    rows += every(7, "2024-11-02T07:30:00", 10, 4, lat_in, lo, 0.0)
    # one fix out of the zone splits the run; a vessel seen once is never a dwell
    rows += every(8, "2024-11-02T00:00:00", 10, 3, lat_in, lo, 0.0)
    rows += [(8, "2024-11-02T00:30:00", OUTSIDE_D01[0], lo, 0.0)]
    rows += every(8, "2024-11-02T00:40:00", 10, 3, lat_in, lo, 0.0)
    rows += [(9, "2024-11-02T00:00:00", lat_in, lo, 0.0)]
    ev = detect(settings, rows)
    assert ev["mmsi"].tolist() == [5, 7, 7, 8, 8]
    assert ev["duration_h"].tolist() == [0.25, 0.5, 0.5, 20 / 60, 20 / 60]
    assert (ev["zone_id"] == "SI-D01").all()


def test_holding_area_and_empty_track(settings: Settings) -> None:
    rows = every(10, "2024-11-02T03:00:00", 30, 5, 20.0, 91.7, 0.5)  # AS-H02, 40 km radius
    ev = detect(settings, rows)
    assert ev["zone_id"].tolist() == ["AS-H02"]
    assert ev.iloc[0]["distance_to_departure_m"] > 20_000
    assert "holding area" in ev.iloc[0]["detail"]
    assert detect(settings, []).empty


def test_fishing_at_night_just_outside_is_no_dwell(settings: Settings) -> None:
    rows = every(11, "2024-11-02T13:00:00", 5, 49, *OUTSIDE_D01, 2.5)
    assert detect(settings, rows).empty


# ------------------------------------------------------------------------ simulated data


def _zones(s: Settings) -> dict[str, tuple[float, float, float]]:
    return {z.id: (*z.centre, (z.radius_km or 0) * 1000) for reg in s.regions.values()
            for role in ("departure", "holding_area") for z in reg.zones_by_role(role)}


def test_waiting_mother_ships_dwell_at_their_zone(
        simulated: tuple[Settings, Track, pd.DataFrame]) -> None:
    s, track, gt = simulated
    ev = detect_zone_dwell(track, context(s, date(2024, 11, 21))).to_pandas()
    zones = _zones(s)
    wait = gt[(gt["scenario"] == "mother_ship") & (gt["phase"] == "waiting")]
    checked = 0
    for w in wait.itertuples():
        rows = np.flatnonzero((track.mmsi == w.mmsi) & (track.t >= w.start.value // 1000)
                              & (track.t <= w.end.value // 1000))
        if len(rows) < 5:
            continue
        mlat, mlon = np.median(track.lat[rows]), np.median(track.lon[rows])
        inside = {k for k, (la, lo, r) in zones.items() if geo.haversine_m(mlat, mlon, la, lo) < r}
        mine = ev[(ev["mmsi"] == w.mmsi) & (ev["start_time"] <= w.end)
                  & (ev["end_time"] >= w.start)]
        assert set(mine["zone_id"]) == inside, w
        checked += len(inside)
        for e in mine.itertuples():
            assert e.night_h > 0  # they wait through the evening
    assert checked >= 1


def test_no_dwell_where_a_vessel_never_was(
        simulated: tuple[Settings, Track, pd.DataFrame]) -> None:
    """Background traffic (fishing at night included) dwells only where its fixes are:
    every fix of every dwell lies inside the zone's circle (checked by plain haversine)."""
    s, track, gt = simulated
    ev = detect_zone_dwell(track, context(s, date(2024, 11, 21))).to_pandas()
    assert len(ev) > 0
    zones = _zones(s)
    t_us = (ev["start_time"].astype("int64"), ev["end_time"].astype("int64"))
    for e, t0, t1 in zip(ev.itertuples(), *t_us, strict=True):
        rows = np.flatnonzero((track.mmsi == e.mmsi) & (track.t >= t0) & (track.t <= t1))
        la, lo, r = zones[e.zone_id]
        assert len(rows) == e.positions
        assert (geo.haversine_m(track.lat[rows], track.lon[rows], la, lo) < r).all()
    # background vessels active at night near a departure point but never inside it
    background = ~np.isin(track.mmsi, gt["mmsi"].unique())
    at_night = context(s).night(track.t, track.lat, track.lon)
    near_only = 0
    for zid, (la, lo, r) in zones.items():
        d = geo.haversine_m(track.lat, track.lon, la, lo)
        ring = background & at_night & (d >= r) & (d < r + 10_000)
        never_in = np.setdiff1d(track.mmsi[ring], track.mmsi[background & (d < r)])
        near_only += len(never_in)
        hit = ev[(ev["zone_id"] == zid) & ev["mmsi"].isin(never_in)]
        assert hit.empty, hit
    assert near_only > 0

"""loiter: exact answers on hand-built tracks, agreement with MovingPandas' stop detector on
real NOAA AIS, and the waiting phases of simulated mother ships."""

from __future__ import annotations

import warnings
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline import geo
from pipeline.config import Settings, load_settings
from pipeline.events.base import DetectContext
from pipeline.events.loiter import detect_loiter
from pipeline.ingest.ais import ingest_ais
from pipeline.lake import Lake
from pipeline.schemas import EVENTS
from pipeline.tracks import Track, load_track, track_from_table
from tests.events.positions import position_table

DAY = date(2024, 11, 2)  # window: 1 and 2 November (lookback 1 day)
OPEN_SEA = (-9.0, 108.0)  # Indian Ocean south of Java: ~135 km from land, far from any zone
KN = 1852 / 3600  # m/s per knot
DATA = Path(__file__).parents[1] / "data"
NOAA_SLICE = DATA / "ais" / "noaa_marinecadastre_2022-01-03_slice.csv"
NOAA_DENSE = DATA / "movingpandas" / "noaa_marinecadastre_2022-01-03_dense_vessels.csv"


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(env={})


def ts(s: str) -> datetime:
    return datetime.fromisoformat(s + "+00:00")


def positions(rows: list[tuple[int, str, float, float, float | None]]) -> pa.Table:
    """Lake position rows (mmsi, ISO time, lat, lon, sog) with the other columns filled."""
    return position_table([r[0] for r in rows], [ts(r[1]) for r in rows],
                          [r[2] for r in rows], [r[3] for r in rows],
                          [np.nan if r[4] is None else r[4] for r in rows])


def every(mmsi: int, start: str, minutes: int, n: int, lat: float, lon: float,
          sog: float | None, dlat: float = 0.0) -> list[tuple[int, str, float, float, float | None]]:
    """``n`` reports ``minutes`` apart from ``start``, moving ``dlat`` degrees per report."""
    t0 = ts(start)
    return [(mmsi, (t0 + timedelta(minutes=minutes * k)).isoformat()[:19], lat + k * dlat, lon,
             sog) for k in range(n)]


def context(settings: Settings, day: date = DAY) -> DetectContext:
    """No static data, no port calls: the detectors must not need them."""
    return DetectContext(settings, day, pa.table({}), pa.table({}))


def detect(settings: Settings, rows: list[Any], day: date = DAY) -> pd.DataFrame:
    track = track_from_table(positions(rows), day, settings.events)
    table = detect_loiter(track, context(settings, day))
    assert table.schema.equals(EVENTS)
    return table.to_pandas().sort_values(["mmsi", "start_time"]).reset_index(drop=True)


def hours(a: str, b: str) -> float:
    return (ts(b) - ts(a)).total_seconds() / 3600


# ------------------------------------------------------------------ hand-built tracks


def test_slow_stretch_between_transits(settings: Settings) -> None:
    lat, lon = OPEN_SEA
    step = 8 * KN * 600 / 111_195  # 8 kn for 10 min, in degrees of latitude
    rows = (every(1, "2024-11-02T00:00:00", 10, 6, lat - 6 * step, lon, 8.0, step)
            + every(1, "2024-11-02T01:00:00", 10, 13, lat, lon, 0.5, step / 16)  # 0.5 kn
            + every(1, "2024-11-02T03:10:00", 10, 3, lat + step, lon, 8.0, step))
    # exactly the threshold is not slow; exactly one hour is long enough
    rows += every(2, "2024-11-02T05:00:00", 10, 7, lat, lon, 2.0, 2.5 * KN * 600 / 111_195)
    rows += every(3, "2024-11-02T05:00:00", 10, 7, lat, lon, 1.9, 1.9 * KN * 600 / 111_195)
    ev = detect(settings, rows)
    assert ev["mmsi"].tolist() == [1, 3]
    one = ev.iloc[0]
    assert one["start_time"] == ts("2024-11-02T01:00:00")
    assert one["end_time"] == ts("2024-11-02T03:00:00")
    assert one["duration_h"] == 2.0 and one["positions"] == 13
    assert (one["lat"], one["lon"]) == (lat + 6 * step / 16, lon)  # the middle fix
    assert one["night_h"] == 0.0  # 08:12-10:12 local solar time
    assert pd.isna(one["zone_id"]) and not one["open"]
    assert one["distance_to_shore_m"] == pytest.approx(135_588, rel=0.01)
    assert one["distance_to_departure_m"] > 100_000
    assert one["detail"] == "mean speed 0.5 kn"
    assert ev.iloc[1]["duration_h"] == 1.0


def test_loiter_across_midnight_comes_out_whole_with_its_night(settings: Settings) -> None:
    lat, lon = OPEN_SEA  # 20:00-00:00 UTC is 03:12-07:12 local: night until dawn
    rows = every(7, "2024-11-01T14:00:00", 10, 13, lat, lon, 0.0)  # 21:12-23:12 local
    rows += every(8, "2024-11-01T20:00:00", 30, 9, lat, lon, 1.0)
    ev = detect(settings, rows)
    assert len(ev) == 2
    night = ev.iloc[0]
    assert night["night_h"] == 2.0 and night["duration_h"] == 2.0
    cross = ev.iloc[1]
    assert cross["start_time"] == ts("2024-11-01T20:00:00")
    assert cross["end_time"] == ts("2024-11-02T00:00:00")
    assert cross["duration_h"] == 4.0 and cross["positions"] == 9
    sun = pd.date_range("2024-11-01T20:00Z", periods=8, freq="30min")
    from pipeline.night import is_night
    t_us = sun.as_unit("us").asi8
    expected = 0.5 * is_night(t_us, np.full(8, lat), np.full(8, lon)).sum()
    assert 0 < cross["night_h"] == expected < 4
    # the same loiter seen from the next day's window keeps its id
    again = detect(settings, rows, DAY)
    assert again["event_id"].tolist() == ev["event_id"].tolist()


def test_missing_sog_uses_implied_speed(settings: Settings) -> None:
    lat, lon = OPEN_SEA
    step = 3000 / 111_195  # 3 km in 20 min: 4.9 kn
    rows = [(4, "2024-11-02T09:40:00", lat - step, lon, None)]
    rows += every(4, "2024-11-02T10:00:00", 20, 4, lat, lon, None)  # still 10:00-11:00
    rows += [(4, "2024-11-02T11:20:00", lat + step, lon, None),
             (4, "2024-11-02T11:40:00", lat + 2 * step, lon, None)]
    ev = detect(settings, rows)
    assert len(ev) == 1
    assert ev.iloc[0]["start_time"] == ts("2024-11-02T10:00:00")
    assert ev.iloc[0]["end_time"] == ts("2024-11-02T11:00:00")
    assert ev.iloc[0]["positions"] == 4


def test_lone_sog_spike_does_not_cut_a_stop(settings: Settings) -> None:
    lat, lon = OPEN_SEA
    rows = every(5, "2024-11-02T10:00:00", 10, 7, lat, lon, 0.3)
    rows[3] = (5, "2024-11-02T10:30:00", lat + 0.0002, lon, 5.8)  # 22 m away, SOG 5.8 kn
    ev = detect(settings, rows)
    assert len(ev) == 1 and ev.iloc[0]["duration_h"] == 1.0


def test_never_across_a_segment_break_or_a_move(settings: Settings) -> None:
    lat, lon = OPEN_SEA
    # 00:00-00:40 and 07:40-08:00 slow, 7 h of silence between (segment_gap_h = 6)
    rows = every(6, "2024-11-02T00:00:00", 10, 5, lat, lon, 0.0)
    rows += every(6, "2024-11-02T07:40:00", 10, 3, lat, lon, 0.0)
    # slow at both ends of a 3 h silence, but 50 km apart: it moved; only 03:30-05:00 counts
    rows += every(9, "2024-11-02T00:00:00", 30, 2, lat, lon, 0.0)
    rows += every(9, "2024-11-02T03:30:00", 30, 4, lat + 0.45, lon, 0.0)
    ev = detect(settings, rows)
    assert ev["mmsi"].tolist() == [9]
    assert ev.iloc[0]["start_time"] == ts("2024-11-02T03:30:00")
    assert ev.iloc[0]["duration_h"] == 1.5


def test_single_point_vessel_and_empty_track(settings: Settings) -> None:
    lat, lon = OPEN_SEA
    assert detect(settings, [(11, "2024-11-02T10:00:00", lat, lon, 0.0)]).empty
    assert detect(settings, [(11, "2024-11-02T10:00:00", lat, lon, None)]).empty
    assert detect(settings, []).empty


def test_zone_named_after_departure_point_or_holding_area(settings: Settings) -> None:
    inside_d01 = (-7.05, 106.50)  # Pelabuhan Ratu bay, SI-D01 (12 km radius)
    near_d01 = (-7.25, 106.50)  # ~16 km beyond SI-D01's edge
    far = (-7.45, 106.50)  # ~38 km beyond
    holding = (20.0, 91.7)  # inside AS-H02 (40 km), > 20 km from any departure point
    rows = []
    for k, (la, lo) in enumerate([inside_d01, near_d01, far, holding]):
        rows += every(20 + k, "2024-11-02T03:00:00", 15, 5, la, lo, 0.1)
    ev = detect(settings, rows).set_index("mmsi")
    assert ev.loc[20, "zone_id"] == "SI-D01" and ev.loc[20, "distance_to_departure_m"] == 0.0
    d01 = settings.zone("SI-D01")
    assert d01 is not None and d01.radius_km is not None
    expect = geo.haversine_m(*near_d01, *d01.centre) - d01.radius_km * 1000
    assert ev.loc[21, "zone_id"] == "SI-D01"
    assert ev.loc[21, "distance_to_departure_m"] == pytest.approx(expect, rel=0.01)
    assert 10_000 < expect < 20_000
    assert pd.isna(ev.loc[22, "zone_id"]) and ev.loc[22, "distance_to_departure_m"] > 20_000
    assert ev.loc[23, "zone_id"] == "AS-H02" and ev.loc[23, "distance_to_departure_m"] > 20_000


# ------------------------------------------------------------ agreement with MovingPandas


def movingpandas_stops(track: Track, max_diameter_m: float, min_duration: timedelta
                       ) -> pd.DataFrame:
    """MovingPandas' TrajectoryStopDetector on the same positions, one trajectory per track
    segment (as ObservationGapSplitter at segment_gap_h would cut them)."""
    import geopandas as gpd

    with warnings.catch_warnings():  # optional-dependency notice on import
        warnings.simplefilter("ignore")
        import movingpandas as mpd

    df = pd.DataFrame({"seg": track.segment, "mmsi": track.mmsi, "lat": track.lat,
                       "lon": track.lon, "t": pd.to_datetime(track.t, unit="us")})
    df = df[df.groupby("seg")["t"].transform("size") >= 2]
    gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(df["lon"], df["lat"]), crs=4326)
    with warnings.catch_warnings():  # MovingPandas uses pandas' deprecated inplace sorts
        warnings.simplefilter("ignore")
        tc = mpd.TrajectoryCollection(gdf, traj_id_col="seg", t="t")
        ranges = mpd.TrajectoryStopDetector(tc).get_stop_time_ranges(
            max_diameter=max_diameter_m, min_duration=min_duration)
    seg_mmsi = df.groupby("seg")["mmsi"].first()
    return pd.DataFrame({"mmsi": [int(seg_mmsi[r.traj_id]) for r in ranges],
                         "start": [pd.Timestamp(r.t_0).value // 1000 for r in ranges],
                         "end": [pd.Timestamp(r.t_n).value // 1000 for r in ranges]},
                        dtype=np.int64)


def stop_time_overlap(ours: pd.DataFrame, mp: pd.DataFrame) -> tuple[float, float, float]:
    """(our stop hours, MovingPandas' stop hours, hours both call a stop), vessel by vessel."""
    both = 0.0
    for m, a in ours.groupby("mmsi"):  # per vessel: a few intervals each
        b = mp[mp["mmsi"] == m]
        lo = np.maximum(a["start"].to_numpy()[:, None], b["start"].to_numpy()[None, :])
        hi = np.minimum(a["end"].to_numpy()[:, None], b["end"].to_numpy()[None, :])
        both += float(np.clip(hi - lo, 0, None).sum())
    total = [float((x["end"] - x["start"]).sum()) for x in (ours, mp)]
    return total[0] / 3.6e9, total[1] / 3.6e9, both / 3.6e9


def compare(settings: Settings, csv: Path, tmp_path: Path, min_duration_h: float
            ) -> tuple[float, float, float, Track]:
    """Ingest a real file, run both detectors with equivalent parameters and compare.

    Equivalence: MovingPandas calls a stop where all fixes stay inside a circle of
    ``max_diameter`` for ``min_duration``; a vessel below ``loiter_max_sog_kn`` covers at most
    ``loiter_max_sog_kn × loiter_min_duration_h`` in the minimum duration, so that is the
    diameter (3,704 m for 2 kn and 1 h). Same positions (glitches removed), same segments."""
    events = settings.events.model_copy(update={"loiter_min_duration_h": min_duration_h})
    s = settings.model_copy(update={"events": events})
    lake = Lake(tmp_path / "lake")
    ingest_ais([csv], lake)
    day = date(2022, 1, 3)
    track = load_track(lake, day, s.events)
    ours = detect_loiter(track, context(s, day)).to_pandas()
    ours = pd.DataFrame({"mmsi": ours["mmsi"],
                         "start": ours["start_time"].astype("int64"),
                         "end": ours["end_time"].astype("int64")})
    diameter = events.loiter_max_sog_kn * 1852 * min_duration_h
    mp = movingpandas_stops(track, diameter, timedelta(hours=min_duration_h))
    return (*stop_time_overlap(ours, mp), track)


def test_agrees_with_movingpandas_on_the_noaa_slice(settings: Settings, tmp_path: Path) -> None:
    """The issue's check at GFW's parameters (< 2 kn, >= 1 h; 3,704 m). The slice holds the
    first minutes of 2022-01-03 plus a few fixes just before midnight: no track segment lasts
    an hour (the longest spans minutes; a vessel's 00:00 and 23:59 fixes are a day apart, a
    segment break), so both detectors must find no stop at all — asserted, together with the
    reason, so that the check becomes binding if the slice ever grows."""
    ours_h, mp_h, both_h, track = compare(settings, NOAA_SLICE, tmp_path, 1.0)
    seg_first = np.flatnonzero(track.new_segment)
    seg_last = np.r_[seg_first[1:] - 1, len(track) - 1]
    longest_h = float((track.t[seg_last] - track.t[seg_first]).max()) / 3.6e9
    assert longest_h < 1.0
    assert ours_h == mp_h == both_h == 0.0


@pytest.mark.parametrize("minutes", [5])
def test_agrees_with_movingpandas_on_dense_real_tracks(
        settings: Settings, tmp_path: Path, minutes: int) -> None:
    """The same comparison on 195 vessels of the same real NOAA day that report densely for
    their first ~25 minutes (tests/data/movingpandas), with the minimum duration scaled to
    fit those windows and the diameter derived the same way (2 kn × 5 min = 309 m).
    Agreement is measured both ways: the share of our loiter time that MovingPandas calls a
    stop and the share of its stop time that we call a loiter."""
    ours_h, mp_h, both_h, _ = compare(settings, NOAA_DENSE, tmp_path, minutes / 60)
    assert ours_h > 20 and mp_h > 20  # plenty of stop time to compare
    assert both_h >= 0.95 * ours_h
    assert both_h >= 0.95 * mp_h


# ------------------------------------------------------------------------ simulated data


def test_waiting_mother_ships_loiter_at_their_zone(
        simulated: tuple[Settings, Track, pd.DataFrame]) -> None:
    s, track, gt = simulated
    ev = detect_loiter(track, context(s, date(2024, 11, 21))).to_pandas()
    zones = [z for r in ("departure", "holding_area") for z in
             (zz for reg in s.regions.values() for zz in reg.zones_by_role(r))]
    wait = gt[(gt["scenario"] == "mother_ship") & (gt["phase"] == "waiting")]
    checked = 0
    for w in wait.itertuples():
        t0, t1 = w.start.value // 1000, w.end.value // 1000
        rows = np.flatnonzero((track.mmsi == w.mmsi) & (track.t >= t0) & (track.t <= t1))
        if len(rows) < 5 or (t1 - t0) < 2 * 3.6e9:
            continue  # outside the window, or too short to be sure of a 1 h stretch
        checked += 1
        mine = ev[(ev["mmsi"] == w.mmsi) & (ev["start_time"] <= w.end)
                  & (ev["end_time"] >= w.start)]
        assert len(mine) >= 1, w
        covered = sum((min(e.end_time, w.end) - max(e.start_time, w.start)).total_seconds()
                      for e in mine.itertuples())
        assert covered >= 0.8 * (w.end - w.start).total_seconds()
        # the zone: the departure point / holding area whose circle holds the waiting spot
        mlat, mlon = np.median(track.lat[rows]), np.median(track.lon[rows])
        within = {z.id: float(geo.haversine_m(mlat, mlon, *z.centre)) - (z.radius_km or 0) * 1e3
                  for z in zones}
        inside = {k for k, d in within.items() if d <= 0}
        got = set(mine["zone_id"].dropna())
        assert got and (got <= inside if inside else min(within.values()) <= 20_000), (got, w)
    assert checked >= 1

"""dark_gap: exact answers on hand-built tracks (midnight, single fix, no static data, open
gaps still silent at the end of the day), the expected-reception measure, and a simulated
mother ship leaving dark."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from pipeline import geo
from pipeline.config import Settings, load_settings
from pipeline.events.base import DetectContext, finalise
from pipeline.events.dark_gap import detect_dark_gap
from pipeline.ingest.ais import ingest_ais
from pipeline.lake import Lake
from pipeline.night import is_night
from pipeline.simulate import simulate
from pipeline.tracks import TRACK_COLUMNS, track_from_table
from tests.events.positions import position_table

DAY = date(2024, 11, 2)  # window: 1 and 2 November (lookback 1 day)
KN = 1852 / 3600
START_PR = (-7.05, 106.50)  # inside departure point SI-D01 (Pelabuhan Ratu), off the beach
OPEN_SEA = (-9.0, 108.0)  # ~135 km south of Java, far from every zone
FAR_SEA = (-9.0, 112.0)  # ~440 km east of OPEN_SEA: not a neighbour of it


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(env={})


def t_us(s: str) -> int:
    return int(datetime.fromisoformat(s + "+00:00").timestamp() * 1_000_000)


def leg(mmsi: int, start: str, step_s: int, n: int, lat: float, lon: float, cog: float | None,
        sog: float | None) -> dict[str, np.ndarray]:
    """``n`` fixes ``step_s`` apart sailing ``cog`` at ``sog`` knots (or staying put)."""
    k = np.arange(n)
    if cog is None or not sog:
        la, lo = np.full(n, lat), np.full(n, lon)
    else:
        la, lo = geo.destination_point(lat, lon, cog, k * step_s * sog * KN)
    return {"mmsi": np.full(n, mmsi), "t": t_us(start) + k * step_s * 1_000_000,
            "lat": np.asarray(la, float), "lon": np.asarray(lo, float),
            "sog": np.full(n, np.nan if sog is None else sog),
            "cog": np.full(n, np.nan if cog is None else cog)}


def table(*legs: dict[str, np.ndarray]) -> pa.Table:
    cols = {k: np.concatenate([lg[k] for lg in legs]) for k in legs[0]}
    return position_table(cols["mmsi"], cols["t"], cols["lat"], cols["lon"], cols["sog"],
                          cols["cog"], "A")


def detect(settings: Settings, tab: pa.Table, day: date = DAY) -> pd.DataFrame:
    """No static data and no port calls: dark_gap must not need them."""
    ctx = DetectContext(settings, day, pa.table({}), pa.table({}))
    out = detect_dark_gap(track_from_table(tab, day, settings.events), ctx)
    return out.to_pandas().sort_values(["mmsi", "start_time"]).reset_index(drop=True)


def end_of(day: date) -> pd.Timestamp:
    """The end of a day's data: the end_time of an open gap."""
    return pd.Timestamp(day + timedelta(days=1), tz="UTC") - pd.Timedelta(1, "us")


def with_min_h(settings: Settings, hours: float) -> Settings:
    return settings.model_copy(
        update={"events": settings.events.model_copy(update={"dark_gap_min_h": hours})})


def test_gap_across_midnight_is_one_event_with_exact_attributes(settings: Settings) -> None:
    # leaves Pelabuhan Ratu at 6 kn on 180°, silent 16:00 (1 Nov) -> 02:00 (2 Nov), reappears
    # 60 km further south; plus a single-fix vessel and a vessel that never stops reporting
    before = leg(1, "2024-11-01T12:00:00", 60, 241, *START_PR, 180.0, 6.0)
    v_lat, v_lon = before["lat"][-1], before["lon"][-1]
    r_lat, r_lon = geo.destination_point(v_lat, v_lon, 180.0, 60_000.0)
    after = leg(1, "2024-11-02T02:00:00", 60, 30, float(r_lat), float(r_lon), 180.0, 6.0)
    single = leg(2, "2024-11-02T03:00:00", 60, 1, *OPEN_SEA, None, 0.0)
    steady = leg(3, "2024-11-01T00:00:00", 600, 288, *OPEN_SEA, None, 0.0)
    ev = detect(settings, table(before, after, single, steady))
    # 1 and 2 are silent from their last fix to the end of 2 Nov: open gaps (the single fix
    # one too), besides the closed one; 3 reports until 23:50
    opened = ev[ev.open]
    assert opened.mmsi.tolist() == [1, 2]
    assert opened.start_time.tolist() == [pd.Timestamp("2024-11-02T02:29:00Z"),
                                          pd.Timestamp("2024-11-02T03:00:00Z")]
    assert (opened.end_time == end_of(DAY)).all() and (opened.positions == 1).all()
    ev = ev[~ev.open]
    assert len(ev) == 1
    e = ev.iloc[0]
    assert e.mmsi == 1 and e.event_type == "dark_gap"
    assert e.start_time == pd.Timestamp("2024-11-01T16:00:00Z")
    assert e.end_time == pd.Timestamp("2024-11-02T02:00:00Z")
    assert e.duration_h == 10.0 and e.positions == 2 and not e.open
    assert (e.lat, e.lon) == (v_lat, v_lon)
    assert (e.end_lat, e.end_lon) == pytest.approx((r_lat, r_lon), abs=1e-12)
    assert e.distance_m == pytest.approx(60_000.0, rel=1e-9)
    assert e.implied_speed_kn == pytest.approx(60_000.0 / (10 * 3600) / KN, rel=1e-9)
    assert e.bearing_deg == 180.0  # the COG at the vanish point
    assert e.zone_id == "SI-D01"  # vanished ~38 km south of the departure area
    zone = settings.zone("SI-D01")
    assert zone is not None
    d = geo.haversine_m(v_lat, v_lon, *zone.centre) - 12_000
    assert e.distance_to_departure_m == pytest.approx(d, rel=1e-3)  # 72-gon circle
    assert "vanished near departure point SI-D01" in e.detail
    # Christmas Island lies at ~196° from there: within 30° of the course
    assert "toward destination SI-T01" in e.detail
    assert e.distance_to_shore_m > 0
    # night: sun below -6° along the track of the silence, sampled finely here
    tt = np.arange(t_us("2024-11-01T16:00:00"), t_us("2024-11-02T02:00:00"), 60_000_000)
    f = (tt - tt[0]) / (10 * 3600e6)
    la, lo = geo.destination_point(v_lat, v_lon, 180.0, f * 60_000.0)
    expected = is_night(tt, la, lo).mean() * 10.0
    assert 4.0 < expected < 8.0  # 23:00-09:00 local: dawn (about 05:00 local) falls inside
    assert e.night_h == pytest.approx(expected, abs=0.25)  # 15-min sampling


def test_gap_all_night_and_course_from_last_movement(settings: Settings) -> None:
    # no COG reported: the course is the bearing of the last movement; 19:00-03:00 local
    moving = leg(5, "2024-11-01T08:00:00", 60, 241, *OPEN_SEA, 90.0, 5.0)
    moving["cog"][:] = np.nan
    moving["sog"][:] = np.nan
    v_lat, v_lon = moving["lat"][-1], moving["lon"][-1]
    after = leg(5, "2024-11-01T20:00:00", 60, 10, v_lat, v_lon, None, 0.0)
    ev = detect(settings, table(moving, after), day=date(2024, 11, 1))
    assert len(ev) == 1
    e = ev.iloc[0]
    assert e.start_time == pd.Timestamp("2024-11-01T12:00:00Z")
    assert e.night_h == 8.0  # 19:00 to 03:00 local at 108° E in November: all night
    brg = geo.initial_bearing_deg(moving["lat"][-2], moving["lon"][-2], v_lat, v_lon)
    assert e.bearing_deg == pytest.approx(float(brg))
    assert e.distance_m == pytest.approx(0.0, abs=1e-6) and e.implied_speed_kn == 0.0
    assert pd.isna(e.zone_id) and "not near a departure point" in e.detail
    assert "not toward a destination" in e.detail  # east, away from every destination


def test_short_silences_are_not_events(settings: Settings) -> None:
    a = leg(7, "2024-11-02T00:00:00", 60, 60, *OPEN_SEA, None, 0.0)
    b = leg(7, "2024-11-02T06:59:00", 60, 1021, *OPEN_SEA, None, 0.0)  # 5 h 59 min later
    assert detect(settings, table(a, b)).empty  # ... then reporting until 23:59


# ----------------------------------------------------------------------------- open gaps


def test_silence_to_the_end_of_the_day_is_an_open_gap(settings: Settings) -> None:
    # 30: sails east 10:00-14:00, then silent (10 h to the end of the day); 31: silent for
    # the last 5 h of the day, 32: for exactly 6 h (not longer than dark_gap_min_h)
    x = leg(30, "2024-11-02T10:00:00", 60, 241, *OPEN_SEA, 90.0, 5.0)
    y = leg(31, "2024-11-02T12:00:00", 60, 421, *FAR_SEA, None, 0.0)
    z = leg(32, "2024-11-02T12:00:00", 60, 361, *FAR_SEA, None, 0.0)
    tab = table(x, y, z)
    ev = detect(settings, tab)
    assert len(ev) == 1
    e = ev.iloc[0]
    assert e.mmsi == 30 and e.open and e.positions == 1
    assert e.start_time == pd.Timestamp("2024-11-02T14:00:00Z")
    assert e.end_time == end_of(DAY)
    assert e.duration_h == (e.end_time - e.start_time) / pd.Timedelta("1h")
    assert e.duration_h == pytest.approx(10.0, abs=1e-9)
    assert (e.lat, e.lon) == (x["lat"][-1], x["lon"][-1])
    assert np.isnan([e.end_lat, e.end_lon, e.distance_m, e.implied_speed_kn]).all()
    assert e.bearing_deg == 90.0 and pd.isna(e.zone_id)
    assert e.detail.startswith("still silent 10.0 h at the end of the day; not near a "
                               "departure point; course 90 deg not toward a destination area")
    # own reception only (no neighbours within reach): 241 fixes of 241 expected
    assert e.reception_ratio == 1.0 and "241 of 241 expected" in e.detail
    assert e.distance_to_shore_m > 100_000 and e.distance_to_departure_m > 100_000
    # night over the silence so far, at the vanish point: 21:12-07:12 local, dawn inside
    tt = np.arange(t_us("2024-11-02T14:00:00"), t_us("2024-11-03T00:00:00"), 60_000_000)
    expected = is_night(tt, e.lat, e.lon).mean() * 10.0
    assert 7.0 < expected < 10.0
    assert e.night_h == pytest.approx(expected, abs=0.25)
    # the driver keeps it on the day, open
    fin = finalise(detect_dark_gap(track_from_table(tab, DAY, settings.events),
                                   DetectContext(settings, DAY, pa.table({}), pa.table({}))),
                   track_from_table(tab, DAY, settings.events))
    assert fin.num_rows == 1 and fin.column("open").to_pylist() == [True]


def test_gap_opened_on_the_lookback_day_is_open_again_with_the_same_id(
        settings: Settings) -> None:
    # vanished at 20:00 on 1 Nov, still silent on 2 Nov
    x = leg(40, "2024-11-01T12:00:00", 600, 49, *OPEN_SEA, None, 0.0)
    ev = detect(settings, table(x))  # 2 Nov
    assert len(ev) == 1
    e = ev.iloc[0]
    assert e.open and e.start_time == pd.Timestamp("2024-11-01T20:00:00Z")
    assert e.end_time == end_of(DAY) and e.duration_h == pytest.approx(28.0, abs=1e-9)
    assert e.detail.startswith("still silent 28.0 h at the end of the day")
    assert np.isnan(e.bearing_deg) and "course unknown" in e.detail  # never moved
    # on 1 Nov the silence (4 h) is not long enough yet; with a 3 h threshold it is, and it
    # is the same event
    first = date(2024, 11, 1)
    assert detect(settings, table(x), first).empty
    ev1 = detect(with_min_h(settings, 3.0), table(x), first)
    assert len(ev1) == 1 and ev1.open[0] and ev1.end_time[0] == end_of(first)
    assert ev1.event_id[0] == e.event_id and ev1.duration_h[0] == pytest.approx(4.0, abs=1e-9)


def test_open_gap_closes_under_the_same_id_when_the_vessel_reappears(
        settings: Settings) -> None:
    # the midnight case, seen on 1 Nov (vanished at 16:00, 8 h silent so far) and on 2 Nov
    # (reappeared at 02:00)
    before = leg(1, "2024-11-01T12:00:00", 60, 241, *START_PR, 180.0, 6.0)
    r_lat, r_lon = geo.destination_point(before["lat"][-1], before["lon"][-1], 180.0, 60_000.0)
    after = leg(1, "2024-11-02T02:00:00", 60, 1, float(r_lat), float(r_lon), 180.0, 6.0)
    first = date(2024, 11, 1)
    opened = detect(settings, table(before), first)
    assert len(opened) == 1
    o = opened.iloc[0]
    assert o.open and o.start_time == pd.Timestamp("2024-11-01T16:00:00Z")
    assert o.end_time == end_of(first) and o.duration_h == pytest.approx(8.0, abs=1e-9)
    assert o.zone_id == "SI-D01"
    assert o.detail.startswith("still silent 8.0 h at the end of the day; vanished near "
                               "departure point SI-D01 (")
    assert "; heading 180 deg toward destination SI-T01 (" in o.detail
    ev = detect(settings, table(before, after))  # 2 Nov
    c = ev[~ev.open].iloc[0]
    assert c.event_id == o.event_id and c.end_time == pd.Timestamp("2024-11-02T02:00:00Z")
    assert c.detail.startswith("silent 10.0 h, reappeared 60.0 km away")
    for col in ("start_time", "lat", "lon", "zone_id", "bearing_deg", "distance_to_shore_m",
                "distance_to_departure_m", "reception_ratio"):
        assert c[col] == o[col], col
    # 2 Nov: it is silent again after its single fix at 02:00 (a new open gap, a new id)
    again = ev[ev.open].iloc[0]
    assert again.start_time == pd.Timestamp("2024-11-02T02:00:00Z")
    assert again.event_id != o.event_id


def _neighbour_case(settings: Settings, y_legs: list[dict[str, np.ndarray]]) -> pd.Series:
    """Vessel 10 reports every minute 12:00-18:00, is silent for 8 h and reappears;
    neighbour 20 sits 10 km away with the given reports."""
    x1 = leg(10, "2024-11-01T12:00:00", 60, 361, *OPEN_SEA, None, 0.0)
    x2 = leg(10, "2024-11-02T02:00:00", 60, 10, *OPEN_SEA, None, 0.0)
    ev = detect(settings, table(x1, x2, *y_legs))
    gaps = ev[(ev.mmsi == 10) & ~ev.open]  # (both are silent at the end of the day too)
    assert len(gaps) == 1
    return gaps.iloc[0]


NB = geo.destination_point(OPEN_SEA[0], OPEN_SEA[1], 45.0, 10_000.0)
NB_LAT, NB_LON = float(NB[0]), float(NB[1])


def test_reception_ratio_is_one_when_neighbours_keep_reporting(settings: Settings) -> None:
    y = leg(20, "2024-11-01T10:00:00", 60, 18 * 60 + 1, NB_LAT, NB_LON, None, 0.0)
    e = _neighbour_case(settings, [y])
    # before: 360 own + 360 neighbour fixes, 720 expected; during: 360 of 360
    assert e.reception_ratio == 1.0
    assert "720 of 720 expected" in e.detail and "during the gap 1.00" in e.detail


def test_reception_ratio_is_low_when_neighbours_fall_silent_too(settings: Settings) -> None:
    # the neighbour is not heard 18:00-22:00 (a station outage, shorter than a dark gap)
    y1 = leg(20, "2024-11-01T10:00:00", 60, 8 * 60 + 1, NB_LAT, NB_LON, None, 0.0)
    y2 = leg(20, "2024-11-01T22:00:00", 60, 6 * 60, NB_LAT, NB_LON, None, 0.0)
    e = _neighbour_case(settings, [y1, y2])
    # during (18:00, 24:00]: 1 + 120 fixes received of 4 h + 2 h = 360 expected
    assert e.reception_ratio == pytest.approx(121 / 360)


def test_reception_ratio_is_low_in_a_satellite_only_stretch(settings: Settings) -> None:
    # everything is heard 15 min out of every 90 (satellite passes), by the minute
    legs = []
    for m, (la, lo) in ((10, OPEN_SEA), (20, (NB_LAT, NB_LON))):
        for p in range(5):
            t0 = datetime(2024, 11, 1, 10, 30) + timedelta(minutes=90 * p)
            legs.append(leg(m, t0.isoformat(), 60, 15, la, lo, None, 0.0))
    legs.append(leg(10, "2024-11-02T02:00:00", 60, 10, *OPEN_SEA, None, 0.0))
    legs.append(leg(20, "2024-11-02T02:00:00", 60, 10, NB_LAT, NB_LON, None, 0.0))
    ev = detect(settings, table(*legs))
    e = ev[(ev.mmsi == 10) & ~ev.open].iloc[0]
    assert e.reception_ratio < 0.25


# ----------------------------------------------------------------------------- simulated


SIM_START = date(2024, 11, 1)
MOTHER, MOTHER_AGAIN = 550776793, 525967044  # seed 7: leaves dark, reappears renamed
DIRECT = 550396587  # seed 7: direct departure, dark until after the data ends


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Lake, pd.DataFrame]:
    """Two days of southern Indonesia (seed 7: a mother ship leaves Rote and goes dark)."""
    s = load_settings(env={"VESSEL_RISK__SIMULATE__SMUGGLING_FRACTION": "0.05"})
    out = tmp_path_factory.mktemp("dark_sim")
    simulate(s, "south-indonesia", SIM_START, 2, 7, out / "landing", "parquet", vessels=100)
    lake = Lake(out / "lake")
    ingest_ais(sorted((out / "landing").glob("positions_*.parquet")), lake)
    gt = pd.read_csv(out / "landing" / "ground_truth" / "events.csv")
    return s, lake, gt


def _sim_gaps(s: Settings, lake: Lake, relink: bool = False) -> pd.DataFrame:
    day = SIM_START + timedelta(days=1)
    pos = lake.read("positions", SIM_START, day, columns=TRACK_COLUMNS)
    if relink:  # as if the hull reappeared under its own MMSI
        mm = pc.if_else(pc.equal(pos["mmsi"], MOTHER_AGAIN), MOTHER, pos["mmsi"])
        pos = pos.set_column(0, "mmsi", mm)
    ctx = DetectContext(s, day, pa.table({}), pa.table({}))
    return detect_dark_gap(track_from_table(pos, day, s.events), ctx).to_pandas()


def test_simulated_mother_ship_vanishes_near_departure_heading_to_destination(
        sim: tuple[Settings, Lake, pd.DataFrame]) -> None:
    s, lake, gt = sim
    ev = _sim_gaps(s, lake)
    day_end = end_of(SIM_START + timedelta(days=1))
    staging = {z.id for z in s.zones if z.role in ("departure", "holding_area")}
    # gone dark and not heard again under its MMSI: an open gap on the day it vanished
    for mmsi in (MOTHER, DIRECT):
        dark = gt[(gt.mmsi == mmsi) & (gt.phase == "dark")].iloc[0]
        mine = ev[ev.mmsi == mmsi]
        assert len(mine) == 1, mmsi
        e = mine.iloc[0]
        assert e.open and e.end_time == day_end and e.positions == 1
        assert abs(e.start_time - pd.Timestamp(dark.start)) < pd.Timedelta("5min")
        assert np.isnan(e.end_lat) and np.isnan(e.distance_m)
        assert e.zone_id in staging
        assert e.detail.startswith("still silent ") and "vanished near" in e.detail
        assert "toward destination" in e.detail
        assert e.reception_ratio > 0.8  # well covered: intent, not a reception hole
    # its renamed reappearance is not needed; had it come back under its own MMSI, the
    # closed gap would be the same event
    closed = _sim_gaps(s, lake, relink=True)
    closed = closed[(closed.mmsi == MOTHER) & ~closed.open]
    assert len(closed) == 1
    assert closed.event_id.iloc[0] == ev[ev.mmsi == MOTHER].event_id.iloc[0]
    # the background fleet (not in the ground truth) yields no open gap that looks like a
    # departure: none vanished near a staging zone
    background = ev[ev.open & ~ev.mmsi.isin(gt.mmsi)]
    assert background.zone_id.isna().all()


def test_simulated_far_offshore_silences_have_low_reception(
        sim: tuple[Settings, Lake, pd.DataFrame]) -> None:
    s, lake, _ = sim
    beyond = s.simulate.satellite_only_beyond_km * 1000
    ev = _sim_gaps(s, lake)
    far = ev[ev.distance_to_shore_m > beyond]
    assert len(far) >= 1 and (far.reception_ratio < 0.3).all()
    # the many 1-6 h satellite-pass silences (not dark gaps by default) tell the same story
    s1 = with_min_h(s, 1.0)
    ev = _sim_gaps(s1, lake)
    far = ev[ev.distance_to_shore_m > beyond]
    near = ev[ev.distance_to_shore_m < 40_000]
    assert len(far) >= 20 and len(near) >= 20
    assert far.reception_ratio.median() < 0.35 < 0.85 < near.reception_ratio.median()

"""heading_to_destination: exact answers on hand-built tracks (midnight, single fix, no
static data; vessels passing by, too slow, already there, or lying COG) and a simulated
mother ship closing in on Ashmore/Cartier after it reappears."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline import geo
from pipeline.config import Settings, load_settings
from pipeline.events.base import DetectContext
from pipeline.events.heading import detect_heading_to_destination
from pipeline.ingest.ais import ingest_ais
from pipeline.lake import Lake
from pipeline.simulate import simulate
from pipeline.tracks import TRACK_COLUMNS, track_from_table
from tests.events.positions import position_table

DAY = date(2024, 11, 2)
KN = 1852 / 3600
XMAS = (-10.49, 105.63)  # SI-T01 Christmas Island, radius 15 km
OFF_JAVA = (-7.6, 106.4)  # ~70 km off Pelabuhan Ratu, ~330 km from Christmas Island


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(env={})


def t_us(s: str) -> int:
    return int(datetime.fromisoformat(s + "+00:00").timestamp() * 1_000_000)


def toward(mmsi: int, start: str, n: int, lat: float, lon: float, target: tuple[float, float],
           sog: float, step_s: int = 60, cog_offset: float = 0.0) -> dict[str, np.ndarray]:
    """``n`` fixes ``step_s`` apart on the great circle toward ``target`` at ``sog`` knots,
    reporting the bearing to the target (+ ``cog_offset``) as COG."""
    brg0 = geo.initial_bearing_deg(lat, lon, *target)
    la, lo = geo.destination_point(lat, lon, brg0, np.arange(n) * step_s * sog * KN)
    cog = np.mod(geo.initial_bearing_deg(la, lo, *target) + cog_offset, 360.0)
    return {"mmsi": np.full(n, mmsi), "t": t_us(start) + np.arange(n) * step_s * 1_000_000,
            "lat": la, "lon": lo, "sog": np.full(n, sog), "cog": cog}


def table(*legs: dict[str, np.ndarray]) -> pa.Table:
    cols = {k: np.concatenate([lg[k] for lg in legs]) for k in legs[0]}
    return position_table(cols["mmsi"], cols["t"], cols["lat"], cols["lon"], cols["sog"],
                          cols["cog"], "B")


def detect(settings: Settings, tab: pa.Table, day: date = DAY) -> pd.DataFrame:
    ctx = DetectContext(settings, day, pa.table({}), pa.table({}))  # no static, no calls
    out = detect_heading_to_destination(track_from_table(tab, day, settings.events), ctx)
    return out.to_pandas().sort_values(["mmsi", "start_time"]).reset_index(drop=True)


def test_sustained_course_across_midnight_is_one_event(settings: Settings) -> None:
    boat = toward(1, "2024-11-01T23:00:00", 181, *OFF_JAVA, XMAS, 7.0)  # 23:00 -> 02:00
    single = toward(2, "2024-11-02T01:00:00", 1, *OFF_JAVA, XMAS, 7.0)
    ev = detect(settings, table(boat, single))
    assert len(ev) == 1
    e = ev.iloc[0]
    assert (e.mmsi, e.zone_id, e.event_type) == (1, "SI-T01", "heading_to_destination")
    assert e.start_time == pd.Timestamp("2024-11-01T23:00:00Z")
    assert e.end_time == pd.Timestamp("2024-11-02T02:00:00Z")
    assert e.duration_h == 3.0 and e.positions == 181 and not e.open
    assert (e.end_lat, e.end_lon) == (boat["lat"][-1], boat["lon"][-1])
    assert (e.lat, e.lon) == (boat["lat"][90], boat["lon"][90])  # the middle fix
    rad = np.radians(boat["cog"].astype(np.float32).astype(float))
    mean = np.degrees(np.arctan2(np.sin(rad).sum(), np.cos(rad).sum())) % 360
    assert e.bearing_deg == pytest.approx(mean, abs=1e-9)
    assert e.night_h == 0.0  # 06:00-09:00 local: after dawn
    assert "toward SI-T01" in e.detail


def test_night_hours_follow_the_sun(settings: Settings) -> None:
    boat = toward(1, "2024-11-01T13:00:00", 181, *OFF_JAVA, XMAS, 7.0)  # 20:00-23:00 local
    e = detect(settings, table(boat), day=date(2024, 11, 1)).iloc[0]
    assert e.night_h == pytest.approx(3.0)
    day_boat = toward(1, "2024-11-01T02:00:00", 181, *OFF_JAVA, XMAS, 7.0)  # 09:00-12:00
    e = detect(settings, table(day_boat), day=date(2024, 11, 1)).iloc[0]
    assert e.night_h == 0.0


@pytest.mark.parametrize(("why", "kw"), [
    ("too short", {"n": 100}),  # 1 h 39 min < 2 h
    ("too slow", {"sog": 2.5}),
    ("course off by more than 20°", {"cog_offset": 25.0}),
])
def test_no_event(settings: Settings, why: str, kw: dict[str, float]) -> None:
    args: dict[str, float] = {"n": 181, "sog": 7.0, "cog_offset": 0.0} | kw
    boat = toward(1, "2024-11-01T23:00:00", int(args["n"]), *OFF_JAVA, XMAS, args["sog"],
                  cog_offset=args["cog_offset"])
    assert detect(settings, table(boat)).empty, why


def test_far_away_an_angle_is_not_enough(settings: Settings) -> None:
    # 10° off the bearing to Christmas Island from ~900 km: misses it by ~150 km
    start = geo.destination_point(*XMAS, 60.0, 915_000.0)
    ship = toward(1, "2024-11-01T23:00:00", 300, float(start[0]), float(start[1]), XMAS,
                  14.0, cog_offset=10.0)
    lat, lon = geo.destination_point(start[0], start[1], ship["cog"][0],
                                     np.arange(300) * 60 * 14.0 * KN)
    ship["lat"], ship["lon"], ship["cog"] = lat, lon, np.full(300, ship["cog"][0])
    assert detect(settings, table(ship)).empty
    # the same ship aimed at the island fires
    aimed = toward(1, "2024-11-01T23:00:00", 300, float(start[0]), float(start[1]), XMAS, 14.0)
    assert len(detect(settings, table(aimed))) == 1


def test_cog_that_the_track_does_not_follow_is_not_closing_in(settings: Settings) -> None:
    # reports a COG toward Christmas Island while actually sailing east along the coast
    boat = toward(1, "2024-11-01T23:00:00", 181, *OFF_JAVA, XMAS, 7.0)
    lat, lon = geo.destination_point(*OFF_JAVA, 90.0, np.arange(181) * 60 * 7.0 * KN)
    boat["lat"], boat["lon"] = lat, lon
    assert detect(settings, table(boat)).empty


def test_vessel_already_inside_the_area_is_ignored(settings: Settings) -> None:
    # inside Christmas Island's area (15 km), sailing toward its centre... and out
    inside = geo.destination_point(*XMAS, 0.0, 14_000.0)
    boat = toward(1, "2024-11-01T23:00:00", 181, float(inside[0]), float(inside[1]), XMAS, 3.5)
    assert detect(settings, table(boat)).empty


# ----------------------------------------------------------------------------- simulated


SIM_START = date(2024, 11, 1)
MOTHER_AGAIN = 525967044  # seed 7: the mother ship reappears renamed 35.9 h in


def test_simulated_mother_ship_closes_in_and_background_does_not(
        tmp_path_factory: pytest.TempPathFactory) -> None:
    s = load_settings(env={"VESSEL_RISK__SIMULATE__SMUGGLING_FRACTION": "0.05"})
    out = tmp_path_factory.mktemp("heading_sim")
    simulate(s, "south-indonesia", SIM_START, 2, 7, out / "landing", "parquet", vessels=100)
    lake = Lake(out / "lake")
    ingest_ais(sorted((out / "landing").glob("positions_*.parquet")), lake)
    day = SIM_START + timedelta(days=1)
    pos = lake.read("positions", SIM_START, day, columns=TRACK_COLUMNS)
    ctx = DetectContext(s, day, pa.table({}), pa.table({}))
    ev = detect_heading_to_destination(track_from_table(pos, day, s.events), ctx).to_pandas()
    gt = pd.read_csv(out / "landing" / "ground_truth" / "events.csv")
    vessels = pd.read_csv(out / "landing" / "ground_truth" / "vessels.csv")
    re = gt[(gt.mmsi == MOTHER_AGAIN) & (gt.phase == "reappeared")].iloc[0]
    mine = ev[ev.mmsi == MOTHER_AGAIN]
    assert len(mine) == 1
    e = mine.iloc[0]
    assert pd.Timestamp(re.start) - pd.Timedelta("5min") <= e.start_time <= pd.Timestamp(re.end)
    assert e.zone_id in {"SI-T02", "SI-T03"}  # Ashmore Reef / Cartier Islet
    # no background vessel (cargo on the lanes, fishing) heads for a destination
    background = set(vessels.loc[vessels.scenario_id < 0, "mmsi"])
    assert not set(ev.mmsi) & background

"""Statistical properties of the simulated traffic: identities, land, intervals, speeds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from pipeline.config import Settings
from pipeline.ingest.rules import imo_valid
from pipeline.simulate import SimulationResult
from tests.simulate.conftest import run

Run = tuple[SimulationResult, pd.DataFrame]


@pytest.fixture(params=["java", "andaman"])
def sim(request: pytest.FixtureRequest) -> Run:
    run: Run = request.getfixturevalue(request.param)
    return run


def test_identities_are_consistent(sim: Run, sim_settings: Settings) -> None:
    res, pos = sim
    region = sim_settings.regions[res.region]
    vessels = pd.read_csv(res.out / "ground_truth" / "vessels.csv")
    mid = vessels["mmsi"] // 1_000_000
    junk = ~mid.between(201, 775) | vessels["mmsi"].isin([123456789, 111111111, 999999999])
    assert junk.mean() < 0.1  # the deliberately faulty units only
    assert set(mid[~junk]) <= set(region.flag_mids)
    imo = pos["IMO"].dropna().str.replace("IMO", "").astype(int)
    assert len(imo) and imo_valid(imo).all()
    assert pos.loc[pos["TransceiverClass"] == "B", "IMO"].isna().all()
    # one identity per MMSI: a name per MMSI per file, except scenario vessels
    skip = set(vessels.loc[vessels["scenario_id"] >= 0, "mmsi"]) | set(vessels.loc[junk, "mmsi"])
    names = pos[~pos["MMSI"].isin(skip)].groupby("MMSI")["VesselName"].nunique()
    assert (names == 1).all()
    types = pos.groupby("MMSI")["VesselType"].first()
    assert set(types.unique()) <= {0, 30, 31, 33, 50, 52, 53, 60, 69, 70, 71, 72, 74, 79, 80,
                                   81, 82, 84}


def test_never_on_land(sim: Run, sim_settings: Settings) -> None:
    res, pos = sim
    ok = pos["LAT"] != 91
    land = shapely.contains_xy(sim_settings.land(), pos.loc[ok, "LON"], pos.loc[ok, "LAT"])
    assert not land.any()
    assert res.dropped_on_land == 0  # the generators, not the safety net, keep them at sea


def _intervals(pos: pd.DataFrame) -> pd.DataFrame:
    p = pos[(pos["LAT"] != 91) & (pos["SOG"] < 102)].drop_duplicates(["MMSI", "t"])
    p = p.sort_values(["MMSI", "t"])
    dt = p.groupby("MMSI")["t"].diff().dt.total_seconds()
    same_state = (p.groupby("MMSI")["Status"].shift() == p["Status"]) | p["Status"].isna()
    return p.assign(dt=dt)[same_state & dt.notna()]


def test_reporting_intervals_per_class_and_speed(java: Run, sim_settings: Settings) -> None:
    _, pos = java
    iv = _intervals(pos)
    thin = sim_settings.simulate.class_a_underway_thinning
    a, b = iv["TransceiverClass"] == "A", iv["TransceiverClass"] == "B"
    cases = {
        "A under way <= 14 kn": (a & iv["SOG"].between(4, 13.5) & (iv["Status"] == 0), 10 * thin),
        "A 14-23 kn": (a & iv["SOG"].between(14.5, 22.5) & (iv["Status"] == 0), 6 * thin),
        "A at anchor": (a & (iv["Status"] == 1) & (iv["SOG"] < 2), 180),
        "A moored": (a & (iv["Status"] == 5) & (iv["SOG"] < 1), 180),
        "B > 2 kn": (b & (iv["SOG"] > 3), 30),
        "B <= 2 kn": (b & (iv["SOG"] < 1.5), 180),
    }
    for label, (mask, expected) in cases.items():
        d = iv.loc[mask, "dt"]
        assert len(d) > 50, label
        # losses lengthen some gaps; the typical gap is the nominal received interval
        assert 0.75 * expected <= d.median() <= 1.35 * expected, (label, d.median())


def test_static_every_six_minutes_in_nmea(tmp_path: Path, sim_settings: Settings) -> None:
    res = run(sim_settings, tmp_path, fmt="nmea", vessels=30)
    text = (tmp_path / "positions_2024-11-01.nmea").read_text()
    assert "!AIVDM,2,1," in text and "!AIVDM,2,2," in text  # multi-part type 5
    assert res.files[0].static > 30 * 24 * 10 * 0.3


@pytest.mark.parametrize(
    ("types", "lo", "hi"),
    [((70, 79), 0, 17.5), ((80, 89), 0, 16), ((30, 30), 0, 10.5), ((60, 69), 0, 21),
     ((31, 53), 0, 12.5)],
)
def test_speed_ranges_per_type(java: Run, types: tuple[int, int], lo: float, hi: float) -> None:
    _, pos = java
    sog = pos.loc[pos["VesselType"].between(*types) & (pos["SOG"] < 102), "SOG"]
    assert len(sog) > 100
    assert sog.min() >= lo and sog.quantile(0.995) <= hi


def test_fishing_boats_loiter_at_night_near_the_coast(java: Run, sim_settings: Settings) -> None:
    res, pos = java
    f = pos[(pos["VesselType"] == 30) & (pos["Status"].isna() | (pos["Status"] != 5))]
    local_h = (f["t"].dt.tz_convert("Asia/Jakarta").dt.hour)
    slow = f["SOG"] < 4.5
    night = (local_h >= 19) | (local_h < 5)
    assert (slow & night).sum() > 5 * (slow & ~night & (local_h.between(10, 15))).sum()
    from pipeline.simulate.seamap import seamap_for

    sm = seamap_for(sim_settings, sim_settings.regions[res.region])
    d = sm.shore_m(f.loc[slow & night, "LAT"], f.loc[slow & night, "LON"])
    assert np.median(d) < 40_000

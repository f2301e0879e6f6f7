"""Smuggling scenarios: rate, season, and ground truth consistent with the tracks."""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from pipeline import geo
from pipeline.config import Settings
from pipeline.simulate import SimulationResult
from pipeline.simulate.engine import build_world

Run = tuple[SimulationResult, pd.DataFrame]


def _events(res: SimulationResult) -> pd.DataFrame:
    ev = pd.read_csv(res.out / "ground_truth" / "events.csv")
    ev["start"] = pd.to_datetime(ev["start"], utc=True)
    ev["end"] = pd.to_datetime(ev["end"], utc=True)
    return ev


def test_smuggling_fraction_follows_config_and_season(sim_settings: Settings) -> None:
    cfg = sim_settings.simulate
    an = sim_settings.regions["andaman-sea"]
    peak = build_world(sim_settings, an, date(2024, 11, 20), 2, 5, 400)
    assert len(peak.scen.scenarios) == round(cfg.smuggling_fraction * 400)
    monsoon = build_world(sim_settings, an, date(2024, 7, 10), 2, 5, 400)
    assert len(monsoon.scen.scenarios) == 0  # no departures in the monsoon
    feb = build_world(sim_settings, an, date(2024, 2, 10), 2, 5, 400)
    assert 0 < len(feb.scen.scenarios) < len(peak.scen.scenarios)


def test_labelled_share_is_small(andaman: Run) -> None:
    res, _ = andaman
    vd = pd.read_csv(res.out / "ground_truth" / "vessel_days.csv")
    share = vd.groupby("mmsi")["label"].max().mean()
    assert 0 < share < 0.15
    assert set(vd.loc[vd["label"] == 1, "scenario"]) <= {
        "mother_ship", "direct_departure", "transfer_at_sea", "identity_manipulation"}


def test_waiting_mother_ships_are_slow_and_near_their_zone(
        andaman: Run, java: Run, sim_settings: Settings) -> None:
    checked = 0
    for res, pos in (andaman, java):
        region = sim_settings.regions[res.region]
        zones = region.departure_points + region.holding_areas
        ev = _events(res)
        wait = ev[(ev["scenario"] == "mother_ship") & (ev["phase"] == "waiting")]
        for w in wait.itertuples():
            p = pos[(pos["MMSI"] == w.mmsi) & (pos["t"] > w.start) & (pos["t"] < w.end)
                    & (pos["LAT"] != 91)]
            if p.empty:
                continue
            checked += 1
            assert (p.loc[p["SOG"] < 102, "SOG"] <= 2.5).mean() > 0.95
            d = np.min([geo.haversine_m(p["LAT"], p["LON"], *z.centre) - (z.radius_km or 0) * 1e3
                        for z in zones], axis=0)
            assert (d < 5_000).all()
    assert checked >= 1


def test_no_positions_while_dark(andaman: Run, java: Run) -> None:
    checked = 0
    for res, pos in (andaman, java):
        ev = _events(res)
        vessels = pd.read_csv(res.out / "ground_truth" / "vessels.csv")
        shared = set(vessels["mmsi"][vessels["mmsi"].duplicated()])
        for d in ev[ev["phase"] == "dark"].itertuples():
            if d.mmsi in shared:
                continue  # another vessel legitimately transmits this MMSI
            inside = pos[(pos["MMSI"] == d.mmsi) & (pos["t"] > d.start + pd.Timedelta("1min"))
                         & (pos["t"] < d.end - pd.Timedelta("1min"))]
            assert inside.empty, d
            checked += 1
    assert checked >= 1


def test_departure_phase_heads_out(andaman: Run, java: Run) -> None:
    for res, pos in (andaman, java):
        ev = _events(res)
        for d in ev[ev["phase"] == "departure"].itertuples():
            p = pos[(pos["MMSI"] == d.mmsi) & (pos["t"] >= d.start) & (pos["t"] <= d.end)
                    & (pos["SOG"] < 102)]
            if len(p) > 5:
                assert p["SOG"].median() > 4


def test_vessel_days_cover_every_mmsi_with_positions(java: Run) -> None:
    res, pos = java
    vd = pd.read_csv(res.out / "ground_truth" / "vessel_days.csv")
    seen = set(zip(pos["MMSI"], pos["t"].dt.date.astype(str), strict=True))
    assert seen <= set(zip(vd["mmsi"], vd["date"], strict=True))


def test_incidents_and_port_calls_files(java: Run, andaman: Run) -> None:
    for res, _ in (java, andaman):
        inc = pd.read_csv(res.out / "incidents.csv")
        assert list(inc.columns) == [
            "report_date", "incident_date", "place", "lat", "lon", "mmsi", "imo", "name",
            "call_sign", "outcome", "reporting_agency"]
        assert (pd.to_datetime(inc["report_date"]) > pd.to_datetime(inc["incident_date"])).all()
        assert len(inc) <= len(_events(res).groupby(["scenario"]).size()) * 100
        pc = pd.read_csv(res.out / "port_calls.csv", dtype=str)
        assert len(pc) == res.port_calls > 0
        assert pc["arrival_time"].str.endswith("Z").all()

"""Encounter detector: exact answers on hand-built tracks, the bucketed pair search against
brute force (and its tile split), and the transfer-at-sea scenario of the simulator."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.config import Settings, load_settings
from pipeline.events.base import DetectContext
from pipeline.events.encounter import Grid, cell_size_deg, close_pairs, detect_encounter
from pipeline.geo import destination_point, haversine_m
from pipeline.lake import Lake
from pipeline.schemas import EVENTS, PORT_CALLS, VESSEL_STATIC
from pipeline.simulate import simulate
from pipeline.tracks import track_from_table
from tests.events.positions import position_table

DAY = date(2024, 11, 2)
D0 = datetime(2024, 11, 2, tzinfo=UTC)
SEA = (-10.0, 112.0)  # ~200 km south of Java, far from any port or anchorage
A, B, C = 525000001, 525000002, 525000003


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings()


def ctx_for(settings: Settings) -> DetectContext:
    return DetectContext(settings, DAY, VESSEL_STATIC.empty_table(), PORT_CALLS.empty_table())


def fixes(mmsi: int, t0: datetime, t1: datetime, step_min: float, lat: float, lon: float,
          sog: float | None = 0.5) -> list[dict[str, object]]:
    n = int((t1 - t0) / timedelta(minutes=step_min)) + 1
    return [{"mmsi": mmsi, "timestamp": t0 + timedelta(minutes=step_min * i), "lat": lat,
             "lon": lon, "sog_kn": sog} for i in range(n)]


def table(rows: list[dict[str, object]]) -> pa.Table:
    f = pd.DataFrame(rows)
    return position_table(f["mmsi"].to_numpy(), list(f["timestamp"]), f["lat"].to_numpy(),
                          f["lon"].to_numpy(), f["sog_kn"].to_numpy(dtype=float, na_value=np.nan))


def detect(settings: Settings, rows: list[dict[str, object]]) -> pd.DataFrame:
    track = track_from_table(table(rows), DAY, settings.events)
    ev = detect_encounter(track, ctx_for(settings))
    assert ev.schema == EVENTS
    return ev.to_pandas().sort_values(["start_time", "mmsi"]).reset_index(drop=True)


def offset(lat: float, lon: float, bearing: float, m: float) -> tuple[float, float]:
    la, lo = destination_point(lat, lon, bearing, m)
    return float(la), float(lo)


def test_encounter_across_midnight_exact(settings: Settings) -> None:
    """Two slow vessels 100 m apart from 22:00 on D-1 to 02:00 on D: one event per vessel,
    whole, with its real start; daylight at 112 E (local 05:28-09:28), so no night hours."""
    blat, blon = offset(*SEA, 90.0, 100.0)
    t0, t1 = D0 - timedelta(hours=2), D0 + timedelta(hours=2)
    rows = fixes(A, t0, t1, 5, *SEA) + fixes(B, t0, t1, 5, blat, blon)
    rows += [{"mmsi": C, "timestamp": D0, "lat": SEA[0], "lon": SEA[1] + 0.0005,
              "sog_kn": 0.0}]  # a single-point vessel right beside them: no event
    ev = detect(settings, rows)
    assert len(ev) == 2
    assert ev["mmsi"].tolist() == [A, B] and ev["partner_mmsi"].tolist() == [B, A]
    assert (ev["start_time"] == pd.Timestamp(t0)).all()
    assert (ev["end_time"] == pd.Timestamp(t1)).all()
    assert ev["duration_h"].tolist() == [4.0, 4.0]
    assert ev["positions"].tolist() == [49, 49]
    assert ev["distance_m"].iloc[0] == pytest.approx(100.0, abs=0.01)
    assert ev["night_h"].tolist() == [0.0, 0.0]
    assert ev["lat"].iloc[0] == pytest.approx(SEA[0]) and ev["lon"].iloc[1] == pytest.approx(blon)
    assert ev["event_id"].nunique() == 2 and not ev["open"].any()
    assert (ev["distance_to_shore_m"] > 100_000).all()
    assert (ev["event_type"] == "encounter").all()


def test_night_hours_and_interpolation_between_fixes(settings: Settings) -> None:
    """Fixes every 25 min, off the grid: positions are interpolated onto the 10-min bins; the
    event runs 13:00-15:00 UTC (20:28-22:28 local), all at night."""
    blat, blon = offset(*SEA, 0.0, 300.0)
    t0 = D0 + timedelta(hours=12, minutes=55)
    rows = fixes(A, t0, t0 + timedelta(minutes=150), 25, *SEA)
    rows += fixes(B, t0 + timedelta(minutes=3), t0 + timedelta(minutes=128), 25, blat, blon)
    ev = detect(settings, rows)
    assert len(ev) == 2
    assert (ev["start_time"] == pd.Timestamp(D0 + timedelta(hours=13))).all()
    assert (ev["end_time"] == pd.Timestamp(D0 + timedelta(hours=15))).all()
    assert ev["night_h"].tolist() == [2.0, 2.0]
    assert ev.loc[ev["mmsi"] == A, "positions"].item() == 5  # 13:20 13:45 14:10 14:35 15:00
    assert ev.loc[ev["mmsi"] == B, "positions"].item() == 4  # 13:23 13:48 14:13 14:38
    assert ev["distance_m"].iloc[0] == pytest.approx(300.0, abs=0.01)


def test_too_far_too_fast_too_short_or_gappy_is_no_encounter(settings: Settings) -> None:
    t0 = D0 + timedelta(hours=3)
    far = offset(*SEA, 45.0, 600.0)  # beyond 500 m
    rows = fixes(A, t0, t0 + timedelta(hours=2), 5, *SEA) + \
        fixes(B, t0, t0 + timedelta(hours=2), 5, *far)
    assert detect(settings, rows).empty
    near = offset(*SEA, 45.0, 200.0)
    fast = fixes(A, t0, t0 + timedelta(hours=2), 5, *SEA, sog=8.0) + \
        fixes(B, t0, t0 + timedelta(hours=2), 5, *near, sog=8.0)
    assert detect(settings, fast).empty
    short = fixes(A, t0, t0 + timedelta(minutes=20), 5, *SEA) + \
        fixes(B, t0, t0 + timedelta(minutes=20), 5, *near)
    assert detect(settings, short).empty
    # fixes 2 h apart: no interpolation across the silence, so only isolated grid points
    gappy = fixes(A, t0, t0 + timedelta(hours=6), 120, *SEA) + \
        fixes(B, t0, t0 + timedelta(hours=6), 120, *near)
    assert detect(settings, gappy).empty
    # SOG missing: the implied speed (stationary) decides, so this one is an encounter
    nosog = fixes(A, t0, t0 + timedelta(hours=1), 5, *SEA, sog=None) + \
        fixes(B, t0, t0 + timedelta(hours=1), 5, *near, sog=None)
    assert len(detect(settings, nosog)) == 2


def test_side_by_side_at_an_anchorage_is_excluded_but_not_near_the_coast(
        settings: Settings) -> None:
    """Ships at anchor next to each other within 3 km of a configured anchorage are not an
    encounter; the same pair off a departure beach, close to the coast, is."""
    anch = settings.anchorages.iloc[0]
    p = offset(float(anch["lat"]), float(anch["lon"]), 180.0, 1000.0)
    q = offset(*p, 90.0, 150.0)
    t0 = D0 + timedelta(hours=3)
    rows = fixes(A, t0, t0 + timedelta(hours=3), 5, *p) + \
        fixes(B, t0, t0 + timedelta(hours=3), 5, *q)
    assert detect(settings, rows).empty
    from pipeline.events.port_visit import places

    deps = [z.centre for r in settings.regions.values() for z in r.departure_points]
    d, _ = places(settings).nearest_m(np.array([c[0] for c in deps]), np.array([c[1] for c in deps]))
    lat, lon = deps[int(np.flatnonzero(d > 5000)[0])]  # a beach away from ports
    rows = fixes(A, t0, t0 + timedelta(hours=3), 5, lat, lon) + \
        fixes(B, t0, t0 + timedelta(hours=3), 5, *offset(lat, lon, 90.0, 150.0))
    ev = detect(settings, rows)
    assert len(ev) == 2 and (ev["distance_to_departure_m"] == 0).all()


def test_three_vessels_give_three_pairs(settings: Settings) -> None:
    t0 = D0 + timedelta(hours=3)
    rows = [r for i, m in enumerate((A, B, C))
            for r in fixes(m, t0, t0 + timedelta(hours=1), 5, *offset(*SEA, 90.0, 100.0 * i))]
    ev = detect(settings, rows)
    assert len(ev) == 6
    pairs = {(int(a), int(b)) for a, b in zip(ev["mmsi"], ev["partner_mmsi"], strict=True)}
    assert pairs == {(A, B), (B, A), (A, C), (C, A), (B, C), (C, B)}


@pytest.mark.parametrize("lat0", [-10.0, 0.0, 20.0, 55.0])
def test_bucketed_pairs_equal_brute_force_and_tiles_equal_one_process(
        settings: Settings, lat0: float) -> None:
    """Random points packed around cell boundaries: without the crowd cap the 5-key cell
    search finds exactly the pairs within the distance (brute force); with or without it, a
    split into two tiles with a two-cell halo, keeping pairs by owner, gives the same pairs."""
    rng = np.random.default_rng(int(lat0) + 100)
    n = 1500
    lat = lat0 + rng.uniform(-0.02, 0.02, n)
    lon = 112.0 + rng.uniform(-0.02, 0.02, n)
    g = Grid(np.arange(1, n + 1, dtype=np.int64) + 525_000_000, rng.integers(0, 3, n),
             lat, lon)
    uncapped = settings.model_copy(update={"events": settings.events.model_copy(
        update={"encounter_max_crowd_vessels": 10**6})})
    d = haversine_m(lat[:, None], lon[:, None], lat[None, :], lon[None, :])
    same_k = g.k[:, None] == g.k[None, :]
    i, j = np.nonzero(np.triu((d <= settings.events.encounter_max_distance_m) & same_k, 1))
    brute = set(zip(g.mmsi[i].tolist(), g.mmsi[j].tolist(), g.k[i].tolist(), strict=True))
    for s in (uncapped, settings):
        ctx = ctx_for(s)
        got = close_pairs(g, ctx)
        found = set(zip(got.a.tolist(), got.b.tolist(), got.k.tolist(), strict=True))
        assert len(found) == len(got.a)  # each pair once
        if s is uncapped:
            assert found == brute and len(brute) > 100
        else:
            assert found < brute  # this cloud is one big crowd (~50 vessels per 3x3 cells)
        # two tiles split at a longitude, each with a halo of two cells (in degrees)
        cut = float(np.median(lon))
        dlat, width = cell_size_deg(s.events, lat0 + 0.03 * np.sign(lat0 or 1))
        tiles = []
        for proper in (lon < cut, lon >= cut):
            halo = (lon >= lon[proper].min() - 2 * width) & \
                (lon <= lon[proper].max() + 2 * width) & \
                (lat >= lat[proper].min() - 2 * dlat) & (lat <= lat[proper].max() + 2 * dlat)
            sub = np.flatnonzero(halo)
            tiles.append(close_pairs(g.take(sub), ctx, owner=proper[sub]))
        tiled = {(a, b, k) for t in tiles
                 for a, b, k in zip(t.a.tolist(), t.b.tolist(), t.k.tolist(), strict=True)}
        assert tiled == found and sum(len(t.a) for t in tiles) == len(found)


def test_crowded_mooring_is_not_a_swarm_of_encounters(settings: Settings) -> None:
    """Twelve boats moored together (more than encounter_max_crowd_vessels within a cell or
    two) make no encounter: without the cap they would make 66 pairs."""
    t0 = D0 + timedelta(hours=3)
    rows = [r for i in range(12)
            for r in fixes(A + i, t0, t0 + timedelta(hours=2), 5,
                           *offset(*SEA, 30.0 * i, 20.0 * i))]
    assert detect(settings, rows).empty


# ------------------------------------------------------------------ simulated transfer at sea


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """Two days of south-indonesia with more smuggling than usual (seed 1 holds a transfer at
    sea on the second day), detected on day 2 with day 1 as look-back."""
    from pipeline.ingest.ais import ingest_ais
    from pipeline.tracks import load_track

    s = load_settings(env={"VESSEL_RISK__SIMULATE__SMUGGLING_FRACTION": "0.1"})
    out = tmp_path_factory.mktemp("sim_encounter")
    simulate(s, "south-indonesia", date(2024, 11, 1), 2, 1, out, "parquet", vessels=100)
    lake = Lake(out / "lake")
    ingest_ais(sorted(out.glob("positions_*.parquet")), lake)
    track = load_track(lake, DAY, s.events)
    ev = detect_encounter(track, DetectContext(s, DAY, VESSEL_STATIC.empty_table(),
                                                PORT_CALLS.empty_table()))
    return out, ev.to_pandas()


def test_transfer_at_sea_yields_an_encounter(simulated: tuple[Path, pd.DataFrame]) -> None:
    out, ev = simulated
    gt = pd.read_csv(out / "ground_truth" / "events.csv", parse_dates=["start", "end"])
    rdv = gt[(gt["scenario"] == "transfer_at_sea") & (gt["phase"] == "rendezvous")]
    assert len(rdv) == 2
    a, b = sorted(rdv["mmsi"].tolist())
    got = ev[(ev["mmsi"] == a) & (ev["partner_mmsi"] == b)]
    assert len(got) == 1
    start, end = rdv["start"].iloc[0], rdv["end"].iloc[0]
    e = got.iloc[0]
    # the event lies inside the rendezvous and covers most of it (10-min grid)
    assert start <= e["start_time"] and e["end_time"] <= end
    assert (e["end_time"] - e["start_time"]) >= (end - start) - pd.Timedelta(minutes=20)
    assert e["distance_m"] < 150 and e["distance_to_shore_m"] > 20_000
    assert len(ev[(ev["mmsi"] == b) & (ev["partner_mmsi"] == a)]) == 1


def test_no_encounters_at_ports_or_between_moving_ships(
        simulated: tuple[Path, pd.DataFrame]) -> None:
    """Anchored ships wait off ports and merchant ships berth: none of their encounters lies
    within 3 km of a configured port or anchorage; no encounter involves a ship under way."""
    out, ev = simulated
    s = load_settings()
    from pipeline.events.port_visit import places

    d, _ = places(s).nearest_m(ev["lat"].to_numpy(), ev["lon"].to_numpy())
    assert (d >= s.events.encounter_min_port_distance_km * 1000 - 500).all()
    kinds = pd.read_csv(out / "ground_truth" / "vessels.csv").set_index("mmsi")["kind"]
    anchored = ev[ev["mmsi"].map(kinds).eq("anchored") & ev["partner_mmsi"].map(kinds)
                  .eq("anchored")]
    assert anchored.empty

"""Port visits: hysteresis on hand-built tracks with exact answers, reconciliation with declared
calls, and the simulator's port calls (with deliberate omissions and a phantom call)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.config import Settings, load_settings
from pipeline.events.base import DetectContext
from pipeline.events.port_visit import NO_AIS, UNDECLARED, detect_port_visit
from pipeline.geo import destination_point
from pipeline.lake import Lake
from pipeline.schemas import EVENTS, PORT_CALLS, VESSEL_STATIC
from pipeline.simulate import simulate
from pipeline.tracks import track_from_table
from tests.events.positions import position_table

DAY = date(2024, 11, 2)
D0 = datetime(2024, 11, 2, tzinfo=UTC)
BROOME = (-17.96667, 122.23333)  # AUBME: no other port or anchorage within 600 km
A, B, C, X = 503000001, 503000002, 503000003, 503000009


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings()


def at_km(km: float, bearing: float = 200.0) -> tuple[float, float]:
    la, lo = destination_point(BROOME[0], BROOME[1], bearing, km * 1000)
    return float(la), float(lo)


def rows_for(mmsi: int, t0: datetime, step_min: float, kms: list[float]
             ) -> list[dict[str, object]]:
    return [{"mmsi": mmsi, "timestamp": t0 + timedelta(minutes=step_min * i),
             "lat": at_km(k)[0], "lon": at_km(k)[1]} for i, k in enumerate(kms)]


def table(rows: list[dict[str, object]]) -> pa.Table:
    f = pd.DataFrame(rows)
    return position_table(f["mmsi"].to_numpy(), list(f["timestamp"]), f["lat"].to_numpy(),
                          f["lon"].to_numpy(), 1.0)


def calls(rows: list[tuple[str, int, str, datetime, datetime | None]]) -> pa.Table:
    cols: dict[str, list[object]] = {f.name: [] for f in PORT_CALLS}
    for i, (cid, mmsi, locode, arr, dep) in enumerate(rows):
        vals = {"call_id": cid, "mmsi": mmsi, "port_locode": locode, "port_name": locode,
                "arrival_time": arr, "departure_time": dep, "source_id": "s",
                "source_line": i + 1}
        for k in cols:
            cols[k].append(vals.get(k))
    return pa.table(cols, schema=PORT_CALLS)


def detect(settings: Settings, rows: list[dict[str, object]], pcs: pa.Table | None = None
           ) -> pd.DataFrame:
    track = track_from_table(table(rows), DAY, settings.events)
    ctx = DetectContext(settings, DAY, VESSEL_STATIC.empty_table(),
                        pcs if pcs is not None else PORT_CALLS.empty_table())
    ev = detect_port_visit(track, ctx)
    assert ev.schema == EVENTS
    return ev.to_pandas().sort_values(["mmsi", "start_time"]).reset_index(drop=True)


def test_hysteresis_across_midnight_exact(settings: Settings) -> None:
    """In at 2.5 km (22:00 on D-1), out to 3.5 km and back (still in: below the 4 km exit),
    beyond 4 km at 01:30 on D: one visit, whole, 22:00 → 01:00 (last position inside)."""
    t0 = D0 - timedelta(hours=3)
    kms = [10, 6, 2.5, 1, 0.5, 3.5, 1, 0.5, 3.9, 4.5, 10]  # every 30 min from 21:00
    ev = detect(settings, rows_for(A, t0, 30, kms))
    assert len(ev) == 1
    e = ev.iloc[0]
    assert e["start_time"] == pd.Timestamp(D0 - timedelta(hours=2))
    assert e["end_time"] == pd.Timestamp(D0 + timedelta(hours=1))
    assert e["duration_h"] == 3.0 and e["positions"] == 7
    assert e["zone_id"] == "AUBME" and e["detail"] == UNDECLARED
    assert (e["lat"], e["lon"]) == pytest.approx(at_km(3.5))  # middle position (23:30)
    assert e["event_type"] == "port_visit" and not e["open"]


def test_exit_and_reentry_make_two_visits_and_a_gap_splits(settings: Settings) -> None:
    t0 = D0 + timedelta(hours=1)
    ev = detect(settings, rows_for(A, t0, 30, [1, 1, 5, 1, 1]))
    assert ev["start_time"].tolist() == [pd.Timestamp(t0), pd.Timestamp(t0 + timedelta(hours=1.5))]
    assert ev["positions"].tolist() == [2, 2]
    # a silence longer than segment_gap_h (6 h) ends the visit even without leaving
    rows = rows_for(B, t0, 30, [1, 1]) + rows_for(B, t0 + timedelta(hours=8), 30, [1, 1])
    assert len(detect(settings, rows)) == 2
    # a segment that starts between the two radii is not in port until it comes within 3 km
    rows = rows_for(C, t0, 30, [3.5, 3.5, 2, 3.5])
    ev = detect(settings, rows)
    assert ev["start_time"].tolist() == [pd.Timestamp(t0 + timedelta(hours=1))]
    assert ev["positions"].tolist() == [2]


def test_single_point_vessel_and_vessel_without_static(settings: Settings) -> None:
    """A lone position inside the port is a zero-length visit; static data is not needed."""
    ev = detect(settings, rows_for(A, D0 + timedelta(hours=5), 30, [0.2]))
    assert len(ev) == 1 and ev["duration_h"].item() == 0.0 and ev["positions"].item() == 1
    assert detect(settings, rows_for(B, D0, 30, [20])).empty  # far away: nothing


def test_reconciliation_with_declared_calls(settings: Settings) -> None:
    """A's visit is declared (arrival 3 h after it started: within the 6 h tolerance); B's is
    not; A's second call (Wyndham) has no AIS presence; X's call is not covered (no AIS);
    a call still open (no departure) is never emitted as missing."""
    t0 = D0 + timedelta(hours=2)
    rows = rows_for(A, t0, 60, [10, 1, 1, 1, 1, 10]) + rows_for(B, t0, 60, [10, 1, 1, 10])
    wyn_arr, wyn_dep = D0 + timedelta(hours=12), D0 + timedelta(hours=20)
    pcs = calls([
        ("call-a1", A, "AUBME", t0 + timedelta(hours=4), t0 + timedelta(hours=9)),
        ("call-a2", A, "AUWYN", wyn_arr, wyn_dep),
        ("call-a3", A, "AUWYN", D0 + timedelta(hours=21), None),
        ("call-b-elsewhere", B, "AUWYN", t0, t0 + timedelta(hours=3)),
        ("call-x", X, "AUBME", t0, t0 + timedelta(hours=3)),
    ])
    ev = detect(settings, rows, pcs)
    a = ev[ev["mmsi"] == A]
    assert a["detail"].tolist() == ["declared call call-a1", NO_AIS]
    missing = a.iloc[1]
    wyn = settings.port_by_locode["AUWYN"]
    assert missing["start_time"] == pd.Timestamp(wyn_arr)
    assert missing["end_time"] == pd.Timestamp(wyn_dep)
    assert (missing["lat"], missing["lon"]) == (wyn.lat, wyn.lon)
    assert missing["positions"] == 0 and missing["zone_id"] == "AUWYN"
    assert missing["duration_h"] == 8.0
    b = ev[ev["mmsi"] == B]
    # B's visit is at Broome, its call at Wyndham (600 km away): no match either way
    assert sorted(b["detail"].tolist()) == sorted([UNDECLARED, NO_AIS])
    assert X not in set(ev["mmsi"])
    assert ev["event_id"].is_unique


# ------------------------------------------------------------------ simulated port calls


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory, settings: Settings
              ) -> tuple[pd.DataFrame, pd.DataFrame, list[str], str]:
    """Two simulated days; before ingest, three filed calls are withheld (they must show up
    as undeclared visits) and one phantom call is added for a vessel seen elsewhere (it must
    show up as a declared call without AIS presence)."""
    from pipeline.ingest.ais import ingest_ais
    from pipeline.ingest.port_calls import ingest_port_calls
    from pipeline.tracks import load_track

    out = tmp_path_factory.mktemp("sim_port_visit")
    simulate(settings, "south-indonesia", date(2024, 11, 1), 2, 3, out, "parquet", vessels=100)
    filed = pd.read_csv(out / "port_calls.csv", dtype=str, keep_default_na=False)
    done = filed[(filed["departure_time"] != "") & (filed["arrival_time"] >= "2024-11-01T06")]
    withheld = done.drop_duplicates("mmsi").head(3)
    kept = filed.drop(withheld.index)
    phantom = kept.iloc[[0]].copy()
    phantom["port"] = "AUBME"
    phantom["arrival_time"], phantom["departure_time"] = "2024-11-02T01:00:00Z", \
        "2024-11-02T09:00:00Z"
    pd.concat([kept, phantom]).to_csv(out / "calls_edited.csv", index=False)
    lake = Lake(out / "lake")
    ingest_ais(sorted(out.glob("positions_*.parquet")), lake)
    ingest_port_calls([out / "calls_edited.csv"], lake, settings.resolve_port_call)
    track = load_track(lake, DAY, settings.events)
    ctx = DetectContext(settings, DAY, VESSEL_STATIC.empty_table(),
                        lake.read("port_calls", date(2024, 11, 1), date(2024, 11, 3)))
    ev = detect_port_visit(track, ctx).to_pandas()
    seen = set(np.unique(track.mmsi).tolist())
    filed_seen = kept[kept["mmsi"].astype(int).isin(seen) & (kept["departure_time"] != "")]
    return ev, filed_seen, withheld["mmsi"].tolist(), str(phantom["mmsi"].item())


def test_simulated_calls_mostly_reconcile(simulated: tuple[pd.DataFrame, pd.DataFrame,
                                                           list[str], str]) -> None:
    ev, filed_seen, _, _ = simulated
    declared = ev["detail"].str.startswith("declared call ") & (ev["detail"] != NO_AIS)
    matched = {d.removeprefix("declared call ") for d in ev.loc[declared, "detail"]}
    assert len(filed_seen) >= 20
    missing = (ev["detail"] == NO_AIS).sum()
    # every filed call of a seen vessel either matches a visit or is reported missing
    assert missing - 1 <= 0.2 * len(filed_seen)  # the phantom is one of them
    assert len(matched) >= 0.7 * len(filed_seen)


def test_withheld_calls_are_undeclared_and_phantom_is_missing(
        simulated: tuple[pd.DataFrame, pd.DataFrame, list[str], str]) -> None:
    ev, _, withheld, phantom = simulated
    for m in withheld:
        mine = ev[ev["mmsi"] == int(m)]
        assert (mine["detail"] == UNDECLARED).any(), m
    ph = ev[(ev["mmsi"] == int(phantom)) & (ev["zone_id"] == "AUBME")]
    assert ph["detail"].tolist() == [NO_AIS] and ph["positions"].tolist() == [0]

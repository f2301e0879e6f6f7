"""identity_conflict: exact answers on hand-built tracks and identities (two places at once,
unallocated MIDs, flags, name and call-sign changes, midnight, single fix, no static data)
and a simulated smuggling boat sent under a fishing boat's MMSI."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline import geo
from pipeline.config import Settings, load_settings
from pipeline.events.base import DetectContext
from pipeline.events.identity import detect_identity_conflict
from pipeline.ingest.ais import ingest_ais
from pipeline.lake import Lake
from pipeline.schemas import PORT_CALLS, VESSEL_STATIC
from pipeline.simulate import simulate
from pipeline.tracks import TRACK_COLUMNS, track_from_table
from tests.events.positions import position_table

DAY = date(2024, 11, 2)
SEA = (-9.0, 108.0)
FAR = (-9.0, 108.6)  # ~66 km east
ID_SHIP = 525_123_456  # MID 525: Indonesia
BAD_MID = 217_123_456  # MID 217: in the ship range, not allocated


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(env={})


def t_us(s: str) -> int:
    return int(datetime.fromisoformat(s + "+00:00").timestamp() * 1_000_000)


def fixes(mmsi: int, times: list[str], places: list[tuple[float, float]]) -> pa.Table:
    return position_table([mmsi] * len(times), [t_us(t) for t in times],
                          [p[0] for p in places], [p[1] for p in places], 5.0, None, "B")


def minutes(start: str, n: int, step: int = 1) -> list[str]:
    t0 = datetime.fromisoformat(start)
    return [(t0 + timedelta(minutes=step * k)).isoformat() for k in range(n)]


def static(rows: list[dict[str, Any]]) -> pa.Table:
    full = [{"source_id": "test", "source_line": i + 1, **r,
             "timestamp": datetime.fromisoformat(r["timestamp"] + "+00:00")}
            for i, r in enumerate(rows)]
    return pa.Table.from_pylist(full, schema=VESSEL_STATIC)


def calls(rows: list[dict[str, Any]]) -> pa.Table:
    full = [{"call_id": f"c{i}", "source_id": "test", "source_line": i + 1,
             "port_locode": "IDCXP", "port_name": "Cilacap", **r,
             "arrival_time": datetime.fromisoformat(r["arrival_time"] + "+00:00")}
            for i, r in enumerate(rows)]
    return pa.Table.from_pylist(full, schema=PORT_CALLS)


def detect(settings: Settings, pos: pa.Table, st: pa.Table | None = None,
           pc_: pa.Table | None = None, day: date = DAY) -> pd.DataFrame:
    ctx = DetectContext(settings, day, st if st is not None else pa.table({}),
                        pc_ if pc_ is not None else pa.table({}))
    out = detect_identity_conflict(track_from_table(pos, day, settings.events), ctx).to_pandas()
    out["kind"] = out.detail.str.split(":").str[0]
    return out.sort_values(["mmsi", "kind", "start_time"]).reset_index(drop=True)


def test_two_places_at_once(settings: Settings) -> None:
    # 8 stretches of 2 fixes, alternating between two places 66 km apart, a minute apart from
    # 23:50 on 1 Nov: 7 jumps, 4 on 1 Nov and 3 on 2 Nov (one event per vessel and day)
    times = minutes("2024-11-01T23:50:00", 16)
    places = [SEA if (k // 2) % 2 == 0 else FAR for k in range(16)]
    # a vessel with one isolated glitch (removed by the track builder) and one with a single
    # two-fix excursion (2 jumps: below the 3 needed)
    glitch = [SEA] * 5 + [FAR] + [SEA] * 5
    excursion = [SEA] * 4 + [FAR] * 2 + [SEA] * 4
    pos = pa.concat_tables([
        fixes(ID_SHIP, times, places),
        fixes(ID_SHIP + 1, minutes("2024-11-02T03:00:00", 11), glitch),
        fixes(ID_SHIP + 2, minutes("2024-11-02T03:00:00", 10), excursion),
    ])
    ev = detect(settings, pos)
    assert list(zip(ev.mmsi, ev.kind, strict=True)) == [(ID_SHIP, "position_conflict")] * 2
    jumps = [k for k in range(1, 16) if places[k] != places[k - 1]]  # 2, 4, ..., 14
    for e, day_jumps, iso in ((ev.iloc[0], jumps[:4], "2024-11-01"),
                              (ev.iloc[1], jumps[4:], "2024-11-02")):
        assert e.start_time == pd.Timestamp(times[day_jumps[0] - 1] + "Z")
        assert e.end_time == pd.Timestamp(times[day_jumps[-1]] + "Z")
        assert f"{len(day_jumps)} jumps above 50 kn on {iso}" in e.detail
        assert (e.lat, e.lon) == places[day_jumps[0] - 1]
    e = ev.iloc[1]
    assert e.end_time.date() == DAY  # the event of day D (the driver keeps this one)
    d = geo.haversine_m(*SEA, *FAR) / 1000
    assert f"median jump {d:.1f} km" in e.detail
    assert pd.isna(e.partner_mmsi)


def test_unallocated_mid_one_event_per_day(settings: Settings) -> None:
    pos = pa.concat_tables([
        fixes(BAD_MID, minutes("2024-11-01T22:00:00", 5, 30), [SEA] * 5),  # 22:00 .. 00:00
        fixes(ID_SHIP, minutes("2024-11-02T01:00:00", 1), [SEA]),  # single fix, valid
    ])
    ev = detect(settings, pos)
    assert list(ev.kind) == ["invalid_mid", "invalid_mid"]
    assert list(ev.start_time) == [pd.Timestamp("2024-11-01T22:00:00Z"),
                                   pd.Timestamp("2024-11-02T00:00:00Z")]
    assert list(ev.end_time) == [pd.Timestamp("2024-11-01T23:30:00Z"),
                                 pd.Timestamp("2024-11-02T00:00:00Z")]
    assert "MID 217, not allocated" in ev.detail.iloc[0]
    assert len(set(ev.event_id)) == 2


def test_flag_from_mid_against_declared_flags(settings: Settings) -> None:
    pos = pa.concat_tables([fixes(ID_SHIP, minutes("2024-11-02T01:00:00", 3), [SEA] * 3),
                            fixes(ID_SHIP + 7, minutes("2024-11-02T01:00:00", 3), [SEA] * 3)])
    pcs = calls([
        {"mmsi": ID_SHIP, "flag": "pa", "arrival_time": "2024-11-02T04:00:00"},  # mismatch
        {"mmsi": ID_SHIP, "flag": "PA", "arrival_time": "2024-11-02T09:00:00"},  # same day
        {"mmsi": ID_SHIP + 7, "flag": "ID", "arrival_time": "2024-11-02T05:00:00"},  # fine
        {"mmsi": 533_000_001, "flag": "PA", "arrival_time": "2024-11-02T05:00:00"},  # no AIS
        {"mmsi": ID_SHIP + 7, "flag": None, "arrival_time": "2024-11-02T06:00:00"},
    ])
    st = static([{"mmsi": ID_SHIP + 7, "timestamp": "2024-11-02T07:00:00", "flag": "MY"}])
    ev = detect(settings, pos, st, pcs)
    assert list(zip(ev.mmsi, ev.kind, strict=True)) == [
        (ID_SHIP, "flag_mismatch"), (ID_SHIP + 7, "flag_mismatch")]
    a, b = ev.iloc[0], ev.iloc[1]
    assert a.start_time == pd.Timestamp("2024-11-02T04:00:00Z")
    assert a.end_time == pd.Timestamp("2024-11-02T09:00:00Z")
    assert "MID 525 of MMSI 525123456 is ID" in a.detail and "PA (port call IDCXP" in a.detail
    assert b.start_time == b.end_time == pd.Timestamp("2024-11-02T07:00:00Z")
    assert "declared MY (static report" in b.detail


def test_name_and_call_sign_changes(settings: Settings) -> None:
    pos = pa.concat_tables([
        fixes(ID_SHIP, minutes("2024-11-01T20:00:00", 4, 120), [SEA] * 4),
        fixes(ID_SHIP + 3, minutes("2024-11-02T01:00:00", 2), [SEA] * 2),  # no static data
        fixes(ID_SHIP + 4, minutes("2024-11-02T01:00:00", 2), [SEA] * 2),  # steady identity
    ])
    st = static([
        {"mmsi": ID_SHIP, "timestamp": "2024-11-01T23:00:00", "name": "SUMBER REZEKI",
         "call_sign": "PKAB1"},
        {"mmsi": ID_SHIP, "timestamp": "2024-11-02T01:00:00", "name": " sumber  rezeki ",
         "call_sign": ""},  # the same name; empty call sign ignored
        {"mmsi": ID_SHIP, "timestamp": "2024-11-02T05:00:00", "name": "BINTANG LAUT",
         "call_sign": "PKAB1"},
        {"mmsi": ID_SHIP + 4, "timestamp": "2024-11-02T01:00:00", "name": "KM JAYA",
         "call_sign": "PKZZ9"},
        {"mmsi": ID_SHIP + 4, "timestamp": "2024-11-02T02:00:00", "name": "KM JAYA",
         "call_sign": "PKZZ9"},
        {"mmsi": 533_000_001, "timestamp": "2024-11-02T02:00:00", "name": "X"},  # no AIS
        {"mmsi": 533_000_001, "timestamp": "2024-11-02T03:00:00", "name": "Y"},
    ])
    ev = detect(settings, pos, st)
    assert list(zip(ev.mmsi, ev.kind, strict=True)) == [(ID_SHIP, "name_change")]
    e = ev.iloc[0]
    assert e.detail == "name_change: name changed: SUMBER REZEKI → BINTANG LAUT"
    assert e.start_time == pd.Timestamp("2024-11-02T01:00:00Z")
    assert e.end_time == pd.Timestamp("2024-11-02T05:00:00Z")
    # a change across midnight, and a call sign swapped back and forth in one day
    st2 = static([
        {"mmsi": ID_SHIP, "timestamp": "2024-11-01T23:00:00", "name": "A", "call_sign": "C1"},
        {"mmsi": ID_SHIP, "timestamp": "2024-11-02T01:00:00", "name": "B", "call_sign": "C2"},
        {"mmsi": ID_SHIP, "timestamp": "2024-11-02T02:00:00", "name": "B", "call_sign": "C1"},
        {"mmsi": ID_SHIP, "timestamp": "2024-11-02T03:00:00", "name": "B", "call_sign": "C2"},
    ])
    ev = detect(settings, pos, st2)
    assert list(ev.kind) == ["call_sign_change", "name_change"]
    cs, nm = ev.iloc[0], ev.iloc[1]
    assert nm.start_time == pd.Timestamp("2024-11-01T23:00:00Z")
    assert nm.end_time == pd.Timestamp("2024-11-02T01:00:00Z")
    assert cs.detail == "call_sign_change: call sign changed 3 times: C1 → C2, C2 → C1"
    assert (cs.start_time, cs.end_time) == (pd.Timestamp("2024-11-01T23:00:00Z"),
                                            pd.Timestamp("2024-11-02T03:00:00Z"))
    assert (nm.lat, nm.lon) == SEA  # the vessel's position at the evidence


def test_simulated_shared_mmsi(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Seed 61: a smuggling boat borrows a fishing boat's MMSI (and another name) while
    both transmit; no other vessel has an identity conflict."""
    s = load_settings(env={"VESSEL_RISK__SIMULATE__SMUGGLING_FRACTION": "0.05"})
    out = tmp_path_factory.mktemp("identity_sim")
    start = date(2024, 11, 1)
    simulate(s, "south-indonesia", start, 2, 61, out / "landing", "parquet", vessels=100)
    lake = Lake(out / "lake")
    ingest_ais(sorted((out / "landing").glob("positions_*.parquet")), lake)
    vessels = pd.read_csv(out / "landing" / "ground_truth" / "vessels.csv")
    shared = set(vessels.mmsi[vessels.mmsi.duplicated()])
    assert len(shared) == 1
    found = []
    for day in (start, start + timedelta(days=1)):
        ctx = DetectContext(s, day, lake.read("vessel_static", start, day),
                            lake.read("port_calls", start, day))
        pos = lake.read("positions", start, day, columns=TRACK_COLUMNS)
        ev = detect_identity_conflict(track_from_table(pos, day, s.events), ctx).to_pandas()
        found.append(ev[ev.end_time.dt.date == day])
    ev = pd.concat(found)
    kinds = set(ev.detail.str.split(":").str[0])
    assert {"position_conflict", "name_change"} <= kinds
    assert set(ev.mmsi) == shared
    assert np.all(ev.start_time <= ev.end_time)

"""Features from hand-built positions and events with exact expected values."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.config import Settings, load_settings
from pipeline.events.base import make_events
from pipeline.features import build_features, min_distance_to_zones_m
from pipeline.geo import haversine_m
from pipeline.schemas import FEATURES, POSITIONS, VESSEL_STATIC

DAY = date(2025, 11, 4)
T0 = datetime(2025, 11, 4, tzinfo=UTC)


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings()


def _us(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000)


def _positions(rows: list[tuple[int, datetime, float, float, float, str]]) -> pa.Table:
    mmsi, ts, lat, lon, sog, cls = zip(*rows, strict=True)
    return pa.table({
        "mmsi": pa.array(mmsi, pa.int64()),
        "timestamp": pa.array(ts, POSITIONS.field("timestamp").type),
        "lat": pa.array(lat, pa.float64()),
        "lon": pa.array(lon, pa.float64()),
        "sog_kn": pa.array(sog, pa.float32()),
        "transceiver_class": pa.array(cls, pa.string()),
    })


def test_features_sum_up_events_and_positions(settings: Settings) -> None:
    mother, fisher, quiet = 525100001, 525100002, 525100003
    # the mother ship waits 1 km off Pelabuhan Ratu (SI-D01, radius 12 km) from 20:00 UTC on
    # the 3rd (03:00 local) to 02:00 UTC; the fisher works 60 km away; the quiet one sends once
    rows = [(mother, T0 + timedelta(minutes=10 * i), -7.01, 106.53, 0.5, "A") for i in range(12)]
    rows += [(fisher, T0 + timedelta(hours=i), -7.6, 106.2 + 0.01 * i, 4.0, "B") for i in range(10)]
    rows += [(quiet, T0 + timedelta(hours=13), -9.0, 110.0, 11.0, "A")]
    positions = _positions(rows)
    start = np.array([_us(T0 - timedelta(hours=4)), _us(T0 + timedelta(hours=3))])
    end = np.array([_us(T0 + timedelta(hours=2)), _us(T0 + timedelta(hours=15))])
    loiter = make_events("loiter", np.array([mother, mother]), start, end,
                         {"night_h": [5.0, 1.0], "lat": [-7.01, -7.01], "lon": [106.53, 106.53]})
    gap = make_events("dark_gap", np.array([mother, mother]),
                      np.array([_us(T0 + timedelta(hours=2)), _us(T0 + timedelta(hours=15))]),
                      np.array([_us(T0 + timedelta(hours=9)), _us(T0 + timedelta(hours=23))]),
                      {"lat": [-7.02, -8.5], "lon": [106.5, 106.0], "zone_id": ["SI-D01", None],
                       "reception_ratio": [0.9, 0.2], "night_h": [0.0, 0.0]})
    enc = make_events("encounter", np.array([mother, mother, fisher]),
                      np.array([_us(T0)] * 3), np.array([_us(T0 + timedelta(hours=1))] * 3),
                      {"partner_mmsi": [fisher, quiet, mother], "night_h": [1.0, 1.0, 1.0]},
                      id_extra=[fisher, quiet, mother])
    visit = make_events("port_visit", np.array([fisher, fisher]),
                        np.array([_us(T0), _us(T0 + timedelta(hours=5))]),
                        np.array([_us(T0 + timedelta(hours=2)), _us(T0 + timedelta(hours=6))]),
                        {"detail": ["undeclared visit", "declared call without AIS presence"]})
    events = pa.concat_tables([loiter, gap, enc, visit])
    static = pa.table({
        "mmsi": pa.array([mother, mother], pa.int64()),
        "timestamp": pa.array([T0 - timedelta(days=1), T0], VESSEL_STATIC.field("timestamp").type),
        "name": ["KM LAMA", "KM BARU"], "ship_type": pa.array([30, 30], pa.int16()),
        "length_m": pa.array([24.0, 24.0], pa.float32()),
        "call_sign": [None, None], "imo": pa.array([None, None], pa.int64()),
    })
    history = pa.table({
        "mmsi": pa.array([mother, mother], pa.int64()),
        "date": pa.array([DAY - timedelta(days=2), DAY - timedelta(days=1)], pa.date32()),
        "loiter_h": [2.0, 4.0], "departure_zone_night_h": [0.0, 0.0],
        "dark_gap_max_h": [0.0, 0.0], "encounter_h": [0.0, 0.0],
    })
    table = build_features(positions, events, static, history, settings, DAY)
    assert table.schema == FEATURES
    f = table.to_pandas().set_index("mmsi")
    assert list(f.index) == [mother, fisher, quiet]
    m = f.loc[mother]
    assert m["positions"] == 12 and m["loiter_count"] == 2
    assert m["loiter_h"] == pytest.approx(18.0) and m["loiter_night_h"] == pytest.approx(6.0)
    assert m["dark_gap_count"] == 2 and m["dark_gap_max_h"] == pytest.approx(8.0)
    assert (m["dark_gap_max_lat"], m["dark_gap_max_lon"]) == (-8.5, 106.0)
    assert m["dark_gap_max_reception_ratio"] == pytest.approx(0.2)
    assert m["dark_gap_near_departure"] == 1
    assert m["encounter_partners"] == 2 and m["encounter_count"] == 2
    assert m["min_distance_to_departure_m"] == 0.0  # inside the Pelabuhan Ratu circle
    assert m["name"] == "KM BARU" and m["has_static"] and m["ship_type"] == 30
    assert m["region"] == "south-indonesia"
    assert m["days_seen_30d"] == 3
    assert m["loiter_h_change_30d"] == pytest.approx(18.0 - 3.0)
    fi = f.loc[fisher]
    assert fi["transceiver_class"] == "B" and not fi["has_static"]
    assert fi["undeclared_port_visits"] == 1 and fi["calls_without_ais"] == 1
    assert fi["encounter_partners"] == 1 and fi["loiter_count"] == 0
    assert fi["min_distance_to_departure_m"] > 20_000
    q = f.loc[quiet]
    assert q["positions"] == 1 and q["dark_gap_max_h"] == 0 and q["encounter_count"] == 0
    assert np.isnan(q["loiter_h_change_30d"]) and q["days_seen_30d"] == 1


def test_zone_distance_matches_geodesic(settings: Settings) -> None:
    zones = settings.regions["south-indonesia"].departure_points
    z = zones[0]
    lat0, lon0 = z.centre
    lat = np.array([lat0, lat0 - 0.5, lat0 - 1.0])
    lon = np.array([lon0, lon0, lon0])
    got = min_distance_to_zones_m(zones, lat, lon)
    assert got[0] == 0.0
    # against the brute force over every zone: centre distance minus radius
    brute = np.min([
        np.maximum(haversine_m(lat, lon, zz.centre[0], zz.centre[1]) - (zz.radius_km or 0) * 1000, 0)
        for zz in zones
    ], axis=0)
    np.testing.assert_allclose(got, brute, rtol=1e-6, atol=1.0)


def test_a_vessel_silent_all_day_keeps_its_evidence(settings: Settings) -> None:
    active, dark = 525100010, 525100011
    positions = _positions([(active, T0 + timedelta(hours=1), -9.0, 110.0, 10.0, "A")])
    # the dark one vanished off Pelabuhan Ratu yesterday evening and is still silent
    gap = make_events("dark_gap", np.array([dark]), np.array([_us(T0 - timedelta(hours=4))]),
                      np.array([_us(T0 + timedelta(days=1)) - 1]),
                      {"lat": [-7.01], "lon": [106.53], "zone_id": ["SI-D01"], "open": [True],
                       "reception_ratio": [0.95], "night_h": [10.0]})
    empty_static = pa.table({c: pa.array([], VESSEL_STATIC.field(c).type) for c in (
        "mmsi", "timestamp", "name", "call_sign", "imo", "ship_type", "length_m")})
    table = build_features(positions, gap, empty_static, pa.table({}), settings, DAY)
    f = table.to_pandas().set_index("mmsi")
    assert list(f.index) == [active, dark]
    d = f.loc[dark]
    assert d["positions"] == 0 and pd.isna(d["first_seen"])
    assert d["dark_gap_count"] == 1 and d["dark_gap_max_h"] == pytest.approx(28.0)
    assert d["dark_gap_near_departure"] == 1 and d["region"] == "south-indonesia"
    assert d["min_distance_to_departure_m"] == 0.0


def test_hours_inside_departure_zones_at_night(settings: Settings) -> None:
    waiting, passing = 525100020, 525100021
    # 22:00-23:50 local (15:00-16:50 UTC): the waiting boat sits inside the Pelabuhan Ratu
    # circle (SI-D01, 12 km) for 1 h 50 min of night; the other one passes 60 km south
    night0 = T0 + timedelta(hours=15)
    rows = [(waiting, night0 + timedelta(minutes=10 * i), -7.01, 106.53, 0.3, "B")
            for i in range(12)]
    rows += [(passing, night0 + timedelta(minutes=10 * i), -7.6, 106.5, 8.0, "A")
             for i in range(12)]
    # and in daylight the next morning (07:00 local) the waiting boat is inside again
    rows += [(waiting, T0 + timedelta(hours=23, minutes=10 * i), -7.01, 106.53, 0.3, "B")
             for i in range(3)]
    empty = pa.table({})
    table = build_features(_positions(rows), make_events(
        "loiter", np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)),
        empty, empty, settings, DAY)
    f = table.to_pandas().set_index("mmsi")
    # 11 steps of 10 min at night inside, then the last night position stands for 1 h of the
    # 6-h silence; the morning positions are in daylight
    night_inside = f.loc[waiting, "departure_zone_night_h"]
    assert night_inside == pytest.approx(11 / 6 + 1.0, abs=1e-9)
    assert f.loc[passing, "departure_zone_night_h"] == 0.0

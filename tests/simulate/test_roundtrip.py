"""Round trip through the project's own ingest, determinism, and a PIU-added region."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import shapely
import typer
import yaml
from typer.testing import CliRunner

from pipeline.config import DEFAULT_CONFIG_DIR, Settings, load_settings
from pipeline.ingest.ais import ingest_ais
from pipeline.ingest.port_calls import ingest_port_calls
from pipeline.lake import Lake
from pipeline.simulate.command import simulate_cmd
from tests.simulate.conftest import TEST_ENV, read_positions, run


@pytest.mark.parametrize("fmt", ["csv", "nmea", "parquet"])
def test_round_trip_through_ingest(tmp_path: Path, sim_settings: Settings, fmt: str) -> None:
    res = run(sim_settings, tmp_path, fmt=fmt, vessels=50, seed=3)
    written = res.files[0]
    assert written.quarantined_total > 0 and written.duplicates > 0
    summary = ingest_ais([written.path], Lake(tmp_path / "lake"))
    got = summary.files[0]
    assert got.error is None
    assert got.read == written.records
    assert got.quarantined == written.quarantined  # only the deliberately invalid rows
    assert got.duplicates == written.duplicates
    bad_positions = written.quarantined_total - written.quarantined_static
    assert got.positions == written.positions - written.duplicates - bad_positions
    if fmt == "nmea":
        assert got.static == written.static - written.quarantined_static
    calls = ingest_port_calls([tmp_path / "port_calls.csv"], Lake(tmp_path / "lake"),
                              sim_settings.resolve_port_call)
    assert calls.files[0].read == res.port_calls and calls.files[0].quarantined_total == 0


def test_nmea_decodes_with_pyais(tmp_path: Path, sim_settings: Settings) -> None:
    from pyais.stream import FileReaderStream

    res = run(sim_settings, tmp_path, fmt="nmea", vessels=15, seed=4)
    n = 0
    types = set()
    for msg in FileReaderStream(str(res.files[0].path)):
        d = msg.decode()
        types.add(d.msg_type)
        n += 1
    assert n == res.files[0].records
    assert {1, 5, 18, 24} <= types


def _digest(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


def test_same_seed_same_files_other_seed_differs(tmp_path: Path, sim_settings: Settings) -> None:
    for fmt in ("csv", "nmea"):
        a = run(sim_settings, tmp_path / f"a{fmt}", fmt=fmt, vessels=40, seed=9)
        b = run(sim_settings, tmp_path / f"b{fmt}", fmt=fmt, vessels=40, seed=9)
        c = run(sim_settings, tmp_path / f"c{fmt}", fmt=fmt, vessels=40, seed=10)
        assert _digest(a.out) == _digest(b.out)
        da, dc = _digest(a.out), _digest(c.out)
        assert da.keys() == dc.keys() and all(da[k] != dc[k] for k in da if "positions" in k)


SULU = {
    "type": "FeatureCollection",
    "features": [{
        "type": "Feature",
        "properties": {"id": "sulu-sea", "name": "Sulu Sea", "timezone": "Asia/Manila",
                       "flag_mids": [548, 533]},
        "geometry": {"type": "Polygon",
                     "coordinates": [[[116, 3], [123, 3], [123, 9], [116, 9], [116, 3]]]},
    }],
}
SULU_ZONES = {
    "type": "FeatureCollection",
    "features": [
        {"type": "Feature",
         "properties": {"id": "SS-D01", "region": "sulu-sea", "name": "Jolo north coast",
                        "role": "departure", "radius_km": 8, "source": "test"},
         "geometry": {"type": "Point", "coordinates": [121.0, 6.2]}},
        {"type": "Feature",
         "properties": {"id": "SS-T01", "region": "sulu-sea", "name": "Sandakan approaches",
                        "role": "destination", "radius_km": 20, "source": "test"},
         "geometry": {"type": "Point", "coordinates": [118.4, 6.0]}},
    ],
}
ISLAND = {  # an island inside the new region, added to a copy of the land file
    "type": "Feature", "properties": {"name": "test island"},
    "geometry": {"type": "Polygon", "coordinates": [[[119.5, 5.5], [120.2, 5.5], [120.2, 6.4],
                                                     [119.5, 6.4], [119.5, 5.5]]]},
}


def test_region_that_is_not_shipped(tmp_path: Path) -> None:
    cfg = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, cfg, ignore=shutil.ignore_patterns("build"))
    (cfg / "sulu.geojson").write_text(json.dumps(SULU))
    (cfg / "sulu_zones.geojson").write_text(json.dumps(SULU_ZONES))
    land = json.loads((cfg / "land.geojson").read_text())
    land["features"].append(ISLAND)
    (cfg / "land.geojson").write_text(json.dumps(land))
    s = yaml.safe_load((cfg / "settings.yaml").read_text())
    s["reference"]["region_files"].append("sulu.geojson")
    s["reference"]["zone_files"].append("sulu_zones.geojson")
    s["regions"]["active"] = ["sulu-sea"]
    (cfg / "settings.yaml").write_text(yaml.safe_dump(s))
    settings = load_settings(cfg, env={**TEST_ENV,
                                       "VESSEL_RISK__SIMULATE__SMUGGLING_FRACTION": "0.1"})
    res = run(settings, tmp_path / "out", region="sulu-sea", vessels=60)
    pos = read_positions(res.out)
    assert len(pos) > 1000 and sum(res.scenarios.values()) > 0
    ok = pos["LAT"] != 91
    assert not shapely.contains_xy(settings.land(), pos.loc[ok, "LON"], pos.loc[ok, "LAT"]).any()
    assert (pos.loc[ok & pos["MMSI"].between(201e6, 775e6), "MMSI"] // 1_000_000).isin(
        [548, 533]).all()


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        class C:
            settings = load_settings(env=TEST_ENV)

        ctx.obj = C()

    app.command("simulate")(simulate_cmd)
    return app


def test_cli_json_and_help(tmp_path: Path) -> None:
    runner = CliRunner()
    h = runner.invoke(_app(), ["simulate", "--help"])
    assert h.exit_code == 0 and "hidden smuggling" in h.output and "--positions-per-day" in h.output
    r = runner.invoke(_app(), ["simulate", "--region", "south-indonesia", "--start", "2024-11-01",
                               "--days", "1", "--seed", "2", "--out", str(tmp_path),
                               "--format", "parquet", "--vessels", "30", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["positions"] > 0 and doc["files"][0]["file"] == "positions_2024-11-01.parquet"
    assert (tmp_path / "ground_truth" / "events.csv").exists()
    t = runner.invoke(_app(), ["simulate", "--region", "south-indonesia", "--start", "2024-11-01",
                               "--days", "1", "--seed", "2", "--out", str(tmp_path / "t"),
                               "--vessels", "20"])
    assert t.exit_code == 0 and "positions" in t.output

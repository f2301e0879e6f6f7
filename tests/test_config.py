"""The shipped configuration, a PIU-added region, bad configurations and env overrides."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from pipeline import geo
from pipeline.config import DEFAULT_CONFIG_DIR, ConfigError, Settings, load_settings


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(env={})


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    """A writable copy of the shipped config directory."""
    dst = tmp_path / "config"
    shutil.copytree(DEFAULT_CONFIG_DIR, dst, ignore=shutil.ignore_patterns("build"))
    return dst


def _edit_yaml(path: Path, fn: Any) -> None:
    data = yaml.safe_load(path.read_text())
    fn(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def _edit_geojson(path: Path, fn: Any) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc))


def _zone_index(doc: dict[str, Any], zone_id: str) -> int:
    return next(i for i, f in enumerate(doc["features"]) if f["properties"]["id"] == zone_id)


# --------------------------------------------------------------------------- shipped config


def test_shipped_config_loads_both_regions(settings: Settings) -> None:
    assert settings.config_dir == DEFAULT_CONFIG_DIR
    assert settings.active_regions == ("south-indonesia", "andaman-sea")
    assert set(settings.regions) == {"south-indonesia", "andaman-sea"}
    si, an = settings.regions["south-indonesia"], settings.regions["andaman-sea"]
    assert si.timezone == "Asia/Jakarta" and an.timezone == "Asia/Dhaka"
    assert {525, 503, 550, 533, 563} <= set(si.flag_mids)
    assert {405, 506, 567, 533, 419, 417} <= set(an.flag_mids)
    assert si.aor.geom_type == "Polygon"
    # every one of the 67 reported places, each in its region's area of responsibility
    assert len(settings.zones) == 67
    for region in settings.regions.values():
        assert region.departure_points and region.landings + region.destinations
        for z in region.zones:
            assert geo.points_in(region.aor, *z.centre).item()
            assert z.provenance and z.area.contains(z.geometry)


def test_departure_point_near_pelabuhan_ratu(settings: Settings) -> None:
    si = settings.regions["south-indonesia"]
    hits = [z for z in si.departure_points if z.area.contains(_pt(-7.0, 106.53))]
    assert {"SI-D01", "SI-D02"} <= {z.id for z in hits}
    ratu = settings.zone("SI-D01")
    assert ratu is not None and ratu.role == "departure" and ratu.radius_km == 12
    assert "Pelabuhan Ratu" in ratu.provenance and "http" in ratu.provenance
    assert ratu.coord_note and "no source gave coordinates" in ratu.coord_note
    # the area is a geodesic 12 km circle
    xy = np.asarray(ratu.area.exterior.coords)
    d = geo.haversine_m(-7.0, 106.53, xy[:, 1], xy[:, 0])
    np.testing.assert_allclose(d, 12_000, rtol=1e-6)


def test_departure_point_teknaf_and_holding_areas(settings: Settings) -> None:
    an = settings.regions["andaman-sea"]
    teknaf = [z for z in an.departure_points if "Teknaf" in z.name]
    assert teknaf and any(z.area.contains(_pt(20.86, 92.28)) for z in teknaf)
    assert all("unhcr" in z.provenance.lower() or z.provenance for z in teknaf)
    held = {z.id: z for z in an.holding_areas}
    assert held["AS-H02"].radius_km == 40
    assert held["AS-H02"].country and "International waters" in held["AS-H02"].country


def _pt(lat: float, lon: float) -> Any:
    import shapely

    return shapely.Point(lon, lat)


def test_ports_resolve_by_locode_and_name(settings: Settings) -> None:
    cilacap = settings.resolve_port("IDCXP")
    assert cilacap is not None and cilacap.name == "Cilacap" and cilacap.country == "Indonesia"
    assert settings.resolve_port("id cxp") == cilacap
    assert settings.resolve_port(" ID  CXP ") == cilacap
    assert settings.resolve_port("CILACAP") == cilacap
    assert settings.resolve_port("tjilatjap") == cilacap  # WPI alternate name
    benoa = settings.resolve_port("Benoa")
    assert benoa is not None and benoa.locode == "IDBOA"
    assert settings.resolve_port("Atlantis") is None
    assert settings.resolve_port("ZZZZZ") is None
    assert settings.resolve_port("") is None and settings.resolve_port(None) is None
    assert {"locode", "name", "country", "lat", "lon"} <= set(settings.ports.columns)
    assert settings.ports["lat"].between(-90, 90).all()
    assert settings.port_by_locode["IDCXP"] == cilacap
    assert settings.resolve_port_call("ID CXP") == ("IDCXP", "Cilacap")
    assert settings.resolve_port_call("Atlantis") is None


def test_anchorages_mid_table_and_lazy_geometry(tmp_path: Path) -> None:
    s = load_settings(env={})
    assert len(s.anchorages) > 100
    assert s.anchorages["lon"].between(-180, 180).all()  # the lon=1001 source row is gone
    assert s.mid_table[525] == ("Indonesia (Republic of)", "ID")
    assert s.mid_table[405][1] == "BD"
    assert s.flag_of_mmsi(506123456) == s.mid_table[506]
    assert s.flag_of_mmsi(12345) is None
    assert "land" not in s._cache and "lanes" not in s._cache
    land = s.land()
    assert land is s.land() and land.geom_type == "MultiPolygon"
    lanes = s.lanes()
    assert len(lanes) > 10 and lanes.crs.to_epsg() == 4326


def test_workspace_and_database_defaults(settings: Settings) -> None:
    assert settings.workspace.home == Path.cwd() / "var"
    assert settings.database.url == f"sqlite:///{Path.cwd() / 'var' / 'vessel_risk.db'}"
    assert settings.ingest.future_timestamp_tolerance_h == 6
    assert settings.ingest.max_raw_chars == 2000
    vt = settings.ingest.csv_mappings["vt_export"]
    assert vt.columns()["mmsi"] == "MMSI"
    assert vt.rename_map()["Time (UTC)"] == "timestamp"
    assert "timestamp_format" not in vt.columns()


# --------------------------------------------------------------------------- a PIU's own region

SULU_REGION = {
    "type": "FeatureCollection",
    "attribution": "drawn by a PIU for a test",
    "features": [
        {
            "type": "Feature",
            "properties": {
                "id": "sulu-sea",
                "name": "Sulu Sea / Sabah",
                "timezone": "Asia/Manila",
                "flag_mids": [548, 533],
                "countries": ["Philippines", "Malaysia"],
            },
            "geometry": {
                "type": "Polygon",
                "coordinates": [[[116, 3], [123, 3], [123, 9], [116, 9], [116, 3]]],
            },
        }
    ],
}
JOLO_ZONE = {
    "type": "FeatureCollection",
    "features": [
        {
            "type": "Feature",
            "properties": {
                "id": "SS-D01",
                "region": "sulu-sea",
                "name": "Jolo north coast (drawn)",
                "country": "Philippines",
                "role": "departure",
                "source": "PIU analyst sketch, test data",
            },
            "geometry": {
                "type": "Polygon",
                "coordinates": [
                    [[120.9, 6.0], [121.1, 6.0], [121.1, 6.15], [120.9, 6.15], [120.9, 6.0]]
                ],
            },
        }
    ],
}


def test_a_region_that_is_not_shipped_needs_only_config(cfg: Path) -> None:
    (cfg / "local_regions.geojson").write_text(json.dumps(SULU_REGION))
    (cfg / "local_zones.geojson").write_text(json.dumps(JOLO_ZONE))

    def add(d: dict[str, Any]) -> None:
        d["reference"]["region_files"].append("local_regions.geojson")
        d["reference"]["zone_files"].append("local_zones.geojson")
        d["regions"]["active"] = ["sulu-sea", "andaman-sea"]

    _edit_yaml(cfg / "settings.yaml", add)
    s = load_settings(cfg, env={})
    assert s.active_regions == ("sulu-sea", "andaman-sea")
    assert "south-indonesia" not in s.regions  # configured but not active
    sulu = s.regions["sulu-sea"]
    assert sulu.timezone == "Asia/Manila" and sulu.flag_mids == [548, 533]
    (jolo,) = sulu.departure_points
    assert jolo.radius_km is None and jolo.area.geom_type == "Polygon"
    assert jolo.provenance == "PIU analyst sketch, test data"
    lat = np.array([6.07, 6.5])
    lon = np.array([121.0, 121.0])
    assert geo.points_in(jolo.area, lat, lon).tolist() == [True, False]
    assert geo.points_in(sulu.aor, lat, lon).all()


def test_active_null_means_every_region(cfg: Path) -> None:
    _edit_yaml(cfg / "settings.yaml", lambda d: d["regions"].update(active=None))
    assert load_settings(cfg, env={}).active_regions == ("south-indonesia", "andaman-sea")


# --------------------------------------------------------------------------- bad configs


def _error(cfg: Path, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as exc_info:
        load_settings(cfg, env=env or {})
    return str(exc_info.value)


def test_typo_key_in_settings(cfg: Path) -> None:
    def typo(d: dict[str, Any]) -> None:
        d["ingest"]["future_timestamp_tolerence_h"] = d["ingest"].pop(
            "future_timestamp_tolerance_h"
        )

    _edit_yaml(cfg / "settings.yaml", typo)
    msg = _error(cfg)
    assert "settings.yaml" in msg
    assert "ingest.future_timestamp_tolerence_h is not a known setting" in msg
    assert "future_timestamp_tolerance_h" in msg.split("allowed:")[1]


def test_unknown_section_and_bad_value(cfg: Path) -> None:
    _edit_yaml(cfg / "settings.yaml", lambda d: d.update(scoring_typo={"x": 1}))
    assert "scoring_typo is not a known setting" in _error(cfg)


def test_bad_threshold_value(cfg: Path) -> None:
    _edit_yaml(cfg / "settings.yaml", lambda d: d["ingest"].update(max_raw_chars="lots"))
    msg = _error(cfg)
    assert "settings.yaml: ingest.max_raw_chars must be a valid integer" in msg
    assert "'lots'" in msg


def test_negative_radius(cfg: Path) -> None:
    path = cfg / "zones.geojson"
    doc = json.loads(path.read_text())
    i = _zone_index(doc, "SI-D03")
    doc["features"][i]["properties"]["radius_km"] = -5
    path.write_text(json.dumps(doc))
    msg = _error(cfg)
    assert msg.endswith(f"zones.geojson: feature {i} (id 'SI-D03'): radius_km must be > 0, got -5")


def test_zone_in_unknown_region(cfg: Path) -> None:
    def bad(doc: dict[str, Any]) -> None:
        doc["features"][5]["properties"]["region"] = "south-indonesa"

    _edit_geojson(cfg / "zones.geojson", bad)
    msg = _error(cfg)
    assert "zones.geojson: feature 5 (id 'SI-D06')" in msg
    assert "region 'south-indonesa' is not defined" in msg


def test_broken_geojson(cfg: Path) -> None:
    path = cfg / "zones.geojson"
    path.write_text(path.read_text()[:-200])
    msg = _error(cfg)
    assert "zones.geojson: not valid GeoJSON" in msg


def test_missing_reference_file(cfg: Path) -> None:
    (cfg / "ports.csv").unlink()
    msg = _error(cfg)
    assert "settings.yaml: reference.ports_file: file not found" in msg
    assert "ports.csv" in msg


def test_missing_settings_file_and_dir(cfg: Path, tmp_path: Path) -> None:
    (cfg / "settings.yaml").unlink()
    assert "settings.yaml: file not found" in _error(cfg)
    assert "config directory not found" in _error(tmp_path / "nope")


def test_duplicate_zone_id_across_files(cfg: Path) -> None:
    doc = json.loads((cfg / "zones.geojson").read_text())
    doc["features"] = doc["features"][:1]
    (cfg / "local_zones.geojson").write_text(json.dumps(doc))
    _edit_yaml(
        cfg / "settings.yaml", lambda d: d["reference"]["zone_files"].append("local_zones.geojson")
    )
    msg = _error(cfg)
    assert "local_zones.geojson: feature 0 (id 'SI-D01'): duplicate zone id 'SI-D01'" in msg
    assert "first in" in msg and "zones.geojson feature 0" in msg


def test_invalid_geometry_and_out_of_range_coordinates(cfg: Path) -> None:
    bowtie = {
        "type": "Polygon",
        "coordinates": [[[106, -7], [107, -8], [107, -7], [106, -8], [106, -7]]],
    }

    def draw(doc: dict[str, Any]) -> None:
        doc["features"][0]["geometry"] = bowtie
        del doc["features"][0]["properties"]["radius_km"]

    _edit_geojson(cfg / "zones.geojson", draw)
    msg = _error(cfg)
    assert "zones.geojson: feature 0 (id 'SI-D01'): invalid geometry: Self-intersection" in msg

    def swap(doc: dict[str, Any]) -> None:
        doc["features"][0]["geometry"] = {"type": "Point", "coordinates": [-7.0, 106.53]}

    _edit_geojson(cfg / "zones.geojson", swap)
    msg = _error(cfg)
    assert "feature 0 (id 'SI-D01'): coordinates out of range" in msg
    assert "lat=106.53" in msg


def test_zone_outside_its_region(cfg: Path) -> None:
    def move(doc: dict[str, Any]) -> None:
        doc["features"][0]["geometry"]["coordinates"] = [92.28, 20.86]  # Teknaf

    _edit_geojson(cfg / "zones.geojson", move)
    msg = _error(cfg)
    assert "feature 0 (id 'SI-D01'): lies outside the area of responsibility" in msg


def test_point_zone_without_radius_and_bad_role(cfg: Path) -> None:
    _edit_geojson(cfg / "zones.geojson", lambda d: d["features"][1]["properties"].pop("radius_km"))
    assert "feature 1 (id 'SI-D02'): radius_km is required for a Point zone" in _error(cfg)
    _edit_geojson(
        cfg / "zones.geojson",
        lambda d: d["features"][1]["properties"].update(radius_km=5, role="launch"),
    )
    msg = _error(cfg)
    assert "feature 1 (id 'SI-D02'): role must be 'departure', 'holding_area'" in msg


def test_bad_region_properties(cfg: Path) -> None:
    _edit_geojson(
        cfg / "regions.geojson",
        lambda d: d["features"][1]["properties"].update(timezone="Asia/Dacca_typo"),
    )
    msg = _error(cfg)
    assert "regions.geojson: feature 1 (id 'andaman-sea'): timezone unknown IANA time zone" in msg


def test_unknown_active_region(cfg: Path) -> None:
    _edit_yaml(cfg / "settings.yaml", lambda d: d["regions"].update(active=["andaman"]))
    msg = _error(cfg)
    assert "settings.yaml: regions.active names unknown region(s) ['andaman']" in msg


def test_bad_port_row(cfg: Path) -> None:
    path = cfg / "ports.csv"
    lines = path.read_text().splitlines()
    header = next(i for i, ln in enumerate(lines) if ln.startswith("locode,"))
    cells = lines[header + 1].split(",")
    cells[4] = "123.5"  # lat
    lines[header + 1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    msg = _error(cfg)
    assert f"ports.csv: line {header + 2} (name {cells[1]!r}): lat must be a number" in msg
    assert "'123.5'" in msg


# --------------------------------------------------------------------------- environment


def test_env_overrides(cfg: Path, tmp_path: Path) -> None:
    home = tmp_path / "ws"
    s = load_settings(
        env={
            "VESSEL_RISK_CONFIG": str(cfg),
            "VESSEL_RISK_HOME": str(home),
            "VESSEL_RISK__INGEST__FUTURE_TIMESTAMP_TOLERANCE_H": "12",
            "VESSEL_RISK__REGIONS__ACTIVE": "[andaman-sea]",
        }
    )
    assert s.config_dir == cfg.resolve()
    assert s.workspace.home == home
    assert s.database.url == f"sqlite:///{home / 'vessel_risk.db'}"
    assert s.ingest.future_timestamp_tolerance_h == 12
    assert s.active_regions == ("andaman-sea",)

    url = "postgresql+psycopg2://vr@db/vessel_risk"
    s = load_settings(cfg, env={"VESSEL_RISK_DB_URL": url})
    assert s.database.url == url


def test_bad_env_override_names_the_variable(cfg: Path) -> None:
    msg = _error(cfg, {"VESSEL_RISK__INGEST__FUTURE_TIMESTAMP_TOLERANCE_H": "-1"})
    assert "ingest.future_timestamp_tolerance_h must be > 0, got -1" in msg
    assert "VESSEL_RISK__INGEST__FUTURE_TIMESTAMP_TOLERANCE_H" in msg
    msg = _error(cfg, {"VESSEL_RISK__INGEST__TYPO": "1"})
    assert "ingest.typo is not a known setting" in msg and "VESSEL_RISK__INGEST__TYPO" in msg

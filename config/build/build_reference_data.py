#!/usr/bin/env python
"""Regenerate the reference files in ``config/`` from the shared real-data folder.

Run by a person when the sources change (never at pipeline run time: the pipeline reads only
``config/``)::

    python config/build/build_reference_data.py [--shared /work/shared/data]

Every output carries its provenance: GeoJSON files have a top-level ``attribution`` member,
CSV files start with ``#`` comment lines naming the source and licence, and
``config/ATTRIBUTION.md`` lists everything in one place.
"""

from __future__ import annotations

import argparse
import json
import math
import re
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry import box, mapping

CONFIG_DIR = Path(__file__).resolve().parent.parent
DEFAULT_SHARED = Path("/work/shared/data")
MARGIN_DEG = 1.0
COORD_DECIMALS = 5  # ~1 m; plenty for 1:10m land and approximate zones

# The two shipped areas of responsibility (lon_min, lat_min, lon_max, lat_max).
REGIONS: list[dict[str, Any]] = [
    {
        "id": "south-indonesia",
        "name": "Southern Indonesia to Christmas Island / Ashmore Reef",
        "countries": ["Indonesia", "Australia", "Timor-Leste"],
        "timezone": "Asia/Jakarta",
        # Indonesia, Australia (+ Christmas Is., Cocos), Timor-Leste, Malaysia, Singapore
        "flag_mids": [525, 503, 516, 523, 550, 533, 563, 564, 565, 566],
        "bbox": (102.0, -18.0, 128.0, -4.5),
        "description": "Sea from the south coast of Java and Nusa Tenggara (and the Makassar/"
        "SE Sulawesi departure points) down to Christmas Island, Ashmore/Cartier and the "
        "Kimberley coast.",
    },
    {
        "id": "andaman-sea",
        "name": "Bay of Bengal / Andaman Sea",
        "countries": ["Bangladesh", "Myanmar", "Thailand", "Malaysia", "Indonesia", "India"],
        "timezone": "Asia/Dhaka",
        # Bangladesh, Myanmar, Thailand, Malaysia, India, Sri Lanka
        "flag_mids": [405, 506, 567, 533, 419, 417],
        "bbox": (88.0, 2.0, 101.0, 23.0),
        "description": "Teknaf/Cox's Bazar and the Rakhine coast down the Andaman Sea to "
        "southern Thailand, northern Malaysia and Aceh.",
    },
]

SRC = {
    "zones": "Compiled from public reporting (UNHCR, Reuters, AFP, SMH, News Ltd, Kompas, ...); "
    "positions approximate, no report gives coordinates; per-feature 'source' gives the reports. "
    "From vessel-risk shared data zones/reported_smuggling_places.csv.",
    "wpi": "World Port Index (Pub 150), US National Geospatial-Intelligence Agency; public domain.",
    "searoute": "searoute ports (PyPI searoute); Apache-2.0 (used only to fill missing UN/LOCODEs).",
    "gfw": "Global Fishing Watch anchorages_pipeline named anchorages; Apache-2.0.",
    "ne": "Made with Natural Earth. Free vector and raster map data @ naturalearthdata.com; "
    "1:10m admin-0 countries; public domain.",
    "marnet": "MARNET shipping lanes via searoute (PyPI searoute); Apache-2.0.",
    "mid": "ITU Maritime Identification Digits table (factual); iso2 derived from Natural Earth "
    "admin-0 names.",
}


def _round(obj: Any) -> Any:
    if isinstance(obj, float):
        return round(obj, COORD_DECIMALS)
    if isinstance(obj, (list, tuple)):
        return [_round(o) for o in obj]
    return obj


def _feature(geom: Any, props: dict[str, Any]) -> dict[str, Any]:
    gj = mapping(geom)
    return {
        "type": "Feature",
        "properties": props,
        "geometry": {"type": gj["type"], "coordinates": _round(gj["coordinates"])},
    }


def _write_geojson(path: Path, features: list[dict[str, Any]], attribution: str) -> None:
    doc = {"type": "FeatureCollection", "attribution": attribution, "features": features}
    path.write_text(json.dumps(doc, ensure_ascii=False, separators=(",", ":")) + "\n")
    print(f"wrote {path.name}: {len(features)} features, {path.stat().st_size:,} bytes")


def _write_csv(path: Path, df: pd.DataFrame, header_lines: list[str]) -> None:
    with path.open("w", newline="") as fh:
        for line in header_lines:
            fh.write(f"# {line}\n")
        df.to_csv(fh, index=False, lineterminator="\n")
    print(f"wrote {path.name}: {len(df)} rows, {path.stat().st_size:,} bytes")


def _search_box() -> Any:
    return shapely.union_all(
        [box(*r["bbox"]).buffer(MARGIN_DEG, join_style="mitre") for r in REGIONS]
    )


def _in_box(lat: pd.Series, lon: pd.Series) -> np.ndarray:
    return np.asarray(shapely.contains_xy(_search_box(), lon.to_numpy(), lat.to_numpy()))


def build_regions() -> None:
    feats = []
    for r in REGIONS:
        props = {k: v for k, v in r.items() if k != "bbox"}
        feats.append(_feature(box(*r["bbox"]), props))
    _write_geojson(
        CONFIG_DIR / "regions.geojson",
        feats,
        "Areas of responsibility drawn for vessel-risk (lon/lat boxes); "
        "flag MIDs from the ITU MID table.",
    )


def build_zones(shared: Path) -> None:
    df = pd.read_csv(shared / "zones/reported_smuggling_places.csv")
    feats = []
    row: Any
    for row in df.itertuples(index=False):
        props = {
            "id": row.id,
            "region": row.region,
            "name": row.name,
            "country": row.country,
            "role": row.role,
            "radius_km": float(row.radius_km),
            "coord_note": row.coord_note,
            "source": row.source,
        }
        feats.append(_feature(shapely.Point(float(row.lon), float(row.lat)), props))
    _write_geojson(CONFIG_DIR / "zones.geojson", feats, SRC["zones"])


def _haversine_km(lat1: Any, lon1: Any, lat2: Any, lon2: Any) -> Any:
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dphi, dl = p2 - p1, np.radians(np.asarray(lon2) - np.asarray(lon1))
    a = np.sin(dphi / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * 6371.0088 * np.arcsin(np.sqrt(a))


def build_ports(shared: Path) -> None:
    wpi = pd.read_csv(shared / "ports/nga_world_port_index_pub150.csv", low_memory=False)
    wpi = wpi[_in_box(wpi["Latitude"], wpi["Longitude"])].copy()
    locode = wpi["UN/LOCODE"].fillna("").str.replace(" ", "", regex=False).str.upper()
    locode = locode.where(locode.str.fullmatch(r"[A-Z]{2}[A-Z2-9]{3}"), "")
    sr = gpd.read_file(shared / "ports/searoute_ports.geojson")
    sr_lat, sr_lon = sr.geometry.y.to_numpy(), sr.geometry.x.to_numpy()
    filled = 0
    for i, (lat, lon) in enumerate(zip(wpi["Latitude"], wpi["Longitude"], strict=True)):
        if locode.iloc[i]:
            continue
        d = _haversine_km(lat, lon, sr_lat, sr_lon)
        j = int(np.argmin(d))
        code = str(sr["port"].iloc[j] or "").replace(" ", "").upper()
        if d[j] <= 10.0 and re.fullmatch(r"[A-Z]{2}[A-Z2-9]{3}", code) and code not in set(locode):
            locode.iloc[i] = code
            filled += 1
    out = pd.DataFrame(
        {
            "locode": locode.to_numpy(),
            "name": wpi["Main Port Name"].str.strip().to_numpy(),
            "alternate_name": wpi["Alternate Port Name"].fillna("").str.strip().to_numpy(),
            "country": wpi["Country Code"].to_numpy(),
            "lat": wpi["Latitude"].round(5).to_numpy(),
            "lon": wpi["Longitude"].round(5).to_numpy(),
            "harbor_size": wpi["Harbor Size"].fillna("").to_numpy(),
            "wpi_number": wpi["World Port Index Number"].astype("Int64").to_numpy(),
        }
    ).sort_values(["country", "name"], kind="stable")
    print(f"ports: {filled} LOCODEs filled from searoute (nearest within 10 km)")
    _write_csv(
        CONFIG_DIR / "ports.csv",
        out,
        [
            "World Port Index subset within the vessel-risk regions (+1 deg margin).",
            f"source: {SRC['wpi']}",
            f"locode gaps filled from: {SRC['searoute']}",
        ],
    )

    anc = pd.read_csv(shared / "ports/gfw_named_anchorages.csv")
    ok = anc["latitude"].between(-90, 90) & anc["longitude"].between(-180, 180)
    print(f"anchorages: dropped {int((~ok).sum())} rows with out-of-range coordinates")
    anc = anc[ok]
    anc = anc[_in_box(anc["latitude"], anc["longitude"])]
    aout = pd.DataFrame(
        {
            "s2id": anc["s2id"].astype(str).to_numpy(),
            "label": anc["label"].fillna("").to_numpy(),
            "sublabel": anc["sublabel"].fillna("").to_numpy(),
            "iso3": anc["iso3"].fillna("").to_numpy(),
            "lat": anc["latitude"].round(5).to_numpy(),
            "lon": anc["longitude"].round(5).to_numpy(),
        }
    ).sort_values("s2id")
    _write_csv(
        CONFIG_DIR / "anchorages.csv",
        aout,
        [
            "Global Fishing Watch named anchorages within the vessel-risk regions (+1 deg margin).",
            f"source: {SRC['gfw']}",
        ],
    )


def build_land(shared: Path) -> None:
    zip_path = shared / "land/natural_earth_10m_admin0_countries.zip"
    ne = gpd.read_file(f"zip://{zip_path}")
    clip = _search_box()
    land = shapely.union_all(shapely.make_valid(ne.geometry.clip_by_rect(*clip.bounds).values))
    land = shapely.intersection(land, clip)
    land = shapely.make_valid(shapely.simplify(land, 0.001, preserve_topology=True))
    land = shapely.union_all(
        [p for p in shapely.get_parts(land) if p.geom_type == "Polygon" and not p.is_empty]
    )
    parts = shapely.get_parts(land)
    feats = [_feature(p, {}) for p in parts]
    _write_geojson(
        CONFIG_DIR / "land.geojson",
        feats,
        SRC["ne"] + " Clipped to the regions + 1 deg, dissolved, simplified 0.001 deg.",
    )


def build_lanes(shared: Path) -> None:
    lanes = gpd.read_file(shared / "lanes/marnet_shipping_lanes.geojson")
    clip = _search_box()
    geoms = shapely.intersection(lanes.geometry.values, clip)
    keep = ~shapely.is_empty(geoms)
    feats = []
    for geom, (_, row) in zip(geoms[keep], lanes[keep].iterrows(), strict=True):
        props = {
            k: (None if isinstance(v, float) and math.isnan(v) else v)
            for k, v in row.drop(labels="geometry").items()
        }
        for part in shapely.get_parts(geom):
            if part.geom_type == "LineString":
                feats.append(_feature(part, props))
    _write_geojson(
        CONFIG_DIR / "lanes.geojson", feats, SRC["marnet"] + " Clipped to the regions + 1 deg."
    )


_MID_ISO_OVERRIDES = {
    # MID table names that do not match Natural Earth names.
    "Azores": "PT",
    "Madeira": "PT",
    "Alaska": "US",
    "Hawaii": "US",
    "Puerto Rico": "PR",
    "Adelie Land": "TF",
    "Crozet Archipelago": "TF",
    "Kerguelen Islands": "TF",
    "Amsterdam and Saint Paul Islands": "TF",
    "Christmas Island (Indian Ocean)": "CX",
    "Cocos (Keeling) Islands": "CC",
    "Reunion": "RE",
    "Guadeloupe": "GP",
    "Martinique": "MQ",
    "French Guiana": "GF",
    "Mayotte": "YT",
    "Viet Nam": "VN",
    "Korea": "KR",
    "Russian Federation": "RU",
    "Lao People's Democratic Republic": "LA",
    "Syrian Arab Republic": "SY",
    "Iran": "IR",
    "Moldova": "MD",
    "Tanzania": "TZ",
    "Brunei Darussalam": "BN",
    "Cabo Verde": "CV",
    "Cape Verde": "CV",
    "Cote d'Ivoire": "CI",
    "Côte d'Ivoire": "CI",
    "Micronesia": "FM",
    "Congo": "CG",
    "Democratic Republic of the Congo": "CD",
    "Gambia": "GM",
    "Bahamas": "BS",
    "Netherlands": "NL",
    "United Kingdom of Great Britain and Northern Ireland": "GB",
    "United States of America": "US",
    "Holy See": "VA",
    "Vatican City State": "VA",
    "Bolivia": "BO",
    "Venezuela": "VE",
    "Czech Republic": "CZ",
    "Swaziland": "SZ",
    "Eswatini": "SZ",
    "North Macedonia": "MK",
    "Timor-Leste": "TL",
    "Türkiye": "TR",
    "Turkey": "TR",
    "Republic of Türkiye": "TR",
    "State of Palestine": "PS",
    "Curaçao": "CW",
    "Curacao": "CW",
    "Sint Maarten": "SX",
    "Bonaire, Sint Eustatius and Saba": "BQ",
    "Saint Barthelemy": "BL",
    "Saint Martin": "MF",
}


def _norm(s: str) -> str:
    s = re.sub(r"\(.*?\)", "", s)
    return re.sub(r"[^a-z]", "", s.lower().replace("&", "and"))


def build_mid(shared: Path) -> None:
    mid = pd.read_csv(shared / "identity/maritime_identification_digits.csv")
    ne = gpd.read_file(
        f"zip://{shared / 'land/natural_earth_10m_admin0_countries.zip'}", ignore_geometry=True
    )
    iso = ne["ISO_A2"].where(ne["ISO_A2"] != "-99", ne["ISO_A2_EH"])
    names: dict[str, str] = {}
    for col in ("ADMIN", "NAME_EN", "NAME_LONG", "FORMAL_EN", "NAME_SORT", "GEOUNIT", "SUBUNIT"):
        for name, code in zip(ne[col].fillna(""), iso, strict=True):
            if name and code and code != "-99":
                names.setdefault(_norm(str(name)), str(code))
    overrides = {_norm(k): v for k, v in _MID_ISO_OVERRIDES.items()}
    overrides.update({k.lower(): v for k, v in _MID_ISO_OVERRIDES.items()})

    def iso2(allocated: str) -> str:
        pieces = [p.strip() for p in allocated.split(" - ")]
        for p in reversed(pieces):  # the territory first, then the sovereign state
            for cand in (p.lower(), _norm(p), _norm(re.sub(r"\(.*?\)", "", p))):
                if cand in overrides:
                    return overrides[cand]
                if cand in names:
                    return names[cand]
        return ""

    out = pd.DataFrame(
        {
            "mid": mid["MID"].astype(int),
            "country": mid["Allocated_to"].str.strip(),
            "iso2": [iso2(a) for a in mid["Allocated_to"]],
        }
    ).sort_values("mid")
    missing = out[out["iso2"] == ""]
    if len(missing):
        print("mid: no iso2 for:", "; ".join(missing["country"]))
    _write_csv(CONFIG_DIR / "mid.csv", out, [f"source: {SRC['mid']}"])


ATTRIBUTION = """# Reference data: provenance and licences

Generated by `config/build/build_reference_data.py` from the project's shared real-data folder.
The pipeline reads only these files, never the sources.

| file | source | licence |
|---|---|---|
| regions.geojson | drawn for vessel-risk (lon/lat boxes); flag MIDs from the ITU MID table | project |
| zones.geojson | places named in public reporting (UNHCR, Reuters, AFP, SMH, News Ltd, Kompas, ...), compiled in `reported_smuggling_places.csv`; each feature's `source` names its reports verbatim; positions approximate (see `coord_note`) | facts with citations |
| ports.csv | World Port Index, Pub 150, US National Geospatial-Intelligence Agency; missing UN/LOCODEs filled from searoute ports (nearest within 10 km) | public domain; searoute Apache-2.0 |
| anchorages.csv | Global Fishing Watch anchorages_pipeline named anchorages (one source row with lon = 1001 dropped) | Apache-2.0 |
| land.geojson | Made with Natural Earth (naturalearthdata.com), 1:10m admin-0 countries, clipped to the regions + 1°, dissolved, simplified 0.001° | public domain |
| lanes.geojson | MARNET shipping lanes as distributed with searoute, clipped to the regions + 1° | Apache-2.0 |
| mid.csv | ITU Maritime Identification Digits (MID) table; iso2 matched to Natural Earth names | factual |
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shared", type=Path, default=DEFAULT_SHARED)
    args = ap.parse_args()
    build_regions()
    build_zones(args.shared)
    build_ports(args.shared)
    build_land(args.shared)
    build_lanes(args.shared)
    build_mid(args.shared)
    (CONFIG_DIR / "ATTRIBUTION.md").write_text(ATTRIBUTION)


if __name__ == "__main__":
    main()

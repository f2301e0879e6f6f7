"""Incident reports: ingest validation, idempotence, and matching on a simulated run."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipeline.config import load_settings
from pipeline.ingest.ais import ingest_ais
from pipeline.ingest.incidents import ingest_incidents
from pipeline.ingest.port_calls import ingest_port_calls
from pipeline.labels.incidents import match_incidents, normalise_name, write_matches
from pipeline.lake import Lake
from pipeline.simulate import simulate

HEADER = ("report_date,incident_date,place,lat,lon,mmsi,imo,name,call_sign,outcome,"
          "reporting_agency\n")
ROWS = [
    "2024-11-30,2024-11-25,at sea,6.5,99.1,525005123,,KM SINAR JAYA,,intercepted,Royal Thai Navy",
    "2024-11-30,2024-11-26,Kuala Kedah,,,,,,,landed,UNHCR",
    "2024-11-30,2024-11-26,,6.1,100.2,,,,,Turned Back,Malaysian Maritime Enforcement Agency",
    "2024-11-30,25/11/2024,at sea,6.5,99.1,,,X,,landed,UNHCR",  # date_unparsable
    "2024-11-20,2024-11-25,at sea,6.5,99.1,,,X,,landed,UNHCR",  # report_before_incident
    "2024-11-30,2024-11-25,at sea,95.0,99.1,,,X,,landed,UNHCR",  # lat_out_of_range
    "2024-11-30,2024-11-25,at sea,6.5,199.1,,,X,,landed,UNHCR",  # lon_out_of_range
    "2024-11-30,2024-11-25,at sea,6.5,99.1,,,X,,sunk,UNHCR",  # unknown_outcome
    "2024-11-30,2024-11-25,,6.5,,,,X,,landed,UNHCR",  # no_place_or_position
    "2024-11-30,,at sea,6.5,99.1,,,X,,landed,UNHCR",  # missing_field
    "2024-11-30,2024-11-25,at sea,six,99.1,,,X,,landed,UNHCR",  # bad_number
]


def _write(path: Path, rows: list[str]) -> Path:
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return path


def test_validation_quarantines_with_exact_rules(tmp_path: Path, lake: Lake) -> None:
    (f,) = ingest_incidents([_write(tmp_path / "reports.csv", ROWS)], lake).files
    assert f.read == 11 and f.accepted == 3 and f.balanced
    assert f.quarantined == {
        "date_unparsable": 1, "report_before_incident": 1, "lat_out_of_range": 1,
        "lon_out_of_range": 1, "unknown_outcome": 1, "no_place_or_position": 1,
        "missing_field": 1, "bad_number": 1,
    }
    q = lake.read("quarantine", date(2024, 11, 25)).to_pandas()
    assert set(q["table"]) == {"incidents"}
    by_line = q.set_index("source_line")
    assert by_line.loc[5, "rule"] == "date_unparsable"
    assert by_line.loc[5, "raw"] == ROWS[3]
    assert by_line.loc[6, "rule"] == "report_before_incident"
    assert by_line.loc[11, "rule"] == "missing_field"  # undated: filed on the file's first day
    got = lake.read("incidents", date(2024, 11, 25), date(2024, 11, 26)).to_pandas()
    assert sorted(got["source_line"]) == [2, 3, 4]
    assert set(got["outcome"]) == {"intercepted", "landed", "turned_back"}
    assert got["incident_id"].is_unique
    assert set(got["source_file"]) == {"reports.csv"}
    first = got.set_index("source_line").loc[2]
    assert first["mmsi"] == 525005123 and first["reporting_agency"] == "Royal Thai Navy"


def test_reingest_is_idempotent(tmp_path: Path, lake: Lake) -> None:
    path = _write(tmp_path / "reports.csv", ROWS)
    ingest_incidents([path], lake)
    before = lake.read("incidents", date(2024, 11, 20), date(2024, 11, 30))
    qbefore = lake.read("quarantine", date(2024, 11, 20), date(2024, 11, 30))
    (f,) = ingest_incidents([path], lake).files
    assert f.accepted == 3 and f.duplicates == 0
    assert lake.read("incidents", date(2024, 11, 20), date(2024, 11, 30)).equals(before)
    assert lake.read("quarantine", date(2024, 11, 20), date(2024, 11, 30)).equals(qbefore)
    # the same report in another file is one incident, counted as a duplicate
    (g,) = ingest_incidents([_write(tmp_path / "copy.csv", ROWS[:1])], lake).files
    assert g.duplicates == 1 and g.accepted == 0
    assert lake.read("incidents", date(2024, 11, 25)).num_rows == 1


def test_name_normalisation() -> None:
    got = normalise_name(pd.Series(["Km. Choke Pattana 2", "M/V ORIENT PIONEER", "KMN  Sinar-Jaya",
                                    "fb rahmat al", "", None]))
    assert got.tolist()[:4] == ["CHOKE PATTANA 2", "ORIENT PIONEER", "SINAR JAYA", "RAHMAT AL"]
    assert got.isna().tolist()[4:] == [True, True]


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Lake, Path, pd.DataFrame]:
    """Three peak-season days of the Andaman Sea, every voyage reported; all ingested."""
    settings = load_settings(env={
        "VESSEL_RISK__SIMULATE__SMUGGLING_FRACTION": "0.1",
        "VESSEL_RISK__SIMULATE__INCIDENT_REPORT_FRACTION": "1",
    })
    out = tmp_path_factory.mktemp("sim")
    simulate(settings, "andaman-sea", date(2024, 11, 20), 3, 5, out, "parquet", vessels=100)
    lake = Lake(out / "lake")
    ingest_ais(sorted(out.glob("positions_*.parquet")), lake)
    ingest_port_calls([out / "port_calls.csv"], lake, settings.resolve_port_call)
    junk = _write(out / "junk.csv", [
        "2024-11-28,2024-11-22,at sea,5.0,97.0,,,ZZQX NOTAVESSEL,,rescued,UNHCR"])
    ingest_incidents([out / "incidents.csv", junk], lake)
    matches = match_incidents(lake, settings, date(2024, 11, 1), date(2024, 12, 31))
    write_matches(lake, matches, date(2024, 11, 1), date(2024, 12, 31))
    return lake, out, matches.to_pandas()


def test_reports_naming_a_smuggling_vessel_are_matched_to_it(
    simulated: tuple[Lake, Path, pd.DataFrame],
) -> None:
    lake, out, matches = simulated
    vessels = pd.read_csv(out / "ground_truth" / "vessels.csv")
    scen = vessels[vessels["scenario_id"] >= 0]
    seen = set(lake.read("positions", date(2024, 11, 20), date(2024, 11, 22), ["mmsi"])
               .column("mmsi").to_pylist())
    reports = lake.read("incidents", date(2024, 11, 1), date(2024, 12, 31)).to_pandas()
    reports = reports[reports["source_file"] == "incidents.csv"]
    names = dict(zip(normalise_name(scen["name"]), scen["mmsi"], strict=True))
    checked = 0
    for r in reports.itertuples():  # a dozen reports
        linked = set(matches.loc[matches["incident_id"] == r.incident_id, "mmsi"].dropna())
        expected = set()
        if pd.notna(r.mmsi) and int(r.mmsi) in set(scen["mmsi"]) and int(r.mmsi) in seen:
            expected.add(int(r.mmsi))
        key = normalise_name(pd.Series([r.name])).iloc[0]
        if pd.notna(key) and names.get(key) in seen:
            expected.add(names[key])
        assert expected <= linked, (r, linked)
        checked += len(expected)
    assert checked >= 4
    assert (matches.loc[matches["match_method"] == "mmsi", "confidence"] >= 0.9).all()
    # provenance on every row
    assert matches[["source_file", "source_id", "source_line"]].notna().all().all()
    stored = lake.read("incident_matches", date(2024, 11, 1), date(2024, 12, 31)).to_pandas()
    assert len(stored) == len(matches)


def test_junk_report_stays_unmatched_and_listed(
    simulated: tuple[Lake, Path, pd.DataFrame],
) -> None:
    _, _, matches = simulated
    junk = matches[matches["source_file"] == "junk.csv"]
    assert len(junk) == 1
    row = junk.iloc[0]
    assert row["match_method"] == "unmatched" and pd.isna(row["mmsi"])
    assert row["confidence"] == 0.0 and row["reporting_agency"] == "UNHCR"
    assert row["source_line"] == 2

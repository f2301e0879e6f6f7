"""Port-call ingest: validation against the configured ports, ids, idempotence."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from pipeline.config import Settings, load_settings
from pipeline.ingest.port_calls import ingest_port_calls
from pipeline.lake import Lake

HEADER = (
    "mmsi,imo,name,call_sign,flag,port,arrival_time,departure_time,previous_port,next_port,"
    "persons_on_board\n"
)
# realistic records as a port authority keeps them: partial identifiers, names, local codes
ROWS = [
    "525005123,9176187,KM BINTANG TIMUR,YCKT,ID,IDCXP,2024-02-01T06:10:00Z,2024-02-01T18:40:00Z,IDJKT,IDBOA,14",
    ",,KM SUMBER REZEKI 2,,ID,Cilacap,2024-02-01T22:05:00+07:00,,,,9",
    "525019876,,MV HARAPAN BARU,PMQX,ID,id jkt,2024-02-02T01:00:00Z,2024-02-03T02:00:00Z,IDCXP,,",
    "525000001,9176188,BAD IMO,,ID,IDCXP,2024-02-01T03:00:00Z,,,,",  # wrong check digit
    ",,,,ID,IDCXP,2024-02-01T04:00:00Z,,,,",  # no identifier
    "525000002,,NOWHERE,,ID,XXNOP,2024-02-01T05:00:00Z,,,,",  # unknown port
    "525000003,,BACKWARDS,,ID,IDBOA,2024-02-01T05:00:00Z,2024-01-31T05:00:00Z,,,",
    "525000004,,GARBLED TIME,,ID,IDBOA,yesterday noon,,,,",
]


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings()


def _write(tmp_path: Path, rows: list[str], name: str = "calls.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "\n".join(rows) + "\n")
    return path


def test_valid_calls_land_and_bad_ones_are_quarantined(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    path = _write(tmp_path, ROWS)
    (f,) = ingest_port_calls([path], lake, settings.resolve_port_call).files
    assert f.read == 8 and f.accepted == 3
    assert f.quarantined == {
        "imo_invalid": 1, "no_vessel_identifier": 1, "unknown_port": 1,
        "departure_before_arrival": 1, "timestamp_unparsable": 1,
    }
    calls = lake.read("port_calls", date(2024, 2, 1), date(2024, 2, 2)).to_pandas()
    assert sorted(calls["port_locode"]) == ["IDCXP", "IDCXP", "IDJKT"]
    by_name = calls.set_index("name")
    # a local-time arrival is stored in UTC; a name resolves to its LOCODE
    assert str(by_name.loc["KM SUMBER REZEKI 2", "arrival_time"]) == "2024-02-01 15:05:00+00:00"
    assert by_name.loc["KM BINTANG TIMUR", "imo"] == 9176187
    assert by_name.loc["KM BINTANG TIMUR", "persons_on_board"] == 14
    assert by_name.loc["MV HARAPAN BARU", "port_name"] == "Jakarta"
    assert calls["call_id"].is_unique
    q = lake.read_partition("quarantine", date(2024, 2, 1)).to_pandas().set_index("rule")
    assert "XXNOP" in q.loc["unknown_port", "detail"]
    assert q.loc["imo_invalid", "raw"] == ROWS[3]
    assert q.loc["timestamp_unparsable", "source_line"] == 9


def test_reingest_and_overlap_do_not_duplicate(
    tmp_path: Path, lake: Lake, settings: Settings
) -> None:
    first = _write(tmp_path, ROWS[:3], "a.csv")
    second = _write(tmp_path, ROWS[:2], "b.csv")  # a later extract repeating two calls
    ingest_port_calls([first], lake, settings.resolve_port_call)
    ingest_port_calls([first], lake, settings.resolve_port_call)
    s = ingest_port_calls([second], lake, settings.resolve_port_call)
    assert s.files[0].duplicates == 2 and s.files[0].accepted == 0
    calls = lake.read("port_calls", date(2024, 2, 1), date(2024, 2, 2))
    assert calls.num_rows == 3


def test_missing_columns_is_a_clear_error(tmp_path: Path, lake: Lake, settings: Settings) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("vessel,when\nX,today\n")
    (f,) = ingest_port_calls([path], lake, settings.resolve_port_call).files
    assert f.error is not None
    assert "wrong.csv: line 1: port-call file lacks column(s) ['port', 'arrival_time']" in f.error

"""AIS CSV ingest on the real MarineCadastre slice: counts, quarantine, idempotence."""

from __future__ import annotations

import gzip
import zipfile
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from pipeline.ingest.ais import ingest_ais
from pipeline.ingest.csv_ais import layout_from_mapping
from pipeline.lake import Lake
from tests.conftest import NOAA_SLICE

DAY = date(2022, 1, 3)


def _raw() -> pd.DataFrame:
    return pd.read_csv(NOAA_SLICE, dtype=str, keep_default_na=False)


def test_counts_add_up_and_match_the_file(lake: Lake) -> None:
    summary = ingest_ais([NOAA_SLICE], lake)
    (f,) = summary.files
    raw = _raw()
    assert f.error is None and f.format == "marinecadastre"
    assert f.read == len(raw)
    assert f.read == f.accepted + f.quarantined_total + f.duplicates
    # independent count of what the rules must reject
    mmsi = raw["MMSI"].astype("int64")
    # the real slice holds 12345678 (x5) and 999999999 (x1)
    placeholders = mmsi.isin([12345678, 123456789, 111111111, 999999999])
    assert placeholders.sum() == 6
    not_ship = ~placeholders & ((mmsi < 201_000_000) | (mmsi > 775_999_999))
    assert f.quarantined.get("mmsi_placeholder", 0) == int(placeholders.sum())
    assert f.quarantined.get("mmsi_not_ship", 0) == int(not_ship.sum())
    positions = lake.read("positions", DAY).to_pandas()
    assert len(positions) == f.accepted
    assert positions["mmsi"].nunique() == f.vessels
    q = lake.read_partition("quarantine", DAY).to_pandas()
    assert len(q) == f.quarantined_total
    # quarantine keeps the exact raw line and the line number in the file
    lines = NOAA_SLICE.read_text().splitlines()
    for row in q.head(20).itertuples():
        assert lines[row.source_line - 1] == row.raw
        assert row.source_file == NOAA_SLICE.name


def test_values_decoded_and_sentinels_nulled(lake: Lake) -> None:
    ingest_ais([NOAA_SLICE], lake)
    positions = lake.read("positions", DAY).to_pandas()
    raw = _raw()
    raw = raw[raw["MMSI"] == "367379190"].iloc[0]
    row = positions[(positions["mmsi"] == 367379190)].sort_values("timestamp").iloc[0]
    assert row["lat"] == pytest.approx(float(raw["LAT"]))
    assert row["lon"] == pytest.approx(float(raw["LON"]))
    assert raw["Heading"] == "511" and pd.isna(row["heading_deg"])
    assert row["transceiver_class"] == "A"
    assert str(row["timestamp"].tz) == "UTC"
    static = lake.read("vessel_static", DAY).to_pandas()
    eagle = static[static["mmsi"] == 367379190].iloc[0]
    assert eagle["name"] == "EAGLE" and eagle["imo"] == 8207721 and eagle["call_sign"] == "WTD4583"
    assert (positions["sog_kn"].dropna() < 102.3).all()
    assert (positions["cog_deg"].dropna() < 360).all()


def test_reingest_is_idempotent(lake: Lake) -> None:
    ingest_ais([NOAA_SLICE], lake)
    first = Path(lake.partition_path("positions", DAY)).read_bytes()
    q_first = lake.read_partition("quarantine", DAY).num_rows
    again = ingest_ais([NOAA_SLICE], lake)
    assert Path(lake.partition_path("positions", DAY)).read_bytes() == first
    assert lake.read_partition("quarantine", DAY).num_rows == q_first
    assert again.files[0].accepted == lake.read("positions", DAY).num_rows


def test_two_overlapping_files_any_order(tmp_path: Path) -> None:
    lines = NOAA_SLICE.read_text().splitlines()
    header, body = lines[0], lines[1:]
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    a.write_text("\n".join([header, *body[:2500]]) + "\n")
    b.write_text("\n".join([header, *body[2000:]]) + "\n")  # 500 rows overlap
    l1, l2 = Lake(tmp_path / "l1"), Lake(tmp_path / "l2")
    s_ab = [ingest_ais([a], l1), ingest_ais([b], l1)]
    s_ba = [ingest_ais([b], l2), ingest_ais([a], l2)]
    assert Path(l1.partition_path("positions", DAY)).read_bytes() == Path(
        l2.partition_path("positions", DAY)
    ).read_bytes()
    single = ingest_ais([NOAA_SLICE], Lake(tmp_path / "l3"))
    assert l1.read("positions", DAY).num_rows == single.files[0].accepted
    # the overlap shows up as duplicates of whichever file came second
    assert s_ab[1].files[0].duplicates >= 500 and s_ba[1].files[0].duplicates >= 500


def test_gzip_and_zip_are_read(tmp_path: Path, lake: Lake) -> None:
    gz = tmp_path / "day.csv.gz"
    gz.write_bytes(gzip.compress(NOAA_SLICE.read_bytes()))
    zp = tmp_path / "day.zip"
    with zipfile.ZipFile(zp, "w") as z:
        z.write(NOAA_SLICE, arcname="inner.csv")
    s = ingest_ais([gz, zp], lake)
    assert [f.file for f in s.files] == ["day.csv.gz", "day.zip:inner.csv"]
    assert s.files[0].read == s.files[1].read == len(_raw())
    # same content: the second is entirely duplicates of the first... or the first of it
    assert lake.read("positions", DAY).num_rows == s.files[0].accepted


def test_bad_values_quarantined_with_reason(tmp_path: Path, lake: Lake) -> None:
    lines = NOAA_SLICE.read_text().splitlines()
    header, good = lines[0], lines[1:6]
    cols = header.split(",")
    bad_rows = []
    for change in ({"LAT": "91.0"}, {"LON": "200.5"}, {"BaseDateTime": "2022-13-45T99:00:00"},
                   {"SOG": "fast"}, {"BaseDateTime": "2031-01-03T00:00:00"}):
        fields = good[0].split(",")
        for k, v in change.items():
            fields[cols.index(k)] = v
        bad_rows.append(",".join(fields))
    path = tmp_path / "bad.csv"
    path.write_text("\n".join([header, *good, *bad_rows]) + "\n")
    (f,) = ingest_ais([path], lake).files
    assert f.quarantined == {
        "position_unavailable": 1, "lon_out_of_range": 1, "timestamp_unparsable": 1,
        "bad_number": 1, "timestamp_after_file_span": 1,
    }
    assert f.read == 10 and f.accepted == 5
    q = lake.read_partition("quarantine", DAY).to_pandas().sort_values("source_line")
    assert q["source_line"].tolist() == [7, 8, 9, 10, 11]
    assert q["raw"].tolist() == bad_rows


def test_dma_layout_detected(tmp_path: Path, lake: Lake) -> None:
    path = tmp_path / "aisdk.csv"
    path.write_text(
        "# Timestamp,Type of mobile,MMSI,Latitude,Longitude,Navigational status,ROT,SOG,COG,"
        "Heading,IMO,Callsign,Name,Ship type,Cargo type,Width,Length,"
        "Type of position fixing device,Draught,Destination,ETA,Data source type,A,B,C,D\n"
        "11/06/2010 11:46:11,Class A,219000873,55.680000,12.600000,Under way using engine,0.0,"
        "10.2,180.0,179,9228801,OXMK2,ARROW,Cargo,,20,120,GPS,6.5,AARHUS,,AIS,100,20,10,10\n"
        "11/06/2010 11:46:12,Base Station,2190047,55.7,12.6,Unknown value,,,,,,,,,,,,GPS,,,,"
        "AIS,,,,\n"
        "11/06/2010 11:46:13,Class B,219011111,55.690000,12.610000,Unknown value,,3.1,90.0,,"
        "Unknown,,LILLE MY,Pleasure,,3,9,GPS,,,,AIS,,,,\n"
    )
    (f,) = ingest_ais([path], lake).files
    assert f.format == "dma" and f.read == 3 and f.accepted == 2
    assert f.quarantined == {"mmsi_not_ship": 1}
    pos = lake.read("positions", date(2010, 6, 11)).to_pandas().set_index("mmsi")
    assert pos.loc[219000873, "nav_status"] == 0
    assert pos.loc[219011111, "transceiver_class"] == "B"
    assert str(pos.loc[219000873, "timestamp"]) == "2010-06-11 11:46:11+00:00"
    static = lake.read("vessel_static", date(2010, 6, 11)).to_pandas().set_index("mmsi")
    assert static.loc[219000873, "ship_type"] == 70 and static.loc[219011111, "ship_type"] == 37
    assert static.loc[219000873, "destination"] == "AARHUS"


def test_configured_mapping_with_local_time_zone(tmp_path: Path, lake: Lake) -> None:
    layout = layout_from_mapping(
        "piu_export",
        {"mmsi": "Vessel MMSI", "timestamp": "Local Time", "lat": "Y", "lon": "X",
         "sog_kn": "Speed", "timestamp_format": "%d.%m.%Y %H:%M", "timestamp_tz": "Asia/Jakarta"},
    )
    path = tmp_path / "export.csv"
    path.write_text("Vessel MMSI,Local Time,Y,X,Speed\n525123456,03.01.2022 06:30,-7.01,106.52,0.4\n")
    (f,) = ingest_ais([path], lake, layouts=(layout,)).files
    assert f.format == "piu_export" and f.accepted == 1
    row = lake.read("positions", date(2022, 1, 2)).to_pandas().iloc[0]
    assert str(row["timestamp"]) == "2022-01-02 23:30:00+00:00"  # WIB is UTC+7


def test_unknown_file_gives_clear_error(tmp_path: Path, lake: Lake) -> None:
    junk = tmp_path / "notes.csv"
    junk.write_text("who,what\nme,lunch\n")
    binary = tmp_path / "blob.bin"
    binary.write_bytes(bytes(range(256)) * 4)
    s = ingest_ais([junk, binary, tmp_path / "missing.csv", NOAA_SLICE], lake)
    errors = [f.error for f in s.files]
    assert "notes.csv: line 1: unrecognised file format (header: who, what)" in errors[0]
    assert "csv_mappings" in errors[0]
    assert errors[1] is not None and "blob.bin" in errors[1]
    assert errors[2] is not None and "missing.csv: file not found" in errors[2]
    assert errors[3] is None and s.files[3].accepted > 0  # good files still land


def test_quarantined_raw_text_is_cut_at_the_configured_length(tmp_path: Path, lake: Lake) -> None:
    lines = NOAA_SLICE.read_text().splitlines()
    header, good = lines[0], lines[1]
    cols = header.split(",")
    fields = good.split(",")
    fields[cols.index("LAT")] = "91.0"
    fields[cols.index("VesselName")] = "X" * 500  # AIS text can be anything, at any length
    path = tmp_path / "long.csv"
    path.write_text("\n".join([header, good, ",".join(fields)]) + "\n")
    (f,) = ingest_ais([path], lake, max_raw_chars=120).files
    assert f.quarantined == {"position_unavailable": 1}
    (raw,) = lake.read_partition("quarantine", DAY).to_pandas()["raw"]
    assert len(raw) == 120 and raw == ",".join(fields)[:120]


@pytest.mark.parametrize("bad_number", [False, True])
def test_text_cleaned_per_value_and_identities_grouped(tmp_path: Path, lake: Lake,
                                                       bad_number: bool) -> None:
    header = "MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,VesselType,Status,Length,Width,Draft,Cargo,TransceiverClass"
    rows = [
        "367379190,2022-01-03T00:00:00,30.37,-88.56,0.0,336.2,511,EAGLE,IMO8207721,WTD4583,31,0,28,11,3.3,52,A",
        "367379190,2022-01-03T00:01:00,30.37,-88.56,0.0,336.2,511, EAGLE ,8207721,WTD4583 ,31,0,28,11,3.3,52, A",
        "367379190,2022-01-03T00:02:00,30.37,-88.56,0.0,336.2,511,EAGLE  ,IMO 8207721,WTD4583,31,0,28,11,3.3,52,A",
        "338148873,2022-01-03T00:03:00,33.60,-117.91,0.0,280.0,511,   ,garbage,  ,37,,14,,,,C",
        "338148873,2022-01-03T00:04:00,33.60,-117.91,"
        + ("fast" if bad_number else "1.0") + ",280.0,511,,,,37,,14,,,,B",
    ]
    path = tmp_path / "AIS_2022_01_03.csv"
    path.write_text("\n".join([header, *rows]) + "\n")
    (f,) = ingest_ais([path], lake).files
    assert f.accepted == (4 if bad_number else 5)
    pos = lake.read("positions", DAY).to_pandas()
    by_line = pos.set_index("source_line")["transceiver_class"]
    assert by_line[2] == by_line[3] == by_line[4] == "A" and pd.isna(by_line[5])
    static = lake.read("vessel_static", DAY).to_pandas()
    eagle = static[static["mmsi"] == 367379190]
    # three spellings of one identity: one static row, first seen on line 2
    assert len(eagle) == 1
    assert eagle.iloc[0][["name", "imo", "call_sign", "source_line"]].tolist() == [
        "EAGLE", 8207721, "WTD4583", 2]
    # blank text is null; class C is no class, so line 6 (class B) is another identity
    blank = static[static["mmsi"] == 338148873].sort_values("source_line")
    assert blank["source_line"].tolist() == ([5] if bad_number else [5, 6])
    assert blank["transceiver_class"].isna().tolist() == ([True] if bad_number else [True, False])
    assert blank["name"].isna().all() and blank["call_sign"].isna().all()
    assert blank["imo"].isna().all() and (blank["ship_type"] == 37).all()


def test_rejected_rows_leave_no_trace_in_positions_or_identities(tmp_path: Path, lake: Lake) -> None:
    """Rejected rows are left out by the copy that sorts the accepted ones, and identities
    are grouped apart from them: rows without an MMSI, a time or a position, and a
    rejected identity, must never reach the lake."""
    lines = NOAA_SLICE.read_text().splitlines()
    header, body = lines[0], lines[1:401]
    cols = header.split(",")
    bad_rows = []
    for change in ({"MMSI": ""}, {"BaseDateTime": ""}, {"LAT": ""},
                   {"MMSI": "2320001", "VesselName": "SHORE STATION ONLY"}):
        fields = body[0].split(",")
        for k, v in change.items():
            fields[cols.index(k)] = v
        bad_rows.append(",".join(fields))
    path = tmp_path / "mixed.csv"
    path.write_text("\n".join([header, *bad_rows[:2], *body, *bad_rows[2:]]) + "\n")
    (f,) = ingest_ais([path], lake).files
    clean = tmp_path / "clean.csv"
    clean.write_text("\n".join([header, *body]) + "\n")
    (g,) = ingest_ais([clean], Lake(tmp_path / "clean_lake")).files
    assert f.quarantined_total == g.quarantined_total + 4
    assert f.accepted == g.accepted and f.vessels == g.vessels
    assert (f.start, f.end) == (g.start, g.end)
    assert f.read == f.accepted + f.quarantined_total + f.duplicates
    mine = lake.read("positions", DAY).to_pandas()
    theirs = Lake(tmp_path / "clean_lake").read("positions", DAY).to_pandas()
    assert len(mine) == f.accepted
    # same rows, shifted by the two bad lines put before them
    cols_cmp = ["mmsi", "timestamp", "lat", "lon", "sog_kn"]
    pd.testing.assert_frame_equal(mine[cols_cmp], theirs[cols_cmp])
    assert (mine["source_line"] == theirs["source_line"] + 2).all()
    static = lake.read("vessel_static", DAY).to_pandas()
    assert "SHORE STATION ONLY" not in set(static["name"].dropna())
    assert 2320001 not in set(static["mmsi"])


def test_a_files_own_duplicates_keep_the_first_line(tmp_path: Path, lake: Lake) -> None:
    """Exact duplicates inside one file (same MMSI, time and position) are dropped before
    the merge: the first line is kept whatever else differs, the rest counted."""
    lines = NOAA_SLICE.read_text().splitlines()
    header, body = lines[0], lines[1:301]
    cols = header.split(",")
    first = body[10].split(",")
    again = list(first)
    again[cols.index("SOG")] = "7.7"  # same report key, another speed
    path = tmp_path / "dups.csv"
    path.write_text("\n".join([header, *body, ",".join(again), ",".join(first)]) + "\n")
    (f,) = ingest_ais([path], lake).files
    assert f.duplicates == 2
    assert f.read == f.accepted + f.quarantined_total + f.duplicates
    pos = lake.read("positions", DAY).to_pandas()
    mine = pos[(pos["mmsi"] == int(first[cols.index("MMSI")]))
               & (pos["lat"] == float(first[cols.index("LAT")]))
               & (pos["lon"] == float(first[cols.index("LON")]))]
    assert list(mine["source_line"]) == [12]  # the file line of body[10], not a copy
    (g,) = ingest_ais([path], lake).files  # a second run changes nothing
    assert (g.accepted, g.duplicates) == (f.accepted, f.duplicates)
    assert lake.read("positions", DAY).num_rows == len(pos)

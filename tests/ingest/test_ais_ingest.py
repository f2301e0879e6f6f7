"""The AIS ingest stage end to end on the real NMEA slices and on Parquet."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.ingest.ais import ingest_ais
from pipeline.ingest.nmea import decode_nmea
from pipeline.lake import Lake
from tests.conftest import DATA, NOAA_SLICE

NMEA = sorted((DATA / "nmea").glob("*.nm*"))


@pytest.mark.parametrize("path", NMEA, ids=lambda p: p.name)
def test_nmea_counts_balance_and_every_bad_line_is_quarantined(path: Path, lake: Lake) -> None:
    (f,) = ingest_ais([path], lake, default_date=date(2020, 1, 1)).files
    assert f.error is None and f.format == "nmea"
    assert f.read == f.accepted + f.other_types + f.quarantined_total + f.duplicates
    decoded = decode_nmea(path.read_bytes(), default_date=date(2020, 1, 1))
    q = pd.concat(
        [lake.read_partition("quarantine", d).to_pandas() for d in lake.dates("quarantine")]
        + [lake.read_partition("quarantine", None).to_pandas()],
        ignore_index=True,
    )
    q = q[q["source_file"] == path.name]
    # every line the decoder rejected is in quarantine, under its own rule and line number
    got = set(zip(q["source_line"], q["rule"], strict=True))
    for line, rule in zip(decoded.rejects["source_line"], decoded.rejects["rule"], strict=True):
        assert (line, rule) in got
    assert len(q) == f.quarantined_total
    lines = path.read_text(errors="replace").splitlines()
    for row in q.itertuples():
        if row.rule.startswith("mmsi") or row.rule == "position_unavailable":
            assert row.raw.splitlines()[0].strip() in lines[row.source_line - 1]


def test_nmea_reingest_is_idempotent(lake: Lake) -> None:
    path = DATA / "nmea" / "kystverket_2019-08-07_tag_blocks_slice.nm4"
    day = date(2019, 8, 7)
    ingest_ais([path], lake)
    before = {t: Path(lake.partition_path(t, day)).read_bytes()
              for t in ("positions", "vessel_static", "quarantine")}
    ingest_ais([path], lake)
    after = {t: Path(lake.partition_path(t, day)).read_bytes() for t in before}
    assert before == after


def test_sentences_without_time_need_a_date(lake: Lake) -> None:
    path = DATA / "nmea" / "pyais_sample_with_bad_sentences.nmea"
    (without,) = ingest_ais([path], lake).files
    assert without.accepted == 0 and without.quarantined["no_timestamp"] > 600
    (with_date,) = ingest_ais([path], lake, default_date=date(2021, 5, 4)).files
    assert "no_timestamp" not in with_date.quarantined and with_date.accepted > 600
    assert lake.read("positions", date(2021, 5, 4)).num_rows == with_date.positions


def test_parquet_with_lake_columns(tmp_path: Path, lake: Lake) -> None:
    # export what a CSV ingest produced, then ingest that export into a second lake
    first = Lake(tmp_path / "first")
    ingest_ais([NOAA_SLICE], first)
    table = first.read("positions", date(2022, 1, 3)).drop_columns(["source_id", "source_line"])
    export = tmp_path / "export.parquet"
    pq.write_table(table, export)
    (f,) = ingest_ais([export], lake).files
    assert f.format == "parquet" and f.read == table.num_rows == f.accepted
    got = lake.read("positions", date(2022, 1, 3)).to_pandas()
    want = first.read("positions", date(2022, 1, 3)).to_pandas()
    cols = ["mmsi", "timestamp", "lat", "lon", "sog_kn", "cog_deg", "heading_deg"]
    pd.testing.assert_frame_equal(got[cols].reset_index(drop=True), want[cols].reset_index(drop=True))


def test_parquet_without_required_columns_is_refused(tmp_path: Path, lake: Lake) -> None:
    path = tmp_path / "wrong.parquet"
    pq.write_table(pa.table({"ship": [1], "x": [2.0]}), path)
    (f,) = ingest_ais([path], lake).files
    assert f.error is not None and "lacks the required column(s)" in f.error

"""The receiver's clock ($GPZDA) as the last time source before --date, and ``time_source``.

Data: tests/data/nmea/amsa_2012-01-27_vsi_slice.nmea (see test_nmea_vsi_time.py and
ATTRIBUTION.md): four runs of AMSA's mixed terrestrial feed. Its $GPZDA clock readings are at
slice lines 35, 132, 243 (first run), 371, 461, 553, 644 (second run), about a second and
~100 lines apart within a run; between 243 (11:48:28.52) and 371 (11:49:05.49) the slice
jumps 37 s ahead to the next run: a seam like that of concatenated logs, where the clock says
nothing about the lines in between.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from pipeline.config import load_settings
from pipeline.features import build_features
from pipeline.ingest.ais import ZdaClock, ingest_ais
from pipeline.ingest.nmea import decode_nmea
from pipeline.lake import Lake
from pipeline.schemas import EVENTS, FEATURES, TIME_SOURCES, VESSEL_STATIC
from pipeline.tracks import load_track

DATA = Path(__file__).resolve().parents[1] / "data"
SLICE = DATA / "nmea" / "amsa_2012-01-27_vsi_slice.nmea"
DAY = dt.date(2012, 1, 27)
MIDNIGHT = pd.Timestamp("2012-01-27", tz="UTC")
SETTINGS = load_settings()
MAX_GAP_S = SETTINGS.ingest.nmea_zda_clock_max_gap_s or 0.0  # None: clock off (fails below)
MAX_LINES = SETTINGS.ingest.nmea_zda_clock_max_lines
CLOCK = ZdaClock(MAX_GAP_S, MAX_LINES)


def _lines() -> list[bytes]:
    return SLICE.read_bytes().splitlines()


def _decode(data: bytes, clock: ZdaClock | None = CLOCK) -> pd.DataFrame:
    res = decode_nmea(data, default_date=DAY,
                      zda_clock_max_gap_s=clock.max_gap_s if clock else None,
                      zda_clock_max_lines=clock.max_lines if clock else None)
    return res.positions.set_index("source_line")


def _zda_lines(lines: list[bytes]) -> dict[int, pd.Timestamp]:
    """1-based line -> the clock reading of each $GPZDA of the slice."""
    out = {}
    for i, ln in enumerate(lines, start=1):
        if ln.startswith(b"$GPZDA,"):
            f = ln.split(b"*")[0].split(b",")
            out[i] = pd.Timestamp(f"{f[4].decode()}-{f[3].decode()}-{f[2].decode()} "
                                  f"{f[1][:2].decode()}:{f[1][2:4].decode()}:{f[1][4:].decode()}",
                                  tz="UTC")
    return out


def test_settings_enable_the_clock() -> None:
    # the slice's readings within a run are 1 s and under 130 lines apart; its seam is 37 s
    assert 1 < MAX_GAP_S < 37 and MAX_LINES > 130


def test_message_between_dense_readings_takes_the_latest_one() -> None:
    lines = _lines()
    zda = _zda_lines(lines)
    assert list(zda) == [35, 132, 243, 371, 461, 553, 644]
    off, on = _decode(SLICE.read_bytes(), clock=None), _decode(SLICE.read_bytes())
    # hand-checked: slice line 38 (file line 9688), three lines after the reading 11:48:26.52,
    # has no time of its own
    assert lines[37] == b"!BSVDM,1,1,,B,17P@T`00008AoPSebRRIjiBn00Sw,0*4E"
    assert off.timestamp[38] == MIDNIGHT and off.time_source[38] == "date_only"
    assert on.timestamp[38] == pd.Timestamp("2012-01-27 11:48:26.52", tz="UTC")
    assert on.time_source[38] == "zda_clock"
    # every position the clock times lies inside a run, after the reading it got
    clocked = on[on.time_source == "zda_clock"]
    assert len(clocked) > 200
    zl = np.array(list(zda))
    for line, ts in clocked.timestamp.items():
        before = zl[zl < line].max()
        assert zl[zl > line].min() - before < 130 and ts == zda[before], line
        assert off.time_source[line] == "date_only"
    # and only positions that had no time otherwise changed
    kept = on.time_source != "zda_clock"
    pd.testing.assert_series_equal(on.timestamp[kept], off.timestamp[kept])


def test_clock_time_agrees_with_the_slot_the_message_was_sent_in() -> None:
    """Types 1/2 with SOTDMA slot timeout 2, 4 or 6 state the slot of their own transmission
    (slot n starts n * 60 / 2250 s into the minute): the clock reading just before them is at
    most a few seconds earlier (relayed sentences arrive late)."""
    lines = _lines()
    on = _decode(SLICE.read_bytes())
    diffs = []
    for line, row in on[(on.time_source == "zda_clock") & on.msg_type.isin([1, 2])].iterrows():
        payload = lines[line - 1].decode().split(",")[5]
        bits = "".join(format(v - 8 if (v := ord(c) - 48) > 40 else v, "06b") for c in payload)
        timeout, sub = int(bits[151:154], 2), int(bits[154:168], 2)
        if timeout in (2, 4, 6) and sub < 2250:
            got = row.timestamp.second + row.timestamp.microsecond / 1e6
            diffs.append((got - sub * 60 / 2250 + 30) % 60 - 30)
    d = np.array(diffs)
    assert len(d) >= 30
    assert np.mean((d >= -2) & (d <= 1)) >= 0.9 and np.median(np.abs(d)) < 1


def test_no_clock_at_the_seam_head_and_tail_or_without_zda() -> None:
    lines = _lines()
    on = _decode(SLICE.read_bytes())
    date_only = on.time_source == "date_only"
    assert (on.timestamp[date_only] == MIDNIGHT).all()
    between = on.index.to_series()
    # before the first reading, across the 37 s seam, after the last reading
    for lo, hi in ((1, 35), (243, 371), (644, len(lines) + 1)):
        inside = (between > lo) & (between < hi)
        assert inside.any()
        assert set(on.time_source[inside]) <= {"date_only", "vsi", "trailing_epoch"}, (lo, hi)
        assert date_only[inside].any()
    # the same lines without their ZDAs: nothing is clock-timed
    no_zda = b"\n".join(ln for ln in lines if not ln.startswith(b"$GPZDA"))
    assert "zda_clock" not in set(_decode(no_zda).time_source)


@pytest.mark.parametrize(("gap_s", "filler", "clocked"), [
    (1.0, 10, True), (MAX_GAP_S + 1, 10, False), (1.0, MAX_LINES, False)])
def test_readings_too_far_apart_in_time_or_lines(gap_s: float, filler: int,
                                                 clocked: bool) -> None:
    lines = _lines()
    first = lines[34]  # $GPZDA,114826.52,27,01,2012,,*6C
    later = pd.Timestamp("2012-01-27 11:48:26.52", tz="UTC") + pd.Timedelta(seconds=gap_s)
    body = f"GPZDA,{later:%H%M%S}.{later.microsecond // 10000:02d},27,01,2012,,"
    cs = 0
    for b in body.encode():
        cs ^= b
    second = f"${body}*{cs:02X}".encode()
    msg = lines[37]
    other = b"$PSHI,001,25.16343679,,02633,37367,114825.09,2,0943,-059*3E"  # a header line
    data = b"\n".join([first, msg, *[other] * filler, second])
    got = decode_nmea(data, default_date=DAY, zda_clock_max_gap_s=MAX_GAP_S,
                      zda_clock_max_lines=MAX_LINES).positions
    assert got.time_source.tolist() == ["zda_clock" if clocked else "date_only"]
    assert got.timestamp[0] == (pd.Timestamp("2012-01-27 11:48:26.52", tz="UTC") if clocked
                                else MIDNIGHT)


def test_own_times_and_vsi_still_win() -> None:
    lines = _lines()
    off, on = _decode(SLICE.read_bytes(), clock=None), _decode(SLICE.read_bytes())
    # slice line 106, named by '$ABVSI,Nobbys Head,7,114827,...' two lines later
    assert on.timestamp[106] == pd.Timestamp("2012-01-27 11:48:27", tz="UTC")
    assert on.time_source[106] == "vsi"
    # slice line 101 ends in a receive epoch
    assert lines[100].endswith(b",1327664905") and on.time_source[101] == "trailing_epoch"
    for src in ("vsi", "trailing_epoch"):
        sel = on.time_source == src
        assert sel.sum() > 5
        pd.testing.assert_series_equal(on.timestamp[sel], off.timestamp[sel])
    # a tag block in front of the same sentence, between two dense readings
    tagged = [*lines[:37], b"\\c:1327664000*00\\" + lines[37], *lines[38:]]
    got = _decode(b"\n".join(tagged))
    assert got.timestamp[38] == pd.Timestamp(1327664000, unit="s", tz="UTC")
    assert got.time_source[38] == "tag_block"


def test_ingest_counts_and_warns_about_date_only(tmp_path: Path) -> None:
    (plain,) = ingest_ais([SLICE], Lake(tmp_path / "a"), default_date=DAY).files
    (clocked,) = ingest_ais([SLICE], Lake(tmp_path / "b"), default_date=DAY,
                            zda_clock=CLOCK).files
    for f, lake in ((plain, Lake(tmp_path / "a")), (clocked, Lake(tmp_path / "b"))):
        assert f.read == f.accepted + f.other_types + f.quarantined_total + f.duplicates
        kept = lake.read("positions", DAY).column("time_source")
        assert f.date_only == pc.sum(pc.equal(kept, "date_only")).as_py()
        assert f.as_dict()["date_only_positions"] == f.date_only
    # without the clock most positions carry only the date: the run says so
    assert plain.date_only * 2 > plain.positions and len(plain.warnings) == 1
    assert f"{plain.date_only:,} of {plain.positions:,} positions" in plain.warnings[0]
    assert clocked.date_only * 2 < clocked.positions and clocked.warnings == []
    # the span of the real times, not 00:00: the earliest is slice line 95's receive epoch
    assert _lines()[94].endswith(b",1327664905")
    assert clocked.start == pd.Timestamp(1327664905, unit="s", tz="UTC")


def test_date_only_positions_stay_out_of_tracks_but_count_as_presence(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    ingest_ais([SLICE], lake, default_date=DAY)  # no clock: mostly date-only
    positions = lake.read("positions", DAY)
    date_only = pc.equal(positions.column("time_source"), "date_only").to_numpy(
        zero_copy_only=False)
    assert 0 < (~date_only).sum() < date_only.sum()
    track = load_track(lake, DAY, SETTINGS.events)
    assert (track.t != MIDNIGHT.value // 1000).all()
    assert len(track) + sum(track.glitches.values()) == (~date_only).sum()
    feats = build_features(positions, EVENTS.empty_table(), VESSEL_STATIC.empty_table(),
                           FEATURES.empty_table(), SETTINGS, DAY).to_pandas().set_index("mmsi")
    mmsi = positions.column("mmsi").to_numpy()
    only_date = set(mmsi[date_only]) - set(mmsi[~date_only])
    assert only_date and set(feats.index) == set(mmsi)  # presence: a row for every vessel
    some = feats.loc[sorted(only_date)]
    assert some.first_seen.isna().all() and some.last_seen.isna().all()
    assert some.night_share.isna().all() and (some.glitches == 0).all()
    assert (some.positions > 0).all()
    timed = feats.drop(index=sorted(only_date))
    assert (timed.first_seen > MIDNIGHT).all()


def test_csv_rows_are_row_and_parquet_keeps_its_time_source(tmp_path: Path) -> None:
    csv = sorted((DATA / "ais").glob("*.csv"))[0]
    lake = Lake(tmp_path / "csv")
    (f,) = ingest_ais([csv], lake).files
    assert f.error is None and f.date_only == 0
    day = lake.dates("positions")[0]
    assert set(lake.read("positions", day).column("time_source").to_pylist()) == {"row"}
    assert set(lake.read("vessel_static", day).column("time_source").to_pylist()) <= {"row"}
    # an export of a lake whose rows are mostly date-only keeps them date-only
    nmea = Lake(tmp_path / "nmea")
    ingest_ais([SLICE], nmea, default_date=DAY)
    export = tmp_path / "export.parquet"
    pq.write_table(nmea.read("positions", DAY), export)
    again = Lake(tmp_path / "again")
    (g,) = ingest_ais([export], again).files
    got = again.read("positions", DAY).column("time_source").to_pylist()
    want = nmea.read("positions", DAY).column("time_source").to_pylist()
    assert sorted(got) == sorted(want) and g.date_only == want.count("date_only")
    assert set(TIME_SOURCES) >= set(got)

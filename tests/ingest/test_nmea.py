"""Tests of the vectorised NMEA decoder against pyais, on slices of real feeds.

pyais is the reference: every position report the decoder emits must carry exactly the values
pyais decodes from the same sentence(s), and every sentence pyais cannot decode must be a
reject. Data sources and licences: tests/data/nmea/ATTRIBUTION.md.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyais
import pytest
from pyais.decode import decode_nmea_line

from pipeline.ingest.nmea import REJECT_RULES, NmeaDecoded, decode_nmea

DATA = Path(__file__).resolve().parents[1] / "data" / "nmea"
FILES = sorted(p.name for p in DATA.iterdir() if p.suffix in (".nmea", ".nm4"))
SENTENCE = re.compile(r"(![^,\\]{2}VD[MO],(\d+),(\d+),(\d*),([^,]*),([^,*]*),(\d)\*[0-9A-Fa-f]{2})")
POSITION_TYPES = {1, 2, 3, 18, 19, 27}


def _decode(name: str) -> tuple[bytes, NmeaDecoded]:
    data = (DATA / name).read_bytes()
    return data, decode_nmea(data)


def _sentences(raw: str) -> list[str]:
    """The bare NMEA sentences of a raw row: tag blocks, junk and suffixes removed."""
    out = []
    for line in raw.split("\n"):
        m = SENTENCE.search(line)
        assert m, line
        out.append(m.group(1))
    return out


def _ref(raw: str) -> dict[str, Any]:
    """pyais' decode of the sentence(s) of a raw row, as a plain dict."""
    out: dict[str, Any] = pyais.decode(*_sentences(raw)).asdict()
    return out


def _ts(seconds: float) -> pd.Timestamp:
    return pd.Timestamp(round(seconds * 1e6), unit="us", tz="UTC")


@pytest.mark.parametrize("name", FILES)
def test_positions_equal_pyais(name: str) -> None:
    _, res = _decode(name)
    assert len(res.positions) > 0 or name == "gpsd_all_message_types.nmea"
    for row in res.positions.itertuples():
        ref = _ref(row.raw)
        assert row.msg_type == ref["msg_type"]
        assert row.mmsi == ref["mmsi"]
        assert row.lat == ref["lat"] and row.lon == ref["lon"], row.raw
        assert row.sog_kn == ref["speed"] and row.cog_deg == ref["course"], row.raw
        assert row.heading_deg == ref.get("heading", 511), row.raw
        if ref["msg_type"] in (1, 2, 3, 27):
            assert row.nav_status == int(ref["status"])
            assert row.transceiver_class == "A"
        else:
            assert pd.isna(row.nav_status)
            assert row.transceiver_class == "B"


@pytest.mark.parametrize("name", FILES)
def test_every_pyais_position_is_found_or_rejected(name: str) -> None:
    """Completeness: each single-sentence position report pyais accepts is a row or a reject."""
    data, res = _decode(name)
    got = set(res.positions.source_line.tolist())
    rejected = dict(zip(res.rejects.source_line, res.rejects.rule, strict=True))
    missing = []
    for i, line in enumerate(data.decode("ascii", "replace").splitlines(), start=1):
        m = SENTENCE.search(line)
        if not m or m.group(2) != "1":
            continue
        try:
            nmea = decode_nmea_line(m.group(1).encode())
            msg = pyais.decode(m.group(1)) if nmea.is_valid else None
        except Exception:
            continue
        if msg is None or msg.msg_type not in POSITION_TYPES:
            continue
        if i not in got:
            missing.append((i, rejected.get(i)))
    # the only accepted differences are payloads too short for the fields we read
    assert all(rule == "nmea_payload_invalid" for _, rule in missing), missing[:5]
    assert len(missing) <= 0.02 * max(len(got), 1)


@pytest.mark.parametrize("name", FILES)
def test_counts_add_up(name: str) -> None:
    data, res = _decode(name)
    nonempty = sum(1 for ln in data.splitlines() if ln.strip())
    reject_lines = sum(r.count("\n") + 1 for r in res.rejects.raw)
    assert res.lines == nonempty
    assert res.lines == res.header_lines + res.message_lines + reject_lines
    n19 = int((res.static.msg_type == 19).sum())
    complete = len(res.positions) + len(res.static) - n19 + sum(res.other_types.values())
    assert res.complete == complete
    assert res.messages == complete + len(res.rejects)
    assert set(res.rejects.rule) <= set(REJECT_RULES)
    # a line is a reject or part of a message, never both
    used = set(res.positions.source_line) | set(res.static.source_line)
    assert not used & set(res.rejects.source_line)
    assert res.positions.source_line.is_unique


def test_dtypes() -> None:
    _, res = _decode("kystverket_2019-08-07_tag_blocks_slice.nm4")
    p = res.positions
    assert str(p.timestamp.dtype) == "datetime64[us, UTC]"
    assert p.mmsi.dtype == np.int64 and p.source_line.dtype == np.int64
    assert str(p.nav_status.dtype) == "Int8" and p.msg_type.dtype == np.int8
    assert p.lat.dtype == np.float64 and p.sog_kn.dtype == np.float64
    assert str(res.static.imo.dtype) == "Int64" and str(res.static.ship_type.dtype) == "Int16"
    assert list(res.rejects.columns) == ["source_line", "rule", "detail", "raw"]


def test_bad_sentences_are_rejected() -> None:
    """pyais' own error sample: every sentence pyais refuses is a reject with a rule."""
    data, res = _decode("pyais_sample_with_bad_sentences.nmea")
    rejected = dict(zip(res.rejects.source_line, res.rejects.rule, strict=True))
    lines = data.decode().splitlines()
    refused = 0
    for i, line in enumerate(lines, start=1):
        if not line.strip() or line.split(",")[1] != "1":
            continue
        try:
            pyais.decode(line).asdict()
        except Exception:
            refused += 1
            assert rejected.get(i) in REJECT_RULES, (i, line)
    assert refused >= 90
    assert rejected[4] == "nmea_payload_invalid"  # '!AIVDM,1,1,,B,,0*25': empty payload


def test_static_equal_pyais() -> None:
    _, res = _decode("kystverket_2019-08-07_tag_blocks_slice.nm4")
    assert len(res.static) > 10
    for row in res.static.itertuples():
        ref = _ref(row.raw)
        assert row.mmsi == ref["mmsi"]
        if row.msg_type == 5:
            assert row.name == ref["shipname"] and row.call_sign == ref["callsign"]
            assert row.destination == ref["destination"]
            assert row.length_m == (ref["to_bow"] + ref["to_stern"] or None) or pd.isna(
                row.length_m
            )
            assert (pd.isna(row.imo) and not ref["imo"]) or row.imo == ref["imo"]


def test_timestamp_tag_block() -> None:
    _, res = _decode("kystverket_2019-08-07_tag_blocks_slice.nm4")
    first = res.positions.iloc[0]
    assert first.source_line == 1  # '\c:1565218798*53\!BSVDM,...'
    assert first.timestamp == pd.Timestamp("2019-08-07 22:59:58", tz="UTC")
    assert res.positions.timestamp.notna().all()


def test_timestamp_tag_block_group_first_line() -> None:
    """Multipart with tag block groups: the c: of the group's first line applies."""
    lines = [
        rb"\g:1-2-3985,s:rEV02,c:1334337317*2D\!AIVDM,2,1,9,B,58KvN<42ACikUKW77F1H4hF0<PTp622222222216`0`cF5BF0RT13H0T,0*70",
        rb"\g:2-2-3985,c:1334337999*5A\!AIVDM,2,2,9,B,PFRC88888888880,2*29",
    ]
    res = decode_nmea(b"\n".join(lines))
    assert len(res.static) == 1 and len(res.rejects) == 0
    assert res.static.timestamp.iloc[0] == _ts(1334337317)
    assert res.static.source_line.iloc[0] == 1


@pytest.mark.parametrize("pad", [0, 40, 150])  # read narrow, read again wider, per line
def test_timestamp_tag_block_of_any_length(pad: int) -> None:
    """A tag block's c: time is read however long the block is (a receiver may add long
    source or text fields): short ones, ones past the first window, ones past any window."""
    def checksum(text: str) -> str:
        cs = 0
        for ch in text.encode():
            cs ^= ch
        return f"{cs:02X}"

    body = f"s:{'r' * (pad + 1)},c:1334337317"
    sentence = "AIVDM,1,1,,B,13aEOK?P00PD2wVMdLDRhgvL289?,0"
    short = rb"\c:1334337000*00\!AIVDM,1,1,,A,35MuKPUP02I<cf<A1wt0JOv00000,0*48"
    line = f"\\{body}*{checksum(body)}\\!{sentence}*{checksum(sentence)}".encode()
    res = decode_nmea(b"\n".join([short, line, short]))
    assert len(res.rejects) == 0 and len(res.positions) == 3
    times = res.positions.set_index("source_line")["timestamp"]
    assert times.loc[2] == _ts(1334337317)
    assert times.loc[1] == times.loc[3] == _ts(1334337000)


def test_timestamp_pghp() -> None:
    _, res = _decode("amsa_exactearth_satellite_pghp_slice.nmea")
    row = res.positions.set_index("source_line").loc[27]
    # line 26: $PGHP,1,2012,1,31,6,10,7,0,... (beats the trailing ',1327992619059')
    assert row.timestamp == pd.Timestamp("2012-01-31 06:10:07.000", tz="UTC")
    _, dma = _decode("dma_2010-06-11_stream_pghp_slice.nmea")
    row = dma.positions.set_index("source_line").loc[6]
    # line 5: $PGHP,1,2010,6,11,11,46,12,451,...
    assert row.timestamp == pd.Timestamp("2010-06-11 11:46:12.451", tz="UTC")
    assert dma.header_lines == sum(
        1
        for ln in (DATA / "dma_2010-06-11_stream_pghp_slice.nmea").read_text().splitlines()
        if ln.startswith("$PGHP")
    )


def test_timestamp_trailing_epoch_and_default() -> None:
    _data, res = _decode("amsa_2012-01-27_mixed_slice.nmea")
    row = res.positions.set_index("source_line").loc[165]
    assert row.timestamp == _ts(1327664822)  # '...,0*48,1327664822'
    ms = b"!AIVDM,1,1,,A,35MuKPUP02I<cf<A1wt0JOv00000,0*48,1327664822123"
    assert decode_nmea(ms).positions.timestamp.iloc[0] == _ts(1327664822.123)
    bare = b"!AIVDM,1,1,,A,35MuKPUP02I<cf<A1wt0JOv00000,0*48"
    assert pd.isna(decode_nmea(bare).positions.timestamp.iloc[0])
    day = decode_nmea(bare, default_date=dt.date(2012, 1, 27)).positions.timestamp.iloc[0]
    assert day == pd.Timestamp("2012-01-27", tz="UTC")


def _kyst_type5() -> tuple[list[bytes], list[bytes]]:
    lines = (DATA / "kystverket_2019-08-07_tag_blocks_slice.nm4").read_bytes().splitlines()
    a = [lines[12], lines[13]]  # seq 3, channel A
    b = [lines[15], lines[16]]  # seq 0, channel B
    assert b",2,1,3,A," in a[0] and b",2,2,0,B," in b[1]
    return a, b


def test_interleaved_multipart() -> None:
    a, b = _kyst_type5()
    pos = b"!AIVDM,1,1,,A,35MuKPUP02I<cf<A1wt0JOv00000,0*48"
    res = decode_nmea(b"\n".join([a[0], b[0], pos, a[1], b[1]]))
    assert len(res.rejects) == 0 and len(res.positions) == 1
    assert sorted(res.static.source_line) == [1, 2]
    for row in res.static.itertuples():
        part = a if row.source_line == 1 else b
        ref = _ref(b"\n".join(part).decode())
        assert (row.mmsi, row.name, row.call_sign) == (
            ref["mmsi"],
            ref["shipname"],
            ref["callsign"],
        )
        assert row.raw.count("\n") == 1
    assert res.messages == 3 and res.message_lines == 5


def test_multipart_restart_and_orphans() -> None:
    a, b = _kyst_type5()
    # fragment 1 twice (restart), then an orphan fragment 2 and a lone fragment 1
    res = decode_nmea(b"\n".join([a[0], a[0], a[1], b[1], b[0]]))
    assert len(res.static) == 1 and res.static.source_line.iloc[0] == 2
    assert res.rejects.rule.tolist() == ["nmea_fragment_incomplete"] * 3
    assert res.rejects.source_line.tolist() == [1, 4, 5]
    assert res.lines == res.message_lines + len(res.rejects)


def test_leading_junk_and_suffix() -> None:
    _, res = _decode("gpsd_all_message_types.nmea")
    # line 10 in the file is '    9 !AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4A'
    row = res.positions.set_index("source_line").loc[14]
    assert row.mmsi == 371798000 and row.lon == pytest.approx(-123.395383, abs=1e-6)


def test_garbage_gives_rejects() -> None:
    rng = np.random.default_rng(7)
    junk = rng.integers(0, 256, 20_000, dtype=np.uint8).tobytes()
    junk += b"\n!AIVDM,1,1,,A\n!AIVDM,9,9,9,9,9,9*99\n\\c:12\n\\unterminated\n$GPGGA,1*00\n!\n"
    junk += b"!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g208CQ,0*4B\n"  # checksum off by one
    junk += b"!AIVDM,1,1,,A,15RTgt0PAso;90TKcjM8h6g2~8CQ,0*34\n"
    res = decode_nmea(junk)
    assert len(res.positions) == 0
    assert len(res.rejects) == res.lines - res.header_lines - res.message_lines
    assert "nmea_checksum" in set(res.rejects.rule)
    assert decode_nmea(b"").messages == 0
    assert decode_nmea(b"\n\n  \n").lines == 0

"""Receive times from $--VSI (VDL signal information) and $--ZDA sentences.

Data: tests/data/nmea/amsa_2012-01-27_vsi_slice.nmea, four runs of lines of AMSA's mixed
terrestrial feed (see ATTRIBUTION.md). Slice lines 1-300 are file lines 9651-9950, 301-700 are
14101-14500, 701-716 are 14895-14910 and 717-727 are 43855-43865. Its only receive times
besides a few trailing epochs are $ABVSI (`$ABVSI,Nobbys Head,<seq id>,hhmmss,<slot>,<dBm>,
<SNR>`, naming the latest `!AB...` sentence with that sequence id), Saab's `$AIVSI,,hhmmss.ss,...`
without a sequence id, and the GPS clock `$GPZDA,hhmmss.ss,dd,mm,yyyy,,`.

The checks against the messages themselves use what a Class A transmitter says about its own
transmission in the SOTDMA communication state of types 1 and 2 (ITU-R M.1371): with slot
timeout 1 the UTC hour and minute, with timeout 2, 4 or 6 the slot number it transmits in
(2,250 slots a minute, so slot n starts n * 60 / 2250 s into the minute).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pandas as pd
import pyais
import pytest

from pipeline.ingest.ais import ingest_ais
from pipeline.ingest.nmea import MAX_VSI_GAP, decode_nmea
from pipeline.lake import Lake

DATA = Path(__file__).resolve().parents[1] / "data" / "nmea"
SLICE = DATA / "amsa_2012-01-27_vsi_slice.nmea"
DAY = dt.date(2012, 1, 27)
MIDNIGHT = pd.Timestamp("2012-01-27", tz="UTC")
SOUND = re.compile(rb"^\$[A-Z]{2}(VSI|ZDA),[^*]*\*([0-9A-F]{2})$")


def _lines() -> list[bytes]:
    return SLICE.read_bytes().splitlines()


def _nmea(body: str) -> bytes:
    """A '$' sentence with its checksum (for time sentences rewritten around midnight)."""
    cs = 0
    for b in body.encode():
        cs ^= b
    return f"${body}*{cs:02X}".encode()


def _times(data: bytes, day: dt.date | None = DAY) -> pd.Series:
    return decode_nmea(data, default_date=day).positions.set_index("source_line").timestamp


def _vsi_timed(data: bytes) -> pd.Series:
    """Positions whose time comes from a VSI: those that change when the VSIs are hidden."""
    with_vsi = _times(data)
    without = _times(data.replace(b"VSI,", b"VSX,"))  # same lines, no longer VSIs
    return with_vsi[with_vsi != without.reindex(with_vsi.index)]


def _comm_state(raw: str) -> tuple[int, int]:
    """(slot timeout, sub message) of a type 1/2 payload: its last 17 bits."""
    payload = raw.split(",")[5]
    bits = "".join(format(v - 8 if (v := ord(c) - 48) > 40 else v, "06b") for c in payload)
    return int(bits[151:154], 2), int(bits[154:168], 2)


def test_hand_checked_examples() -> None:
    lines = _lines()
    t = _times(SLICE.read_bytes())
    # file line 9756 and the VSI two lines later that names it (same talker AB, sequence id 7)
    assert lines[105] == b"!ABVDM,1,1,7,A,17P=e23000bngMEe:RUa35bn08?q,0*33"
    assert lines[107] == b"$ABVSI,Nobbys Head,7,114827,1017,-71,41*7B"
    assert t[106] == pd.Timestamp("2012-01-27 11:48:27", tz="UTC")
    # the message says it is sent in slot 1017 (27.12 s into the minute): the VSI's slot
    assert _comm_state(lines[105].decode()) == (2, 1017)
    # file line 9707 (sequence id 4): its communication state gives UTC 11:48
    assert lines[56] == b"!ABVDM,1,1,4,A,17P?et0P00bneuge:LTP0?vj05K0,0*00"
    assert t[57] == pd.Timestamp("2012-01-27 11:48:26", tz="UTC")
    assert _comm_state(lines[56].decode()) == (1, (11 << 9) | (48 << 2))
    # a static report (type 5, file line 14129) named by '$ABVSI,Nobbys Head,6,114904,...'
    static = decode_nmea(SLICE.read_bytes(), default_date=DAY).static.set_index("source_line")
    assert static.timestamp[329] == pd.Timestamp("2012-01-27 11:49:04", tz="UTC")


def test_vsi_times_agree_with_what_the_messages_say() -> None:
    """Every VSI-timed position whose communication state states its slot or UTC hour and
    minute agrees with it (a slot also with the slot its VSI reports), and the UTC second each
    report carries (of its position fix) is within a few seconds of the VSI's receive time."""
    lines = _lines()
    timed = _vsi_timed(SLICE.read_bytes())
    assert len(timed) >= 15
    slots = minutes = 0
    for line, ts in timed.items():
        raw = lines[line - 1].decode()
        msg: dict[str, Any] = pyais.decode(raw).asdict()
        assert ts.floor("D") == MIDNIGHT and ts != MIDNIGHT
        second = 60 if msg.get("second") is None else int(msg["second"])  # 60-63: n/a
        if second < 60:
            assert -2 <= (ts.second - second + 30) % 60 - 30 <= 3, (line, raw)
        if msg["msg_type"] not in (1, 2):
            continue
        timeout, sub = _comm_state(raw)
        if timeout in (2, 4, 6):  # slot number of this very transmission
            assert ts.second == sub * 60 // 2250, (line, raw)
            # and a VSI just after it reports receiving that slot, at that time
            after = [ln.split(b",") for ln in lines[line : line + MAX_VSI_GAP]]
            assert any(
                f[0] == b"$ABVSI" and len(f) == 7 and f[4] == b"%d" % sub
                and f[3] == ts.strftime("%H%M%S").encode()
                for f in after
            ), (line, raw)
            slots += 1
        elif timeout == 1:  # UTC hour and minute
            assert (ts.hour, ts.minute) == (sub >> 9, (sub >> 2) & 127), (line, raw)
            minutes += 1
    assert slots >= 4 and minutes >= 3


def test_message_without_vsi_keeps_the_date_or_its_own_time() -> None:
    lines = _lines()
    t = _times(SLICE.read_bytes())
    timed = _vsi_timed(SLICE.read_bytes())
    # an !AIVDM right before a Saab '$AIVSI,,hhmmss.ss,...' (no sequence id): named by nothing
    assert lines[2].startswith(b"!AIVDM,1,1,,A,B7P>O2") and lines[3].startswith(b"$AIVSI,,")
    assert t[3] == MIDNIGHT and 3 not in timed.index
    assert pd.isna(_times(SLICE.read_bytes(), day=None)[3])
    # a message's own time still comes first: a trailing epoch, a tag block
    assert lines[100].endswith(b",0*3D,1327664905")
    assert t[101] == pd.Timestamp(1327664905, unit="s", tz="UTC")
    for own in (VDM7 + b",1327664000", b"\\c:1327664000*00\\" + VDM7):
        got = _times(b"\n".join([own, _vsi(7, "114827")]))
        assert got[1] == pd.Timestamp(1327664000, unit="s", tz="UTC")
    # most positions of a mixed feed have no VSI at all
    assert (t == MIDNIGHT).sum() > 10 * len(timed)


def test_bad_time_sentences_are_rejected_and_counted() -> None:
    data = SLICE.read_bytes()
    res = decode_nmea(data, default_date=DAY)
    rej = dict(zip(res.rejects.source_line, res.rejects.rule, strict=True))
    lines = _lines()
    assert lines[708] == b"$ABVSI,Nobbys Head,2,1149"  # real line, cut short
    assert rej[709] == "nmea_malformed"
    assert lines[721].startswith(b"$ABVSI,Nobbys Head,7,115320,769,-80,3K@0@1ak2")  # garbled
    assert rej[722] == "nmea_checksum"
    # sound VSI / ZDA lines are header lines, like $PGHP
    sound = 0
    for ln in lines:
        m = SOUND.match(ln)
        if m:
            cs = 0
            for b in ln[1 : ln.index(b"*")]:
                cs ^= b
            sound += cs == int(m.group(2), 16)
    assert res.header_lines == sound > 40
    reject_lines = sum(r.count("\n") + 1 for r in res.rejects.raw)
    assert res.lines == res.header_lines + res.message_lines + reject_lines
    # a VSI whose checksum is broken times nothing
    broken = data.replace(b"$ABVSI,Nobbys Head,7,114827,1017,-71,41*7B",
                          b"$ABVSI,Nobbys Head,7,114827,1017,-71,41*7C")
    res = decode_nmea(broken, default_date=DAY)
    assert (108, "nmea_checksum") in set(zip(res.rejects.source_line, res.rejects.rule, strict=True))
    assert res.positions.set_index("source_line").timestamp[106] == MIDNIGHT


def test_ingest_counts_balance(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    (f,) = ingest_ais([SLICE], lake, default_date=DAY).files
    assert f.error is None
    assert f.read == f.accepted + f.other_types + f.quarantined_total + f.duplicates
    assert f.quarantined["nmea_checksum"] >= 1 and f.quarantined["nmea_malformed"] >= 1
    # the latest time: slice line 708, named by '$ABVSI,Nobbys Head,4,114912,...' at line 710
    assert f.end == pd.Timestamp("2012-01-27 11:49:12", tz="UTC")
    # the span is that of the real times: the date-only rows at 00:00 are not a time
    pos = lake.read("positions", DAY).to_pandas()
    date_only = pos["time_source"] == "date_only"
    assert date_only.any() and (pos.loc[date_only, "timestamp"] == MIDNIGHT).all()
    assert f.start == pos.loc[~date_only, "timestamp"].min() > MIDNIGHT


# --- around the VSI: window, dead ends, midnight (real sentences, time fields rewritten) -----

VDM7 = b"!ABVDM,1,1,7,A,17P=e23000bngMEe:RUa35bn08?q,0*33"  # file line 9756
VDM8 = b"!ABVDM,1,1,8,A,1EB3Sj0019:tN6qeL5r1BPf80000,0*75"  # file line 14151
VDM9 = b"!ABVDM,1,1,9,A,14W:<b030NboM39e6J1MH@Ll8H@2,0*5A"  # file line 9781
FILLER = b"!AIVDM,1,1,,A,B7P>O20002e0>tLVWu;Q3wdWkP06,0*45"  # no sequence id


def _vsi(seq: int, hhmmss: str) -> bytes:
    return _nmea(f"ABVSI,Nobbys Head,{seq},{hhmmss},1017,-71,41")


def _zda(hhmmss: str, day: dt.date) -> bytes:
    return _nmea(f"GPZDA,{hhmmss},{day:%d,%m,%Y},,")


@pytest.mark.parametrize("gap", [MAX_VSI_GAP, MAX_VSI_GAP + 1])
def test_vsi_reaches_back_at_most_max_gap_lines(gap: int) -> None:
    data = b"\n".join([VDM7, *[FILLER] * (gap - 1), _vsi(7, "114827")])
    got = _times(data)[1]
    assert got == (pd.Timestamp("2012-01-27 11:48:27", tz="UTC") if gap <= MAX_VSI_GAP
                   else MIDNIGHT)


def test_vsi_naming_a_corrupt_sentence_times_nothing_older() -> None:
    corrupt = VDM7.replace(b"*33", b"*34")
    res = decode_nmea(b"\n".join([VDM7, FILLER, corrupt, _vsi(7, "114827")]), default_date=DAY)
    assert res.positions.timestamp.tolist() == [MIDNIGHT, MIDNIGHT]
    assert res.rejects.rule.tolist() == ["nmea_checksum"]


def test_first_vsi_naming_a_sentence_wins() -> None:
    got = _times(b"\n".join([VDM7, _vsi(7, "114827"), _vsi(7, "114830")]))
    assert got[1] == pd.Timestamp("2012-01-27 11:48:27", tz="UTC")


def test_midnight_rolls_over_from_the_zda() -> None:
    before = dt.date(2012, 1, 26)
    # the clock read 23:59:59.5 on the 26th; the VSI right after says 00:00:00
    got = _times(b"\n".join([_zda("235959.50", before), VDM7, _vsi(7, "000000")]), day=None)
    assert got[2] == pd.Timestamp("2012-01-27 00:00:00", tz="UTC")
    # the clock already read 00:00:00.4 on the 27th; a late VSI says 23:59:59
    got = _times(b"\n".join([_zda("000000.40", DAY), VDM7, _vsi(7, "235959")]), day=None)
    assert got[2] == pd.Timestamp("2012-01-26 23:59:59", tz="UTC")
    # VSIs before the stream's first ZDA take their date from it
    got = _times(b"\n".join([VDM7, _vsi(7, "114827.25"), _zda("114828.52", DAY)]), day=None)
    assert got[1] == pd.Timestamp("2012-01-27 11:48:27.250", tz="UTC")


def test_midnight_rolls_over_without_a_zda() -> None:
    lines = [VDM7, _vsi(7, "235958"), VDM8, _vsi(8, "235959"), VDM9, _vsi(9, "000001")]
    got = _times(b"\n".join(lines))  # most of them fall on --date
    assert got[1] == pd.Timestamp("2012-01-27 23:59:58", tz="UTC")
    assert got[5] == pd.Timestamp("2012-01-28 00:00:01", tz="UTC")
    lines = [VDM7, _vsi(7, "235959"), VDM8, _vsi(8, "000000"), VDM9, _vsi(9, "000001")]
    got = _times(b"\n".join(lines))
    assert got[1] == pd.Timestamp("2012-01-26 23:59:59", tz="UTC")
    assert got[3] == pd.Timestamp("2012-01-27 00:00:00", tz="UTC")
    # neither a ZDA nor --date: the time of day alone dates nothing
    assert _times(b"\n".join(lines), day=None).isna().all()


def test_block_boundaries_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    """A VSI in one block of lines names a sentence in the block before."""
    data = SLICE.read_bytes()
    whole = decode_nmea(data, default_date=DAY)
    monkeypatch.setattr("pipeline.ingest.nmea.LINE_CHUNK", 7)
    blocks = decode_nmea(data, default_date=DAY)
    assert whole.stats == blocks.stats and whole.header_lines == blocks.header_lines
    for a, b in ((whole.positions, blocks.positions), (whole.static, blocks.static)):
        pd.testing.assert_frame_equal(
            a.sort_values("source_line", ignore_index=True),
            b.sort_values("source_line", ignore_index=True),
        )
    pd.testing.assert_frame_equal(whole.rejects, blocks.rejects)

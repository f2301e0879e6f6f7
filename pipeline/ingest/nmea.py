"""Vectorised NMEA 0183 AIS decoder: raw feed bytes -> position / static / reject tables.

Why vectorised: national feeds hold tens of millions of sentences a day; decoding them one
message at a time in Python (pyais) runs at ~100k sentences/s. Here line splitting, sentence
structure, checksums, tag blocks and the bit fields of position reports are computed with
numpy over whole arrays of offsets into the input buffer. Only odd lines (leading junk,
unusual field widths), multi-sentence messages and rare static types take a Python path.

Every non-empty input line ends up in exactly one place: a complete message, a header line
(a time carrier: $PGHP, $--VSI, $--ZDA) or a reject row (see :class:`NmeaDecoded`).

Receive time of a message, first found wins: NMEA 4.0 tag block ``c:``, the $PGHP header just
before it, a trailing epoch after its checksum, the time of the $--VSI sentence that names it
by talker and sequence id (dated by the stream's $--ZDA, else by ``default_date``), the
receiver's clock (the latest $--ZDA before it, only where the clock readings are dense: see
:func:`_zda_clock`), else ``default_date`` at 00:00 UTC. Each row says which in
``time_source`` (codes into ``pipeline.schemas.TIME_SOURCES``).
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyais
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.ingest.rules import RULES
from pipeline.ingest.sixbit import (
    HEX,
    SIXBIT,
    gather,
    int_field,
    parse_digits,
    uint_field,
    xor_segments,
)
from pipeline.ingest.sources import Buffer
from pipeline.schemas import TIME_SOURCES

__all__ = ["REJECT_RULES", "NmeaDecoded", "decode_nmea"]

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
Bool = npt.NDArray[np.bool_]

NAT = np.iinfo(np.int64).min
LINE_CHUNK = 1 << 18  # lines per vectorised block: bounds the gather matrices (~50 MB)
TAG_WINDOW = 128  # longest tag block handled on the fast path
# Tag blocks are first read 48 bytes wide (a receiver's "s:…,c:<epoch>*hh" is ~30), the
# longer ones again TAG_WINDOW wide: a window matrix as wide as the longest block for every
# line cost a 10 M-line feed a third of its decode time in fresh pages.
TAG_WIDTHS = (48, TAG_WINDOW)
MAX_FRAGMENT_GAP = 100  # lines allowed between consecutive fragments of one message
LONG_PAYLOAD = 128  # payloads longer than this (chars) are validated in Python
TIME_WINDOW = 96  # longest $--VSI / $--ZDA read (NMEA caps a sentence at 82 characters)
# A $--VSI names its message by talker and sequence id and follows it within this many lines:
# in AMSA's mixed terrestrial feed (amsa_2012-01-27_mixed.nmea) 99 % of the links span at
# most 17 lines (other receivers' sentences interleave), while one talker reuses a sequence
# id every ~10-40 lines, so a VSI whose own message was lost must not reach an older one.
MAX_VSI_GAP = 20
DAY_MS = 86_400_000
# time_source codes (indices into pipeline.schemas.TIME_SOURCES); a sentence starts as
# date_only and keeps that code while nothing gives it a time
SRC_TAG, SRC_PGHP, SRC_TRAIL, SRC_VSI, SRC_ZDA, SRC_DATE = (
    TIME_SOURCES.index(k)
    for k in ("tag_block", "pghp", "trailing_epoch", "vsi", "zda_clock", "date_only")
)

POSITION_TYPES = (1, 2, 3, 18, 19, 27)
STATIC_TYPES = (5, 24)
# Minimum payload bits: the end of the last field the decoder reads for that type.
MIN_BITS = {1: 137, 2: 137, 3: 137, 18: 133, 19: 301, 27: 94, 5: 420, 24: 160}
MIN_BITS_OTHER = 38  # type, repeat and MMSI

# The rules this decoder applies; their meaning lives in pipeline.ingest.rules.RULES.
REJECT_RULES = {
    name: RULES[name]
    for name in (
        "nmea_checksum", "nmea_malformed", "nmea_payload_invalid", "nmea_fragment_incomplete",
        "not_ais",
    )
}

_SLOW_RE = re.compile(
    rb"^!(?P<talker>[^,*\\!$]{2})(?P<kind>VD[MO]),(?P<total>\d{1,2}),(?P<num>\d{1,2}),"
    rb"(?P<seq>\d{0,2}),(?P<chan>[^,*]{0,2}),(?P<payload>[^,*]*),(?P<fill>\d)"
    rb"\*(?P<cs>[0-9A-Fa-f]{2})(?P<suffix>(?:,[^,]*)*)$",
    re.IGNORECASE,
)
_VDX_RE = re.compile(rb"^![^,]{2}VD[MO],", re.IGNORECASE)
_TAG_C_RE = re.compile(rb"(?:^|,)c:(\d{1,13})(?:[,*]|$)")


@dataclass
class NmeaDecoded:
    """Decoded content of one NMEA file.

    Row order: single-sentence messages in file order, then reassembled multi-sentence
    messages in file order (the lake sorts anyway). Invariants, checked by the tests:
    ``lines == header_lines + message_lines + sum(raw.count('\\n') + 1 over rejects)`` and
    ``messages == complete messages + len(rejects)`` where a type 19 message yields a
    position and a static row but counts once.
    """

    positions: pd.DataFrame
    static: pd.DataFrame
    rejects: pd.DataFrame
    other_types: dict[int, int]
    header_lines: int  # $PGHP, $--VSI and $--ZDA lines
    messages: int
    lines: int = 0  # non-empty input lines
    message_lines: int = 0  # lines consumed by complete messages
    complete: int = 0  # complete, valid messages of any type
    # vsi_lines: sound VSIs; zda_lines: sound ZDAs with date and time; vsi_linked: sentences
    # a VSI names; vsi_timed: those of them that had no earlier time source
    stats: dict[str, float] = field(default_factory=dict)


# --------------------------------------------------------------------------------------
# line level
# --------------------------------------------------------------------------------------


def _release_heap() -> None:
    """Give freed heap pages back to the OS (glibc): the per-block arrays of the scan are
    small enough to live on the heap, and without this their pages stay resident."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: nothing to do
        pass


def _split_lines(buf: U8) -> tuple[I64, I64]:
    """Start/end offsets of every line, stripped of surrounding whitespace ('\\r', ' ', tab)."""
    parts = []
    block = 1 << 26
    for lo in range(0, buf.size, block):
        parts.append(np.flatnonzero(buf[lo : lo + block] == 10) + lo)
    nl = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
    starts = np.concatenate([[0], nl + 1]).astype(np.int64)
    ends = np.concatenate([nl, [buf.size]]).astype(np.int64)
    if starts[-1] >= buf.size:  # file ends with a newline
        starts, ends = starts[:-1], ends[:-1]
    _strip(buf, starts, ends)
    return starts, ends


def _is_space(c: U8) -> Bool:
    return (c == 32) | (c == 13) | (c == 9) | (c == 0)


def _strip(buf: U8, starts: I64, ends: I64) -> None:
    """Trim whitespace in place: a few vectorised passes over the lines that still need it."""
    cand = np.flatnonzero(ends > starts)
    while cand.size:
        cand = cand[(ends[cand] > starts[cand]) & _is_space(buf[ends[cand] - 1])]
        ends[cand] -= 1
    cand = np.flatnonzero(ends > starts)
    while cand.size:
        cand = cand[(ends[cand] > starts[cand]) & _is_space(buf[starts[cand]])]
        starts[cand] += 1


def _epoch_ms(value: I64) -> I64:
    """Epoch seconds or milliseconds (13 digits) to milliseconds."""
    return np.where(value >= 100_000_000_000, value, value * 1000)


@dataclass
class _Sentences:
    """Per-sentence arrays of structurally sound, checksum-valid AIS sentences."""

    line: I64  # 0-based line index
    start: I64  # raw text: start offset and length of the (stripped) line
    len: Any
    off: Any  # payload start relative to ``start``
    plen: Any  # payload length
    fill: Any
    total: Any
    num: Any
    seq: Any  # -1 when empty
    chan: Any  # byte value, 0 when empty
    t_ms: I64  # resolved receive time, NAT when none
    src: Any  # time_source code of t_ms (int8)

    @property
    def end(self) -> I64:
        return self.start + self.len

    @property
    def p0(self) -> I64:
        return self.start + self.off

    @property
    def p1(self) -> I64:
        return self.start + self.off + self.plen


class _Collector:
    """Accumulates per-chunk results in lists; rejects are (line index, rule, detail)."""

    def __init__(self, data: Buffer, starts: I64, ends: I64) -> None:
        self.data = data
        self.rej_raw: list[bytes] = []
        self.starts = starts  # stripped line spans, to cut the raw text of rejects
        self.ends = ends
        self.sent: list[dict[str, I64]] = []
        self.rej_line: list[int] = []
        self.rej_rule: list[str] = []
        self.rej_detail: list[str] = []
        self.header_lines = 0
        # $--VSI / $--ZDA: per block arrays, resolved into times once the whole file is read
        self.vsi: list[dict[str, I64]] = []  # line, key (talker << 4 | seq, -1 none), tod ms
        self.zda: list[dict[str, I64]] = []  # line, epoch ms
        self.links: list[dict[str, Any]] = []  # sentences a VSI may name: line, key, dead
        self.time_lines: list[tuple[int, int, int]] = []  # ('$' offset, end, line) from Python

    def reject(self, lines: I64 | list[int], rule: str, detail: str) -> None:
        for i in np.asarray(lines, dtype=np.int64).tolist():
            self.rej_line.append(i)
            self.rej_rule.append(rule)
            self.rej_detail.append(detail)
            self.rej_raw.append(self.data[self.starts[i] : self.ends[i]])


def _pghp_time(text: bytes) -> int | None:
    """Receive time (epoch ms) of a Gatehouse ``$PGHP,1,yyyy,m,d,H,M,S,ms,...`` header."""
    fields = text.split(b"*")[0].split(b",")
    if len(fields) < 9 or fields[1] != b"1":
        return None
    try:
        y, mo, d, h, mi, s, ms = (int(f) for f in fields[2:9])
        t = dt.datetime(y, mo, d, h, mi, s, tzinfo=dt.UTC) + dt.timedelta(milliseconds=ms)
    except ValueError:
        return None
    return int(t.timestamp() * 1000)


def _nmea_checksum_ok(text: bytes) -> bool | None:
    """Checksum of a '$...*hh' or '!...*hh' sentence; None when it has no checksum."""
    star = text.find(b"*")
    if star < 0 or len(text) < star + 3:
        return None
    try:
        want = int(text[star + 1 : star + 3], 16)
    except ValueError:
        return False
    got = 0
    for b in text[1:star]:
        got ^= b
    return got == want


def _scan_chunk(buf: U8, ls: I64, le: I64, lidx: I64, col: _Collector, hdr_carry: int) -> int:
    """Classify one block of lines; append sentences and rejects to ``col``.

    Returns the PGHP time still pending at the end of the block (its message not yet seen).
    """
    n = len(ls)
    ss = ls.copy()
    t_tag = np.full(n, NAT, dtype=np.int64)
    slow = np.zeros(n, dtype=bool)
    dead = np.zeros(n, dtype=bool)  # rejected already

    # --- NMEA 4.0 tag blocks: \key:value,...*hh\ -------------------------------------
    tb = np.flatnonzero(buf[ls] == 92)
    for width in TAG_WIDTHS:  # most tag blocks are short: read the others wider, once
        if not tb.size:
            break
        m = gather(buf, ls[tb] + 1, width, le[tb])
        close = m == 92
        found = close.any(axis=1)
        k = close.argmax(axis=1)
        longer = ~found & (le[tb] - ls[tb] - 1 > width)
        bad = ~found & ~longer
        col.reject(lidx[tb[bad]], "nmea_malformed", "unterminated tag block")
        dead[tb[bad]] = True
        ok = np.flatnonzero(found)
        tbo, m, k = tb[ok], m[ok], k[ok]
        tb = tb[longer]
        tb_end = ls[tbo] + 1 + k  # the closing backslash
        ss[tbo] = tb_end + 1
        # Tag block checksums are not enforced: real feeds (Kystverket) copy one line's
        # '*hh' onto every line of a group; the sentence checksum is the authority.
        # c:<epoch> field: 'c:' at the start of the block or after a comma
        j = np.arange(width - 1)
        prev_ok = np.ones_like(m[:, :-1], dtype=bool)
        prev_ok[:, 1:] = m[:, :-2] == 44
        hit = (m[:, :-1] == 99) & (m[:, 1:] == 58) & prev_ok & (j[None, :] < k[:, None] - 1)
        has_c = hit.any(axis=1)
        cj = hit.argmax(axis=1)
        if has_c.any():
            rows = np.flatnonzero(has_c)
            pos = ls[tbo[rows]] + 1 + cj[rows] + 2
            val, nd = parse_digits(buf, pos, tb_end[rows], 13)
            good = nd > 0
            t_tag[tbo[rows[good]]] = _epoch_ms(val[good])
    slow[tb] = True  # longer than TAG_WINDOW: the per-line path

    empty_after_tag = ss >= le
    col.reject(lidx[empty_after_tag & ~dead & ~slow], "nmea_malformed", "tag block only")
    dead |= empty_after_tag & ~slow
    c1 = buf[np.minimum(ss, buf.size - 1)]
    live = ~dead & ~slow
    bang = np.flatnonzero(live & (c1 == 33))
    dollar = np.flatnonzero(live & (c1 == 36))
    slow |= live & (c1 != 33) & (c1 != 36)

    # --- '!' sentences, fast path: one-digit fields, 0/1-char channel ------------------
    recs: dict[str, I64] = {}
    dead_line = dead_key = np.zeros(0, dtype=np.int64)  # checksum failures, for VSI links
    if bang.size:
        s0, e0 = ss[bang], le[bang]
        h = gather(buf, s0, 16, e0)
        lower = h | 0x20
        kind_ok = (lower[:, 3] == ord("v")) & (lower[:, 4] == ord("d"))
        kind_ok &= (lower[:, 5] == ord("m")) | (lower[:, 5] == ord("o"))
        isdig = (h >= 48) & (h <= 57)
        ok = kind_ok & (h[:, 6] == 44) & isdig[:, 7] & (h[:, 8] == 44) & isdig[:, 9]
        ok &= h[:, 10] == 44
        seq_empty = h[:, 11] == 44
        seq_one = isdig[:, 11] & (h[:, 12] == 44)
        ok &= seq_empty | seq_one
        q = np.where(seq_empty, 12, 13)
        r = np.arange(len(bang))
        cq, cq1 = h[r, q], h[r, np.minimum(q + 1, 15)]
        chan_empty = cq == 44
        chan_one = (cq != 44) & (cq != 42) & (cq != 0) & (cq1 == 44)
        ok &= chan_empty | chan_one
        p0 = s0 + np.where(chan_empty, q + 1, q + 2)
        # tail: last '*' within the final 24 bytes
        tpos = np.maximum(e0 - 24, s0)
        t = gather(buf, tpos, 24, e0)
        rev = t[:, ::-1] == 42
        has_star = rev.any(axis=1)
        star = tpos + 23 - rev.argmax(axis=1)
        ok &= has_star
        star = np.where(ok, star, np.minimum(s0 + 8, buf.size - 1))  # in bounds for any line
        bufs = buf.size - 1
        hx1 = HEX[buf[np.minimum(star + 1, bufs)]].astype(np.int64)
        hx2 = HEX[buf[np.minimum(star + 2, bufs)]].astype(np.int64)
        ok &= (star + 3 <= e0) & (hx1 != 255) & (hx2 != 255)
        fillc = buf[np.maximum(star - 1, 0)].astype(np.int64) - 48
        ok &= (fillc >= 0) & (fillc <= 5) & (buf[np.maximum(star - 2, 0)] == 44)
        p1 = star - 2
        ok &= p1 >= p0
        no_suffix = star + 3 == e0
        has_suffix = ~no_suffix & (buf[np.minimum(star + 3, bufs)] == 44)
        t_trail = np.full(len(bang), NAT, dtype=np.int64)
        sr = np.flatnonzero(ok & has_suffix)
        if sr.size:
            val, nd = parse_digits(buf, star[sr] + 4, e0[sr], 13)
            whole = ((nd == 10) | (nd == 13)) & (nd == e0[sr] - star[sr] - 4)
            t_trail[sr[whole]] = _epoch_ms(val[whole])
            ok[sr[~whole]] = False
        ok &= no_suffix | has_suffix
        slow[bang[~ok]] = True
        g = np.flatnonzero(ok)
        cs = xor_segments(buf, s0[g] + 1, star[g])
        cs_ok = cs.astype(np.int64) == hx1[g] * 16 + hx2[g]
        col.reject(lidx[bang[g[~cs_ok]]], "nmea_checksum", "sentence checksum mismatch")
        seq = np.where(seq_empty, -1, h[:, 11].astype(np.int64) - 48)
        talker = (h[:, 1].astype(np.int64) << 8) | h[:, 2]
        gb = g[~cs_ok & (seq[g] >= 0)]
        dead_line, dead_key = lidx[bang[gb]], (talker[gb] << 4) | seq[gb]
        g = g[cs_ok]
        rows = bang[g]
        recs = {
            "row": rows,
            "p0": p0[g],
            "p1": p1[g],
            "fill": fillc[g],
            "total": h[g, 7].astype(np.int64) - 48,
            "num": h[g, 9].astype(np.int64) - 48,
            "seq": seq[g],
            "chan": np.where(chan_empty[g], 0, cq[g].astype(np.int64)),
            "t_tag": t_tag[rows],
            "t_trail": t_trail[g],
            "talker": talker[g],
        }

    # --- slow path: Python per line (junk before '!', odd widths, not-AIS lines) -------
    hdr_rows: list[int] = []
    hdr_times: list[int] = []
    extra: dict[str, list[int]] = (
        {k: [] for k in recs}
        if recs
        else {
            k: []
            for k in (
                "row", "p0", "p1", "fill", "total", "num", "seq", "chan", "t_tag", "t_trail",
                "talker",
            )
        }
    )
    for i in np.flatnonzero(slow).tolist():
        _slow_line(buf, i, int(ls[i]), int(le[i]), int(lidx[i]), col, extra, hdr_rows, hdr_times)
    # $--VSI / $--ZDA are parsed together, vectorised; other '$' lines one by one (rare)
    if dollar.size:
        vsi, zda = _time_kind(gather(buf, ss[dollar], 7, le[dollar]))
        tl = dollar[vsi | zda]
        for i in dollar[~(vsi | zda)].tolist():
            _dollar_line(buf, i, int(ss[i]), int(le[i]), int(lidx[i]), col, hdr_rows, hdr_times)
    else:
        tl = dollar
    t_s, t_e, t_line = ss[tl], le[tl], lidx[tl]
    if col.time_lines:  # found behind leading junk by the slow path
        more = np.asarray(col.time_lines, dtype=np.int64).reshape(-1, 3)
        col.time_lines.clear()
        t_s, t_e, t_line = (
            np.concatenate([a, more[:, k]]) for k, a in enumerate((t_s, t_e, t_line))
        )
    vsi_lines = _time_lines(buf, t_s, t_e, t_line, col)

    if extra["row"]:
        ext = {k: np.asarray(v, dtype=np.int64) for k, v in extra.items()}
        recs = {k: np.concatenate([recs[k], ext[k]]) for k in recs} if recs else ext
        order = np.argsort(recs["row"], kind="stable")
        recs = {k: v[order] for k, v in recs.items()}

    if recs or dead_line.size:
        _link_candidates(
            col, lidx[recs["row"]] if recs else dead_line[:0], recs.get("talker", dead_key[:0]),
            recs.get("seq", dead_key[:0]), dead_line, dead_key, vsi_lines, int(lidx[-1]),
        )

    # --- receive time: tag block > the $PGHP header just before the message > trailing epoch
    col.header_lines += len(hdr_rows)
    if hdr_rows:
        order = np.argsort(np.asarray(hdr_rows), kind="stable")
        hrow = np.asarray(hdr_rows, dtype=np.int64)[order]
        htime = np.asarray(hdr_times, dtype=np.int64)[order]
        timed = htime != NAT
        hrow, htime = hrow[timed], htime[timed]
    else:
        hrow = htime = np.zeros(0, dtype=np.int64)
    carry_out = int(htime[-1]) if htime.size else hdr_carry
    if recs:
        rows = recs["row"]
        hpos = np.searchsorted(hrow, rows, side="right") - 1
        t_hdr = np.where(hpos >= 0, htime[np.maximum(hpos, 0)] if htime.size else NAT, hdr_carry)
        # A $PGHP header times the message that follows it (all its fragments), not the
        # rest of the stream: in mixed feeds a few satellite headers are followed by
        # terrestrial sentences that carry their own times.
        ends = np.sort(rows[recs["num"] == recs["total"]])
        hdr_at = np.where(hpos >= 0, hrow[np.maximum(hpos, 0)] if hrow.size else -1, -1)
        ended = np.searchsorted(ends, rows, side="left") - np.searchsorted(
            ends, hdr_at, side="right")
        t_hdr = np.where(ended > 0, NAT, t_hdr)
        last_hdr = int(hrow[-1]) if hrow.size else -1
        if np.searchsorted(ends, last_hdr, side="right") < len(ends):
            carry_out = NAT  # the last header's message is complete: nothing to carry
        t = np.where(recs["t_tag"] != NAT, recs["t_tag"], t_hdr)
        t = np.where(t != NAT, t, recs["t_trail"])
        src = np.where(recs["t_tag"] != NAT, SRC_TAG, np.where(
            t_hdr != NAT, SRC_PGHP, np.where(recs["t_trail"] != NAT, SRC_TRAIL, SRC_DATE)))
        start = ls[rows]
        col.sent.append(
            {  # compact dtypes: these arrays live for the whole decode (~33 bytes/sentence)
                "line": lidx[rows].astype(np.int64),
                "start": start.astype(np.int64),
                "len": (le[rows] - start).astype(np.int32),
                "off": (recs["p0"] - start).astype(np.int32),
                "plen": (recs["p1"] - recs["p0"]).astype(np.int32),
                "fill": recs["fill"].astype(np.int8),
                "total": recs["total"].astype(np.int8),
                "num": recs["num"].astype(np.int8),
                "seq": recs["seq"].astype(np.int8),
                "chan": recs["chan"].astype(np.uint8),
                "t_ms": t.astype(np.int64),
                "src": src.astype(np.int8),
            }
        )
    return carry_out


def _dollar_line(
    buf: U8,
    i: int,
    s: int,
    e: int,
    line: int,
    col: _Collector,
    hdr_rows: list[int],
    hdr_times: list[int],
) -> None:
    """'$' sentences: $PGHP is a time header, $--VSI / $--ZDA go to the vectorised time
    parser (:func:`_time_lines`); any other sentence is not AIS."""
    text = bytes(buf[s:e])
    if text[3:7].upper() in (b"VSI,", b"ZDA,") and text[1:2] not in (b"P", b"p"):
        col.time_lines.append((s, e, line))  # as :func:`_time_kind` tells them apart
        return
    if not text.upper().startswith(b"$PGHP,"):
        col.reject([line], "not_ais", text[:6].decode("ascii", "replace"))
        return
    star = text.find(b"*")
    body = text[: star + 3] if star >= 0 else text
    if _nmea_checksum_ok(body) is False:
        col.reject([line], "nmea_checksum", "$PGHP checksum mismatch")
        return
    t = _pghp_time(text)
    if t is None and text[6:8] == b"1,":
        col.reject([line], "nmea_malformed", "$PGHP,1 without a valid date/time")
        return
    hdr_rows.append(i)
    hdr_times.append(NAT if t is None else t)


def _slow_line(
    buf: U8,
    i: int,
    s: int,
    e: int,
    line: int,
    col: _Collector,
    out: dict[str, list[int]],
    hdr_rows: list[int],
    hdr_times: list[int],
) -> None:
    """Parse one line that the fast path could not: tolerate leading junk, odd widths."""
    text = bytes(buf[s:e])
    cands = [p for p in (text.find(b"!"), text.find(b"\\"), text.find(b"$")) if p >= 0]
    if not cands:
        col.reject([line], "not_ais", "no sentence start")
        return
    p = min(cands)
    t_tag = NAT
    if text[p : p + 1] == b"\\":
        q = text.find(b"\\", p + 1)
        if q < 0:
            col.reject([line], "nmea_malformed", "unterminated tag block")
            return
        tag = text[p + 1 : q]
        mc = _TAG_C_RE.search(tag.split(b"*")[0])
        if mc:
            t_tag = int(_epoch_ms(np.asarray([int(mc.group(1))]))[0])
        p = q + 1
    if text[p : p + 1] == b"$":
        _dollar_line(buf, i, s + p, e, line, col, hdr_rows, hdr_times)
        return
    if text[p : p + 1] != b"!":
        col.reject([line], "not_ais", "no sentence start")
        return
    sent = text[p:]
    if not _VDX_RE.match(sent):
        col.reject([line], "not_ais", sent[:6].decode("ascii", "replace"))
        return
    m = _SLOW_RE.match(sent)
    if not m:
        col.reject([line], "nmea_malformed", "fields do not match !xxVDM layout")
        return
    star = sent.find(b"*")
    got = 0
    for b in sent[1:star]:
        got ^= b
    if got != int(m.group("cs"), 16):
        col.reject([line], "nmea_checksum", "sentence checksum mismatch")
        return
    base = s + p
    chan = m.group("chan")
    out["row"].append(i)
    out["p0"].append(base + m.start("payload"))
    out["p1"].append(base + m.end("payload"))
    out["fill"].append(int(m.group("fill")))
    out["total"].append(int(m.group("total")))
    out["num"].append(int(m.group("num")))
    out["seq"].append(int(m.group("seq")) if m.group("seq") else -1)
    out["chan"].append(chan[0] if chan else 0)
    out["t_tag"].append(t_tag)
    talker = m.group("talker")
    out["talker"].append(talker[0] << 8 | talker[1])
    # receiver metadata after the checksum (',s28089,d-103,...,1242958962'): the last field
    # is the receive epoch when it has 10 (s) or 13 (ms) digits
    last = m.group("suffix").rsplit(b",", 1)[-1]
    epoch = last.isdigit() and len(last) in (10, 13)
    out["t_trail"].append(int(_epoch_ms(np.asarray([int(last)]))[0]) if epoch else NAT)


# --------------------------------------------------------------------------------------
# time sentences: $--VSI (VDL signal information) and $--ZDA (UTC date and time)
# --------------------------------------------------------------------------------------


def _time_kind(h: U8) -> tuple[Bool, Bool]:
    """Which rows of ``h`` (first 7 bytes of '$' sentences) are $--VSI and which $--ZDA.

    A 'P' talker is a proprietary sentence ($PGHP, $PSHI...) whatever letters follow.
    """
    lower = h | 0x20
    base = (h[:, 6] == 44) & (lower[:, 1] != ord("p"))

    def named(word: bytes) -> Bool:
        out: Bool = base & (lower[:, 3] == word[0]) & (lower[:, 4] == word[1])
        return out & (lower[:, 5] == word[2])

    return named(b"vsi"), named(b"zda")


def _parse_tod(buf: U8, a: I64, b: I64) -> tuple[I64, Bool]:
    """Time of day 'hhmmss' or 'hhmmss.s...' in ``buf[a:b]``: (ms since 00:00, well formed)."""
    bufs = buf.size - 1
    v, nd = parse_digits(buf, a, b, 6)
    hh, mm, ss = v // 10_000, v // 100 % 100, v % 100
    ok = (nd == 6) & (hh < 24) & (mm < 60) & (ss <= 60)  # 60: a leap second
    dot = a + 6
    frac = (dot < b) & (buf[np.minimum(dot, bufs)] == 46)
    fv, fn = parse_digits(buf, dot + 1, b, 12)
    ok &= np.where(frac, (fn >= 1) & (dot + 1 + fn == b), dot == b)
    ms = ((hh * 60 + mm) * 60 + ss) * 1000 + np.where(frac, fv * 1000 // 10**fn, 0)
    return ms, ok


def _time_lines(buf: U8, s: I64, e: I64, line: I64, col: _Collector) -> I64:
    """Parse $--VSI and $--ZDA lines (``s``: offset of their '$') with numpy.

    $--VSI (IEC 61162-1, VDL signal information) is sent after the VDM it describes and
    names it by talker and sequence id: ``$--VSI,originator,seq id,hhmmss.ss,slot,level
    dBm,SNR dB*hh``. AMSA's Saab receivers also send ``$AIVSI,,hhmmss.ss,slot,level,SNR*hh``
    without a sequence id: it names no message (in amsa_2012-01-27_mixed.nmea it arrives
    ~1 s after its VDM, which slot numbers show is never the sentence just before it).
    $--ZDA is a GNSS clock reading: ``$--ZDA,hhmmss.ss,dd,mm,yyyy,zone h,zone min*hh``.

    A line cut short (no '*hh'), with a wrong checksum or with a broken field is a reject;
    a sound one is a header line, with or without a time. Their times go to ``col.vsi`` /
    ``col.zda``. Returns the sorted lines of the VSIs that can name a message (sequence id
    and time present).
    """
    if len(s) == 0:
        return np.zeros(0, dtype=np.int64)
    order = np.argsort(line, kind="stable")
    s, e, line = s[order], e[order], line[order]
    bufs = buf.size - 1
    h = gather(buf, s, 7, e)
    is_vsi, _ = _time_kind(h)
    m = gather(buf, s, TIME_WINDOW, e)
    hit = m == 42
    star = s + hit.argmax(axis=1)
    hx1 = HEX[buf[np.minimum(star + 1, bufs)]].astype(np.int64)
    hx2 = HEX[buf[np.minimum(star + 2, bufs)]].astype(np.int64)
    after = star + 3
    framed = hit.any(axis=1) & (after <= e) & (hx1 != 255) & (hx2 != 255)
    framed &= (after == e) | (buf[np.minimum(after, bufs)] == 44)  # a ',suffix' may follow
    cs = np.full(len(s), -1, dtype=np.int64)
    f = np.flatnonzero(framed)
    cs[f] = xor_segments(buf, s[f] + 1, star[f])
    cs_ok = framed & (cs == hx1 * 16 + hx2)

    # fields: field k runs from just after the k-th comma to the next comma or the '*'
    comma = (m == 44) & (np.arange(TIME_WINDOW)[None, :] < (star - s)[:, None])
    cum = np.cumsum(comma, axis=1, dtype=np.int16)
    nf = cum[:, -1].astype(np.int64) + 1

    def span(k: I64 | int) -> tuple[I64, I64]:
        kk = np.asarray(k).reshape(-1, 1)
        a = s + np.argmax(cum >= kk, axis=1) + 1
        b = np.where(nf > kk[:, 0] + 1, s + np.argmax(cum >= kk + 1, axis=1), star)
        return a, np.where(nf > kk[:, 0], b, a)

    std = is_vsi & (nf == 7)  # with a sequence id; nf == 6: AMSA's layout without one
    ta, tb = span(np.where(is_vsi, np.where(std, 3, 2), 1))
    tod, tod_ok = _parse_tod(buf, ta, tb)
    has_t = tb > ta
    qa, qb = span(2)
    qd = buf[np.minimum(qa, bufs)].astype(np.int64) - 48
    seq = np.where(std & (qb == qa + 1) & (qd >= 0) & (qd <= 9), qd, -1)
    # ZDA date
    da, db = span(2)
    ma, mb = span(3)
    ya, yb = span(4)
    dd, dn = parse_digits(buf, da, db, 2)
    mo, mn = parse_digits(buf, ma, mb, 2)
    yy, yn = parse_digits(buf, ya, yb, 4)
    has_d = (db > da) & (mb > ma) & (yb > ya)
    month = (yy - 1970) * 12 + np.clip(mo, 1, 12) - 1
    first = month.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    ndays = (month + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64) - first
    date_ok = (dn == db - da) & (mn == mb - ma) & (yn == 4) & (yb - ya == 4)
    date_ok &= (mo >= 1) & (mo <= 12) & (dd >= 1) & (dd <= ndays)

    fields_ok = np.where(is_vsi, (nf == 7) | (nf == 6), nf >= 5)
    fields_ok &= ~has_t | tod_ok
    fields_ok &= ~std | (qb == qa) | (seq >= 0)
    fields_ok &= is_vsi | (db == da) | (mb == ma) | (yb == ya) | date_ok
    for kind, name in ((is_vsi, "$--VSI"), (~is_vsi, "$--ZDA")):
        col.reject(line[kind & ~framed], "nmea_malformed", f"{name} without its '*hh' (cut short)")
        col.reject(line[kind & framed & ~cs_ok], "nmea_checksum", f"{name} checksum mismatch")
        col.reject(line[kind & cs_ok & ~fields_ok], "nmea_malformed", f"{name} fields")
    good = cs_ok & fields_ok
    col.header_lines += int(good.sum())
    v = good & is_vsi
    if v.any():
        key = np.where(seq >= 0, (((h[:, 1].astype(np.int64) << 8) | h[:, 2]) << 4) | seq, -1)
        col.vsi.append({"line": line[v], "key": key[v], "tod": np.where(has_t, tod, -1)[v]})
    z = good & ~is_vsi & has_t & has_d
    if z.any():
        col.zda.append({"line": line[z], "ms": ((first + dd - 1) * DAY_MS + tod)[z]})
    return line[v & (seq >= 0) & has_t]


def _link_candidates(
    col: _Collector,
    line: I64,
    talker: I64,
    seq: I64,
    dead_line: I64,
    dead_key: I64,
    vsi_lines: I64,
    last_line: int,
) -> None:
    """Keep the sentences a $--VSI may name: those with a sequence id within MAX_VSI_GAP lines
    before a VSI of this block, or at the block's end (for the next block's VSIs).

    A small side table instead of a talker column for every sentence. Sentences that failed
    their checksum are kept as dead ends: a VSI naming one times nothing (not an older
    sentence with the same id).
    """
    has = seq >= 0
    cl = np.concatenate([line[has], dead_line])
    if cl.size == 0:
        return
    ck = np.concatenate([(talker[has] << 4) | seq[has], dead_key])
    dead = np.arange(cl.size) >= int(has.sum())
    keep = cl > last_line - MAX_VSI_GAP
    if vsi_lines.size:
        nxt = np.minimum(np.searchsorted(vsi_lines, cl, side="right"), vsi_lines.size - 1)
        keep |= (vsi_lines[nxt] > cl) & (vsi_lines[nxt] - cl <= MAX_VSI_GAP)
    if keep.any():
        col.links.append({"line": cl[keep], "key": ck[keep], "dead": dead[keep]})


def _cat(parts: list[dict[str, Any]], key: str, dtype: Any = np.int64) -> Any:
    return np.concatenate([p[key] for p in parts]) if parts else np.zeros(0, dtype=dtype)


def _vsi_times(
    col: _Collector, s_line: I64, s_t: I64, s_src: Any, zda: tuple[I64, I64],
    default_date: dt.date | None,
) -> dict[str, float]:
    """Time each sentence still without a time (``s_t`` NAT) from the $--VSI that names it.

    The VSI gives only the time of day. Its date comes from the stream's $--ZDA (the latest
    one before the VSI, else the first after it), the VSI being placed within 12 h of that
    clock reading so that midnight rolls over either way. Without any ZDA the VSI times are
    chained in file order (a step back of more than 12 h starts the next day) and the day
    most of them fall in is ``default_date``; without that either, a VSI dates nothing.
    A VSI names the latest sentence before it, at most MAX_VSI_GAP lines back, with its
    talker and sequence id; the first VSI naming a sentence wins. Returns counts for
    ``NmeaDecoded.stats``.
    """
    vl, vk, vt = _cat(col.vsi, "line"), _cat(col.vsi, "key"), _cat(col.vsi, "tod")
    zl, zm = zda
    ll, lk, ld = _cat(col.links, "line"), _cat(col.links, "key"), _cat(col.links, "dead", bool)
    col.vsi.clear()
    col.links.clear()
    stats = {"vsi_lines": float(vl.size), "zda_lines": float(zl.size)}
    q = np.flatnonzero((vk >= 0) & (vt >= 0))
    if q.size == 0 or ll.size == 0:
        return stats
    vl, vk, vt = vl[q], vk[q], vt[q]
    if zl.size:
        j = np.maximum(np.searchsorted(zl, vl, side="right") - 1, 0)
        ref = zm[j]
        t = ref + (vt - ref % DAY_MS + DAY_MS // 2) % DAY_MS - DAY_MS // 2
    elif default_date is not None:
        wrap = np.diff(vt)
        day = np.concatenate([[0], np.cumsum((wrap < -DAY_MS // 2).astype(np.int64)
                                             - (wrap > DAY_MS // 2))])
        days, n = np.unique(day, return_counts=True)
        midnight = dt.datetime.combine(default_date, dt.time(), tzinfo=dt.UTC)
        t = int(midnight.timestamp() * 1000) + (day - days[np.argmax(n)]) * DAY_MS + vt
    else:
        return stats
    order = np.lexsort((ll, lk))  # by key, then line
    sk, sl, sd = lk[order], ll[order], ld[order]
    width = int(max(sl.max(), vl.max())) + 1
    pos = np.searchsorted(sk * width + sl, vk * width + vl, side="left") - 1
    p = np.maximum(pos, 0)
    ok = (pos >= 0) & (sk[p] == vk) & (vl - sl[p] <= MAX_VSI_GAP) & ~sd[p]
    target, first = np.unique(sl[p[ok]], return_index=True)
    idx = np.searchsorted(s_line, target)
    cur = s_t[idx]
    s_t[idx] = np.where(cur == NAT, t[ok][first], cur)
    s_src[idx] = np.where(cur == NAT, SRC_VSI, s_src[idx])
    stats["vsi_linked"] = float(target.size)
    stats["vsi_timed"] = float((cur == NAT).sum())
    return stats


def _zda_clock(
    t_ms: I64, src: Any, line: I64, zda: tuple[I64, I64], max_gap_s: float | None,
    max_lines: int | None,
) -> int:
    """Messages still without a time take the receiver's clock: the time of the latest
    $--ZDA before them (in place; returns how many). Only where the clock is dense around
    the message: it lies between two sound ZDAs at most ``max_gap_s`` seconds (and no
    backwards step) and ``max_lines`` lines apart.

    Why: a live terrestrial feed (AMSA's amsa_2012-01-27_mixed.nmea) interleaves a $GPZDA
    about every second, ~110 lines apart, and the latest one agrees with the messages' own
    time (type 4 UTC, SOTDMA slots) within a few seconds. Where the readings are far apart in
    time or in lines (concatenated logs, a satellite store-and-forward dump between two
    readings, the head and tail of a file) the clock says nothing about when a message was
    received: those keep ``default_date``. ``max_gap_s`` None: the clock is not used.
    """
    zl, zm = zda
    if max_gap_s is None or zl.size < 2 or len(t_ms) == 0:
        return 0
    todo = np.flatnonzero(t_ms == NAT)
    j = np.searchsorted(zl, line[todo], side="right") - 1
    inside = (j >= 0) & (j + 1 < zl.size)
    j = np.clip(j, 0, zl.size - 2)
    gap = zm[j + 1] - zm[j]
    dense = inside & (gap >= 0) & (gap <= max_gap_s * 1000)
    if max_lines is not None:
        dense &= zl[j + 1] - zl[j] <= max_lines
    rows = todo[dense]
    t_ms[rows] = zm[j[dense]]
    src[rows] = SRC_ZDA
    return int(rows.size)


def _fill_day(t_ms: I64, default_date: dt.date | None) -> None:
    """Messages without any time: ``default_date`` at 00:00 UTC (in place; their
    time_source code is already date_only)."""
    if default_date is not None:
        day = dt.datetime.combine(default_date, dt.time(), tzinfo=dt.UTC)
        t_ms[t_ms == NAT] = int(day.timestamp() * 1000)


# --------------------------------------------------------------------------------------
# message level
# --------------------------------------------------------------------------------------


@dataclass
class _Multi:
    """Reassembled multi-sentence messages, payloads concatenated into a side buffer."""

    buf: U8
    p0: I64
    plen: I64
    fill: I64
    t_ms: I64
    src: Any  # time_source code of t_ms
    line: I64
    nlines: I64
    raw: list[str]


def _reassemble(s: _Sentences, multi: I64, data: Buffer, col: _Collector) -> _Multi:
    """Join fragments keyed by (channel, sequence id, count), tolerant of interleaving.

    A fragment 1 arriving while the same key is open restarts it; a gap of more than
    MAX_FRAGMENT_GAP lines or a fragment out of order drops the partial message.
    """
    pending: dict[tuple[int, int, int], list[int]] = {}
    done: list[list[int]] = []
    chan, seq, total = s.chan[multi].tolist(), s.seq[multi].tolist(), s.total[multi].tolist()
    num, line = s.num[multi].tolist(), s.line[multi].tolist()
    for j, i in enumerate(multi.tolist()):
        key = (chan[j], seq[j], total[j])
        lst = pending.get(key)
        if num[j] == 1:
            if lst:
                col.reject(s.line[lst], "nmea_fragment_incomplete", "restarted by fragment 1")
            pending[key] = [i]
            lst = pending[key]
        elif (
            lst is None
            or s.num[lst[-1]] + 1 != num[j]
            or line[j] - s.line[lst[-1]] > MAX_FRAGMENT_GAP
        ):
            if lst:
                col.reject(s.line[lst], "nmea_fragment_incomplete", "next fragment missing")
                del pending[key]
            col.reject([line[j]], "nmea_fragment_incomplete", "earlier fragment missing")
            continue
        else:
            lst.append(i)
        if num[j] == total[j]:
            done.append(lst)
            del pending[key]
    for lst in pending.values():
        col.reject(s.line[lst], "nmea_fragment_incomplete", "last fragment missing")

    p0_all, p1_all, st_all, en_all = s.p0, s.p1, s.start, s.end
    payloads: list[bytes] = []
    fills, times, srcs, lines, nl, raws = [], [], [], [], [], []
    for lst in done:
        payloads.append(b"".join(data[p0_all[k] : p1_all[k]] for k in lst))
        fills.append(int(s.fill[lst[-1]]))
        timed = [k for k in lst if s.t_ms[k] != NAT]  # the first fragment with a time
        times.append(int(s.t_ms[timed[0]]) if timed else NAT)
        srcs.append(int(s.src[timed[0]]) if timed else SRC_DATE)
        lines.append(int(s.line[lst[0]]))
        nl.append(len(lst))
        raws.append("\n".join(data[st_all[k] : en_all[k]].decode("ascii", "replace") for k in lst))
    lens = np.asarray([len(p) for p in payloads], dtype=np.int64)
    p0 = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64) if lens.size else lens
    side = b"".join(payloads) + b"\0"
    return _Multi(
        buf=np.frombuffer(side, dtype=np.uint8),
        p0=p0,
        plen=lens,
        fill=np.asarray(fills, dtype=np.int64),
        t_ms=np.asarray(times, dtype=np.int64),
        src=np.asarray(srcs, dtype=np.int8),
        line=np.asarray(lines, dtype=np.int64),
        nlines=np.asarray(nl, dtype=np.int64),
        raw=raws,
    )


@dataclass
class _Decoded:
    """Vectorised decode of one message group (main buffer or reassembled side buffer)."""

    pos_idx: I64  # message indices of position rows
    cols: dict[str, Any]
    static_idx: I64  # message indices of 5/24/19 to decode with pyais
    static_type: I64
    other: Counter[int]
    rej_idx: I64
    rej_rule: list[str]
    rej_detail: list[str]


_POS_FLOAT = ("lat", "lon", "sog", "cog", "heading")


def _decode_group(buf: U8, p0: I64, plen: I64, fill: I64) -> _Decoded:
    """Validate payloads and extract position fields, in blocks of rows, with numpy only.

    Output columns are preallocated for every message and filled in place (no per-block
    lists to concatenate): at 10 M messages that halves the decoder's peak memory.
    """
    n = len(p0)
    mtype = np.full(n, -1, dtype=np.int16)
    valid = np.zeros(n, dtype=bool)
    comma = np.zeros(n, dtype=bool)
    is_pos = np.zeros(n, dtype=bool)
    cols: dict[str, Any] = {k: np.empty(n, dtype=np.float64) for k in _POS_FLOAT}
    cols["mmsi"] = np.empty(n, dtype=np.int64)
    cols["nav"] = np.zeros(n, dtype=np.int8)
    cols["nav_ok"] = np.zeros(n, dtype=bool)
    cols["mtype"] = np.zeros(n, dtype=np.int8)
    block = LINE_CHUNK
    for lo in range(0, n, block):
        sl = slice(lo, min(lo + block, n))
        bp0, bplen = p0[sl], plen[sl]
        width = int(min(max(int(bplen.max(initial=1)), 23), LONG_PAYLOAD))
        m = gather(buf, bp0, width, bp0 + np.minimum(bplen, width))
        inside = np.arange(width)[None, :] < bplen[:, None]
        vals = SIXBIT[m]
        bad = ((vals == 255) & inside).any(axis=1)
        com = ((m == 44) & inside).any(axis=1)
        for r in np.flatnonzero(bplen > width).tolist():
            seg = buf[bp0[r] + width : bp0[r] + bplen[r]]
            bad[r] |= bool((SIXBIT[seg] == 255).any())
            com[r] |= bool((seg == 44).any())
        vals[~inside] = 0
        del m, inside
        ok = ~bad & (bplen > 0)
        valid[sl] = ok
        comma[sl] = com
        bt = vals[:, 0].astype(np.int16)
        mtype[sl] = np.where(ok, bt, -1)
        nbits = bplen.astype(np.int64) * 6 - fill[sl]
        for ty in POSITION_TYPES:
            rows = np.flatnonzero(ok & (bt == ty) & (nbits >= MIN_BITS[ty]))
            if rows.size == 0:
                continue
            v = vals[rows]
            out = rows + lo
            is_pos[out] = True
            cols["mtype"][out] = ty
            cols["mmsi"][out] = uint_field(v, 8, 30)
            if ty == 27:
                # pyais: round(raw * 5000 / 3) / 1e6 in integer arithmetic
                cols["lon"][out] = ((10000 * int_field(v, 44, 18) + 3) // 6) / 1e6
                cols["lat"][out] = ((10000 * int_field(v, 62, 17) + 3) // 6) / 1e6
                cols["sog"][out] = uint_field(v, 79, 6)
                cols["cog"][out] = uint_field(v, 85, 9)
                cols["heading"][out] = 511.0
                cols["nav"][out] = uint_field(v, 40, 4)
                cols["nav_ok"][out] = True
                continue
            a = 61 if ty <= 3 else 57  # longitude offset; the other fields follow it
            cols["lon"][out] = ((10 * int_field(v, a, 28) + 3) // 6) / 1e6
            cols["lat"][out] = ((10 * int_field(v, a + 28, 27) + 3) // 6) / 1e6
            cols["sog"][out] = uint_field(v, a - 11, 10) / 10.0
            cols["cog"][out] = uint_field(v, a + 55, 12) / 10.0
            cols["heading"][out] = uint_field(v, a + 67, 9)
            if ty <= 3:
                cols["nav"][out] = uint_field(v, 38, 4)
                cols["nav_ok"][out] = True
        del vals

    nbits32 = plen.astype(np.int32) * 6 - fill
    min_bits = np.full(n, MIN_BITS_OTHER, dtype=np.int32)
    for ty, b in MIN_BITS.items():
        min_bits[mtype == ty] = b
    short = valid & (nbits32 < min_bits)
    rej = np.flatnonzero(~valid | short)
    rules, details = [], []
    for r in rej.tolist():
        if plen[r] == 0:
            rules.append("nmea_payload_invalid")
            details.append("empty payload")
        elif not valid[r] and comma[r]:
            rules.append("nmea_malformed")
            details.append("extra field inside payload")
        elif not valid[r]:
            rules.append("nmea_payload_invalid")
            details.append("character outside 6-bit armour")
        else:
            rules.append("nmea_payload_invalid")
            details.append(f"type {mtype[r]}: {nbits32[r]} bits < {min_bits[r]}")
    del nbits32, min_bits
    good = valid & ~short
    other_mask = good & ~np.isin(mtype, (*POSITION_TYPES, *STATIC_TYPES))
    counts = np.bincount(mtype[other_mask])
    other = Counter({int(k): int(c) for k, c in enumerate(counts) if c})
    static_idx = np.flatnonzero(good & np.isin(mtype, (5, 19, 24)))
    static_type = mtype[static_idx].astype(np.int64)
    del valid, comma, short, good, other_mask
    if is_pos.all():
        idx = np.arange(n, dtype=np.int64)
    else:  # compact one column at a time
        idx = np.flatnonzero(is_pos)
        for k in list(cols):
            cols[k] = cols[k][idx]
    return _Decoded(idx, cols, static_idx, static_type, other, rej, rules, details)


def _static_rows(payload: bytes, fill: int, mtype: int) -> tuple[dict[str, Any] | None, str | None]:
    """Decode one 5/24/19 payload with pyais: (row, None) or (None, reject detail)."""
    try:
        msg = pyais.decode(f"!AIVDM,1,1,,A,{payload.decode('ascii')},{fill}*00")
    except Exception as exc:  # pyais raises many types for broken payloads
        return None, f"pyais: {type(exc).__name__}"
    g: dict[str, Any] = msg.asdict()
    if mtype == 24 and g.get("partno") not in (0, 1):
        return None, f"type 24 part number {g.get('partno')}"

    def nz(v: Any) -> Any:
        return None if v in (None, 0) else v

    def dims(a: str, b: str) -> float | None:
        if g.get(a) is None and g.get(b) is None:
            return None
        tot = float((g.get(a) or 0) + (g.get(b) or 0))
        return tot or None

    part_b = mtype == 24 and g.get("partno") == 1
    part_a = mtype == 24 and g.get("partno") == 0
    ship_type = None if part_a else g.get("ship_type")
    row = {
        "mmsi": int(g["mmsi"]),
        "imo": nz(g.get("imo")) if mtype == 5 else None,
        "name": None if part_b else g.get("shipname"),
        "call_sign": None if part_a or mtype == 19 else g.get("callsign"),
        "ship_type": None if ship_type is None else int(ship_type),
        "length_m": None if part_a else dims("to_bow", "to_stern"),
        "width_m": None if part_a else dims("to_port", "to_starboard"),
        "draught_m": nz(g.get("draught")) if mtype == 5 else None,
        "destination": g.get("destination") if mtype == 5 else None,
        "msg_type": mtype,
        "transceiver_class": "A" if mtype == 5 else "B",
    }
    return row, None


# --------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------


def _str_series(arr: pa.Array | pa.ChunkedArray) -> pd.Series:
    """Arrow strings -> pandas 'str' column without a round trip through Python objects."""
    return pd.Series(pd.array(arr, dtype="str"))


def _raw_views(data: Buffer, start: I64, end: I64) -> pa.ChunkedArray:
    """Raw line text: string_view arrays over the input buffer, compacted block by block.

    The views cost 16 bytes a row and no copy; casting each block to a plain string array
    keeps the transient memory to one block instead of 160 MB per 10 M rows.
    """
    n = len(start)
    if n == 0:
        return pa.chunked_array([], type=pa.large_string())
    if len(data) >= 2**31:  # views use int32 offsets: fall back to Python strings
        return pa.chunked_array(
            [
                pa.array(
                    [
                        data[a:b].decode("ascii", "replace")
                        for a, b in zip(start.tolist(), end.tolist(), strict=True)
                    ],
                    pa.large_string(),
                )
            ]
        )
    buf = np.frombuffer(data, dtype=np.uint8)
    pybuf = pa.py_buffer(data)
    chunks = []
    step = 4 * LINE_CHUNK
    for lo in range(0, n, step):
        bs, be = start[lo : lo + step], end[lo : lo + step]
        m = len(bs)
        length = (be - bs).astype(np.int32)
        views = np.zeros((m, 4), dtype=np.int32)
        views[:, 0] = length
        views[:, 3] = bs.astype(np.int32)
        v8 = views.view(np.uint8)
        pre = gather(buf, bs, 12, be)
        short = length <= 12
        v8[:, 4:8] = pre[:, :4]
        if short.any():  # inline strings: the bytes live in the view itself
            v8[short, 4:16] = pre[short]
        arr = pa.Array.from_buffers(pa.string_view(), m, [None, pa.py_buffer(views), pybuf])
        chunks.append(pc.cast(arr, pa.large_string()))  # pandas "str" stores large_string
        del views, v8, pre, arr
    return pa.chunked_array(chunks, type=pa.large_string())


def _ts(ms: I64, inplace: bool = False) -> pd.Series:
    """Epoch ms (NAT = missing) -> datetime64[us, UTC]; ``inplace`` reuses ``ms``' memory."""
    nat = ms == NAT
    us = ms if inplace else ms.copy()
    np.multiply(us, 1000, out=us)
    us[nat] = NAT
    dtype = pd.DatetimeTZDtype("us", "UTC")
    try:  # zero-copy wrap; the public constructors copy the 80 MB per 10 M rows
        arr = pd.arrays.DatetimeArray._simple_new(us.view("M8[us]"), dtype=dtype)
    except (AttributeError, TypeError):
        arr = pd.array(pd.DatetimeIndex(us.view("M8[us]")).tz_localize("UTC"))
    return pd.Series(arr, copy=False)


_TIME_SOURCE_CATEGORIES = pd.Index(TIME_SOURCES, dtype="str")


def _time_source(codes: Any) -> pd.Categorical:
    """time_source codes as a pandas categorical (Arrow: a dictionary column, 1 byte a row)."""
    return pd.Categorical.from_codes(np.asarray(codes, dtype=np.int8),
                                     categories=_TIME_SOURCE_CATEGORIES)


def _empty_positions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mmsi": pd.Series([], dtype="int64"),
            "timestamp": pd.Series([], dtype="datetime64[us, UTC]"),
            "lat": pd.Series([], dtype="float64"),
            "lon": pd.Series([], dtype="float64"),
            "sog_kn": pd.Series([], dtype="float64"),
            "cog_deg": pd.Series([], dtype="float64"),
            "heading_deg": pd.Series([], dtype="float64"),
            "nav_status": pd.Series([], dtype="Int8"),
            "msg_type": pd.Series([], dtype="int8"),
            "transceiver_class": pd.Series([], dtype="str"),
            "source_line": pd.Series([], dtype="int64"),
            "raw": pd.Series([], dtype="str"),
            "time_source": _time_source([]),
        }
    )


STATIC_COLUMNS = {
    "mmsi": "int64",
    "timestamp": "datetime64[us, UTC]",
    "imo": "Int64",
    "name": "str",
    "call_sign": "str",
    "ship_type": "Int16",
    "length_m": "float64",
    "width_m": "float64",
    "draught_m": "float64",
    "destination": "str",
    "msg_type": "int8",
    "transceiver_class": "str",
    "source_line": "int64",
    "raw": "str",
    "time_source": "category",  # codes into TIME_SOURCES, see _time_source
}


def _positions_frame(
    d: _Decoded, t_ms: I64, src: Any, line: I64, raw: pa.Array | pa.ChunkedArray
) -> pd.DataFrame:
    """Position table; when every message is a position, ``t_ms`` and ``line`` are consumed."""
    c = d.cols
    if len(d.pos_idx) == 0:
        return _empty_positions()
    mt = c["mtype"]
    # every message is a position and none is a type 19 (whose static row still needs the
    # inputs): reuse the input arrays in place instead of copying them
    every = len(d.pos_idx) == len(line) and len(d.static_idx) == 0
    if every:
        ts = _ts(t_ms, inplace=True)
        source_line = line
        source_line += 1
        codes = src
    else:
        ts = _ts(t_ms[d.pos_idx], inplace=True)
        source_line = line[d.pos_idx] + 1
        codes = src[d.pos_idx]
    cls = pa.array(["A", "B"], type=pa.large_string()).take(
        pa.array(((mt == 18) | (mt == 19)).astype(np.int8))
    )
    nav = pd.arrays.IntegerArray(c["nav"], ~c["nav_ok"])
    return pd.DataFrame(
        {
            "mmsi": c["mmsi"],
            "timestamp": ts,
            "lat": c["lat"],
            "lon": c["lon"],
            "sog_kn": c["sog"],
            "cog_deg": c["cog"],
            "heading_deg": c["heading"],
            "nav_status": nav,
            "msg_type": mt,
            "transceiver_class": _str_series(cls),
            "source_line": source_line,
            "raw": _str_series(raw),
            "time_source": _time_source(codes),
        },
        copy=False,
    )


def decode_nmea(
    data: Buffer,
    default_date: dt.date | None = None,
    single_raw: bool = True,
    zda_clock_max_gap_s: float | None = None,
    zda_clock_max_lines: int | None = None,
) -> NmeaDecoded:
    """Decode a whole NMEA 0183 AIS file (bytes or a memory map of it: only slices of it
    are ever copied) into positions, static reports and rejects.

    ``zda_clock_max_gap_s`` / ``zda_clock_max_lines`` (settings ``ingest.
    nmea_zda_clock_max_gap_s`` / ``nmea_zda_clock_max_lines``): messages without a time of
    their own take the receiver's $--ZDA clock where its readings are at most that far
    apart (:func:`_zda_clock`); None leaves the clock unused.
    ``default_date`` gives sentences without any time source 00:00 UTC of that day
    (time_source ``date_only``); without it they get NaT (the caller quarantines them).
    With ``single_raw=False`` the
    ``raw`` text of single-sentence position reports is left null (it is line
    ``source_line`` of the input): the ingest stage cuts it from the input for the few rows
    it rejects instead of holding ~80 bytes per row for all of them.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    starts, ends = _split_lines(buf) if buf.size else (np.zeros(0, np.int64),) * 2
    col = _Collector(data, starts, ends)
    nonempty = np.flatnonzero(ends > starts)
    n_lines = int(nonempty.size)
    carry = NAT
    for lo in range(0, n_lines, LINE_CHUNK):
        li = nonempty[lo : lo + LINE_CHUNK]
        carry = _scan_chunk(buf, starts[li], ends[li], li, col, carry)
    del nonempty, starts, ends

    keys = ("line", "start", "len", "off", "plen", "fill", "total", "num", "seq", "chan", "t_ms",
            "src")
    cat: dict[str, Any] = {}
    for k in keys:  # one key at a time, releasing the chunk arrays as we go
        parts = [c.pop(k) for c in col.sent]
        cat[k] = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
        del parts
    col.sent.clear()
    s = _Sentences(**cat)
    del cat
    _release_heap()
    # $--VSI times before reassembly: a VSI names the last fragment of its message, and a
    # message takes the time of its first fragment that has one; then the receiver's clock
    # (per message, so that a VSI naming any fragment wins), --date comes last.
    zda = (_cat(col.zda, "line"), _cat(col.zda, "ms"))
    col.zda.clear()
    stats = _vsi_times(col, s.line, s.t_ms, s.src, zda, default_date)

    bad_frag = (s.total < 1) | (s.num < 1) | (s.num > s.total)
    col.reject(s.line[bad_frag], "nmea_malformed", "fragment number outside 1..count")
    single = np.flatnonzero(~bad_frag & (s.total == 1))
    multi = np.flatnonzero(~bad_frag & (s.total > 1))
    mm = _reassemble(s, multi, data, col)
    clocked = _zda_clock(mm.t_ms, mm.src, mm.line, zda, zda_clock_max_gap_s, zda_clock_max_lines)
    _fill_day(mm.t_ms, default_date)
    _release_heap()

    # --- single-sentence messages, straight from the input buffer ----------------------
    sp0, splen = s.start[single] + s.off[single], s.plen[single]
    sfill = s.fill[single]
    d1 = _decode_group(buf, sp0, splen, sfill)
    t1, src1, line1 = s.t_ms[single], s.src[single], s.line[single]
    clocked += _zda_clock(t1, src1, line1, zda, zda_clock_max_gap_s, zda_clock_max_lines)
    stats["zda_clock_timed"] = float(clocked)
    del zda
    _fill_day(t1, default_date)
    for r, rule, det in zip(d1.rej_idx.tolist(), d1.rej_rule, d1.rej_detail, strict=True):
        col.reject([int(line1[r])], rule, det)
    rows1 = single[d1.pos_idx]
    r_start = s.start[rows1]
    r_end = r_start + s.len[rows1]
    del rows1
    static_spans = {
        int(r): (int(s.start[single[r]]), int(s.start[single[r]] + s.len[single[r]]))
        for r in d1.static_idx.tolist()
    }
    static_p0 = {r: int(sp0[r]) for r in d1.static_idx.tolist()}  # sp0 is freed below
    del s, single, sp0
    col.starts = col.ends = np.zeros(0, dtype=np.int64)  # all line rejects recorded by now
    _release_heap()
    raw1 = (
        _raw_views(data, r_start, r_end) if single_raw
        else pa.nulls(len(r_start), pa.large_string())
    )
    pos1 = _positions_frame(d1, t1, src1, line1, raw1)
    del r_start, r_end

    # --- reassembled messages, from the side buffer --------------------------------------
    d2 = _decode_group(mm.buf, mm.p0, mm.plen, mm.fill)
    raw2 = pa.array([mm.raw[i] for i in d2.pos_idx.tolist()], type=pa.large_string())
    pos2 = _positions_frame(d2, mm.t_ms, mm.src, mm.line, raw2)
    multi_rej: list[tuple[int, str, str, str]] = [
        (int(mm.line[r]), rule, det, mm.raw[r])
        for r, rule, det in zip(d2.rej_idx.tolist(), d2.rej_rule, d2.rej_detail, strict=True)
    ]

    # --- static reports (5, 24, 19) with pyais: rare, per message -------------------------
    static_rows: list[dict[str, Any]] = []
    drop19: list[tuple[int, int]] = []  # (group, message index) of 19s pyais refused
    groups = (
        (0, d1, buf, static_p0, splen, sfill, t1, src1, line1, None),
        (1, d2, mm.buf, mm.p0, mm.plen, mm.fill, mm.t_ms, mm.src, mm.line, mm.raw),
    )
    for gi, d, gbuf, gp0, gplen, gfill, gt, gsrc, gline, graw in groups:
        for r, ty in zip(d.static_idx.tolist(), d.static_type.tolist(), strict=True):
            payload = gbuf[gp0[r] : gp0[r] + gplen[r]].tobytes()
            row, err = _static_rows(payload, int(gfill[r]), int(ty))
            if graw is None:
                a, b = static_spans[r]
                raw = data[a:b].decode("ascii", "replace")
            else:
                raw = graw[r]
            if row is None:
                if ty == 19:
                    drop19.append((gi, r))
                multi_rej.append((int(gline[r]), "nmea_payload_invalid", err or "", raw))
                continue
            row["timestamp"] = gt[r]
            row["time_source"] = gsrc[r]
            row["source_line"] = int(gline[r]) + 1
            row["raw"] = raw
            static_rows.append(row)
    if drop19:
        pos1, pos2 = (
            _drop_19(pos1, d1, [r for g, r in drop19 if g == 0]),
            _drop_19(pos2, d2, [r for g, r in drop19 if g == 1]),
        )
    positions = pd.concat([pos1, pos2], ignore_index=True) if len(pos2) else pos1

    static = _static_frame(static_rows)
    rejects = _rejects_frame(data, col, multi_rej)
    other = d1.other + d2.other
    n_static_msgs = int(sum(1 for r in static_rows if r["msg_type"] != 19))
    complete = len(positions) + n_static_msgs + sum(other.values())
    # lines of complete messages: total lines minus headers minus lines behind rejects
    rej_lines = int(sum(r.count("\n") + 1 for r in rejects["raw"].tolist()))
    return NmeaDecoded(
        positions=positions,
        static=static,
        rejects=rejects,
        other_types=dict(sorted(other.items())),
        header_lines=col.header_lines,
        messages=complete + len(rejects),
        lines=n_lines,
        message_lines=n_lines - col.header_lines - rej_lines,
        complete=complete,
        stats=stats,
    )


def _drop_19(pos: pd.DataFrame, d: _Decoded, rows: list[int]) -> pd.DataFrame:
    """Remove position rows of type 19 messages whose static half pyais could not decode."""
    if not rows or len(pos) == 0:
        return pos
    keep = ~np.isin(d.pos_idx, np.asarray(rows, dtype=np.int64))
    return pos.loc[keep].reset_index(drop=True)


def _static_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    if not rows:
        return pd.DataFrame({k: pd.Series(_time_source([])) if k == "time_source"
                             else pd.Series([], dtype=t) for k, t in STATIC_COLUMNS.items()})
    out = {}
    for k, t in STATIC_COLUMNS.items():
        vals = [r[k] for r in rows]
        if k == "timestamp":
            out[k] = _ts(np.asarray(vals, dtype=np.int64))
        elif k == "time_source":
            out[k] = pd.Series(_time_source(vals))
        else:
            out[k] = pd.Series(vals, dtype=t)
    return pd.DataFrame(out)


def _rejects_frame(
    data: Buffer, col: _Collector, multi_rej: list[tuple[int, str, str, str]]
) -> pd.DataFrame:
    """One row per rejected line (or per rejected reassembled message), in file order."""
    raws = [r.decode("utf-8", "replace")[:2000] for r in col.rej_raw]
    lines = [*(i + 1 for i in col.rej_line), *(r[0] + 1 for r in multi_rej)]
    df = pd.DataFrame(
        {
            "source_line": pd.Series(lines, dtype="int64"),
            "rule": pd.Series([*col.rej_rule, *(r[1] for r in multi_rej)], dtype="str"),
            "detail": pd.Series([*col.rej_detail, *(r[2] for r in multi_rej)], dtype="str"),
            "raw": pd.Series([*raws, *(r[3] for r in multi_rej)], dtype="str"),
        }
    )
    return df.sort_values(["source_line", "rule"], kind="stable").reset_index(drop=True)

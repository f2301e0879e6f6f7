"""``identity_conflict``: evidence that an MMSI does not stand for one honest vessel.

At most one event per conflict kind, vessel and UTC day; the kind opens ``detail``,
``start_time``/``end_time`` are the times of the first and last evidence of that day (the
event belongs to the day of its last evidence), ``lat``/``lon`` the vessel's position at
the first evidence (its last fix before it, or its first fix). Kinds:

- ``position_conflict``: one MMSI in two places at once. The track builder already drops
  isolated one-fix glitches (``tracks.glitch_mask``), so jumps above
  ``max_implied_speed_kn`` that survive are between stretches of several fixes each; two
  transmitters on one MMSI alternate between their two places and make such jumps again
  and again. At least ``identity_min_jumps_per_day`` of them in a day. (Strict A-B-A-B
  alternation is mostly removed as glitches before any detector sees it: only the jumps
  where one side sent two fixes in a row survive.)
- ``invalid_mid``: a ship-range MMSI (MID 201-775, ingest quarantines the rest) whose MID
  is not allocated in ``settings.mid_table``; or any MMSI outside the ship range that
  reaches the track.
- ``flag_mismatch``: the flag of the MMSI's MID differs from a flag declared for the same
  MMSI by a port call (``ctx.port_calls.flag``) or by a static report that carries one
  (``ctx.static.flag``; AIS itself has no flag field).
- ``name_change`` / ``call_sign_change``: more than one distinct non-empty name (call sign)
  for one MMSI in the static reports of the window; ``detail`` lists old -> new.

Only MMSIs present in the track are examined, so the result of a shard depends only on its
own vessels (identities and port calls of vessels without positions are not events here).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.events.base import DetectContext, make_events
from pipeline.schemas import EVENTS
from pipeline.tracks import I64, MS_TO_KN, US_PER_DAY, B, Track

Obj = npt.NDArray[np.object_]

SHIP_MID_MIN, SHIP_MID_MAX = 201, 775


class _Found:
    """Events of all kinds gathered before one ``make_events`` call."""

    def __init__(self) -> None:
        self.mmsi: list[I64] = []
        self.start: list[I64] = []
        self.end: list[I64] = []
        self.kind: list[Obj] = []
        self.detail: list[list[str]] = []

    def add(self, kind: str, mmsi: I64, start: I64, end: I64, detail: list[str]) -> None:
        self.mmsi.append(np.asarray(mmsi, dtype=np.int64))
        self.start.append(np.asarray(start, dtype=np.int64))
        self.end.append(np.asarray(end, dtype=np.int64))
        self.kind.append(np.full(len(mmsi), kind, dtype=object))
        self.detail.append(detail)


def detect_identity_conflict(track: Track, ctx: DetectContext) -> pa.Table:
    """All identity conflicts of the vessels in ``track`` (see module doc)."""
    if len(track) == 0:
        return EVENTS.empty_table()
    found = _Found()
    _position_conflicts(track, ctx, found)
    _invalid_mids(track, ctx, found)
    _flag_mismatches(track, ctx, found)
    for column, what, label in (("name", "name_change", "name"),
                                ("call_sign", "call_sign_change", "call sign")):
        _static_changes(track, ctx, column, what, label, found)
    if not found.mmsi:
        return EVENTS.empty_table()
    mmsi = np.concatenate(found.mmsi)
    start = np.concatenate(found.start)
    end = np.concatenate(found.end)
    kind = np.concatenate(found.kind)
    details = [d for part in found.detail for d in part]
    if not len(mmsi):
        return EVENTS.empty_table()
    rows = position_rows(track, mmsi, start)
    return make_events(
        "identity_conflict", mmsi, start, end,
        {
            "lat": track.lat[rows], "lon": track.lon[rows],
            "positions": np.zeros(len(mmsi), dtype=np.int64),
            "detail": details,
        },
        id_extra=kind,
    )


def position_rows(track: Track, mmsi: I64, t_us: I64) -> I64:
    """Row of each vessel's last fix at or before ``t_us`` (its first fix when none); the
    vessel must be in the track. Vectorised through a (vessel rank, time) key."""
    vessel = np.cumsum(track.new_vessel) - 1
    first_rows = track.vessel_starts
    rank = np.searchsorted(track.mmsi[first_rows], mmsi)
    t0 = int(min(track.t.min(), int(np.min(t_us)))) - 1
    span = int(max(track.t.max(), int(np.max(t_us)))) - t0 + 2
    key = vessel * span + (track.t - t0)
    r = np.searchsorted(key, rank * span + (t_us - t0), side="right") - 1
    return np.asarray(np.where((r >= 0) & (vessel[np.maximum(r, 0)] == rank), r,
                               first_rows[rank]), dtype=np.int64)


def _day_groups(mmsi: I64, day: I64) -> tuple[I64, I64]:
    """(first, last) index of each run of equal (mmsi, day) in arrays sorted by them."""
    n = len(mmsi)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    brk = np.r_[True, (mmsi[1:] != mmsi[:-1]) | (day[1:] != day[:-1])]
    first = np.flatnonzero(brk)
    last = np.r_[first[1:] - 1, n - 1]
    return first, last


def _iso_day(t_us: int) -> str:
    return str(np.datetime64(int(t_us) // US_PER_DAY, "D"))


# ----------------------------------------------------------------------------------- kinds


def _position_conflicts(track: Track, ctx: DetectContext, found: _Found) -> None:
    limit = ctx.events.max_implied_speed_kn
    with np.errstate(invalid="ignore", divide="ignore"):
        kn = track.step_m / np.maximum(track.dt_s, 1.0) * MS_TO_KN
    jumps = np.flatnonzero(~track.new_vessel & (np.nan_to_num(kn, nan=0.0) > limit))
    if not len(jumps):
        return
    first, last = _day_groups(track.mmsi[jumps], track.t[jumps] // US_PER_DAY)
    count = last - first + 1
    keep = count >= ctx.events.identity_min_jumps_per_day
    first, last, count = first[keep], last[keep], count[keep]
    if not len(first):
        return
    j0, j1 = jumps[first], jumps[last]
    detail = []
    for k in range(len(first)):  # one string per event
        r = int(j0[k])
        steps = track.step_m[jumps[first[k]:last[k] + 1]]
        detail.append(
            f"position_conflict: {count[k]} jumps above {limit:g} kn on {_iso_day(track.t[r])} "
            f"between ({track.lat[r - 1]:.3f}, {track.lon[r - 1]:.3f}) and "
            f"({track.lat[r]:.3f}, {track.lon[r]:.3f}), median jump "
            f"{np.median(steps) / 1000:.1f} km: two transmitters on one MMSI")
    found.add("position_conflict", track.mmsi[j0], track.t[j0 - 1], track.t[j1], detail)


def _mid_ok(ctx: DetectContext, mmsi: I64) -> B:
    mid = mmsi // 1_000_000
    allocated = np.isin(mid, np.fromiter(ctx.settings.mid_table, dtype=np.int64))
    return (mmsi >= 100_000_000) & (mmsi <= 999_999_999) & allocated


def _invalid_mids(track: Track, ctx: DetectContext, found: _Found) -> None:
    bad_rows = np.flatnonzero(~_mid_ok(ctx, track.mmsi))
    if not len(bad_rows):
        return
    first, last = _day_groups(track.mmsi[bad_rows], track.t[bad_rows] // US_PER_DAY)
    r0, r1 = bad_rows[first], bad_rows[last]
    detail = []
    for m in track.mmsi[r0].tolist():  # one string per event
        mid = m // 1_000_000
        if 100_000_000 <= m <= 999_999_999 and SHIP_MID_MIN <= mid <= SHIP_MID_MAX:
            detail.append(f"invalid_mid: MMSI {m} has MID {mid}, not allocated by the ITU")
        else:
            detail.append(f"invalid_mid: {m} is not a 9-digit ship MMSI")
    found.add("invalid_mid", track.mmsi[r0], track.t[r0], track.t[r1], detail)


def _declared_flags(ctx: DetectContext, track_mmsi: I64) -> tuple[I64, I64, Obj, Obj]:
    """(mmsi, time, declared flag, source) of every flag declaration for the track's
    vessels: port calls (arrival time) and static reports that carry a flag."""
    parts: list[tuple[I64, I64, Obj, Obj]] = []
    vessels = pa.array(np.unique(track_mmsi))
    for table, tcol, src in ((ctx.port_calls, "arrival_time", "port call"),
                             (ctx.static, "timestamp", "static report")):
        if table is None or table.num_rows == 0 or "flag" not in table.column_names:
            continue
        flag = pc.utf8_upper(pc.utf8_trim_whitespace(table.column("flag")))
        ok = pc.and_(pc.and_(pc.is_valid(table.column("mmsi")), pc.is_valid(flag)),
                     pc.greater(pc.utf8_length(flag), 0))
        ok = pc.and_(ok, pc.is_in(table.column("mmsi"), vessels))
        ok = pc.fill_null(ok, False)
        sub = table.filter(ok)
        if sub.num_rows == 0:
            continue
        if src == "port call":
            where = [f"port call {p} on {_iso_day(t)}" for p, t in zip(
                sub.column("port_locode").to_pylist(),
                pc.cast(sub.column(tcol), pa.int64()).to_pylist(), strict=True)]
        else:
            where = [f"static report on {_iso_day(t)}" for t in
                     pc.cast(sub.column(tcol), pa.int64()).to_pylist()]
        parts.append((sub.column("mmsi").to_numpy().astype(np.int64),
                      pc.cast(sub.column(tcol), pa.int64()).to_numpy(),
                      np.asarray(pc.filter(flag, ok).to_pylist(), dtype=object),
                      np.asarray(where, dtype=object)))
    if not parts:
        e = np.zeros(0, np.int64)
        return e, e, np.zeros(0, object), np.zeros(0, object)
    return (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
            np.concatenate([p[2] for p in parts]), np.concatenate([p[3] for p in parts]))


def _flag_mismatches(track: Track, ctx: DetectContext, found: _Found) -> None:
    mmsi, t, flag, where = _declared_flags(ctx, track.mmsi)
    if not len(mmsi):
        return
    table = ctx.settings.mid_table
    mids = np.unique(mmsi // 1_000_000)
    iso_of = {int(m): (table[int(m)][1] or "") if int(m) in table else "" for m in mids}
    expected = np.asarray([iso_of[int(m)] for m in (mmsi // 1_000_000).tolist()], dtype=object)
    bad = np.flatnonzero((expected != "") & (expected != flag))
    if not len(bad):
        return
    order = bad[np.lexsort((t[bad], mmsi[bad]))]
    first, last = _day_groups(mmsi[order], t[order] // US_PER_DAY)
    detail = []
    for f, la in zip(first.tolist(), last.tolist(), strict=True):  # one string per event
        rows = order[f:la + 1]
        m = int(mmsi[rows[0]])
        country = table[m // 1_000_000][0]
        decl = ", ".join(dict.fromkeys(f"{flag[r]} ({where[r]})" for r in rows.tolist()))
        detail.append(f"flag_mismatch: MID {m // 1_000_000} of MMSI {m} is "
                      f"{expected[rows[0]]} ({country}); declared {decl}")
    found.add("flag_mismatch", mmsi[order[first]], t[order[first]], t[order[last]], detail)


def _static_changes(track: Track, ctx: DetectContext, column: str, kind: str, label: str,
                    found: _Found) -> None:
    """Changes of a static text field (name, call sign) of one MMSI between consecutive
    reports; one event per vessel and day of the new value."""
    st = ctx.static
    if st is None or st.num_rows == 0 or column not in st.column_names:
        return
    text = pc.utf8_upper(pc.utf8_trim_whitespace(
        pc.replace_substring_regex(st.column(column), r"\s+", " ")))
    ok = pc.fill_null(pc.and_(pc.greater(pc.utf8_length(text), 0),
                              pc.is_in(st.column("mmsi"), pa.array(np.unique(track.mmsi)))),
                      False)
    if not pc.any(ok).as_py():
        return
    mmsi = pc.filter(st.column("mmsi"), ok).to_numpy().astype(np.int64)
    t = pc.cast(pc.filter(st.column("timestamp"), ok), pa.int64()).to_numpy()
    enc = pc.dictionary_encode(pc.filter(text, ok)).combine_chunks()
    code = enc.indices.to_numpy().astype(np.int64)
    names = np.asarray(enc.dictionary.to_pylist(), dtype=object)
    order = np.lexsort((t, mmsi))
    mmsi, t, code = mmsi[order], t[order], code[order]
    ch = np.flatnonzero((mmsi[1:] == mmsi[:-1]) & (code[1:] != code[:-1])) + 1
    if not len(ch):
        return
    first, last = _day_groups(mmsi[ch], t[ch] // US_PER_DAY)
    detail = []
    for f, la in zip(first.tolist(), last.tolist(), strict=True):  # one string per event
        rows = ch[f:la + 1]
        pairs = list(dict.fromkeys(f"{names[code[r - 1]]} → {names[code[r]]}"
                                   for r in rows.tolist()))
        times = "" if len(rows) == 1 else f" {len(rows)} times"
        detail.append(f"{kind}: {label} changed{times}: " + ", ".join(pairs[:6])
                      + (", ..." if len(pairs) > 6 else ""))
    found.add(kind, mmsi[ch[first]], t[ch[first] - 1], t[ch[last]], detail)

"""Writers of one day's received reports: MarineCadastre CSV, AIVDM NMEA, or lake Parquet.

Each writer returns what it wrote (rows, deliberate duplicates, rows the ingest will
quarantine and why) so that tests can prove the round trip through ``ingest ais`` exactly.
Rows are written in delivery order (``Reports.order``): late reports appear out of order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipeline.ingest import rules
from pipeline.simulate import aivdm
from pipeline.simulate.identities import Fleet
from pipeline.simulate.reception import Reports

CHUNK = 1_000_000
MC_COLUMNS = [
    "MMSI", "BaseDateTime", "LAT", "LON", "SOG", "COG", "Heading", "VesselName", "IMO",
    "CallSign", "VesselType", "Status", "Length", "Width", "Draft", "Cargo", "TransceiverClass",
]


@dataclass
class Written:
    """Accounting of one positions file, in the ingest's units (records)."""

    path: Path
    records: int = 0
    positions: int = 0
    static: int = 0
    duplicates: int = 0
    quarantined: dict[str, int] = field(default_factory=dict)  # rule -> rows, all tables
    quarantined_static: int = 0  # of which NMEA static messages (junk MMSIs)

    @property
    def quarantined_total(self) -> int:
        return sum(self.quarantined.values())


def mmsi_problem(mmsi: npt.NDArray[np.int64]) -> npt.NDArray[np.object_]:
    """The ingest rule an MMSI will fail (placeholder, not a ship MMSI) or None: the
    simulator's accounting of the junk it wrote deliberately, by the ingest's own rules."""
    codes = rules.mmsi_codes(mmsi.astype("float64"))
    out = np.full(len(mmsi), None, dtype=object)
    bad = codes != rules.OK
    out[bad] = rules.names(codes[bad])
    return out


def _invalid_reasons(mmsi: npt.NDArray[np.int64], unavailable: npt.NDArray[np.bool_]
                     ) -> Counter[str]:
    r = mmsi_problem(mmsi)
    r[(r == None) & unavailable] = "position_unavailable"  # noqa: E711
    return Counter(str(x) for x in r if x is not None)


def _accounting(w: Written, rep: Reports, mmsi: npt.NDArray[np.int64]) -> None:
    w.positions += len(rep)
    w.records += len(rep)
    w.quarantined = dict(Counter(w.quarantined) + _invalid_reasons(mmsi, rep.unavailable))
    valid = (mmsi_problem(mmsi) == None) & ~rep.unavailable  # noqa: E711
    w.duplicates += int((rep.duplicate & valid).sum())


def write_csv(path: Path, rep: Reports, fleet: Fleet) -> Written:
    """MarineCadastre layout; IMO as 'IMO1234567'; sentinels written as received."""
    w = Written(path)
    mmsi = fleet.mmsi[rep.vid]
    _accounting(w, rep, mmsi)
    names = pa.array(fleet.name.tolist(), pa.string())
    calls = pa.array(fleet.call_sign.tolist(), pa.string())
    imo_txt = pa.array([f"IMO{v}" if v else None for v in fleet.imo.tolist()], pa.string())
    cls_txt = pa.array(fleet.cls.tolist(), pa.string())
    opts = pacsv.WriteOptions(quoting_style="needed")
    with pacsv.CSVWriter(str(path), _mc_schema(), write_options=opts) as out:
        for lo in range(0, len(rep), CHUNK):
            r = rep.take(np.arange(lo, min(lo + CHUNK, len(rep))))
            v = pa.array(r.vid)
            a = fleet.cls[r.vid] == "A"
            ts = pa.array(r.t.astype("datetime64[s]"), pa.timestamp("s"))
            cols = [
                pa.array(fleet.mmsi[r.vid]),
                pc.strftime(ts, "%Y-%m-%dT%H:%M:%S"),
                pa.array(np.round(r.lat, 5)), pa.array(np.round(r.lon, 5)),
                pa.array(np.round(r.sog, 1)), pa.array(np.round(r.cog, 1)),
                pa.array(r.heading.astype(np.int64)),
                names.take(v), imo_txt.take(v), calls.take(v),
                pa.array(fleet.ship_type[r.vid]),
                pa.array(r.status.astype(np.int64), mask=~a),
                pa.array(fleet.length_m[r.vid]), pa.array(fleet.width_m[r.vid]),
                pa.array(fleet.draught_m[r.vid], mask=~a),
                pa.nulls(len(r), pa.int64()),
                cls_txt.take(v),
            ]
            out.write_table(pa.Table.from_arrays(cols, schema=_mc_schema()))
    return w


def _mc_schema() -> pa.Schema:
    types = [pa.int64(), pa.string(), pa.float64(), pa.float64(), pa.float64(), pa.float64(),
             pa.int64(), pa.string(), pa.string(), pa.string(), pa.int64(), pa.int64(),
             pa.float64(), pa.float64(), pa.float64(), pa.int64(), pa.string()]
    return pa.schema(list(zip(MC_COLUMNS, types, strict=True)))


def write_parquet(path: Path, rep: Reports, fleet: Fleet) -> Written:
    """The lake's position columns plus static columns on every row."""
    w = Written(path)
    mmsi = fleet.mmsi[rep.vid]
    _accounting(w, rep, mmsi)
    v = pa.array(rep.vid)
    a = fleet.cls[rep.vid] == "A"
    imo = fleet.imo[rep.vid]
    table = pa.table({
        "mmsi": pa.array(mmsi),
        "timestamp": pa.array((rep.t * 1_000_000).astype("datetime64[us]"),
                              pa.timestamp("us", tz="UTC")),
        "lat": pa.array(rep.lat), "lon": pa.array(rep.lon),
        "sog_kn": pa.array(rep.sog.astype(np.float32)),
        "cog_deg": pa.array(rep.cog.astype(np.float32)),
        "heading_deg": pa.array(rep.heading.astype(np.float32)),
        "nav_status": pa.array(rep.status, pa.int8(), mask=~a),
        "msg_type": pa.array(rep.msg_type, pa.int8()),
        "transceiver_class": pa.array(fleet.cls.tolist(), pa.string()).take(v),
        "name": pa.array(fleet.name.tolist(), pa.string()).take(v),
        "imo": pa.array(imo, mask=imo == 0),
        "call_sign": pa.array(fleet.call_sign.tolist(), pa.string()).take(v),
        "ship_type": pa.array(fleet.ship_type[rep.vid].astype(np.int16)),
        "length_m": pa.array(fleet.length_m[rep.vid].astype(np.float32)),
        "width_m": pa.array(fleet.width_m[rep.vid].astype(np.float32)),
        "draught_m": pa.array(fleet.draught_m[rep.vid].astype(np.float32), mask=~a),
        "destination": pa.array(fleet.destination.tolist(), pa.string()).take(v),
    })
    pq.write_table(table, path, compression="zstd", row_group_size=CHUNK)
    return w


def write_nmea(path: Path, rep: Reports, fleet: Fleet, static_vid: npt.NDArray[np.int64],
               static_t: npt.NDArray[np.int64], rng: np.random.Generator) -> Written:
    """AIVDM with tag blocks: positions, type 5 (Class A, 2 parts) and 24 A/B (Class B)."""
    w = Written(path)
    mmsi = fleet.mmsi[rep.vid]
    _accounting(w, rep, mmsi)
    chan = np.where(rep.duplicate, ord("B"), ord("A")).astype(np.uint8)
    chan = np.where(~rep.duplicate & (rng.random(len(rep)) < 0.5), ord("B"), chan).astype(np.uint8)
    pos = np.zeros((0, 1), np.uint8)
    step = CHUNK // 4  # the bit matrices are ~170 bytes a row: encode in blocks
    for lo in range(0, len(rep), step):
        sl = slice(lo, lo + step)
        block = aivdm.position_lines(mmsi[sl], rep.t[sl], rep.msg_type[sl], rep.status[sl],
                                     rep.sog[sl], rep.lon[sl], rep.lat[sl], rep.cog[sl],
                                     rep.heading[sl], chan[sl])
        if lo == 0:
            pos = np.empty((len(rep), block.shape[1]), np.uint8)
        pos[sl] = block
    a = fleet.cls[static_vid] == "A"
    va, ta = static_vid[a], static_t[a]
    vb, tb = static_vid[~a], static_t[~a]
    ch_a = np.full(len(va), ord("A"), np.uint8)
    ch_b = np.full(len(vb), ord("B"), np.uint8)
    names = aivdm.six_text(fleet.name.tolist(), 20)
    calls = aivdm.six_text(fleet.call_sign.tolist(), 7)
    dests = aivdm.six_text(fleet.destination.tolist(), 20)
    s5 = aivdm.type5_lines(fleet.mmsi[va], ta, fleet.imo[va], calls[va], names[va],
                           fleet.ship_type[va], fleet.length_m[va], fleet.width_m[va],
                           fleet.draught_m[va], dests[va], np.arange(len(va)) % 9 + 1, ch_a)
    s24 = aivdm.type24_lines(fleet.mmsi[vb], tb, names[vb], calls[vb], fleet.ship_type[vb],
                             fleet.length_m[vb], fleet.width_m[vb], ch_b)
    smm = np.concatenate([fleet.mmsi[va], fleet.mmsi[vb], fleet.mmsi[vb]])
    w.static = len(va) + 2 * len(vb)
    w.records += w.static
    bad = _invalid_reasons(smm, np.zeros(len(smm), bool))
    w.quarantined = dict(Counter(w.quarantined) + bad)
    w.quarantined_static = sum(bad.values())
    # merge the three kinds of lines in delivery order, writing in chunks
    mats = [pos, s5, s24]
    orders = [rep.order, ta + 0.5, tb + 0.7]
    src = np.concatenate([np.full(len(o), k, np.int64) for k, o in enumerate(orders)])
    row = np.concatenate([np.arange(len(o)) for o in orders]).astype(np.int64)
    order = np.argsort(np.concatenate(orders), kind="stable")
    src, row = src[order], row[order]
    flats = [m.reshape(-1) for m in mats]
    widths = np.array([m.shape[1] for m in mats], dtype=np.int64)
    base = np.concatenate([[0], np.cumsum([len(f) for f in flats])[:-1]]).astype(np.int64)
    allb = np.concatenate(flats)
    with open(path, "wb") as fh:
        for lo in range(0, len(src), CHUNK // 4):
            s, r = src[lo: lo + CHUNK // 4], row[lo: lo + CHUNK // 4]
            ln = widths[s]
            start = base[s] + r * ln
            idx = np.repeat(start - (np.cumsum(ln) - ln), ln) + np.arange(int(ln.sum()))
            fh.write(allb[idx].tobytes())
    return w

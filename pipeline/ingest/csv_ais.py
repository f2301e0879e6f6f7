"""Decoded AIS in CSV: the MarineCadastre and Danish Maritime Authority layouts, detected from
the header, and any other layout through a column mapping in config (``ingest.csv_mappings``).

pyarrow parses the file (the fast path reads typed columns; a file with text in a numeric
column is re-read as text and the offending rows go to quarantine as ``bad_number``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from pipeline.errors import UserError
from pipeline.ingest.decoded import Decoded, empty_rejects

# Lake column -> type family, for every column a CSV layout may map.
NUMERIC = {"lat", "lon", "sog_kn", "cog_deg", "heading_deg", "length_m", "width_m", "draught_m"}
INTEGER = {"mmsi", "imo", "ship_type", "nav_status"}
TEXT = {"name", "call_sign", "destination", "transceiver_class", "flag"}
STATIC_COLUMNS = [
    "imo", "name", "call_sign", "ship_type", "length_m", "width_m", "draught_m", "destination",
]
POSITION_COLUMNS = ["lat", "lon", "sog_kn", "cog_deg", "heading_deg", "nav_status"]

DMA_NAV_STATUS = {
    "under way using engine": 0, "at anchor": 1, "not under command": 2,
    "restricted maneuverability": 3, "restricted manoeuvrability": 3,
    "constrained by her draught": 4, "moored": 5, "aground": 6, "engaged in fishing": 7,
    "under way sailing": 8, "reserved for future amendment [hsc]": 9,
    "reserved for future amendment [wig]": 10, "power-driven vessel towing astern": 11,
    "power-driven vessel pushing ahead or towing alongside": 12, "ais-sart": 14,
    "unknown value": 15, "unknown": 15,
}
DMA_SHIP_TYPE = {
    "wig": 20, "fishing": 30, "towing": 31, "towing long/wide": 32, "dredging": 33,
    "diving": 34, "military": 35, "sailing": 36, "pleasure": 37, "hsc": 40, "pilot": 50,
    "sar": 51, "tug": 52, "port tender": 53, "anti-pollution": 54, "law enforcement": 55,
    "medical": 58, "not party to conflict": 59, "passenger": 60, "cargo": 70,
    "tanker": 80, "other": 90,
}


@dataclass(frozen=True)
class CsvLayout:
    """How one CSV layout maps onto the lake's columns."""

    name: str
    columns: dict[str, str]  # lake column -> CSV header
    timestamp_format: str | None = None  # strptime format; None = ISO 8601
    timestamp_tz: str = "UTC"  # zone of naive timestamps in the file
    value_maps: dict[str, dict[str, int]] = field(default_factory=dict)
    class_map: dict[str, str] = field(default_factory=dict)

    def required_present(self, header: list[str]) -> bool:
        need = [self.columns[c] for c in ("mmsi", "timestamp", "lat", "lon")]
        return all(h in header for h in need)


MARINECADASTRE = CsvLayout(
    name="marinecadastre",
    columns={
        "mmsi": "MMSI", "timestamp": "BaseDateTime", "lat": "LAT", "lon": "LON",
        "sog_kn": "SOG", "cog_deg": "COG", "heading_deg": "Heading", "name": "VesselName",
        "imo": "IMO", "call_sign": "CallSign", "ship_type": "VesselType",
        "nav_status": "Status", "length_m": "Length", "width_m": "Width",
        "draught_m": "Draft", "transceiver_class": "TransceiverClass",
    },
)
DMA = CsvLayout(
    name="dma",
    columns={
        "timestamp": "# Timestamp", "mmsi": "MMSI", "lat": "Latitude", "lon": "Longitude",
        "nav_status": "Navigational status", "sog_kn": "SOG", "cog_deg": "COG",
        "heading_deg": "Heading", "imo": "IMO", "call_sign": "Callsign", "name": "Name",
        "ship_type": "Ship type", "width_m": "Width", "length_m": "Length",
        "draught_m": "Draught", "destination": "Destination",
        "transceiver_class": "Type of mobile",
    },
    timestamp_format="%d/%m/%Y %H:%M:%S",
    value_maps={"nav_status": DMA_NAV_STATUS, "ship_type": DMA_SHIP_TYPE},
    class_map={"class a": "A", "class b": "B"},
)
BUILTIN_LAYOUTS = (MARINECADASTRE, DMA)


def detect_layout(header: list[str], extra: tuple[CsvLayout, ...] = ()) -> CsvLayout | None:
    """The first layout (built-in, then configured) whose key columns are all in the header."""
    for layout in (*BUILTIN_LAYOUTS, *extra):
        if layout.required_present(header):
            return layout
    return None


def parse_header(data: bytes) -> list[str]:
    line = data[:65536].split(b"\n", 1)[0].decode("utf-8", errors="replace")
    return [h.strip().strip('"').lstrip("\ufeff") for h in line.rstrip("\r").split(",")]


def read_csv(data: bytes, layout: CsvLayout, label: str) -> Decoded:
    """Decode one CSV file into raw lake-shaped rows plus parse-level rejects."""
    header = parse_header(data)
    used = {lake: src for lake, src in layout.columns.items() if src in header}
    text_cols = set(TEXT) | {"timestamp", "imo"} | set(layout.value_maps)
    types = {}
    for lake, src in used.items():
        if lake in text_cols:
            types[src] = pa.string()
        elif lake in INTEGER:
            types[src] = pa.int64()
        else:
            types[src] = pa.float64()
    read_opts = pacsv.ReadOptions(block_size=1 << 24)
    parse_opts = pacsv.ParseOptions(newlines_in_values=False)
    try:
        table = pacsv.read_csv(
            io.BytesIO(data), read_options=read_opts, parse_options=parse_opts,
            convert_options=pacsv.ConvertOptions(
                include_columns=list(used.values()), column_types=types,
                strings_can_be_null=True, quoted_strings_can_be_null=True,
            ),
        )
        typed = True
    except pa.ArrowInvalid as exc:
        if "CSV parse error" in str(exc):
            raise UserError(f"{label}: {exc}; fix the file's structure (column count)") from exc
        table = pacsv.read_csv(
            io.BytesIO(data), read_options=read_opts, parse_options=parse_opts,
            convert_options=pacsv.ConvertOptions(
                include_columns=list(used.values()),
                column_types=dict.fromkeys(used.values(), pa.string()),
                strings_can_be_null=True,
            ),
        )
        typed = False
    frame = table.to_pandas()
    n = len(frame)
    out = pd.DataFrame(index=pd.RangeIndex(n))
    bad_number = np.full(n, None, dtype=object)
    for lake, src in used.items():
        col = frame[src]
        if lake in layout.value_maps:
            mapping = layout.value_maps[lake]
            lowered = col.astype("str").str.strip().str.lower()
            out[lake] = lowered.map(mapping).astype("float64")
            if lake in INTEGER:
                # a code given as a number is fine as well
                numeric = pd.to_numeric(lowered, errors="coerce")
                out[lake] = out[lake].fillna(numeric)
        elif lake in text_cols:
            out[lake] = col
        elif typed:
            out[lake] = col.astype("float64")
        else:
            num = pd.to_numeric(col, errors="coerce")
            failed = (num.isna() & col.notna() & (col.astype("str").str.strip() != "")).to_numpy()
            bad_number[failed & pd.isna(bad_number)] = f"{src}"
            out[lake] = num.astype("float64")
    if "imo" in out:
        # MarineCadastre writes "IMO8207721"; others write the bare number
        digits = out["imo"].astype("str").str.upper().str.replace("IMO", "", regex=False)
        out["imo"] = pd.to_numeric(digits.str.strip(), errors="coerce")
    # timestamps
    raw_ts = out.get("timestamp")
    if raw_ts is None:
        raise UserError(f"{label}: layout {layout.name} has no timestamp column")
    ts = parse_timestamps(raw_ts, layout.timestamp_format, layout.timestamp_tz)
    ts_bad = (ts.isna() & raw_ts.notna()).to_numpy()
    out["timestamp"] = ts
    if "transceiver_class" in out:
        cls = out["transceiver_class"].astype("str").str.strip()
        if layout.class_map:
            cls = cls.str.lower().map(layout.class_map)
        out["transceiver_class"] = cls.where(cls.isin(["A", "B"]))
    for text in ("name", "call_sign", "destination"):
        if text in out:
            out[text] = out[text].astype("str").str.strip().replace("", None)
    out["msg_type"] = 0
    out["source_line"] = np.arange(2, n + 2, dtype=np.int64)

    reason = np.full(n, None, dtype=object)
    detail = np.full(n, None, dtype=object)
    nb = pd.notna(bad_number)
    reason[nb] = "bad_number"
    detail[nb] = [f"column {c} is not a number" for c in bad_number[nb]]
    tb = ts_bad & ~nb
    reason[tb] = "timestamp_unparsable"
    detail[tb] = [f"{layout.columns['timestamp']}={v!r}" for v in raw_ts[tb]]
    rejected_mask = pd.notna(reason)
    rejects = empty_rejects()
    if rejected_mask.any():
        lines = out["source_line"].to_numpy()[rejected_mask]
        rejects = pd.DataFrame(
            {
                "source_line": lines,
                "rule": reason[rejected_mask].astype(str),
                "detail": detail[rejected_mask].astype(str),
                "raw": raw_lines(data, lines),
            }
        )
    good = out.loc[~rejected_mask].reset_index(drop=True)
    return Decoded(
        positions=good,
        static=None,
        rejects=rejects,
        records=n,
        raw_of=lambda lines: raw_lines(data, lines),
        layout=layout.name,
        static_from_positions=any(c in good.columns for c in STATIC_COLUMNS),
    )


def parse_timestamps(raw: pd.Series, fmt: str | None, tz: str = "UTC") -> pd.Series:
    """Parse to UTC; naive times are taken in ``tz`` (UTC by default), offsets are honoured."""
    fmt = fmt or "ISO8601"
    if tz == "UTC":
        ts = pd.to_datetime(raw, format=fmt, errors="coerce", utc=True)
    else:
        naive = pd.to_datetime(raw, format=fmt, errors="coerce")
        if getattr(naive.dt, "tz", None) is None:
            naive = naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
        ts = naive.dt.tz_convert("UTC")
    return ts.astype("datetime64[us, UTC]")


def layout_from_mapping(name: str, mapping: dict[str, str | None]) -> CsvLayout:
    """A configured ``ingest.csv_mappings`` entry as a layout."""
    columns = {
        k: v for k, v in mapping.items()
        if v is not None and k not in ("timestamp_format", "timestamp_tz")
    }
    return CsvLayout(
        name=name, columns=columns,
        timestamp_format=mapping.get("timestamp_format"),
        timestamp_tz=mapping.get("timestamp_tz") or "UTC",
    )


def static_rows(good: pd.DataFrame) -> pd.DataFrame:
    """One static row per distinct identity a vessel broadcast in the file (first time seen)."""
    static_cols = [c for c in STATIC_COLUMNS if c in good.columns]
    keep = ["mmsi", "timestamp", "source_line", "source_id", "transceiver_class"]
    frame = good[[c for c in keep if c in good.columns] + static_cols]
    has_any = frame[static_cols].notna().any(axis=1)
    frame = frame.loc[has_any].sort_values(["mmsi", "timestamp", "source_line"], kind="stable")
    frame = frame.drop_duplicates(subset=["mmsi", *static_cols], keep="first")
    frame = frame.assign(msg_type=0)
    return frame.reset_index(drop=True)


def raw_lines(data: bytes, lines: np.ndarray) -> list[str]:
    """The exact text of the given 1-based line numbers (for quarantine records)."""
    if len(lines) == 0:
        return []
    buf = np.frombuffer(data, dtype=np.uint8)
    nl = np.flatnonzero(buf == 10)
    starts = np.concatenate([[0], nl + 1])
    ends = np.concatenate([nl, [len(buf)]])
    out = []
    for ln in np.asarray(lines, dtype=np.int64):
        i = int(ln) - 1
        if 0 <= i < len(starts):
            out.append(data[starts[i] : ends[i]].decode("utf-8", errors="replace").rstrip("\r")[:2000])
        else:
            out.append("")
    return out

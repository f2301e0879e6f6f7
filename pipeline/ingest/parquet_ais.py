"""Parquet files that already carry the lake's position columns (e.g. exports of another lake)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import UserError
from pipeline.ingest.csv_ais import STATIC_COLUMNS
from pipeline.ingest.decoded import Decoded, empty_rejects
from pipeline.ingest.sources import Buffer
from pipeline.schemas import POSITIONS, TIME_SOURCES, VESSEL_STATIC

REQUIRED = ("mmsi", "timestamp", "lat", "lon")


def _time_sources(given: pd.Series | None, n: int) -> pd.Categorical:
    """The file's own ``time_source`` (e.g. an export of another lake: a date_only row stays
    date_only); rows without one, or with a value this version does not know, took their time
    from the row: 'row'."""
    categories = pd.Index(TIME_SOURCES, dtype="str")
    if given is None:
        codes = np.full(n, TIME_SOURCES.index("row"), dtype=np.int8)
    else:
        codes = pd.Categorical(given.astype("str"), categories=categories).codes
        codes = np.where(codes < 0, TIME_SOURCES.index("row"), codes).astype(np.int8)
    return pd.Categorical.from_codes(codes, categories=categories)


def read_parquet(data: Buffer, label: str) -> Decoded:
    """Read the lake columns present in the file; other columns are ignored."""
    try:
        pf = pq.ParquetFile(pa.BufferReader(data))
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise UserError(f"{label}: not a readable Parquet file ({exc})") from exc
    names = pf.schema_arrow.names
    missing = [c for c in REQUIRED if c not in names]
    if missing:
        raise UserError(
            f"{label}: Parquet file lacks the required column(s) {missing}; "
            f"expected the lake's position columns {POSITIONS.names[:10]}"
        )
    wanted = [c for c in (*POSITIONS.names, *VESSEL_STATIC.names) if c in names]
    wanted = [c for c in dict.fromkeys(wanted) if c not in ("source_id", "source_line")]
    frame = pf.read(columns=wanted).to_pandas()
    if "timestamp" in frame and frame["timestamp"].dt.tz is None:
        frame["timestamp"] = frame["timestamp"].dt.tz_localize("UTC")
    frame["timestamp"] = frame["timestamp"].astype("datetime64[us, UTC]")
    if "msg_type" not in frame:
        frame["msg_type"] = 0
    frame["source_line"] = np.arange(1, len(frame) + 1, dtype=np.int64)
    frame["time_source"] = _time_sources(frame.get("time_source"), len(frame))
    static_cols = [c for c in STATIC_COLUMNS if c in frame.columns]

    def raw_of(lines: np.ndarray) -> list[str]:
        idx = np.asarray(lines, dtype=np.int64) - 1
        rows = frame.iloc[idx][wanted]
        return [str(r) for r in rows.to_dict("records")]

    return Decoded(
        positions=frame, static=None, rejects=empty_rejects(), records=len(frame),
        raw_of=raw_of, layout="parquet", static_from_positions=bool(static_cols),
    )

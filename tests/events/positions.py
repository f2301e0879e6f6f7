"""Hand-built lake position rows for the detector tests (one builder for every test file)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.tracks import TRACK_COLUMNS

UTC_US = pa.timestamp("us", tz="UTC")


def position_table(
    mmsi: Sequence[int] | np.ndarray,
    timestamp: Sequence[Any] | np.ndarray,
    lat: Sequence[float] | np.ndarray,
    lon: Sequence[float] | np.ndarray,
    sog: Sequence[float | None] | np.ndarray | float | None = None,
    cog: Sequence[float | None] | np.ndarray | None = None,
    transceiver_class: str = "A",
) -> pa.Table:
    """Rows with the track columns; ``timestamp`` as datetimes or integer µs since the epoch,
    ``sog`` per row or one value for all, NaN/None meaning 'not available'."""
    n = len(mmsi)
    ts = np.asarray(timestamp)
    times = (pa.array(ts.astype(np.int64), pa.int64()).cast(UTC_US)
             if ts.dtype.kind in "iu" else pa.array(list(timestamp), UTC_US))
    sog_values = np.full(n, sog, dtype=float) if sog is None or np.isscalar(sog) else sog
    return pa.table({
        "mmsi": pa.array(np.asarray(mmsi, dtype=np.int64), pa.int64()),
        "timestamp": times,
        "lat": pa.array(np.asarray(lat, dtype=float), pa.float64()),
        "lon": pa.array(np.asarray(lon, dtype=float), pa.float64()),
        "sog_kn": pa.array(np.asarray(sog_values, dtype=float), pa.float32(), from_pandas=True),
        "cog_deg": (pa.nulls(n, pa.float32()) if cog is None
                    else pa.array(np.asarray(cog, dtype=float), pa.float32(), from_pandas=True)),
        "heading_deg": pa.nulls(n, pa.float32()),
        "nav_status": pa.nulls(n, pa.int8()),
        "transceiver_class": pa.array([transceiver_class] * n),
    }).select(TRACK_COLUMNS)

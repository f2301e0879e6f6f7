"""Row selection on Arrow tables, one column at a time on the ingest thread pool.

``Table.filter``/``Table.take`` first cut every column to common record batches, which costs
two to three times as much as selecting each column on its own; Arrow kernels release the
GIL, so the columns of a multi-million-row table are also selected in parallel.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.ingest.threads import pool


def filter_rows(table: pa.Table, keep: np.ndarray) -> pa.Table:
    """The rows of ``table`` where ``keep`` (boolean, one per row) is True."""
    mask = pa.array(keep, type=pa.bool_())
    cols = list(pool().map(lambda c: c.filter(mask), table.columns))
    return pa.Table.from_arrays(cols, schema=table.schema)


def take_rows(table: pa.Table, rows: np.ndarray, constant: Mapping[str, Any] | None = None) -> pa.Table:
    """The rows of ``table`` at positions ``rows`` (int64), in that order. Columns named in
    ``constant`` hold that one value in every row (no nulls): they are repeated, not taken."""
    index = pa.array(rows, type=pa.int64())
    constant = constant or {}

    def select(name: str) -> pa.ChunkedArray:
        col = table.column(name)
        if name in constant:
            return pa.chunked_array([pa.repeat(pa.scalar(constant[name], col.type), len(rows))])
        return col.take(index)

    cols = list(pool().map(select, table.column_names))
    return pa.Table.from_arrays(cols, schema=table.schema)


def take_row_groups(table: pa.Table, rows: np.ndarray, size: int,
                    constant: Mapping[str, Any] | None = None) -> Iterator[pa.Table]:
    """``take_rows(table, rows, constant)`` cut into pieces of ``size`` rows; while the
    caller works on one piece (e.g. encodes it to Parquet), the next one is taken on a
    helper thread."""
    starts = range(0, len(rows), size)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="take") as helper:
        pending = None
        for i, start in enumerate(starts):
            piece = (pending.result() if pending is not None
                     else take_rows(table, rows[start : start + size], constant))
            if i + 1 < len(starts):
                nxt = starts[i + 1]
                pending = helper.submit(take_rows, table, rows[nxt : nxt + size], constant)
            yield piece

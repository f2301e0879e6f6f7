"""Merging freshly validated rows into the day partitions of a lake table.

One mechanism for every ingested table: rows that earlier came from the same file content
are replaced (so re-ingesting a file is idempotent), exact duplicates are removed keeping
the copy with the smallest (source_id, source_line) (so a day's content does not depend on
the order in which its files arrived), and each day is written atomically by the lake.
Duplicates are *counted* by arrival: a row is a duplicate when the lake or an earlier file
of the run already had it. Everything runs on Arrow tables and numpy, never row by row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.lake import Lake, conform
from pipeline.schemas import DEDUP_KEYS, SORT_KEYS, TABLES

ARRIVAL_SHIFT = 40  # arrival rank = batch << 40 | source_line
# Optional boolean column of a batch: False for rows that are not records of their own in the
# run summary (e.g. the static half of an AIS type 19 message); their duplicates are not
# counted. The column is never written.
RECORD = "_record"


@dataclass
class MergeResult:
    days: list[str]
    duplicates: np.ndarray  # per batch


def _day_numbers(table: pa.Table, day_column: str | None, fallback: Sequence[date | None]) -> np.ndarray:
    """UTC day number per row (days since epoch); -1 for the undated partition."""
    if day_column is not None:
        ts = table.column(day_column)
        us = pc.cast(ts, pa.int64()).to_numpy(zero_copy_only=False)
        return np.floor_divide(us, 86_400_000_000)
    return np.array([(d - date(1970, 1, 1)).days if d else -1 for d in fallback], dtype=np.int64)


def merge_into_lake(
    lake: Lake,
    table_name: str,
    batches: Sequence[pa.Table],
    replace_sources: set[str],
    day_column: str | None,
    day_of_batch: Sequence[date | None] = (),
) -> MergeResult:
    """Merge ``batches`` (one Arrow table per input file: schema columns, optionally the
    ``RECORD`` flag) into the lake.

    ``day_column`` names the timestamp that decides the partition; when None, the whole
    batch i goes to ``day_of_batch[i]`` (None = the undated partition).
    """
    schema = TABLES[table_name]
    n_batches = len(batches)
    dups = np.zeros(n_batches, dtype=np.int64)
    parts, batch_ids, day_nums, records = [], [], [], []
    for i, t in enumerate(batches):
        if t.num_rows == 0:
            continue
        if RECORD in t.column_names:
            record = t.column(RECORD).to_numpy(zero_copy_only=False).astype(bool)
            t = t.drop_columns([RECORD])
        else:
            record = np.ones(t.num_rows, dtype=bool)
        t = conform(t, schema)
        parts.append(t)
        batch_ids.append(np.full(t.num_rows, i, dtype=np.int64))
        records.append(record)
        if day_column is None:
            d = day_of_batch[i]
            day_nums.append(np.full(t.num_rows, (d - date(1970, 1, 1)).days if d else -1))
        else:
            day_nums.append(_day_numbers(t, day_column, ()))
    if not parts:
        return MergeResult([], dups)
    new = pa.concat_tables(parts)
    batch = np.concatenate(batch_ids)
    is_record = np.concatenate(records)
    days = np.concatenate(day_nums)
    keys = DEDUP_KEYS.get(table_name)
    written = []
    for dn in np.unique(days):
        day = None if dn < 0 else date(1970, 1, 1) + np.timedelta64(int(dn), "D").astype(object)
        mask = days == dn
        part = new if mask.all() else new.filter(pa.array(mask))
        part_batch = batch[mask]
        part_record = is_record[mask]
        existing = lake.read_partition(table_name, day)
        if existing.num_rows and replace_sources:
            keep = pc.invert(pc.is_in(existing.column("source_id"), pa.array(sorted(replace_sources))))
            existing = existing.filter(keep)
        merged = pa.concat_tables([existing, part]) if existing.num_rows else part
        del part
        merged_batch = np.concatenate([np.full(existing.num_rows, -1, dtype=np.int64), part_batch])
        merged_record = np.concatenate([np.zeros(existing.num_rows, dtype=bool), part_record])
        del existing
        order = sort_order(merged, SORT_KEYS[table_name])
        rows = order
        if keys:
            start = _group_starts(merged, keys, order)
            sorted_batch = merged_batch[order]
            lines = merged.column("source_line").to_numpy()[order]
            arrival = (sorted_batch << ARRIVAL_SHIFT) + lines
            group = np.cumsum(start) - 1
            first_arrival = np.minimum.reduceat(arrival, np.flatnonzero(start))
            late = (arrival != first_arrival[group]) & (sorted_batch >= 0) & merged_record[order]
            dups += np.bincount(sorted_batch[late], minlength=n_batches)[:n_batches]
            rows = order[start]
            del sorted_batch, lines, arrival, group, late, start
        # one take does both the sort and the de-duplication (a single copy of the day)
        if len(rows) != merged.num_rows or np.any(rows[1:] < rows[:-1]):
            merged = merged.take(pa.array(rows))
        lake.write_partition(table_name, day, merged, presorted=True)
        del merged
        written.append(day.isoformat() if day else "undated")
    return MergeResult(written, dups)


def _sortable(column: pa.ChunkedArray) -> np.ndarray:
    """A numpy array that sorts like the column, nulls last."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        enc = pc.dictionary_encode(column.combine_chunks())
        rank = np.argsort(np.argsort(np.asarray(enc.dictionary.to_pylist(), dtype=object)))
        idx = enc.indices.to_numpy(zero_copy_only=False)
        if enc.indices.null_count:
            idx = np.where(np.isnan(idx), len(rank), idx).astype(np.int64)
            return np.append(rank, len(rank))[idx]
        return rank[idx]
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.int64())
    values = column.to_numpy(zero_copy_only=False)
    if values.dtype.kind in "iu" or values.dtype.kind == "b":
        return values
    return np.where(np.isnan(values), np.inf, values)


def sort_order(table: pa.Table, keys: Sequence[str]) -> np.ndarray:
    """Row order that sorts the table by ``keys`` ascending. String keys are replaced by
    their ranks first, so the multi-key sort compares numbers only; keys constant over the
    table are skipped."""
    arrays = {}
    for k in keys:
        values = _sortable(table.column(k))
        if len(values) and values.min() != values.max():
            arrays[k] = values
    if not arrays:
        return np.arange(table.num_rows)
    ranked = pa.table(arrays)
    order = pc.sort_indices(ranked, sort_keys=[(k, "ascending") for k in arrays])
    return np.asarray(order.to_numpy(), dtype=np.int64)


def _group_starts(table: pa.Table, keys: Sequence[str], order: np.ndarray) -> np.ndarray:
    """For the rows in ``order`` (sorted by the keys): True where a row's key differs from
    the previous row's. Nulls compare equal to nulls (they map to one sortable value)."""
    n = len(order)
    same = np.ones(max(n - 1, 0), dtype=bool)
    for k in keys:
        values = _sortable(table.column(k))[order]
        same &= values[1:] == values[:-1]
    start = np.ones(n, dtype=bool)
    start[1:] = ~same
    return start

"""Merging freshly validated rows into the day partitions of a lake table.

One mechanism for every ingested table: rows that earlier came from the same file content
are replaced (so re-ingesting a file is idempotent), exact duplicates are removed keeping
the copy with the smallest (source_id, source_line) (so a day's content does not depend on
the order in which its files arrived), and each day is written atomically by the lake.
Duplicates are *counted* by arrival: a row is a duplicate when the lake or an earlier file
of the run already had it. Everything runs on Arrow tables and numpy, never row by row.

Speed (a day of decoded AIS is millions of rows): the sort keys become numpy arrays once per
merge; the leading integer keys are packed into one int64 that is sorted once, and only rows
that tie on it are ordered by the remaining keys. One column-wise take per day then does the
day split, the sort and the de-duplication together, and the days are written in parallel
(Arrow, numpy and the Parquet writer release the GIL).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.ingest.columns import take_row_groups
from pipeline.ingest.threads import pool
from pipeline.lake import ROW_GROUP_ROWS, Lake, conform
from pipeline.schemas import DATE_ONLY, DEDUP_KEYS, SORT_KEYS, TABLES

ARRIVAL_SHIFT = 40  # arrival rank = batch << 40 | source_line
# Optional boolean column of a batch: False for rows that are not records of their own in the
# run summary (e.g. the static half of an AIS type 19 message); their duplicates are not
# counted. The column is never written.
RECORD = "_record"
PACK_LIMIT = 1 << 62  # packed sort keys stay below this (int64 with room to spare)


@dataclass
class MergeResult:
    days: list[str]
    duplicates: np.ndarray  # per batch
    # per batch: those of the duplicates whose time_source is date_only (the run summary
    # counts the date-only positions that were kept)
    date_only_duplicates: np.ndarray | None = None


def _day_numbers(table: pa.Table, day_column: str | None, fallback: Sequence[date | None]) -> np.ndarray:
    """UTC day number per row (days since epoch); -1 for the undated partition."""
    if day_column is not None:
        ts = table.column(day_column)
        us = pc.cast(ts, pa.int64()).to_numpy(zero_copy_only=False)
        return np.floor_divide(us, 86_400_000_000)
    return np.array([(d - date(1970, 1, 1)).days if d else -1 for d in fallback], dtype=np.int64)


def day_counts(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct day numbers among ``days`` (ascending) and how many rows each has. A run
    touches a few days: one counting pass over millions of rows, not a sort of them."""
    if len(days) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    lo, hi = int(days.min()), int(days.max())
    if hi - lo >= len(days):  # days scattered over years: fewer rows than days to count
        return np.unique(days, return_counts=True)
    counts = np.bincount(days - lo, minlength=hi - lo + 1)
    present = np.flatnonzero(counts)
    return present + lo, counts[present]


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``conform``, with the columns that need a cast cast in parallel first."""
    todo = [f for f in schema
            if f.name in table.column_names and not table.column(f.name).type.equals(f.type)]
    cast = pool().map(lambda f: pc.cast(table.column(f.name), f.type), todo)
    for f, col in zip(todo, cast, strict=True):
        table = table.set_column(table.column_names.index(f.name), f.name, col)
    return conform(table, schema)


def _day(dn: int) -> date | None:
    return None if dn < 0 else date(1970, 1, 1) + np.timedelta64(int(dn), "D").astype(object)


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
        t = _conform(t, schema)
        parts.append(t)
        batch_ids.append(np.full(t.num_rows, i, dtype=np.int64))
        records.append(record)
        if day_column is None:
            d = day_of_batch[i]
            day_nums.append(np.full(t.num_rows, (d - date(1970, 1, 1)).days if d else -1))
        else:
            day_nums.append(_day_numbers(t, day_column, ()))
    if not parts:
        return MergeResult([], dups, dups.copy())
    new = pa.concat_tables(parts)
    del parts
    merge = _TableMerge(
        lake, table_name, new, np.concatenate(batch_ids), np.concatenate(records),
        replace_sources, n_batches,
    )
    days = np.concatenate(day_nums)
    unique_days = [int(d) for d in day_counts(days)[0]]
    if len(unique_days) == 1:
        results = [merge.day(unique_days[0], None)]
    else:
        with ThreadPoolExecutor(max_workers=min(len(unique_days), max(1, pa.cpu_count())),
                                thread_name_prefix="merge") as pool:
            results = list(pool.map(lambda dn: merge.day(dn, np.flatnonzero(days == dn)),
                                    unique_days))
    date_only_dups = np.zeros(n_batches, dtype=np.int64)
    for _, day_dups, day_date_only in results:
        dups += day_dups
        date_only_dups += day_date_only
    return MergeResult([d for d, _, _ in results], dups, date_only_dups)


class _TableMerge:
    """The rows of one run for one table, and how each day of them enters the lake."""

    def __init__(self, lake: Lake, table_name: str, new: pa.Table, batch: np.ndarray,
                 is_record: np.ndarray, replace_sources: set[str], n_batches: int) -> None:
        self.lake, self.table_name, self.new = lake, table_name, new
        self.batch, self.is_record = batch, is_record
        self.replace_sources, self.n_batches = replace_sources, n_batches
        self.dedup_keys = DEDUP_KEYS.get(table_name) or []
        self.sort_keys = SORT_KEYS[table_name]
        needed = dict.fromkeys([*self.sort_keys, *self.dedup_keys])
        if self.dedup_keys:
            needed["source_line"] = None
        # computed once for all days (column by column on the pool), before the days run
        self.keys = dict(zip(needed, pool().map(lambda k: _key_values(new.column(k)), needed),
                             strict=True))
        self.date_only = None  # new rows whose time is only a date
        if "time_source" in new.column_names:
            flag = pc.fill_null(pc.equal(new.column("time_source"), DATE_ONLY), False)
            self.date_only = np.asarray(flag.to_numpy(zero_copy_only=False), dtype=bool)

    def day(self, dn: int, rows_new: np.ndarray | None) -> tuple[str, np.ndarray, np.ndarray]:
        """Merge the new rows ``rows_new`` (None = all) of day ``dn`` with what the lake holds
        for that day and write the partition; returns the day, duplicates per batch and how
        many of those were date-only rows."""
        day = _day(dn)
        dups = np.zeros(self.n_batches, dtype=np.int64)
        date_only_dups = np.zeros(self.n_batches, dtype=np.int64)
        existing = self.lake.read_partition(self.table_name, day)
        if existing.num_rows and self.replace_sources:
            keep = pc.invert(pc.is_in(existing.column("source_id"),
                                      pa.array(sorted(self.replace_sources))))
            existing = existing.filter(keep)
        n_old = existing.num_rows
        n_new = self.new.num_rows if rows_new is None else len(rows_new)
        arrays = dict(zip(self.keys, pool().map(
            lambda k: _day_sortable(_key_values(existing.column(k)) if n_old else None,
                                    self.keys[k], rows_new),
            self.keys,
        ), strict=True))
        batch = np.full(n_old + n_new, -1, dtype=np.int64)
        batch[n_old:] = self.batch if rows_new is None else self.batch[rows_new]
        record = np.zeros(n_old + n_new, dtype=bool)
        record[n_old:] = self.is_record if rows_new is None else self.is_record[rows_new]
        order, start = sorted_groups(arrays, self.sort_keys, self.dedup_keys)
        rows = order
        if start is not None:
            late = _late_arrivals(start, order, batch, arrays["source_line"], record)
            dups += np.bincount(batch[late], minlength=self.n_batches)[: self.n_batches]
            if self.date_only is not None and len(late):  # late rows are all new rows
                new_row = late - n_old if rows_new is None else rows_new[late - n_old]
                gone = late[self.date_only[new_row]]
                date_only_dups += np.bincount(batch[gone], minlength=self.n_batches)[
                    : self.n_batches]
            rows = order[start]
        # positions in ``merged`` = the lake's rows, then all new rows of the run
        merged = pa.concat_tables([existing, self.new]) if n_old else self.new
        if rows_new is not None and n_old:
            rows = np.where(rows < n_old, rows, n_old + rows_new[np.maximum(rows - n_old, 0)])
        elif rows_new is not None:
            rows = rows_new[rows]
        if len(rows) == merged.num_rows and not np.any(rows[1:] < rows[:-1]):
            self.lake.write_partition(self.table_name, day, merged, presorted=True)
        else:  # one copy does split, sort and de-duplication, a row group at a time
            # a column that holds one value (the source of a one-file run) is repeated
            constant = {} if n_old else {
                k: v[0][0] for k, v in self.keys.items()
                if isinstance(v, tuple) and len(v[0]) == 1 and v[1].min() == 0
            }
            groups = take_row_groups(merged, rows, ROW_GROUP_ROWS, constant)
            self.lake.write_row_groups(self.table_name, day, groups)
        return (day.isoformat() if day else "undated"), dups, date_only_dups


def _late_arrivals(start: np.ndarray, order: np.ndarray, batch: np.ndarray,
                   lines: np.ndarray, record: np.ndarray) -> np.ndarray:
    """Rows (day positions) that are duplicates by arrival: their group holds a row that
    arrived earlier (the lake's, or an earlier batch's, or an earlier line of the same batch).
    Only groups of two or more rows can hold one."""
    in_multi = ~start
    in_multi[:-1] |= ~start[1:]
    p = np.flatnonzero(in_multi)  # sorted positions in groups of 2+, each group from its start
    if len(p) == 0:
        return np.zeros(0, dtype=np.int64)
    rows = order[p]
    sorted_batch = batch[rows]
    arrival = (sorted_batch << ARRIVAL_SHIFT) + lines[rows]
    firsts = start[p]
    group = np.cumsum(firsts) - 1
    first_arrival = np.minimum.reduceat(arrival, np.flatnonzero(firsts))
    late = (arrival != first_arrival[group]) & (sorted_batch >= 0) & record[rows]
    return rows[late]


# --- sort keys as numpy ---------------------------------------------------------------------

# A string key as (its distinct values, per-row index into them, -1 for null); numbers as is.
KeyValues = np.ndarray | tuple[np.ndarray, np.ndarray]


def _key_values(column: pa.ChunkedArray) -> KeyValues:
    """What a key column contributes to sorting, before strings are ranked."""
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        if len(column) and not column.null_count:  # e.g. the source of a one-file run
            span = pc.min_max(column)
            if span["min"] == span["max"]:
                return (np.array([span["min"].as_py()], dtype=object),
                        np.zeros(len(column), dtype=np.int64))
        enc = pc.dictionary_encode(column.combine_chunks())
        idx = pc.fill_null(enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
        return np.asarray(enc.dictionary.to_pylist(), dtype=object), idx
    return _sortable_number(column)


def _sortable_number(column: pa.ChunkedArray) -> np.ndarray:
    """A numpy array that sorts like the column, nulls (and NaN) last."""
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.int64())
    values = column.to_numpy(zero_copy_only=False)
    if values.dtype.kind in "iu" or values.dtype.kind == "b":
        return values
    nan = np.isnan(values)
    return np.where(nan, np.inf, values) if nan.any() else values


def _day_sortable(old: KeyValues | None, new: KeyValues, rows_new: np.ndarray | None) -> np.ndarray:
    """Sortable values of one key for a day: the lake's rows, then the day's new rows.
    Strings become ranks over the distinct values of both (null ranks last)."""
    if isinstance(new, tuple):
        values, idx = new
        parts = [(values, idx if rows_new is None else idx[rows_new])]
        if isinstance(old, tuple):
            parts.insert(0, old)
        distinct, rank = np.unique(np.concatenate([v for v, _ in parts]), return_inverse=True)
        out, offset = [], 0
        for v, i in parts:
            ranks = np.append(rank[offset : offset + len(v)], len(distinct))
            out.append(ranks[i])
            offset += len(v)
        return np.concatenate(out) if len(out) > 1 else out[0]
    assert not isinstance(old, tuple)
    day_new = new if rows_new is None else new[rows_new]
    return day_new if old is None else np.concatenate([old, day_new])


def sorted_groups(
    arrays: dict[str, np.ndarray], sort_keys: Sequence[str], dedup_keys: Sequence[str]
) -> tuple[np.ndarray, np.ndarray | None]:
    """The stable ascending order of the rows by ``sort_keys`` and, when there are
    ``dedup_keys``, for each sorted position whether it starts a new run of rows equal on
    them (a row equals only its sorted neighbours; NaN and null equal themselves).

    Keys constant over the rows are skipped; rows already in order are only checked. The
    leading integer keys are packed into one int64 (the first as a dense rank) and sorted
    once (stably); only the rows that tie on it are then ordered by the other keys.
    """
    n = len(next(iter(arrays.values()))) if arrays else 0
    keys = [k for k in sort_keys if len(arrays[k]) and arrays[k].min() != arrays[k].max()]
    if keys and _in_order(arrays, keys):  # e.g. the one file of a day, sorted by ingest
        if not dedup_keys:
            return np.arange(n), None
        same = np.ones(max(n - 1, 0), dtype=bool)
        for k in dedup_keys:
            values = arrays[k]
            same &= values[1:] == values[:-1]
        return np.arange(n), np.concatenate([[True], ~same])
    if not keys:
        order = np.arange(n)
        lead = np.zeros(n, dtype=np.int64)
        packed: list[str] = []
    else:
        lead, packed, rank = _pack([arrays[k] for k in keys], keys)
        order = _argsort_lead(lead, rank)
        del rank
    sorted_lead = lead[order]
    tie = sorted_lead[1:] == sorted_lead[:-1]
    del lead, sorted_lead  # a 10 M-row day: 160 MB that the ties' work can use
    if tie.any():
        _order_ties(order, tie, [arrays[k] for k in keys[len(packed):]])
    if not dedup_keys:
        return order, None
    if set(packed) <= set(dedup_keys):
        # rows equal on the dedup keys are equal on the packed lead: only ties can be equal
        candidates = np.flatnonzero(tie)
        remaining = [k for k in dedup_keys if k not in packed]
    else:
        candidates = np.arange(max(n - 1, 0))
        remaining = list(dedup_keys)
    for k in remaining:
        if len(candidates) == 0:
            break
        values = arrays[k]
        same = values[order[candidates]] == values[order[candidates + 1]]
        candidates = candidates[same]
    start = np.ones(n, dtype=bool)
    start[candidates + 1] = False
    return order, start


def _order_ties(order: np.ndarray, tie: np.ndarray, rest: list[np.ndarray]) -> None:
    """Order, in place, the runs of ``order`` that tie on the packed lead (``tie[i]``: sorted
    positions i and i + 1 tie) by the remaining keys ``rest``, stably.

    Within a run the rows are in position order (the lead's sort is stable) and np.lexsort
    is stable too, so trailing keys that already ascend with the position (a file's line
    numbers) need no sorting, and runs whose rows agree on every other key (the copies of
    one report heard by several receivers: a third of a satellite feed) stay as they are.
    Only the other runs are sorted."""
    while rest and not np.any(rest[-1][1:] < rest[-1][:-1]):
        rest = rest[:-1]
    if not rest:
        return
    in_tie = np.zeros(len(order), dtype=bool)
    in_tie[1:] = tie
    in_tie[:-1] |= tie
    pos = np.flatnonzero(in_tie)
    starts = np.ones(len(pos), dtype=bool)  # a run starts where the lead changes
    starts[1:] = ~tie[pos[1:] - 1]
    group = np.cumsum(starts) - 1
    sub = order[pos]
    values = [a[sub] for a in rest]
    differs = np.zeros(len(pos), dtype=bool)
    for v in values:
        differs[1:] |= v[1:] != v[:-1]
    differs &= ~starts
    mixed = np.zeros(int(group[-1]) + 1, dtype=bool)
    mixed[group[differs]] = True
    sel = np.flatnonzero(mixed[group])
    if len(sel):  # np.lexsort: the last key is the primary one
        ranked = np.lexsort([*(v[sel] for v in reversed(values)), group[sel]])
        order[pos[sel]] = sub[sel][ranked]


def _in_order(arrays: dict[str, np.ndarray], keys: Sequence[str]) -> bool:
    """Whether the rows already ascend by ``keys`` (compared key by key, as a stable sort
    orders them): a few vector comparisons instead of a sort."""
    undecided = None  # neighbour pairs equal on the keys so far
    for k in keys:
        a = arrays[k]
        before, after = a[:-1], a[1:]
        down = after < before
        if undecided is not None:
            down &= undecided
        if down.any():
            return False
        equal = after == before
        undecided = equal if undecided is None else undecided & equal
        if not undecided.any():
            return True
    return True


def sort_order(table: pa.Table, table_name: str, rows: np.ndarray | None = None,
               unique: bool = False, known: dict[str, np.ndarray] | None = None
               ) -> np.ndarray:
    """The rows ``rows`` of ``table`` (all when None) in the lake's sort order for
    ``table_name`` (its ``SORT_KEYS`` that the table has, cast to the lake's types; stable);
    with ``unique``, without the rows equal on ``DEDUP_KEYS`` to the row before them (the
    merge would drop them: the first in this order is the one it keeps). Ingest puts a
    file's validated rows in this order while it filters them (one copy does all three), so
    the merge of a day finds them sorted and de-duplicated and only checks it. ``known``:
    numpy values of some keys for every row of ``table`` (e.g. what validation already
    extracted; no NaN on ``rows``), used instead of reading the columns again; they are
    taken out of the dict as they are used, so that a 10 M-row file does not hold them
    beside the sort's own arrays."""
    schema = TABLES[table_name]
    keys = [k for k in SORT_KEYS[table_name] if k in table.column_names]
    known = {} if known is None else known

    def values(k: str) -> np.ndarray:
        full = known.pop(k, None)
        if full is not None:
            v = full if rows is None else full[rows]
            del full
            kind = schema.field(k).type
            integer = pa.types.is_integer(kind) or pa.types.is_timestamp(kind)
            return v.astype(np.int64, copy=False) if integer else v
        col = table.column(k)
        if rows is not None:
            col = col.take(pa.array(rows, pa.int64()))
        return _day_sortable(None, _key_values(pc.cast(col, schema.field(k).type)), None)

    dedup = (DEDUP_KEYS.get(table_name) or []) if unique else []
    needed = list(dict.fromkeys([*keys, *dedup]))
    if not set(dedup) <= set(table.column_names):
        raise ValueError(f"de-duplicating {table_name} needs the columns {dedup}")
    arrays = dict(zip(needed, pool().map(values, needed), strict=True))
    order, start = sorted_groups(arrays, keys, dedup)
    if start is not None:
        order = order[start]
    return order if rows is None else rows[order]


def _argsort_lead(lead: np.ndarray, rank: np.ndarray | None) -> np.ndarray:
    """A stable ascending order of ``lead``. When ``rank`` (the dense rank of the first key,
    e.g. the vessel) is known, the rows are first put in rank order by a linear-time radix
    sort of 16-bit digits; the sort of ``lead`` then meets long ascending runs (a vessel's
    reports arrive roughly in time order) and timsort merges runs instead of sorting from
    scratch: a third of the time of a quicksort on a day of decoded AIS."""
    if rank is None:
        return np.argsort(lead, kind="stable")
    if len(rank) and int(rank.max()) > 0xFFFF:  # two radix passes: low digit, then high
        order = np.argsort((rank & 0xFFFF).astype(np.uint16), kind="stable")
        order = order[np.argsort((rank[order] >> 16).astype(np.uint16), kind="stable")]
    else:
        order = np.argsort(rank.astype(np.uint16), kind="stable")
    return order[np.argsort(lead[order], kind="stable")]


def _pack(arrays: list[np.ndarray], keys: list[str]) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """One int64 that orders like the leading integer keys together, the keys it holds and
    the dense rank of the first key (None when it was not ranked). The first key enters as
    its dense rank, each following one as its offset from its minimum, as long as the
    product of the ranges stays below ``PACK_LIMIT``."""
    first = arrays[0]
    if first.dtype.kind not in "iub":
        return first, keys[:1], None
    if len(arrays) == 1 or arrays[1].dtype.kind not in "iub":
        return first.astype(np.int64, copy=False), keys[:1], None
    codes, distinct = pd.factorize(first, sort=True)
    lead = codes.astype(np.int64, copy=False)
    span = len(distinct)
    packed = keys[:1]
    for a, k in zip(arrays[1:], keys[1:], strict=True):
        if a.dtype.kind not in "iub":
            break
        lo, hi = int(a.min()), int(a.max())
        width = hi - lo + 1
        if span * width >= PACK_LIMIT:
            break
        lead = lead * width + (a.astype(np.int64, copy=False) - lo)
        span *= width
        packed.append(k)
    return lead, packed, codes.astype(np.int64, copy=False)

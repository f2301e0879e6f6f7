"""The merge's sort and de-duplication against plain reference implementations: a stable
multi-key Arrow sort, pandas' drop_duplicates, and the lake's single-table write."""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import pipeline.ingest.merge as merge
import pipeline.lake as lake_module
from pipeline.ingest.merge import merge_into_lake, sorted_groups
from pipeline.ingest.sources import SourceFile, content_id
from pipeline.lake import Lake
from pipeline.schemas import DEDUP_KEYS, SORT_KEYS

DAY0 = datetime(2022, 1, 3, tzinfo=UTC)


def _reference(arrays: dict[str, np.ndarray], sort_keys: list[str],
               dedup_keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Arrow's stable sort on every key, then neighbours compared key by key."""
    order = pc.sort_indices(pa.table(arrays), sort_keys=[(k, "ascending") for k in sort_keys])
    order = order.to_numpy()
    same = np.ones(len(order) - 1, dtype=bool)
    for k in dedup_keys:
        v = arrays[k][order]
        same &= v[1:] == v[:-1]
    return order, np.concatenate([[True], ~same])


@pytest.mark.parametrize("case", ["packed", "wide_ints", "float_first", "constant_key",
                                  "many_vessels", "presorted", "presorted_but_one",
                                  "lines_ascending"])
def test_sorted_groups_is_a_stable_multi_key_sort(case: str) -> None:
    rng = np.random.default_rng(7)
    n = 20_000
    arrays = {
        "mmsi": rng.choice([201_000_001, 367_379_190, 775_999_999], n).astype(np.int64),
        "timestamp": rng.integers(0, 50, n).astype(np.int64) * 1_000_000,  # many ties
        "lat": np.where(rng.random(n) < 0.01, np.inf, rng.integers(0, 3, n) / 2),
        "lon": rng.integers(0, 2, n).astype(np.float64),
        "source_id": rng.integers(0, 2, n).astype(np.int64),  # ranks of two files
        "source_line": rng.permutation(n).astype(np.int64),
    }
    if case == "wide_ints":  # too wide to pack into one int64: the slow path
        arrays["timestamp"] = rng.choice([0, 2**61, 2**62], n).astype(np.int64)
    if case == "float_first":
        arrays["mmsi"] = arrays["mmsi"].astype(np.float64)
    if case == "constant_key":
        arrays["source_id"] = np.zeros(n, dtype=np.int64)
    if case == "many_vessels":  # over 65,536 distinct vessels: two radix passes on the rank
        n = 200_000
        arrays = {k: np.resize(v, n) for k, v in arrays.items()}
        arrays["mmsi"] = 201_000_000 + rng.integers(0, 90_000, n).astype(np.int64)
        arrays["source_line"] = rng.permutation(n).astype(np.int64)
    if case == "lines_ascending":  # one file's rows: ties need not be ordered by line
        arrays["source_line"] = np.arange(n, dtype=np.int64)
    keys, dedup = SORT_KEYS["positions"], DEDUP_KEYS["positions"]
    if case.startswith("presorted"):  # rows ingest already put in order: no sort needed
        in_order = _reference(arrays, keys, [])[0]
        arrays = {k: v[in_order] for k, v in arrays.items()}
        if case == "presorted_but_one":  # the last key alone out of order in one place
            tied = np.flatnonzero(np.all([arrays[k][1:] == arrays[k][:-1] for k in keys[:-1]], 0))
            i = tied[len(tied) // 2]
            arrays["source_line"][[i, i + 1]] = arrays["source_line"][[i + 1, i]]
    order, start = sorted_groups(arrays, keys, dedup)
    want_order, want_start = _reference(arrays, keys, dedup)
    assert np.array_equal(order, want_order)
    assert start is not None and np.array_equal(start, want_start)
    assert 0 < (~start).sum() < n  # the data does hold duplicates and distinct rows


def test_sorted_groups_dedup_keys_outside_the_sort_keys() -> None:
    rng = np.random.default_rng(3)
    n = 5_000
    arrays = {k: rng.integers(0, 4, n).astype(np.int64)
              for k in ("mmsi", "timestamp", "source_id", "source_line", "name")}
    order, start = sorted_groups(arrays, ["mmsi", "timestamp", "source_id", "source_line"],
                                 ["mmsi", "timestamp", "name"])
    want_order, want_start = _reference(
        arrays, ["mmsi", "timestamp", "source_id", "source_line"], ["mmsi", "timestamp", "name"])
    assert np.array_equal(order, want_order) and np.array_equal(start, want_start)


def _positions(rng: np.random.Generator, n: int, source: str, days: int) -> pa.Table:
    """Positions of a few vessels over ``days`` days, with repeated reports."""
    seconds = rng.integers(0, days * 86_400 // 60, n) * 60
    return pa.table({
        "mmsi": rng.choice([201_000_001, 367_379_190, 538_000_123], n).astype(np.int64),
        "timestamp": pa.array([DAY0 + timedelta(seconds=int(s)) for s in seconds],
                              pa.timestamp("us", tz="UTC")),
        "lat": rng.integers(0, 2, n) / 10.0,
        "lon": np.full(n, 104.0),
        "source_id": [source] * n,
        "source_line": np.arange(2, n + 2, dtype=np.int64),
    })


def _expected(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, list[int]]:
    """pandas: sort by day and keys, keep the first of equal rows, count later arrivals."""
    df = pd.concat(frames, ignore_index=True)
    df["day"] = df["timestamp"].dt.floor("D")  # one partition per day, read back in day order
    df = df.sort_values(["day", *SORT_KEYS["positions"]], kind="stable")
    dup = df.duplicated(DEDUP_KEYS["positions"], keep=False)
    arrival = df["batch"] * 10**9 + df["source_line"]
    first = arrival.groupby([df[k] for k in DEDUP_KEYS["positions"]]).transform("min")
    late = dup & (arrival != first) & (df["batch"] >= 0)
    counts = late.groupby(df["batch"]).sum()
    kept = df.drop_duplicates(DEDUP_KEYS["positions"], keep="first")
    return kept, [int(counts.get(i, 0)) for i in range(2)]


def test_merge_matches_pandas_over_days_with_rows_already_in_the_lake(tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    lake = Lake(tmp_path / "lake")
    old = _positions(rng, 3_000, "old0000000000000", days=3)
    merge_into_lake(lake, "positions", [old], {"old0000000000000"}, "timestamp")
    a = _positions(rng, 4_000, "aaaa000000000000", days=3)
    b = pa.concat_tables([a.slice(0, 1_000).set_column(
        4, "source_id", pa.array(["bbbb000000000000"] * 1_000)),
        _positions(rng, 2_000, "bbbb000000000000", days=3).slice(1_000)])
    result = merge_into_lake(lake, "positions", [a, b], {"aaaa000000000000", "bbbb000000000000"},
                             "timestamp")
    assert result.days == ["2022-01-03", "2022-01-04", "2022-01-05"]
    frames = []
    for i, t in enumerate([old, a, b]):
        f = t.to_pandas()
        f["batch"] = i - 1  # the lake's rows arrived first
        frames.append(f)
    kept, dups = _expected(frames)
    got = lake.read("positions", date(2022, 1, 3), date(2022, 1, 5)).to_pandas()
    cols = ["mmsi", "timestamp", "lat", "lon", "source_id", "source_line"]
    pd.testing.assert_frame_equal(got[cols].reset_index(drop=True),
                                  kept[cols].reset_index(drop=True))
    assert result.duplicates.tolist() == dups and dups[0] > 0 and dups[1] >= 1_000


def test_row_groups_taken_while_written_give_the_lake_file(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lake_module, "ROW_GROUP_ROWS", 700)
    monkeypatch.setattr(merge, "ROW_GROUP_ROWS", 700)
    rng = np.random.default_rng(5)
    table = _positions(rng, 2_500, "aaaa000000000000", days=1)
    shuffled = table.take(pa.array(rng.permutation(table.num_rows)))
    via_merge, direct = Lake(tmp_path / "m"), Lake(tmp_path / "d")
    merge_into_lake(via_merge, "positions", [shuffled], set(), "timestamp")
    order = pc.sort_indices(table, [(k, "ascending") for k in SORT_KEYS["positions"]])
    deduped = table.take(order).to_pandas().drop_duplicates(DEDUP_KEYS["positions"])
    direct.write_partition("positions", DAY0.date(),
                           pa.Table.from_pandas(deduped, preserve_index=False), presorted=True)
    path_m = Path(via_merge.partition_path("positions", DAY0.date()))
    path_d = Path(direct.partition_path("positions", DAY0.date()))
    assert pq.ParquetFile(path_m).metadata.num_row_groups == -(-len(deduped) // 700) > 1
    assert path_m.read_bytes() == path_d.read_bytes()


def test_source_id_is_the_content_hash_with_or_without_background_hashing() -> None:
    data = b"MMSI,BaseDateTime\n" * 1000
    want = hashlib.sha256(data).hexdigest()[:16]
    early = SourceFile("a.csv", data)
    early.hash_in_background()
    assert early.source_id == want == SourceFile("a.csv", data).source_id == content_id(data)

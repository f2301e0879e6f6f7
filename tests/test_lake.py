from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.lake import Lake
from pipeline.schemas import POSITIONS, TABLES, describe


def _positions(n: int, day: date, source: str = "s1") -> pa.Table:
    base = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return pa.table(
        {
            "mmsi": pa.array([525000000 + (i % 7) for i in range(n)], pa.int64()),
            "timestamp": pa.array([base.replace(minute=i % 60) for i in range(n)], POSITIONS.field("timestamp").type),
            "lat": [-7.0 - i / 1000 for i in range(n)],
            "lon": [106.5 + i / 1000 for i in range(n)],
            "source_id": [source] * n,
            "source_line": list(range(1, n + 1)),
        }
    )


def test_every_column_is_documented() -> None:
    for table in TABLES:
        for name, _type, doc in describe(table):
            assert doc, f"{table}.{name} has no documentation"


def test_write_read_roundtrip_fills_schema(lake: Lake) -> None:
    day = date(2024, 3, 1)
    lake.write_partition("positions", day, _positions(10, day))
    got = lake.read("positions", day)
    assert got.schema == POSITIONS
    assert got.num_rows == 10
    assert got.column("sog_kn").null_count == 10
    assert lake.dates("positions") == [day]


def test_replace_is_whole_and_sorted(lake: Lake) -> None:
    day = date(2024, 3, 1)
    lake.write_partition("positions", day, _positions(50, day))
    lake.write_partition("positions", day, _positions(5, day, "s2"))
    got = lake.read("positions", day).to_pandas()
    assert len(got) == 5 and set(got["source_id"]) == {"s2"}
    keys = list(zip(got["mmsi"], got["timestamp"], strict=True))
    assert keys == sorted(keys)


def test_same_content_same_bytes(lake: Lake, tmp_path: Path) -> None:
    day = date(2024, 3, 1)
    t = _positions(100, day)
    lake.write_partition("positions", day, t)
    first = Path(lake.partition_path("positions", day)).read_bytes()
    shuffled = t.take(pa.array(list(reversed(range(100)))))
    lake.write_partition("positions", day, shuffled)
    assert Path(lake.partition_path("positions", day)).read_bytes() == first


def test_date_range_and_columns(lake: Lake) -> None:
    for d in (date(2024, 3, 1), date(2024, 3, 3)):
        lake.write_partition("positions", d, _positions(4, d))
    got = lake.read("positions", date(2024, 3, 1), date(2024, 3, 3), columns=["mmsi", "lat"])
    assert got.column_names == ["mmsi", "lat"] and got.num_rows == 8
    assert lake.read("positions", date(2024, 3, 2)).num_rows == 0
    with pytest.raises(ValueError, match="before start"):
        lake.read("positions", date(2024, 3, 3), date(2024, 3, 1))


def test_no_temporary_files_left_and_empty_write_removes(lake: Lake) -> None:
    day = date(2024, 3, 1)
    lake.write_partition("positions", day, _positions(3, day))
    directory = Path(lake.partition_path("positions", day)).parent
    assert [p.name for p in directory.iterdir()] == ["data.parquet"]
    lake.write_partition("positions", day, _positions(0, day))
    assert not lake.has_partition("positions", day)


def test_conform_refuses_unknown_columns_and_missing_required(lake: Lake) -> None:
    day = date(2024, 3, 1)
    with pytest.raises(ValueError, match="not in the schema"):
        lake.write_partition("positions", day, _positions(2, day).append_column("x", pa.array([1, 2])))
    with pytest.raises(ValueError, match="required column 'lat'"):
        lake.write_partition("positions", day, _positions(2, day).drop_columns(["lat"]))

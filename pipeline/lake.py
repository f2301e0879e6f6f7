"""The lake: date-partitioned Parquet tables with atomic partition replace.

Layout: ``<root>/<table>/date=YYYY-MM-DD/data.parquet``. A partition is one file that is
written to a temporary name beside it and renamed into place, so a crash leaves either the
old partition or the new one. Rows are sorted by the table's sort keys before writing, so
the same content always gives the same file, whatever order the inputs arrived in.
All I/O goes through a pyarrow file system, so the root may later be an object-store URI.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.schemas import SORT_KEYS, TABLES

PARTITION_FILE = "data.parquet"
ROW_GROUP_ROWS = 1_000_000  # rows per Parquet row group
# Times and row numbers are (nearly) all distinct, so a dictionary would only cost time before
# Parquet falls back to plain encoding; sorted by vessel and time they rise in small steps,
# which delta encoding stores in a few bits a row (a day's positions: a tenth of the bytes
# of plain + zstd, and less CPU to write).
DELTA_ENCODED = {"timestamp", "source_line"}
# Coordinates are nearly all distinct: a dictionary fills up and falls back to plain after
# hashing a million values for nothing. Plain + zstd of a real day (NOAA sample, sorted by
# vessel and time): 778 kB against 1,106 kB with a dictionary attempt, in a third of the time.
NO_DICTIONARY = {"lat", "lon"}
UNDATED = "undated"


def _fs_and_path(root: str | Path) -> tuple[pafs.FileSystem, str]:
    text = str(root)
    if "://" in text:
        fs, path = pafs.FileSystem.from_uri(text)
        return fs, path.rstrip("/")
    return pafs.LocalFileSystem(), str(Path(text).resolve())


def partition_name(day: date | None) -> str:
    """Directory name of a partition; ``None`` is the undated quarantine partition."""
    return f"date={day.isoformat()}" if day is not None else f"date={UNDATED}"


class Lake:
    """Reader and writer of the partitioned lake tables."""

    def __init__(self, root: str | Path) -> None:
        self.fs, self.root = _fs_and_path(root)

    def _table_dir(self, table: str) -> str:
        if table not in TABLES:
            raise KeyError(f"unknown lake table {table!r}; known: {', '.join(sorted(TABLES))}")
        return f"{self.root}/{table}"

    def partition_path(self, table: str, day: date | None) -> str:
        return f"{self._table_dir(table)}/{partition_name(day)}/{PARTITION_FILE}"

    def has_partition(self, table: str, day: date | None) -> bool:
        info = self.fs.get_file_info(self.partition_path(table, day))
        return bool(info.type == pafs.FileType.File)

    def dates(self, table: str) -> list[date]:
        """Dates that have a partition, in order (the undated partition is not listed)."""
        sel = pafs.FileSelector(self._table_dir(table), allow_not_found=True)
        out = []
        for info in self.fs.get_file_info(sel):
            name = info.base_name
            if info.type == pafs.FileType.Directory and name.startswith("date="):
                value = name[len("date=") :]
                if value != UNDATED and self.has_partition(table, date.fromisoformat(value)):
                    out.append(date.fromisoformat(value))
        return sorted(out)

    def write_partition(
        self, table: str, day: date | None, data: pa.Table, presorted: bool = False
    ) -> str:
        """Replace one partition atomically with ``data`` (conformed to the table schema).

        Rows are sorted by the table's sort keys unless the caller already did
        (``presorted``). An empty table removes the partition: the day then has no rows.
        """
        schema = TABLES[table]
        data = conform(data, schema)
        keys = [k for k in SORT_KEYS.get(table, []) if k in data.column_names]
        if keys and data.num_rows and not presorted:
            data = data.sort_by([(k, "ascending") for k in keys])
        groups = (data.slice(o, ROW_GROUP_ROWS) for o in range(0, data.num_rows, ROW_GROUP_ROWS))
        return self.write_row_groups(table, day, groups)

    def write_row_groups(self, table: str, day: date | None, groups: Iterable[pa.Table]) -> str:
        """Replace one partition atomically with rows already in the table's sort order,
        given one row group at a time (``ROW_GROUP_ROWS`` rows each, the last may be
        shorter): the caller may prepare the next group while this one is encoded. The file
        is the one ``write_partition`` writes for the same rows. No rows removes the partition.
        """
        schema = TABLES[table]
        final = self.partition_path(table, day)
        directory = final.rsplit("/", 1)[0]
        tmp = f"{directory}/.tmp-{uuid.uuid4().hex}.parquet"
        with contextlib.ExitStack() as open_files:
            writer = None
            try:
                for group in groups:
                    if group.num_rows == 0:
                        continue
                    if group.num_rows > ROW_GROUP_ROWS:
                        raise ValueError(f"a row group holds at most {ROW_GROUP_ROWS:,} rows")
                    if writer is None:
                        self.fs.create_dir(directory, recursive=True)
                        sink = open_files.enter_context(self.fs.open_output_stream(tmp))
                        writer = open_files.enter_context(pq.ParquetWriter(
                            sink, schema, compression="zstd", **_writer_options(table),
                        ))
                    writer.write_table(conform(group, schema), row_group_size=ROW_GROUP_ROWS)
                if writer is None:
                    self.delete_partition(table, day)
                    return final
                open_files.close()  # the writer's footer, then the file
                self.fs.move(tmp, final)
            finally:
                open_files.close()
                if self.fs.get_file_info(tmp).type == pafs.FileType.File:
                    self.fs.delete_file(tmp)
        return final

    def delete_partition(self, table: str, day: date | None) -> None:
        path = self.partition_path(table, day)
        if self.fs.get_file_info(path).type == pafs.FileType.File:
            self.fs.delete_file(path)

    def read_partition(
        self, table: str, day: date | None, columns: Sequence[str] | None = None
    ) -> pa.Table:
        """One partition, or an empty table with the schema when the day has none."""
        schema = TABLES[table]
        cols = list(columns) if columns is not None else schema.names
        path = self.partition_path(table, day)
        if self.fs.get_file_info(path).type != pafs.FileType.File:
            return schema_subset(schema, cols).empty_table()
        with self.fs.open_input_file(path) as source:
            got = pq.read_table(source, columns=cols, schema=schema)
        return got

    def read(
        self,
        table: str,
        start: date,
        end: date | None = None,
        columns: Sequence[str] | None = None,
    ) -> pa.Table:
        """Rows of the partitions from ``start`` to ``end`` inclusive (one day when no end)."""
        end = end or start
        if end < start:
            raise ValueError(f"end date {end} is before start date {start}")
        schema = TABLES[table]
        cols = list(columns) if columns is not None else schema.names
        parts = [self.read_partition(table, d, cols) for d in _days(start, end)]
        parts = [p for p in parts if p.num_rows]
        if not parts:
            return schema_subset(schema, cols).empty_table()
        return pa.concat_tables(parts)


def _days(start: date, end: date) -> Iterable[date]:
    d = start
    while d <= end:
        yield d
        d += timedelta(days=1)


def schema_subset(schema: pa.Schema, columns: Sequence[str]) -> pa.Schema:
    missing = [c for c in columns if c not in schema.names]
    if missing:
        raise KeyError(f"unknown column(s) {missing}; the table has {schema.names}")
    return pa.schema([schema.field(c) for c in columns])


def _writer_options(table: str) -> dict[str, object]:
    """Parquet writer options per column of a lake table. Encodings: delta for the
    integer-like columns of ``DELTA_ENCODED``, plain for ``NO_DICTIONARY``, a dictionary for
    every other column. Min/max statistics for the columns readers filter or prune on (the
    sort keys, e.g. MMSI for an alert's evidence, and every time column): statistics of the
    other columns are never read and cost a sixth of the encode of a day's positions."""
    schema = TABLES[table]
    delta = [f.name for f in schema if f.name in DELTA_ENCODED
             and (pa.types.is_integer(f.type) or pa.types.is_timestamp(f.type))
             and f.type.bit_width in (32, 64)]
    stats = [f.name for f in schema
             if f.name in SORT_KEYS.get(table, []) or pa.types.is_timestamp(f.type)
             or pa.types.is_date(f.type)]
    return {
        "use_dictionary": [c for c in schema.names if c not in delta and c not in NO_DICTIONARY],
        "column_encoding": dict.fromkeys(delta, "DELTA_BINARY_PACKED") or None,
        "write_statistics": stats or False,
    }


def conform(data: pa.Table, schema: pa.Schema) -> pa.Table:
    """Cast a table to ``schema``: same columns, same order, same types; missing nullable
    columns are filled with nulls and extra columns are refused (they would be lost)."""
    extra = [c for c in data.column_names if c not in schema.names]
    if extra:
        raise ValueError(f"columns {extra} are not in the schema {schema.names}")
    arrays = []
    for field in schema:
        if field.name in data.column_names:
            col = data.column(field.name)
            if not col.type.equals(field.type):
                col = pc.cast(col, field.type)
            if not field.nullable and col.null_count:
                raise ValueError(f"column {field.name!r} has {col.null_count} nulls")
        else:
            if not field.nullable:
                raise ValueError(f"required column {field.name!r} is missing")
            col = pa.chunked_array([pa.nulls(data.num_rows, field.type)])
        arrays.append(col)
    return pa.Table.from_arrays(arrays, schema=schema)

"""``vessel-risk detect --date D``: positions of D (plus look-back) → ``lake/events/date=D``.

Work splits into N shards: shard k runs the per-vessel detectors on the vessels whose MMSI
hashes to k (a vessel's whole track is in one shard) and the encounter pair search of the
k-th longitude tile (with a halo); the merge turns the pairs into encounters and runs the
dark-gap detector over all vessels (it reads what the neighbours sent; spatially bucketed,
never quadratic). ``detect_day`` runs the shards and the merge in one process; the DAG runs
``detect_shard`` as one mapped task per shard and ``merge_detect`` after them. Any N gives
exactly the one-process result: the shards partition the vessels and the tiles the pairs,
and the lake sorts the events before writing.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from pipeline.config import Settings
from pipeline.errors import UserError
from pipeline.events.base import DetectContext, finalise
from pipeline.events.encounter import (
    ClosePairs,
    close_pairs,
    longitude_tiles,
    pairs_to_events,
    resample,
)
from pipeline.lake import Lake
from pipeline.schemas import EVENTS
from pipeline.tracks import READ_COLUMNS, Track, track_from_table

# event type -> "module:function"; per-vessel detectors can run per MMSI shard
PER_VESSEL = {
    "loiter": "pipeline.events.loiter:detect_loiter",
    "zone_dwell": "pipeline.events.zone_dwell:detect_zone_dwell",
    "heading_to_destination": "pipeline.events.heading:detect_heading_to_destination",
    "identity_conflict": "pipeline.events.identity:detect_identity_conflict",
    "port_visit": "pipeline.events.port_visit:detect_port_visit",
}
# these read other vessels too: encounters pair them up; a dark gap's expected-reception
# measure counts what the neighbours sent
CROSS_VESSEL = {
    "encounter": "pipeline.events.encounter:detect_encounter",
    "dark_gap": "pipeline.events.dark_gap:detect_dark_gap",
}
Detector = Callable[[Track, DetectContext], pa.Table]


def _load(ref: str) -> Detector:
    module, name = ref.split(":")
    fn: Detector = getattr(importlib.import_module(module), name)
    return fn


def shard_of(mmsi: np.ndarray, n_shards: int) -> np.ndarray:
    """Stable shard number of each MMSI (a multiplicative hash, so neighbouring MMSIs of one
    fleet spread over the shards)."""
    h = (np.asarray(mmsi, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(33)
    return (h % np.uint64(n_shards)).astype(np.int64)


@dataclass
class DetectSummary:
    day: date
    vessels: int = 0
    positions: int = 0
    glitches: int = 0
    events: dict[str, int] = field(default_factory=dict)
    open_events: int = 0
    seconds: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "date": self.day.isoformat(), "vessels": self.vessels, "positions": self.positions,
            "glitches_removed": self.glitches, "events": dict(sorted(self.events.items())),
            "open_events": self.open_events,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


def context(lake: Lake, settings: Settings, day: date) -> DetectContext:
    """Identities and declared calls of the look-back window (plus the next day's calls,
    whose arrivals may match visits that started on D)."""
    start = day - timedelta(days=settings.events.lookback_days)
    return DetectContext(
        settings=settings,
        day=day,
        static=lake.read("vessel_static", start, day),
        port_calls=lake.read("port_calls", start, day + timedelta(days=1)),
    )


@dataclass
class ShardPart:
    """What one shard contributes: the finalised per-vessel events of its MMSI shard and
    the close pairs of its longitude tile (the encounter pair search); the merge turns the
    pairs into encounter events and runs the dark-gap detector over all vessels."""

    events: pa.Table
    pairs: ClosePairs
    glitches: int
    seconds: dict[str, float] = field(default_factory=dict)


def _wanted(types: tuple[str, ...] | None) -> tuple[str, ...]:
    return types or (*PER_VESSEL, *CROSS_VESSEL)


def detect_shard_part(
    positions: pa.Table,
    ctx: DetectContext,
    shard: int,
    n_shards: int,
    types: tuple[str, ...] | None = None,
    full: Track | None = None,
) -> ShardPart:
    """Shard ``shard`` of ``n_shards``: per-vessel detectors on the vessels whose MMSI hashes
    to it, and the encounter pair search of the ``shard``-th longitude tile (with a halo).
    Runs alone on a worker; ``full`` is the whole track when the caller already has it."""
    if not 0 <= shard < n_shards:
        raise UserError(f"shard {shard} is outside 0..{n_shards - 1}")
    wanted = _wanted(types)
    seconds: dict[str, float] = {}
    if n_shards == 1:
        track = full or track_from_table(positions, ctx.day, ctx.events)
    else:
        mine = shard_of(positions.column("mmsi").to_numpy(), n_shards) == shard
        track = track_from_table(positions.filter(pa.array(mine)), ctx.day, ctx.events)
    parts: list[pa.Table] = []
    for kind, ref in PER_VESSEL.items():
        if kind not in wanted:
            continue
        t0 = time.perf_counter()
        parts.append(finalise(_load(ref)(track, ctx), track))
        seconds[kind] = time.perf_counter() - t0
    pairs = ClosePairs.concat([])
    if "encounter" in wanted:
        t0 = time.perf_counter()
        whole = track if n_shards == 1 else (full or track_from_table(positions, ctx.day, ctx.events))
        grid = resample(whole, ctx)
        tiles = longitude_tiles(grid, ctx.events, n_shards)  # one tile when nothing moves
        if shard < len(tiles):
            member, proper = tiles[shard]
            pairs = close_pairs(grid.take(member), ctx, owner=proper[member])
        seconds["encounter"] = time.perf_counter() - t0
    events = pa.concat_tables(parts) if parts else EVENTS.empty_table()
    return ShardPart(events, pairs, sum(track.glitches.values()), seconds)


def merge_shard_parts(
    positions: pa.Table,
    ctx: DetectContext,
    parts: list[ShardPart],
    types: tuple[str, ...] | None = None,
    summary: DetectSummary | None = None,
    full: Track | None = None,
) -> pa.Table:
    """All events of ``ctx.day`` from the shards' parts: per-vessel events as they are,
    encounters from the concatenated close pairs, dark gaps over the whole track."""
    summary = summary or DetectSummary(ctx.day)
    wanted = _wanted(types)
    full = full or track_from_table(positions, ctx.day, ctx.events)
    tables = [p.events for p in parts]
    for p in parts:
        summary.glitches += p.glitches
        for kind, s in p.seconds.items():
            summary.seconds[kind] = summary.seconds.get(kind, 0.0) + s
    if "encounter" in wanted:
        t0 = time.perf_counter()
        found = pairs_to_events(ClosePairs.concat([p.pairs for p in parts]), full, ctx)
        tables.append(finalise(found, full))
        summary.seconds["encounter"] = summary.seconds.get("encounter", 0.0) + (
            time.perf_counter() - t0)
    for kind, ref in CROSS_VESSEL.items():
        if kind == "encounter" or kind not in wanted:
            continue
        t0 = time.perf_counter()
        tables.append(finalise(_load(ref)(full, ctx), full))
        summary.seconds[kind] = time.perf_counter() - t0
    events = pa.concat_tables(tables) if tables else EVENTS.empty_table()
    on_day = positions.filter(_on_day(positions, ctx.day))
    summary.vessels = int(pc.count_distinct(on_day.column("mmsi")).as_py()) if on_day.num_rows else 0
    summary.positions = on_day.num_rows
    kinds = events.column("event_type").to_numpy(zero_copy_only=False)
    values, counts = np.unique(kinds, return_counts=True)
    summary.events = {str(v): int(c) for v, c in zip(values, counts, strict=True)}
    summary.open_events = int(pc.sum(events.column("open")).as_py() or 0)
    return events


def detect_events(
    positions: pa.Table,
    ctx: DetectContext,
    n_shards: int = 1,
    types: tuple[str, ...] | None = None,
    summary: DetectSummary | None = None,
) -> pa.Table:
    """All events of ``ctx.day`` from the positions of the look-back window: every shard in
    this process, then the merge (the same two steps a fanned-out DAG run takes)."""
    full = track_from_table(positions, ctx.day, ctx.events)
    parts = [detect_shard_part(positions, ctx, k, n_shards, types, full=full)
             for k in range(n_shards)]
    return merge_shard_parts(positions, ctx, parts, types, summary, full=full)


def _on_day(positions: pa.Table, day: date) -> pa.Array:
    t = pc.cast(positions.column("timestamp"), pa.int64()).to_numpy()
    d0 = (np.datetime64(day, "D") - np.datetime64(0, "D")).astype(np.int64) * 86_400_000_000
    return pa.array((t >= d0) & (t < d0 + 86_400_000_000))


def _window(lake: Lake, settings: Settings, day: date) -> pa.Table:
    start = day - timedelta(days=settings.events.lookback_days)
    return lake.read("positions", start, day, columns=READ_COLUMNS)


def detect_day(lake: Lake, settings: Settings, day: date, n_shards: int = 1) -> DetectSummary:
    """Detect the events of one day and replace its partition atomically."""
    summary = DetectSummary(day)
    positions = _window(lake, settings, day)
    events = detect_events(positions, context(lake, settings, day), n_shards, summary=summary)
    lake.write_partition("events", day, events)
    return summary


# ------------------------------------------------- fanned out: one shard per task, then merge
# A shard task writes its part under <lake>/_staging/detect/date=D/of-N/ (written to a
# temporary name and renamed, so a part is whole or absent); the merge task reads the N parts,
# checks they saw the same positions, replaces the events partition atomically and removes
# the staging folder. A rerun of a shard overwrites its own part; nothing is appended.

STAGING = "_staging/detect"
_PAIR_FIELDS = [f.name for f in dataclasses.fields(ClosePairs)]


def staging_dir(lake: Lake, day: date, n_shards: int) -> str:
    """Where the parts of one fanned-out detect run of ``day`` wait for the merge."""
    return f"{lake.root}/{STAGING}/date={day.isoformat()}/of-{n_shards}"


def _inputs_fingerprint(lake: Lake, settings: Settings, day: date) -> str:
    """Size and modification time of the position partitions a run of ``day`` reads: a
    part computed before a re-ingest must not be merged with parts computed after it."""
    start = day - timedelta(days=settings.events.lookback_days)
    h = hashlib.sha256()
    d = start
    while d <= day:
        info = lake.fs.get_file_info(lake.partition_path("positions", d))
        h.update(f"{d}|{info.size}|{info.mtime_ns}|".encode())
        d += timedelta(days=1)
    return h.hexdigest()[:20]


def _write_atomic(lake: Lake, path: str, table: pa.Table) -> None:
    directory = path.rsplit("/", 1)[0]
    lake.fs.create_dir(directory, recursive=True)
    tmp = f"{directory}/.tmp-{uuid.uuid4().hex}.parquet"
    try:
        with lake.fs.open_output_stream(tmp) as sink:
            pq.write_table(table, sink, compression="zstd")
        lake.fs.move(tmp, path)
    finally:
        if lake.fs.get_file_info(tmp).type == pafs.FileType.File:
            lake.fs.delete_file(tmp)


def detect_shard(lake: Lake, settings: Settings, day: date, shard: int, n_shards: int
                 ) -> dict[str, Any]:
    """Run shard ``shard`` of ``n_shards`` for ``day`` and leave its part in staging for
    ``merge_detect``. Returns a small JSON-able summary (what a task pushes to XCom)."""
    if n_shards < 1:
        raise UserError(f"n_shards must be at least 1, not {n_shards}")
    positions = _window(lake, settings, day)
    part = detect_shard_part(positions, context(lake, settings, day), shard, n_shards)
    meta = {b"inputs": _inputs_fingerprint(lake, settings, day).encode(),
            b"glitches": str(part.glitches).encode(),
            b"seconds": json.dumps(part.seconds).encode()}
    base = f"{staging_dir(lake, day, n_shards)}/shard-{shard:04d}"
    _write_atomic(lake, f"{base}.pairs.parquet", pa.table(
        {name: getattr(part.pairs, name) for name in _PAIR_FIELDS}))
    events = part.events.replace_schema_metadata(meta)
    _write_atomic(lake, f"{base}.events.parquet", events)
    return {"date": day.isoformat(), "shard": shard, "n_shards": n_shards,
            "events": part.events.num_rows, "pairs": len(part.pairs.a),
            "glitches_removed": part.glitches}


def _read_part(lake: Lake, base: str) -> tuple[ShardPart, str]:
    with lake.fs.open_input_file(f"{base}.events.parquet") as fh:
        events = pq.read_table(fh)
    meta = events.schema.metadata or {}
    with lake.fs.open_input_file(f"{base}.pairs.parquet") as fh:
        pt = pq.read_table(fh)
    pairs = ClosePairs(*(pt.column(n).to_numpy() for n in _PAIR_FIELDS))
    part = ShardPart(events.cast(EVENTS), pairs, int(meta.get(b"glitches", b"0")),
                     json.loads(meta.get(b"seconds", b"{}")))
    return part, meta.get(b"inputs", b"").decode()


def merge_detect(lake: Lake, settings: Settings, day: date, n_shards: int) -> DetectSummary:
    """Combine the ``n_shards`` parts of ``day`` into its events partition (atomic replace)
    and clear the staging folder. Refuses, naming what to rerun, when a part is missing or
    was computed on other positions than the lake now holds."""
    directory = staging_dir(lake, day, n_shards)
    bases = [f"{directory}/shard-{k:04d}" for k in range(n_shards)]
    missing = [k for k, b in enumerate(bases)
               if any(lake.fs.get_file_info(f"{b}.{x}.parquet").type != pafs.FileType.File
                      for x in ("events", "pairs"))]
    if missing:
        raise UserError(f"detect {day}: shard part(s) {missing} of {n_shards} are missing in "
                        f"{directory}; run those shards before the merge")
    current = _inputs_fingerprint(lake, settings, day)
    parts = []
    for k, b in enumerate(bases):
        part, seen = _read_part(lake, b)
        if seen != current:
            raise UserError(f"detect {day}: shard {k} ran on other positions than the lake "
                            "holds now (re-ingested since?); rerun all shards of the day")
        parts.append(part)
    summary = DetectSummary(day)
    positions = _window(lake, settings, day)
    events = merge_shard_parts(positions, context(lake, settings, day), parts, summary=summary)
    lake.write_partition("events", day, events)
    lake.fs.delete_dir(directory)
    parent = directory.rsplit("/", 1)[0]  # date=D/, unless another shard count waits there
    if not lake.fs.get_file_info(pafs.FileSelector(parent, allow_not_found=True)):
        lake.fs.delete_dir(parent)
    return summary

"""``vessel-risk detect --date D``: positions of D (plus look-back) → ``lake/events/date=D``.

Per-vessel detectors run per MMSI-hash shard (a vessel's whole track is in one shard);
encounters search their pairs per longitude tile with a halo; dark gaps read what the
neighbours sent and run over the whole day (spatially bucketed, never quadratic). One process gives exactly what N shards give: the
shards partition the vessels, and the events are sorted and written by the lake.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from pipeline.config import Settings
from pipeline.events.base import DetectContext, finalise
from pipeline.events.encounter import detect_encounter_tiled
from pipeline.lake import Lake
from pipeline.schemas import EVENTS
from pipeline.tracks import TRACK_COLUMNS, Track, track_from_table

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


def detect_events(
    positions: pa.Table,
    ctx: DetectContext,
    n_shards: int = 1,
    types: tuple[str, ...] | None = None,
    summary: DetectSummary | None = None,
) -> pa.Table:
    """All events of ``ctx.day`` from the positions of the look-back window."""
    summary = summary or DetectSummary(ctx.day)
    wanted = types or (*PER_VESSEL, *CROSS_VESSEL)
    parts: list[pa.Table] = []
    shard = shard_of(positions.column("mmsi").to_numpy(), n_shards) if n_shards > 1 else None
    full: Track | None = None
    for k in range(n_shards):
        rows = positions if shard is None else positions.filter(pa.array(shard == k))
        track = track_from_table(rows, ctx.day, ctx.events)
        if shard is None:
            full = track  # one shard: the cross-vessel detectors reuse it
        summary.glitches += sum(track.glitches.values())
        for kind, ref in PER_VESSEL.items():
            if kind not in wanted:
                continue
            t0 = time.perf_counter()
            parts.append(finalise(_load(ref)(track, ctx), track))
            summary.seconds[kind] = summary.seconds.get(kind, 0.0) + time.perf_counter() - t0
    for kind, ref in CROSS_VESSEL.items():
        if kind not in wanted:
            continue
        full = full or track_from_table(positions, ctx.day, ctx.events)
        t0 = time.perf_counter()
        if kind == "encounter" and n_shards > 1:  # the pair search per space tile + halo
            found = detect_encounter_tiled(full, ctx, n_shards)
        else:
            found = _load(ref)(full, ctx)
        parts.append(finalise(found, full))
        summary.seconds[kind] = time.perf_counter() - t0
    events = pa.concat_tables(parts) if parts else EVENTS.empty_table()
    on_day = positions.filter(_on_day(positions, ctx.day))
    summary.vessels = int(pc.count_distinct(on_day.column("mmsi")).as_py()) if on_day.num_rows else 0
    summary.positions = on_day.num_rows
    kinds = events.column("event_type").to_numpy(zero_copy_only=False)
    values, counts = np.unique(kinds, return_counts=True)
    summary.events = {str(v): int(c) for v, c in zip(values, counts, strict=True)}
    summary.open_events = int(pc.sum(events.column("open")).as_py() or 0)
    return events


def _on_day(positions: pa.Table, day: date) -> pa.Array:
    t = pc.cast(positions.column("timestamp"), pa.int64()).to_numpy()
    d0 = (np.datetime64(day, "D") - np.datetime64(0, "D")).astype(np.int64) * 86_400_000_000
    return pa.array((t >= d0) & (t < d0 + 86_400_000_000))


def detect_day(lake: Lake, settings: Settings, day: date, n_shards: int = 1) -> DetectSummary:
    """Detect the events of one day and replace its partition atomically."""
    summary = DetectSummary(day)
    start = day - timedelta(days=settings.events.lookback_days)
    positions = lake.read("positions", start, day, columns=TRACK_COLUMNS)
    events = detect_events(positions, context(lake, settings, day), n_shards, summary=summary)
    lake.write_partition("events", day, events)
    return summary

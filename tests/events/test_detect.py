"""The detect and features stages end to end on a simulated lake: shards, reruns, days."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pyarrow.compute as pc
import pytest

from pipeline.config import Settings, load_settings
from pipeline.events.detect import detect_day, shard_of
from pipeline.features import features_day
from pipeline.ingest.ais import ingest_ais
from pipeline.ingest.port_calls import ingest_port_calls
from pipeline.lake import Lake
from pipeline.simulate import simulate

START = date(2024, 11, 20)
DAYS = [date(2024, 11, 20), date(2024, 11, 21)]
ENV = {"VESSEL_RISK__SIMULATE__SMUGGLING_FRACTION": "0.05"}


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings(env=ENV)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, settings: Settings) -> Path:
    """Two simulated days of the Bay of Bengal in peak season, ingested."""
    home = tmp_path_factory.mktemp("detect")
    landing = home / "landing"
    simulate(settings, "andaman-sea", START, len(DAYS), 5, landing, "parquet", vessels=150)
    lake = Lake(home / "lake")
    ingest_ais(sorted(landing.glob("positions_*.parquet")), lake)
    ingest_port_calls([landing / "port_calls.csv"], lake, settings.resolve_port_call)
    return home


def test_shards_partition_vessels() -> None:
    import numpy as np

    mmsi = np.arange(525_000_000, 525_010_000)
    s = shard_of(mmsi, 4)
    assert set(np.unique(s)) == {0, 1, 2, 3}
    assert np.all(np.bincount(s) > 2000)  # spread evenly
    assert np.array_equal(shard_of(mmsi, 4), s)  # stable


def test_n_shards_give_the_single_process_result(home: Path, settings: Settings) -> None:
    lake = Lake(home / "lake")
    day = DAYS[1]
    detect_day(lake, settings, day, n_shards=1)
    single = Path(lake.partition_path("events", day)).read_bytes()
    kinds = set(lake.read("events", day).column("event_type").to_pylist())
    # per-vessel shards and encounter tiles are both exercised
    assert {"loiter", "encounter", "port_visit", "zone_dwell"} <= kinds
    detect_day(lake, settings, day, n_shards=3)
    assert Path(lake.partition_path("events", day)).read_bytes() == single


def test_rerun_is_idempotent_and_events_belong_to_their_end_day(
    home: Path, settings: Settings
) -> None:
    lake = Lake(home / "lake")
    for d in DAYS:
        detect_day(lake, settings, d)
    first = {d: lake.read("events", d) for d in DAYS}
    for d in DAYS:
        detect_day(lake, settings, d)
        again = lake.read("events", d)
        assert again.equals(first[d])
        ids = again.column("event_id")
        assert pc.count_distinct(ids).as_py() == again.num_rows  # no duplicate events
        end = again.column("end_time").to_pandas().dt.date
        assert (end == d).all()
    assert sum(t.num_rows for t in first.values()) > 0


def test_features_one_row_per_active_vessel(home: Path, settings: Settings) -> None:
    lake = Lake(home / "lake")
    for d in DAYS:
        detect_day(lake, settings, d)
        features_day(lake, settings, d)
    for d in DAYS:
        feats = lake.read("features", d)
        active = pc.count_distinct(lake.read("positions", d).column("mmsi")).as_py()
        heard = feats.filter(pc.greater(feats.column("positions"), 0))
        assert heard.num_rows == active
        # plus vessels silent all day whose dark gap is still open (positions = 0)
        ev = lake.read("events", d)
        still_dark = ev.filter(pc.and_(pc.equal(ev.column("event_type"), "dark_gap"),
                                       ev.column("open")))
        silent = feats.filter(pc.equal(feats.column("positions"), 0)).column("mmsi")
        assert set(silent.to_pylist()) <= set(still_dark.column("mmsi").to_pylist())
        assert pc.count_distinct(feats.column("mmsi")).as_py() == feats.num_rows
    second = lake.read("features", DAYS[1]).to_pandas()
    # the second day sees the first in its history
    assert (second["days_seen_30d"] == 2).sum() > 0.8 * len(second)
    before = Path(lake.partition_path("features", DAYS[1])).read_bytes()
    features_day(lake, settings, DAYS[1])
    assert Path(lake.partition_path("features", DAYS[1])).read_bytes() == before


def test_shards_run_alone_then_merge_give_the_single_process_result(
    home: Path, settings: Settings
) -> None:
    """The fanned-out path (one task per shard, then a merge) writes the same partition."""
    from pipeline.errors import UserError
    from pipeline.events.detect import detect_shard, merge_detect, staging_dir

    lake = Lake(home / "lake")
    day = DAYS[1]
    detect_day(lake, settings, day)
    single = Path(lake.partition_path("events", day)).read_bytes()
    lake.delete_partition("events", day)
    for k in (2, 0):
        detect_shard(lake, settings, day, k, 3)
    with pytest.raises(UserError, match=r"\[1\] of 3 are missing"):
        merge_detect(lake, settings, day, 3)
    assert not lake.has_partition("events", day)  # nothing half-written
    detect_shard(lake, settings, day, 1, 3)
    detect_shard(lake, settings, day, 1, 3)  # a retried shard overwrites its own part
    summary = merge_detect(lake, settings, day, 3)
    assert Path(lake.partition_path("events", day)).read_bytes() == single
    assert sum(summary.events.values()) == lake.read("events", day).num_rows
    assert not Path(staging_dir(lake, day, 3)).parent.exists()

"""The rule baseline: scores from the evidence, reasons that follow the evidence."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from pipeline.config import ConfigError, Settings, load_settings
from pipeline.events.base import make_events
from pipeline.lake import Lake
from pipeline.schemas import EVENTS, FEATURES, SCORES
from pipeline.scoring.rules import rule_scores, rules_model_id
from pipeline.scoring.score import score_day, score_features

DAY = date(2025, 11, 4)
T0 = datetime(2025, 11, 4, tzinfo=UTC)
WAITER, FISHER, QUIET = 525200001, 525200002, 525200003


@pytest.fixture(scope="module")
def settings() -> Settings:
    return load_settings()


def _us(dt: datetime) -> int:
    return int(dt.timestamp() * 1_000_000)


def features(**per_vessel: dict[str, object]) -> pa.Table:
    """Feature rows: zeros / nulls except what each vessel is given."""
    rows = []
    for key, values in per_vessel.items():
        row: dict[str, object] = {}
        for f in FEATURES:
            if pa.types.is_floating(f.type) or pa.types.is_integer(f.type):
                row[f.name] = 0 if not f.nullable else None
            elif pa.types.is_boolean(f.type):
                row[f.name] = False
            else:
                row[f.name] = None
        row.update({"mmsi": int(key.split("_")[1]), "date": DAY, "positions": 10,
                    "first_seen": T0, "last_seen": T0 + timedelta(hours=20),
                    "region": "south-indonesia"})
        row.update(values)
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=FEATURES)


def dwell(mmsi: int, zone: str, night_h: float) -> pa.Table:
    return make_events("zone_dwell", np.array([mmsi]), np.array([_us(T0 + timedelta(hours=14))]),
                       np.array([_us(T0 + timedelta(hours=20))]),
                       {"zone_id": [zone], "night_h": [night_h]}, id_extra=[zone])


def test_scores_follow_the_evidence(settings: Settings) -> None:
    table = features(
        v_525200001={"departure_zone_night_h": 6.0, "dark_gap_near_departure": 1,
                     "dark_gap_max_h": 19.0, "dark_gap_max_reception_ratio": 0.95},
        v_525200002={"loiter_night_h": 3.0, "departure_zone_night_h": 1.0},
        v_525200003={},
    )
    scores = score_features(table, EVENTS.empty_table(), settings, DAY)
    assert scores.schema == SCORES
    s = scores.to_pandas().set_index("mmsi")
    assert s.loc[WAITER, "score"] > s.loc[FISHER, "score"] > s.loc[QUIET, "score"] == 0.0
    assert list(s.sort_values("rank").index) == [WAITER, FISHER, QUIET]
    # the waiter has full night-at-departure and dark-after-departure evidence and 19 h x 0.95
    # of deliberate silence (full at 12 h): (3 + 3 + 2) / total weight
    total = sum(r.weight for r in settings.scoring.rules.values())
    assert s.loc[WAITER, "score"] == pytest.approx(8.0 / total, abs=1e-6)
    assert list(s.loc[WAITER, "reason_codes"]) == [
        "night_at_departure_h", "dark_after_departure", "deliberate_dark_h"]
    assert list(s.loc[QUIET, "reasons"]) == []
    assert s["model_id"].nunique() == 1 and s["model_id"].iloc[0].startswith("rules-")


def test_reasons_change_when_the_evidence_changes(settings: Settings) -> None:
    table = features(v_525200001={"departure_zone_night_h": 5.0})
    at_ratu = score_features(table, dwell(WAITER, "SI-D01", 5.0), settings, DAY)
    at_cilacap = score_features(table, dwell(WAITER, "SI-D07", 5.0), settings, DAY)
    (ratu,) = at_ratu.column("reasons").to_pylist()
    (cilacap,) = at_cilacap.column("reasons").to_pylist()
    assert "SI-D01" in ratu[0] and "Palabuhanratu" in ratu[0] and "5.0 h at night" in ratu[0]
    assert "SI-D07" in cilacap[0] and "Cilacap" in cilacap[0]
    # a dark gap heading south from the beach becomes the reason next to the waiting
    gap = make_events("dark_gap", np.array([WAITER]), np.array([_us(T0 + timedelta(hours=20))]),
                      np.array([_us(T0 + timedelta(days=1)) - 1]),
                      {"zone_id": ["SI-D01"], "open": [True], "bearing_deg": [172.0],
                       "detail": ["still silent 4.0 h at the end of the day; heading 172 deg "
                                  "toward destination SI-T01 (bearing 170 deg, 400 km)"]})
    darker = features(v_525200001={"departure_zone_night_h": 5.0,
                                   "dark_gap_near_departure": 1})
    both = score_features(darker, pa.concat_tables([dwell(WAITER, "SI-D01", 5.0), gap]),
                          settings, DAY)
    (reasons,) = both.column("reasons").to_pylist()
    assert both.column("score")[0].as_py() > at_ratu.column("score")[0].as_py()
    assert any(r.startswith("AIS silent 4 h and is still silent after leaving") and
               "heading 172°" in r and "SI-T01" in r for r in reasons)


def test_weights_come_from_config(settings: Settings) -> None:
    heavier = load_settings(env={"VESSEL_RISK__SCORING__RULES": (
        "{loiter_night_h: {weight: 10, full_at: 1}, night_at_departure_h: {weight: 1, full_at: 4}}"
    )})
    table = features(v_525200002={"loiter_night_h": 2.0})
    default = rule_scores(table.to_pandas(), settings.scoring).score[0]
    tuned = rule_scores(table.to_pandas(), heavier.scoring).score[0]
    assert tuned == pytest.approx(10 / 11) and tuned > default
    assert rules_model_id(heavier.scoring) != rules_model_id(settings.scoring)
    with pytest.raises(ConfigError, match=r"scoring\.rules.*unknown rule"):
        load_settings(env={"VESSEL_RISK__SCORING__RULES": "{colour_of_hull: {weight: 1, full_at: 1}}"})


def test_score_day_writes_and_reruns_identically(tmp_path: Path, settings: Settings) -> None:
    lake = Lake(tmp_path)
    lake.write_partition("features", DAY, features(
        v_525200001={"departure_zone_night_h": 6.0}, v_525200002={"loiter_night_h": 3.0}))
    summary = score_day(lake, settings, DAY)
    first = Path(lake.partition_path("scores", DAY)).read_bytes()
    assert summary.vessels == 2 and summary.top[0]["mmsi"] == WAITER
    score_day(lake, settings, DAY)
    assert Path(lake.partition_path("scores", DAY)).read_bytes() == first
    assert pd.Series(lake.read("scores", DAY).column("rank").to_pylist()).tolist() == [1, 2]

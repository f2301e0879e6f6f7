"""The label table: incident matches, analyst dispositions and simulator truth, each row with
its provenance and the day a PIU learned it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from pipeline.errors import UserError
from pipeline.labels.build import (
    LABELS,
    build_labels,
    labels_from_dispositions,
    labels_from_incidents,
    resolve_labels,
)
from pipeline.labels.ground_truth import read_ground_truth
from pipeline.schemas import INCIDENT_MATCHES

# The documented shape of pipeline.labels.dispositions.read_dispositions (alert store).
DISPOSITIONS = pa.schema([
    ("mmsi", pa.int64()), ("date", pa.date32()), ("disposition", pa.string()),
    ("analyst", pa.string()), ("decided_at", pa.timestamp("us", tz="UTC")),
    ("alert_id", pa.string()), ("provenance", pa.string()),
])


def dispositions(rows: list[tuple[int, date, str, str, datetime, str]]) -> pa.Table:
    return pa.table({
        "mmsi": [r[0] for r in rows], "date": [r[1] for r in rows],
        "disposition": [r[2] for r in rows], "analyst": [r[3] for r in rows],
        "decided_at": [r[4] for r in rows], "alert_id": [r[5] for r in rows],
        "provenance": ["alert store"] * len(rows),
    }, schema=DISPOSITIONS)


def matches(rows: list[dict[str, object]]) -> pa.Table:
    base = {"incident_id": "inc1", "incident_date": date(2025, 11, 5),
            "report_date": date(2025, 11, 9), "mmsi": 525000001, "match_method": "mmsi",
            "confidence": 0.9, "methods": "mmsi", "distance_km": 3.0, "outcome": "intercepted",
            "place": "at sea", "reporting_agency": "ABF", "source_file": "incidents.csv",
            "source_id": "abc", "source_line": 2}
    return pa.Table.from_pylist([{**base, **r} for r in rows], schema=INCIDENT_MATCHES)


def test_dispositions_become_labels_latest_decision_wins() -> None:
    d = date(2025, 11, 4)
    t = dispositions([
        (525000001, d, "suspicious", "ana", datetime(2025, 11, 5, 9, tzinfo=UTC), "a1"),
        (525000001, d, "confirmed", "ben", datetime(2025, 11, 6, 9, tzinfo=UTC), "a1"),
        (525000002, d, "false_positive", "ana", datetime(2025, 11, 5, 10, tzinfo=UTC), "a2"),
        (525000003, d, "benign", "ana", datetime(2025, 11, 5, 11, tzinfo=UTC), "a3"),
    ])
    out = labels_from_dispositions(t).to_pandas().set_index("mmsi")
    assert out.loc[525000001, "label"] == 1 and out.loc[525000001, "weight"] == 1.0
    assert out.loc[525000001, "known_from"] == date(2025, 11, 6)
    assert "alert a1: confirmed by ben" in out.loc[525000001, "provenance"]
    assert out.loc[525000002, "label"] == 0 and out.loc[525000003, "label"] == 0
    assert set(out["source"]) == {"disposition"}


def test_incident_labels_the_voyage_days_known_from_the_report_date() -> None:
    t = matches([{}, {"incident_id": "inc2", "mmsi": None, "match_method": "unmatched",
                      "confidence": 0.0},
                 {"incident_id": "inc3", "mmsi": 525000009, "confidence": 0.3}])
    out = labels_from_incidents(t, days_before=2, min_confidence=0.5).to_pandas()
    assert list(out["date"]) == [date(2025, 11, 3), date(2025, 11, 4), date(2025, 11, 5)]
    assert set(out["mmsi"]) == {525000001}  # unmatched and weak matches give no label
    assert set(out["known_from"]) == {date(2025, 11, 9)}
    assert out["provenance"].str.contains("incident inc1 \\(intercepted, incidents.csv line 2").all()
    assert (out["weight"] == 0.9).all()


def test_resolve_uses_only_labels_known_by_as_of_and_source_priority() -> None:
    inc = matches([{}])
    disp = dispositions([(525000001, date(2025, 11, 5), "false_positive", "ana",
                          datetime(2025, 11, 7, tzinfo=UTC), "a9")])
    labels = build_labels(matches=inc, dispositions=disp, incident_days_before=0)
    assert labels.schema.equals(LABELS, check_metadata=False)
    assert labels.num_rows == 2
    # before either was known: nothing; on the decision day: the analyst's verdict
    assert resolve_labels(labels, date(2025, 11, 6)).empty
    on7 = resolve_labels(labels, date(2025, 11, 7))
    assert list(on7["label"]) == [0] and list(on7["source"]) == ["disposition"]
    # every label known: the disposition still wins by default priority, the incident
    # when it is put first
    assert list(resolve_labels(labels, None)["source"]) == ["disposition"]
    first = resolve_labels(labels, None, ["incident", "disposition"])
    assert list(first["source"]) == ["incident"] and list(first["label"]) == [1]


def test_ground_truth_rows_keep_their_file(tmp_path: Path) -> None:
    gt = tmp_path / "sim" / "ground_truth"
    gt.mkdir(parents=True)
    (gt / "vessel_days.csv").write_text(
        "mmsi,date,label,scenario\n525000001,2025-11-03,1,s1\n525000002,2025-11-03,0,\n")
    out = read_ground_truth([tmp_path / "sim"]).to_pandas()
    assert list(out["label"]) == [1, 0] and set(out["source"]) == {"simulator"}
    assert out["provenance"].iloc[0] == "sim/ground_truth/vessel_days.csv scenario s1"
    assert out["provenance"].iloc[1] == "sim/ground_truth/vessel_days.csv"
    with pytest.raises(UserError, match=r"vessel_days\.csv"):
        read_ground_truth([tmp_path / "nowhere"])

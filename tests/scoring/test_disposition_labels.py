"""Analysts' dispositions in the alert store (SQLite and PostgreSQL) become training labels."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from sqlalchemy import Engine

from pipeline.lake import Lake
from pipeline.scoring.lifecycle import DataSpec, labelled
from pipeline.scoring.simdata import SimLake
from tests.dbfixtures import pg_session_url, store, store_url  # noqa: F401
from tests.scoring.conftest import small_settings


def test_confirmed_and_rejected_alerts_label_their_vessel_days(
    sim_lake: SimLake, store: Engine, tmp_path: Path,  # noqa: F811
) -> None:
    from pipeline.alerts.alerting import alert_day
    from pipeline.alerts.queries import alerts_for_day
    from pipeline.alerts.review import review_alert
    from pipeline.scoring.score import score_day

    settings = small_settings(tmp_path / "no-models")  # the rule baseline scores
    day = date(2024, 11, 20)
    lake = Lake(tmp_path / "lake")
    for table in ("features", "events"):
        lake.write_partition(table, day, sim_lake.lake.read(table, day))
    score_day(lake, settings, day)
    alert_day(lake, settings, store, day)
    alerts = alerts_for_day(store, day)
    assert len(alerts) >= 2
    first, second = alerts[0], alerts[1]
    for alert, analyst, verdict in ((first, "ana", "confirmed"),
                                    (second, "ben", "false_positive")):
        now = review_alert(store, alert["alert_id"], analyst, alert["version"],
                           status="in_review")
        review_alert(store, alert["alert_id"], analyst, now["version"], status="closed",
                     disposition=verdict)
    data = labelled(DataSpec(lakes=[lake], label_sources=["disposition"], engine=store),
                    settings)
    f = data.frame.set_index("mmsi")
    one, two = first["mmsi"], second["mmsi"]
    assert f.loc[one, "label"] == 1 and f.loc[one, "label_source"] == "disposition"
    assert f.loc[two, "label"] == 0 and f.loc[two, "label_source"] == "disposition"
    others = data.frame[~data.frame["mmsi"].isin([one, two])]
    assert set(others["label_source"]) == {"unlabelled"} and others["label"].sum() == 0

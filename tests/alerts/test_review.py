"""The analyst's lifecycle: transitions, dispositions, optimistic locking, the audit trail, and
dispositions read back as labels."""

from __future__ import annotations

import threading
from datetime import date

import pyarrow as pa
import pytest
from sqlalchemy import Engine, inspect

from pipeline.alerts.alerting import alert_day
from pipeline.alerts.queries import alerts_for_day, audit_for, get_alert
from pipeline.alerts.review import StaleVersionError, review_alert
from pipeline.errors import UserError
from pipeline.labels.dispositions import read_dispositions
from tests.alerts.conftest import Scored


@pytest.fixture
def alert_ids(scored: Scored, store: Engine) -> list[str]:
    alert_day(scored.lake, scored.settings, store, scored.days[1])
    return [r["alert_id"] for r in alerts_for_day(store, scored.days[1])]


def test_lifecycle_new_review_escalate_close(store: Engine, alert_ids: list[str]) -> None:
    a = alert_ids[0]
    r = review_alert(store, a, "ana", 1, status="in_review", assignee="ana")
    assert (r["status"], r["version"], r["assignee"], r["analyst"]) == ("in_review", 2, "ana", "ana")
    r = review_alert(store, a, "ana", 2, status="escalated", note="mother ship pattern")
    assert r["status"] == "escalated" and r["disposition"] is None
    with pytest.raises(UserError, match="needs a disposition"):
        review_alert(store, a, "sup", 3, status="closed")
    r = review_alert(store, a, "sup", 3, status="closed", disposition="confirmed",
                     note="intercepted off Satun")
    assert (r["status"], r["disposition"], r["version"], r["analyst"]) == (
        "closed", "confirmed", 4, "sup")
    # reopened: the decision leaves the alert but stays in the history
    r = review_alert(store, a, "sup", 4, status="in_review", note="new information")
    assert r["status"] == "in_review" and r["disposition"] is None
    got = get_alert(store, a)
    assert got is not None
    assert [d["disposition"] for d in got["dispositions"]] == ["confirmed"]
    assert [n["text"] for n in got["notes"]] == ["mother ship pattern", "intercepted off Satun",
                                                  "new information"]


def test_disallowed_transitions_and_values(store: Engine, alert_ids: list[str]) -> None:
    a = alert_ids[0]
    with pytest.raises(UserError, match="can go to in_review, not to closed"):
        review_alert(store, a, "ana", 1, status="closed", disposition="benign")
    with pytest.raises(UserError, match="disposition 'maybe'"):
        review_alert(store, a, "ana", 1, status="in_review", disposition="maybe")
    with pytest.raises(UserError, match="status 'done'"):
        review_alert(store, a, "ana", 1, status="done")
    with pytest.raises(UserError, match="nothing to change"):
        review_alert(store, a, "ana", 1)
    with pytest.raises(UserError, match="no alert 'nope'"):
        review_alert(store, "nope", "ana", 1, note="x")
    got = get_alert(store, a)
    assert got is not None and got["version"] == 1 and got["status"] == "new"
    assert [x["action"] for x in got["audit"]] == ["create"]  # refused changes leave no trace


def test_concurrent_update_conflict(store: Engine, alert_ids: list[str]) -> None:
    """Two analysts open version 1; the second to save is told to reload, and nothing of
    theirs is written."""
    a = alert_ids[0]
    review_alert(store, a, "ana", 1, status="in_review", note="mine")
    with pytest.raises(StaleVersionError, match=r"changed by ana .* version 2, you had "
                                                r"version 1\): reload it"):
        review_alert(store, a, "bob", 1, status="in_review", note="bob's note")
    got = get_alert(store, a)
    assert got is not None and got["version"] == 2 and got["analyst"] == "ana"
    assert [n["author"] for n in got["notes"]] == ["ana"]
    assert issubclass(StaleVersionError, UserError)


def test_racing_threads_one_wins(store: Engine, alert_ids: list[str]) -> None:
    """Eight reviewers save version 1 at the same moment: exactly one succeeds."""
    a = alert_ids[1]
    barrier = threading.Barrier(8)
    results: list[str] = []

    def save(who: str) -> None:
        barrier.wait()
        try:
            review_alert(store, a, who, 1, status="in_review", note=f"by {who}")
            results.append("ok")
        except StaleVersionError:
            results.append("stale")
        except Exception as exc:  # SQLite: database is locked
            results.append(type(exc).__name__)

    threads = [threading.Thread(target=save, args=(f"analyst{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count("ok") == 1 and results.count("stale") == 7, results
    got = get_alert(store, a)
    assert got is not None and got["version"] == 2 and len(got["notes"]) == 1


def test_audit_trail_has_who_when_before_after(store: Engine, alert_ids: list[str]) -> None:
    a = alert_ids[0]
    review_alert(store, a, "ana", 1, status="in_review")
    review_alert(store, a, "bob", 2, status="closed", disposition="false_positive",
                 note="licensed fishing")
    trail = audit_for(store, "alert", a)
    assert [(t["actor"], t["action"]) for t in trail] == [
        ("pipeline:alert", "create"), ("ana", "review"), ("bob", "review")]
    assert trail[1]["before"]["status"] == "new" and trail[1]["after"]["status"] == "in_review"
    assert trail[2]["before"] == {"status": "in_review", "disposition": None, "analyst": "ana",
                                  "version": 2, "updated_at": trail[2]["before"]["updated_at"]}
    assert trail[2]["after"]["disposition"] == "false_positive"
    assert trail[2]["after"]["note"] == "licensed fishing"
    assert trail[1]["at"] <= trail[2]["at"] and trail[2]["at"].endswith("+00:00")


def test_sql_looking_input_stays_data(store: Engine, alert_ids: list[str]) -> None:
    a = alert_ids[0]
    evil = "x'); DROP TABLE alerts; --"
    review_alert(store, a, "o'brien; DELETE FROM notes", 1, status="in_review", note=evil,
                 assignee="'; UPDATE alerts SET status='closed' --")
    got = get_alert(store, a)
    assert got is not None
    assert got["notes"][0]["text"] == evil
    assert got["notes"][0]["author"] == "o'brien; DELETE FROM notes"
    assert got["assignee"] == "'; UPDATE alerts SET status='closed' --"
    assert {"alerts", "notes"} <= set(inspect(store).get_table_names())
    assert {r["status"] for r in alerts_for_day(store, date.fromisoformat(got["date"]))} == {
        "new", "in_review"}


def test_dispositions_become_labels(scored: Scored, store: Engine,
                                    alert_ids: list[str]) -> None:
    a, b = alert_ids[0], alert_ids[1]
    for x in (a, b):
        review_alert(store, x, "ana", 1, status="in_review")
    review_alert(store, a, "ana", 2, status="closed", disposition="benign")
    review_alert(store, a, "sup", 3, status="in_review")
    review_alert(store, a, "sup", 4, status="closed", disposition="confirmed")  # latest wins
    review_alert(store, b, "ana", 2, status="closed", disposition="false_positive")
    day = scored.days[1]
    t = read_dispositions(store, day, day)
    assert t.schema.field("mmsi").type == pa.int64()
    assert t.schema.field("date").type == pa.date32()
    assert t.schema.field("decided_at").type == pa.timestamp("us", tz="UTC")
    assert t.column_names == ["mmsi", "date", "disposition", "analyst", "decided_at",
                              "alert_id", "provenance"]
    rows = {r["alert_id"]: r for r in t.to_pylist()}
    assert set(rows) == {a, b}
    assert (rows[a]["disposition"], rows[a]["analyst"]) == ("confirmed", "sup")
    assert rows[b]["disposition"] == "false_positive" and rows[b]["date"] == day
    assert read_dispositions(store, date(2020, 1, 1), date(2020, 1, 2)).num_rows == 0

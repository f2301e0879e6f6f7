"""The pages an analyst reads: queue, alert, vessel, run health, and the map data behind
them, on the alerts the real pipeline made from the simulated days."""

from __future__ import annotations

import re
from datetime import date

from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import Engine

from tests.web.conftest import WebData, alerts_of, login


def _rows(html: str) -> list[str]:
    """Alert ids of the queue rows, in page order."""
    return re.findall(r'<a class="open" href="/alerts/([0-9a-f]+)"', html)


def test_queue_shows_the_latest_day_ranked(client: TestClient, engine: Engine,
                                           web_data: WebData) -> None:
    login(client, "ana")
    day = web_data.days[-1]
    page = client.get("/queue")
    assert page.status_code == 200
    # today has no alerts: the latest day with alerts is shown, and the page says so
    assert "No alerts for today" in page.text and f"Alerts of {day}" in page.text
    alerts = alerts_of(engine, day)
    assert len(alerts) >= 5
    assert _rows(page.text) == [a["alert_id"] for a in alerts]  # rank order
    top = alerts[0]
    assert f"MMSI {top['mmsi']}" in page.text
    assert f"{top['score']:.2f}" in page.text
    for reason in top["reasons"][:2]:
        assert str(escape(reason)) in page.text
    assert f"/queue?day={web_data.days[0]}" in page.text  # previous day link


def test_queue_of_another_day_and_a_bad_day(client: TestClient, engine: Engine,
                                            web_data: WebData) -> None:
    login(client, "ana")
    first = web_data.days[0]
    page = client.get(f"/queue?day={first}")
    assert _rows(page.text) == [a["alert_id"] for a in alerts_of(engine, first)]
    assert f"/queue?day={web_data.days[-1]}" in page.text  # next day link
    empty = client.get("/queue?day=2020-01-01")
    assert empty.status_code == 200 and "No alerts for 2020-01-01" in empty.text
    assert "run health" in empty.text
    bad = client.get("/queue?day=yesterday")
    assert bad.status_code == 200 and "is not a date" in bad.text


def test_queue_filters_and_sorting(client: TestClient, engine: Engine,
                                   web_data: WebData) -> None:
    from pipeline.alerts.review import review_alert

    day = web_data.days[-1]
    alerts = alerts_of(engine, day)
    picked = alerts[2]
    review_alert(engine, picked["alert_id"], "sue", 1, status="in_review")
    review_alert(engine, picked["alert_id"], "sue", 2, status="closed", disposition="benign")
    login(client, "ana")
    base = f"/queue?day={day}"
    assert _rows(client.get(base + "&status=closed").text) == [picked["alert_id"]]
    assert picked["alert_id"] not in _rows(client.get(base + "&status=new").text)
    assert _rows(client.get(base + "&disposition=benign").text) == [picked["alert_id"]]
    assert picked["alert_id"] not in _rows(client.get(base + "&disposition=none").text)
    by_score = _rows(client.get(base + "&sort=score").text)
    scores = {a["alert_id"]: a["score"] for a in alerts}
    assert [scores[i] for i in by_score] == sorted(scores.values(), reverse=True)
    zone = next(a["departure_zone"] for a in alerts if a["departure_zone"])
    with_zone = _rows(client.get(base + f"&departure={zone}").text)
    assert with_zone == [a["alert_id"] for a in alerts if a["departure_zone"] == zone]
    region = alerts[0]["region"]
    assert len(_rows(client.get(base + f"&region={region}").text)) == sum(
        a["region"] == region for a in alerts)
    assert _rows(client.get(base + "&region=nowhere").text) == []
    assert "matches the filters" in client.get(base + "&region=nowhere").text


def test_alert_page_has_reasons_map_timeline_and_history(client: TestClient, engine: Engine,
                                                        web_data: WebData) -> None:
    from pipeline.alerts.queries import alert_history

    login(client, "ana")
    day = web_data.days[-1]
    # a vessel alerted on both days: its page lists the earlier alert
    first_ids = {a["mmsi"]: a for a in alerts_of(engine, web_data.days[0])}
    alert = next(a for a in alerts_of(engine, day) if a["mmsi"] in first_ids)
    page = client.get(f"/alerts/{alert['alert_id']}")
    assert page.status_code == 200
    html = page.text
    for reason in alert["reasons"]:
        assert str(escape(reason)) in html
    assert f'data-evidence="/api/alerts/{alert["alert_id"]}/evidence.geojson?hours=48"' in html
    assert "/static/vendor/leaflet/leaflet.js" in html
    assert f'href="/alerts/{first_ids[alert["mmsi"]]["alert_id"]}"' in html  # past alert
    assert alert_history(engine, mmsi=alert["mmsi"], before=day)
    # the timeline lists the vessel's events, the alert's own evidence marked
    rows = re.findall(r'<tr data-event-id="([0-9a-f]+)" class="ev-(\w+)( evidence)?"', html)
    assert rows, "no timeline rows"
    from pipeline.alerts.queries import get_alert

    evidence = {e["event_id"] for e in get_alert(engine, alert["alert_id"])["evidence"]}
    assert {r[0] for r in rows if r[2]} == {r[0] for r in rows} & evidence
    assert "Start review" in html and "Add to watchlist" in html


def test_map_window_is_adjustable_and_capped(client: TestClient, engine: Engine,
                                            web_data: WebData) -> None:
    login(client, "ana")
    alert = alerts_of(engine, web_data.days[-1])[0]
    page = client.get(f"/alerts/{alert['alert_id']}?hours=24")
    assert "evidence.geojson?hours=24" in page.text
    capped = client.get(f"/alerts/{alert['alert_id']}?hours=100000")
    assert "evidence.geojson?hours=336" in capped.text
    assert client.get("/alerts/does-not-exist").status_code == 404


def test_evidence_geojson_has_track_gap_links_and_partners(client: TestClient, engine: Engine,
                                                           web_data: WebData) -> None:
    login(client, "ana")
    kinds_seen: set[str] = set()
    for alert in alerts_of(engine, web_data.days[0]) + alerts_of(engine, web_data.days[-1]):
        r = client.get(f"/api/alerts/{alert['alert_id']}/evidence.geojson")
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("application/geo+json")
        doc = r.json()
        assert doc["type"] == "FeatureCollection" and doc["window"]["hours"] == 48
        end = date.fromisoformat(alert["date"]).toordinal() + 1
        assert doc["window"]["end"].startswith(date.fromordinal(end).isoformat())
        kinds = {f["properties"]["kind"] for f in doc["features"]}
        assert "track" in kinds
        kinds_seen |= kinds
    # the simulated smugglers go dark (and stay dark to the end of the data) and meet boats
    assert {"dark_gap_vanish", "partner_track"} <= kinds_seen
    r = client.get(f"/api/alerts/{alert['alert_id']}/evidence.geojson?hours=12")
    assert r.json()["window"]["hours"] == 12
    assert client.get("/api/alerts/nope/evidence.geojson").status_code == 404


def test_a_dark_gap_with_a_reappearance_is_linked(client: TestClient,
                                                 web_data: WebData) -> None:
    """Vanish and reappear points joined by a gap_link line (drawn dashed by the map)."""
    day = web_data.days[-1]
    events = web_data.lake.read("events", day).to_pandas()
    gap = events[(events["event_type"] == "dark_gap") & events["end_lat"].notna()].iloc[0]
    login(client, "ana")
    doc = client.get(f"/api/vessels/{int(gap['mmsi'])}/track.geojson?hours=48").json()
    mine = [f for f in doc["features"] if f["properties"].get("event_id") == gap["event_id"]]
    kinds = {f["properties"]["kind"]: f for f in mine}
    assert {"dark_gap_vanish", "dark_gap_reappear", "gap_link"} <= set(kinds)
    line = kinds["gap_link"]["geometry"]["coordinates"]
    assert line[0] == kinds["dark_gap_vanish"]["geometry"]["coordinates"]
    assert line[-1] == kinds["dark_gap_reappear"]["geometry"]["coordinates"]
    assert abs(line[-1][1] - gap["end_lat"]) < 1e-4


def test_base_layers_come_from_the_config(client: TestClient, web_data: WebData) -> None:
    login(client, "ana")
    r = client.get("/api/geodata/base.geojson")
    assert r.status_code == 200
    doc = r.json()
    layers = [f["properties"]["layer"] for f in doc["features"]]
    assert layers.count("land") == 1
    zones = [f["properties"] for f in doc["features"] if f["properties"]["layer"] == "zone"]
    assert {z["id"] for z in zones} == {z.id for z in web_data.settings.zones}
    assert all(z["provenance"] for z in zones)
    again = client.get("/api/geodata/base.geojson", headers={"If-None-Match": r.headers["etag"]})
    assert again.status_code == 304


def test_static_assets_are_served_by_the_app(client: TestClient) -> None:
    for path in ("/static/vendor/leaflet/leaflet.js", "/static/vendor/leaflet/leaflet.css",
                 "/static/vendor/leaflet/LICENSE", "/static/map.js", "/static/app.css",
                 "/static/vendor/leaflet/images/layers.png"):
        assert client.get(path).status_code == 200, path
    assert "BSD 2-Clause" in client.get("/static/vendor/leaflet/LICENSE").text


def test_vessel_page_and_search(client: TestClient, engine: Engine, web_data: WebData) -> None:
    login(client, "ana")
    both = {a["mmsi"] for a in alerts_of(engine, web_data.days[0])} & {
        a["mmsi"] for a in alerts_of(engine, web_data.days[-1])}
    mmsi = sorted(both)[0]
    page = client.get(f"/vessels/{mmsi}")
    assert page.status_code == 200
    for a in alerts_of(engine, web_data.days[0]) + alerts_of(engine, web_data.days[-1]):
        if a["mmsi"] == mmsi:
            assert f'href="/alerts/{a["alert_id"]}"' in page.text
    assert "Identities broadcast" in page.text and "Events, last" in page.text
    assert f"/api/vessels/{mmsi}/track.geojson" in page.text
    track = client.get(f"/api/vessels/{mmsi}/track.geojson?hours=24")
    assert track.status_code == 200 and track.json()["window"]["hours"] == 24
    # search: a 9-digit MMSI opens the vessel; a name fragment lists matches
    assert client.get(f"/vessels?q={mmsi}").headers["location"] == f"/vessels/{mmsi}"
    name = next(a["name"] for a in alerts_of(engine, web_data.days[0]) if a["mmsi"] == mmsi)
    found = client.get(f"/vessels?q={name[:4].lower()}")
    assert found.status_code in (200, 303)
    if found.status_code == 200:
        assert f'href="/vessels/{mmsi}"' in found.text
    none = client.get("/vessels?q=zzzz-no-such")
    assert "No alerted or watchlisted vessel matches" in none.text
    assert client.get("/vessels?q=%25").status_code == 200  # LIKE wildcards are literal


def test_vessel_page_lists_incident_reports_and_port_calls(client: TestClient, engine: Engine,
                                                           web_data: WebData) -> None:
    matches = web_data.lake.read("incident_matches", web_data.days[0],
                                 date.fromordinal(web_data.days[-1].toordinal() + 5))
    linked = [m for m in matches.to_pylist() if m["mmsi"] is not None]
    calls = web_data.lake.read("port_calls", date(2024, 10, 1), web_data.days[-1])
    login(client, "ana")
    if linked:
        m = linked[0]
        page = client.get(f"/vessels/{m['mmsi']}")
        assert str(m["incident_date"]) in page.text and m["outcome"] in page.text
    called = [c for c in calls.to_pylist() if c["mmsi"] is not None]
    assert called, "the simulation declares port calls"
    c = called[0]
    page = client.get(f"/vessels/{c['mmsi']}")
    assert c["port_name"] in page.text


def test_run_health_shows_stages_counts_and_the_lake(client: TestClient, engine: Engine,
                                                     web_data: WebData) -> None:
    login(client, "ana")
    page = client.get("/runs")
    assert page.status_code == 200
    for stage in ("ingest", "detect", "features", "score", "alert"):
        assert f"<h2>{stage} <span class=\"stage-ok\">ok</span>" in page.text, stage
    positions = web_data.lake.read("positions", web_data.days[-1], columns=["mmsi"]).num_rows
    assert f"{positions:,}" in page.text
    rules = set(web_data.lake.read("quarantine", web_data.days[0], web_data.days[-1],
                                   columns=["rule"])["rule"].to_pylist())
    for rule in rules:
        assert rule.replace("_", " ") in page.text
    assert "No runs recorded for: report." in page.text


def test_failed_or_silent_feed_is_flagged(client: TestClient, engine: Engine) -> None:
    from pipeline.alerts.store import record_run

    login(client, "ana")
    assert "feed may be down" not in client.get("/queue").text
    record_run(engine, "ingest", None, "ok", {"kind": "ais", "totals": {"positions": 0}})
    assert "feed may be down" not in client.get("/queue").text  # an earlier run had data
    record_run(engine, "ingest", None, "failed", {}, "ConnectionError: receiver offline")
    page = client.get("/queue")
    assert "The last ingest run failed" in page.text and "receiver offline" in page.text
    assert "The last ingest run failed" in client.get("/runs").text

"""Every action of the review application, as form posts: review an alert through its
lifecycle, notes, watchlist add / edit / expire / export, user administration. Each change
lands in the store through its functions and in the audit log under the signed-in user."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pipeline.alerts.queries import audit_for, get_alert
from tests.web.conftest import PASSWORDS, WebData, alerts_of, csrf_of, login


def _post(client: TestClient, url: str, token: str, **data: Any) -> Any:
    return client.post(url, data={**{k: str(v) for k, v in data.items()}, "csrf_token": token})


def _flash(client: TestClient, url: str) -> str:
    return client.get(url).text


def test_review_lifecycle_start_escalate_close(client: TestClient, engine: Engine,
                                               web_data: WebData) -> None:
    alert = alerts_of(engine, web_data.days[-1])[0]
    aid = alert["alert_id"]
    url = f"/alerts/{aid}/review"
    token = login(client, "ana")
    r = _post(client, url, token, action="start", version=1)
    assert r.status_code == 303 and r.headers["location"] == f"/alerts/{aid}"
    assert "Review started." in _flash(client, f"/alerts/{aid}")
    a = get_alert(engine, aid)
    assert a and a["status"] == "in_review" and a["analyst"] == "ana" and a["version"] == 2
    r = _post(client, url, token, action="escalate", version=2,
              note="night dwell at Teknaf then dark: supervisor please")
    a = get_alert(engine, aid)
    assert a and a["status"] == "escalated"
    assert a["notes"][-1]["text"].startswith("night dwell at Teknaf")
    # an analyst does not close an escalated alert; a supervisor does
    page = client.get(f"/alerts/{aid}").text
    assert 'value="close"' not in page and "a supervisor closes it" in page
    r = _post(client, url, token, action="close", version=3, disposition="confirmed")
    assert r.status_code == 403
    client.cookies.clear()
    token = login(client, "sue")
    r = _post(client, url, token, action="close", version=3, disposition="confirmed",
              note="boat intercepted off St Martin's")
    assert r.status_code == 303
    a = get_alert(engine, aid)
    assert a and a["status"] == "closed" and a["disposition"] == "confirmed"
    assert a["dispositions"][-1] == {"disposition": "confirmed", "analyst": "sue",
                                     "decided_at": a["dispositions"][-1]["decided_at"],
                                     "note": "boat intercepted off St Martin's"}
    actors = [(e["actor"], e["after"].get("status")) for e in audit_for(engine, "alert", aid)
              if e["action"] == "review"]
    assert actors == [("ana", "in_review"), ("ana", "escalated"), ("sue", "closed")]
    # the page shows the decision and its audit trail
    page = client.get(f"/alerts/{aid}").text
    assert "Closed as confirmed." in page and "boat intercepted off St Martin&#39;s" in page
    assert page.count("<strong>ana</strong> review") == 2


def test_dispositions_become_labels(client: TestClient, engine: Engine,
                                    web_data: WebData) -> None:
    from pipeline.labels.dispositions import read_dispositions

    alert = alerts_of(engine, web_data.days[-1])[1]
    token = login(client, "ana")
    url = f"/alerts/{alert['alert_id']}/review"
    _post(client, url, token, action="start", version=1)
    _post(client, url, token, action="close", version=2, disposition="false_positive",
          note="licensed fishing boat, known skipper")
    table = read_dispositions(engine, web_data.days[0], web_data.days[-1])
    rows = table.to_pylist()
    assert [(r["mmsi"], r["disposition"], r["analyst"]) for r in rows] == [
        (alert["mmsi"], "false_positive", "ana")]


def test_close_needs_a_disposition_and_a_fresh_version(client: TestClient, engine: Engine,
                                                       web_data: WebData) -> None:
    alert = alerts_of(engine, web_data.days[-1])[0]
    aid = alert["alert_id"]
    url = f"/alerts/{aid}/review"
    token = login(client, "ana")
    _post(client, url, token, action="start", version=1)
    r = _post(client, url, token, action="close", version=2, disposition="")
    assert r.status_code == 303
    assert "Choose a disposition" in _flash(client, f"/alerts/{aid}")
    # a colleague changed the alert meanwhile: the stale form is refused, nothing overwritten
    from pipeline.alerts.review import review_alert

    review_alert(engine, aid, "sue", 2, note="looking at this too")
    r = _post(client, url, token, action="close", version=2, disposition="benign")
    assert r.status_code == 303
    page = _flash(client, f"/alerts/{aid}")
    assert "reload it and apply your change again" in page
    a = get_alert(engine, aid)
    assert a and a["status"] == "in_review" and a["disposition"] is None and a["version"] == 3
    # an action that does not fit the status is refused with a message
    r = _post(client, url, token, action="start", version=3)
    assert "does not apply now" in _flash(client, f"/alerts/{aid}")
    assert _post(client, url, token, action="launch", version=3).status_code == 400


def test_notes_and_reopen(client: TestClient, engine: Engine, web_data: WebData) -> None:
    alert = alerts_of(engine, web_data.days[-1])[0]
    aid = alert["alert_id"]
    url = f"/alerts/{aid}/review"
    token = login(client, "ana")
    _post(client, url, token, action="note", version=1, note="asked the harbour master")
    a = get_alert(engine, aid)
    assert a and a["status"] == "new" and a["notes"][0]["author"] == "ana"
    _post(client, url, token, action="note", version=2, note="   ")
    assert "The note is empty" in _flash(client, f"/alerts/{aid}")
    _post(client, url, token, action="start", version=2)
    _post(client, url, token, action="close", version=3, disposition="benign")
    assert _post(client, url, token, action="reopen", version=4).status_code == 403
    client.cookies.clear()
    token = login(client, "sue")
    assert "Reopen" in client.get(f"/alerts/{aid}").text
    _post(client, url, token, action="reopen", version=4)
    a = get_alert(engine, aid)
    assert a and a["status"] == "in_review" and a["disposition"] is None
    assert [d["disposition"] for d in a["dispositions"]] == ["benign"]  # history kept


def test_add_vessel_to_watchlist_from_the_alert(client: TestClient, engine: Engine,
                                                web_data: WebData) -> None:
    from pipeline.alerts.queries import watchlist_entries_for

    alert = alerts_of(engine, web_data.days[-1])[0]
    aid = alert["alert_id"]
    token = login(client, "ana")
    r = _post(client, f"/alerts/{aid}/watchlist", token, reason="dark after Teknaf dwell",
              marking="TLP:AMBER", expires_at="2099-06-30")
    assert r.status_code == 303
    entries = watchlist_entries_for(engine, mmsi=alert["mmsi"])
    assert len(entries) == 1
    e = entries[0]
    assert (e["source"], e["source_ref"], e["owner"], e["marking"]) == (
        "alert", aid, "ana", "TLP:AMBER")
    assert e["expires_at"].startswith("2099-06-30")
    assert [x["actor"] for x in audit_for(engine, "watchlist", e["entry_id"])] == ["ana"]
    page = client.get(f"/alerts/{aid}").text
    assert "Added to the watchlist" in page and f'href="/watchlist/{e["entry_id"]}"' in page
    # the same identity twice is refused with a message, not a crash
    _post(client, f"/alerts/{aid}/watchlist", token, reason="again", marking="TLP:GREEN")
    assert "already on the watchlist" in _flash(client, f"/alerts/{aid}")
    _post(client, f"/alerts/{aid}/watchlist", token, reason="", marking="TLP:GREEN")
    assert "Give a reason" in _flash(client, f"/alerts/{aid}")


def test_watchlist_add_search_edit_expire(client: TestClient, engine: Engine) -> None:
    from pipeline.alerts.watchlist import get_entry

    token = login(client, "ana")
    r = _post(client, "/watchlist", token, mmsi="567000111", name="Sri Rejeki 2",
              call_sign="YDAB2", reason="partner tip: carries passengers at night",
              source="partner", source_ref="BAKAMLA-2024-118", marking="TLP:GREEN",
              provenance="liaison officer, phone, 2024-11-19")
    assert r.status_code == 303
    entry_id = r.headers["location"].rsplit("/", 1)[1]
    e = get_entry(engine, entry_id)
    assert e and e["owner"] == "ana" and e["marking"] == "TLP:GREEN"
    # search by name fragment and by MMSI
    assert f'href="/watchlist/{entry_id}"' in client.get("/watchlist?q=rejeki").text
    assert f'href="/watchlist/{entry_id}"' in client.get("/watchlist?q=567000111").text
    assert f'href="/watchlist/{entry_id}"' not in client.get("/watchlist?q=nomatch").text
    # bad input: a message, no entry
    _post(client, "/watchlist", token, mmsi="12", reason="x", source="analyst",
          marking="TLP:GREEN")
    assert "expected 9 digits" in client.get("/watchlist").text
    # the owner edits it
    form = {"version": 1, "reason": "partner tip confirmed by a second source",
            "marking": "TLP:AMBER", "mmsi": "567000111", "imo": "", "name": "Sri Rejeki 2",
            "call_sign": "YDAB2", "source_ref": "BAKAMLA-2024-118",
            "provenance": "liaison officer, phone, 2024-11-19", "expires_at": ""}
    r = _post(client, f"/watchlist/{entry_id}", token, **form)
    assert r.status_code == 303
    e = get_entry(engine, entry_id)
    assert e and e["reason"].startswith("partner tip confirmed") and e["version"] == 2
    assert e["marking"] == "TLP:AMBER"
    page = client.get(f"/watchlist/{entry_id}").text
    assert "Entry updated: marking, reason." in page
    # a stale form (version 1 again) is refused
    _post(client, f"/watchlist/{entry_id}", token, **{**form, "reason": "old tab"})
    assert "reload it" in client.get(f"/watchlist/{entry_id}").text
    # an analyst cannot expire; a supervisor can
    assert "Expire entry" not in client.get(f"/watchlist/{entry_id}").text
    assert _post(client, f"/watchlist/{entry_id}/expire", token, version=2).status_code == 403
    client.cookies.clear()
    token = login(client, "sue")
    r = _post(client, f"/watchlist/{entry_id}/expire", token, version=2)
    assert r.status_code == 303
    e = get_entry(engine, entry_id)
    assert e and e["expired"] is True
    assert f'href="/watchlist/{entry_id}"' not in client.get("/watchlist").text
    assert f'href="/watchlist/{entry_id}"' in client.get("/watchlist?show=all").text
    actions = [(a["actor"], a["action"]) for a in audit_for(engine, "watchlist", entry_id)]
    assert actions == [("ana", "create"), ("ana", "update"), ("sue", "expire")]


def test_analyst_edits_only_own_entries(client: TestClient, engine: Engine) -> None:
    from pipeline.alerts.watchlist import add_entry, get_entry

    e = add_entry(engine, "sue", reason="known facilitator's boat", source="incident",
                  owner="sue", marking="TLP:AMBER", mmsi=506000222)
    token = login(client, "ana")
    assert "Only sue or a supervisor edits" in client.get(f"/watchlist/{e['entry_id']}").text
    r = _post(client, f"/watchlist/{e['entry_id']}", token, version=1, reason="mine now",
              marking="TLP:AMBER", mmsi="506000222")
    assert r.status_code == 403
    assert get_entry(engine, e["entry_id"])["reason"] == "known facilitator's boat"  # type: ignore[index]


def _entries(engine: Engine) -> dict[str, str]:
    from pipeline.alerts.watchlist import add_entry

    out = {}
    for i, marking in enumerate(("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT",
                                 "TLP:RED")):
        e = add_entry(engine, "sue", reason=f"entry {marking}", source="analyst", owner="sue",
                      marking=marking, mmsi=567100000 + i, name=f"=HYPERLINK(\"x\") {i}")
        out[marking] = e["entry_id"]
    return out


def test_export_respects_the_marking(client: TestClient, engine: Engine) -> None:
    ids = _entries(engine)
    token = login(client, "sue")
    page = client.get("/watchlist").text
    assert "Export for a partner agency" in page
    assert "TLP:RED</option>" not in page.split("Export for a partner")[1]
    r = _post(client, "/watchlist-export", token, max_marking="TLP:GREEN", fmt="csv")
    assert r.status_code == 200
    assert r.headers["content-disposition"] == 'attachment; filename="watchlist_green.csv"'
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert sorted(row["entry_id"] for row in rows) == sorted(
        [ids["TLP:CLEAR"], ids["TLP:GREEN"]])
    assert all(row["name"].startswith("'=") for row in rows)  # formula injection guarded
    assert r.headers["x-withheld-entries"] == "3"
    r = _post(client, "/watchlist-export", token, max_marking="TLP:AMBER", fmt="json")
    doc = json.loads(r.text)
    assert {e["marking"] for e in doc["entries"]} == {"TLP:CLEAR", "TLP:GREEN", "TLP:AMBER"}
    # AMBER+STRICT and RED never leave through the app
    for marking in ("TLP:AMBER+STRICT", "TLP:RED"):
        r = _post(client, "/watchlist-export", token, max_marking=marking, fmt="csv")
        assert r.status_code == 400 and "not shared" in r.text
    exports = [a for a in audit_for(engine, "watchlist", "*") if a["action"] == "export"]
    assert [(a["actor"], a["after"]["max_marking"], a["after"]["entries"]) for a in exports] == [
        ("sue", "TLP:GREEN", 2), ("sue", "TLP:AMBER", 3)]


def test_markings_are_shown(client: TestClient, engine: Engine) -> None:
    ids = _entries(engine)
    login(client, "ana")
    page = client.get("/watchlist").text
    for marking in ids:
        assert f'">{marking}</span>' in page
    assert 'class="badge tlp-red"' in page and 'class="badge tlp-amber-strict"' in page


def test_admin_manages_users(client: TestClient, engine: Engine) -> None:
    from pipeline.web.users import list_users

    token = login(client, "adm")
    page = client.get("/admin/users").text
    for name in PASSWORDS:
        assert f"<strong>{name}</strong>" in page
    r = _post(client, "/admin/users", token, username="bima", password="bima-password-1",
              role="analyst")
    assert r.status_code == 303
    assert "User bima (analyst) added." in client.get("/admin/users").text
    _post(client, "/admin/users", token, username="x", password="short", role="analyst")
    assert "user name" in client.get("/admin/users").text
    _post(client, "/admin/users/bima", token, action="role", role="supervisor")
    _post(client, "/admin/users/bima", token, action="disable")
    users = {u.username: u for u in list_users(engine)}
    assert users["bima"].role == "supervisor" and users["bima"].disabled
    _post(client, "/admin/users/adm", token, action="disable")
    assert "You cannot disable yourself" in client.get("/admin/users").text
    assert not {u.username: u for u in list_users(engine)}["adm"].disabled
    actions = [(a["actor"], a["action"]) for a in audit_for(engine, "user", "bima")]
    assert actions == [("adm", "user_add"), ("adm", "user_role"), ("adm", "user_disable")]
    # the disabled account cannot sign in
    client.cookies.clear()
    t = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": "bima", "password": "bima-password-1",
                                    "csrf_token": t})
    assert r.status_code == 401


def test_sign_out(client: TestClient) -> None:
    token = login(client, "ana")
    r = _post(client, "/logout", token)
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert client.get("/queue").status_code == 303

"""Sign-in, sessions, CSRF, roles and escaping: what keeps the review application safe to run
on a PIU network with hostile AIS text in its data."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pipeline.alerts.queries import audit_for, get_alert
from tests.web.conftest import (
    HOSTILE_NAME,
    PASSWORDS,
    WebData,
    alerts_of,
    csrf_of,
    hostile_alert,
    login,
)


def test_pages_need_a_session(client: TestClient) -> None:
    r = client.get("/queue?day=2024-11-21")
    assert r.status_code == 303
    assert r.headers["location"] == "/login?next=%2Fqueue%3Fday%3D2024-11-21"
    assert client.get("/api/geodata/base.geojson").status_code == 401
    assert client.get("/watchlist").status_code == 303


def test_login_with_the_right_password_only(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    bad = client.post("/login", data={"username": "ana", "password": "wrong-password",
                                      "csrf_token": token})
    assert bad.status_code == 401
    assert "Wrong user name or password" in bad.text
    unknown = client.post("/login", data={"username": "nobody", "password": "whatever-long",
                                          "csrf_token": token})
    assert unknown.status_code == 401
    assert client.get("/queue").status_code == 303  # still signed out
    login(client, "ana")
    page = client.get("/queue")
    assert page.status_code == 200 and "ana" in page.text and "analyst" in page.text


def test_disabled_user_cannot_log_in(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": "gone", "password": PASSWORDS["gone"][1],
                                    "csrf_token": token})
    assert r.status_code == 401
    assert client.get("/queue").status_code == 303


def test_disabling_ends_open_sessions(client: TestClient, engine: Engine) -> None:
    from pipeline.web.users import set_disabled

    login(client, "ana")
    assert client.get("/queue").status_code == 200
    set_disabled(engine, "ana", True, actor="adm")
    r = client.get("/queue")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_password_change_ends_open_sessions(client: TestClient, engine: Engine) -> None:
    from pipeline.web.users import set_password

    login(client, "ana")
    set_password(engine, "ana", "a-new-password-2", actor="adm")
    assert client.get("/queue").status_code == 303


def test_login_refuses_open_redirects(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": "ana", "password": PASSWORDS["ana"][1],
                                    "csrf_token": token, "next": "//evil.example/phish"})
    assert r.status_code == 303 and r.headers["location"] == "/queue"


def test_repeated_failures_lock_the_user_name(client: TestClient) -> None:
    token = csrf_of(client.get("/login").text)
    for _ in range(5):
        client.post("/login", data={"username": "sue", "password": "not-it-at-all",
                                    "csrf_token": token})
    r = client.post("/login", data={"username": "sue", "password": PASSWORDS["sue"][1],
                                    "csrf_token": token})
    assert r.status_code == 401 and "Too many failed sign-ins" in r.text


def test_login_needs_the_csrf_token(client: TestClient) -> None:
    client.get("/login")
    r = client.post("/login", data={"username": "ana", "password": PASSWORDS["ana"][1]})
    assert r.status_code == 403
    assert client.get("/queue").status_code == 303


def test_state_change_without_or_with_a_wrong_csrf_token_is_refused(
        client: TestClient, engine: Engine, web_data: WebData) -> None:
    login(client, "ana")
    alert = alerts_of(engine, web_data.days[-1])[0]
    url = f"/alerts/{alert['alert_id']}/review"
    form = {"action": "start", "version": str(alert["version"])}
    missing = client.post(url, data=form)
    assert missing.status_code == 403 and "security token" in missing.text
    wrong = client.post(url, data={**form, "csrf_token": "x" * 43})
    assert wrong.status_code == 403
    header = client.post(url, data=form, headers={"X-CSRF-Token": "y" * 43})
    assert header.status_code == 403
    after = get_alert(engine, alert["alert_id"])
    assert after is not None and after["status"] == "new" and after["version"] == 1
    assert all(e["action"] != "review" for e in audit_for(engine, "alert", alert["alert_id"]))


def test_csrf_token_of_another_session_is_refused(app: object, engine: Engine,
                                                  web_data: WebData) -> None:
    alert = alerts_of(engine, web_data.days[-1])[0]
    with TestClient(app, follow_redirects=False) as one, \
            TestClient(app, follow_redirects=False) as two:
        token_one = login(one, "ana")
        login(two, "sue")
        r = two.post(f"/alerts/{alert['alert_id']}/review",
                     data={"action": "start", "version": "1", "csrf_token": token_one})
        assert r.status_code == 403


def test_wrong_role_is_refused(client: TestClient, engine: Engine) -> None:
    from pipeline.alerts.watchlist import add_entry, get_entry

    entry = add_entry(engine, "sue", reason="seen at Teknaf at night", source="analyst",
                      owner="sue", marking="TLP:AMBER", mmsi=419000001)
    token = login(client, "ana")
    assert client.get("/admin/users").status_code == 403
    r = client.post(f"/watchlist/{entry['entry_id']}/expire",
                    data={"version": "1", "csrf_token": token})
    assert r.status_code == 403 and "supervisor" in r.text
    assert get_entry(engine, entry["entry_id"])["expired"] is False  # type: ignore[index]
    r = client.post("/watchlist-export", data={"max_marking": "TLP:GREEN",
                                               "csrf_token": token})
    assert r.status_code == 403
    r = client.post("/admin/users", data={"username": "eve", "password": "long-enough-1",
                                          "role": "admin", "csrf_token": token})
    assert r.status_code == 403


def test_hostile_vessel_name_renders_as_text(client: TestClient, engine: Engine,
                                             web_data: WebData) -> None:
    alert = hostile_alert(engine, web_data)  # the name went through the pipeline untouched
    assert alert["mmsi"] in web_data.hostile_mmsis
    login(client, "ana")
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
    for url in (f"/queue?day={alert['date']}", f"/alerts/{alert['alert_id']}",
                f"/vessels/{alert['mmsi']}", "/vessels?q=script"):
        page = client.get(url, follow_redirects=True)
        assert page.status_code == 200, url
        assert HOSTILE_NAME not in page.text, url
        assert escaped in page.text, url


def test_security_headers(client: TestClient) -> None:
    r = client.get("/login")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    cookie = r.headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()


def test_a_forged_session_cookie_is_ignored(client: TestClient) -> None:
    import base64
    import json

    from itsdangerous import TimestampSigner

    payload = base64.b64encode(json.dumps({"uid": 1, "ph": "x", "csrf": "y" * 40}).encode())
    forged = TimestampSigner("not-the-secret-" * 3).sign(payload).decode()
    client.cookies.set("vr_session", forged)
    assert client.get("/queue").status_code == 303


def test_every_state_changing_route_checks_csrf(app: Any, client: TestClient) -> None:
    """Walk the app's routes: every non-GET route refuses a request without the token, even
    from a signed-in admin (the check is app-wide, so a new route cannot forget it)."""
    from fastapi.routing import APIRoute

    login(client, "adm")
    posts = [r for r in app.routes if isinstance(r, APIRoute) and r.methods - {"GET", "HEAD"}]
    assert len(posts) >= 10
    for route in posts:
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        for method in route.methods - {"GET", "HEAD"}:
            r = client.request(method, path, data={"action": "disable", "version": "1"})
            assert r.status_code == 403, (method, path, r.status_code)

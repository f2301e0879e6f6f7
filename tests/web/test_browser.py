"""The morning review in a real browser: Debian's Chromium driven by Playwright against the app
served by uvicorn on a free local port. Sign in, open the queue, open an alert, see the map
draw the track, disposition the alert, put the vessel on the watchlist, see the audit trail.
A screenshot of the alert page is kept in var/test-artifacts/."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from pipeline.workspace import Workspace
from tests.web.conftest import (
    HOSTILE_NAME,
    PASSWORDS,
    SECRET,
    WebData,
    alerts_of,
    hostile_alert,
    prepare_store,
)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"

pytestmark = pytest.mark.skipif(shutil.which(CHROMIUM) is None and not Path(CHROMIUM).exists(),
                                reason="Debian's chromium is not installed (`make browser`)")


@pytest.fixture
def browser_store(web_data: WebData, tmp_path: Path) -> Iterator[Engine]:
    from pipeline.alerts.store import close_store, open_store

    url = f"sqlite:///{tmp_path / 'browser.sqlite'}"
    yield prepare_store(web_data, open_store(url))
    close_store(url)


@pytest.fixture
def server(web_data: WebData, browser_store: Engine) -> Iterator[str]:
    """The app under uvicorn in a thread, on a socket bound to a free port."""
    import uvicorn

    from pipeline.web.app import create_app

    app = create_app(web_data.settings, Workspace(web_data.home), browser_store, secret=SECRET)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=15)
    sock.close()


@pytest.fixture
def page(server: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 768})
        pg = context.new_page()
        pg.set_default_timeout(30_000)
        pg.problems = []  # type: ignore[attr-defined]
        pg.on("console", lambda m: pg.problems.append(m.text) if m.type == "error" else None)
        pg.on("pageerror", lambda e: pg.problems.append(str(e)))
        pg.on("dialog", lambda d: (pg.problems.append(f"dialog: {d.message}"), d.dismiss()))
        pg.base = server  # type: ignore[attr-defined]
        yield pg
        context.close()
        browser.close()


def test_morning_review_in_chromium(page: Any, browser_store: Engine,
                                    web_data: WebData) -> None:
    from pipeline.alerts.queries import audit_for, get_alert, watchlist_entries_for

    base = page.base
    page.goto(f"{base}/queue")
    assert "/login" in page.url
    page.fill("input[name=username]", "ana")
    page.fill("input[name=password]", PASSWORDS["ana"][1])
    page.click("button[type=submit]")
    page.wait_for_url("**/queue")

    day = web_data.days[-1]
    alerts = alerts_of(browser_store, day)
    rows = page.locator("table.queue tbody tr")
    assert rows.count() == len(alerts)
    # one click on the row opens the alert (not only on the name)
    target = next(a for a in alerts if a["name"] != HOSTILE_NAME)
    index = [a["alert_id"] for a in alerts].index(target["alert_id"])
    rows.nth(index).locator("td.reasons").click()
    page.wait_for_url(f"**/alerts/{target['alert_id']}")

    # the map draws the coastline, the zones and the track (SVG paths from Leaflet)
    page.wait_for_selector("#map[data-ready='1']")
    track = page.locator('.leaflet-overlay-pane path[stroke="#1d4ed8"]')
    assert track.count() >= 1
    assert page.locator(".leaflet-overlay-pane path").count() > 20  # land, zones, events
    assert "positions shown" in page.inner_text("#map-status")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "alert_page.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size > 20_000

    # a timeline row focuses the map on its event and opens its popup
    page.locator("table.timeline tbody tr").first.click()
    page.wait_for_selector(".leaflet-popup-content .popup")

    # review: start, then close with a disposition and a note
    page.click("button[value=start]")
    page.wait_for_selector("text=Review started.")
    page.select_option("select[name=disposition]", "suspicious")
    page.fill("form:has(button[value=close]) textarea[name=note]",
              "waited off the beach at night, then dark")
    page.click("button[value=close]")
    page.wait_for_selector("text=Closed as suspicious.")
    alert = get_alert(browser_store, target["alert_id"])
    assert alert and alert["status"] == "closed" and alert["disposition"] == "suspicious"

    # add the vessel to the watchlist from the alert
    page.fill("#watchlist input[name=reason]", "night dwell, then dark toward Langsa")
    page.select_option("#watchlist select[name=marking]", "TLP:GREEN")
    page.click("#watchlist button[type=submit]")
    page.wait_for_selector("text=Added to the watchlist")
    entries = watchlist_entries_for(browser_store, mmsi=target["mmsi"])
    assert [e["marking"] for e in entries] == ["TLP:GREEN"]

    # the audit trail shows who did what
    audit_text = page.inner_text("#audit")
    assert "ana review" in audit_text and "disposition=suspicious" in audit_text
    assert [(a["actor"], a["after"].get("status")) for a in
            audit_for(browser_store, "alert", target["alert_id"])
            if a["action"] == "review"] == [("ana", "in_review"), ("ana", "closed")]
    page.click(f"#watchlist a[href='/watchlist/{entries[0]['entry_id']}']")
    page.wait_for_selector("#audit")
    assert "ana create" in page.inner_text("#audit")
    page.screenshot(path=str(ARTIFACTS / "watchlist_entry.png"))

    # the hostile AIS name is shown as text and runs nothing
    hostile = hostile_alert(browser_store, web_data)
    page.goto(f"{base}/alerts/{hostile['alert_id']}")
    page.wait_for_selector("#map[data-ready='1']")
    assert page.inner_text("h1 .vname") == hostile["name"]
    page.goto(f"{base}/queue?day={hostile['date']}")
    assert HOSTILE_NAME in page.inner_text("table.queue")
    page.screenshot(path=str(ARTIFACTS / "queue.png"))
    assert page.problems == []  # no script error, CSP violation or dialog on any page

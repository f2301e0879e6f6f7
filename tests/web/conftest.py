"""The review application on realistic data: two simulated days of the Bay of Bengal in peak
season through the real pipeline (ingest of AIS, port calls and incident reports, detect,
features, score, incident matching), alerted into a fresh store on SQLite and PostgreSQL,
with one analyst, one supervisor, one admin and one disabled account.

The day's top vessels broadcast a hostile name (``<script>…``): it enters through the
vessel_static table like any AIS text, so the pages must show it as text.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from pipeline.config import Settings, load_settings
from pipeline.lake import Lake
from pipeline.workspace import Workspace
from tests.dbfixtures import pg_session_url, store, store_url  # noqa: F401

START = date(2024, 11, 20)
DAYS = [START, START + timedelta(days=1)]
HOSTILE_NAME = "<script>alert('x')</script>"
HOSTILE_VESSELS = 4
SECRET = "test-secret-" + "k" * 40
PASSWORDS = {
    "ana": ("analyst", "analyst-pass-1"),
    "sue": ("supervisor", "supervisor-pass-1"),
    "adm": ("admin", "admin-pass-0001"),
    "gone": ("analyst", "disabled-pass-1"),
}
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class WebData:
    settings: Settings
    home: Path
    days: list[date]
    hostile_mmsis: list[int]  # renamed to HOSTILE_NAME (some of them are alerted)
    stage_counts: dict[str, dict[str, Any]]

    @property
    def lake(self) -> Lake:
        return Lake(self.home / "lake")


@pytest.fixture(scope="session")
def web_data(tmp_path_factory: pytest.TempPathFactory) -> WebData:
    """The simulated, scored lake (built once per test session; the app only reads it)."""
    from pipeline.events.detect import detect_day
    from pipeline.features import features_day
    from pipeline.ingest.ais import ingest_ais
    from pipeline.ingest.incidents import ingest_incidents
    from pipeline.ingest.port_calls import ingest_port_calls
    from pipeline.labels.incidents import match_incidents, write_matches
    from pipeline.scoring.score import score_day
    from pipeline.simulate import simulate

    s = load_settings(env={"VESSEL_RISK__SIMULATE__SMUGGLING_FRACTION": "0.1"})
    home = tmp_path_factory.mktemp("web-sim")
    landing = home / "landing"
    simulate(s, "andaman-sea", START, len(DAYS), 5, landing, "parquet", vessels=100)
    lake = Lake(home / "lake")
    counts: dict[str, dict[str, Any]] = {}
    counts["ingest"] = ingest_ais(sorted(landing.glob("positions_*.parquet")), lake).as_dict()
    ingest_port_calls([landing / "port_calls.csv"], lake, s.resolve_port_call)
    ingest_incidents([landing / "incidents.csv"], lake)
    for d in DAYS:
        counts[f"detect {d}"] = detect_day(lake, s, d).as_dict()
        counts[f"features {d}"] = features_day(lake, s, d).as_dict()
        counts[f"score {d}"] = score_day(lake, s, d).as_dict()
    end = DAYS[-1] + timedelta(days=5)
    write_matches(lake, match_incidents(lake, s, DAYS[0], end), DAYS[0], end)
    # the day's top vessels rename themselves to a script tag (AIS names are free text);
    # several, because a vessel alerted the day before may be suppressed on the second day
    scores = lake.read("scores", DAYS[-1]).sort_by("rank")
    hostile = [int(m) for m in scores["mmsi"].to_pylist()[:HOSTILE_VESSELS]]
    for d in DAYS:
        static = lake.read_partition("vessel_static", d)
        mine = pc.is_in(static["mmsi"], pa.array(hostile, pa.int64()))
        names = pc.if_else(mine, pa.scalar(HOSTILE_NAME), static["name"])
        static = static.set_column(static.schema.get_field_index("name"), "name", names)
        lake.write_partition("vessel_static", d, static)
    for d in DAYS:  # stages are idempotent: the re-run picks the new name up
        features_day(lake, s, d)
        score_day(lake, s, d)
    return WebData(s, home, DAYS, hostile, counts)


def prepare_store(web_data: WebData, engine: Engine) -> Engine:
    """Alert both days into a fresh store, record the stage runs, add the four accounts."""
    from pipeline.alerts.alerting import alert_day
    from pipeline.alerts.store import record_run
    from pipeline.web.users import add_user, set_disabled

    ingest = web_data.stage_counts["ingest"]
    record_run(engine, "ingest", None, "ok", {"kind": "ais", "totals": ingest["totals"],
                                              "days": [d.isoformat() for d in web_data.days]})
    for d in web_data.days:
        for stage in ("detect", "features", "score"):
            record_run(engine, stage, d, "ok", web_data.stage_counts[f"{stage} {d}"])
        alert_day(web_data.lake, web_data.settings, engine, d)
    for name, (role, password) in PASSWORDS.items():
        add_user(engine, name, password, role, actor="test-setup")
    set_disabled(engine, "gone", True, actor="test-setup")
    return engine


@pytest.fixture
def engine(web_data: WebData, store: Engine) -> Engine:  # noqa: F811
    """A fresh store (SQLite, then PostgreSQL) with both days alerted and four accounts."""
    return prepare_store(web_data, store)


@pytest.fixture
def app(web_data: WebData, engine: Engine) -> Any:
    from pipeline.web.app import create_app

    return create_app(web_data.settings, Workspace(web_data.home), engine, secret=SECRET)


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://testserver", follow_redirects=False) as c:
        yield c


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF token"
    return match.group(1)


def login(client: TestClient, username: str) -> str:
    """Sign in as one of the test accounts; returns the session's CSRF token."""
    token = csrf_of(client.get("/login").text)
    r = client.post("/login", data={"username": username,
                                    "password": PASSWORDS[username][1],
                                    "csrf_token": token, "next": "/queue"})
    assert r.status_code == 303, r.text
    return csrf_of(client.get("/queue").text)


def alerts_of(engine: Engine, day: date) -> list[dict[str, Any]]:
    from pipeline.alerts.queries import alerts_for_day

    return alerts_for_day(engine, day)


def hostile_alert(engine: Engine, web_data: WebData) -> dict[str, Any]:
    """An alert of a vessel broadcasting the hostile name (latest day first)."""
    for day in reversed(web_data.days):
        for a in alerts_of(engine, day):
            if a["name"] == HOSTILE_NAME:
                return a
    raise AssertionError(f"no alert of the renamed vessels {web_data.hostile_mmsis}")

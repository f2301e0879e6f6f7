"""The daily report on real pipeline output (simulated Andaman Sea days, scored, alerted on
SQLite and PostgreSQL), with hostile AIS text broadcast by the top vessels: it must reach the
analyst as text, never as markup, script or spreadsheet formula."""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import shapely
from shapely.geometry import shape
from sqlalchemy import Engine

from pipeline.alerts.alerting import alert_day
from pipeline.alerts.csvsafe import TRIGGERS
from pipeline.alerts.queries import alerts_for_day, recent_runs
from pipeline.alerts.report import REPORT_FILES, write_report
from pipeline.alerts.review import review_alert
from pipeline.alerts.watchlist import add_entry
from pipeline.config import Settings
from pipeline.errors import UserError
from pipeline.lake import Lake
from pipeline.workspace import Workspace
from tests.alerts.conftest import Scored

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "var" / "test-artifacts"
# Each payload sets a page-level flag if the browser ever runs it.
NAME_XSS = "<script>window.__pwned=1</script>KM MAWAR"
DEST_XSS = '" onmouseover="window.__pwned=2" x="<img src=x onerror=window.__pwned=3>'
NAME_FORMULA = '=HYPERLINK("http://evil.example/x","OPEN")'
CALL_SIGN_FORMULA = "@SUM(1+1)"


@dataclass(frozen=True)
class Hostile:
    settings: Settings
    lake_root: Path
    day: date
    days: list[date]
    xss_mmsi: int
    formula_mmsi: int

    @property
    def lake(self) -> Lake:
        return Lake(self.lake_root)


@pytest.fixture(scope="session")
def hostile(scored_home: Scored, tmp_path_factory: pytest.TempPathFactory) -> Hostile:
    """The scored Andaman days plus their port calls and incident reports, where the two
    top vessels of the last day broadcast hostile names, a destination and a call sign
    (late in the day, so they are the latest identity); features and scores are rebuilt."""
    from pipeline.features import features_day
    from pipeline.ingest.incidents import ingest_incidents
    from pipeline.ingest.port_calls import ingest_port_calls
    from pipeline.labels.incidents import match_incidents, write_matches
    from pipeline.scoring.score import score_day

    s, days = scored_home.settings, scored_home.days
    root = tmp_path_factory.mktemp("report-lake") / "lake"
    shutil.copytree(scored_home.home / "lake", root)
    lake = Lake(root)
    landing = scored_home.home / "landing"
    ingest_port_calls([landing / "port_calls.csv"], lake, s.resolve_port_call)
    if (landing / "incidents.csv").exists():
        ingest_incidents([landing / "incidents.csv"], lake)
        write_matches(lake, match_incidents(lake, s, days[0], days[-1]), days[0], days[-1])
    day = days[-1]
    top = lake.read("scores", day).sort_by("rank")["mmsi"].to_pylist()
    xss, formula = int(top[0]), int(top[1])
    static = lake.read_partition("vessel_static", day)
    late = datetime.combine(day, time(23, 59), tzinfo=UTC)
    rows = []
    for mmsi, name, dest, cs in ((xss, NAME_XSS, DEST_XSS, None),
                                 (formula, NAME_FORMULA, "=1+2", CALL_SIGN_FORMULA)):
        mine = static.filter(pc.equal(static["mmsi"], mmsi))
        base = mine.slice(mine.num_rows - 1, 1).to_pylist()[0] if mine.num_rows else {
            "mmsi": mmsi, "source_id": "test-hostile", "source_line": 1}
        base.update(timestamp=late, name=name, destination=dest, source_line=999_999)
        if cs:
            base["call_sign"] = cs
        rows.append(base)
    extra = pa.Table.from_pylist(rows, schema=static.schema)
    lake.write_partition("vessel_static", day, pa.concat_tables([static, extra]))
    features_day(lake, s, day)
    score_day(lake, s, day)
    return Hostile(s, root, day, days, xss, formula)


@dataclass
class Written:
    hostile: Hostile
    engine: Engine
    workspace: Workspace
    summary: object
    decided_mmsi: int

    def text(self, name: str) -> str:
        return (self.workspace.report_dir(self.hostile.day) / name).read_text(encoding="utf-8-sig")


@pytest.fixture
def written(hostile: Hostile, store: Engine, tmp_path: Path) -> Written:
    """Alerts for every day (history), one earlier alert decided by an analyst, a watchlist
    entry on the hostile vessel, then the last day's report."""
    for d in hostile.days:
        alert_day(hostile.lake, hostile.settings, store, d)
    last = {a["mmsi"] for a in alerts_for_day(store, hostile.day)}
    earlier = [a for d in hostile.days[:-1] for a in alerts_for_day(store, d)
               if a["mmsi"] in last]
    assert earlier, "some vessel of the last day was alerted before"
    review_alert(store, earlier[0]["alert_id"], "ana", 1, status="in_review")
    review_alert(store, earlier[0]["alert_id"], "ana", 2, status="closed",
                 disposition="suspicious", note="<u>crew</u> list does not match")
    add_entry(store, "ana", mmsi=hostile.xss_mmsi, reason="seen with <i>known</i> facilitator", source="partner", owner="ana",
              marking="TLP:AMBER")
    alert_day(hostile.lake, hostile.settings, store, hostile.day)
    ws = Workspace.resolve(tmp_path / "home")
    summary = write_report(hostile.lake, hostile.settings, store, ws, hostile.day)
    return Written(hostile, store, ws, summary, earlier[0]["mmsi"])


def test_report_files_hold_every_alert_and_the_run_is_recorded(written: Written) -> None:
    day = written.hostile.day
    alerts = alerts_for_day(written.engine, day)
    folder = written.workspace.report_dir(day)
    assert sorted(p.name for p in folder.iterdir()) == sorted(REPORT_FILES)  # no temp files
    assert written.summary.alerts == len(alerts) > 2  # type: ignore[attr-defined]
    html = written.text("report.html")
    for a in alerts:
        assert f'id="alert-{a["alert_id"]}"' in html and str(a["mmsi"]) in html
    assert "<svg" in html and 'class="track"' in html
    runs = recent_runs(written.engine, stage="report")
    assert runs[0]["status"] == "ok" and runs[0]["counts"]["alerts"] == len(alerts)
    # the card of the vessel decided on an earlier day shows that decision in its history
    decided = written.decided_mmsi
    today = next(a for a in alerts if a["mmsi"] == decided)
    card = html.split(f'id="alert-{today["alert_id"]}"', 1)[1].split("<article", 1)[0]
    assert "closed: <b>suspicious</b> <span class=\"muted\">(ana)</span>" in card


def test_rerun_replaces_the_files(written: Written) -> None:
    day = written.hostile.day
    before = written.text("alerts.csv")
    write_report(written.hostile.lake, written.hostile.settings, written.engine,
                 written.workspace, day)
    folder = written.workspace.report_dir(day)
    assert sorted(p.name for p in folder.iterdir()) == sorted(REPORT_FILES)
    assert written.text("alerts.csv") == before  # same content: ids and order from content
    assert len(recent_runs(written.engine, stage="report")) == 2


class _Tags(HTMLParser):
    """Every element and attribute the browser would build from the page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_hostile_ais_text_is_text_in_the_html(written: Written) -> None:
    html = written.text("report.html")
    for raw in (NAME_XSS, DEST_XSS, "<u>crew</u>", "<i>known</i>"):
        assert raw not in html
    parsed = _Tags()
    parsed.feed(html)
    names = {t for t, _ in parsed.tags}
    assert not names & {"script", "img", "u", "i", "iframe", "object"}, names
    handlers = [(t, a) for t, attrs in parsed.tags for a, _ in attrs if a.startswith("on")]
    assert handlers == []
    text = "".join(parsed.text)  # what the analyst reads: the payloads, verbatim
    assert NAME_XSS in text and DEST_XSS in text
    assert "seen with <i>known</i> facilitator" in text  # watchlist reason, as text


def test_html_references_nothing_external(written: Written) -> None:
    html = written.text("report.html")
    assert re.search(r"""(src|href|action|xlink:href)\s*=\s*["']?\s*(https?:)?//""", html,
                     re.I) is None
    assert all(h.startswith("#") for h in re.findall(r'href="([^"]*)"', html))
    assert re.search(r"@import|url\(\s*['\"]?\s*(https?:)?//", html, re.I) is None
    assert re.search(r"<(script|link|iframe|object|embed|img)\b", html, re.I) is None
    assert "default-src 'none'" in html  # and the page forbids fetching anything anyway


def test_csv_cells_cannot_become_formulas(written: Written) -> None:
    rows = list(csv.DictReader(io.StringIO(written.text("alerts.csv"))))
    alerts = alerts_for_day(written.engine, written.hostile.day)
    assert [int(r["mmsi"]) for r in rows] == [a["mmsi"] for a in alerts]
    hostile = next(r for r in rows if int(r["mmsi"]) == written.hostile.formula_mmsi)
    assert hostile["name"] == "'" + NAME_FORMULA
    assert hostile["call_sign"] == "'" + CALL_SIGN_FORMULA
    assert hostile["destination"] == "'=1+2"
    for r in rows:
        for value in r.values():
            if value.startswith(TRIGGERS):  # only plain numbers (negative latitudes) may
                float(value)
    raw = (written.workspace.report_dir(written.hostile.day) / "alerts.csv").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: spreadsheets read it as UTF-8


def test_geojson_is_valid_with_one_point_per_alert(written: Written) -> None:
    def no_nan(token: str) -> float:
        raise AssertionError(f"{token} is not JSON")

    text = written.text("alerts.geojson")
    doc = json.loads(text, parse_constant=no_nan)
    assert doc["type"] == "FeatureCollection"
    alerts = alerts_for_day(written.engine, written.hostile.day)
    points = [f for f in doc["features"] if f["properties"]["kind"] == "alert"]
    tracks = [f for f in doc["features"] if f["properties"]["kind"] == "track"]
    assert [f["id"] for f in points] == [a["alert_id"] for a in alerts]
    assert tracks and {f["properties"]["alert_id"] for f in tracks} <= {a["alert_id"]
                                                                        for a in alerts}
    for f in doc["features"]:
        assert f["type"] == "Feature" and isinstance(f["properties"], dict)
        if f["geometry"] is None:
            continue
        g = shape(f["geometry"])
        assert g.is_valid and not g.is_empty
        minx, miny, maxx, maxy = shapely.bounds(g)
        assert -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90
    xss = next(f for f in points if f["properties"]["mmsi"] == written.hostile.xss_mmsi)
    assert xss["properties"]["name"] == NAME_XSS  # data stays data in GeoJSON
    assert not any(isinstance(v, float) and math.isnan(v) for f in points
                   for v in f["properties"].values())


def test_report_without_an_alert_run_says_what_to_do(hostile: Hostile, store: Engine,
                                                     tmp_path: Path) -> None:
    with pytest.raises(UserError, match="vessel-risk alert --date"):
        write_report(hostile.lake, hostile.settings, store, Workspace.resolve(tmp_path),
                     hostile.day + timedelta(days=30))
    assert recent_runs(store, stage="report")[0]["status"] == "failed"


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_report_renders_in_chromium_without_running_ais_text(written: Written) -> None:
    from playwright.sync_api import sync_playwright

    html_path = written.workspace.report_dir(written.hostile.day) / "report.html"
    alerts = alerts_for_day(written.engine, written.hostile.day)
    xss = next(a for a in alerts if a["mmsi"] == written.hostile.xss_mmsi)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync"])
        try:
            page = browser.new_page(viewport={"width": 1100, "height": 1400})
            page.on("request", lambda r: requests.append(r.url))
            page.goto(html_path.as_uri())
            page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=False)
            rows = page.locator("table.list tbody tr")
            assert rows.count() == len(alerts)
            card = page.locator(f"#alert-{xss['alert_id']}")
            assert card.locator("svg.evidence-map").count() == 1
            assert card.locator("svg.evidence-map path.track").count() >= 1
            assert NAME_XSS in card.locator("h3").inner_text()  # shown as the text it is
            assert DEST_XSS in card.locator("table.kv").inner_text()
            card.locator("table.kv").hover()
            assert page.evaluate("typeof window.__pwned") == "undefined"
            card.screenshot(path=str(ARTIFACTS / "report-alert-card.png"))
        finally:
            browser.close()
    assert requests == [html_path.as_uri()]  # nothing else was fetched

"""``vessel-risk demo`` end to end on a smaller week (2 days, 40 vessels): every stage runs,
the summary names the last report, and a second run in place duplicates nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipeline.cli import app

REPO = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _demo(home: Path, *extra: str) -> dict[str, Any]:
    result = CliRunner().invoke(app, ["--home", str(home), "demo", "--days", "2",
                                      "--vessels", "40", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in extra else {"text": result.stdout}


def _snapshot(home: Path) -> dict[str, bytes]:
    lake = home / "lake"
    return {str(p.relative_to(lake)): p.read_bytes() for p in sorted(lake.rglob("*.parquet"))}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    mp = pytest.MonkeyPatch()
    models = tmp_path_factory.mktemp("models") / "models"
    shutil.copytree(REPO / "models", models)
    mp.setenv("VESSEL_RISK__SCORING__MODELS_DIR", str(models))
    mp.setenv("VESSEL_RISK__SIMULATE__SMUGGLING_FRACTION", "0.15")
    mp.delenv("VESSEL_RISK_HOME", raising=False)
    mp.delenv("VESSEL_RISK_DB_URL", raising=False)
    home = tmp_path_factory.mktemp("demo")
    try:
        first = _demo(home, "--json")
        lake1 = _snapshot(home)
        second = _demo(home, "--json")
        lake2 = _snapshot(home)
        text = _demo(home)["text"]
    finally:
        mp.undo()
    return {"home": home, "first": first, "second": second, "lake1": lake1, "lake2": lake2,
            "text": text}


def test_every_stage_ran_for_each_day(runs: dict[str, Any]) -> None:
    first = runs["first"]
    assert [d["date"] for d in first["days"]] == ["2025-11-03", "2025-11-04"]
    for d in first["days"]:
        assert d["positions"] > 10_000 and d["vessels"] > 30
        assert {"loiter", "port_visit", "dark_gap"} <= set(d["events"])
        assert d["top_score"] is not None
    assert sum(d["alerts"] for d in first["days"]) > 0
    report = Path(first["last_report"])
    assert report.is_file() and report.parent.name == "2025-11-04"
    assert set(first["stages"]) == {"detect", "features", "score", "alert", "report"}
    # the shipped real samples were landed and ingested beside the simulated week
    ais = first["ingest"]["ais"]
    assert ais["files"] == 2 + 6 and not ais["failed"]


def test_second_run_in_place_duplicates_nothing(runs: dict[str, Any]) -> None:
    first, second = runs["first"], runs["second"]
    for kind in ("ais", "port_calls", "incidents"):
        assert second["ingest"][kind]["files"] == 0
        assert second["ingest"][kind]["already_ingested"] == first["ingest"][kind]["files"]
    assert runs["lake2"] == runs["lake1"]  # every partition the same bytes
    assert [d["alerts"] for d in second["days"]] == [d["alerts"] for d in first["days"]]
    for stage in second["stages"]["alert"]:
        assert stage["created"] == 0 and stage["removed"] == 0


def test_text_summary_names_the_last_report(runs: dict[str, Any]) -> None:
    text = runs["text"]
    assert "the week, day by day" in text and "last report:" in text
    assert "2025-11-04" in text and "report.html" in text


def test_another_fleet_in_the_same_workspace_is_refused(runs: dict[str, Any]) -> None:
    """A second simulated fleet would mix with the first in the lake: refused, with the fix."""
    from pipeline.errors import UserError

    result = CliRunner().invoke(app, ["--home", str(runs["home"]), "demo", "--days", "3",
                                      "--vessels", "40"])
    assert isinstance(result.exception, UserError)
    assert "another --home" in str(result.exception)
    assert _snapshot(runs["home"]) == runs["lake2"]

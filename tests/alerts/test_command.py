"""The alert and watchlist commands as an analyst uses them (help, JSON, errors, --as)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pipeline.cli import app
from tests.alerts.conftest import Scored

COMMANDS = [["alert"], ["alerts"], ["alerts", "list"], ["alerts", "show"], ["alerts", "review"],
            ["watchlist"], *[["watchlist", c] for c in
                             ("add", "list", "show", "update", "expire", "export", "import")]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output and ("--json" in result.output or len(command) == 1)


def test_alert_review_watchlist_flow(scored: Scored, store_url: str, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VESSEL_RISK_DB_URL", store_url)
    monkeypatch.setenv("VESSEL_RISK_USER", "ana")
    runner = CliRunner()
    home = str(scored.home)
    day = scored.days[1].isoformat()

    def cli(*args: str) -> Any:
        result = runner.invoke(app, ["--home", home, *args])
        assert result.exit_code == 0, (result.output, result.exception)
        return json.loads(result.output)

    summary = cli("alert", "--date", day, "--json")
    assert summary["alerts"] > 0 and summary["created"] == summary["alerts"]
    rows = cli("alerts", "list", "--date", day, "--json")
    assert len(rows) == summary["alerts"]
    aid = rows[0]["alert_id"]
    r = cli("alerts", "review", aid, "--status", "in_review", "--note", "=cmd|' /C calc'!A0",
            "--version", "1", "--json")
    assert (r["status"], r["version"], r["analyst"]) == ("in_review", 2, "ana")
    stale = runner.invoke(app, ["--home", home, "alerts", "review", aid, "--status", "closed",
                                "--disposition", "benign", "--version", "1", "--as", "bob"])
    assert stale.exit_code != 0 and "reload it" in str(stale.exception)
    r = cli("alerts", "review", aid, "--status", "closed", "--disposition", "benign",
            "--version", "2", "--as", "bob", "--json")
    assert (r["disposition"], r["analyst"]) == ("benign", "bob")
    shown = cli("alerts", "show", aid, "--json")
    assert [a["actor"] for a in shown["audit"]] == ["pipeline:alert", "ana", "bob"]
    assert shown["notes"][0]["text"] == "=cmd|' /C calc'!A0"
    assert cli("alerts", "list", "--date", day, "--status", "closed", "--json")[0]["alert_id"] == aid
    again = cli("alert", "--date", day, "--json")
    assert again["created"] == 0 and again["unchanged"] == summary["alerts"]

    e = cli("watchlist", "add", "--mmsi", str(rows[0]["mmsi"]), "--name", "=BAD()",
            "--reason", "confirmed smuggling", "--marking", "AMBER", "--source", "alert",
            "--source-ref", aid, "--json")
    assert e["owner"] == "ana" and e["marking"] == "TLP:AMBER"
    cli("watchlist", "add", "--imo", "9300001", "--reason", "partner tip", "--marking", "GREEN",
        "--json")
    green = tmp_path / "green.csv"
    ex = cli("watchlist", "export", "--out", str(green), "--max-marking", "GREEN", "--json")
    assert (ex["exported"], ex["withheld"]) == (1, 1)
    assert "BAD" not in green.read_text() and "9300001" in green.read_text()
    everything = tmp_path / "all.json"
    cli("watchlist", "export", "--out", str(everything), "--max-marking", "RED", "--json")
    assert {x["marking"] for x in json.loads(everything.read_text())["entries"]} == {
        "TLP:AMBER", "TLP:GREEN"}
    up = cli("watchlist", "update", e["entry_id"], "--version", "1", "--expires", "2030-01-01",
             "--json")
    assert up["version"] == 2
    cli("watchlist", "expire", e["entry_id"], "--json")
    assert [x["entry_id"] for x in cli("watchlist", "list", "--json")] != [e["entry_id"]]
    shown_e = cli("watchlist", "show", e["entry_id"], "--json")
    assert [a["action"] for a in shown_e["audit"]] == ["create", "update", "expire"]


def test_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VESSEL_RISK")}
    cmd = [sys.executable, "-m", "pipeline.cli", "--home", str(tmp_path)]
    r = subprocess.run([*cmd, "alert", "--date", "2024-13-01"], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip() == "error: --date '2024-13-01': expected a date as YYYY-MM-DD"
    r = subprocess.run([*cmd, "watchlist", "export", "--out", str(tmp_path / "x.csv"),
                        "--max-marking", "ORANGE", "--as", "ana"], capture_output=True,
                       text=True, env=env, timeout=120)
    assert r.returncode == 2 and r.stderr.startswith("error: marking 'ORANGE': expected one of")
    assert not (tmp_path / "x.csv").exists()
    r = subprocess.run([*cmd, "alerts", "review", "nope", "--version", "1", "--note", "x",
                        "--as", "ana"], capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "no alert 'nope'" in r.stderr
    assert (tmp_path / "vessel_risk.sqlite").is_file()  # the workspace's embedded store

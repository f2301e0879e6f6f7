"""The command line as a data engineer uses it: help, summaries, JSON, errors, workspace."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from pipeline.lake import Lake
from tests.conftest import DATA, NOAA_SLICE

CLI = [sys.executable, "-m", "pipeline.cli"]


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("VESSEL_RISK")}
    full_env.update(env or {})
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=full_env, cwd=cwd,
                          timeout=120)


@pytest.mark.parametrize(
    "command",
    [[], ["ingest"], ["ingest", "ais"], ["ingest", "port-calls"], ["schema"], ["lake"],
     ["lake", "status"], ["lake", "quarantine"], ["demo"], ["simulate"], ["detect"],
     ["features"], ["score"]],
)
def test_every_command_has_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0, result.stderr
    assert "Usage" in result.stdout and len(result.stdout.splitlines()) > 5


def test_ingest_json_summary_and_workspace_layout(tmp_path: Path) -> None:
    home = tmp_path / "ws"
    result = run("--home", str(home), "ingest", "ais", str(NOAA_SLICE), "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    (f,) = summary["files"]
    assert f["read"] == f["accepted"] + f["quarantined_total"] + f["duplicates"]
    assert (home / "lake" / "positions" / "date=2022-01-03" / "data.parquet").exists()
    assert Lake(home / "lake").read("positions", date(2022, 1, 3)).num_rows == f["accepted"]


def test_home_from_environment(tmp_path: Path) -> None:
    home = tmp_path / "from-env"
    result = run("ingest", "port-calls", str(DATA / "port_calls" / "sample_port_calls.csv"),
                 "--json", env={"VESSEL_RISK_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["files"][0]["accepted"] == 3
    assert (home / "lake" / "port_calls" / "date=2022-01-03" / "data.parquet").exists()


def test_errors_exit_non_zero_with_one_clear_message(tmp_path: Path) -> None:
    missing = run("--home", str(tmp_path), "ingest", "ais", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2
    assert "nope.csv: file not found; check the path" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_date = run("--home", str(tmp_path), "ingest", "ais", str(NOAA_SLICE), "--date", "03/01/2022")
    assert bad_date.returncode == 2 and "expected a date as YYYY-MM-DD" in bad_date.stderr
    bad_config = run("--config", str(tmp_path), "ingest", "ais", str(NOAA_SLICE))
    assert bad_config.returncode == 2 and "settings.yaml" in bad_config.stderr
    assert "Traceback" not in bad_config.stderr
    usage = run("ingest", "ais")
    assert usage.returncode == 2 and "Missing argument" in usage.stderr


def test_lake_status_and_quarantine_listing(tmp_path: Path) -> None:
    home = str(tmp_path)
    assert run("--home", home, "ingest", "ais", str(NOAA_SLICE)).returncode == 0
    status = json.loads(run("--home", home, "lake", "status", "--json").stdout)
    tables = {(r["table"], r["date"]) for r in status}
    assert ("positions", "2022-01-03") in tables and ("quarantine", "2022-01-03") in tables
    q = run("--home", home, "lake", "quarantine", "--date", "2022-01-03", "--rule",
            "mmsi_placeholder", "--json")
    rows = json.loads(q.stdout)
    assert rows and all(r["rule"] == "mmsi_placeholder" for r in rows)
    assert all(r["raw"].split(",")[0] in {"12345678", "999999999"} for r in rows)


def test_schema_documents_columns() -> None:
    result = run("schema", "positions")
    assert result.returncode == 0
    assert "sog_kn" in result.stdout and "not available" in result.stdout

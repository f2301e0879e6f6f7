"""docker-compose.yml, Dockerfile and .dockerignore: structure checked by parsing (no Docker
engine runs here). The compose file follows Airflow 3.3's official one: api-server,
scheduler, dag-processor, triggerer, a scalable Celery worker, PostgreSQL, Redis, an init
service; plus the review app on the same image."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
           "airflow-worker", "airflow-triggerer", "airflow-init")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return doc


def _cmd(service: dict[str, Any]) -> str:
    cmd = service.get("command", "")
    return " ".join(cmd) if isinstance(cmd, list) else str(cmd)


def test_services_and_commands(compose: dict[str, Any]) -> None:
    s = compose["services"]
    assert {*AIRFLOW, "postgres", "redis", "web"} <= set(s)
    assert _cmd(s["airflow-apiserver"]) == "api-server"
    assert _cmd(s["airflow-scheduler"]) == "scheduler"
    assert _cmd(s["airflow-dag-processor"]) == "dag-processor"
    assert _cmd(s["airflow-triggerer"]) == "triggerer"
    assert _cmd(s["airflow-worker"]) == "celery worker"
    assert s["web"]["entrypoint"] == ["vessel-risk"] and _cmd(s["web"]).startswith("serve ")
    init = _cmd(s["airflow-init"])
    assert "ensure_app_database" in init and "airflow version" in init
    assert s["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"


def test_images_builds_and_the_scalable_worker(compose: dict[str, Any]) -> None:
    s = compose["services"]
    for name in (*AIRFLOW, "web"):
        assert s[name]["build"] == {"context": ".", "dockerfile": "Dockerfile"}, name
        assert s[name]["image"].startswith("${VESSEL_RISK_IMAGE:-vessel-risk-airflow")
    assert s["postgres"]["image"].startswith("postgres:")
    assert s["redis"]["image"].startswith("redis:")
    worker = s["airflow-worker"]
    assert "container_name" not in worker and "ports" not in worker  # --scale works
    dockerfile = (REPO / "Dockerfile").read_text()
    assert dockerfile.splitlines()[[ln.startswith("FROM") for ln in
                                    dockerfile.splitlines()].index(True)].startswith(
        "FROM apache/airflow:3.3.")
    assert "-r /opt/vessel-risk/requirements.lock" in dockerfile
    for path in ("requirements.lock", "pyproject.toml", "pipeline", "config", "models", "dags"):
        assert f"COPY --chown=airflow:0 {path}" in dockerfile or f" {path} " in dockerfile, path
    ignored = (REPO / ".dockerignore").read_text().split()
    assert {".git", ".venv", "var", "tests"} <= set(ignored)
    assert not {"pipeline", "config", "models", "dags", "requirements.lock"} & set(ignored)


def test_healthchecks_and_start_order(compose: dict[str, Any]) -> None:
    s = compose["services"]
    for name in ("postgres", "redis", "airflow-apiserver", "airflow-scheduler",
                 "airflow-dag-processor", "airflow-worker", "airflow-triggerer", "web"):
        hc = s[name]["healthcheck"]
        assert hc["test"] and hc["interval"] and hc["retries"], name
    assert "/api/v2/version" in " ".join(s["airflow-apiserver"]["healthcheck"]["test"])
    assert "8974/health" in " ".join(s["airflow-scheduler"]["healthcheck"]["test"])
    for name in (*AIRFLOW, "web"):
        deps = s[name]["depends_on"]
        assert deps["postgres"]["condition"] == "service_healthy", name
        assert deps["redis"]["condition"] == "service_healthy", name
        if name != "airflow-init":
            assert deps["airflow-init"]["condition"] == "service_completed_successfully", name
    assert s["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == \
        "service_healthy"


def test_environment_celery_postgres_and_the_app_database(compose: dict[str, Any]) -> None:
    env = compose["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://")
    assert "@postgres/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].startswith("http://airflow-apiserver")
    # the app database: same server, its own database
    assert env["VESSEL_RISK_DB_URL"].startswith("postgresql+psycopg2://")
    assert env["VESSEL_RISK_DB_URL"].endswith("@postgres/vessel_risk")
    assert compose["services"]["web"]["environment"]["VESSEL_RISK_DB_URL"] == \
        env["VESSEL_RISK_DB_URL"]
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"]  # shared by api-server and workers
    worker_env = compose["services"]["airflow-worker"]["environment"]
    assert worker_env["DUMB_INIT_SETSID"] == "0"


def test_volumes_dags_config_models_workspace(compose: dict[str, Any]) -> None:
    for name in (*AIRFLOW, "web"):
        vols = compose["services"][name]["volumes"]
        targets = {v.split(":")[1]: v.split(":")[0] for v in vols}
        assert targets["/opt/airflow/dags"] == "./dags", name
        assert targets["/opt/vessel-risk/config"] == "./config", name
        assert targets["/opt/vessel-risk/models"] == "./models", name
        assert targets["/opt/vessel-risk/workspace"] == "workspace", name
        # the project's config/ is never Airflow's config folder (airflow.cfg is written there)
        assert targets["/opt/airflow/config"] != "./config", name
    env = compose["services"]["airflow-worker"]["environment"]
    assert env["VESSEL_RISK_CONFIG"] == "/opt/vessel-risk/config"
    assert env["VESSEL_RISK_HOME"] == "/opt/vessel-risk/workspace"
    assert env["VESSEL_RISK__SCORING__MODELS_DIR"] == "/opt/vessel-risk/models"
    assert {"postgres-db-volume", "workspace"} <= set(compose["volumes"])


def test_compose_dags_folder_is_this_repos_dags() -> None:
    names = {p.stem for p in (REPO / "dags").glob("*.py")}
    assert {"ingest_dags", "vessel_risk_daily", "model_retrain"} <= names


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if "==" in line and not line.lstrip().startswith("#"):
            name, version = line.split("==", 1)
            pins[name.strip().lower()] = version.strip()
    return pins


def test_the_image_lock_is_the_test_lock_without_the_dev_tools() -> None:
    """The image installs requirements.lock (what runs); make installs requirements-dev.lock
    (what runs plus the test tools): same pins for every shared package, so the tests run
    the versions the deployment gets."""
    runtime, dev = _pins(REPO / "requirements.lock"), _pins(REPO / "requirements-dev.lock")
    assert runtime and set(runtime) < set(dev)
    assert {k: dev[k] for k in runtime} == runtime
    for tool in ("pytest", "pytest-xdist", "ruff", "mypy", "playwright", "hypothesis"):
        assert tool in dev and tool not in runtime, tool
    for needed in ("apache-airflow", "pandas", "pyarrow", "geopandas", "scikit-learn", "pyais"):
        assert needed in runtime, needed

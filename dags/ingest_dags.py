"""Ingest DAGs: ``ais_ingest``, ``port_calls_ingest``, ``incidents_ingest``.

Wiring only: each run calls ``pipeline.orchestration.run_ingest`` for one landing folder and
updates the folder's lake Asset with the days it touched. Nothing heavy is imported at parse
time (``pipeline`` is imported inside the tasks).
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, Param, dag, get_current_context, task

OWNER = "vessel-risk data engineering"
# task retries (a test or a debugging session sets 0 to fail fast)
RETRIES = int(os.environ.get("VESSEL_RISK_TASK_RETRIES", "2"))
START = pendulum.datetime(2025, 1, 1, tz="UTC")

DOC = """
### `{dag_id}`: landed {what} → lake

**What it does.** Ingests every file under `<home>/landing/{kind}/` that has not been ingested
before ({formats}) into `lake/{table}/date=D/`; rows that fail a validation rule go to
`lake/quarantine/` with the rule's name. Updates the Asset `{asset}` with the days touched
(in the event's `extra["days"]`).

**Which files a run takes.** A file's partition days are what it *contains*, not its name or
its modification time. The ledger `<home>/landing/.ingested/{kind}/<sha256>.json` records
every ingested content with its days and per-file summary, so a late file is taken by the
next run, a file landed twice is taken once, and a retry or rerun changes nothing. Land files
under a temporary name (leading `.` or `.part`/`.tmp`) and rename when complete.

**Rerun.** Trigger with `reingest=true` and `date=YYYY-MM-DD` to ingest again the files whose
rows touch that day (after a rule change); ingest replaces rows by file content, so there are
never duplicates. Then rerun `vessel_risk_daily` for the day.

**When it fails.** A file that cannot be read at all fails the task with the file name and
the reason; the other files of the run are ingested. Fix or replace the file (a changed
content is taken again). Failures are recorded in the app's `runs` table (run-health page)
and mailed when `VESSEL_RISK_SMTP_URL` and `VESSEL_RISK_FAILURE_EMAIL` are set.
Run summaries: the task's XCom (`files`, `days`, `totals`, `failed`) and `vessel-risk lake status`.
"""

INGESTS: dict[str, dict[str, Any]] = {
    "ais": {"dag_id": "ais_ingest", "what": "AIS positions", "table": "positions",
            "formats": "NMEA, decoded CSV, Parquet; gzip and zip are read transparently",
            "cron": "0 * * * *"},
    "port_calls": {"dag_id": "port_calls_ingest", "what": "port-call records",
                   "table": "port_calls", "formats": "port-authority CSV",
                   "cron": "30 * * * *"},
    "incidents": {"dag_id": "incidents_ingest", "what": "incident reports",
                  "table": "incidents",
                  "formats": "incident-report CSV; the reports of the days touched are then "
                             "linked to vessels in `lake/incident_matches`",
                  "cron": "0 1 * * *"},
}


def asset_for(table: str) -> Asset:
    """The lake table an ingest DAG updates (daily runs and lineage views refer to it)."""
    return Asset(name=f"vessel_risk_{table}", uri=f"file:///vessel-risk/lake/{table}",
                 group="vessel-risk")


def on_failure(context: Any) -> None:
    """Record the failed task in the runs table and mail it when SMTP is configured."""
    from pipeline.orchestration import failure_callback

    failure_callback(context)


def build(kind: str, spec: dict[str, Any]) -> Any:
    asset = asset_for(spec["table"])

    @dag(
        dag_id=spec["dag_id"],
        description=f"Landed {spec['what']} → lake/{spec['table']}",
        schedule=CronDataIntervalTimetable(spec["cron"], timezone="UTC"),
        start_date=START,
        catchup=False,
        max_active_runs=1,  # runs of one folder never race on a partition
        tags=["vessel-risk", "ingest"],
        doc_md=DOC.format(kind=kind, asset=asset.name, **spec),
        params={
            "date": Param(None, type=["null", "string"], format="date",
                          description="With reingest: the UTC day whose files to take again."),
            "reingest": Param(False, type="boolean",
                              description="Also take again the files whose rows touch `date`."),
        },
        default_args={"owner": OWNER, "retries": RETRIES, "retry_delay": timedelta(minutes=2),
                      "on_failure_callback": on_failure},
    )
    def ingest_dag() -> None:
        @task(task_id=f"ingest_{kind}", outlets=[asset])
        def ingest() -> dict[str, Any]:
            """Ingest the new landed files (``pipeline.orchestration.run_ingest``)."""
            from pipeline.orchestration import (
                Env,
                run_day_or_none,
                run_ingest,
                run_ingest_incidents,
            )

            ctx = get_current_context()
            params = ctx["params"]
            day = run_day_or_none(ctx.get("data_interval_start"), params.get("date"))
            reingest = bool(params.get("reingest"))
            if kind == "incidents":  # and link the reports to vessels
                result = run_ingest_incidents(Env.load(), day, reingest)
            else:
                result = run_ingest(Env.load(), kind, day, reingest)
            ctx["outlet_events"][asset].extra = {"days": result.get("days", [])}
            return result

        ingest()

    return ingest_dag()


for _kind, _spec in INGESTS.items():
    globals()[_spec["dag_id"]] = build(_kind, _spec)

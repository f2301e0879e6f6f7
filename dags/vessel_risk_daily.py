"""``vessel_risk_daily``: one UTC day through detect (fanned out) → features → score → alert →
report. Wiring only; every task calls one function of ``pipeline.orchestration``."""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

import pendulum
from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

OWNER = "vessel-risk data engineering"
# task retries (a test or a debugging session sets 0 to fail fast)
RETRIES = int(os.environ.get("VESSEL_RISK_TASK_RETRIES", "2"))

DOC = """
### `vessel_risk_daily`: the day's alerts and report

**Partition.** The run for data interval `[D 00:00, D+1 00:00)` UTC processes day **D**
(`CronDataIntervalTimetable`, so the day comes from the interval, never from the clock). It
starts at D+1 00:00 UTC. A manual run takes the `date` param instead (`YYYY-MM-DD`).

**Tasks.**
1. `plan`: the day and the number of detect shards (param `shards`, else
   `$VESSEL_RISK_DETECT_SHARDS`, else 2): one job per shard.
2. `detect_shard` (mapped, one task per shard; Celery spreads them over the workers): the
   per-vessel detectors of the vessels hashed to the shard and the encounter pair search of
   one longitude tile; the part waits in `lake/_staging/detect/`.
3. `merge_detect`: encounters from the pairs, dark gaps over all vessels, then
   `lake/events/date=D` replaced atomically. Refuses, saying which shards to rerun, when a
   part is missing or stale. Any shard count gives the same events as one process.
4. `features` → `score` (the champion model in `models/`, the rule baseline before one) →
   `alert` (app database: ranked, capped, repeats suppressed, watchlist hits) → `report`
   (`<home>/reports/D/`).

**Idempotent.** Each stage replaces its day's outputs atomically; alerts have ids derived from
(mmsi, date). Rerunning a day, clearing tasks or `airflow backfill create --dag-id
vessel_risk_daily --from-date A --to-date B --max-active-runs 1 --reprocess-behavior
completed` give exactly what single runs
give. Days run in order (`max_active_runs=1`; `features` and `alert` wait for the previous
day, since they read its history): fix a failed day first, the following days then continue.
Because of that ordering Airflow asks a backfill for `--reprocess-behavior completed` (or
`failed`): days already processed are simply processed again, with the same result.

**Rerun a day.** Trigger with `{"date": "2025-11-05"}` (and `shards` if you like), or clear
the run. After re-ingesting late files of a day, rerun that day and the days after it.

**Failures.** Tasks retry twice (5 min apart). A failure is recorded in the app's `runs`
table (web app run-health page) and mailed when `VESSEL_RISK_SMTP_URL` and
`VESSEL_RISK_FAILURE_EMAIL` are set. Each task's XCom is its run summary (counts, seconds).
"""

default_args = {
    "owner": OWNER,
    "retries": RETRIES,
    "retry_delay": timedelta(minutes=5),
    "execution_timeout": timedelta(hours=2),
}


def on_failure(context: Any) -> None:
    """Record the failed task in the runs table and mail it when SMTP is configured."""
    from pipeline.orchestration import failure_callback

    failure_callback(context)


@dag(
    dag_id="vessel_risk_daily",
    description="detect (sharded) → features → score → alert → report for one UTC day",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["vessel-risk", "daily"],
    doc_md=DOC,
    params={
        "date": Param(None, type=["null", "string"], format="date",
                      description="UTC day to (re)process, YYYY-MM-DD; empty = the interval's."),
        "shards": Param(None, type=["null", "integer"], minimum=1, maximum=256,
                        description="Detect shards (mapped tasks); empty = the default."),
    },
    default_args={**default_args, "on_failure_callback": on_failure},
)
def vessel_risk_daily() -> None:
    @task
    def plan() -> list[dict[str, Any]]:
        """One detect job per shard, each naming the day (from the data interval or the date
        param) and the shard count; the later tasks read the day from the first job."""
        from pipeline.orchestration import partition_day, shard_count

        ctx = get_current_context()
        day = partition_day(ctx.get("data_interval_start"), ctx["params"].get("date"))
        n = shard_count(ctx["params"].get("shards"))
        return [{"date": day.isoformat(), "n_shards": n, "shard": k} for k in range(n)]

    @task(map_index_template="{{ shard_label }}")
    def detect_shard(job: dict[str, Any]) -> dict[str, Any]:
        from datetime import date

        from pipeline.orchestration import Env, run_detect_shard

        get_current_context()["shard_label"] = f"shard {job['shard']} of {job['n_shards']}"  # type: ignore[typeddict-unknown-key]
        return run_detect_shard(Env.load(), date.fromisoformat(job["date"]), job["shard"],
                                job["n_shards"])

    @task
    def merge_detect(p: list[dict[str, Any]], parts: list[dict[str, Any]]) -> dict[str, Any]:
        from datetime import date

        from pipeline.orchestration import Env, run_merge_detect

        return run_merge_detect(Env.load(), date.fromisoformat(p[0]["date"]), p[0]["n_shards"])

    @task(depends_on_past=True)
    def features(p: list[dict[str, Any]]) -> dict[str, Any]:
        from datetime import date

        from pipeline.orchestration import Env, run_features

        return run_features(Env.load(), date.fromisoformat(p[0]["date"]))

    @task
    def score(p: list[dict[str, Any]]) -> dict[str, Any]:
        from datetime import date

        from pipeline.orchestration import Env, run_score

        return run_score(Env.load(), date.fromisoformat(p[0]["date"]))

    @task(depends_on_past=True)
    def alert(p: list[dict[str, Any]]) -> dict[str, Any]:
        from datetime import date

        from pipeline.orchestration import Env, run_alert

        return run_alert(Env.load(), date.fromisoformat(p[0]["date"]))

    @task
    def report(p: list[dict[str, Any]]) -> dict[str, Any]:
        from datetime import date

        from pipeline.orchestration import Env, run_report

        return run_report(Env.load(), date.fromisoformat(p[0]["date"]))

    p = plan()
    parts = detect_shard.expand(job=p)
    merged = merge_detect(p, parts)
    f = features(p)
    s = score(p)
    a = alert(p)
    r = report(p)
    merged >> f >> s >> a >> r


vessel_risk_daily()

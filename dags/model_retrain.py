"""``model_retrain``: weekly (and on demand) training set → train → evaluate → promote
through the gate. Wiring only; every task calls one function of ``pipeline.orchestration``."""

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
### `model_retrain`: a challenger model, promoted only through the gate

**When.** Mondays 04:00 UTC for the week that ended (`CronDataIntervalTimetable`); trigger it
by hand for an ad-hoc retrain (params `end` = last day of the window, `days` = its length).

**Tasks.**
1. `training_set`: the labelled vessel-days of the window (features in the lake; labels from
   analysts' dispositions in the app database and matched incident reports, as configured in
   `scoring.training.label_sources`): counts, data hash. Fails, saying what to run, when the
   window has no features.
2. `train`: the calibrated gradient-boosting challenger and the logistic reference; the last
   `scoring.training.test_days` days with part of the vessels held out are scored by the
   challenger, the rules and the current champion on the same rows. The model is
   registered in `models/<model_id>/` (skops file, metadata, plots, `card.md`).
3. `evaluate`: the held-out figures and whether they meet the quality target. **The model
   card and the plots are in this task's XCom (`model_card`, `plots`) and in its log.**
4. `promote`: through the gate only (beats the champion's PR-AUC on the same window by
   `scoring.training.promotion_margin`, or no champion yet). A refusal is a normal outcome
   (XCom `promoted: false` with the reason), not a failure. To override, an ML engineer runs
   `vessel-risk models promote <id> --force --reason ...` (recorded in the index history).

**Idempotent.** The model id is a hash of the features, settings and training data: a rerun
on the same window registers the same model again.

**Failures.** Retries once; failures are recorded in the app's `runs` table and mailed when
`VESSEL_RISK_SMTP_URL` and `VESSEL_RISK_FAILURE_EMAIL` are set.
"""


def on_failure(context: Any) -> None:
    """Record the failed task in the runs table and mail it when SMTP is configured."""
    from pipeline.orchestration import failure_callback

    failure_callback(context, with_day=False)


@dag(
    dag_id="model_retrain",
    description="training set → train → evaluate → promote (gated)",
    schedule=CronDataIntervalTimetable("0 4 * * 1", timezone="UTC"),
    start_date=pendulum.datetime(2025, 1, 6, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["vessel-risk", "model"],
    doc_md=DOC,
    params={
        "end": Param(None, type=["null", "string"], format="date",
                     description="Last day of the training window; empty = the interval's."),
        "days": Param(60, type="integer", minimum=2, maximum=3660,
                      description="Days in the training window."),
    },
    default_args={"owner": OWNER, "retries": RETRIES, "retry_delay": timedelta(minutes=10),
                  "execution_timeout": timedelta(hours=3), "on_failure_callback": on_failure},
)
def model_retrain() -> None:
    @task
    def training_set() -> dict[str, Any]:
        from datetime import UTC

        from pipeline.orchestration import Env, run_training_set, training_window

        ctx = get_current_context()
        params = ctx["params"]
        end_param = params.get("end")
        if end_param:
            from pipeline.orchestration import partition_day

            end = partition_day(None, end_param)
        else:
            interval_end = ctx.get("data_interval_end")
            if interval_end is None:
                from pipeline.errors import UserError

                raise UserError("this run has no data interval: trigger it with end=YYYY-MM-DD")
            end = (interval_end.astimezone(UTC) - timedelta(days=1)).date()
        start, end = training_window(end, int(params["days"]))
        return {"start": start.isoformat(), "end": end.isoformat(),
                **run_training_set(Env.load(), start, end)}

    @task
    def train(ts: dict[str, Any]) -> dict[str, Any]:
        from datetime import date

        from pipeline.orchestration import Env, run_train

        return run_train(Env.load(), date.fromisoformat(ts["start"]),
                         date.fromisoformat(ts["end"]))

    @task
    def evaluate(trained: dict[str, Any]) -> dict[str, Any]:
        import logging

        from pipeline.orchestration import Env, run_evaluate

        result = run_evaluate(Env.load(), trained["model_id"])
        log = logging.getLogger("airflow.task")
        log.info("model card: %s", result["model_card"])
        for plot in result["plots"]:
            log.info("plot: %s", plot)
        return result

    @task
    def promote(evaluated: dict[str, Any]) -> dict[str, Any]:
        from pipeline.orchestration import Env, run_promote

        return run_promote(Env.load(), evaluated["model_id"])

    promote(evaluate(train(training_set())))


model_retrain()

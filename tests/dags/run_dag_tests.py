"""Run in a subprocess by test_dag_run.py (AIRFLOW_HOME is set before airflow is imported):
``dag.test()`` the three ingest DAGs, then ``vessel_risk_daily`` for each day given, with the
shard count given; prints the run and task states as JSON on the last line."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.dag_processing.dagbag import DagBag
from airflow.utils import db

folder, shards, days = Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
db.initdb()
bag = DagBag(dag_folder=str(folder))
assert not bag.import_errors, bag.import_errors
out: dict = {"runs": []}


def run(dag_id: str, logical: datetime, conf: dict | None = None) -> None:
    dr = bag.dags[dag_id].test(logical_date=logical, run_conf=conf)
    tis = {f"{ti.task_id}[{ti.map_index}]" if ti.map_index >= 0 else ti.task_id: str(ti.state)
           for ti in dr.get_task_instances()}
    out["runs"].append({"dag_id": dag_id, "logical_date": logical.isoformat(),
                        "state": str(dr.state), "tasks": tis})


first = datetime.fromisoformat(days[0]).replace(tzinfo=UTC)
for dag_id in ("ais_ingest", "port_calls_ingest", "incidents_ingest"):
    run(dag_id, first)
for d in days:
    # the partition comes from the data interval [D, D+1), whose run is due at D+1 00:00:
    # no date param
    due = datetime.fromisoformat(d).replace(tzinfo=UTC) + timedelta(days=1)
    run("vessel_risk_daily", due, {"shards": shards})
print(json.dumps(out))

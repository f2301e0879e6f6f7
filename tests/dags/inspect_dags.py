"""Run in a subprocess by test_dagbag.py: parse the dags folder, time each file, describe
every DAG as JSON on stdout. (Airflow is imported here only, with AIRFLOW_HOME already set.)"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import airflow.sdk  # noqa: F401  (the DAG processor has it imported before it parses a file)
from airflow.dag_processing.dagbag import DagBag

folder = Path(sys.argv[1])
out: dict = {"files": {}, "import_errors": {}, "dags": {}, "heavy_modules": []}
before = set(sys.modules)
for path in sorted(folder.glob("*.py")):
    t0 = time.perf_counter()
    bag = DagBag(dag_folder=str(path))
    out["files"][path.name] = {"seconds": time.perf_counter() - t0, "dags": sorted(bag.dags)}
    out["import_errors"].update({str(k): str(v) for k, v in bag.import_errors.items()})
    for dag_id, dag in bag.dags.items():
        tasks = {}
        for t in dag.tasks:
            tasks[t.task_id] = {
                "retries": t.retries, "owner": t.owner,
                "on_failure_callback": bool(t.on_failure_callback),
                "depends_on_past": t.depends_on_past,
                "outlets": [getattr(a, "name", str(a)) for a in t.outlets],
                "upstream": sorted(t.upstream_task_ids),
                "mapped": any(c.__name__ == "MappedOperator" for c in type(t).__mro__),
            }
        out["dags"][dag_id] = {
            "file": path.name, "tags": sorted(dag.tags), "doc_md": dag.doc_md or "",
            "timetable": type(dag.timetable).__name__,
            "max_active_runs": dag.max_active_runs, "catchup": dag.catchup,
            "params": sorted(dag.params.keys()), "tasks": tasks,
        }
# parse time must not pull the pipeline or the data stack in
heavy = ("pipeline", "pandas", "pyarrow", "sklearn", "geopandas", "shapely")
out["heavy_modules"] = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in heavy)
print(json.dumps(out))

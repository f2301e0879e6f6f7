"""``vessel-risk report --date D`` (registered in pipeline/cli.py by ``_register_report``)."""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from typing import Annotated

import typer
from rich.console import Console

from pipeline.errors import parse_date


def report_cmd(
    ctx: typer.Context,
    day: Annotated[str, typer.Option("--date", help="UTC day of the alert list, YYYY-MM-DD.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable summary.")]
    = False,
) -> None:
    """Write the day's report to <home>/reports/D/: report.html (self-contained: ranked list,
    reasons, identity, history and a 48 h map per alert), alerts.csv and alerts.geojson.

    Run `vessel-risk alert --date D` first. Prints the path of report.html.
    """
    from pipeline.alerts.report import write_report
    from pipeline.alerts.store import database_url, open_store
    from pipeline.lake import Lake

    d = parse_date(day, "--date")
    c = ctx.obj
    settings, workspace = c.settings, c.workspace
    engine = open_store(database_url(settings, workspace))
    err = Console(stderr=True)
    status = nullcontext() if as_json else err.status(f"writing the report of {d}")
    with status:
        summary = write_report(Lake(workspace.lake), settings, engine, workspace, d)
    if as_json:
        sys.stdout.write(json.dumps(summary.as_dict(), indent=2) + "\n")
        return
    out = Console(width=None if sys.stdout.isatty() else 175)
    out.print(f"report {d}: {summary.alerts} alert(s), {summary.watchlist_hits} watchlist "
              f"hit(s), {summary.maps} map(s) in {summary.seconds:.1f} s", highlight=False)
    out.print(f"csv:     {summary.directory / 'alerts.csv'}", highlight=False, markup=False)
    out.print(f"geojson: {summary.directory / 'alerts.geojson'}", highlight=False, markup=False)
    sys.stdout.write(f"{summary.html}\n")


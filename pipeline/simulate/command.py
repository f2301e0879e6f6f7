"""The ``vessel-risk simulate`` command (registered in pipeline/cli.py by the lead)."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.errors import UserError


def simulate_cmd(
    ctx: typer.Context,
    region: Annotated[str, typer.Option("--region", help="Region id from the config, e.g. south-indonesia.")],
    start: Annotated[str, typer.Option("--start", help="First UTC day, YYYY-MM-DD.")],
    days: Annotated[int, typer.Option("--days", help="Number of days to simulate.", min=1)],
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same files.")],
    out: Annotated[Path, typer.Option("--out", help="Output directory (created if needed).")],
    fmt: Annotated[
        str, typer.Option("--format", help="Positions format: csv (MarineCadastre), nmea or parquet.")
    ] = "csv",
    vessels: Annotated[
        int | None, typer.Option("--vessels", help="Fleet size (default: simulate.vessels).", min=1)
    ] = None,
    positions_per_day: Annotated[
        int | None,
        typer.Option("--positions-per-day", help="Target positions a day; sets the fleet size.",
                     min=1),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a machine-readable summary.")] = False,
) -> None:
    """Simulate a region's AIS traffic with hidden smuggling scenarios and ground truth.

    Writes one positions_YYYY-MM-DD file per day (csv, nmea or parquet) into --out.

    Also writes port_calls.csv, incidents.csv and ground_truth/ (never read by the pipeline).

    Deterministic for a seed; --vessels or --positions-per-day scale it to 10 M positions a day.
    """
    from pipeline.simulate.engine import simulate

    try:
        day0 = date.fromisoformat(start)
    except ValueError as exc:
        raise UserError(f"--start {start!r}: expected a date as YYYY-MM-DD") from exc
    settings = ctx.obj.settings
    err = Console(stderr=True)
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total} days"), TimeElapsedColumn(),
                  console=err, transient=True, disable=as_json) as progress:
        task = progress.add_task(f"simulate {region}", total=days)

        def tick(d: date) -> None:
            progress.update(task, description=f"simulate {region} {d.isoformat()}", advance=1)

        result = simulate(settings, region, day0, days, seed, out, fmt, vessels=vessels,
                          positions_per_day=positions_per_day, progress=tick)
    if as_json:
        sys.stdout.write(json.dumps(result.as_dict(), indent=2) + "\n")
        return
    console = Console()
    t = Table(title=f"simulate {region} {day0} +{days}d seed {seed}", header_style="bold")
    t.add_column("what")
    t.add_column("count", justify="right")
    for kind, n in result.vessels_by_kind.items():
        t.add_row(f"vessels: {kind}", f"{n:,}")
    t.add_row("positions", f"{result.positions:,}")
    for kind, n in result.scenarios.items():
        t.add_row(f"smuggling scenario: {kind}", f"{n:,}")
    t.add_row("port calls", f"{result.port_calls:,}")
    t.add_row("incident reports", f"{result.incidents:,}")
    console.print(t)
    ft = Table(title=f"files written to {out}", header_style="bold")
    for col in ("file", "records", "duplicates", "invalid (quarantined on ingest)"):
        ft.add_column(col, justify="left" if col == "file" else "right")
    for f in result.files:
        ft.add_row(f.path.name, f"{f.records:,}", f"{f.duplicates:,}", f"{f.quarantined_total:,}")
    for name in ("port_calls.csv", "incidents.csv", "ground_truth/vessel_days.csv",
                 "ground_truth/events.csv", "ground_truth/vessels.csv"):
        ft.add_row(name, "", "", "")
    console.print(ft)

"""``vessel-risk``: the command line. Every stage is one command calling one pipeline function;
the Airflow DAGs call the same functions. Summaries print as rich tables, or as JSON on
stdout with ``--json``; errors print one message and exit with status 2.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.errors import UserError, parse_date
from pipeline.workspace import Workspace

app = typer.Typer(
    help="vessel-risk: maritime vessel risk scoring for Port Intelligence Units.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
ingest_app = typer.Typer(help="Ingest landed files into the lake.", no_args_is_help=True)
lake_app = typer.Typer(help="Inspect the lake.", no_args_is_help=True)
labels_app = typer.Typer(help="Labels: incident reports linked to vessels.", no_args_is_help=True)
app.add_typer(ingest_app, name="ingest")
app.add_typer(lake_app, name="lake")
app.add_typer(labels_app, name="labels")

# wide enough for the summary tables when output goes to a file or a CI log
console = Console(stderr=False, width=None if sys.stdout.isatty() else 175)
err_console = Console(stderr=True, width=None if sys.stderr.isatty() else 175)


@dataclass
class Context:
    home: str | None
    config: str | None

    @property
    def workspace(self) -> Workspace:
        if self.home:
            return Workspace.resolve(self.home)
        if os.environ.get("VESSEL_RISK_HOME"):
            return Workspace.resolve(None)
        return Workspace.resolve(self.settings.workspace.home)

    @property
    def settings(self) -> Any:
        from pipeline.config import load_settings

        return load_settings(Path(self.config) if self.config else None)

    def lake(self) -> Any:
        from pipeline.lake import Lake

        return Lake(self.workspace.lake)


@app.callback()
def main_callback(
    ctx: typer.Context,
    home: Annotated[
        str | None,
        typer.Option("--home", help="Workspace root (default: $VESSEL_RISK_HOME, else ./var)."),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config", help="Config directory (default: $VESSEL_RISK_CONFIG, else the repo's config/)."
        ),
    ] = None,
) -> None:
    ctx.obj = Context(home=home, config=config)


def _parse_date(value: str | None, option: str) -> date | None:
    return None if value is None else parse_date(value, option)


def _required_date(value: str) -> date:
    d = _parse_date(value, "--date")
    if d is None:
        raise UserError("--date is required (YYYY-MM-DD)")
    return d


def _print_ingest(summary: Any, title: str) -> None:
    table = Table(title=title, header_style="bold")
    table.add_column("file", max_width=36, no_wrap=True, overflow="ellipsis")
    table.add_column("format", no_wrap=True)
    # AIS: accepted positions whose time is only --date (kept out of tracks)
    dated = any(hasattr(f, "date_only") for f in summary.files)
    counts = ("read", "accepted", *(("date only",) if dated else ()), "other types",
              "quarantined", "duplicates", "vessels")
    for col in counts:
        table.add_column(col, justify="right", no_wrap=True, min_width=max(9, len(col)))
    table.add_column("time span (UTC)", no_wrap=True)
    for f in summary.files:
        if f.error:
            table.add_row(f.file, "[red]error[/]", *[""] * (len(counts) + 1))
            continue
        span = "-"
        if f.start and f.end:
            end = f"{f.end:%H:%M}" if f.start.date() == f.end.date() else f"{f.end:%Y-%m-%d %H:%M}"
            span = f"{f.start:%Y-%m-%d %H:%M} → {end}"
        date_only = (f"{getattr(f, 'date_only', 0):,}",) if dated else ()
        table.add_row(
            f.file, f.format, f"{f.read:,}", f"{f.accepted:,}", *date_only, f"{f.other_types:,}",
            f"{f.quarantined_total:,}", f"{f.duplicates:,}", f"{f.vessels:,}", span,
        )
    console.print(table)
    rules: dict[str, int] = {}
    for f in summary.files:
        for rule, n in f.quarantined.items():
            rules[rule] = rules.get(rule, 0) + n
    if rules:
        qt = Table(title="Quarantined by rule", header_style="bold")
        qt.add_column("rule")
        qt.add_column("rows", justify="right")
        for rule, n in sorted(rules.items(), key=lambda kv: -kv[1]):
            qt.add_row(rule, f"{n:,}")
        console.print(qt)
    for tbl, days in summary.partitions.items():
        ordered = sorted(set(days))
        span = ordered[0] if len(ordered) == 1 else f"{ordered[0]} … {ordered[-1]}"
        console.print(f"[green]wrote[/] lake/{tbl}: {len(ordered)} partition(s), {span}")


def _progress() -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(), console=err_console, transient=True,
    )


def _emit(summary: Any, as_json: bool, title: str) -> None:
    if as_json:
        sys.stdout.write(json.dumps(summary.as_dict(), indent=2, default=str) + "\n")
    else:
        _print_ingest(summary, title)
    for f in summary.files:  # e.g. most positions of a file have only the --date
        for text in getattr(f, "warnings", []):
            err_console.print(f"[yellow]warning:[/] {text}")
    if summary.failed:
        for f in summary.failed:
            err_console.print(f"[red]error:[/] {f.error}")
        raise typer.Exit(2)


PathsArg = Annotated[list[str], typer.Argument(help="Files to ingest (gzip and zip are read transparently).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")]


@ingest_app.command("ais")
def ingest_ais_cmd(
    ctx: typer.Context,
    paths: PathsArg,
    day: Annotated[
        str | None,
        typer.Option("--date", help="UTC date for NMEA sentences that carry no time (YYYY-MM-DD)."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Ingest AIS: raw NMEA, decoded CSV (MarineCadastre, DMA, configured layouts) or Parquet."""
    from pipeline.ingest.ais import ZdaClock, ingest_ais
    from pipeline.ingest.csv_ais import layout_from_mapping

    c: Context = ctx.obj
    default_date = _parse_date(day, "--date")
    settings = c.settings
    layouts = tuple(
        layout_from_mapping(name, dict(m)) for name, m in settings.ingest.csv_mappings.items()
    )
    with _progress() as progress:
        task = progress.add_task("ingest", total=len(paths))

        def tick(name: str) -> None:
            progress.update(task, description=f"ingest {name}", advance=1)

        summary = ingest_ais(
            paths, c.lake(), default_date=default_date,
            tolerance_h=settings.ingest.future_timestamp_tolerance_h, layouts=layouts,
            max_raw_chars=settings.ingest.max_raw_chars, progress=tick,
            zda_clock=ZdaClock(settings.ingest.nmea_zda_clock_max_gap_s,
                               settings.ingest.nmea_zda_clock_max_lines),
        )
    _emit(summary, as_json, "AIS ingest")


@ingest_app.command("port-calls")
def ingest_port_calls_cmd(ctx: typer.Context, paths: PathsArg, as_json: JsonOpt = False) -> None:
    """Ingest port-authority call records (CSV format in the README)."""
    from pipeline.ingest.port_calls import ingest_port_calls

    c: Context = ctx.obj
    settings = c.settings
    summary = ingest_port_calls(paths, c.lake(), settings.resolve_port_call,
                                settings.ingest.max_raw_chars)
    _emit(summary, as_json, "Port-call ingest")


@ingest_app.command("incidents")
def ingest_incidents_cmd(ctx: typer.Context, paths: PathsArg, as_json: JsonOpt = False) -> None:
    """Ingest incident reports (CSV format in the README) into lake/incidents."""
    from pipeline.ingest.incidents import ingest_incidents

    c: Context = ctx.obj
    settings = c.settings
    summary = ingest_incidents(paths, c.lake(), settings.ingest.max_raw_chars)
    _emit(summary, as_json, "Incident ingest")


@labels_app.command("match")
def labels_match_cmd(
    ctx: typer.Context,
    start: Annotated[str, typer.Option("--start", help="First incident date (YYYY-MM-DD).")],
    end: Annotated[str, typer.Option("--end", help="Last incident date (YYYY-MM-DD).")],
    as_json: JsonOpt = False,
) -> None:
    """Link the incident reports dated from --start to --end to vessels (lake/incident_matches)."""
    from pipeline.labels.incidents import match_incidents, write_matches

    c: Context = ctx.obj
    d0, d1 = _parse_date(start, "--start"), _parse_date(end, "--end")
    assert d0 is not None and d1 is not None
    if d1 < d0:
        raise UserError(f"--end {d1} is before --start {d0}")
    lake = c.lake()
    matches = match_incidents(lake, c.settings, d0, d1)
    write_matches(lake, matches, d0, d1)
    frame = matches.to_pandas()
    if as_json:
        sys.stdout.write(frame.to_json(orient="records", indent=2, date_format="iso") + "\n")
        return
    t = Table(title=f"incident matches {d0} … {d1}", header_style="bold")
    for col in ("incident_date", "mmsi", "match_method", "confidence", "outcome", "place",
                "reporting_agency", "source_file", "source_line"):
        t.add_column(col, overflow="fold")
    for r in frame.itertuples(index=False):  # report text is untrusted: escaped
        t.add_row(str(r.incident_date), "-" if pd_isna(r.mmsi) else str(r.mmsi),
                  r.match_method, f"{r.confidence:.2f}", r.outcome, escape(str(r.place or "-")),
                  escape(str(r.reporting_agency or "-")), escape(r.source_file),
                  str(r.source_line))
    console.print(t)
    unmatched = int((frame["match_method"] == "unmatched").sum())
    console.print(f"{frame['incident_id'].nunique():,} reports, {unmatched:,} unmatched")


def pd_isna(value: Any) -> bool:
    """True for None, NaN and pandas NA (an unmatched report's mmsi)."""
    import pandas as pd

    return bool(pd.isna(value))


DateOpt = Annotated[str, typer.Option("--date", help="The UTC day to process (YYYY-MM-DD).")]


@app.command("detect")
def detect_cmd(
    ctx: typer.Context,
    day: DateOpt,
    shards: Annotated[
        int, typer.Option("--shards", min=1, help="Process per-vessel detectors in N MMSI shards.")
    ] = 1,
    as_json: JsonOpt = False,
) -> None:
    """Detect behaviour events of one day (reads the day before too) into lake/events."""
    from pipeline.events.detect import detect_day

    c: Context = ctx.obj
    d = _required_date(day)
    with _progress() as progress:
        progress.add_task(f"detect {d}", total=None)
        summary = detect_day(c.lake(), c.settings, d, n_shards=shards)
    if as_json:
        sys.stdout.write(json.dumps(summary.as_dict(), indent=2) + "\n")
        return
    t = Table(title=f"events {d}: {summary.vessels:,} vessels, {summary.positions:,} positions, "
                    f"{summary.glitches:,} glitches removed", header_style="bold")
    t.add_column("event type")
    t.add_column("events", justify="right")
    t.add_column("seconds", justify="right")
    for kind, n in sorted(summary.events.items()):
        t.add_row(kind, f"{n:,}", f"{summary.seconds.get(kind, 0):.2f}")
    console.print(t)
    console.print(f"{summary.open_events:,} events still open at the end of the day")


@app.command("features")
def features_cmd(ctx: typer.Context, day: DateOpt, as_json: JsonOpt = False) -> None:
    """Build one row of features per vessel active on the day into lake/features."""
    from pipeline.features import features_day

    c: Context = ctx.obj
    d = _required_date(day)
    summary = features_day(c.lake(), c.settings, d)
    if as_json:
        sys.stdout.write(json.dumps(summary.as_dict(), indent=2) + "\n")
        return
    console.print(f"features {d}: {summary.vessels:,} vessels in {summary.seconds:.1f} s")


@app.command("score")
def score_cmd(
    ctx: typer.Context,
    day: DateOpt,
    top: Annotated[int, typer.Option("--top", min=1, help="Vessels to list.")] = 10,
    as_json: JsonOpt = False,
) -> None:
    """Score every vessel of the day (rule baseline until a model is promoted) into lake/scores."""
    from pipeline.scoring.score import score_day

    c: Context = ctx.obj
    summary = score_day(c.lake(), c.settings, _required_date(day), top_n=top)
    if as_json:
        sys.stdout.write(json.dumps(summary.as_dict(), indent=2, default=str) + "\n")
        return
    _print_scores(summary)


def _print_scores(summary: Any) -> None:
    t = Table(title=f"top vessels on {summary.day} ({summary.vessels:,} scored by "
                    f"{summary.model_id})", header_style="bold", show_lines=True)
    for col, just in (("rank", "right"), ("mmsi", "right"), ("name", "left"),
                      ("score", "right"), ("why", "left")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    for r in summary.top:  # AIS text (names, reasons quoting it) is untrusted: escaped
        why = "\n".join(escape(x) for x in r["reasons"]) or "-"
        t.add_row(str(r["rank"]), str(r["mmsi"]), escape(r.get("name") or "-"),
                  f"{r['score']:.2f}", why)
    console.print(t)
    if getattr(summary, "champion_refused", None):
        err_console.print(f"[red]champion refused:[/] {escape(summary.champion_refused)}")
    _print_drift(getattr(summary, "drift", None) or {})


def _print_drift(drift: dict[str, Any], top: int = 5) -> None:
    """The drift section of a scoring run: PSI of the most shifted features."""
    if not drift.get("reference"):
        console.print(f"drift: {drift.get('note', 'not computed')}")
        return
    flagged = drift.get("flagged") or []
    t = Table(title=f"drift: last days {drift['recent']} vs training {drift['reference']} "
                    f"({len(flagged)} feature(s) above PSI {drift['threshold']})",
              header_style="bold")
    for col in ("feature", "PSI", ""):
        t.add_column(col)
    for r in drift.get("features", [])[:top]:
        t.add_row(r["feature"], f"{r['psi']:.3f}", "[red]drift[/]" if r["flagged"] else "")
    console.print(t)
    skipped = drift.get("not_compared")
    if skipped:
        console.print(f"not compared: {', '.join(skipped['features'])} ({skipped['why']})")


@app.command("schema")
def schema_cmd(
    table: Annotated[str | None, typer.Argument(help="Lake table; all tables when omitted.")] = None,
) -> None:
    """Print the columns of the lake tables with their types and meaning."""
    from pipeline.schemas import TABLES, describe

    names = [table] if table else list(TABLES)
    for name in names:
        if name not in TABLES:
            raise UserError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}")
        t = Table(title=f"lake/{name}", header_style="bold")
        for col in ("column", "type", "meaning"):
            t.add_column(col)
        for col, typ, doc in describe(name):
            t.add_row(col, typ, doc)
        console.print(t)


@lake_app.command("status")
def lake_status_cmd(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Partitions per table with their row counts."""
    import pyarrow.parquet as pq

    from pipeline.schemas import TABLES

    c: Context = ctx.obj
    lake = c.lake()
    rows = []
    for name in TABLES:
        for d in lake.dates(name):
            with lake.fs.open_input_file(lake.partition_path(name, d)) as fh:
                n = pq.ParquetFile(fh).metadata.num_rows
            rows.append({"table": name, "date": d.isoformat(), "rows": n})
        if lake.has_partition(name, None):
            rows.append({"table": name, "date": "undated", "rows": lake.read_partition(name, None).num_rows})
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    t = Table(title=f"lake at {c.workspace.lake}", header_style="bold")
    for col in ("table", "date", "rows"):
        t.add_column(col, justify="right" if col == "rows" else "left")
    for r in rows:
        t.add_row(r["table"], r["date"], f"{r['rows']:,}")
    console.print(t)


@lake_app.command("quarantine")
def lake_quarantine_cmd(
    ctx: typer.Context,
    day: Annotated[str, typer.Option("--date", help="UTC date (YYYY-MM-DD) or 'undated'.")],
    rule: Annotated[str | None, typer.Option("--rule", help="Only rows rejected by this rule.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Rows to show.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Show quarantined rows of one day: file, line, rule, detail and the raw text."""
    c: Context = ctx.obj
    d = None if day == "undated" else _parse_date(day, "--date")
    frame = c.lake().read_partition("quarantine", d).to_pandas()
    if rule:
        frame = frame[frame["rule"] == rule]
    frame = frame.head(limit)
    if as_json:
        sys.stdout.write(frame.to_json(orient="records", indent=2) + "\n")
        return
    t = Table(title=f"quarantine {day}", header_style="bold")
    for col in ("source_file", "source_line", "rule", "detail", "raw"):
        t.add_column(col, overflow="fold")
    for r in frame.itertuples(index=False):
        t.add_row(r.source_file, str(r.source_line), r.rule, r.detail or "", (r.raw or "")[:120])
    console.print(t)


@app.command("demo")
def demo_cmd(
    ctx: typer.Context,
    days: Annotated[int, typer.Option("--days", min=1, help="Days to simulate.")] = 7,
    vessels: Annotated[
        int | None, typer.Option("--vessels", min=1, help="Fleet size (default: simulate.vessels).")
    ] = None,
    land_only: Annotated[bool, typer.Option(
        "--land-only", help="Only simulate and land the files (a deployment's DAGs do the rest)."
    )] = False,
    as_json: JsonOpt = False,
) -> None:
    """Simulate a week of south-indonesia, land it with the shipped real samples and run every
    stage for each day (ingest, detect, features, score, alert, report) through the functions
    the Airflow DAGs call: the whole product in the workspace (default ./var). Runs again in
    place without duplicating anything."""
    from pipeline.demo import DemoSpec, run_demo

    c: Context = ctx.obj
    spec = DemoSpec(days=days, vessels=vessels)
    with _progress() as progress:
        task = progress.add_task("demo", total=None)
        result = run_demo(c.settings, c.workspace, spec,
                          progress=lambda msg: progress.update(task, description=msg),
                          land_only=land_only)
    if as_json:
        sys.stdout.write(json.dumps(result.as_dict(), indent=2, default=str) + "\n")
        return
    if land_only:
        console.print(f"landed {spec.days} simulated days under {c.workspace.landing}; "
                      f"trigger the ingest DAGs, then backfill vessel_risk_daily from "
                      f"{spec.start} to {spec.day_list[-1]} (README: Deployment)")
        return
    sim = result.simulation
    console.print(
        f"simulated {sim['days']} days of {sim['region']} from {sim['start']}: "
        f"{sum(sim['vessels_by_kind'].values())} vessels, "
        f"{sum(sim['scenarios'].values())} smuggling scenarios hidden inside"
    )
    for kind, r in result.ingest.items():
        console.print(f"ingest {kind}: {r.get('files', 0)} new file(s), "
                      f"{r.get('already_ingested', 0)} already ingested, "
                      f"{r.get('totals', {}).get('accepted', 0):,} rows accepted")
    kinds = sorted({k for d in result.days for k in d.events})
    t = Table(title="the week, day by day", header_style="bold")
    for col in ("day", "positions", "vessels", *kinds, "alerts", "top score"):
        t.add_column(col, justify="left" if col == "day" else "right")
    for d in result.days:
        t.add_row(d.day.isoformat(), f"{d.positions:,}", f"{d.vessels:,}",
                  *(f"{d.events.get(k, 0):,}" for k in kinds), f"{d.alerts:,}",
                  "-" if d.top_score is None else f"{d.top_score:.2f}")
    console.print(t)
    scored = result.stages.get("score", [])
    if scored:  # the busiest day's top vessels and why, as `vessel-risk score` prints them
        def top_score(r: dict[str, Any]) -> float:
            return max((float(t["score"]) for t in r.get("top", [])), default=0.0)

        best: dict[str, Any] = max(scored, key=top_score)
        busiest = dict(best)
        busiest["day"] = busiest.pop("date", "-")
        _print_scores(SimpleNamespace(**busiest))
        day_report = next((d.report for d in result.days
                           if d.day.isoformat() == busiest["day"] and d.report), None)
        if day_report:
            console.print(f"its report:  {day_report}")
    models = sorted({str(r.get("model_id")) for r in scored})
    console.print(f"scored by:   {', '.join(models) or '-'}  (the champion in models/, or the "
                  "rule baseline before one is promoted)")
    console.print(f"\nworkspace:   {result.workspace.home}  ({result.seconds:.0f} s)")
    console.print(f"last report: {result.last_report or '-'}")
    from pipeline.web.users import DEMO_PASSWORD, DEMO_USERNAME

    console.print(f"next: `vessel-risk --home {result.workspace.home} serve --demo-user` to "
                  "review the alerts in the browser at http://127.0.0.1:8080/ "
                  f"(login {DEMO_USERNAME} / {DEMO_PASSWORD})")


def _register_simulate() -> None:
    from pipeline.simulate.command import simulate_cmd

    app.command("simulate")(simulate_cmd)


_register_simulate()


def _register_models() -> None:
    from pipeline.scoring.command import register

    register(app)


_register_models()


def _register_alerts() -> None:
    from pipeline.alerts.command import alert_cmd, alerts_app, watchlist_app

    app.command("alert")(alert_cmd)
    app.add_typer(alerts_app, name="alerts")
    app.add_typer(watchlist_app, name="watchlist")


_register_alerts()


def _register_report() -> None:
    from pipeline.alerts.report_command import report_cmd

    app.command("report")(report_cmd)


_register_report()


def _register_web() -> None:
    from pipeline.web.command import register

    register(app)


_register_web()


def main() -> None:
    """Entry point: run the app and turn user errors into one clear message."""
    from pipeline.config import ConfigError

    try:
        code = app(standalone_mode=False)  # click returns the code of typer.Exit here
        if isinstance(code, int) and code:
            sys.exit(code)
    except (UserError, ConfigError) as exc:
        err_console.print(f"error: {exc}", style="red", highlight=False, markup=False)
        sys.exit(2)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as exc:  # usage errors (typer's vendored click) arrive here
        show = getattr(exc, "show", None)
        if callable(show) and isinstance(getattr(exc, "exit_code", None), int):
            show()
            sys.exit(exc.exit_code)  # type: ignore[attr-defined]
        raise


if __name__ == "__main__":
    main()

"""``vessel-risk train``, ``evaluate`` and ``models list|show|promote`` (registered in
pipeline/cli.py by ``_register_models``). Logic lives in pipeline.scoring.lifecycle and
pipeline.scoring.registry; this module only parses options and prints."""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.errors import UserError, parse_date

models_app = typer.Typer(help="The model registry: list, show and promote models.",
                         no_args_is_help=True)
console = Console()
err = Console(stderr=True)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable summary on stdout.")]
StartOpt = Annotated[str | None, typer.Option("--start", help="First UTC day (YYYY-MM-DD); default: first day with features.")]
EndOpt = Annotated[str | None, typer.Option("--end", help="Last UTC day (YYYY-MM-DD); default: last day with features.")]
RegionOpt = Annotated[list[str] | None, typer.Option("--region", help="Only vessel-days of this region (repeatable).")]
LabelsOpt = Annotated[str | None, typer.Option("--labels", help="Label sources in priority order, comma-separated: disposition, incident, simulator (default: scoring.training.label_sources).")]
TruthOpt = Annotated[list[Path] | None, typer.Option("--ground-truth", help="Simulator output folder with ground_truth/ (repeatable; for --labels simulator).")]
LakeOpt = Annotated[list[Path] | None, typer.Option("--lake", help="Lake root(s) to read instead of the workspace's lake (repeatable).")]


def _date(value: str | None, option: str) -> date | None:
    return None if value is None else parse_date(value, option)


def _spec(ctx: typer.Context, start: str | None, end: str | None, regions: list[str] | None,
          labels: str | None, truth: list[Path] | None, lakes: list[Path] | None) -> Any:
    from pipeline.labels.build import SOURCES
    from pipeline.lake import Lake
    from pipeline.scoring.lifecycle import DataSpec

    settings = ctx.obj.settings
    sources = ([s.strip() for s in labels.split(",") if s.strip()] if labels
               else list(settings.scoring.training.label_sources))
    unknown = [s for s in sources if s not in SOURCES]
    if unknown or not sources:
        raise UserError(f"--labels {labels!r}: unknown source(s) {unknown}; known: "
                        f"{', '.join(SOURCES)}")
    for r in regions or []:
        if r not in settings.regions:
            raise UserError(f"--region {r!r}: not an active region ({', '.join(settings.regions)})")
    engine = None
    if "disposition" in sources:
        try:
            from pipeline.alerts.store import database_url, open_store

            engine = open_store(database_url(settings, ctx.obj.workspace))
        except ImportError:
            engine = None
    roots = lakes or [ctx.obj.workspace.lake]
    return DataSpec(lakes=[Lake(p) for p in roots], start=_date(start, "--start"),
                    end=_date(end, "--end"), regions=list(regions or []),
                    label_sources=sources, ground_truth=list(truth or []), engine=engine)


def _models_root(ctx: typer.Context) -> Path:
    from pipeline.scoring.registry import models_dir

    return models_dir(ctx.obj.settings)


def _print_metrics(doc: dict[str, Any], title: str) -> None:
    t = Table(title=title, header_style="bold")
    for col in ("scorer", "PR-AUC", f"precision@{doc['k']}", f"recall@{doc['k']}",
                "best possible p@k", "Brier"):
        t.add_column(col, justify="left" if col == "scorer" else "right")
    for name, m in doc["models"].items():
        t.add_row(name, *(("-" if m.get(k) is None else f"{m[k]:.3f}") for k in
                          ("pr_auc", "precision_at_k", "recall_at_k", "max_precision_at_k",
                           "brier")))
    console.print(t)
    if doc.get("regions"):
        r = Table(title="per region", header_style="bold")
        for col in ("region", "scorer", "vessel-days", "positives", "PR-AUC", "p@k", "r@k"):
            r.add_column(col)
        for region, per in doc["regions"].items():
            for name, m in per.items():
                r.add_row(escape(region), name, str(m["vessel_days"]), str(m["positives"]),
                          *(("-" if m.get(k) is None else f"{m[k]:.3f}")
                            for k in ("pr_auc", "precision_at_k", "recall_at_k")))
        console.print(r)


def train_cmd(
    ctx: typer.Context, start: StartOpt = None, end: EndOpt = None, region: RegionOpt = None,
    labels: LabelsOpt = None, ground_truth: TruthOpt = None, lake: LakeOpt = None,
    holdout_lake: Annotated[list[Path] | None, typer.Option("--holdout-lake", help="Evaluate on this separate lake instead of the last days of the training data (repeatable).")] = None,
    holdout_ground_truth: Annotated[list[Path] | None, typer.Option("--holdout-ground-truth", help="Simulator ground truth of the --holdout-lake data.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Train a challenger (calibrated gradient boosting + logistic reference) on labelled
    vessel-days, evaluate it beside the rule baseline and the champion on a held-out window,
    and register it in models/ (not promoted: see `vessel-risk models promote`)."""
    from pipeline.scoring.lifecycle import train_and_register

    settings = ctx.obj.settings
    spec = _spec(ctx, start, end, region, labels, ground_truth, lake)
    holdout = None
    if holdout_lake:
        holdout = _spec(ctx, None, None, region, labels, holdout_ground_truth, holdout_lake)
    with err.status("training …", spinner="dots") if not as_json else _null():
        result = train_and_register(settings, spec, _models_root(ctx), holdout)
    if as_json:
        sys.stdout.write(json.dumps(result.as_dict(), indent=2, default=str) + "\n")
        return
    tr = result.metadata["training"]
    console.print(f"trained [bold]{result.model_id}[/] on {tr['window']} {tr['regions']}: "
                  f"{tr['counts']}")
    ev = result.metadata["evaluation"]
    _print_metrics(ev, f"held-out {ev['window']} ({ev['description']})")
    console.print(f"registered in {result.folder} (card.md, plots); promote with "
                  f"`vessel-risk models promote {result.model_id}`")


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: object) -> None:
        return None


def evaluate_cmd(
    ctx: typer.Context,
    model: Annotated[str | None, typer.Option("--model", help="Model id (default: the champion).")] = None,
    start: StartOpt = None, end: EndOpt = None, region: RegionOpt = None,
    labels: LabelsOpt = None, ground_truth: TruthOpt = None, lake: LakeOpt = None,
    record: Annotated[bool, typer.Option("--record/--no-record", help="Store the comparison in the model's metadata (the promotion gate reads it).")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Evaluate a model, the rule baseline and the champion on the same window: PR-AUC,
    precision@k and recall@k (k = daily capacity), Brier, per region, and the quality target."""
    from pipeline.scoring.lifecycle import evaluate_model, quality_target

    settings = ctx.obj.settings
    spec = _spec(ctx, start, end, region, labels, ground_truth, lake)
    doc = evaluate_model(settings, _models_root(ctx), model, spec, record)
    doc["quality_target"] = quality_target(doc)
    if as_json:
        sys.stdout.write(json.dumps({k: v for k, v in doc.items() if k != "calibration"},
                                    indent=2, default=str) + "\n")
        return
    _print_metrics(doc, f"{doc['model_id']} on {doc['window']} ({doc['counts']['positives']} "
                        f"smuggling vessel-days of {doc['counts']['vessel_days']})")
    q = doc["quality_target"]
    console.print(f"quality target: precision@k {q['precision_at_k']:.3f} and recall@k "
                  f"{q['recall_at_k']:.3f} >= {q['target']}, above the rules' "
                  f"{q['rules_precision_at_k']}: {'[green]met[/]' if q['met'] else '[red]not met[/]'}")


@models_app.command("list")
def models_list_cmd(ctx: typer.Context, as_json: JsonOpt = False) -> None:
    """Registered models with their held-out figures; the champion marked."""
    from pipeline.scoring.registry import list_models

    root = _models_root(ctx)
    rows = list_models(root)
    if as_json:
        sys.stdout.write(json.dumps(rows, indent=2, default=str) + "\n")
        return
    t = Table(title=f"models in {root}", header_style="bold")
    for col in ("", "model_id", "trained on", "labels", "PR-AUC", "p@k", "r@k"):
        t.add_column(col)
    for r in rows:
        t.add_row("★" if r["champion"] else "", r["model_id"], str(r["window"]),
                  ",".join(r["label_sources"] or []),
                  *(("-" if r[k] is None else f"{r[k]:.3f}")
                    for k in ("pr_auc", "precision_at_k", "recall_at_k")))
    console.print(t)


@models_app.command("show")
def models_show_cmd(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="Model id (see `vessel-risk models list`).")],
    as_json: JsonOpt = False,
) -> None:
    """A model's metadata (without the drift histograms) and its model card."""
    from pipeline.scoring.registry import CARD_FILE, read_metadata

    root = _models_root(ctx)
    meta = read_metadata(root, model_id)
    if as_json:
        slim = {k: v for k, v in meta.items() if k not in ("drift_reference",)}
        sys.stdout.write(json.dumps(slim, indent=2, default=str) + "\n")
        return
    card = root / model_id / CARD_FILE
    console.print(escape(card.read_text(encoding="utf-8")) if card.exists() else meta)


@models_app.command("promote")
def models_promote_cmd(
    ctx: typer.Context,
    model_id: Annotated[str, typer.Argument(help="Model id to make the champion.")],
    force: Annotated[bool, typer.Option("--force", help="Override the gate (needs --reason).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", help="Why the gate is overridden (recorded).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a model the champion: it must beat the current champion on the same held-out
    window by scoring.training.promotion_margin (PR-AUC), or --force --reason."""
    from pipeline.scoring.registry import promote

    entry = promote(_models_root(ctx), model_id, ctx.obj.settings.scoring.training.promotion_margin,
                    force, reason)
    if as_json:
        sys.stdout.write(json.dumps(entry, indent=2, default=str) + "\n")
        return
    console.print(f"champion is now [bold]{model_id}[/] ({escape(entry['verdict'])})")


def register(app: typer.Typer) -> None:
    """Attach the model-lifecycle commands to the main app."""
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.add_typer(models_app, name="models")

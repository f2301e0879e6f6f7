"""``vessel-risk alert``, ``vessel-risk alerts ...`` and ``vessel-risk watchlist ...``
(registered in pipeline/cli.py by ``_register_alerts``). Each command calls one function of
pipeline.alerts; nothing here touches SQL. AIS text is escaped before rich renders it.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from pipeline.errors import UserError, parse_date

if TYPE_CHECKING:
    from pipeline.alerts.watchlist import ImportSummary

alerts_app = typer.Typer(help="The daily alert list: list, show and review alerts.",
                         no_args_is_help=True)
watchlist_app = typer.Typer(help="Vessels of interest, keyed by identity, shared under TLP.",
                            no_args_is_help=True)

console = Console(width=None if sys.stdout.isatty() else 175)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print a machine-readable result on stdout.")]
AsOpt = Annotated[str | None, typer.Option(
    "--as", help="Who is acting (default: $VESSEL_RISK_USER, else the OS user).")]


def _engine(ctx: typer.Context) -> Any:
    from pipeline.alerts.store import database_url, open_store

    c = ctx.obj
    return open_store(database_url(c.settings, c.workspace))


def _day(value: str) -> date:
    return parse_date(value, "--date")


def _out(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str, ensure_ascii=False) + "\n")


def _t(value: Any) -> str:
    return "-" if value is None or value == "" else escape(str(value))


# --------------------------------------------------------------------------- alert


def alert_cmd(
    ctx: typer.Context,
    day: Annotated[str, typer.Option("--date", help="UTC day to alert on, YYYY-MM-DD.")],
    as_json: JsonOpt = False,
) -> None:
    """Turn the day's scores into the analysts' alert list (capacity, suppression,
    watchlist hits, evidence); re-running keeps the analysts' work."""
    from pipeline.alerts.alerting import alert_day

    c = ctx.obj
    settings = c.settings
    summary = alert_day(c.lake(), settings, _engine(ctx), _day(day))
    if as_json:
        _out(summary.as_dict())
        return
    console.print(
        f"alerts {summary.day}: {summary.alerts} ({summary.watchlist_hits} watchlist hits) from "
        f"{summary.scored:,} scored vessels, {summary.above_min_score} above "
        f"{settings.alerts.min_score}; {summary.suppressed} suppressed as repeats, "
        f"{summary.over_capacity} over capacity; created {summary.created}, updated "
        f"{summary.updated}, unchanged {summary.unchanged}, removed {summary.removed}, kept "
        f"{summary.kept_touched} worked-on alerts that no longer qualify"
    )
    _alert_table(f"alerts on {summary.day}", summary.top)


def _alert_table(title: str, rows: list[dict[str, Any]]) -> None:
    t = Table(title=title, header_style="bold", show_lines=True)
    for col in ("rank", "alert_id", "mmsi", "name", "score", "status", "why"):
        t.add_column(col, justify="right" if col in ("rank", "score", "mmsi") else "left")
    for r in rows:
        why = "\n".join(escape(x) for x in r.get("reasons") or []) or "-"
        if r.get("watchlist_hit"):
            why = "[bold]watchlist hit[/]\n" + why
        t.add_row(str(r["rank"]), r["alert_id"], str(r["mmsi"]), _t(r.get("name")),
                  f"{r['score']:.2f}", _t(r.get("status", "new")), why)
    console.print(t)


@alerts_app.command("list")
def alerts_list_cmd(
    ctx: typer.Context,
    day: Annotated[str, typer.Option("--date", help="UTC day, YYYY-MM-DD.")],
    status: Annotated[str | None, typer.Option(
        "--status", help="Only alerts in this status: new, in_review, escalated, closed.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The alerts of one day in list order."""
    from pipeline.alerts.queries import alerts_for_day
    from pipeline.alerts.store import ALERT_STATUSES

    if status is not None and status not in ALERT_STATUSES:
        raise UserError(f"--status {status!r}: expected one of {', '.join(ALERT_STATUSES)}")
    rows = alerts_for_day(_engine(ctx), _day(day), status)
    if as_json:
        _out(rows)
        return
    _alert_table(f"alerts on {day}" + (f" ({status})" if status else ""), rows)


@alerts_app.command("show")
def alerts_show_cmd(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="Alert id (from `alerts list`).")],
    as_json: JsonOpt = False,
) -> None:
    """One alert: identity, reasons, evidence, notes, dispositions and its audit trail."""
    from pipeline.alerts.queries import get_alert

    a = get_alert(_engine(ctx), alert_id)
    if a is None:
        raise UserError(f"no alert {alert_id!r} (see `vessel-risk alerts list --date D`)")
    if as_json:
        _out(a)
        return
    console.print(f"[bold]alert {a['alert_id']}[/] {a['date']} rank {a['rank']} — "
                  f"status {a['status']}, disposition {_t(a['disposition'])}, "
                  f"version {a['version']}")
    console.print(f"vessel: MMSI {a['mmsi']}  name {_t(a['name'])}  IMO {_t(a['imo'])}  "
                  f"call sign {_t(a['call_sign'])}  flag {_t(a['flag'])}  region "
                  f"{_t(a['region'])}  departure point {_t(a['departure_zone'])}")
    console.print(f"score {a['score']:.3f} ({_t(a['model_id'])}), evidence strength "
                  f"{a['evidence_strength']:.2f}"
                  + (f", watchlist entry {a['watchlist_entry_id']}" if a["watchlist_hit"] else ""))
    for reason in a["reasons"]:
        console.print(f"  • {escape(reason)}")
    ev = Table(title="evidence", header_style="bold")
    for col in ("event", "start (UTC)", "end (UTC)", "lat", "lon", "zone"):
        ev.add_column(col)
    for e in a["evidence"]:
        ev.add_row(e["event_type"], e["start_time"][:16], e["end_time"][:16],
                   "-" if e["lat"] is None else f"{e['lat']:.4f}",
                   "-" if e["lon"] is None else f"{e['lon']:.4f}", _t(e["zone_id"]))
    console.print(ev)
    for n in a["notes"]:
        console.print(f"note by {_t(n['author'])} at {n['created_at'][:16]}: {escape(n['text'])}")
    for entry in a["audit"]:
        console.print(f"[dim]{entry['at'][:19]} {escape(entry['actor'])} {entry['action']} "
                      f"{escape(json.dumps(entry['after'], default=str))}[/]")


@alerts_app.command("review")
def alerts_review_cmd(
    ctx: typer.Context,
    alert_id: Annotated[str, typer.Argument(help="Alert id.")],
    version: Annotated[int, typer.Option(
        "--version", help="The alert's version you are looking at (from `alerts show`); a "
        "change made on an outdated version is refused.")],
    status: Annotated[str | None, typer.Option(
        "--status", help="in_review, escalated or closed (closed needs --disposition).")] = None,
    disposition: Annotated[str | None, typer.Option(
        "--disposition", help="confirmed, suspicious, benign or false_positive.")] = None,
    note: Annotated[str | None, typer.Option("--note", help="A note to add.")] = None,
    assignee: Annotated[str | None, typer.Option("--assign", help="Assign to an analyst.")] = None,
    actor: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Move an alert through new → in_review → escalated | closed, with a note."""
    from pipeline.alerts.audit import resolve_actor
    from pipeline.alerts.review import review_alert

    a = review_alert(_engine(ctx), alert_id, resolve_actor(actor), version, status=status,
                     disposition=disposition, note=note, assignee=assignee)
    if as_json:
        _out(a)
        return
    console.print(f"alert {alert_id}: {a['status']}"
                  + (f" ({a['disposition']})" if a["disposition"] else "")
                  + f", now version {a['version']}")


# --------------------------------------------------------------------------- watchlist


def _entry_table(rows: list[dict[str, Any]], title: str) -> None:
    t = Table(title=title, header_style="bold")
    for col in ("entry_id", "mmsi", "imo", "name", "call sign", "marking", "source", "owner",
                "expires", "reason"):
        t.add_column(col, overflow="fold")
    for e in rows:
        t.add_row(e["entry_id"], _t(e["mmsi"]), _t(e["imo"]), _t(e["name"]), _t(e["call_sign"]),
                  e["marking"], e["source"], _t(e["owner"]),
                  "expired" if e.get("expired") else _t((e["expires_at"] or "")[:10]),
                  _t(e["reason"]))
    console.print(t)


@watchlist_app.command("add")
def watchlist_add_cmd(
    ctx: typer.Context,
    reason: Annotated[str, typer.Option("--reason", help="Why the vessel is of interest.")],
    marking: Annotated[str, typer.Option(
        "--marking", help="TLP marking: CLEAR, GREEN, AMBER, AMBER+STRICT or RED.")],
    mmsi: Annotated[str | None, typer.Option("--mmsi", help="MMSI (9 digits).")] = None,
    imo: Annotated[str | None, typer.Option("--imo", help="IMO number (7 digits).")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Vessel name.")] = None,
    call_sign: Annotated[str | None, typer.Option("--call-sign", help="Call sign.")] = None,
    source: Annotated[str, typer.Option(
        "--source", help="alert, partner, incident or analyst.")] = "analyst",
    source_ref: Annotated[str | None, typer.Option(
        "--source-ref", help="Alert id, incident id or the partner's reference.")] = None,
    owner: Annotated[str | None, typer.Option(
        "--owner", help="Who answers for the entry (default: you).")] = None,
    provenance: Annotated[str | None, typer.Option(
        "--provenance", help="Where the information comes from.")] = None,
    expires: Annotated[str | None, typer.Option(
        "--expires", help="Last day the entry is active, YYYY-MM-DD.")] = None,
    actor: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Put a vessel on the watchlist (MMSI, IMO, or name + call sign)."""
    from pipeline.alerts.audit import resolve_actor
    from pipeline.alerts.watchlist import add_entry

    who = resolve_actor(actor)
    e = add_entry(_engine(ctx), who, mmsi=mmsi, imo=imo, name=name, call_sign=call_sign,
                  reason=reason, source=source, source_ref=source_ref, owner=owner or who,
                  marking=marking, provenance=provenance, expires_at=expires)
    if as_json:
        _out(e)
        return
    console.print(f"added watchlist entry {e['entry_id']} ({e['marking']})")


@watchlist_app.command("list")
def watchlist_list_cmd(
    ctx: typer.Context,
    include_expired: Annotated[bool, typer.Option(
        "--all", help="Include expired entries.")] = False,
    max_marking: Annotated[str | None, typer.Option(
        "--max-marking", help="Only entries marked at most this (e.g. GREEN).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """The watchlist (active entries unless --all)."""
    from pipeline.alerts.watchlist import list_entries

    rows = list_entries(_engine(ctx), include_expired=include_expired, max_marking=max_marking)
    if as_json:
        _out(rows)
        return
    _entry_table(rows, f"watchlist ({len(rows)} entries)")


@watchlist_app.command("show")
def watchlist_show_cmd(
    ctx: typer.Context,
    entry_id: Annotated[str, typer.Argument(help="Entry id.")],
    as_json: JsonOpt = False,
) -> None:
    """One entry with its audit trail."""
    from pipeline.alerts.queries import audit_for
    from pipeline.alerts.watchlist import get_entry

    engine = _engine(ctx)
    e = get_entry(engine, entry_id)
    if e is None:
        raise UserError(f"no watchlist entry {entry_id!r} (see `vessel-risk watchlist list`)")
    e["audit"] = audit_for(engine, "watchlist", entry_id)
    if as_json:
        _out(e)
        return
    _entry_table([e], f"watchlist entry {entry_id} (version {e['version']})")
    console.print(f"provenance: {_t(e['provenance'])}; source ref {_t(e['source_ref'])}")
    for a in e["audit"]:
        console.print(f"[dim]{a['at'][:19]} {escape(a['actor'])} {a['action']} "
                      f"{escape(json.dumps(a['after'], default=str))}[/]")


@watchlist_app.command("update")
def watchlist_update_cmd(
    ctx: typer.Context,
    entry_id: Annotated[str, typer.Argument(help="Entry id.")],
    version: Annotated[int, typer.Option("--version", help="The entry's version you are "
                                         "looking at (from `watchlist show`).")],
    reason: Annotated[str | None, typer.Option("--reason")] = None,
    marking: Annotated[str | None, typer.Option("--marking")] = None,
    mmsi: Annotated[str | None, typer.Option("--mmsi")] = None,
    imo: Annotated[str | None, typer.Option("--imo")] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    call_sign: Annotated[str | None, typer.Option("--call-sign")] = None,
    owner: Annotated[str | None, typer.Option("--owner")] = None,
    source_ref: Annotated[str | None, typer.Option("--source-ref")] = None,
    provenance: Annotated[str | None, typer.Option("--provenance")] = None,
    expires: Annotated[str | None, typer.Option("--expires", help="YYYY-MM-DD")] = None,
    actor: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Change an entry (e.g. a new MMSI learned, a new marking, a later expiry)."""
    from pipeline.alerts.audit import resolve_actor
    from pipeline.alerts.watchlist import update_entry

    given = {"reason": reason, "marking": marking, "mmsi": mmsi, "imo": imo, "name": name,
             "call_sign": call_sign, "owner": owner, "source_ref": source_ref,
             "provenance": provenance, "expires_at": expires}
    changes = {k: v for k, v in given.items() if v is not None}
    if not changes:
        raise UserError("nothing to change: give at least one field option (see --help)")
    e = update_entry(_engine(ctx), entry_id, resolve_actor(actor), version, **changes)
    if as_json:
        _out(e)
        return
    console.print(f"updated watchlist entry {entry_id}, now version {e['version']}")


@watchlist_app.command("expire")
def watchlist_expire_cmd(
    ctx: typer.Context,
    entry_id: Annotated[str, typer.Argument(help="Entry id.")],
    version: Annotated[int | None, typer.Option("--version", help="Expected version.")] = None,
    actor: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Take an entry off the active watchlist (kept for the record)."""
    from pipeline.alerts.audit import resolve_actor
    from pipeline.alerts.watchlist import expire_entry

    e = expire_entry(_engine(ctx), entry_id, resolve_actor(actor), version)
    if as_json:
        _out(e)
        return
    console.print(f"expired watchlist entry {entry_id}")


@watchlist_app.command("export")
def watchlist_export_cmd(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", help="File to write (.csv or .json).")],
    max_marking: Annotated[str, typer.Option(
        "--max-marking", help="Highest TLP marking the recipient may receive (e.g. GREEN).")],
    fmt: Annotated[str | None, typer.Option(
        "--format", help="csv or json (default: from the file suffix).")] = None,
    actor: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Export active entries for a partner agency; entries above --max-marking never leave."""
    from pipeline.alerts.audit import resolve_actor
    from pipeline.alerts.watchlist import export_entries

    s = export_entries(_engine(ctx), out, max_marking, fmt, actor=resolve_actor(actor))
    if as_json:
        _out(s.as_dict())
        return
    console.print(f"wrote {s.exported} entries (at most {s.max_marking}) to {s.path}; "
                  f"{s.withheld} withheld by their marking")


@watchlist_app.command("import")
def watchlist_import_cmd(
    ctx: typer.Context,
    path: Annotated[Path, typer.Argument(help="A partner's CSV or JSON list.")],
    partner: Annotated[str, typer.Option("--partner", help="The agency the list comes from.")],
    default_marking: Annotated[str | None, typer.Option(
        "--default-marking", help="Marking for rows that carry none (else they are rejected).")
    ] = None,
    actor: AsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Import a partner's list, keeping their markings and provenance.

    A row for a vessel already listed (same MMSI, IMO, or name + call sign) is merged into
    that entry (missing identifiers, the stricter marking, the later expiry, the partner's
    listing in the provenance); rows that disagree with an entry are reported as conflicts and
    change no identifier. Exit status 2 when rows were rejected.
    """
    from pipeline.alerts.audit import resolve_actor
    from pipeline.alerts.watchlist import import_entries

    s = import_entries(_engine(ctx), path, partner, resolve_actor(actor), default_marking)
    if as_json:
        _out(s.as_dict())
    else:
        _print_import(s)
    if s.rejected:
        raise typer.Exit(2)


def _print_import(s: ImportSummary) -> None:
    """Counts, then every merged, conflicting and rejected row in words (partner text is
    untrusted: escaped before rich renders it)."""
    console.print(f"import of {escape(s.path)} from {escape(s.partner)}")
    t = Table(header_style="bold")
    t.add_column("rows")
    t.add_column("count", justify="right")
    for label, n in (("read", s.rows), ("new entries", s.imported), ("merged", s.merged),
                     ("re-activated entries", s.reactivated), ("unchanged", s.unchanged),
                     ("conflicts (for an analyst)", len(s.conflicts)),
                     ("rejected", len(s.rejected))):
        t.add_row(label, str(n))
    console.print(t)
    for kind, style, lines in (("merged", "green", s.merges), ("conflict", "yellow", s.conflicts),
                               ("rejected", "red", s.rejected)):
        for line in lines:
            console.print(f"[{style}]{kind}[/] {escape(line)}", overflow="fold")

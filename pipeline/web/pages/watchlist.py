"""The watchlist: list and search, add, edit, expire, export for a partner agency.

Roles: any analyst adds entries and edits the ones they own; a supervisor edits any entry,
expires entries and exports. An export for a partner carries only entries marked at most
TLP:AMBER and at most the level chosen: TLP:AMBER+STRICT stays inside the organisation and
TLP:RED with its named recipients, so neither is ever offered for export here.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response

from pipeline.alerts.store import MARKINGS, WATCHLIST_SOURCES
from pipeline.errors import UserError
from pipeline.web.app import SignedIn, Supervisor, redirect, render, web_of
from pipeline.web.security import CurrentUser, Forbidden, flash

router = APIRouter()

EXPORT_MARKINGS = ("TLP:CLEAR", "TLP:GREEN", "TLP:AMBER")
EDITABLE = ("mmsi", "imo", "name", "call_sign", "reason", "source_ref", "marking", "provenance",
            "expires_at")
SEARCHED = ("mmsi", "imo", "name", "call_sign", "reason", "owner", "source_ref", "entry_id")


def _matches(entry: dict[str, Any], q: str) -> bool:
    needle = q.casefold()
    return any(needle in str(entry.get(k) or "").casefold() for k in SEARCHED)


def can_edit(user: CurrentUser, entry: dict[str, Any]) -> bool:
    return user.can("supervisor") or entry["owner"] == user.username


@router.get("/watchlist")
def watchlist(request: Request, user: SignedIn, q: str = "", show: str = "active",
              mmsi: str = "") -> Response:
    from pipeline.alerts.watchlist import list_entries

    web = web_of(request)
    entries = list_entries(web.engine, include_expired=(show == "all"))
    rows = [e for e in entries if _matches(e, q)] if q.strip() else entries
    rows.sort(key=lambda e: e["created_at"], reverse=True)
    return render(request, "watchlist.html", nav="watchlist", rows=rows, q=q, show=show,
                  total=len(entries), markings=MARKINGS, export_markings=EXPORT_MARKINGS,
                  sources=[s for s in WATCHLIST_SOURCES if s != "alert"], prefill_mmsi=mmsi)


@router.post("/watchlist")
def add(request: Request, user: SignedIn, reason: Annotated[str, Form()] = "",
        marking: Annotated[str, Form()] = "TLP:AMBER",
        source: Annotated[str, Form()] = "analyst", mmsi: Annotated[str, Form()] = "",
        imo: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
        call_sign: Annotated[str, Form()] = "", source_ref: Annotated[str, Form()] = "",
        provenance: Annotated[str, Form()] = "", expires_at: Annotated[str, Form()] = ""
        ) -> Response:
    from pipeline.alerts.watchlist import add_entry

    web = web_of(request)
    try:
        entry = add_entry(web.engine, user.username, reason=reason, source=source,
                          owner=user.username, marking=marking, mmsi=mmsi or None,
                          imo=imo or None, name=name or None, call_sign=call_sign or None,
                          source_ref=source_ref or None, provenance=provenance or None,
                          expires_at=expires_at or None)
    except UserError as exc:
        flash(request, str(exc), "error")
        return redirect("/watchlist")
    flash(request, f"Entry {entry['entry_id']} added ({entry['marking']}).")
    return redirect(f"/watchlist/{entry['entry_id']}")


def _load(request: Request, entry_id: str) -> dict[str, Any]:
    from pipeline.alerts.watchlist import get_entry

    entry = get_entry(web_of(request).engine, entry_id)
    if entry is None:
        raise HTTPException(404, f"There is no watchlist entry {entry_id}.")
    return entry


@router.get("/watchlist/{entry_id}")
def entry_page(request: Request, user: SignedIn, entry_id: str) -> Response:
    from pipeline.alerts.queries import alert_history, audit_for

    web = web_of(request)
    entry = _load(request, entry_id)
    alerts = alert_history(web.engine, mmsi=entry["mmsi"], imo=entry["imo"],
                           name=entry["name"], call_sign=entry["call_sign"], limit=50)
    return render(request, "watchlist_entry.html", nav="watchlist", e=entry,
                  audit=audit_for(web.engine, "watchlist", entry_id), alerts=alerts,
                  markings=MARKINGS, editable=can_edit(user, entry),
                  can_expire=user.can("supervisor"))


@router.post("/watchlist/{entry_id}")
def edit(request: Request, user: SignedIn, entry_id: str,
         version: Annotated[int, Form()], reason: Annotated[str, Form()] = "",
         marking: Annotated[str, Form()] = "", mmsi: Annotated[str, Form()] = "",
         imo: Annotated[str, Form()] = "", name: Annotated[str, Form()] = "",
         call_sign: Annotated[str, Form()] = "", source_ref: Annotated[str, Form()] = "",
         provenance: Annotated[str, Form()] = "", expires_at: Annotated[str, Form()] = ""
         ) -> Response:
    from pipeline.alerts.watchlist import update_entry

    web = web_of(request)
    entry = _load(request, entry_id)
    if not can_edit(user, entry):
        raise Forbidden(f"Entry {entry_id} belongs to {entry['owner']}; only its owner or a "
                        "supervisor edits it.")
    sent = {"reason": reason, "marking": marking, "mmsi": mmsi, "imo": imo, "name": name,
            "call_sign": call_sign, "source_ref": source_ref, "provenance": provenance,
            "expires_at": expires_at}
    changes = {}
    for k, v in sent.items():
        old = entry.get(k)
        old_text = "" if old is None else str(old)
        if k == "expires_at" and old_text:
            old_text = old_text[:10]
        if v.strip() != old_text:
            changes[k] = v.strip() or None
    if not changes:
        flash(request, "Nothing changed.", "info")
        return redirect(f"/watchlist/{entry_id}")
    try:
        update_entry(web.engine, entry_id, user.username, version, **changes)
    except UserError as exc:
        flash(request, str(exc), "error")
        return redirect(f"/watchlist/{entry_id}")
    flash(request, f"Entry updated: {', '.join(sorted(changes))}.")
    return redirect(f"/watchlist/{entry_id}")


@router.post("/watchlist/{entry_id}/expire")
def expire(request: Request, user: Supervisor, entry_id: str,
           version: Annotated[int, Form()]) -> Response:
    from pipeline.alerts.watchlist import expire_entry

    web = web_of(request)
    _load(request, entry_id)
    try:
        expire_entry(web.engine, entry_id, user.username, expected_version=version)
    except UserError as exc:
        flash(request, str(exc), "error")
        return redirect(f"/watchlist/{entry_id}")
    flash(request, f"Entry {entry_id} expired: it no longer matches vessels.")
    return redirect(f"/watchlist/{entry_id}")


@router.post("/watchlist-export")
def export(request: Request, user: Supervisor, max_marking: Annotated[str, Form()],
           fmt: Annotated[str, Form()] = "csv") -> Response:
    """Download the active entries marked at most ``max_marking`` (CSV or JSON); the export
    is recorded in the audit log."""
    from pipeline.alerts.watchlist import export_entries

    web = web_of(request)
    if max_marking not in EXPORT_MARKINGS:
        raise UserError(f"export marking {max_marking[:20]!r}: choose one of "
                        f"{', '.join(EXPORT_MARKINGS)} (AMBER+STRICT and RED are not shared)")
    if fmt not in ("csv", "json"):
        raise UserError(f"export format {fmt[:10]!r}: csv or json")
    level = max_marking.split(":")[1].lower()
    filename = f"watchlist_{level}.{fmt}"
    with tempfile.TemporaryDirectory(prefix="vr-export-") as tmp:
        path = Path(tmp) / filename
        summary = export_entries(web.engine, path, max_marking, fmt=fmt,
                                 actor=user.username)
        body = path.read_bytes()
    media = "text/csv; charset=utf-8" if fmt == "csv" else "application/json"
    return Response(body, media_type=media, headers={
        "Content-Disposition": f'attachment; filename="{filename}"',
        "X-Exported-Entries": str(summary.exported),
        "X-Withheld-Entries": str(summary.withheld),
    })

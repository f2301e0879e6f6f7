"""The alert page: why the vessel is on the list, the map, the timeline of its events, its
identity and history, and the review actions (start review, escalate, close with a
disposition, note, add to the watchlist).

Every action is a form post carrying the alert's version (optimistic lock): when a colleague
changed the alert in the meantime the store refuses the change and the analyst sees why.
Escalated alerts are closed (and closed alerts reopened) by a supervisor.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import Response

from pipeline.alerts.store import DISPOSITIONS, MARKINGS
from pipeline.errors import UserError
from pipeline.web import lakeinfo
from pipeline.web.app import SignedIn, redirect, render, web_of
from pipeline.web.geodata import zone_names
from pipeline.web.security import CurrentUser, Forbidden, flash

router = APIRouter()

MAP_WINDOWS_H = (12, 24, 48, 72, 168, 336)
# action -> (new status, least role, what the analyst did); the lifecycle itself
# (new -> in_review -> escalated | closed, reopen) is pipeline.alerts.review.TRANSITIONS.
ACTIONS: dict[str, tuple[str, str, str]] = {
    "start": ("in_review", "analyst", "Review started"),
    "escalate": ("escalated", "analyst", "Escalated to a supervisor"),
    "close": ("closed", "analyst", "Closed"),
    "reopen": ("in_review", "supervisor", "Back in review"),
    "note": ("", "analyst", "Note added"),
}
ALLOWED_FROM: dict[str, tuple[str, ...]] = {
    "start": ("new",),
    "escalate": ("in_review",),
    "close": ("in_review", "escalated"),
    "reopen": ("closed", "escalated"),
    "note": ("new", "in_review", "escalated", "closed"),
}


def load_alert(request: Request, alert_id: str) -> dict[str, Any]:
    from pipeline.alerts.queries import get_alert

    alert = get_alert(web_of(request).engine, alert_id)
    if alert is None:
        raise HTTPException(404, f"There is no alert {alert_id}.")
    return alert


def alert_end(alert: dict[str, Any]) -> datetime:
    """The end of the alert's UTC day: the map window and the timeline end there."""
    return datetime.combine(date.fromisoformat(alert["date"]) + timedelta(days=1),
                            datetime.min.time(), UTC)


def allowed_actions(user: CurrentUser, alert: dict[str, Any]) -> set[str]:
    """The buttons this user may press on this alert now."""
    out = set()
    for action, (_, role, _) in ACTIONS.items():
        if alert["status"] in ALLOWED_FROM[action] and user.can(role):
            out.add(action)
    if alert["status"] == "escalated" and not user.can("supervisor"):
        out.discard("close")
    return out


@router.get("/alerts/{alert_id}")
def alert_page(request: Request, user: SignedIn, alert_id: str, hours: int = 0
               ) -> Response:
    from pipeline.alerts.queries import alert_history, watchlist_entries_for

    web = web_of(request)
    alert = load_alert(request, alert_id)
    cfg = web.settings.web
    hours = min(hours or cfg.map_default_hours, cfg.map_max_hours)
    end = alert_end(alert)
    day = date.fromisoformat(alert["date"])
    mmsi, imo = int(alert["mmsi"]), alert["imo"]
    events = lakeinfo.events_in_window(web.lake, mmsi, end - timedelta(hours=hours), end)
    evidence_ids = {e["event_id"] for e in alert["evidence"]}
    history = [a for a in alert_history(web.engine, mmsi=mmsi, imo=imo, name=alert["name"],
                                        call_sign=alert["call_sign"])
               if a["alert_id"] != alert_id]
    return render(
        request, "alert.html", nav="queue", a=alert, hours=hours,
        windows=sorted({*MAP_WINDOWS_H, hours} - {h for h in MAP_WINDOWS_H
                                                   if h > cfg.map_max_hours}),
        events=events, evidence_ids=evidence_ids, history=history,
        watch=watchlist_entries_for(web.engine, mmsi=mmsi, imo=imo, name=alert["name"],
                                    call_sign=alert["call_sign"]),
        port_calls=lakeinfo.port_calls_for(web.lake, mmsi, imo, day, cfg.history_days)[:20],
        incidents=lakeinfo.incidents_for(web.lake, mmsi, day + timedelta(days=30),
                                         cfg.history_days + 30),
        actions=allowed_actions(user, alert), dispositions=DISPOSITIONS,
        markings=MARKINGS, zone_names=zone_names(web.settings),
        window_start=end - timedelta(hours=hours), window_end=end,
    )


@router.post("/alerts/{alert_id}/review")
def review(request: Request, user: SignedIn, alert_id: str, action: Annotated[str, Form()],
           version: Annotated[int, Form()], disposition: Annotated[str, Form()] = "",
           note: Annotated[str, Form()] = "") -> Response:
    """Start review, escalate, close (with a disposition), reopen, or add a note."""
    from pipeline.alerts.review import review_alert

    web = web_of(request)
    if action not in ACTIONS:
        raise UserError(f"unknown action {action!r}")
    alert = load_alert(request, alert_id)
    new_status, role, done = ACTIONS[action]
    if not user.can(role) or (action == "close" and alert["status"] == "escalated"
                              and not user.can("supervisor")):
        raise Forbidden(f"{done} needs the supervisor role; you are signed in as {user.role}.")
    if alert["status"] not in ALLOWED_FROM[action]:
        flash(request, f"The alert is {alert['status'].replace('_', ' ')}: "
                       f"'{action}' does not apply now (reload the page).", "error")
        return redirect(f"/alerts/{alert_id}")
    text = note.strip() or None
    if action == "close" and disposition not in DISPOSITIONS:
        flash(request, "Choose a disposition to close the alert.", "error")
        return redirect(f"/alerts/{alert_id}")
    if action == "note" and not text:
        flash(request, "The note is empty.", "error")
        return redirect(f"/alerts/{alert_id}")
    try:
        review_alert(web.engine, alert_id, user.username, version,
                     status=new_status or None,
                     disposition=disposition if action == "close" else None, note=text)
    except UserError as exc:  # StaleVersionError and invalid transitions
        flash(request, str(exc), "error")
        return redirect(f"/alerts/{alert_id}")
    flash(request, done + (f" as {disposition.replace('_', ' ')}" if action == "close" else "")
          + ".")
    return redirect(f"/alerts/{alert_id}")


@router.post("/alerts/{alert_id}/watchlist")
def add_to_watchlist(request: Request, user: SignedIn, alert_id: str,
                     reason: Annotated[str, Form()] = "",
                     marking: Annotated[str, Form()] = "TLP:AMBER",
                     expires_at: Annotated[str, Form()] = "") -> Response:
    """Put the alert's vessel on the watchlist with the alert as its source."""
    from pipeline.alerts.watchlist import add_entry

    web = web_of(request)
    alert = load_alert(request, alert_id)
    if not reason.strip():
        flash(request, "Give a reason for the watchlist entry.", "error")
        return redirect(f"/alerts/{alert_id}#watchlist")
    try:
        entry = add_entry(
            web.engine, user.username, reason=reason, source="alert", owner=user.username,
            marking=marking, mmsi=alert["mmsi"], imo=alert["imo"], name=alert["name"],
            call_sign=alert["call_sign"], source_ref=alert_id,
            provenance=f"alert {alert_id} of {alert['date']} (score {alert['score']:.2f})",
            expires_at=expires_at or None,
        )
    except UserError as exc:
        flash(request, str(exc), "error")
        return redirect(f"/alerts/{alert_id}#watchlist")
    flash(request, f"Added to the watchlist as entry {entry['entry_id']} ({entry['marking']}).")
    return redirect(f"/alerts/{alert_id}#watchlist")

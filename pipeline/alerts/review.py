"""An analyst's review of an alert: new → in_review → escalated | closed.

Closing records a disposition (confirmed, suspicious, benign, false_positive), which becomes a
label for the models (pipeline/labels/dispositions.py). Two analysts may open the same alert:
every change names the version it was made on, and a change made on an outdated version is
refused with a message to reload (optimistic locking), so nobody overwrites a colleague's
decision unseen. Every change is written to the audit log in the same transaction.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import CursorResult, Engine, select, update

from pipeline.alerts.audit import changed, write_audit
from pipeline.alerts.store import (
    ALERT_STATUSES,
    DISPOSITIONS,
    Alert,
    Disposition,
    Note,
    StaleVersionError,
    session_scope,
    utcnow,
)
from pipeline.errors import UserError

__all__ = ["TRANSITIONS", "StaleVersionError", "review_alert"]

# Allowed status changes; a closed alert can be reopened for review.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "new": ("in_review",),
    "in_review": ("escalated", "closed"),
    "escalated": ("in_review", "closed"),
    "closed": ("in_review",),
}
MAX_NOTE_CHARS = 10_000


def review_alert(
    engine: Engine,
    alert_id: str,
    actor: str,
    expected_version: int,
    status: str | None = None,
    disposition: str | None = None,
    note: str | None = None,
    assignee: str | None = None,
) -> dict[str, Any]:
    """Apply one analyst change (status, disposition, note, assignee) made on
    ``expected_version``; returns the alert as it now is (with the new version).

    Raises StaleVersionError when the alert moved on since the analyst read it, UserError for a
    change the lifecycle does not allow (closing without a disposition, new → closed ...).
    """
    if status is not None and status not in ALERT_STATUSES:
        raise UserError(f"status {status[:20]!r}: expected one of {', '.join(ALERT_STATUSES)}")
    if disposition is not None and disposition not in DISPOSITIONS:
        raise UserError(
            f"disposition {disposition[:20]!r}: expected one of {', '.join(DISPOSITIONS)}"
        )
    note = note.strip() if note else None
    if note and len(note) > MAX_NOTE_CHARS:
        raise UserError(f"the note is {len(note):,} characters long: at most {MAX_NOTE_CHARS:,}")
    if status is None and disposition is None and not note and assignee is None:
        raise UserError("nothing to change: give a status, a disposition, a note or an assignee")
    with session_scope(engine) as s:
        alert = s.get(Alert, alert_id)
        if alert is None:
            raise UserError(f"no alert {alert_id!r} (see `vessel-risk alerts list --date D`)")
        if alert.version != expected_version:
            raise StaleVersionError(
                f"alert {alert_id} was changed by {alert.analyst or 'someone else'} at "
                f"{alert.updated_at:%Y-%m-%d %H:%M} UTC (it is at version {alert.version}, you "
                f"had version {expected_version}): reload it and apply your change again"
            )
        before = alert.as_dict()
        target = status or alert.status
        if target != alert.status and target not in TRANSITIONS[alert.status]:
            allowed = ", ".join(TRANSITIONS[alert.status])
            raise UserError(f"alert {alert_id} is {alert.status}: it can go to {allowed}, "
                            f"not to {target}")
        new_disposition = alert.disposition
        if disposition is not None:
            if target not in ("closed", "escalated"):
                raise UserError("a disposition is given when closing (or escalating) an alert")
            new_disposition = disposition
        if target == "closed" and new_disposition is None:
            raise UserError(f"closing alert {alert_id} needs a disposition: "
                            f"{', '.join(DISPOSITIONS)}")
        if target == "in_review" and alert.status == "closed":
            new_disposition = None  # reopened: the old decision stays in the history
        now = utcnow()
        values: dict[str, Any] = {
            "status": target, "disposition": new_disposition, "analyst": actor,
            "updated_at": now, "version": expected_version + 1,
        }
        if assignee is not None:
            values["assignee"] = assignee.strip()[:64] or None
        res: CursorResult[Any] = s.execute(  # type: ignore[assignment]
            update(Alert).where(Alert.alert_id == alert_id, Alert.version == expected_version)
            .values(**values).execution_options(synchronize_session=False)
        )
        if res.rowcount != 1:  # another transaction committed between our read and write
            raise StaleVersionError(f"alert {alert_id} was changed at the same moment by "
                                    "someone else: reload it and apply your change again")
        if note:
            s.add(Note(alert_id=alert_id, author=actor, created_at=now, text=note))
        if disposition is not None:
            s.add(Disposition(alert_id=alert_id, mmsi=alert.mmsi, date=alert.date,
                              disposition=disposition, analyst=actor, decided_at=now,
                              note=note))
        s.flush()
        s.refresh(alert)
        after = alert.as_dict()
        b, a = changed(before, after)
        if note:
            a["note"] = note
        write_audit(s, actor, "review", "alert", alert_id, b, a)
        return after


def notes_of(engine: Engine, alert_id: str) -> list[dict[str, Any]]:
    with session_scope(engine) as s:
        return [{"author": n.author, "created_at": n.created_at.isoformat(), "text": n.text}
                for n in s.scalars(select(Note).where(Note.alert_id == alert_id)
                                   .order_by(Note.id))]

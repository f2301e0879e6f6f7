"""The audit log: every change an analyst or a stage makes to an alert or a watchlist entry,
with who, when, and the record before and after. Written in the same transaction as the change,
so a change without its audit row cannot exist.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from pipeline.alerts.store import AuditEntry, utcnow
from pipeline.errors import UserError

ENV_USER = "VESSEL_RISK_USER"
MAX_ACTOR_CHARS = 64


def resolve_actor(explicit: str | None = None) -> str:
    """Who is acting: ``--as``, else ``$VESSEL_RISK_USER``, else the operating-system user."""
    for candidate in (explicit, os.environ.get(ENV_USER)):
        if candidate and candidate.strip():
            return _checked(candidate.strip())
    try:
        return _checked(getpass.getuser())
    except (KeyError, OSError) as exc:  # no passwd entry (containers)
        raise UserError(
            f"cannot tell who you are: pass --as NAME or set ${ENV_USER}"
        ) from exc


def _checked(actor: str) -> str:
    if len(actor) > MAX_ACTOR_CHARS:
        raise UserError(f"user name {actor[:20]!r}...: at most {MAX_ACTOR_CHARS} characters")
    return actor


def write_audit(
    session: Session,
    actor: str,
    action: str,
    entity_type: str,
    entity_id: str,
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
) -> None:
    """Add one audit row to the session (committed with the change it describes)."""
    session.add(AuditEntry(at=utcnow(), actor=actor, action=action, entity_type=entity_type,
                           entity_id=entity_id, before=dict(before) if before else None,
                           after=dict(after) if after else None))


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[dict[str, Any],
                                                                           dict[str, Any]]:
    """Only the fields that differ, before and after (keeps the log readable)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after.get(k) for k in keys}

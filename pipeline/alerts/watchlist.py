"""The watchlist: vessels of interest, keyed by identity, shared with partners under TLP.

A smuggling vessel changes its MMSI more easily than its hull: an entry holds every identifier
known (MMSI, IMO, name, call sign) and matches a vessel on any strong one (MMSI or IMO) or on
name and call sign together, so the same boat under a new MMSI is still recognised. Entries
carry their source (an alert, a partner agency, an incident report, an analyst), an owner and a
Traffic Light Protocol marking; exports for partners never carry an entry marked above what
the recipient may see, and imports keep the partner's marking and provenance: a partner's row
for a vessel already listed is merged into that entry (never loosening its marking), and one
that disagrees with it on an identifier is reported for an analyst instead of resolved.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, CursorResult, Engine, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.alerts.audit import changed, write_audit
from pipeline.alerts.csvsafe import unguard, write_csv
from pipeline.alerts.store import (
    MARKINGS,
    WATCHLIST_SOURCES,
    StaleVersionError,
    WatchlistEntry,
    session_scope,
    stable_id,
    utcnow,
)
from pipeline.errors import UserError

EXPORT_FIELDS = ("entry_id", "mmsi", "imo", "name", "call_sign", "reason", "source",
                 "source_ref", "owner", "marking", "provenance", "created_at", "expires_at")
UPDATABLE = ("mmsi", "imo", "name", "call_sign", "reason", "source_ref", "owner", "marking",
             "provenance", "expires_at")
MAX_TEXT_CHARS = {"name": 128, "call_sign": 32, "owner": 64, "source_ref": 255}
_NON_ALNUM = re.compile(r"[^0-9A-Z]+")


# --------------------------------------------------------------------------- identity


def name_key(name: str | None) -> str | None:
    """Name as compared: upper case, punctuation and spacing ignored ('Sri-Rejeki 2' =
    'SRI REJEKI2'); None when nothing is left."""
    if name is None or (isinstance(name, float) and pd.isna(name)):
        return None
    key = _NON_ALNUM.sub("", str(name).upper())
    return key or None


def call_sign_key(call_sign: str | None) -> str | None:
    return name_key(call_sign)


def _int_or_none(value: Any, what: str, digits: tuple[int, ...]) -> int | None:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value == "":
        return None
    try:
        number = int(str(value).strip())
    except ValueError as exc:
        raise UserError(f"{what} {str(value)[:20]!r}: expected a number") from exc
    if len(str(number)) not in digits:
        raise UserError(f"{what} {number}: expected {' or '.join(map(str, digits))} digits")
    return number


def check_mmsi(value: Any) -> int | None:
    return _int_or_none(value, "MMSI", (9,))


def check_imo(value: Any) -> int | None:
    return _int_or_none(value, "IMO", (7,))


def normalise_marking(value: str | None) -> str:
    """'green', 'TLP:GREEN' and 'tlp:green' are TLP:GREEN; anything else is an error."""
    if value is None or not str(value).strip():
        raise UserError(f"a TLP marking is required: one of {', '.join(MARKINGS)}")
    text = str(value).strip().upper().replace(" ", "")
    text = text if text.startswith("TLP:") else f"TLP:{text}"
    if text == "TLP:WHITE":  # TLP 1.0 name of CLEAR
        text = "TLP:CLEAR"
    if text not in MARKINGS:
        raise UserError(f"marking {str(value)[:30]!r}: expected one of {', '.join(MARKINGS)}")
    return text


def marking_level(marking: str) -> int:
    return MARKINGS.index(normalise_marking(marking))


def entry_id_for(mmsi: int | None, imo: int | None, name: str | None,
                 call_sign: str | None) -> str:
    """Deterministic id of an identity (the same vessel added twice is one entry)."""
    return stable_id("watchlist", mmsi, imo, name_key(name), call_sign_key(call_sign))


def identity_conditions(
    mmsi: int | None, imo: int | None, name: str | None, call_sign: str | None
) -> list[ColumnElement[bool]]:
    """SQL conditions that match an entry to a vessel: MMSI, IMO, or name + call sign."""
    conds: list[ColumnElement[bool]] = []
    if mmsi is not None:
        conds.append(WatchlistEntry.mmsi == int(mmsi))
    if imo is not None:
        conds.append(WatchlistEntry.imo == int(imo))
    nk, ck = name_key(name), call_sign_key(call_sign)
    if nk and ck:
        conds.append((WatchlistEntry.name_key == nk) & (WatchlistEntry.call_sign_key == ck))
    return conds


def _active_frame(engine: Engine, at: datetime) -> pd.DataFrame:
    with session_scope(engine) as s:
        rows = s.execute(
            select(WatchlistEntry.entry_id, WatchlistEntry.mmsi, WatchlistEntry.imo,
                   WatchlistEntry.name_key, WatchlistEntry.call_sign_key,
                   WatchlistEntry.expires_at)
            .where(WatchlistEntry.expired.is_(False))
        ).all()
    frame = pd.DataFrame(rows, columns=["entry_id", "mmsi", "imo", "name_key", "call_sign_key",
                                        "expires_at"])
    if frame.empty:
        return frame
    alive = frame["expires_at"].isna() | (pd.to_datetime(frame["expires_at"], utc=True) > at)
    return frame[alive.to_numpy()]


def match_identities(engine: Engine, vessels: pd.DataFrame, at: datetime | None = None
                     ) -> pd.DataFrame:
    """Active entries matching vessels (columns mmsi, imo, name, call_sign; a vessel may come
    with several identities, e.g. every static report of the day).

    Returns one row per (mmsi, entry_id) with ``matched_on`` (mmsi, imo or name+call_sign),
    strongest match first. Joins are vectorised; the watchlist is small.
    """
    cols = ["mmsi", "entry_id", "matched_on"]
    entries = _active_frame(engine, at or utcnow())
    if entries.empty or vessels.empty:
        return pd.DataFrame(columns=cols)
    v = vessels[["mmsi", "imo", "name", "call_sign"]].copy()
    v["mmsi"] = v["mmsi"].astype("int64")
    v["imo"] = pd.to_numeric(v["imo"], errors="coerce").astype("Int64")
    v["name_key"] = [name_key(x) for x in v["name"]]  # a few hundred distinct identities
    v["call_sign_key"] = [call_sign_key(x) for x in v["call_sign"]]
    e = entries.copy()
    e["mmsi"] = pd.to_numeric(e["mmsi"], errors="coerce").astype("Int64")
    e["imo"] = pd.to_numeric(e["imo"], errors="coerce").astype("Int64")
    parts = []
    by_mmsi = v[["mmsi"]].drop_duplicates().merge(
        e.dropna(subset=["mmsi"]).astype({"mmsi": "int64"})[["mmsi", "entry_id"]], on="mmsi")
    parts.append(by_mmsi.assign(matched_on="mmsi", strength=0))
    vi = v.dropna(subset=["imo"])[["mmsi", "imo"]].drop_duplicates()
    by_imo = vi.merge(e.dropna(subset=["imo"])[["imo", "entry_id"]], on="imo")
    parts.append(by_imo[["mmsi", "entry_id"]].assign(matched_on="imo", strength=1))
    vn = v.dropna(subset=["name_key", "call_sign_key"])[["mmsi", "name_key", "call_sign_key"]]
    by_nc = vn.drop_duplicates().merge(
        e.dropna(subset=["name_key", "call_sign_key"])[["name_key", "call_sign_key", "entry_id"]],
        on=["name_key", "call_sign_key"])
    parts.append(by_nc[["mmsi", "entry_id"]].assign(matched_on="name+call_sign", strength=2))
    out = pd.concat(parts, ignore_index=True)
    out = out.sort_values(["mmsi", "strength", "entry_id"]).drop_duplicates(["mmsi", "entry_id"])
    return out[cols].reset_index(drop=True)


# --------------------------------------------------------------------------- writes


def _clean_text(value: Any, what: str) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    if not text:
        return None
    limit = MAX_TEXT_CHARS.get(what)
    if limit and len(text) > limit:
        raise UserError(f"{what} is {len(text)} characters long: at most {limit}")
    return text


def _expiry(value: date | datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = (datetime.fromisoformat(text.replace("Z", "+00:00")) if "T" in text
                     or " " in text else date.fromisoformat(text))
        except ValueError as exc:
            raise UserError(f"expiry {text[:30]!r}: expected YYYY-MM-DD") from exc
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, time(23, 59, 59), UTC)  # end of that UTC day


def _validated(fields: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in fields.items():
        if k == "mmsi":
            out[k] = check_mmsi(v)
        elif k == "imo":
            out[k] = check_imo(v)
        elif k == "marking":
            out[k] = normalise_marking(v)
        elif k == "expires_at":
            out[k] = _expiry(v)
        elif k in ("reason", "owner"):
            text = _clean_text(v, k)
            if text is None:
                raise UserError(f"{k} must not be empty")
            out[k] = text
        else:
            out[k] = _clean_text(v, k)
    return out


def _require_identity(mmsi: int | None, imo: int | None, name: str | None,
                      call_sign: str | None) -> None:
    if mmsi is None and imo is None and not (name_key(name) and call_sign_key(call_sign)):
        raise UserError("a watchlist entry needs an MMSI, an IMO number, or a name together "
                        "with a call sign (a name alone matches too many boats)")


def add_entry(
    engine: Engine,
    actor: str,
    *,
    reason: str,
    source: str,
    owner: str,
    marking: str,
    mmsi: Any = None,
    imo: Any = None,
    name: str | None = None,
    call_sign: str | None = None,
    source_ref: str | None = None,
    provenance: str | None = None,
    expires_at: date | datetime | str | None = None,
) -> dict[str, Any]:
    """Add a vessel; an identity already on the list is an error naming the existing entry."""
    if source not in WATCHLIST_SOURCES:
        raise UserError(f"source {source[:20]!r}: expected one of {', '.join(WATCHLIST_SOURCES)}")
    f = _validated({"mmsi": mmsi, "imo": imo, "name": name, "call_sign": call_sign,
                    "reason": reason, "owner": owner, "marking": marking,
                    "source_ref": source_ref, "provenance": provenance,
                    "expires_at": expires_at})
    _require_identity(f["mmsi"], f["imo"], f["name"], f["call_sign"])
    entry_id = entry_id_for(f["mmsi"], f["imo"], f["name"], f["call_sign"])
    with session_scope(engine) as s:
        if s.get(WatchlistEntry, entry_id) is not None:
            raise UserError(f"this identity is already on the watchlist as entry {entry_id}: "
                            f"use `vessel-risk watchlist update {entry_id}`")
        return _insert(s, actor, entry_id, source, f)


def _insert(s: Session, actor: str, entry_id: str, source: str, f: Mapping[str, Any]
            ) -> dict[str, Any]:
    """Create a validated entry and its audit row in the caller's transaction."""
    now = utcnow()
    entry = WatchlistEntry(entry_id=entry_id, name_key=name_key(f["name"]),
                           call_sign_key=call_sign_key(f["call_sign"]), source=source,
                           created_at=now, updated_at=now, expired=False, version=1, **f)
    s.add(entry)
    s.flush()
    after = entry.as_dict()
    write_audit(s, actor, "create", "watchlist", entry_id, None, after)
    return after


def get_entry(engine: Engine, entry_id: str) -> dict[str, Any] | None:
    with session_scope(engine) as s:
        e = s.get(WatchlistEntry, entry_id)
        return e.as_dict() if e is not None else None


def list_entries(engine: Engine, include_expired: bool = False, max_marking: str | None = None,
                 at: datetime | None = None) -> list[dict[str, Any]]:
    """Entries ordered by creation; expired ones (flag or date passed) only when asked."""
    when = at or utcnow()
    allowed = MARKINGS[: marking_level(max_marking) + 1] if max_marking else MARKINGS
    with session_scope(engine) as s:
        rows = s.scalars(select(WatchlistEntry).where(WatchlistEntry.marking.in_(allowed))
                         .order_by(WatchlistEntry.created_at, WatchlistEntry.entry_id)).all()
        out = []
        for e in rows:
            lapsed = e.expired or (e.expires_at is not None and e.expires_at <= when)
            if include_expired or not lapsed:
                d = e.as_dict()
                d["active"] = not lapsed
                out.append(d)
        return out


def update_entry(engine: Engine, entry_id: str, actor: str, expected_version: int,
                 **changes: Any) -> dict[str, Any]:
    """Change fields of an entry (optimistic lock: ``expected_version`` must be current)."""
    bad = sorted(set(changes) - set(UPDATABLE))
    if bad:
        raise UserError(f"cannot update {bad}; updatable: {', '.join(UPDATABLE)}")
    new = _validated({k: v for k, v in changes.items()})
    with session_scope(engine) as s:
        entry = s.get(WatchlistEntry, entry_id)
        if entry is None:
            raise UserError(f"no watchlist entry {entry_id!r} (see `vessel-risk watchlist list`)")
        _check_version("watchlist entry", entry_id, entry.version, expected_version)
        before = entry.as_dict()
        ident = {k: new.get(k, getattr(entry, k)) for k in ("mmsi", "imo", "name", "call_sign")}
        _require_identity(ident["mmsi"], ident["imo"], ident["name"], ident["call_sign"])
        values = dict(new, name_key=name_key(ident["name"]),
                      call_sign_key=call_sign_key(ident["call_sign"]), updated_at=utcnow(),
                      version=expected_version + 1)
        _versioned_update(s, entry_id, expected_version, values)
        s.refresh(entry)
        b, a = changed(before, entry.as_dict())
        write_audit(s, actor, "update", "watchlist", entry_id, b, a)
        return entry.as_dict()


def expire_entry(engine: Engine, entry_id: str, actor: str,
                 expected_version: int | None = None) -> dict[str, Any]:
    """Take an entry off the active list (kept, with its history, for the audit)."""
    with session_scope(engine) as s:
        entry = s.get(WatchlistEntry, entry_id)
        if entry is None:
            raise UserError(f"no watchlist entry {entry_id!r} (see `vessel-risk watchlist list`)")
        version = entry.version if expected_version is None else expected_version
        _check_version("watchlist entry", entry_id, entry.version, version)
        before = entry.as_dict()
        _versioned_update(s, entry_id, version,
                          {"expired": True, "updated_at": utcnow(), "version": version + 1})
        s.refresh(entry)
        b, a = changed(before, entry.as_dict())
        write_audit(s, actor, "expire", "watchlist", entry_id, b, a)
        return entry.as_dict()


def _check_version(what: str, ident: str, current: int, expected: int) -> None:
    if current != expected:
        raise StaleVersionError(
            f"{what} {ident} was changed by someone else (it is at version {current}, you "
            f"had version {expected}): reload it and apply your change again"
        )


def _versioned_update(s: Any, entry_id: str, expected: int, values: Mapping[str, Any]) -> None:
    res: CursorResult[Any] = s.execute(update(WatchlistEntry)
                    .where(WatchlistEntry.entry_id == entry_id,
                           WatchlistEntry.version == expected)
                    .values(**values).execution_options(synchronize_session=False))
    if res.rowcount != 1:
        raise StaleVersionError(f"watchlist entry {entry_id} was changed at the same moment by "
                                "someone else: reload it and apply your change again")


# --------------------------------------------------------------------------- export / import


@dataclass
class ExportSummary:
    path: str
    format: str
    max_marking: str
    exported: int
    withheld: int  # active entries above the marking

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def export_entries(engine: Engine, path: Path, max_marking: str, fmt: str | None = None,
                   actor: str | None = None) -> ExportSummary:
    """Write the active entries marked at most ``max_marking`` to CSV or JSON (by suffix).

    An entry above the marking is never written; the summary counts what was withheld.
    """
    limit = normalise_marking(max_marking)
    fmt = (fmt or path.suffix.lstrip(".") or "csv").lower()
    if fmt not in ("csv", "json"):
        raise UserError(f"export format {fmt!r}: expected csv or json")
    everything = list_entries(engine)
    rows = [e for e in everything if marking_level(e["marking"]) <= marking_level(limit)]
    rows = [{k: e[k] for k in EXPORT_FIELDS} for e in rows]
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "csv":
        write_csv(path, EXPORT_FIELDS, rows)
    else:
        doc = {"format": "vessel-risk watchlist", "version": 1, "max_marking": limit,
               "exported_at": utcnow().isoformat(), "entries": rows}
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    if actor:
        with session_scope(engine) as s:
            write_audit(s, actor, "export", "watchlist", "*", None,
                        {"path": str(path), "max_marking": limit, "entries": len(rows)})
    return ExportSummary(str(path), fmt, limit, len(rows), len(everything) - len(rows))


@dataclass
class ImportSummary:
    """What an import did. Every row read lands in exactly one of imported, merged, unchanged,
    conflicts or rejected; merges and conflicts are sentences an analyst reads row by row."""

    path: str
    partner: str
    rows: int = 0
    imported: int = 0  # new entries
    merged: int = 0  # rows merged into the one entry they match (something changed)
    unchanged: int = 0  # rows whose entry already holds everything they say
    reactivated: int = 0  # of the merged and conflict rows: lapsed entries listed again
    merges: list[str] = field(default_factory=list)  # "row N (ref): merged into entry …"
    conflicts: list[str] = field(default_factory=list)  # rows an analyst must decide
    rejected: list[str] = field(default_factory=list)  # "row N: why"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


IDENTIFIERS = ("mmsi", "imo", "name", "call_sign")
_LABEL = {"mmsi": "MMSI", "imo": "IMO", "name": "name", "call_sign": "call sign"}
_ROW_ATTEMPTS = 3  # a row whose entry a colleague changes at the same moment is read again


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.is_file():
        raise UserError(f"{path}: file not found")
    if path.suffix.lower() == ".json":
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: not valid JSON ({exc})") from exc
        rows = doc.get("entries") if isinstance(doc, dict) else doc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise UserError(f"{path}: expected a list of entries or {{'entries': [...]}}")
        return rows
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return [{k: unguard(v) if isinstance(v, str) else v for k, v in r.items() if k}
                    for r in csv.DictReader(fh)]
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text ({exc})") from exc


def _one_line(text: Any) -> str:
    """Partner text as one plain line: control characters and runs of spacing become one
    space (it is untrusted, and is shown in terminals and one-line fields)."""
    return " ".join("".join(c if c.isprintable() else " " for c in str(text)).split())


def _shown(value: Any) -> str:
    """An identifier as written in a sentence: numbers bare, text quoted and shortened."""
    if isinstance(value, int):
        return str(value)
    text = _one_line(value)
    return f"'{text[:60]}…'" if len(text) > 60 else f"'{text}'"


def _when(value: datetime | None) -> str:
    if value is None:
        return "no expiry"
    if value.time() == time(23, 59, 59):
        return value.date().isoformat()
    return value.strftime("%Y-%m-%d %H:%M UTC")


def _later(ours: datetime | None, theirs: datetime | None) -> datetime | None:
    """The later expiry; no expiry (None) never ends, so it is the later one."""
    if ours is None or theirs is None:
        return None
    return max(ours, theirs)


@dataclass(frozen=True)
class _PartnerRow:
    """One validated row of a partner's list."""

    number: int
    ident: dict[str, Any]  # mmsi, imo, name, call_sign; None where the partner gives none
    marking: str
    expires_at: datetime | None
    ref: str | None  # the partner's own reference for the row
    reason: str | None
    provenance: str | None
    owner: str | None

    @property
    def label(self) -> str:
        return f"row {self.number}" + (f" ({_one_line(self.ref)[:60]})" if self.ref else "")


def _partner_row(number: int, row: Mapping[str, Any], default_marking: str | None
                 ) -> _PartnerRow:
    marking = row.get("marking") or default_marking
    if not marking:
        raise UserError("no TLP marking (pass --default-marking)")
    expires = row.get("expires_at")
    if expires is not None and not isinstance(expires, str):
        raise UserError(f"expiry {str(expires)[:30]!r}: expected YYYY-MM-DD")
    f = _validated({"mmsi": row.get("mmsi"), "imo": row.get("imo"), "name": row.get("name"),
                    "call_sign": row.get("call_sign"), "marking": str(marking),
                    "expires_at": expires,
                    "source_ref": row.get("source_ref") or row.get("entry_id"),
                    "provenance": row.get("provenance")})
    _require_identity(f["mmsi"], f["imo"], f["name"], f["call_sign"])
    return _PartnerRow(number, {k: f[k] for k in IDENTIFIERS}, f["marking"], f["expires_at"],
                       f["source_ref"], _clean_text(row.get("reason"), "reason"),
                       f["provenance"], _clean_text(row.get("owner"), "owner"))


@dataclass
class _Outcome:
    kind: str  # imported | merged | unchanged | conflict
    message: str = ""
    reactivated: bool = False


def _matching(s: Session, ident: Mapping[str, Any], but: str | None = None
              ) -> list[WatchlistEntry]:
    """Every entry, active or not, matching an identity the way vessels are matched."""
    conds = identity_conditions(ident["mmsi"], ident["imo"], ident["name"], ident["call_sign"])
    if not conds:
        return []
    query = select(WatchlistEntry).where(or_(*conds)).order_by(WatchlistEntry.entry_id)
    return [e for e in s.scalars(query) if e.entry_id != but]


def _key(field_name: str, value: Any) -> Any:
    return name_key(value) if field_name in ("name", "call_sign") else value


def _matched_on(entry: WatchlistEntry, ident: Mapping[str, Any]) -> str:
    on = [f"{_LABEL[k]} {_shown(ident[k])}" for k in ("mmsi", "imo")
          if ident[k] is not None and getattr(entry, k) == ident[k]]
    nk, ck = name_key(ident["name"]), call_sign_key(ident["call_sign"])
    if nk and ck and entry.name_key == nk and entry.call_sign_key == ck:
        on.append(f"name {_shown(ident['name'])} and call sign {_shown(ident['call_sign'])}")
    return " and ".join(on)


def _identity_text(ident: Mapping[str, Any]) -> str:
    return ", ".join(f"{_LABEL[k]} {_shown(ident[k])}" for k in IDENTIFIERS
                     if ident.get(k) is not None)


def _partner_line(partner: str, pr: _PartnerRow, conflicting: Mapping[str, Any]) -> str:
    """The sentence a merge appends to the entry's provenance (deterministic, so that a
    re-import finds it and appends nothing)."""
    line = f"also listed by {_one_line(partner)}"
    if pr.ref:
        line += f" ({_one_line(pr.ref)})"
    if conflicting:
        line += " with " + ", ".join(f"{_LABEL[k]} {_shown(v)}" for k, v in conflicting.items())
    if pr.reason:
        line += f": {_one_line(pr.reason)}"
    if pr.provenance:
        line += f" [{_one_line(pr.provenance)}]"
    return line


def _already_recorded(entry: WatchlistEntry, pr: _PartnerRow, partner: str, line: str,
                      conflicting: Mapping[str, Any]) -> bool:
    """The partner's listing is in the entry already: as an appended line, or because this
    very row created the entry (same partner, reference and reason)."""
    if line in (entry.provenance or ""):
        return True
    return (not conflicting and entry.source == "partner" and entry.source_ref == pr.ref
            and entry.reason == (pr.reason or f"listed by {partner}")
            and (entry.provenance or "").startswith(partner))


def _merge_values(entry: WatchlistEntry, pr: _PartnerRow, partner: str,
                  fills: Mapping[str, Any], conflicting: Mapping[str, Any], now: datetime
                  ) -> tuple[dict[str, Any], list[str], bool]:
    """Column values, change sentences and whether the entry comes back to life when the
    partner's row is merged: identifiers we lack, the stricter marking, the later expiry and
    the partner's listing in the provenance. Conflicting identifiers are never touched."""
    values: dict[str, Any] = dict(fills)
    changes = [f"{_LABEL[k]} {_shown(v)} added" for k, v in fills.items()]
    if "name" in fills:
        values["name_key"] = name_key(fills["name"])
    if "call_sign" in fills:
        values["call_sign_key"] = call_sign_key(fills["call_sign"])
    if marking_level(pr.marking) > marking_level(entry.marking):
        values["marking"] = pr.marking
        changes.append(f"marking raised from {entry.marking} to {pr.marking}")
    lapsed = entry.expired or (entry.expires_at is not None and entry.expires_at <= now)
    reactivated = lapsed and (pr.expires_at is None or pr.expires_at > now)
    if reactivated:
        # an entry expired by hand without a date ends its open-ended listing: the
        # partner's expiry applies from now on
        expiry = (pr.expires_at if entry.expired and entry.expires_at is None
                  else _later(entry.expires_at, pr.expires_at))
        why = "had been expired" if entry.expired else f"lapsed on {_when(entry.expires_at)}"
        until = f"until {_when(expiry)}" if expiry is not None else "without expiry"
        values["expired"] = False
        changes.append(f"re-activated (it {why}), now {until}")
    else:
        expiry = _later(entry.expires_at, pr.expires_at)
        if expiry != entry.expires_at:
            changes.append(f"expiry moved from {_when(entry.expires_at)} to {_when(expiry)}")
    if expiry != entry.expires_at:
        values["expires_at"] = expiry
    line = _partner_line(partner, pr, conflicting)
    if not _already_recorded(entry, pr, partner, line, conflicting):
        values["provenance"] = f"{entry.provenance}; {line}" if entry.provenance else line
        changes.append(f'added to the provenance: "{line}"')
    return values, changes, reactivated


def _create(s: Session, pr: _PartnerRow, partner: str, actor: str, file_name: str
            ) -> _Outcome:
    entry_id = entry_id_for(**pr.ident)
    taken = s.get(WatchlistEntry, entry_id)
    if taken is not None:  # the entry was created with these identifiers, then changed
        now_has = _identity_text({k: getattr(taken, k) for k in IDENTIFIERS})
        return _Outcome("conflict", (
            f"{pr.label}: {_identity_text(pr.ident)} is what entry {entry_id} was created "
            f"with, but that entry now has {now_has}; nothing imported: check which is right "
            f"and update entry {entry_id} if the partner is"))
    f = dict(pr.ident, reason=pr.reason or f"listed by {partner}", owner=pr.owner or partner,
             marking=pr.marking, source_ref=pr.ref, expires_at=pr.expires_at,
             provenance=(f"{partner}: {pr.provenance}" if pr.provenance
                         else f"{partner} (import of {file_name})"))
    _insert(s, actor, entry_id, "partner", f)
    return _Outcome("imported", f"{pr.label}: added as entry {entry_id}")


def _import_row(engine: Engine, pr: _PartnerRow, partner: str, actor: str, file_name: str
                ) -> _Outcome:
    """Add, merge or report one partner row, in one transaction with its audit row."""
    now = utcnow()
    with session_scope(engine) as s:
        found = _matching(s, pr.ident)
        if not found:
            return _create(s, pr, partner, actor, file_name)
        if len(found) > 1:
            on = "; ".join(f"entry {e.entry_id} on {_matched_on(e, pr.ident)}" for e in found)
            return _Outcome("conflict", (
                f"{pr.label} ({_identity_text(pr.ident)}) matches {len(found)} entries: {on}; "
                "nothing changed: if they are one vessel, complete one entry and expire the "
                "others, then import again"))
        entry = found[0]
        ours = {k: getattr(entry, k) for k in IDENTIFIERS}
        fills = {k: v for k, v in pr.ident.items() if v is not None and ours[k] is None}
        if fills:  # filling may join the entry to another one (a name to its call sign)
            joined = {k: ours[k] if ours[k] is not None else pr.ident[k] for k in IDENTIFIERS}
            already = {e.entry_id for e in _matching(s, ours, but=entry.entry_id)}
            newly = [e for e in _matching(s, joined, but=entry.entry_id)
                     if e.entry_id not in already]
            if newly:
                return _Outcome("conflict", (
                    f"{pr.label}: matches entry {entry.entry_id} on "
                    f"{_matched_on(entry, pr.ident)}, but adding its "
                    f"{_identity_text(fills)} would make that entry match "
                    + ", ".join(f"entry {e.entry_id}" for e in newly)
                    + " too; nothing changed: decide whether they are one vessel"))
        conflicting = {k: v for k, v in pr.ident.items()
                       if v is not None and ours[k] is not None and _key(k, v) != _key(k, ours[k])}
        matched = _matched_on(entry, pr.ident)  # before the merge fills anything in
        values, changes, reactivated = _merge_values(entry, pr, partner, fills, conflicting, now)
        if values:
            before = entry.as_dict()
            _versioned_update(s, entry.entry_id, entry.version,
                              dict(values, updated_at=now, version=entry.version + 1))
            s.refresh(entry)
            b, a = changed(before, entry.as_dict())
            write_audit(s, actor, "merge", "watchlist", entry.entry_id, b, a)
        if conflicting:
            theirs = ", ".join(f"{_LABEL[k]} {_shown(v)} where the entry has {_shown(ours[k])}"
                               for k, v in conflicting.items())
            kept = " and ".join(_LABEL[k] for k in conflicting)
            text = (f"{pr.label}: matches entry {entry.entry_id} on {matched} but gives {theirs};"
                    f" the entry keeps its {kept} (a vessel that changed its {kept}? update "
                    f"entry {entry.entry_id} if the partner is right)")
            if changes:
                text += "; merged otherwise: " + "; ".join(changes)
            return _Outcome("conflict", text, reactivated)
        if not values:
            return _Outcome("unchanged")
        return _Outcome("merged", (f"{pr.label}: merged into entry {entry.entry_id} (matched on "
                                   f"{matched}): " + "; ".join(changes)), reactivated)


def import_entries(engine: Engine, path: Path, partner: str, actor: str,
                   default_marking: str | None = None) -> ImportSummary:
    """Import a partner agency's list (CSV or JSON as exported by ``export_entries``).

    A row matching no entry (on MMSI, IMO, or name + call sign together, as vessels are
    matched) becomes a new entry with the partner's marking (rows without one take
    ``default_marking``, or are rejected when none is given), the partner's reference in
    ``source_ref`` and its provenance prefixed by the partner's name. A row matching one
    entry is merged into it rather than duplicated (identifiers we lack, the stricter
    marking, the later expiry, the partner's listing appended to the provenance; an audited,
    version-checked change by ``actor``), so importing the same file twice changes nothing
    the second time. Identifiers that disagree with ours, or a row matching several entries,
    are never resolved here: the row is reported in ``conflicts`` for an analyst.
    """
    partner = _one_line(partner or "")
    if not partner:
        raise UserError("--partner is required: the agency the list comes from")
    if len(partner) > MAX_TEXT_CHARS["owner"]:
        raise UserError(f"--partner is {len(partner)} characters long: "
                        f"at most {MAX_TEXT_CHARS['owner']}")
    default = normalise_marking(default_marking) if default_marking else None
    summary = ImportSummary(str(path), partner)
    for number, row in enumerate(_read_rows(path), start=1):
        summary.rows += 1
        try:
            pr = _partner_row(number, row, default)
        except UserError as exc:
            summary.rejected.append(f"row {number}: {exc}")
            continue
        for attempt in range(1, _ROW_ATTEMPTS + 1):
            try:
                outcome = _import_row(engine, pr, partner, actor, path.name)
                break
            except (StaleVersionError, IntegrityError) as exc:
                if attempt == _ROW_ATTEMPTS:  # changed under us each time: let a person retry
                    reason = str(exc) if isinstance(exc, StaleVersionError) else (
                        "the entry was created at the same moment by someone else")
                    outcome = _Outcome("rejected", f"{pr.label}: {reason}: import again")
        if outcome.kind == "rejected":
            summary.rejected.append(outcome.message)
        elif outcome.kind == "conflict":
            summary.conflicts.append(outcome.message)
        elif outcome.kind == "merged":
            summary.merged += 1
            summary.merges.append(outcome.message)
        elif outcome.kind == "imported":
            summary.imported += 1
        else:
            summary.unchanged += 1
        summary.reactivated += outcome.reactivated
    return summary


def entries_as_rows(entries: Iterable[Mapping[str, Any]], fields: Sequence[str] = EXPORT_FIELDS
                    ) -> list[dict[str, Any]]:
    return [{k: e.get(k) for k in fields} for e in entries]

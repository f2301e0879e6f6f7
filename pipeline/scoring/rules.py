"""The rule baseline: a transparent weighted score over the features, weights in config.

Each rule turns one piece of evidence of a vessel-day into 0..1 (``min(evidence / full_at,
1)``); the score is the weighted mean of the rules, so a score of 0.6 means "60 % of the
weighted evidence the rules look for is there". It scores from day one, is the fall-back
when no model is promoted and the yardstick every model must beat. Reason codes are the
rules with the largest weighted contributions, each with a sentence built from the day's
events (zone names, hours, courses), so the analyst reads why, not just how much.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from pipeline.config import ScoringSettings, Settings

Evidence = Callable[[pd.DataFrame], np.ndarray]
Describe = Callable[[dict[str, Any], "EventIndex", Settings], str]


def _col(name: str) -> Evidence:
    return lambda f: f[name].to_numpy(dtype="float64", na_value=0.0)


def _deliberate_dark(f: pd.DataFrame) -> np.ndarray:
    """Longest dark gap weighted by the expected-reception ratio: a silence where the
    neighbours were received counts fully, one in a reception hole hardly (unknown: half)."""
    ratio = f["dark_gap_max_reception_ratio"].to_numpy(dtype="float64", na_value=np.nan)
    ratio = np.clip(np.nan_to_num(ratio, nan=0.5), 0.0, 1.0)
    return f["dark_gap_max_h"].to_numpy(dtype="float64", na_value=0.0) * ratio


def _mismatches(f: pd.DataFrame) -> np.ndarray:
    return (f["undeclared_port_visits"].to_numpy(dtype="float64", na_value=0.0)
            + f["calls_without_ais"].to_numpy(dtype="float64", na_value=0.0))


class EventIndex:
    """The headline event of each (vessel, event type) of the day, for the reason sentences."""

    def __init__(self, events: pd.DataFrame) -> None:
        self._by: dict[tuple[int, str], dict[str, Any]] = {}
        self._all: dict[tuple[int, str], list[dict[str, Any]]] = {}
        if events.empty:
            return
        ev = events.assign(night_h=events["night_h"].fillna(0.0))
        ev = ev.sort_values(["mmsi", "event_type", "night_h", "duration_h", "event_id"],
                            ascending=[True, True, False, False, True])
        for rec in ev.to_dict("records"):  # one row per event of the day, not per position
            key = (int(rec["mmsi"]), str(rec["event_type"]))
            self._all.setdefault(key, []).append(rec)
            self._by.setdefault(key, rec)

    def headline(self, mmsi: int, kind: str, where: Callable[[dict[str, Any]], bool] | None = None
                 ) -> dict[str, Any] | None:
        """The event of that type with most night hours, then longest (optionally filtered)."""
        if where is None:
            return self._by.get((mmsi, kind))
        return next((e for e in self._all.get((mmsi, kind), []) if where(e)), None)


def _zone_name(settings: Settings, zone_id: Any) -> str:
    if not isinstance(zone_id, str):
        return "a departure area"
    zone = settings.zone(zone_id)
    return f"{zone.name} ({zone_id})" if zone else zone_id


TOWARD = re.compile(r"toward destination (\S+)")


def _night_at_departure(f: dict[str, Any], ev: EventIndex, s: Settings) -> str:
    dwell = ev.headline(f["mmsi"], "zone_dwell")
    where = _zone_name(s, dwell["zone_id"]) if dwell else "a departure area"
    night = float(f.get("departure_zone_night_h") or 0.0)
    if night > 0:
        return f"spent {night:.1f} h at night inside {where}"
    # the model may weigh a daytime stay too: say what there was, not "0.0 h at night"
    return f"spent {float(f.get('zone_dwell_h') or 0.0):.1f} h inside {where} (none of it at night)"


def _dark_after_departure(f: dict[str, Any], ev: EventIndex, s: Settings) -> str:
    gap = ev.headline(f["mmsi"], "dark_gap", lambda e: isinstance(e["zone_id"], str))
    if gap is None:
        return "AIS went silent near a departure point"
    still = "and is still silent " if gap["open"] else ""
    text = (f"AIS silent {gap['duration_h']:.0f} h {still}after leaving "
            f"{_zone_name(s, gap['zone_id'])}")
    if np.isfinite(gap.get("bearing_deg") or np.nan):
        text += f"; last seen heading {gap['bearing_deg']:.0f}°"
        toward = TOWARD.search(str(gap.get("detail") or ""))
        if toward:
            text += f" toward {_zone_name(s, toward.group(1).rstrip(';,'))}"
    return text


def _describe_deliberate_dark(f_row: dict[str, Any], ev: EventIndex, s: Settings) -> str:
    ratio = f_row["dark_gap_max_reception_ratio"]
    known = isinstance(ratio, float) and np.isfinite(ratio)
    around = (f"vessels around it were received ({ratio:.0%} of expected positions)" if known
              else "reception around it unknown")
    return f"AIS silent {f_row['dark_gap_max_h']:.0f} h while {around}"


def _heading(f: dict[str, Any], ev: EventIndex, s: Settings) -> str:
    run = ev.headline(f["mmsi"], "heading_to_destination")
    dest = _zone_name(s, run["zone_id"]) if run else "a destination area"
    return f"sailed {f['heading_to_destination_h']:.1f} h on a course toward {dest}"


def _encounter(f: dict[str, Any], ev: EventIndex, s: Settings) -> str:
    return (f"met {f['encounter_partners']} vessel(s) at sea for {f['encounter_h']:.1f} h, "
            f"{f['encounter_night_h']:.1f} h of it at night")


def _identity(f: dict[str, Any], ev: EventIndex, s: Settings) -> str:
    conflict = ev.headline(f["mmsi"], "identity_conflict")
    return f"identity: {conflict['detail']}" if conflict else "identity conflict"


def _loiter(f: dict[str, Any], ev: EventIndex, s: Settings) -> str:
    stay = ev.headline(f["mmsi"], "loiter")
    near = f" near {_zone_name(s, stay['zone_id'])}" if stay and isinstance(
        stay["zone_id"], str) else ""
    return f"loitered {f['loiter_h']:.1f} h ({f['loiter_night_h']:.1f} h at night){near}"


def _port_calls(f: dict[str, Any], ev: EventIndex, s: Settings) -> str:
    return (f"{f['undeclared_port_visits']} port visit(s) without a declared call, "
            f"{f['calls_without_ais']} declared call(s) without AIS presence")


@dataclass(frozen=True)
class Rule:
    evidence: Evidence
    describe: Describe


RULES: dict[str, Rule] = {
    "night_at_departure_h": Rule(_col("departure_zone_night_h"), _night_at_departure),
    "dark_after_departure": Rule(_col("dark_gap_near_departure"), _dark_after_departure),
    "deliberate_dark_h": Rule(_deliberate_dark, _describe_deliberate_dark),
    "heading_to_destination_h": Rule(_col("heading_to_destination_h"), _heading),
    "encounter_night_h": Rule(_col("encounter_night_h"), _encounter),
    "identity_conflicts": Rule(_col("identity_conflict_count"), _identity),
    "loiter_night_h": Rule(_col("loiter_night_h"), _loiter),
    "port_call_mismatches": Rule(_mismatches, _port_calls),
}


def rules_model_id(scoring: ScoringSettings) -> str:
    """Deterministic id of a rule configuration: the weights decide the scores."""
    spec = {k: [v.weight, v.full_at] for k, v in sorted(scoring.rules.items())}
    return "rules-" + hashlib.sha256(json.dumps(spec).encode()).hexdigest()[:10]


@dataclass
class RuleScores:
    score: np.ndarray
    contributions: pd.DataFrame  # one column per rule: weight x evidence share, per vessel


def rule_scores(features: pd.DataFrame, scoring: ScoringSettings) -> RuleScores:
    """Weighted mean of the rules' 0..1 evidence shares, with each rule's contribution."""
    total = sum(r.weight for r in scoring.rules.values())
    contrib = {}
    for name, weight in scoring.rules.items():
        share = np.clip(RULES[name].evidence(features) / weight.full_at, 0.0, 1.0)
        contrib[name] = weight.weight * share / total
    frame = pd.DataFrame(contrib, index=features.index)
    return RuleScores(frame.sum(axis=1).to_numpy(dtype="float64"), frame)


def reasons(features: pd.DataFrame, contributions: pd.DataFrame, events: pd.DataFrame,
            settings: Settings) -> tuple[list[list[str]], list[list[str]]]:
    """(reason codes, sentences) per vessel: the strongest contributing rules, strongest
    first; ties keep the order of the rules in the configuration."""
    n_top = settings.scoring.reasons_per_score
    index = EventIndex(events)
    names = list(contributions.columns)
    values = contributions.to_numpy()
    order = np.argsort(-values, axis=1, kind="stable")[:, :n_top]
    codes_out: list[list[str]] = []
    text_out: list[list[str]] = []
    for row, top in zip(features.to_dict("records"), order, strict=True):  # one per vessel
        i = len(codes_out)
        picked = [names[k] for k in top.tolist() if values[i, k] > 0]
        codes_out.append(picked)
        text_out.append([RULES[c].describe(row, index, settings) for c in picked])
    return codes_out, text_out

"""Incident reports: the labels a PIU actually receives, late and incomplete.

Format of ``incidents.csv`` (one row per report; UTF-8, header line, empty = unknown):

=================  =====================================================================
report_date        date the report reached the PIU (YYYY-MM-DD), 1-21 days after the event
incident_date      date of the interception, landing or rescue (YYYY-MM-DD, UTC)
place              place name as reported (a configured zone name, or "at sea")
lat, lon           approximate position in decimal degrees (often rounded; may be empty)
mmsi               MMSI if the reporting agency noted one (often missing or a later identity)
imo                IMO number if known (rare for the wooden boats involved)
name               vessel name as reported (may be misspelled or missing)
call_sign          call sign if known
outcome            intercepted | landed | turned_back | rescued | disrupted
reporting_agency   who filed it (navy, coast guard, police, border force, UNHCR …)
=================  =====================================================================

Only a fraction of smuggling voyages (``simulate.incident_report_fraction``) produce a
report; background vessels never do.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.config import Region
from pipeline.simulate.identities import Fleet
from pipeline.simulate.scenarios import ScenarioSet

COLUMNS = [
    "report_date", "incident_date", "place", "lat", "lon", "mmsi", "imo", "name",
    "call_sign", "outcome", "reporting_agency",
]
AGENCIES = {
    "Australia": ["Australian Border Force", "Maritime Border Command"],
    "Indonesia": ["Indonesian National Police", "BAKAMLA", "BASARNAS"],
    "Bangladesh": ["Bangladesh Coast Guard", "Bangladesh Navy (ISPR)"],
    "Myanmar": ["Myanmar Navy"],
    "Thailand": ["Royal Thai Navy", "Thai Marine Police"],
    "Malaysia": ["Malaysian Maritime Enforcement Agency"],
}


def write_incidents(path: Path, scen: ScenarioSet, fleet: Fleet, n_background: int,
                    region: Region, fraction: float, rng: np.random.Generator) -> int:
    rows = []
    for sc in scen.scenarios:
        if rng.random() >= fraction:
            continue
        z = sc.destination
        outcome = str(rng.choice(["intercepted", "landed", "turned_back", "rescued",
                                  "disrupted"], p=[0.35, 0.3, 0.15, 0.1, 0.1]))
        place, t = z.name, sc.arrival
        lat, lon = z.centre
        if outcome == "disrupted":
            place, (lat, lon) = sc.departure.name, sc.departure.centre
            t = sc.arrival - 86400 * float(rng.uniform(1, 5))
        elif outcome in ("rescued", "intercepted") and rng.random() < 0.4:
            place = "at sea"
            lat, lon = lat + rng.normal(0, 0.5), lon + rng.normal(0, 0.5)
        d = datetime.fromtimestamp(t, UTC).date()
        vids = [n_background + v for v in sc.vids]
        v = vids[-1] if rng.random() < 0.5 else vids[0]
        country = (sc.departure.country if outcome == "disrupted" else z.country) or ""
        agency = AGENCIES.get(country, ["UNHCR"])
        name = str(fleet.name[v])
        if rng.random() < 0.2:
            name = name.title()
        rows.append({
            "report_date": (d + timedelta(days=int(rng.integers(1, 22)))).isoformat(),
            "incident_date": d.isoformat(), "place": place,
            "lat": round(float(lat), 2) if rng.random() < 0.8 else None,
            "lon": round(float(lon), 2) if rng.random() < 0.8 else None,
            "mmsi": int(fleet.mmsi[v]) if rng.random() < 0.4 else None,
            "imo": int(fleet.imo[v]) if fleet.imo[v] and rng.random() < 0.5 else None,
            "name": name if rng.random() < 0.6 else None,
            "call_sign": str(fleet.call_sign[v]) if rng.random() < 0.2 else None,
            "outcome": outcome,
            "reporting_agency": str(rng.choice(agency)),
        })
    df = pd.DataFrame(rows, columns=COLUMNS)
    for c in ("mmsi", "imo"):
        df[c] = df[c].astype("Int64")
    df.to_csv(path, index=False)
    return len(df)

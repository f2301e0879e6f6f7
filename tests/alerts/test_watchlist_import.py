"""Partner watchlist imports merge into the entries we hold instead of duplicating them, keep
the stricter marking and the later expiry, never overwrite an identifier that disagrees with
ours (a changed MMSI is what an analyst must see), and change nothing on a second import of
the same file. The vessels are real identities from the MarineCadastre AIS sample in
tests/data/ais; the partner rows around them are made up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

import pipeline.alerts.watchlist as wl
from pipeline.alerts.csvsafe import write_csv
from pipeline.alerts.queries import audit_for
from pipeline.alerts.watchlist import (
    EXPORT_FIELDS,
    add_entry,
    expire_entry,
    get_entry,
    import_entries,
    list_entries,
    match_identities,
    update_entry,
)
from pipeline.cli import app

AIS = Path(__file__).parents[1] / "data" / "ais" / "noaa_marinecadastre_2022-01-03_slice.csv"
PARTNER = "AFP Border Ops"
LATER, EARLIER, PAST = "2091-06-30", "2090-01-31", "2020-01-01"


@pytest.fixture(scope="module")
def vessels() -> list[dict[str, Any]]:
    """Vessels of the sample that broadcast a real IMO number, a name and a call sign."""
    d = pd.read_csv(AIS, usecols=["MMSI", "IMO", "VesselName", "CallSign"], dtype=str).dropna()
    d = d[d["IMO"].str.fullmatch(r"IMO[1-9]\d{6}")].drop_duplicates("MMSI").sort_values("MMSI")
    d = d.drop_duplicates("IMO").head(12)
    assert len(d) == 12
    return [{"mmsi": int(r.MMSI), "imo": int(r.IMO[3:]), "name": r.VesselName,
             "call_sign": r.CallSign} for r in d.itertuples()]


def _ours(store: Engine, marking: str = "AMBER", **ident: Any) -> dict[str, Any]:
    return add_entry(store, "rina", reason="seen loitering off Rote at night", source="analyst",
                     owner="rina", marking=marking, provenance="PIU Kupang patrol log", **ident)


def _file(tmp_path: Path, rows: list[dict[str, Any]], fmt: str = "json") -> Path:
    path = tmp_path / f"partner.{fmt}"
    if fmt == "json":
        path.write_text(json.dumps({"entries": rows}), encoding="utf-8")
    else:
        write_csv(path, EXPORT_FIELDS, [{k: r.get(k) for k in EXPORT_FIELDS} for r in rows])
    return path


def _actions(store: Engine, entry_id: str) -> list[tuple[str, str]]:
    return [(a["actor"], a["action"]) for a in audit_for(store, "watchlist", entry_id)]


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_merge_fills_missing_identifiers_and_keeps_the_stricter_marking(
        store: Engine, tmp_path: Path, vessels: list[dict[str, Any]], fmt: str) -> None:
    a, b = vessels[0], vessels[1]
    ours_a = _ours(store, "AMBER", mmsi=a["mmsi"])  # we know its MMSI only
    ours_b = _ours(store, "GREEN", imo=b["imo"])
    path = _file(tmp_path, [
        dict(a, entry_id="afp-17", marking="TLP:GREEN", reason="mother ship, Rote 2024-11"),
        dict(b, entry_id="afp-18", marking="TLP:RED", reason="crew linked to a syndicate"),
    ], fmt)
    s = import_entries(store, path, PARTNER, "budi")
    assert (s.rows, s.imported, s.merged, s.unchanged, s.conflicts, s.rejected) == (
        2, 0, 2, 0, [], [])
    assert len(list_entries(store)) == 2  # merged, not duplicated
    got_a = get_entry(store, ours_a["entry_id"]) or {}
    assert {k: got_a[k] for k in ("mmsi", "imo", "name", "call_sign")} == a
    assert got_a["marking"] == "TLP:AMBER"  # the partner's GREEN never loosens it
    assert got_a["version"] == 2 and got_a["reason"] == ours_a["reason"]
    assert got_a["provenance"] == ("PIU Kupang patrol log; also listed by AFP Border Ops "
                                   "(afp-17): mother ship, Rote 2024-11")
    got_b = get_entry(store, ours_b["entry_id"]) or {}
    assert got_b["marking"] == "TLP:RED" and got_b["mmsi"] == b["mmsi"]
    assert s.merges[0].startswith(f"row 1 (afp-17): merged into entry {ours_a['entry_id']} "
                                  f"(matched on MMSI {a['mmsi']}): IMO {a['imo']} added")
    assert "marking raised from TLP:GREEN to TLP:RED" in s.merges[1]
    for entry_id in (ours_a["entry_id"], ours_b["entry_id"]):
        assert _actions(store, entry_id) == [("rina", "create"), ("budi", "merge")]
    merge = audit_for(store, "watchlist", ours_a["entry_id"])[1]
    assert merge["before"]["imo"] is None and merge["after"]["imo"] == a["imo"]
    assert (merge["before"]["version"], merge["after"]["version"]) == (1, 2)
    # the filled IMO now finds the boat under a new MMSI
    moved = pd.DataFrame({"mmsi": [vessels[5]["mmsi"]], "imo": [a["imo"]], "name": ["X"],
                          "call_sign": [None]})
    assert match_identities(store, moved)["entry_id"].tolist() == [ours_a["entry_id"]]


def test_later_expiry_is_kept_and_lapsed_entries_come_back(
        store: Engine, tmp_path: Path, vessels: list[dict[str, Any]]) -> None:
    v = vessels
    longer = _ours(store, mmsi=v[0]["mmsi"], expires_at=EARLIER)
    shorter = _ours(store, mmsi=v[1]["mmsi"], expires_at=LATER)
    by_hand = _ours(store, mmsi=v[2]["mmsi"])
    expire_entry(store, by_hand["entry_id"], "rina")
    lapsed = _ours(store, mmsi=v[3]["mmsi"], expires_at=PAST)
    stays = _ours(store, mmsi=v[4]["mmsi"], expires_at=PAST)
    path = _file(tmp_path, [
        {"mmsi": v[0]["mmsi"], "marking": "AMBER", "expires_at": LATER},
        {"mmsi": v[1]["mmsi"], "marking": "AMBER", "expires_at": EARLIER},
        {"mmsi": v[2]["mmsi"], "marking": "AMBER", "expires_at": LATER},
        {"mmsi": v[3]["mmsi"], "marking": "AMBER"},  # no expiry: listed until further notice
        {"mmsi": v[4]["mmsi"], "marking": "AMBER", "expires_at": "2021-06-30"},  # lapsed too
    ])
    s = import_entries(store, path, PARTNER, "budi")
    assert s.reactivated == 2 and s.conflicts == [] and s.rejected == []
    after = {e["entry_id"]: e for e in list_entries(store, include_expired=True)}
    assert after[longer["entry_id"]]["expires_at"].startswith(LATER)
    assert after[shorter["entry_id"]]["expires_at"].startswith(LATER)
    assert after[by_hand["entry_id"]]["active"] and not after[by_hand["entry_id"]]["expired"]
    assert after[by_hand["entry_id"]]["expires_at"].startswith(LATER)
    assert after[lapsed["entry_id"]]["active"] and after[lapsed["entry_id"]]["expires_at"] is None
    assert not after[stays["entry_id"]]["active"]  # the partner's listing has lapsed as well
    assert after[stays["entry_id"]]["expires_at"].startswith("2021-06-30")
    assert sum("re-activated" in m for m in s.merges) == 2
    assert any(f"entry {by_hand['entry_id']}" in m and "it had been expired" in m
               and f"until {LATER}" in m for m in s.merges)
    assert any(f"entry {lapsed['entry_id']}" in m and f"lapsed on {PAST}" in m
               and "without expiry" in m for m in s.merges)
    assert _actions(store, by_hand["entry_id"])[-1] == ("budi", "merge")


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_importing_the_same_file_twice_changes_nothing_the_second_time(
        store: Engine, tmp_path: Path, vessels: list[dict[str, Any]], fmt: str) -> None:
    v = vessels
    _ours(store, "GREEN", mmsi=v[0]["mmsi"])
    gone = _ours(store, mmsi=v[1]["mmsi"])
    expire_entry(store, gone["entry_id"], "rina")
    _ours(store, **v[2])
    rows = [
        dict(v[0], entry_id="afp-1", marking="AMBER", reason="=shuttle to Pender Bay",
             provenance="Polda NTT report 2024/117", expires_at=LATER),
        {"entry_id": "afp-2", "mmsi": v[1]["mmsi"], "marking": "GREEN", "reason": "relisted"},
        dict(v[3], entry_id="afp-3", marking="AMBER+STRICT", reason="new to us"),
        {"entry_id": "afp-3b", "mmsi": v[3]["mmsi"], "imo": v[3]["imo"], "marking": "GREEN",
         "reason": "same boat, second source"},  # merges into the entry row 3 created
        dict(v[2], mmsi=v[6]["mmsi"], entry_id="afp-4", marking="AMBER", reason="new MMSI"),
    ]
    path = _file(tmp_path, rows, fmt)
    first = import_entries(store, path, PARTNER, "budi")
    assert (first.imported, first.merged, first.unchanged, len(first.conflicts),
            first.reactivated, first.rejected) == (1, 3, 0, 1, 1, [])
    snapshot = list_entries(store, include_expired=True)
    audit = {e["entry_id"]: audit_for(store, "watchlist", e["entry_id"]) for e in snapshot}
    second = import_entries(store, path, PARTNER, "budi")
    assert (second.imported, second.merged, second.unchanged, second.reactivated,
            second.merges, second.rejected) == (0, 0, 4, 0, [], [])
    [conflict] = second.conflicts  # still for an analyst to decide, and nothing merged again
    assert "MMSI" in conflict and first.conflicts[0].startswith(conflict + "; merged otherwise:")
    assert list_entries(store, include_expired=True) == snapshot
    assert {e["entry_id"]: audit_for(store, "watchlist", e["entry_id"]) for e in snapshot} == (
        audit)
    created = next(e for e in snapshot if e["source_ref"] == "afp-3")
    assert created["provenance"] == (f"{PARTNER} (import of {path.name}); also listed by "
                                     f"{PARTNER} (afp-3b): same boat, second source")
    assert created["marking"] == "TLP:AMBER+STRICT" and created["version"] == 2


def test_a_different_mmsi_for_the_same_imo_is_reported_not_merged(
        store: Engine, tmp_path: Path, vessels: list[dict[str, Any]]) -> None:
    a, other = vessels[0], vessels[7]
    ours = _ours(store, "GREEN", mmsi=a["mmsi"], imo=a["imo"])
    renamed = _ours(store, mmsi=vessels[1]["mmsi"], name=vessels[1]["name"],
                    call_sign=vessels[1]["call_sign"])
    path = _file(tmp_path, [
        {"entry_id": "afp-9", "mmsi": other["mmsi"], "imo": a["imo"], "name": a["name"],
         "marking": "AMBER", "reason": "swapped transponder"},
        {"entry_id": "afp-10", "mmsi": vessels[1]["mmsi"], "name": "BINTANG [bold]TIMUR[/]",
         "call_sign": vessels[1]["call_sign"], "marking": "AMBER", "reason": "renamed"},
    ])
    s = import_entries(store, path, PARTNER, "budi")
    assert (s.imported, s.merged, s.unchanged, s.rejected) == (0, 0, 0, [])
    assert len(s.conflicts) == 2 and len(list_entries(store)) == 2
    mmsi_conflict, name_conflict = s.conflicts
    assert ours["entry_id"] in mmsi_conflict and f"IMO {a['imo']}" in mmsi_conflict
    assert f"MMSI {other['mmsi']} where the entry has {a['mmsi']}" in mmsi_conflict
    got = get_entry(store, ours["entry_id"]) or {}
    assert got["mmsi"] == a["mmsi"]  # ours kept
    assert got["name"] == a["name"]  # the rest of the row merged: the name we lacked,
    assert got["marking"] == "TLP:AMBER"  # the stricter marking, and a trace of the MMSI
    assert f"with MMSI {other['mmsi']}: swapped transponder" in got["provenance"]
    assert f"name 'BINTANG [bold]TIMUR[/]' where the entry has '{vessels[1]['name']}'" in (
        name_conflict)
    assert (get_entry(store, renamed["entry_id"]) or {})["name"] == vessels[1]["name"]
    # the boat under its new MMSI is still matched by the IMO, to the one entry
    seen = pd.DataFrame({"mmsi": [other["mmsi"]], "imo": [a["imo"]], "name": [None],
                         "call_sign": [None]})
    assert match_identities(store, seen)["entry_id"].tolist() == [ours["entry_id"]]


def test_a_row_matching_two_entries_changes_neither(
        store: Engine, tmp_path: Path, vessels: list[dict[str, Any]]) -> None:
    a, b = vessels[0], vessels[1]
    by_mmsi = _ours(store, mmsi=a["mmsi"])
    by_imo = _ours(store, imo=b["imo"], expires_at=PAST)
    path = _file(tmp_path, [{"entry_id": "afp-5", "mmsi": a["mmsi"], "imo": b["imo"],
                             "marking": "RED", "reason": "one boat or two?"}])
    s = import_entries(store, path, PARTNER, "budi")
    assert (s.imported, s.merged, s.unchanged, s.reactivated) == (0, 0, 0, 0)
    [conflict] = s.conflicts
    assert "matches 2 entries" in conflict and "nothing changed" in conflict
    for e, on in ((by_mmsi, f"MMSI {a['mmsi']}"), (by_imo, f"IMO {b['imo']}")):
        assert f"entry {e['entry_id']} on {on}" in conflict
        assert get_entry(store, e["entry_id"]) == e
        assert _actions(store, e["entry_id"]) == [("rina", "create")]


def test_filling_a_name_that_would_join_two_entries_is_a_conflict(
        store: Engine, tmp_path: Path, vessels: list[dict[str, Any]]) -> None:
    a, b = vessels[0], vessels[1]
    first = _ours(store, mmsi=a["mmsi"], call_sign=b["call_sign"])
    second = _ours(store, mmsi=b["mmsi"], name=b["name"], call_sign=b["call_sign"])
    path = _file(tmp_path, [{"mmsi": a["mmsi"], "name": b["name"], "marking": "GREEN"}])
    s = import_entries(store, path, PARTNER, "budi")
    [conflict] = s.conflicts
    assert f"would make that entry match entry {second['entry_id']}" in conflict
    assert get_entry(store, first["entry_id"]) == first


def test_a_row_with_the_identity_an_entry_was_created_with_is_reported(
        store: Engine, tmp_path: Path, vessels: list[dict[str, Any]]) -> None:
    a, b = vessels[0], vessels[1]
    e = _ours(store, mmsi=a["mmsi"])
    update_entry(store, e["entry_id"], "rina", 1, mmsi=b["mmsi"])  # we learned its new MMSI
    s = import_entries(store, _file(tmp_path, [{"mmsi": a["mmsi"], "marking": "GREEN"}]),
                       PARTNER, "budi")
    [conflict] = s.conflicts
    assert f"entry {e['entry_id']} was created with" in conflict
    assert f"now has MMSI {b['mmsi']}" in conflict and s.imported == 0


def test_a_merge_is_version_checked_against_a_colleague_saving_first(
        store: Engine, tmp_path: Path, vessels: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    a = vessels[0]
    e = _ours(store, mmsi=a["mmsi"])
    real = wl._merge_values
    calls = []

    def colleague_saves_first(entry: Any, *args: Any) -> Any:
        calls.append(entry.version)
        if len(calls) == 1:  # between the import's read and its write
            update_entry(store, e["entry_id"], "rina", 1, marking="RED")
        return real(entry, *args)

    monkeypatch.setattr(wl, "_merge_values", colleague_saves_first)
    s = import_entries(store, _file(tmp_path, [dict(a, marking="AMBER")]), PARTNER, "budi")
    assert calls == [1, 2] and s.merged == 1  # refused at version 1, merged on a fresh read
    got = get_entry(store, e["entry_id"]) or {}
    assert (got["marking"], got["imo"], got["version"]) == ("TLP:RED", a["imo"], 3)
    assert _actions(store, e["entry_id"]) == [("rina", "create"), ("rina", "update"),
                                              ("budi", "merge")]


def test_import_command_prints_merges_and_conflicts_escaped(
        store_url: str, tmp_path: Path, vessels: list[dict[str, Any]],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VESSEL_RISK_DB_URL", store_url)
    runner = CliRunner()
    home = ["--home", str(tmp_path / "ws")]
    a, b = vessels[0], vessels[1]
    for v in (a, b):
        r = runner.invoke(app, [*home, "watchlist", "add", "--mmsi", str(v["mmsi"]), "--reason",
                                "ours", "--marking", "GREEN", "--as", "rina", "--json"])
        assert r.exit_code == 0, r.output
    path = _file(tmp_path, [
        {"entry_id": "[red]x[/red]", "mmsi": a["mmsi"], "imo": a["imo"], "marking": "AMBER",
         "reason": "[link=http://evil.example]click[/link]"},
        {"mmsi": b["mmsi"], "imo": a["imo"], "marking": "AMBER"},
        {"mmsi": "123", "marking": "AMBER"},
    ])
    r = runner.invoke(app, [*home, "watchlist", "import", str(path), "--partner", PARTNER,
                            "--as", "budi"])
    assert r.exit_code == 2, r.output  # a rejected row
    out = " ".join(r.output.split())
    assert "row 1 ([red]x[/red]): merged into entry" in out
    assert "[link=http://evil.example]click[/link]" in out
    assert "conflict row 2" in out and "matches 2 entries" in out
    assert "rejected row 3: MMSI 123: expected 9 digits" in out
    r = runner.invoke(app, [*home, "watchlist", "import", str(path), "--partner", PARTNER,
                            "--as", "budi", "--json"])
    doc = json.loads(r.output)
    assert (doc["rows"], doc["merged"], doc["unchanged"], len(doc["conflicts"]),
            len(doc["rejected"])) == (3, 0, 1, 1, 1)
    assert "already_listed" not in doc

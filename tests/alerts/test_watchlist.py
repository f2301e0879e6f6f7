"""Watchlist entries: identity keys, versions, expiry, TLP-respecting exports, partner imports
and CSV that a spreadsheet will not execute."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, inspect

from pipeline.alerts.csvsafe import csv_text, safe_cell, unguard
from pipeline.alerts.queries import audit_for, watchlist_entries_for
from pipeline.alerts.store import MARKINGS, StaleVersionError
from pipeline.alerts.watchlist import (
    add_entry,
    expire_entry,
    export_entries,
    get_entry,
    import_entries,
    list_entries,
    match_identities,
    update_entry,
)
from pipeline.errors import UserError

FORMULA_NAMES = ["=HYPERLINK(\"http://evil.example\",\"open\")", "+SUM(A1:A9)", "-2+3",
                 "@cmd", "\t=1+1", " =1+1", "\uff1d1+1"]


def _one_per_marking(store: Engine) -> dict[str, dict]:
    out = {}
    for i, m in enumerate(MARKINGS):
        out[m] = add_entry(store, "ana", mmsi=525000000 + i, name=f"KM TEST {i}",
                           call_sign=f"PK{i}XY", reason=f"reason {m}", source="analyst",
                           owner="ana", marking=m.removeprefix("TLP:").lower())
    return out


def test_add_list_update_expire_with_versions(store: Engine) -> None:
    e = add_entry(store, "ana", mmsi="525012345", imo="9234567", name="KM Sinar Laut",
                  call_sign="PKAB1", reason="seen at Pelabuhan Ratu at night", source="analyst",
                  owner="ana", marking="amber", expires_at="2030-01-31")
    assert e["marking"] == "TLP:AMBER" and e["version"] == 1 and e["mmsi"] == 525012345
    assert e["expires_at"].startswith("2030-01-31T23:59:59")
    with pytest.raises(UserError, match=f"already on the watchlist as entry {e['entry_id']}"):
        add_entry(store, "bob", mmsi=525012345, imo=9234567, name="km sinar-laut",
                  call_sign="PKAB1", reason="x", source="analyst", owner="bob", marking="RED")
    u = update_entry(store, e["entry_id"], "bob", 1, mmsi="525099999", marking="RED")
    assert (u["mmsi"], u["marking"], u["version"]) == (525099999, "TLP:RED", 2)
    with pytest.raises(StaleVersionError, match="reload it"):
        update_entry(store, e["entry_id"], "ana", 1, reason="stale edit")
    assert (get_entry(store, e["entry_id"]) or {}).get("reason") == (
        "seen at Pelabuhan Ratu at night")
    x = expire_entry(store, e["entry_id"], "bob")
    assert x["expired"] and x["version"] == 3
    assert list_entries(store) == []
    assert [r["entry_id"] for r in list_entries(store, include_expired=True)] == [e["entry_id"]]
    assert [a["action"] for a in audit_for(store, "watchlist", e["entry_id"])] == [
        "create", "update", "expire"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "KM ONLY NAME"}, "needs an MMSI, an IMO number, or a name together"),
    ({"mmsi": "12345"}, "MMSI 12345: expected 9 digits"),
    ({"mmsi": "abc"}, "MMSI 'abc': expected a number"),
    ({"imo": 12}, "IMO 12: expected 7 digits"),
])
def test_bad_identities_are_refused(store: Engine, kwargs: dict, message: str) -> None:
    with pytest.raises(UserError, match=message):
        add_entry(store, "ana", reason="r", source="analyst", owner="ana", marking="GREEN",
                  **kwargs)


def test_bad_marking_and_source(store: Engine) -> None:
    with pytest.raises(UserError, match="marking 'ORANGE'"):
        add_entry(store, "ana", mmsi=525000001, reason="r", source="analyst", owner="ana",
                  marking="ORANGE")
    with pytest.raises(UserError, match="source 'rumour'"):
        add_entry(store, "ana", mmsi=525000001, reason="r", source="rumour", owner="ana",
                  marking="GREEN")


def test_identity_matching_finds_a_changed_mmsi(store: Engine) -> None:
    by_imo = add_entry(store, "ana", mmsi=525000001, imo=9234567, reason="r",
                       source="incident", owner="ana", marking="AMBER")
    by_name = add_entry(store, "ana", mmsi=525000002, name="KM Harapan Baru",
                        call_sign="PK-HB 7", reason="r", source="partner", owner="ana",
                        marking="AMBER")
    vessels = pd.DataFrame({
        "mmsi": [533111111, 533222222, 533333333, 525000002],
        "imo": [9234567, None, None, None],
        "name": ["RENAMED", "km harapan-baru", "KM HARAPAN BARU", None],
        "call_sign": ["X", "pkhb7", "OTHER", None],
    })
    got = match_identities(store, vessels)
    assert sorted(zip(got["mmsi"], got["entry_id"], got["matched_on"], strict=True)) == sorted([
        (533111111, by_imo["entry_id"], "imo"),
        (533222222, by_name["entry_id"], "name+call_sign"),
        (525000002, by_name["entry_id"], "mmsi"),
    ])
    assert [e["entry_id"] for e in watchlist_entries_for(store, imo=9234567)] == [
        by_imo["entry_id"]]


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_export_never_carries_entries_above_its_marking(store: Engine, tmp_path: Path,
                                                        fmt: str) -> None:
    entries = _one_per_marking(store)
    expire_entry(store, entries["TLP:CLEAR"]["entry_id"], "ana")
    for limit, allowed in (("CLEAR", set()), ("GREEN", {"TLP:GREEN"}),
                           ("amber", {"TLP:GREEN", "TLP:AMBER"}),
                           ("TLP:RED", set(MARKINGS) - {"TLP:CLEAR"})):
        out = tmp_path / f"export_{limit}.{fmt}"
        summary = export_entries(store, out, limit, actor="ana")
        text = out.read_text(encoding="utf-8")
        if fmt == "csv":
            rows = list(csv.DictReader(io.StringIO(text)))
        else:
            rows = json.loads(text)["entries"]
        assert {r["marking"] for r in rows} == allowed
        assert summary.exported == len(rows) and summary.withheld == 4 - len(rows)
        for m in set(MARKINGS) - allowed:  # not even the reason text of a withheld entry
            assert f"reason {m}" not in text
    assert [a["action"] for a in audit_for(store, "watchlist", "*")] == ["export"] * 4


def test_formula_names_are_neutralised_in_csv_and_round_trip(store: Engine,
                                                             tmp_path: Path) -> None:
    for i, name in enumerate(FORMULA_NAMES):
        add_entry(store, "ana", mmsi=525100000 + i, name=name, call_sign=f"=A{i}",
                  reason="=1+1", source="analyst", owner="ana", marking="GREEN")
    out = tmp_path / "wl.csv"
    export_entries(store, out, "GREEN")
    with out.open(newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    for row in rows[1:]:
        for cell in row:
            assert not cell.lstrip(" ").startswith(("=", "+", "-", "@", "\t", "\uff1d")), cell
    names = {r[3] for r in rows[1:]}
    assert "'=HYPERLINK(\"http://evil.example\",\"open\")" in names
    # a partner importing the file gets the original text back
    fresh = import_entries_into_empty(store, out)
    assert sorted(e["name"] for e in fresh) == sorted(n.strip() for n in FORMULA_NAMES)


def import_entries_into_empty(store: Engine, path: Path) -> list[dict]:
    for e in list_entries(store):
        expire_entry(store, e["entry_id"], "ana")
    from pipeline.alerts.store import WatchlistEntry, session_scope

    with session_scope(store) as s:
        s.query(WatchlistEntry).delete()
    summary = import_entries(store, path, "BAKAMLA", "ana")
    assert summary.rejected == [] and summary.imported == len(FORMULA_NAMES)
    return list_entries(store)


def test_import_keeps_partner_marking_and_provenance(store: Engine, tmp_path: Path) -> None:
    doc = {"entries": [
        {"entry_id": "p-1", "mmsi": 525000111, "name": "KM MAWAR", "call_sign": "PKMW",
         "reason": "landed 60 people at Rote", "marking": "TLP:AMBER+STRICT",
         "provenance": "Polda NTT report 2024/117"},
        {"entry_id": "p-2", "imo": 9300001, "reason": "mother ship", "marking": "GREEN"},
        {"entry_id": "p-3", "mmsi": 525000333, "reason": "no marking"},
        {"entry_id": "p-4", "mmsi": "5250", "reason": "bad", "marking": "GREEN"},
    ]}
    path = tmp_path / "partner.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    s = import_entries(store, path, "AFP Border Ops", "ana")
    assert (s.rows, s.imported, s.merged, s.unchanged, s.conflicts) == (4, 2, 0, 0, [])
    assert [r.split(":")[0] for r in s.rejected] == ["row 3", "row 4"]
    rows = {e["source_ref"]: e for e in list_entries(store)}
    assert rows["p-1"]["marking"] == "TLP:AMBER+STRICT" and rows["p-1"]["source"] == "partner"
    assert rows["p-1"]["provenance"] == "AFP Border Ops: Polda NTT report 2024/117"
    assert rows["p-1"]["owner"] == "AFP Border Ops"
    assert rows["p-2"]["marking"] == "TLP:GREEN"
    again = import_entries(store, path, "AFP Border Ops", "ana", default_marking="RED")
    assert (again.imported, again.merged, again.unchanged) == (1, 0, 2)  # p-3 now has one
    assert [a["action"] for a in audit_for(store, "watchlist", rows["p-1"]["entry_id"])] == [
        "create"]
    assert {e["source_ref"]: e["marking"] for e in list_entries(store)}["p-3"] == "TLP:RED"


def test_sql_looking_watchlist_text_stays_data(store: Engine) -> None:
    evil = "KM X'); DROP TABLE watchlist; --"
    e = add_entry(store, "ana", mmsi=525000999, name=evil, call_sign="' OR '1'='1",
                  reason="'; DELETE FROM audit_log; --", source="analyst", owner="ana",
                  marking="GREEN")
    assert (get_entry(store, e["entry_id"]) or {}).get("name") == evil
    assert "watchlist" in inspect(store).get_table_names()
    assert watchlist_entries_for(store, name="ANY", call_sign="' OR '1'='1") == []
    assert [x["entry_id"] for x in watchlist_entries_for(store, name=evil,
                                                         call_sign="' OR '1'='1")] == [
        e["entry_id"]]
    assert len(audit_for(store, "watchlist", e["entry_id"])) == 1


def test_expiry_date_passes(store: Engine) -> None:
    e = add_entry(store, "ana", mmsi=525000777, reason="r", source="analyst", owner="ana",
                  marking="GREEN", expires_at=date(2024, 1, 1))
    assert list_entries(store) == []
    assert list_entries(store, include_expired=True)[0]["active"] is False
    assert watchlist_entries_for(store, mmsi=525000777) == []
    with pytest.raises(UserError, match="expected YYYY-MM-DD"):
        update_entry(store, e["entry_id"], "ana", 1, expires_at="next week")


def test_csv_cells() -> None:
    assert safe_cell("=1+1") == "'=1+1"
    assert safe_cell("  @SUM(1)") == "'  @SUM(1)"
    assert safe_cell("-12.5") == "-12.5" and safe_cell(-3) == "-3"
    assert safe_cell("-x") == "'-x" and safe_cell("KM BAHARI") == "KM BAHARI"
    assert safe_cell(None) == "" and safe_cell(True) == "true"
    for name in FORMULA_NAMES:
        assert unguard(safe_cell(name)) == name
    assert unguard("'plain") == "'plain"  # an apostrophe the guard did not add stays
    text = csv_text(["name"], [{"name": "=2*3"}])
    assert text == '"name"\n"\'=2*3"\n'

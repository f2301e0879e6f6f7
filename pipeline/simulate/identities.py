"""Vessel identities: MMSI, IMO, name, call sign, ship type, dimensions, transponder class.

Why consistent identities matter: the pipeline joins AIS with port calls and incident reports
on these fields, and identity manipulation is only visible against a background of vessels
whose identity never changes. Everything is drawn from a seeded generator in vectorised form.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

I64 = npt.NDArray[np.int64]
F64 = npt.NDArray[np.float64]

# ITU ship-type codes and sizes per kind: (codes, weights, length range m, class A share,
# cruise speed range kn). Large ships get an IMO number; small craft do not.
class KindSpec(NamedTuple):
    codes: list[int]
    weights: list[float]
    length: tuple[float, float]
    class_a: float
    speed: tuple[float, float]


KIND_SPECS: dict[str, KindSpec] = {
    "cargo": KindSpec([70, 71, 72, 74, 79], [0.7, 0.1, 0.08, 0.07, 0.05], (90, 290), 1.0,
                      (10.0, 16.0)),
    "tanker": KindSpec([80, 81, 82, 84], [0.7, 0.1, 0.1, 0.1], (100, 320), 1.0, (10.0, 14.5)),
    "anchored": KindSpec([70, 80, 79], [0.6, 0.3, 0.1], (80, 250), 1.0, (9.0, 13.0)),
    "ferry": KindSpec([60, 69], [0.7, 0.3], (35, 140), 1.0, (11.0, 19.0)),
    "tug": KindSpec([52, 31, 50, 53, 33], [0.55, 0.15, 0.1, 0.1, 0.1], (15, 40), 0.7,
                    (6.0, 11.0)),
    "fishing": KindSpec([30], [1.0], (10, 45), 0.2, (6.0, 9.5)),
    # smuggling craft: wooden fishing boats / trawlers broadcasting as fishing vessels
    "smuggler": KindSpec([30, 0], [0.9, 0.1], (14, 35), 0.25, (6.0, 8.5)),
    "carrier": KindSpec([70, 30, 79], [0.5, 0.4, 0.1], (30, 90), 1.0, (8.0, 11.0)),
}

_WORDS_ID = [
    "SINAR", "BAHARI", "MITRA", "JAYA", "SAMUDRA", "MUTIARA", "CAHAYA", "BINTANG", "HARAPAN",
    "BERKAH", "REZEKI", "ABADI", "NUSANTARA", "SEJAHTERA", "LESTARI", "MAKMUR", "SELATAN",
    "TIMUR", "BARU", "MANDIRI", "PERKASA", "KARYA", "SURYA", "INDAH", "SENTOSA",
]
_WORDS_EN = [
    "OCEAN", "STAR", "GLORY", "PACIFIC", "ORIENT", "GOLDEN", "PEARL", "SPIRIT", "ATLAS",
    "GRACE", "HARMONY", "VENTURE", "FORTUNE", "SEA", "BRIGHT", "LUCKY", "GREAT", "ROYAL",
    "PIONEER", "EAGLE", "UNITY", "NOBLE", "CROWN", "DELTA", "MERIDIAN",
]
_WORDS_BD = [
    "SONAR", "BANGLA", "MAA", "MOYURPONKHI", "SAGOR", "NODI", "TARA", "ALOR", "DOYA",
    "BARAKAH", "RAHMAT", "AL", "MADINA", "SHAPLA", "MEGHNA", "PODMA", "KHULNA",
]
_WORDS_TH = ["SRI", "CHOKE", "SAMUT", "THAVORN", "NAVA", "CHAROEN", "PATTANA", "SIAM", "ANDAMAN"]

# Call-sign prefix per MID (ITU series); others get the MID's first letter pair at random.
_CALL_PREFIX = {
    525: "PK", 503: "VJ", 516: "VH", 523: "VK", 550: "4W", 533: "9M", 563: "9V", 564: "9V",
    565: "9V", 566: "9V", 405: "S2", 506: "XY", 567: "HS", 419: "AT", 417: "4S", 548: "DU",
}


@dataclass
class Fleet:
    """One row per transmitting identity (a 'vid'); arrays are aligned by vid.

    A hull that changes MMSI or name mid-scenario appears as two vids, each with its own
    knots, so that every report carries exactly one identity.
    """

    kind: npt.NDArray[np.object_]
    mmsi: I64
    name: npt.NDArray[np.object_]
    call_sign: npt.NDArray[np.object_]
    imo: I64  # 0 = none
    ship_type: I64
    length_m: F64
    width_m: F64
    draught_m: F64
    cls: npt.NDArray[np.object_]  # 'A' or 'B'
    speed_kn: F64  # cruise speed
    has_heading: npt.NDArray[np.bool_]
    destination: npt.NDArray[np.object_] = field(default_factory=lambda: np.zeros(0, object))

    def __len__(self) -> int:
        return len(self.mmsi)

    @staticmethod
    def concat(parts: list[Fleet]) -> Fleet:
        names = [f for f in Fleet.__dataclass_fields__]
        return Fleet(**{n: np.concatenate([getattr(p, n) for p in parts]) for n in names})

    def take(self, idx: npt.ArrayLike) -> Fleet:
        i = np.asarray(idx, dtype=np.int64)
        return Fleet(**{n: getattr(self, n)[i] for n in Fleet.__dataclass_fields__})


def imo_with_check_digit(base6: I64) -> I64:
    """7-digit IMO numbers from 6-digit bases: check digit = sum(d_i * (7..2)) mod 10."""
    digits = np.stack([(base6 // 10**p) % 10 for p in range(5, -1, -1)], axis=1)
    check = (digits * np.array([7, 6, 5, 4, 3, 2])).sum(axis=1) % 10
    return base6 * 10 + check


def make_mmsis(rng: np.random.Generator, mids: list[int], n: int, taken: set[int]) -> I64:
    """Distinct valid ship MMSIs (MID + 6 digits, never a placeholder like 111111111)."""
    out: list[int] = []
    while len(out) < n:
        k = (n - len(out)) * 2 + 8
        cand = np.asarray(mids)[rng.integers(0, len(mids), k)] * 1_000_000 + rng.integers(
            1000, 999_999, k
        )
        for m in cand.tolist():
            if m not in taken and len(set(str(m))) > 1:
                taken.add(m)
                out.append(m)
                if len(out) == n:
                    break
    return np.asarray(out, dtype=np.int64)


def _names(rng: np.random.Generator, mids: I64, n: int, kind: str) -> npt.NDArray[np.object_]:
    pools = {5: _WORDS_ID, 4: _WORDS_BD, 2: _WORDS_ID}
    out = np.empty(n, dtype=object)
    for i in range(n):  # per vessel, not per position: a few thousand at most
        mid = int(mids[i])
        words = _WORDS_EN
        if kind in ("fishing", "smuggler", "tug", "ferry") or rng.random() < 0.4:
            words = (
                _WORDS_BD if mid in (405, 506) else _WORDS_TH if mid == 567
                else pools.get(mid // 100, _WORDS_ID)
            )
        w = rng.choice(words, size=2, replace=False)
        if kind in ("fishing", "smuggler"):
            name = f"KM {w[0]} {w[1]} {rng.integers(1, 99)}" if mid // 100 == 5 else (
                f"FB {w[0]} {w[1]}" if rng.random() < 0.5 else f"{w[0]} {w[1]} {rng.integers(1, 9)}"
            )
        elif kind == "tug":
            name = f"TB {w[0]} {rng.integers(1, 30)}"
        else:
            name = f"{w[0]} {w[1]}"
        out[i] = name[:20]
    return out


def _call_signs(rng: np.random.Generator, mids: I64) -> npt.NDArray[np.object_]:
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    out = np.empty(len(mids), dtype=object)
    tails = rng.integers(0, 26, (len(mids), 3))
    nums = rng.integers(0, 10, len(mids))
    for i, m in enumerate(mids.tolist()):
        prefix = _CALL_PREFIX.get(int(m), "".join(letters[rng.integers(0, 26, 2)]))
        out[i] = prefix + "".join(letters[tails[i]]) + str(nums[i])
    return out


def make_fleet(
    rng: np.random.Generator, kind: str, n: int, mids: list[int], taken: set[int]
) -> Fleet:
    """``n`` vessels of one kind with consistent identities flagged in the region's states."""
    spec = KIND_SPECS[kind]
    codes = np.asarray(spec.codes)
    w = np.asarray(spec.weights, dtype=float)
    lo, hi = spec.length
    slo, shi = spec.speed
    mmsi = make_mmsis(rng, mids, n, taken)
    mid = mmsi // 1_000_000
    length = np.round(rng.uniform(lo, hi, n)).astype(np.float64)
    width = np.round(length / rng.uniform(5.5, 7.5, n)).astype(np.float64)
    draught = np.round(np.clip(length / rng.uniform(14, 22, n), 1.0, 20.0), 1).astype(np.float64)
    cls = np.where(rng.random(n) < spec.class_a, "A", "B").astype(object)
    big = (length >= 60) & (cls == "A")
    imo = np.where(big, imo_with_check_digit(rng.integers(100_000, 999_999, n)), 0)
    return Fleet(
        kind=np.full(n, kind, dtype=object),
        mmsi=mmsi,
        name=_names(rng, mid, n, kind),
        call_sign=_call_signs(rng, mid),
        imo=imo.astype(np.int64),
        ship_type=codes[rng.choice(len(codes), n, p=w / w.sum())].astype(np.int64),
        length_m=length,
        width_m=width,
        draught_m=draught,
        cls=cls,
        speed_kn=rng.uniform(slo, shi, n),
        has_heading=(cls == "A") & (rng.random(n) < 0.92) | (rng.random(n) < 0.15),
        destination=np.full(n, "", dtype=object),
    )


def rename(rng: np.random.Generator, name: str) -> str:
    """A different name of the same style (identity change on reappearance)."""
    w = rng.choice(_WORDS_ID + _WORDS_BD, size=2, replace=False)
    prefix = name.split(" ")[0] if name.split(" ")[0] in ("KM", "FB") else "KM"
    return f"{prefix} {w[0]} {w[1]}"[:20]
